//! `ebgan gan run --profile P --id ID`: trains one configuration of the grid family and writes
//! `results/gans/<P>/<ID>/`: `config.toml` (first), `curve.csv` (losses, D's outputs and I'
//! every `curve_every` G updates), `final.csv` (last: I', inception score, class histogram,
//! status), and with `--samples` a `samples.csv` of 100 samples (28 × 28 bytes).

use super::{load_profile, GanProfile, Paths};
use crate::cmd::run::{write_samples, RunLock, CODE_VERSION};
use crate::data::Mnist;
use crate::io::{write_atomic, write_csv};
use anyhow::{Context, Result};
use dfdx::prelude::*;
use gan_variants::classifier::Classifier;
use gan_variants::harness::{stream, StepStats, Stream};
use gan_variants::score::{scores, Scores};
use gan_variants::shapes::{crop_to_28, PIXELS};
use gan_variants::variants::build;
use gan_variants::{Arch, GanConfig};
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// Everything that determines a run; saved as its `config.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GanRunConfig {
    pub id: String,
    pub profile: String,
    pub seed: u64,
    pub curve_every: u64,
    pub curve_samples: usize,
    pub final_samples: usize,
    /// G and D train on training images 0..train_images (60,000: all of them). Runs with a
    /// Parzen estimate hold the last `parzen_validation` images out, so that σ is chosen on
    /// images the generator never saw.
    #[serde(default = "all_train_images")]
    pub train_images: usize,
    pub config: GanConfig,
}

fn all_train_images() -> usize {
    MNIST_TRAIN
}

/// Images in the MNIST training set.
pub const MNIST_TRAIN: usize = 60_000;

/// One row of `curve.csv`: means over the G updates since the previous row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GanCurveRow {
    pub g_update: u64,
    pub d_loss: f64,
    pub g_loss: f64,
    /// GAN: mean D(x) on real / fake rows; EBGAN: mean energy.
    pub d_real: f64,
    pub d_fake: f64,
    pub pt: Option<f64>,
    /// Energy GAN: mean ‖∇ₓU‖² at the real rows, before λ₁ (empty for other variants and in
    /// files written before the column existed).
    #[serde(default)]
    pub grad_penalty: Option<f64>,
    /// Energy GAN with the MI term: mean ‖z − E(G(z))‖², before λ₂.
    #[serde(default)]
    pub latent_error: Option<f64>,
    /// I' of `curve_samples` samples at this update.
    pub i_prime: f64,
    pub wall_seconds: f64,
}

/// The one row of `final.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GanFinalRow {
    pub id: String,
    pub variant: String,
    pub n_layer_g: usize,
    pub n_layer_d: usize,
    pub size_g: usize,
    pub size_d: usize,
    pub dropout_d: bool,
    pub optim_d: String,
    pub optim_g: String,
    pub lr: f32,
    pub margin: f32,
    pub pt_weight: f32,
    pub profile: String,
    pub seed: u64,
    pub g_updates: u64,
    /// Scores of `final_samples` samples; empty when the run diverged.
    pub i_prime: Option<f64>,
    pub inception_score: Option<f64>,
    pub histogram_entropy: Option<f64>,
    /// Samples per arg-max class 0..9, space-separated.
    pub histogram: String,
    pub status: String,
    pub wall_seconds: f64,
    pub code: String,
}

/// The resolved config of `id` under `profile`.
pub fn resolve(
    paths: &Paths,
    profile: &str,
    id: &str,
    seed: Option<u64>,
) -> Result<(GanRunConfig, GanProfile)> {
    let (train, p) = load_profile(&paths.configs, profile)?;
    let arch = Arch::from_id(id).map_err(anyhow::Error::msg)?;
    let cfg = GanRunConfig {
        id: id.to_string(),
        profile: profile.to_string(),
        seed: seed.unwrap_or(p.seed),
        curve_every: p.curve_every,
        curve_samples: p.curve_samples,
        final_samples: p.final_samples,
        train_images: MNIST_TRAIN,
        config: GanConfig { arch, train },
    };
    Ok((cfg, p))
}

/// The real rows of D step c: items c·B .. (c+1)·B of the endless sequence of epochs, each a
/// fresh permutation from the stream (seed, DataOrder, epoch).
pub struct RealBatches<'a> {
    images: &'a [f32],
    width: usize,
    seed: u64,
    order: (u64, Vec<usize>),
}

