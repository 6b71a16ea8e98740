//! Run configuration: the paper protocols of `configs/ln.toml` and `configs/ebgan-ln.toml`,
//! scaled by a profile of `configs/profiles.toml`, with the CLI's overrides. The resolved
//! config is written as `config.toml` beside every result before training starts.

use anyhow::{bail, Context, Result};
use ladder::validate::{at_least, positive, Checked, Invalid};
use ladder::{EbganProtocol, LadderConfig, LnProtocol};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The models of Table 2: the paper's two and the budget-matched control.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    /// The ladder trained alone (the paper's LN protocol, `configs/ln.toml`).
    Ln,
    /// The ladder trained alone with EBGAN-LN's discriminator schedule (its learning rate,
    /// decay and step count, `configs/ebgan-ln.toml`), no generator: the same optimisation
    /// budget as EBGAN-LN's discriminator, so that EBGAN-LN − LN-matched measures the generator.
    LnMatched,
    /// The ladder as the discriminator of an energy-based GAN.
    EbganLn,
}

impl Model {
    pub const ALL: [Model; 3] = [Model::Ln, Model::LnMatched, Model::EbganLn];
    /// Name used in folders, files and CSV columns.
    pub fn name(self) -> &'static str {
        match self {
            Model::Ln => "ln",
            Model::LnMatched => "ln-matched",
            Model::EbganLn => "ebgan-ln",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Model::Ln => "LN",
            Model::LnMatched => "LN-matched",
            Model::EbganLn => "EBGAN-LN",
        }
    }
}

/// Which images a run is scored on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum EvalSplit {
    /// Train on the 60,000 training images, report the error on the 10,000 test images.
    #[default]
    Test,
    /// Tuning: the last 10,000 training images are held out of the labeled and the unlabeled
    /// pools (and of the test-time BN statistics) and the error is measured on them; the test
    /// set is not read.
    Validation,
}

/// Most optimiser steps a run may take (10⁹: the paper's protocols take at most a few
/// hundred thousand); larger counts come from a damaged `step_scale`.
pub const MAX_STEPS: u64 = 1_000_000_000;

/// Training images kept for training under [`EvalSplit::Validation`] (the rest are scored).
pub const VALIDATION_TRAIN: usize = 50_000;

/// The optimisation budget of one optimiser of a run, recorded in `config.toml` so that a
/// reader sees which comparison of a table is budget-matched.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// `ladder` (LN, LN-matched, EBGAN-LN's discriminator) or `generator`.
    pub optimiser: String,
    /// Peak (initial) learning rate.
    pub lr: f64,
    /// Steps this optimiser takes.
    pub steps: u64,
    /// lr × steps.
    pub lr_x_steps: f64,
    /// Σₜ lrₜ over the steps taken: the area under the schedule, decays included.
    pub lr_sum: f64,
}

impl Budget {
    /// The budget of `steps` steps at `lr`, constant until `decay_start` and then linear to 0
    /// at `end` (see [`ladder::schedule::linear_decay_lr`]).
    pub fn of(optimiser: &str, lr: f32, steps: u64, decay_start: u64, end: u64) -> Self {
        let lr_sum = (0..steps)
            .map(|t| ladder::schedule::linear_decay_lr(lr, t, decay_start, end) as f64)
            .sum();
        Self {
            optimiser: optimiser.into(),
            lr: lr as f64,
            steps,
            lr_x_steps: lr as f64 * steps as f64,
            lr_sum,
        }
    }
}

/// One profile of `configs/profiles.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Multiplies every step count and schedule boundary of the paper's protocols.
    pub step_scale: f64,
    /// Multiplies every learning rate (LN's, D's and G's) of the paper's protocols.
    pub lr_scale: f64,
    pub curve_every: u64,
    pub eval_every: u64,
    pub labels: Vec<usize>,
    pub seeds: Vec<u64>,
}

/// Images per class in MNIST's training set, at least (digit 5: 5,421 of 60,000).
pub const MIN_CLASS_TRAIN: usize = 5_421;

