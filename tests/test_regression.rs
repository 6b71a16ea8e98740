//! Error-rate regression: short fixed-seed runs of LN and EBGAN-LN must stay below the
//! thresholds recorded, with their measured values and margins, in
//! `results/reference/regression.toml`.

mod common;

use ebgan::cmd::run::execute;
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
    let data = load_mnist(&common::mnist_dir()).unwrap();
    let cfg = resolve(&common::configs(), &r.profile, model, r.labels, r.seed).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let row = execute(&cfg, &data, dir.path(), true).unwrap();
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
fn ln_smoke_run_reaches_its_error_threshold() {
    check(Model::Ln);
}

#[test]
fn ebgan_ln_smoke_run_reaches_its_error_threshold() {
    check(Model::EbganLn);
}
