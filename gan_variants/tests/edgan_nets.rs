//! The EDGAN paper's models (gan_variants::nets::edgan) and OptimizedDCGAN's pieces wired into
//! them: every layer's shape against the spec's lists (figure 2, R311), the spectrally
//! normalised layer (σ of the known top singular value, u persisting across passes and through
//! a checkpoint, W/σ's gradient against finite differences), orthogonal initialisation of
//! conv and transposed-conv kernels, optimistic Adam inside a trainer, and the EDGAN trainer
//! (z ∈ ℝ¹²⁸, 2 D steps, OAdam, SN_in_P, R311, orthogonal init) stepping and resuming exactly.

use dfdx::prelude::*;
use gan_variants::config::{
    ImageArch, ImageGanConfig, ImageModel, LatentPrior, Optim, TrainSettings, WeightInit,
};
use gan_variants::nets::conv::{
    Conv, ConvT, Identity, LayerInfo, Layers, Maps, Pass, SnConv, Stage,
};
use gan_variants::nets::edgan::describe_all;
use gan_variants::nets::{BnMode, NoNorm};
use gan_variants::variants::build_image;
use gan_variants::VariantKind;
use nalgebra::DMatrix;
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::cell::Cell;

fn shapes(l: &[LayerInfo]) -> Vec<(&'static str, usize, usize, usize, usize, usize)> {
    l.iter()
        .map(|l| (l.kind, l.c_in, l.c_out, l.kernel, l.side_in, l.side_out))
        .collect()
}

/// Figure 2's G: dense to 512 × 4 × 4, then (3,1,1) and (4,2,1) layers alternating, to
/// deconv(3,3,1,1) at 32 × 32; R311 keeps only the last (3,1,1) layer; both discriminators
/// are conv(64,3,1,1) … conv(256,4,2,1) to 4 × 4 then the 4 × 4 compression to one logit.
#[test]
fn every_layer_has_the_spec_shape() {
    let (t, c) = ("conv_t", "conv");
    let all: Vec<_> = describe_all::<128>()
        .into_iter()
        .map(|(n, l)| (n, l.unwrap()))
        .collect();
    assert_eq!(
        shapes(&all[0].1),
        [
            (t, 128, 512, 4, 1, 4),
            (t, 512, 512, 3, 4, 4),
            (t, 512, 512, 4, 4, 8),
            (t, 512, 256, 3, 8, 8),
            (t, 256, 256, 4, 8, 16),
            (t, 256, 128, 3, 16, 16),
            (t, 128, 128, 4, 16, 32),
            (t, 128, 3, 3, 32, 32),
        ],
        "{}",
        all[0].0
    );
    assert_eq!(
        shapes(&all[1].1),
        [
            (t, 128, 512, 4, 1, 4),
            (t, 512, 512, 4, 4, 8),
            (t, 512, 256, 4, 8, 16),
            (t, 256, 128, 4, 16, 32),
            (t, 128, 3, 3, 32, 32),
        ],
        "{}",
        all[1].0
    );
    let d = [
        (c, 3, 64, 3, 32, 32),
        (c, 64, 64, 4, 32, 16),
        (c, 64, 128, 3, 16, 16),
        (c, 128, 128, 4, 16, 8),
        (c, 128, 256, 3, 8, 8),
        (c, 256, 256, 4, 8, 4),
        (c, 256, 1, 4, 4, 1),
    ];
    assert_eq!(shapes(&all[2].1), d);
    assert_eq!(shapes(&all[3].1), d);
    assert_eq!(shapes(&all[4].1), d, "SNGAN's D: the same layers");
    // SAGAN: R311's G and SNGAN's D with the self-attention block at 16 × 16.
    let a = "attention";
    assert_eq!(
        shapes(&all[6].1),
        [
            (t, 128, 512, 4, 1, 4),
            (t, 512, 512, 4, 4, 8),
            (t, 512, 256, 4, 8, 16),
            (a, 256, 256, 1, 16, 16),
            (t, 256, 128, 4, 16, 32),
            (t, 128, 3, 3, 32, 32),
        ],
        "{}",
        all[6].0
    );
    let mut sagan_d = d.to_vec();
    sagan_d.insert(3, (a, 128, 128, 1, 16, 16));
    assert_eq!(shapes(&all[7].1), sagan_d, "{}", all[7].0);
    // R311: of G's kernel-3 layers only the last (channel-changing) one is left.
    let k3 = |l: &[LayerInfo]| l.iter().filter(|l| l.kernel == 3).count();
    assert_eq!((k3(&all[0].1), k3(&all[1].1)), (4, 1));
    // No biases before batch norm or spectral norm: the SN compression layer has none, one
    // parameter fewer than the figure-2 D (whose compression layer has its bias).
    {
        use gan_variants::nets::edgan::{Fig2Discriminator, SnDiscriminator};
        let dev = Cpu::default();
        let fig2 = Fig2Discriminator::<3072, 1>::build(&dev).num_trainable_params();
        let sn = SnDiscriminator::<3072, 1>::build(&dev).num_trainable_params();
        assert_eq!(fig2 - sn, 1);
    }
    // z of 100 values builds the same layers with a 100-channel input.
    let g100 = &describe_all::<100>()[0].1.clone().unwrap();
    assert_eq!(g100[0].c_in, 100);
}

