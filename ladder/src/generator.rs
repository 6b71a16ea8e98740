//! The EBGAN-LN generator (spec: "Generator", not given in the paper): z ∈ ℝ¹⁰⁰ ~ N(0, I),
//! four hidden layers of 800 with batch norm and ReLU, 784 sigmoid outputs (data are in [0, 1]).
//! The shape of the best EBGAN of the MNIST grid search (nLayerG = 5, sizeG = 800). Linear
//! layers use dfdx's default initialisation, U(−1/√fan_in, 1/√fan_in).

//!
//! Two implementations of its training-mode pass: the dfdx module [`Generator`] (autodiff; the
//! reference, and the checkpointed model) and [`GeneratorPass`], the same pass and its backward
//! written by hand in the layout of [`crate::fast`] (the EBGAN-LN step's hot path; issue 15),
//! on the flat parameters of [`FlatGenerator`]. `tests/fast_generator.rs` holds them equal.

use crate::fast::{
    flatten_into, for_unit_blocks, forward_mm, input_grad_mm, sigmoid, sum_and_dot, sum_f32,
    sum_f64, transpose_add, unflatten, weight_grad_mm, Shared, UNITS_PER_TASK,
};
use crate::shapes::{G_HIDDEN, LATENT, PIXELS};
use dfdx::nn::modules;
use dfdx::prelude::*;
use std::ops::Range;

/// One hidden block: linear, batch norm (with scale and shift), ReLU.
pub type HiddenBlock<const I: usize, const O: usize> = (Linear<I, O>, BatchNorm1D<O>, ReLU);

/// The generator architecture as a type (a builder); [`Generator`] is the built module.
pub type GeneratorArch = (
    HiddenBlock<LATENT, G_HIDDEN>,
    HiddenBlock<G_HIDDEN, G_HIDDEN>,
    HiddenBlock<G_HIDDEN, G_HIDDEN>,
    HiddenBlock<G_HIDDEN, G_HIDDEN>,
    (Linear<G_HIDDEN, PIXELS>, Sigmoid),
);

/// The generator's tensors on the CPU.
pub type Generator = <GeneratorArch as BuildOnDevice<Cpu, f32>>::Built;

// ---------------------------------------------------------------------------------------------
// The generator's pass as hand-written kernels (the EBGAN-LN step's hot path; issue 15), in the
// layout of `crate::fast`: activations feature-major (unit by unit, each unit's rows
// contiguous), one `gemm` call per product, and between two products one parallel pass over the
// layer's units (bias + batch norm + scale/shift + ReLU forward; their backward with the
// parameter sums). [`Generator`]'s dfdx ops are the reference it is tested against
// (`ladder/tests/fast_generator.rs`).

/// Widths of G's layers: z, the four hidden layers, the output.
pub const G_WIDTHS: [usize; 6] = [LATENT, G_HIDDEN, G_HIDDEN, G_HIDDEN, G_HIDDEN, PIXELS];
/// Number of batch-normalised (hidden) layers.
pub const G_BN_LAYERS: usize = 4;

/// Where each of G's 18 trainable tensors sits in its flat parameter vector, in dfdx's visiting
/// order: for each hidden block W (out × in, row-major), b, BN scale γ, BN shift β; then the
/// output layer's W and b.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratorLayout {
    /// W of layer l = 0..5 (index l).
    pub w: Vec<Range<usize>>,
    /// b of layer l = 0..5.
    pub b: Vec<Range<usize>>,
    /// BN scale of hidden layer l = 0..4.
    pub scale: Vec<Range<usize>>,
    /// BN shift of hidden layer l = 0..4.
    pub shift: Vec<Range<usize>>,
    /// Every tensor's range in visiting order.
    pub tensors: Vec<Range<usize>>,
    pub len: usize,
}

impl GeneratorLayout {
    pub fn new() -> Self {
        let mut tensors = Vec::new();
        let mut next = 0;
        let mut take = |n: usize| {
            let r = next..next + n;
            next += n;
            tensors.push(r.clone());
            r
        };
        let (mut w, mut b, mut scale, mut shift) = (vec![], vec![], vec![], vec![]);
        for l in 0..5 {
            w.push(take(G_WIDTHS[l + 1] * G_WIDTHS[l]));
            b.push(take(G_WIDTHS[l + 1]));
            if l < G_BN_LAYERS {
                scale.push(take(G_WIDTHS[l + 1]));
                shift.push(take(G_WIDTHS[l + 1]));
            }
        }
        Self {
            w,
            b,
            scale,
            shift,
            tensors,
            len: next,
        }
    }
}

