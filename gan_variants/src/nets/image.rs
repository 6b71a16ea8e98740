//! The image models of the EBGAN paper's appendix C on the convolutional family ([`super::conv`]).
//! Spec: conv-gans-edgan.md, "EBGAN convolutional models".
//!
//! - **Generator** (DCGAN, Radford et al. 2016): z ∈ ℝ¹⁰⁰ projected to 4 × 4 × 512 (a
//!   transposed convolution of the 1 × 1 × 100 map, kernel 4: the same linear map as a dense
//!   layer), then stride-2 transposed convolutions (kernel 4, padding 1) with batch norm + ReLU,
//!   halving the channels at each doubling of the side, and a last one to `C` channels with a
//!   bias; tanh is the harness's. 32 × 32: 512-256-128-C; 64 × 64: 512-256-128-64-C. One
//!   definition: the 64 × 64 model is the 32 × 32 one with one more doubling.
//! - **DCGAN discriminator**: stride-2 convolutions (kernel 4, padding 1) C-64-128-256 (32 × 32)
//!   or C-64-128-256-512 (64 × 64), LeakyReLU 0.2, batch norm on all but the first layer, then a
//!   4 × 4 "compression" convolution (stride 1, no padding) to one logit.
//! - **EBGAN autoencoder discriminator**: encoder (64)4c2s-(128)4c2s-(256)4c2s, decoder
//!   (128)4c2s-(64)4c2s-(C)4c2s (transposed), at either side. Choices beyond the paper (which
//!   lists only the layers), stated in the README: the encoder follows the DCGAN discriminator
//!   (LeakyReLU 0.2, batch norm on all but its first layer), the decoder the DCGAN generator
//!   (batch norm + ReLU, linear output with a bias, no tanh: the reconstruction is compared with
//!   x in [−1, 1] by the energy). The code of EBGAN-PT is the encoder output.
//!
//! - **ImageNet models** (appendix C, 128 × 128 and 256 × 256): the generators with noise planes
//!   concatenated at every layer ([`ImageNetG128`], [`ImageNetG256`]) and the autoencoder
//!   discriminators ([`ImageNetAe128`], [`ImageNetAe256`]). Built, shape-tested and stepped on
//!   random images; training them needs ImageNet and a bigger machine (README).
//!
//! Weights start from N(0, 0.02²) (`TrainSettings::{g,d}_init_std` set to 0.02 by the image
//! profiles), biases and β at 0, γ at 1.

use super::conv::{
    init_weights, Conv, ConvModel, ConvNet, ConvT, Identity, LeakyRelu, NoiseConcat, Relu,
};
use super::{Affine, Bias, Net, Trainable};
use crate::config::{Optim, TrainSettings, WeightInit};
use crate::shapes::LATENT;
use dfdx::prelude::*;
use rand::rngs::StdRng;

/// A generator block: side × 2, batch norm, ReLU.
pub type Up<const CI: usize, const CO: usize> = ConvT<CI, CO, 4, 2, 1, Affine<CO>, Relu>;
/// The projection of z to 4 × 4 × `CO` (batch norm, ReLU).
pub type Project<const CO: usize> = ConvT<LATENT, CO, 4, 1, 0, Affine<CO>, Relu>;
/// G's output layer: side × 2 to `C` channels, with a bias, linear.
pub type ToImage<const CI: usize, const C: usize> = ConvT<CI, C, 4, 2, 1, Bias<C>, Identity>;
/// A discriminator / encoder block: side ÷ 2, batch norm, LeakyReLU 0.2.
pub type Down<const CI: usize, const CO: usize> = Conv<CI, CO, 4, 2, 1, Affine<CO>, LeakyRelu>;
/// The first discriminator / encoder layer: side ÷ 2, bias, LeakyReLU 0.2 (no batch norm).
pub type FromImage<const C: usize, const CO: usize> = Conv<C, CO, 4, 2, 1, Bias<CO>, LeakyRelu>;
/// The DCGAN discriminator's last layer: a 4 × 4 map to one logit.
pub type Logit<const CI: usize> = Conv<CI, 1, 4, 1, 0, Bias<1>, Identity>;
/// A decoder block: side × 2, batch norm, ReLU (as [`Up`]).
pub type UpDecode<const CI: usize, const CO: usize> = Up<CI, CO>;

/// DCGAN generator, 32 × 32 × `C` (`X` = 1024 · C values per image).
pub type Generator32<const C: usize, const X: usize> = ConvNet<
    LATENT,
    LATENT,
    128,
    X,
    C,
    (Project<512>, Up<512, 256>, Up<256, 128>),
    (ToImage<128, C>,),
>;
/// DCGAN generator, 64 × 64 × `C` (`X` = 4096 · C).
pub type Generator64<const C: usize, const X: usize> = ConvNet<
    LATENT,
    LATENT,
    64,
    X,
    C,
    (Project<512>, Up<512, 256>, Up<256, 128>, Up<128, 64>),
    (ToImage<64, C>,),
