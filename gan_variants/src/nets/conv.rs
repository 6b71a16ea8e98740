//! The convolutional family: its layers, and how they chain into a network behind [`Net`].
//!
//! A batch of feature maps is [`Maps<C>`]: rows `(N · side · side, C)` in NHWC order (the
//! layout of [`crate::ops::conv`]) with the side carried at run time. The channel count `C` is a
//! type parameter, so a mismatched layer chain does not compile; the side is checked when a
//! network is built ([`Layers::describe`]).
//!
//! A layer is a convolution ([`Conv`]) or a transposed convolution ([`ConvT`]) with
//! compile-time channels, kernel, stride and padding, followed by its normalisation `N`
//! ([`Affine`]: batch norm per channel over (N, H, W) within each segment of images, real and
//! fake halves apart — spec "DCGAN D with batch norm"; [`Bias`]: a bias only; [`NoNorm`]) and
//! its activation `A` ([`Relu`], [`LeakyRelu`] with α = 0.2, [`Identity`]). A layer followed by
//! batch norm has no bias of its own (β replaces it). Weights are kept as rank-4 tensors whose
//! row-major layout is the matmul operand of [`conv2d`] / [`conv_t2d`]: (ky, kx, C_in, C_out)
//! for a convolution, (C_in, ky, kx, C_out) for a transposed one; the reshape shares storage
//! and identity, so their gradients land on the parameters.
//!
//! A network is [`ConvNet`]: a trunk and a head (tuples of layers). The trunk's output is the
//! network's "code" (the EBGAN encoder output S of eq. 14 for the pulling-away term; D's last
//! hidden maps for DCGAN). Rows of the harness (`Rows<I>`, one image per row, HWC order) are the
//! same memory as maps of one image per `side²` rows, so entering and leaving the family is a
//! reshape.

use super::{normal_values, Affine, Bias, BnMode, Dropout, LayerNorm, Net, NoNorm, Trainable};
use crate::ops::activation::leaky_relu;
use crate::ops::conv::{conv2d, conv_t2d, Geometry, Mat};
use crate::ops::spectral_norm::spectral_normalise_transposed;
use crate::shapes::{Matrix, Rows, Traced};
use dfdx::nn::tensor_collection::{TensorCollection, TensorOptions};
use dfdx::prelude::*;
use ladder::fast::values;
use rand::rngs::StdRng;
use std::marker::PhantomData;

/// Feature maps of `C` channels: rows (N · side · side, C), NHWC.
pub struct Maps<const C: usize, T = NoneTape> {
    pub x: Rows<C, T>,
    pub side: usize,
}

/// What a pass needs besides its input: the batch-norm segments (in *images*), ε and which
/// statistics batch norm uses.
#[derive(Clone, Copy, Debug)]
pub struct Pass<'a> {
    pub segments: &'a [usize],
    pub eps: f32,
    pub bn: BnMode<'a>,
}

impl Pass<'_> {
    /// The segments in rows of maps of side `side`.
    fn rows(&self, side: usize) -> Vec<usize> {
        self.segments.iter().map(|n| n * side * side).collect()
    }
}

/// A layer or a chain of layers mapping maps `In` to `Self::Out`.
pub trait Stage<In> {
    type Out;
    fn run(&self, x: In, pass: &Pass) -> Self::Out;
}

/// What a layer is, for shape tests, FLOP counts and the initialisation's statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerInfo {
    /// "conv" or "conv_t".
    pub kind: &'static str,
    pub c_in: usize,
    pub c_out: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
    pub side_in: usize,
    pub side_out: usize,
    /// Multiply-adds × 2 of the layer's matmul per image (forward).
    pub flops_per_image: f64,
    /// Root-mean-square of the weights and largest |bias| (0 without a bias).
    pub weight_rms: f64,
    pub bias_max: f64,
}

/// The shapes of a chain of layers.
pub trait Layers {
    /// Appends one [`LayerInfo`] per layer for an input of side `side`; returns the output
    /// side, or an error naming the layer that does not fit.
    fn describe(&self, side: usize, out: &mut Vec<LayerInfo>) -> Result<usize, String>;
    /// Appends the layers' persistent non-trainable state in order (a spectrally normalised
    /// layer's u; nothing for the others), for a checkpoint.
    fn buffers(&self, _out: &mut Vec<Vec<f32>>) {}
    /// Restores [`Layers::buffers`] from `it`, in the same order.
    fn set_buffers(&self, _it: &mut std::slice::Iter<'_, Vec<f32>>) -> Result<(), String> {
        Ok(())
    }
    /// Orthogonal initialisation of every weight, gain 1 ([`crate::nets::init`]), drawn from
    /// `rng` layer after layer.
    fn init_orthogonal(&mut self, _rng: &mut StdRng) {}
}

/// An activation applied element-wise after the normalisation; all three are piecewise
/// linear: slope 1 for x > 0, [`Activation::SLOPE`] otherwise.
pub trait Activation: Clone + std::fmt::Debug + Default {
    /// The slope for x ≤ 0 (ReLU 0, LeakyReLU 0.2, identity 1).
    const SLOPE: f32;
    fn apply<S: Shape, T: Tape<f32, Cpu>>(x: Tensor<S, f32, Cpu, T>) -> Tensor<S, f32, Cpu, T>;
}

/// max(x, 0).
#[derive(Clone, Copy, Debug, Default)]
pub struct Relu;
/// LeakyReLU with α = 0.2 (Radford et al. 2016).
#[derive(Clone, Copy, Debug, Default)]
pub struct LeakyRelu;
/// No activation (output layers: the harness applies tanh to G's output; D's logit and the
/// EBGAN reconstruction are linear).
#[derive(Clone, Copy, Debug, Default)]
pub struct Identity;

/// The slope of [`LeakyRelu`] for x < 0.
pub const LEAKY_SLOPE: f32 = 0.2;

