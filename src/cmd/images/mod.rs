//! `ebgan images …`: the image experiments (image-GAN issue; spec conv-gans-edgan.md) on the
//! one `gan_variants` harness: the FID feature network ([`features`]), one face run
//! ([`run`]), and the face table and figure ([`table`]). Settings: `configs/images.toml`.

pub mod features;
pub mod run;
pub mod table;

use anyhow::{Context, Result};
use ladder::validate::{at_least, positive, Checked, Invalid};
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
    /// Train the FID-cifar-cnn feature network on CIFAR-10 and save it.
    Features(features::Args),
    /// Train one face run (DCGAN, EBGAN or EBGAN-PT) and write its folder.
    Run(run::Args),
    /// Print one command per run of a profile's face comparison and margin sweep.
    Jobs(run::JobsArgs),
    /// The FID/KID table and the sample figure of a profile's face runs.
    Table(table::Args),
}

pub fn main(args: Args) -> Result<()> {
    match args.command {
        Command::Features(a) => features::main(a),
        Command::Run(a) => run::main(a),
        Command::Jobs(a) => run::jobs(a),
        Command::Table(a) => table::main(a),
    }
}

/// `[features]` of `configs/images.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSettings {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f32,
    pub train_images: usize,
    /// Held-out images checked: images train_images .. train_images + heldout_images.
    pub heldout_images: usize,
    pub seed: u64,
    pub min_accuracy: f64,
}

/// `[faces]`: what every face profile shares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaceSettings {
    pub lr_d: f32,
    pub lr_g: f32,
    pub margin: f32,
    pub pt_weight: f32,
    pub crop: u32,
}

/// One profile of the face runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaceProfile {
    pub side: usize,
    pub batch: usize,
    pub g_updates: u64,
    pub seeds: Vec<u64>,
    pub margins: Vec<f32>,
    /// A curve row (losses, energies, FID/KID at `curve_fid_n`, a sample grid) every this
    /// many G updates.
    pub curve_every: u64,
    pub curve_fid_n: usize,
    /// n of the final FID/KID (samples, real images, and each half of the real-vs-real floor).
    pub fid_n: usize,
    pub checkpoint_every: u64,
}

/// `configs/images.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagesConfig {
    pub features: FeatureSettings,
    pub faces: FaceSettings,
    pub profiles: BTreeMap<String, FaceProfile>,
}

