//! Whole-ladder checks: the energy's normalisation against a hand-computed case, and the
//! gradient of the full cost (encoder, decoder, combinators, BN groups) against central
//! differences, which catches a graph cut by a dropped tape.

mod common;

use common::gradient_values;
use dfdx::prelude::*;
use ladder::model::{Kernels, Pass, RowGroups};
use ladder::rng::{LayerNoise, Purpose};
use ladder::shapes::*;
use ladder::{CombinatorKind, Ladder, LadderConfig};
use rand_distr::Normal;

fn rows<const N: usize>(dev: &Cpu, v: Vec<f32>) -> Rows<N> {
    let n = v.len() / N;
    dev.tensor_from_vec(v, (n, Const::<N>))
}

/// At initialisation the gauss combinator gives ẑ ≡ 0, so E(x) = (λ₀/784)·Σᵢ xᵢ².
/// Rows of constant c: E = λ₀·c² (c = 0.5 → 250, c = 0.2 → 40), whatever the noise.
#[test]
fn energy_is_lambda_over_width_times_squared_error() {
    let dev = Cpu::seed_from_u64(1);
    let ladder = Ladder::new(&dev, CombinatorKind::Gauss);
    let cfg = LadderConfig::default();
    let mut x = vec![0.5f32; 3 * PIXELS];
    x.extend(vec![0.2f32; 2 * PIXELS]);
    let groups = RowGroups {
        labeled: 0,
        decoded: vec![3, 2],
    };
    let x = rows::<PIXELS>(&dev, x);
    let out = ladder.corrupted(
        &cfg,
        x.clone(),
        x,
        None,
        &groups,
        &LayerNoise::draw(1, Purpose::NoiseD, 0, 5, cfg.noise_std),
        Pass::TRAIN_D,
    );
    let e = out.energy.as_vec();
    for (got, want) in e.iter().zip([250.0, 250.0, 250.0, 40.0, 40.0]) {
        assert!((got - want).abs() < 1e-3, "{got} vs {want}");
    }
}

fn randomise(ladder: &mut Ladder) {
    let d = Normal::new(0.0f32, 0.5).unwrap();
    macro_rules! comb {
        ($($g:ident),*) => {$( for a in ladder.$g.a.iter_mut() { a.fill_with_distr(d); } )*};
    }
    comb!(g0, g1, g2, g3, g4, g5, g6);
    ladder.e1.beta.fill_with_distr(d);
    ladder.e6.beta.fill_with_distr(d);
    ladder
        .gamma6
        .fill_with_distr(Normal::new(1.0f32, 0.3).unwrap());
}

