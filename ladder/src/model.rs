//! The ladder network of the spec: encoder 784-1000-500-250-250-250-10 shared by a corrupted
//! and a clean pass, and the full decoder with lateral combinators; only the layer-0
//! reconstruction enters the cost ("bottom-layer cost").

use crate::bn::{column_stats, normalize_groups, normalize_with, ColumnStats};
use crate::combinator::Combinator;
use crate::config::{BnGroups, CombinatorKind, LadderConfig};
use crate::fused::{corrupt_and_activate, project_without_input_grad};
use crate::rng::LayerNoise;
use crate::shapes::*;
use dfdx::prelude::*;
use rand_distr::Normal;

/// A bias-free linear map ℝᴵ → ℝᴼ, weight W ~ N(0, 1)/sqrt(I) (spec: Initialisation).
#[derive(Clone, Debug)]
pub struct Projection<const I: usize, const O: usize, E: Dtype = f32, D: Device<E> = Cpu> {
    pub weight: Tensor<Rank2<O, I>, E, D>,
}

fn scaled_normal<const I: usize, const O: usize, D: Device<f32>>(
    t: &mut Tensor<Rank2<O, I>, f32, D>,
) -> Result<(), D::Err> {
    t.try_fill_with_distr(Normal::new(0.0, 1.0 / (I as f32).sqrt()).expect("finite std"))
}

impl<const I: usize, const O: usize, D: Device<f32>> TensorCollection<f32, D>
    for Projection<I, O, f32, D>
{
    type To<E2: Dtype, D2: Device<E2>> = Projection<I, O, E2, D2>;
    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            Self::tensor(
                "weight",
                |s| &s.weight,
                |s| &mut s.weight,
                TensorOptions::reset_with(scaled_normal::<I, O, D>),
            ),
            |weight| Projection { weight },
        )
    }
}

impl<const I: usize, const O: usize> Projection<I, O> {
    /// Rows (B, I) → (B, O): h · Wᵀ.
    pub fn apply<T: Tape<f32, Cpu>>(&self, h: Rows<I, T>) -> Rows<O, T> {
        h.matmul(self.weight.retaped::<T>().permute())
    }
}

/// Encoder layer l: z_pre = W h, then β-only batch norm; β ~ 0 at init.
#[derive(Clone, Debug)]
pub struct EncoderLayer<const I: usize, const O: usize, E: Dtype = f32, D: Device<E> = Cpu> {
    pub w: Projection<I, O, E, D>,
    pub beta: Tensor<Rank1<O>, E, D>,
}

impl<const I: usize, const O: usize, D: Device<f32>> TensorCollection<f32, D>
    for EncoderLayer<I, O, f32, D>
{
    type To<E2: Dtype, D2: Device<E2>> = EncoderLayer<I, O, E2, D2>;
    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("w", |s| &s.w, |s| &mut s.w),
                Self::tensor(
                    "beta",
                    |s| &s.beta,
                    |s| &mut s.beta,
                    TensorOptions::reset_to_zeros(),
                ),
            ),
            |(w, beta)| EncoderLayer { w, beta },
        )
    }
}

/// Every parameter of the ladder. Field names follow the spec: `eL` is encoder layer L
/// (W⁽ᴸ⁾, β⁽ᴸ⁾), `gamma6` the softmax layer's γ, `vL` the decoder's V⁽ᴸ⁾ (width(L) → width(L−1)),
/// `gL` the combinator of layer L.
#[derive(Clone, Debug)]
pub struct Ladder<E: Dtype = f32, D: Device<E> = Cpu> {
    pub e1: EncoderLayer<PIXELS, H1, E, D>,
    pub e2: EncoderLayer<H1, H2, E, D>,
    pub e3: EncoderLayer<H2, H3, E, D>,
    pub e4: EncoderLayer<H3, H4, E, D>,
    pub e5: EncoderLayer<H4, H5, E, D>,
    pub e6: EncoderLayer<H5, CLASSES, E, D>,
    pub gamma6: Tensor<Rank1<CLASSES>, E, D>,
    pub v1: Projection<H1, PIXELS, E, D>,
    pub v2: Projection<H2, H1, E, D>,
    pub v3: Projection<H3, H2, E, D>,
    pub v4: Projection<H4, H3, E, D>,
    pub v5: Projection<H5, H4, E, D>,
    pub v6: Projection<CLASSES, H5, E, D>,
    pub g0: Combinator<PIXELS, E, D>,
    pub g1: Combinator<H1, E, D>,
    pub g2: Combinator<H2, E, D>,
    pub g3: Combinator<H3, E, D>,
    pub g4: Combinator<H4, E, D>,
    pub g5: Combinator<H5, E, D>,
    pub g6: Combinator<CLASSES, E, D>,
}

