//! Networks, one family per file, behind one interface ([`Net`]) that the harness drives:
//! [`mlp`] (the fully connected family of the MNIST grid, EBGAN appendix C) and [`conv`] with
//! [`image`] (the convolutional layers and the DCGAN / EBGAN image models, appendix C), and
//! [`energy`] (the energy network U of the energy view, with its input gradient as forward
//! operations).
//! This file holds what the families share: batch norm's affine part per segment of rows,
//! dropout, the optimiser wrapper and the initialisation.

pub mod attention;
pub mod conv;
pub mod edgan;
pub mod energy;
pub mod image;
pub mod init;
pub mod mlp;

pub use mlp::*;

use crate::config::{Optim, TrainSettings};
use crate::shapes::{Matrix, Rows, Traced};
use dfdx::nn::tensor_collection::TensorOptions;
use dfdx::prelude::*;
use ladder::bn::normalize_groups;
pub use ladder::bn::ColumnStats;
use ladder::config::AdamSettings;
use ladder::optim::{AdamState, OwnedAdam};
use rand::{rngs::StdRng, Rng};
use rand_distr::StandardNormal;
use std::cell::{Cell, RefCell};

/// Batch norm's affine part y = γ ⊙ x̂ + β (the normalisation x̂ is [`normalize_groups`]).
#[derive(Clone, Debug)]
pub struct Affine<const W: usize, E: Dtype = f32, D: Device<E> = Cpu> {
    pub gamma: Tensor<Rank1<W>, E, D>,
    pub beta: Tensor<Rank1<W>, E, D>,
}

impl<const W: usize, D: Device<f32>> TensorCollection<f32, D> for Affine<W, f32, D> {
    type To<E2: Dtype, D2: Device<E2>> = Affine<W, E2, D2>;
    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor(
                    "gamma",
                    |s| &s.gamma,
                    |s| &mut s.gamma,
                    TensorOptions::reset_to_ones(),
                ),
                Self::tensor(
                    "beta",
                    |s| &s.beta,
                    |s| &mut s.beta,
                    TensorOptions::reset_to_zeros(),
                ),
            ),
            |(gamma, beta)| Affine { gamma, beta },
        )
    }
}

/// No normalisation (the discriminator's input layer).
#[derive(Clone, Debug, Default)]
pub struct NoNorm<const W: usize>;

impl<const W: usize, D: Device<f32>> TensorCollection<f32, D> for NoNorm<W> {
    type To<E2: Dtype, D2: Device<E2>> = NoNorm<W>;
    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields((), |()| NoNorm)
    }
}

/// A bias only, y = x + β (a layer without batch norm in the image models, whose
/// convolutions carry no bias of their own).
#[derive(Clone, Debug)]
pub struct Bias<const W: usize, E: Dtype = f32, D: Device<E> = Cpu> {
    pub beta: Tensor<Rank1<W>, E, D>,
}

impl<const W: usize, D: Device<f32>> TensorCollection<f32, D> for Bias<W, f32, D> {
    type To<E2: Dtype, D2: Device<E2>> = Bias<W, E2, D2>;
    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            Self::tensor(
                "beta",
                |s| &s.beta,
                |s| &mut s.beta,
                TensorOptions::reset_to_zeros(),
            ),
            |beta| Bias { beta },
        )
    }
}

impl<const W: usize> LayerNorm<W> for Bias<W> {
    const ROW_WISE: bool = true;
    fn apply<T: Tape<f32, Cpu>>(&self, z: Rows<W, T>, _: &[usize], _: f32) -> Rows<W, T> {
        let shape = *z.shape();
        z + self.beta.retaped::<T>().broadcast_like(&shape)
    }
}

/// Which statistics batch norm uses.
#[derive(Clone, Copy, Debug)]
pub enum BnMode<'a> {
    /// The batch's, per segment (training, and the harness's samples).
    Batch,
    /// The batch's (one segment), and each batch-norm layer's statistics appended in the
    /// order of the pass (to build population statistics).
    Collect(&'a RefCell<Vec<ColumnStats>>),
    /// Fixed statistics, one entry per batch-norm layer in the order of the pass (inference:
    /// an image's output does not depend on the rest of its batch).
    Population(&'a [ColumnStats], &'a Cell<usize>),
}

