//! `ebgan energy …`: the energy view of GANs on MNIST (spec energy-gan-mcmc.md): the energy
//! GAN with and without the mutual-information term, then Langevin and MALA sampling in its
//! latent space against z from the prior. Settings in `configs/energy.toml`; one folder per
//! run under `results/energy/<profile>/<id>/seed<S>/`.

pub mod run;
pub mod table;

use anyhow::Result;
use gan_variants::TrainSettings;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Train one energy GAN (λ₂, seed) and run its latent MCMC sweep.
    Run(run::Args),
    /// Print the run folders of a profile (for make), one per line.
    List(ListArgs),
    /// The profile's tables and figures from its run folders.
    Table(table::Args),
}

pub fn main(args: Args) -> Result<()> {
    match args.command {
        Command::Run(a) => run::main(a),
        Command::List(a) => list(a),
        Command::Table(a) => table::main(a),
    }
}

/// One profile of `configs/energy.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnergyProfile {
    /// Generator updates per run (one U step each).
    pub g_updates: u64,
    /// Training seeds; every λ₂ runs each.
    pub seeds: Vec<u64>,
    /// Weights λ₂ of the MI term to compare (0 = without it).
    pub lambda_mi: Vec<f32>,
    pub curve_every: u64,
    /// Samples scored at each curve row (I').
    pub curve_samples: usize,
    /// Samples of final.csv's scores (G with batch statistics, as in training).
    pub final_samples: usize,
    /// Chains of the MCMC sweep, also the sample count of its scores (FID included): 257 to
    /// 10,000 (more than the FID's 256 features; at most the test images).
    pub chains: usize,
    /// Step sizes ε of Langevin and MALA.
    pub eps: Vec<f64>,
    /// Chain lengths T at which the chains are scored (ascending; the chain runs to the last).
    pub steps: Vec<u64>,
    /// Add the prior's energy ½‖z‖² to U(G(z)) (the spec's default: on).
    pub prior_energy: bool,
}

/// Test images (the FID reference set) available.
pub const MNIST_TEST: usize = 10_000;

impl EnergyProfile {
    /// Every field in range; errors name the key.
    pub fn validate(&self) -> ladder::validate::Checked {
        use ladder::validate::{at_least, at_most_key, Invalid};
        at_least("g_updates", self.g_updates, 1)?;
        // Curve rows score samples from the stream (seed, Samples, update): with updates ≥ 3
        // they never reuse counters 0–2 (final scores, samples.csv, the sweep's start).
        at_least("curve_every", self.curve_every, 3)?;
        at_least("curve_samples", self.curve_samples as u64, 1)?;
        at_least("final_samples", self.final_samples as u64, 1)?;
        // The FID's covariance of 256 classifier features needs more samples than features.
        at_least(
            "chains",
            self.chains as u64,
            gan_variants::classifier::HIDDEN as u64 + 1,
        )?;
        at_most_key(
            "chains",
            self.chains as u64,
            "the 10,000 test images of the FID reference",
            MNIST_TEST as u64,
        )?;
        let list = |key: &str, ok: bool, what: &str, v: String| {
            if ok {
                Ok(())
            } else {
                Err(Invalid::new(key, v, what.to_string()))
            }
        };
        list(
            "seeds",
            !self.seeds.is_empty() && crate::config::distinct(&self.seeds),
            "a non-empty list of distinct seeds",
            format!("{:?}", self.seeds),
        )?;
        list(
            "lambda_mi",
            !self.lambda_mi.is_empty() && self.lambda_mi.iter().all(|l| l.is_finite() && *l >= 0.0),
            "a non-empty list of weights ≥ 0",
            format!("{:?}", self.lambda_mi),
        )?;
        list(
            "eps",
            !self.eps.is_empty() && self.eps.iter().all(|e| e.is_finite() && *e > 0.0),
            "a non-empty list of step sizes > 0",
            format!("{:?}", self.eps),
        )?;
        list(
            "steps",
            !self.steps.is_empty()
                && self.steps[0] >= 1
                && self.steps.windows(2).all(|w| w[0] < w[1]),
            "a non-empty ascending list of chain lengths ≥ 1",
            format!("{:?}", self.steps),
        )?;
        Ok(())
    }
}

impl crate::cmd::gan::TrainProfile for EnergyProfile {
    fn g_updates(&self) -> u64 {
        self.g_updates
    }
    fn check(&self) -> ladder::validate::Checked {
        self.validate()
    }
}

/// The shared training settings (with the profile's length) and the profile `name`.
pub fn load_profile(configs: &Path, name: &str) -> Result<(TrainSettings, EnergyProfile)> {
    crate::cmd::gan::load_train_profile(&configs.join("energy.toml"), name)
}

/// The folder of one run.
pub fn run_dir(results: &Path, profile: &str, id: &str, seed: u64) -> PathBuf {
    results
        .join("energy")
        .join(profile)
        .join(id)
        .join(format!("seed{seed}"))
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Profile of configs/energy.toml: paper, quick or smoke.
    #[arg(long, default_value = "quick")]
    pub profile: String,
    /// Folder with energy.toml.
    #[arg(long, default_value = "configs")]
    pub configs: PathBuf,
}

/// Prints `<profile>/<id>/seed<S>` (the run's folder under `<results>/energy/`) for every
/// (λ₂, seed) of the profile, seed-major (every λ₂ of seed 1 first), so a partial sweep
/// compares the λ₂ on the same seeds.
fn list(a: ListArgs) -> Result<()> {
    let (_, p) = load_profile(&a.configs, &a.profile)?;
    for s in &p.seeds {
        for l in &p.lambda_mi {
            let id = gan_variants::Arch::energy(*l).id();
            println!("{}/{id}/seed{s}", a.profile);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed profiles load; each key out of range is refused by name.
    #[test]
    fn profiles_load_and_every_key_is_checked() {
        let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
        for name in ["paper", "quick", "smoke"] {
            load_profile(&configs, name).unwrap();
        }
        let (_, ok) = load_profile(&configs, "smoke").unwrap();
        let key = |f: fn(&mut EnergyProfile)| {
            let mut p = ok.clone();
            f(&mut p);
            p.validate().unwrap_err().key
        };
        assert_eq!(key(|p| p.g_updates = 0), "g_updates");
        assert_eq!(key(|p| p.curve_every = 2), "curve_every");
        assert_eq!(key(|p| p.chains = 256), "chains");
        assert_eq!(key(|p| p.chains = 10_001), "chains");
        assert_eq!(key(|p| p.seeds = vec![1, 1]), "seeds");
        assert_eq!(key(|p| p.lambda_mi = vec![-1.0]), "lambda_mi");
        assert_eq!(key(|p| p.eps = vec![0.0]), "eps");
        assert_eq!(key(|p| p.steps = vec![10, 10]), "steps");
        assert_eq!(key(|p| p.steps = vec![]), "steps");
    }
}
