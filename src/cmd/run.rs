//! `ebgan run`: one (model, labels, seed) run of a profile, into
//! `results/runs/<profile>/<model>/labels<n>/seed<k>/` — `config.toml` (written first),
//! `curve.csv` (rewritten atomically at every evaluation), `final.csv` (written last), and for
//! EBGAN-LN `samples.csv` (100 generator samples, pixels as bytes).

use crate::config::{EvalSplit, Model, Overrides, RunConfig, VALIDATION_TRAIN};
use crate::data::{labeled_subset, Mnist, PIXELS};
use crate::io::{write_atomic, write_csv};
use anyhow::{Context, Result};
use dfdx::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use ladder::rng::{stream, Purpose};
use ladder::train::{Batch, StepStats, Trainer};
use ladder::{EbganLnTrainer, LnTrainer, TestBnStats};
use rand::seq::SliceRandom;
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
    /// Error (fraction) of the clean pass at the end on the scored split (the test set, or the
    /// validation images of a `--split validation` run, see its config.toml); empty when the
    /// run diverged.
    pub test_error: Option<f64>,
    pub wall_seconds: f64,
    /// `ok`, or `diverged@<step>` when a loss became NaN or infinite.
    pub status: String,
    /// The commit of the code that produced the run (`-dirty`: with uncommitted changes).
    pub code: String,
    /// The processor that ran it ([`crate::machine::cpu`]); empty for runs made before this
    /// column existed. The matmul library picks its kernels and blocking from the processor, so
    /// a seed gives the same run only on the same build *and* processor kind.
    #[serde(default)]
    pub cpu: String,
}

/// The commit this binary was built from (see build.rs).
pub const CODE_VERSION: &str = env!("EBGAN_CODE");

/// The data stream of one run: the labeled set cycled, and the 60,000 training images as the
/// unlabeled pool. Batch t holds items t·B .. (t+1)·B of the endless sequence of passes, each
/// pass a fresh permutation from the stream (seed, LabeledOrder | UnlabeledOrder, pass), so the
/// batch of any step is known without replaying the earlier ones (exact resume).
pub struct Batches {
    labeled: Vec<usize>,
    pool: usize,
    batch: usize,
    seed: u64,
    order_l: (u64, Vec<usize>),
    order_u: (u64, Vec<usize>),
    pub x_l: Vec<f32>,
    pub y_l: Vec<u8>,
    pub x_u: Vec<f32>,
}

impl Batches {
    pub fn new(labeled: Vec<usize>, pool: usize, batch: usize, seed: u64) -> Self {
        Self {
            labeled,
            pool,
            batch,
            seed,
            order_l: (u64::MAX, Vec::new()),
            order_u: (u64::MAX, Vec::new()),
            x_l: Vec::new(),
            y_l: Vec::new(),
            x_u: Vec::new(),
        }
    }

    fn permutation(
        seed: u64,
        purpose: Purpose,
        pass: u64,
        items: &[usize],
        cache: &mut (u64, Vec<usize>),
    ) {
        if cache.0 != pass {
            let mut order = items.to_vec();
            order.shuffle(&mut stream(seed, purpose, pass));
            *cache = (pass, order);
        }
    }