type Small = SnConv<2, 3, 3, 1, 1, NoNorm<3>, Identity>;

fn pass_batch<'a>() -> Pass<'a> {
    Pass {
        segments: &[2],
        eps: 1e-5,
        bn: BnMode::Batch,
    }
}

/// The top singular value of the (C_out, k·k·C_in) matrix of a conv weight stored (ky, kx,
/// C_in, C_out).
fn top_singular(w: &[f32], rows_in: usize, co: usize) -> f64 {
    let m = DMatrix::<f64>::from_fn(co, rows_in, |r, c| w[c * co + r] as f64);
    m.singular_values().max()
}

/// After 61 training passes u has converged: the layer's output equals the plain convolution
/// with W / σ₁(W), σ₁ the top singular value by SVD (measured 2.8e-6 relative, bound 1e-4);
/// after one pass it is far off (measured 0.39: one iteration per step needs u to persist).
/// Inference passes leave u alone; the checkpoint buffer round-trips u and a wrong length is
/// refused.
#[test]
fn spectral_norm_layer_converges_and_u_persists() {
    let dev = Cpu::seed_from_u64(0);
    let mut rng = StdRng::seed_from_u64(3);
    let mut layer = Small::build(&dev);
    let w: Vec<f32> = (0..3 * 3 * 2 * 3)
        .map(|_| rng.gen_range(-1.0..1.0))
        .collect();
    layer.weight.copy_from(&w);
    let x: Vec<f32> = (0..2 * 5 * 5 * 2)
        .map(|_| rng.gen_range(-1.0..1.0))
        .collect();
    // A training pass is traced (u advances only then).
    let run = |layer: &Small, bn: BnMode| {
        let xt: Tensor<(usize, Const<2>), f32, Cpu> = dev.tensor_from_vec(x.clone(), (50, Const));
        let pass = Pass { bn, ..pass_batch() };
        layer
            .run(
                Maps {
                    x: xt.leaky_trace(),
                    side: 5,
                },
                &pass,
            )
            .x
            .as_vec()
    };
    let sigma = top_singular(&w, 18, 3);
    let mut plain = Conv::<2, 3, 3, 1, 1, NoNorm<3>, Identity>::build(&dev);
    plain
        .weight
        .copy_from(&w.iter().map(|v| v / sigma as f32).collect::<Vec<_>>());
    let xt: Tensor<(usize, Const<2>), f32, Cpu> = dev.tensor_from_vec(x.clone(), (50, Const));
    let want = plain.run(Maps { x: xt, side: 5 }, &pass_batch()).x.as_vec();
    let err = |got: &[f32]| {
        got.iter()
            .zip(&want)
            .map(|(a, b)| ((a - b) / b.abs().max(1e-3)).abs())
            .fold(0f32, f32::max)
    };
    let first = err(&run(&layer, BnMode::Batch));
    for _ in 0..59 {
        run(&layer, BnMode::Batch);
    }
    let converged = err(&run(&layer, BnMode::Batch));
    assert!(converged < 1e-4, "after 61 passes: {converged}");
    assert!(
        first > 10.0 * converged.max(1e-6),
        "first {first} vs {converged}"
    );
    // Inference (population statistics) and untraced passes (samples, scoring): u does not
    // move; a training pass does (control).
    let mut saved = Vec::new();
    layer.buffers(&mut saved);
    let next = Cell::new(0);
    run(&layer, BnMode::Population(&[], &next));
    let xt: Tensor<(usize, Const<2>), f32, Cpu> = dev.tensor_from_vec(x.clone(), (50, Const));
    layer.run(Maps { x: xt, side: 5 }, &pass_batch());
    let mut after = Vec::new();
    layer.buffers(&mut after);
    assert_eq!(saved, after);
    let moved = Small::build(&dev);
    let mut moved = moved;
    moved.weight.copy_from(&w);
    run(&moved, BnMode::Batch);
    let mut u1 = Vec::new();
    moved.buffers(&mut u1);
    assert_eq!(u1[0].len(), 3, "a training pass set u");
    assert_eq!(saved[0].len(), 3);
    // The buffer restores u into a fresh layer (same weight: same output at once).
    let fresh = Small::build(&dev);
    let mut fresh = fresh;
    fresh.weight.copy_from(&w);
    fresh.set_buffers(&mut saved.iter()).unwrap();
    assert_eq!(run(&fresh, BnMode::Batch), run(&layer, BnMode::Batch));
    let bad = [vec![1.0f32; 4]];
    assert!(fresh.set_buffers(&mut bad.iter()).is_err());
}