impl Activation for Relu {
    const SLOPE: f32 = 0.0;
    fn apply<S: Shape, T: Tape<f32, Cpu>>(x: Tensor<S, f32, Cpu, T>) -> Tensor<S, f32, Cpu, T> {
        x.relu()
    }
}
impl Activation for LeakyRelu {
    const SLOPE: f32 = LEAKY_SLOPE;
    fn apply<S: Shape, T: Tape<f32, Cpu>>(x: Tensor<S, f32, Cpu, T>) -> Tensor<S, f32, Cpu, T> {
        leaky_relu(x, LEAKY_SLOPE)
    }
}
impl Activation for Identity {
    const SLOPE: f32 = 1.0;
    fn apply<S: Shape, T: Tape<f32, Cpu>>(x: Tensor<S, f32, Cpu, T>) -> Tensor<S, f32, Cpu, T> {
        x
    }
}

/// A convolution C_I → C_O, kernel K, stride S, padding P, then `N` and `A`.
/// Output side ⌊(side + 2P − K)/S⌋ + 1.
#[derive(Clone, Debug)]
pub struct Conv<
    const CI: usize,
    const CO: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    N,
    A,
    E: Dtype = f32,
    D: Device<E> = Cpu,
> {
    /// (ky, kx, C_in, C_out).
    pub weight: Tensor<(Const<K>, Const<K>, Const<CI>, Const<CO>), E, D>,
    pub norm: N,
    pub act: PhantomData<A>,
}

/// A transposed convolution C_I → C_O, kernel K, stride S, padding P, then `N` and `A`.
/// Output side (side − 1)·S − 2P + K (K = 4, S = 2, P = 1 doubles; K = 4, S = 1, P = 0 turns
/// a 1 × 1 map — a latent vector — into 4 × 4: DCGAN's projection of z).
#[derive(Clone, Debug)]
pub struct ConvT<
    const CI: usize,
    const CO: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    N,
    A,
    E: Dtype = f32,
    D: Device<E> = Cpu,
> {
    /// (C_in, ky, kx, C_out).
    pub weight: Tensor<(Const<CI>, Const<K>, Const<K>, Const<CO>), E, D>,
    pub norm: N,
    pub act: PhantomData<A>,
}

macro_rules! layer_impls {
    ($name:ident, $kind:literal, $out:ident, $op:ident) => {
        impl<const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize, N, A, D>
            TensorCollection<f32, D> for $name<CI, CO, K, S, P, N, A, f32, D>
        where
            N: TensorCollection<f32, D>,
            A: Activation,
            D: Device<f32>,
        {
            type To<E2: Dtype, D2: Device<E2>> = $name<CI, CO, K, S, P, N::To<E2, D2>, A, E2, D2>;
            fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
                visitor: &mut V,
            ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
                visitor.visit_fields(
                    (
                        // Overwritten by the builder's initialisation (N(0, σ²)).
                        Self::tensor(
                            "weight",
                            |s| &s.weight,
                            |s| &mut s.weight,
                            TensorOptions::reset_to_zeros(),
                        ),
                        Self::module("norm", |s| &s.norm, |s| &mut s.norm),
                    ),
                    |(weight, norm)| $name {
                        weight,
                        norm,
                        act: PhantomData,
                    },
                )
            }
        }

        impl<const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize, N, A, T>
            Stage<Maps<CI, T>> for $name<CI, CO, K, S, P, N, A>
        where
            N: LayerNorm<CO>,
            A: Activation,
            T: Tape<f32, Cpu>,
        {
            type Out = Maps<CO, T>;
            fn run(&self, m: Maps<CI, T>, pass: &Pass) -> Maps<CO, T> {
                let g = Geometry::new(K, S, P);
                let side = g.$out(m.side).expect("sides checked when the network was built");
                let rows = m.x.shape().0;
                let n = rows / (m.side * m.side);
                let x: Mat<T> = m.x.reshape_like(&(rows, CI));
                let (a, b) = Self::MATMUL;
                let w: Mat = self.weight.clone().reshape_like(&(a, b));
                let y = $op(x, &w, m.side, m.side, g);
                let y: Rows<CO, T> = y.reshape_like(&(n * side * side, Const::<CO>));
                let y = A::apply(self.norm.apply_mode(y, &pass.rows(side), pass.eps, pass.bn));
                Maps { x: y, side }
            }
        }

        impl<const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize, N, A>
            $name<CI, CO, K, S, P, N, A>
        {
            /// The weight as the matmul operand of the op.
            const MATMUL: (usize, usize) = matmul_shape($kind, CI, CO, K);
        }

        impl<const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize, N, A>
            Layers for $name<CI, CO, K, S, P, N, A>
        where
            N: BiasOf,
        {
            fn describe(&self, side: usize, out: &mut Vec<LayerInfo>) -> Result<usize, String> {
                let g = Geometry::new(K, S, P);
                let side_out = g.$out(side).ok_or_else(|| {
                    format!(
                        "layer {} ({}, {CI} → {CO}, kernel {K}, stride {S}, padding {P}) does not fit a {side} × {side} input",
                        out.len() + 1, $kind
                    )
                })?;
                // conv: one (ho·wo, K²·C_in)·(K²·C_in, C_out) product per image; conv_t: one
                // (h·w, C_in)·(C_in, K²·C_out) product per image.
                let pixels = if $kind == "conv" { side_out * side_out } else { side * side };
                let w = self.weight.as_vec();
                out.push(LayerInfo {
                    kind: $kind,
                    c_in: CI,
                    c_out: CO,
                    kernel: K,
                    stride: S,
                    pad: P,
                    side_in: side,
                    side_out,
                    flops_per_image: 2.0 * (pixels * K * K * CI * CO) as f64,
                    weight_rms: rms(&w),
                    bias_max: self.norm.bias_max(),
                });
                Ok(side_out)
            }

            fn init_orthogonal(&mut self, rng: &mut StdRng) {
                orthogonal_weight($kind, &mut self.weight, CI, CO, K, rng);
            }
        }
    };
}

