//! Error-rate regression: fixed-seed runs of LN and EBGAN-LN (100 labels, seed 1, the profile
//! named in `results/reference/regression.toml`) must stay below the thresholds recorded there
//! with their measured values and margins, and each entry's broken-model control — the same
//! run with the part under test switched off — must land above its threshold, in the same
//! test run, so that the threshold is shown to reject a broken model:
//! - LN: λ₀ = 0 (no reconstruction cost: the supervised part alone);
//! - EBGAN-LN: the generator disabled (margin 0 and no generator steps: the ladder trained
//!   with EBGAN-LN's discriminator schedule and no fakes).

mod common;

use ebgan::cmd::run::{execute, RunOptions};
use ebgan::config::{resolve, Model, RunConfig};
use ebgan::data::{load_mnist, Mnist};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reference {
    profile: String,
    labels: usize,
    seed: u64,
    /// Test error of the run, measured by the build named in the file's notes.
    measured: f64,
    /// Test error of the broken-model control, measured by the same build.
    control_measured: f64,
    threshold: f64,
    /// Free text: where the numbers come from.
    #[serde(default)]
    #[allow(dead_code)]
    note: String,
}

fn references() -> BTreeMap<String, Reference> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results/reference/regression.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    toml::from_str(&text).unwrap()
}

fn test_error(cfg: &RunConfig, data: &Mnist) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let row = execute(cfg, data, dir.path(), &RunOptions::default())
        .unwrap()
        .unwrap();
    row.test_error.expect("the run finished")
}

/// The broken-model control of `model`'s regression run.
fn control(model: Model, cfg: &RunConfig) -> RunConfig {
    let mut c = cfg.clone();
    match model {
        Model::Ln | Model::LnMatched => c.ladder.lambda0 = 0.0,
        Model::EbganLn => {
            let p = c.ebgan_ln.as_mut().expect("EBGAN-LN protocol");
            p.margin = 0.0;
            p.g_steps = 0;
        }
    }
    c
}

fn check(model: Model) {
    let refs = references();
    let r = &refs[model.name()];
    let data = load_mnist(&common::mnist_dir()).unwrap();
    let cfg = resolve(&common::configs(), &r.profile, model, r.labels, r.seed).unwrap();
    let err = test_error(&cfg, &data);
    let broken = test_error(&control(model, &cfg), &data);
    eprintln!(
        "{} {} labels={} seed={}: test error {err} (recorded {}), control {broken} (recorded {}), threshold {}",
        model.label(),
        r.profile,
        r.labels,
        r.seed,
        r.measured,
        r.control_measured,
        r.threshold
    );
    assert!(
        err < r.threshold,
        "{}: test error {err} is not below the threshold {}",
        model.label(),
        r.threshold
    );
    assert!(
        broken > r.threshold,
        "{}: the broken-model control ({broken}) passes the threshold {}: the threshold cannot detect a broken model",
        model.label(),
        r.threshold
    );
}

#[test]
fn ln_run_reaches_its_error_threshold_and_its_control_does_not() {
    check(Model::Ln);
}

#[test]
fn ebgan_ln_run_reaches_its_error_threshold_and_its_control_does_not() {
    check(Model::EbganLn);
}
