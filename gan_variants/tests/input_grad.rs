//! Input gradients as forward operations (gan_variants::ops::input_grad, nets::energy): their
//! values equal dfdx's own input gradients; the gradient penalty's parameter gradient matches
//! finite differences; the penalty is zero for an energy constant in x.

use dfdx::prelude::*;
use gan_variants::nets::energy::{squared_norms, EnergyMlp};
use gan_variants::ops::conv::{conv2d, Geometry, Mat};
use gan_variants::ops::input_grad::conv_transpose;
use gan_variants::shapes::Rows;
use rand::{rngs::StdRng, Rng, SeedableRng};

type U = EnergyMlp<6, 5, 2>;

fn energy_net(dev: &Cpu, seed: u64) -> U {
    let mut u = U::build(dev);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut fill = |t: &mut dyn FnMut(&[f32]), n: usize| {
        let v: Vec<f32> = (0..n).map(|_| rng.gen_range(-0.8..0.8)).collect();
        t(&v)
    };
    fill(&mut |v| u.input.weight.copy_from(v), 30);
    fill(&mut |v| u.input.bias.copy_from(v), 5);
    for l in u.hidden.modules.iter_mut() {
        fill(&mut |v| l.weight.copy_from(v), 25);
        fill(&mut |v| l.bias.copy_from(v), 5);
    }
    fill(&mut |v| u.output.weight.copy_from(v), 5);
    u
}

/// The forward-op gradient of U at 9 random points equals dfdx's input gradient of ΣU
/// (to rounding), and U itself equals the plain forward pass.
#[test]
fn input_gradient_equals_autodiff() {
    let dev = Cpu::seed_from_u64(0);
    let u = energy_net(&dev, 1);
    let x: Rows<6> = dev.sample_normal_like(&(9, Const));
    let (e, g) = u.energy_and_input_grad(x.clone().leaky_trace());
    let plain = u.energy(x.clone());
    assert_eq!(e.as_vec(), plain.as_vec());
    let xt = x.clone().leaky_trace();
    let grads = u.energy(xt).sum().backward();
    let auto = grads.get(&x).as_vec();
    let ours = g.as_vec();
    let worst = auto
        .iter()
        .zip(&ours)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(worst < 1e-5, "max difference {worst}");
    assert!(
        auto.iter().any(|v| v.abs() > 0.1),
        "a trivial gradient proves nothing"
    );
}

/// P(θ) = mean ‖∇ₓU(x)‖² at fixed x: its autodiff gradient in every weight matrix against
/// central differences (the 4 largest entries of each; relative tolerance 2 %, f32 with
/// h = 1e-3). Fails if the chain is cut (a weight entering without its tape) or a mask is
/// wrong.
#[test]
fn penalty_gradient_matches_finite_differences() {
    let dev = Cpu::seed_from_u64(0);
    let mut u = energy_net(&dev, 2);
    let x: Rows<6> = dev.sample_normal_like(&(7, Const));
    let penalty = |u: &U| -> f64 {
        let (_, g) = u.energy_and_input_grad(x.clone().leaky_trace());
        squared_norms(g).mean().array() as f64
    };
    let (_, g) = u.energy_and_input_grad(x.clone().trace(u.alloc_grads()));
    let grads = squared_norms(g).mean().backward();
    // (name, analytic gradient, getter/setter of the weights)
    let layers: Vec<(&str, Vec<f32>)> = vec![
        ("input", grads.get(&u.input.weight).as_vec()),
        ("hidden0", grads.get(&u.hidden.modules[0].weight).as_vec()),
        ("hidden1", grads.get(&u.hidden.modules[1].weight).as_vec()),
        ("output", grads.get(&u.output.weight).as_vec()),
    ];
    for (name, analytic) in layers {
        let base = match name {
            "input" => u.input.weight.as_vec(),
            "hidden0" => u.hidden.modules[0].weight.as_vec(),
            "hidden1" => u.hidden.modules[1].weight.as_vec(),
            _ => u.output.weight.as_vec(),
        };
        let set = |u: &mut U, v: &[f32]| match name {
            "input" => u.input.weight.copy_from(v),
            "hidden0" => u.hidden.modules[0].weight.copy_from(v),
            "hidden1" => u.hidden.modules[1].weight.copy_from(v),
            _ => u.output.weight.copy_from(v),
        };
        let mut order: Vec<usize> = (0..base.len()).collect();
        order.sort_by(|a, b| analytic[*b].abs().total_cmp(&analytic[*a].abs()));
        let h = 1e-3f32;
        for &i in order.iter().take(4) {
            let mut p = base.clone();
            p[i] += h;
            set(&mut u, &p);
            let lp = penalty(&u);
            p[i] -= 2.0 * h;
            set(&mut u, &p);
            let lm = penalty(&u);
            set(&mut u, &base);
            let numeric = (lp - lm) / (2.0 * h as f64);
            let a = analytic[i] as f64;
            assert!(
                (numeric - a).abs() < 0.02 * a.abs() + 1e-4,
                "{name}[{i}]: numeric {numeric} vs autodiff {a}"
            );
            assert!(
                numeric.abs() > 1e-2,
                "{name}[{i}]: {numeric} too small to test"
            );
        }
    }
}