    /// Fills `x_l`, `y_l`, `x_u` with the batches of step `t`.
    pub fn fill(&mut self, t: u64, data: &crate::data::Split) {
        self.x_l.clear();
        self.y_l.clear();
        self.x_u.clear();
        for k in t * self.batch as u64..(t + 1) * self.batch as u64 {
            let n = self.labeled.len() as u64;
            Self::permutation(
                self.seed,
                Purpose::LabeledOrder,
                k / n,
                &self.labeled,
                &mut self.order_l,
            );
            let i = self.order_l.1[(k % n) as usize];
            self.x_l.extend_from_slice(data.image(i));
            self.y_l.push(data.labels[i]);
            let n = self.pool as u64;
            if self.order_u.0 != k / n {
                let pool: Vec<usize> = (0..self.pool).collect();
                Self::permutation(
                    self.seed,
                    Purpose::UnlabeledOrder,
                    k / n,
                    &pool,
                    &mut self.order_u,
                );
            }
            self.x_u
                .extend_from_slice(data.image(self.order_u.1[(k % n) as usize]));
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

/// Window sums for one curve row (saved in a checkpoint, so that a run can stop at any step
/// and resume with its next row unchanged).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Window {
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
    /// Steps summed so far.
    pub fn steps(&self) -> u64 {
        self.n as u64
    }

    /// Every sum finite, the counts whole numbers with the fake and G counts ≤ the steps.
    pub fn is_valid(&self) -> bool {
        let sums = [
            self.n,
            self.ce,
            self.real,
            self.fake,
            self.hinge,
            self.g,
            self.fake_n,
            self.g_n,
        ];
        sums.iter().all(|v| v.is_finite())
            && [self.n, self.fake_n, self.g_n]
                .iter()
                .all(|c| *c >= 0.0 && c.fract() == 0.0 && *c <= self.n)
    }
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

/// How a run is driven (not part of its config: none of this changes its result).
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub quiet: bool,
    /// Minimum wall time between checkpoints (taken at curve-row boundaries).
    pub checkpoint_every: std::time::Duration,
    /// Also checkpoint every this many steps (0: by time only), so that a short run killed
    /// without warning does not restart from zero.
    pub checkpoint_steps: u64,
    /// Stop after this many steps, with a checkpoint, as an interruption would (tests).
    pub stop_after: Option<u64>,
    /// Set by SIGINT / SIGTERM: checkpoint at the next step boundary and stop with
    /// [`Interrupted`].
    pub interrupt: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

/// A run stopped by SIGINT or SIGTERM after writing its checkpoint (exit code 130).
#[derive(Debug)]
pub struct Interrupted {
    pub run: std::path::PathBuf,
    pub step: u64,
    pub steps: u64,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "interrupted at step {} of {}: checkpoint written to {}/checkpoint; run the same command again to resume",
            self.step,
            self.steps,
            self.run.display()
        )
    }
}

impl std::error::Error for Interrupted {}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            quiet: true,
            checkpoint_every: std::time::Duration::from_secs(300),
            checkpoint_steps: 0,
            stop_after: None,
            interrupt: None,
        }
    }
}

/// Holds `<run>/run.lock` (the owner's pid) while a process trains the run, so that two
/// processes (two `make`s, two cluster tasks) never write one folder. A lock whose process is
/// gone (no /proc/<pid>) is stale and taken over; a lock that cannot be read or holds no pid is
/// an error (never silently removed).
pub struct RunLock(std::path::PathBuf);

impl RunLock {
    pub fn acquire(run: &Path) -> Result<Self> {
        let path = run.join("run.lock");
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    use std::io::Write;
                    write!(f, "{}", std::process::id())?;
                    return Ok(Self(path));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    // The owner writes its pid right after creating the file: give it a moment.
                    let mut pid = String::new();
                    for _ in 0..20 {
                        pid = std::fs::read_to_string(&path).with_context(|| {
                            format!(
                                "cannot read the lock {} (is another process training {}? if not, delete the lock)",
                                path.display(),
                                run.display()
                            )
                        })?;
                        if !pid.trim().is_empty() {
                            break;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(50));
                    }
                    let Ok(pid) = pid.trim().parse::<u32>() else {
                        anyhow::bail!(
                            "the lock {} does not hold a process id ({:?}); if no process is training {}, delete it",
                            path.display(),
                            pid.trim(),
                            run.display()
                        );
                    };
                    let alive = Path::new(&format!("/proc/{pid}")).exists();
                    if alive {
                        anyhow::bail!(
                            "{} is being trained by another process (pid {pid}); if that is wrong, delete {}",
                            run.display(),
                            path.display()
                        );
                    }
                    std::fs::remove_file(&path).with_context(|| {
                        format!("cannot remove the stale lock {}", path.display())
                    })?;
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create {}", path.display()))
                }
            }
        }
        anyhow::bail!("cannot take the lock {}", path.display())
    }
}

