//! Lateral combinators ẑ = g(z̃, u) of the ladder decoder (spec: Decoder).
//!
//! Both kinds keep their per-unit vectors in the same ten slots, so that one module type serves
//! both (a runtime choice would otherwise need two ladder types):
//! - "gauss" (default, Rasmus et al. 2015): slots a1..a10,
//!   μ = a1·σ(a2·u + a3) + a4·u + a5,  v = a6·σ(a7·u + a8) + a9·u + a10,  ẑ = (z̃ − μ)·v + μ;
//!   init a2 = a7 = 1, the rest 0, so that ẑ ≡ 0 at init.
//! - "sig" (Pezeshki et al. 2015, "vanilla"): slots 1..9 are b0, w0z, w0u, w0zu, wσ, b1, w1z,
//!   w1u, w1zu in that order, ẑ = b0 + w0z·z̃ + w0u·u + w0zu·z̃u + wσ·σ(b1 + w1z·z̃ + w1u·u + w1zu·z̃u);
//!   init w0z = w1z = wσ = 1, the rest 0. Slot 10 is unused: its gradient is always 0, so Adam
//!   never moves it from 0.

use crate::config::CombinatorKind;
use crate::fused::{add_into, ROWS_PER_TASK};
use crate::shapes::Rows;
use dfdx::prelude::*;
use rayon::prelude::*;

/// The ten per-unit parameter vectors of one layer's combinator.
#[derive(Clone, Debug)]
pub struct Combinator<const N: usize, E: Dtype = f32, D: Device<E> = Cpu> {
    pub a: [Tensor<Rank1<N>, E, D>; 10],
}

fn zeros<const N: usize, E: Dtype, D: Device<E>>(
    t: &mut Tensor<Rank1<N>, E, D>,
) -> Result<(), D::Err> {
    t.try_fill_with_zeros()
}
fn ones<const N: usize, E: Dtype, D: Device<E>>(
    t: &mut Tensor<Rank1<N>, E, D>,
) -> Result<(), D::Err> {
    t.try_fill_with_ones()
}

impl<const N: usize, E: Dtype, D: Device<E>> TensorCollection<E, D> for Combinator<N, E, D> {
    type To<E2: Dtype, D2: Device<E2>> = Combinator<N, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        // The gauss initialisation (a2 = a7 = 1); `Ladder::new` adds wσ = 1 for "sig".
        let init = |i: usize| {
            if i == 1 || i == 6 {
                TensorOptions::reset_with(ones::<N, E, D>)
            } else {
                TensorOptions::reset_with(zeros::<N, E, D>)
            }
        };
        visitor.visit_fields(
            (
                (
                    Self::tensor("a1", |s| &s.a[0], |s| &mut s.a[0], init(0)),
                    Self::tensor("a2", |s| &s.a[1], |s| &mut s.a[1], init(1)),
                    Self::tensor("a3", |s| &s.a[2], |s| &mut s.a[2], init(2)),
                    Self::tensor("a4", |s| &s.a[3], |s| &mut s.a[3], init(3)),
                    Self::tensor("a5", |s| &s.a[4], |s| &mut s.a[4], init(4)),
                ),
                (
                    Self::tensor("a6", |s| &s.a[5], |s| &mut s.a[5], init(5)),
                    Self::tensor("a7", |s| &s.a[6], |s| &mut s.a[6], init(6)),
                    Self::tensor("a8", |s| &s.a[7], |s| &mut s.a[7], init(7)),
                    Self::tensor("a9", |s| &s.a[8], |s| &mut s.a[8], init(8)),
                    Self::tensor("a10", |s| &s.a[9], |s| &mut s.a[9], init(9)),
                ),
            ),
            |((a1, a2, a3, a4, a5), (a6, a7, a8, a9, a10))| Combinator {
                a: [a1, a2, a3, a4, a5, a6, a7, a8, a9, a10],
            },
        )
    }
}

impl<const N: usize> Combinator<N> {
    /// Slot `i` (0-based) broadcast over `rows` rows, on tape `T`.
    fn slot<T: Tape<f32, Cpu>>(&self, i: usize, rows: usize) -> Rows<N, T> {
        self.a[i].retaped::<T>().broadcast_like(&(rows, Const::<N>))
    }

