//! `ebgan edgan …`: EDGAN on CIFAR-10 (issue 19; spec conv-gans-edgan.md) on the one image
//! harness: the paper's ablations (its Tables 1, 3, 4, 5) and peers (Table 6) as *arms*, one
//! configuration each ([`arms`]), every (arm, seed) a resumable run folder
//! `results/edgan/<profile>/<arm>_s<seed>/` trained by the face runs' loop
//! ([`crate::cmd::images::run::execute`]), and the tables and figures ([`table`]). Settings:
//! `configs/edgan.toml` (the two base protocols in full, and the profiles).

pub mod arms;
pub mod floor;
pub mod run;
pub mod table;

use anyhow::{Context, Result};
use gan_variants::ImageGanConfig;
use ladder::validate::{at_least, at_most_key, Checked, Invalid};
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
    /// Train one (arm, seed) run and write its folder.
    Run(run::Args),
    /// Print the run folders of a profile (for make), one per line.
    List(ProfileArgs),
    /// The real-vs-real FID/KID floor at the profile's n's (`<results>/edgan/<profile>/floor.csv`).
    Floor(floor::Args),
    /// The profile's tables and figures from its run folders.
    Table(table::Args),
}

pub fn main(args: Args) -> Result<()> {
    match args.command {
        Command::Run(a) => run::main(a),
        Command::List(a) => list(a),
        Command::Floor(a) => floor::main(a),
        Command::Table(a) => table::main(a),
    }
}

/// CIFAR-10 training images: the data of every run (FID's two real sets included).
pub const CIFAR_TRAIN: usize = 50_000;

/// `configs/edgan.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdganFile {
    /// EDGAN as the spec states it (algorithm 1 on OptimizedDCGAN): the base of Tables 3–6.
    pub edgan: ImageGanConfig,
    /// The figure-2 DCGAN baseline: the base of Table 1.
    pub dcgan: ImageGanConfig,
    pub profiles: BTreeMap<String, EdganProfile>,
}

/// One profile of `configs/edgan.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdganProfile {
    /// Generator updates of every run (the paper: 100,000).
    pub g_updates: u64,
    /// If set, every arm's batch (smoke runs only; arm names keep the protocol's batch).
    #[serde(default)]
    pub batch: Option<usize>,
    /// Seeds of Table 6's arms (the issue: 3 in `quick`).
    pub seeds: Vec<u64>,
    /// Seeds of the ablation rows (Tables 1, 3, 4, 5); EDGAN, their reference and a Table 6
    /// arm, runs these and `seeds`.
    pub ablation_seeds: Vec<u64>,
    /// λ of Table 3.
    pub lambdas: Vec<f32>,
    /// The tables whose arms run (of 1, 3, 4, 5, 6).
    pub tables: Vec<u8>,
    pub curve_every: u64,
    /// Samples of each curve row's FID/KID.
    pub curve_fid_n: usize,
    /// Samples of the final FID/KID; also the size of each of the two real sets.
    pub fid_n: usize,
    pub checkpoint_every: u64,
}

/// The tables the arms fill.
pub const TABLES: [u8; 5] = [1, 3, 4, 5, 6];

impl EdganProfile {
    /// Every field in range; errors name the key.
    pub fn validate(&self) -> Checked {
        at_least("g_updates", self.g_updates, 1)?;
        if let Some(b) = self.batch {
            at_least("batch", b as u64, 2)?;
        }
        let list = |key: &str, ok: bool, what: &str, v: String| {
            if ok {
                Ok(())
            } else {
                Err(Invalid::new(key, v, what.to_string()))
            }
        };
        for (key, seeds) in [
            ("seeds", &self.seeds),
            ("ablation_seeds", &self.ablation_seeds),
        ] {
            list(
                key,
                !seeds.is_empty() && crate::config::distinct(seeds),
                "a non-empty list of distinct seeds",
                format!("{seeds:?}"),
            )?;
        }
        list(
            "lambdas",
            !self.lambdas.is_empty() && self.lambdas.iter().all(|l| l.is_finite() && *l >= 0.0),
            "a non-empty list of weights ≥ 0",
            format!("{:?}", self.lambdas),
        )?;
        list(
            "tables",
            !self.tables.is_empty() && self.tables.iter().all(|t| TABLES.contains(t)),
            "a non-empty list of 1, 3, 4, 5, 6",
            format!("{:?}", self.tables),
        )?;
        at_least("curve_every", self.curve_every, 1)?;
        at_least("checkpoint_every", self.checkpoint_every, 1)?;
        // FID/KID of the 128 features need more samples than features.
        let min = gan_variants::metrics::feature_net::FEATURES as u64 + 1;
        at_least("curve_fid_n", self.curve_fid_n as u64, min)?;
        at_least("fid_n", self.fid_n as u64, min)?;
        at_most_key(
            "curve_fid_n",
            self.curve_fid_n as u64,
            "fid_n (curve scores use the first real set)",
            self.fid_n as u64,
        )?;
        at_most_key(
            "fid_n",
            self.fid_n as u64,
            "half the 50,000 CIFAR-10 training images (two disjoint real sets)",
            (CIFAR_TRAIN / 2) as u64,
        )
    }
}