/// CE + mean E over [4 labeled; 6 unlabeled] rows with noise off and λ₀ = 1; d loss / d θ for
/// one entry of many parameter tensors, autodiff against central differences. Measured relative
/// errors up to 1.0 % (tolerance 2 % plus the f32 rounding term).
#[test]
fn full_cost_gradient_matches_finite_differences() {
    for kind in [CombinatorKind::Gauss, CombinatorKind::Sig] {
        let dev = Cpu::seed_from_u64(3);
        let mut ladder = Ladder::new(&dev, kind);
        randomise(&mut ladder);
        let cfg = LadderConfig {
            noise_std: 0.0,
            lambda0: 1.0,
            combinator: kind,
            ..Default::default()
        };
        let x: Vec<f32> = dev.sample_uniform_like(&(10, Const::<PIXELS>)).as_vec();
        let y = {
            let mut v = vec![0f32; 4 * CLASSES];
            for (i, c) in [3usize, 7, 1, 3].iter().enumerate() {
                v[i * CLASSES + c] = 1.0;
            }
            rows::<CLASSES>(&dev, v)
        };
        let groups = RowGroups {
            labeled: 4,
            decoded: vec![6],
        };
        let loss_of = |l: &Ladder| -> f64 {
            let out = l.corrupted(
                &cfg,
                rows::<PIXELS>(&dev, x.clone()),
                rows::<PIXELS>(&dev, x[4 * PIXELS..].to_vec()),
                Some(&y),
                &groups,
                &LayerNoise::draw(3, Purpose::NoiseD, 0, 10, cfg.noise_std),
                Pass::TRAIN_D,
            );
            (out.ce.unwrap() + out.energy.mean()).array() as f64
        };
        let grads = {
            let g = ladder.alloc_grads();
            let out = ladder.corrupted(
                &cfg,
                rows::<PIXELS>(&dev, x.clone()).trace(g),
                rows::<PIXELS>(&dev, x[4 * PIXELS..].to_vec()).retaped(),
                Some(&y),
                &groups,
                &LayerNoise::draw(3, Purpose::NoiseD, 0, 10, cfg.noise_std),
                Pass::TRAIN_D,
            );
            (out.ce.unwrap() + out.energy.mean()).backward()
        };
        // Each tensor is checked at its first entry (in index order) whose |analytic gradient|
        // is at least 0.3 of the tensor's largest (the largest entries sit where the 4- and 6-row
        // batch norms are most curved), with a relative tolerance of 2 % plus the loss's f32
        // rounding over 2h, and the finite difference must exceed 20 times that rounding: a
        // zero or dropped gradient cannot pass. h = 2e-3, and 2e-2 for the combinators'
        // parameters, and the decoder's weights,
        // whose gradients are small at λ₀ = 1.
        macro_rules! check {
            ([$($field:tt)+]) => {
                check!([$($field)+], 2e-3f32)
            };
            ([$($field:tt)+], $h:expr) => {{
                let all = grads.get(&ladder.$($field)+).as_vec();
                let largest = all.iter().fold(0f32, |m, v| m.max(v.abs()));
                let i = (0..all.len())
                    .find(|&k| all[k].abs() >= 0.3 * largest)
                    .unwrap();
                let analytic = all[i] as f64;
                let h: f32 = $h;
                let base = ladder.$($field)+.as_vec();
                let mut plus = ladder.clone();
                let mut v = base.clone();
                v[i] += h;
                plus.$($field)+.copy_from(&v);
                let mut minus = ladder.clone();
                v[i] -= 2.0 * h;
                minus.$($field)+.copy_from(&v);
                let numeric = (loss_of(&plus) - loss_of(&minus)) / (2.0 * h as f64);
                let rel = (numeric - analytic).abs() / analytic.abs();
                eprintln!("{kind:?} {}[{i}]: numeric {numeric:.6e} analytic {analytic:.6e} rel {rel:.2e}", stringify!($($field)+));
                // The loss's f32 rounding (about 2e-7 at this loss size) over 2h.
                let abs_tol = 2e-7 / h as f64;
                assert!(
                    (numeric - analytic).abs() < 0.02 * analytic.abs().max(numeric.abs()) + abs_tol,
                    "{kind:?} {}[{i}]: numeric {numeric} vs analytic {analytic}", stringify!($($field)+)
                );
                assert!(
                    numeric.abs() > 20.0 * abs_tol,
                    "{kind:?} {}[{i}]: gradient {numeric} too small to test", stringify!($($field)+)
                );
            }};
        }
        check!([e1.w.weight]);
        check!([e1.beta]);
        check!([e3.w.weight]);
        check!([e6.w.weight]);
        check!([e6.beta]);
        check!([gamma6]);
        check!([v6.weight], 2e-2);
        check!([v3.weight], 2e-2);
        check!([v1.weight], 2e-2);
        // Of each combinator's vectors a1..a10, the one with the largest gradient (a slot the
        // kind does not use, such as "sig"'s tenth, has none), and two more at layer 0.
        let by_size = |slots: Vec<Vec<f32>>| {
            let size = |v: &Vec<f32>| v.iter().fold(0f32, |m, x| m.max(x.abs()));
            let mut k: Vec<usize> = (0..slots.len()).collect();
            k.sort_by(|&a, &b| size(&slots[b]).total_cmp(&size(&slots[a])));
            k
        };
        let k6 = by_size(
            (0..10)
                .map(|k| grads.get(&ladder.g6.a[k]).as_vec())
                .collect(),
        );
        let k3 = by_size(
            (0..10)
                .map(|k| grads.get(&ladder.g3.a[k]).as_vec())
                .collect(),
        );
        let k0 = by_size(
            (0..10)
                .map(|k| grads.get(&ladder.g0.a[k]).as_vec())
                .collect(),
        );
        check!([g6.a[k6[0]]], 2e-2);
        check!([g3.a[k3[0]]], 2e-2);
        for &k in &k0[..3] {
            check!([g0.a[k]], 2e-2);
        }
    }
}

