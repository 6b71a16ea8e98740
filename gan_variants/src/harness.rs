//! The one training step every variant shares: k discriminator steps, then one generator step
//! (Goodfellow et al. 2014, Algorithm 1; EBGAN paper, section 2). A variant supplies only its
//! two losses ([`Losses`]).
//!
//! A D step stacks the real and the fake batch into one matrix (one matmul per layer) with
//! separate batch-norm statistics per half; the fakes enter it detached. The G step runs the
//! freshly updated D on the fakes of the last D step with their tape, so G's gradient flows
//! through D's input and, for EBGAN, through the reconstruction target as well.

use crate::config::{Arch, LatentPrior, TrainSettings};
use crate::nets::{build_discriminator, build_generator, Dropout, Net, NetState};
use crate::shapes::{Loss, Matrix, Rows, Traced, LATENT, PIXELS};
use dfdx::prelude::*;
use ladder::rng::keyed_stream;
use rand::{rngs::StdRng, Rng};
use rand_distr::StandardNormal;

/// Keys of this crate's random streams (the ladder's use 1–6).
#[derive(Clone, Copy, Debug)]
#[repr(u64)]
pub enum Stream {
    InitG = 11,
    InitD = 12,
    /// z of D step c = t · k + i.
    Latent = 13,
    /// Dropout masks of D in its own step and in the G step.
    DropoutD = 14,
    DropoutG = 15,
    /// z of the samples that are scored and shown.
    Samples = 16,
    /// Order of the training set (counter: epoch); used by the caller that draws batches.
    DataOrder = 17,
    /// Latent MCMC (counter: chain step), [`crate::sampling`].
    Mcmc = 18,
    /// z of the batches that give G's population batch-norm statistics (counter: batch).
    PopulationStats = 19,
    /// An independent prior draw scored beside the chains: the FID's resampling noise.
    PriorRedraw = 20,
    /// α of the interpolates x̂ = α·x + (1 − α)·x̃ of a gradient penalty (counter: D step).
    Interpolation = 21,
}

/// The random stream (seed, key, counter).
pub fn stream(seed: u64, key: Stream, counter: u64) -> StdRng {
    keyed_stream(seed, key as u64, counter)
}

/// What D returned for a batch.
pub struct DiscOut<const X: usize, const O: usize> {
    /// D's output before any squashing (GAN: logits; EBGAN: the reconstruction).
    pub out: Rows<O, Traced>,
    /// D's last hidden activation (EBGAN: the encoder output, the S of eq. 14).
    pub code: Matrix<Traced>,
    /// D's input (an empty-tape copy, the reconstruction target).
    pub input: Rows<X, Traced>,
    /// ∇ₓ of each row's summed outputs as forward operations, (n, X), in a D step of a
    /// variant that asks for it ([`Losses::needs_input_grad`]); None otherwise.
    pub input_grad: Option<Rows<X, Traced>>,
    /// In a G step with an encoder ([`Losses::needs_encoder`]): the fakes' z and E(G(z)).
    pub latent: Option<LatentPair>,
    /// In a D step of a variant that penalises D's gradient at interpolates
    /// ([`Losses::needs_interpolates`]): ∇ₓ of D's summed outputs at x̂_i = α_i·x_i +
    /// (1 − α_i)·x̃_i (real row i, fake row i, α_i ~ U[0, 1] per sample), (b, X), as forward
    /// operations on the tape.
    pub interp_grad: Option<Rows<X, Traced>>,
    /// In a G step of a variant that compares the batches ([`Losses::needs_real_in_g_step`]):
    /// the real rows of the last D step, the batch the fakes were scored against (EDGAN's
    /// X_E of ρ(X_E, X̂_EG)); a constant.
    pub real: Option<Rows<X>>,
}

impl<const X: usize, const O: usize> DiscOut<X, O> {
    /// D's output, code and input, without the optional parts.
    pub fn new(out: Rows<O, Traced>, code: Matrix<Traced>, input: Rows<X, Traced>) -> Self {
        Self {
            out,
            code,
            input,
            input_grad: None,
            latent: None,
            real: None,
            interp_grad: None,
        }
    }
}

/// The latent codes of a G step with an encoder E: x → z, (rows, latent size).
pub struct LatentPair {
    /// The z the fakes were generated from (a constant).
    pub z: Matrix,
    /// E(G(z)) on the tape of G and E.
    pub recon: Matrix<Traced>,
}

