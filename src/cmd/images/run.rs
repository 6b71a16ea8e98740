//! `ebgan images run --profile P --model M --seed S [--margin m]`: one face run (EBGAN paper,
//! appendix C, figures 5–6: DCGAN vs EBGAN vs EBGAN-PT with the same generator) on the one
//! harness, written to `<results>/faces/<P>/<id>/`:
//! - `config.toml` first (everything that determines the run),
//! - `curve.csv`: every `curve_every` G updates the mean losses and D outputs since the last
//!   row (GAN: D(x) as a probability; EBGAN: energies), and FID/KID at `curve_fid_n`,
//! - `samples_<update>.png`: 64 samples at each curve row, `samples.png` at the end,
//! - `final.csv` last: FID and KID at `fid_n` with the real-vs-real floor at the same n, the
//!   status (`ok` or `diverged@t`: a diverged run is recorded, never dropped), ms per step.
//!
//! FID and KID are on the 128 features of the project's CIFAR-10 network ("FID-cifar-cnn",
//! [`super::features`]), never Inception features. Real sets: the first `fid_n` faces (A) and
//! the next `fid_n` (B); the floor is A vs B; samples are scored against A. 64 × 64 images are
//! average-pooled to the network's 32 × 32.
//!
//! Resumable: a checkpoint (G, D, both Adam states, the curve so far) every
//! `checkpoint_every` G updates and on SIGINT / SIGTERM (exit 130); the same command resumes
//! bit for bit, since every random draw of update t comes from streams keyed by (seed, t).

use super::{load_config, load_faces, FaceProfile, Paths};
use crate::cmd::gan::run::RealBatches;
use crate::cmd::run::{Interrupted, RunLock, CODE_VERSION};
use crate::io::{write_atomic, write_csv};
use anyhow::{bail, Context, Result};
use dfdx::prelude::*;
use gan_variants::config::CedInput;
use gan_variants::harness::{GanTrainer, StepStats, TrainerState};
use gan_variants::metrics::feature_net::{FeatureMap, FeatureNet, FEATURES};
use gan_variants::variants::build_image_with;
use gan_variants::{ImageArch, ImageGanConfig, TrainSettings, VariantKind};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The model names of the face comparison.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    /// GAN losses with the DCGAN discriminator.
    Dcgan,
    /// EBGAN with the autoencoder discriminator.
    Ebgan,
    /// EBGAN with the pulling-away term.
    EbganPt,
}

impl Model {
    pub fn name(self) -> &'static str {
        match self {
            Model::Dcgan => "dcgan",
            Model::Ebgan => "ebgan",
            Model::EbganPt => "ebgan-pt",
        }
    }
    pub fn variant(self) -> VariantKind {
        match self {
            Model::Dcgan => VariantKind::Gan,
            Model::Ebgan => VariantKind::Ebgan,
            Model::EbganPt => VariantKind::EbganPt,
        }
    }
    pub const ALL: [Model; 3] = [Model::Dcgan, Model::Ebgan, Model::EbganPt];
}

/// The run's folder name: `dcgan_s1`, `ebgan_m20_s1`, `ebgan-pt_m20_s1`.
pub fn run_id(model: Model, margin: f32, seed: u64) -> String {
    match model {
        Model::Dcgan => format!("dcgan_s{seed}"),
        _ => format!("{}_m{margin}_s{seed}", model.name()),
    }
}

/// Everything that determines a face run; its `config.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaceRunConfig {
    pub id: String,
    pub profile: String,
    pub model: Model,
    pub seed: u64,
    /// Centre crop of the face images before resizing (source pixels).
    pub crop: u32,
    pub curve_every: u64,
    pub curve_fid_n: usize,
    pub fid_n: usize,
    pub checkpoint_every: u64,
    /// The feature network's name and the SHA-256 of its files: FIDs are comparable only
    /// between runs scored by the same network.
    pub feature_net: String,
    pub feature_net_sha256: String,
    pub config: ImageGanConfig,
}

