//! Every setting is validated before any work starts: a bad value in a config file or a flag
//! is one error naming the file (or flag), the key and the allowed range, exit code 1, and the
//! results folder stays untouched. Each case edits one key of a copy of `configs/`.

mod common;

use std::path::Path;

/// A copy of `configs/` with `from` replaced by `to` in `file` (which must contain `from`).
fn edited(dir: &Path, file: &str, from: &str, to: &str) {
    for f in std::fs::read_dir(common::configs()).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, dir.join(f.file_name().unwrap())).unwrap();
    }
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} has no '{from}'");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// (file, text replaced, replacement, key the error must name, model to run).
const CASES: &[(&str, &str, &str, &str, &str)] = &[
    (
        "ln.toml",
        "lr = 2e-4",
        "lr = -2e-4",
        "protocol.adam.lr",
        "ln",
    ),
    ("ln.toml", "lr = 2e-4", "lr = 0.0", "protocol.adam.lr", "ln"),
    (
        "ln.toml",
        "beta1 = 0.5",
        "beta1 = 1.5",
        "protocol.adam.beta1",
        "ln",
    ),
    (
        "ln.toml",
        "steps = 120000",
        "steps = 0",
        "protocol.steps",
        "ln",
    ),
    (
        "ln.toml",
        "decay_start = 80000",
        "decay_start = 130000",
        "protocol.decay_start",
        "ln",
    ),
    (
        "ln.toml",
        "lambda0 = 1000.0",
        "lambda0 = -1.0",
        "ladder.lambda0",
        "ln",
    ),
    (
        "ln.toml",
        "noise_std = 0.3",
        "noise_std = -0.3",
        "ladder.noise_std",
        "ln",
    ),
    (
        "ln.toml",
        "batch_size = 100",
        "batch_size = 0",
        "ladder.batch_size",
        "ln",
    ),
    // Valid alone, but more labeled rows per batch than --labels (found by the fuzz test).
    (
        "ln.toml",
        "batch_size = 100",
        "batch_size = 101",
        "ladder.batch_size",
        "ln",
    ),
    (
        "ebgan-ln.toml",
        "margin = 16.0",
        "margin = -1.0",
        "protocol.margin",
        "ebgan-ln",
    ),
    (
        "ebgan-ln.toml",
        "margin_steps = 60000",
        "margin_steps = 0",
        "protocol.margin_steps",
        "ebgan-ln",
    ),
    (
        "ebgan-ln.toml",
        "g_steps = 60000",
        "g_steps = 190000",
        "protocol.g_steps",
        "ebgan-ln",
    ),
    (
        "ebgan-ln.toml",
        "d_decay_start = 120000",
        "d_decay_start = 200000",
        "protocol.d_decay_start",
        "ebgan-ln",
    ),
    (
        "ebgan-ln.toml",
        "bn_eps = 1e-10",
        "bn_eps = 0.0",
        "ladder.bn_eps",
        "ln-matched",
    ),
    (
        "profiles.toml",
        "step_scale = 0.0025",
        "step_scale = -1.0",
        "smoke.step_scale",
        "ln",
    ),
    (
        "profiles.toml",
        "curve_every = 10\neval_every = 100",
        "curve_every = 0\neval_every = 100",
        "smoke.curve_every",
        "ln",
    ),
    (
        "profiles.toml",
        "seeds = [1, 2]",
        "seeds = []",
        "smoke.seeds",
        "ln",
    ),
    (
        "profiles.toml",
        "seeds = [1, 2]",
        "seeds = [1, 1]",
        "smoke.seeds",
        "ln",
    ),
];

