//! `ebgan run`: one (model, labels, seed) run of a profile, into
//! `results/runs/<profile>/<model>/labels<n>/seed<k>/` — `config.toml` (written first),
//! `curve.csv` (rewritten atomically at every evaluation), `final.csv` (written last), and for
//! EBGAN-LN `samples.csv` (100 generator samples, pixels as bytes).

use crate::config::{Model, RunConfig};
use crate::data::{labeled_subset, Mnist, PIXELS};
use crate::io::{write_atomic, write_csv};
use anyhow::{Context, Result};
use dfdx::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use ladder::train::{Batch, StepStats, Trainer};
use ladder::{EbganLnTrainer, LnTrainer, TestBnStats};
use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// One row of `curve.csv`: means over the steps since the previous row, ending at `step`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurveRow {
    pub step: u64,
    pub lr: f32,
    pub margin: Option<f32>,
    pub ce: f64,
    pub real_energy: f64,
    pub fake_energy: Option<f64>,
    pub hinge: Option<f64>,
    pub g_loss: Option<f64>,
    /// Test error (fraction) at evaluation steps, for learning curves only.
    pub test_error: Option<f64>,
    pub wall_seconds: f64,
}

/// The one row of `final.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinalRow {
    pub model: Model,
    pub labels: usize,
    pub seed: u64,
    pub profile: String,
    pub steps: u64,
    /// Test error (fraction) of the clean pass at the end; empty when the run diverged.
    pub test_error: Option<f64>,
    pub wall_seconds: f64,
    /// `ok`, or `diverged@<step>` when a loss became NaN or infinite.
    pub status: String,
}

/// The data stream of one run: the labeled set cycled, and the 60,000 training images as the
/// unlabeled pool, each reshuffled at every pass from the run's data RNG.
pub struct Batches {
    labeled: Vec<usize>,
    unlabeled: Vec<usize>,
    pos_l: usize,
    pos_u: usize,
    rng: StdRng,
    batch: usize,
    pub x_l: Vec<f32>,
    pub y_l: Vec<u8>,
    pub x_u: Vec<f32>,
}

impl Batches {
    pub fn new(labeled: Vec<usize>, pool: usize, batch: usize, seed: u64) -> Self {
        let mut s = Self {
            labeled,
            unlabeled: (0..pool).collect(),
            pos_l: 0,
            pos_u: 0,
            rng: StdRng::seed_from_u64(seed),
            batch,
            x_l: Vec::new(),
            y_l: Vec::new(),
            x_u: Vec::new(),
        };
        s.labeled.shuffle(&mut s.rng);
        s.unlabeled.shuffle(&mut s.rng);
        s
    }

    /// Fills `x_l`, `y_l`, `x_u` with the next batches.
    pub fn next(&mut self, data: &crate::data::Split) {
        self.x_l.clear();
        self.y_l.clear();
        self.x_u.clear();
        for _ in 0..self.batch {
            if self.pos_l == self.labeled.len() {
                self.labeled.shuffle(&mut self.rng);
                self.pos_l = 0;
            }
            let i = self.labeled[self.pos_l];
            self.pos_l += 1;
            self.x_l.extend_from_slice(data.image(i));
            self.y_l.push(data.labels[i]);
            if self.pos_u == self.unlabeled.len() {
                self.unlabeled.shuffle(&mut self.rng);
                self.pos_u = 0;
            }
            self.x_u
                .extend_from_slice(data.image(self.unlabeled[self.pos_u]));
            self.pos_u += 1;
        }
    }

    pub fn batch(&self) -> Batch<'_> {
        Batch {
            labeled_x: &self.x_l,
            labeled_y: &self.y_l,
            unlabeled_x: &self.x_u,
        }
    }
}

/// Window sums for one curve row.
#[derive(Default)]
struct Window {
    n: f64,
    ce: f64,
    real: f64,
    fake: f64,
    hinge: f64,
    g: f64,
    fake_n: f64,
    g_n: f64,
}

