//! The whole corrupted pass of the ladder, forward and backward, as hand-written kernels
//! (the training steps' hot path; issue 15).
//!
//! dfdx runs a step as a graph of single-threaded elementwise ops, each allocating its output.
//! Here a step is: one call of the `gemm` crate per matmul (the same library dfdx calls), and
//! between two matmuls one parallel pass over the layer's units that does all the rest (batch
//! norm per group + noise + β + ReLU forward; the combinator; their backward passes with the
//! parameter sums). Every buffer lives in a [`Workspace`] allocated once per run.
//!
//! Layout: activations are stored **feature-major** (unit by unit, each unit's rows
//! contiguous, i.e. the transpose of dfdx's rows), so that a unit's batch statistics, its
//! combinator and its parameter sums are one contiguous slice and the per-unit work splits
//! into independent blocks of [`UNITS_PER_TASK`] units: no reduction crosses a task, so the
//! results do not depend on the number of threads. The matmuls take any strides.
//!
//! Parameters live in one flat vector in the order dfdx visits the [`Ladder`]'s tensors
//! ([`Layout`]); [`FlatLadder`] copies them from and to the dfdx model (for checkpoints and
//! evaluation), so the model's type, its saving and the optimiser state format are unchanged.
//!
//! The functions are the spec's (`ladder-ebgan-ln.md`: corrupted pass, decoder, cost); the op-by-op
//! dfdx version ([`Ladder::corrupted`]) is the reference they are tested against
//! (`ladder/tests/fast_pass.rs`).

use crate::config::{AdamSettings, BnGroups, CombinatorKind, LadderConfig};
use crate::model::{Ladder, RowGroups};
use crate::rng::LayerNoise;
use crate::shapes::*;
use dfdx::nn::tensor_collection::TensorCollection;
use dfdx::prelude::*;
use rayon::prelude::*;
use std::ops::Range;

/// Units per parallel task of the per-unit kernels.
pub const UNITS_PER_TASK: usize = 16;

/// Where each of the ladder's 89 parameter tensors sits in the flat parameter vector, in the
/// order dfdx visits them (`e1.w, e1.β, …, e6.w, e6.β, γ⁽⁶⁾, V⁽¹⁾…V⁽⁶⁾, g⁽⁰⁾.a1…a10, …, g⁽⁶⁾`).
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// W⁽ˡ⁾ for l = 1..=6 at index l − 1: width(l) × width(l − 1), row-major.
    pub enc_w: Vec<Range<usize>>,
    /// β⁽ˡ⁾ for l = 1..=6 at index l − 1.
    pub enc_beta: Vec<Range<usize>>,
    pub gamma6: Range<usize>,
    /// V⁽ˡ⁾ for l = 1..=6 at index l − 1: width(l − 1) × width(l), row-major.
    pub dec_v: Vec<Range<usize>>,
    /// Combinator of layer l = 0..=6, slot k = 0..10.
    pub comb: Vec<Vec<Range<usize>>>,
    /// Every tensor's range in visiting order.
    pub tensors: Vec<Range<usize>>,
    pub len: usize,
}

impl Layout {
    pub fn new() -> Self {
        let mut tensors = Vec::new();
        let mut next = 0;
        let mut take = |n: usize| {
            let r = next..next + n;
            next += n;
            tensors.push(r.clone());
            r
        };
        let mut enc_w = Vec::new();
        let mut enc_beta = Vec::new();
        for l in 1..=LAYERS {
            enc_w.push(take(WIDTHS[l] * WIDTHS[l - 1]));
            enc_beta.push(take(WIDTHS[l]));
        }
        let gamma6 = take(CLASSES);
        let dec_v = (1..=LAYERS)
            .map(|l| take(WIDTHS[l - 1] * WIDTHS[l]))
            .collect();
        let comb = (0..=LAYERS)
            .map(|l| (0..10).map(|_| take(WIDTHS[l])).collect())
            .collect();
        Self {
            enc_w,
            enc_beta,
            gamma6,
            dec_v,
            comb,
            tensors,
            len: next,
        }
    }
}

impl Default for Layout {
    fn default() -> Self {
        Self::new()
    }
}

/// A tensor's values in logical (row-major) order: what dfdx's `as_vec` returns, without its
/// per-element strided iterator (13.8 + 2.1 + 1.5 % of an EDGAN training step in `perf`,
/// `results/bench/2026-12-05d/perf_after_5626eca.txt`). The tensor is made contiguous first
/// (free when it already is: an `Arc` clone; a copy for a broadcast or permuted view), then its
/// buffer is copied with one `memcpy`. Bit-identical to `as_vec` for every non-empty tensor
/// (tested on plain, broadcast and permuted tensors; `as_vec` panics on an empty one).
pub fn values<S: Shape, T>(t: &Tensor<S, f32, Cpu, T>) -> Vec<f32> {
    let t = t.retaped::<NoneTape>().contiguous();
    let mut v = vec![0.0; t.shape().num_elements()];
    t.copy_into(&mut v);
    v
}

/// Copies every trainable tensor of `model` into `out` (cleared first), in visiting order.
pub fn flatten_into<M: TensorCollection<f32, Cpu>>(model: &M, out: &mut Vec<f32>) {
    out.clear();
    crate::params::for_each(model, |p| {
        if p.trainable() {
            let start = out.len();
            out.resize(start + p.len(), 0.0);
            p.read_into(&mut out[start..]);
        }
    });
}

/// Every trainable tensor of `model` as one vector, in visiting order.
pub fn flatten<M: TensorCollection<f32, Cpu>>(model: &M) -> Vec<f32> {
    let mut flat = Vec::new();
    flatten_into(model, &mut flat);
    flat
}

/// Writes `flat` (as [`flatten`] made it) back into `model`'s tensors.
///
/// # Panics
/// When `flat` does not have exactly the model's number of trainable values.
pub fn unflatten<M: TensorCollection<f32, Cpu>>(model: &mut M, flat: &[f32]) {
    let mut pos = 0;
    crate::params::for_each_mut(model, |p| {
        if p.trainable() {
            let n = p.len();
            p.write(&flat[pos..pos + n]);
            pos += n;
        }
    });
    assert_eq!(pos, flat.len(), "flat vector and model disagree in size");
}

