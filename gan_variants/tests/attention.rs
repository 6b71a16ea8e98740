//! SAGAN's self-attention block (gan_variants::nets::attention): the identity at γ = 0, the
//! forward pass against direct loops over positions (eqs. 1–3), its gradients (γ, f, v and the
//! input) against central finite differences, the shape and FLOP entry, and the orthogonal
//! initialisation of its four 1 × 1 kernels.

use dfdx::prelude::*;
use gan_variants::nets::attention::SelfAttention;
use gan_variants::nets::conv::{Layers, Maps, Pass, Stage};
use gan_variants::nets::BnMode;
use rand::{rngs::StdRng, Rng, SeedableRng};

const C: usize = 8;
const CK: usize = 2;
const CV: usize = 4;
const SIDE: usize = 3;
const N: usize = 2;
const ROWS: usize = N * SIDE * SIDE;

type Block = SelfAttention<C, CK, CV>;

fn pass<'a>() -> Pass<'a> {
    Pass {
        segments: &[N],
        eps: 1e-5,
        bn: BnMode::Batch,
    }
}

fn random(seed: u64, n: usize, scale: f32) -> Vec<f32> {
    let mut r = StdRng::seed_from_u64(seed);
    (0..n).map(|_| scale * r.gen_range(-1.0f32..1.0)).collect()
}

/// A block with random weights and γ = `gamma`.
fn block(gamma: f32) -> Block {
    let dev = Cpu::default();
    let mut b = Block::build(&dev);
    b.f.copy_from(&random(1, C * CK, 0.5));
    b.g.copy_from(&random(2, C * CK, 0.5));
    b.h.copy_from(&random(3, C * CV, 0.5));
    b.v.copy_from(&random(4, CV * C, 0.5));
    b.gamma.copy_from(&[gamma]);
    b
}

fn run(b: &Block, x: &[f32]) -> Vec<f32> {
    let dev = Cpu::default();
    let x = dev.tensor_from_vec(x.to_vec(), (ROWS, Const::<C>));
    b.run(Maps { x, side: SIDE }, &pass()).x.as_vec()
}

/// Eqs. 1–3 by loops: for each image and position j, s_ij = f(x_i)·g(x_j), β_j = softmax over i,
/// o_j = v(Σ_i β_ji h(x_i)), y_j = x_j + γ o_j.
fn by_loops(b: &Block, x: &[f32]) -> Vec<f32> {
    let (f, g, h, v) = (b.f.as_vec(), b.g.as_vec(), b.h.as_vec(), b.v.as_vec());
    let gamma = b.gamma.as_vec()[0] as f64;
    let p = SIDE * SIDE;
    let proj = |w: &[f32], k: usize, row: usize| -> Vec<f64> {
        (0..k)
            .map(|o| {
                (0..C)
                    .map(|c| x[row * C + c] as f64 * w[c * k + o] as f64)
                    .sum()
            })
            .collect()
    };
    let mut y = vec![0f32; ROWS * C];
    for n in 0..N {
        for j in 0..p {
            let gj = proj(&g, CK, n * p + j);
            let s: Vec<f64> = (0..p)
                .map(|i| {
                    let fi = proj(&f, CK, n * p + i);
                    fi.iter().zip(&gj).map(|(a, b)| a * b).sum()
                })
                .collect();
            let max = s.iter().cloned().fold(f64::MIN, f64::max);
            let z: f64 = s.iter().map(|v| (v - max).exp()).sum();
            let mut mix = [0f64; CV];
            for (i, si) in s.iter().enumerate() {
                let beta = (si - max).exp() / z;
                for (m, hv) in mix.iter_mut().zip(proj(&h, CV, n * p + i)) {
                    *m += beta * hv;
                }
            }
            for c in 0..C {
                let o: f64 = (0..CV).map(|k| mix[k] * v[k * C + c] as f64).sum();
                let r = (n * p + j) * C + c;
                y[r] = (x[r] as f64 + gamma * o) as f32;
            }
        }
    }
    y
}

#[test]
fn gamma_zero_is_the_identity() {
    let x = random(9, ROWS * C, 1.0);
    assert_eq!(run(&block(0.0), &x), x);
    // Control: any γ ≠ 0 changes the maps.
    assert_ne!(run(&block(0.1), &x), x);
}

#[test]
fn forward_matches_the_equations() {
    let b = block(0.7);
    let x = random(9, ROWS * C, 1.0);
    let (y, want) = (run(&b, &x), by_loops(&b, &x));
    let diff = y
        .iter()
        .zip(&want)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    eprintln!("largest difference {diff:.2e}");
    assert!(diff < 1e-5, "{diff}");
    // Control: swapping f and g (f the query, as some ports write it) transposes the scores;
    // the comparison tells the two apart.
    let mut swapped = block(0.7);
    let (f, g) = (swapped.f.as_vec(), swapped.g.as_vec());
    swapped.f.copy_from(&g);
    swapped.g.copy_from(&f);
    let other = by_loops(&swapped, &x);
    let d = other
        .iter()
        .zip(&want)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(d > 1e-2, "the check cannot tell β from βᵀ ({d})");
}

