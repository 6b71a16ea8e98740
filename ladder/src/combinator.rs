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
use crate::shapes::Rows;
use dfdx::prelude::*;

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
            CombinatorKind::Gauss => self.gauss(z, u),
            CombinatorKind::Sig => self.sig(z, u),
        }
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