/// The ladder's parameters as one flat vector ([`Layout`]).
#[derive(Clone, Debug, PartialEq)]
pub struct FlatLadder {
    pub layout: Layout,
    pub values: Vec<f32>,
}

impl FlatLadder {
    pub fn from_ladder(ladder: &Ladder) -> Self {
        let values = flatten(ladder);
        let layout = Layout::new();
        assert_eq!(values.len(), layout.len, "ladder layout out of date");
        Self { layout, values }
    }
    /// Copies the dfdx model's values in (no allocation: the vector keeps its capacity).
    pub fn load(&mut self, ladder: &Ladder) {
        flatten_into(ladder, &mut self.values);
    }
    /// Writes the values into the dfdx model.
    pub fn store(&self, ladder: &mut Ladder) {
        unflatten(ladder, &self.values);
    }
    fn get(&self, r: &Range<usize>) -> &[f32] {
        &self.values[r.clone()]
    }
}

/// Adam (Kingma & Ba, Algorithm 1, as dfdx's kernel computes it) over flat vectors in one
/// parallel pass: m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², p ← p − lr·m̂/(sqrt(v̂) + ε),
/// m̂ = m/(1 − β1ᵗ), v̂ = v/(1 − β2ᵗ); `t` is the 1-based update count.
#[allow(clippy::too_many_arguments)]
pub fn adam_update(
    settings: &AdamSettings,
    lr: f32,
    t: i32,
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
) {
    assert!(
        g.len() == p.len() && m.len() == p.len() && v.len() == p.len(),
        "Adam: parameters, gradient and moments must have one length"
    );
    let (b1, b2, eps) = (settings.beta1, settings.beta2, settings.eps);
    let c1 = (1.0 - b1.powi(t)).recip();
    let c2 = (1.0 - b2.powi(t)).recip();
    const CHUNK: usize = 1 << 14;
    p.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
        .for_each(|((p, g), (m, v))| {
            // Zipped (no index checks), so the loop is vectorised.
            for (((p, &gi), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                *m = *m * b1 + gi * (1.0 - b1);
                *v = *v * b2 + gi.powi(2) * (1.0 - b2);
                let m_hat = *m * c1;
                let v_hat = *v * c2;
                *p -= lr * m_hat / (v_hat.sqrt() + eps);
            }
        });
}

/// C (m×n) = [C +] A·B with A (m×k) and B (k×n) given by their row and column strides,
/// C row-major; through the `gemm` crate (0.19, a newer release than dfdx's 0.15: the LN step
/// 32.2 → 22.9 ms with it, README "Performance"), threaded by rayon as in dfdx.
///
/// # Panics
/// When a stride reaches outside its slice.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    (a_rs, a_cs): (usize, usize),
    b: &[f32],
    (b_rs, b_cs): (usize, usize),
    c: &mut [f32],
    accumulate: bool,
) {
    assert!(c.len() >= m * n);
    assert!(m == 0 || k == 0 || a.len() > (m - 1) * a_rs + (k - 1) * a_cs);
    assert!(k == 0 || n == 0 || b.len() > (k - 1) * b_rs + (n - 1) * b_cs);
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the asserts above keep every index the strides reach inside the slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::Rayon(rayon::current_num_threads()),
        )
    }
}

/// out (O×R) = W (O×I) · h (I×R): the forward product, feature-major.
pub(crate) fn forward_mm(o: usize, i: usize, r: usize, w: &[f32], h: &[f32], out: &mut [f32]) {
    matmul((o, r, i), w, (i, 1), h, (r, 1), out, false);
}
/// ∂L/∂W (O×I) = g (O×R) · hᵀ.
pub(crate) fn weight_grad_mm(o: usize, i: usize, r: usize, g: &[f32], h: &[f32], gw: &mut [f32]) {
    matmul((o, i, r), g, (r, 1), h, (1, r), gw, false);
}
/// ∂L/∂h (I×R) = Wᵀ · g.
pub(crate) fn input_grad_mm(o: usize, i: usize, r: usize, w: &[f32], g: &[f32], gh: &mut [f32]) {
    matmul((i, r, o), w, (1, i), g, (r, 1), gh, false);
}

/// A raw view of a buffer whose disjoint unit blocks are written by parallel tasks.
#[derive(Clone, Copy)]
pub(crate) struct Shared(*mut f32, usize);
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}
impl Shared {
    pub(crate) fn new(v: &mut [f32]) -> Self {
        Self(v.as_mut_ptr(), v.len())
    }
    /// # Safety
    /// No two live slices may overlap (each task takes its own units).
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slice(&self, start: usize, len: usize) -> &mut [f32] {
        assert!(start + len <= self.1);
        std::slice::from_raw_parts_mut(self.0.add(start), len)
    }
}

/// Runs `f(units)` for blocks of [`UNITS_PER_TASK`] units of a layer of width `n`, in parallel.
pub(crate) fn for_unit_blocks(n: usize, f: impl Fn(Range<usize>) + Sync + Send) {
    (0..n.div_ceil(UNITS_PER_TASK))
        .into_par_iter()
        .for_each(|b| f(b * UNITS_PER_TASK..((b + 1) * UNITS_PER_TASK).min(n)));
}

/// Independent partial sums kept by the sums below. One running sum is a chain of dependent
/// additions (one per 4 cycles); eight of them fill SIMD registers (with the other loops made
/// vectorisable and the x86-64-v3 target, −9 % of the EBGAN-LN step; README, Performance).
/// Values are summed in the order lane i ← i, i + 8, i + 16, …, then the lanes in order, then
/// the remainder.
pub(crate) const LANES: usize = 8;

/// Σᵢ f(xᵢ) in f64 over [`LANES`] partial sums.
#[inline(always)]
pub(crate) fn sum_f64(x: &[f32], f: impl Fn(f32) -> f64) -> f64 {
    let mut acc = [0f64; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder();
    for ch in chunks {
        for i in 0..LANES {
            acc[i] += f(ch[i]);
        }
    }
    acc.iter().sum::<f64>() + rest.iter().map(|&v| f(v)).sum::<f64>()
}

/// (Σᵢ aᵢ, Σᵢ aᵢbᵢ) in f32 over [`LANES`] partial sums each.
#[inline(always)]
pub(crate) fn sum_and_dot(a: &[f32], b: &[f32]) -> (f32, f32) {
    assert_eq!(a.len(), b.len());
    let (mut s, mut d) = ([0f32; LANES], [0f32; LANES]);
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            s[i] += x[i];
            d[i] += x[i] * y[i];
        }
    }
    let (mut s, mut d) = (s.iter().sum::<f32>(), d.iter().sum::<f32>());
    for (x, y) in ra.iter().zip(rb) {
        s += x;
        d += x * y;
    }
    (s, d)
}