/// An orthogonal `weight` in its layer's layout. A convolution's operand (k·k·C_in, C_out) is
/// the transpose of the (C_out, C_in·k·k) matrix whose rows are made orthonormal; a transposed
/// convolution's (C_in, k·k·C_out) is already the (C_in, C_out·k·k) matrix of the spec's pitfall
/// (its first axis is the input channels). The order within k·k·C is a fixed permutation of
/// the columns, which keeps the rows orthonormal.
fn orthogonal_weight<S: Shape>(
    kind: &str,
    weight: &mut Tensor<S, f32, Cpu>,
    ci: usize,
    co: usize,
    k: usize,
    rng: &mut StdRng,
) {
    let v = if kind == "conv" {
        let m = super::init::orthogonal(co, k * k * ci, 1.0, rng);
        let mut t = vec![0f32; m.len()];
        for r in 0..co {
            for c in 0..k * k * ci {
                t[c * co + r] = m[r * k * k * ci + c];
            }
        }
        t
    } else {
        super::init::orthogonal(ci, k * k * co, 1.0, rng)
    };
    weight.copy_from(&v);
}

const fn matmul_shape(kind: &str, ci: usize, co: usize, k: usize) -> (usize, usize) {
    if kind.len() == 4 {
        (k * k * ci, co)
    } else {
        (ci, k * k * co)
    }
}

layer_impls!(Conv, "conv", conv_out, conv2d);
layer_impls!(ConvT, "conv_t", conv_t_out, conv_t2d);

/// A convolution whose weight is spectrally normalised (Miyato et al. 2018; EDGAN's SN_in_P,
/// SNGAN): it convolves with W/σ(W), σ from one power iteration per training pass (traced,
/// batch statistics, [`BnMode::Batch`]) from the persistent u, which is a checkpoint buffer
/// ([`Layers::buffers`]); untraced and inference passes use the current u without advancing
/// it. σ is
/// differentiable in W ([`crate::ops::spectral_norm`]); W itself is never rescaled. u has one
/// entry per output channel (the rows of W as (C_out, C_in·k·k)) and starts as the all-ones
/// vector (normalised by the first iteration). Then `N` and `A` as [`Conv`].
#[derive(Debug)]
pub struct SnConv<
    const CI: usize,
    const CO: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    N,
    A,
    E: Dtype = f32,
    D: Device<E> = Cpu,
> {
    /// (ky, kx, C_in, C_out), as [`Conv`].
    pub weight: Tensor<(Const<K>, Const<K>, Const<CI>, Const<CO>), E, D>,
    pub norm: N,
    pub act: PhantomData<A>,
    /// The power iteration's u (C_out values; empty before the first pass).
    pub u: std::sync::Mutex<Vec<f32>>,
}

impl<
        const CI: usize,
        const CO: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        N,
        A,
        E,
        D,
    > Clone for SnConv<CI, CO, K, S, P, N, A, E, D>
where
    N: Clone,
    E: Dtype,
    D: Device<E>,
{
    fn clone(&self) -> Self {
        Self {
            weight: self.weight.clone(),
            norm: self.norm.clone(),
            act: PhantomData,
            u: std::sync::Mutex::new(self.u.lock().expect("not poisoned").clone()),
        }
    }
}

impl<const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize, N, A, D>
    TensorCollection<f32, D> for SnConv<CI, CO, K, S, P, N, A, f32, D>
where
    N: TensorCollection<f32, D>,
    A: Activation,
    D: Device<f32>,
{
    type To<E2: Dtype, D2: Device<E2>> = SnConv<CI, CO, K, S, P, N::To<E2, D2>, A, E2, D2>;
    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor(
                    "weight",
                    |s| &s.weight,
                    |s| &mut s.weight,
                    TensorOptions::reset_to_zeros(),
                ),
                Self::module("norm", |s| &s.norm, |s| &mut s.norm),
            ),
            |(weight, norm)| SnConv {
                weight,
                norm,
                act: PhantomData,
                u: std::sync::Mutex::new(Vec::new()),
            },
        )
    }
}

impl<const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize, N, A, T>
    Stage<Maps<CI, T>> for SnConv<CI, CO, K, S, P, N, A>
where
    N: LayerNorm<CO>,
    A: Activation,
    T: Tape<f32, Cpu> + Merge<T>,
{
    type Out = Maps<CO, T>;
    fn run(&self, m: Maps<CI, T>, pass: &Pass) -> Maps<CO, T> {
        let g = Geometry::new(K, S, P);
        let side = g
            .conv_out(m.side)
            .expect("sides checked when the network was built");
        let rows = m.x.shape().0;
        let n = rows / (m.side * m.side);
        let w: Mat = self.weight.clone().reshape_like(&(K * K * CI, CO));
        let mut u = self.u.lock().expect("not poisoned").clone();
        if u.is_empty() {
            u = vec![0.0; CO];
        }
        // W/σ on the input's tape type, so that σ's gradient reaches W in a traced pass.
        let (w_sn, _) = spectral_normalise_transposed(w.retaped::<T>(), &mut u);
        // Training passes only: traced, batch statistics (an untraced pass — samples,
        // scoring — must not move u, or a resume would differ).
        if matches!(pass.bn, BnMode::Batch) && T::OWNS_TAPE {
            *self.u.lock().expect("not poisoned") = u;
        }
        let (w_sn, w_tape) = w_sn.split_tape();
        let (x, x_tape) = m.x.reshape_like(&(rows, CI)).split_tape();
        let x: Mat<T> = x.put_tape(x_tape.merge(w_tape));
        let y = conv2d(x, &w_sn, m.side, m.side, g);
        let y: Rows<CO, T> = y.reshape_like(&(n * side * side, Const::<CO>));
        let y = A::apply(self.norm.apply_mode(y, &pass.rows(side), pass.eps, pass.bn));
        Maps { x: y, side }
    }
}

impl<const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize, N, A> Layers
    for SnConv<CI, CO, K, S, P, N, A>
