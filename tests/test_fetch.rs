//! `ebgan data fetch` against loopback HTTP servers (no test needs the internet): a good
//! mirror, a mirror serving corrupted files, and one that breaks every first download half-way.
//! Files are verified (SHA-256 of their content) before use, corrupt downloads are deleted and
//! fetched from the next mirror, broken ones resume with an HTTP Range request.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};

const NAMES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Good,
    /// Every file with one byte flipped in its middle.
    Corrupt,
    /// The first request for a file sends half of it and closes the connection.
    Cut,
}

/// (path, Range start) of every request served.
type Log = Arc<Mutex<Vec<(String, Option<u64>)>>>;

/// The four `.gz` files of the shared MNIST copy (gzip-compressed here if it holds raw files).
fn files() -> HashMap<String, Vec<u8>> {
    let dir = common::mnist_dir();
    NAMES
        .iter()
        .map(|n| {
            let gz = dir.join(format!("{n}.gz"));
            let bytes = std::fs::read(&gz).unwrap_or_else(|_| {
                let raw = std::fs::read(dir.join(n)).unwrap();
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(&raw).unwrap();
                e.finish().unwrap()
            });
            (format!("/{n}.gz"), bytes)
        })
        .collect()
}

/// Serves `files` on a loopback port; returns the mirror URL and the request log.
fn serve(mode: Mode) -> (String, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let log: Log = Arc::default();
    let files = files();
    let l = Arc::clone(&log);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            if reader.read_line(&mut first).is_err() {
                continue;
            }
            let mut range = None;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("range: bytes=") {
                    range = v.trim().trim_end_matches('-').parse::<u64>().ok();
                }
            }
            let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
            let seen_before = l.lock().unwrap().iter().any(|(p, _)| *p == path);
            l.lock().unwrap().push((path.clone(), range));
            let Some(body) = files.get(&path) else {
                let _ = stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                continue;
            };
            let mut body = body.clone();
            if mode == Mode::Corrupt {
                let mid = body.len() / 2;
                body[mid] ^= 0x55;
            }
            let start = range.unwrap_or(0) as usize;
            let rest = &body[start.min(body.len())..];
            let head = if range.is_some() {
                format!(
                    "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{}\r\nConnection: close\r\n\r\n",
                    rest.len(),
                    body.len() - 1,
                    body.len()
                )
            } else {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    rest.len()
                )
            };
            let _ = stream.write_all(head.as_bytes());
            if mode == Mode::Cut && !seen_before {
                let _ = stream.write_all(&rest[..rest.len() / 2]);
            } else {
                let _ = stream.write_all(rest);
            }
            let _ = stream.flush();
        }
    });
    (url, log)
}

fn fetch(dir: &std::path::Path, mirrors: &[&str]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ebgan"));
    cmd.args(["data", "fetch", "--quiet", "--dir"]).arg(dir);
    for m in mirrors {
        cmd.args(["--mirror", m]);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn gz_files(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn fetch_verifies_and_skips_what_is_there() {
    let (url, log) = serve(Mode::Good);
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = fetch(dir.path(), &[&url]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("SHA-256 verified"), "{err}");
    assert_eq!(gz_files(dir.path()).len(), 4);
    assert!(ebgan::data::load_mnist(dir.path()).is_ok());
    let n = log.lock().unwrap().len();
    assert_eq!(n, 4);
    let (code, _) = fetch(dir.path(), &[&url]);
    assert_eq!(code, 0);
    assert_eq!(
        log.lock().unwrap().len(),
        4,
        "verified files are not fetched again"
    );
}

#[test]
fn a_corrupt_mirror_is_refused_and_the_next_one_used() {
    let (bad, bad_log) = serve(Mode::Corrupt);
    let dir = tempfile::tempdir().unwrap();
    // Only the corrupt mirror: one error naming the file, nothing left behind.
    let (code, err) = fetch(dir.path(), &[&bad]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("train-images-idx3-ubyte.gz") && err.contains("not the published file"),
        "{err}"
    );
    assert!(
        gz_files(dir.path()).is_empty(),
        "{:?}",
        gz_files(dir.path())
    );
    // Corrupt first, good second: verified files from the second.
    let (good, good_log) = serve(Mode::Good);
    let (code, err) = fetch(dir.path(), &[&bad, &good]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(gz_files(dir.path()).len(), 4);
    assert!(bad_log.lock().unwrap().len() >= 5 && good_log.lock().unwrap().len() == 4);
}

#[test]
fn a_broken_download_resumes_with_a_range_request() {
    let (url, log) = serve(Mode::Cut);
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = fetch(dir.path(), &[&url]);
    assert_eq!(code, 0, "{err}");
    assert!(ebgan::data::load_mnist(dir.path()).is_ok());
    let log = log.lock().unwrap();
    for n in NAMES {
        let reqs: Vec<Option<u64>> = log
            .iter()
            .filter(|(p, _)| *p == format!("/{n}.gz"))
            .map(|r| r.1)
            .collect();
        assert_eq!(reqs.len(), 2, "{n}: {reqs:?}");
        assert_eq!(reqs[0], None);
        assert!(reqs[1].is_some_and(|s| s > 0), "{n}: resumed, {reqs:?}");
    }
    assert_eq!(gz_files(dir.path()).len(), 4, "no .part left");
}

/// A `.part` left by an earlier attempt on another mirror (other bytes) is resumed, found
/// wrong, and downloaded again from zero on the same mirror rather than giving up on it.
#[test]
fn a_stale_part_of_other_bytes_is_downloaded_again_from_zero() {
    let (url, log) = serve(Mode::Good);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t10k-labels-idx1-ubyte.gz.part"),
        vec![7u8; 1000],
    )
    .unwrap();
    let (code, err) = fetch(dir.path(), &[&url]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(gz_files(dir.path()).len(), 4, "{:?}", gz_files(dir.path()));
    let reqs: Vec<Option<u64>> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p == "/t10k-labels-idx1-ubyte.gz")
        .map(|r| r.1)
        .collect();
    assert_eq!(reqs, vec![Some(1000), None], "resumed, then from zero");
}
