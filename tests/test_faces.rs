//! The face runs (`ebgan images …`) end to end on the real CIFAR-10 batches and CelebA faces:
//! a small feature network, then smoke runs of the face models; a run stopped half-way and
//! resumed equals an uninterrupted one; bad input is one clear error.

mod common;

use std::path::{Path, PathBuf};

/// A results folder with a one-epoch feature network (1,280 CIFAR-10 images, no accuracy bar)
/// and its config file, trained once for all tests of this file.
fn setup() -> (PathBuf, PathBuf) {
    static ONCE: std::sync::OnceLock<(PathBuf, PathBuf)> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("ebgan-faces-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let text = std::fs::read_to_string(common::configs().join("images.toml")).unwrap();
        let text = text
            .replace("epochs = 15", "epochs = 1")
            .replace("train_images = 45000", "train_images = 1280")
            .replace("heldout_images = 5000", "heldout_images = 500")
            .replace("min_accuracy = 0.80", "min_accuracy = 0.0");
        assert!(
            text.contains("train_images = 1280"),
            "the test config was edited"
        );
        let config = dir.join("images.toml");
        std::fs::write(&config, text).unwrap();
        let (code, err) = run(&config, &dir, &["images", "features", "--quiet"]);
        assert_eq!(code, 0, "{err}");
        (dir, config)
    })
    .clone()
}

fn run(config: &Path, results: &Path, args: &[&str]) -> (i32, String) {
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    all.extend([
        "--config".into(),
        config.display().to_string(),
        "--results".into(),
        results.display().to_string(),
        "--cache".into(),
        results.join("cache").display().to_string(),
    ]);
    common::ebgan_images(&all, true)
}

/// An EBGAN-PT smoke run stopped after 4 of its 6 updates (with a checkpoint; inside its
/// second curve window of 3 updates, so the half-filled window is saved and restored) and
/// run again ends with the same curve (every number but wall time), FID, KID and floor as an
/// uninterrupted run; its folder has the config, the sample grids and no checkpoint left.
#[test]
fn a_resumed_face_run_equals_an_uninterrupted_one() {
    let (dir, config) = setup();
    let args = [
        "images",
        "run",
        "--profile",
        "smoke",
        "--model",
        "ebgan-pt",
        "--quiet",
    ];
    let straight = dir.join("straight");
    copy_dir(&dir.join("features"), &straight.join("features"));
    let (code, err) = run(&config, &straight, &args);
    assert_eq!(code, 0, "{err}");
    copy_dir(&dir.join("features"), &dir.join("resumed/features"));
    let resumed = dir.join("resumed");
    let mut stop = args.to_vec();
    stop.extend(["--stop-after", "4"]);
    let (code, err) = run(&config, &resumed, &stop);
    assert_eq!(code, 0, "{err}");
    let folder = resumed.join("faces/smoke/ebgan-pt_m20_s1");
    assert!(
        folder.join("checkpoint/state.toml").exists(),
        "no checkpoint after the stop"
    );
    assert!(
        !folder.join("final.csv").exists(),
        "a stopped run looks finished"
    );
    let (code, err) = run(&config, &resumed, &args);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("resum") || err.is_empty() || err.contains("FID"),
        "{err}"
    );
    let a = common::image_run_numbers(&straight.join("faces/smoke/ebgan-pt_m20_s1"));
    let b = common::image_run_numbers(&folder);
    assert_eq!(a, b);
    assert_eq!(a.1[7], "ok");
    let fid: f64 = a.1[8].parse().unwrap();
    let floor: f64 = a.1[10].parse().unwrap();
    assert!(
        fid.is_finite() && floor.is_finite() && fid > floor,
        "FID {fid}, floor {floor}"
    );
    for f in ["config.toml", "samples.png", "samples_3.png"] {
        assert!(folder.join(f).exists(), "{f} missing");
    }
    assert!(
        !folder.join("checkpoint").exists(),
        "checkpoint left behind"
    );
    // Control: a run of the other model at the same seed differs.
    let (code, err) = run(
        &config,
        &straight,
        &[
            "images",
            "run",
            "--profile",
            "smoke",
            "--model",
            "ebgan",
            "--quiet",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_ne!(
        common::image_run_numbers(&straight.join("faces/smoke/ebgan_m20_s1")).0,
        a.0
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// Bad input is one line naming what to fix, a non-zero exit, and no run folder.
#[test]
fn bad_face_input_is_one_clear_error() {
    let (dir, config) = setup();
    let empty = dir.join("no-network");
    let (code, err) = run(
        &config,
        &empty,
        &["images", "run", "--profile", "smoke", "--model", "dcgan"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("ebgan images features"), "{err}");
    assert!(!empty.join("faces").exists());
    let (code, err) = run(
        &config,
        &dir,
        &[
            "images",
            "run",
            "--profile",
            "smoke",
            "--model",
            "dcgan",
            "--margin",
            "10",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("--margin"), "{err}");
    let (code, err) = run(
        &config,
        &dir,
        &["images", "run", "--profile", "fast", "--model", "dcgan"],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("no profile fast") && err.contains("quick"),
        "{err}"
    );
    let mut bad = dir.clone();
    bad.push("missing-faces");
    let (code, err) = run(
        &config,
        &dir,
        &[
            "images",
            "run",
            "--profile",
            "smoke",
            "--model",
            "dcgan",
            "--faces-dir",
            bad.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("CELEBA_DIR"), "{err}");
    assert!(
        !dir.join("faces/smoke/dcgan_s1").exists(),
        "a folder was left for a failed start"
    );
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("side = 32\nbatch = 8", "side = 48\nbatch = 8");
    let bad_cfg = dir.join("bad.toml");
    std::fs::write(&bad_cfg, text).unwrap();
    let (code, err) = run(
        &bad_cfg,
        &dir,
        &["images", "run", "--profile", "smoke", "--model", "dcgan"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("profiles.smoke.side"), "{err}");
}

/// The quick profile plans 3 models × 3 seeds plus EBGAN at the two other margins × 3 seeds.
#[test]
fn jobs_list_the_comparison_and_the_margin_sweep() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ebgan"))
        .args([
            "images",
            "jobs",
            "--profile",
            "quick",
            "--results",
            "/nonexistent",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 15, "{text}");
    assert_eq!(
        lines.iter().filter(|l| l.contains("--model dcgan")).count(),
        3
    );
    assert_eq!(
        lines.iter().filter(|l| l.contains("--margin 10")).count(),
        3
    );
    assert_eq!(
        lines.iter().filter(|l| l.contains("--margin 40")).count(),
        3
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("--model ebgan-pt"))
            .count(),
        3
    );
}
