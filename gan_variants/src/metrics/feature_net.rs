//! The feature network of this project's FID and KID: Inception-v3 weights are not available
//! offline, so FID here is computed on the 128 penultimate features of a small CNN trained in
//! the project on CIFAR-10 ("FID-cifar-cnn"; spec conv-gans-edgan.md, "FID here"). Its values
//! are not comparable with published Inception FIDs; rankings between models measured with the
//! same network and the same n are.
//!
//! Architecture (the convolutional family of [`crate::nets::conv`], 32 × 32 × 3 input):
//! conv(32,3,1,1) conv(32,4,2,1) conv(64,3,1,1) conv(64,4,2,1) conv(128,3,1,1)
//! conv(128,4,2,1), each batch norm + ReLU, then conv(128,4,1,0) + batch norm + ReLU (the 4 × 4
//! maps to 128 features: the FID features), then a linear layer to 10 logits. About 47 MFLOP
//! per image forward, so that it trains in about an hour on this machine's one free core. Trained with
//! cross-entropy and Adam on batch statistics; scored with population statistics
//! ([`BnMode::Population`]) so that an image's features do not depend on the batch it is in —
//! with batch statistics, a shift of the generated distribution would be normalised away.

use crate::config::{Optim, TrainSettings};
use crate::nets::conv::{init_weights, Conv, ConvNet, Identity, Maps, Pass, Relu, Stage};
use crate::nets::{pool_stats, Affine, Bias, BnMode, Net, Trainable};
use crate::shapes::{Matrix, Rows, Traced};
use dfdx::prelude::*;
use ladder::bn::ColumnStats;
use rand::{rngs::StdRng, Rng};
use std::cell::Cell;

/// Input values per image (32 × 32 × 3), feature dimension, classes.
pub const INPUT: usize = 3072;
pub const FEATURES: usize = 128;
pub const CLASSES: usize = 10;

type Block<const CI: usize, const CO: usize, const K: usize, const S: usize, const P: usize> =
    Conv<CI, CO, K, S, P, Affine<CO>, Relu>;

/// The trunk: 32 × 32 × 3 images to the 128 features (1 × 1 maps).
pub type Trunk = (
    (Block<3, 32, 3, 1, 1>, Block<32, 32, 4, 2, 1>),
    (Block<32, 64, 3, 1, 1>, Block<64, 64, 4, 2, 1>),
    (Block<64, 128, 3, 1, 1>, Block<128, 128, 4, 2, 1>),
    Block<128, FEATURES, 4, 1, 0>,
);

/// The network: trunk to the 128 features, head to the logits.
pub type CifarCnn = ConvNet<
    INPUT,
    3,
    FEATURES,
    CLASSES,
    CLASSES,
    Trunk,
    (Conv<FEATURES, CLASSES, 1, 1, 0, Bias<CLASSES>, Identity>,),
>;

/// The FID network's features as a differentiable map, for ρ on feature vectors (spec
/// conv-gans-edgan.md, "EDGAN": "keep the choice switchable (e.g. on feature vectors instead of
/// pixels)"): an image's 128 features with the population statistics, each standardised by
/// constants of a reference set, (f − mean) / (3·std), so that the reference's features lie
/// mostly in [−1, 1], the range of ρ's default histogram (values outside keep a finite
/// membership). A feature with zero std maps to 0; a std below 1 % of the live features'
/// median std is raised to it (a nearly constant feature is not amplified without bound).
#[derive(Clone, Debug)]
pub struct FeatureMap {
    net: CifarCnn,
    stats: Vec<ColumnStats>,
    eps: f32,
    /// Per feature: the reference's mean and 1 / (3·std) (0 where std = 0).
    mean: Vec<f32>,
    inv_scale: Vec<f32>,
}

impl FeatureMap {
    /// The map of `net` (with population statistics) standardised on the features of the
    /// `reference` images (n · 3072 values in [−1, 1], n ≥ 2).
    ///
    /// Panics if `net` has no population statistics or `reference` has fewer than 2 images.
    pub fn new(net: &FeatureNet, reference: &[f32]) -> Self {
        Self::from_features(net, &net.features(reference))
    }

