//! One configuration of the fully connected family (EBGAN paper, appendix C and Table 1),
//! serde-serialisable, with a canonical id that names its run folder and parses back.

use crate::ops::ced::SoftHistogram;
use ladder::validate::{at_least, non_negative, positive, unit_interval_open, Checked, Invalid};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which losses and schedule (one small file each: [`crate::gan`], [`crate::ebgan`],
/// [`crate::ebgan_pt`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VariantKind {
    /// Goodfellow et al. 2014, non-saturating G loss.
    Gan,
    /// Autoencoder discriminator, eqs. 1, 2 and 13.
    Ebgan,
    /// EBGAN with the pulling-away term of eq. 14 on the generator.
    EbganPt,
    /// The energy GAN of the energy view (spec energy-gan-mcmc.md): an energy D with a
    /// gradient penalty, G with the MI bound through an encoder ([`crate::variants::energy`]).
    Energy,
    /// EDGAN (spec conv-gans-edgan.md, algorithm 1): GAN's losses plus λ·ρ(X, G(z)), the
    /// conditional entropy distance, on G ([`crate::variants::edgan`]); image models only.
    Edgan,
    /// LSGAN (Mao et al. 2017; [`crate::variants::lsgan`]); image models only.
    Lsgan,
    /// WGAN-GP (Gulrajani et al. 2017; [`crate::variants::wgan_gp`]); a critic D only.
    WganGp,
    /// GAN with a zero-centred gradient penalty (Thanh-Tung et al. 2019;
    /// [`crate::variants::gan_0gp`]); a critic D only.
    Gan0Gp,
    /// The hinge losses of SAGAN (Lim & Ye 2017; Zhang et al. 2019;
    /// [`crate::variants::hinge`]); image models only.
    Hinge,
}

/// Optimiser of one network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Optim {
    Adam,
    Sgd,
    /// Optimistic Adam (EDGAN; [`crate::optim::oadam`]), with Adam's β and ε.
    #[serde(rename = "oadam")]
    OAdam,
}

/// The distribution of the latent code z.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LatentPrior {
    /// N(0, I) (default; EBGAN, EDGAN's text).
    #[default]
    Normal,
    /// U[−1, 1] per coordinate (the DCGAN baseline of the EDGAN paper's figure 2).
    Uniform,
}

/// How a network's weights start (biases and β at 0, γ at 1 in every scheme).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeightInit {
    /// N(0, σ²) with σ = `TrainSettings::{g,d}_init_std` (DCGAN: 0.02; default).
    #[default]
    Normal,
    /// Orthogonal, gain 1 (Saxe et al. 2014; OptimizedDCGAN; [`crate::nets::init`]).
    Orthogonal,
}

/// The per-sample energy D(x) = f(Dec(Enc(x)) − x).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnergyNorm {
    /// ‖·‖₂, the norm of eq. 13 (default).
    L2,
    /// Σ (·)², squared error.
    Squared,
    /// mean (·)² over the pixels.
    MeanSquared,
}

/// Settings shared by every configuration of a grid (choices where the paper is silent are
/// marked "default" in the spec and listed in the README).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSettings {
    /// Samples per batch, real and fake each (default 64).
    pub batch: usize,
    /// Generator updates per run; the same for every configuration.
    pub g_updates: u64,
    /// Discriminator steps per generator step (k = 1, Goodfellow et al.).
    pub d_steps: usize,
    /// Dropout probability in D's hidden layers when dropoutD is on (default 0.5).
    pub dropout_p: f32,
    /// Standard deviation of D's initial weights (0.002) and of G's (0.02); biases 0.
    pub d_init_std: f32,
    pub g_init_std: f32,
    /// Adam's β₁, β₂, ε (default 0.5, 0.999, 1e-8: the DCGAN values).
    pub adam_beta1: f32,
    pub adam_beta2: f32,
    pub adam_eps: f32,
    /// SGD momentum (default 0: plain SGD).
    pub sgd_momentum: f32,
    /// Batch-norm ε.
    pub bn_eps: f32,
    /// The energy norm (EBGAN variants).
    pub energy: EnergyNorm,
    /// The prior of z (default N(0, I)).
    #[serde(default)]
    pub latent_prior: LatentPrior,
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self {
            batch: 64,
            g_updates: 2000,
            d_steps: 1,
            dropout_p: 0.5,
            d_init_std: 0.002,
            g_init_std: 0.02,
            adam_beta1: 0.5,
            adam_beta2: 0.999,
            adam_eps: 1e-8,
            sgd_momentum: 0.0,
            bn_eps: 1e-5,
            energy: EnergyNorm::L2,
            latent_prior: LatentPrior::Normal,
        }
    }
}