impl<D: Device<f32>> TensorCollection<f32, D> for Ladder<f32, D> {
    type To<E2: Dtype, D2: Device<E2>> = Ladder<E2, D2>;
    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                (
                    Self::module("e1", |s| &s.e1, |s| &mut s.e1),
                    Self::module("e2", |s| &s.e2, |s| &mut s.e2),
                    Self::module("e3", |s| &s.e3, |s| &mut s.e3),
                    Self::module("e4", |s| &s.e4, |s| &mut s.e4),
                    Self::module("e5", |s| &s.e5, |s| &mut s.e5),
                    Self::module("e6", |s| &s.e6, |s| &mut s.e6),
                ),
                Self::tensor(
                    "gamma6",
                    |s| &s.gamma6,
                    |s| &mut s.gamma6,
                    TensorOptions::reset_to_ones(),
                ),
                (
                    Self::module("v1", |s| &s.v1, |s| &mut s.v1),
                    Self::module("v2", |s| &s.v2, |s| &mut s.v2),
                    Self::module("v3", |s| &s.v3, |s| &mut s.v3),
                    Self::module("v4", |s| &s.v4, |s| &mut s.v4),
                    Self::module("v5", |s| &s.v5, |s| &mut s.v5),
                    Self::module("v6", |s| &s.v6, |s| &mut s.v6),
                ),
                (
                    Self::module("g0", |s| &s.g0, |s| &mut s.g0),
                    Self::module("g1", |s| &s.g1, |s| &mut s.g1),
                    Self::module("g2", |s| &s.g2, |s| &mut s.g2),
                    Self::module("g3", |s| &s.g3, |s| &mut s.g3),
                    Self::module("g4", |s| &s.g4, |s| &mut s.g4),
                    Self::module("g5", |s| &s.g5, |s| &mut s.g5),
                ),
                Self::module("g6", |s| &s.g6, |s| &mut s.g6),
            ),
            |(
                (e1, e2, e3, e4, e5, e6),
                gamma6,
                (v1, v2, v3, v4, v5, v6),
                (g0, g1, g2, g3, g4, g5),
                g6,
            )| Ladder {
                e1,
                e2,
                e3,
                e4,
                e5,
                e6,
                gamma6,
                v1,
                v2,
                v3,
                v4,
                v5,
                v6,
                g0,
                g1,
                g2,
                g3,
                g4,
                g5,
                g6,
            },
        )
    }
}

/// How the rows of one forward pass are grouped: first `labeled` rows with labels (CE only),
/// then the decoded groups (unlabeled, fake), each a batch-norm group of its own by default.
#[derive(Clone, Debug, PartialEq)]
pub struct RowGroups {
    pub labeled: usize,
    pub decoded: Vec<usize>,
}

impl RowGroups {
    fn encoder_segments(&self, mode: BnGroups) -> Vec<usize> {
        let all: Vec<usize> = std::iter::once(self.labeled)
            .chain(self.decoded.iter().copied())
            .filter(|&n| n > 0)
            .collect();
        match mode {
            BnGroups::Separate => all,
            BnGroups::Joint => vec![all.iter().sum()],
        }
    }
    fn decoder_segments(&self, mode: BnGroups) -> Vec<usize> {
        match mode {
            BnGroups::Separate => self.decoded.clone(),
            BnGroups::Joint => vec![self.decoded.iter().sum()],
        }
    }
}

/// Which implementation of the corrupted pass's non-matmul work runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernels {
    /// [`crate::fused`]: one parallel op per layer for BN + noise + β + ReLU and for "gauss".
    Fused,
    /// dfdx's elementwise ops, op by op: the straightforward version the fused kernels are
    /// tested against.
    Reference,
}

/// How to run one corrupted pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pass {
    pub kernels: Kernels,
    /// Whether the gradient with respect to the input rows is needed (the EBGAN-LN G step:
    /// G learns through the ladder's input). Without it the first layer skips that matmul.
    pub input_grad: bool,
}

impl Pass {
    /// The per-op fused dfdx pass without the first layer's input gradient (as the D step).
    pub const TRAIN_D: Pass = Pass {
        kernels: Kernels::Fused,
        input_grad: false,
    };
    /// The per-op fused dfdx pass with the input gradient (as the G step).
    pub const TRAIN_G: Pass = Pass {
        kernels: Kernels::Fused,
        input_grad: true,
    };
}

