//! Interrupting is safe: SIGTERM (as Ctrl-C's SIGINT) checkpoints at the next step and exits
//! with code 130 and a message saying how to resume; the resumed run gives the curve of an
//! uninterrupted one. A checkpoint that cannot be written (the file-size limit standing in for
//! a full disk) leaves the previous checkpoint intact, removes the partial one and names the
//! file.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn run_args(results: &Path) -> Vec<String> {
    [
        "run",
        "--quiet",
        "--model",
        "ln",
        "--labels",
        "100",
        "--seed",
        "3",
        "--profile",
        "smoke",
        "--results",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([results.display().to_string()])
    .collect()
}

fn run_dir(results: &Path) -> std::path::PathBuf {
    results.join("runs/smoke/ln/labels100/seed3")
}

/// curve.csv without its wall-time column.
fn curve_without_wall(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Starts a smoke LN run and sends it SIGTERM once its first evaluation (step 100 of 300) has
/// written curve.csv; returns its exit code and stderr.
fn start_and_interrupt(results: &Path, extra: &[&str]) -> (i32, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_ebgan"))
        .args(run_args(results))
        .args(extra)
        .env("MNIST_DIR", common::mnist_dir())
        .env("RAYON_NUM_THREADS", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !run_dir(results).join("curve.csv").exists() {
        assert!(start.elapsed() < Duration::from_secs(120), "no curve.csv");
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn sigterm_checkpoints_says_how_to_resume_and_the_resumed_run_is_unchanged() {
    let whole = tempfile::tempdir().unwrap();
    let st = Command::new(env!("CARGO_BIN_EXE_ebgan"))
        .args(run_args(whole.path()))
        .env("MNIST_DIR", common::mnist_dir())
        .status()
        .unwrap();
    assert!(st.success());

    let parts = tempfile::tempdir().unwrap();
    let (code, err) = start_and_interrupt(parts.path(), &[]);
    assert_eq!(code, 130, "{err}");
    assert!(
        err.contains("interrupted at step") && err.contains("run the same command again to resume"),
        "{err}"
    );
    let dir = run_dir(parts.path());
    let state = std::fs::read_to_string(dir.join("checkpoint/state.toml")).unwrap();
    assert!(!dir.join("final.csv").exists(), "{state}");
    let st = Command::new(env!("CARGO_BIN_EXE_ebgan"))
        .args(run_args(parts.path()))
        .env("MNIST_DIR", common::mnist_dir())
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(
        curve_without_wall(&dir.join("curve.csv")),
        curve_without_wall(&run_dir(whole.path()).join("curve.csv")),
        "interrupted at {state}"
    );
    assert!(!dir.join("checkpoint").exists());
}

/// bash's `ulimit -f` caps the size of a written file (SIGXFSZ ignored, so the write fails with
/// EFBIG as on a full disk): the ladder's 3 MB safetensors cannot be written.
#[test]
fn a_failed_checkpoint_keeps_the_previous_one_and_removes_the_partial_one() {
    let res = tempfile::tempdir().unwrap();
    let (code, err) = start_and_interrupt(res.path(), &[]);
    assert_eq!(code, 130, "{err}");
    let dir = run_dir(res.path());
    let before: Vec<Vec<u8>> = ["state.toml", "ladder.safetensors", "adam.bin", "curve.csv"]
        .iter()
        .map(|f| std::fs::read(dir.join("checkpoint").join(f)).unwrap())
        .collect();
    let args = run_args(res.path()).join(" ");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f 1000; exec '{}' {args} --checkpoint-steps 1",
            env!("CARGO_BIN_EXE_ebgan")
        ))
        .env("MNIST_DIR", common::mnist_dir())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("checkpoint.tmp/ladder.safetensors") && err.contains("previous one"),
        "{err}"
    );
    assert!(
        !dir.join("checkpoint.tmp").exists(),
        "partial checkpoint removed"
    );
    let after: Vec<Vec<u8>> = ["state.toml", "ladder.safetensors", "adam.bin", "curve.csv"]
        .iter()
        .map(|f| std::fs::read(dir.join("checkpoint").join(f)).unwrap())
        .collect();
    assert!(before == after, "the previous checkpoint is intact");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Control: without the limit the same command resumes from that checkpoint and finishes.
    let st = Command::new(env!("CARGO_BIN_EXE_ebgan"))
        .args(run_args(res.path()))
        .env("MNIST_DIR", common::mnist_dir())
        .status()
        .unwrap();
    assert!(st.success() && dir.join("final.csv").exists());
}

/// A checkpoint whose curve.csv does not reach its step is refused, not resumed with rows
/// silently missing.
#[test]
fn a_checkpoint_with_a_short_curve_is_an_error() {
    let res = tempfile::tempdir().unwrap();
    let (code, _) = start_and_interrupt(res.path(), &[]);
    assert_eq!(code, 130);
    let curve = run_dir(res.path()).join("checkpoint/curve.csv");
    let text = std::fs::read_to_string(&curve).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&curve, lines[..lines.len() - 1].join("\n") + "\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ebgan"))
        .args(run_args(res.path()))
        .env("MNIST_DIR", common::mnist_dir())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("is unreadable") && err.contains("steps are done"),
        "{err}"
    );
}
