//! The hand-written whole pass ([`ladder::fast`]) against the op-by-op dfdx reference
//! ([`Ladder::corrupted`] with [`Kernels::Reference`]): the CE, every energy, all 89 parameter
//! gradients of the D-step loss (hinge inside and outside the margin) and the input gradient
//! of the G-step loss, for both combinators and both BN-group modes; the fused Adam against
//! [`OwnedAdam`]; the flat layout against the model's named tensors; and the same numbers at
//! one and two threads.

mod common;

use common::gradient_values;
use dfdx::prelude::*;
use ladder::config::AdamSettings;
use ladder::fast::{adam_update, flatten, FlatLadder, Layout, Wants, Workspace};
use ladder::model::{Kernels, Pass, RowGroups};
use ladder::optim::OwnedAdam;
use ladder::rng::{LayerNoise, Purpose};
use ladder::shapes::*;
use ladder::{BnGroups, CombinatorKind, Ladder, LadderConfig};
use rand_distr::Normal;

fn rows<const N: usize>(dev: &Cpu, v: Vec<f32>) -> Rows<N> {
    let n = v.len() / N;
    dev.tensor_from_vec(v, (n, Const::<N>))
}

/// Parameters away from their initial values, so that every path of the pass carries signal.
fn randomised(kind: CombinatorKind, seed: u64) -> Ladder {
    let dev = Cpu::seed_from_u64(seed);
    let mut ladder = Ladder::new(&dev, kind);
    let d = Normal::new(0.0f32, 0.5).unwrap();
    macro_rules! comb {
        ($($g:ident),*) => {$( for a in ladder.$g.a.iter_mut() { a.fill_with_distr(d); } )*};
    }
    comb!(g0, g1, g2, g3, g4, g5, g6);
    ladder.e1.beta.fill_with_distr(d);
    ladder.e3.beta.fill_with_distr(d);
    ladder.e6.beta.fill_with_distr(d);
    ladder
        .gamma6
        .fill_with_distr(Normal::new(1.0f32, 0.3).unwrap());
    ladder
}

/// Largest difference relative to the reference's largest magnitude.
fn rel_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    let diff = a.iter().zip(b).fold(0f32, |m, (p, q)| m.max((p - q).abs()));
    diff / (scale + 1e-30)
}

/// Float rounding between two summation orders (the kernels call gemm 0.19, the reference
/// dfdx's gemm 0.15; their blockings differ by processor). Largest relative difference over
/// all tensors, combinators and BN modes, measured: 2.4e-6 on an Intel AVX2 machine, 1.7e-4
/// on an AMD EPYC with AVX-512 (gradients that are sums over rows with cancellation, relative
/// to the tensor's largest element). The bound leaves a margin of 6 over the larger; the
/// controls (another noise draw) differ by ≥ 0.47 on every non-zero tensor, 470× the bound.
const TOLERANCE: f32 = 1e-3;

const LAB: usize = 4;
const UNL: usize = 6;
const FAKE: usize = 5;
const LABELS: [u8; LAB] = [3, 7, 1, 9];

struct Case {
    ladder: Ladder,
    cfg: LadderConfig,
    x: Vec<f32>,
}

fn case(kind: CombinatorKind, bn: BnGroups) -> Case {
    let dev = Cpu::seed_from_u64(11);
    Case {
        ladder: randomised(kind, 5),
        cfg: LadderConfig {
            combinator: kind,
            bn_groups: bn,
            ..Default::default()
        },
        x: dev
            .sample_uniform_like(&(LAB + UNL + FAKE, Const::<PIXELS>))
            .as_vec(),
    }
}

