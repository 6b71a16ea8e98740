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
    // `--no-optional-locks`: `git status` must not refresh (rewrite) the index, which would
    // make the next build look stale.
    let dirty = git(&[
        "--no-optional-locks",
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
    // A commit, checkout or reset appends to HEAD's reflog; `git status` leaves it alone (the
    // index, which a plain `git status` may rewrite, would rebuild the crate after every one).
    let git_dir = git(&["rev-parse", "--git-dir"]).unwrap_or_else(|| ".git".into());
    let reflog = format!("{git_dir}/logs/HEAD");
    let commit_marker = if std::path::Path::new(&reflog).exists() {
        reflog
    } else {
        format!("{git_dir}/index")
    };
    for p in [
        format!("{git_dir}/HEAD"),
        commit_marker,
        "src".into(),
        "ladder/src".into(),
        "gan_variants/src".into(),
    ] {
        // A path that does not exist (no git checkout) would make every build stale.
        if std::path::Path::new(&p).exists() {
            println!("cargo:rerun-if-changed={p}");
        }
    }
}