impl RunLock {
    /// [`RunLock::acquire`] for a run folder that `final.csv` marks as finished: refuses when
    /// that file exists once the lock is held. A run command checks for `final.csv` before it
    /// loads its data; another process can finish the same run in between (seen 2026-12-05:
    /// two EDGAN queues sharing a list, one starting a run a second after the other finished
    /// it), and training it again would overwrite the finished run's curve and samples.
    pub fn acquire_unfinished(run: &Path) -> Result<Self> {
        let lock = Self::acquire(run)?;
        if run.join("final.csv").exists() {
            anyhow::bail!(
                "{} was finished by another process while this one was starting (final.csv exists); nothing done",
                run.display()
            );
        }
        Ok(lock)
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `--force`: removes a run folder's `final.csv` (and with `checkpoint` its checkpoint) while
/// holding the folder's lock, so that a folder another process is training is refused with
/// every file left in place. The lock is released on return; the run takes it again (another
/// process starting the run meanwhile is refused there).
pub fn clear_for_retraining(out: &Path, checkpoint: bool) -> Result<()> {
    if !out.is_dir() {
        return Ok(());
    }
    let _lock = RunLock::acquire(out)?;
    if checkpoint {
        crate::checkpoint::remove(out)?;
    }
    let fin = out.join("final.csv");
    if fin.exists() {
        // A retraining interrupted half-way must not look finished.
        std::fs::remove_file(&fin).with_context(|| format!("cannot remove {}", fin.display()))?;
    }
    Ok(())
}

/// Trains one run and writes its folder, resuming from its checkpoint if it has one.
/// Returns the final row, or None when `stop_after` interrupted it.
pub fn execute(
    cfg: &RunConfig,
    data: &Mnist,
    out: &Path,
    opts: &RunOptions,
) -> Result<Option<FinalRow>> {
    // The budget is derived from the protocol: recompute it, whatever the caller changed.
    let cfg = &{
        let mut c = cfg.clone();
        c.budget = c.budgets();
        c
    };
    // Configs from `resolve` are validated there; a library caller's must at least not divide
    // by zero (the tests inject out-of-range values such as λ₀ = ∞ on purpose).
    if cfg.curve_every == 0 || cfg.eval_every == 0 {
        anyhow::bail!("curve_every and eval_every must be ≥ 1");
    }

    // Under the validation split the last 10,000 training images are the scored set and
    // nothing else sees them.
    let (pool, scored) = match cfg.split {
        EvalSplit::Test => (data.train.len(), std::borrow::Cow::Borrowed(&data.test)),
        EvalSplit::Validation => {
            if data.train.len() <= VALIDATION_TRAIN {
                anyhow::bail!(
                    "the validation split needs more than {VALIDATION_TRAIN} training images"
                );
            }
            (
                VALIDATION_TRAIN,
                std::borrow::Cow::Owned(data.train.slice(VALIDATION_TRAIN..data.train.len())),
            )
        }
    };
    let labeled = labeled_subset(&data.train.labels[..pool], cfg.labels, cfg.seed)?;
    // Everything above can fail on bad settings or data: nothing is created before this point.
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create run folder {}", out.display()))?;
    let _lock = RunLock::acquire_unfinished(out)?;
    remove_orphans(out)?;
    let config_path = out.join("config.toml");
    if out.join("checkpoint").exists() || out.join("checkpoint.old").exists() {
        let saved = std::fs::read_to_string(&config_path)
            .ok()
            .and_then(|t| RunConfig::parse_saved(&t));
        if saved.as_ref() != Some(cfg) {
            anyhow::bail!(
                "{} holds a checkpoint of a run with another config; delete its checkpoint/ folder to start afresh",
                out.display()
            );
        }
    }
    write_atomic(&config_path, toml::to_string(cfg)?.as_bytes())?;
    let dev = Cpu::seed_from_u64(cfg.seed);
    let mut labeled_images = Vec::with_capacity(labeled.len() * PIXELS);
    for &i in &labeled {
        labeled_images.extend_from_slice(data.train.image(i));
    }
    let mut batches = Batches::new(labeled, pool, cfg.ladder.batch_size, cfg.seed);
    let ctx = Loop {
        cfg,
        data,
        pool,
        scored: &scored,
        labeled_images: &labeled_images,
        out,
        opts,
    };
    let row = match cfg.model {
        Model::Ln | Model::LnMatched => {
            let protocol = cfg.ln.clone().context("LN protocol missing")?;
            let mut t = LnTrainer::new(&dev, cfg.seed, cfg.ladder.clone(), protocol);
            ctx.train(&mut batches, &mut t)?
        }
        Model::EbganLn => {
            let protocol = cfg.ebgan_ln.clone().context("EBGAN-LN protocol missing")?;
            let mut t = EbganLnTrainer::new(&dev, cfg.seed, cfg.ladder.clone(), protocol);
            let row = ctx.train(&mut batches, &mut t)?;
            if row.is_some() {
                write_samples(&out.join("samples.csv"), &t.samples(100))?;
            }
            row
        }
    };
    if let Some(row) = &row {
        // final.csv is written last: its presence marks a finished run (make's target).
        write_csv(&out.join("final.csv"), std::slice::from_ref(row))?;
        crate::checkpoint::remove(out)?;
    }
    Ok(row)
}

/// Removes temporary files a killed process left in `run` (`.<name>.<pid>.tmp.<ext>`, and a
/// partial `checkpoint.tmp/`): the lock is held, so no other process is writing them.
fn remove_orphans(run: &Path) -> Result<()> {
    let entries =
        std::fs::read_dir(run).with_context(|| format!("cannot read {}", run.display()))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.contains(".tmp") {
            std::fs::remove_file(e.path())
                .with_context(|| format!("cannot remove {}", e.path().display()))?;
        }
    }
    let tmp = run.join("checkpoint.tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)
            .with_context(|| format!("cannot remove {}", tmp.display()))?;
    }
    Ok(())
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

/// The fixed inputs of the training loop.
struct Loop<'a> {
    cfg: &'a RunConfig,
    data: &'a Mnist,
    /// Training images 0..pool are the unlabeled pool (all 60,000, or 50,000 when tuning).
    pool: usize,
    /// The images the error is measured on (test set, or the validation images).
    scored: &'a crate::data::Split,
    labeled_images: &'a [f32],
    out: &'a Path,
    opts: &'a RunOptions,
}

impl Loop<'_> {
    /// Row-major batches of `batch_size` for the test-time BN statistics (spec: "Test-time BN
    /// statistics"); every image counts: a last, smaller batch (150 labels: 100 + 50) is
    /// weighted by its rows.
    fn stat_batches(&self) -> Vec<&[f32]> {
        let b = self.cfg.ladder.batch_size * PIXELS;
        match self.cfg.ladder.test_bn_stats {
            TestBnStats::Labeled => self.labeled_images.chunks(b).collect(),
            TestBnStats::AllTrain => self.data.train.images[..self.pool * PIXELS]
                .chunks(b)
                .collect(),
        }
    }