    /// ẑ = g(z̃, u) for the given kind. `z` is the noisy lateral z̃, `u` the top-down signal.
    pub fn combine<T: Tape<f32, Cpu> + Merge<T>>(
        &self,
        kind: CombinatorKind,
        z: Rows<N, T>,
        u: Rows<N, T>,
    ) -> Rows<N, T> {
        match kind {
            CombinatorKind::Gauss => self.gauss_fused(z, u),
            CombinatorKind::Sig => self.sig(z, u),
        }
    }

    /// The same function as [`Combinator::combine`], built from dfdx's elementwise ops: the
    /// straightforward version the fused kernels are tested against.
    pub fn combine_reference<T: Tape<f32, Cpu> + Merge<T>>(
        &self,
        kind: CombinatorKind,
        z: Rows<N, T>,
        u: Rows<N, T>,
    ) -> Rows<N, T> {
        match kind {
            CombinatorKind::Gauss => self.gauss(z, u),
            CombinatorKind::Sig => self.sig(z, u),
        }
    }

    /// "gauss" as one forward loop and one backward loop (instead of ~20 elementwise ops with
    /// broadcast parameters, each allocating and each reducing in its backward pass), in
    /// parallel over blocks of rows; the forward keeps s₁, s₂ for the backward.
    /// With s₁ = σ(a2·u + a3), s₂ = σ(a7·u + a8), μ, v as in the module doc and g = ∂L/∂ẑ:
    /// ∂L/∂z̃ = g·v; ∂L/∂μ = g·(1 − v); ∂L/∂v = g·(z̃ − μ);
    /// ∂L/∂u = ∂L/∂μ·(a1·a2·s₁(1−s₁) + a4) + ∂L/∂v·(a6·a7·s₂(1−s₂) + a9);
    /// ∂L/∂a1..a5 = Σ_rows ∂L/∂μ·(s₁, a1·s₁(1−s₁)·u, a1·s₁(1−s₁), u, 1), likewise a6..a10 with v.
    /// The row sums are taken per block of rows, then over blocks in order (deterministic).
    fn gauss_fused<T: Tape<f32, Cpu> + Merge<T>>(
        &self,
        z: Rows<N, T>,
        u: Rows<N, T>,
    ) -> Rows<N, T> {
        let (z, tz) = z.split_tape();
        let (u, tu) = u.split_tape();
        let mut tape = tz.merge(tu);
        let rows = z.shape().0;
        let a: Vec<Vec<f32>> = self.a.iter().map(|t| t.as_vec()).collect();
        let (zv, uv) = (z.as_vec(), u.as_vec());
        let mut out = vec![0f32; rows * N];
        let mut s1v = vec![0f32; rows * N];
        let mut s2v = vec![0f32; rows * N];
        let block = ROWS_PER_TASK * N;
        out.par_chunks_mut(block)
            .zip(s1v.par_chunks_mut(block).zip(s2v.par_chunks_mut(block)))
            .zip(zv.par_chunks(block).zip(uv.par_chunks(block)))
            .for_each(|((out, (s1v, s2v)), (zv, uv))| {
                for (r, c) in (0..out.len() / N).flat_map(|r| (0..N).map(move |c| (r, c))) {
                    let i = r * N + c;
                    let (zi, ui) = (zv[i], uv[i]);
                    let s1 = sigmoid(a[1][c] * ui + a[2][c]);
                    let s2 = sigmoid(a[6][c] * ui + a[7][c]);
                    let mu = a[0][c] * s1 + a[3][c] * ui + a[4][c];
                    let v = a[5][c] * s2 + a[8][c] * ui + a[9][c];
                    out[i] = (zi - mu) * v + mu;
                    (s1v[i], s2v[i]) = (s1, s2);
                }
            });
        let out = z.device().tensor_from_vec(out, (rows, Const::<N>));
        if T::OWNS_TAPE {
            let (out_ghost, params) = (out.clone(), self.a.clone());
            tape.add_backward_op(move |grads| {
                let g: Vec<f32> = grads.get_or_alloc_mut(&out_ghost)?.to_vec();
                let mut gz = vec![0f32; rows * N];
                let mut gu = vec![0f32; rows * N];
                let partial: Vec<Vec<f32>> = gz
                    .par_chunks_mut(block)
                    .zip(gu.par_chunks_mut(block))
                    .zip(g.par_chunks(block).zip(zv.par_chunks(block)))
                    .zip(
                        uv.par_chunks(block)
                            .zip(s1v.par_chunks(block).zip(s2v.par_chunks(block))),
                    )
                    .map(|(((gz, gu), (g, zv)), (uv, (s1v, s2v)))| {
                        // ga[k·N + c]: this block's sum for slot k, unit c.
                        let mut ga = vec![0f32; 10 * N];
                        for (r, c) in (0..gz.len() / N).flat_map(|r| (0..N).map(move |c| (r, c))) {
                            let i = r * N + c;
                            let (zi, ui, s1, s2) = (zv[i], uv[i], s1v[i], s2v[i]);
                            let (d1, d2) = (s1 * (1.0 - s1), s2 * (1.0 - s2));
                            let mu = a[0][c] * s1 + a[3][c] * ui + a[4][c];
                            let v = a[5][c] * s2 + a[8][c] * ui + a[9][c];
                            let (g_mu, g_v) = (g[i] * (1.0 - v), g[i] * (zi - mu));
                            gz[i] = g[i] * v;
                            gu[i] = g_mu * (a[0][c] * a[1][c] * d1 + a[3][c])
                                + g_v * (a[5][c] * a[6][c] * d2 + a[8][c]);
                            ga[c] += g_mu * s1;
                            ga[N + c] += g_mu * a[0][c] * d1 * ui;
                            ga[2 * N + c] += g_mu * a[0][c] * d1;
                            ga[3 * N + c] += g_mu * ui;
                            ga[4 * N + c] += g_mu;
                            ga[5 * N + c] += g_v * s2;
                            ga[6 * N + c] += g_v * a[5][c] * d2 * ui;
                            ga[7 * N + c] += g_v * a[5][c] * d2;
                            ga[8 * N + c] += g_v * ui;
                            ga[9 * N + c] += g_v;
                        }
                        ga
                    })
                    .collect();
                let mut ga = vec![0f32; 10 * N];
                for p in &partial {
                    add_into(&mut ga, p);
                }
                add_into(grads.get_or_alloc_mut(&z)?, &gz);
                add_into(grads.get_or_alloc_mut(&u)?, &gu);
                for (p, gp) in params.iter().zip(ga.chunks_exact(N)) {
                    add_into(grads.get_or_alloc_mut(p)?, gp);
                }
                Ok(())
            });
        }
        out.put_tape(tape)
    }

