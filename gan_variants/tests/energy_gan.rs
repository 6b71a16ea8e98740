//! The energy GAN on the shared harness (gan_variants::variants::energy): the D step's loss,
//! penalty included, and the G step's loss, MI term included, have the parameter gradients of
//! finite differences (so the penalty's forward-op gradient and the encoder share the tapes
//! correctly); the harness refuses a D that cannot write its input gradient and a missing or
//! unwanted encoder; a few steps train without leaving finite values.

use dfdx::prelude::*;
use gan_variants::config::{Optim, TrainSettings};
use gan_variants::harness::{
    generate, generator_loss, DiscOut, GanTrainer, Harness, Losses, TrainerState,
};
use gan_variants::nets::energy::{energy_mlp, EnergyMlp};
use gan_variants::nets::{trainable, Affine, Mlp, Net, NoNorm, Trainable};
use gan_variants::shapes::{Rows, LATENT, PIXELS};
use gan_variants::variants::energy::EnergyGan;
use rand::{rngs::StdRng, Rng, SeedableRng};

type G = Trainable<Mlp<LATENT, 6, PIXELS, 1, Affine<6>>>;
type U = Trainable<EnergyMlp<PIXELS, 5, 1>>;
type E = Trainable<Mlp<PIXELS, 5, LATENT, 1, NoNorm<5>>>;

fn settings() -> TrainSettings {
    TrainSettings {
        d_init_std: 0.3,
        g_init_std: 0.3,
        ..Default::default()
    }
}

fn nets(seed: u64) -> (G, U, E) {
    let dev = Cpu::seed_from_u64(0);
    let train = settings();
    let mut rng = StdRng::seed_from_u64(seed);
    let g: G = trainable(&dev, Optim::Adam, 1e-3, 0.3, &train, &mut rng);
    let u = Trainable::new(energy_mlp(&dev, &mut rng), Optim::Adam, 1e-3, &train);
    let e: E = trainable(&dev, Optim::Adam, 1e-3, 0.3, &train, &mut rng);
    (g, u, e)
}

fn rows<const N: usize>(rng: &mut StdRng, n: usize, scale: f32) -> Rows<N> {
    let dev = Cpu::seed_from_u64(0);
    let v: Vec<f32> = (0..n * N)
        .map(|_| scale * rng.gen_range(-1.0..1.0f32))
        .collect();
    dev.tensor_from_vec(v, (n, Const))
}

/// Central differences of `loss` in the entries of `w` with the largest autodiff gradients,
/// against `analytic`; each must be far above the absolute tolerance (a zero gradient fails).
fn check_fd<S: Shape>(
    what: &str,
    w: &mut Tensor<S, f32, Cpu>,
    analytic: &[f32],
    mut loss: impl FnMut(&Tensor<S, f32, Cpu>) -> f64,
) {
    let base = w.as_vec();
    let mut order: Vec<usize> = (0..base.len()).collect();
    order.sort_by(|a, b| analytic[*b].abs().total_cmp(&analytic[*a].abs()));
    let h = 1e-3f32;
    for &i in order.iter().take(6) {
        let mut p = base.clone();
        p[i] += h;
        w.copy_from(&p);
        let lp = loss(w);
        p[i] -= 2.0 * h;
        w.copy_from(&p);
        let lm = loss(w);
        w.copy_from(&base);
        let numeric = (lp - lm) / (2.0 * h as f64);
        let a = analytic[i] as f64;
        assert!(
            (numeric - a).abs() < 0.03 * a.abs() + 1e-4,
            "{what} {i}: numeric {numeric} vs autodiff {a}"
        );
        assert!(
            numeric.abs() > 2e-3,
            "{what} {i}: {numeric} too small to test"
        );
    }
}