where
    N: BiasOf,
{
    fn describe(&self, side: usize, out: &mut Vec<LayerInfo>) -> Result<usize, String> {
        let side_out = Geometry::new(K, S, P).conv_out(side).ok_or_else(|| {
            format!(
                "layer {} (spectrally normalised conv, {CI} → {CO}, kernel {K}, stride {S}, padding {P}) does not fit a {side} × {side} input",
                out.len() + 1
            )
        })?;
        out.push(LayerInfo {
            kind: "conv",
            c_in: CI,
            c_out: CO,
            kernel: K,
            stride: S,
            pad: P,
            side_in: side,
            side_out,
            flops_per_image: 2.0 * (side_out * side_out * K * K * CI * CO) as f64,
            weight_rms: rms(&self.weight.as_vec()),
            bias_max: self.norm.bias_max(),
        });
        Ok(side_out)
    }
    fn buffers(&self, out: &mut Vec<Vec<f32>>) {
        out.push(self.u.lock().expect("not poisoned").clone());
    }
    fn set_buffers(&self, it: &mut std::slice::Iter<'_, Vec<f32>>) -> Result<(), String> {
        let u = it
            .next()
            .ok_or("the checkpoint has fewer buffers than this network")?;
        if !(u.is_empty() || u.len() == CO) {
            return Err(format!(
                "a spectral norm's u has {} values, the layer {CO}",
                u.len()
            ));
        }
        *self.u.lock().expect("not poisoned") = u.clone();
        Ok(())
    }
    fn init_orthogonal(&mut self, rng: &mut StdRng) {
        orthogonal_weight("conv", &mut self.weight, CI, CO, K, rng);
    }
}

fn rms(w: &[f32]) -> f64 {
    (w.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / w.len().max(1) as f64).sqrt()
}

/// The largest |bias| of a normalisation (β of batch norm counts: it is the layer's bias).
pub trait BiasOf {
    fn bias_max(&self) -> f64;
}
impl<const W: usize> BiasOf for Affine<W> {
    fn bias_max(&self) -> f64 {
        self.beta
            .as_vec()
            .iter()
            .fold(0f64, |m, v| m.max(v.abs() as f64))
    }
}
impl<const W: usize> BiasOf for Bias<W> {
    fn bias_max(&self) -> f64 {
        self.beta
            .as_vec()
            .iter()
            .fold(0f64, |m, v| m.max(v.abs() as f64))
    }
}
impl<const W: usize> BiasOf for NoNorm<W> {
    fn bias_max(&self) -> f64 {
        0.0
    }
}

/// Stage for tuples: written out per arity (a chain's types are fixed at each position).
impl<In, A: Stage<In>> Stage<In> for (A,) {
    type Out = A::Out;
    fn run(&self, x: In, pass: &Pass) -> A::Out {
        self.0.run(x, pass)
    }
}
impl<In, A: Stage<In>, B: Stage<A::Out>> Stage<In> for (A, B) {
    type Out = B::Out;
    fn run(&self, x: In, pass: &Pass) -> B::Out {
        self.1.run(self.0.run(x, pass), pass)
    }
}
impl<In, A: Stage<In>, B: Stage<A::Out>, C: Stage<B::Out>> Stage<In> for (A, B, C) {
    type Out = C::Out;
    fn run(&self, x: In, pass: &Pass) -> C::Out {
        self.2.run(self.1.run(self.0.run(x, pass), pass), pass)
    }
}
impl<In, A: Stage<In>, B: Stage<A::Out>, C: Stage<B::Out>, D: Stage<C::Out>> Stage<In>
    for (A, B, C, D)
{
    type Out = D::Out;
    fn run(&self, x: In, pass: &Pass) -> D::Out {
        let x = self.2.run(self.1.run(self.0.run(x, pass), pass), pass);
        self.3.run(x, pass)
    }
}
impl<In, A: Stage<In>, B: Stage<A::Out>, C: Stage<B::Out>, D: Stage<C::Out>, F: Stage<D::Out>>
    Stage<In> for (A, B, C, D, F)
{
    type Out = F::Out;
    fn run(&self, x: In, pass: &Pass) -> F::Out {
        let x = self.2.run(self.1.run(self.0.run(x, pass), pass), pass);
        self.4.run(self.3.run(x, pass), pass)
    }
}
#[allow(clippy::type_complexity)]
impl<
        In,
        A: Stage<In>,
        B: Stage<A::Out>,
        C: Stage<B::Out>,
        D: Stage<C::Out>,
        F: Stage<D::Out>,
        G: Stage<F::Out>,
    > Stage<In> for (A, B, C, D, F, G)
{
    type Out = G::Out;
    fn run(&self, x: In, pass: &Pass) -> G::Out {
        let x = self.2.run(self.1.run(self.0.run(x, pass), pass), pass);
        self.5.run(self.4.run(self.3.run(x, pass), pass), pass)
    }
}

macro_rules! tuple_layers {
    ($($name:ident $idx:tt),+) => {
        impl<$($name: Layers),+> Layers for ($($name,)+) {
            fn describe(&self, side: usize, out: &mut Vec<LayerInfo>) -> Result<usize, String> {
                $(let side = self.$idx.describe(side, out)?;)+
                Ok(side)
            }
            fn buffers(&self, out: &mut Vec<Vec<f32>>) {
                $(self.$idx.buffers(out);)+
            }
            fn set_buffers(&self, it: &mut std::slice::Iter<'_, Vec<f32>>) -> Result<(), String> {
                $(self.$idx.set_buffers(it)?;)+
                Ok(())
            }
            fn init_orthogonal(&mut self, rng: &mut StdRng) {
                $(self.$idx.init_orthogonal(rng);)+
            }
        }
    };
}
tuple_layers!(A 0);
tuple_layers!(A 0, B 1);
tuple_layers!(A 0, B 1, C 2);
tuple_layers!(A 0, B 1, C 2, D 3);
tuple_layers!(A 0, B 1, C 2, D 3, F 4);
tuple_layers!(A 0, B 1, C 2, D 3, F 4, G 5);

