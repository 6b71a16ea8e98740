//! The 32 × 32 models of the EDGAN paper on the convolutional family ([`super::conv`]).
//! Spec: conv-gans-edgan.md, "DCGAN baseline of the EDGAN paper" and "OptimizedDCGAN".
//! Notation conv(c, k, s, p).
//!
//! - **Generator, figure 2**: z ∈ ℝ^`Z` → 512 × 4 × 4 (the paper's dense layer, written as a
//!   4 × 4 transposed convolution of the 1 × 1 × Z map: the same linear map), then
//!   deconv(512,3,1,1), deconv(512,4,2,1), deconv(256,3,1,1), deconv(256,4,2,1),
//!   deconv(128,3,1,1), deconv(128,4,2,1), each with batch norm and ReLU, and deconv(3,3,1,1)
//!   with a bias; tanh is the harness's. Batch norm and ReLU after the dense layer too (the
//!   figure lists none there; DCGAN's generator has them: this project's choice).
//! - **Generator, R311** (OptimizedDCGAN): every scale-preserving (3,1,1) layer removed except
//!   the last, deconv(3,3,1,1), which changes channels; the stride-2 layers take over the
//!   channel changes: 512 × 4 × 4 → (512)4c2s → (256)4c2s → (128)4c2s → (3)3c.
//! - **Discriminator, figure 2**: conv(64,3,1,1), conv(64,4,2,1), conv(128,3,1,1),
//!   conv(128,4,2,1), conv(256,3,1,1), conv(256,4,2,1), each with batch norm (the first layer
//!   included, as the figure lists) and LeakyReLU 0.2, then the "compression" conv(1,4,1,0) of
//!   the 4 × 4 × 256 maps to one logit, with a bias.
//! - **Discriminator, SN_in_P** (OptimizedDCGAN): the same with the compression layer
//!   spectrally normalised ([`SnConv`]) and without a bias (no biases before BN or SN). That
//!   layer has one output, so W is 1 × 4096 and σ(W) = ‖W‖₂ exactly after one power iteration
//!   from any u ≠ 0: SN_in_P here is a weight normalisation of the logit's kernel (tested).
//! - **Discriminator, SNGAN** (a peer of Table 6): the figure-2 layers with spectral norm on
//!   every layer, biases and no batch norm (Miyato et al. 2018 use no batch norm in D).
//! - **SAGAN** (a peer of Table 6; Zhang et al. 2019): R311's G and SNGAN's D, each with the
//!   self-attention block ([`SelfAttention`], C/8 keys, C/2 values, γ = 0 at start) at
//!   16 × 16 — in G after the 16 × 16 upsampling (256 channels), in D after the 16 × 16
//!   conv(128,3,1,1). This project's choices for equal budgets: G keeps EDGAN's batch norm and
//!   gets no spectral norm (SAGAN normalises G spectrally too), and the block's 1 × 1 kernels
//!   in D are not spectrally normalised.
//! - **Critic** (WGAN-GP, GAN-0GP, the bi-penalty): the figure-2 layers with biases and no
//!   batch norm (the spec: "critic without batch norm"), whose input gradient is written as
//!   forward operations for the penalty.
//!
//! Layers followed by batch norm have no bias anywhere (β replaces it). Initialisation:
//! N(0, σ²) or orthogonal per network ([`crate::config::WeightInit`]).

use super::attention::SelfAttention;
use super::conv::{ConvNet, ConvT, Identity, LayerInfo, SnConv};
use super::image::{Down, Logit, Up};
use super::{Affine, Bias, Net, NoNorm};
use crate::config::{ImageArch, TrainSettings};
use dfdx::prelude::*;
use rand::rngs::StdRng;

/// A scale-preserving generator layer, deconv(CO,3,1,1): batch norm, ReLU.
pub type Keep<const CI: usize, const CO: usize> =
    ConvT<CI, CO, 3, 1, 1, Affine<CO>, super::conv::Relu>;
/// The dense projection of z ∈ ℝ^Z to 4 × 4 × `CO` (batch norm, ReLU).
pub type ProjectZ<const Z: usize, const CO: usize> =
    ConvT<Z, CO, 4, 1, 0, Affine<CO>, super::conv::Relu>;
/// G's last layer, deconv(C,3,1,1): a bias, linear.
pub type ToRgb<const CI: usize, const C: usize> = ConvT<CI, C, 3, 1, 1, Bias<C>, Identity>;
/// A scale-preserving discriminator layer, conv(CO,3,1,1): batch norm, LeakyReLU 0.2.
pub type Same<const CI: usize, const CO: usize> =
    super::conv::Conv<CI, CO, 3, 1, 1, Affine<CO>, super::conv::LeakyRelu>;