/// One point of the grid: architecture, optimisers and variant parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arch {
    pub variant: VariantKind,
    /// Number of weight layers of G and of D (EBGAN: Enc and Dec together, Dec one layer).
    pub n_layer_g: usize,
    pub n_layer_d: usize,
    /// Width of every hidden layer of G and of D.
    pub size_g: usize,
    pub size_d: usize,
    pub dropout_d: bool,
    pub optim_d: Optim,
    pub optim_g: Optim,
    pub lr: f32,
    /// EBGAN margin m (grid: 10); ignored by GAN.
    pub margin: f32,
    /// Weight of the pulling-away term (EBGAN-PT: 0.1); ignored otherwise.
    pub pt_weight: f32,
    /// Energy GAN: λ₁ of the gradient penalty at real data (default 10); ignored otherwise.
    #[serde(default = "default_lambda_gp")]
    pub lambda_gp: f32,
    /// Energy GAN: λ₂ of the MI term (default 1; 0 = none, no encoder); ignored otherwise.
    #[serde(default = "default_lambda_mi")]
    pub lambda_mi: f32,
}

fn default_lambda_gp() -> f32 {
    10.0
}

fn default_lambda_mi() -> f32 {
    1.0
}

/// A complete run configuration: one grid point and the shared settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GanConfig {
    pub arch: Arch,
    pub train: TrainSettings,
}

/// Widths that have a compiled network (Table 1); see [`crate::nets`].
pub const G_WIDTHS: [usize; 4] = [400, 800, 1600, 3200];
pub const D_WIDTHS: [usize; 4] = [128, 256, 512, 1024];
/// Numbers of weight layers of Table 1.
pub const LAYERS: [usize; 4] = [2, 3, 4, 5];

impl TrainSettings {
    /// Every field in range (keys as in the `[train]` table of `gans.toml`): `batch`,
    /// `g_updates`, `d_steps` ≥ 1; `dropout_p`, `adam_beta1`, `adam_beta2`, `sgd_momentum` in
    /// [0, 1); the init stds, `adam_eps` and `bn_eps` > 0.
    pub fn validate(&self) -> Checked {
        at_least("batch", self.batch as u64, 1)?;
        at_least("g_updates", self.g_updates, 1)?;
        at_least("d_steps", self.d_steps as u64, 1)?;
        unit_interval_open("dropout_p", self.dropout_p as f64)?;
        positive("d_init_std", self.d_init_std as f64)?;
        positive("g_init_std", self.g_init_std as f64)?;
        unit_interval_open("adam_beta1", self.adam_beta1 as f64)?;
        unit_interval_open("adam_beta2", self.adam_beta2 as f64)?;
        positive("adam_eps", self.adam_eps as f64)?;
        unit_interval_open("sgd_momentum", self.sgd_momentum as f64)?;
        positive("bn_eps", self.bn_eps as f64)
    }
}