/// The normalisation after a layer's matmul: batch norm over each segment of rows, or none.
pub trait LayerNorm<const W: usize>: TensorCollection<f32, Cpu, To<f32, Cpu> = Self> {
    /// Whether each row's output depends on that row alone, through an identity Jacobian (a
    /// bias or nothing): then a layer's input gradient can be written as forward operations
    /// ([`crate::nets::conv::GradStage`]). Batch norm couples the rows: false.
    const ROW_WISE: bool = false;
    fn apply<T: Tape<f32, Cpu>>(&self, z: Rows<W, T>, segments: &[usize], eps: f32) -> Rows<W, T>;
    /// [`LayerNorm::apply`] with the statistics of `mode` (only batch norm differs).
    fn apply_mode<T: Tape<f32, Cpu>>(
        &self,
        z: Rows<W, T>,
        segments: &[usize],
        eps: f32,
        _mode: BnMode,
    ) -> Rows<W, T> {
        self.apply(z, segments, eps)
    }
}

impl<const W: usize> Affine<W> {
    fn scale_shift<T: Tape<f32, Cpu>>(&self, x: Rows<W, T>) -> Rows<W, T> {
        let shape = *x.shape();
        x * self.gamma.retaped::<T>().broadcast_like(&shape)
            + self.beta.retaped::<T>().broadcast_like(&shape)
    }
}

impl<const W: usize> LayerNorm<W> for Affine<W> {
    fn apply<T: Tape<f32, Cpu>>(&self, z: Rows<W, T>, segments: &[usize], eps: f32) -> Rows<W, T> {
        let (x, _) = normalize_groups(z, segments, eps);
        self.scale_shift(x)
    }

    fn apply_mode<T: Tape<f32, Cpu>>(
        &self,
        z: Rows<W, T>,
        segments: &[usize],
        eps: f32,
        mode: BnMode,
    ) -> Rows<W, T> {
        match mode {
            BnMode::Batch => self.apply(z, segments, eps),
            BnMode::Collect(out) => {
                let rows = z.shape().0;
                let (x, mut stats) = normalize_groups(z, &[rows], eps);
                out.borrow_mut().push(stats.remove(0));
                self.scale_shift(x)
            }
            BnMode::Population(stats, next) => {
                let s = &stats[next.get()];
                next.set(next.get() + 1);
                let dev = z.device().clone();
                let shape = *z.shape();
                let mean: Tensor<Rank1<W>, f32, Cpu> =
                    dev.tensor_from_vec(s.mean.clone(), (Const,));
                let inv: Vec<f32> = s.var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
                let inv: Tensor<Rank1<W>, f32, Cpu> = dev.tensor_from_vec(inv, (Const,));
                let x = (z - mean.broadcast_like(&shape)) * inv.broadcast_like(&shape);
                self.scale_shift(x)
            }
        }
    }
}

impl<const W: usize> LayerNorm<W> for NoNorm<W> {
    const ROW_WISE: bool = true;
    fn apply<T: Tape<f32, Cpu>>(&self, z: Rows<W, T>, _: &[usize], _: f32) -> Rows<W, T> {
        z
    }
}

/// Dropout of a training pass: keep probability 1 − p, kept units scaled by 1 / (1 − p);
/// masks drawn from `rng`.
pub struct Dropout<'a> {
    pub p: f32,
    pub rng: &'a mut StdRng,
}

pub(crate) fn dropout<const W: usize, T: Tape<f32, Cpu>>(
    h: Rows<W, T>,
    drop: &mut Option<Dropout<'_>>,
) -> Rows<W, T> {
    match drop {
        Some(d) if d.p > 0.0 => {
            let rows = h.shape().0;
            let keep = 1.0 / (1.0 - d.p);
            let mask: Vec<f32> = (0..rows * W)
                .map(|_| if d.rng.gen::<f32>() < d.p { 0.0 } else { keep })
                .collect();
            let mask: Rows<W> = h.device().tensor_from_vec(mask, (rows, Const::<W>));
            h * mask
        }
        _ => h,
    }
}