/// Numbers a loss reports besides its value.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossStats {
    /// Mean D output on the real rows (GAN: D(x) as a probability; EBGAN: the energy).
    pub real: Option<f32>,
    /// The same on the fake rows.
    pub fake: Option<f32>,
    /// The pulling-away term f_PT (EBGAN-PT's G step).
    pub pt: Option<f32>,
    /// The gradient penalty's mean ‖∇ₓD‖² at the real rows, before its weight (energy GAN).
    pub grad_penalty: Option<f32>,
    /// The mean latent reconstruction ‖z − E(G(z))‖², before its weight (energy GAN's MI term).
    pub latent_error: Option<f32>,
    /// The conditional entropy distance ρ(real, fake) in nats, before its weight (EDGAN's G).
    pub ced: Option<f32>,
}

/// A variant: its discriminator loss on a stacked [real; fake] batch of images of `X` values
/// and its generator loss, for a D with `O` outputs.
pub trait Losses<const X: usize, const O: usize> {
    fn d_loss(&self, d: DiscOut<X, O>, n_real: usize) -> (Loss, LossStats);
    fn g_loss(&self, d: DiscOut<X, O>) -> (Loss, LossStats);
    /// Whether the D step needs [`DiscOut::input_grad`] (a gradient penalty); D must then
    /// provide [`Net::forward_with_input_grad`].
    fn needs_input_grad(&self) -> bool {
        false
    }
    /// Whether the G step needs an encoder E: x → z trained with G ([`DiscOut::latent`]).
    fn needs_encoder(&self) -> bool {
        false
    }
    /// Whether the D step needs D's input gradient at interpolates between the real and the
    /// fake rows ([`DiscOut::interp_grad`]; WGAN-GP, GAN-0GP); D must provide
    /// [`Net::forward_with_input_grad`].
    fn needs_interpolates(&self) -> bool {
        false
    }
    /// Whether the G step needs the real batch ([`DiscOut::real`]; EDGAN's distance between the
    /// real and the generated batch).
    fn needs_real_in_g_step(&self) -> bool {
        false
    }
    /// Whether D is an energy U(x) with one output whose e^{−U} G samples, so that
    /// U(G(z)) is a latent energy ([`GanTrainer::latent_model`]; the energy GAN).
    fn scalar_energy(&self) -> bool {
        false
    }
}

/// Per-row weights 1/n_real on the first `n_real` rows and 0 after (`real = true`), or the
/// converse with 1/n_fake: turn per-row terms into the two batch means.
pub fn half_weights(
    dev: &Cpu,
    n_real: usize,
    rows: usize,
    real: bool,
) -> Tensor<(usize,), f32, Cpu> {
    let n_fake = rows - n_real;
    let v: Vec<f32> = (0..rows)
        .map(|i| match (i < n_real, real) {
            (true, true) => 1.0 / n_real as f32,
            (false, false) => 1.0 / n_fake as f32,
            _ => 0.0,
        })
        .collect();
    dev.tensor_from_vec(v, (rows,))
}

/// The mean of `v` over the rows where `w` is non-zero, off the tape (for logging).
pub fn weighted_mean(v: &[f32], w: &[f32]) -> f32 {
    v.iter().zip(w).map(|(a, b)| a * b).sum()
}

/// A one-output discriminator's D step, split for a per-row loss (the GAN, LSGAN, hinge and
/// WGAN-GP variants): the output ℓ as a column (rows,) on the tape, its values, and the
/// [`half_weights`] of the real (first `n_real`) and the fake rows.
pub struct OneOutput {
    pub l: Tensor<(usize,), f32, Cpu, crate::shapes::Traced>,
    pub values: Vec<f32>,
    pub w_real: Tensor<(usize,), f32, Cpu>,
    pub w_fake: Tensor<(usize,), f32, Cpu>,
    n_real: usize,
}

impl OneOutput {
    pub fn new<const X: usize>(d: DiscOut<X, 1>, n_real: usize) -> Self {
        let rows = d.out.shape().0;
        let l = d.out.reshape_like(&(rows,));
        let dev = l.device().clone();
        Self {
            values: l.as_vec(),
            w_real: half_weights(&dev, n_real, rows, true),
            w_fake: half_weights(&dev, n_real, rows, false),
            n_real,
            l,
        }
    }

