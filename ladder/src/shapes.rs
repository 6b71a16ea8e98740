//! Named sizes of the permutation-invariant MNIST ladder (spec: 784-1000-500-250-250-250-10)
//! and of the EBGAN-LN generator.

use dfdx::prelude::*;

/// Input pixels (28 × 28, unpadded).
pub const PIXELS: usize = 784;
/// Encoder widths of layers 1..5.
pub const H1: usize = 1000;
pub const H2: usize = 500;
pub const H3: usize = 250;
pub const H4: usize = 250;
pub const H5: usize = 250;
/// Softmax layer (layer L = 6).
pub const CLASSES: usize = 10;
/// Number of encoder layers L.
pub const LAYERS: usize = 6;
/// Widths of layers 0..=L, for code that needs them at run time.
pub const WIDTHS: [usize; LAYERS + 1] = [PIXELS, H1, H2, H3, H4, H5, CLASSES];

/// Generator latent size (z ∈ ℝ¹⁰⁰ ~ N(0, I)).
pub const LATENT: usize = 100;
/// Generator hidden width (four hidden layers, the best EBGAN of the MNIST grid: sizeG = 800).
pub const G_HIDDEN: usize = 800;

/// A batch of rows of width `N`: the batch size is known at run time, the width at compile time.
pub type Rows<const N: usize, T = NoneTape> = Tensor<(usize, Const<N>), f32, Cpu, T>;
