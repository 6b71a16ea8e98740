//! `ebgan data fetch`: downloads the four MNIST files into a folder (default `data/mnist`)
//! from public mirrors, for a machine without a local copy. Every file is verified before it
//! is used: its uncompressed bytes must have the published SHA-256 ([`MNIST_FILES`]; the
//! compressed bytes of different mirrors may differ). A download goes to `<name>.gz.part` and
//! is renamed only once verified; a broken download resumes from the bytes it has (HTTP
//! `Range`), a corrupt one is deleted and fetched again from the next mirror.

use crate::data::{load_mnist, MNIST_FILES};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Public mirrors of the original MNIST files, tried in order (each serves `<name>.gz`).
pub const MNIST_MIRRORS: [&str; 3] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist",
    "https://storage.googleapis.com/cvdf-datasets/mnist",
    "http://yann.lecun.com/exdb/mnist",
];

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Download and verify the four MNIST files (skips files already there and verified).
    Fetch(FetchArgs),
}

#[derive(clap::Args, Debug)]
pub struct FetchArgs {
    /// Folder to put the files in.
    #[arg(long, default_value = "data/mnist")]
    pub dir: PathBuf,
    /// Mirror to use instead of the built-in list (repeat to try several, in order): a URL
    /// under which `<name>.gz` is served.
    #[arg(long)]
    pub mirror: Vec<String>,
    /// Attempts per file and mirror (a broken download resumes on the next attempt).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub attempts: u32,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

pub fn main(args: Args) -> Result<()> {
    match args.command {
        Command::Fetch(a) => {
            let mirrors: Vec<String> = if a.mirror.is_empty() {
                MNIST_MIRRORS.iter().map(|s| s.to_string()).collect()
            } else {
                a.mirror.clone()
            };
            fetch_mnist(&a.dir, &mirrors, a.attempts, a.quiet)?;
            load_mnist(&a.dir).with_context(|| format!("checking {}", a.dir.display()))?;
            eprintln!(
                "MNIST is in {} (4 files, SHA-256 verified); the suite finds it there by default, or set MNIST_DIR={}",
                a.dir.display(),
                a.dir.display()
            );
            Ok(())
        }
    }
}

/// SHA-256 (hex) of the decompressed content of a gzip file's bytes; None if not gzip.
fn uncompressed_sha(gz: &[u8]) -> Option<String> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(gz)
        .read_to_end(&mut out)
        .ok()?;
    Some(
        Sha256::digest(&out)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// Downloads every missing or unverified MNIST file of `dir` from the first mirror that gives
/// a verified copy. Errors name the file, the mirrors tried and what each gave.
pub fn fetch_mnist(dir: &Path, mirrors: &[String], attempts: u32, quiet: bool) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, sha) in MNIST_FILES {
        let dest = dir.join(format!("{name}.gz"));
        if let Ok(bytes) = std::fs::read(&dest) {
            if uncompressed_sha(&bytes).as_deref() == Some(sha) {
                if !quiet {
                    eprintln!("{}: already there, verified", dest.display());
                }
                continue;
            }
            bail!(
                "{} exists but is not the published file (SHA-256 of its content differs): delete it to download it again",
                dest.display()
            );
        }
        let part = dir.join(format!("{name}.gz.part"));
        let mut tried = Vec::new();
        let mut done = false;
        'mirrors: for (k, m) in mirrors.iter().enumerate() {
            if k > 0 {
                // Mirrors compress differently: never splice one mirror's bytes onto another's.
                let _ = std::fs::remove_file(&part);
            }
            let url = format!("{}/{name}.gz", m.trim_end_matches('/'));
            let mut restarted = false;
            for attempt in 1..=attempts {
                let resumed = std::fs::metadata(&part)
                    .map(|m| m.len() > 0)
                    .unwrap_or(false);
                if let Err(e) = download(&url, &part, quiet) {
                    // The bytes so far stay in .part: the next attempt resumes there.
                    tried.push(format!("{url} (attempt {attempt}): {e:#}"));
                    continue;
                }
                let bytes = std::fs::read(&part)
                    .with_context(|| format!("cannot read {}", part.display()))?;
                if uncompressed_sha(&bytes).as_deref() == Some(sha) {
                    std::fs::rename(&part, &dest).with_context(|| {
                        format!("cannot move {} to {}", part.display(), dest.display())
                    })?;
                    done = true;
                    break 'mirrors;
                }
                std::fs::remove_file(&part)
                    .with_context(|| format!("cannot remove {}", part.display()))?;
                if resumed && !restarted {
                    // A resumed download (a stale .part, perhaps of another mirror): once
                    // more from zero before giving up on this mirror.
                    tried.push(format!(
                        "{url}: the resumed download is not the published file; deleted, downloading again from zero"
                    ));
                    restarted = true;
                    continue;
                }
                tried.push(format!(
                    "{url}: the download is not the published file (SHA-256 of its content differs); deleted"
                ));
                continue 'mirrors;
            }
        }
        if !done {
            let _ = std::fs::remove_file(&part);
            bail!(
                "could not get a verified {name}.gz into {}; tried:\n  {}\n(or copy the four files there yourself and set MNIST_DIR)",
                dir.display(),
                tried.join("\n  ")
            );
        }
        if !quiet {
            eprintln!("{}: downloaded, verified", dest.display());
        }
    }
    Ok(())
}

/// GETs `url` into `part`, appending (with a `Range` request) to the bytes already there.
fn download(url: &str, part: &Path, quiet: bool) -> Result<()> {
    let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(std::time::Duration::from_secs(20))
        .timeout_read(std::time::Duration::from_secs(60))
        .build();
    let mut req = agent.get(url);
    if have > 0 {
        req = req.set("Range", &format!("bytes={have}-"));
    }
    let resp = match req.call() {
        Ok(r) => r,
        // The server has nothing beyond what we have: the file is complete.
        Err(ureq::Error::Status(416, _)) if have > 0 => return Ok(()),
        Err(e) => return Err(e).context("request failed"),
    };
    let append = resp.status() == 206;
    let total = resp
        .header("Content-Length")
        .and_then(|v| v.parse::<u64>().ok())
        .map(|n| n + if append { have } else { 0 });
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(part)
        .with_context(|| format!("cannot write {}", part.display()))?;
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(total.unwrap_or(0))
    };
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes}  ETA {eta}")
            .expect("valid template"),
    );
    bar.set_message(url.to_string());
    bar.set_position(if append { have } else { 0 });
    let mut reader = resp.into_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut got = if append { have } else { 0 };
    loop {
        let n = reader.read(&mut buf).context("connection broken")?;
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n])
            .with_context(|| format!("cannot write {}", part.display()))?;
        got += n as u64;
        bar.set_position(got);
    }
    bar.finish_and_clear();
    file.sync_all()
        .with_context(|| format!("cannot write {}", part.display()))?;
    if let Some(t) = total {
        if got < t {
            bail!("connection closed after {got} of {t} bytes");
        }
    }
    Ok(())
}