/// A convolutional network from rows of `I` = side_in² · `CI` values (one image per row,
/// HWC) to rows of `O` = side_out² · `CO` values: `trunk` (ending in `CM` channels), then
/// `head`. The trunk's output is the code.
#[derive(Clone, Debug)]
pub struct ConvNet<
    const I: usize,
    const CI: usize,
    const CM: usize,
    const O: usize,
    const CO: usize,
    Tr,
    H,
> {
    pub trunk: Tr,
    pub head: H,
}

impl<const I: usize, const CI: usize, const CM: usize, const O: usize, const CO: usize, Tr, H>
    TensorCollection<f32, Cpu> for ConvNet<I, CI, CM, O, CO, Tr, H>
where
    Tr: TensorCollection<f32, Cpu, To<f32, Cpu> = Tr>,
    H: TensorCollection<f32, Cpu, To<f32, Cpu> = H>,
{
    type To<E2: Dtype, D2: Device<E2>> = ConvNet<I, CI, CM, O, CO, Tr::To<E2, D2>, H::To<E2, D2>>;
    fn iter_tensors<V: ModuleVisitor<Self, f32, Cpu>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("trunk", |s| &s.trunk, |s| &mut s.trunk),
                Self::module("head", |s| &s.head, |s| &mut s.head),
            ),
            |(trunk, head)| ConvNet { trunk, head },
        )
    }
}

/// The side of a square image of `values` = side² · `channels` values, if there is one.
pub fn side_of(values: usize, channels: usize) -> Option<usize> {
    if channels == 0 || !values.is_multiple_of(channels) {
        return None;
    }
    let pixels = values / channels;
    let side = (pixels as f64).sqrt().round() as usize;
    (side * side == pixels).then_some(side)
}

impl<
        const I: usize,
        const CI: usize,
        const CM: usize,
        const O: usize,
        const CO: usize,
        Tr: Layers,
        H: Layers,
    > ConvNet<I, CI, CM, O, CO, Tr, H>
{
    /// Every layer's shape, checked: the input is square, each layer fits, and the output has
    /// `O` values per image.
    pub fn layers(&self) -> Result<Vec<LayerInfo>, String> {
        let side = side_of(I, CI)
            .ok_or_else(|| format!("{I} inputs are not a square image of {CI} channels"))?;
        let mut out = Vec::new();
        let side = self
            .head
            .describe(self.trunk.describe(side, &mut out)?, &mut out)?;
        if side * side * CO != O {
            return Err(format!(
                "the network ends in {side} × {side} × {CO} = {} values, not {O}",
                side * side * CO
            ));
        }
        Ok(out)
    }

    /// Forward matmul FLOPs per image (× 3 for forward + backward of every operand).
    pub fn flops_per_image(&self) -> f64 {
        self.layers()
            .map(|l| l.iter().map(|l| l.flops_per_image).sum())
            .unwrap_or(f64::NAN)
    }

    /// The pass on rows of images; returns the output rows and the code (the trunk's output
    /// maps as one row per image, an empty-tape copy sharing the trunk output's identity, so
    /// that a loss on it reaches the trunk).
    pub fn run<T>(&self, x: Rows<I, T>, pass: &Pass) -> (Rows<O, T>, Matrix<T>)
    where
        T: Tape<f32, Cpu>,
        Tr: Stage<Maps<CI, T>, Out = Maps<CM, T>>,
        H: Stage<Maps<CM, T>, Out = Maps<CO, T>>,
    {
        let n = x.shape().0;
        let side = side_of(I, CI).expect("checked when built");
        let maps = Maps {
            x: x.reshape_like(&(n * side * side, Const::<CI>)),
            side,
        };
        let mid = self.trunk.run(maps, pass);
        let code_width = mid.x.shape().0 / n * CM;
        let code = mid.x.with_empty_tape().reshape_like(&(n, code_width));
        let out = self.head.run(mid, pass);
        (out.x.reshape_like(&(n, Const::<O>)), code)
    }
}

/// What a recording pass keeps of one layer for the input-gradient chain: the activation's
/// derivative at the pass (a constant (rows, C_out) mask: 1 where the output is positive, the
/// activation's [`Activation::SLOPE`] elsewhere) and the layer's input side.
pub struct GradRecord {
    mask: Mat,
    side_in: usize,
}

/// ∇ₓ of a network's summed outputs written as forward operations (spec energy-gan-mcmc.md,
/// "double backprop without double backprop"; [`crate::ops::input_grad`]): a recording pass
/// keeps each layer's activation mask, then the chain g ↦ Jᵀ(g ⊙ a') runs from the output back
/// to the input with the traced weights, Jᵀ of a convolution being the transposed convolution
/// with Wᵀ. Possible for convolutions followed by a bias or nothing and a piecewise-linear
/// activation ([`GradStage::INPUT_GRAD`]): the critics of WGAN-GP and GAN-0GP. Batch norm
/// couples the rows, transposed convolutions and spectrally normalised layers are not written
/// here: their `INPUT_GRAD` is false and the network refuses
/// ([`Net::forward_with_input_grad`] returns None).
pub trait GradStage<In>: Stage<In> {
    const INPUT_GRAD: bool;
    /// The training pass, recording what [`GradStage::input_grad`] needs.
    fn forward_recording(&self, x: In, pass: &Pass, stack: &mut Vec<GradRecord>) -> Self::Out;
    /// g (rows of the output maps, as a matrix) ↦ the gradient at the input maps, on g's tape.
    ///
    /// # Panics
    /// When `INPUT_GRAD` is false, or without the records of a recording pass.
    fn input_grad(&self, g: Mat<Traced>, stack: &mut Vec<GradRecord>) -> Mat<Traced>;
}

impl<const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize, N, A>
    GradStage<Maps<CI, Traced>> for Conv<CI, CO, K, S, P, N, A>