/// The D-step loss CE + mean_real E + mean_fake [m − E]⁺ by the reference, with m halfway
/// between the two middle fake energies, so the hinge is active for some fakes and not for
/// others, and no fake sits at its kink (m equal to a fake's energy made the comparison depend
/// on which side of the kink each implementation's rounding put that fake: it failed on an
/// AVX-512 machine with every gradient off by ≈ 0.4).
fn reference_d(c: &Case, noise: &LayerNoise) -> (f32, Vec<f32>, f32, Vec<Vec<f32>>) {
    let dev: Cpu = Default::default();
    let mut y = vec![0f32; LAB * CLASSES];
    for (i, &l) in LABELS.iter().enumerate() {
        y[i * CLASSES + l as usize] = 1.0;
    }
    let y = rows::<CLASSES>(&dev, y);
    let groups = RowGroups {
        labeled: LAB,
        decoded: vec![UNL, FAKE],
    };
    let pass = Pass {
        kernels: Kernels::Reference,
        input_grad: true,
    };
    let run = |traced: bool| {
        let x = rows::<PIXELS>(&dev, c.x.clone());
        let t = rows::<PIXELS>(&dev, c.x[LAB * PIXELS..].to_vec());
        let x = if traced {
            x.trace(c.ladder.alloc_grads())
        } else {
            x.trace(Gradients::leaky())
        };
        c.ladder
            .corrupted(&c.cfg, x, t.retaped(), Some(&y), &groups, noise, pass)
    };
    let energies = run(false).energy.as_vec();
    let mut fake: Vec<f32> = energies[UNL..].to_vec();
    fake.sort_by(f32::total_cmp);
    assert!(
        fake[FAKE / 2] - fake[FAKE / 2 - 1] > 1e-3 * fake[FAKE / 2].abs(),
        "the two middle fake energies must differ for m to avoid the kink"
    );
    let m = 0.5 * (fake[FAKE / 2 - 1] + fake[FAKE / 2]);
    let out = run(true);
    let ce = out.ce.unwrap();
    let real = out.energy.with_empty_tape().slice((0..UNL,)).mean();
    let hinge = (out.energy.slice((UNL..,)).negate() + m).relu().mean();
    let ce_value = ce.array();
    let loss = ce + real + hinge;
    let mut grads = loss.backward();
    (
        m,
        energies,
        ce_value,
        gradient_values(&c.ladder, &mut grads),
    )
}

#[test]
fn flat_layout_matches_the_named_tensors() {
    let ladder = randomised(CombinatorKind::Gauss, 2);
    let flat = FlatLadder::from_ladder(&ladder);
    let l = Layout::new();
    assert_eq!(l.tensors.len(), 89);
    assert_eq!(flat.values[l.enc_w[0].clone()], ladder.e1.w.weight.as_vec());
    assert_eq!(flat.values[l.enc_beta[2].clone()], ladder.e3.beta.as_vec());
    assert_eq!(flat.values[l.gamma6.clone()], ladder.gamma6.as_vec());
    assert_eq!(flat.values[l.dec_v[2].clone()], ladder.v3.weight.as_vec());
    assert_eq!(flat.values[l.comb[4][7].clone()], ladder.g4.a[7].as_vec());
    assert_eq!(flat.values[l.comb[6][9].clone()], ladder.g6.a[9].as_vec());
    // Round trip into another model.
    let mut other = Ladder::new(&Cpu::seed_from_u64(9), CombinatorKind::Gauss);
    flat.store(&mut other);
    assert_eq!(flatten(&other), flat.values);
}