/// What one corrupted forward pass gives: the CE over the labeled rows (if any) and the
/// per-sample energy E(x) = (λ₀/784)·Σᵢ (ẑ⁰ᵢ − xᵢ)² of every decoded row.
pub struct CorruptedOutput<T> {
    pub ce: Option<Tensor<Rank0, f32, Cpu, T>>,
    pub energy: Tensor<(usize,), f32, Cpu, T>,
}

/// Test-time batch-norm statistics of the clean pass, one entry per layer 1..=6.
#[derive(Clone, Debug, PartialEq)]
pub struct PopulationStats {
    pub layers: Vec<ColumnStats>,
}

impl Ladder {
    /// A freshly initialised ladder (spec: Initialisation) drawn from `dev`'s RNG.
    pub fn new(dev: &Cpu, kind: CombinatorKind) -> Self {
        let mut ladder = Ladder::build(dev);
        if kind == CombinatorKind::Sig {
            // "sig" also starts with wσ = 1 (slot 5); see `combinator`.
            ladder.g0.a[4].fill_with_ones();
            ladder.g1.a[4].fill_with_ones();
            ladder.g2.a[4].fill_with_ones();
            ladder.g3.a[4].fill_with_ones();
            ladder.g4.a[4].fill_with_ones();
            ladder.g5.a[4].fill_with_ones();
            ladder.g6.a[4].fill_with_ones();
        }
        ladder
    }