/// U's loss as the harness builds it (real and fake rows stacked, U's input gradient as
/// forward operations, penalty at the real rows): its gradient in U's first- and last-layer
/// weights matches finite differences with λ₁ = 10, where the penalty dominates.
#[test]
fn d_step_gradient_matches_finite_differences() {
    let (_, mut u, _) = nets(1);
    let mut rng = StdRng::seed_from_u64(2);
    let x: Rows<PIXELS> = rows(&mut rng, 6, 1.0);
    let losses = EnergyGan::default();
    let d_loss = |u: &U, traced: bool| {
        let xt = if traced {
            x.clone().trace(u.alloc_grads())
        } else {
            x.clone().leaky_trace()
        };
        let input = xt.with_empty_tape();
        let (out, code, g) = u.forward_with_input_grad(xt, &[3, 3]).unwrap();
        let d = DiscOut {
            input_grad: Some(g),
            ..DiscOut::new(out, code, input)
        };
        losses.d_loss(d, 3)
    };
    let (loss, stats) = d_loss(&u, true);
    let pen = stats.grad_penalty.unwrap();
    assert!(10.0 * pen > (stats.real.unwrap() - stats.fake.unwrap()).abs());
    let grads = loss.backward();
    let g_in = grads.get(&u.net.input.weight).as_vec();
    let g_out = grads.get(&u.net.output.weight).as_vec();
    let mut w = u.net.input.weight.clone();
    check_fd("U input weight", &mut w, &g_in, |w| {
        let mut v = u.net.clone();
        v.input.weight = w.clone();
        let t = Trainable::new(v, Optim::Adam, 1e-3, &settings());
        d_loss(&t, false).0.array() as f64
    });
    let mut w = u.net.output.weight.clone();
    check_fd("U output weight", &mut w, &g_out, |w| {
        let mut v = u.net.clone();
        v.output.weight = w.clone();
        let t = Trainable::new(v, Optim::Adam, 1e-3, &settings());
        d_loss(&t, false).0.array() as f64
    });
    u.net.input.weight.fill_with_zeros();
}

/// G's and E's loss mean U(G(z)) + λ₂ mean ‖z − E(G(z))‖²: its gradient in G's input weights
/// (through U and through E) and in E's output weights matches finite differences.
#[test]
fn g_step_gradient_matches_finite_differences() {
    let (g, u, e) = nets(3);
    let z: Rows<LATENT> = rows(&mut StdRng::seed_from_u64(4), 4, 1.5);
    let losses = EnergyGan {
        lambda_gp: 10.0,
        lambda_mi: 0.05,
    };
    let g_loss = |g: &G, e: &E, traced: bool| {
        let zt = if traced {
            z.clone().trace(g.alloc_grads())
        } else {
            z.clone().leaky_trace()
        };
        let fake = generate(g as &dyn Net<LATENT, PIXELS>, zt);
        let enc: (&dyn Net<PIXELS, LATENT>, Rows<LATENT>) = (e, z.clone());
        generator_loss(
            &u as &dyn Net<PIXELS, 1>,
            &losses,
            fake,
            None,
            Some(enc),
            None,
        )
    };
    let (loss, stats) = g_loss(&g, &e, true);
    assert!(stats.latent_error.unwrap() > 0.0);
    let grads = loss.backward();
    let gg = grads.get(&g.net.input.weight).as_vec();
    let ge = grads.get(&e.net.output.weight).as_vec();
    let with_g = |w: &Tensor<Rank2<6, LATENT>, f32, Cpu>| {
        let mut v = g.net.clone();
        v.input.weight = w.clone();
        let t = Trainable::new(v, Optim::Adam, 1e-3, &settings());
        g_loss(&t, &e, false).0.array() as f64
    };
    check_fd(
        "G input weight",
        &mut g.net.input.weight.clone(),
        &gg,
        with_g,
    );
    let with_e = |w: &Tensor<Rank2<LATENT, 5>, f32, Cpu>| {
        let mut v = e.net.clone();
        v.output.weight = w.clone();
        let t = Trainable::new(v, Optim::Adam, 1e-3, &settings());
        g_loss(&g, &t, false).0.array() as f64
    };
    check_fd(
        "E output weight",
        &mut e.net.output.weight.clone(),
        &ge,
        with_e,
    );
}

