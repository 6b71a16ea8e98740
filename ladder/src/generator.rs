//! The EBGAN-LN generator (spec: "Generator", not given in the paper): z ∈ ℝ¹⁰⁰ ~ N(0, I),
//! four hidden layers of 800 with batch norm and ReLU, 784 sigmoid outputs (data are in [0, 1]).
//! The shape of the best EBGAN of the MNIST grid search (nLayerG = 5, sizeG = 800). Linear
//! layers use dfdx's default initialisation, U(−1/√fan_in, 1/√fan_in).

use crate::shapes::{G_HIDDEN, LATENT, PIXELS};
use dfdx::prelude::*;

/// One hidden block: linear, batch norm (with scale and shift), ReLU.
pub type HiddenBlock<const I: usize, const O: usize> = (Linear<I, O>, BatchNorm1D<O>, ReLU);

/// The generator architecture as a type (a builder); [`Generator`] is the built module.
pub type GeneratorArch = (
    HiddenBlock<LATENT, G_HIDDEN>,
    HiddenBlock<G_HIDDEN, G_HIDDEN>,
    HiddenBlock<G_HIDDEN, G_HIDDEN>,
    HiddenBlock<G_HIDDEN, G_HIDDEN>,
    (Linear<G_HIDDEN, PIXELS>, Sigmoid),
);

/// The generator's tensors on the CPU.
pub type Generator = <GeneratorArch as BuildOnDevice<Cpu, f32>>::Built;