impl FeatureSettings {
    pub fn validate(&self) -> Checked {
        at_least("epochs", self.epochs as u64, 1)?;
        at_least("batch", self.batch as u64, 2)?;
        positive("lr", self.lr as f64)?;
        at_least("train_images", self.train_images as u64, 1000)?;
        at_least("heldout_images", self.heldout_images as u64, 100)?;
        if self.train_images + self.heldout_images > 50_000 {
            return Err(Invalid::new(
                "heldout_images",
                self.heldout_images,
                format!(
                    "at most {} (train_images + heldout_images ≤ the 50,000 CIFAR-10 training images)",
                    50_000usize.saturating_sub(self.train_images)
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.min_accuracy) {
            return Err(Invalid::new("min_accuracy", self.min_accuracy, "in [0, 1]"));
        }
        Ok(())
    }
}

impl FaceSettings {
    pub fn validate(&self) -> Checked {
        positive("lr_d", self.lr_d as f64)?;
        positive("lr_g", self.lr_g as f64)?;
        ladder::validate::non_negative("margin", self.margin as f64)?;
        ladder::validate::non_negative("pt_weight", self.pt_weight as f64)?;
        at_least("crop", self.crop as u64, 1)
    }
}

impl FaceProfile {
    pub fn validate(&self) -> Checked {
        if ![32, 64].contains(&self.side) {
            return Err(Invalid::new("side", self.side, "32 or 64"));
        }
        at_least("batch", self.batch as u64, 2)?;
        at_least("g_updates", self.g_updates, 1)?;
        if self.seeds.is_empty() {
            return Err(Invalid::new("seeds", "[]", "at least one seed"));
        }
        if self.margins.iter().any(|m| !(m.is_finite() && *m >= 0.0)) {
            return Err(Invalid::new(
                "margins",
                format!("{:?}", self.margins),
                "each ≥ 0",
            ));
        }
        at_least("curve_every", self.curve_every, 1)?;
        at_least("checkpoint_every", self.checkpoint_every, 1)?;
        // FID needs more samples than the 128 feature dimensions (a full-rank covariance).
        let min = gan_variants::metrics::feature_net::FEATURES as u64 + 1;
        at_least("curve_fid_n", self.curve_fid_n as u64, min)?;
        at_least("fid_n", self.fid_n as u64, min)?;
        ladder::validate::at_most_key(
            "curve_fid_n",
            self.curve_fid_n as u64,
            "fid_n",
            self.fid_n as u64,
        )
    }
}

/// Reads and checks `configs/images.toml` (errors name the file and the key).
pub fn load_config(path: &Path) -> Result<ImagesConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let cfg: ImagesConfig =
        toml::from_str(&text).with_context(|| format!("invalid config {}", path.display()))?;
    let bad = |e: Invalid| anyhow::anyhow!("invalid config {}: {e}", path.display());
    cfg.features
        .validate()
        .map_err(|e| bad(e.under("features")))?;
    cfg.faces.validate().map_err(|e| bad(e.under("faces")))?;
    for (name, p) in &cfg.profiles {
        p.validate()
            .map_err(|e| bad(e.under(&format!("profiles.{name}"))))?;
    }
    Ok(cfg)
}

impl ImagesConfig {
    /// The profile `name`, or an error listing the profiles.
    pub fn profile(&self, name: &str, path: &Path) -> Result<&FaceProfile> {
        self.profiles.get(name).with_context(|| {
            format!(
                "no profile {name} in {}: the profiles are {}",
                path.display(),
                self.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }
}

/// Where the settings, data and results are (shared flags).
#[derive(clap::Args, Debug, Clone)]
pub struct Paths {
    /// The settings file.
    #[arg(long, default_value = "configs/images.toml")]
    pub config: PathBuf,
    /// The results folder (feature network in <results>/features, face runs in
    /// <results>/faces/<profile>).
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// CIFAR-10 folder with data_batch_1.bin … data_batch_5.bin (raw or .xz) (default:
    /// $CIFAR_DIR, then data/cifar10).
    #[arg(long)]
    pub cifar_dir: Option<PathBuf>,
    /// Folder of face images (JPEG/PNG; default: $CELEBA_DIR, then data/celeba-10k, in which
    /// an img_align_celeba/ subfolder is used if present).
    #[arg(long)]
    pub faces_dir: Option<PathBuf>,
    /// Where decoded and resized image sets are cached (one checked file per set).
    #[arg(long, default_value = "data/cache")]
    pub cache: PathBuf,
}

impl Paths {
    pub fn cifar(&self) -> PathBuf {
        self.cifar_dir
            .clone()
            .or_else(|| std::env::var_os("CIFAR_DIR").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("data/cifar10"))
    }

    pub fn faces(&self) -> PathBuf {
        let dir = self
            .faces_dir
            .clone()
            .or_else(|| std::env::var_os("CELEBA_DIR").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("data/celeba-10k"));
        let inner = dir.join("img_align_celeba");
        if inner.is_dir() {
            inner
        } else {
            dir
        }
    }

    /// The feature network's files.
    pub fn feature_net(&self) -> PathBuf {
        self.results.join("features").join("cifar-cnn")
    }
}

/// The face images at `side` × `side` (centre crop `crop`, then resize), decoded once and
/// cached.
pub fn load_faces(paths: &Paths, side: usize, crop: u32) -> Result<crate::images::Images> {
    let dir = paths.faces();
    if !dir.is_dir() {
        anyhow::bail!(
            "face folder {} does not exist: put CelebA's aligned JPEG faces (img_align_celeba/) there, or point --faces-dir / CELEBA_DIR at a folder of face images",
            dir.display()
        );
    }
    let prep = crate::images::FolderPrep {
        side: side as u32,
        crop: Some(crop),
    };
    let key = crate::images::folder_key(&dir, prep)?;
    crate::images::cached(&paths.cache, &key, || {
        eprintln!(
            "decoding the images of {} (cached afterwards)",
            dir.display()
        );
        crate::images::load_image_folder(&dir, prep)
    })
}
