//! Langevin and MALA (gan_variants::sampling) on Gaussian targets, where everything is known in
//! closed form: the chains' moments, the unadjusted chain's O(ε) bias, MALA's acceptance as
//! ε → 0, and the Metropolis–Hastings ratio on a hand-computed case; and the latent energy of
//! a (U, G) pair: its z-gradient, and its independence of the other chains.

use gan_variants::sampling::{
    mala_log_ratio, run_chains, run_chains_from, Kind, LatentEnergy, Quadratic,
};

/// A chain run in pieces (steps 0..3, then 3..7) ends exactly where one run of 0..7 does, for
/// both samplers, so a sweep can score the chains at T = 10, 100, 1000 on the way. Control:
/// restarting the second piece's step count at 0 (reusing the noise of steps 0..3) ends
/// elsewhere.
#[test]
fn chains_run_in_pieces_equal_one_run() {
    let target = Quadratic {
        mean: vec![0.5, -1.0, 2.0],
        var: vec![1.0, 0.3, 2.0],
    };
    for kind in [Kind::Langevin, Kind::Mala] {
        let start: Vec<f32> = (0..30).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut whole = start.clone();
        let s = run_chains(&target, &mut whole, 0.4, 7, kind, 5);
        let mut pieces = start.clone();
        let a = run_chains_from(&target, &mut pieces, 0.4, 0..3, kind, 5);
        let b = run_chains_from(&target, &mut pieces, 0.4, 3..7, kind, 5);
        assert_eq!(pieces, whole, "{kind:?}");
        let acc = |st: &gan_variants::sampling::ChainStats| st.accepted.iter().sum::<u64>();
        assert_eq!(acc(&a) + acc(&b), acc(&s));
        assert_eq!(b.steps, 4);
        assert_eq!([a.mean_energy, b.mean_energy].concat(), s.mean_energy);
        let mut restarted = start.clone();
        run_chains_from(&target, &mut restarted, 0.4, 0..3, kind, 5);
        run_chains_from(&target, &mut restarted, 0.4, 0..4, kind, 5);
        assert_ne!(restarted, whole, "{kind:?}: control");
    }
}

/// Mean and variance per coordinate of rows of `d`.
fn moments(z: &[f32], d: usize) -> Vec<(f64, f64)> {
    let n = (z.len() / d) as f64;
    (0..d)
        .map(|i| {
            let m = z.iter().skip(i).step_by(d).map(|v| *v as f64).sum::<f64>() / n;
            let v = z
                .iter()
                .skip(i)
                .step_by(d)
                .map(|x| (*x as f64 - m).powi(2))
                .sum::<f64>()
                / (n - 1.0);
            (m, v)
        })
        .collect()
}

/// Target N((1, −2), diag(0.5, 2)), 4,000 chains from 0, 400 steps of ε = 0.05. Both samplers
/// match the target's moments within sampling error: the mean's standard error is
/// √(σ²/4000) ≤ 0.022 and the variance's √(2/3999)·σ² ≤ 0.045; the tolerances (0.09, 0.19) are
/// 4 standard errors plus the unadjusted chain's bias ε/(4σ²)·σ² ≤ 0.013 and the start's
/// remainder (1 − ε/(2σ²))⁴⁰⁰·|μ| ≤ 0.014. The large-ε case, where the two differ, is
/// `langevin_is_biased_mala_is_not`.
#[test]
fn chains_match_a_gaussian_target() {
    let target = Quadratic {
        mean: vec![1.0, -2.0],
        var: vec![0.5, 2.0],
    };
    for kind in [Kind::Langevin, Kind::Mala] {
        let mut z = vec![0f32; 2 * 4000];
        let stats = run_chains(&target, &mut z, 0.05, 400, kind, 7);
        let m = moments(&z, 2);
        for (i, (mean, var)) in m.iter().enumerate() {
            assert!(
                (mean - target.mean[i] as f64).abs() < 0.09,
                "{kind:?} coordinate {i}: mean {mean}"
            );
            assert!(
                (var - target.var[i] as f64).abs() < 0.19,
                "{kind:?} coordinate {i}: variance {var}"
            );
        }
        assert_eq!(stats.steps, 400);
        assert_eq!(stats.mean_energy.len(), 400);
        // At stationarity the mean energy is d/2 = 1 (each coordinate contributes ½).
        let late = stats.mean_energy[300..].iter().sum::<f64>() / 100.0;
        assert!((late - 1.0).abs() < 0.1, "{kind:?}: mean energy {late}");
    }
}