/// A network of the family behind its fixed-width interface, with its optimiser.
pub trait Net<const I: usize, const O: usize> {
    /// Training pass on the tape: outputs and code (see [`Mlp::run`]).
    fn forward(
        &self,
        x: Rows<I, Traced>,
        segments: &[usize],
        drop: Option<Dropout<'_>>,
    ) -> (Rows<O, Traced>, Matrix<Traced>);
    /// The same pass without a tape (batch statistics, no dropout).
    fn forward_untraced(&self, x: Rows<I>, segments: &[usize]) -> Rows<O>;
    /// The training pass (no dropout) with ∇ₓ of each row's summed outputs written as forward
    /// operations on the tape, (n, I), so that a gradient penalty on it is differentiable in
    /// the parameters (spec energy-gan-mcmc.md, "Double backprop without double backprop").
    /// None for a network that cannot write it (batch norm couples the rows; this is the
    /// default).
    fn forward_with_input_grad(
        &self,
        x: Rows<I, Traced>,
        segments: &[usize],
    ) -> Option<(Rows<O, Traced>, Matrix<Traced>, Rows<I, Traced>)> {
        let _ = (x, segments);
        None
    }
    /// The statistics of every batch-norm layer on the one batch `x`, in the order of the
    /// pass, to be pooled into population statistics ([`population_stats`]); empty for a
    /// network without batch norm.
    fn batch_stats(&self, x: Rows<I>) -> Vec<ColumnStats>;
    /// The pass (no dropout) with fixed batch-norm statistics `stats` (one entry per layer,
    /// as [`Net::batch_stats`] orders them), on the tape: a row's output does not depend on
    /// the rest of its batch (inference mode).
    fn forward_population(&self, x: Rows<I, Traced>, stats: &[ColumnStats]) -> Rows<O, Traced>;
    /// A gradient set with an entry for every parameter.
    fn alloc_grads(&self) -> Gradients<f32, Cpu>;
    /// One optimiser step with `grads`, which are then zeroed.
    fn update(&mut self, grads: &mut Gradients<f32, Cpu>);
    /// Zeroes `grads` without a step (a pass whose gradient is not used).
    fn zero_grads(&self, grads: &mut Gradients<f32, Cpu>);
    /// Number of trainable values.
    fn num_params(&self) -> usize;
    /// Per weight layer, input to output: (root-mean-square of the weights, largest |bias|)
    /// — the initialisation's statistics (spec: "Initialisation").
    fn layer_stats(&self) -> Vec<(f64, f64)>;
    /// Parameters and optimiser state, for a checkpoint ([`Trainable::state`]).
    fn state(&mut self) -> Result<NetState, String>;
    /// Restores [`Net::state`] of the same network.
    fn set_state(&mut self, state: &NetState) -> Result<(), String>;
}

/// (Root-mean-square of the weights `w`, largest |bias| of `b`): one layer's entry of
/// [`Net::layer_stats`].
pub(crate) fn layer_weight_stats(w: Vec<f32>, b: Vec<f32>) -> (f64, f64) {
    let rms = (w.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / w.len() as f64).sqrt();
    (rms, b.iter().fold(0f64, |m, v| m.max(v.abs() as f64)))
}

/// Population statistics of `net` from batches of inputs: per batch-norm layer, the mean of
/// the batches' means and the mean of their (biased) variances plus the variance of their
/// means, each batch weighted by its rows (at the first normalised layer exactly the
/// statistics of the union). Empty for a network without batch norm or no batches.
pub fn population_stats<const I: usize, const O: usize>(
    net: &dyn Net<I, O>,
    batches: impl IntoIterator<Item = Rows<I>>,
) -> Vec<ColumnStats> {
    let chunks: Vec<(usize, Vec<ColumnStats>)> = batches
        .into_iter()
        .map(|x| (x.shape().0, net.batch_stats(x)))
        .collect();
    pool_stats(&chunks)
}

/// Pools per-batch statistics `(rows, stats per layer)` as [`population_stats`] describes.
pub fn pool_stats(chunks: &[(usize, Vec<ColumnStats>)]) -> Vec<ColumnStats> {
    let total: usize = chunks.iter().map(|c| c.0).sum();
    let Some(first) = chunks.first() else {
        return Vec::new();
    };
    (0..first.1.len())
        .map(|l| {
            let w = first.1[l].mean.len();
            let mut mean = vec![0f64; w];
            let mut var = vec![0f64; w];
            for (n, ch) in chunks {
                let k = *n as f64 / total as f64;
                for (m, v) in mean.iter_mut().zip(&ch[l].mean) {
                    *m += k * *v as f64;
                }
            }
            for (n, ch) in chunks {
                let k = *n as f64 / total as f64;
                for ((s, v), (cm, m)) in var
                    .iter_mut()
                    .zip(&ch[l].var)
                    .zip(ch[l].mean.iter().zip(&mean))
                {
                    let d = *cm as f64 - m;
                    *s += k * (*v as f64 + d * d);
                }
            }
            ColumnStats {
                mean: mean.into_iter().map(|v| v as f32).collect(),
                var: var.into_iter().map(|v| v as f32).collect(),
            }
        })
        .collect()
}