impl Default for GeneratorLayout {
    fn default() -> Self {
        Self::new()
    }
}

/// G's batch-norm layers, in order.
fn bn_layers(g: &Generator) -> [&modules::BatchNorm1D<G_HIDDEN, f32, Cpu>; G_BN_LAYERS] {
    [&g.0 .1, &g.1 .1, &g.2 .1, &g.3 .1]
}

fn bn_layers_mut(
    g: &mut Generator,
) -> [&mut modules::BatchNorm1D<G_HIDDEN, f32, Cpu>; G_BN_LAYERS] {
    [&mut g.0 .1, &mut g.1 .1, &mut g.2 .1, &mut g.3 .1]
}

/// G's parameters as one flat vector ([`GeneratorLayout`]) and its batch-norm running
/// statistics (updated by every training-mode forward pass as dfdx does: momentum-weighted,
/// the variance unbiased), copied from and to the dfdx [`Generator`] for checkpoints.
#[derive(Clone, Debug, PartialEq)]
pub struct FlatGenerator {
    pub layout: GeneratorLayout,
    pub values: Vec<f32>,
    /// Running mean and variance of hidden layer l (index l), G_HIDDEN values each.
    pub running_mean: Vec<Vec<f32>>,
    pub running_var: Vec<Vec<f32>>,
    /// The dfdx layers' ε (added to the batch variance) and running-statistics momentum.
    pub bn_eps: f32,
    pub bn_momentum: f32,
}

impl FlatGenerator {
    pub fn from_model(g: &Generator) -> Self {
        let layout = GeneratorLayout::new();
        let bn = bn_layers(g);
        let mut flat = Self {
            layout,
            values: Vec::new(),
            running_mean: vec![Vec::new(); G_BN_LAYERS],
            running_var: vec![Vec::new(); G_BN_LAYERS],
            bn_eps: bn[0].epsilon as f32,
            bn_momentum: bn[0].momentum as f32,
        };
        flat.load(g);
        assert_eq!(
            flat.values.len(),
            flat.layout.len,
            "generator layout out of date"
        );
        flat
    }

    /// Copies the dfdx model's parameters and running statistics in.
    pub fn load(&mut self, g: &Generator) {
        flatten_into(g, &mut self.values);
        for (l, bn) in bn_layers(g).into_iter().enumerate() {
            self.running_mean[l] = bn.running_mean.as_vec();
            self.running_var[l] = bn.running_var.as_vec();
        }
    }

    /// Writes the parameters and running statistics into the dfdx model.
    pub fn store(&self, g: &mut Generator) {
        unflatten(g, &self.values);
        for (l, bn) in bn_layers_mut(g).into_iter().enumerate() {
            bn.running_mean.copy_from(&self.running_mean[l]);
            bn.running_var.copy_from(&self.running_var[l]);
        }
    }
}

/// The buffers of G's training-mode pass, reused from step to step (feature-major).
#[derive(Default)]
pub struct GeneratorPass {
    rows: usize,
    /// z, LATENT × rows.
    z: Vec<f32>,
    /// Normalised pre-activations x̂ and ReLU outputs of each hidden layer, G_HIDDEN × rows.
    xhat: Vec<Vec<f32>>,
    h: Vec<Vec<f32>>,
    /// 1/sqrt(var + ε) per unit of each hidden layer.
    inv: Vec<Vec<f32>>,
    /// Output sigmoids, PIXELS × rows.
    out: Vec<f32>,
    /// Backward scratch (two buffers, G_HIDDEN × rows or PIXELS × rows).
    ga: Vec<f32>,
    gb: Vec<f32>,
    /// G(z), rows × PIXELS row-major (valid after [`GeneratorPass::forward`]).
    pub x: Vec<f32>,
    /// ∂L/∂θ in the [`GeneratorLayout`] (valid after [`GeneratorPass::backward`]).
    pub grad: Vec<f32>,
}

fn sized(v: &mut Vec<f32>, n: usize) -> &mut Vec<f32> {
    if v.len() != n {
        v.resize(n, 0.0);
    }
    v
}