/// Σᵢ aᵢ in f32 over [`LANES`] partial sums.
#[inline(always)]
pub(crate) fn sum_f32(a: &[f32]) -> f32 {
    let mut s = [0f32; LANES];
    let ca = a.chunks_exact(LANES);
    let ra = ca.remainder();
    for x in ca {
        for i in 0..LANES {
            s[i] += x[i];
        }
    }
    s.iter().sum::<f32>() + ra.iter().sum::<f32>()
}

/// Mean and 1/sqrt(var + ε) of one unit's values over one segment (biased variance, the
/// sums in f64 as [`crate::bn::column_stats`]).
fn segment_stats(x: &[f32], eps: f32) -> (f32, f32) {
    let n = x.len() as f64;
    let mean = sum_f64(x, |v| v as f64) / n;
    let var = sum_f64(x, |v| (v as f64 - mean).powi(2)) / n;
    (mean as f32, 1.0 / ((var as f32) + eps).sqrt())
}

/// Batch-norm backward of one unit over one segment, written into `gx`:
/// ∂L/∂x = inv·(∂L/∂y − mean(∂L/∂y) − y·mean(∂L/∂y ⊙ y)).
fn bn_backward(gy: &[f32], y: &[f32], inv: f32, gx: &mut [f32]) {
    let k = 1.0 / gy.len() as f32;
    let (mg, mgy) = sum_and_dot(gy, y);
    let (mg, mgy) = (mg * k, mgy * k);
    for ((out, g), v) in gx.iter_mut().zip(gy).zip(y) {
        *out = inv * (g - mg - v * mgy);
    }
}

/// σ(x) = 1/(1 + e⁻ˣ) with [`exp`] (vectorisable; relative error 1.4e-7, as with std's
/// `expf`; test `sigmoid_matches_f64`).
#[inline(always)]
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// eˣ in f32 without a library call, so that loops over it are vectorised (glibc's `expf` is
/// one call per value): x = n·ln 2 + r with n = round(x/ln 2) and |r| ≤ ln 2 / 2, eʳ by Cephes'
/// degree-6 minimax polynomial (`expf.c`), 2ⁿ built in the exponent bits. x is clamped to
/// [−87, 88] (eˣ stays a normal float), so it saturates there: exp(x ≥ 88) = e⁸⁸ and
/// exp(x ≤ −87) = e⁻⁸⁷ (and [`sigmoid`] of x < −87 is about 6e-39 rather than 0); NaN stays
/// NaN. Relative error 8e-8 inside the range (test `exp_matches_f64`).
#[inline(always)]
#[allow(clippy::excessive_precision)] // Cephes' coefficients as published
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2²³: adding and subtracting it rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let y = p * r * r + r + 1.0;
    y * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// Segment boundaries from segment lengths.
fn bounds(segments: &[usize]) -> Vec<Range<usize>> {
    let mut start = 0;
    segments
        .iter()
        .map(|&n| {
            let r = start..start + n;
            start += n;
            r
        })
        .collect()
}

/// What a pass computes besides the forward values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wants {
    /// Gradients of every ladder parameter (the LN and D steps).
    pub param_grads: bool,
    /// The gradient with respect to the input rows and the decoded rows' targets (the G step).
    pub input_grad: bool,
}

/// Every buffer of one pass, reused from step to step. Activations are feature-major:
/// `buf[c * rows + r]` is unit c of row r.
#[derive(Default)]
pub struct Workspace {
    rows: usize,
    labeled: usize,
    enc_bounds: Vec<Range<usize>>,
    dec_bounds: Vec<Range<usize>>,
    /// z̃⁽ˡ⁾ for l = 0..=6 (z̃⁽⁰⁾ = x + noise), rows × width(l).
    zt: Vec<Vec<f32>>,
    /// BN(pre⁽ˡ⁾) for l = 1..=6 (index l), and the pre-activation scratch.
    y: Vec<Vec<f32>>,
    /// 1/sqrt(var + ε) of each encoder segment: `inv[l][s * width + c]`.
    inv: Vec<Vec<f32>>,
    /// h̃⁽ˡ⁾ = ReLU(z̃⁽ˡ⁾ + β⁽ˡ⁾) for l = 1..=5 (index l).
    h: Vec<Vec<f32>>,
    /// Softmax outputs p̃ (10 × rows).
    p: Vec<f32>,
    /// Decoder: u⁽ˡ⁾ (normalised), 1/sqrt(var + ε) per decoder segment, ẑ⁽ˡ⁾, cached sigmoids.
    u: Vec<Vec<f32>>,
    dinv: Vec<Vec<f32>>,
    zh: Vec<Vec<f32>>,
    s1: Vec<Vec<f32>>,
    s2: Vec<Vec<f32>>,
    /// Clean targets of the decoded rows, feature-major (784 × decoded rows).
    target: Vec<f32>,
    /// Per decoded row: E(x) = (λ₀/784)·Σᵢ (ẑ⁰ᵢ − xᵢ)².
    pub energy: Vec<f32>,
    /// Backward scratch.
    g_dec: Vec<f32>,
    g_u: Vec<f32>,
    lateral: Vec<Vec<f32>>,
    g_enc: Vec<f32>,
    g_pre: Vec<f32>,
    /// ∂L/∂θ in the [`Layout`] (valid after a backward pass with `param_grads`).
    pub grad: Vec<f32>,
    /// ∂L/∂x, rows × 784 row-major (valid after a backward pass with `input_grad`).
    pub input_grad: Vec<f32>,
}

fn sized(v: &mut Vec<f32>, n: usize) -> &mut Vec<f32> {
    if v.len() != n {
        v.resize(n, 0.0);
    }
    v
}