>;
/// DCGAN discriminator, 32 × 32 × `C` → one logit (`O` = 1, checked when built).
pub type DcganD32<const C: usize, const X: usize, const O: usize> =
    ConvNet<X, C, 256, O, 1, (FromImage<C, 64>, Down<64, 128>, Down<128, 256>), (Logit<256>,)>;
/// DCGAN discriminator, 64 × 64 × `C` → one logit (`O` = 1, checked when built).
pub type DcganD64<const C: usize, const X: usize, const O: usize> = ConvNet<
    X,
    C,
    512,
    O,
    1,
    (
        FromImage<C, 64>,
        Down<64, 128>,
        Down<128, 256>,
        Down<256, 512>,
    ),
    (Logit<512>,),
>;
/// EBGAN autoencoder discriminator (appendix C), any side divisible by 8: the reconstruction
/// (`O` = `X`, checked when built).
pub type AutoEncoder<const C: usize, const X: usize, const O: usize> = ConvNet<
    X,
    C,
    256,
    O,
    C,
    (FromImage<C, 64>, Down<64, 128>, Down<128, 256>),
    (UpDecode<256, 128>, UpDecode<128, 64>, ToImage<64, C>),
>;

/// A noise-plane concatenation (see [`NoiseConcat`]).
type Noise<const C: usize, const K: usize, const CK: usize> = NoiseConcat<C, K, CK>;
/// The last layer of the ImageNet generators: (3)3c, a 3 × 3 convolution to 3 channels.
pub type ToRgb3<const CI: usize> = Conv<CI, 3, 3, 1, 1, Bias<3>, Identity>;

/// The ImageNet 128 × 128 generator of appendix C: (1024)4c-(512)4c2s-(256)4c2s-(128)4c2s-
/// (64)4c2s-(64)4c2s-(3)3c, with 64, 32, 16, 8, 4 noise planes concatenated to the inputs of
/// layers 2–6 (z's 100 planes are layer 1's input).
pub type ImageNetG128<const X: usize> = ConvNet<
    LATENT,
    LATENT,
    68,
    X,
    3,
    (
        (Project<1024>, Noise<1024, 64, 1088>),
        (Up<1088, 512>, Noise<512, 32, 544>),
        (Up<544, 256>, Noise<256, 16, 272>),
        (Up<272, 128>, Noise<128, 8, 136>),
        (Up<136, 64>, Noise<64, 4, 68>),
    ),
    (Up<68, 64>, ToRgb3<64>),
>;
/// The ImageNet 256 × 256 generator: (2048)4c-(1024)4c2s-(512)4c2s-(256)4c2s-(128)4c2s-
/// (64)4c2s-(64)4c2s-(3)3c with 64, 32, 16, 8, 4, 2 noise planes before layers 2–7.
pub type ImageNetG256<const X: usize> = ConvNet<
    LATENT,
    LATENT,
    66,
    X,
    3,
    (
        (Project<2048>, Noise<2048, 64, 2112>),
        (Up<2112, 1024>, Noise<1024, 32, 1056>),
        (Up<1056, 512>, Noise<512, 16, 528>),
        (Up<528, 256>, Noise<256, 8, 264>),
        (Up<264, 128>, Noise<128, 4, 132>),
        (Up<132, 64>, Noise<64, 2, 66>),
    ),
    (Up<66, 64>, ToRgb3<64>),
>;
/// The ImageNet 128 × 128 autoencoder D: Enc (64)4c2s-(128)4c2s-(256)4c2s-(512)4c2s, Dec
/// (256)4c2s-(128)4c2s-(64)4c2s-(3)4c2s.
pub type ImageNetAe128<const X: usize, const O: usize> = ConvNet<
    X,
    3,
    512,
    O,
    3,
    (
        FromImage<3, 64>,
        Down<64, 128>,
        Down<128, 256>,
        Down<256, 512>,
    ),
    (
        UpDecode<512, 256>,
        UpDecode<256, 128>,
        UpDecode<128, 64>,
        ToImage<64, 3>,
    ),
>;
/// The 256 × 256 autoencoder D. The paper lists none for 256: this project's choice is the
/// 128 × 128 one with one more (512)4c2s halving and doubling, so its code is 8 × 8 × 512 too.
pub type ImageNetAe256<const X: usize, const O: usize> = ConvNet<
    X,
    3,
    512,
    O,
    3,
    (
        FromImage<3, 64>,
        Down<64, 128>,
        Down<128, 256>,
        Down<256, 512>,
        Down<512, 512>,
    ),
    (
        UpDecode<512, 512>,
        UpDecode<512, 256>,
        UpDecode<256, 128>,
        UpDecode<128, 64>,
        ToImage<64, 3>,
    ),
>;

/// The image geometries with compiled models: (side, channels). At 128 and 256 only the
/// EBGAN autoencoder discriminator exists (the paper's ImageNet models).
pub const COMPILED: [(usize, usize); 5] = [(32, 3), (64, 3), (32, 1), (128, 3), (256, 3)];

