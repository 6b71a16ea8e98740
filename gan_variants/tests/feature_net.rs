//! The FID feature network (gan_variants::metrics::feature_net): population statistics make an
//! image's features independent of its batch; training learns a learnable task; augmentation
//! is a translation by at most 4 pixels and an optional flip.

use dfdx::prelude::*;
use gan_variants::metrics::feature_net::{augment, FeatureNet, FEATURES, INPUT};
use rand::{rngs::StdRng, Rng, SeedableRng};

/// Images of a constant level per class (class k: k/5 − 0.9 plus noise of ±0.05).
fn level_images(rng: &mut StdRng, n: usize) -> (Vec<f32>, Vec<u8>) {
    let y: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let x = y
        .iter()
        .flat_map(|&c| {
            (0..INPUT)
                .map(|_| c as f32 / 5.0 - 0.9 + rng.gen_range(-0.05..0.05))
                .collect::<Vec<_>>()
        })
        .collect();
    (x, y)
}

/// After 25 Adam steps on 40 images whose class is their brightness, the network classifies
/// all of them (with population statistics); before training it is at chance (control: the
/// same measurement can fail). With population statistics an image's features are the same
/// alone and inside a batch of other images.
#[test]
fn learns_and_scores_independently_of_the_batch() {
    let dev = Cpu::seed_from_u64(0);
    let mut rng = StdRng::seed_from_u64(1);
    let mut net = FeatureNet::new(&dev, 1e-3, &mut rng);
    let (x, y) = level_images(&mut rng, 40);
    net.fit_population_stats(&x);
    let before = net.accuracy(&x, &y);
    assert!(before <= 0.3, "untrained accuracy {before}");
    for _ in 0..25 {
        net.train_step(&x, &y);
    }
    net.fit_population_stats(&x);
    let after = net.accuracy(&x, &y);
    assert_eq!(after, 1.0, "trained accuracy {after} (before {before})");
    let all = net.features(&x);
    assert_eq!(all.len(), 40 * FEATURES);
    let one = net.features(&x[3 * INPUT..4 * INPUT]);
    let diff = one
        .iter()
        .zip(&all[3 * FEATURES..4 * FEATURES])
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(diff < 1e-4, "features depend on the batch: {diff}");
}

/// Each augmented image is one of the 9 × 9 × 2 translations / flips of its original (pixels
/// moved in from outside are −1); an image of scrambled pixels matches none (control).
#[test]
fn augmentation_is_a_translation_and_a_flip() {
    let mut rng = StdRng::seed_from_u64(2);
    let orig: Vec<f32> = (0..3 * INPUT).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let mut aug = orig.clone();
    augment(&mut aug, &mut StdRng::seed_from_u64(3));
    let moved = |img: &[f32], dy: i32, dx: i32, flip: bool| -> Vec<f32> {
        let mut out = vec![-1f32; INPUT];
        for y in 0..32i32 {
            for x in 0..32i32 {
                let (sy, sx0) = (y + dy, x + dx);
                if (0..32).contains(&sy) && (0..32).contains(&sx0) {
                    let sx = if flip { 31 - sx0 } else { sx0 };
                    for c in 0..3 {
                        out[((y * 32 + x) * 3 + c) as usize] =
                            img[((sy * 32 + sx) * 3 + c) as usize];
                    }
                }
            }
        }
        out
    };
    let matches = |o: &[f32], a: &[f32]| {
        (-4..=4)
            .any(|dy| (-4..=4).any(|dx| [false, true].iter().any(|&f| moved(o, dy, dx, f) == a)))
    };
    let mut kinds = std::collections::HashSet::new();
    for (o, a) in orig.chunks_exact(INPUT).zip(aug.chunks_exact(INPUT)) {
        assert!(matches(o, a), "not a translation/flip of its original");
        kinds.insert(a.iter().filter(|v| **v == -1.0).count());
    }
    assert!(kinds.len() > 1, "all three images moved the same way");
    let mut scrambled = aug[..INPUT].to_vec();
    scrambled.swap(100, 2000);
    scrambled.swap(5, 3000);
    assert!(!matches(&orig[..INPUT], &scrambled));
}

/// Population statistics from chunks of 500 images equal those of the whole set at the first
/// batch-norm layer (whose inputs do not depend on the chunking) when the last chunk is short
/// (620 = 500 + 120 images, the last 120 brighter): each chunk weighs by its rows. Control:
/// the statistics of the first 500 images alone (what dropping the short chunk gave) are far
/// from the whole set's.
#[test]
fn population_stats_weigh_a_short_last_chunk_by_its_rows() {
    use gan_variants::nets::{conv::Pass, BnMode};
    use ladder::bn::ColumnStats;
    use std::cell::RefCell;
    let dev = Cpu::seed_from_u64(4);
    let mut rng = StdRng::seed_from_u64(5);
    let mut net = FeatureNet::new(&dev, 1e-3, &mut rng);
    let x: Vec<f32> = (0..620 * INPUT)
        .map(|i| rng.gen_range(-0.5..0.5f32) + if i >= 500 * INPUT { 0.4 } else { 0.0 })
        .collect();
    let collect = |x: &[f32]| -> ColumnStats {
        let n = x.len() / INPUT;
        let out = RefCell::new(Vec::new());
        let pass = Pass {
            segments: &[n],
            eps: net.model.eps,
            bn: BnMode::Collect(&out),
        };
        let xt: Tensor<(usize, Const<INPUT>), f32, Cpu> =
            dev.tensor_from_vec(x.to_vec(), (n, Const));
        drop(net.model.net.run::<NoneTape>(xt, &pass));
        out.into_inner().swap_remove(0)
    };
    let union = collect(&x);
    let first = collect(&x[..500 * INPUT]);
    net.fit_population_stats(&x);
    let gap = |a: &ColumnStats, b: &ColumnStats| {
        a.mean
            .iter()
            .zip(&b.mean)
            .chain(a.var.iter().zip(&b.var))
            .fold(0f32, |m, (p, q)| m.max((p - q).abs() / q.abs().max(1e-3)))
    };
    let fitted = gap(&net.stats[0], &union);
    let dropped = gap(&first, &union);
    assert!(fitted < 1e-4, "chunked vs whole: relative gap {fitted}");
    assert!(
        dropped > 1e-2,
        "control: first chunk only vs whole {dropped}"
    );
}