/// One image configuration (EBGAN appendix C; spec conv-gans-edgan.md): the variant, the image
/// geometry (which picks the compiled DCGAN generator and the variant's discriminator, see
/// [`crate::nets::image`]), Adam's learning rates and the EBGAN parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageArch {
    pub variant: VariantKind,
    /// Image side in pixels (32 or 64) and channels (3 colour, 1 grey).
    pub side: usize,
    pub channels: usize,
    /// Adam learning rates of D and G (DCGAN: 2e-4 both).
    pub lr_d: f32,
    pub lr_g: f32,
    /// EBGAN margin m (faces: 20); ignored by GAN.
    pub margin: f32,
    /// Weight of the pulling-away term (EBGAN-PT: 0.1); ignored otherwise.
    pub pt_weight: f32,
    /// The network family ([`crate::nets::image`] for `dcgan`, [`crate::nets::edgan`] for
    /// `edgan-dcgan`); default `dcgan`.
    #[serde(default)]
    pub model: ImageModel,
    /// `edgan-dcgan` only: R311 (G without its scale-preserving (3,1,1) layers but the last)
    /// and SN_in_P (spectral norm on D's compression layer) of OptimizedDCGAN.
    #[serde(default)]
    pub r311: bool,
    #[serde(default)]
    pub sn_in_p: bool,
    /// `edgan-dcgan` only: SNGAN's discriminator (spectral norm on every layer, biases, no
    /// batch norm) instead of the batch-norm one.
    #[serde(default)]
    pub sn_all: bool,
    /// `edgan-dcgan` only: a critic D (the figure-2 layers with biases and no batch norm, so
    /// its input gradient can be written: WGAN-GP, GAN-0GP, the bi-penalty).
    #[serde(default)]
    pub critic: bool,
    /// `edgan-dcgan` only: SAGAN's networks — R311's G and SNGAN's D, each with the
    /// self-attention block at 16 × 16 ([`crate::nets::edgan::SaganGenerator`],
    /// [`crate::nets::edgan::SaganD`]); needs `r311` and `sn_all`.
    #[serde(default)]
    pub attention: bool,
    /// Weight of D's gradient penalty at interpolates (default 0 = none; WGAN-GP and GAN-0GP
    /// need one > 0 — the experiments use 10, WGAN-GP's; EDGAN with one > 0 is Table 5's
    /// bi-penalty).
    #[serde(default)]
    pub lambda_gp: f32,
    /// Values of z (compiled: 100, 128; EDGAN: 128); default 100.
    #[serde(default = "default_latent")]
    pub latent: usize,
    /// Optimisers of D and G (Adam or OAdam; default Adam).
    #[serde(default = "default_adam")]
    pub optim_d: Optim,
    #[serde(default = "default_adam")]
    pub optim_g: Optim,
    /// Weight initialisation of D and G (default N(0, σ²)).
    #[serde(default)]
    pub init_d: WeightInit,
    #[serde(default)]
    pub init_g: WeightInit,
    /// EDGAN: λ of the conditional entropy distance on G (paper default 1); ignored otherwise.
    #[serde(default = "default_lambda_ced")]
    pub lambda_ced: f32,
    /// EDGAN: which distance G is penalised with (default ρ, the paper's; `js` for its
    /// Table 5's JS-divergence penalty).
    #[serde(default)]
    pub g_penalty: GPenalty,
    /// EDGAN: the paired values ρ (or JS) is estimated on (default the pixels, the spec's;
    /// `fid-features` for the FID network's standardised features, the spec's "switchable").
    #[serde(default)]
    pub ced_on: CedInput,
    /// EDGAN: ρ's soft histogram (default the spec's: 32 bins on [−1, 1], kernel one bin wide).
    #[serde(default)]
    pub ced_histogram: SoftHistogram,
}

/// What EDGAN's ρ compares, pair by pair (spec conv-gans-edgan.md, "EDGAN": "keep the choice
/// switchable (e.g. on feature vectors instead of pixels)").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CedInput {
    /// The i-th real and i-th generated image's values, same pixel and channel (the default).
    #[default]
    Pixels,
    /// Their 128 FID-network features, standardised on the FID real set
    /// ([`crate::metrics::feature_net::FeatureMap`]), same feature. G then trains on the
    /// features FID is computed on, so its FID is not comparable with pixel-ρ runs'.
    FidFeatures,
}

/// The penalty on G of the EDGAN variant ([`crate::ops::ced`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GPenalty {
    /// ρ(X, Y), the conditional entropy distance of paired pixels (EDGAN).
    #[default]
    Ced,
    /// The Jensen–Shannon divergence between the real and generated pixel histograms.
    Js,
}

impl Default for ImageArch {
    /// GAN on the DCGAN family at 32 × 32 × 3: Adam 2e-4 for both networks, N(0, σ²)
    /// initialisation, z ∈ ℝ¹⁰⁰; EBGAN margin 20 and PT weight 0.1 (the faces' values), EDGAN
    /// λ = 1.
    fn default() -> Self {
        Self {
            variant: VariantKind::Gan,
            side: 32,
            channels: 3,
            lr_d: 2e-4,
            lr_g: 2e-4,
            margin: 20.0,
            pt_weight: 0.1,
            model: ImageModel::Dcgan,
            r311: false,
            sn_in_p: false,
            latent: default_latent(),
            optim_d: Optim::Adam,
            optim_g: Optim::Adam,
            init_d: WeightInit::Normal,
            init_g: WeightInit::Normal,
            lambda_ced: default_lambda_ced(),
            g_penalty: GPenalty::Ced,
            ced_on: CedInput::Pixels,
            ced_histogram: SoftHistogram::default(),
            sn_all: false,
            critic: false,
            attention: false,
            lambda_gp: 0.0,
        }
    }
}

/// The image network families.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageModel {
    /// Radford et al.'s DCGAN and the EBGAN autoencoder (EBGAN appendix C).
    #[default]
    Dcgan,
    /// The DCGAN of the EDGAN paper's figure 2, with the (3,1,1) layers, and OptimizedDCGAN's
    /// switches (`r311`, `sn_in_p`).
    EdganDcgan,
}