/// Adam is the project-owned one ([`OwnedAdam`], dfdx's kernel with public moments), so
/// that image runs can checkpoint and resume exactly.
pub(crate) enum Optimiser<M> {
    Adam(OwnedAdam),
    Sgd(dfdx::optim::Sgd<M, f32, Cpu>),
    /// Optimistic Adam over the trainable values in visiting order (sized at the first step).
    OAdam(crate::optim::oadam::OAdam),
}

/// A network's parameters (in visiting order) and its optimiser's state, for checkpoints.
#[derive(Clone, Debug, PartialEq)]
pub struct NetState {
    pub params: Vec<Vec<f32>>,
    /// Adam's moments; None for SGD (plain SGD has no state; SGD with momentum cannot be
    /// checkpointed and is refused by [`Trainable::state`]) and for OAdam.
    pub adam: Option<AdamState>,
    /// Optimistic Adam's state, for a network trained with it.
    pub oadam: Option<crate::optim::oadam::OAdam>,
    /// Persistent non-trainable state of the layers in visiting order (the power-iteration
    /// vectors u of spectrally normalised layers); empty for most networks.
    pub buffers: Vec<Vec<f32>>,
}

/// A network with its optimiser and batch-norm ε.
pub struct Trainable<M> {
    pub net: M,
    pub(crate) opt: Optimiser<M>,
    /// Batch-norm ε of every pass of `net`.
    pub eps: f32,
}

impl<M: TensorCollection<f32, Cpu, To<f32, Cpu> = M>> Trainable<M> {
    /// `net` with the optimiser `optim` at learning rate `lr` (Adam's β, ε and SGD's momentum
    /// from `train`).
    pub fn new(net: M, optim: Optim, lr: f32, train: &TrainSettings) -> Self {
        let opt = match optim {
            Optim::Adam => Optimiser::Adam(OwnedAdam::new(&AdamSettings {
                lr,
                beta1: train.adam_beta1,
                beta2: train.adam_beta2,
                eps: train.adam_eps,
            })),
            Optim::Sgd => Optimiser::Sgd(dfdx::optim::Sgd::new(
                &net,
                SgdConfig {
                    lr: lr as f64,
                    momentum: (train.sgd_momentum > 0.0)
                        .then_some(Momentum::Classic(train.sgd_momentum as f64)),
                    weight_decay: None,
                },
            )),
            Optim::OAdam => Optimiser::OAdam(crate::optim::oadam::OAdam::new(
                0,
                lr,
                train.adam_beta1,
                train.adam_beta2,
                train.adam_eps,
            )),
        };
        Trainable {
            net,
            opt,
            eps: train.bn_eps,
        }
    }

    /// Sets the optimiser's learning rate (for a schedule).
    pub fn set_lr(&mut self, lr: f32) {
        match &mut self.opt {
            Optimiser::Adam(o) => o.cfg.lr = lr as f64,
            Optimiser::Sgd(o) => o.cfg.lr = lr as f64,
            Optimiser::OAdam(o) => o.lr = lr,
        }
    }

    /// One optimiser step with `grads` (from `alloc_grads`), which are then zeroed.
    pub(crate) fn step(&mut self, grads: &mut Gradients<f32, Cpu>) {
        match &mut self.opt {
            Optimiser::Adam(o) => o.update(&mut self.net, grads),
            Optimiser::Sgd(o) => o
                .update(&mut self.net, grads)
                .expect("every parameter has a gradient (grads from alloc_grads)"),
            Optimiser::OAdam(o) => {
                let (mut theta, grad) = trainable_values(&self.net, grads);
                if o.t == 0 && o.m.is_empty() {
                    *o =
                        crate::optim::oadam::OAdam::new(theta.len(), o.lr, o.beta1, o.beta2, o.eps);
                }
                o.step(&mut theta, &grad);
                ladder::fast::unflatten(&mut self.net, &theta);
            }
        };
        self.net.zero_grads(grads);
    }

