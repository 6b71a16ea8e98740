//! Training steps of the two protocols of appendix D: the LN baseline and EBGAN-LN.
//! A trainer owns its networks, gradients and optimisers; callers hand it batches as slices
//! and read numbers back.

use crate::config::{AdamSettings, EbganProtocol, LadderConfig, LnProtocol};
use crate::fast::{FlatLadder, Wants, Workspace};
use crate::generator::{FlatGenerator, Generator, GeneratorPass};
use crate::model::{Ladder, PopulationStats, RowGroups};
use crate::optim::{AdamState, FlatAdam};
use crate::rng::{normal_vec, stream, LayerNoise, Purpose};
use crate::schedule::{linear_decay_lr, margin};
use crate::shapes::*;
use dfdx::prelude::*;

/// One step's numbers (the columns of `curve.csv`). Entries that a model does not have are
/// `None` (LN has no fake energy, hinge or generator loss).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepStats {
    /// Discriminator / ladder learning rate used at this step.
    pub lr: f32,
    /// Margin m_t (EBGAN-LN).
    pub margin: Option<f32>,
    /// Supervised cross-entropy of the corrupted softmax on the labeled batch.
    pub ce: f32,
    /// Mean energy of the real unlabeled batch, λ₀·C₀.
    pub real_energy: f32,
    /// Mean energy of the fake batch in the D step.
    pub fake_energy: Option<f32>,
    /// mean_fake [m_t − E(G(z))]⁺.
    pub hinge: Option<f32>,
    /// Generator loss mean_fake E(G(z)) in the G step (after the D update).
    pub g_loss: Option<f32>,
}

impl StepStats {
    /// True when every number is finite (a NaN or inf means the run diverged).
    pub fn is_finite(&self) -> bool {
        [
            Some(self.ce),
            Some(self.real_energy),
            self.fake_energy,
            self.hinge,
            self.g_loss,
        ]
        .iter()
        .flatten()
        .all(|v| v.is_finite())
    }
}

/// A labeled and an unlabeled batch, row-major pixels in [0, 1].
pub struct Batch<'a> {
    pub labeled_x: &'a [f32],
    pub labeled_y: &'a [u8],
    pub unlabeled_x: &'a [f32],
}

fn rows<const N: usize>(dev: &Cpu, data: Vec<f32>) -> Rows<N> {
    let n = data.len() / N;
    assert_eq!(
        n * N,
        data.len(),
        "row data must be a multiple of the width"
    );
    dev.tensor_from_vec(data, (n, Const::<N>))
}

/// Which copy of the ladder's parameters is current: the flat vector the steps train
/// ([`crate::fast`]) or the dfdx model (checkpoints, evaluation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Current {
    Flat,
    Model,
    Both,
}

/// The ladder in training: its flat parameters, Adam moments (the update of
/// [`crate::optim`], as one fused pass: [`crate::fast::adam_update`]), the pass's workspace and
/// noise, and the dfdx model they are copied to when a caller needs it.
struct FlatTraining {
    flat: FlatLadder,
    adam: FlatAdam,
    current: Current,
    ws: Workspace,
    noise: LayerNoise,
    x: Vec<f32>,
    targets: Vec<f32>,
    weights: Vec<f32>,
}

impl FlatTraining {
    fn new(ladder: &Ladder, settings: AdamSettings) -> Self {
        let flat = FlatLadder::from_ladder(ladder);
        let adam = FlatAdam::new(settings, flat.values.len());
        Self {
            flat,
            adam,
            current: Current::Both,
            ws: Workspace::new(),
            noise: LayerNoise::default(),
            x: Vec::new(),
            targets: Vec::new(),
            weights: Vec::new(),
        }
    }

    /// Makes the flat copy current before a step.
    fn sync_in(&mut self, ladder: &Ladder) {
        if self.current == Current::Model {
            self.flat.load(ladder);
            self.current = Current::Both;
        }
    }

    /// Makes the dfdx model current; `for_writing` when the caller may change it.
    fn sync_out(&mut self, ladder: &mut Ladder, for_writing: bool) {
        if self.current == Current::Flat {
            self.flat.store(ladder);
            self.current = Current::Both;
        }
        if for_writing {
            self.current = Current::Model;
        }
    }

    fn state(&self) -> AdamState {
        self.adam.state(&self.flat.layout.tensors)
    }

    fn set_state(&mut self, state: &AdamState) -> Result<(), String> {
        self.adam
            .set_state(&self.flat.layout.tensors, state, "ladder")
    }