    /// The training loop shared by both models: writes `curve.csv`, checkpoints, and returns
    /// the final row (None when stopped by `stop_after`).
    fn train(&self, batches: &mut Batches, trainer: &mut impl Trainer) -> Result<Option<FinalRow>> {
        let (cfg, out) = (self.cfg, self.out);
        let steps = trainer.total_steps();
        let (first, mut curve, wall_before, saved_window) =
            match crate::checkpoint::load(out, trainer)? {
                Some((state, curve)) => (state.step, curve, state.wall_seconds, state.window),
                None => (0, Vec::new(), 0.0, None),
            };
        let start = Instant::now();
        let wall = || wall_before + start.elapsed().as_secs_f64();
        let bar = if self.opts.quiet {
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
        bar.set_position(first);
        bar.reset_eta();
        let mut last_checkpoint = Instant::now();
        let mut window = saved_window.unwrap_or_default();
        let mut status = "ok".to_string();
        for t in first..steps {
            batches.fill(t, &self.data.train);
            let last = trainer.train_step(t, &batches.batch());
            window.add(&last);
            if !last.is_finite() {
                status = format!("diverged@{t}");
                curve.push(window.row(t, &last, None, wall()));
                break;
            }
            let done = t + 1;
            let eval_now = done % cfg.eval_every == 0 || done == steps;
            if done % cfg.curve_every == 0 || eval_now {
                let evaluated = eval_now.then(|| {
                    ladder::evaluate(
                        trainer,
                        self.stat_batches().into_iter(),
                        &self.scored.images,
                        &self.scored.labels,
                    )
                });
                // A non-finite prediction (finite losses, NaN weights or statistics) is a
                // divergence, not class 0.
                if evaluated == Some(None) {
                    status = format!("diverged@{t}");
                    curve.push(window.row(t, &last, None, wall()));
                    break;
                }
                let err = evaluated.flatten();
                curve.push(window.row(t, &last, err, wall()));
                window = Window::default();
                if let Some(e) = err {
                    let split = match cfg.split {
                        EvalSplit::Test => "test",
                        EvalSplit::Validation => "validation",
                    };
                    bar.set_message(format!("{split} error {:.2}%", 100.0 * e));
                    crate::results::write_curve(&out.join("curve.csv"), &curve)?;
                }
            }
            // A checkpoint can sit at any step: the open curve window is saved with it.
            let stop = self.opts.stop_after == Some(done);
            let interrupted = self
                .opts
                .interrupt
                .as_ref()
                .is_some_and(|f| f.load(std::sync::atomic::Ordering::Relaxed));
            let every_n = self.opts.checkpoint_steps > 0 && done % self.opts.checkpoint_steps == 0;
            if done < steps
                && (stop
                    || interrupted
                    || every_n
                    || last_checkpoint.elapsed() >= self.opts.checkpoint_every)
            {
                let state = crate::checkpoint::ResumeState {
                    step: done,
                    wall_seconds: wall(),
                    window: Some(window.clone()),
                };
                crate::checkpoint::save(out, trainer, &state, &curve)?;
                last_checkpoint = Instant::now();
                if stop || interrupted {
                    bar.finish_and_clear();
                    crate::results::write_curve(&out.join("curve.csv"), &curve)?;
                    if interrupted {
                        return Err(Interrupted {
                            run: out.to_path_buf(),
                            step: done,
                            steps,
                        }
                        .into());
                    }
                    return Ok(None);
                }
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        crate::results::write_curve(&out.join("curve.csv"), &curve)?;
        let test_error = if status == "ok" {
            curve.last().and_then(|r| r.test_error)
        } else {
            None
        };
        Ok(Some(FinalRow {
            model: cfg.model,
            labels: cfg.labels,
            seed: cfg.seed,
            profile: cfg.profile.clone(),
            steps,
            test_error,
            wall_seconds: wall(),
            status,
            code: CODE_VERSION.to_string(),
            cpu: crate::machine::cpu(),
        }))
    }
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
    /// Which model to train: ln, ln-matched or ebgan-ln.
    #[arg(long, value_enum)]
    pub model: Model,
    /// Number of labeled examples (n/10 per class).
    #[arg(long)]
    pub labels: usize,
    /// Seed of the run: initial weights, labeled set, batches and noise.
    #[arg(long)]
    pub seed: u64,
    /// Profile of configs/profiles.toml: paper, medium, quick or smoke.
    #[arg(long, default_value = "quick")]
    pub profile: String,
    /// Tuning: replace the profile's step_scale (a number or a fraction such as 1/30).
    #[arg(long, value_parser = parse_scale)]
    pub step_scale: Option<f64>,
    /// Tuning: replace the profile's lr_scale.
    #[arg(long, value_parser = parse_scale)]
    pub lr_scale: Option<f64>,
    /// `validation` holds the last 10,000 training images out of training and scores the run
    /// on them (for tuning; the test set is not read).
    #[arg(long, value_enum)]
    pub split: Option<EvalSplit>,
    /// MNIST folder (default: $MNIST_DIR, then data/mnist).
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
    /// Output folder (default: <results>/runs/<profile>/<model>/labels<n>/seed<k>; with
    /// --step-scale, --lr-scale or --split: <results>/tuning/<profile>/<tag>/<model>/...).
    #[arg(long)]
    pub out_dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub paths: Paths,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Retrain a run whose folder already holds a finished final.csv (otherwise it is kept and
    /// nothing is done).
    #[arg(long)]
    pub force: bool,
    /// Minutes between checkpoints (a run resumes from its last one); a number ≥ 0.
    #[arg(long, default_value_t = 5.0, value_parser = parse_minutes)]
    pub checkpoint_minutes: f64,
    /// Also checkpoint every N steps (0: by time only).
    #[arg(long, default_value_t = 1000)]
    pub checkpoint_steps: u64,
}

/// A positive number, or a fraction `a/b` of two positive numbers.
pub fn parse_scale(s: &str) -> std::result::Result<f64, String> {
    let v = match s.split_once('/') {
        Some((a, b)) => {
            let a: f64 = a
                .trim()
                .parse()
                .map_err(|_| format!("'{s}' is not a fraction"))?;
            let b: f64 = b
                .trim()
                .parse()
                .map_err(|_| format!("'{s}' is not a fraction"))?;
            a / b
        }
        None => s
            .trim()
            .parse()
            .map_err(|_| format!("'{s}' is not a number"))?,
    };
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("'{s}' must be a positive finite number"))
    }
}

/// A finite number of minutes ≥ 0.
pub fn parse_minutes(s: &str) -> std::result::Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("'{s}' must be a finite number of minutes ≥ 0")),
    }
}