/// A label count is a positive multiple of 10 (n/10 per class) that MNIST's training set can
/// fill (at most 10 × [`MIN_CLASS_TRAIN`]).
pub fn check_labels(key: &str, n: usize) -> Checked {
    if n > 0 && n.is_multiple_of(10) && n <= 10 * MIN_CLASS_TRAIN {
        Ok(())
    } else {
        Err(Invalid::new(
            key,
            n,
            format!(
                "a positive multiple of 10 (n/10 per class) up to {}",
                10 * MIN_CLASS_TRAIN
            ),
        ))
    }
}

impl Profile {
    /// Every field in range: both scales finite and > 0, `curve_every` and `eval_every` ≥ 1,
    /// `labels` and `seeds` non-empty without repeats, each label count as [`check_labels`].
    pub fn validate(&self) -> Checked {
        positive("step_scale", self.step_scale)?;
        positive("lr_scale", self.lr_scale)?;
        at_least("curve_every", self.curve_every, 1)?;
        at_least("eval_every", self.eval_every, 1)?;
        let lists = [
            (
                "labels",
                format!("{:?}", self.labels),
                self.labels.is_empty(),
                distinct(&self.labels),
            ),
            (
                "seeds",
                format!("{:?}", self.seeds),
                self.seeds.is_empty(),
                distinct(&self.seeds),
            ),
        ];
        for (key, text, empty, distinct) in lists {
            if empty || !distinct {
                return Err(Invalid::new(key, text, "a non-empty list without repeats"));
            }
        }
        self.labels
            .iter()
            .try_for_each(|&n| check_labels("labels", n))
    }
}

pub fn distinct<T: Ord + Clone>(v: &[T]) -> bool {
    let mut s = v.to_vec();
    s.sort();
    s.windows(2).all(|w| w[0] != w[1])
}

/// The settings file of one model (`configs/<model>.toml`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile<P> {
    ladder: LadderConfig,
    protocol: P,
}

impl ModelFile<LnProtocol> {
    fn validate(&self) -> Checked {
        self.ladder.validate().map_err(|e| e.under("ladder"))?;
        self.protocol.validate().map_err(|e| e.under("protocol"))
    }
}

impl ModelFile<EbganProtocol> {
    fn validate(&self) -> Checked {
        self.ladder.validate().map_err(|e| e.under("ladder"))?;
        self.protocol.validate().map_err(|e| e.under("protocol"))
    }
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
    /// 1 in configs written before learning rates were scaled.
    #[serde(default = "one")]
    pub lr_scale: f64,
    #[serde(default)]
    pub split: EvalSplit,
    pub curve_every: u64,
    pub eval_every: u64,
    pub ladder: LadderConfig,
    /// The protocol actually run (already scaled by `step_scale` and `lr_scale`); LN-matched
    /// runs this one too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ln: Option<LnProtocol>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ebgan_ln: Option<EbganProtocol>,
    /// Derived from the protocol (written for readers; recomputed, never trusted, on reading).
    #[serde(default)]
    pub budget: Vec<Budget>,
}

fn one() -> f64 {
    1.0
}

impl RunConfig {
    pub fn total_steps(&self) -> u64 {
        match (&self.ln, &self.ebgan_ln) {
            (Some(p), _) => p.steps,
            (_, Some(p)) => p.d_steps,
            _ => 0,
        }
    }

    /// The lr × steps budget of every optimiser of the protocol.
    pub fn budgets(&self) -> Vec<Budget> {
        let mut out = Vec::new();
        if let Some(p) = &self.ln {
            out.push(Budget::of(
                "ladder",
                p.adam.lr,
                p.steps,
                p.decay_start,
                p.steps,
            ));
        }
        if let Some(p) = &self.ebgan_ln {
            out.push(Budget::of(
                "ladder",
                p.adam_d.lr,
                p.d_steps,
                p.d_decay_start,
                p.d_steps,
            ));
            // G's learning rate is constant (appendix D).
            out.push(Budget::of(
                "generator",
                p.adam_g.lr,
                p.g_steps,
                p.g_steps,
                p.g_steps,
            ));
        }
        out
    }

