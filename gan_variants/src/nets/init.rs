//! Orthogonal initialisation (Saxe et al. 2014; OptimizedDCGAN's, spec conv-gans-edgan.md):
//! a Gaussian matrix's QR decomposition, Q with the signs of R's diagonal (so Q is uniformly
//! distributed, not biased by the decomposition's sign convention), scaled by `gain`.
//!
//! A weight is flattened to (rows, cols) = (its layout's first axis, the rest): a dense layer
//! (out, in), a convolution kernel (out, in·k·k), a transposed convolution's kernel, whose
//! layout puts the input channels first, (in, out·k·k) (the spec's pitfall). The rows are
//! orthonormal when rows ≤ cols (W Wᵀ = gain²·I), else the columns (Wᵀ W = gain²·I).

use nalgebra::DMatrix;
use rand::Rng;
use rand_distr::StandardNormal;

/// A rows × cols orthogonal matrix times `gain`, row-major.
pub fn orthogonal(rows: usize, cols: usize, gain: f32, rng: &mut impl Rng) -> Vec<f32> {
    let (tall, short) = (rows.max(cols), rows.min(cols));
    let a = DMatrix::<f64>::from_fn(tall, short, |_, _| rng.sample(StandardNormal));
    let qr = a.qr();
    let (mut q, r) = (qr.q(), qr.r());
    for j in 0..short {
        if r[(j, j)] < 0.0 {
            q.column_mut(j).neg_mut();
        }
    }
    // q is tall × short with orthonormal columns; a wide matrix is its transpose.
    let m = if rows >= cols { q } else { q.transpose() };
    let mut out = Vec::with_capacity(rows * cols);
    for i in 0..rows {
        for j in 0..cols {
            out.push((m[(i, j)] * gain as f64) as f32);
        }
    }
    out
}

/// An orthogonal kernel of `shape` (first axis = rows, the product of the rest = columns),
/// e.g. [out, in, k, k] for a convolution or [in, out, k, k] for a transposed one.
pub fn orthogonal_kernel(shape: &[usize], gain: f32, rng: &mut impl Rng) -> Vec<f32> {
    let rows = shape.first().copied().unwrap_or(1);
    let cols = shape.iter().skip(1).product::<usize>();
    orthogonal(rows, cols, gain, rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    /// Largest |(W Wᵀ or Wᵀ W) − gain²·I| entry of a rows × cols row-major matrix, over the
    /// smaller side.
    fn gram_error(w: &[f32], rows: usize, cols: usize, gain: f32) -> f64 {
        let m = DMatrix::<f64>::from_row_slice(
            rows,
            cols,
            &w.iter().map(|v| *v as f64).collect::<Vec<_>>(),
        );
        let g = if rows <= cols {
            &m * m.transpose()
        } else {
            m.transpose() * &m
        };
        let n = g.nrows();
        let target = DMatrix::<f64>::identity(n, n) * (gain as f64).powi(2);
        (g - target).abs().max()
    }

    /// Dense, wide, tall, and the flattened kernels of a convolution [64, 3, 3, 3] (wide: 64 ×
    /// 27 is tall, in fact) and a transposed convolution [512, 256, 4, 4] (input channels first):
    /// the Gram matrix of the smaller side is gain²·I to 1e-5. Control: a Gaussian matrix of
    /// the same shape is far from it; and two seeds give different matrices.
    #[test]
    fn flattened_kernels_are_orthogonal() {
        let mut rng = StdRng::seed_from_u64(3);
        for (shape, gain) in [
            (vec![100, 100], 1.0f32),
            (vec![30, 80], 1.0),
            (vec![80, 30], 2.0),
            (vec![64, 3, 3, 3], 1.0),
            (vec![512, 256, 4, 4], 1.0),
        ] {
            let w = orthogonal_kernel(&shape, gain, &mut rng);
            let rows = shape[0];
            let cols = w.len() / rows;
            let e = gram_error(&w, rows, cols, gain);
            assert!(e < 1e-5, "{shape:?}: {e}");
            let gauss: Vec<f32> = (0..w.len())
                .map(|_| rng.sample::<f32, _>(StandardNormal) / (rows.min(cols) as f32).sqrt())
                .collect();
            assert!(
                gram_error(&gauss, rows, cols, gain) > 0.1,
                "control {shape:?}"
            );
        }
        let a = orthogonal(10, 10, 1.0, &mut StdRng::seed_from_u64(1));
        let b = orthogonal(10, 10, 1.0, &mut StdRng::seed_from_u64(2));
        assert_ne!(a, b);
    }

    /// Whether Qᵀ A is upper triangular with a positive diagonal.
    fn positive_triangular(q: &DMatrix<f64>, a: &DMatrix<f64>) -> bool {
        let r = q.transpose() * a;
        (0..r.ncols()).all(|i| r[(i, i)] > 0.0 && (0..i).all(|j| r[(i, j)].abs() < 1e-5))
    }

    /// The sign correction: Q is the factor of the unique QR decomposition with R's diagonal
    /// positive (the one whose Q is Haar-distributed): Qᵀ A, for the Gaussian A drawn from the
    /// same stream, is upper triangular with a positive diagonal, for 50 draws of 8 × 8 and
    /// 12 × 5. (nalgebra's QR already follows this convention; the correction keeps it true
    /// whatever the decomposition's.) Control: Q with one column's sign flipped fails.
    #[test]
    fn q_is_the_factor_with_a_positive_r_diagonal() {
        for seed in 0..50 {
            for (r, c) in [(8, 8), (12, 5)] {
                let q = orthogonal(r, c, 1.0, &mut StdRng::seed_from_u64(seed));
                let mut rng = StdRng::seed_from_u64(seed);
                let a = DMatrix::<f64>::from_fn(r, c, |_, _| rng.sample(StandardNormal));
                let mut q = DMatrix::<f64>::from_row_slice(
                    r,
                    c,
                    &q.iter().map(|v| *v as f64).collect::<Vec<_>>(),
                );
                assert!(positive_triangular(&q, &a), "seed {seed}, {r} × {c}");
                q.column_mut((seed % c as u64) as usize).neg_mut();
                assert!(!positive_triangular(&q, &a), "control: seed {seed}");
            }
        }
    }
}