    /// One discriminator-side step on stacked rows [labeled; unlabeled; fake?] at learning
    /// rate `lr`: the loss CE + mean_real E + mean_fake [m − E]⁺ (the hinge per sample, then
    /// averaged; section 4.2 / appendix D), its gradient and one Adam update. Returns the loss's parts.
    fn d_step(
        &mut self,
        cfg: &LadderConfig,
        batch: &Batch,
        fakes: Option<(&[f32], f32)>,
        noise_key: (u64, Purpose, u64),
        lr: f32,
    ) -> StepStats {
        let b = batch.unlabeled_x.len() / PIXELS;
        let lab = batch.labeled_y.len();
        self.x.clear();
        self.x.extend_from_slice(batch.labeled_x);
        self.x.extend_from_slice(batch.unlabeled_x);
        self.targets.clear();
        self.targets.extend_from_slice(batch.unlabeled_x);
        let mut decoded = vec![b];
        if let Some((f, _)) = fakes {
            self.x.extend_from_slice(f);
            self.targets.extend_from_slice(f);
            decoded.push(f.len() / PIXELS);
        }
        let groups = RowGroups {
            labeled: lab,
            decoded,
        };
        let rows = self.x.len() / PIXELS;
        let (seed, purpose, t) = noise_key;
        self.noise.redraw(seed, purpose, t, rows, cfg.noise_std);
        let ce = self.ws.forward(
            &self.flat,
            cfg,
            &self.x,
            &self.targets,
            batch.labeled_y,
            &groups,
            &self.noise,
        );
        let energy = &self.ws.energy;
        let mean = |v: &[f32]| v.iter().map(|&e| e as f64).sum::<f64>() as f32 / v.len() as f32;
        let mut stats = StepStats {
            ce,
            real_energy: mean(&energy[..b]),
            ..Default::default()
        };
        self.weights.clear();
        self.weights.resize(b, 1.0 / b as f32);
        if let Some((_, m)) = fakes {
            let fake = &energy[b..];
            let f = fake.len() as f32;
            stats.fake_energy = Some(mean(fake));
            stats.hinge = Some(fake.iter().map(|&e| (m - e).max(0.0)).sum::<f32>() / f);
            stats.margin = Some(m);
            // d[m − E]⁺/dE = −1 inside the margin, 0 outside.
            self.weights.extend(
                fake.iter()
                    .map(|&e| if m - e > 0.0 { -1.0 / f } else { 0.0 }),
            );
        }
        self.ws.backward(
            &self.flat,
            cfg,
            batch.labeled_y,
            1.0,
            &self.weights,
            Wants {
                param_grads: true,
                input_grad: false,
            },
        );
        self.adam.update(lr, &mut self.flat.values, &self.ws.grad);
        self.current = Current::Flat;
        stats.lr = lr;
        stats
    }

    /// The generator's loss mean_fake E(G(z)) through the (frozen) ladder and its gradient
    /// with respect to the fakes (through the reconstruction and through the target: spec,
    /// "do not detach it"). Returns (loss, ∂L/∂fakes row-major).
    fn g_loss_grad(
        &mut self,
        cfg: &LadderConfig,
        fakes: &[f32],
        noise_key: (u64, Purpose, u64),
    ) -> (f64, &[f32]) {
        let f = fakes.len() / PIXELS;
        let groups = RowGroups {
            labeled: 0,
            decoded: vec![f],
        };
        let (seed, purpose, t) = noise_key;
        self.noise.redraw(seed, purpose, t, f, cfg.noise_std);
        self.ws
            .forward(&self.flat, cfg, fakes, fakes, &[], &groups, &self.noise);
        let energy_sum = self.ws.energy.iter().map(|&e| e as f64).sum::<f64>();
        self.weights.clear();
        self.weights.resize(f, 1.0 / f as f32);
        self.ws.backward(
            &self.flat,
            cfg,
            &[],
            0.0,
            &self.weights,
            Wants {
                param_grads: false,
                input_grad: true,
            },
        );
        (energy_sum, &self.ws.input_grad)
    }
}

/// Test-time statistics (spec: "Test-time BN statistics") from clean passes in training mode
/// over `batches` (row-major; a last batch may be smaller and is weighted by its rows).
fn population_stats<'a>(
    ladder: &Ladder,
    cfg: &LadderConfig,
    batches: impl Iterator<Item = &'a [f32]>,
) -> PopulationStats {
    let dev = ladder.gamma6.device().clone();
    let mut per_batch = Vec::new();
    let mut sizes = Vec::new();
    for x in batches {
        sizes.push(x.len() / PIXELS);
        per_batch.push(ladder.clean_batch_stats(cfg, &rows::<PIXELS>(&dev, x.to_vec())));
    }
    PopulationStats::from_batches(&per_batch, &sizes)
}