impl Window {
    fn add(&mut self, s: &StepStats) {
        self.n += 1.0;
        self.ce += s.ce as f64;
        self.real += s.real_energy as f64;
        if let (Some(f), Some(h)) = (s.fake_energy, s.hinge) {
            self.fake += f as f64;
            self.hinge += h as f64;
            self.fake_n += 1.0;
        }
        if let Some(g) = s.g_loss {
            self.g += g as f64;
            self.g_n += 1.0;
        }
    }
    fn row(&self, step: u64, last: &StepStats, test_error: Option<f64>, wall: f64) -> CurveRow {
        let avg = |sum: f64, n: f64| (n > 0.0).then(|| sum / n);
        CurveRow {
            step,
            lr: last.lr,
            margin: last.margin,
            ce: self.ce / self.n,
            real_energy: self.real / self.n,
            fake_energy: avg(self.fake, self.fake_n),
            hinge: avg(self.hinge, self.fake_n),
            g_loss: avg(self.g, self.g_n),
            test_error,
            wall_seconds: wall,
        }
    }
}

/// Trains one run and writes its folder. Returns the final row.
pub fn execute(cfg: &RunConfig, data: &Mnist, out: &Path, quiet: bool) -> Result<FinalRow> {
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create run folder {}", out.display()))?;
    write_atomic(&out.join("config.toml"), toml::to_string(cfg)?.as_bytes())?;
    let dev = Cpu::seed_from_u64(cfg.seed);
    let labeled = labeled_subset(&data.train.labels, cfg.labels, cfg.seed)?;
    let mut labeled_images = Vec::with_capacity(labeled.len() * PIXELS);
    for &i in &labeled {
        labeled_images.extend_from_slice(data.train.image(i));
    }
    let mut batches = Batches::new(
        labeled,
        data.train.len(),
        cfg.ladder.batch_size,
        cfg.seed ^ 0x5eed_da7a,
    );
    let row = match cfg.model {
        Model::Ln => {
            let mut t = LnTrainer::new(
                &dev,
                cfg.ladder.clone(),
                cfg.ln.clone().context("LN protocol missing")?,
            );
            train(cfg, data, &labeled_images, &mut batches, &mut t, out, quiet)?
        }
        Model::EbganLn => {
            let mut t = EbganLnTrainer::new(
                &dev,
                cfg.ladder.clone(),
                cfg.ebgan_ln.clone().context("EBGAN-LN protocol missing")?,
            );
            let row = train(cfg, data, &labeled_images, &mut batches, &mut t, out, quiet)?;
            write_samples(&out.join("samples.csv"), &t.samples(100))?;
            row
        }
    };
    // final.csv is written last: its presence marks a finished run (make's target).
    write_csv(&out.join("final.csv"), std::slice::from_ref(&row))?;
    Ok(row)
}

/// Writes samples as CSV, one image a row, pixels rounded to bytes 0..=255.
pub fn write_samples(path: &Path, samples: &[f32]) -> Result<()> {
    let mut s = String::new();
    s.push_str(
        &(0..PIXELS)
            .map(|i| format!("p{i}"))
            .collect::<Vec<_>>()
            .join(","),
    );
    s.push('\n');
    for img in samples.chunks_exact(PIXELS) {
        let row: Vec<String> = img
            .iter()
            .map(|v| ((v.clamp(0.0, 1.0) * 255.0).round() as u8).to_string())
            .collect();
        s.push_str(&row.join(","));
        s.push('\n');
    }
    write_atomic(path, s.as_bytes())
}

