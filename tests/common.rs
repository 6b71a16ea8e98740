//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::path::PathBuf;

/// The MNIST folder for tests: $MNIST_DIR, else data/mnist, else ../shared/data/mnist.
/// Tests that need the data fail with this message rather than pass without it.
pub fn mnist_dir() -> PathBuf {
    let candidates = [
        std::env::var_os("MNIST_DIR").map(PathBuf::from),
        Some("data/mnist".into()),
        Some("../shared/data/mnist".into()),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|p| p.join("train-images-idx3-ubyte.gz").exists() || p.join("train-images-idx3-ubyte").exists())
        .expect("these tests need MNIST: set MNIST_DIR to a folder with the four IDX files (or run `make data`)")
}

/// The repository's configs folder.
pub fn configs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("configs")
}

/// A folder of the shared data (`../shared/data/<name>`, or $<VAR>): the CIFAR-10 batches, the
/// CelebA faces. Tests that need it fail with this message rather than pass without it.
pub fn shared_data(var: &str, name: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .or_else(|| {
            let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/data")
                .join(name);
            p.is_dir().then_some(p)
        })
        .unwrap_or_else(|| {
            panic!("these tests need ../shared/data/{name}: set {var} to its folder")
        })
}

/// The `ebgan` binary with `args`, run from the repository root on `threads` threads with the
/// shared CIFAR-10 batches as CIFAR_DIR (and the CelebA faces as CELEBA_DIR with `faces`).
pub fn ebgan_images_command<S: AsRef<std::ffi::OsStr>>(
    args: &[S],
    faces: bool,
    threads: usize,
) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ebgan"));
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("CIFAR_DIR", shared_data("CIFAR_DIR", "cifar10"))
        .env("RAYON_NUM_THREADS", threads.to_string());
    if faces {
        cmd.env("CELEBA_DIR", shared_data("CELEBA_DIR", "celeba-10k"));
    }
    cmd
}

/// Runs [`ebgan_images_command`] on one thread; returns its exit code and stderr.
pub fn ebgan_images<S: AsRef<std::ffi::OsStr>>(args: &[S], faces: bool) -> (i32, String) {
    let out = ebgan_images_command(args, faces, 1).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the `ebgan` binary from the repository root with MNIST_DIR set; returns its exit code
/// and stderr.
pub fn ebgan(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ebgan"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("MNIST_DIR", mnist_dir())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An image run's numbers without its timings: `curve.csv` without its last (wall-time) column,
/// and `final.csv`'s first 12 columns (id … status, fid, kid, fid_floor, kid_floor).
pub fn image_run_numbers(run: &std::path::Path) -> (Vec<String>, Vec<String>) {
    let curve = std::fs::read_to_string(run.join("curve.csv")).unwrap();
    let curve = curve
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string())
        .collect();
    let fin = std::fs::read_to_string(run.join("final.csv")).unwrap();
    let row: Vec<String> = fin
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .map(String::from)
        .collect();
    (curve, row[..12].to_vec())
}