/// Latent sizes with compiled image generators.
pub const IMAGE_LATENTS: [usize; 2] = [100, 128];

fn default_latent() -> usize {
    100
}

fn default_adam() -> Optim {
    Optim::Adam
}

fn default_lambda_ced() -> f32 {
    1.0
}

/// A complete image run configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageGanConfig {
    pub arch: ImageArch,
    pub train: TrainSettings,
}

impl ImageArch {
    /// Every field in range (keys as in the `[arch]` table): `side` and `channels` a compiled
    /// geometry ([`crate::nets::image::COMPILED`]), learning rates > 0, margin and PT weight ≥ 0.
    pub fn validate(&self) -> Checked {
        let geometry = crate::nets::image::COMPILED;
        if !geometry.contains(&(self.side, self.channels)) {
            return Err(Invalid::new(
                "side",
                format!("{} (channels = {})", self.side, self.channels),
                format!(
                    "one of the compiled geometries (side, channels) {:?}",
                    geometry
                ),
            ));
        }
        positive("lr_d", self.lr_d as f64)?;
        positive("lr_g", self.lr_g as f64)?;
        non_negative("margin", self.margin as f64)?;
        non_negative("pt_weight", self.pt_weight as f64)?;
        non_negative("lambda_ced", self.lambda_ced as f64)?;
        non_negative("lambda_gp", self.lambda_gp as f64)?;
        let h = &self.ced_histogram;
        at_least("ced_histogram.bins", h.bins as u64, 2)?;
        positive("ced_histogram.width", h.width as f64)?;
        if !h.width.is_finite() {
            return Err(Invalid::new("ced_histogram.width", h.width, "finite"));
        }
        if !h.lo.is_finite() {
            return Err(Invalid::new("ced_histogram.lo", h.lo, "finite"));
        }
        if !(h.hi.is_finite() && h.hi > h.lo) {
            return Err(Invalid::new(
                "ced_histogram.hi",
                h.hi,
                format!("finite and > ced_histogram.lo = {}", h.lo),
            ));
        }
        if self.ced_on == CedInput::FidFeatures
            && (self.variant != VariantKind::Edgan || (self.side, self.channels) != (32, 3))
        {
            return Err(Invalid::new(
                "ced_on",
                "fid-features",
                "pixels unless variant = edgan on 32 × 32 × 3 images (the FID network's input)",
            ));
        }
        let penalised = matches!(self.variant, VariantKind::WganGp | VariantKind::Gan0Gp)
            || (self.variant == VariantKind::Edgan && self.lambda_gp > 0.0);
        if matches!(self.variant, VariantKind::WganGp | VariantKind::Gan0Gp)
            && self.lambda_gp <= 0.0
        {
            return Err(Invalid::new(
                "lambda_gp",
                self.lambda_gp,
                format!(
                    "> 0 for variant {} (its gradient penalty)",
                    self.variant.name()
                ),
            ));
        }
        if penalised && !self.critic {
            return Err(Invalid::new(
                "critic",
                self.critic,
                "true when D's gradient is penalised (wgan-gp, gan-0gp, edgan with lambda_gp > 0): only a critic without batch norm has a per-sample input gradient",
            ));
        }
        if self.critic && (self.sn_in_p || self.sn_all) {
            return Err(Invalid::new(
                "critic",
                "true",
                "false with sn_in_p or sn_all (the critic has no spectral norm)",
            ));
        }
        if !IMAGE_LATENTS.contains(&self.latent) {
            return Err(Invalid::new(
                "latent",
                self.latent.to_string(),
                format!("one of the compiled latent sizes {IMAGE_LATENTS:?}"),
            ));
        }
        for (key, o) in [("optim_d", self.optim_d), ("optim_g", self.optim_g)] {
            if o == Optim::Sgd {
                return Err(Invalid::new(
                    key,
                    "sgd",
                    "adam or oadam (image runs checkpoint their optimiser state)",
                ));
            }
        }
        if self.attention && !(self.r311 && self.sn_all) {
            return Err(Invalid::new(
                "attention",
                "true",
                "true only with r311 = true and sn_all = true (SAGAN's networks are R311's G and SNGAN's D with the self-attention block)",
            ));
        }
        if self.model == ImageModel::Dcgan
            && (self.r311 || self.sn_in_p || self.sn_all || self.critic || self.attention)
        {
            let key = if self.r311 {
                "r311"
            } else if self.sn_in_p {
                "sn_in_p"
            } else if self.sn_all {
                "sn_all"
            } else {
                "critic"
            };
            return Err(Invalid::new(
                key,
                "true",
                "false with model = \"dcgan\" (R311, SN_in_P and SNGAN's D are switches of model = \"edgan-dcgan\")",
            ));
        }
        if self.model == ImageModel::EdganDcgan && (self.side, self.channels) != (32, 3) {
            return Err(Invalid::new(
                "side",
                format!("{} (channels = {})", self.side, self.channels),
                "32 with channels = 3 for model = \"edgan-dcgan\" (CIFAR-10)",
            ));
        }
        Ok(())
    }
}