/// Fraction of misclassified rows of `x` by the clean pass with `stats`, in chunks of 1000;
/// None when any predicted probability is not finite (a diverged model has no arg-max).
fn error_rate(
    ladder: &Ladder,
    cfg: &LadderConfig,
    stats: &PopulationStats,
    x: &[f32],
    y: &[u8],
) -> Option<f64> {
    let dev = ladder.gamma6.device().clone();
    let mut wrong = 0usize;
    for (xc, yc) in x.chunks(1000 * PIXELS).zip(y.chunks(1000)) {
        let p = ladder
            .predict(cfg, rows::<PIXELS>(&dev, xc.to_vec()), stats)
            .as_vec();
        for (row, &label) in p.chunks_exact(CLASSES).zip(yc) {
            if !row.iter().all(|v| v.is_finite()) {
                return None;
            }
            let arg = row
                .iter()
                .enumerate()
                .fold(0, |best, (i, v)| if *v > row[best] { i } else { best });
            wrong += (arg != label as usize) as usize;
        }
    }
    Some(wrong as f64 / y.len() as f64)
}

/// The LN baseline (appendix D): Adam on CE + λ₀·C₀, lr constant then linear to 0.
pub struct LnTrainer {
    pub cfg: LadderConfig,
    pub protocol: LnProtocol,
    pub ladder: Ladder,
    /// Run seed: keys the per-step noise streams ([`crate::rng`]).
    pub seed: u64,
    d: FlatTraining,
}

impl LnTrainer {
    /// Initialises the ladder from `dev`'s RNG (a device seeded with `seed` makes the run
    /// reproducible); the noise of step t comes from the stream (seed, NoiseD, t).
    pub fn new(dev: &Cpu, seed: u64, cfg: LadderConfig, protocol: LnProtocol) -> Self {
        let ladder = Ladder::new(dev, cfg.combinator);
        let d = FlatTraining::new(&ladder, protocol.adam);
        Self {
            cfg,
            protocol,
            ladder,
            seed,
            d,
        }
    }

    /// One training step `t` (0-based).
    pub fn step(&mut self, t: u64, batch: &Batch) -> StepStats {
        let lr = linear_decay_lr(
            self.protocol.adam.lr,
            t,
            self.protocol.decay_start,
            self.protocol.steps,
        );
        self.d.sync_in(&self.ladder);
        self.d
            .d_step(&self.cfg, batch, None, (self.seed, Purpose::NoiseD, t), lr)
    }
}

/// EBGAN-LN (section 4.2, appendix D): the ladder is the discriminator; the generator is
/// trained on E(G(z)) for `g_steps`, while the margin decays.
///
/// Both networks train as flat parameter vectors through hand-written passes ([`crate::fast`],
/// [`GeneratorPass`]); the dfdx modules ([`Ladder`], [`Generator`]) are brought up to date when
/// a caller asks for them ([`EbganLnTrainer::generator`], [`Trainer::modules_mut`]).
pub struct EbganLnTrainer {
    pub cfg: LadderConfig,
    pub protocol: EbganProtocol,
    pub ladder: Ladder,
    generator: Generator,
    /// Run seed: keys the per-step noise and latent streams ([`crate::rng`]).
    pub seed: u64,
    d: FlatTraining,
    g: FlatGenerator,
    g_current: Current,
    g_pass: GeneratorPass,
    opt_g: FlatAdam,
}

impl EbganLnTrainer {
    /// Initialises the ladder, then the generator, from `dev`'s RNG; step t draws z and the
    /// noise from the streams (seed, Latent | NoiseD | NoiseG, t).
    pub fn new(dev: &Cpu, seed: u64, cfg: LadderConfig, protocol: EbganProtocol) -> Self {
        let ladder = Ladder::new(dev, cfg.combinator);
        let generator = dev.build_module::<crate::generator::GeneratorArch, f32>();
        let d = FlatTraining::new(&ladder, protocol.adam_d);
        let g = FlatGenerator::from_model(&generator);
        let opt_g = FlatAdam::new(protocol.adam_g, g.values.len());
        Self {
            cfg,
            protocol,
            ladder,
            generator,
            seed,
            d,
            g,
            g_current: Current::Both,
            g_pass: GeneratorPass::new(),
            opt_g,
        }
    }