impl<'a> RealBatches<'a> {
    /// Padded MNIST images (PIXELS values each).
    pub fn new(images: &'a [f32], seed: u64) -> Self {
        Self::with_width(images, PIXELS, seed)
    }

    /// Images of `width` values each.
    pub fn with_width(images: &'a [f32], width: usize, seed: u64) -> Self {
        Self {
            images,
            width,
            seed,
            order: (u64::MAX, Vec::new()),
        }
    }

    /// Appends batch `c` (`batch` images) to `out`.
    pub fn fill(&mut self, c: u64, batch: usize, out: &mut Vec<f32>) {
        let w = self.width;
        let n = (self.images.len() / w) as u64;
        for k in c * batch as u64..(c + 1) * batch as u64 {
            if self.order.0 != k / n {
                let mut order: Vec<usize> = (0..n as usize).collect();
                order.shuffle(&mut stream(self.seed, Stream::DataOrder, k / n));
                self.order = (k / n, order);
            }
            let i = self.order.1[(k % n) as usize];
            out.extend_from_slice(&self.images[i * w..(i + 1) * w]);
        }
    }
}

#[derive(Default)]
struct Window {
    n: usize,
    d: f64,
    g: f64,
    real: f64,
    fake: f64,
    pt: Option<f64>,
    grad_penalty: Option<f64>,
    latent_error: Option<f64>,
}

/// Adds `v` to an optional running sum (the sum exists once a step has reported a value).
fn add_opt(sum: &mut Option<f64>, v: Option<f32>) {
    if let Some(v) = v {
        *sum = Some(sum.unwrap_or(0.0) + v as f64);
    }
}

impl Window {
    fn add(&mut self, s: &StepStats) {
        self.n += 1;
        self.d += s.d_loss as f64;
        self.g += s.g_loss as f64;
        self.real += s.d.real.unwrap_or(f32::NAN) as f64;
        self.fake += s.d.fake.unwrap_or(f32::NAN) as f64;
        add_opt(&mut self.pt, s.g.pt);
        add_opt(&mut self.grad_penalty, s.d.grad_penalty);
        add_opt(&mut self.latent_error, s.g.latent_error);
    }
    fn row(&self, g_update: u64, i_prime: f64, wall: f64) -> GanCurveRow {
        let k = self.n.max(1) as f64;
        GanCurveRow {
            g_update,
            d_loss: self.d / k,
            g_loss: self.g / k,
            d_real: self.real / k,
            d_fake: self.fake / k,
            pt: self.pt.map(|v| v / k),
            grad_penalty: self.grad_penalty.map(|v| v / k),
            latent_error: self.latent_error.map(|v| v / k),
            i_prime,
            wall_seconds: wall,
        }
    }
}

/// What a run writes besides its curve and final row.
#[derive(Clone, Copy, Debug, Default)]
pub struct Extras {
    /// samples.csv: 100 samples for the figures.
    pub samples: bool,
    /// parzen.csv: the Parzen estimate with this many samples and validation images.
    pub parzen: Option<(usize, usize)>,
    pub quiet: bool,
}

/// Trains `cfg` and writes its folder; returns the final row.
pub fn execute(
    cfg: &GanRunConfig,
    data: &Mnist,
    classifier: &Classifier,
    out: &Path,
    extras: Extras,
) -> Result<GanFinalRow> {
    execute_with(cfg, data, classifier, out, extras, &[], &mut |_| Ok(()))
}