impl ImageGanConfig {
    /// [`ImageArch::validate`] and [`TrainSettings::validate`], with the offending key.
    pub fn validate(&self) -> Result<(), String> {
        self.arch
            .validate()
            .map_err(|e| e.under("arch").to_string())?;
        self.train
            .validate()
            .map_err(|e| e.under("train").to_string())
    }
}

impl GanConfig {
    /// The architecture ([`Arch::validate`]) and the shared settings
    /// ([`TrainSettings::validate`]), with the offending key.
    pub fn validate(&self) -> Result<(), String> {
        self.arch.validate().map_err(|e| format!("arch: {e}"))?;
        self.train
            .validate()
            .map_err(|e| e.under("train").to_string())
    }
}

impl VariantKind {
    pub fn name(self) -> &'static str {
        match self {
            VariantKind::Gan => "gan",
            VariantKind::Ebgan => "ebgan",
            VariantKind::EbganPt => "ebgan-pt",
            VariantKind::Energy => "energy",
            VariantKind::Edgan => "edgan",
            VariantKind::Lsgan => "lsgan",
            VariantKind::WganGp => "wgan-gp",
            VariantKind::Gan0Gp => "gan-0gp",
            VariantKind::Hinge => "hinge",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Gan,
            Self::Ebgan,
            Self::EbganPt,
            Self::Energy,
            Self::Edgan,
            Self::Lsgan,
            Self::WganGp,
            Self::Gan0Gp,
            Self::Hinge,
        ]
        .into_iter()
        .find(|v| v.name() == s)
    }
}

impl Optim {
    pub fn name(self) -> &'static str {
        match self {
            Optim::Adam => "adam",
            Optim::Sgd => "sgd",
            Optim::OAdam => "oadam",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        [Self::Adam, Self::Sgd, Self::OAdam]
            .into_iter()
            .find(|o| o.name() == s)
    }
}

impl Arch {
    /// Checks what the compiled networks support.
    pub fn validate(&self) -> Result<(), String> {
        let layers = |n: usize, what: &str| {
            if LAYERS.contains(&n) {
                Ok(())
            } else {
                Err(format!(
                    "{what} = {n}: supported numbers of layers are {LAYERS:?}"
                ))
            }
        };
        layers(self.n_layer_g, "nLayerG")?;
        layers(self.n_layer_d, "nLayerD")?;
        if !G_WIDTHS.contains(&self.size_g) {
            return Err(format!(
                "sizeG = {}: compiled widths are {G_WIDTHS:?}",
                self.size_g
            ));
        }
        if !D_WIDTHS.contains(&self.size_d) {
            return Err(format!(
                "sizeD = {}: compiled widths are {D_WIDTHS:?}",
                self.size_d
            ));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(format!("lr = {} must be positive", self.lr));
        }
        if matches!(
            self.variant,
            VariantKind::Edgan
                | VariantKind::Lsgan
                | VariantKind::WganGp
                | VariantKind::Gan0Gp
                | VariantKind::Hinge
        ) {
            return Err(format!(
                "{} is an image variant (`ebgan edgan`), not one of the MNIST grid",
                self.variant.name()
            ));
        }
        if self.variant == VariantKind::Energy {
            for (k, v) in [("lambda_gp", self.lambda_gp), ("lambda_mi", self.lambda_mi)] {
                if !(v >= 0.0 && v.is_finite()) {
                    return Err(format!("{k} = {v} must be ≥ 0"));
                }
            }
            if self.dropout_d {
                return Err(
                    "the energy GAN's U has no dropout (a per-sample gradient penalty): use nodrop"
                        .into(),
                );
            }
            if self.n_layer_d > 4 {
                return Err(format!(
                    "nLayerD = {}: the energy network is compiled with 2 to 4 layers",
                    self.n_layer_d
                ));
            }
        }
        if matches!(self.variant, VariantKind::Ebgan | VariantKind::EbganPt)
            && !(self.margin >= 0.0 && self.margin.is_finite())
        {
            return Err(format!("margin = {} must be ≥ 0", self.margin));
        }
        if !(self.pt_weight >= 0.0 && self.pt_weight.is_finite()) {
            return Err(format!("pt_weight = {} must be ≥ 0", self.pt_weight));
        }
        Ok(())
    }