    /// [`FeatureMap::new`] from the reference's features `f` (n · 128 values, n ≥ 2), already
    /// computed by `net` (a run's FID real set, so that it is computed once).
    ///
    /// Panics if `net` has no population statistics, or `f` is not whole rows or has fewer
    /// than 2.
    pub fn from_features(net: &FeatureNet, f: &[f32]) -> Self {
        assert!(
            !net.stats.is_empty(),
            "population statistics are computed after training"
        );
        assert_eq!(f.len() % FEATURES, 0, "whole rows of {FEATURES} features");
        assert!(f.len() / FEATURES >= 2, "a reference of at least 2 images");
        let ColumnStats { mean, var } = ladder::bn::column_stats(f, FEATURES);
        let sd: Vec<f64> = var.iter().map(|v| (*v as f64).sqrt()).collect();
        // A nearly constant feature would be amplified without bound: its std is floored at
        // 1 % of the median std of the live features.
        let mut live: Vec<f64> = sd.iter().copied().filter(|s| *s > 0.0).collect();
        live.sort_by(f64::total_cmp);
        let floor = live.get(live.len() / 2).map_or(0.0, |s| 0.01 * s);
        let inv = sd
            .iter()
            .map(|&s| {
                if s > 0.0 {
                    (1.0 / (3.0 * s.max(floor))) as f32
                } else {
                    0.0
                }
            })
            .collect();
        Self {
            net: net.model.net.clone(),
            stats: net.stats.clone(),
            eps: net.model.eps,
            mean,
            inv_scale: inv,
        }
    }

    /// The standardised features (n, 128) of the images `x` (n, 3072), on `x`'s tape.
    pub fn apply<T: Tape<f32, Cpu>>(&self, x: Rows<INPUT, T>) -> Matrix<T>
    where
        Trunk: Stage<Maps<3, T>, Out = Maps<FEATURES, T>>,
    {
        let n = x.shape().0;
        let next = Cell::new(0);
        let pass = Pass {
            segments: &[n],
            eps: self.eps,
            bn: BnMode::Population(&self.stats, &next),
        };
        // The trunk itself, not `ConvNet::run`, whose code is an empty-tape copy: the tape
        // must stay with the features.
        let maps = Maps {
            x: x.reshape_like(&(n * INPUT / 3, Const::<3>)),
            side: 32,
        };
        let f = self
            .net
            .trunk
            .run(maps, &pass)
            .x
            .reshape_like(&(n * FEATURES,));
        let dev = f.device().clone();
        let rep = |v: &[f32]| -> Tensor<(usize,), f32, Cpu> {
            dev.tensor_from_vec(v.repeat(n), (n * FEATURES,))
        };
        ((f - rep(&self.mean)) * rep(&self.inv_scale)).reshape_like(&(n, FEATURES))
    }
}

/// Images per chunk of an inference pass.
const CHUNK: usize = 500;

/// The network, its optimiser and (once computed) its population statistics.
pub struct FeatureNet {
    pub model: Trainable<CifarCnn>,
    /// One entry per batch-norm layer, in the order of the pass; empty until
    /// [`FeatureNet::fit_population_stats`].
    pub stats: Vec<ColumnStats>,
}

impl FeatureNet {
    /// A fresh network: weights N(0, 0.05²) from `rng`, Adam (β 0.9, 0.999) at `lr`.
    pub fn new(dev: &Cpu, lr: f32, rng: &mut StdRng) -> Self {
        let mut net = CifarCnn::build(dev);
        net.layers().expect("compiled shapes fit");
        init_weights(&mut net, 0.05, rng);
        let train = TrainSettings {
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            ..Default::default()
        };
        Self {
            model: Trainable::new(net, Optim::Adam, lr, &train),
            stats: Vec::new(),
        }
    }

    /// Sets Adam's learning rate (for a schedule).
    pub fn set_lr(&mut self, lr: f32) {
        self.model.set_lr(lr);
    }

    /// One Adam step of mean cross-entropy on `x` (n · 3072 values in [−1, 1]) and labels `y`;
    /// returns (loss, batch accuracy). Batch statistics; invalidates the population statistics.
    pub fn train_step(&mut self, x: &[f32], y: &[u8]) -> (f32, f32) {
        let n = y.len();
        assert_eq!(x.len(), n * INPUT, "one label per image");
        self.stats.clear();
        let dev = self.model.net.trunk.3.weight.device().clone();
        let x: Rows<INPUT> = dev.tensor_from_vec(x.to_vec(), (n, Const));
        let mut onehot = vec![0f32; n * CLASSES];
        for (i, &c) in y.iter().enumerate() {
            onehot[i * CLASSES + c as usize] = 1.0;
        }
        let target: Rows<CLASSES> = dev.tensor_from_vec(onehot, (n, Const));
        let pass = Pass {
            segments: &[n],
            eps: self.model.eps,
            bn: BnMode::Batch,
        };
        let (logits, _) = self
            .model
            .net
            .run::<Traced>(x.trace(self.model.net.alloc_grads()), &pass);
        let correct = argmax_rows(&logits.as_vec())
            .iter()
            .zip(y)
            .filter(|(p, t)| **p == **t as usize)
            .count();
        let loss = cross_entropy_with_logits_loss(logits, target);
        let value = loss.array();
        let mut grads = loss.backward();
        self.model.step(&mut grads);
        (value, correct as f32 / n as f32)
    }