/// ∂/∂W of Σ c ⊙ layer(x) (u held: inference passes) by backward against central differences,
/// at the 6 largest entries; control: dividing by σ's value as a constant is far off.
#[test]
fn spectral_norm_layer_gradient_matches_finite_differences() {
    let dev = Cpu::seed_from_u64(0);
    let mut rng = StdRng::seed_from_u64(5);
    let mut layer = Small::build(&dev);
    let w: Vec<f32> = (0..54).map(|_| rng.gen_range(-1.0..1.0)).collect();
    layer.weight.copy_from(&w);
    let x: Vec<f32> = (0..2 * 4 * 4 * 2)
        .map(|_| rng.gen_range(-1.0..1.0))
        .collect();
    let c: Vec<f32> = (0..2 * 4 * 4 * 3)
        .map(|_| rng.gen_range(-1.0..1.0))
        .collect();
    // Converge u a little, then hold it.
    for _ in 0..3 {
        let xt: Tensor<(usize, Const<2>), f32, Cpu> = dev.tensor_from_vec(x.clone(), (32, Const));
        layer.run(
            Maps {
                x: xt.leaky_trace(),
                side: 4,
            },
            &pass_batch(),
        );
    }
    let next = Cell::new(0);
    let hold = Pass {
        bn: BnMode::Population(&[], &next),
        ..pass_batch()
    };
    let ct: Tensor<(usize, Const<3>), f32, Cpu> = dev.tensor_from_vec(c.clone(), (32, Const));
    let loss = |layer: &Small| -> f64 {
        let xt: Tensor<(usize, Const<2>), f32, Cpu> = dev.tensor_from_vec(x.clone(), (32, Const));
        let y = layer.run(Maps { x: xt, side: 4 }, &hold).x.as_vec();
        y.iter().zip(&c).map(|(a, b)| *a as f64 * *b as f64).sum()
    };
    let xt: Tensor<(usize, Const<2>), f32, Cpu> = dev.tensor_from_vec(x.clone(), (32, Const));
    let y = layer.run(
        Maps {
            x: xt.trace(layer.alloc_grads()),
            side: 4,
        },
        &hold,
    );
    let g = (y.x * ct).sum().backward().get(&layer.weight).as_vec();
    let mut order: Vec<usize> = (0..w.len()).collect();
    order.sort_by(|a, b| g[*b].abs().total_cmp(&g[*a].abs()));
    let h = 1e-3f32;
    let mut u = Vec::new();
    layer.buffers(&mut u);
    for &k in order.iter().take(6) {
        let mut p = w.clone();
        p[k] += h;
        layer.weight.copy_from(&p);
        let up = loss(&layer);
        p[k] -= 2.0 * h;
        layer.weight.copy_from(&p);
        let dn = loss(&layer);
        layer.weight.copy_from(&w);
        let numeric = (up - dn) / (2.0 * h as f64);
        let a = g[k] as f64;
        assert!(a.abs() > 0.05, "entry {k}: {a} too small to test");
        assert!(
            (numeric - a).abs() < 2e-2 * a.abs() + 2e-3,
            "entry {k}: numeric {numeric} vs backward {a}"
        );
    }
    // u was held throughout.
    let mut u2 = Vec::new();
    layer.buffers(&mut u2);
    assert_eq!(u, u2);
}

/// Gram error of the flattened kernel: the larger of |W Wᵀ − I| or |Wᵀ W − I| over the smaller
/// side of the rows × cols matrix `m` (row-major).
fn gram_error(m: &[f32], rows: usize, cols: usize) -> f64 {
    let a = DMatrix::<f64>::from_row_slice(
        rows,
        cols,
        &m.iter().map(|v| *v as f64).collect::<Vec<_>>(),
    );
    let g = if rows <= cols {
        &a * a.transpose()
    } else {
        a.transpose() * &a
    };
    (g - DMatrix::<f64>::identity(rows.min(cols), rows.min(cols)))
        .abs()
        .max()
}