    /// The parameters and the optimiser state (an error for SGD with momentum, whose state
    /// dfdx keeps private).
    pub fn state(&mut self) -> Result<NetState, String> {
        let params = param_values(&self.net);
        let (adam, oadam) = match &mut self.opt {
            Optimiser::Adam(o) => (Some(o.state(&mut self.net)), None),
            Optimiser::Sgd(o) if o.cfg.momentum.is_some() => {
                return Err("SGD with momentum cannot be checkpointed".into())
            }
            Optimiser::Sgd(_) => (None, None),
            Optimiser::OAdam(o) => (None, Some(o.clone())),
        };
        Ok(NetState {
            params,
            adam,
            oadam,
            buffers: Vec::new(),
        })
    }

    /// Restores a state from [`Trainable::state`] of the same network type.
    pub fn set_state(&mut self, state: &NetState) -> Result<(), String> {
        set_param_values(&mut self.net, &state.params)?;
        match (&mut self.opt, &state.adam, &state.oadam) {
            (Optimiser::Adam(o), Some(a), None) => o.set_state(&mut self.net, a),
            (Optimiser::Sgd(_), None, None) => Ok(()),
            (Optimiser::OAdam(o), None, Some(s)) => {
                let n = ladder::fast::flatten(&self.net).len();
                if s.m.len() != n && !(s.t == 0 && s.m.is_empty()) {
                    return Err(format!(
                        "the checkpoint's OAdam state has {} values, the network {n}",
                        s.m.len()
                    ));
                }
                *o = s.clone();
                Ok(())
            }
            _ => Err("the checkpoint's optimiser is not this network's".into()),
        }
    }
}

/// The trainable values of `m` and their gradients in `grads`, each flattened in visiting
/// order (the flat vectors of [`crate::optim::oadam::OAdam`]).
fn trainable_values<M: TensorCollection<f32, Cpu>>(
    m: &M,
    grads: &Gradients<f32, Cpu>,
) -> (Vec<f32>, Vec<f32>) {
    let mut grad = Vec::new();
    ladder::params::for_each(m, |p| {
        if p.trainable() {
            grad.extend(p.grad(grads));
        }
    });
    (ladder::fast::flatten(m), grad)
}

/// Every parameter's values in visiting order (batch-norm running statistics included).
pub fn param_values<M: TensorCollection<f32, Cpu>>(m: &M) -> Vec<Vec<f32>> {
    let mut out = Vec::new();
    ladder::params::for_each(m, |p| out.push(p.values()));
    out
}

/// Sets every parameter from `values` (from [`param_values`] of the same type).
///
/// # Errors
/// When the count or a length differs, in which case the network may be partly overwritten.
pub fn set_param_values<M: TensorCollection<f32, Cpu>>(
    m: &mut M,
    values: &[Vec<f32>],
) -> Result<(), String> {
    let (mut index, mut error) = (0, None);
    ladder::params::for_each_mut(m, |p| {
        let i = index;
        index += 1;
        match values.get(i) {
            Some(v) if v.len() == p.len() => p.write(v),
            Some(v) if error.is_none() => {
                error = Some(format!(
                    "parameter {i}: {} values, the network has {}",
                    v.len(),
                    p.len()
                ))
            }
            _ => {}
        }
    });
    if let Some(e) = error {
        return Err(e);
    }
    if index != values.len() {
        return Err(format!(
            "{} parameters saved, the network has {}",
            values.len(),
            index
        ));
    }
    Ok(())
}

pub(crate) fn fill_normal<S: Shape>(t: &mut Tensor<S, f32, Cpu>, std: f32, rng: &mut StdRng) {
    t.copy_from(&normal_values(t.shape().num_elements(), std, rng));
}

/// `n` draws of N(0, `std`²) from `rng`, in order.
pub(crate) fn normal_values(n: usize, std: f32, rng: &mut StdRng) -> Vec<f32> {
    (0..n)
        .map(|_| std * rng.sample::<f32, _>(StandardNormal))
        .collect()
}