    /// Population statistics of every batch-norm layer from `x` (whole training images), in
    /// chunks of 500 images, each weighted by its rows: per layer the weighted mean of the chunk
    /// means, and the weighted mean of the chunk variances plus the weighted variance of the
    /// chunk means (at the first layer exactly the statistics of the union).
    pub fn fit_population_stats(&mut self, x: &[f32]) {
        let dev = self.model.net.trunk.3.weight.device().clone();
        let chunks: Vec<(usize, Vec<ColumnStats>)> = x
            .chunks(CHUNK * INPUT)
            .map(|c| {
                let n = c.len() / INPUT;
                let xt: Rows<INPUT> = dev.tensor_from_vec(c.to_vec(), (n, Const));
                (n, self.model.batch_stats(xt))
            })
            .collect();
        self.stats = pool_stats(&chunks);
    }

    /// (features, logits) of images `x` with the population statistics, in chunks.
    ///
    /// Panics if [`FeatureNet::fit_population_stats`] has not been run since the last step.
    pub fn infer(&self, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
        assert!(
            !self.stats.is_empty(),
            "population statistics are computed after training"
        );
        let dev = self.model.net.trunk.3.weight.device().clone();
        let (mut feats, mut logits) = (Vec::new(), Vec::new());
        for c in x.chunks(CHUNK * INPUT) {
            let n = c.len() / INPUT;
            let next = Cell::new(0);
            let pass = Pass {
                segments: &[n],
                eps: self.model.eps,
                bn: BnMode::Population(&self.stats, &next),
            };
            let xt: Rows<INPUT> = dev.tensor_from_vec(c.to_vec(), (n, Const));
            let (l, f) = self.model.net.run::<NoneTape>(xt, &pass);
            feats.extend(f.as_vec());
            logits.extend(l.as_vec());
        }
        (feats, logits)
    }

    /// The 128 features of each image of `x` (n · 3072 values in [−1, 1]).
    pub fn features(&self, x: &[f32]) -> Vec<f32> {
        self.infer(x).0
    }

    /// Fraction of `x` classified as `y`.
    pub fn accuracy(&self, x: &[f32], y: &[u8]) -> f64 {
        let (_, logits) = self.infer(x);
        let p = argmax_rows(&logits);
        p.iter().zip(y).filter(|(p, t)| **p == **t as usize).count() as f64 / y.len() as f64
    }
}

fn argmax_rows(logits: &[f32]) -> Vec<usize> {
    logits
        .chunks_exact(CLASSES)
        .map(|r| {
            (0..CLASSES)
                .max_by(|a, b| r[*a].total_cmp(&r[*b]))
                .expect("10 classes")
        })
        .collect()
}

/// Standard CIFAR-10 augmentation of 32 × 32 × 3 images in place: a random translation by up
/// to 4 pixels (a crop of the image padded with 4 pixels of −1, black) and a horizontal flip
/// with probability ½.
pub fn augment(x: &mut [f32], rng: &mut StdRng) {
    const S: usize = 32;
    let mut out = vec![-1f32; S * S * 3];
    for img in x.chunks_exact_mut(S * S * 3) {
        let dy = rng.gen_range(-4i32..=4);
        let dx = rng.gen_range(-4i32..=4);
        let flip = rng.gen_bool(0.5);
        out.iter_mut().for_each(|v| *v = -1.0);
        for y in 0..S as i32 {
            let sy = y + dy;
            if !(0..S as i32).contains(&sy) {
                continue;
            }
            for xx in 0..S as i32 {
                let sx0 = xx + dx;
                if !(0..S as i32).contains(&sx0) {
                    continue;
                }
                let sx = if flip { S as i32 - 1 - sx0 } else { sx0 };
                let src = (sy as usize * S + sx as usize) * 3;
                let dst = (y as usize * S + xx as usize) * 3;
                out[dst..dst + 3].copy_from_slice(&img[src..src + 3]);
            }
        }
        img.copy_from_slice(&out);
    }
}
