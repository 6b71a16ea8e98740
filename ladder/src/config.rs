//! Serde settings of the ladder and of the two training protocols (appendix D).
//! Defaults are the paper's values; every alternative the spec names is selectable here.

use crate::validate::{at_least, at_most_key, non_negative, positive, unit_interval_open, Checked};
use serde::{Deserialize, Serialize};

/// Lateral combinator g(z̃, u).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CombinatorKind {
    /// Rasmus et al.'s final "gauss" combinator, 10 vectors a1..a10 per layer (default).
    Gauss,
    /// Pezeshki et al.'s "vanilla" combinator, 9 vectors per layer.
    Sig,
}

/// How a step's groups share batch-normalisation statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BnGroups {
    /// Labeled, unlabeled (and fake) batches each use their own statistics (default).
    Separate,
    /// All rows of a step are normalised together.
    Joint,
}

/// Where the test-time batch-norm statistics come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestBnStats {
    /// Population mean / unbiased variance of clean passes over the labeled set (default).
    Labeled,
    /// The same over all 60,000 training images.
    AllTrain,
}

/// The network and its cost (spec: Encoder, Decoder, Cost).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LadderConfig {
    /// Std of the Gaussian corruption added to the input and to every layer (0.3).
    pub noise_std: f32,
    /// Weight λ₀ of the bottom-layer reconstruction cost (1000; the paper's "1000/784" per pixel).
    pub lambda0: f32,
    /// ε inside sqrt(var + ε) of every batch normalisation (1e-10).
    pub bn_eps: f32,
    pub combinator: CombinatorKind,
    pub bn_groups: BnGroups,
    pub test_bn_stats: TestBnStats,
    /// Rows in each labeled, unlabeled and fake batch (100).
    pub batch_size: usize,
}

impl Default for LadderConfig {
    fn default() -> Self {
        Self {
            noise_std: 0.3,
            lambda0: 1000.0,
            bn_eps: 1e-10,
            combinator: CombinatorKind::Gauss,
            bn_groups: BnGroups::Separate,
            test_bn_stats: TestBnStats::Labeled,
            batch_size: 100,
        }
    }
}

/// Adam hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamSettings {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
}

/// LN baseline (appendix D): Adam(β1 = 0.5), lr 2e-4 constant to step 80k, then linear to 0
/// at 120k.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LnProtocol {
    pub steps: u64,
    pub decay_start: u64,
    pub adam: AdamSettings,
}

impl Default for LnProtocol {
    fn default() -> Self {
        Self {
            steps: 120_000,
            decay_start: 80_000,
            adam: AdamSettings {
                lr: 2e-4,
                beta1: 0.5,
                beta2: 0.999,
                eps: 1e-8,
            },
        }
    }
}

/// Shape of the margin schedule m_t.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MarginDecay {
    /// m_t = m₀ · max(0, 1 − t / T_m) (default; the paper: "decays gradually to 0").
    Linear,
    /// m_t = m₀ for t < T_m, then 0.
    Step,
}

/// EBGAN-LN (section 4.2, appendix D): D and G alternate for `g_steps`, while the margin decays
/// from `margin` to 0 over `margin_steps`; then D alone, `d_steps` in all, its learning rate
/// constant to `d_decay_start`, then linear to 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EbganProtocol {
    pub margin: f32,
    pub margin_steps: u64,
    pub margin_decay: MarginDecay,
    pub g_steps: u64,
    pub d_steps: u64,
    pub d_decay_start: u64,
    pub adam_d: AdamSettings,
    pub adam_g: AdamSettings,
}

impl Default for EbganProtocol {
    fn default() -> Self {
        Self {
            margin: 16.0,
            margin_steps: 60_000,
            margin_decay: MarginDecay::Linear,
            g_steps: 60_000,
            d_steps: 180_000,
            d_decay_start: 120_000,
            adam_d: AdamSettings {
                lr: 5e-4,
                beta1: 0.5,
                beta2: 0.999,
                eps: 1e-8,
            },
            adam_g: AdamSettings {
                lr: 2.5e-4,
                beta1: 0.5,
                beta2: 0.999,
                eps: 1e-8,
            },
        }
    }
}