    /// The means of f(ℓ) over the real and over the fake rows, off the tape (for logging).
    pub fn means(&self, f: impl Fn(f32) -> f32) -> (f32, f32) {
        let v: Vec<f32> = self.values.iter().map(|&x| f(x)).collect();
        (
            weighted_mean(&v, &self.w_real.as_vec()),
            weighted_mean(&v, &self.w_fake.as_vec()),
        )
    }

    /// A constant column: `real` on the real rows, `fake` on the fake rows.
    pub fn per_half(&self, real: f32, fake: f32) -> Tensor<(usize,), f32, Cpu> {
        let rows = self.values.len();
        let v = (0..rows)
            .map(|i| if i < self.n_real { real } else { fake })
            .collect();
        self.l.device().tensor_from_vec(v, (rows,))
    }
}

/// A one-output discriminator's G step: ℓ as a column (rows,) and its mean (for logging).
pub fn one_output_g<const X: usize>(
    d: DiscOut<X, 1>,
) -> (Tensor<(usize,), f32, Cpu, crate::shapes::Traced>, f32) {
    let rows = d.out.shape().0;
    let l = d.out.reshape_like(&(rows,));
    let mean = l.as_vec().iter().sum::<f32>() / rows as f32;
    (l, mean)
}

/// G(z) = tanh of the generator's output, G in training mode (batch statistics); z has `Z`
/// values per row.
pub fn generate<const Z: usize, const X: usize>(
    g: &dyn Net<Z, X>,
    z: Rows<Z, Traced>,
) -> Rows<X, Traced> {
    let rows = z.shape().0;
    g.forward(z, &[rows], None).0.tanh()
}

/// The G step's loss: D on the fakes *with their tape* (so the gradient reaches G through D's
/// input and, for EBGAN, through the reconstruction target), then the variant's L_G. With an
/// encoder, E(G(z)) joins the same tape ([`DiscOut::latent`], `z` the fakes' latent codes).
/// `real` is the batch a variant that asks for it compares the fakes with ([`DiscOut::real`]).
pub fn generator_loss<const X: usize, const O: usize, const Z: usize, L: Losses<X, O>>(
    d: &dyn Net<X, O>,
    losses: &L,
    fake: Rows<X, Traced>,
    drop: Option<Dropout<'_>>,
    encoder: Option<(&dyn Net<X, Z>, Rows<Z>)>,
    real: Option<Rows<X>>,
) -> (Loss, LossStats) {
    let rows = fake.shape().0;
    let input = fake.with_empty_tape();
    // E's branch traces with E's own gradient set, whose leaves the merged tape then keeps
    // (a leaky empty tape would let backward drop E's gradients as non-leaves).
    let latent = encoder.map(|(e, z)| LatentPair {
        z: z.reshape_like(&(rows, Z)),
        recon: e
            .forward(
                fake.retaped::<NoneTape>().trace(e.alloc_grads()),
                &[rows],
                None,
            )
            .0
            .reshape_like(&(rows, Z)),
    });
    let (out, code) = d.forward(fake, &[rows], drop);
    losses.g_loss(DiscOut {
        latent,
        real,
        ..DiscOut::new(out, code, input)
    })
}

/// What one training step did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepStats {
    pub d_loss: f32,
    pub g_loss: f32,
    pub d: LossStats,
    pub g: LossStats,
}

impl StepStats {
    pub fn is_finite(&self) -> bool {
        self.d_loss.is_finite() && self.g_loss.is_finite()
    }
}

/// WGAN-GP's per-sample interpolates (Gulrajani et al. 2017, algorithm 1): row i is
/// α_i·real_i + (1 − α_i)·fake_i, one α_i ~ U[0, 1) per row from `rng`; `real` and `fake` are
/// rows of `width` values, as many of each.
pub fn interpolates(real: &[f32], fake: &[f32], width: usize, rng: &mut impl Rng) -> Vec<f32> {
    assert_eq!(real.len(), fake.len(), "one fake row per real row");
    let mut v = vec![0f32; real.len()];
    for ((row, r), f) in v
        .chunks_exact_mut(width)
        .zip(real.chunks_exact(width))
        .zip(fake.chunks_exact(width))
    {
        let a: f32 = rng.gen_range(0.0..1.0);
        for ((o, r), f) in row.iter_mut().zip(r).zip(f) {
            *o = a * r + (1.0 - a) * f;
        }
    }
    v
}