/// E = z²/2 (σ² = 1) with ε = 1: the unadjusted chain's stationary variance is
/// σ²/(1 − ε/(4σ²)) = 4/3 (hand-computed: z' = z/2 + ξ gives v = v/4 + 1); MALA's is 1. 20,000
/// chains, 60 steps (the bias is reached geometrically at rate 1/4 per step): the variance's
/// standard error is √(2/20000)·v ≤ 0.014, tolerance 0.06. The Langevin check is the control:
/// the same measurement tells the two samplers apart.
#[test]
fn langevin_is_biased_mala_is_not() {
    let target = Quadratic {
        mean: vec![0.0],
        var: vec![1.0],
    };
    let var_of = |kind| {
        let mut z = vec![0f32; 20_000];
        let stats = run_chains(&target, &mut z, 1.0, 60, kind, 3);
        (moments(&z, 1)[0].1, stats.acceptance())
    };
    let (v_langevin, a_langevin) = var_of(Kind::Langevin);
    let (v_mala, a_mala) = var_of(Kind::Mala);
    assert!(
        (v_langevin - 4.0 / 3.0).abs() < 0.06,
        "Langevin variance {v_langevin}"
    );
    assert!((v_mala - 1.0).abs() < 0.06, "MALA variance {v_mala}");
    assert_eq!(a_langevin, 1.0);
    assert!(a_mala < 0.95, "MALA rejected nothing at ε = 1 ({a_mala})");
}

/// MALA's acceptance tends to 1 as ε → 0 (and decreases with ε) on a 10-dimensional target.
#[test]
fn mala_acceptance_tends_to_one() {
    let target = Quadratic {
        mean: vec![0.0; 10],
        var: (1..=10).map(|i| i as f32 / 5.0).collect(),
    };
    let acc = |eps| {
        let mut z: Vec<f32> = (0..10 * 500)
            .map(|i| ((i % 7) as f32 - 3.0) / 3.0)
            .collect();
        run_chains(&target, &mut z, eps, 50, Kind::Mala, 5).acceptance()
    };
    let (a_tiny, a_small, a_big) = (acc(1e-4), acc(1e-2), acc(0.5));
    assert!(a_tiny > 0.999, "ε = 1e-4: {a_tiny}");
    assert!(
        a_tiny >= a_small && a_small > a_big,
        "{a_tiny} {a_small} {a_big}"
    );
}

/// The ratio on hand-computed cases, E = z²/2 in 1-D, ε = 0.25 (h = ε/2 = 0.125):
/// z = 0 → z̃ = 1: −E(1) + E(0) = −0.5; reverse ‖0 − 1 + 0.125·1‖² = 0.765625, /(2ε) → 1.53125;
/// forward ‖1 − 0 + 0.125·0‖² = 1, /(2ε) → 2; log α = −0.5 − 1.53125 + 2 = −0.03125.
/// z = 1 → z̃ = 0.5: 0.375 − 0.6328125 + 0.28125 = 0.0234375.
#[test]
fn mala_ratio_matches_hand_computation() {
    let t = Quadratic {
        mean: vec![0.0],
        var: vec![1.0],
    };
    let at = |z: f32| {
        let (e, g) = t.energy_and_grad(&[z]);
        (e[0], g[0])
    };
    let case = |z: f32, zn: f32| {
        let ((e, g), (en, gn)) = (at(z), at(zn));
        mala_log_ratio(&[z], e, &[g], &[zn], en, &[gn], 0.25)
    };
    assert!(
        (case(0.0, 1.0) + 0.03125).abs() < 1e-12,
        "{}",
        case(0.0, 1.0)
    );
    assert!(
        (case(1.0, 0.5) - 0.0234375).abs() < 1e-12,
        "{}",
        case(1.0, 0.5)
    );
    // Detailed balance: the ratio of the reverse move is the negative.
    assert!((case(1.0, 0.0) + case(0.0, 1.0)).abs() < 1e-12);
}

mod gan_energy {
    use dfdx::prelude::*;
    use gan_variants::config::{Optim, TrainSettings};
    use gan_variants::nets::energy::{energy_mlp, EnergyMlp};
    use gan_variants::nets::{population_stats, trainable, Affine, Mlp, Net, Trainable};
    use gan_variants::sampling::{GanLatentEnergy, LatentEnergy};
    use gan_variants::shapes::{Rows, LATENT, PIXELS};
    use rand::{rngs::StdRng, Rng, SeedableRng};