/// Orthogonal initialisation of a convolution (operand (k·k·C_in, C_out), i.e. orthonormal
/// rows of the (C_out, C_in·k·k) matrix: orthonormal columns of the operand) and of a
/// transposed convolution ((C_in, k·k·C_out), orthonormal rows: its first axis is the input
/// channels). Control: N(0, 0.02²) weights are far from orthogonal.
#[test]
fn orthogonal_init_of_conv_kernels() {
    let dev = Cpu::seed_from_u64(0);
    let mut rng = StdRng::seed_from_u64(1);
    let mut conv = Conv::<3, 8, 3, 1, 1, NoNorm<8>, Identity>::build(&dev);
    conv.init_orthogonal(&mut rng);
    assert!(gram_error(&conv.weight.as_vec(), 27, 8) < 1e-5);
    let mut convt = ConvT::<16, 4, 4, 2, 1, NoNorm<4>, Identity>::build(&dev);
    convt.init_orthogonal(&mut rng);
    assert!(gram_error(&convt.weight.as_vec(), 16, 64) < 1e-5);
    // A wide conv (C_out > k·k·C_in): orthonormal rows of the operand instead.
    let mut wide = Conv::<1, 16, 2, 1, 0, NoNorm<16>, Identity>::build(&dev);
    wide.init_orthogonal(&mut rng);
    assert!(gram_error(&wide.weight.as_vec(), 4, 16) < 1e-5);
    let normal: Vec<f32> = (0..27 * 8)
        .map(|_| 0.02 * rng.sample::<f32, _>(rand_distr::StandardNormal))
        .collect();
    assert!(gram_error(&normal, 27, 8) > 0.5, "control");
}

fn edgan_config(batch: usize) -> ImageGanConfig {
    ImageGanConfig {
        arch: ImageArch {
            variant: VariantKind::Edgan,
            model: ImageModel::EdganDcgan,
            r311: true,
            sn_in_p: true,
            latent: 128,
            optim_d: Optim::OAdam,
            optim_g: Optim::OAdam,
            init_d: WeightInit::Orthogonal,
            init_g: WeightInit::Orthogonal,
            lr_d: 1e-4,
            lr_g: 4e-4,
            ..Default::default()
        },
        train: TrainSettings {
            batch,
            d_steps: 2,
            adam_beta1: 0.5,
            adam_beta2: 0.9,
            d_init_std: 0.02,
            g_init_std: 0.02,
            ..Default::default()
        },
    }
}

/// The OptimizedDCGAN + EDGAN trainer: finite steps reporting ρ (EDGAN's G step), OAdam
/// states and the spectral norm's u in the checkpoint state, and a trainer restored from the
/// state after step 1 continues bit for bit. Controls: a fresh trainer differs, and λ = 0
/// gives the same D after the first D steps but another G (the penalty acts on G only,
/// through the harness's real batch).
#[test]
fn edgan_trainer_steps_and_resumes_exactly() {
    let dev = Cpu::seed_from_u64(0);
    let mut rng = StdRng::seed_from_u64(8);
    let b = 3;
    let width = 2 * b * 3072;
    let reals: Vec<f32> = (0..3 * width).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let batch = |t: u64| &reals[t as usize * width..(t as usize + 1) * width];
    let cfg = edgan_config(b);
    let mut a = build_image(&dev, &cfg, 3).unwrap();
    let s0 = a.step(0, batch(0));
    assert!(s0.is_finite(), "{s0:?}");
    let rho = s0.g.ced.expect("EDGAN reports ρ");
    assert!(rho > 0.0 && rho.is_finite(), "{rho}");
    let saved = a.state().unwrap();
    assert!(saved.g.oadam.is_some() && saved.d.oadam.is_some());
    assert_eq!(saved.d.oadam.as_ref().unwrap().t, 2, "two D steps");
    assert_eq!(saved.d.buffers.len(), 1, "one spectrally normalised layer");
    assert_eq!(
        saved.d.buffers[0].len(),
        1,
        "u over the logit's one output channel"
    );
    assert!(saved.g.buffers.is_empty());
    let straight: Vec<_> = (1..3).map(|t| a.step(t, batch(t))).collect();
    let mut r = build_image(&dev, &cfg, 3).unwrap();
    r.set_state(&saved).unwrap();
    let resumed: Vec<_> = (1..3).map(|t| r.step(t, batch(t))).collect();
    assert_eq!(straight, resumed);
    assert_eq!(a.samples(4, 9), r.samples(4, 9));
    // Control: a fresh trainer that skips the restore differs.
    let mut c = build_image(&dev, &cfg, 3).unwrap();
    let fresh: Vec<_> = (1..3).map(|t| c.step(t, batch(t))).collect();
    assert_ne!(straight, fresh, "the restore made no difference");
    // SN_in_P's layer has one output: W is 1 × 4096, one power iteration gives σ = ‖W‖
    // exactly from any u ≠ 0, so a lost u changes nothing here (measured: identical steps).
    // That u persists and matters for wider layers is the layer test above.
    let mut no_u = saved.clone();
    no_u.d.buffers = vec![Vec::new()];
    let mut c = build_image(&dev, &cfg, 3).unwrap();
    c.set_state(&no_u).unwrap();
    let without: Vec<_> = (1..3).map(|t| c.step(t, batch(t))).collect();
    assert_eq!(
        straight, without,
        "a one-output layer's σ does not depend on u"
    );
    // λ = 0: the same D steps, another G step.
    let mut cfg0 = cfg.clone();
    cfg0.arch.lambda_ced = 0.0;
    let mut z = build_image(&dev, &cfg0, 3).unwrap();
    let s0z = z.step(0, batch(0));
    let st0 = z.state().unwrap();
    assert_eq!(s0z.d_loss, s0.d_loss);
    assert_eq!(st0.d.params, saved.d.params);
    assert_ne!(st0.g.params, saved.g.params);
}