/// A trainer for one configuration, whatever its variant.
pub trait GanTrainer {
    /// Step t (0-based) on `reals`: k · batch real rows of [`GanTrainer::width`] values in
    /// [−1, 1].
    fn step(&mut self, t: u64, reals: &[f32]) -> StepStats;
    /// `n` samples in [−1, 1] (G with batch statistics over whole batches of the training size,
    /// the last one cut to `n`), from the latent stream (seed, Samples, `counter`).
    fn samples(&self, n: usize, counter: u64) -> Vec<f32>;
    /// Trainable values of G and D.
    fn num_params(&self) -> (usize, usize);
    /// Values per image (pixels × channels).
    fn width(&self) -> usize;
    /// G's and D's parameters and optimiser states, for a checkpoint. The gradient buffers
    /// need no saving: they are zero between steps.
    fn state(&mut self) -> Result<TrainerState, String>;
    /// Restores [`GanTrainer::state`] of a trainer of the same configuration.
    fn set_state(&mut self, state: &TrainerState) -> Result<(), String>;
    /// The latent energy U(G(z)) (+ ½‖z‖² with `prior`) of a variant whose D is an energy
    /// ([`Losses::scalar_energy`]), G in inference mode with population statistics pooled
    /// over [`POPULATION_BATCHES`] batches of the training size from the stream
    /// (seed, PopulationStats); None for other variants.
    fn latent_model(&self, _prior: bool) -> Option<Box<dyn crate::sampling::LatentModel + '_>> {
        None
    }
}

/// Batches of z whose pooled batch-norm statistics are G's population statistics
/// ([`GanTrainer::latent_model`]): 20 × the batch size (1,280 rows at batch 64).
pub const POPULATION_BATCHES: u64 = 20;

/// What a checkpoint holds of a trainer: G and D with their optimisers. Every random draw of
/// step t comes from streams keyed by (seed, t), so this is all a resumed run needs to continue
/// bit for bit.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainerState {
    pub g: NetState,
    pub d: NetState,
    /// The encoder of a variant that has one ([`Losses::needs_encoder`]).
    pub e: Option<NetState>,
}

/// G, D and the variant's losses, for images of `X` values, a D with `O` outputs and latent
/// codes z of `Z` values (default [`LATENT`] = 100; EDGAN: 128).
pub struct Harness<const X: usize, const O: usize, L: Losses<X, O>, const Z: usize = LATENT> {
    losses: L,
    train: TrainSettings,
    dropout_p: Option<f32>,
    g: Box<dyn Net<Z, X>>,
    d: Box<dyn Net<X, O>>,
    /// E: x → z, trained with G ([`Losses::needs_encoder`]).
    e: Option<Box<dyn Net<X, Z>>>,
    g_grads: Gradients<f32, Cpu>,
    d_grads: Gradients<f32, Cpu>,
    seed: u64,
    dev: Cpu,
}

fn take(grads: &mut Gradients<f32, Cpu>) -> Gradients<f32, Cpu> {
    std::mem::replace(grads, Gradients::leaky())
}

#[cfg(test)]
fn normal_rows<const N: usize>(dev: &Cpu, rng: &mut StdRng, rows: usize) -> Rows<N> {
    latent_rows(dev, rng, rows, LatentPrior::Normal)
}

/// `rows` latent codes of `N` values from `prior`, drawn from `rng` row after row.
pub fn latent_rows<const N: usize>(
    dev: &Cpu,
    rng: &mut StdRng,
    rows: usize,
    prior: LatentPrior,
) -> Rows<N> {
    let v: Vec<f32> = match prior {
        LatentPrior::Normal => (0..rows * N)
            .map(|_| rng.sample::<f32, _>(StandardNormal))
            .collect(),
        LatentPrior::Uniform => (0..rows * N).map(|_| rng.gen_range(-1.0..1.0)).collect(),
    };
    dev.tensor_from_vec(v, (rows, Const::<N>))
}