#[test]
fn d_step_pass_matches_the_reference() {
    for kind in [CombinatorKind::Gauss, CombinatorKind::Sig] {
        for bn in [BnGroups::Separate, BnGroups::Joint] {
            let c = case(kind, bn);
            let rows_all = LAB + UNL + FAKE;
            let noise = LayerNoise::draw(9, Purpose::NoiseD, 4, rows_all, c.cfg.noise_std);
            let (m, energies, ce, want) = reference_d(&c, &noise);
            let flat = FlatLadder::from_ladder(&c.ladder);
            let mut ws = Workspace::new();
            let groups = RowGroups {
                labeled: LAB,
                decoded: vec![UNL, FAKE],
            };
            let got_ce = ws.forward(
                &flat,
                &c.cfg,
                &c.x,
                &c.x[LAB * PIXELS..],
                &LABELS,
                &groups,
                &noise,
            );
            assert!(
                (got_ce - ce).abs() <= 1e-5 * ce.abs(),
                "{kind:?} {bn:?} CE {got_ce} vs {ce}"
            );
            assert!(
                rel_diff(&ws.energy, &energies) < TOLERANCE,
                "{kind:?} {bn:?} energies"
            );
            let mut w = vec![1.0 / UNL as f32; UNL];
            let inside = ws.energy[UNL..].iter().filter(|&&e| m - e > 0.0).count();
            assert!(
                inside > 0 && inside < FAKE,
                "the hinge must be active for some fakes only"
            );
            w.extend(ws.energy[UNL..].iter().map(|&e| {
                if m - e > 0.0 {
                    -1.0 / FAKE as f32
                } else {
                    0.0
                }
            }));
            ws.backward(
                &flat,
                &c.cfg,
                &LABELS,
                1.0,
                &w,
                Wants {
                    param_grads: true,
                    input_grad: false,
                },
            );
            let layout = &flat.layout;
            let largest = |v: &[f32]| v.iter().fold(0f32, |m, v| m.max(v.abs()));
            let global = want.iter().map(|w| largest(w)).fold(0f32, f32::max);
            let mut worst = 0f32;
            let mut zero = 0;
            for (i, (r, want)) in layout.tensors.iter().zip(&want).enumerate() {
                let got = &ws.grad[r.clone()];
                if largest(want) < 1e-5 * global {
                    // A gradient that is zero up to rounding in the reference: "sig"'s unused
                    // slot, and its b0 on layers ≥ 1 (the batch norm after V removes any
                    // constant). Measured ≈ 2e-6 on both sides against gradients of ≈ 240.
                    assert!(
                        largest(got) < 1e-5 * global,
                        "{kind:?} {bn:?} parameter {i}"
                    );
                    zero += 1;
                    continue;
                }
                let d = rel_diff(got, want);
                worst = worst.max(d);
                assert!(d < TOLERANCE, "{kind:?} {bn:?} parameter {i}: {d}");
            }
            let expected_zero = if kind == CombinatorKind::Sig { 13 } else { 0 };
            assert_eq!(
                zero, expected_zero,
                "{kind:?} {bn:?}: gradients zero by construction"
            );
            eprintln!("{kind:?} {bn:?}: largest relative gradient difference {worst:e}");
            // Control: the same comparison against the gradient of another noise draw fails,
            // so the tolerance is tight enough to see a wrong pass.
            let other = LayerNoise::draw(10, Purpose::NoiseD, 4, rows_all, c.cfg.noise_std);
            let (_, _, _, other_grads) = reference_d(&c, &other);
            let differs = layout
                .tensors
                .iter()
                .zip(&other_grads)
                .filter(|(r, o)| rel_diff(&ws.grad[(*r).clone()], o) >= TOLERANCE)
                .count();

            assert!(
                differs > 80,
                "{kind:?} {bn:?}: only {differs} tensors see another noise"
            );
        }
    }
}