    /// The canonical id, e.g. `ebgan_g5x800_d2x1024_nodrop_adam-adam_lr0.001_m10`; GAN ids
    /// have no margin, EBGAN-PT ids end with the PT weight (`_pt0.1`), energy-GAN ids with
    /// λ₁ and λ₂ instead of the margin (`_gp10_mi1`).
    pub fn id(&self) -> String {
        let mut id = format!(
            "{}_g{}x{}_d{}x{}_{}_{}-{}_lr{}",
            self.variant.name(),
            self.n_layer_g,
            self.size_g,
            self.n_layer_d,
            self.size_d,
            if self.dropout_d { "drop" } else { "nodrop" },
            self.optim_d.name(),
            self.optim_g.name(),
            self.lr
        );
        match self.variant {
            VariantKind::Gan => {}
            VariantKind::Energy => {
                id.push_str(&format!("_gp{}_mi{}", self.lambda_gp, self.lambda_mi));
            }
            _ => id.push_str(&format!("_m{}", self.margin)),
        }
        if self.variant == VariantKind::EbganPt {
            id.push_str(&format!("_pt{}", self.pt_weight));
        }
        id
    }

    /// Parses an id made by [`Arch::id`].
    pub fn from_id(id: &str) -> Result<Self, String> {
        let bad = || {
            format!("'{id}' is not a configuration id (e.g. ebgan_g5x800_d2x1024_nodrop_adam-adam_lr0.001_m10)")
        };
        let parts: Vec<&str> = id.split('_').collect();
        if parts.len() < 6 {
            return Err(bad());
        }
        let variant = VariantKind::parse(parts[0]).ok_or_else(bad)?;
        let net = |s: &str, prefix: char| -> Option<(usize, usize)> {
            let (n, w) = s.strip_prefix(prefix)?.split_once('x')?;
            Some((n.parse().ok()?, w.parse().ok()?))
        };
        let (n_layer_g, size_g) = net(parts[1], 'g').ok_or_else(bad)?;
        let (n_layer_d, size_d) = net(parts[2], 'd').ok_or_else(bad)?;
        let dropout_d = match parts[3] {
            "drop" => true,
            "nodrop" => false,
            _ => return Err(bad()),
        };
        let (od, og) = parts[4].split_once('-').ok_or_else(bad)?;
        let optim_d = Optim::parse(od).ok_or_else(bad)?;
        let optim_g = Optim::parse(og).ok_or_else(bad)?;
        let num = |s: &str, prefix: &str| -> Option<f32> { s.strip_prefix(prefix)?.parse().ok() };
        let lr = num(parts[5], "lr").ok_or_else(bad)?;
        let expected = match variant {
            VariantKind::Gan => 6,
            VariantKind::Ebgan => 7,
            VariantKind::EbganPt | VariantKind::Energy => 8,
            VariantKind::Edgan
            | VariantKind::Lsgan
            | VariantKind::WganGp
            | VariantKind::Gan0Gp
            | VariantKind::Hinge => return Err(bad()),
        };
        if parts.len() != expected {
            return Err(bad());
        }
        let margin = match variant {
            VariantKind::Gan | VariantKind::Energy => 0.0,
            _ => num(parts[6], "m").ok_or_else(bad)?,
        };
        let (lambda_gp, lambda_mi) = match variant {
            VariantKind::Energy => (
                num(parts[6], "gp").ok_or_else(bad)?,
                num(parts[7], "mi").ok_or_else(bad)?,
            ),
            _ => (default_lambda_gp(), default_lambda_mi()),
        };
        let pt_weight = match variant {
            VariantKind::EbganPt => num(parts[7], "pt").ok_or_else(bad)?,
            _ => 0.0,
        };
        let arch = Arch {
            variant,
            n_layer_g,
            n_layer_d,
            size_g,
            size_d,
            dropout_d,
            optim_d,
            optim_g,
            lr,
            margin,
            pt_weight,
            lambda_gp,
            lambda_mi,
        };
        arch.validate()?;
        if arch.id() != id {
            return Err(format!(
                "'{id}' is not canonical; write it as '{}'",
                arch.id()
            ));
        }
        Ok(arch)
    }