impl<const O: usize, L: Losses<PIXELS, O>> Harness<PIXELS, O, L> {
    /// Builds the fully connected G (from stream InitG) and D (InitD) for `arch`.
    pub fn new(
        dev: &Cpu,
        arch: &Arch,
        train: &TrainSettings,
        losses: L,
        seed: u64,
    ) -> Result<Self, String> {
        arch.validate()?;
        if train.batch < 2 || train.d_steps == 0 {
            return Err("batch must be ≥ 2 and d_steps ≥ 1".into());
        }
        let g = build_generator(
            dev,
            arch.n_layer_g,
            arch.size_g,
            arch.optim_g,
            arch.lr,
            train,
            &mut stream(seed, Stream::InitG, 0),
        )?;
        let d = build_discriminator::<O>(
            dev,
            arch.n_layer_d,
            arch.size_d,
            arch.optim_d,
            arch.lr,
            train,
            &mut stream(seed, Stream::InitD, 0),
        )?;
        Harness::from_nets(
            dev,
            g,
            d,
            train,
            arch.dropout_d.then_some(train.dropout_p),
            losses,
            seed,
        )
    }
}

impl<const X: usize, const O: usize, L: Losses<X, O>, const Z: usize> Harness<X, O, L, Z> {
    /// The harness around a built G and D of any family (dropout in D with probability
    /// `dropout_p` when given).
    pub fn from_nets(
        dev: &Cpu,
        g: Box<dyn Net<Z, X>>,
        d: Box<dyn Net<X, O>>,
        train: &TrainSettings,
        dropout_p: Option<f32>,
        losses: L,
        seed: u64,
    ) -> Result<Self, String> {
        Self::with_encoder(dev, g, d, None, train, dropout_p, losses, seed)
    }

    /// [`Harness::from_nets`] with an encoder E: x → z for a variant that trains one with G
    /// ([`Losses::needs_encoder`]); errors when E is missing or not wanted, or when the variant
    /// needs D's input gradient and D's family cannot write it.
    #[allow(clippy::too_many_arguments)]
    pub fn with_encoder(
        dev: &Cpu,
        g: Box<dyn Net<Z, X>>,
        d: Box<dyn Net<X, O>>,
        e: Option<Box<dyn Net<X, Z>>>,
        train: &TrainSettings,
        dropout_p: Option<f32>,
        losses: L,
        seed: u64,
    ) -> Result<Self, String> {
        if train.batch < 2 || train.d_steps == 0 {
            return Err("batch must be ≥ 2 and d_steps ≥ 1".into());
        }
        if losses.needs_encoder() != e.is_some() {
            return Err(if e.is_some() {
                "an encoder was given to a variant that does not train one".into()
            } else {
                "this variant trains an encoder E: x → z with G; none was given".into()
            });
        }
        if losses.needs_input_grad() || losses.needs_interpolates() {
            let probe: Rows<X> = dev.zeros_like(&(1, Const));
            if d.forward_with_input_grad(probe.leaky_trace(), &[1])
                .is_none()
            {
                return Err("this variant needs D's input gradient (a gradient penalty); D's family cannot write it (batch norm or dropout in D)".into());
            }
        }
        if (losses.needs_input_grad() || losses.needs_interpolates()) && dropout_p.is_some() {
            return Err("a gradient penalty with dropout in D is not supported".into());
        }
        Ok(Self {
            losses,
            train: train.clone(),
            dropout_p,
            g_grads: g.alloc_grads(),
            d_grads: d.alloc_grads(),
            g,
            d,
            e,
            seed,
            dev: dev.clone(),
        })
    }
}

impl<const X: usize, const O: usize, L: Losses<X, O>, const Z: usize> Harness<X, O, L, Z> {
    /// `rows` latent codes from the settings' prior.
    fn z_rows(&self, rng: &mut StdRng, rows: usize) -> Rows<Z> {
        latent_rows(&self.dev, rng, rows, self.train.latent_prior)
    }
}

