//! Run configuration: the paper protocols of `configs/ln.toml` and `configs/ebgan-ln.toml`,
//! scaled by a profile of `configs/profiles.toml`, with the CLI's overrides. The resolved
//! config is written as `config.toml` beside every result before training starts.

use anyhow::{bail, Context, Result};
use ladder::{EbganProtocol, LadderConfig, LnProtocol};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The two models of Table 2.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    /// The ladder trained alone.
    Ln,
    /// The ladder as the discriminator of an energy-based GAN.
    EbganLn,
}

impl Model {
    pub const ALL: [Model; 2] = [Model::Ln, Model::EbganLn];
    /// Name used in folders, files and CSV columns.
    pub fn name(self) -> &'static str {
        match self {
            Model::Ln => "ln",
            Model::EbganLn => "ebgan-ln",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Model::Ln => "LN",
            Model::EbganLn => "EBGAN-LN",
        }
    }
}

/// One profile of `configs/profiles.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub step_scale: f64,
    pub curve_every: u64,
    pub eval_every: u64,
    pub labels: Vec<usize>,
    pub seeds: Vec<u64>,
}

/// The settings file of one model (`configs/<model>.toml`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile<P> {
    ladder: LadderConfig,
    protocol: P,
}

/// Everything that determines a run; saved as `config.toml` in the run's folder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub model: Model,
    pub labels: usize,
    pub seed: u64,
    pub profile: String,
    pub step_scale: f64,
    pub curve_every: u64,
    pub eval_every: u64,
    pub ladder: LadderConfig,
    /// The protocol actually run (already scaled by `step_scale`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ln: Option<LnProtocol>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ebgan_ln: Option<EbganProtocol>,
}

impl RunConfig {
    pub fn total_steps(&self) -> u64 {
        match (&self.ln, &self.ebgan_ln) {
            (Some(p), _) => p.steps,
            (_, Some(p)) => p.d_steps,
            _ => 0,
        }
    }
}

/// Where configs and results live.
#[derive(Clone, Debug)]
pub struct Layout {
    pub configs: PathBuf,
    pub results: PathBuf,
}

impl Layout {
    /// `results/runs/<profile>/<model>/labels<n>/seed<k>/`.
    pub fn run_dir(&self, profile: &str, model: Model, labels: usize, seed: u64) -> PathBuf {
        self.results
            .join("runs")
            .join(profile)
            .join(model.name())
            .join(format!("labels{labels}"))
            .join(format!("seed{seed}"))
    }
}

fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config {}", path.display()))
}

/// All profiles of `configs/profiles.toml`.
pub fn load_profiles(configs: &Path) -> Result<BTreeMap<String, Profile>> {
    read_toml(&configs.join("profiles.toml"))
}

/// One named profile, with a clear error listing the known ones.
pub fn load_profile(configs: &Path, name: &str) -> Result<Profile> {
    let all = load_profiles(configs)?;
    let known: Vec<&String> = all.keys().collect();
    all.get(name)
        .cloned()
        .with_context(|| format!("unknown profile '{name}'; configs/profiles.toml has {known:?}"))
}

/// Resolves the config of one run from the files under `configs`.
pub fn resolve(
    configs: &Path,
    profile_name: &str,
    model: Model,
    labels: usize,
    seed: u64,
) -> Result<RunConfig> {
    let profile = load_profile(configs, profile_name)?;
    if profile.step_scale.is_nan() || profile.step_scale <= 0.0 {
        bail!("profile '{profile_name}': step_scale must be positive");
    }
    if profile.curve_every == 0 || profile.eval_every == 0 {
        bail!("profile '{profile_name}': curve_every and eval_every must be positive");
    }
    let (ladder, ln, ebgan_ln) = match model {
        Model::Ln => {
            let f: ModelFile<LnProtocol> = read_toml(&configs.join("ln.toml"))?;
            (f.ladder, Some(f.protocol.scaled(profile.step_scale)), None)
        }
        Model::EbganLn => {
            let f: ModelFile<EbganProtocol> = read_toml(&configs.join("ebgan-ln.toml"))?;
            (f.ladder, None, Some(f.protocol.scaled(profile.step_scale)))
        }
    };
    if labels == 0 || !labels.is_multiple_of(10) {
        bail!("--labels must be a positive multiple of 10 (n/10 per class), not {labels}");
    }
    if ladder.batch_size == 0 || labels < ladder.batch_size {
        bail!(
            "{labels} labels do not fill one labeled batch of {}",
            ladder.batch_size
        );
    }
    Ok(RunConfig {
        model,
        labels,
        seed,
        profile: profile_name.to_string(),
        step_scale: profile.step_scale,
        curve_every: profile.curve_every,
        eval_every: profile.eval_every,
        ladder,
        ln,
        ebgan_ln,
    })
}