/// The compression layer with spectral norm and no bias (SN_in_P).
pub type SnLogit<const CI: usize> = SnConv<CI, 1, 4, 1, 0, NoNorm<1>, Identity>;

/// The generator of the EDGAN paper's figure 2 (`X` = 3072).
pub type Fig2Generator<const Z: usize, const X: usize> = ConvNet<
    Z,
    Z,
    128,
    X,
    3,
    (
        (
            ProjectZ<Z, 512>,
            Keep<512, 512>,
            Up<512, 512>,
            Keep<512, 256>,
        ),
        (Up<256, 256>, Keep<256, 128>, Up<128, 128>),
    ),
    (ToRgb<128, 3>,),
>;
/// The R311 generator of OptimizedDCGAN.
pub type R311Generator<const Z: usize, const X: usize> = ConvNet<
    Z,
    Z,
    128,
    X,
    3,
    (ProjectZ<Z, 512>, Up<512, 512>, Up<512, 256>, Up<256, 128>),
    (ToRgb<128, 3>,),
>;
/// The trunk of both discriminators.
type DTrunk = (
    (Same<3, 64>, Down<64, 64>, Same<64, 128>),
    (Down<128, 128>, Same<128, 256>, Down<256, 256>),
);
/// The discriminator of figure 2 (`O` = 1, checked when built).
pub type Fig2Discriminator<const X: usize, const O: usize> =
    ConvNet<X, 3, 256, O, 1, DTrunk, (Logit<256>,)>;
/// The SN_in_P discriminator of OptimizedDCGAN.
pub type SnDiscriminator<const X: usize, const O: usize> =
    ConvNet<X, 3, 256, O, 1, DTrunk, (SnLogit<256>,)>;
/// A critic layer: a bias, LeakyReLU 0.2, no batch norm.
pub type CriticLayer<
    const CI: usize,
    const CO: usize,
    const K: usize,
    const S: usize,
    const P: usize,
> = super::conv::Conv<CI, CO, K, S, P, Bias<CO>, super::conv::LeakyRelu>;
/// The critic of WGAN-GP and GAN-0GP (and of Table 5's bi-penalty): the figure-2 layers with
/// biases and no batch norm, the compression conv to one linear output. Every layer can write
/// its input gradient ([`super::conv::GradStage`]), so D's gradient can be penalised.
pub type CriticD<const X: usize, const O: usize> = ConvNet<
    X,
    3,
    256,
    O,
    1,
    (
        (
            CriticLayer<3, 64, 3, 1, 1>,
            CriticLayer<64, 64, 4, 2, 1>,
            CriticLayer<64, 128, 3, 1, 1>,
        ),
        (
            CriticLayer<128, 128, 4, 2, 1>,
            CriticLayer<128, 256, 3, 1, 1>,
            CriticLayer<256, 256, 4, 2, 1>,
        ),
    ),
    (Logit<256>,),
>;
/// A spectrally normalised layer of SNGAN's D: a bias, LeakyReLU 0.2, no batch norm.
pub type SnLayer<const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize> =
    SnConv<CI, CO, K, S, P, Bias<CO>, super::conv::LeakyRelu>;
/// SNGAN's discriminator (Miyato et al. 2018) on the figure-2 layers: spectral norm on every
/// layer, biases, no batch norm (Table 6's SNGAN peer).
pub type SngD<const X: usize, const O: usize> = ConvNet<
    X,
    3,
    256,
    O,
    1,
    (
        (
            SnLayer<3, 64, 3, 1, 1>,
            SnLayer<64, 64, 4, 2, 1>,
            SnLayer<64, 128, 3, 1, 1>,
        ),
        (
            SnLayer<128, 128, 4, 2, 1>,
            SnLayer<128, 256, 3, 1, 1>,
            SnLayer<256, 256, 4, 2, 1>,
        ),
    ),
    (SnConv<256, 1, 4, 1, 0, Bias<1>, Identity>,),
>;

/// SAGAN's G: [`R311Generator`] with the self-attention block at 16 × 16 (256 channels).
pub type SaganGenerator<const Z: usize, const X: usize> = ConvNet<
    Z,
    Z,
    128,
    X,
    3,
    (
        ProjectZ<Z, 512>,
        Up<512, 512>,
        Up<512, 256>,
        SelfAttention<256, 32, 128>,
        Up<256, 128>,
    ),
    (ToRgb<128, 3>,),
