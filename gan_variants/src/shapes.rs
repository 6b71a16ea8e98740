//! Named sizes of the MNIST grid experiments (EBGAN paper, appendix C).

use dfdx::prelude::*;

/// Side of the zero-padded MNIST image (28 × 28 padded to 32 × 32).
pub const SIDE: usize = 32;
/// Pixels of a padded image: the input of D and the output of G.
pub const PIXELS: usize = SIDE * SIDE;
/// Side of the original MNIST image.
pub const MNIST_SIDE: usize = 28;
/// Latent size: z ∈ ℝ¹⁰⁰ ~ N(0, I) (spec default).
pub const LATENT: usize = 100;
/// MNIST classes.
pub const CLASSES: usize = 10;

/// A batch of rows of width `N` (batch size at run time, width at compile time).
pub type Rows<const N: usize, T = NoneTape> = Tensor<(usize, Const<N>), f32, Cpu, T>;
/// A batch of rows whose width is known only at run time (a network's code, for PT).
pub type Matrix<T = NoneTape> = Tensor<(usize, usize), f32, Cpu, T>;
/// The tape of a traced pass.
pub type Traced = OwnedTape<f32, Cpu>;
/// A scalar loss on the tape.
pub type Loss = Tensor<(), f32, Cpu, Traced>;

/// MNIST images (28 × 28, values in [0, 1], row-major, one image after another) zero-padded
/// to 32 × 32 and mapped to [−1, 1] (spec: "MNIST zero-padded to 32 × 32, pixels scaled to
/// [−1, 1]"); padding is background, −1.
pub fn pad_to_32(images: &[f32]) -> Vec<f32> {
    let n = images.len() / (MNIST_SIDE * MNIST_SIDE);
    let off = (SIDE - MNIST_SIDE) / 2;
    let mut out = vec![-1.0; n * PIXELS];
    for (src, dst) in images
        .chunks_exact(MNIST_SIDE * MNIST_SIDE)
        .zip(out.chunks_exact_mut(PIXELS))
    {
        for r in 0..MNIST_SIDE {
            for c in 0..MNIST_SIDE {
                dst[(r + off) * SIDE + c + off] = 2.0 * src[r * MNIST_SIDE + c] - 1.0;
            }
        }
    }
    out
}

/// The inverse of [`pad_to_32`]: the central 28 × 28 pixels mapped back to [0, 1] (for the
/// Parzen estimate, which the GAN paper computes on 784 pixels in [0, 1]).
pub fn crop_to_28(images: &[f32]) -> Vec<f32> {
    let off = (SIDE - MNIST_SIDE) / 2;
    let mut out = Vec::with_capacity(images.len() / PIXELS * MNIST_SIDE * MNIST_SIDE);
    for img in images.chunks_exact(PIXELS) {
        for r in 0..MNIST_SIDE {
            for c in 0..MNIST_SIDE {
                out.push((img[(r + off) * SIDE + c + off] + 1.0) / 2.0);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_round_trips_and_fills_background() {
        // Distinct pixel values, so that an offset or a transposition shows.
        let img: Vec<f32> = (0..784).map(|i| i as f32 / 783.0).collect();
        let padded = pad_to_32(&img);
        assert_eq!(padded.len(), PIXELS);
        let at = |r: usize, c: usize| padded[r * SIDE + c];
        assert_eq!(at(2, 2), 2.0 * img[0] - 1.0);
        assert_eq!(at(2, 3), 2.0 * img[1] - 1.0, "row-major, not transposed");
        assert_eq!(at(3, 2), 2.0 * img[28] - 1.0);
        assert_eq!(at(29, 29), 2.0 * img[783] - 1.0);
        for (r, c) in [(0, 0), (1, 1), (2, 1), (1, 2), (30, 30), (29, 30), (31, 31)] {
            assert_eq!(at(r, c), -1.0, "background at ({r}, {c})");
        }
        let back = crop_to_28(&padded);
        for (a, b) in back.iter().zip(&img) {
            assert!((a - b).abs() < 1e-6);
        }
    }
}
