//! Training steps of the two protocols of appendix D: the LN baseline and EBGAN-LN.
//! A trainer owns its networks, gradients and optimisers; callers hand it batches as slices
//! and read numbers back.

use crate::config::{EbganProtocol, LadderConfig, LnProtocol};
use crate::generator::Generator;
use crate::model::{Ladder, Pass, PopulationStats, RowGroups};
use crate::optim::{AdamState, OwnedAdam};
use crate::rng::{normal_rows, stream, Purpose};
use crate::schedule::{linear_decay_lr, margin};
use crate::shapes::*;
use dfdx::prelude::*;
use rand::rngs::StdRng;

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

fn one_hot(dev: &Cpu, labels: &[u8]) -> Rows<CLASSES> {
    let mut v = vec![0f32; labels.len() * CLASSES];
    for (i, &y) in labels.iter().enumerate() {
        v[i * CLASSES + y as usize] = 1.0;
    }
    rows(dev, v)
}

/// The discriminator-side loss of one step on stacked rows [labeled; unlabeled; fake?]:
/// CE + mean_real E + mean_fake [m − E]⁺ (the hinge per sample, then averaged).
/// Returns the loss and its parts.
fn ladder_loss(
    ladder: &Ladder,
    cfg: &LadderConfig,
    grads: Gradients<f32, Cpu>,
    batch: &Batch,
    fakes: Option<(&[f32], f32)>,
    noise: &mut StdRng,
) -> (Tensor<Rank0, f32, Cpu, OwnedTape<f32, Cpu>>, StepStats) {
    let dev = ladder.gamma6.device().clone();
    let b = batch.unlabeled_x.len() / PIXELS;
    let mut x = Vec::with_capacity(batch.labeled_x.len() + batch.unlabeled_x.len() * 2);
    x.extend_from_slice(batch.labeled_x);
    x.extend_from_slice(batch.unlabeled_x);
    let mut target = batch.unlabeled_x.to_vec();
    let mut decoded = vec![b];
    if let Some((f, _)) = fakes {
        x.extend_from_slice(f);
        target.extend_from_slice(f);
        decoded.push(f.len() / PIXELS);
    }
    let groups = RowGroups {
        labeled: batch.labeled_y.len(),
        decoded,
    };
    let y = one_hot(&dev, batch.labeled_y);
    let out = ladder.corrupted(
        cfg,
        rows::<PIXELS>(&dev, x).trace(grads),
        rows::<PIXELS>(&dev, target).retaped(),
        Some(&y),
        &groups,
        noise,
        Pass::TRAIN_D,
    );
    let ce = out.ce.expect("labels were given");
    let mut stats = StepStats {
        ce: ce.array(),
        ..Default::default()
    };
    let loss = match fakes {
        None => {
            let real = out.energy.mean();
            stats.real_energy = real.array();
            ce + real
        }
        Some((_, m)) => {
            let real = out.energy.with_empty_tape().slice((0..b,)).mean();
            let fake = out.energy.slice((b..,));
            stats.fake_energy = Some(fake.with_empty_tape().mean().array());
            let hinge = (fake.negate() + m).relu().mean();
            stats.real_energy = real.array();
            stats.hinge = Some(hinge.array());
            stats.margin = Some(m);
            ce + real + hinge
        }
    };
    (loss, stats)
}

/// Test-time statistics (spec: "Test-time BN statistics") from clean passes in training mode
/// over `batches`, each of `m` rows.
fn population_stats<'a>(
    ladder: &Ladder,
    cfg: &LadderConfig,
    batches: impl Iterator<Item = &'a [f32]>,
) -> PopulationStats {
    let dev = ladder.gamma6.device().clone();
    let mut per_batch = Vec::new();
    let mut m = 0;
    for x in batches {
        m = x.len() / PIXELS;
        per_batch.push(ladder.clean_batch_stats(cfg, &rows::<PIXELS>(&dev, x.to_vec())));
    }
    PopulationStats::from_batches(&per_batch, m)
}

/// Fraction of misclassified rows of `x` by the clean pass with `stats`, in chunks of 1000.
fn error_rate(
    ladder: &Ladder,
    cfg: &LadderConfig,
    stats: &PopulationStats,
    x: &[f32],
    y: &[u8],
) -> f64 {
    let dev = ladder.gamma6.device().clone();
    let mut wrong = 0usize;
    for (xc, yc) in x.chunks(1000 * PIXELS).zip(y.chunks(1000)) {
        let p = ladder
            .predict(cfg, rows::<PIXELS>(&dev, xc.to_vec()), stats)
            .as_vec();
        for (row, &label) in p.chunks_exact(CLASSES).zip(yc) {
            let arg = row
                .iter()
                .enumerate()
                .fold(0, |best, (i, v)| if *v > row[best] { i } else { best });
            wrong += (arg != label as usize) as usize;
        }
    }
    wrong as f64 / y.len() as f64
}