impl<const X: usize, const O: usize, L: Losses<X, O>, const Z: usize> GanTrainer
    for Harness<X, O, L, Z>
{
    fn step(&mut self, t: u64, reals: &[f32]) -> StepStats {
        let b = self.train.batch;
        let k = self.train.d_steps;
        assert_eq!(reals.len(), k * b * X, "k batches of real rows");
        let mut stats = StepStats::default();
        let mut fakes = None;
        for (i, real) in reals.chunks_exact(b * X).enumerate() {
            let c = t * k as u64 + i as u64;
            let z = self.z_rows(&mut stream(self.seed, Stream::Latent, c), b);
            let mut x = real.to_vec();
            if i + 1 == k {
                // The last D step's fakes, on G's tape, are the ones the G step uses.
                let fake = generate(self.g.as_ref(), z.clone().trace(take(&mut self.g_grads)));
                x.extend(fake.as_vec());
                fakes = Some((fake, z));
            } else {
                // The same values without a tape: no G backward for fakes the G step never uses.
                x.extend(self.g.forward_untraced(z, &[b]).tanh().as_vec());
            }
            let interp = self.losses.needs_interpolates().then(|| {
                let mut rng = stream(self.seed, Stream::Interpolation, c);
                let v = interpolates(&x[..b * X], &x[b * X..], X, &mut rng);
                self.dev.tensor_from_vec(v, (b, Const::<X>))
            });
            let x: Rows<X> = self.dev.tensor_from_vec(x, (2 * b, Const));
            let x = x.trace(take(&mut self.d_grads));
            let input = x.with_empty_tape();
            let mut rng = stream(self.seed, Stream::DropoutD, c);
            let drop = self.dropout_p.map(|p| Dropout { p, rng: &mut rng });
            let d_out = if self.losses.needs_input_grad() {
                let (out, code, g) = self
                    .d
                    .forward_with_input_grad(x, &[b, b])
                    .expect("checked when the harness was built");
                DiscOut {
                    input_grad: Some(g),
                    ..DiscOut::new(out, code, input)
                }
            } else {
                let (out, code) = self.d.forward(x, &[b, b], drop);
                DiscOut::new(out, code, input)
            };
            // The interpolates' pass on a tape of its own that joins the loss's; D's
            // parameters are the leaves of the stacked pass's gradient set.
            let d_out = match interp {
                Some(xh) => {
                    let (_, _, g) = self
                        .d
                        .forward_with_input_grad(xh.leaky_trace(), &[b])
                        .expect("checked when the harness was built");
                    DiscOut {
                        interp_grad: Some(g),
                        ..d_out
                    }
                }
                None => d_out,
            };
            let (loss, s) = self.losses.d_loss(d_out, b);
            stats.d_loss = loss.array();
            stats.d = s;
            self.d_grads = loss.backward();
            if !stats.d_loss.is_finite() {
                self.d.zero_grads(&mut self.d_grads);
                stats.g_loss = f32::NAN;
                return stats;
            }
            self.d.update(&mut self.d_grads);
        }
        let (fake, z) = fakes.expect("d_steps ≥ 1");
        let mut rng = stream(self.seed, Stream::DropoutG, t);
        let drop = self.dropout_p.map(|p| Dropout { p, rng: &mut rng });
        let encoder = self.e.as_deref().map(|e| (e, z));
        let real = self.losses.needs_real_in_g_step().then(|| {
            let last = &reals[(k - 1) * b * X..];
            self.dev.tensor_from_vec(last.to_vec(), (b, Const::<X>))
        });
        let (loss, s) = generator_loss(self.d.as_ref(), &self.losses, fake, drop, encoder, real);
        stats.g_loss = loss.array();
        stats.g = s;
        self.g_grads = loss.backward();
        if stats.g_loss.is_finite() {
            self.g.update(&mut self.g_grads);
            if let Some(e) = self.e.as_mut() {
                e.update(&mut self.g_grads);
            }
        } else {
            self.g.zero_grads(&mut self.g_grads);
            if let Some(e) = self.e.as_ref() {
                e.zero_grads(&mut self.g_grads);
            }
        }
        stats
    }

    fn latent_model(&self, prior: bool) -> Option<Box<dyn crate::sampling::LatentModel + '_>> {
        // The prior's energy ½‖z‖² is the normal prior's.
        if !self.losses.scalar_energy() || O != 1 || self.train.latent_prior != LatentPrior::Normal
        {
            return None;
        }
        let b = self.train.batch;
        let batches = (0..POPULATION_BATCHES)
            .map(|c| self.z_rows(&mut stream(self.seed, Stream::PopulationStats, c), b));
        let g_stats = crate::nets::population_stats(self.g.as_ref(), batches);
        Some(Box::new(crate::sampling::GanLatentEnergy {
            g: self.g.as_ref(),
            g_stats,
            u: self.d.as_ref(),
            prior,
        }))
    }

    fn samples(&self, n: usize, counter: u64) -> Vec<f32> {
        let b = self.train.batch;
        let mut rng = stream(self.seed, Stream::Samples, counter);
        let mut out = Vec::with_capacity(n * X);
        let mut done = 0;
        while done < n {
            // Always a whole batch of the training size: batch statistics over fewer rows
            // would make the last samples of a count that is not a multiple of it differ in
            // kind; the unused rows of the last batch are dropped.
            let rows = b.min(n - done);
            let z = self.z_rows(&mut rng, b);
            let x = self.g.forward_untraced(z, &[b]).tanh().as_vec();
            out.extend_from_slice(&x[..rows * X]);
            done += rows;
        }
        out
    }

    fn num_params(&self) -> (usize, usize) {
        (self.g.num_params(), self.d.num_params())
    }

    fn width(&self) -> usize {
        X
    }

    fn state(&mut self) -> Result<TrainerState, String> {
        Ok(TrainerState {
            g: self.g.state().map_err(|e| format!("G: {e}"))?,
            d: self.d.state().map_err(|e| format!("D: {e}"))?,
            e: match self.e.as_mut() {
                Some(e) => Some(e.state().map_err(|e| format!("E: {e}"))?),
                None => None,
            },
        })
    }

    fn set_state(&mut self, state: &TrainerState) -> Result<(), String> {
        self.g.set_state(&state.g).map_err(|e| format!("G: {e}"))?;
        self.d.set_state(&state.d).map_err(|e| format!("D: {e}"))?;
        match (self.e.as_mut(), &state.e) {
            (Some(e), Some(s)) => e.set_state(s).map_err(|e| format!("E: {e}")),
            (None, None) => Ok(()),
            _ => Err("the checkpoint's encoder does not match this trainer's".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{EnergyNorm, Optim};
    use crate::nets::{trainable, Affine, Mlp, NoNorm, Trainable};
    use crate::variants::ebgan_pt::EbganPt;
    use rand::SeedableRng;

    /// Every interpolate row lies on the segment from its real row to its fake row, with the
    /// same α on every value of the row (solved from the first value, checked on all 5,
    /// within 1e-5), α ∈ [0, 1); the 8 rows' α differ (per sample, not one per batch: the
    /// control that a per-batch α would fail).
    #[test]
    fn interpolates_are_per_sample() {
        let mut rng = StdRng::seed_from_u64(4);
        let (b, w) = (8, 5);
        let real: Vec<f32> = (0..b * w).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let fake: Vec<f32> = real.iter().map(|r| r + 1.0).collect();
        let x = interpolates(&real, &fake, w, &mut rng);
        let mut alphas = Vec::new();
        for i in 0..b {
            // x = a·r + (1 − a)·(r + 1) = r + 1 − a.
            let a = real[i * w] + 1.0 - x[i * w];
            assert!((0.0..1.0 + 1e-6).contains(&a), "row {i}: α = {a}");
            for j in 0..w {
                let want = a * real[i * w + j] + (1.0 - a) * fake[i * w + j];
                assert!((x[i * w + j] - want).abs() < 1e-5, "row {i}, value {j}");
            }
            alphas.push(a);
        }
        let spread = alphas.iter().cloned().fold(f32::MIN, f32::max)
            - alphas.iter().cloned().fold(f32::MAX, f32::min);
        assert!(spread > 0.1, "one α for the batch: {alphas:?}");
    }

    type SmallG = Trainable<Mlp<LATENT, 6, PIXELS, 1, Affine<6>>>;
    type SmallD = Trainable<Mlp<PIXELS, 5, PIXELS, 1, NoNorm<5>>>;

    /// With k = 2 D steps per G step the first D step's fakes come from G without a tape:
    /// the same values bit for bit as the traced pass (so nothing changes but the saved G
    /// backward), and a k = 2 step trains both networks with finite losses.
    #[test]
    fn untraced_fakes_equal_traced_ones() {
        let dev = Cpu::seed_from_u64(0);
        let train = TrainSettings {
            d_init_std: 0.3,
            g_init_std: 0.3,
            batch: 4,
            d_steps: 2,
            ..Default::default()
        };
        let mut rng = StdRng::seed_from_u64(5);
        let g: SmallG = trainable(&dev, Optim::Adam, 1e-3, 0.3, &train, &mut rng);
        let d: SmallD = trainable(&dev, Optim::Adam, 1e-3, 0.3, &train, &mut rng);
        let z: Rows<LATENT> = normal_rows(&dev, &mut StdRng::seed_from_u64(9), 4);
        let traced = generate(&g, z.clone().leaky_trace()).as_vec();
        let plain = g.forward_untraced(z, &[4]).tanh().as_vec();
        assert_eq!(traced, plain);
        let losses = crate::variants::ebgan::Ebgan {
            margin: 10.0,
            norm: EnergyNorm::L2,
        };
        let mut h =
            Harness::from_nets(&dev, Box::new(g), Box::new(d), &train, None, losses, 1).unwrap();
        let before = h.state().unwrap();
        let reals = vec![0.25f32; 2 * 4 * PIXELS];
        assert!(h.step(0, &reals).is_finite());
        let after = h.state().unwrap();
        assert!(before.g.params != after.g.params && before.d.params != after.d.params);
        assert_eq!(after.d.adam.unwrap().t, 2, "two D steps");
    }

    /// L_G of EBGAN-PT (energy + PT through a two-layer-encoder D) as a function of G's
    /// parameters: the autodiff gradient of G's input weights against central differences in
    /// f64-accumulated f32. Fails if the fakes' tape is cut anywhere between G and the loss
    /// (D's input, the reconstruction target, or the encoder code of the PT term).
    #[test]
    fn generator_gradient_matches_finite_differences() {
        let dev = Cpu::seed_from_u64(0);
        let train = TrainSettings {
            d_init_std: 0.3,
            g_init_std: 0.3,
            ..Default::default()
        };
        let mut rng = StdRng::seed_from_u64(5);
        let mut g: SmallG = trainable(&dev, Optim::Adam, 1e-3, 0.3, &train, &mut rng);
        let d: SmallD = trainable(&dev, Optim::Adam, 1e-3, 0.3, &train, &mut rng);
        let losses = EbganPt {
            ebgan: crate::variants::ebgan::Ebgan {
                margin: 10.0,
                norm: EnergyNorm::L2,
            },
            weight: 0.5,
        };
        let z: Rows<LATENT> = normal_rows(&dev, &mut StdRng::seed_from_u64(9), 4);
        let loss_at = |g: &SmallG| -> f64 {
            let fake = generate(g, z.clone().leaky_trace());
            generator_loss(
                &d,
                &losses,
                fake,
                None,
                None::<(&dyn Net<PIXELS, LATENT>, _)>,
                None,
            )
            .0
            .array() as f64
        };
        let fake = generate(&g, z.clone().trace(g.alloc_grads()));
        let grads = generator_loss(
            &d,
            &losses,
            fake,
            None,
            None::<(&dyn Net<PIXELS, LATENT>, _)>,
            None,
        )
        .0
        .backward();
        let analytic = grads.get(&g.net.input.weight).as_vec();
        let base = g.net.input.weight.as_vec();
        // The eight entries with the largest gradients (small ones drown in f32 noise).
        let mut order: Vec<usize> = (0..base.len()).collect();
        order.sort_by(|a, b| analytic[*b].abs().total_cmp(&analytic[*a].abs()));
        let h = 1e-3f32;
        for &i in order.iter().take(8) {
            let mut p = base.clone();
            p[i] += h;
            g.net.input.weight.copy_from(&p);
            let lp = loss_at(&g);
            p[i] -= 2.0 * h;
            g.net.input.weight.copy_from(&p);
            let lm = loss_at(&g);
            g.net.input.weight.copy_from(&base);
            let numeric = (lp - lm) / (2.0 * h as f64);
            let a = analytic[i] as f64;
            assert!(
                (numeric - a).abs() < 0.03 * a.abs() + 1e-4,
                "weight {i}: numeric {numeric} vs autodiff {a}"
            );
            // The entry is far above the absolute tolerance: a zero gradient cannot pass.
            assert!(
                numeric.abs() > 20.0 * 1e-4,
                "weight {i}: {numeric} too small to test"
            );
        }
    }
}