    /// The paper's best GAN of the grid (Figure 4).
    pub fn paper_best_gan() -> Self {
        Arch {
            variant: VariantKind::Gan,
            n_layer_g: 5,
            n_layer_d: 2,
            size_g: 1600,
            size_d: 1024,
            dropout_d: false,
            optim_d: Optim::Sgd,
            optim_g: Optim::Sgd,
            lr: 0.01,
            margin: 0.0,
            pt_weight: 0.0,
            lambda_gp: default_lambda_gp(),
            lambda_mi: default_lambda_mi(),
        }
    }

    /// The paper's best EBGAN (Figure 4), m = 10.
    pub fn paper_best_ebgan() -> Self {
        Arch {
            variant: VariantKind::Ebgan,
            n_layer_g: 5,
            n_layer_d: 2,
            size_g: 800,
            size_d: 1024,
            dropout_d: false,
            optim_d: Optim::Adam,
            optim_g: Optim::Adam,
            lr: 0.001,
            margin: 10.0,
            pt_weight: 0.0,
            lambda_gp: default_lambda_gp(),
            lambda_mi: default_lambda_mi(),
        }
    }

    /// The paper's best EBGAN-PT (Figure 4): the best EBGAN with PT weight 0.1.
    pub fn paper_best_ebgan_pt() -> Self {
        Arch {
            variant: VariantKind::EbganPt,
            pt_weight: 0.1,
            ..Self::paper_best_ebgan()
        }
    }

    /// The energy GAN of the energy view with MI weight `lambda_mi` (0: without the MI term):
    /// G 3 × 800 with batch norm, U (and E) 3 × 512 without, Adam 2e-4 for all, λ₁ = 10 (the
    /// spec's defaults; widths this project's choice, among the compiled ones).
    pub fn energy(lambda_mi: f32) -> Self {
        Arch {
            variant: VariantKind::Energy,
            n_layer_g: 3,
            n_layer_d: 3,
            size_g: 800,
            size_d: 512,
            dropout_d: false,
            optim_d: Optim::Adam,
            optim_g: Optim::Adam,
            lr: 2e-4,
            margin: 0.0,
            pt_weight: 0.0,
            lambda_gp: default_lambda_gp(),
            lambda_mi,
        }
    }