/// What [`execute`] needs of a run's `config.toml`, whatever the experiment (the face runs'
/// [`FaceRunConfig`], the EDGAN runs' `cmd::edgan::EdganRunConfig`).
pub trait ImageRunConfig: Serialize + serde::de::DeserializeOwned + PartialEq {
    fn id(&self) -> &str;
    fn profile(&self) -> &str;
    fn seed(&self) -> u64;
    /// The GAN configuration the harness builds.
    fn gan(&self) -> &ImageGanConfig;
    fn schedule(&self) -> Schedule;
    /// The feature network's name (FID-<name>).
    fn feature_net(&self) -> &str;
    /// `final.csv`'s model name and EBGAN margin.
    fn model_label(&self) -> (String, Option<f32>);
}

/// When a run scores, draws and checkpoints.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    /// A curve row (with FID/KID at `curve_fid_n` and a sample grid) every `curve_every` G
    /// updates.
    pub curve_every: u64,
    pub curve_fid_n: usize,
    /// Samples of the final FID/KID (and the real sets of the floor).
    pub fid_n: usize,
    pub checkpoint_every: u64,
}

/// The [`ImageRunConfig`] accessors of a run configuration struct with the fields `id`,
/// `profile`, `seed`, `config`, `curve_every`, `curve_fid_n`, `fid_n`, `checkpoint_every` and
/// `feature_net` (the face and EDGAN runs' `config.toml`s keep these flat, as written).
macro_rules! image_run_config_accessors {
    () => {
        fn id(&self) -> &str {
            &self.id
        }
        fn profile(&self) -> &str {
            &self.profile
        }
        fn seed(&self) -> u64 {
            self.seed
        }
        fn gan(&self) -> &gan_variants::ImageGanConfig {
            &self.config
        }
        fn schedule(&self) -> $crate::cmd::images::run::Schedule {
            $crate::cmd::images::run::Schedule {
                curve_every: self.curve_every,
                curve_fid_n: self.curve_fid_n,
                fid_n: self.fid_n,
                checkpoint_every: self.checkpoint_every,
            }
        }
        fn feature_net(&self) -> &str {
            &self.feature_net
        }
    };
}
pub(crate) use image_run_config_accessors;

impl ImageRunConfig for FaceRunConfig {
    image_run_config_accessors!();
    fn model_label(&self) -> (String, Option<f32>) {
        (
            self.model.name().into(),
            (self.model != Model::Dcgan).then_some(self.config.arch.margin),
        )
    }
}

/// One row of `curve.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceCurveRow {
    pub g_update: u64,
    pub d_loss: f64,
    pub g_loss: f64,
    /// GAN: mean D(x) on real / fake rows; EBGAN: mean energy.
    pub d_real: f64,
    pub d_fake: f64,
    pub pt: Option<f64>,
    /// EDGAN: the mean conditional entropy distance ρ(real, fake) of the G steps (nats).
    #[serde(default)]
    pub ced: Option<f64>,
    pub fid: Option<f64>,
    pub kid: Option<f64>,
    pub fid_n: usize,
    pub wall_seconds: f64,
}

/// `final.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceFinalRow {
    pub id: String,
    pub model: String,
    pub margin: Option<f32>,
    pub seed: u64,
    pub profile: String,
    pub side: usize,
    pub g_updates: u64,
    pub status: String,
    /// FID / KID of `fid_n` samples against the first `fid_n` faces.
    pub fid: Option<f64>,
    pub kid: Option<f64>,
    /// The same between the first and the next `fid_n` faces (the floor at this n).
    pub fid_floor: f64,
    pub kid_floor: f64,
    pub fid_n: usize,
    pub feature_net: String,
    pub ms_per_step: f64,
    pub wall_seconds: f64,
    pub code: String,
}

/// Means of the step statistics since the last curve row (saved with a checkpoint).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub n: u64,
    pub d: f64,
    pub g: f64,
    pub real: f64,
    pub fake: f64,
    pub pt: f64,
    pub has_pt: bool,
    #[serde(default)]
    pub ced: f64,
    #[serde(default)]
    pub has_ced: bool,
}

