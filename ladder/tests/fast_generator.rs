//! The generator's hand-written pass ([`GeneratorPass`]) against the dfdx module
//! ([`Generator`], autodiff): G(z), every parameter gradient of a loss Σ G(z) ⊙ U for a random
//! upstream gradient U, and the batch-norm running statistics; the flat copy round trip; the
//! flat Adam against [`OwnedAdam`] on the generator (same parameters and the same checkpoint
//! state); and the same numbers at one and two threads.

mod common;

use common::{gradient_values, set_gradients};
use dfdx::prelude::*;
use ladder::config::AdamSettings;
use ladder::fast::flatten;
use ladder::generator::{FlatGenerator, Generator, GeneratorArch, GeneratorPass};
use ladder::optim::{FlatAdam, OwnedAdam};
use ladder::shapes::{LATENT, PIXELS};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rand_distr::Normal;

/// An odd batch, so that no blocking lines up by luck.
const ROWS: usize = 37;

/// A generator whose BN scales, shifts and linear biases are away from their initial values
/// (1, 0, and dfdx's small uniform), so that every parameter's path carries signal.
fn randomised(seed: u64) -> Generator {
    let dev = Cpu::seed_from_u64(seed);
    let mut g = dev.build_module::<GeneratorArch, f32>();
    let d = Normal::new(0.0f32, 0.3).unwrap();
    let s = Normal::new(1.0f32, 0.3).unwrap();
    macro_rules! block {
        ($($k:tt),*) => {$(
            g.$k.0.bias.fill_with_distr(d);
            g.$k.1.scale.fill_with_distr(s);
            g.$k.1.bias.fill_with_distr(d);
        )*};
    }
    block!(0, 1, 2, 3);
    g.4 .0.bias.fill_with_distr(d);
    g
}

fn values(seed: u64, n: usize) -> Vec<f32> {
    let mut r = StdRng::seed_from_u64(seed);
    (0..n).map(|_| r.gen_range(-1.0f32..1.0)).collect()
}

/// Largest difference relative to the reference's largest magnitude.
fn rel_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = a.iter().zip(b).fold(0f32, |m, (p, q)| m.max((p - q).abs()));
    diff / (scale + 1e-30)
}

/// The reference: dfdx's training-mode forward and autodiff of Σ G(z) ⊙ U. Returns G(z)
/// (rows × PIXELS), the trainable gradients in visiting order, and the model afterwards (its
/// running statistics moved).
fn reference(g: &Generator, z: &[f32], u: &[f32]) -> (Vec<f32>, Vec<Vec<f32>>, Generator) {
    let dev = Cpu::default();
    let mut g = g.clone();
    let rows = z.len() / LATENT;
    let zt = dev.tensor_from_vec(z.to_vec(), (rows, Const::<LATENT>));
    let ut = dev.tensor_from_vec(u.to_vec(), (rows, Const::<PIXELS>));
    let x = g.forward_mut(zt.trace(g.alloc_grads()));
    let xv = x.as_vec();
    let mut grads = (x * ut).sum().backward();
    let gv = gradient_values(&g, &mut grads);
    (xv, gv, g)
}

/// The hand-written pass on the same inputs: G(z), the flat gradient split per tensor, and the
/// flat generator afterwards.
fn fast(g: &Generator, z: &[f32], u: &[f32]) -> (Vec<f32>, Vec<Vec<f32>>, FlatGenerator) {
    let mut flat = FlatGenerator::from_model(g);
    let mut pass = GeneratorPass::new();
    pass.forward(&mut flat, z);
    pass.backward(&flat, u);
    let split = flat
        .layout
        .tensors
        .iter()
        .map(|r| pass.grad[r.clone()].to_vec())
        .collect();
    (pass.x.clone(), split, flat)
}

/// Float rounding between two summation orders (gemm 0.19 against dfdx's gemm 0.15, f64
/// against f32 batch statistics). Measured largest relative difference over the 14 tensors
/// with a real gradient: 1.6e-6 (AMD EPYC, AVX-512); the bound is the ladder's
/// (`fast_pass.rs`, where another processor's blocking reached 1.7e-4), and the control
/// (another upstream gradient) differs by ≥ 1.2 on every tensor, 1200× the bound.
const TOLERANCE: f32 = 1e-3;

/// The linear biases of the hidden layers feed batch norm, which subtracts them again: their
/// exact gradient is 0 and both implementations return rounding noise. It must stay noise,
/// below this fraction of the same layer's largest weight gradient (measured ≤ 3.6e-7 for
/// either implementation; a gradient that forgot the mean's path would be of the weights'
/// order, 1).
const BIAS_NOISE: f32 = 1e-4;