where
    N: LayerNorm<CO>,
    A: Activation,
{
    const INPUT_GRAD: bool = N::ROW_WISE;
    fn forward_recording(
        &self,
        x: Maps<CI, Traced>,
        pass: &Pass,
        stack: &mut Vec<GradRecord>,
    ) -> Maps<CO, Traced> {
        let side_in = x.side;
        let out = self.run(x, pass);
        let rows = out.x.shape().0;
        let mask: Vec<f32> = out
            .x
            .as_vec()
            .iter()
            .map(|o| if *o > 0.0 { 1.0 } else { A::SLOPE })
            .collect();
        let mask = out.x.device().tensor_from_vec(mask, (rows, CO));
        stack.push(GradRecord { mask, side_in });
        out
    }
    fn input_grad(&self, g: Mat<Traced>, stack: &mut Vec<GradRecord>) -> Mat<Traced> {
        assert!(
            Self::INPUT_GRAD,
            "a convolution followed by batch norm has no row-wise input gradient"
        );
        let r = stack.pop().expect("a recording pass ran");
        let w: Mat = self.weight.clone().reshape_like(&(K * K * CI, CO));
        crate::ops::input_grad::conv_transpose(g * r.mask, &w, r.side_in, Geometry::new(K, S, P))
    }
}

macro_rules! no_input_grad {
    ($($ty:ty, [$($gen:tt)*], [$($bound:tt)*]);+ $(;)?) => {$(
        impl<$($gen)*> GradStage<Maps<CI, Traced>> for $ty where $($bound)* {
            const INPUT_GRAD: bool = false;
            fn forward_recording(&self, x: Maps<CI, Traced>, pass: &Pass, _: &mut Vec<GradRecord>) -> Self::Out {
                self.run(x, pass)
            }
            fn input_grad(&self, _: Mat<Traced>, _: &mut Vec<GradRecord>) -> Mat<Traced> {
                unreachable!("no input-gradient chain through this layer (INPUT_GRAD is false)")
            }
        }
    )+};
}

no_input_grad!(
    ConvT<CI, CO, K, S, P, N, A>,
    [const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize, N, A],
    [N: LayerNorm<CO>, A: Activation];
    SnConv<CI, CO, K, S, P, N, A>,
    [const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize, N, A],
    [N: LayerNorm<CO>, A: Activation];
    NoiseConcat<CI, KN, CK>,
    [const CI: usize, const KN: usize, const CK: usize],
    [];
    super::attention::SelfAttention<CI, CK, CV>,
    [const CI: usize, const CK: usize, const CV: usize],
    [];
);

#[allow(clippy::type_complexity)]
impl<In, A: GradStage<In>> GradStage<In> for (A,) {
    const INPUT_GRAD: bool = A::INPUT_GRAD;
    fn forward_recording(&self, x: In, pass: &Pass, stack: &mut Vec<GradRecord>) -> Self::Out {
        self.0.forward_recording(x, pass, stack)
    }
    fn input_grad(&self, g: Mat<Traced>, stack: &mut Vec<GradRecord>) -> Mat<Traced> {
        self.0.input_grad(g, stack)
    }
}

#[allow(clippy::type_complexity)]
impl<In, A: GradStage<In>, B: GradStage<A::Out>> GradStage<In> for (A, B) {
    const INPUT_GRAD: bool = A::INPUT_GRAD && B::INPUT_GRAD;
    fn forward_recording(&self, x: In, pass: &Pass, stack: &mut Vec<GradRecord>) -> Self::Out {
        self.1
            .forward_recording(self.0.forward_recording(x, pass, stack), pass, stack)
    }
    fn input_grad(&self, g: Mat<Traced>, stack: &mut Vec<GradRecord>) -> Mat<Traced> {
        self.0.input_grad(self.1.input_grad(g, stack), stack)
    }
}

#[allow(clippy::type_complexity)]
impl<In, A: GradStage<In>, B: GradStage<A::Out>, C: GradStage<B::Out>> GradStage<In> for (A, B, C) {
    const INPUT_GRAD: bool = A::INPUT_GRAD && B::INPUT_GRAD && C::INPUT_GRAD;
    fn forward_recording(&self, x: In, pass: &Pass, stack: &mut Vec<GradRecord>) -> Self::Out {
        self.2.forward_recording(
            self.1
                .forward_recording(self.0.forward_recording(x, pass, stack), pass, stack),
            pass,
            stack,
        )
    }
    fn input_grad(&self, g: Mat<Traced>, stack: &mut Vec<GradRecord>) -> Mat<Traced> {
        self.0
            .input_grad(self.1.input_grad(self.2.input_grad(g, stack), stack), stack)
    }
}

#[allow(clippy::type_complexity)]
impl<In, A: GradStage<In>, B: GradStage<A::Out>, C: GradStage<B::Out>, D: GradStage<C::Out>>
    GradStage<In> for (A, B, C, D)
{
    const INPUT_GRAD: bool = A::INPUT_GRAD && B::INPUT_GRAD && C::INPUT_GRAD && D::INPUT_GRAD;
    fn forward_recording(&self, x: In, pass: &Pass, stack: &mut Vec<GradRecord>) -> Self::Out {
        self.3.forward_recording(
            self.2.forward_recording(
                self.1
                    .forward_recording(self.0.forward_recording(x, pass, stack), pass, stack),
                pass,
                stack,
            ),
            pass,
            stack,
        )
    }
    fn input_grad(&self, g: Mat<Traced>, stack: &mut Vec<GradRecord>) -> Mat<Traced> {
        self.0.input_grad(
            self.1
                .input_grad(self.2.input_grad(self.3.input_grad(g, stack), stack), stack),
            stack,
        )
    }
}