/// ρ on the FID network's features (`arch.ced_on = fid-features`, the spec's switch): the
/// trainer steps finitely and deterministically with a feature map, reports another ρ than
/// the pixel trainer on the same batch and moves G elsewhere, while D's first steps are the
/// same (ρ acts on G only); G differs from the same trainer at λ = 0 (the feature ρ's gradient
/// reaches G). Controls: without the map, and on a GAN variant, the switch is refused naming
/// the key.
#[test]
fn edgan_rho_on_fid_features_trains() {
    use gan_variants::config::CedInput;
    use gan_variants::metrics::feature_net::{FeatureMap, FeatureNet};
    use gan_variants::variants::build_image_with;
    use std::sync::Arc;
    let dev = Cpu::seed_from_u64(0);
    let mut rng = StdRng::seed_from_u64(12);
    let b = 3;
    let reals: Vec<f32> = (0..2 * b * 3072)
        .map(|_| rng.gen_range(-1.0..1.0))
        .collect();
    let mut net = FeatureNet::new(&dev, 1e-3, &mut rng);
    net.fit_population_stats(&reals[..4 * 3072]);
    let map = Arc::new(FeatureMap::new(&net, &reals[2 * 3072..]));
    let pixels = edgan_config(b);
    let mut feats = pixels.clone();
    feats.arch.ced_on = CedInput::FidFeatures;
    let run = |cfg: &ImageGanConfig| {
        let mut t = build_image_with(&dev, cfg, 3, Some(map.clone())).unwrap();
        let s = t.step(0, &reals);
        (s, t.state().unwrap())
    };
    let (s, st) = run(&feats);
    assert!(s.is_finite(), "{s:?}");
    assert_eq!(run(&feats).0, s, "same seed, same step");
    let (sp, stp) = run(&pixels);
    let (rf, rp) = (s.g.ced.unwrap(), sp.g.ced.unwrap());
    assert!((rf - rp).abs() > 0.1, "features' ρ {rf} vs pixels' {rp}");
    assert_eq!(st.d.params, stp.d.params, "D's steps do not see ρ");
    assert_ne!(st.g.params, stp.g.params, "the feature ρ moved G elsewhere");
    // Control that the feature ρ's gradient reaches G: at λ = 0 G moves elsewhere.
    let mut zero = feats.clone();
    zero.arch.lambda_ced = 0.0;
    assert_ne!(
        run(&zero).1.g.params,
        st.g.params,
        "the feature ρ did not reach G"
    );
    let e = build_image_with(&dev, &feats, 3, None).err().unwrap();
    assert!(e.contains("ced_on"), "{e}");
    let mut gan = feats.clone();
    gan.arch.variant = VariantKind::Gan;
    let e = build_image_with(&dev, &gan, 3, Some(map.clone()))
        .err()
        .unwrap();
    assert!(e.contains("ced_on"), "{e}");
}

/// z ~ U[−1, 1] (the figure-2 baseline's prior) changes the samples against N(0, I) and stays
/// deterministic; the figure-2 models train with Adam and N(0, σ²) weights.
#[test]
fn fig2_baseline_with_uniform_prior_steps() {
    let dev = Cpu::seed_from_u64(0);
    let mut rng = StdRng::seed_from_u64(9);
    let reals: Vec<f32> = (0..2 * 3072).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let mut cfg = ImageGanConfig {
        arch: ImageArch {
            variant: VariantKind::Gan,
            model: ImageModel::EdganDcgan,
            latent: 100,
            ..Default::default()
        },
        train: TrainSettings {
            batch: 2,
            latent_prior: LatentPrior::Uniform,
            d_init_std: 0.02,
            g_init_std: 0.02,
            ..Default::default()
        },
    };
    let mut u = build_image(&dev, &cfg, 1).unwrap();
    assert!(u.step(0, &reals).is_finite());
    let su = u.samples(3, 0);
    cfg.train.latent_prior = LatentPrior::Normal;
    let mut n = build_image(&dev, &cfg, 1).unwrap();
    assert!(n.step(0, &reals).is_finite());
    assert_ne!(su, n.samples(3, 0));
    let mut u2 = build_image(
        &dev,
        &{
            let mut c = cfg.clone();
            c.train.latent_prior = LatentPrior::Uniform;
            c
        },
        1,
    )
    .unwrap();
    u2.step(0, &reals);
    assert_eq!(su, u2.samples(3, 0));
    // Settings the families do not have are refused with the key.
    let mut bad = cfg.clone();
    bad.arch.model = ImageModel::Dcgan;
    bad.arch.r311 = true;
    assert!(build_image(&dev, &bad, 1).err().unwrap().contains("r311"));
    let mut bad = cfg.clone();
    bad.arch.latent = 64;
    assert!(build_image(&dev, &bad, 1).err().unwrap().contains("latent"));
}