/// The LN baseline (appendix D): Adam on CE + λ₀·C₀, lr constant then linear to 0.
pub struct LnTrainer {
    pub cfg: LadderConfig,
    pub protocol: LnProtocol,
    pub ladder: Ladder,
    /// Run seed: keys the per-step noise streams ([`crate::rng`]).
    pub seed: u64,
    grads: Gradients<f32, Cpu>,
    opt: OwnedAdam,
}

impl LnTrainer {
    /// Initialises the ladder from `dev`'s RNG (a device seeded with `seed` makes the run
    /// reproducible); the noise of step t comes from the stream (seed, NoiseD, t).
    pub fn new(dev: &Cpu, seed: u64, cfg: LadderConfig, protocol: LnProtocol) -> Self {
        let ladder = Ladder::new(dev, cfg.combinator);
        let grads = ladder.alloc_grads();
        let opt = OwnedAdam::new(&protocol.adam);
        Self {
            cfg,
            protocol,
            ladder,
            seed,
            grads,
            opt,
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
        self.opt.cfg.lr = lr as f64;
        let grads = take(&mut self.grads);
        let mut noise = stream(self.seed, Purpose::NoiseD, t);
        let (loss, mut stats) =
            ladder_loss(&self.ladder, &self.cfg, grads, batch, None, &mut noise);
        self.grads = loss.backward();
        self.opt.update(&mut self.ladder, &mut self.grads);
        self.ladder.zero_grads(&mut self.grads);
        stats.lr = lr;
        stats
    }
}

/// EBGAN-LN (section 4.2, appendix D): the ladder is the discriminator; the generator is
/// trained on E(G(z)) for `g_steps`, while the margin decays.
pub struct EbganLnTrainer {
    pub cfg: LadderConfig,
    pub protocol: EbganProtocol,
    pub ladder: Ladder,
    pub generator: Generator,
    /// Run seed: keys the per-step noise and latent streams ([`crate::rng`]).
    pub seed: u64,
    d_grads: Gradients<f32, Cpu>,
    g_grads: Gradients<f32, Cpu>,
    opt_d: OwnedAdam,
    opt_g: OwnedAdam,
    dev: Cpu,
}

impl EbganLnTrainer {
    /// Initialises the ladder, then the generator, from `dev`'s RNG; step t draws z and the
    /// noise from the streams (seed, Latent | NoiseD | NoiseG, t).
    pub fn new(dev: &Cpu, seed: u64, cfg: LadderConfig, protocol: EbganProtocol) -> Self {
        let ladder = Ladder::new(dev, cfg.combinator);
        let generator = dev.build_module::<crate::generator::GeneratorArch, f32>();
        let d_grads = ladder.alloc_grads();
        let g_grads = generator.alloc_grads();
        let opt_d = OwnedAdam::new(&protocol.adam_d);
        let opt_g = OwnedAdam::new(&protocol.adam_g);
        Self {
            cfg,
            protocol,
            ladder,
            generator,
            seed,
            d_grads,
            g_grads,
            opt_d,
            opt_g,
            dev: dev.clone(),
        }
    }

    /// One step `t`: a D step, then (while t < g_steps) a G step on the same z.
    ///
    /// The fakes G(z) are drawn once per step with G in training mode; the D step sees them
    /// detached, and the G step runs the freshly updated D on them with their tape, so G gets
    /// the gradient through both the reconstruction and the target (spec: "do not detach it").
    /// Once G stops, fakes are still drawn (G frozen, batch statistics) while m_t > 0.
    pub fn step(&mut self, t: u64, batch: &Batch) -> StepStats {
        let p = &self.protocol;
        let lr = linear_decay_lr(p.adam_d.lr, t, p.d_decay_start, p.d_steps);
        let m = margin(p.margin, t, p.margin_steps, p.margin_decay);
        let train_g = t < p.g_steps;
        let b = self.cfg.batch_size;
        let fakes = (train_g || m > 0.0).then(|| {
            let mut rng = stream(self.seed, Purpose::Latent, t);
            let z: Rows<LATENT> = normal_rows(&self.dev, &mut rng, b, 1.0);
            let grads = take(&mut self.g_grads);
            self.generator.forward_mut(z.trace(grads))
        });
        // D step.
        self.opt_d.cfg.lr = lr as f64;
        let fake_values = fakes.as_ref().map(|f| f.as_vec());
        let grads = take(&mut self.d_grads);
        let (loss, mut stats) = ladder_loss(
            &self.ladder,
            &self.cfg,
            grads,
            batch,
            fake_values.as_deref().map(|f| (f, m)),
            &mut stream(self.seed, Purpose::NoiseD, t),
        );
        self.d_grads = loss.backward();
        self.opt_d.update(&mut self.ladder, &mut self.d_grads);
        self.ladder.zero_grads(&mut self.d_grads);
        stats.lr = lr;
        stats.margin = Some(m);
        // G step: L_G = mean_fake E(G(z)) with the ladder frozen (only G's optimiser runs).
        match fakes {
            Some(fakes) if train_g => {
                self.opt_g.cfg.lr = p.adam_g.lr as f64;
                let groups = RowGroups {
                    labeled: 0,
                    decoded: vec![b],
                };
                let mut noise = stream(self.seed, Purpose::NoiseG, t);
                let out = self.ladder.corrupted(
                    &self.cfg,
                    fakes.with_empty_tape(),
                    fakes,
                    None,
                    &groups,
                    &mut noise,
                    Pass::TRAIN_G,
                );
                let loss = out.energy.mean();
                stats.g_loss = Some(loss.array());
                self.g_grads = loss.backward();
                self.opt_g.update(&mut self.generator, &mut self.g_grads);
                self.generator.zero_grads(&mut self.g_grads);
            }
            Some(fakes) => {
                self.g_grads = fakes.sum().backward();
                self.generator.zero_grads(&mut self.g_grads);
            }
            None => {}
        }
        stats
    }

