//! `ebgan edgan run --run <profile>/<arm>_s<seed>`: one EDGAN-experiment run on CIFAR-10,
//! trained and scored by the image runs' loop ([`crate::cmd::images::run::execute`]: the same
//! checkpoints, curve, sample grids, FID/KID on FID-cifar-cnn features and floor as the face
//! runs), written to `results/edgan/<profile>/<arm>_s<seed>/`: `config.toml` (this run's
//! [`EdganRunConfig`], the complete GAN configuration included), `curve.csv` (with ρ for the
//! penalised arms), `samples_<update>.png`, `samples.png`, `final.csv`. The real sets: the first
//! `fid_n` CIFAR-10 training images (A, the reference) and the next `fid_n` (B, the floor);
//! training batches are drawn from all 50,000.

use super::arms::{arms, run_id};
use super::{load, run_dir, Paths};
use crate::cmd::images::run::{
    execute, finished_or_cleared, image_run_config_accessors, report, ImageRunConfig,
};
use anyhow::{bail, Context, Result};
use gan_variants::ImageGanConfig;
use serde::{Deserialize, Serialize};

/// Everything that determines an EDGAN-experiment run; its `config.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdganRunConfig {
    pub id: String,
    pub profile: String,
    pub arm: String,
    pub seed: u64,
    pub curve_every: u64,
    pub curve_fid_n: usize,
    pub fid_n: usize,
    pub checkpoint_every: u64,
    /// The feature network's name and the SHA-256 of its files.
    pub feature_net: String,
    pub feature_net_sha256: String,
    pub config: ImageGanConfig,
}

impl ImageRunConfig for EdganRunConfig {
    image_run_config_accessors!();
    fn model_label(&self) -> (String, Option<f32>) {
        (self.arm.clone(), None)
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The run: <profile>/<arm>_s<seed>, as `ebgan edgan list` prints it.
    #[arg(long)]
    pub run: String,
    #[command(flatten)]
    pub paths: Paths,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Retrain a finished run.
    #[arg(long)]
    pub force: bool,
    /// Stop after this many G updates with a checkpoint, as an interruption would (tests).
    #[arg(long, hide = true)]
    pub stop_after: Option<u64>,
}

/// The resolved configuration of `run` (`<profile>/<arm>_s<seed>`).
pub fn resolve(paths: &Paths, run: &str, feature_sha: &str) -> Result<EdganRunConfig> {
    let (profile, id) = run
        .split_once('/')
        .with_context(|| format!("--run {run}: expected <profile>/<arm>_s<seed>"))?;
    let file = load(&paths.config)?;
    let p = file.profile(profile, &paths.config)?;
    let all = arms(&file, p);
    let (arm, seed) = all
        .iter()
        .flat_map(|a| a.seeds.iter().map(move |s| (a, *s)))
        .find(|(a, s)| run_id(&a.name, *s) == id)
        .with_context(|| {
            format!(
                "--run {run}: no such run in profile {profile} of {} (`ebgan edgan list --profile {profile}` lists them)",
                paths.config.display()
            )
        })?;
    Ok(EdganRunConfig {
        id: id.to_string(),
        profile: profile.to_string(),
        arm: arm.name.clone(),
        seed,
        curve_every: p.curve_every,
        curve_fid_n: p.curve_fid_n,
        fid_n: p.fid_n,
        checkpoint_every: p.checkpoint_every,
        feature_net: crate::cmd::images::features::NETWORK.into(),
        feature_net_sha256: feature_sha.into(),
        config: arm.config.clone(),
    })
}

pub fn main(args: Args) -> Result<()> {
    let images = args.paths.images();
    let (net, sha) = crate::cmd::images::features::load(&images)?;
    let cfg = resolve(&args.paths, &args.run, &sha)?;
    let out = run_dir(&args.paths.results, &cfg.profile, &cfg.id);
    if finished_or_cleared(&out, &cfg, args.force)? {
        return Ok(());
    }
    let data = crate::images::load_cifar10(&images.cifar())?;
    if data.n < 2 * cfg.fid_n {
        bail!(
            "{} CIFAR-10 images, fid_n = {} needs {}",
            data.n,
            cfg.fid_n,
            2 * cfg.fid_n
        );
    }
    let interrupt = crate::cmd::run::interrupt_on_signals()?;
    let row = execute(
        &cfg,
        &data,
        &net,
        &out,
        args.quiet,
        args.stop_after,
        Some(interrupt),
    )?;
    report(&cfg, row.as_ref(), &out);
    Ok(())
}