impl Window {
    fn add(&mut self, s: &StepStats) {
        self.n += 1;
        self.d += s.d_loss as f64;
        self.g += s.g_loss as f64;
        self.real += s.d.real.unwrap_or(f32::NAN) as f64;
        self.fake += s.d.fake.unwrap_or(f32::NAN) as f64;
        if let Some(p) = s.g.pt {
            self.pt += p as f64;
            self.has_pt = true;
        }
        if let Some(c) = s.g.ced {
            self.ced += c as f64;
            self.has_ced = true;
        }
    }
    fn row(&self, g_update: u64, scores: Option<(f64, f64)>, n: usize, wall: f64) -> FaceCurveRow {
        let k = self.n.max(1) as f64;
        FaceCurveRow {
            g_update,
            d_loss: self.d / k,
            g_loss: self.g / k,
            d_real: self.real / k,
            d_fake: self.fake / k,
            pt: self.has_pt.then_some(self.pt / k),
            ced: self.has_ced.then_some(self.ced / k),
            fid: scores.map(|s| s.0),
            kid: scores.map(|s| s.1),
            fid_n: n,
            wall_seconds: wall,
        }
    }
}

/// The scalar part of a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ResumeState {
    /// G updates done.
    step: u64,
    wall_seconds: f64,
    window: Window,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Profile of configs/images.toml: paper, quick or smoke.
    #[arg(long, default_value = "quick")]
    pub profile: String,
    /// The model: dcgan, ebgan or ebgan-pt.
    #[arg(long, value_enum)]
    pub model: Model,
    /// Training seed (default: the profile's first).
    #[arg(long)]
    pub seed: Option<u64>,
    /// EBGAN margin m (default: configs/images.toml's faces.margin); not for dcgan.
    #[arg(long, value_parser = crate::cmd::run::parse_scale)]
    pub margin: Option<f64>,
    #[command(flatten)]
    pub paths: Paths,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Retrain a finished run.
    #[arg(long)]
    pub force: bool,
    /// Stop after this many G updates with a checkpoint, as an interruption would (tests).
    #[arg(long, hide = true)]
    pub stop_after: Option<u64>,
}

/// The resolved configuration of a run.
pub fn resolve(args: &Args, feature_sha: &str) -> Result<(FaceRunConfig, FaceProfile)> {
    let cfg = load_config(&args.paths.config)?;
    let p = cfg.profile(&args.profile, &args.paths.config)?.clone();
    let seed = args.seed.unwrap_or(p.seeds[0]);
    if args.model == Model::Dcgan && args.margin.is_some() {
        bail!("--margin is an EBGAN setting: the dcgan model has none");
    }
    let margin = args.margin.map_or(cfg.faces.margin, |m| m as f32);
    let f = &cfg.faces;
    let config = ImageGanConfig {
        arch: ImageArch {
            variant: args.model.variant(),
            side: p.side,
            channels: 3,
            lr_d: f.lr_d,
            lr_g: f.lr_g,
            margin,
            pt_weight: f.pt_weight,
            ..Default::default()
        },
        train: TrainSettings {
            batch: p.batch,
            g_updates: p.g_updates,
            d_init_std: 0.02,
            g_init_std: 0.02,
            ..Default::default()
        },
    };
    config.validate().map_err(|e| {
        anyhow::anyhow!("invalid settings from {}: {e}", args.paths.config.display())
    })?;
    Ok((
        FaceRunConfig {
            id: run_id(args.model, margin, seed),
            profile: args.profile.clone(),
            model: args.model,
            seed,
            crop: f.crop,
            curve_every: p.curve_every,
            curve_fid_n: p.curve_fid_n,
            fid_n: p.fid_n,
            checkpoint_every: p.checkpoint_every,
            feature_net: super::features::NETWORK.into(),
            feature_net_sha256: feature_sha.into(),
            config,
        },
        p,
    ))
}