>;
/// SAGAN's D: [`SngD`] with the self-attention block after the 16 × 16 conv(128,3,1,1).
pub type SaganD<const X: usize, const O: usize> = ConvNet<
    X,
    3,
    256,
    O,
    1,
    (
        (
            SnLayer<3, 64, 3, 1, 1>,
            SnLayer<64, 64, 4, 2, 1>,
            SnLayer<64, 128, 3, 1, 1>,
            SelfAttention<128, 16, 64>,
        ),
        (
            SnLayer<128, 128, 4, 2, 1>,
            SnLayer<128, 256, 3, 1, 1>,
            SnLayer<256, 256, 4, 2, 1>,
        ),
    ),
    (SnConv<256, 1, 4, 1, 0, Bias<1>, Identity>,),
>;

/// G of `arch` (figure 2, or R311 with `arch.r311`, SAGAN's with `arch.attention`), for z of `Z` values and images of `X`
/// values; its optimiser and initialisation from `arch`, weights drawn from `rng`.
///
/// # Errors
/// When the geometry is not 32 × 32 × 3 (`X` ≠ 3072).
pub fn generator<const Z: usize, const X: usize>(
    dev: &Cpu,
    arch: &ImageArch,
    train: &TrainSettings,
    rng: &mut StdRng,
) -> Result<Box<dyn Net<Z, X>>, String> {
    check_geometry(X)?;
    let (o, lr, init, std) = (arch.optim_g, arch.lr_g, arch.init_g, train.g_init_std);
    Ok(if arch.attention {
        Box::new(super::image::trainable::<SaganGenerator<Z, X>>(
            dev, init, std, o, lr, train, rng,
        )?)
    } else if arch.r311 {
        Box::new(super::image::trainable::<R311Generator<Z, X>>(
            dev, init, std, o, lr, train, rng,
        )?)
    } else {
        Box::new(super::image::trainable::<Fig2Generator<Z, X>>(
            dev, init, std, o, lr, train, rng,
        )?)
    })
}

/// D of `arch` (figure 2; SN_in_P with `arch.sn_in_p`; SNGAN's with `arch.sn_all`; SAGAN's
/// with `arch.attention`): one logit per image.
///
/// # Errors
/// When the geometry is not 32 × 32 × 3.
pub fn discriminator<const X: usize>(
    dev: &Cpu,
    arch: &ImageArch,
    train: &TrainSettings,
    rng: &mut StdRng,
) -> Result<Box<dyn Net<X, 1>>, String> {
    check_geometry(X)?;
    let (o, lr, init, std) = (arch.optim_d, arch.lr_d, arch.init_d, train.d_init_std);
    Ok(if arch.critic {
        Box::new(super::image::trainable::<CriticD<X, 1>>(
            dev, init, std, o, lr, train, rng,
        )?)
    } else if arch.attention {
        Box::new(super::image::trainable::<SaganD<X, 1>>(
            dev, init, std, o, lr, train, rng,
        )?)
    } else if arch.sn_all {
        Box::new(super::image::trainable::<SngD<X, 1>>(
            dev, init, std, o, lr, train, rng,
        )?)
    } else if arch.sn_in_p {
        Box::new(super::image::trainable::<SnDiscriminator<X, 1>>(
            dev, init, std, o, lr, train, rng,
        )?)
    } else {
        Box::new(super::image::trainable::<Fig2Discriminator<X, 1>>(
            dev, init, std, o, lr, train, rng,
        )?)
    })
}

fn check_geometry(x: usize) -> Result<(), String> {
    if x == 32 * 32 * 3 {
        Ok(())
    } else {
        Err(format!(
            "the EDGAN models are 32 × 32 × 3 (3072 values per image), not {x}"
        ))
    }
}

/// The layers of every EDGAN-paper model at z of `Z` values: (name, layers), for shape tests
/// and FLOP counts.
pub fn describe_all<const Z: usize>() -> Vec<(&'static str, Result<Vec<LayerInfo>, String>)> {
    let dev = Cpu::default();
    vec![
        (
            "fig2-generator",
            Fig2Generator::<Z, 3072>::build(&dev).layers(),
        ),
        (
            "r311-generator",
            R311Generator::<Z, 3072>::build(&dev).layers(),
        ),
        (
            "fig2-discriminator",
            Fig2Discriminator::<3072, 1>::build(&dev).layers(),
        ),
        (
            "sn-discriminator",
            SnDiscriminator::<3072, 1>::build(&dev).layers(),
        ),
        ("sngan-discriminator", SngD::<3072, 1>::build(&dev).layers()),
        ("critic", CriticD::<3072, 1>::build(&dev).layers()),
        (
            "sagan-generator",
            SaganGenerator::<Z, 3072>::build(&dev).layers(),
        ),
        (
            "sagan-discriminator",
            SaganD::<3072, 1>::build(&dev).layers(),
        ),
    ]
}