    /// Every field in range: the ladder, the protocol(s), the label count and the row counts.
    pub fn validate(&self) -> Checked {
        self.ladder.validate().map_err(|e| e.under("ladder"))?;
        if let Some(p) = &self.ln {
            p.validate().map_err(|e| e.under("ln"))?;
        }
        if let Some(p) = &self.ebgan_ln {
            p.validate().map_err(|e| e.under("ebgan_ln"))?;
        }
        check_labels("labels", self.labels)?;
        positive("step_scale", self.step_scale)?;
        positive("lr_scale", self.lr_scale)?;
        at_least("curve_every", self.curve_every, 1)?;
        at_least("eval_every", self.eval_every, 1)
    }

    /// Parses a saved `config.toml`, with its budget recomputed from its protocol.
    pub fn parse_saved(text: &str) -> Option<Self> {
        let mut c: Self = toml::from_str(text).ok()?;
        c.budget = c.budgets();
        Some(c)
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

/// All profiles of `configs/profiles.toml`, each validated.
pub fn load_profiles(configs: &Path) -> Result<BTreeMap<String, Profile>> {
    let path = configs.join("profiles.toml");
    let all: BTreeMap<String, Profile> = read_toml(&path)?;
    for (name, p) in &all {
        p.validate()
            .map_err(|e| anyhow::anyhow!("invalid config {}: {}", path.display(), e.under(name)))?;
    }
    Ok(all)
}

/// One named profile, with a clear error listing the known ones.
pub fn load_profile(configs: &Path, name: &str) -> Result<Profile> {
    let all = load_profiles(configs)?;
    let known: Vec<&String> = all.keys().collect();
    all.get(name)
        .cloned()
        .with_context(|| format!("unknown profile '{name}'; configs/profiles.toml has {known:?}"))
}

/// Changes to a profile for one run (tuning): each replaces the profile's value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    pub step_scale: Option<f64>,
    pub lr_scale: Option<f64>,
    pub split: Option<EvalSplit>,
}

impl Overrides {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Resolves the config of one run from the files under `configs`.
pub fn resolve(
    configs: &Path,
    profile_name: &str,
    model: Model,
    labels: usize,
    seed: u64,
) -> Result<RunConfig> {
    resolve_with(
        configs,
        profile_name,
        model,
        labels,
        seed,
        &Overrides::default(),
    )
}

/// [`resolve`] with a profile's values replaced by `over` (tuning runs).
pub fn resolve_with(
    configs: &Path,
    profile_name: &str,
    model: Model,
    labels: usize,
    seed: u64,
    over: &Overrides,
) -> Result<RunConfig> {
    let mut profile = load_profile(configs, profile_name)?;
    profile.step_scale = over.step_scale.unwrap_or(profile.step_scale);
    profile.lr_scale = over.lr_scale.unwrap_or(profile.lr_scale);
    let flag = |e: Invalid| anyhow::anyhow!("invalid setting: {e}");
    positive("--step-scale", profile.step_scale).map_err(flag)?;
    positive("--lr-scale", profile.lr_scale).map_err(flag)?;
    check_labels("--labels", labels).map_err(flag)?;
    let (s, r) = (profile.step_scale, profile.lr_scale);
    // The model's file: LN-matched takes EBGAN-LN's ladder and schedule.
    let model_file = configs.join(match model {
        Model::Ln => "ln.toml",
        Model::LnMatched | Model::EbganLn => "ebgan-ln.toml",
    });
    let ebgan = || -> Result<(LadderConfig, EbganProtocol)> {
        let path = &model_file;
        let f: ModelFile<EbganProtocol> = read_toml(path)?;
        f.validate()
            .map_err(|e| anyhow::anyhow!("invalid config {}: {e}", path.display()))?;
        Ok((f.ladder, f.protocol.scaled(s).lr_scaled(r)))
    };
    let (ladder, ln, ebgan_ln) = match model {
        Model::Ln => {
            let path = &model_file;
            let f: ModelFile<LnProtocol> = read_toml(path)?;
            f.validate()
                .map_err(|e| anyhow::anyhow!("invalid config {}: {e}", path.display()))?;
            (f.ladder, Some(f.protocol.scaled(s).lr_scaled(r)), None)
        }
        Model::LnMatched => {
            let (ladder, p) = ebgan()?;
            (ladder, Some(LnProtocol::matched_to(&p)), None)
        }
        Model::EbganLn => {
            let (ladder, p) = ebgan()?;
            (ladder, None, Some(p))
        }
    };
    if labels < ladder.batch_size {
        bail!(
            "invalid setting: ladder.batch_size = {} in {} must be at most --labels = {labels} (the labeled rows of one batch)",
            ladder.batch_size,
            model_file.display()
        );
    }
    let split = over.split.unwrap_or_default();
    if split == EvalSplit::Validation && labels > VALIDATION_TRAIN {
        bail!("invalid setting: --labels = {labels}: the validation split trains on {VALIDATION_TRAIN} images only");
    }
    let mut cfg = RunConfig {
        model,
        labels,
        seed,
        profile: profile_name.to_string(),
        step_scale: profile.step_scale,
        lr_scale: profile.lr_scale,
        split,
        curve_every: profile.curve_every,
        eval_every: profile.eval_every,
        ladder,
        ln,
        ebgan_ln,
        budget: Vec::new(),
    };
    // The budget sums the schedule step by step: refuse an absurd step count first (a damaged
    // step_scale would otherwise keep this loop running for hours; found by tests/test_fuzz.rs).
    let steps = [
        cfg.ln.as_ref().map_or(0, |p| p.steps),
        cfg.ebgan_ln
            .as_ref()
            .map_or(0, |p| p.d_steps.max(p.g_steps)),
    ];
    // Either file can be at fault (the model file's steps or the profile's scale): name both.
    let origin = format!(
        "{} with profile '{profile_name}' of {}",
        model_file.display(),
        configs.join("profiles.toml").display()
    );
    if let Some(n) = steps.into_iter().find(|n| *n > MAX_STEPS) {
        bail!("invalid setting: {origin} (step_scale {s}) gives {n} steps (at most {MAX_STEPS})");
    }
    cfg.budget = cfg.budgets();
    // A scaled protocol is checked again (an lr scale can overflow an f32).
    cfg.validate().map_err(|e| {
        anyhow::anyhow!("invalid setting: {origin} (step_scale {s}, lr_scale {r}) gives {e}")
    })?;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field of a profile at its boundary: the last allowed value passes, the first
    /// outside fails naming its key.
    #[test]
    fn profile_validation_covers_every_field() {
        let ok = Profile {
            step_scale: 1e-6,
            lr_scale: 1e-6,
            curve_every: 1,
            eval_every: 1,
            labels: vec![10, 10 * MIN_CLASS_TRAIN],
            seeds: vec![0, 1],
        };
        assert!(ok.validate().is_ok());
        let key = |f: fn(&mut Profile)| {
            let mut p = ok.clone();
            f(&mut p);
            p.validate().unwrap_err().key
        };
        assert_eq!(key(|p| p.step_scale = 0.0), "step_scale");
        assert_eq!(key(|p| p.step_scale = f64::INFINITY), "step_scale");
        assert_eq!(key(|p| p.lr_scale = -1.0), "lr_scale");
        assert_eq!(key(|p| p.curve_every = 0), "curve_every");
        assert_eq!(key(|p| p.eval_every = 0), "eval_every");
        assert_eq!(key(|p| p.labels = vec![]), "labels");
        assert_eq!(key(|p| p.labels = vec![100, 100]), "labels");
        assert_eq!(key(|p| p.labels = vec![105]), "labels");
        assert_eq!(key(|p| p.labels = vec![0]), "labels");
        assert_eq!(
            key(|p| p.labels = vec![10 * MIN_CLASS_TRAIN + 10]),
            "labels"
        );
        assert_eq!(key(|p| p.seeds = vec![]), "seeds");
        assert_eq!(key(|p| p.seeds = vec![3, 3]), "seeds");
    }
}
