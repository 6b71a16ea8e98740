//! Fréchet distance (FID) and kernel inception distance (KID) on features of a network of
//! this project (Inception weights are not available offline: name the value after its
//! feature network, e.g. "FID-cifar-cnn"; spec conv-gans-edgan.md, "FID here").
//!
//! - FID (Heusel et al. 2017) = ‖μ₁ − μ₂‖² + Tr(C₁ + C₂ − 2 (C₁^{1/2} C₂ C₁^{1/2})^{1/2}),
//!   in f64, with symmetric eigendecompositions and negative eigenvalues clamped to 0 (the
//!   product C₁C₂ is not symmetric: its `eigvalsh` is wrong). Biased in n: compare at equal n,
//!   beside a real-vs-real floor at that n.
//! - KID (Bińkowski et al. 2018): the unbiased MMD² with the cubic polynomial kernel
//!   k(a, b) = (aᵀb / d + 1)³.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

/// Mean and covariance (n − 1 in the denominator) of a feature set.
#[derive(Clone, Debug)]
pub struct Gaussian {
    pub mean: DVector<f64>,
    pub cov: DMatrix<f64>,
    /// Samples it was fitted on.
    pub n: usize,
}

impl Gaussian {
    /// Fits `features` (n rows of `dim` values, row-major). Errors when n ≤ dim (the
    /// covariance would be singular and the FID meaningless) or the length is not n · dim.
    pub fn fit(features: &[f32], dim: usize) -> Result<Self, String> {
        if dim == 0 || !features.len().is_multiple_of(dim) {
            return Err(format!(
                "{} values are not rows of {dim} features",
                features.len()
            ));
        }
        let n = features.len() / dim;
        if n <= dim {
            return Err(format!(
                "{n} samples for {dim} features: FID needs more samples than features (the covariance is singular otherwise)"
            ));
        }
        let x = DMatrix::from_row_iterator(n, dim, features.iter().map(|&v| v as f64));
        let mean = DVector::from_iterator(dim, x.column_iter().map(|c| c.mean()));
        let mut centred = x;
        for mut row in centred.row_iter_mut() {
            row -= mean.transpose();
        }
        let cov = centred.transpose() * &centred / (n as f64 - 1.0);
        Ok(Self { mean, cov, n })
    }
}

/// The symmetric positive semi-definite square root (eigenvalues below 0 clamped to 0).
pub fn sqrt_psd(m: &DMatrix<f64>) -> DMatrix<f64> {
    let sym = (m + m.transpose()) * 0.5;
    let e = SymmetricEigen::new(sym);
    let d = DMatrix::from_diagonal(&e.eigenvalues.map(|l| l.max(0.0).sqrt()));
    &e.eigenvectors * d * e.eigenvectors.transpose()
}

/// Tr((A^{1/2} B A^{1/2})^{1/2}) for symmetric PSD A, B.
fn trace_sqrt_product(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    let s = sqrt_psd(a);
    let m = &s * b * &s;
    let m = (&m + m.transpose()) * 0.5;
    SymmetricEigen::new(m)
        .eigenvalues
        .iter()
        .map(|l| l.max(0.0).sqrt())
        .sum()
}

/// The Fréchet distance of two Gaussians (≥ 0 up to rounding).
pub fn fid(a: &Gaussian, b: &Gaussian) -> f64 {
    let d = &a.mean - &b.mean;
    d.dot(&d) + a.cov.trace() + b.cov.trace() - 2.0 * trace_sqrt_product(&a.cov, &b.cov)
}

/// (FID, KID) between two feature sets of rows of `dim` values.
pub fn fid_and_kid(a: &[f32], b: &[f32], dim: usize) -> Result<(f64, f64), String> {
    let (ga, gb) = (Gaussian::fit(a, dim)?, Gaussian::fit(b, dim)?);
    Ok((fid(&ga, &gb), kid(a, b, dim)?))
}

/// Unbiased MMD² between feature sets `x` and `y` (rows of `dim`) with the kernel
/// (aᵀb / dim + 1)³. Errors with fewer than two rows in either set.
pub fn kid(x: &[f32], y: &[f32], dim: usize) -> Result<f64, String> {
    if dim == 0 || !x.len().is_multiple_of(dim) || !y.len().is_multiple_of(dim) {
        return Err(format!("the feature sets are not rows of {dim} values"));
    }
    let (m, n) = (x.len() / dim, y.len() / dim);
    if m < 2 || n < 2 {
        return Err(format!(
            "KID needs at least 2 samples per set, not {m} and {n}"
        ));
    }
    let k = |a: &[f32], b: &[f32]| -> f64 {
        let dot: f64 = a.iter().zip(b).map(|(p, q)| *p as f64 * *q as f64).sum();
        (dot / dim as f64 + 1.0).powi(3)
    };
    let within = |s: &[f32], n: usize| -> f64 {
        let mut sum = 0.0;
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    sum += k(&s[i * dim..(i + 1) * dim], &s[j * dim..(j + 1) * dim]);
                }
            }
        }
        sum / (n * (n - 1)) as f64
    };
    let mut cross = 0.0;
    for i in 0..m {
        for j in 0..n {
            cross += k(&x[i * dim..(i + 1) * dim], &y[j * dim..(j + 1) * dim]);
        }
    }
    Ok(within(x, m) + within(y, n) - 2.0 * cross / (m * n) as f64)
}
