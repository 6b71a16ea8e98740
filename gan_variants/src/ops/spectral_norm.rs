//! Spectral normalisation (Miyato et al. 2018; EDGAN's SN_in_P, spec conv-gans-edgan.md,
//! "OptimizedDCGAN" and "Pitfalls"): W_SN = W / σ(W), σ estimated by one power iteration per
//! training forward from a persistent vector u (rows of W):
//!
//! v = Wᵀu / ‖Wᵀu‖, u ← W v / ‖W v‖, σ = uᵀ W v,
//!
//! u and v constants of the step (no gradient through the iteration), σ differentiable in W,
//! so ∂W_SN/∂W includes −W·(u vᵀ)/σ²; W itself is never overwritten with W/σ (that would cut
//! σ's gradient). The caller keeps u between steps and in checkpoints. A convolution kernel
//! is the matrix (out, in·k·k).

use dfdx::prelude::*;
use ladder::fast::values;

type Matrix<T> = Tensor<(usize, usize), f32, Cpu, T>;

/// One power iteration from `u` (length rows) on the row-major rows × cols `w`: returns the
/// new u and v (unit vectors) and σ = uᵀWv. A zero u (or a W that maps it to zero) restarts
/// from the all-ones vector.
pub fn power_iteration(
    w: &[f32],
    rows: usize,
    cols: usize,
    u: &[f32],
) -> (Vec<f32>, Vec<f32>, f32) {
    assert_eq!(w.len(), rows * cols, "w is rows × cols");
    assert_eq!(u.len(), rows, "u has one entry per row");
    let norm = |x: &[f64]| x.iter().map(|v| v * v).sum::<f64>().sqrt();
    let mut uu: Vec<f64> = u.iter().map(|v| *v as f64).collect();
    if norm(&uu) == 0.0 {
        uu = vec![1.0; rows];
    }
    let mut v = vec![0f64; cols];
    for (i, ui) in uu.iter().enumerate() {
        for j in 0..cols {
            v[j] += w[i * cols + j] as f64 * ui;
        }
    }
    let nv = norm(&v).max(1e-12);
    v.iter_mut().for_each(|x| *x /= nv);
    let mut wv = vec![0f64; rows];
    for (i, o) in wv.iter_mut().enumerate() {
        *o = (0..cols).map(|j| w[i * cols + j] as f64 * v[j]).sum();
    }
    let nu = norm(&wv).max(1e-12);
    let u_new: Vec<f64> = wv.iter().map(|x| x / nu).collect();
    let sigma: f64 = u_new.iter().zip(&wv).map(|(a, b)| a * b).sum();
    (
        u_new.iter().map(|x| *x as f32).collect(),
        v.iter().map(|x| *x as f32).collect(),
        sigma as f32,
    )
}

/// W / σ(W) on W's tape, with σ = uᵀWv from one power iteration that also advances `u` (the
/// persistent vector, updated in place). Returns W_SN and σ's value.
pub fn spectral_normalise<T: Tape<f32, Cpu> + Merge<T>>(
    w: Matrix<T>,
    u: &mut Vec<f32>,
) -> (Matrix<T>, f32) {
    let (rows, cols) = (w.shape().0, w.shape().1);
    let (u_new, v, s) = power_iteration(&values(&w), rows, cols, u);
    *u = u_new.clone();
    let dev = w.device().clone();
    let mut outer = Vec::with_capacity(rows * cols);
    for ui in &u_new {
        outer.extend(v.iter().map(|vj| ui * vj));
    }
    let outer: Matrix<NoneTape> = dev.tensor_from_vec(outer, (rows, cols));
    let sigma = (w.with_empty_tape() * outer).sum::<(), _>();
    (w / sigma.broadcast_like(&(rows, cols)), s)
}