/// The training loop shared by both models; writes `curve.csv` and returns the final row.
fn train(
    cfg: &RunConfig,
    data: &Mnist,
    labeled_images: &[f32],
    batches: &mut Batches,
    trainer: &mut impl Trainer,
    out: &Path,
    quiet: bool,
) -> Result<FinalRow> {
    let steps = trainer.total_steps();
    let start = Instant::now();
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(steps)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} {bar:30} {pos}/{len} steps  {elapsed} elapsed, ETA {eta}  {msg}",
        )
        .expect("valid template"),
    );
    bar.set_prefix(format!(
        "{} labels={} seed={}",
        cfg.model.label(),
        cfg.labels,
        cfg.seed
    ));
    let stat_batches = |cfg: &RunConfig| -> Vec<&[f32]> {
        let b = cfg.ladder.batch_size * PIXELS;
        match cfg.ladder.test_bn_stats {
            TestBnStats::Labeled => labeled_images.chunks_exact(b).collect(),
            TestBnStats::AllTrain => data.train.images.chunks_exact(b).collect(),
        }
    };
    let mut curve: Vec<CurveRow> = Vec::new();
    let mut window = Window::default();
    let mut status = "ok".to_string();
    for t in 0..steps {
        batches.next(&data.train);
        let last = trainer.train_step(t, &batches.batch());
        if !last.is_finite() {
            status = format!("diverged@{t}");
            window.add(&last);
            curve.push(window.row(t, &last, None, start.elapsed().as_secs_f64()));
            break;
        }
        window.add(&last);
        let done = t + 1;
        let eval_now = done % cfg.eval_every == 0 || done == steps;
        if done % cfg.curve_every == 0 || eval_now {
            let err = eval_now.then(|| {
                ladder::evaluate(
                    trainer,
                    stat_batches(cfg).into_iter(),
                    &data.test.images,
                    &data.test.labels,
                )
            });
            curve.push(window.row(t, &last, err, start.elapsed().as_secs_f64()));
            window = Window::default();
            if let Some(e) = err {
                bar.set_message(format!("test error {:.2}%", 100.0 * e));
                write_csv(&out.join("curve.csv"), &curve)?;
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    write_csv(&out.join("curve.csv"), &curve)?;
    let test_error = if status == "ok" {
        curve.last().and_then(|r| r.test_error)
    } else {
        None
    };
    Ok(FinalRow {
        model: cfg.model,
        labels: cfg.labels,
        seed: cfg.seed,
        profile: cfg.profile.clone(),
        steps,
        test_error,
        wall_seconds: start.elapsed().as_secs_f64(),
        status,
    })
}

/// Common location flags.
#[derive(clap::Args, Clone, Debug)]
pub struct Paths {
    /// Folder with configs (profiles.toml, ln.toml, ebgan-ln.toml).
    #[arg(long, default_value = "configs")]
    pub configs: std::path::PathBuf,
    /// Results folder (runs go to <results>/runs/<profile>/...).
    #[arg(long, default_value = "results")]
    pub results: std::path::PathBuf,
}

impl Paths {
    pub fn layout(&self) -> crate::config::Layout {
        crate::config::Layout {
            configs: self.configs.clone(),
            results: self.results.clone(),
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(long, value_enum)]
    pub model: Model,
    /// Number of labeled examples (n/10 per class).
    #[arg(long)]
    pub labels: usize,
    #[arg(long)]
    pub seed: u64,
    /// Profile of configs/profiles.toml: paper, quick or smoke.
    #[arg(long, default_value = "quick")]
    pub profile: String,
    /// MNIST folder (default: $MNIST_DIR, then data/mnist).
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
    /// Output folder (default: <results>/runs/<profile>/<model>/labels<n>/seed<k>).
    #[arg(long)]
    pub out_dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub paths: Paths,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

pub fn main(args: Args) -> Result<()> {
    let layout = args.paths.layout();
    let cfg = crate::config::resolve(
        &layout.configs,
        &args.profile,
        args.model,
        args.labels,
        args.seed,
    )?;
    let out = args
        .out_dir
        .clone()
        .unwrap_or_else(|| layout.run_dir(&args.profile, args.model, args.labels, args.seed));
    let data = crate::data::load_mnist(&crate::data::resolve_dir(args.data_dir.as_deref()))?;
    let row = execute(&cfg, &data, &out, args.quiet)?;
    match row.test_error {
        Some(e) => eprintln!(
            "{} labels={} seed={}: test error {:.2}% ({:.0} s) -> {}",
            cfg.model.label(),
            cfg.labels,
            cfg.seed,
            100.0 * e,
            row.wall_seconds,
            out.display()
        ),
        None => eprintln!(
            "{} labels={} seed={}: {} -> {}",
            cfg.model.label(),
            cfg.labels,
            cfg.seed,
            row.status,
            out.display()
        ),
    }
    Ok(())
}