impl GeneratorPass {
    pub fn new() -> Self {
        Self::default()
    }

    /// G(z) in training mode (batch statistics over the `z.len() / LATENT` rows, as
    /// [`Generator`]'s `forward_mut`) into [`GeneratorPass::x`]; updates `params`' running
    /// statistics as dfdx does: r ← (1 − momentum)·r + momentum·s, with the unbiased batch
    /// variance for the running variance. `z` is row-major (rows × LATENT).
    ///
    /// # Panics
    /// When `z` is not a whole number of rows, or has fewer than 2 rows.
    pub fn forward(&mut self, params: &mut FlatGenerator, z: &[f32]) {
        assert!(z.len().is_multiple_of(LATENT) && z.len() >= 2 * LATENT);
        let r = z.len() / LATENT;
        self.rows = r;
        transpose_add(z, r, LATENT, &[], sized(&mut self.z, LATENT * r));
        self.xhat.resize(G_BN_LAYERS, Vec::new());
        self.h.resize(G_BN_LAYERS, Vec::new());
        self.inv.resize(G_BN_LAYERS, Vec::new());
        let (eps, mom) = (params.bn_eps, params.bn_momentum);
        let unbias = r as f32 / (r as f32 - 1.0);
        let p = &params.values;
        let lay = &params.layout;
        for l in 0..G_BN_LAYERS {
            let (o, i) = (G_WIDTHS[l + 1], G_WIDTHS[l]);
            let input = if l == 0 { &self.z } else { &self.h[l - 1] };
            let xhat = sized(&mut self.xhat[l], o * r);
            forward_mm(o, i, r, &p[lay.w[l].clone()], input, xhat);
            let h = sized(&mut self.h[l], o * r);
            let inv = sized(&mut self.inv[l], o);
            let (b, sc, sh) = (
                &p[lay.b[l].clone()],
                &p[lay.scale[l].clone()],
                &p[lay.shift[l].clone()],
            );
            let (xs, hs, is) = (Shared::new(xhat), Shared::new(h), Shared::new(inv));
            let rm = Shared::new(&mut params.running_mean[l]);
            let rv = Shared::new(&mut params.running_var[l]);
            for_unit_blocks(o, |units| {
                for u in units {
                    // SAFETY: unit u's slices belong to this task alone.
                    let (x, h) = unsafe { (xs.slice(u * r, r), hs.slice(u * r, r)) };
                    let n = r as f64;
                    let bu = b[u];
                    let mean = sum_f64(x, |v| (v + bu) as f64) / n;
                    let var = sum_f64(x, |v| ((v + bu) as f64 - mean).powi(2)) / n;
                    let k = 1.0 / (var as f32 + eps).sqrt();
                    let m = mean as f32;
                    for (x, h) in x.iter_mut().zip(h.iter_mut()) {
                        *x = (*x + b[u] - m) * k;
                        *h = (sc[u] * *x + sh[u]).max(0.0);
                    }
                    unsafe {
                        is.slice(u, 1)[0] = k;
                        let rm = &mut rm.slice(u, 1)[0];
                        *rm = *rm * (1.0 - mom) + m * mom;
                        let rv = &mut rv.slice(u, 1)[0];
                        *rv = *rv * (1.0 - mom) + var as f32 * (mom * unbias);
                    }
                }
            });
        }
        let out = sized(&mut self.out, PIXELS * r);
        forward_mm(
            PIXELS,
            G_HIDDEN,
            r,
            &p[lay.w[4].clone()],
            &self.h[G_BN_LAYERS - 1],
            out,
        );
        let b = &p[lay.b[4].clone()];
        let os = Shared::new(out);
        for_unit_blocks(PIXELS, |units| {
            for u in units {
                // SAFETY: unit u's slice belongs to this task alone.
                for v in unsafe { os.slice(u * r, r) } {
                    *v = sigmoid(*v + b[u]);
                }
            }
        });
        transpose_add(&self.out, PIXELS, r, &[], sized(&mut self.x, r * PIXELS));
    }