    /// `n` generator samples (G in training mode: batch statistics, as D saw them), from the
    /// stream (seed, Samples, 0).
    pub fn samples(&mut self, n: usize) -> Vec<f32> {
        let z: Rows<LATENT> = normal_rows(
            &self.dev,
            &mut stream(self.seed, Purpose::Samples, 0),
            n,
            1.0,
        );
        let grads = take(&mut self.g_grads);
        let x = self.generator.forward_mut(z.trace(grads));
        let values = x.as_vec();
        self.g_grads = x.sum().backward();
        self.generator.zero_grads(&mut self.g_grads);
        values
    }
}

/// Moves a gradient set out (to trace a new pass with it), leaving an empty one behind.
fn take(grads: &mut Gradients<f32, Cpu>) -> Gradients<f32, Cpu> {
    std::mem::replace(grads, Gradients::leaky())
}

/// What the run loop needs of either protocol.
pub trait Trainer {
    /// Number of (discriminator) steps of the protocol.
    fn total_steps(&self) -> u64;
    /// One training step `t` (0-based).
    fn train_step(&mut self, t: u64, batch: &Batch) -> StepStats;
    /// The ladder (for test-time statistics and evaluation).
    fn ladder(&self) -> (&Ladder, &LadderConfig);
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
        (&mut self.ladder, None)
    }
    fn optimiser_states(&mut self) -> Vec<AdamState> {
        vec![self.opt.state(&mut self.ladder)]
    }
    fn set_optimiser_states(&mut self, states: &[AdamState]) -> Result<(), String> {
        match states {
            [d] => self.opt.set_state(&mut self.ladder, d),
            _ => Err(format!(
                "LN has one optimiser, the checkpoint {}",
                states.len()
            )),
        }
    }
    fn train_step(&mut self, t: u64, batch: &Batch) -> StepStats {
        self.step(t, batch)
    }
    fn ladder(&self) -> (&Ladder, &LadderConfig) {
        (&self.ladder, &self.cfg)
    }
}

impl Trainer for EbganLnTrainer {
    fn total_steps(&self) -> u64 {
        self.protocol.d_steps
    }
    fn modules_mut(&mut self) -> (&mut Ladder, Option<&mut Generator>) {
        (&mut self.ladder, Some(&mut self.generator))
    }
    fn optimiser_states(&mut self) -> Vec<AdamState> {
        vec![
            self.opt_d.state(&mut self.ladder),
            self.opt_g.state(&mut self.generator),
        ]
    }
    fn set_optimiser_states(&mut self, states: &[AdamState]) -> Result<(), String> {
        match states {
            [d, g] => {
                self.opt_d.set_state(&mut self.ladder, d)?;
                self.opt_g.set_state(&mut self.generator, g)
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
    fn ladder(&self) -> (&Ladder, &LadderConfig) {
        (&self.ladder, &self.cfg)
    }
}

/// Test-time statistics and error rate of any trainer's ladder.
pub fn evaluate<'a>(
    trainer: &impl Trainer,
    stats_batches: impl Iterator<Item = &'a [f32]>,
    x: &[f32],
    y: &[u8],
) -> f64 {
    let (ladder, cfg) = trainer.ladder();
    let stats = population_stats(ladder, cfg, stats_batches);
    error_rate(ladder, cfg, &stats, x, y)
}