/// FID and KID of generated or real images against precomputed real features.
pub struct Scorer<'a> {
    pub net: &'a FeatureNet,
    pub side: usize,
}

impl Scorer<'_> {
    /// The feature network's features of images in [−1, 1] (pooled to 32 × 32 if needed).
    pub fn features(&self, images: &[f32]) -> Vec<f32> {
        if self.side == 32 {
            self.net.features(images)
        } else {
            self.net.features(&crate::images::pool2(images, self.side))
        }
    }

    /// The two real feature sets of every image run, `fid_n` × FEATURES each: A, the reference
    /// every score is taken against (images 0..fid_n), and B, the floor's (fid_n..2·fid_n).
    /// `images`: at least 2·fid_n images of `width` values in [−1, 1].
    pub fn real_sets(&self, images: &[f32], width: usize, fid_n: usize) -> (Vec<f32>, Vec<f32>) {
        (
            self.features(&images[..fid_n * width]),
            self.features(&images[fid_n * width..2 * fid_n * width]),
        )
    }

    /// (FID, KID) between two feature sets.
    pub fn compare(a: &[f32], b: &[f32]) -> Result<(f64, f64)> {
        gan_variants::metrics::fid::fid_and_kid(a, b, FEATURES).map_err(anyhow::Error::msg)
    }
}

fn save_checkpoint(
    out: &Path,
    trainer: &mut dyn GanTrainer,
    state: &ResumeState,
    curve: &[FaceCurveRow],
) -> Result<()> {
    crate::checkpoint::save_with(out, |tmp| {
        let s = trainer.state().map_err(anyhow::Error::msg)?;
        write_atomic(&tmp.join("g.bin"), &crate::checkpoint::encode_net(&s.g))?;
        write_atomic(&tmp.join("d.bin"), &crate::checkpoint::encode_net(&s.d))?;
        write_csv(&tmp.join("curve.csv"), curve)?;
        write_atomic(&tmp.join("state.toml"), toml::to_string(state)?.as_bytes())
    })
}

fn load_checkpoint(
    out: &Path,
    trainer: &mut dyn GanTrainer,
    steps: u64,
) -> Result<Option<(ResumeState, Vec<FaceCurveRow>)>> {
    let Some(d) = crate::checkpoint::find(out, "state.toml") else {
        return Ok(None);
    };
    let bad = |file: &str, e: String| {
        anyhow::anyhow!(
            "checkpoint {}: {file} is unreadable or inconsistent ({e}); delete the folder to start the run afresh",
            d.display()
        )
    };
    let state: ResumeState = std::fs::read_to_string(d.join("state.toml"))
        .map_err(|e| bad("state.toml", e.to_string()))
        .and_then(|t| toml::from_str(&t).map_err(|e| bad("state.toml", e.to_string())))?;
    let net = |f: &str| {
        std::fs::read(d.join(f))
            .map_err(|e| bad(f, e.to_string()))
            .and_then(|b| crate::checkpoint::decode_net(&b).map_err(|e| bad(f, format!("{e:#}"))))
    };
    let s = TrainerState {
        g: net("g.bin")?,
        d: net("d.bin")?,
        e: None,
    };
    trainer.set_state(&s).map_err(|e| bad("g.bin / d.bin", e))?;
    let curve: Vec<FaceCurveRow> = crate::io::read_csv(&d.join("curve.csv"))
        .map_err(|e| bad("curve.csv", format!("{e:#}")))?;
    let rows_end = curve.last().map_or(0, |r| r.g_update);
    if state.step == 0 || state.step >= steps || rows_end + state.window.n != state.step {
        return Err(bad(
            "state.toml",
            format!(
                "step {} of {steps}, curve to {rows_end}, open row {}",
                state.step, state.window.n
            ),
        ));
    }
    Ok(Some((state, curve)))
}