fn layers(v: &mut Vec<Vec<f32>>) -> &mut Vec<Vec<f32>> {
    if v.len() != LAYERS + 1 {
        v.resize(LAYERS + 1, Vec::new());
    }
    v
}

impl Workspace {
    pub fn new() -> Self {
        Self::default()
    }

    /// The corrupted pass (spec: Encoder, corrupted pass; Decoder) over the stacked rows `x`
    /// (rows × 784, row-major: labeled rows first, then the decoded groups of `groups`), with
    /// `targets` the clean inputs of the decoded rows (decoded rows × 784) and `noise` drawn for
    /// `x`'s rows. Returns the mean cross-entropy of the labeled rows (0 without labels); the
    /// per-row energies are in [`Workspace::energy`].
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &mut self,
        params: &FlatLadder,
        cfg: &LadderConfig,
        x: &[f32],
        targets: &[f32],
        labels: &[u8],
        groups: &RowGroups,
        noise: &LayerNoise,
    ) -> f32 {
        let rows = x.len() / PIXELS;
        let lab = groups.labeled;
        let dec = rows - lab;
        assert_eq!(rows * PIXELS, x.len(), "x must be rows × 784");
        assert_eq!(
            targets.len(),
            dec * PIXELS,
            "one target row per decoded row"
        );
        assert_eq!(labels.len(), lab, "one label per labeled row");
        assert_eq!(noise.rows, rows, "noise drawn for another batch size");
        assert_eq!(groups.decoded.iter().sum::<usize>(), dec);
        self.rows = rows;
        self.labeled = lab;
        let mut enc: Vec<usize> = std::iter::once(lab)
            .chain(groups.decoded.iter().copied())
            .filter(|&n| n > 0)
            .collect();
        let mut dsegs = groups.decoded.clone();
        if cfg.bn_groups == BnGroups::Joint {
            enc = vec![rows];
            dsegs = vec![dec];
        }
        self.enc_bounds = bounds(&enc);
        self.dec_bounds = bounds(&dsegs);
        let (eps, l0) = (cfg.bn_eps, &params.layout);
        layers(&mut self.zt);
        layers(&mut self.y);
        layers(&mut self.inv);
        layers(&mut self.h);
        layers(&mut self.u);
        layers(&mut self.dinv);
        layers(&mut self.zh);
        layers(&mut self.s1);
        layers(&mut self.s2);

        // z̃⁽⁰⁾ = x + noise, transposed to feature-major.
        {
            let zt0 = sized(&mut self.zt[0], PIXELS * rows);
            let n0 = &noise.layers[0];
            transpose_add(x, rows, PIXELS, n0, zt0);
            let t = sized(&mut self.target, PIXELS * dec);
            transpose_add(targets, dec, PIXELS, &[], t);
        }

        // Encoder layers 1..=6.
        for l in 1..=LAYERS {
            let (ni, no) = (WIDTHS[l - 1], WIDTHS[l]);
            let w = params.get(&l0.enc_w[l - 1]);
            let beta = params.get(&l0.enc_beta[l - 1]);
            sized(&mut self.y[l], no * rows);
            let input: &[f32] = if l == 1 { &self.zt[0] } else { &self.h[l - 1] };
            forward_mm(no, ni, rows, w, input, &mut self.y[l]);
            let nseg = self.enc_bounds.len();
            sized(&mut self.inv[l], nseg * no);
            sized(&mut self.zt[l], no * rows);
            if l < LAYERS {
                sized(&mut self.h[l], no * rows);
            }
            let (ys, zts, invs, hs) = (
                Shared::new(&mut self.y[l]),
                Shared::new(&mut self.zt[l]),
                Shared::new(&mut self.inv[l]),
                Shared::new(&mut self.h[l]),
            );
            let nz = &noise.layers[l];
            let eb = &self.enc_bounds;
            let relu = l < LAYERS;
            // BN per group + noise + β + ReLU (spec, corrupted pass steps 2–4), unit by unit.
            for_unit_blocks(no, |units| {
                for c in units {
                    // SAFETY: unit c's rows and statistics belong to this task alone.
                    let (y, zt, h) = unsafe {
                        (
                            ys.slice(c * rows, rows),
                            zts.slice(c * rows, rows),
                            if relu {
                                hs.slice(c * rows, rows)
                            } else {
                                &mut []
                            },
                        )
                    };
                    for (s, seg) in eb.iter().enumerate() {
                        let (mean, inv) = segment_stats(&y[seg.clone()], eps);
                        unsafe { invs.slice(s * no + c, 1)[0] = inv };
                        for v in &mut y[seg.clone()] {
                            *v = (*v - mean) * inv;
                        }
                    }
                    let n = &nz[c * rows..(c + 1) * rows];
                    for r in 0..rows {
                        zt[r] = y[r] + n[r];
                    }
                    if relu {
                        for r in 0..rows {
                            h[r] = (zt[r] + beta[c]).max(0.0);
                        }
                    }
                }
            });
        }

        // Softmax layer: logits = γ ⊙ (z̃⁽⁶⁾ + β⁽⁶⁾), p̃ = softmax(logits) per row; CE on the labeled rows.
        let gamma = params.get(&l0.gamma6);
        let beta6 = params.get(&l0.enc_beta[LAYERS - 1]);
        let p = sized(&mut self.p, CLASSES * rows);
        let zt6 = &self.zt[LAYERS];
        let mut ce = 0f64;
        for r in 0..rows {
            let mut logits = [0f32; CLASSES];
            for c in 0..CLASSES {
                logits[c] = gamma[c] * (zt6[c * rows + r] + beta6[c]);
            }
            let max = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let sum: f32 = logits.iter().map(|v| (v - max).exp()).sum();
            for c in 0..CLASSES {
                p[c * rows + r] = (logits[c] - max).exp() / sum;
            }
            if r < lab {
                ce += (max + sum.ln() - logits[labels[r] as usize]) as f64;
            }
        }
        let ce = if lab > 0 {
            (ce / lab as f64) as f32
        } else {
            0.0
        };

        // Decoder over the decoded rows: u⁽⁶⁾ = BN(p̃), then u⁽ˡ⁾ = BN(V⁽ˡ⁺¹⁾ ẑ⁽ˡ⁺¹⁾), ẑ⁽ˡ⁾ = g(z̃⁽ˡ⁾, u⁽ˡ⁾).
        for l in (0..=LAYERS).rev() {
            let n = WIDTHS[l];
            sized(&mut self.u[l], n * dec);
            if l == LAYERS {
                let (p, u) = (&self.p, &mut self.u[l]);
                for c in 0..n {
                    u[c * dec..(c + 1) * dec].copy_from_slice(&p[c * rows + lab..(c + 1) * rows]);
                }
            } else {
                let v = params.get(&l0.dec_v[l]);
                let (zh, u) = (&self.zh, &mut self.u);
                forward_mm(n, WIDTHS[l + 1], dec, v, &zh[l + 1], &mut u[l]);
            }
            let nseg = self.dec_bounds.len();
            sized(&mut self.dinv[l], nseg * n);
            sized(&mut self.zh[l], n * dec);
            sized(&mut self.s1[l], n * dec);
            sized(&mut self.s2[l], n * dec);
            let (us, dinvs, zhs, s1s, s2s) = (
                Shared::new(&mut self.u[l]),
                Shared::new(&mut self.dinv[l]),
                Shared::new(&mut self.zh[l]),
                Shared::new(&mut self.s1[l]),
                Shared::new(&mut self.s2[l]),
            );
            let zt = &self.zt[l];
            let db = &self.dec_bounds;
            let a: Vec<&[f32]> = l0.comb[l].iter().map(|r| params.get(r)).collect();
            let kind = cfg.combinator;
            for_unit_blocks(n, |units| {
                for c in units {
                    // SAFETY: unit c's rows belong to this task alone.
                    let (u, zh, s1, s2) = unsafe {
                        (
                            us.slice(c * dec, dec),
                            zhs.slice(c * dec, dec),
                            s1s.slice(c * dec, dec),
                            s2s.slice(c * dec, dec),
                        )
                    };
                    for (s, seg) in db.iter().enumerate() {
                        let (mean, inv) = segment_stats(&u[seg.clone()], eps);
                        unsafe { dinvs.slice(s * n + c, 1)[0] = inv };
                        for v in &mut u[seg.clone()] {
                            *v = (*v - mean) * inv;
                        }
                    }
                    let z = &zt[c * rows + lab..(c + 1) * rows];
                    let k: [f32; 10] = std::array::from_fn(|i| a[i][c]);
                    combine_unit(kind, &k, z, u, zh, s1, s2);
                }
            });
        }

        // Layer 0: E(x) = (λ₀/784)·Σᵢ (ẑ⁰ᵢ − xᵢ)² per decoded row.
        let e = sized(&mut self.energy, dec);
        e.iter_mut().for_each(|v| *v = 0.0);
        let (zh0, t) = (&self.zh[0], &self.target);
        for c in 0..PIXELS {
            for r in 0..dec {
                let d = zh0[c * dec + r] - t[c * dec + r];
                e[r] += d * d;
            }
        }
        let scale = cfg.lambda0 / PIXELS as f32;
        e.iter_mut().for_each(|v| *v *= scale);
        ce
    }

    /// The backward pass of the last [`Workspace::forward`] for the loss
    /// `ce_weight · CE + Σ_r energy_weights[r] · E_r` (for example CE + mean_real E +
    /// mean_fake [m − E]⁺ has weights 1/U on real rows and −1/F on fakes inside the margin).
    pub fn backward(
        &mut self,
        params: &FlatLadder,
        cfg: &LadderConfig,
        labels: &[u8],
        ce_weight: f32,
        energy_weights: &[f32],
        wants: Wants,
    ) {
        let (rows, lab) = (self.rows, self.labeled);
        let dec = rows - lab;
        assert_eq!(energy_weights.len(), dec);
        let l0 = &params.layout;
        if wants.param_grads {
            sized(&mut self.grad, l0.len);
        }
        layers(&mut self.lateral);
        let e_scale = 2.0 * cfg.lambda0 / PIXELS as f32;
        let kind = cfg.combinator;

        // ∂L/∂ẑ⁰ = w_r·(2λ₀/784)(ẑ⁰ − x).
        {
            let g = sized(&mut self.g_dec, PIXELS * dec);
            let (zh0, t) = (&self.zh[0], &self.target);
            for ((g, zh0), t) in g
                .chunks_exact_mut(dec)
                .zip(zh0.chunks_exact(dec))
                .zip(t.chunks_exact(dec))
            {
                for (r, w) in energy_weights.iter().enumerate() {
                    g[r] = w * e_scale * (zh0[r] - t[r]);
                }
            }
        }
        // Decoder, layer 0 up to 6: combinator backward, BN backward, then V's products.
        for l in 0..=LAYERS {
            let n = WIDTHS[l];
            sized(&mut self.g_u, n * dec);
            sized(&mut self.lateral[l], n * dec);
            let a: Vec<&[f32]> = l0.comb[l].iter().map(|r| params.get(r)).collect();
            let gsl = Shared::new(&mut self.g_u);
            let lat = Shared::new(&mut self.lateral[l]);
            // The parameter sums go straight into their slots of `grad` (when wanted).
            let grads = wants.param_grads.then(|| Shared::new(&mut self.grad));
            let comb = &l0.comb[l];
            let (g, zt, u, s1, s2) = (
                &self.g_dec,
                &self.zt[l],
                &self.u[l],
                &self.s1[l],
                &self.s2[l],
            );
            let (db, dinv) = (&self.dec_bounds, &self.dinv[l]);
            for_unit_blocks(n, |units| {
                let mut gu_copy = vec![0f32; dec];
                for c in units {
                    let k: [f32; 10] = std::array::from_fn(|i| a[i][c]);
                    let cs = c * dec..(c + 1) * dec;
                    // SAFETY: unit c's rows and parameter entries belong to this task alone.
                    let (gu, gz) = unsafe { (gsl.slice(c * dec, dec), lat.slice(c * dec, dec)) };
                    let mut ga = [0f32; 10];
                    combine_unit_backward(
                        kind,
                        &k,
                        &g[cs.clone()],
                        &zt[c * rows + lab..(c + 1) * rows],
                        &u[cs.clone()],
                        &s1[cs.clone()],
                        &s2[cs.clone()],
                        gz,
                        gu,
                        &mut ga,
                    );
                    if let Some(grads) = &grads {
                        for (slot, v) in comb.iter().zip(ga) {
                            unsafe { grads.slice(slot.start + c, 1)[0] = v };
                        }
                    }
                    // BN backward of u⁽ˡ⁾ in place: ∂L/∂(V ẑ) per decoder segment.
                    gu_copy.copy_from_slice(gu);
                    for (s, seg) in db.iter().enumerate() {
                        bn_backward(
                            &gu_copy[seg.clone()],
                            &u[c * dec + seg.start..c * dec + seg.end],
                            dinv[s * n + c],
                            &mut gu[seg.clone()],
                        );
                    }
                }
            });
            if l < LAYERS {
                // u⁽ˡ⁾ = BN(V⁽ˡ⁺¹⁾ ẑ⁽ˡ⁺¹⁾): ∂L/∂V⁽ˡ⁺¹⁾ and ∂L/∂ẑ⁽ˡ⁺¹⁾.
                let n_up = WIDTHS[l + 1];
                if wants.param_grads {
                    let gv = &mut self.grad[l0.dec_v[l].clone()];
                    weight_grad_mm(n, n_up, dec, &self.g_u, &self.zh[l + 1], gv);
                }
                let v = params.get(&l0.dec_v[l]);
                let gd = sized(&mut self.g_dec, n_up * dec);
                input_grad_mm(n, n_up, dec, v, &self.g_u, gd);
            }
        }
        // self.g_u now holds ∂L/∂p̃ of the decoded rows (10 × dec).
        // Softmax and CE: ∂L/∂logits; then γ, β⁽⁶⁾ and ∂L/∂z̃⁽⁶⁾.
        let gamma = params.get(&l0.gamma6);
        let beta6 = params.get(&l0.enc_beta[LAYERS - 1]);
        let g_enc = sized(&mut self.g_enc, CLASSES * rows);
        let (p, zt6, gp) = (&self.p, &self.zt[LAYERS], &self.g_u);
        let mut g_gamma = [0f32; CLASSES];
        let mut g_beta = [0f32; CLASSES];
        for r in 0..rows {
            let mut gl = [0f32; CLASSES];
            if r < lab {
                for (c, g) in gl.iter_mut().enumerate() {
                    let y = (labels[r] as usize == c) as u8 as f32;
                    *g = ce_weight * (p[c * rows + r] - y) / lab as f32;
                }
            } else {
                let d = r - lab;
                let dot: f32 = (0..CLASSES)
                    .map(|c| gp[c * dec + d] * p[c * rows + r])
                    .sum();
                for (c, g) in gl.iter_mut().enumerate() {
                    *g = p[c * rows + r] * (gp[c * dec + d] - dot);
                }
            }
            for c in 0..CLASSES {
                g_gamma[c] += gl[c] * (zt6[c * rows + r] + beta6[c]);
                g_beta[c] += gl[c] * gamma[c];
                g_enc[c * rows + r] = gl[c] * gamma[c];
            }
        }
        if wants.param_grads {
            self.grad[l0.gamma6.clone()].copy_from_slice(&g_gamma);
            self.grad[l0.enc_beta[LAYERS - 1].clone()].copy_from_slice(&g_beta);
        }
        // Encoder, layer 6 down to 1. g_enc holds ∂L/∂h̃⁽ˡ⁾ (for l = 6: ∂L/∂z̃⁽⁶⁾ without the lateral part).
        for l in (1..=LAYERS).rev() {
            let (ni, no) = (WIDTHS[l - 1], WIDTHS[l]);
            sized(&mut self.g_pre, no * rows);
            let relu = l < LAYERS;
            {
                let gpre = Shared::new(&mut self.g_pre);
                // ∂L/∂β⁽ˡ⁾ goes straight into `grad` (layer 6's β was done with γ above).
                let gbeta = (relu && wants.param_grads).then(|| Shared::new(&mut self.grad));
                let beta_start = l0.enc_beta[l - 1].start;
                let (ge, h, y, lat) = (&self.g_enc, &self.h[l], &self.y[l], &self.lateral[l]);
                let (eb, inv) = (&self.enc_bounds, &self.inv[l]);
                for_unit_blocks(no, |units| {
                    let mut gz = vec![0f32; rows];
                    for c in units {
                        let cs = c * rows..(c + 1) * rows;
                        let ge = &ge[cs.clone()];
                        let h: &[f32] = if relu { &h[cs.clone()] } else { &[] };
                        if relu {
                            for ((gz, &g), &h) in gz.iter_mut().zip(ge).zip(h) {
                                *gz = if h > 0.0 { g } else { 0.0 };
                            }
                        } else {
                            gz.copy_from_slice(ge);
                        }
                        let sb = if relu { sum_f32(&gz) } else { 0.0 };
                        for r in lab..rows {
                            gz[r] += lat[c * dec + r - lab];
                        }
                        // SAFETY: unit c belongs to this task alone.
                        if let Some(gb) = &gbeta {
                            unsafe { gb.slice(beta_start + c, 1)[0] = sb };
                        }
                        let out = unsafe { gpre.slice(c * rows, rows) };
                        for (s, seg) in eb.iter().enumerate() {
                            bn_backward(
                                &gz[seg.clone()],
                                &y[cs.start + seg.start..cs.start + seg.end],
                                inv[s * no + c],
                                &mut out[seg.clone()],
                            );
                        }
                    }
                });
            }
            if wants.param_grads {
                let input: &[f32] = if l == 1 { &self.zt[0] } else { &self.h[l - 1] };
                weight_grad_mm(
                    no,
                    ni,
                    rows,
                    &self.g_pre,
                    input,
                    &mut self.grad[l0.enc_w[l - 1].clone()],
                );
            }
            if l > 1 || wants.input_grad {
                let w = params.get(&l0.enc_w[l - 1]);
                let ge = sized(&mut self.g_enc, ni * rows);
                input_grad_mm(no, ni, rows, w, &self.g_pre, ge);
            }
        }
        if wants.input_grad {
            // ∂L/∂x = Wᵀ-path + the lateral path of z̃⁽⁰⁾ + the target's part −∂L/∂ẑ⁰.
            let gx = sized(&mut self.input_grad, rows * PIXELS);
            let (ge, lat, zh0, t) = (&self.g_enc, &self.lateral[0], &self.zh[0], &self.target);
            for r in 0..rows {
                for c in 0..PIXELS {
                    let mut v = ge[c * rows + r];
                    if r >= lab {
                        let i = c * dec + r - lab;
                        v += lat[i] - energy_weights[r - lab] * e_scale * (zh0[i] - t[i]);
                    }
                    gx[r * PIXELS + c] = v;
                }
            }
        }
    }
}