/// The fused kernels (BN + noise + β + ReLU, "gauss", the first layer without input gradient)
/// against the op-by-op reference on one stacked batch [4 labeled; 6 unlabeled; 5 fake], noise
/// on: the loss, all 89 parameter gradients and (for the G-step pass) the input gradient agree
/// to float rounding. Measured: largest difference 3.4e-6 of the tensor's largest gradient
/// (bound 1e-4); dropping the β gradient of the fused op fails it.
#[test]
fn fused_pass_matches_the_op_by_op_reference() {
    for kind in [CombinatorKind::Gauss, CombinatorKind::Sig] {
        let dev = Cpu::seed_from_u64(5);
        let mut ladder = Ladder::new(&dev, kind);
        randomise(&mut ladder);
        let cfg = LadderConfig {
            combinator: kind,
            ..Default::default()
        };
        let x: Vec<f32> = dev.sample_uniform_like(&(15, Const::<PIXELS>)).as_vec();
        let mut y = vec![0f32; 4 * CLASSES];
        for (i, c) in [3usize, 7, 1, 9].iter().enumerate() {
            y[i * CLASSES + c] = 1.0;
        }
        let y = rows::<CLASSES>(&dev, y);
        let groups = RowGroups {
            labeled: 4,
            decoded: vec![6, 5],
        };
        let run = |pass: Pass| {
            let input = rows::<PIXELS>(&dev, x.clone());
            let traced = input.clone().trace(Gradients::leaky());
            let out = ladder.corrupted(
                &cfg,
                traced,
                rows::<PIXELS>(&dev, x[4 * PIXELS..].to_vec()).retaped(),
                Some(&y),
                &groups,
                &LayerNoise::draw(9, Purpose::NoiseD, 4, 15, cfg.noise_std),
                pass,
            );
            let loss = out.ce.unwrap() + out.energy.mean();
            let value = loss.array();
            let mut grads = loss.backward();
            let input_grad = grads.get(&input).as_vec();
            (value, gradient_values(&ladder, &mut grads), input_grad)
        };
        let reference = run(Pass {
            kernels: Kernels::Reference,
            input_grad: true,
        });
        let close = |a: &[f32], b: &[f32], what: &str| {
            let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
            let diff = a.iter().zip(b).fold(0f32, |m, (p, q)| m.max((p - q).abs()));
            assert!(
                diff <= 1e-4 * scale + 1e-7,
                "{kind:?} {what}: max difference {diff} (scale {scale})"
            );
        };
        for pass in [Pass::TRAIN_D, Pass::TRAIN_G] {
            let fused = run(pass);
            close(&[fused.0], &[reference.0], "loss");
            assert_eq!(fused.1.len(), reference.1.len());
            assert_eq!(
                fused.1.len(),
                89,
                "6 × (W, β) + γ + 6 V + 7 × 10 combinator slots"
            );
            for (i, (a, b)) in fused.1.iter().zip(&reference.1).enumerate() {
                close(a, b, &format!("{pass:?} parameter {i}"));
            }
            if pass.input_grad {
                close(&fused.2, &reference.2, "input gradient");
            }
        }
    }
}