    /// The corrupted pass over stacked rows `x` (labeled rows first, then the decoded groups),
    /// and the decoder over the decoded rows. `target` holds the clean inputs of the decoded
    /// rows: x itself for real data, G(z) for fakes (keep its tape so G gets that gradient).
    /// The corruption noise comes from `noise` (drawn for `x`'s rows).
    #[allow(clippy::too_many_arguments)] // each is a distinct input of the pass
    pub fn corrupted<T: Tape<f32, Cpu> + Merge<T>>(
        &self,
        cfg: &LadderConfig,
        x: Rows<PIXELS, T>,
        target: Rows<PIXELS, T>,
        labels: Option<&Rows<CLASSES>>,
        groups: &RowGroups,
        noise: &LayerNoise,
        pass: Pass,
    ) -> CorruptedOutput<T> {
        let dev = self.gamma6.device().clone();
        let rows = x.shape().0;
        let segs = groups.encoder_segments(cfg.bn_groups);
        let lab = groups.labeled;
        let eps = cfg.bn_eps;
        assert_eq!(noise.rows, rows, "noise drawn for another batch size");
        let noise_rows = |l: usize| noise.row_major(l);
        // z̃⁽ˡ⁾ = BN(W h̃⁽ˡ⁻¹⁾) + 0.3·ε and h̃⁽ˡ⁾ = ReLU(z̃⁽ˡ⁾ + β⁽ˡ⁾) (steps 1–4 of the spec's
        // corrupted pass, "BN with β only").
        macro_rules! layer {
            ($l:expr, $layer:expr, $pre:expr) => {{
                let pre = $pre;
                let n = noise_rows($l);
                match pass.kernels {
                    Kernels::Fused => corrupt_and_activate(pre, &$layer.beta, &segs, eps, &n),
                    Kernels::Reference => {
                        let (bn, _) = normalize_groups(pre, &segs, eps);
                        let z = bn + dev.tensor_from_vec(n, (rows, Const));
                        let beta = $layer.beta.retaped::<T>().broadcast_like(z.shape());
                        let h = (z.with_empty_tape() + beta).relu();
                        (z, h)
                    }
                }
            }};
        }
        let zt0 = x + dev.tensor_from_vec(noise_rows(0), (rows, Const::<PIXELS>));
        let pre1 = match pass {
            Pass {
                kernels: Kernels::Fused,
                input_grad: false,
            } => project_without_input_grad(&self.e1.w.weight, zt0.with_empty_tape()),
            _ => self.e1.w.apply(zt0.with_empty_tape()),
        };
        let (zt1, h1) = layer!(1, self.e1, pre1);
        let (zt2, h2) = layer!(2, self.e2, self.e2.w.apply(h1));
        let (zt3, h3) = layer!(3, self.e3, self.e3.w.apply(h2));
        let (zt4, h4) = layer!(4, self.e4, self.e4.w.apply(h3));
        let (zt5, h5) = layer!(5, self.e5, self.e5.w.apply(h4));
        // Softmax layer: z̃⁽⁶⁾ = BN(W h̃⁽⁵⁾) + noise, logits = γ ⊙ (z̃⁽⁶⁾ + β⁽⁶⁾).
        let (bn6, _) = normalize_groups(self.e6.w.apply(h5), &segs, eps);
        let zt6 = bn6 + dev.tensor_from_vec(noise_rows(LAYERS), (rows, Const::<CLASSES>));
        let logits = (zt6.with_empty_tape()
            + self.e6.beta.retaped::<T>().broadcast_like(zt6.shape()))
            * self.gamma6.retaped::<T>().broadcast_like(zt6.shape());
        let ce = labels.map(|y| {
            assert_eq!(y.shape().0, lab, "one label row per labeled input row");
            cross_entropy_with_logits_loss(logits.with_empty_tape().slice((0..lab, ..)), y.clone())
        });

        // Decoder over the decoded rows: u⁽⁶⁾ = BN(h̃⁽⁶⁾), then u⁽ˡ⁾ = BN(V⁽ˡ⁺¹⁾ ẑ⁽ˡ⁺¹⁾).
        let dsegs = groups.decoder_segments(cfg.bn_groups);
        let kind = cfg.combinator;
        macro_rules! combine {
            ($g:expr, $z:expr, $u:expr) => {
                match pass.kernels {
                    Kernels::Fused => $g.combine(kind, $z, $u),
                    Kernels::Reference => $g.combine_reference(kind, $z, $u),
                }
            };
        }
        let (u6, _) = normalize_groups(logits.softmax::<Axis<1>>().slice((lab.., ..)), &dsegs, eps);
        let zh6 = combine!(self.g6, zt6.slice((lab.., ..)), u6);
        let (u5, _) = normalize_groups(self.v6.apply(zh6), &dsegs, eps);
        let zh5 = combine!(self.g5, zt5.slice((lab.., ..)), u5);
        let (u4, _) = normalize_groups(self.v5.apply(zh5), &dsegs, eps);
        let zh4 = combine!(self.g4, zt4.slice((lab.., ..)), u4);
        let (u3, _) = normalize_groups(self.v4.apply(zh4), &dsegs, eps);
        let zh3 = combine!(self.g3, zt3.slice((lab.., ..)), u3);
        let (u2, _) = normalize_groups(self.v3.apply(zh3), &dsegs, eps);
        let zh2 = combine!(self.g2, zt2.slice((lab.., ..)), u2);
        let (u1, _) = normalize_groups(self.v2.apply(zh2), &dsegs, eps);
        let zh1 = combine!(self.g1, zt1.slice((lab.., ..)), u1);
        let (u0, _) = normalize_groups(self.v1.apply(zh1), &dsegs, eps);
        let zh0 = combine!(self.g0, zt0.slice((lab.., ..)), u0);
        // Layer 0: no normalisation of estimate or target; E(x) = (λ₀/784)·Σᵢ (ẑ⁰ᵢ − xᵢ)².
        let energy =
            (zh0 - target).square().sum::<(usize,), Axis<1>>() * (cfg.lambda0 / PIXELS as f32);
        CorruptedOutput { ce, energy }
    }

    /// Clean pass in training mode over `x`, returning the batch statistics of layers 1..=6.
    pub fn clean_batch_stats(&self, cfg: &LadderConfig, x: &Rows<PIXELS>) -> Vec<ColumnStats> {
        let mut out = Vec::with_capacity(LAYERS);
        self.clean_pass(x.clone(), |layer, z| {
            let n = WIDTHS[layer];
            let s = column_stats(z, n);
            normalize_with(z, n, &s, cfg.bn_eps);
            out.push(s);
        });
        out
    }

    /// Class probabilities of the clean pass with fixed (test-time) statistics.
    pub fn predict(
        &self,
        cfg: &LadderConfig,
        x: Rows<PIXELS>,
        stats: &PopulationStats,
    ) -> Rows<CLASSES> {
        self.clean_pass(x, |layer, z| {
            normalize_with(z, WIDTHS[layer], &stats.layers[layer - 1], cfg.bn_eps)
        })
    }