/// Reads and checks `configs/edgan.toml`: both base configurations and every profile; errors
/// name the file and key.
pub fn load(path: &Path) -> Result<EdganFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: EdganFile =
        toml::from_str(&text).with_context(|| format!("malformed {}", path.display()))?;
    let bad =
        |key: &str, e: String| anyhow::anyhow!("invalid config {}: {key}: {e}", path.display());
    // The bases' g_updates is the profile's (0 in the file).
    for (key, base) in [("edgan", &file.edgan), ("dcgan", &file.dcgan)] {
        let mut c = base.clone();
        c.train.g_updates = c.train.g_updates.max(1);
        c.validate().map_err(|e| bad(key, e))?;
    }
    for (name, p) in &file.profiles {
        p.validate().map_err(|e| {
            anyhow::anyhow!(
                "invalid config {}: {}",
                path.display(),
                e.under(&format!("profiles.{name}"))
            )
        })?;
    }
    Ok(file)
}

impl EdganFile {
    /// The profile `name`, or an error listing the profiles.
    pub fn profile(&self, name: &str, path: &Path) -> Result<&EdganProfile> {
        self.profiles.get(name).with_context(|| {
            format!(
                "no profile '{name}' in {} (have: {})",
                path.display(),
                self.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }
}

/// Where the settings, data and results are.
#[derive(clap::Args, Debug, Clone)]
pub struct Paths {
    /// The settings file.
    #[arg(long, default_value = "configs/edgan.toml")]
    pub config: PathBuf,
    /// The results folder (runs in <results>/edgan/<profile>, the FID network in
    /// <results>/features/cifar-cnn).
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// CIFAR-10 folder with data_batch_1.bin … data_batch_5.bin (raw or .xz) (default:
    /// $CIFAR_DIR, then data/cifar10).
    #[arg(long)]
    pub cifar_dir: Option<PathBuf>,
}

impl Paths {
    /// The image experiments' paths (CIFAR-10 folder, FID network) for the same results.
    pub fn images(&self) -> crate::cmd::images::Paths {
        crate::cmd::images::Paths {
            config: PathBuf::from("configs/images.toml"),
            results: self.results.clone(),
            cifar_dir: self.cifar_dir.clone(),
            faces_dir: None,
            cache: PathBuf::from("data/cache"),
        }
    }
}

/// The folder of one run.
pub fn run_dir(results: &Path, profile: &str, id: &str) -> PathBuf {
    results.join("edgan").join(profile).join(id)
}

#[derive(clap::Args, Debug)]
/// The arguments of `list`, `floor` and `table`: a profile and the paths.
pub struct ProfileArgs {
    /// Profile of configs/edgan.toml.
    #[arg(long, default_value = "quick")]
    pub profile: String,
    #[command(flatten)]
    pub paths: Paths,
}

/// Prints `<profile>/<arm>_s<seed>` for every run of the profile, Table 6's arms first.
pub fn list(args: ProfileArgs) -> Result<()> {
    let file = load(&args.paths.config)?;
    let p = file.profile(&args.profile, &args.paths.config)?;
    for arm in arms::arms(&file, p) {
        for seed in &arm.seeds {
            println!("{}/{}", args.profile, arms::run_id(&arm.name, *seed));
        }
    }
    Ok(())
}