    /// Figure 9's configuration at margin `m`.
    pub fn margin_sweep(m: f32) -> Self {
        Arch {
            size_g: 1600,
            margin: m,
            ..Self::paper_best_ebgan()
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_junk() {
        for a in [
            Arch::paper_best_gan(),
            Arch::paper_best_ebgan(),
            Arch::paper_best_ebgan_pt(),
            Arch::margin_sweep(32.0),
            Arch::energy(1.0),
            Arch::energy(0.0),
        ] {
            assert_eq!(Arch::from_id(&a.id()).unwrap(), a, "{}", a.id());
        }
        assert_eq!(
            Arch::paper_best_ebgan().id(),
            "ebgan_g5x800_d2x1024_nodrop_adam-adam_lr0.001_m10"
        );
        assert_eq!(
            Arch::paper_best_gan().id(),
            "gan_g5x1600_d2x1024_nodrop_sgd-sgd_lr0.01"
        );
        for junk in [
            "",
            "gan",
            "gan_g5x1600_d2x1024_nodrop_sgd-sgd_lr0.01_m10",
            "gan_g6x1600_d2x1024_nodrop_sgd-sgd_lr0.01",
            "gan_g5x1000_d2x1024_nodrop_sgd-sgd_lr0.01",
            "gan_g5x1600_d2x1024_maybe_sgd-sgd_lr0.01",
            "gan_g5x1600_d2x1024_nodrop_sgd-sgd_lr0.010",
            "energy_g3x800_d3x512_nodrop_adam-adam_lr0.0002_m10",
            "energy_g3x800_d3x512_nodrop_adam-adam_lr0.0002_gp10_mi-1",
            "energy_g3x800_d3x512_drop_adam-adam_lr0.0002_gp10_mi1",
            "energy_g3x800_d5x512_nodrop_adam-adam_lr0.0002_gp10_mi1",
        ] {
            assert!(Arch::from_id(junk).is_err(), "{junk}");
        }
        assert_eq!(
            Arch::energy(1.0).id(),
            "energy_g3x800_d3x512_nodrop_adam-adam_lr0.0002_gp10_mi1"
        );
    }

    /// A config.toml written before the energy GAN existed (no λ fields) still parses, with
    /// λ₁ = 10 and λ₂ = 1, and equals the same arch written now.
    #[test]
    fn old_arch_tables_parse_with_default_lambdas() {
        let a = Arch::paper_best_ebgan();
        let text = toml::to_string(&a).unwrap();
        assert!(text.contains("lambda_gp"));
        let old: String = text
            .lines()
            .filter(|l| !l.starts_with("lambda_"))
            .map(|l| format!("{l}\n"))
            .collect();
        let parsed: Arch = toml::from_str(&old).unwrap();
        assert_eq!(parsed, a);
        assert_eq!((parsed.lambda_gp, parsed.lambda_mi), (10.0, 1.0));
    }

    /// EDGAN's ρ settings: an `[arch]` table without them parses to the defaults (pixels, the
    /// spec's histogram); each histogram field at its boundary passes, the first value outside
    /// fails naming its key; `fid-features` is refused off EDGAN.
    #[test]
    fn ced_settings_default_and_validate() {
        let a = ImageArch {
            variant: VariantKind::Edgan,
            ..Default::default()
        };
        let text = toml::to_string(&a).unwrap();
        let old: String = text
            .lines()
            .take_while(|l| !l.starts_with("ced_on") && !l.starts_with("[ced_histogram]"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(!old.contains("ced_") && text.contains("ced_on"), "{text}");
        let parsed: ImageArch = toml::from_str(&old).unwrap();
        assert_eq!(parsed, a);
        assert!(a.validate().is_ok());
        let key = |f: fn(&mut ImageArch)| {
            let mut c = a.clone();
            f(&mut c);
            c.validate().unwrap_err().key
        };
        assert_eq!(key(|c| c.ced_histogram.bins = 1), "ced_histogram.bins");
        assert_eq!(key(|c| c.ced_histogram.width = 0.0), "ced_histogram.width");
        assert_eq!(
            key(|c| c.ced_histogram.width = f32::INFINITY),
            "ced_histogram.width"
        );
        assert_eq!(key(|c| c.ced_histogram.lo = f32::NAN), "ced_histogram.lo");
        assert_eq!(key(|c| c.ced_histogram.hi = -1.0), "ced_histogram.hi");
        let mut edge = a.clone();
        (edge.ced_histogram.bins, edge.ced_histogram.hi) = (2, -0.999);
        assert!(edge.validate().is_ok());
        let mut gan = a.clone();
        (gan.variant, gan.ced_on) = (VariantKind::Gan, CedInput::FidFeatures);
        assert_eq!(gan.validate().unwrap_err().key, "ced_on");
        gan.variant = VariantKind::Edgan;
        assert!(gan.validate().is_ok());
    }

    /// Each field of `[train]` at its boundary: the last allowed value passes, the first
    /// outside fails naming its key; a negative lr, margin or PT weight is refused.
    #[test]
    fn train_settings_and_arch_validation_cover_every_field() {
        let t = TrainSettings {
            g_updates: 1,
            ..TrainSettings::default()
        };
        assert!(t.validate().is_ok());
        let key = |f: fn(&mut TrainSettings)| {
            let mut c = t.clone();
            f(&mut c);
            c.validate().unwrap_err().key
        };
        assert_eq!(key(|c| c.batch = 0), "batch");
        assert_eq!(key(|c| c.g_updates = 0), "g_updates");
        assert_eq!(key(|c| c.d_steps = 0), "d_steps");
        assert_eq!(key(|c| c.dropout_p = 1.0), "dropout_p");
        assert_eq!(key(|c| c.d_init_std = 0.0), "d_init_std");
        assert_eq!(key(|c| c.g_init_std = -0.02), "g_init_std");
        assert_eq!(key(|c| c.adam_beta1 = 1.5), "adam_beta1");
        assert_eq!(key(|c| c.adam_beta2 = 1.0), "adam_beta2");
        assert_eq!(key(|c| c.adam_eps = 0.0), "adam_eps");
        assert_eq!(key(|c| c.sgd_momentum = -0.1), "sgd_momentum");
        assert_eq!(key(|c| c.bn_eps = f32::NAN), "bn_eps");
        let mut c = t.clone();
        (c.dropout_p, c.sgd_momentum) = (0.0, 0.99);
        assert!(c.validate().is_ok());

        let ok = GanConfig {
            arch: Arch::paper_best_ebgan_pt(),
            train: t,
        };
        assert!(ok.validate().is_ok());
        for f in [
            (|a: &mut Arch| a.lr = -0.001) as fn(&mut Arch),
            |a| a.lr = 0.0,
            |a| a.margin = -1.0,
            |a| a.pt_weight = -0.1,
        ] {
            let mut c = ok.clone();
            f(&mut c.arch);
            assert!(c.validate().unwrap_err().starts_with("arch: "));
        }
        let mut c = ok.clone();
        c.train.batch = 0;
        assert!(c.validate().unwrap_err().starts_with("train.batch = 0"));
    }
}