    /// One step `t`: a D step, then (while t < g_steps) a G step on the same z.
    ///
    /// The fakes G(z) are drawn once per step with G in training mode; the D step sees them
    /// as data, and the G step runs the freshly updated D on them and back-propagates
    /// ∂L_G/∂G(z) through G's pass of the same step, so G gets the gradient through both the
    /// reconstruction and the target (spec: "do not detach it"). Once G stops, fakes are still
    /// drawn (G frozen, batch statistics) while m_t > 0.
    pub fn step(&mut self, t: u64, batch: &Batch) -> StepStats {
        let p = self.protocol.clone();
        let lr = linear_decay_lr(p.adam_d.lr, t, p.d_decay_start, p.d_steps);
        let m = margin(p.margin, t, p.margin_steps, p.margin_decay);
        let train_g = t < p.g_steps;
        let fakes = train_g || m > 0.0;
        if fakes {
            self.draw_fakes(t);
        }
        // D step.
        self.d.sync_in(&self.ladder);
        let mut stats = self.d.d_step(
            &self.cfg,
            batch,
            fakes.then_some((self.g_pass.x.as_slice(), m)),
            (self.seed, Purpose::NoiseD, t),
            lr,
        );
        stats.margin = Some(m);
        if train_g {
            stats.g_loss = Some(self.g_backward(t));
            self.opt_g
                .update(p.adam_g.lr, &mut self.g.values, &self.g_pass.grad);
        }
        stats
    }

    /// Makes the flat generator current (a caller may have changed the dfdx model).
    fn g_sync_in(&mut self) {
        if self.g_current == Current::Model {
            self.g.load(&self.generator);
            self.g_current = Current::Both;
        }
    }

    /// G(z) for step t's z (stream (seed, Latent, t)), G in training mode, into
    /// `g_pass.x`; the flat generator is then the current copy (running statistics moved).
    fn draw_fakes(&mut self, t: u64) {
        let mut rng = stream(self.seed, Purpose::Latent, t);
        let z = normal_vec(&mut rng, self.cfg.batch_size * LATENT, 1.0);
        self.g_sync_in();
        self.g_pass.forward(&mut self.g, &z);
        self.g_current = Current::Flat;
    }

    /// The G step's loss L_G = mean_fake E(G(z)) with the ladder frozen, and its gradient with
    /// respect to G's parameters into `g_pass.grad`: the ladder's pass gives ∂L_G/∂G(z)
    /// (through the reconstruction and the target alike), G's backward pass the rest.
    fn g_backward(&mut self, t: u64) -> f32 {
        let b = self.g_pass.x.len() / PIXELS;
        let (energy_sum, grad) =
            self.d
                .g_loss_grad(&self.cfg, &self.g_pass.x, (self.seed, Purpose::NoiseG, t));
        self.g_pass.backward(&self.g, grad);
        energy_sum as f32 / b as f32
    }

    /// The generator's loss at step t's z and its gradient with respect to G's parameters (in
    /// the [`crate::generator::GeneratorLayout`]), exactly as the G step computes them, with no
    /// parameter updated (for tests: the gradient of L_G = mean_fake E(G(z)) through the
    /// ladder, against finite differences of [`Self::generator_loss`]).
    pub fn generator_loss_and_grads(&mut self, t: u64) -> (f32, Vec<f32>) {
        self.draw_fakes(t);
        self.d.sync_in(&self.ladder);
        let loss = self.g_backward(t);
        (loss, self.g_pass.grad.clone())
    }

    /// L_G = mean_fake E(G(z)) at step t's z, forward only (G in training mode), summed in
    /// f64.
    pub fn generator_loss(&mut self, t: u64) -> f64 {
        self.draw_fakes(t);
        self.d.sync_in(&self.ladder);
        self.d
            .g_loss_grad(&self.cfg, &self.g_pass.x, (self.seed, Purpose::NoiseG, t))
            .0
            / self.cfg.batch_size as f64
    }

    /// `n` generator samples (G in training mode: batch statistics, as D saw them), from the
    /// stream (seed, Samples, 0); rows × PIXELS row-major.
    pub fn samples(&mut self, n: usize) -> Vec<f32> {
        let z = normal_vec(&mut stream(self.seed, Purpose::Samples, 0), n * LATENT, 1.0);
        self.g_sync_in();
        self.g_pass.forward(&mut self.g, &z);
        self.g_current = Current::Flat;
        self.g_pass.x.clone()
    }