    /// ∂L/∂θ for every parameter of G into [`GeneratorPass::grad`], given ∂L/∂G(z) (`upstream`,
    /// rows × PIXELS row-major) for the rows of the last [`GeneratorPass::forward`] with the same
    /// `params` (batch norm's gradient flows through the batch statistics). z's own gradient is
    /// not computed.
    ///
    /// # Panics
    /// When `upstream` does not match the last forward pass's rows.
    pub fn backward(&mut self, params: &FlatGenerator, upstream: &[f32]) {
        let r = self.rows;
        assert_eq!(upstream.len(), r * PIXELS, "upstream gradient size");
        let p = &params.values;
        let lay = &params.layout;
        let grad = sized(&mut self.grad, lay.len);
        let gs = Shared::new(grad);
        // Output layer: ∂L/∂a = ∂L/∂G(z) ⊙ s(1 − s).
        let g = sized(&mut self.ga, PIXELS * r);
        transpose_add(upstream, r, PIXELS, &[], g);
        {
            let (gsh, out) = (Shared::new(g), &self.out);
            let b4 = lay.b[4].start;
            for_unit_blocks(PIXELS, |units| {
                for u in units {
                    // SAFETY: unit u's slices belong to this task alone.
                    let g = unsafe { gsh.slice(u * r, r) };
                    for (g, &s) in g.iter_mut().zip(&out[u * r..(u + 1) * r]) {
                        *g *= s * (1.0 - s);
                    }
                    let sum = sum_f32(g);
                    unsafe { gs.slice(b4 + u, 1)[0] = sum };
                }
            });
        }
        // SAFETY (here and below): no per-unit task is running while a weight slice is live.
        let weights = |l: usize| unsafe { gs.slice(lay.w[l].start, lay.w[l].len()) };
        weight_grad_mm(
            PIXELS,
            G_HIDDEN,
            r,
            &self.ga,
            &self.h[G_BN_LAYERS - 1],
            weights(4),
        );
        let gh = sized(&mut self.gb, G_HIDDEN * r);
        input_grad_mm(PIXELS, G_HIDDEN, r, &p[lay.w[4].clone()], &self.ga, gh);
        // Hidden layers, last to first; ∂L/∂h arrives in `gb`, ∂L/∂a is written over it.
        for l in (0..G_BN_LAYERS).rev() {
            let o = G_WIDTHS[l + 1];
            let (sc, inv) = (&p[lay.scale[l].clone()], &self.inv[l]);
            let (xhat, h) = (&self.xhat[l], &self.h[l]);
            let (b0, sc0, sh0) = (lay.b[l].start, lay.scale[l].start, lay.shift[l].start);
            let gsh = Shared::new(&mut self.gb[..o * r]);
            for_unit_blocks(o, |units| {
                debug_assert!(units.len() <= UNITS_PER_TASK);
                for u in units {
                    // SAFETY: unit u's slices belong to this task alone.
                    let g = unsafe { gsh.slice(u * r, r) };
                    let (x, h) = (&xhat[u * r..(u + 1) * r], &h[u * r..(u + 1) * r]);
                    // ReLU, then the sums of the shift and scale gradients.
                    for (g, &h) in g.iter_mut().zip(h) {
                        if h <= 0.0 {
                            *g = 0.0;
                        }
                    }
                    let (sum_g, sum_gx) = sum_and_dot(g, x);
                    // ∂L/∂a = γ·inv·(g − mean(g) − x̂·mean(g·x̂)) (batch norm through its
                    // batch statistics), and ∂L/∂b = Σ ∂L/∂a.
                    let k = 1.0 / r as f32;
                    let (mg, mgx, c) = (sum_g * k, sum_gx * k, sc[u] * inv[u]);
                    for (g, &x) in g.iter_mut().zip(x) {
                        *g = c * (*g - mg - x * mgx);
                    }
                    let sum_a = sum_f32(g);
                    unsafe {
                        gs.slice(sh0 + u, 1)[0] = sum_g;
                        gs.slice(sc0 + u, 1)[0] = sum_gx;
                        gs.slice(b0 + u, 1)[0] = sum_a;
                    }
                }
            });
            let input = if l == 0 { &self.z } else { &self.h[l - 1] };
            let i = G_WIDTHS[l];
            weight_grad_mm(o, i, r, &self.gb[..o * r], input, weights(l));
            if l > 0 {
                let next = sized(&mut self.ga, i * r);
                input_grad_mm(o, i, r, &p[lay.w[l].clone()], &self.gb[..o * r], next);
                std::mem::swap(&mut self.ga, &mut self.gb);
            }
        }
    }
}
