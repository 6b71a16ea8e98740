//! `ebgan edgan floor --profile <P>`: the real-vs-real FID/KID floor at every n a profile
//! scores at — `curve_fid_n` (the curve checkpoints) and `fid_n` (the final score) — written to
//! `results/edgan/<P>/floor.csv`. At n the two sets are the runs' own real sets cut to n: the
//! first n CIFAR-10 training images (the reference every checkpoint is scored against) and the
//! first n of the floor set (images `fid_n`…`fid_n + n`). At n = `fid_n` this is exactly the
//! floor in every run's `final.csv`; at the smaller `curve_fid_n` it shows how far FID's
//! small-sample bias alone lifts a checkpoint's score (FID and KID as in
//! [`crate::cmd::images::run::Scorer`]).

use super::{load, Paths};
use crate::cmd::images::features;
use crate::cmd::images::run::Scorer;
use crate::cmd::run::CODE_VERSION;
use crate::io::write_csv;
use anyhow::{bail, Result};
use gan_variants::metrics::feature_net::FEATURES;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Profile of configs/edgan.toml.
    #[arg(long, default_value = "quick")]
    pub profile: String,
    #[command(flatten)]
    pub paths: Paths,
}

/// One row of `floor.csv`: FID and KID of n real images against n others.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FloorRow {
    pub n: usize,
    pub fid_floor: f64,
    pub kid_floor: f64,
    /// CIFAR-10 training images `reference`: the reference set (0..n).
    pub reference: String,
    /// CIFAR-10 training images `comparison`: fid_n..fid_n + n.
    pub comparison: String,
    pub feature_net: String,
    pub feature_net_sha256: String,
    pub code: String,
}

/// `results/edgan/<profile>/floor.csv`.
pub fn floor_path(results: &Path, profile: &str) -> PathBuf {
    results.join("edgan").join(profile).join("floor.csv")
}

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
    let mut ns = vec![p.curve_fid_n, p.fid_n];
    ns.sort_unstable();
    ns.dedup();
    let scorer = Scorer {
        net: &net,
        side: data.side,
    };
    let real_a = scorer.features(&data.signed(0..p.fid_n));
    let real_b = scorer.features(&data.signed(p.fid_n..2 * p.fid_n));
    let mut rows = Vec::new();
    for n in ns {
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
        std::fs::create_dir_all(dir)?;
    }
    write_csv(&out, &rows)?;
    eprintln!("-> {}", out.display());
    Ok(())
}
