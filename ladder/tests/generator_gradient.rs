//! The generator's gradient through the ladder (issue: a broken GAN path must not land).
//!
//! L_G = mean_fake E(G(z)) (section 4.2) is differentiated by the trainer's own G-step code
//! ([`EbganLnTrainer::generator_loss_and_grads`]); here it is checked against central finite
//! differences of the forward loss ([`EbganLnTrainer::generator_loss`]) for the entries of
//! G's first and last weight matrices with the largest analytic gradient, with the ladder's
//! noise off (noise_std = 0) so that the loss is a deterministic function of G's weights.
//! A G(z) detached from G, a gradient dropped on the way, or one through the reconstruction
//! but not the target, all fail this test.

use dfdx::prelude::*;
use ladder::generator::GeneratorLayout;
use ladder::train::Batch;
use ladder::{EbganLnTrainer, EbganProtocol, LadderConfig};
use std::ops::Range;

const B: usize = 100;

fn trainer() -> EbganLnTrainer {
    let dev = Cpu::seed_from_u64(3);
    let cfg = LadderConfig {
        noise_std: 0.0,
        ..LadderConfig::default()
    };
    let mut t = EbganLnTrainer::new(&dev, 3, cfg, EbganProtocol::default());
    // A few steps on random data, so that neither network sits at its initialisation.
    let mut r = 12345u64;
    let mut next = || {
        r = r
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (r >> 40) as f32 / (1u64 << 24) as f32
    };
    let lx: Vec<f32> = (0..B * 784).map(|_| next()).collect();
    let ux: Vec<f32> = (0..B * 784).map(|_| next()).collect();
    let ly: Vec<u8> = (0..B).map(|i| (i % 10) as u8).collect();
    for step in 0..5 {
        t.step(
            step,
            &Batch {
                labeled_x: &lx,
                labeled_y: &ly,
                unlabeled_x: &ux,
            },
        );
    }
    t
}

/// Indices of the `k` largest |g|.
fn largest(g: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..g.len()).collect();
    idx.sort_by(|&a, &b| g[b].abs().total_cmp(&g[a].abs()));
    idx.truncate(k);
    idx
}

/// Central difference of the loss in entry `i` of the tensor that `get` selects.
fn central_difference<S: Shape>(
    t: &mut EbganLnTrainer,
    step: u64,
    get: fn(&mut EbganLnTrainer) -> &mut Tensor<S, f32, Cpu>,
    i: usize,
    h: f32,
) -> f64 {
    let base = get(t).as_vec();
    let mut at = |delta: f32| {
        let mut v = base.clone();
        v[i] += delta;
        get(t).copy_from(&v);
        t.generator_loss(step)
    };
    let (plus, minus) = (at(h), at(-h));
    get(t).copy_from(&base);
    (plus - minus) / (2.0 * h as f64)
}

/// (analytic, finite difference) for the 3 largest-gradient entries of the selected tensor,
/// whose gradient sits at `range` of the flat gradient.
fn compare<S: Shape>(
    get: fn(&mut EbganLnTrainer) -> &mut Tensor<S, f32, Cpu>,
    range: Range<usize>,
    h: f32,
) -> Vec<(f64, f64)> {
    let mut t = trainer();
    let step = 5;
    let (_, grads) = t.generator_loss_and_grads(step);
    let g = grads[range].to_vec();
    largest(&g, 3)
        .into_iter()
        .map(|i| (g[i] as f64, central_difference(&mut t, step, get, i, h)))
        .collect()
}

/// A detached or zero gradient has relative error 1 (100 %), far above every tolerance.
fn check(what: &str, pairs: &[(f64, f64)], tol: f64) {
    for &(a, fd) in pairs {
        let rel = (a - fd).abs() / fd.abs().max(1e-12);
        eprintln!("{what}: analytic {a:.6e}, finite difference {fd:.6e}, relative error {rel:.2e}");
        assert!(
            rel < tol,
            "{what}: analytic {a} vs finite difference {fd} (relative error {rel:.3}, tolerance {tol})"
        );
        // Control: the entries are far from zero, so a zero gradient could not pass.
        assert!(
            fd.abs() > 1e-3,
            "{what}: finite difference {fd} too small to test"
        );
    }
}