/// The Table 6 peers built so far on the same models: LSGAN (figure-2 D) and SNGAN's D
/// (spectral norm on all seven layers, one u per layer of its output channels in the state)
/// step finitely and deterministically per seed.
#[test]
fn lsgan_and_sngan_peers_step() {
    let dev = Cpu::seed_from_u64(0);
    let mut rng = StdRng::seed_from_u64(10);
    let reals: Vec<f32> = (0..2 * 3 * 3072)
        .map(|_| rng.gen_range(-1.0..1.0))
        .collect();
    let base = ImageGanConfig {
        arch: ImageArch {
            model: ImageModel::EdganDcgan,
            r311: true,
            latent: 128,
            ..Default::default()
        },
        train: TrainSettings {
            batch: 3,
            d_steps: 2,
            d_init_std: 0.02,
            g_init_std: 0.02,
            ..Default::default()
        },
    };
    let mut ls = base.clone();
    ls.arch.variant = VariantKind::Lsgan;
    let mut sn = base.clone();
    sn.arch.sn_all = true;
    for cfg in [ls, sn] {
        let run = || {
            let mut t = build_image(&dev, &cfg, 4).unwrap();
            let s = t.step(0, &reals);
            (s, t.state().unwrap())
        };
        let (a, sa) = run();
        let (b, _) = run();
        assert!(a.is_finite(), "{a:?}");
        assert_eq!(a, b);
        if cfg.arch.sn_all {
            let sizes: Vec<usize> = sa.d.buffers.iter().map(Vec::len).collect();
            assert_eq!(sizes, [64, 64, 128, 128, 256, 256, 1]);
        } else {
            assert!(sa.d.buffers.is_empty());
        }
    }
}

fn critic_arch() -> (ImageArch, TrainSettings) {
    (
        ImageArch {
            variant: VariantKind::WganGp,
            model: ImageModel::EdganDcgan,
            critic: true,
            lambda_gp: 10.0,
            latent: 128,
            ..Default::default()
        },
        TrainSettings {
            batch: 2,
            d_init_std: 0.1,
            g_init_std: 0.02,
            ..Default::default()
        },
    )
}

/// The critic's input gradient written as forward operations (masks of the recording pass,
/// transposed convolutions with the traced weights) equals dfdx's own backward of the summed
/// outputs to the input, on two random images (largest relative difference measured 2e-6 here,
/// bound 1e-4); the batch-norm D refuses (None: batch norm couples the rows).
#[test]
fn critic_input_gradient_equals_autodiff() {
    use gan_variants::nets::edgan::discriminator;
    let dev = Cpu::seed_from_u64(0);
    let (arch, train) = critic_arch();
    let d = discriminator::<3072>(&dev, &arch, &train, &mut StdRng::seed_from_u64(1)).unwrap();
    let mut rng = StdRng::seed_from_u64(2);
    let x: Vec<f32> = (0..2 * 3072).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let x: Tensor<(usize, Const<3072>), f32, Cpu> = dev.tensor_from_vec(x, (2, Const));
    let (out, _, g) = d
        .forward_with_input_grad(x.clone().leaky_trace(), &[2])
        .expect("the critic writes its input gradient");
    let (out2, _) = d.forward(x.clone().leaky_trace(), &[2], None);
    assert_eq!(
        out.as_vec(),
        out2.as_vec(),
        "the recording pass is the training pass"
    );
    let want = out2.sum().backward().get(&x).as_vec();
    let got = g.as_vec();
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 1e-3, "{scale}");
    let worst = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs() / scale)
        .fold(0f32, f32::max);
    assert!(
        worst < 1e-4,
        "largest difference {worst} of the scale {scale}"
    );
    // Control: the batch-norm discriminator cannot write it.
    let bn = ImageArch {
        critic: false,
        variant: VariantKind::Gan,
        lambda_gp: 0.0,
        ..arch
    };
    let d = discriminator::<3072>(&dev, &bn, &train, &mut StdRng::seed_from_u64(1)).unwrap();
    assert!(d.forward_with_input_grad(x.leaky_trace(), &[2]).is_none());
}

