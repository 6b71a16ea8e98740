//! Input gradients as ordinary forward operations ("double backprop without double backprop",
//! spec energy-gan-mcmc.md): dfdx records no backward of a backward, so a penalty on ‖∇ₓU(x)‖²
//! (the energy GAN's gradient penalty, WGAN-GP, the zero-centred GAN-0GP) cannot be
//! differentiated through dfdx's own input gradient. For a network of linear maps and
//! piecewise-linear activations, the input gradient of a scalar output is the chain
//!
//!   g_L = w_out,   g_{l−1} = J_lᵀ (g_l ⊙ a'(pre_l)),   ∇ₓU = g_0,
//!
//! where J_l is layer l's linear map and a'(pre_l) the activation's derivative at the forward
//! pass's pre-activations, a constant mask (its own derivative is 0 almost everywhere). Written
//! with the traced weights, the chain is a differentiable expression of the parameters.
//! This file holds the pieces every network composes: the masks, Jᵀ of a dense layer (x ↦ x·W
//! in dfdx's (out, in) weight layout) and Jᵀ of a convolution (the transposed convolution with
//! the transposed weight: its adjoint, tested in `tests/conv.rs`).

use super::conv::{col2im, Geometry, Mat};
use super::matmul::matmul_wt;
use crate::shapes::Rows;
use dfdx::prelude::*;
use ladder::fast::values;

/// The derivative mask of LeakyReLU with slope `alpha` (1 for ReLU's α = 0) at the
/// pre-activations `pre`: 1 where pre > 0, α elsewhere; a constant (no tape).
pub fn leaky_mask<S: Shape, T: Tape<f32, Cpu>>(
    pre: &Tensor<S, f32, Cpu, T>,
    alpha: f32,
) -> Tensor<S, f32, Cpu> {
    let v: Vec<f32> = values(pre)
        .iter()
        .map(|p| if *p > 0.0 { 1.0 } else { alpha })
        .collect();
    pre.device().tensor_from_vec(v, *pre.shape())
}

/// Jᵀ of a dense layer y = x·Wᵀ + b with `weight` W of shape (O, I) (dfdx's layout): the row
/// gradients g (n, O) ↦ g·W (n, I). `weight` enters with a fresh tape of type `T`, so the
/// result is differentiable in W.
pub fn dense_transpose<const I: usize, const O: usize, T: Tape<f32, Cpu> + Merge<T>>(
    g: Rows<O, T>,
    weight: &Tensor<Rank2<O, I>, f32, Cpu>,
) -> Rows<I, T> {
    g.matmul(weight.retaped::<T>())
}

/// Jᵀ of a convolution of geometry `geom` from an `h` × `h` grid with weight W (k·k·C_in,
/// C_out) (the layout of [`super::conv::conv2d`]): the gradient maps g (N·ho·ho, C_out) ↦
/// col2im(g·Wᵀ) (N·h·h, C_in), the transposed convolution with Wᵀ. W's gradient is recorded
/// under W's own identity, so the result is differentiable in W.
///
/// # Panics
/// When the transposed geometry does not map the ho × ho grid back onto h × h (a stride that
/// does not divide h + 2p − k), or the rows are not whole images.
pub fn conv_transpose<T: Tape<f32, Cpu>>(
    g: Mat<T>,
    weight: &Mat,
    h: usize,
    geom: Geometry,
) -> Mat<T> {
    let ho = geom.conv_out(h).expect("the kernel fits the grid");
    assert_eq!(
        geom.conv_t_out(ho),
        Some(h),
        "the transposed geometry maps {ho} back to {:?}, not {h}",
        geom.conv_t_out(ho)
    );
    col2im(matmul_wt(g, weight), ho, ho, geom)
}