    /// The dfdx generator, up to date.
    pub fn generator(&mut self) -> &Generator {
        self.g_sync_out(false);
        &self.generator
    }

    /// The dfdx generator for changing it (the next step starts from its values).
    pub fn generator_mut(&mut self) -> &mut Generator {
        self.g_sync_out(true);
        &mut self.generator
    }

    fn g_sync_out(&mut self, for_writing: bool) {
        if self.g_current == Current::Flat {
            self.g.store(&mut self.generator);
            self.g_current = Current::Both;
        }
        if for_writing {
            self.g_current = Current::Model;
        }
    }
}

/// What the run loop needs of either protocol.
pub trait Trainer {
    /// Number of (discriminator) steps of the protocol.
    fn total_steps(&self) -> u64;
    /// One training step `t` (0-based).
    fn train_step(&mut self, t: u64, batch: &Batch) -> StepStats;
    /// The ladder (for test-time statistics and evaluation), up to date.
    fn ladder(&mut self) -> (&Ladder, &LadderConfig);
    /// Every trained module, for checkpoints: the ladder and, for EBGAN-LN, the generator.
    fn modules_mut(&mut self) -> (&mut Ladder, Option<&mut Generator>);
    /// Optimiser states, in the order of [`Trainer::modules_mut`].
    fn optimiser_states(&mut self) -> Vec<AdamState>;
    /// Restores optimiser states saved by [`Trainer::optimiser_states`].
    fn set_optimiser_states(&mut self, states: &[AdamState]) -> Result<(), String>;
}

impl Trainer for LnTrainer {
    fn total_steps(&self) -> u64 {
        self.protocol.steps
    }
    fn modules_mut(&mut self) -> (&mut Ladder, Option<&mut Generator>) {
        self.d.sync_out(&mut self.ladder, true);
        (&mut self.ladder, None)
    }
    fn optimiser_states(&mut self) -> Vec<AdamState> {
        vec![self.d.state()]
    }
    fn set_optimiser_states(&mut self, states: &[AdamState]) -> Result<(), String> {
        match states {
            [d] => self.d.set_state(d),
            _ => Err(format!(
                "LN has one optimiser, the checkpoint {}",
                states.len()
            )),
        }
    }
    fn train_step(&mut self, t: u64, batch: &Batch) -> StepStats {
        self.step(t, batch)
    }
    fn ladder(&mut self) -> (&Ladder, &LadderConfig) {
        self.d.sync_out(&mut self.ladder, false);
        (&self.ladder, &self.cfg)
    }
}

impl Trainer for EbganLnTrainer {
    fn total_steps(&self) -> u64 {
        self.protocol.d_steps
    }
    fn modules_mut(&mut self) -> (&mut Ladder, Option<&mut Generator>) {
        self.d.sync_out(&mut self.ladder, true);
        self.g_sync_out(true);
        (&mut self.ladder, Some(&mut self.generator))
    }
    fn optimiser_states(&mut self) -> Vec<AdamState> {
        vec![self.d.state(), self.opt_g.state(&self.g.layout.tensors)]
    }
    fn set_optimiser_states(&mut self, states: &[AdamState]) -> Result<(), String> {
        match states {
            [d, g] => {
                self.d.set_state(d)?;
                self.opt_g.set_state(&self.g.layout.tensors, g, "generator")
            }
            _ => Err(format!(
                "EBGAN-LN has two optimisers, the checkpoint {}",
                states.len()
            )),
        }
    }
    fn train_step(&mut self, t: u64, batch: &Batch) -> StepStats {
        self.step(t, batch)
    }
    fn ladder(&mut self) -> (&Ladder, &LadderConfig) {
        self.d.sync_out(&mut self.ladder, false);
        (&self.ladder, &self.cfg)
    }
}

/// Test-time statistics and error rate of any trainer's ladder: the fraction of rows of `x`
/// (row-major, pixels in [0, 1]) whose clean-pass arg-max differs from `y`; None when a
/// prediction is not finite (the run has diverged).
pub fn evaluate<'a>(
    trainer: &mut impl Trainer,
    stats_batches: impl Iterator<Item = &'a [f32]>,
    x: &[f32],
    y: &[u8],
) -> Option<f64> {
    let (ladder, cfg) = trainer.ladder();
    let stats = population_stats(ladder, cfg, stats_batches);
    error_rate(ladder, cfg, &stats, x, y)
}
