//! `ebgan edgan floor --profile <P>`: the real-vs-real FID/KID floor at every n a profile
//! scores at — `curve_fid_n` (the curve checkpoints) and `fid_n` (the final score) — written to
//! `results/edgan/<P>/floor.csv`. At n the two sets are the runs' own real sets
//! ([`Scorer::real_sets`]) cut to n: the first n CIFAR-10 training images (the reference every
//! checkpoint is scored against) and the first n of the floor set (images `fid_n`…`fid_n + n`).
//! At n = `fid_n` this is the floor in every run's `final.csv`; at the smaller `curve_fid_n` it
//! is FID's small-sample bias when both sets come from one distribution — indicative for a
//! checkpoint, whose bias also depends on the generator.

use super::{load, EdganProfile};
use crate::cmd::images::features;
use crate::cmd::images::run::Scorer;
use crate::cmd::run::CODE_VERSION;
use crate::io::write_csv;
use anyhow::{bail, Context, Result};
use gan_variants::metrics::feature_net::FEATURES;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub use super::ProfileArgs as Args;

/// One row of `floor.csv`: FID and KID of n real images against n others.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FloorRow {
    /// Images in each set.
    pub n: usize,
    /// FID on the FID network's 128 features (no unit).
    pub fid_floor: f64,
    /// KID: the unbiased MMD², unscaled, so it can be slightly negative.
    pub kid_floor: f64,
    /// The CIFAR-10 training images of the reference set: `0..n`.
    pub reference: String,
    /// The CIFAR-10 training images compared with it: `fid_n..fid_n + n`.
    pub comparison: String,
    pub feature_net: String,
    pub feature_net_sha256: String,
    pub code: String,
}

/// The n's a profile scores at, ascending: `curve_fid_n` and `fid_n` (one when equal).
pub fn floor_ns(p: &EdganProfile) -> Vec<usize> {
    let mut ns = vec![p.curve_fid_n, p.fid_n];
    ns.sort_unstable();
    ns.dedup();
    ns
}

/// Whether `rows` are the floors `ebgan edgan floor` would write now for profile `p`: the
/// profile's n's, the floor set starting at its `fid_n`, and the FID network `net_sha` (not
/// checked when None).
pub fn is_current(rows: &[FloorRow], p: &EdganProfile, net_sha: Option<&str>) -> bool {
    rows.iter().map(|r| r.n).collect::<Vec<_>>() == floor_ns(p)
        && rows
            .iter()
            .all(|r| r.comparison == format!("{}..{}", p.fid_n, p.fid_n + r.n))
        && net_sha.is_none_or(|sha| rows.iter().all(|r| r.feature_net_sha256 == sha))
}

/// `results/edgan/<profile>/floor.csv`.
pub fn floor_path(results: &Path, profile: &str) -> PathBuf {
    results.join("edgan").join(profile).join("floor.csv")
}

/// Computes the floors of `--profile` and writes `floor.csv`; errors name the settings file,
/// the CIFAR-10 folder or the FID network that is missing or wrong.
pub fn main(args: Args) -> Result<()> {
    let file = load(&args.paths.config)?;
    let p = file.profile(&args.profile, &args.paths.config)?;
    let images = args.paths.images();
    let (net, sha) = features::load(&images)?;
    let data = crate::images::load_cifar10(&images.cifar())?;
    if data.n < 2 * p.fid_n {
        bail!(
            "{} CIFAR-10 images, fid_n = {} needs {}",
            data.n,
            p.fid_n,
            2 * p.fid_n
        );
    }
    let scorer = Scorer {
        net: &net,
        side: data.side,
    };
    let width = data.side * data.side * data.channels;
    let (real_a, real_b) = scorer.real_sets(&data.signed(0..2 * p.fid_n), width, p.fid_n);
    let mut rows = Vec::new();
    for n in floor_ns(p) {
        let (fid, kid) = Scorer::compare(&real_a[..n * FEATURES], &real_b[..n * FEATURES])?;
        rows.push(FloorRow {
            n,
            fid_floor: fid,
            kid_floor: kid,
            reference: format!("0..{n}"),
            comparison: format!("{}..{}", p.fid_n, p.fid_n + n),
            feature_net: format!("FID-{}", features::NETWORK),
            feature_net_sha256: sha.clone(),
            code: CODE_VERSION.into(),
        });
        eprintln!("real vs real at n = {n}: FID {fid:.3}, KID {kid:.5}");
    }
    let out = floor_path(&args.paths.results, &args.profile);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    write_csv(&out, &rows)?;
    eprintln!("-> {}", out.display());
    Ok(())
}