#[allow(clippy::type_complexity)]
impl<
        In,
        A: GradStage<In>,
        B: GradStage<A::Out>,
        C: GradStage<B::Out>,
        D: GradStage<C::Out>,
        F: GradStage<D::Out>,
    > GradStage<In> for (A, B, C, D, F)
{
    const INPUT_GRAD: bool =
        A::INPUT_GRAD && B::INPUT_GRAD && C::INPUT_GRAD && D::INPUT_GRAD && F::INPUT_GRAD;
    fn forward_recording(&self, x: In, pass: &Pass, stack: &mut Vec<GradRecord>) -> Self::Out {
        self.4.forward_recording(
            self.3.forward_recording(
                self.2.forward_recording(
                    self.1
                        .forward_recording(self.0.forward_recording(x, pass, stack), pass, stack),
                    pass,
                    stack,
                ),
                pass,
                stack,
            ),
            pass,
            stack,
        )
    }
    fn input_grad(&self, g: Mat<Traced>, stack: &mut Vec<GradRecord>) -> Mat<Traced> {
        self.0.input_grad(
            self.1.input_grad(
                self.2
                    .input_grad(self.3.input_grad(self.4.input_grad(g, stack), stack), stack),
                stack,
            ),
            stack,
        )
    }
}

#[allow(clippy::type_complexity)]
impl<
        In,
        A: GradStage<In>,
        B: GradStage<A::Out>,
        C: GradStage<B::Out>,
        D: GradStage<C::Out>,
        F: GradStage<D::Out>,
        G: GradStage<F::Out>,
    > GradStage<In> for (A, B, C, D, F, G)
{
    const INPUT_GRAD: bool = A::INPUT_GRAD
        && B::INPUT_GRAD
        && C::INPUT_GRAD
        && D::INPUT_GRAD
        && F::INPUT_GRAD
        && G::INPUT_GRAD;
    fn forward_recording(&self, x: In, pass: &Pass, stack: &mut Vec<GradRecord>) -> Self::Out {
        self.5.forward_recording(
            self.4.forward_recording(
                self.3.forward_recording(
                    self.2.forward_recording(
                        self.1.forward_recording(
                            self.0.forward_recording(x, pass, stack),
                            pass,
                            stack,
                        ),
                        pass,
                        stack,
                    ),
                    pass,
                    stack,
                ),
                pass,
                stack,
            ),
            pass,
            stack,
        )
    }
    fn input_grad(&self, g: Mat<Traced>, stack: &mut Vec<GradRecord>) -> Mat<Traced> {
        self.0.input_grad(
            self.1.input_grad(
                self.2.input_grad(
                    self.3
                        .input_grad(self.4.input_grad(self.5.input_grad(g, stack), stack), stack),
                    stack,
                ),
                stack,
            ),
            stack,
        )
    }
}

/// What the builders need of a convolutional network, whatever its layers.
pub trait ConvModel {
    /// [`ConvNet::layers`].
    fn describe_layers(&self) -> Result<Vec<LayerInfo>, String>;
    /// Orthogonal initialisation of every weight ([`Layers::init_orthogonal`]).
    fn init_orthogonal(&mut self, rng: &mut StdRng);
}

impl<
        const I: usize,
        const CI: usize,
        const CM: usize,
        const O: usize,
        const CO: usize,
        Tr: Layers,
        H: Layers,
    > ConvModel for ConvNet<I, CI, CM, O, CO, Tr, H>
{
    fn describe_layers(&self) -> Result<Vec<LayerInfo>, String> {
        self.layers()
    }
    fn init_orthogonal(&mut self, rng: &mut StdRng) {
        self.trunk.init_orthogonal(rng);
        self.head.init_orthogonal(rng);
    }
}

/// Fills every weight (every parameter of rank ≥ 2) with N(0, `std`²) from `rng`, in visiting
/// order; biases and β stay 0, γ 1 (DCGAN's initialisation, Radford et al. 2016: σ = 0.02).
pub fn init_weights<M: TensorCollection<f32, Cpu>>(m: &mut M, std: f32, rng: &mut StdRng) {
    ladder::params::for_each_mut(m, |p| {
        if p.rank() >= 2 {
            p.write(&normal_values(p.len(), std, rng));
        }
    });
}

impl<const I: usize, const CI: usize, const CM: usize, const O: usize, const CO: usize, Tr, H>
    Net<I, O> for Trainable<ConvNet<I, CI, CM, O, CO, Tr, H>>