/// The folder name of a tuning run's settings: `steps<step_scale>_lr<lr_scale>_<split>`.
pub fn tuning_tag(cfg: &RunConfig) -> String {
    let split = match cfg.split {
        EvalSplit::Test => "test",
        EvalSplit::Validation => "validation",
    };
    format!("steps{:.6}_lr{}_{split}", cfg.step_scale, cfg.lr_scale)
}

pub fn main(args: Args) -> Result<()> {
    let layout = args.paths.layout();
    let over = Overrides {
        step_scale: args.step_scale,
        lr_scale: args.lr_scale,
        split: args.split,
    };
    let cfg = crate::config::resolve_with(
        &layout.configs,
        &args.profile,
        args.model,
        args.labels,
        args.seed,
        &over,
    )?;
    if (over.step_scale.is_some() || over.lr_scale.is_some())
        && cfg.split != EvalSplit::Validation
        && args.out_dir.is_none()
    {
        anyhow::bail!(
            "--step-scale / --lr-scale without --split validation: give --out-dir (results/tuning/ holds validation runs only, so that no setting is chosen on the test set)"
        );
    }
    let out = args.out_dir.clone().unwrap_or_else(|| {
        if over.is_empty() {
            layout.run_dir(&args.profile, args.model, args.labels, args.seed)
        } else {
            layout
                .results
                .join("tuning")
                .join(&args.profile)
                .join(tuning_tag(&cfg))
                .join(args.model.name())
                .join(format!("labels{}", args.labels))
                .join(format!("seed{}", args.seed))
        }
    });
    if out.join("final.csv").exists() && !args.force {
        let saved = std::fs::read_to_string(out.join("config.toml"))
            .ok()
            .and_then(|t| RunConfig::parse_saved(&t));
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
    let data = crate::data::load_mnist(&crate::data::resolve_dir(args.data_dir.as_deref()))?;
    if args.force {
        clear_for_retraining(&out, false)?;
    }
    let interrupt = interrupt_on_signals()?;
    let opts = RunOptions {
        quiet: args.quiet,
        checkpoint_every: std::time::Duration::from_secs_f64(60.0 * args.checkpoint_minutes),
        checkpoint_steps: args.checkpoint_steps,
        stop_after: None,
        interrupt: Some(interrupt),
    };
    let row = execute(&cfg, &data, &out, &opts)?.context("the run stopped early")?;
    match row.test_error {
        Some(e) => eprintln!(
            "{} labels={} seed={}: {} error {:.2}% ({:.0} s) -> {}",
            cfg.model.label(),
            cfg.labels,
            cfg.seed,
            match cfg.split {
                EvalSplit::Test => "test",
                EvalSplit::Validation => "validation",
            },
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

/// A flag set by Ctrl-C and SIGTERM (make, a cluster's scheduler), which long runs check at
/// step boundaries to checkpoint and exit 130; a second signal while the first is being handled
/// (a long evaluation) exits at once.
pub fn interrupt_on_signals() -> Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    use std::sync::Arc;
    let interrupt = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(&interrupt))
            .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&interrupt)))
            .context("cannot install the SIGINT/SIGTERM handler")?;
    }
    Ok(interrupt)
}