/// A small critic of the same layer kinds (conv(3,4,2,1) + bias + LeakyReLU on 8 × 8 × 2, then
/// the 4 × 4 compression to one linear output): few activations, so a perturbation of ±h
/// flips no activation mask (on the full critic one of its 10⁵ masks flips and finite
/// differences see the jump, not the derivative).
type TinyCritic = gan_variants::nets::conv::ConvNet<
    128,
    2,
    3,
    1,
    1,
    (Conv<2, 3, 4, 2, 1, gan_variants::nets::Bias<3>, gan_variants::nets::conv::LeakyRelu>,),
    (Conv<3, 1, 4, 1, 0, gan_variants::nets::Bias<1>, Identity>,),
>;

/// WGAN-GP's penalty mean (‖∇D(x̂)‖ − 1)² and GAN-0GP's mean ‖∇D(x̂)‖² as functions of the
/// critic's weights: backward through the input-gradient chain against central differences at
/// every entry of both weights whose gradient is above 0.2 (the penalty reaches the first
/// layer through the compression layer's Wᵀ and the mask, and the last through its own). Where
/// a perturbation flips an activation mask (a kink: the one-sided differences disagree by a
/// jump), the gradient must equal the smooth side's one-sided slope.
#[test]
fn critic_penalty_gradient_matches_finite_differences() {
    use gan_variants::nets::conv::init_weights;
    use gan_variants::nets::{Net, Trainable};
    use gan_variants::variants::penalty::{gradient_penalty, Centre};
    let dev = Cpu::seed_from_u64(0);
    let (_, train) = critic_arch();
    let mut net = TinyCritic::build(&dev);
    init_weights(&mut net, 0.5, &mut StdRng::seed_from_u64(1));
    let mut d = Trainable::new(net, Optim::Adam, 1e-4, &train);
    let mut rng = StdRng::seed_from_u64(3);
    let x: Vec<f32> = (0..2 * 128).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let x: Tensor<(usize, Const<128>), f32, Cpu> = dev.tensor_from_vec(x, (2, Const));
    let (mut tested, mut kinks) = (0, 0);
    for centre in [Centre::One, Centre::Zero] {
        let penalty = |d: &Trainable<TinyCritic>| -> f64 {
            let (_, _, g) = d
                .forward_with_input_grad(x.clone().leaky_trace(), &[2])
                .unwrap();
            gradient_penalty(g, centre).1 as f64
        };
        let (_, _, g) = d
            .forward_with_input_grad(x.clone().trace(d.alloc_grads()), &[2])
            .unwrap();
        let grads = gradient_penalty(g, centre).0.backward();
        for first in [true, false] {
            let analytic = if first {
                grads.get(&d.net.trunk.0.weight).as_vec()
            } else {
                grads.get(&d.net.head.0.weight).as_vec()
            };
            let set = |d: &mut Trainable<TinyCritic>, v: &[f32]| {
                if first {
                    d.net.trunk.0.weight.copy_from(v)
                } else {
                    d.net.head.0.weight.copy_from(v)
                }
            };
            let base = if first {
                d.net.trunk.0.weight.as_vec()
            } else {
                d.net.head.0.weight.as_vec()
            };
            let h = 1e-3f32;
            for (k, a) in analytic.iter().enumerate() {
                if a.abs() < 0.2 {
                    continue;
                }
                let mut p = base.clone();
                p[k] += h;
                set(&mut d, &p);
                let up = penalty(&d);
                p[k] -= 2.0 * h;
                set(&mut d, &p);
                let dn = penalty(&d);
                set(&mut d, &base);
                // A mask flipping within ±h is a kink: the penalty jumps (measured: one
                // activation of this draw sits at ≈ 0, and perturbing many first-layer
                // weights flips it, a jump of 0.72, a one-sided slope of ≈ 720). There the
                // backward gradient must equal the one-sided slope of the smooth side.
                let mid = penalty(&d);
                let (plus, minus) = ((up - mid) / h as f64, (mid - dn) / h as f64);
                let a = *a as f64;
                if (plus - minus).abs() > 5.0 {
                    let smooth = if plus.abs() < minus.abs() {
                        plus
                    } else {
                        minus
                    };
                    assert!(
                        (smooth - a).abs() < 2e-2 * a.abs() + 1e-2,
                        "{centre:?} kink at weight {k}: smooth side {smooth} vs backward {a}"
                    );
                    kinks += 1;
                    continue;
                }
                let numeric = (up - dn) / (2.0 * h as f64);
                assert!(
                    // Measured: largest absolute difference 3.9e-3 (f32 rounding of a penalty
                    // ≈ 31 over 2h), largest relative 1.0 % above 0.2.
                    (numeric - a).abs() < 2e-2 * a.abs() + 5e-3,
                    "{centre:?} {} weight {k}: numeric {numeric} vs backward {a}",
                    if first { "first" } else { "last" }
                );
                tested += 1;
            }
        }
    }
    assert!(
        tested > 100,
        "only {tested} entries above the threshold (measured 200)"
    );
    // Measured: 200 smooth entries and 46 at the one kink.
    assert!(kinks < tested, "{tested} smooth entries, {kinks} kinks");
}