#[test]
fn a_bad_setting_is_one_error_naming_file_key_and_range_and_nothing_is_written() {
    for (file, from, to, key, model) in CASES {
        let dir = tempfile::tempdir().unwrap();
        let configs = dir.path().join("configs");
        std::fs::create_dir(&configs).unwrap();
        edited(&configs, file, from, to);
        let results = dir.path().join("results");
        let (code, err) = common::ebgan(&[
            "run",
            "--quiet",
            "--model",
            model,
            "--labels",
            "100",
            "--seed",
            "1",
            "--profile",
            "smoke",
            "--configs",
            configs.to_str().unwrap(),
            "--results",
            results.to_str().unwrap(),
        ]);
        let case = format!("{file}: {from} -> {to}");
        assert_eq!(code, 1, "{case}: {err}");
        assert_eq!(err.lines().count(), 1, "{case}: {err}");
        assert!(
            err.contains(file) && err.contains(&format!("{key} = ")),
            "{case}: {err}"
        );
        assert!(err.contains("must be"), "{case}: {err}");
        assert!(
            !results.exists(),
            "{case}: a run that cannot start writes nothing"
        );
    }
    // Control: the unedited copy passes validation (the run starts and is stopped by a flag
    // error only after validation: here a missing MNIST folder, reported as such).
    let dir = tempfile::tempdir().unwrap();
    let configs = dir.path().join("configs");
    std::fs::create_dir(&configs).unwrap();
    edited(&configs, "ln.toml", "lr = 2e-4", "lr = 2e-4");
    let (code, err) = common::ebgan(&[
        "run",
        "--model",
        "ln",
        "--labels",
        "100",
        "--seed",
        "1",
        "--profile",
        "smoke",
        "--configs",
        configs.to_str().unwrap(),
        "--data-dir",
        "/nonexistent/mnist",
        "--results",
        dir.path().join("results").to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("MNIST folder /nonexistent/mnist"), "{err}");
}

#[test]
fn bad_flags_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let r = results.to_str().unwrap();
    let base = [
        "run",
        "--quiet",
        "--model",
        "ln",
        "--seed",
        "1",
        "--profile",
        "smoke",
        "--results",
        r,
    ];
    // Exit code 1 and the flag named: label counts MNIST cannot fill, or not per class.
    for labels in ["60000", "0", "105", "54220"] {
        let (code, err) = common::ebgan(&[&base[..], &["--labels", labels]].concat());
        assert_eq!(code, 1, "--labels {labels}: {err}");
        assert!(err.contains(&format!("--labels = {labels}")), "{err}");
        assert!(!results.exists(), "--labels {labels}");
    }
    // Fits MNIST's training set, not the 50,000 images of the validation split: found when
    // the labeled set is drawn, still before the folder exists.
    let (code, err) =
        common::ebgan(&[&base[..], &["--labels", "50000", "--split", "validation"]].concat());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("too few examples"), "{err}");
    assert!(!results.exists());
    // clap's own usage errors keep exit code 2 (README: exit codes).
    for (flag, v) in [
        ("--lr-scale", "-1"),
        ("--step-scale", "0"),
        ("--checkpoint-minutes", "-5"),
        ("--checkpoint-minutes", "inf"),
    ] {
        let arg = format!("{flag}={v}");
        let (code, err) = common::ebgan(&[&base[..], &["--labels", "100", &arg]].concat());
        assert_eq!(code, 2, "{flag} {v}: {err}");
        assert!(err.contains(flag), "{err}");
    }
    assert!(!results.exists());
}

#[test]
fn bad_gan_settings_are_refused_naming_file_and_key() {
    for (from, to, key) in [
        ("adam_beta1 = 0.5", "adam_beta1 = 1.5", "train.adam_beta1"),
        ("bn_eps = 1e-5", "bn_eps = -1e-5", "train.bn_eps"),
        (
            "g_updates = 30",
            "g_updates = 0",
            "profiles.smoke.g_updates",
        ),
        (
            "curve_every = 10\ncurve_samples = 200",
            "curve_every = 0\ncurve_samples = 200",
            "profiles.smoke.curve_every",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let configs = dir.path().join("configs");
        std::fs::create_dir(&configs).unwrap();
        edited(&configs, "gans.toml", from, to);
        let results = dir.path().join("results");
        let (code, err) = common::ebgan(&[
            "gan",
            "run",
            "--quiet",
            "--profile",
            "smoke",
            "--id",
            "ebgan_g5x800_d2x1024_nodrop_adam-adam_lr0.001_m10",
            "--configs",
            configs.to_str().unwrap(),
            "--results",
            results.to_str().unwrap(),
        ]);
        assert_eq!(code, 1, "{to}: {err}");
        assert!(
            err.contains("gans.toml") && err.contains(&format!("{key} = ")),
            "{err}"
        );
        assert!(!results.exists(), "{to}");
    }
}