impl LnProtocol {
    /// The same protocol with every step count and schedule boundary multiplied by `factor`
    /// (each boundary stays at the same fraction of the run, up to rounding to whole steps).
    pub fn scaled(&self, factor: f64) -> Self {
        Self {
            steps: scale(self.steps, factor),
            decay_start: scale(self.decay_start, factor),
            ..self.clone()
        }
    }

    /// The same protocol with its learning rate multiplied by `factor`.
    pub fn lr_scaled(&self, factor: f64) -> Self {
        let mut p = self.clone();
        p.adam.lr = (p.adam.lr as f64 * factor) as f32;
        p
    }

    /// LN trained with EBGAN-LN's discriminator schedule and no generator (the budget-matched
    /// control `ln-matched`): `d_steps` steps, D's Adam, its decay from `d_decay_start`.
    pub fn matched_to(p: &EbganProtocol) -> Self {
        Self {
            steps: p.d_steps,
            decay_start: p.d_decay_start,
            adam: p.adam_d,
        }
    }
}

impl EbganProtocol {
    /// The same protocol with every step count and schedule boundary multiplied by `factor`.
    pub fn scaled(&self, factor: f64) -> Self {
        Self {
            margin_steps: scale(self.margin_steps, factor),
            g_steps: scale(self.g_steps, factor),
            d_steps: scale(self.d_steps, factor),
            d_decay_start: scale(self.d_decay_start, factor),
            ..self.clone()
        }
    }

    /// The same protocol with both learning rates (D's and G's) multiplied by `factor`.
    pub fn lr_scaled(&self, factor: f64) -> Self {
        let mut p = self.clone();
        p.adam_d.lr = (p.adam_d.lr as f64 * factor) as f32;
        p.adam_g.lr = (p.adam_g.lr as f64 * factor) as f32;
        p
    }
}

impl LadderConfig {
    /// Every field in range (keys as in the `[ladder]` table): `noise_std`, `lambda0` ≥ 0,
    /// `bn_eps` > 0, `batch_size` ≥ 1.
    pub fn validate(&self) -> Checked {
        non_negative("noise_std", self.noise_std as f64)?;
        non_negative("lambda0", self.lambda0 as f64)?;
        positive("bn_eps", self.bn_eps as f64)?;
        at_least("batch_size", self.batch_size as u64, 1)
    }
}

impl AdamSettings {
    /// `lr` > 0, 0 ≤ `beta1`, `beta2` < 1, `eps` > 0 (Kingma & Ba 2015, Algorithm 1).
    pub fn validate(&self) -> Checked {
        positive("lr", self.lr as f64)?;
        unit_interval_open("beta1", self.beta1 as f64)?;
        unit_interval_open("beta2", self.beta2 as f64)?;
        positive("eps", self.eps as f64)
    }
}

impl LnProtocol {
    /// `steps` ≥ 1, `decay_start` ≤ `steps` (else the rate never decays), Adam in range.
    pub fn validate(&self) -> Checked {
        at_least("steps", self.steps, 1)?;
        at_most_key("decay_start", self.decay_start, "steps", self.steps)?;
        self.adam.validate().map_err(|e| e.under("adam"))
    }
}

impl EbganProtocol {
    /// `margin` ≥ 0, `margin_steps` ≥ 1, `g_steps` ≤ `d_steps` (the generator phase is part
    /// of the discriminator's run), `d_steps` ≥ 1, `d_decay_start` ≤ `d_steps`, both Adams in
    /// range. `g_steps` = 0 (no generator) is allowed: it is LN with D's schedule.
    pub fn validate(&self) -> Checked {
        non_negative("margin", self.margin as f64)?;
        at_least("margin_steps", self.margin_steps, 1)?;
        at_least("d_steps", self.d_steps, 1)?;
        at_most_key("g_steps", self.g_steps, "d_steps", self.d_steps)?;
        at_most_key("d_decay_start", self.d_decay_start, "d_steps", self.d_steps)?;
        self.adam_d.validate().map_err(|e| e.under("adam_d"))?;
        self.adam_g.validate().map_err(|e| e.under("adam_g"))
    }
}