#[test]
fn pass_matches_dfdx_autodiff() {
    let g = randomised(11);
    let z = values(1, ROWS * LATENT);
    let u = values(2, ROWS * PIXELS);
    let (x_ref, g_ref, model_after) = reference(&g, &z, &u);
    let (x, g_fast, flat_after) = fast(&g, &z, &u);
    let dx = rel_diff(&x, &x_ref);
    eprintln!("G(z): {dx:.2e}");
    assert!(dx < 1e-5, "G(z) differs by {dx}");
    assert_eq!(g_ref.len(), 18);
    let mut worst = 0f32;
    for (i, (a, b)) in g_fast.iter().zip(&g_ref).enumerate() {
        // Tensor order per hidden block: W, b, scale, shift; then the output W, b.
        let hidden_bias = i < 16 && i % 4 == 1;
        if hidden_bias {
            let wscale = g_ref[i - 1].iter().fold(0f32, |m, v| m.max(v.abs()));
            let noise = |v: &[f32]| v.iter().fold(0f32, |m, x| m.max(x.abs())) / wscale;
            eprintln!(
                "tensor {i} (hidden bias): noise {:.2e} (fast), {:.2e} (dfdx)",
                noise(a),
                noise(b)
            );
            assert!(noise(a) < BIAS_NOISE, "tensor {i}: {}", noise(a));
            assert!(noise(b) < BIAS_NOISE, "tensor {i} (dfdx): {}", noise(b));
            continue;
        }
        let d = rel_diff(a, b);
        eprintln!("tensor {i}: {d:.2e}");
        worst = worst.max(d);
        assert!(d < TOLERANCE, "tensor {i} differs by {d}");
    }
    eprintln!("largest relative difference {worst:.2e} (tolerance {TOLERANCE:.0e})");
    // Running statistics, as dfdx moves them.
    let flat_ref = FlatGenerator::from_model(&model_after);
    for l in 0..4 {
        let dm = rel_diff(&flat_after.running_mean[l], &flat_ref.running_mean[l]);
        let dv = rel_diff(&flat_after.running_var[l], &flat_ref.running_var[l]);
        eprintln!("layer {l} running mean {dm:.2e}, var {dv:.2e}");
        assert!(
            dm < 1e-5 && dv < 1e-5,
            "layer {l}: running stats {dm}, {dv}"
        );
        assert!(
            flat_after.running_mean[l].iter().all(|&m| m != 0.0),
            "layer {l}: running mean did not move from its initial 0"
        );
    }
    // Control: the same comparison against another upstream gradient fails on every tensor
    // with a real gradient, by far more than the tolerance.
    let (_, g_other, _) = fast(&g, &z, &values(3, ROWS * PIXELS));
    for (i, (a, b)) in g_other.iter().zip(&g_ref).enumerate() {
        if i < 16 && i % 4 == 1 {
            continue;
        }
        let d = rel_diff(a, b);
        eprintln!("control tensor {i}: {d:.2e}");
        assert!(d > 100.0 * TOLERANCE, "control tensor {i}: only {d}");
    }
}

#[test]
fn flat_copy_round_trips_parameters_and_running_statistics() {
    let g = randomised(5);
    let mut flat = FlatGenerator::from_model(&g);
    assert_eq!(flat.values, flatten(&g));
    assert_eq!(flat.bn_eps, 1e-5);
    assert_eq!(flat.bn_momentum, 0.1);
    let mut pass = GeneratorPass::new();
    pass.forward(&mut flat, &values(7, ROWS * LATENT));
    let mut other = randomised(6);
    flat.store(&mut other);
    assert_eq!(FlatGenerator::from_model(&other), flat);
}

/// The flat Adam on the generator's flat vector gives the parameters of [`OwnedAdam`] on the
/// dfdx module bit for bit, and the same checkpoint state (so old checkpoints load).
#[test]
fn flat_adam_matches_owned_adam_on_the_generator() {
    let g = randomised(8);
    let settings = AdamSettings {
        lr: 1e-3,
        beta1: 0.5,
        beta2: 0.999,
        eps: 1e-8,
    };
    let mut model = g.clone();
    let mut owned = OwnedAdam::new(&settings);
    let mut flat = FlatGenerator::from_model(&g);
    let mut adam = FlatAdam::new(settings, flat.values.len());
    for step in 0..3u64 {
        let grad = values(20 + step, flat.values.len());
        let mut grads = model.alloc_grads();
        set_gradients(&model, &mut grads, &grad);
        owned.update(&mut model, &mut grads);
        adam.update(settings.lr, &mut flat.values, &grad);
        assert_eq!(flat.values, flatten(&model), "step {step}");
    }
    assert_eq!(adam.state(&flat.layout.tensors), owned.state(&mut model));
}

/// Same numbers at one and at two threads: no reduction crosses a parallel task.
#[test]
fn pass_is_the_same_at_any_thread_count() {
    let g = randomised(9);
    let z = values(1, ROWS * LATENT);
    let u = values(2, ROWS * PIXELS);
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                let (x, grads, flat) = fast(&g, &z, &u);
                (x, grads, flat.running_mean, flat.running_var)
            })
    };
    assert!(run(1) == run(2), "one and two threads differ");
}