#[test]
fn generator_loss_gradient_matches_finite_differences_in_the_first_layer() {
    // h = 3e-3: the f32 pass's rounding limits smaller steps, and the ReLU kinks behind this
    // layer (rows whose pre-activation changes sign) larger ones. Measured relative errors:
    // 0.14 %, 0.59 %, 2.0 % (h = 1e-3: up to 4 %, h = 1e-2: up to 10 %); tolerance 5 %.
    let pairs = compare(
        |t| &mut t.generator_mut().0 .0.weight,
        GeneratorLayout::new().w[0].clone(),
        3e-3,
    );
    check("G layer 1 weight", &pairs, 0.05);
}

#[test]
fn generator_loss_gradient_matches_finite_differences_in_the_output_layer() {
    // The output layer feeds the sigmoid only (no kink): h = 1e-2. Measured relative errors
    // 0.07 %, 0.43 %, 0.09 %; tolerance 2 %.
    let pairs = compare(
        |t| &mut t.generator_mut().4 .0.weight,
        GeneratorLayout::new().w[4].clone(),
        1e-2,
    );
    check("G output weight", &pairs, 0.02);
}

/// The G step applies Adam to exactly this gradient: after one step of a fresh run, every
/// entry of G's output weight moved by −lr · g/(|g| + ε) (Adam's first update, m̂ = g and
/// v̂ = g²), where g is the gradient of the same step computed by a twin run whose generator
/// does not train (g_steps = 0; its D step, fakes and ladder are the same). A generator that
/// never trains, or trains on another gradient, fails.
#[test]
fn one_g_step_is_adam_on_the_generator_gradient() {
    let dev = || Cpu::seed_from_u64(4);
    let cfg = LadderConfig {
        noise_std: 0.0,
        ..LadderConfig::default()
    };
    let p = EbganProtocol::default();
    let mut trained = EbganLnTrainer::new(&dev(), 4, cfg.clone(), p.clone());
    let frozen_protocol = EbganProtocol {
        g_steps: 0,
        ..p.clone()
    };
    let mut frozen = EbganLnTrainer::new(&dev(), 4, cfg, frozen_protocol);
    let x: Vec<f32> = (0..B * 784)
        .map(|i| ((i * 7919) % 255) as f32 / 255.0)
        .collect();
    let y: Vec<u8> = (0..B).map(|i| (i % 10) as u8).collect();
    let batch = Batch {
        labeled_x: &x,
        labeled_y: &y,
        unlabeled_x: &x,
    };
    let before = frozen.generator().4 .0.weight.as_vec();
    trained.step(0, &batch);
    frozen.step(0, &batch);
    assert_eq!(
        frozen.generator().4 .0.weight.as_vec(),
        before,
        "g_steps = 0 must leave G as it was"
    );
    let (_, grads) = frozen.generator_loss_and_grads(0);
    let g = grads[GeneratorLayout::new().w[4].clone()].to_vec();
    let after = trained.generator().4 .0.weight.as_vec();
    let (lr, eps) = (p.adam_g.lr as f64, p.adam_g.eps as f64);
    let mut worst = 0.0f64;
    for ((&w0, &w1), &gi) in before.iter().zip(&after).zip(&g) {
        let expected = -lr * gi as f64 / ((gi as f64).abs() + eps);
        worst = worst.max((w1 as f64 - w0 as f64 - expected).abs());
    }
    eprintln!("largest deviation from Adam's first step: {worst:.3e} (lr {lr:.1e})");
    // f32 weights of magnitude ≤ 1/√800 ≈ 0.035 round the update to about 4e-9; allow 1 % of lr.
    assert!(
        worst < 0.01 * lr,
        "deviation {worst} from Adam's first step"
    );
    assert!(
        g.iter().filter(|v| **v != 0.0).count() > g.len() / 2,
        "G's gradient is mostly zero"
    );
}
