//! `ebgan gan …`: the MNIST grid experiments of the EBGAN paper (Table 1, Figures 2–4, 9) and
//! the Parzen estimate of Goodfellow et al. 2014, on the `gan_variants` harness. One module
//! per subcommand; the settings live in `configs/gans.toml`.

pub mod bench;
pub mod classifier;
pub mod figures;
pub mod list;
pub mod parzen;
pub mod run;

use anyhow::{Context, Result};
use gan_variants::TrainSettings;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Train the MNIST classifier that scores samples and save it (safetensors).
    Classifier(classifier::Args),
    /// Train one configuration (by id) and write its folder.
    Run(run::Args),
    /// Print the configuration ids of a set (grid, margins, named).
    List(list::Args),
    /// Median ms per training iteration of configurations.
    Bench(bench::Args),
    /// Tables and figures of the grid, margin sweep and named runs, from their CSV files.
    Figures(figures::Args),
}

pub fn main(args: Args) -> Result<()> {
    match args.command {
        Command::Classifier(a) => classifier::main(a),
        Command::Run(a) => run::main(a),
        Command::List(a) => list::main(a),
        Command::Bench(a) => bench::main(a),
        Command::Figures(a) => figures::main(a),
    }
}

/// One profile of `configs/gans.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GanProfile {
    pub g_updates: u64,
    pub ebgan_configs: usize,
    pub gan_configs: usize,
    pub subsample_seed: u64,
    pub seed: u64,
    pub curve_every: u64,
    pub curve_samples: usize,
    pub final_samples: usize,
    pub parzen_samples: usize,
    pub parzen_validation: usize,
}

impl GanProfile {
    /// Every field in range: `g_updates`, `curve_every` and the sample counts ≥ 1; the
    /// subsample sizes between 1 and the grid's size (512 EBGAN, 6,144 GAN configurations);
    /// `parzen_validation` between 1 and 59,999 (it is held out of the 60,000 training images).
    pub fn validate(&self) -> ladder::validate::Checked {
        use ladder::validate::{at_least, at_most_key, Invalid};
        at_least("g_updates", self.g_updates, 1)?;
        at_least("ebgan_configs", self.ebgan_configs as u64, 1)?;
        at_most_key(
            "ebgan_configs",
            self.ebgan_configs as u64,
            "the EBGAN grid's size",
            512,
        )?;
        at_least("gan_configs", self.gan_configs as u64, 1)?;
        at_most_key(
            "gan_configs",
            self.gan_configs as u64,
            "the GAN grid's size",
            6144,
        )?;
        at_least("curve_every", self.curve_every, 1)?;
        at_least("curve_samples", self.curve_samples as u64, 1)?;
        at_least("final_samples", self.final_samples as u64, 1)?;
        at_least("parzen_samples", self.parzen_samples as u64, 1)?;
        if !(1..run::MNIST_TRAIN).contains(&self.parzen_validation) {
            return Err(Invalid::new(
                "parzen_validation",
                self.parzen_validation,
                format!("an integer in [1, {}]", run::MNIST_TRAIN - 1),
            ));
        }
        Ok(())
    }
}

/// A profile of a settings file whose runs share a `[train]` table (`gans.toml`,
/// `energy.toml`): its training length and its validation.
pub trait TrainProfile: Clone + serde::de::DeserializeOwned {
    /// Generator updates of a run.
    fn g_updates(&self) -> u64;
    /// Every field in range; errors name the key.
    fn check(&self) -> ladder::validate::Checked;
}

impl TrainProfile for GanProfile {
    fn g_updates(&self) -> u64 {
        self.g_updates
    }
    fn check(&self) -> ladder::validate::Checked {
        self.validate()
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfilesFile<P> {
    train: TrainSettings,
    profiles: BTreeMap<String, P>,
}

/// The shared `[train]` settings of the file at `path` (with the profile's training length)
/// and its profile `name`; every profile is validated, errors name the file and key.
pub fn load_train_profile<P: TrainProfile>(path: &Path, name: &str) -> Result<(TrainSettings, P)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: ProfilesFile<P> =
        toml::from_str(&text).with_context(|| format!("malformed {}", path.display()))?;
    let profile = file.profiles.get(name).cloned().with_context(|| {
        format!(
            "no profile '{name}' in {} (have: {})",
            path.display(),
            file.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    })?;
    let invalid =
        |e: ladder::validate::Invalid| anyhow::anyhow!("invalid config {}: {e}", path.display());
    for (name, p) in &file.profiles {
        p.check()
            .map_err(|e| invalid(e.under(&format!("profiles.{name}"))))?;
    }
    let mut train = file.train;
    train.g_updates = profile.g_updates();
    train.validate().map_err(|e| invalid(e.under("train")))?;
    Ok((train, profile))
}

/// The shared settings (with the profile's training length) and the profile.
pub fn load_profile(configs: &Path, name: &str) -> Result<(TrainSettings, GanProfile)> {
    load_train_profile(&configs.join("gans.toml"), name)
}

/// Location flags of the GAN commands.
#[derive(clap::Args, Clone, Debug)]
pub struct Paths {
    /// Folder with gans.toml.
    #[arg(long, default_value = "configs")]
    pub configs: PathBuf,
    /// Results folder (runs go to <results>/gans/<profile>/<id>/).
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// The scoring classifier (trained there first if missing).
    #[arg(
        long,
        default_value = "results/classifier/mnist-classifier.safetensors"
    )]
    pub classifier: PathBuf,
}

impl Paths {
    pub fn run_dir(&self, profile: &str, id: &str) -> PathBuf {
        self.results.join("gans").join(profile).join(id)
    }
}

/// MNIST images padded to 32 × 32 in [−1, 1] (the grid's data space).
pub fn padded(split: &crate::data::Split) -> Vec<f32> {
    gan_variants::shapes::pad_to_32(&split.images)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field of a GAN profile at its boundary (the committed profiles pass).
    #[test]
    fn gan_profile_validation_covers_every_field() {
        let ok = GanProfile {
            g_updates: 1,
            ebgan_configs: 512,
            gan_configs: 6144,
            subsample_seed: 0,
            seed: 0,
            curve_every: 1,
            curve_samples: 1,
            final_samples: 1,
            parzen_samples: 1,
            parzen_validation: 59_999,
        };
        assert!(ok.validate().is_ok());
        let key = |f: fn(&mut GanProfile)| {
            let mut p = ok.clone();
            f(&mut p);
            p.validate().unwrap_err().key
        };
        assert_eq!(key(|p| p.g_updates = 0), "g_updates");
        assert_eq!(key(|p| p.ebgan_configs = 0), "ebgan_configs");
        assert_eq!(key(|p| p.ebgan_configs = 513), "ebgan_configs");
        assert_eq!(key(|p| p.gan_configs = 0), "gan_configs");
        assert_eq!(key(|p| p.gan_configs = 6145), "gan_configs");
        assert_eq!(key(|p| p.curve_every = 0), "curve_every");
        assert_eq!(key(|p| p.curve_samples = 0), "curve_samples");
        assert_eq!(key(|p| p.final_samples = 0), "final_samples");
        assert_eq!(key(|p| p.parzen_samples = 0), "parzen_samples");
        assert_eq!(key(|p| p.parzen_validation = 0), "parzen_validation");
        assert_eq!(key(|p| p.parzen_validation = 60_000), "parzen_validation");
        let configs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
        for name in ["paper", "quick", "smoke"] {
            load_profile(&configs, name).unwrap();
        }
    }
}
