//! Error-rate regression: quick-profile fixed-seed runs of LN and EBGAN-LN (about 3 and 7
//! minutes on 2 cores) must stay below the
//! thresholds recorded, with their measured values and margins, in
//! `results/reference/regression.toml`.

mod common;

use ebgan::cmd::run::{execute, RunOptions};
use ebgan::config::{resolve, Model};
use ebgan::data::load_mnist;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct Reference {
    profile: String,
    labels: usize,
    seed: u64,
    measured: f64,
    /// The same run with λ₀ = 0: the threshold must separate it from a working ladder.
    broken_lambda0_zero: Option<f64>,
    threshold: f64,
}

fn references() -> BTreeMap<String, Reference> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results/reference/regression.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    table
        .into_iter()
        .map(|(k, v)| (k, v.try_into().unwrap()))
        .collect()
}

fn check(model: Model) {
    let refs = references();
    let r = &refs[model.name()];
    assert!(
        r.measured < r.threshold,
        "the recorded threshold must lie above the measured value"
    );
    if let Some(broken) = r.broken_lambda0_zero {
        assert!(
            broken > r.threshold,
            "the threshold must reject the ladder without its reconstruction cost"
        );
    }
    let data = load_mnist(&common::mnist_dir()).unwrap();
    let cfg = resolve(&common::configs(), &r.profile, model, r.labels, r.seed).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let row = execute(&cfg, &data, dir.path(), &RunOptions::default())
        .unwrap()
        .unwrap();
    let err = row.test_error.expect("the run finished");
    eprintln!(
        "{} {} labels={} seed={}: test error {err} (recorded {}, threshold {})",
        model.label(),
        r.profile,
        r.labels,
        r.seed,
        r.measured,
        r.threshold
    );
    assert!(
        err < r.threshold,
        "{}: test error {err} is not below the threshold {}",
        model.label(),
        r.threshold
    );
}

#[test]
fn ln_quick_run_reaches_its_error_threshold() {
    check(Model::Ln);
}

#[test]
fn ebgan_ln_quick_run_reaches_its_error_threshold() {
    check(Model::EbganLn);
}