/// The harness refuses a D of the batch-norm MLP family (no input gradient), an MI variant
/// without an encoder and a variant without MI term given one; the right setup trains 20
/// steps with finite losses, the penalty and the latent error reported, and the encoder in
/// its checkpoint state.
#[test]
fn harness_checks_the_setup_and_trains() {
    let dev = Cpu::seed_from_u64(0);
    let train = TrainSettings {
        batch: 8,
        ..settings()
    };
    let boxed = |seed| -> (
        Box<dyn Net<LATENT, PIXELS>>,
        Box<dyn Net<PIXELS, 1>>,
        Box<dyn Net<PIXELS, LATENT>>,
    ) {
        let (g, u, e) = nets(seed);
        (Box::new(g), Box::new(u), Box::new(e))
    };
    let mi = EnergyGan::default();
    let no_mi = EnergyGan {
        lambda_mi: 0.0,
        ..mi
    };
    let (g, _, e) = boxed(5);
    let mut rng = StdRng::seed_from_u64(6);
    let bn_d: Trainable<Mlp<PIXELS, 5, 1, 1, Affine<5>>> =
        trainable(&dev, Optim::Adam, 1e-3, 0.3, &train, &mut rng);
    let err = Harness::with_encoder(&dev, g, Box::new(bn_d), Some(e), &train, None, mi, 1)
        .err()
        .unwrap();
    assert!(err.contains("input gradient"), "{err}");
    let (g, u, _) = boxed(5);
    let err = Harness::with_encoder(&dev, g, u, None, &train, None, mi, 1)
        .err()
        .unwrap();
    assert!(err.contains("none was given"), "{err}");
    let (g, u, e) = boxed(5);
    let err = Harness::with_encoder(&dev, g, u, Some(e), &train, None, no_mi, 1)
        .err()
        .unwrap();
    assert!(err.contains("does not train one"), "{err}");
    let (g, u, e) = boxed(5);
    let mut h = Harness::with_encoder(&dev, g, u, Some(e), &train, None, mi, 1).unwrap();
    let reals: Vec<f32> = (0..8 * PIXELS)
        .map(|i| ((i % 7) as f32 / 3.0 - 1.0).clamp(-1.0, 1.0))
        .collect();
    let before = h.state().unwrap();
    for t in 0..20 {
        let s = h.step(t, &reals);
        assert!(s.is_finite(), "step {t}: {s:?}");
        assert!(s.d.grad_penalty.is_some() && s.g.latent_error.is_some());
        if t == 0 {
            check_moved(&before, &h.state().unwrap());
        }
    }
    let state = h.state().unwrap();
    check_moved(&before, &state);
    h.set_state(&state).unwrap();
    let mut no_e = state.clone();
    no_e.e = None;
    assert!(h.set_state(&no_e).is_err());
}

/// Every network trained, in the first step already: each parameter tensor of G, U and E
/// moved. A gradient missing from a step's gradient set is silently zero to the optimiser;
/// an E branch traced on a leaky tape lost E's gradients in exactly the first step (the
/// optimiser's zeroing then registers E's parameters as leaves), which this catches.
fn check_moved(before: &TrainerState, after: &TrainerState) {
    for (name, a, b) in [
        ("G", &before.g, &after.g),
        ("U", &before.d, &after.d),
        ("E", before.e.as_ref().unwrap(), after.e.as_ref().unwrap()),
    ] {
        for (i, (p, q)) in a.params.iter().zip(&b.params).enumerate() {
            // U's output bias cancels in mean U(real) − mean U(fake) and is absent from the
            // penalty: its gradient is exactly zero, so it must stay.
            let cancels = name == "U" && i + 1 == a.params.len();
            assert_eq!(
                p == q,
                cancels,
                "{name} parameter tensor {i}: moved = {}",
                p != q
            );
        }
    }
}