/// [`execute`] that also writes `sidecars` (file name, contents) beside `config.toml` once the
/// run's lock is held (so a process refused by the lock changes no file of the folder), and
/// runs `after` on the trained model of a run that did not diverge, before `final.csv` is
/// written (so a finished run includes what `after` writes).
pub fn execute_with(
    cfg: &GanRunConfig,
    data: &Mnist,
    classifier: &Classifier,
    out: &Path,
    extras: Extras,
    sidecars: &[(&str, &[u8])],
    after: &mut dyn FnMut(&dyn gan_variants::harness::GanTrainer) -> Result<()>,
) -> Result<GanFinalRow> {
    let quiet = extras.quiet;
    let start = Instant::now();
    let dev = Cpu::seed_from_u64(cfg.seed);
    let mut trainer = build(&dev, &cfg.config, cfg.seed).map_err(anyhow::Error::msg)?;
    let train = &cfg.config.train;
    if let Some((_, v)) = extras.parzen {
        // Checked before training: σ must be chosen on images the generator never sees.
        let n = data.train.len();
        if v == 0 || v > n {
            anyhow::bail!("parzen_validation = {v} must be between 1 and the {n} training images");
        }
        if cfg.train_images > n - v {
            anyhow::bail!(
                "Parzen σ would be chosen on training images {}..{n}, but the generator trains on images 0..{}: train on at most {} (ebgan gan run --parzen does so)",
                n - v,
                cfg.train_images,
                n - v
            );
        }
    }
    if cfg.train_images == 0 || cfg.train_images > data.train.len() {
        anyhow::bail!(
            "train_images = {} must be between 1 and the {} training images",
            cfg.train_images,
            data.train.len()
        );
    }
    // Every check above can fail: nothing is created before this point.
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let _lock = RunLock::acquire_unfinished(out)?;
    write_atomic(&out.join("config.toml"), toml::to_string(cfg)?.as_bytes())?;
    for (name, bytes) in sidecars {
        write_atomic(&out.join(name), bytes)?;
    }
    let images = super::padded(&data.train.slice(0..cfg.train_images));
    let mut batches = RealBatches::new(&images, cfg.seed);
    let steps = train.g_updates;
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(steps)
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix} {bar:30} {pos}/{len} G updates, ETA {eta}  {msg}")
            .expect("valid template"),
    );
    bar.set_prefix(cfg.id.clone());
    let i_prime_of = |s: &[f32]| scores(&classifier.log_probs(s)).i_prime;
    let mut curve = Vec::new();
    let mut window = Window::default();
    let mut status = "ok".to_string();
    let mut reals = Vec::with_capacity(train.d_steps * train.batch * PIXELS);
    let mut done = 0;
    for t in 0..steps {
        reals.clear();
        for i in 0..train.d_steps as u64 {
            batches.fill(t * train.d_steps as u64 + i, train.batch, &mut reals);
        }
        let s = trainer.step(t, &reals);
        window.add(&s);
        if !s.is_finite() {
            status = format!("diverged@{t}");
            curve.push(window.row(t + 1, f64::NAN, start.elapsed().as_secs_f64()));
            break;
        }
        done = t + 1;
        if done % cfg.curve_every == 0 && done < steps {
            let ip = i_prime_of(&trainer.samples(cfg.curve_samples, done));
            curve.push(window.row(done, ip, start.elapsed().as_secs_f64()));
            window = Window::default();
            bar.set_message(format!("I' {ip:.3}"));
            write_csv(&out.join("curve.csv"), &curve)?;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let final_scores: Option<Scores> = (status == "ok").then(|| {
        let samples = trainer.samples(cfg.final_samples, 0);
        scores(&classifier.log_probs(&samples))
    });
    if let Some(s) = &final_scores {
        // The last curve row scores the final samples (I' of `final_samples`).
        curve.push(window.row(done, s.i_prime, start.elapsed().as_secs_f64()));
        if extras.samples {
            write_samples(
                &out.join("samples.csv"),
                &crop_to_28(&trainer.samples(100, 1)),
            )?;
        }
        if let Some((n, v)) = extras.parzen {
            let row =
                super::parzen::estimate(&cfg.id, trainer.as_ref(), data, n, v, cfg.train_images)?;
            write_csv(&out.join("parzen.csv"), std::slice::from_ref(&row))?;
        }
        after(trainer.as_ref())?;
    }
    write_csv(&out.join("curve.csv"), &curve)?;
    let a = &cfg.config.arch;
    let row = GanFinalRow {
        id: cfg.id.clone(),
        variant: a.variant.name().to_string(),
        n_layer_g: a.n_layer_g,
        n_layer_d: a.n_layer_d,
        size_g: a.size_g,
        size_d: a.size_d,
        dropout_d: a.dropout_d,
        optim_d: a.optim_d.name().to_string(),
        optim_g: a.optim_g.name().to_string(),
        lr: a.lr,
        margin: a.margin,
        pt_weight: a.pt_weight,
        profile: cfg.profile.clone(),
        seed: cfg.seed,
        g_updates: done,
        i_prime: final_scores.as_ref().map(|s| s.i_prime),
        inception_score: final_scores.as_ref().map(|s| s.inception),
        histogram_entropy: final_scores.as_ref().map(|s| s.histogram_entropy),
        histogram: final_scores
            .as_ref()
            .map(|s| {
                s.histogram
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default(),
        status,
        wall_seconds: start.elapsed().as_secs_f64(),
        code: CODE_VERSION.to_string(),
    };
    // final.csv last: its presence marks a finished run (make's target).
    write_csv(&out.join("final.csv"), std::slice::from_ref(&row))?;
    Ok(row)
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Configuration id, e.g. ebgan_g5x800_d2x1024_nodrop_adam-adam_lr0.001_m10.
    #[arg(long)]
    pub id: String,
    /// Profile of configs/gans.toml: paper, quick or smoke.
    #[arg(long, default_value = "quick")]
    pub profile: String,
    /// Training seed (default: the profile's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// MNIST folder (default: $MNIST_DIR, then data/mnist).
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
    /// Output folder (default: <results>/gans/<profile>/<id>).
    #[arg(long)]
    pub out_dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub paths: Paths,
    /// Also write samples.csv (100 samples) for the sample figures.
    #[arg(long)]
    pub samples: bool,
    /// Also write parzen.csv, the Parzen-window test log-likelihood (profile's sizes). The run
    /// then trains without the last `parzen_validation` training images, on which σ is chosen.
    #[arg(long)]
    pub parzen: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Retrain a run whose folder already holds a finished final.csv (otherwise it is kept and
    /// nothing is done).
    #[arg(long)]
    pub force: bool,
}

pub fn main(args: Args) -> Result<()> {
    let (mut cfg, profile) = resolve(&args.paths, &args.profile, &args.id, args.seed)?;
    if args.parzen {
        // σ is chosen on the last `parzen_validation` training images: hold them out.
        cfg.train_images = MNIST_TRAIN
            .checked_sub(profile.parzen_validation)
            .filter(|n| *n > 0 && profile.parzen_validation > 0)
            .with_context(|| {
                format!(
                    "parzen_validation = {} in profile '{}' must be between 1 and {} (it is held out of training)",
                    profile.parzen_validation,
                    args.profile,
                    MNIST_TRAIN - 1
                )
            })?;
    }
    let out = args
        .out_dir
        .clone()
        .unwrap_or_else(|| args.paths.run_dir(&args.profile, &args.id));
    cfg.config
        .validate()
        .map_err(|e| anyhow::anyhow!("invalid setting: {e}"))?;
    if out.join("final.csv").exists() && !args.force {
        let saved = std::fs::read_to_string(out.join("config.toml"))
            .ok()
            .and_then(|t| toml::from_str::<GanRunConfig>(&t).ok());
        if saved.as_ref() != Some(&cfg) {
            anyhow::bail!(
                "{} holds a run finished with another config (or without a readable config.toml); --force retrains it, or delete the folder",
                out.display()
            );
        }
        eprintln!(
            "{} is finished (final.csv exists): kept, nothing done; --force retrains it",
            out.display()
        );
        return Ok(());
    }
    if args.force {
        crate::cmd::run::clear_for_retraining(&out, false)?;
    }
    let data = crate::data::load_mnist(&crate::data::resolve_dir(args.data_dir.as_deref()))?;
    let classifier = super::classifier::load_or_train(&args.paths.classifier, &data)?;
    let extras = Extras {
        samples: args.samples,
        parzen: args
            .parzen
            .then_some((profile.parzen_samples, profile.parzen_validation)),
        quiet: args.quiet,
    };
    let row = execute(&cfg, &data, &classifier, &out, extras)?;
    match row.i_prime {
        Some(ip) => eprintln!(
            "{}: I' {ip:.3}, IS {:.2} ({:.0} s) -> {}",
            row.id,
            row.inception_score.unwrap_or(f64::NAN),
            row.wall_seconds,
            out.display()
        ),
        None => eprintln!("{}: {} -> {}", row.id, row.status, out.display()),
    }
    Ok(())
}