where
    Tr: Layers
        + TensorCollection<f32, Cpu, To<f32, Cpu> = Tr>
        + GradStage<Maps<CI, Traced>, Out = Maps<CM, Traced>>
        + Stage<Maps<CI>, Out = Maps<CM>>,
    H: Layers
        + TensorCollection<f32, Cpu, To<f32, Cpu> = H>
        + GradStage<Maps<CM, Traced>, Out = Maps<CO, Traced>>
        + Stage<Maps<CM>, Out = Maps<CO>>,
{
    /// Where every layer can write it ([`GradStage::INPUT_GRAD`]: no batch norm, no
    /// transposed or spectrally normalised convolution): the training pass and ∇ₓ of each
    /// image's summed outputs as forward operations. None otherwise.
    fn forward_with_input_grad(
        &self,
        x: Rows<I, Traced>,
        segments: &[usize],
    ) -> Option<(Rows<O, Traced>, Matrix<Traced>, Rows<I, Traced>)> {
        if !(Tr::INPUT_GRAD && H::INPUT_GRAD) {
            return None;
        }
        let pass = Pass {
            segments,
            eps: self.eps,
            bn: BnMode::Batch,
        };
        let n = x.shape().0;
        let side = side_of(I, CI).expect("checked when built");
        let maps = Maps {
            x: x.reshape_like(&(n * side * side, Const::<CI>)),
            side,
        };
        let mut stack = Vec::new();
        let mid = self.net.trunk.forward_recording(maps, &pass, &mut stack);
        let code_width = mid.x.shape().0 / n * CM;
        let code = mid.x.with_empty_tape().reshape_like(&(n, code_width));
        let out = self.net.head.forward_recording(mid, &pass, &mut stack);
        let rows = out.x.shape().0;
        // d(Σ outputs)/d(outputs) = 1, on a fresh tape that joins the loss's.
        let ones: Mat = out.x.device().ones_like(&(rows, CO));
        let g = self
            .net
            .head
            .input_grad(ones.retaped::<Traced>(), &mut stack);
        let g = self.net.trunk.input_grad(g, &mut stack);
        Some((
            out.x.reshape_like(&(n, Const::<O>)),
            code,
            g.reshape_like(&(n, Const::<I>)),
        ))
    }
    /// The family has no dropout: `drop` must be `None` (the image configurations have no
    /// dropout switch).
    fn forward(
        &self,
        x: Rows<I, Traced>,
        segments: &[usize],
        drop: Option<Dropout<'_>>,
    ) -> (Rows<O, Traced>, Matrix<Traced>) {
        assert!(drop.is_none(), "the convolutional family has no dropout");
        self.net.run(
            x,
            &Pass {
                segments,
                eps: self.eps,
                bn: BnMode::Batch,
            },
        )
    }
    fn forward_untraced(&self, x: Rows<I>, segments: &[usize]) -> Rows<O> {
        self.net
            .run(
                x,
                &Pass {
                    segments,
                    eps: self.eps,
                    bn: BnMode::Batch,
                },
            )
            .0
    }
    fn batch_stats(&self, x: Rows<I>) -> Vec<super::ColumnStats> {
        let out = std::cell::RefCell::new(Vec::new());
        let n = x.shape().0;
        let pass = Pass {
            segments: &[n],
            eps: self.eps,
            bn: BnMode::Collect(&out),
        };
        drop(self.net.run(x, &pass));
        out.into_inner()
    }
    fn forward_population(
        &self,
        x: Rows<I, Traced>,
        stats: &[super::ColumnStats],
    ) -> Rows<O, Traced> {
        let next = std::cell::Cell::new(0);
        let n = x.shape().0;
        let pass = Pass {
            segments: &[n],
            eps: self.eps,
            bn: BnMode::Population(stats, &next),
        };
        self.net.run(x, &pass).0
    }
    fn alloc_grads(&self) -> Gradients<f32, Cpu> {
        self.net.alloc_grads()
    }
    fn update(&mut self, grads: &mut Gradients<f32, Cpu>) {
        self.step(grads);
    }
    fn zero_grads(&self, grads: &mut Gradients<f32, Cpu>) {
        self.net.zero_grads(grads);
    }
    fn num_params(&self) -> usize {
        self.net.num_trainable_params()
    }
    fn state(&mut self) -> Result<super::NetState, String> {
        let mut s = Trainable::state(self)?;
        self.net.trunk.buffers(&mut s.buffers);
        self.net.head.buffers(&mut s.buffers);
        Ok(s)
    }
    fn set_state(&mut self, state: &super::NetState) -> Result<(), String> {
        Trainable::set_state(self, state)?;
        let mut it = state.buffers.iter();
        self.net.trunk.set_buffers(&mut it)?;
        self.net.head.set_buffers(&mut it)?;
        if it.len() != 0 {
            return Err(format!(
                "the checkpoint has {} buffers more than this network",
                it.len()
            ));
        }
        Ok(())
    }
    fn layer_stats(&self) -> Vec<(f64, f64)> {
        self.net
            .layers()
            .expect("checked when built")
            .iter()
            .map(|l| (l.weight_rms, l.bias_max))
            .collect()
    }
}

/// Concatenates `K` planes of N(0, 1) noise to maps of `C` channels (`CK` = C + K, checked
/// when built): the noise planes of the EBGAN paper's ImageNet generators (appendix C),
/// concatenated at every layer. Each image's planes come from a stream seeded by a hash of that
/// image's input maps to this layer (bits of its values, and `K`). Those maps depend on z, the
/// weights and, through batch statistics, the rest of the batch, so the planes are fresh noise
/// at every step (not fixed extra latents) while a run and its resume stay bit-identical;
/// identical input maps get identical planes. No parameters; the noise has no gradient.
#[derive(Clone, Debug, Default)]
pub struct NoiseConcat<const C: usize, const K: usize, const CK: usize>;

impl<const C: usize, const K: usize, const CK: usize, D: Device<f32>> TensorCollection<f32, D>
    for NoiseConcat<C, K, CK>
{
    type To<E2: Dtype, D2: Device<E2>> = NoiseConcat<C, K, CK>;
    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields((), |()| NoiseConcat)
    }
}

/// FNV-1a over the bits of `v`, then `salt`.
fn hash_values(v: &[f32], salt: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for x in v {
        h ^= x.to_bits() as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h ^ salt).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl<const C: usize, const K: usize, const CK: usize, T: Tape<f32, Cpu>> Stage<Maps<C, T>>
    for NoiseConcat<C, K, CK>
{
    type Out = Maps<CK, T>;
    fn run(&self, m: Maps<C, T>, _: &Pass) -> Maps<CK, T> {
        use rand::{Rng, SeedableRng};
        let rows = m.x.shape().0;
        let per = m.side * m.side;
        let xv = values(&m.x);
        let mut noise = Vec::with_capacity(rows * K);
        for img in xv.chunks_exact(per * C) {
            let mut rng = StdRng::seed_from_u64(hash_values(img, K as u64));
            noise.extend((0..per * K).map(|_| rng.sample::<f32, _>(rand_distr::StandardNormal)));
        }
        let dev = m.x.device().clone();
        let noise: Mat = dev.tensor_from_vec(noise, (rows, K));
        let x: Mat<T> = m.x.reshape_like(&(rows, C));
        let y = (x, noise).concat_along(Axis::<1>);
        Maps {
            x: y.reshape_like(&(rows, Const::<CK>)),
            side: m.side,
        }
    }
}

impl<const C: usize, const K: usize, const CK: usize> Layers for NoiseConcat<C, K, CK> {
    fn describe(&self, side: usize, out: &mut Vec<LayerInfo>) -> Result<usize, String> {
        if C + K != CK {
            return Err(format!(
                "noise planes after layer {}: {C} + {K} channels declared as {CK}",
                out.len()
            ));
        }
        Ok(side)
    }
}