    /// The clean encoder: same weights, β and γ, no noise; `normalize(l, z)` normalises the
    /// pre-activations of layer l in place. Returns softmax(γ ⊙ (z⁽⁶⁾ + β⁽⁶⁾)).
    fn clean_pass(
        &self,
        x: Rows<PIXELS>,
        mut normalize: impl FnMut(usize, &mut [f32]),
    ) -> Rows<CLASSES> {
        let dev = self.gamma6.device().clone();
        macro_rules! layer {
            ($l:expr, $layer:expr, $h:expr) => {{
                let pre = $layer.w.apply($h);
                let shape = *pre.shape();
                let mut z = pre.as_vec();
                normalize($l, &mut z);
                let z = dev.tensor_from_vec(z, shape);
                z + $layer.beta.clone().broadcast_like(&shape)
            }};
        }
        let h = layer!(1, self.e1, x).relu();
        let h = layer!(2, self.e2, h).relu();
        let h = layer!(3, self.e3, h).relu();
        let h = layer!(4, self.e4, h).relu();
        let h = layer!(5, self.e5, h).relu();
        let top = layer!(6, self.e6, h);
        let shape = *top.shape();
        (top * self.gamma6.clone().broadcast_like(&shape)).softmax::<Axis<1>>()
    }
}

impl PopulationStats {
    /// Population statistics from per-batch statistics and each batch's row count: the mean
    /// of the batch means and the mean of the unbiased batch variances (var · n/(n−1)), each
    /// batch weighted by its rows, so that a last, smaller batch (150 labels in batches of 100)
    /// counts for what it holds. For equal batches of m rows this is the mean of the batch
    /// means and of the variances times m/(m−1), bit for bit.
    ///
    /// Panics when `batches` and `rows` differ in length.
    pub fn from_batches(batches: &[Vec<ColumnStats>], rows: &[usize]) -> Self {
        assert_eq!(batches.len(), rows.len(), "one row count per batch");
        let full = rows.iter().copied().max().unwrap_or(1).max(1) as f32;
        // Weights relative to the largest batch: exactly 1 for every full batch.
        let w: Vec<f32> = rows.iter().map(|&n| n as f32 / full).collect();
        let k: f32 = w.iter().sum();
        let unbias: Vec<f32> = rows
            .iter()
            .map(|&m| {
                if m > 1 {
                    m as f32 / (m as f32 - 1.0)
                } else {
                    1.0
                }
            })
            .collect();
        let layers = (0..LAYERS)
            .map(|l| {
                let n = WIDTHS[l + 1];
                let mut mean = vec![0f32; n];
                let mut var = vec![0f32; n];
                for (i, b) in batches.iter().enumerate() {
                    for c in 0..n {
                        mean[c] += b[l].mean[c] * w[i] / k;
                        var[c] += b[l].var[c] * w[i] / k * unbias[i];
                    }
                }
                ColumnStats { mean, var }
            })
            .collect();
        Self { layers }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constant(mean: f32, var: f32) -> Vec<ColumnStats> {
        (0..LAYERS)
            .map(|l| ColumnStats {
                mean: vec![mean; WIDTHS[l + 1]],
                var: vec![var; WIDTHS[l + 1]],
            })
            .collect()
    }

    /// A last, smaller batch counts for its rows: batches of 100 (mean 1, var 2) and 50
    /// (mean 4, var 8) give mean (100·1 + 50·4)/150 = 2 and variance
    /// (100·2·100/99 + 50·8·50/49)/150 = 4.0678903; equal batches give the plain mean of the
    /// means and of the variances times m/(m−1). Control: the old unweighted rule would give
    /// mean 2.5.
    #[test]
    fn population_statistics_weight_each_batch_by_its_rows() {
        let s =
            PopulationStats::from_batches(&[constant(1.0, 2.0), constant(4.0, 8.0)], &[100, 50]);
        for l in &s.layers {
            assert!(
                l.mean.iter().all(|m| (m - 2.0).abs() < 1e-6),
                "{}",
                l.mean[0]
            );
            let want = (100.0 * 2.0 * 100.0 / 99.0 + 50.0 * 8.0 * 50.0 / 49.0) / 150.0;
            assert!(
                l.var.iter().all(|v| (v - want).abs() < 1e-5),
                "{} vs {want}",
                l.var[0]
            );
        }
        let e =
            PopulationStats::from_batches(&[constant(1.0, 2.0), constant(4.0, 8.0)], &[100, 100]);
        assert!((e.layers[0].mean[0] - 2.5).abs() < 1e-6);
        assert!((e.layers[0].var[0] - 5.0 * 100.0 / 99.0).abs() < 1e-5);
    }
}