/// WGAN-GP, GAN-0GP and the bi-penalty (EDGAN with WGAN-GP's penalty on the critic) step
/// finitely, report the penalty, and repeat per seed; the penalty's weight reaches D's update
/// (control: λ = 10 and λ = 1 give different D parameters after the first step).
#[test]
fn penalised_peers_step() {
    let dev = Cpu::seed_from_u64(0);
    let mut rng = StdRng::seed_from_u64(11);
    let reals: Vec<f32> = (0..2 * 3 * 3072)
        .map(|_| rng.gen_range(-1.0..1.0))
        .collect();
    let (arch, mut train) = critic_arch();
    (train.batch, train.d_steps) = (3, 2);
    let mut bi = arch.clone();
    (bi.variant, bi.r311) = (VariantKind::Edgan, true);
    let mut zero = arch.clone();
    zero.variant = VariantKind::Gan0Gp;
    for a in [arch.clone(), zero, bi] {
        let cfg = ImageGanConfig {
            arch: a,
            train: train.clone(),
        };
        let run = |cfg: &ImageGanConfig| {
            let mut t = build_image(&dev, cfg, 4).unwrap();
            let s = t.step(0, &reals);
            (s, t.state().unwrap())
        };
        let (s, st) = run(&cfg);
        assert!(s.is_finite(), "{:?}: {s:?}", cfg.arch.variant);
        assert!(s.d.grad_penalty.is_some_and(|p| p.is_finite() && p >= 0.0));
        assert_eq!(run(&cfg).0, s);
        let mut weak = cfg.clone();
        weak.arch.lambda_gp = 1.0;
        assert_ne!(run(&weak).1.d.params, st.d.params, "{:?}", cfg.arch.variant);
    }
    // A penalised variant without the critic is refused with the key.
    let mut bad = ImageGanConfig {
        arch: arch.clone(),
        train: train.clone(),
    };
    bad.arch.critic = false;
    assert!(build_image(&dev, &bad, 1).err().unwrap().contains("critic"));
}

/// SNGAN's D has seven spectrally normalised layers, each with a u that matters (wider than one
/// output): a trainer restored from the state after step 1 (u included) continues bit for bit,
/// and one restored with every u cleared does not (control: u is saved and restored, and
/// matters). Compare the one-output SN_in_P layer, where u cannot matter (the EDGAN test).
#[test]
fn sngan_resumes_exactly_through_its_seven_u() {
    let dev = Cpu::seed_from_u64(0);
    let mut rng = StdRng::seed_from_u64(12);
    let width = 2 * 3 * 3072;
    let reals: Vec<f32> = (0..3 * width).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let batch = |t: u64| &reals[t as usize * width..(t as usize + 1) * width];
    let cfg = ImageGanConfig {
        arch: ImageArch {
            model: ImageModel::EdganDcgan,
            r311: true,
            sn_all: true,
            latent: 128,
            ..Default::default()
        },
        train: TrainSettings {
            batch: 3,
            d_steps: 2,
            d_init_std: 0.02,
            g_init_std: 0.02,
            ..Default::default()
        },
    };
    let mut a = build_image(&dev, &cfg, 5).unwrap();
    a.step(0, batch(0));
    let saved = a.state().unwrap();
    assert_eq!(saved.d.buffers.len(), 7);
    let straight: Vec<_> = (1..3).map(|t| a.step(t, batch(t))).collect();
    let mut r = build_image(&dev, &cfg, 5).unwrap();
    r.set_state(&saved).unwrap();
    let resumed: Vec<_> = (1..3).map(|t| r.step(t, batch(t))).collect();
    assert_eq!(straight, resumed);
    let mut no_u = saved.clone();
    no_u.d.buffers = vec![Vec::new(); 7];
    let mut c = build_image(&dev, &cfg, 5).unwrap();
    c.set_state(&no_u).unwrap();
    let without: Vec<_> = (1..3).map(|t| c.step(t, batch(t))).collect();
    assert_ne!(straight, without, "u made no difference");
}