/// Trains `run` on `data` into `out`: real batches drawn from all of `data`, FID/KID against
/// its first `fid_n` images (A), the floor A against the next `fid_n` (B). Returns the final
/// row, or None when `stop_after` stopped it. The real sets' features are computed once, first
/// (EDGAN's feature map for ρ is built from A's), so a run refused by its folder's lock or
/// checks has spent that pass; a refused configuration has written nothing.
#[allow(clippy::too_many_arguments)]
pub fn execute<C: ImageRunConfig>(
    run: &C,
    data: &crate::images::Images,
    net: &FeatureNet,
    out: &Path,
    quiet: bool,
    stop_after: Option<u64>,
    interrupt: Option<Arc<AtomicBool>>,
) -> Result<Option<FaceFinalRow>> {
    let gan = run.gan();
    let sch = run.schedule();
    let (side, channels) = (gan.arch.side, gan.arch.channels);
    if data.side != side || data.channels != channels {
        bail!(
            "the images are {0} × {0} × {1}, the run needs {side} × {side} × {channels}",
            data.side,
            data.channels
        );
    }
    if 2 * sch.fid_n > data.n {
        bail!(
            "fid_n = {} needs {} images (two disjoint real sets for the floor); the data has {}",
            sch.fid_n,
            2 * sch.fid_n,
            data.n
        );
    }
    let seed = run.seed();
    let dev = Cpu::seed_from_u64(seed);
    let images = data.signed(0..data.n);
    let width = side * side * channels;
    let scorer = Scorer { net, side };
    let (real_a, real_b) = scorer.real_sets(&images, width, sch.fid_n);
    // EDGAN's ρ on features: standardised on the FID real set A (32 × 32 × 3, so A's features
    // are the network's own, unpooled).
    let features = (gan.arch.ced_on == CedInput::FidFeatures)
        .then(|| Arc::new(FeatureMap::from_features(net, &real_a)));
    let mut trainer = build_image_with(&dev, gan, seed, features).map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let _lock = RunLock::acquire_unfinished(out)?;
    check_saved_config(out, run)?;
    write_atomic(&out.join("config.toml"), toml::to_string(run)?.as_bytes())?;
    let steps = gan.train.g_updates;
    let (mut state, mut curve) = match load_checkpoint(out, trainer.as_mut(), steps)? {
        Some(c) => {
            if !quiet {
                eprintln!("{}: resuming after {} G updates", run.id(), c.0.step);
            }
            c
        }
        None => (
            ResumeState {
                step: 0,
                wall_seconds: 0.0,
                window: Window::default(),
            },
            Vec::new(),
        ),
    };
    debug_assert_eq!(width, trainer.width());
    let mut batches = RealBatches::with_width(&images, width, seed);
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(steps)
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix} {bar:30} {pos}/{len} G updates, ETA {eta}  {msg}")
            .expect("valid template"),
    );
    bar.set_prefix(run.id().to_string());
    bar.set_position(state.step);
    let start = Instant::now();
    let wall = |s: &ResumeState| s.wall_seconds + start.elapsed().as_secs_f64();
    let train = &gan.train;
    let mut reals = Vec::with_capacity(train.d_steps * train.batch * width);
    let mut status = "ok".to_string();
    let first = state.step;
    let mut step_seconds = 0.0;
    for t in first..steps {
        reals.clear();
        for i in 0..train.d_steps as u64 {
            batches.fill(t * train.d_steps as u64 + i, train.batch, &mut reals);
        }
        let t0 = Instant::now();
        let s = trainer.step(t, &reals);
        step_seconds += t0.elapsed().as_secs_f64();
        state.window.add(&s);
        if !s.is_finite() {
            status = format!("diverged@{t}");
            curve.push(state.window.row(t + 1, None, sch.curve_fid_n, wall(&state)));
            state.step = t + 1;
            break;
        }
        state.step = t + 1;
        bar.inc(1);
        let done = state.step;
        if done % sch.curve_every == 0 && done < steps {
            let samples = trainer.samples(sch.curve_fid_n, done);
            let scores = Scorer::compare(
                &scorer.features(&samples),
                &real_a[..sch.curve_fid_n * FEATURES],
            )?;
            crate::images::write_grid_png(
                &out.join(format!("samples_{done}.png")),
                &samples[..64.min(sch.curve_fid_n) * width],
                side,
                channels,
                8,
            )?;
            curve.push(
                state
                    .window
                    .row(done, Some(scores), sch.curve_fid_n, wall(&state)),
            );
            state.window = Window::default();
            bar.set_message(format!("FID {:.1}", scores.0));
            write_csv(&out.join("curve.csv"), &curve)?;
        }
        let interrupted = interrupt.as_ref().is_some_and(|f| f.load(Ordering::SeqCst));
        let stop = stop_after.is_some_and(|k| done >= k) && done < steps;
        if (done % sch.checkpoint_every == 0 && done < steps) || interrupted || stop {
            let snapshot = ResumeState {
                step: done,
                wall_seconds: wall(&state),
                window: state.window.clone(),
            };
            save_checkpoint(out, trainer.as_mut(), &snapshot, &curve)?;
            if interrupted {
                bar.finish_and_clear();
                return Err(Interrupted {
                    run: out.to_path_buf(),
                    step: done,
                    steps,
                }
                .into());
            }
            if stop {
                bar.finish_and_clear();
                return Ok(None);
            }
        }
    }
    bar.finish_and_clear();
    let (fid_floor, kid_floor) = Scorer::compare(&real_a, &real_b)?;
    let mut scores = None;
    if status == "ok" {
        let samples = trainer.samples(sch.fid_n, 0);
        let s = Scorer::compare(&scorer.features(&samples), &real_a)?;
        crate::images::write_grid_png(
            &out.join("samples.png"),
            &samples[..64.min(sch.fid_n) * width],
            side,
            channels,
            8,
        )?;
        curve.push(
            state
                .window
                .row(state.step, Some(s), sch.fid_n, wall(&state)),
        );
        scores = Some(s);
    }
    write_csv(&out.join("curve.csv"), &curve)?;
    let trained = state.step - first;
    let (model, margin) = run.model_label();
    let row = FaceFinalRow {
        id: run.id().to_string(),
        model,
        margin,
        seed,
        profile: run.profile().to_string(),
        side,
        g_updates: state.step,
        status,
        fid: scores.map(|s| s.0),
        kid: scores.map(|s| s.1),
        fid_floor,
        kid_floor,
        fid_n: sch.fid_n,
        feature_net: format!("FID-{}", run.feature_net()),
        ms_per_step: 1e3 * step_seconds / trained.max(1) as f64,
        wall_seconds: wall(&state),
        code: CODE_VERSION.into(),
    };
    write_csv(&out.join("final.csv"), std::slice::from_ref(&row))?;
    crate::checkpoint::remove(out)?;
    Ok(Some(row))
}