/// `variants::build` makes the energy GAN from a grid-style configuration: with λ₂ > 0 a
/// trainer with an encoder in its state, with λ₂ = 0 one without; both train 3 steps with
/// finite losses, and only the first reports a latent error.
#[test]
fn build_makes_the_energy_gan_with_and_without_encoder() {
    use gan_variants::{Arch, GanConfig};
    let dev = Cpu::seed_from_u64(0);
    for mi in [1.0, 0.0] {
        let cfg = GanConfig {
            arch: Arch::energy(mi),
            train: TrainSettings {
                batch: 4,
                ..settings()
            },
        };
        let mut t = gan_variants::variants::build(&dev, &cfg, 7).unwrap();
        let reals = vec![0.1f32; 4 * PIXELS];
        for step in 0..3 {
            let s = t.step(step, &reals);
            assert!(s.is_finite(), "λ₂ = {mi}, step {step}: {s:?}");
            assert_eq!(s.g.latent_error.is_some(), mi > 0.0);
            assert!(s.d.grad_penalty.is_some());
        }
        assert_eq!(t.state().unwrap().e.is_some(), mi > 0.0);
    }
}

/// A trained energy GAN is a latent model (issue 18, "Sampling in latent space"); other variants
/// are not. Its energy with the prior is the one without plus ½‖z‖² per row, and its decoded
/// images are in [−1, 1] and do not depend on the other rows (G with population statistics).
/// Control: an EBGAN has no latent model.
#[test]
fn the_energy_gan_is_a_latent_model_and_ebgan_is_not() {
    use gan_variants::{Arch, GanConfig};
    let dev = Cpu::seed_from_u64(0);
    let cfg = GanConfig {
        arch: Arch::energy(1.0),
        train: TrainSettings {
            batch: 8,
            ..settings()
        },
    };
    let mut t = gan_variants::variants::build(&dev, &cfg, 7).unwrap();
    let reals: Vec<f32> = (0..8 * PIXELS)
        .map(|i| ((i % 5) as f32 / 2.0 - 1.0).clamp(-1.0, 1.0))
        .collect();
    for step in 0..3 {
        t.step(step, &reals);
    }
    let with = t
        .latent_model(true)
        .expect("an energy GAN has a latent model");
    let without = t.latent_model(false).unwrap();
    let mut rng = StdRng::seed_from_u64(2);
    let z: Vec<f32> = (0..4 * LATENT)
        .map(|_| rng.gen_range(-2.0..2.0f32))
        .collect();
    let (a, _) = with.energy_and_grad(&z);
    let (b, _) = without.energy_and_grad(&z);
    for (c, row) in z.chunks_exact(LATENT).enumerate() {
        let half_sq = 0.5 * row.iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
        assert!(half_sq > 10.0, "a prior term large enough to see");
        assert!(
            (a[c] - b[c] - half_sq).abs() < 1e-6 * a[c].abs().max(1.0),
            "row {c}: {} vs {half_sq}",
            a[c] - b[c]
        );
    }
    let x = with.decode(&z);
    assert_eq!(x.len(), 4 * PIXELS);
    assert!(x.iter().all(|v| (-1.0..=1.0).contains(v)));
    let alone = with.decode(&z[2 * LATENT..3 * LATENT]);
    let gap = alone
        .iter()
        .zip(&x[2 * PIXELS..3 * PIXELS])
        .fold(0f32, |m, (p, q)| m.max((p - q).abs()));
    assert!(gap < 1e-5, "row 2 alone differs by {gap}");
    let ebgan = GanConfig {
        arch: Arch::from_id("ebgan_g3x400_d3x128_drop_adam-adam_lr0.001_m10").unwrap(),
        train: cfg.train.clone(),
    };
    let e = gan_variants::variants::build(&dev, &ebgan, 7).unwrap();
    assert!(e.latent_model(true).is_none());
}