/// L = Σ y ⊙ u; analytic gradients of γ, f and v against central differences (f64 loss, h =
/// 1e-2). Measured relative errors ≤ 9.3e-5 (γ, f, v) and ≤ 4.2e-5 (x, below); tolerance 1e-2.
#[test]
fn gradients_match_finite_differences() {
    let dev = Cpu::default();
    let b = block(0.7);
    let x = random(9, ROWS * C, 1.0);
    let u = random(10, ROWS * C, 1.0);
    let loss = |b: &Block, x: &[f32]| -> f64 {
        run(b, x)
            .iter()
            .zip(&u)
            .map(|(a, w)| *a as f64 * *w as f64)
            .sum()
    };
    let xt = dev.tensor_from_vec(x.clone(), (ROWS, Const::<C>));
    let ut = dev.tensor_from_vec(u.clone(), (ROWS, Const::<C>));
    let y = b
        .run(
            Maps {
                x: xt.leaky_trace(),
                side: SIDE,
            },
            &pass(),
        )
        .x;
    let grads = (y * ut).sum().backward();
    let h = 1e-2f32;
    let check = |what: &str, analytic: f32, fd: f64| {
        let rel = (analytic as f64 - fd).abs() / fd.abs().max(1e-3);
        eprintln!("{what}: analytic {analytic:.5e}, fd {fd:.5e}, rel {rel:.1e}");
        assert!(rel < 1e-2, "{what}: {analytic} vs {fd}");
    };
    // γ.
    let g_gamma = grads.get(&b.gamma).as_vec()[0];
    let fd = (loss(&block(0.7 + h), &x) - loss(&block(0.7 - h), &x)) / (2.0 * h as f64);
    check("gamma", g_gamma, fd);
    assert!(fd.abs() > 1e-2, "γ's gradient too small to test");
    // Three entries each of f and v.
    let gf = grads.get(&b.f).as_vec();
    let gv = grads.get(&b.v).as_vec();
    for i in [0, 5, CK * C - 1] {
        let at = |d: f32| {
            let mut bb = b.clone();
            let mut w = b.f.as_vec();
            w[i] += d;
            bb.f.copy_from(&w);
            loss(&bb, &x)
        };
        check(
            &format!("f[{i}]"),
            gf[i],
            (at(h) - at(-h)) / (2.0 * h as f64),
        );
    }
    for i in [0, 7, CV * C - 1] {
        let at = |d: f32| {
            let mut bb = b.clone();
            let mut w = b.v.as_vec();
            w[i] += d;
            bb.v.copy_from(&w);
            loss(&bb, &x)
        };
        check(
            &format!("v[{i}]"),
            gv[i],
            (at(h) - at(-h)) / (2.0 * h as f64),
        );
    }
}

#[test]
fn input_gradient_matches_finite_differences() {
    let dev = Cpu::default();
    let b = block(0.7);
    let x = random(9, ROWS * C, 1.0);
    let u = random(10, ROWS * C, 1.0);
    let loss = |x: &[f32]| -> f64 {
        run(&b, x)
            .iter()
            .zip(&u)
            .map(|(a, w)| *a as f64 * *w as f64)
            .sum()
    };
    let xt = dev.tensor_from_vec(x.clone(), (ROWS, Const::<C>));
    let ut = dev.tensor_from_vec(u.clone(), (ROWS, Const::<C>));
    let y = b
        .run(
            Maps {
                x: xt.leaky_trace(),
                side: SIDE,
            },
            &pass(),
        )
        .x;
    let g = (y * ut).sum().backward().get(&xt).as_vec();
    let h = 1e-2f32;
    for i in [0, 17, 40, ROWS * C - 1] {
        let at = |d: f32| {
            let mut v = x.clone();
            v[i] += d;
            loss(&v)
        };
        let fd = (at(h) - at(-h)) / (2.0 * h as f64);
        let rel = (g[i] as f64 - fd).abs() / fd.abs().max(1e-3);
        eprintln!("x[{i}]: analytic {:.5e}, fd {fd:.5e}, rel {rel:.1e}", g[i]);
        assert!(rel < 1e-2, "x[{i}]: {} vs {fd}", g[i]);
        // Control: the gradient is not the residual path's alone (u), i.e. the attention
        // path contributes.
        assert!((g[i] - u[i]).abs() > 1e-3, "x[{i}]: only the residual path");
    }
}

#[test]
fn describes_itself_and_initialises_orthogonally() {
    let mut b = block(0.0);
    let mut info = Vec::new();
    assert_eq!(b.describe(16, &mut info), Ok(16));
    let p = 256.0;
    let flops = 2.0 * p * (2.0 * 8.0 * 2.0 + 2.0 * 8.0 * 4.0) + 2.0 * p * p * (2.0 + 4.0);
    assert_eq!(info[0].kind, "attention");
    assert_eq!(info[0].flops_per_image, flops);
    b.init_orthogonal(&mut StdRng::seed_from_u64(3));
    // f (C × CK): orthonormal columns, i.e. fᵀf = I (CK ≤ C); v (CV × C): v vᵀ = I.
    let f = b.f.as_vec();
    for a in 0..CK {
        for c in 0..CK {
            let dot: f32 = (0..C).map(|r| f[r * CK + a] * f[r * CK + c]).sum();
            assert!(
                (dot - (a == c) as u8 as f32).abs() < 1e-5,
                "fᵀf[{a},{c}] = {dot}"
            );
        }
    }
    let v = b.v.as_vec();
    for a in 0..CV {
        for c in 0..CV {
            let dot: f32 = (0..C).map(|k| v[a * C + k] * v[c * C + k]).sum();
            assert!(
                (dot - (a == c) as u8 as f32).abs() < 1e-5,
                "vvᵀ[{a},{c}] = {dot}"
            );
        }
    }
    assert_eq!(b.gamma.as_vec(), vec![0.0]);
}
