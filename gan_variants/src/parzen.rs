//! Gaussian Parzen-window log-likelihood (Goodfellow et al. 2014, section 5): fit an isotropic
//! Gaussian of width σ on each generated sample and report the mean log-likelihood of test
//! images under the mixture, σ chosen by the mean log-likelihood of a validation split.
//!
//! log p(x) = logsumexp_i(−‖x − s_i‖² / (2σ²)) − ln n − (d/2) ln(2πσ²), computed in f64 after
//! one matmul per chunk of points (‖x‖² + ‖s‖² − 2 x·s, clamped at 0). It is a known
//! high-variance, dimension-sensitive estimator (Theis et al. 2016): it ranks models only
//! roughly and is reported for comparison with the GAN paper, not as a likelihood.

use dfdx::prelude::*;

/// Points per chunk: a chunk × n distance matrix is held at once.
const CHUNK: usize = 500;

fn row_norms(x: &[f32], d: usize) -> Vec<f64> {
    x.chunks_exact(d)
        .map(|r| r.iter().map(|v| (*v as f64) * (*v as f64)).sum())
        .collect()
}

/// Calls `f(chunk_start, squared distances chunk × n)` for every chunk of `points`.
fn for_each_chunk(
    dev: &Cpu,
    samples: &[f32],
    points: &[f32],
    d: usize,
    mut f: impl FnMut(usize, &[f64]),
) {
    let n = samples.len() / d;
    let s: Tensor<(usize, usize), f32, Cpu> = dev.tensor_from_vec(samples.to_vec(), (n, d));
    let st = s.permute::<(usize, usize), Axes2<1, 0>>();
    let s_norm = row_norms(samples, d);
    for (c, chunk) in points.chunks(CHUNK * d).enumerate() {
        let m = chunk.len() / d;
        let x: Tensor<(usize, usize), f32, Cpu> = dev.tensor_from_vec(chunk.to_vec(), (m, d));
        let dots = x.matmul(st.clone()).as_vec();
        let x_norm = row_norms(chunk, d);
        let dist: Vec<f64> = dots
            .iter()
            .enumerate()
            .map(|(k, dot)| (x_norm[k / n] + s_norm[k % n] - 2.0 * *dot as f64).max(0.0))
            .collect();
        f(c * CHUNK, &dist);
    }
}

fn log_likelihood(dist_row: &[f64], sigma: f64, d: usize) -> f64 {
    let a = -0.5 / (sigma * sigma);
    let max = dist_row
        .iter()
        .map(|v| a * v)
        .fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = dist_row.iter().map(|v| (a * v - max).exp()).sum();
    max + sum.ln()
        - (dist_row.len() as f64).ln()
        - 0.5 * d as f64 * (2.0 * std::f64::consts::PI * sigma * sigma).ln()
}

/// log p(x) of every row of `points` (m × d) under the Parzen window of width `sigma` on
/// `samples` (n × d).
pub fn log_likelihoods(
    dev: &Cpu,
    samples: &[f32],
    points: &[f32],
    d: usize,
    sigma: f64,
) -> Vec<f64> {
    let n = samples.len() / d;
    let mut out = vec![0.0; points.len() / d];
    for_each_chunk(dev, samples, points, d, |start, dist| {
        for (k, row) in dist.chunks_exact(n).enumerate() {
            out[start + k] = log_likelihood(row, sigma, d);
        }
    });
    out
}

/// The mean validation log-likelihood for every σ in `sigmas` (one distance pass), and the
/// index of the best.
pub fn select_sigma(
    dev: &Cpu,
    samples: &[f32],
    validation: &[f32],
    d: usize,
    sigmas: &[f64],
) -> (usize, Vec<f64>) {
    let n = samples.len() / d;
    let m = (validation.len() / d) as f64;
    let mut means = vec![0.0; sigmas.len()];
    for_each_chunk(dev, samples, validation, d, |_, dist| {
        for row in dist.chunks_exact(n) {
            for (mean, s) in means.iter_mut().zip(sigmas) {
                *mean += log_likelihood(row, *s, d) / m;
            }
        }
    });
    let best = (0..sigmas.len())
        .max_by(|a, b| means[*a].total_cmp(&means[*b]))
        .expect("at least one σ");
    (best, means)
}

/// Mean and standard error of the mean.
pub fn mean_and_stderr(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One sample μ: the window is the Gaussian N(μ, σ²I), so
    /// log p(x) = −‖x − μ‖²/(2σ²) − (d/2) ln(2πσ²).
    #[test]
    fn one_sample_is_one_gaussian() {
        let dev: Cpu = Default::default();
        let d = 3;
        let mu = [0.5f32, -1.0, 2.0];
        let x = [0.5f32, -1.0, 2.0, 1.5, 0.0, 2.0, 0.5, 9.0, 2.0];
        let sigma = 0.7f64;
        let ll = log_likelihoods(&dev, &mu, &x, d, sigma);
        let norm = -1.5 * (2.0 * std::f64::consts::PI * 0.49).ln();
        let want = [norm, norm - 2.0 / (2.0 * 0.49), norm - 100.0 / (2.0 * 0.49)];
        for (a, b) in ll.iter().zip(want) {
            assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }

    /// Two samples at equal distance: log p = log N(one) (the mixture of two equal terms).
    /// Far points do not underflow (log-sum-exp). σ selection picks the interior optimum.
    #[test]
    fn mixture_and_sigma_selection() {
        let dev: Cpu = Default::default();
        let samples = [-1.0f32, 1.0];
        let x = [0.0f32];
        let ll = log_likelihoods(&dev, &samples, &x, 1, 1.0);
        let want = -0.5 - 0.5 * (2.0 * std::f64::consts::PI).ln();
        assert!((ll[0] - want).abs() < 1e-6);
        let far = log_likelihoods(&dev, &samples, &[1000.0], 1, 0.1);
        // Squared distances 998001 and 1002001 (exact in f32): log p = −998001/(2·0.01)
        // − ln 2 − ½ ln(2π·0.01) + log(1 + e^{−200000}) = −49,900,049.3095.
        assert!((far[0] + 49_900_049.309_5).abs() < 0.5, "{}", far[0]);
        // Validation points drawn near the samples: tiny and huge σ both lose.
        let val = [-1.1f32, -0.9, 0.95, 1.05, -1.0, 1.2];
        let sigmas = [0.001, 0.1, 100.0];
        let (best, means) = select_sigma(&dev, &samples, &val, 1, &sigmas);
        assert_eq!(best, 1, "{means:?}");
    }

    #[test]
    fn standard_error_by_hand() {
        let (m, se) = mean_and_stderr(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m, 2.5);
        // sample var 5/3, se = sqrt(5/12).
        assert!((se - (5.0f64 / 12.0).sqrt()).abs() < 1e-12);
    }
}
