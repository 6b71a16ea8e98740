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
use crate::nets::conv::{init_weights, Conv, ConvNet, Identity, Pass, Relu};
use crate::nets::{pool_stats, Affine, Bias, BnMode, Net, Trainable};
use crate::shapes::{Rows, Traced};
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

/// The network: trunk to the 128 features, head to the logits.
pub type CifarCnn = ConvNet<
    INPUT,
    3,
    FEATURES,
    CLASSES,
    CLASSES,
    (
        (Block<3, 32, 3, 1, 1>, Block<32, 32, 4, 2, 1>),
        (Block<32, 64, 3, 1, 1>, Block<64, 64, 4, 2, 1>),
        (Block<64, 128, 3, 1, 1>, Block<128, 128, 4, 2, 1>),
        Block<128, FEATURES, 4, 1, 0>,
    ),
    (Conv<FEATURES, CLASSES, 1, 1, 0, Bias<CLASSES>, Identity>,),
>;

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
