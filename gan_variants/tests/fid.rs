//! FID and KID against closed forms and known properties (gan_variants::metrics::fid).

use gan_variants::metrics::fid::{fid, kid, Gaussian};
use nalgebra::{DMatrix, DVector};
use rand::{rngs::StdRng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

fn gaussian(mean: &[f64], cov: &[f64]) -> Gaussian {
    let d = mean.len();
    Gaussian {
        mean: DVector::from_column_slice(mean),
        cov: DMatrix::from_row_slice(d, d, cov),
        n: 0,
    }
}

/// Diagonal covariances: FID = ‖μ₁ − μ₂‖² + Σ (σ₁ − σ₂)² = (1 + 4) + (2 − 1)² + (3 − 1)² = 10.
/// Non-commuting 2 × 2: for PSD M, Tr √M = √(Tr M + 2 √det M) with Tr M = Tr(C₁C₂) = 10 and
/// det M = det C₁ · det C₂ = 12, so FID = 4 + 5 − 2 √(10 + 2√12) = 0.7712204.
#[test]
fn fid_of_two_gaussians_matches_the_closed_form() {
    let a = gaussian(&[1.0, 2.0], &[4.0, 0.0, 0.0, 9.0]);
    let b = gaussian(&[0.0, 0.0], &[1.0, 0.0, 0.0, 1.0]);
    assert!((fid(&a, &b) - 10.0).abs() < 1e-9, "{}", fid(&a, &b));
    let c1 = gaussian(&[0.0, 0.0], &[2.0, 1.0, 1.0, 2.0]);
    let c2 = gaussian(&[0.0, 0.0], &[1.0, 0.0, 0.0, 4.0]);
    let want = 9.0 - 2.0 * (10.0 + 2.0 * 12f64.sqrt()).sqrt();
    assert!(
        (fid(&c1, &c2) - want).abs() < 1e-9,
        "{} vs {want}",
        fid(&c1, &c2)
    );
    assert!((fid(&c2, &c1) - want).abs() < 1e-9, "symmetric");
}

/// The fit by hand: rows (1, 2), (3, 4), (5, 9) → mean (3, 5), covariance ((4, 7), (7, 13)).
/// A set against itself is 0; a rank-deficient covariance (a collapsed generator) gives a
/// finite, non-negative value; n ≤ dim is an error.
#[test]
fn fit_self_distance_singular_sets_and_too_few_samples() {
    let g = Gaussian::fit(&[1.0, 2.0, 3.0, 4.0, 5.0, 9.0], 2).unwrap();
    assert_eq!(g.mean.as_slice(), [3.0, 5.0]);
    assert_eq!(g.cov.as_slice(), [4.0, 7.0, 7.0, 13.0]);
    let mut rng = StdRng::seed_from_u64(1);
    let x: Vec<f32> = (0..200 * 16)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    let gx = Gaussian::fit(&x, 16).unwrap();
    assert!(fid(&gx, &gx).abs() < 1e-9, "{}", fid(&gx, &gx));
    // Every sample the same in the first 8 features: covariance of rank 8.
    let collapsed: Vec<f32> = x
        .iter()
        .enumerate()
        .map(|(i, v)| if i % 16 < 8 { 0.5 } else { *v })
        .collect();
    let gc = Gaussian::fit(&collapsed, 16).unwrap();
    let v = fid(&gx, &gc);
    assert!(v.is_finite() && v > 1.0, "{v}");
    let e = Gaussian::fit(&x[..16 * 16], 16).unwrap_err();
    assert!(e.contains("16 samples for 16 features"), "{e}");
}

/// KID is unbiased: over 400 pairs of sets of 8 draws from the same N(0, I₃) its mean is 0
/// within 3 standard errors; the biased estimator (i = j terms kept) is positive by more
/// than 3 standard errors (the control that shows the test can fail).
#[test]
fn kid_is_unbiased() {
    let mut rng = StdRng::seed_from_u64(2);
    let (m, d) = (8, 3);
    let k = |a: &[f32], b: &[f32]| -> f64 {
        let dot: f64 = a.iter().zip(b).map(|(p, q)| *p as f64 * *q as f64).sum();
        (dot / d as f64 + 1.0).powi(3)
    };
    let (mut unbiased, mut biased) = (Vec::new(), Vec::new());
    for _ in 0..400 {
        let x: Vec<f32> = (0..m * d)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let y: Vec<f32> = (0..m * d)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        unbiased.push(kid(&x, &y, d).unwrap());
        let mean_k = |a: &[f32], b: &[f32]| {
            let mut s = 0.0;
            for i in 0..m {
                for j in 0..m {
                    s += k(&a[i * d..(i + 1) * d], &b[j * d..(j + 1) * d]);
                }
            }
            s / (m * m) as f64
        };
        biased.push(mean_k(&x, &x) + mean_k(&y, &y) - 2.0 * mean_k(&x, &y));
    }
    let stats = |v: &[f64]| {
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
        (mean, (var / v.len() as f64).sqrt())
    };
    let (mu, se) = stats(&unbiased);
    assert!(mu.abs() < 3.0 * se, "unbiased KID mean {mu} ± {se}");
    let (mb, sb) = stats(&biased);
    assert!(mb > 3.0 * sb, "biased estimator {mb} ± {sb}");
    assert!(kid(&[1.0, 2.0], &[1.0, 2.0, 3.0, 4.0], 2).is_err());
}