#[test]
fn g_step_input_gradient_matches_the_reference() {
    for kind in [CombinatorKind::Gauss, CombinatorKind::Sig] {
        let c = case(kind, BnGroups::Separate);
        let fakes = c.x[..FAKE * PIXELS].to_vec();
        let noise = LayerNoise::draw(9, Purpose::NoiseG, 4, FAKE, c.cfg.noise_std);
        let dev: Cpu = Default::default();
        let groups = RowGroups {
            labeled: 0,
            decoded: vec![FAKE],
        };
        // Reference: L_G = mean E(G(z)), gradient through the input and the target.
        let input = rows::<PIXELS>(&dev, fakes.clone());
        let traced = input.clone().trace(Gradients::leaky());
        let out = c.ladder.corrupted(
            &c.cfg,
            traced.with_empty_tape(),
            traced,
            None,
            &groups,
            &noise,
            Pass {
                kernels: Kernels::Reference,
                input_grad: true,
            },
        );
        let loss = out.energy.mean();
        let want_loss = loss.array();
        let want = loss.backward().get(&input).as_vec();
        let flat = FlatLadder::from_ladder(&c.ladder);
        let mut ws = Workspace::new();
        ws.forward(&flat, &c.cfg, &fakes, &fakes, &[], &groups, &noise);
        let got_loss = ws.energy.iter().sum::<f32>() / FAKE as f32;
        assert!(
            (got_loss - want_loss).abs() < 1e-5 * want_loss,
            "{got_loss} vs {want_loss}"
        );
        ws.backward(
            &flat,
            &c.cfg,
            &[],
            0.0,
            &[1.0 / FAKE as f32; FAKE],
            Wants {
                param_grads: false,
                input_grad: true,
            },
        );
        let d = rel_diff(&ws.input_grad, &want);
        assert!(d < TOLERANCE, "{kind:?} input gradient: {d}");
        // Control: without the target's part (a detached G(z), a known pitfall) it fails.
        let detached = {
            let traced = input.clone().trace(Gradients::leaky());
            let out = c.ladder.corrupted(
                &c.cfg,
                traced,
                rows::<PIXELS>(&dev, fakes.clone()).retaped(),
                None,
                &groups,
                &noise,
                Pass {
                    kernels: Kernels::Reference,
                    input_grad: true,
                },
            );
            out.energy.mean().backward().get(&input).as_vec()
        };
        // Measured on the AVX-512 machine: 0.087 (gauss) and 0.23 (sig), 8.7× and 23× the
        // control's bound of 10× the tolerance, against 3.8e-5 and 3.1e-5 for the pass itself.
        let ctrl = rel_diff(&ws.input_grad, &detached);
        assert!(ctrl > 10.0 * TOLERANCE, "{kind:?} detached control: {ctrl}");
    }
}

/// The fused Adam gives the same numbers as the dfdx kernel behind [`OwnedAdam`] (the same
/// f32 expression per element), over three steps.
#[test]
fn fused_adam_matches_owned_adam() {
    let dev = Cpu::seed_from_u64(4);
    let settings = AdamSettings {
        lr: 1e-3,
        beta1: 0.5,
        beta2: 0.999,
        eps: 1e-8,
    };
    let mut p: Tensor<Rank1<40000>, f32, Cpu> = dev.sample_normal();
    let mut flat = p.as_vec();
    let (mut m, mut v) = (vec![0f32; flat.len()], vec![0f32; flat.len()]);
    let mut opt = OwnedAdam::new(&settings);
    for t in 1..=3 {
        let g: Tensor<Rank1<40000>, f32, Cpu> = dev.sample_normal();
        let mut grads = p.alloc_grads();
        grads
            .get_or_alloc_mut(&p)
            .unwrap()
            .copy_from_slice(&g.as_vec());
        opt.update(&mut p, &mut grads);
        adam_update(
            &settings,
            settings.lr,
            t,
            &mut flat,
            &g.as_vec(),
            &mut m,
            &mut v,
        );
        assert_eq!(flat, p.as_vec(), "step {t}");
    }
}

/// Same numbers at one and at two threads: no reduction crosses a parallel task.
#[test]
fn pass_is_the_same_at_any_thread_count() {
    let c = case(CombinatorKind::Gauss, BnGroups::Separate);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let noise = LayerNoise::draw(3, Purpose::NoiseD, 8, LAB + UNL + FAKE, 0.3);
            let flat = FlatLadder::from_ladder(&c.ladder);
            let mut ws = Workspace::new();
            let groups = RowGroups {
                labeled: LAB,
                decoded: vec![UNL, FAKE],
            };
            let ce = ws.forward(
                &flat,
                &c.cfg,
                &c.x,
                &c.x[LAB * PIXELS..],
                &LABELS,
                &groups,
                &noise,
            );
            let w = vec![0.1f32; UNL + FAKE];
            ws.backward(
                &flat,
                &c.cfg,
                &LABELS,
                1.0,
                &w,
                Wants {
                    param_grads: true,
                    input_grad: true,
                },
            );
            (
                ce,
                ws.energy.clone(),
                ws.grad.clone(),
                ws.input_grad.clone(),
                noise,
            )
        })
    };
    assert!(run(1) == run(2), "one and two threads differ");
}