fn scale(steps: u64, factor: f64) -> u64 {
    (steps as f64 * factor).round().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each field's boundary: the last allowed value passes, the first outside fails with its
    /// dotted key. The paper's defaults pass.
    #[test]
    fn validation_covers_every_field_at_its_boundary() {
        let key = |r: Checked| r.unwrap_err().key;
        assert!(LadderConfig::default().validate().is_ok());
        assert!(LnProtocol::default().validate().is_ok());
        assert!(EbganProtocol::default().validate().is_ok());

        let l = LadderConfig::default;
        assert!(LadderConfig {
            noise_std: 0.0,
            lambda0: 0.0,
            ..l()
        }
        .validate()
        .is_ok());
        assert_eq!(
            key(LadderConfig {
                noise_std: -0.1,
                ..l()
            }
            .validate()),
            "noise_std"
        );
        assert_eq!(
            key(LadderConfig {
                lambda0: -1.0,
                ..l()
            }
            .validate()),
            "lambda0"
        );
        assert_eq!(
            key(LadderConfig { bn_eps: 0.0, ..l() }.validate()),
            "bn_eps"
        );
        assert_eq!(
            key(LadderConfig {
                batch_size: 0,
                ..l()
            }
            .validate()),
            "batch_size"
        );

        let ln = LnProtocol::default;
        assert!(LnProtocol {
            steps: 1,
            decay_start: 1,
            ..ln()
        }
        .validate()
        .is_ok());
        assert_eq!(
            key(LnProtocol {
                steps: 0,
                decay_start: 0,
                ..ln()
            }
            .validate()),
            "steps"
        );
        assert_eq!(
            key(LnProtocol {
                decay_start: 120_001,
                ..ln()
            }
            .validate()),
            "decay_start"
        );
        let adam = |f: fn(&mut AdamSettings)| {
            let mut p = ln();
            f(&mut p.adam);
            p.validate()
        };
        assert!(adam(|a| a.beta1 = 0.0).is_ok());
        assert_eq!(key(adam(|a| a.lr = 0.0)), "adam.lr");
        assert_eq!(key(adam(|a| a.lr = -2e-4)), "adam.lr");
        assert_eq!(key(adam(|a| a.beta1 = 1.5)), "adam.beta1");
        assert_eq!(key(adam(|a| a.beta1 = 1.0)), "adam.beta1");
        assert_eq!(key(adam(|a| a.beta2 = -0.1)), "adam.beta2");
        assert_eq!(key(adam(|a| a.eps = 0.0)), "adam.eps");

        let eb = EbganProtocol::default;
        assert!(EbganProtocol {
            margin: 0.0,
            g_steps: 0,
            ..eb()
        }
        .validate()
        .is_ok());
        assert!(EbganProtocol {
            g_steps: 180_000,
            d_decay_start: 180_000,
            ..eb()
        }
        .validate()
        .is_ok());
        assert_eq!(
            key(EbganProtocol {
                margin: -1.0,
                ..eb()
            }
            .validate()),
            "margin"
        );
        assert_eq!(
            key(EbganProtocol {
                margin_steps: 0,
                ..eb()
            }
            .validate()),
            "margin_steps"
        );
        assert_eq!(
            key(EbganProtocol {
                g_steps: 180_001,
                ..eb()
            }
            .validate()),
            "g_steps"
        );
        assert_eq!(
            key(EbganProtocol {
                d_decay_start: 180_001,
                ..eb()
            }
            .validate()),
            "d_decay_start"
        );
        assert_eq!(
            key(EbganProtocol {
                d_steps: 0,
                g_steps: 0,
                d_decay_start: 0,
                ..eb()
            }
            .validate()),
            "d_steps"
        );
        let mut p = eb();
        p.adam_g.lr = f32::NAN;
        assert_eq!(key(p.validate()), "adam_g.lr");
        let mut p = eb();
        p.adam_d.beta2 = 1.0;
        assert_eq!(key(p.validate()), "adam_d.beta2");
    }
}