/// A folder holding a checkpoint or a finished run must have been made with `cfg` exactly
/// (settings, feature network): a resume under changed settings would not be the run its
/// config.toml describes.
/// Before an image run (faces, EDGAN): with `force`, clears the folder for retraining under its
/// lock and returns false; without it, returns true (nothing to do) for a finished run of the
/// same settings, an error for one of other settings, and false for an unfinished one.
pub fn finished_or_cleared<C: ImageRunConfig>(out: &Path, cfg: &C, force: bool) -> Result<bool> {
    if force {
        crate::cmd::run::clear_for_retraining(out, true)?;
        return Ok(false);
    }
    if !out.join("final.csv").exists() {
        return Ok(false);
    }
    check_saved_config(out, cfg)?;
    eprintln!(
        "{} is finished (final.csv exists): kept, nothing done; --force retrains it",
        out.display()
    );
    Ok(true)
}

pub fn check_saved_config<C: ImageRunConfig>(out: &Path, cfg: &C) -> Result<()> {
    let has_state =
        crate::checkpoint::find(out, "state.toml").is_some() || out.join("final.csv").exists();
    if !has_state {
        return Ok(());
    }
    let saved = std::fs::read_to_string(out.join("config.toml"))
        .ok()
        .and_then(|t| toml::from_str::<C>(&t).ok());
    if saved.as_ref() != Some(cfg) {
        bail!(
            "{} holds a run (checkpoint or final.csv) made with other settings or another feature network (or without a readable config.toml); delete the folder or use --force to start it afresh",
            out.display()
        );
    }
    Ok(())
}