/// An energy that does not depend on x (zero input weights) has zero penalty, exactly; the
/// same network with its input weights restored does not (control).
#[test]
fn penalty_is_zero_for_an_energy_constant_in_x() {
    let dev = Cpu::seed_from_u64(0);
    let mut u = energy_net(&dev, 3);
    let x: Rows<6> = dev.sample_normal_like(&(5, Const));
    let p = |u: &U| squared_norms(u.energy_and_input_grad(x.clone().leaky_trace()).1).as_vec();
    assert!(p(&u).iter().all(|v| *v > 1e-4), "{:?}", p(&u));
    u.input.weight.copy_from(&[0.0; 30]);
    assert!(p(&u).iter().all(|v| *v == 0.0), "{:?}", p(&u));
}

/// Jᵀ of a convolution (the transposed convolution with Wᵀ) equals dfdx's input gradient of
/// ⟨conv(x; W), g⟩ for the DCGAN geometries; the W-gradient of ‖Jᵀg‖² matches central
/// differences.
#[test]
fn conv_transpose_is_the_convolutions_input_gradient() {
    let dev = Cpu::seed_from_u64(0);
    let mut rng = StdRng::seed_from_u64(4);
    let rand = |rng: &mut StdRng, n: usize| -> Vec<f32> {
        (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect()
    };
    for (geom, h, ci, co) in [
        (Geometry::new(4, 2, 1), 8, 3, 4),
        (Geometry::new(3, 1, 1), 5, 2, 3),
        (Geometry::new(4, 1, 0), 4, 5, 2),
    ] {
        let n = 2;
        let ho = geom.conv_out(h).unwrap();
        let k = geom.kernel;
        let x: Mat = dev.tensor_from_vec(rand(&mut rng, n * h * h * ci), (n * h * h, ci));
        let mut w: Mat = dev.tensor_from_vec(rand(&mut rng, k * k * ci * co), (k * k * ci, co));
        let g: Mat = dev.tensor_from_vec(rand(&mut rng, n * ho * ho * co), (n * ho * ho, co));
        let grads = (conv2d(x.clone().leaky_trace(), &w, h, h, geom) * g.clone())
            .sum()
            .backward();
        let auto = grads.get(&x).as_vec();
        let ours = conv_transpose(g.clone().leaky_trace(), &w, h, geom).as_vec();
        for (a, b) in auto.iter().zip(&ours) {
            assert!((a - b).abs() < 1e-5, "{geom:?}: {a} vs {b}");
        }
        // The penalty ‖Jᵀg‖² as a function of W.
        let pen = |w: &Mat| -> f64 {
            conv_transpose(g.clone().leaky_trace(), w, h, geom)
                .square()
                .sum::<(), _>()
                .array() as f64
        };
        let grads = conv_transpose(g.clone().leaky_trace(), &w, h, geom)
            .square()
            .sum::<(), _>()
            .backward();
        let analytic = grads.get(&w).as_vec();
        let base = w.as_vec();
        let i = (0..base.len())
            .max_by(|a, b| analytic[*a].abs().total_cmp(&analytic[*b].abs()))
            .unwrap();
        let hstep = 1e-3f32;
        let mut p = base.clone();
        p[i] += hstep;
        w.copy_from(&p);
        let lp = pen(&w);
        p[i] -= 2.0 * hstep;
        w.copy_from(&p);
        let lm = pen(&w);
        w.copy_from(&base);
        let numeric = (lp - lm) / (2.0 * hstep as f64);
        let a = analytic[i] as f64;
        assert!(
            (numeric - a).abs() < 0.02 * a.abs() + 1e-3,
            "{geom:?} W[{i}]: numeric {numeric} vs autodiff {a}"
        );
        assert!(a.abs() > 0.1, "{geom:?}: gradient {a} too small to test");
    }
}
