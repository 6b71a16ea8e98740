//! Error-rate regression: fixed-seed runs of LN and EBGAN-LN (100 labels, seed 1, the profile
//! named in `results/reference/regression.toml`) must stay below the thresholds recorded there
//! with their measured values and margins, and a broken-model control — the same run with the
//! part under test switched off — must fail a threshold in the same test run, so that the test
//! is shown to reject a broken model:
//! - LN: λ₀ = 0 (no reconstruction cost: the supervised part alone) must exceed the error
//!   threshold;
//! - EBGAN-LN: at this length its generator-disabled control (margin 0, no G steps, i.e.
//!   LN-matched) has a *lower* error than EBGAN-LN (recorded in the file), so no error
//!   threshold can reject it. The GAN path is checked instead by what the generator does: by
//!   the end of its phase a working G has learnt fakes whose energy (the G loss) is well below
//!   the real data's, while a G that never trains (lr 0 — also what a detached G(z) or a zero
//!   gradient gives) leaves fakes the ladder has pushed far above it. The ratio
//!   mean G loss / mean real energy over the last tenth of the generator phase must be below
//!   its threshold, and the frozen-G control (stopped at the phase's end) above it.

mod common;

use ebgan::cmd::run::{execute, CurveRow, RunOptions};
use ebgan::config::{resolve, Model, RunConfig};
use ebgan::data::{load_mnist, Mnist};
use ebgan::io::read_csv;
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
    /// EBGAN-LN: the energy ratio (see the module doc) of the run, of the frozen-G control,
    /// and the threshold between them.
    gan_ratio_measured: Option<f64>,
    gan_ratio_control_measured: Option<f64>,
    gan_ratio_threshold: Option<f64>,
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
    run(cfg, data, None).0.expect("the run finished")
}

/// Trains `cfg` (up to `stop_after` steps) and returns the final test error (None when
/// stopped early) and the curve.
fn run(cfg: &RunConfig, data: &Mnist, stop_after: Option<u64>) -> (Option<f64>, Vec<CurveRow>) {
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        stop_after,
        ..RunOptions::default()
    };
    let row = execute(cfg, data, dir.path(), &opts).unwrap();
    let curve: Vec<CurveRow> = read_csv(&dir.path().join("curve.csv")).unwrap();
    (row.and_then(|r| r.test_error), curve)
}

/// Mean G loss / mean real energy over the curve rows of the last tenth of the generator
/// phase (steps in [0.9·g_steps, g_steps)).
pub fn gan_ratio(curve: &[CurveRow], g_steps: u64) -> f64 {
    let rows: Vec<&CurveRow> = curve
        .iter()
        .filter(|r| r.step >= g_steps * 9 / 10 && r.step < g_steps)
        .collect();
    assert!(
        !rows.is_empty(),
        "no curve rows in the generator phase's last tenth"
    );
    let g: f64 = rows.iter().map(|r| r.g_loss.expect("G loss")).sum::<f64>();
    let real: f64 = rows.iter().map(|r| r.real_energy).sum::<f64>();
    g / real
}

/// LN's broken-model control: λ₀ = 0.
fn without_reconstruction(cfg: &RunConfig) -> RunConfig {
    let mut c = cfg.clone();
    c.ladder.lambda0 = 0.0;
    c
}

#[test]
fn ln_run_reaches_its_error_threshold_and_its_control_does_not() {
    let refs = references();
    let r = &refs["ln"];
    let data = load_mnist(&common::mnist_dir()).unwrap();
    let cfg = resolve(&common::configs(), &r.profile, Model::Ln, r.labels, r.seed).unwrap();
    let err = test_error(&cfg, &data);
    let broken = test_error(&without_reconstruction(&cfg), &data);
    let model = Model::Ln;
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
fn ebgan_ln_run_reaches_its_thresholds_and_a_frozen_generator_does_not() {
    let refs = references();
    let r = &refs["ebgan-ln"];
    let (ratio_threshold, ratio_recorded, control_recorded) = (
        r.gan_ratio_threshold.expect("gan_ratio_threshold"),
        r.gan_ratio_measured.expect("gan_ratio_measured"),
        r.gan_ratio_control_measured
            .expect("gan_ratio_control_measured"),
    );
    let data = load_mnist(&common::mnist_dir()).unwrap();
    let cfg = resolve(
        &common::configs(),
        &r.profile,
        Model::EbganLn,
        r.labels,
        r.seed,
    )
    .unwrap();
    let g_steps = cfg.ebgan_ln.as_ref().unwrap().g_steps;
    let (err, curve) = run(&cfg, &data, None);
    let err = err.expect("the run finished");
    let ratio = gan_ratio(&curve, g_steps);
    let mut frozen = cfg.clone();
    frozen.ebgan_ln.as_mut().unwrap().adam_g.lr = 0.0;
    let (_, frozen_curve) = run(&frozen, &data, Some(g_steps));
    let frozen_ratio = gan_ratio(&frozen_curve, g_steps);
    eprintln!(
        "EBGAN-LN {} labels={} seed={}: test error {err} (recorded {}, threshold {}); energy ratio {ratio} (recorded {ratio_recorded}), frozen G {frozen_ratio} (recorded {control_recorded}), threshold {ratio_threshold}",
        r.profile, r.labels, r.seed, r.measured, r.threshold
    );
    assert!(
        err < r.threshold,
        "EBGAN-LN: test error {err} is not below {}",
        r.threshold
    );
    assert!(
        ratio < ratio_threshold,
        "EBGAN-LN: the generator did not learn (energy ratio {ratio} not below {ratio_threshold})"
    );
    assert!(
        frozen_ratio > ratio_threshold,
        "the frozen-generator control passes the energy-ratio threshold ({frozen_ratio} ≤ {ratio_threshold}): it cannot detect a generator that does not train"
    );
}