    type G = Trainable<Mlp<LATENT, 8, PIXELS, 1, Affine<8>>>;
    type U = Trainable<EnergyMlp<PIXELS, 6, 1>>;

    fn setup() -> (G, U, Vec<gan_variants::nets::ColumnStats>) {
        let dev = Cpu::seed_from_u64(0);
        let train = TrainSettings::default();
        let mut rng = StdRng::seed_from_u64(11);
        let g: G = trainable(&dev, Optim::Adam, 1e-3, 0.2, &train, &mut rng);
        let u = Trainable::new(energy_mlp(&dev, &mut rng), Optim::Adam, 1e-3, &train);
        let batches: Vec<Rows<LATENT>> = (0..3)
            .map(|_| dev.sample_normal_like(&(16, Const)))
            .collect();
        let stats = population_stats(&g as &dyn Net<LATENT, PIXELS>, batches);
        (g, u, stats)
    }

    fn latents(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n * LATENT)
            .map(|_| rng.gen_range(-1.5..1.5f32))
            .collect()
    }

    /// ∇_z of U(G(z)) + ½‖z‖² (and of U(G(z)) alone) against central differences in f64
    /// accumulation, at the 6 coordinates of row 1 with the largest gradients; each gradient
    /// is far above the tolerance, so a zero or detached gradient fails.
    #[test]
    fn z_gradient_matches_finite_differences() {
        let (g, u, stats) = setup();
        assert_eq!(stats.len(), 2, "G has two batch-norm layers");
        for prior in [true, false] {
            let e = GanLatentEnergy::<PIXELS> {
                g: &g,
                g_stats: stats.clone(),
                u: &u,
                prior,
            };
            let z = latents(3, 12);
            let (_, grad) = e.energy_and_grad(&z);
            let row = &grad[LATENT..2 * LATENT];
            let mut order: Vec<usize> = (0..LATENT).collect();
            order.sort_by(|a, b| row[*b].abs().total_cmp(&row[*a].abs()));
            let h = 1e-2f32;
            for &i in order.iter().take(6) {
                let at = |d: f32| {
                    let mut zz = z.clone();
                    zz[LATENT + i] += d;
                    e.energy_and_grad(&zz).0[1]
                };
                let numeric = (at(h) - at(-h)) / (2.0 * h as f64);
                let a = row[i] as f64;
                assert!(
                    (numeric - a).abs() < 0.02 * a.abs() + 1e-3,
                    "prior {prior}, z[{i}]: numeric {numeric} vs backward {a}"
                );
                assert!(numeric.abs() > 0.02, "z[{i}]: {numeric} too small to test");
            }
        }
    }

    /// With population statistics a chain's energy and gradient do not depend on the other
    /// chains: five rows together equal each row alone (to rounding). Control: G with batch
    /// statistics gives row 0 a different image in a batch of two than in the batch of five.
    #[test]
    fn energy_of_a_chain_is_independent_of_the_others() {
        let (g, u, stats) = setup();
        let e = GanLatentEnergy::<PIXELS> {
            g: &g,
            g_stats: stats.clone(),
            u: &u,
            prior: true,
        };
        let z = latents(5, 13);
        let (all_e, all_g) = e.energy_and_grad(&z);
        for c in 0..5 {
            let (one_e, one_g) = e.energy_and_grad(&z[c * LATENT..(c + 1) * LATENT]);
            assert!((one_e[0] - all_e[c]).abs() < 1e-4 * all_e[c].abs().max(1.0));
            let gap = one_g
                .iter()
                .zip(&all_g[c * LATENT..(c + 1) * LATENT])
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(gap < 1e-4, "chain {c}: gradient gap {gap}");
        }
        let dev = Cpu::default();
        let batch = |rows: &[f32]| {
            let n = rows.len() / LATENT;
            let t: Rows<LATENT> = dev.tensor_from_vec(rows.to_vec(), (n, Const));
            g.forward_untraced(t, &[n]).as_vec()
        };
        let alone = batch(&z[..2 * LATENT]);
        let beside = batch(&z);
        let gap = alone[..PIXELS]
            .iter()
            .zip(&beside[..PIXELS])
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            gap > 1e-2,
            "control: batch statistics should couple the rows ({gap})"
        );
    }
}