/// dst (cols × rows, feature-major) = src (rows × cols, row-major) + add (feature-major; empty
/// for none).
pub(crate) fn transpose_add(src: &[f32], rows: usize, cols: usize, add: &[f32], dst: &mut [f32]) {
    const B: usize = 16;
    assert!(src.len() >= rows * cols && dst.len() >= rows * cols);
    assert!(add.is_empty() || add.len() >= rows * cols);
    if rows == 0 {
        return;
    }
    // One task per block of B columns (B rows of `dst`), blocks of B × B inside.
    dst[..rows * cols]
        .par_chunks_mut(B * rows)
        .enumerate()
        .for_each(|(blk, d)| {
            let c0 = blk * B;
            let c1 = (c0 + B).min(cols);
            for r0 in (0..rows).step_by(B) {
                for r in r0..(r0 + B).min(rows) {
                    for c in c0..c1 {
                        let a = if add.is_empty() {
                            0.0
                        } else {
                            add[c * rows + r]
                        };
                        d[(c - c0) * rows + r] = src[r * cols + c] + a;
                    }
                }
            }
        });
}

/// One unit's combinator over its decoded rows (module [`crate::combinator`] gives both kinds).
/// Writes ẑ and, for "gauss", the two sigmoids (for "sig", the one sigmoid in `s1`).
fn combine_unit(
    kind: CombinatorKind,
    a: &[f32; 10],
    z: &[f32],
    u: &[f32],
    out: &mut [f32],
    s1v: &mut [f32],
    s2v: &mut [f32],
) {
    match kind {
        CombinatorKind::Gauss => {
            let rows = z.iter().zip(u).zip(out).zip(s1v.iter_mut().zip(s2v));
            for (((&zi, &ui), out), (s1v, s2v)) in rows {
                let s1 = sigmoid(a[1] * ui + a[2]);
                let s2 = sigmoid(a[6] * ui + a[7]);
                let mu = a[0] * s1 + a[3] * ui + a[4];
                let v = a[5] * s2 + a[8] * ui + a[9];
                *out = (zi - mu) * v + mu;
                *s1v = s1;
                *s2v = s2;
            }
        }
        CombinatorKind::Sig => {
            for (((&zi, &ui), out), s1v) in z.iter().zip(u).zip(out).zip(s1v) {
                let zu = zi * ui;
                let s = sigmoid(a[5] + a[6] * zi + a[7] * ui + a[8] * zu);
                *out = a[0] + a[1] * zi + a[2] * ui + a[3] * zu + a[4] * s;
                *s1v = s;
            }
        }
    }
}