    fn gauss<T: Tape<f32, Cpu> + Merge<T>>(&self, z: Rows<N, T>, u: Rows<N, T>) -> Rows<N, T> {
        let b = u.shape().0;
        let s = |i| self.slot::<T>(i, b);
        // μ = a1·σ(a2·u + a3) + a4·u + a5
        let mu = s(0) * (s(1) * u.with_empty_tape() + s(2)).sigmoid()
            + s(3) * u.with_empty_tape()
            + s(4);
        // v = a6·σ(a7·u + a8) + a9·u + a10
        let v = s(5) * (s(6) * u.with_empty_tape() + s(7)).sigmoid() + s(8) * u + s(9);
        // ẑ = (z̃ − μ)·v + μ
        (z - mu.with_empty_tape()) * v + mu
    }

    fn sig<T: Tape<f32, Cpu> + Merge<T>>(&self, z: Rows<N, T>, u: Rows<N, T>) -> Rows<N, T> {
        let b = u.shape().0;
        let s = |i| self.slot::<T>(i, b);
        let zu = z.with_empty_tape() * u.with_empty_tape();
        // b0 + w0z·z̃ + w0u·u + w0zu·z̃u
        let linear = s(0)
            + s(1) * z.with_empty_tape()
            + s(2) * u.with_empty_tape()
            + s(3) * zu.with_empty_tape();
        // wσ·σ(b1 + w1z·z̃ + w1u·u + w1zu·z̃u)
        let gate = s(4) * (s(5) + s(6) * z + s(7) * u + s(8) * zu).sigmoid();
        linear + gate
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_values(values: [f32; 10]) -> Combinator<1> {
        let dev: Cpu = Default::default();
        Combinator {
            a: values.map(|v| dev.tensor([v])),
        }
    }

    fn sigmoid(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    /// Hand-computed gauss value at one point, and both input gradients against
    /// central differences.
    #[test]
    fn gauss_value_and_gradients() {
        let a = [0.5f32, 1.2, -0.3, 0.7, 0.1, -0.4, 0.9, 0.2, 0.3, 1.1];
        let g = from_values(a);
        let a64 = a.map(|v| v as f64);
        let reference = |z: f64, u: f64| {
            let mu = a64[0] * sigmoid(a64[1] * u + a64[2]) + a64[3] * u + a64[4];
            let v = a64[5] * sigmoid(a64[6] * u + a64[7]) + a64[8] * u + a64[9];
            (z - mu) * v + mu
        };
        check(&g, CombinatorKind::Gauss, reference);
    }

    #[test]
    fn sig_value_and_gradients() {
        let a = [0.5f32, 1.2, -0.3, 0.7, 0.8, -0.4, 0.9, 0.2, 0.3, 0.0];
        let g = from_values(a);
        let p = a.map(|v| v as f64);
        let reference = |z: f64, u: f64| {
            p[0] + p[1] * z
                + p[2] * u
                + p[3] * z * u
                + p[4] * sigmoid(p[5] + p[6] * z + p[7] * u + p[8] * z * u)
        };
        check(&g, CombinatorKind::Sig, reference);
    }

    fn check(g: &Combinator<1>, kind: CombinatorKind, reference: impl Fn(f64, f64) -> f64) {
        let dev: Cpu = Default::default();
        for (z0, u0) in [(0.3f32, -0.8f32), (-1.5, 0.4), (2.0, 1.7)] {
            let z: Rows<1> = dev.tensor_from_vec(vec![z0], (1, Const::<1>));
            let u: Rows<1> = dev.tensor_from_vec(vec![u0], (1, Const::<1>));
            let zt = z.leaky_trace();
            let out = g.combine(kind, zt.with_empty_tape(), u.leaky_trace());
            let value = out.as_vec()[0] as f64;
            let want = reference(z0 as f64, u0 as f64);
            assert!((value - want).abs() < 1e-5, "value {value} vs {want}");
            let grads = out.sum().backward();
            let h = 1e-4;
            let dz = (reference(z0 as f64 + h, u0 as f64) - reference(z0 as f64 - h, u0 as f64))
                / (2.0 * h);
            let du = (reference(z0 as f64, u0 as f64 + h) - reference(z0 as f64, u0 as f64 - h))
                / (2.0 * h);
            let gz = grads.get(&z).as_vec()[0] as f64;
            let gu = grads.get(&u).as_vec()[0] as f64;
            assert!((gz - dz).abs() < 1e-4, "∂/∂z {gz} vs {dz}");
            assert!((gu - du).abs() < 1e-4, "∂/∂u {gu} vs {du}");
        }
    }

    /// The fused "gauss" against the op-by-op reference: outputs, input gradients and all ten
    /// parameter gradients, on random values, to float rounding.
    #[test]
    fn fused_gauss_matches_the_reference() {
        let dev = Cpu::seed_from_u64(11);
        let mut g = Combinator::<7>::build(&dev);
        for a in g.a.iter_mut() {
            a.fill_with_distr(rand_distr::Normal::new(0.0f32, 0.8).unwrap());
        }
        let z: Rows<7> = dev.sample_normal_like(&(5, Const::<7>));
        let u: Rows<7> = dev.sample_normal_like(&(5, Const::<7>));
        let w: Rows<7> = dev.sample_normal_like(&(5, Const::<7>));
        let run = |fused: bool| {
            // Leaky gradients keep the inputs' entries (alloc_grads would keep only parameters).
            let (zt, ut) = (z.leaky_trace(), u.leaky_trace());
            let out = if fused {
                g.combine(CombinatorKind::Gauss, zt, ut)
            } else {
                g.combine_reference(CombinatorKind::Gauss, zt, ut)
            };
            let values = out.as_vec();
            let grads = (out * w.clone()).sum().backward();
            let mut all = vec![values, grads.get(&z).as_vec(), grads.get(&u).as_vec()];
            all.extend(g.a.iter().map(|p| grads.get(p).as_vec()));
            all
        };
        for (k, (f, r)) in run(true).iter().zip(run(false)).enumerate() {
            for (x, y) in f.iter().zip(&r) {
                assert!(
                    (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
                    "part {k}: fused {x} vs reference {y}"
                );
            }
        }
    }

    #[test]
    fn gauss_init_gives_zero_estimate() {
        let dev: Cpu = Default::default();
        let g = Combinator::<4>::build(&dev);
        let z: Rows<4> = dev.sample_normal_like(&(3, Const::<4>));
        let u: Rows<4> = dev.sample_normal_like(&(3, Const::<4>));
        assert!(g
            .combine(CombinatorKind::Gauss, z, u)
            .as_vec()
            .iter()
            .all(|v| *v == 0.0));
    }
}