/// [`spectral_normalise`] of a matrix W stored as its transpose `wt` (cols × rows): u has one
/// entry per row of W, i.e. per *column* of `wt` (a convolution's operand is (k·k·C_in, C_out),
/// the transpose of the (C_out, C_in·k·k) matrix whose rows u indexes, as in Miyato et al.).
/// Returns W_SNᵀ in `wt`'s layout and σ's value; σ is the same for W and Wᵀ.
pub fn spectral_normalise_transposed<T: Tape<f32, Cpu> + Merge<T>>(
    wt: Matrix<T>,
    u: &mut Vec<f32>,
) -> (Matrix<T>, f32) {
    let (r, c) = (wt.shape().0, wt.shape().1);
    let v = values(&wt);
    let mut w = vec![0f32; r * c];
    for i in 0..r {
        for j in 0..c {
            w[j * r + i] = v[i * c + j];
        }
    }
    let (u_new, vv, s) = power_iteration(&w, c, r, u);
    *u = u_new.clone();
    let dev = wt.device().clone();
    // σ = uᵀWv = Σ_ij Wᵀ[i, j] · v_i · u_j.
    let mut outer = Vec::with_capacity(r * c);
    for vi in &vv {
        outer.extend(u_new.iter().map(|uj| vi * uj));
    }
    let outer: Matrix<NoneTape> = dev.tensor_from_vec(outer, (r, c));
    let sigma = (wt.with_empty_tape() * outer).sum::<(), _>();
    (wt / sigma.broadcast_like(&(r, c)), s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// W = diag(3, 2, 1) in a random orthonormal basis pair (so σ = 3, not visible from the
    /// entries): 30 iterations from a random u give σ within 1e-4 of 3 (the error shrinks as
    /// (2/3)^{2t}); after 1 iteration it is still below 3 (the estimate approaches from below,
    /// so one iteration per step needs u to persist across steps).
    #[test]
    fn sigma_of_a_known_matrix() {
        // Rotations of the plane (0,1) and (1,2) on each side.
        let rot = |a: f32, i: usize, j: usize| {
            let mut m = [[0f32; 3]; 3];
            for (k, row) in m.iter_mut().enumerate() {
                row[k] = 1.0;
            }
            m[i][i] = a.cos();
            m[j][j] = a.cos();
            m[i][j] = -a.sin();
            m[j][i] = a.sin();
            m
        };
        let mul = |a: [[f32; 3]; 3], b: [[f32; 3]; 3]| {
            let mut c = [[0f32; 3]; 3];
            for i in 0..3 {
                for j in 0..3 {
                    c[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
                }
            }
            c
        };
        let d = [[3.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]];
        let w = mul(mul(rot(0.7, 0, 1), d), rot(-1.1, 1, 2));
        let flat: Vec<f32> = w.iter().flatten().copied().collect();
        let mut u = vec![0.3f32, -0.5, 0.8];
        let (_, _, first) = power_iteration(&flat, 3, 3, &u);
        assert!(first < 3.0 - 1e-3, "{first}");
        let mut s = 0.0;
        for _ in 0..30 {
            let (nu, _, ns) = power_iteration(&flat, 3, 3, &u);
            u = nu;
            s = ns;
        }
        assert!((s - 3.0).abs() < 1e-4, "{s}");
    }

    /// ∂/∂W of L = Σ c ⊙ (W/σ(W)) (c fixed random weights) by backward against central
    /// differences of the same expression with u, v held fixed (the constants of the step), at
    /// the 6 entries with the largest gradients. Control: treating σ as a constant (dividing
    /// by its value) gives a gradient that differs from the differences by far more.
    #[test]
    fn gradient_through_sigma_matches_finite_differences() {
        let (rows, cols) = (4, 6);
        let mut rng = StdRng::seed_from_u64(2);
        let w: Vec<f32> = (0..rows * cols)
            .map(|_| rng.gen_range(-1.0..1.0f32))
            .collect();
        let c: Vec<f32> = (0..rows * cols)
            .map(|_| rng.gen_range(-1.0..1.0f32))
            .collect();
        let u0: Vec<f32> = (0..rows).map(|_| rng.gen_range(-1.0..1.0f32)).collect();
        let dev = Cpu::default();
        let ct: Matrix<NoneTape> = dev.tensor_from_vec(c.clone(), (rows, cols));
        let wt: Matrix<NoneTape> = dev.tensor_from_vec(w.clone(), (rows, cols));
        let mut u = u0.clone();
        let (wsn, _) = spectral_normalise(wt.leaky_trace(), &mut u);
        let g = (wsn * ct.clone()).sum().backward().get(&wt).as_vec();
        // The same expression with u, v of this step fixed.
        let (u1, v1, _) = power_iteration(&w, rows, cols, &u0);
        let loss = |ww: &[f32]| -> f64 {
            let sigma: f64 = (0..rows)
                .flat_map(|i| (0..cols).map(move |j| (i, j)))
                .map(|(i, j)| u1[i] as f64 * ww[i * cols + j] as f64 * v1[j] as f64)
                .sum();
            ww.iter()
                .zip(&c)
                .map(|(a, b)| *a as f64 * *b as f64)
                .sum::<f64>()
                / sigma
        };
        let mut order: Vec<usize> = (0..w.len()).collect();
        order.sort_by(|a, b| g[*b].abs().total_cmp(&g[*a].abs()));
        let mut worst_const = 0f64;
        for &k in order.iter().take(6) {
            let h = 1e-3f32;
            let (mut up, mut dn) = (w.clone(), w.clone());
            up[k] += h;
            dn[k] -= h;
            let numeric = (loss(&up) - loss(&dn)) / (2.0 * h as f64);
            let a = g[k] as f64;
            assert!(a.abs() > 0.05, "entry {k}: {a} too small to test");
            assert!(
                (numeric - a).abs() < 1e-2 * a.abs() + 1e-3,
                "entry {k}: numeric {numeric} vs backward {a}"
            );
            // σ as a constant: ∂L/∂W_k = c_k/σ.
            let sigma = {
                let (_, _, s) = power_iteration(&w, rows, cols, &u0);
                s as f64
            };
            worst_const = worst_const.max((numeric - c[k] as f64 / sigma).abs());
        }
        assert!(
            worst_const > 0.05,
            "control: constant σ is as good ({worst_const})"
        );
        // u advanced and persists in the caller's vector.
        assert_eq!(u, u1);
    }

    /// The transposed storage gives W_SNᵀ of the plain form, the same σ and the same u, and
    /// the same gradient (transposed) for a loss on it.
    #[test]
    fn transposed_storage_is_the_transpose() {
        let (rows, cols) = (3, 5);
        let mut rng = StdRng::seed_from_u64(4);
        let w: Vec<f32> = (0..rows * cols)
            .map(|_| rng.gen_range(-1.0..1.0f32))
            .collect();
        let mut wt = vec![0f32; rows * cols];
        for i in 0..rows {
            for j in 0..cols {
                wt[j * rows + i] = w[i * cols + j];
            }
        }
        let dev = Cpu::default();
        let a: Matrix<NoneTape> = dev.tensor_from_vec(w, (rows, cols));
        let b: Matrix<NoneTape> = dev.tensor_from_vec(wt, (cols, rows));
        let (mut u1, mut u2) = (vec![0.2f32, -0.7, 0.4], vec![0.2f32, -0.7, 0.4]);
        let (p, s1) = spectral_normalise(a.leaky_trace(), &mut u1);
        let (q, s2) = spectral_normalise_transposed(b.leaky_trace(), &mut u2);
        assert!((s1 - s2).abs() < 1e-6 && u1 == u2, "{s1} {s2}");
        let (pv, qv) = (p.as_vec(), q.as_vec());
        let ga = p.square().sum().backward().get(&a).as_vec();
        let gb = q.square().sum().backward().get(&b).as_vec();
        for i in 0..rows {
            for j in 0..cols {
                assert!((pv[i * cols + j] - qv[j * rows + i]).abs() < 1e-6);
                assert!((ga[i * cols + j] - gb[j * rows + i]).abs() < 1e-5);
            }
        }
    }
}