/// Backward of [`combine_unit`]: ∂L/∂z̃ into `gz`, ∂L/∂u into `gu`, the row sums of the
/// parameter gradients into `ga` (gauss formulas in [`crate::combinator`]; "sig": with
/// s = σ(b1 + w1z z̃ + w1u u + w1zu z̃u) and g_s = g·wσ·s(1−s), ∂z̃ = g(w0z + w0zu u) + g_s(w1z + w1zu u),
/// ∂u = g(w0u + w0zu z̃) + g_s(w1u + w1zu z̃), ∂(b0, w0z, w0u, w0zu, wσ) = g·(1, z̃, u, z̃u, s),
/// ∂(b1, w1z, w1u, w1zu) = g_s·(1, z̃, u, z̃u), slot 10 unused).
#[allow(clippy::too_many_arguments)]
fn combine_unit_backward(
    kind: CombinatorKind,
    a: &[f32; 10],
    g: &[f32],
    z: &[f32],
    u: &[f32],
    s1v: &[f32],
    s2v: &[f32],
    gz: &mut [f32],
    gu: &mut [f32],
    ga: &mut [f32; 10],
) {
    match kind {
        CombinatorKind::Gauss => {
            backward_rows(g, z, u, s1v, s2v, gz, gu, ga, |g, zi, ui, s1, s2| {
                let (d1, d2) = (s1 * (1.0 - s1), s2 * (1.0 - s2));
                let mu = a[0] * s1 + a[3] * ui + a[4];
                let v = a[5] * s2 + a[8] * ui + a[9];
                let (g_mu, g_v) = (g * (1.0 - v), g * (zi - mu));
                (
                    g * v,
                    g_mu * (a[0] * a[1] * d1 + a[3]) + g_v * (a[5] * a[6] * d2 + a[8]),
                    [
                        g_mu * s1,
                        g_mu * a[0] * d1 * ui,
                        g_mu * a[0] * d1,
                        g_mu * ui,
                        g_mu,
                        g_v * s2,
                        g_v * a[5] * d2 * ui,
                        g_v * a[5] * d2,
                        g_v * ui,
                        g_v,
                    ],
                )
            })
        }
        CombinatorKind::Sig => backward_rows(g, z, u, s1v, s2v, gz, gu, ga, |g, zi, ui, s, _| {
            let zu = zi * ui;
            let gs = g * a[4] * s * (1.0 - s);
            (
                g * (a[1] + a[3] * ui) + gs * (a[6] + a[8] * ui),
                g * (a[2] + a[3] * zi) + gs * (a[7] + a[8] * zi),
                [
                    g,
                    g * zi,
                    g * ui,
                    g * zu,
                    g * s,
                    gs,
                    gs * zi,
                    gs * ui,
                    gs * zu,
                    0.0,
                ],
            )
        }),
    }
}