/// Which discriminator a variant uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiscKind {
    /// The DCGAN discriminator: one logit.
    Logit,
    /// The EBGAN autoencoder: the reconstruction.
    AutoEncoder,
}

/// A network of the family with its optimiser, its weights initialised by `init` (N(0,
/// `std`²) or orthogonal) from `rng`; errors if its layers do not fit its input.
pub(crate) fn trainable<M>(
    dev: &Cpu,
    init: WeightInit,
    std: f32,
    optim: Optim,
    lr: f32,
    train: &TrainSettings,
    rng: &mut StdRng,
) -> Result<Trainable<M>, String>
where
    M: TensorCollection<f32, Cpu, To<f32, Cpu> = M> + ConvModel,
{
    let mut net = M::build(dev);
    net.describe_layers()?;
    match init {
        WeightInit::Normal => init_weights(&mut net, std, rng),
        WeightInit::Orthogonal => net.init_orthogonal(rng),
    }
    Ok(Trainable::new(net, optim, lr, train))
}

macro_rules! boxed {
    ($ty:ty, $dev:expr, $std:expr, $lr:expr, $train:expr, $rng:expr) => {
        Box::new(trainable::<$ty>(
            $dev,
            WeightInit::Normal,
            $std,
            Optim::Adam,
            $lr,
            $train,
            $rng,
        )?)
    };
}

/// The DCGAN generator for images of `X` = side² · channels values (Adam at `lr`).
pub fn generator<const X: usize>(
    dev: &Cpu,
    side: usize,
    channels: usize,
    lr: f32,
    train: &TrainSettings,
    rng: &mut StdRng,
) -> Result<Box<dyn Net<LATENT, X>>, String> {
    let std = train.g_init_std;
    Ok(match (side, channels, X) {
        (32, 3, 3072) => boxed!(Generator32<3, X>, dev, std, lr, train, rng),
        (32, 1, 1024) => boxed!(Generator32<1, X>, dev, std, lr, train, rng),
        (64, 3, 12288) => boxed!(Generator64<3, X>, dev, std, lr, train, rng),
        (128, 3, 49152) => boxed!(ImageNetG128<X>, dev, std, lr, train, rng),
        (256, 3, 196608) => boxed!(ImageNetG256<X>, dev, std, lr, train, rng),
        _ => return Err(not_compiled(side, channels, X)),
    })
}

/// The discriminator `kind` for images of `X` values with `O` outputs (1 for a logit, `X` for
/// the autoencoder; Adam at `lr`).
pub fn discriminator<const X: usize, const O: usize>(
    dev: &Cpu,
    kind: DiscKind,
    side: usize,
    channels: usize,
    lr: f32,
    train: &TrainSettings,
    rng: &mut StdRng,
) -> Result<Box<dyn Net<X, O>>, String> {
    let std = train.d_init_std;
    Ok(match (kind, side, channels, X, O) {
        (DiscKind::Logit, 32, 3, 3072, 1) => boxed!(DcganD32<3, X, O>, dev, std, lr, train, rng),
        (DiscKind::Logit, 32, 1, 1024, 1) => boxed!(DcganD32<1, X, O>, dev, std, lr, train, rng),
        (DiscKind::Logit, 64, 3, 12288, 1) => boxed!(DcganD64<3, X, O>, dev, std, lr, train, rng),
        (DiscKind::AutoEncoder, 32, 3, 3072, 3072) => {
            boxed!(AutoEncoder<3, X, O>, dev, std, lr, train, rng)
        }
        (DiscKind::AutoEncoder, 32, 1, 1024, 1024) => {
            boxed!(AutoEncoder<1, X, O>, dev, std, lr, train, rng)
        }
        (DiscKind::AutoEncoder, 64, 3, 12288, 12288) => {
            boxed!(AutoEncoder<3, X, O>, dev, std, lr, train, rng)
        }
        (DiscKind::AutoEncoder, 128, 3, 49152, 49152) => {
            boxed!(ImageNetAe128<X, O>, dev, std, lr, train, rng)
        }
        (DiscKind::AutoEncoder, 256, 3, 196608, 196608) => {
            boxed!(ImageNetAe256<X, O>, dev, std, lr, train, rng)
        }
        (DiscKind::Logit, 128 | 256, _, _, _) => {
            return Err(format!(
                "no DCGAN discriminator at {side} × {side}: the paper's ImageNet models are EBGAN's (use ebgan or ebgan-pt)"
            ))
        }
        _ => return Err(not_compiled(side, channels, X)),
    })
}

fn not_compiled(side: usize, channels: usize, x: usize) -> String {
    format!(
        "no compiled image model for {side} × {side} × {channels} ({x} values per image); compiled: {}",
        COMPILED
            .iter()
            .map(|(s, c)| format!("{s} × {s} × {c}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}
