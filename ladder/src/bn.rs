//! Batch normalisation without affine parameters, over row segments ("BN groups").
//!
//! A step stacks its labeled, unlabeled and fake rows into one matrix. [`normalize_groups`]
//! normalises each segment of rows with its own batch mean and biased variance,
//! y = (x − mean) / sqrt(var + ε), so one matmul serves all groups while their statistics stay
//! separate (spec: "BN groups"). Its backward is the usual batch-norm gradient,
//! ∂L/∂x = (∂L/∂y − mean(∂L/∂y) − y · mean(∂L/∂y ⊙ y)) / sqrt(var + ε), per segment and column.

use crate::fast::values;
use crate::fused::ROWS_PER_TASK;
use crate::shapes::Rows;
use dfdx::prelude::*;
use rayon::prelude::*;

/// Rows of a runtime width (the image models' feature maps: N · H · W rows, C columns).
pub type DynRows<T = NoneTape> = Tensor<(usize, usize), f32, Cpu, T>;

/// Per-column mean and biased variance of one segment of rows.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnStats {
    pub mean: Vec<f32>,
    pub var: Vec<f32>,
}

/// Column statistics of `rows` rows of width `n` stored row-major in `x`.
pub fn column_stats(x: &[f32], n: usize) -> ColumnStats {
    let rows = x.len() / n;
    let mut mean = vec![0f64; n];
    for r in x.chunks_exact(n) {
        for (m, v) in mean.iter_mut().zip(r) {
            *m += *v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= rows as f64);
    let mut var = vec![0f64; n];
    for r in x.chunks_exact(n) {
        for ((s, v), m) in var.iter_mut().zip(r).zip(&mean) {
            let d = *v as f64 - m;
            *s += d * d;
        }
    }
    ColumnStats {
        mean: mean.iter().map(|m| *m as f32).collect(),
        var: var.iter().map(|s| (*s / rows as f64) as f32).collect(),
    }
}

/// y = (x − mean) / sqrt(var + ε) in place, with given statistics.
pub fn normalize_with(x: &mut [f32], n: usize, stats: &ColumnStats, eps: f32) {
    let inv: Vec<f32> = stats.var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    for r in x.chunks_exact_mut(n) {
        for ((v, m), s) in r.iter_mut().zip(&stats.mean).zip(&inv) {
            *v = (*v - m) * s;
        }
    }
}

/// Normalises each segment of rows of `x` with its own batch statistics. `segments` lists the
/// row counts of the groups, in order, and must add up to the rows of `x`. Returns the
/// normalised rows (on the same tape) and the statistics of each segment.
pub fn normalize_groups<const N: usize, T: Tape<f32, Cpu>>(
    x: Rows<N, T>,
    segments: &[usize],
    eps: f32,
) -> (Rows<N, T>, Vec<ColumnStats>) {
    let (x, mut tape) = x.split_tape();
    let rows = x.shape().0;
    let mut y = values(&x);
    let (stats, inv_std) = normalize_segments(&mut y, N, segments, eps);
    let y = x.device().tensor_from_vec(y, (rows, Const::<N>));
    if T::OWNS_TAPE {
        let y_out = y.clone();
        let segments = segments.to_vec();
        tape.add_backward_op(move |grads| {
            let gy: Vec<f32> = grads.get_or_alloc_mut(&y_out)?.to_vec();
            let yv = values(&y_out);
            let gx = grads.get_or_alloc_mut(&x)?;
            backward_segments(&gy, &yv, gx, N, &segments, &inv_std);
            Ok(())
        });
    }
    (y.put_tape(tape), stats)
}

/// [`normalize_groups`] for rows of a runtime width: the batch norm per channel of the image
/// models, whose feature maps are rows (N · H · W, C), so that each channel is normalised over
/// (N, H, W) within each segment (real and fake halves apart). `segments` count rows (for
/// images: images × H × W).
pub fn normalize_groups_dyn<T: Tape<f32, Cpu>>(
    x: DynRows<T>,
    segments: &[usize],
    eps: f32,
) -> (DynRows<T>, Vec<ColumnStats>) {
    let (x, mut tape) = x.split_tape();
    let (rows, n) = *x.shape();
    let mut y = values(&x);
    let (stats, inv_std) = normalize_segments(&mut y, n, segments, eps);
    let y = x.device().tensor_from_vec(y, (rows, n));
    if T::OWNS_TAPE {
        let y_out = y.clone();
        let segments = segments.to_vec();
        tape.add_backward_op(move |grads| {
            let gy: Vec<f32> = grads.get_or_alloc_mut(&y_out)?.to_vec();
            let yv = values(&y_out);
            let gx = grads.get_or_alloc_mut(&x)?;
            backward_segments(&gy, &yv, gx, n, &segments, &inv_std);
            Ok(())
        });
    }
    (y.put_tape(tape), stats)
}

/// Normalises each segment of rows of the row-major `y` (width `n`) in place with its own
/// batch statistics; returns the statistics and 1/sqrt(var + ε) of each segment.
pub(crate) fn normalize_segments(
    y: &mut [f32],
    n: usize,
    segments: &[usize],
    eps: f32,
) -> (Vec<ColumnStats>, Vec<Vec<f32>>) {
    assert_eq!(
        segments.iter().sum::<usize>() * n,
        y.len(),
        "BN segments must cover the batch"
    );
    let mut stats = Vec::with_capacity(segments.len());
    let mut inv_std = Vec::with_capacity(segments.len());
    let mut start = 0;
    for &len in segments {
        let seg = &mut y[start * n..(start + len) * n];
        let s = column_stats(seg, n);
        normalize_with(seg, n, &s, eps);
        inv_std.push(s.var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect());
        stats.push(s);
        start += len;
    }
    (stats, inv_std)
}

/// The batch-norm backward of [`normalize_segments`], added into `gx`:
/// ∂L/∂x = (∂L/∂y − mean(∂L/∂y) − y · mean(∂L/∂y ⊙ y)) / sqrt(var + ε) per segment and column.
/// The column means are summed over rows in order (deterministic); the elementwise part runs
/// in parallel over fixed blocks of rows.
pub(crate) fn backward_segments(
    gy: &[f32],
    yv: &[f32],
    gx: &mut [f32],
    n: usize,
    segments: &[usize],
    inv_std: &[Vec<f32>],
) {
    let mut start = 0;
    for (len, inv) in segments.iter().zip(inv_std) {
        let range = start * n..(start + len) * n;
        let (gy, yv, gx) = (&gy[range.clone()], &yv[range.clone()], &mut gx[range]);
        let mut mean_g = vec![0f32; n];
        let mut mean_gy = vec![0f32; n];
        for (g, v) in gy.chunks_exact(n).zip(yv.chunks_exact(n)) {
            for c in 0..n {
                mean_g[c] += g[c];
                mean_gy[c] += g[c] * v[c];
            }
        }
        let k = 1.0 / *len as f32;
        mean_g.iter_mut().for_each(|m| *m *= k);
        mean_gy.iter_mut().for_each(|m| *m *= k);
        let block = ROWS_PER_TASK * n;
        gx.par_chunks_mut(block)
            .zip(gy.par_chunks(block))
            .zip(yv.par_chunks(block))
            .for_each(|((gx, gy), yv)| {
                for ((out, g), v) in gx
                    .chunks_exact_mut(n)
                    .zip(gy.chunks_exact(n))
                    .zip(yv.chunks_exact(n))
                {
                    for c in 0..n {
                        out[c] += inv[c] * (g[c] - mean_g[c] - v[c] * mean_gy[c]);
                    }
                }
            });
        start += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_matches_hand_computed_values() {
        // Column [1, 2, 3, 6]: mean 3, biased var (4 + 1 + 0 + 9) / 4 = 3.5.
        // Segments [2, 2] instead: [1, 2] → mean 1.5, var 0.25 → [-1, 1]; [3, 6] → [-1, 1].
        let dev: Cpu = Default::default();
        let x: Rows<1> = dev.tensor_from_vec(vec![1.0, 2.0, 3.0, 6.0], (4, Const::<1>));
        let (y, stats) = normalize_groups(x.clone(), &[4], 0.0);
        let s = 3.5f32.sqrt();
        let want = [-2.0 / s, -1.0 / s, 0.0, 3.0 / s];
        for (a, b) in y.as_vec().iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        assert_eq!(stats[0].mean, vec![3.0]);
        assert_eq!(stats[0].var, vec![3.5]);
        let (y, _) = normalize_groups(x, &[2, 2], 0.0);
        assert_eq!(y.as_vec(), vec![-1.0, 1.0, -1.0, 1.0]);
    }

    /// L = Σ w ⊙ BN(x) with fixed weights w; the analytic gradient against central
    /// differences in f64-accumulated f32.
    #[test]
    fn gradient_matches_finite_differences() {
        let dev: Cpu = Cpu::seed_from_u64(7);
        const N: usize = 3;
        let rows = 7;
        let x: Rows<N> = dev.sample_normal_like(&(rows, Const::<N>));
        let w: Rows<N> = dev.sample_normal_like(&(rows, Const::<N>));
        let segments = [3, 4];
        let loss = |x: &Rows<N>| -> f64 {
            let (y, _) = normalize_groups(x.clone(), &segments, 1e-5);
            y.as_vec()
                .iter()
                .zip(w.as_vec())
                .map(|(a, b)| (*a as f64) * b as f64)
                .sum()
        };
        let (y, _) = normalize_groups(x.leaky_trace(), &segments, 1e-5);
        let g = (y * w.clone()).sum().backward();
        let analytic = g.get(&x).as_vec();
        let base = x.as_vec();
        let h = 1e-3f32;
        for i in 0..base.len() {
            let mut p = base.clone();
            p[i] += h;
            let mut m = base.clone();
            m[i] -= h;
            let lp = loss(&dev.tensor_from_vec(p, (rows, Const::<N>)));
            let lm = loss(&dev.tensor_from_vec(m, (rows, Const::<N>)));
            let numeric = (lp - lm) / (2.0 * h as f64);
            assert!(
                (numeric - analytic[i] as f64).abs() < 2e-3 * (1.0 + numeric.abs()),
                "element {i}: numeric {numeric} vs analytic {}",
                analytic[i]
            );
        }
        // The gradient of a BN output sums to zero over each segment's rows (shift invariance).
        for c in 0..N {
            let s1: f32 = (0..3).map(|r| analytic[r * N + c]).sum();
            let s2: f32 = (3..7).map(|r| analytic[r * N + c]).sum();
            assert!(s1.abs() < 1e-5 && s2.abs() < 1e-5);
        }
    }

    /// The runtime-width version equals the const-width one (values, statistics and input
    /// gradient, bit for bit: the same kernels), so its finite-difference test above covers it.
    #[test]
    fn runtime_width_equals_const_width() {
        let dev: Cpu = Cpu::seed_from_u64(8);
        const N: usize = 5;
        let x: Rows<N> = dev.sample_normal_like(&(9, Const::<N>));
        let w: Rows<N> = dev.sample_normal_like(&(9, Const::<N>));
        let segments = [4, 5];
        let (y, st) = normalize_groups(x.leaky_trace(), &segments, 1e-5);
        let y_values = y.retaped::<NoneTape>().as_vec();
        let gc = (y * w.clone()).sum().backward();
        let xd = dev.tensor_from_vec(x.as_vec(), (9usize, N));
        let wd = dev.tensor_from_vec(w.as_vec(), (9usize, N));
        let (yd, sd) = normalize_groups_dyn(xd.leaky_trace(), &segments, 1e-5);
        assert_eq!(yd.as_vec(), y_values);
        assert_eq!(sd, st);
        let gd = (yd * wd).sum().backward();
        assert_eq!(gd.get(&xd).as_vec(), gc.get(&x).as_vec());
    }
}