/// The folder of a run.
pub fn run_dir(paths: &Paths, profile: &str, id: &str) -> PathBuf {
    paths.results.join("faces").join(profile).join(id)
}

pub fn main(args: Args) -> Result<()> {
    let (net, sha) = super::features::load(&args.paths)?;
    let (cfg, _) = resolve(&args, &sha)?;
    let out = run_dir(&args.paths, &args.profile, &cfg.id);
    if finished_or_cleared(&out, &cfg, args.force)? {
        return Ok(());
    }
    let faces = load_faces(&args.paths, cfg.config.arch.side, cfg.crop)?;
    let interrupt = crate::cmd::run::interrupt_on_signals()?;
    let row = execute(
        &cfg,
        &faces,
        &net,
        &out,
        args.quiet,
        args.stop_after,
        Some(interrupt),
    )?;
    report(&cfg, row.as_ref(), &out);
    Ok(())
}

/// The line a run command prints on stderr when `execute` returns: the final row's status, FID,
/// floor and time, or that it stopped early with a checkpoint.
pub fn report<C: ImageRunConfig>(run: &C, row: Option<&FaceFinalRow>, out: &Path) {
    match row {
        Some(r) => eprintln!(
            "{}: {} FID-{} {} (floor {:.2}, n = {}) in {:.0} s ({:.0} ms per step) -> {}",
            r.id,
            r.status,
            run.feature_net(),
            r.fid.map_or("–".into(), |f| format!("{f:.2}")),
            r.fid_floor,
            r.fid_n,
            r.wall_seconds,
            r.ms_per_step,
            out.display()
        ),
        None => eprintln!("{}: stopped early with a checkpoint", run.id()),
    }
}

#[derive(clap::Args, Debug)]
pub struct JobsArgs {
    /// Profile of configs/images.toml.
    #[arg(long, default_value = "quick")]
    pub profile: String,
    #[command(flatten)]
    pub paths: Paths,
    /// The binary the commands call.
    #[arg(long, default_value = "ebgan")]
    pub bin: String,
}

/// The runs of a profile: every model at the default margin per seed (the comparison), then
/// EBGAN at the other margins per seed (the margin sweep). Returns (model, margin, seed).
pub fn planned(cfg: &super::ImagesConfig, p: &FaceProfile) -> Vec<(Model, Option<f32>, u64)> {
    let mut out = Vec::new();
    for &seed in &p.seeds {
        out.push((Model::Dcgan, None, seed));
        out.push((Model::Ebgan, Some(cfg.faces.margin), seed));
        out.push((Model::EbganPt, Some(cfg.faces.margin), seed));
    }
    for &m in &p.margins {
        if m != cfg.faces.margin {
            for &seed in &p.seeds {
                out.push((Model::Ebgan, Some(m), seed));
            }
        }
    }
    out
}

/// Prints one command per unfinished run of the profile.
pub fn jobs(args: JobsArgs) -> Result<()> {
    let cfg = load_config(&args.paths.config)?;
    let p = cfg.profile(&args.profile, &args.paths.config)?;
    for (model, margin, seed) in planned(&cfg, p) {
        let id = run_id(model, margin.unwrap_or(cfg.faces.margin), seed);
        if run_dir(&args.paths, &args.profile, &id)
            .join("final.csv")
            .exists()
        {
            continue;
        }
        let m = margin.map_or(String::new(), |m| format!(" --margin {m}"));
        println!(
            "{} images run --profile {} --model {} --seed {seed}{m} --quiet --config {} --results {}",
            args.bin,
            args.profile,
            model.name(),
            args.paths.config.display(),
            args.paths.results.display()
        );
    }
    Ok(())
}