/// The row loop of [`combine_unit_backward`]: `row(g, z̃, u, s1, s2)` gives (∂z̃, ∂u, the ten
/// parameter terms) of one row; the terms are summed over [`LANES`] partial sums each.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_rows(
    g: &[f32],
    z: &[f32],
    u: &[f32],
    s1v: &[f32],
    s2v: &[f32],
    gz: &mut [f32],
    gu: &mut [f32],
    ga: &mut [f32; 10],
    row: impl Fn(f32, f32, f32, f32, f32) -> (f32, f32, [f32; 10]),
) {
    let n = g.len();
    assert!(z.len() == n && u.len() == n && s1v.len() == n && s2v.len() == n);
    assert!(gz.len() == n && gu.len() == n);
    let full = n - n % LANES;
    let mut acc = [[0f32; LANES]; 10];
    for r0 in (0..full).step_by(LANES) {
        let lanes = |v: &[f32]| -> [f32; LANES] { v[r0..r0 + LANES].try_into().unwrap() };
        let (gl, zl, ul, s1l, s2l) = (lanes(g), lanes(z), lanes(u), lanes(s1v), lanes(s2v));
        let (mut dz, mut du) = ([0f32; LANES], [0f32; LANES]);
        for i in 0..LANES {
            let (a, b, terms) = row(gl[i], zl[i], ul[i], s1l[i], s2l[i]);
            dz[i] = a;
            du[i] = b;
            for k in 0..10 {
                acc[k][i] += terms[k];
            }
        }
        gz[r0..r0 + LANES].copy_from_slice(&dz);
        gu[r0..r0 + LANES].copy_from_slice(&du);
    }
    for k in 0..10 {
        ga[k] += acc[k].iter().sum::<f32>();
    }
    for r in full..n {
        let (a, b, terms) = row(g[r], z[r], u[r], s1v[r], s2v[r]);
        gz[r] = a;
        gu[r] = b;
        for k in 0..10 {
            ga[k] += terms[k];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `values` equals `as_vec` on a plain tensor, a broadcast view (its buffer is shorter than
    /// its shape) and a permuted view (its buffer is in another order). Control: the permuted
    /// view's raw buffer, copied without making it contiguous first, is *not* its logical order,
    /// so the test would catch a `values` that skipped that step.
    #[test]
    fn values_match_as_vec_on_plain_broadcast_and_permuted_tensors() {
        let dev = Cpu::default();
        let a: Tensor<Rank2<2, 3>, f32, _> = dev.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
        assert_eq!(values(&a), a.as_vec());
        assert_eq!(values(&a), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let b: Tensor<Rank2<3, 4>, f32, _> = dev
            .tensor([7.0, 8.0, 9.0])
            .broadcast::<Rank2<3, 4>, Axis<1>>();
        assert_eq!(values(&b), b.as_vec());
        assert_eq!(values(&b)[..5], [7.0, 7.0, 7.0, 7.0, 8.0]);
        let p = a.clone().permute::<Rank2<3, 2>, Axes2<1, 0>>();
        assert_eq!(values(&p), p.as_vec());
        assert_eq!(values(&p), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        let mut raw = vec![0.0; 6];
        p.copy_into(&mut raw);
        assert_ne!(
            raw,
            p.as_vec(),
            "control: a permuted view's buffer is not its logical order"
        );
        // The runtime shapes of the image models' rows, compared bit for bit (−0.0, NaN).
        let v = vec![-0.0, 1.5, f32::NAN, 4.0, f32::MIN_POSITIVE, -7.25];
        let r = dev.tensor_from_vec(v, (2usize, 3usize));
        let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
        assert_eq!(bits(values(&r)), bits(r.as_vec()));
        let rp = r.permute::<(usize, usize), Axes2<1, 0>>();
        assert_eq!(bits(values(&rp)), bits(rp.as_vec()));
        assert_eq!(values(&rp)[1], 4.0);
        let traced: Tensor<Rank2<2, 3>, f32, Cpu, OwnedTape<f32, Cpu>> = a.leaky_trace();
        assert_eq!(values(&traced), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    /// Largest relative error of `f` against `exact` over 200,001 points of [lo, hi].
    fn max_rel_err(lo: f64, hi: f64, f: impl Fn(f32) -> f32, exact: impl Fn(f64) -> f64) -> f64 {
        (0..=200_000)
            .map(|i| {
                let x = (lo + (hi - lo) * i as f64 / 200_000.0) as f32;
                let e = exact(x as f64);
                ((f(x) as f64 - e) / e).abs()
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn exp_matches_f64() {
        // Measured 8.0e-8 (under one f32 ulp); threshold 2e-7. Control: a relative bias of 3e-7
        // (about 2.5 ulp, as a wrong coefficient would give) breaks it.
        let err = max_rel_err(-87.0, 88.0, exp, f64::exp);
        println!("exp: max relative error {err:.3e}");
        assert!(err <= 2e-7, "{err}");
        let biased = max_rel_err(-87.0, 88.0, |x| exp(x) * (1.0 + 3e-7), f64::exp);
        assert!(biased > 2e-7, "the control must fail the check: {biased}");
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn sigmoid_matches_f64() {
        // Measured 1.43e-7 (1.38e-7 through std's expf); threshold 3e-7 over [−30, 30].
        let exact = |x: f64| 1.0 / (1.0 + (-x).exp());
        let err = max_rel_err(-30.0, 30.0, sigmoid, exact);
        println!("sigmoid: max relative error {err:.3e}");
        assert!(err <= 3e-7, "{err}");
        let slow = max_rel_err(-30.0, 30.0, |x| 1.0 / (1.0 + (-x).exp()), exact);
        println!("sigmoid through std's expf: {slow:.3e}");
        assert!(sigmoid(f32::NAN).is_nan());
    }

    #[test]
    fn lane_sums_equal_plain_sums_on_exact_values() {
        // Small integers sum exactly in any order, so the lane order must give the same value;
        // a remainder (length not a multiple of LANES) is included.
        let a: Vec<f32> = (0..203).map(|i| (i % 17) as f32 - 8.0).collect();
        let b: Vec<f32> = (0..203).map(|i| (i % 5) as f32).collect();
        let plain: f32 = a.iter().sum();
        let dot: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert_eq!(sum_f32(&a), plain);
        assert_eq!(sum_and_dot(&a, &b), (plain, dot));
        assert_eq!(sum_f64(&a, |v| v as f64 * 2.0), 2.0 * plain as f64);
        assert_ne!(
            sum_f32(&a[..202]),
            plain,
            "control: a dropped value changes the sum"
        );
    }
}
