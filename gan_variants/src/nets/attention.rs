//! SAGAN's self-attention block (Zhang, Goodfellow, Metaxas & Odena 2019, section 3, eqs. 1–3),
//! a layer of the convolutional family ([`super::conv`]): for the maps x of one image, with
//! P = side² positions and 1 × 1 convolutions (per-position matmuls, no bias) f, g: C → `CK`,
//! h: C → `CV` and v: `CV` → C,
//!
//!   s_ij = f(x_i) · g(x_j),  β_ji = softmax_i(s_ij),  o_j = v(Σ_i β_ji h(x_i)),  y_j = x_j + γ·o_j,
//!
//! (the paper's eq. 1: position j's query is g(x_j), the keys are f(x_i)),
//!
//! with the scalar γ learnt and initialised to 0 (so the block starts as the identity). As in
//! the authors' code, CK = C/8 and CV = C/2 (the 2 × 2 max-pooling of g and h there, a
//! memory saving, is not used: every position attends to every position). Built from dfdx ops,
//! so its gradient is dfdx's autodiff (tested against finite differences).

use super::conv::{BiasOf, LayerInfo, Layers, Maps, Pass, Stage};
use dfdx::prelude::*;
use rand::rngs::StdRng;

/// The self-attention block on maps of `C` channels (see the module doc).
#[derive(Clone, Debug)]
pub struct SelfAttention<
    const C: usize,
    const CK: usize,
    const CV: usize,
    E: Dtype = f32,
    D: Device<E> = Cpu,
> {
    /// f, g: (C, CK); h: (C, CV); v: (CV, C) — each the matmul operand of its 1 × 1 conv.
    pub f: Tensor<Rank2<C, CK>, E, D>,
    pub g: Tensor<Rank2<C, CK>, E, D>,
    pub h: Tensor<Rank2<C, CV>, E, D>,
    pub v: Tensor<Rank2<CV, C>, E, D>,
    /// γ, initialised to 0.
    pub gamma: Tensor<Rank0, E, D>,
}

impl<const C: usize, const CK: usize, const CV: usize, D: Device<f32>> TensorCollection<f32, D>
    for SelfAttention<C, CK, CV, f32, D>
{
    type To<E2: Dtype, D2: Device<E2>> = SelfAttention<C, CK, CV, E2, D2>;
    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                // The weights are overwritten by the network's initialisation.
                Self::tensor("f", |s| &s.f, |s| &mut s.f, TensorOptions::reset_to_zeros()),
                Self::tensor("g", |s| &s.g, |s| &mut s.g, TensorOptions::reset_to_zeros()),
                Self::tensor("h", |s| &s.h, |s| &mut s.h, TensorOptions::reset_to_zeros()),
                Self::tensor("v", |s| &s.v, |s| &mut s.v, TensorOptions::reset_to_zeros()),
                Self::tensor(
                    "gamma",
                    |s| &s.gamma,
                    |s| &mut s.gamma,
                    TensorOptions::reset_to_zeros(),
                ),
            ),
            |(f, g, h, v, gamma)| SelfAttention { f, g, h, v, gamma },
        )
    }
}

impl<const C: usize, const CK: usize, const CV: usize, T: Tape<f32, Cpu>> Stage<Maps<C, T>>
    for SelfAttention<C, CK, CV>
{
    type Out = Maps<C, T>;
    fn run(&self, m: Maps<C, T>, _: &Pass) -> Maps<C, T> {
        let rows = m.x.shape().0;
        let p = m.side * m.side;
        let n = rows / p;
        let x = m.x;
        let f = x.retaped::<T>().matmul(self.f.retaped::<T>());
        let g = x.retaped::<T>().matmul(self.g.retaped::<T>());
        let h = x.retaped::<T>().matmul(self.h.retaped::<T>());
        let f = f
            .reshape_like(&(n, p, Const::<CK>))
            .permute::<_, Axes3<0, 2, 1>>();
        let g = g.reshape_like(&(n, p, Const::<CK>));
        // β (n, p, p): row j (query g(x_j)) attends over positions i (keys f(x_i)).
        let beta = g.matmul(f).softmax::<Axis<2>>();
        let h = h.reshape_like(&(n, p, Const::<CV>));
        let o = beta.matmul(h).reshape_like(&(rows, Const::<CV>));
        let o = o.matmul(self.v.retaped::<T>());
        let gamma = self
            .gamma
            .retaped::<T>()
            .broadcast_like(&(rows, Const::<C>));
        let y = x + o * gamma;
        Maps { x: y, side: m.side }
    }
}

impl<const C: usize, const CK: usize, const CV: usize> Layers for SelfAttention<C, CK, CV> {
    fn describe(&self, side: usize, out: &mut Vec<LayerInfo>) -> Result<usize, String> {
        let p = (side * side) as f64;
        let (c, ck, cv) = (C as f64, CK as f64, CV as f64);
        // The four 1 × 1 convolutions and the two (p × p) products per image.
        let flops = 2.0 * p * (2.0 * c * ck + 2.0 * c * cv) + 2.0 * p * p * (ck + cv);
        let w: Vec<f32> = [
            self.f.as_vec(),
            self.g.as_vec(),
            self.h.as_vec(),
            self.v.as_vec(),
        ]
        .concat();
        let rms = (w.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / w.len() as f64).sqrt();
        out.push(LayerInfo {
            kind: "attention",
            c_in: C,
            c_out: C,
            kernel: 1,
            stride: 1,
            pad: 0,
            side_in: side,
            side_out: side,
            flops_per_image: flops,
            weight_rms: rms,
            bias_max: self.bias_max(),
        });
        Ok(side)
    }

    fn init_orthogonal(&mut self, rng: &mut StdRng) {
        let mut fill = |rows: usize, cols: usize| super::init::orthogonal(cols, rows, 1.0, rng);
        let transpose = |m: Vec<f32>, rows: usize, cols: usize| {
            // m is (cols, rows) with orthonormal rows; the operand is its transpose (rows, cols).
            let mut t = vec![0f32; m.len()];
            for r in 0..cols {
                for c in 0..rows {
                    t[c * cols + r] = m[r * rows + c];
                }
            }
            t
        };
        let f = transpose(fill(C, CK), C, CK);
        let g = transpose(fill(C, CK), C, CK);
        let h = transpose(fill(C, CV), C, CV);
        let v = transpose(fill(CV, C), CV, C);
        self.f.copy_from(&f);
        self.g.copy_from(&g);
        self.h.copy_from(&h);
        self.v.copy_from(&v);
    }
}

impl<const C: usize, const CK: usize, const CV: usize> BiasOf for SelfAttention<C, CK, CV> {
    /// γ's magnitude (the block has no bias).
    fn bias_max(&self) -> f64 {
        self.gamma.as_vec()[0].abs() as f64
    }
}
