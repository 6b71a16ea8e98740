//! Records the git commit the binary is built from (with `-dirty` for uncommitted changes),
//! so every run's final.csv says which code produced it.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = git(&[
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        "src",
        "ladder",
        "gan_variants",
        "Cargo.toml",
        "Cargo.lock",
    ])
    .map(|s| !s.is_empty())
    .unwrap_or(false);
    println!(
        "cargo:rustc-env=EBGAN_CODE={commit}{}",
        if dirty { "-dirty" } else { "" }
    );
    for p in [
        ".git/HEAD",
        ".git/index",
        "src",
        "ladder/src",
        "gan_variants/src",
    ] {
        println!("cargo:rerun-if-changed={p}");
    }
}
