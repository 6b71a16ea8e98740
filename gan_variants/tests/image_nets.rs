//! The image models (gan_variants::nets::image) on the convolutional family: every layer's
//! shape against the spec's layer lists, parameter counts by hand, the initialisation, batch
//! norm per segment, the generator's gradient through an autoencoder D against finite
//! differences, and the image trainers' steps (finite, deterministic per seed).

use dfdx::prelude::*;
use gan_variants::config::{EnergyNorm, ImageArch, ImageGanConfig, Optim, TrainSettings};
use gan_variants::harness::{generate, generator_loss};
use gan_variants::nets::conv::{
    init_weights, Conv, ConvNet, ConvT, Identity, LayerInfo, LeakyRelu, Relu,
};
use gan_variants::nets::image::{
    discriminator, generator, AutoEncoder, DcganD32, DcganD64, DiscKind, Generator32, Generator64,
};
use gan_variants::nets::{Affine, Bias, Net, Trainable};
use gan_variants::shapes::{Rows, LATENT};
use gan_variants::variants::build_image;
use gan_variants::variants::ebgan::Ebgan;
use gan_variants::variants::ebgan_pt::EbganPt;
use gan_variants::VariantKind;
use rand::{rngs::StdRng, SeedableRng};

/// (kind, C_in, C_out, side in, side out) of each layer.
fn shapes(l: &[LayerInfo]) -> Vec<(&'static str, usize, usize, usize, usize)> {
    l.iter()
        .map(|l| (l.kind, l.c_in, l.c_out, l.side_in, l.side_out))
        .collect()
}

/// The spec's layer lists (conv-gans-edgan.md, "EBGAN convolutional models"): G projects z to
/// 4 × 4 × 512 and doubles with stride-2 transposed convolutions; the DCGAN D halves to 4 × 4
/// then compresses to one logit; the autoencoder is (64)4c2s-(128)4c2s-(256)4c2s then
/// (128)4c2s-(64)4c2s-(C)4c2s.
#[test]
fn every_layer_has_the_spec_shape() {
    let dev = Cpu::seed_from_u64(0);
    let t = "conv_t";
    let c = "conv";
    let g32 = Generator32::<3, 3072>::build(&dev).layers().unwrap();
    assert_eq!(
        shapes(&g32),
        [
            (t, 100, 512, 1, 4),
            (t, 512, 256, 4, 8),
            (t, 256, 128, 8, 16),
            (t, 128, 3, 16, 32)
        ]
    );
    let g64 = Generator64::<3, 12288>::build(&dev).layers().unwrap();
    assert_eq!(
        shapes(&g64),
        [
            (t, 100, 512, 1, 4),
            (t, 512, 256, 4, 8),
            (t, 256, 128, 8, 16),
            (t, 128, 64, 16, 32),
            (t, 64, 3, 32, 64)
        ]
    );
    let d32 = DcganD32::<3, 3072, 1>::build(&dev).layers().unwrap();
    assert_eq!(
        shapes(&d32),
        [
            (c, 3, 64, 32, 16),
            (c, 64, 128, 16, 8),
            (c, 128, 256, 8, 4),
            (c, 256, 1, 4, 1)
        ]
    );
    let d64 = DcganD64::<3, 12288, 1>::build(&dev).layers().unwrap();
    assert_eq!(
        shapes(&d64),
        [
            (c, 3, 64, 64, 32),
            (c, 64, 128, 32, 16),
            (c, 128, 256, 16, 8),
            (c, 256, 512, 8, 4),
            (c, 512, 1, 4, 1)
        ]
    );
    for (side, layers) in [
        (
            64,
            AutoEncoder::<3, 12288, 12288>::build(&dev)
                .layers()
                .unwrap(),
        ),
        (
            32,
            AutoEncoder::<3, 3072, 3072>::build(&dev).layers().unwrap(),
        ),
    ] {
        let (h, q, e) = (side / 2, side / 4, side / 8);
        assert_eq!(
            shapes(&layers),
            [
                (c, 3, 64, side, h),
                (c, 64, 128, h, q),
                (c, 128, 256, q, e),
                (t, 256, 128, e, q),
                (t, 128, 64, q, h),
                (t, 64, 3, h, side)
            ]
        );
    }
    // Control: a model whose output does not have the declared width is refused.
    let wrong = DcganD32::<3, 3072, 2>::build(&dev).layers();
    assert!(
        wrong.unwrap_err().contains("not 2"),
        "1 logit declared as 2"
    );
    let wrong = Generator32::<3, 12288>::build(&dev).layers();
    assert!(wrong.is_err(), "a 32 × 32 generator declared 64 × 64");
}

/// Parameter counts by hand: k²·C_in·C_out per weight, 2·C_out for batch norm (γ, β), C_out for
/// a bias; no bias on layers followed by batch norm.
#[test]
fn parameter_counts_match_the_layer_lists() {
    let dev = Cpu::seed_from_u64(0);
    let train = TrainSettings::default();
    let mut rng = StdRng::seed_from_u64(1);
    let w = |ci: usize, co: usize| 16 * ci * co;
    let g = generator::<3072>(&dev, 32, 3, 2e-4, &train, &mut rng).unwrap();
    let want_g = w(100, 512) + 1024 + w(512, 256) + 512 + w(256, 128) + 256 + w(128, 3) + 3;
    assert_eq!(g.num_params(), want_g);
    assert_eq!(want_g, 3_448_579);
    let d = discriminator::<3072, 1>(&dev, DiscKind::Logit, 32, 3, 2e-4, &train, &mut rng).unwrap();
    let want_d = w(3, 64) + 64 + w(64, 128) + 256 + w(128, 256) + 512 + w(256, 1) + 1;
    assert_eq!(d.num_params(), want_d);
    let ae =
        discriminator::<3072, 3072>(&dev, DiscKind::AutoEncoder, 32, 3, 2e-4, &train, &mut rng)
            .unwrap();
    let want_ae = w(3, 64) + 64 + w(64, 128) + 256 + w(128, 256) + 512 // encoder
        + w(256, 128) + 256 + w(128, 64) + 128 + w(64, 3) + 3; // decoder
    assert_eq!(ae.num_params(), want_ae);
    // Geometries without a compiled model are an error naming the compiled ones.
    let e = generator::<4096>(&dev, 32, 4, 2e-4, &train, &mut rng)
        .err()
        .unwrap();
    assert!(e.contains("32 × 32 × 3"), "{e}");
}

/// Weights from N(0, 0.02²) (DCGAN), biases and β 0. The tolerance is 5 % of σ: the smallest
/// weight layer has 16 · 128 · 3 = 6,144 weights, whose sample RMS has a relative standard
/// error 1/√(2n) = 0.9 %. dfdx's default (zeros here, before the initialisation) or a σ of
/// 0.002 fails it.
#[test]
fn initialisation_is_dcgan_normal() {
    let dev = Cpu::seed_from_u64(0);
    let train = TrainSettings {
        g_init_std: 0.02,
        d_init_std: 0.02,
        ..Default::default()
    };
    let mut rng = StdRng::seed_from_u64(3);
    let g = generator::<3072>(&dev, 32, 3, 2e-4, &train, &mut rng).unwrap();
    let d = discriminator::<3072, 3072>(&dev, DiscKind::AutoEncoder, 32, 3, 2e-4, &train, &mut rng)
        .unwrap();
    for (net, stats, n) in [("G", g.layer_stats(), 4), ("D", d.layer_stats(), 6)] {
        assert_eq!(stats.len(), n, "{net}: one entry per layer");
        for (k, (rms, bias)) in stats.into_iter().enumerate() {
            assert!(
                (rms - 0.02).abs() < 0.05 * 0.02,
                "{net} layer {k}: RMS {rms}"
            );
            assert_eq!(bias, 0.0, "{net} layer {k}");
        }
    }
}

/// Real and fake images stacked into one batch get their own batch-norm statistics: the
/// discriminator's outputs equal two separate passes; one joint segment differs (control).
#[test]
fn stacked_segments_equal_separate_passes() {
    let dev = Cpu::seed_from_u64(0);
    let train = TrainSettings {
        d_init_std: 0.02,
        ..Default::default()
    };
    let mut rng = StdRng::seed_from_u64(4);
    let d = discriminator::<3072, 1>(&dev, DiscKind::Logit, 32, 3, 2e-4, &train, &mut rng).unwrap();
    let a: Rows<3072> = dev.sample_normal_like(&(3, Const));
    let b: Rows<3072> = (dev.sample_normal_like(&(4, Const)) * 0.5 + 0.3).retaped();
    let mut both = a.as_vec();
    both.extend(b.as_vec());
    let both: Rows<3072> = dev.tensor_from_vec(both, (7, Const));
    let stacked = d.forward_untraced(both.clone(), &[3, 4]).as_vec();
    let mut separate = d.forward_untraced(a, &[3]).as_vec();
    separate.extend(d.forward_untraced(b, &[4]).as_vec());
    let diff = |x: &[f32], y: &[f32]| x.iter().zip(y).fold(0f32, |m, (p, q)| m.max((p - q).abs()));
    assert!(
        diff(&stacked, &separate) < 1e-5,
        "{stacked:?} vs {separate:?}"
    );
    let joint = d.forward_untraced(both, &[7]).as_vec();
    assert!(
        diff(&joint, &separate) > 1e-4,
        "segments made no difference"
    );
}

/// A small generator (z → 4 × 4 × 4 → 8 × 8 × 1) and autoencoder D (8 × 8 × 1 → 4 × 4 × 3 →
/// 8 × 8 × 1) of the family, for finite differences.
type TinyG = Trainable<
    ConvNet<
        LATENT,
        LATENT,
        4,
        64,
        1,
        (ConvT<LATENT, 4, 4, 1, 0, Affine<4>, Relu>,),
        (ConvT<4, 1, 4, 2, 1, Bias<1>, Identity>,),
    >,
>;
type TinyD = Trainable<
    ConvNet<
        64,
        1,
        3,
        64,
        1,
        (Conv<1, 3, 4, 2, 1, Bias<3>, LeakyRelu>,),
        (ConvT<3, 1, 4, 2, 1, Bias<1>, Identity>,),
    >,
>;

/// L_G of EBGAN-PT through the convolutional G and autoencoder D: the autodiff gradient of G's
/// first weights against central differences. Fails if the tape is cut anywhere between G and
/// the loss (the transposed convolutions' col2im, the reshapes into and out of the family, D's
/// input, the reconstruction target, or the encoder code of the PT term).
#[test]
fn generator_gradient_through_conv_nets_matches_finite_differences() {
    let dev = Cpu::seed_from_u64(0);
    let train = TrainSettings::default();
    let mut rng = StdRng::seed_from_u64(5);
    let mut g: TinyG = Trainable::new(ConvNet::build(&dev), Optim::Adam, 1e-3, &train);
    init_weights(&mut g.net, 0.3, &mut rng);
    let mut d: TinyD = Trainable::new(ConvNet::build(&dev), Optim::Adam, 1e-3, &train);
    init_weights(&mut d.net, 0.3, &mut rng);
    g.net.layers().unwrap();
    d.net.layers().unwrap();
    let losses = EbganPt {
        ebgan: Ebgan {
            margin: 10.0,
            norm: EnergyNorm::L2,
        },
        weight: 0.5,
    };
    let z: Rows<LATENT> = dev.sample_normal_like(&(4, Const));
    let loss_at = |g: &TinyG| -> f64 {
        let fake = generate(g as &dyn Net<LATENT, 64>, z.clone().leaky_trace());
        generator_loss(
            &d as &dyn Net<64, 64>,
            &losses,
            fake,
            None,
            None::<(&dyn Net<64, LATENT>, _)>,
            None,
        )
        .0
        .array() as f64
    };
    let fake = generate(
        &g as &dyn Net<LATENT, 64>,
        z.clone().trace(g.net.alloc_grads()),
    );
    let grads = generator_loss(
        &d as &dyn Net<64, 64>,
        &losses,
        fake,
        None,
        None::<(&dyn Net<64, LATENT>, _)>,
        None,
    )
    .0
    .backward();
    let analytic = grads.get(&g.net.trunk.0.weight).as_vec();
    let base = g.net.trunk.0.weight.as_vec();
    let mut order: Vec<usize> = (0..base.len()).collect();
    order.sort_by(|a, b| analytic[*b].abs().total_cmp(&analytic[*a].abs()));
    let h = 1e-3f32;
    for &i in order.iter().take(8) {
        let mut p = base.clone();
        p[i] += h;
        g.net.trunk.0.weight.copy_from(&p);
        let lp = loss_at(&g);
        p[i] -= 2.0 * h;
        g.net.trunk.0.weight.copy_from(&p);
        let lm = loss_at(&g);
        g.net.trunk.0.weight.copy_from(&base);
        let numeric = (lp - lm) / (2.0 * h as f64);
        let a = analytic[i] as f64;
        assert!(
            (numeric - a).abs() < 0.03 * a.abs() + 1e-4,
            "weight {i}: numeric {numeric} vs autodiff {a}"
        );
        assert!(
            numeric.abs() > 20.0 * 1e-4,
            "weight {i}: {numeric} too small to test"
        );
    }
}

fn image_config(variant: VariantKind, batch: usize) -> ImageGanConfig {
    ImageGanConfig {
        arch: ImageArch {
            variant,
            side: 32,
            channels: 3,
            lr_d: 2e-4,
            lr_g: 2e-4,
            margin: 20.0,
            pt_weight: 0.1,
            ..Default::default()
        },
        train: TrainSettings {
            batch,
            d_init_std: 0.02,
            g_init_std: 0.02,
            ..Default::default()
        },
    }
}

/// Two steps of every image variant on fixed random "images": finite losses, D's statistics
/// present, samples of the right size in [−1, 1], and the same numbers from a second trainer
/// built from the same seed (a different seed differs: control).
#[test]
fn image_trainers_step_deterministically() {
    let dev = Cpu::seed_from_u64(0);
    let mut rng = StdRng::seed_from_u64(7);
    let reals: Vec<f32> = (0..2 * 4 * 3072)
        .map(|_| rand::Rng::gen_range(&mut rng, -1.0..1.0))
        .collect();
    for v in [VariantKind::Gan, VariantKind::Ebgan, VariantKind::EbganPt] {
        let cfg = image_config(v, 4);
        let run = |seed: u64| {
            let mut t = build_image(&dev, &cfg, seed).unwrap();
            assert_eq!(t.width(), 3072);
            let s: Vec<_> = (0..2)
                .map(|k| {
                    t.step(
                        k,
                        &reals[k as usize * 4 * 3072..(k as usize + 1) * 4 * 3072],
                    )
                })
                .collect();
            (s, t.samples(5, 0))
        };
        let (a, samples) = run(1);
        let (b, _) = run(1);
        let (c, _) = run(2);
        assert_eq!(a, b, "{v:?}: same seed, same steps");
        assert_ne!(a, c, "{v:?}: another seed differs");
        for s in &a {
            assert!(s.is_finite(), "{v:?}: {s:?}");
            assert!(s.d.real.is_some() && s.d.fake.is_some());
            assert_eq!(s.g.pt.is_some(), v == VariantKind::EbganPt);
        }
        assert_eq!(samples.len(), 5 * 3072);
        assert!(samples.iter().all(|x| (-1.0..=1.0).contains(x)));
    }
    // A geometry without a model is a clear error.
    let mut cfg = image_config(VariantKind::Gan, 4);
    cfg.arch.side = 48;
    let e = build_image(&dev, &cfg, 1).err().unwrap();
    assert!(e.contains("arch.side"), "{e}");
}

/// A trainer restored from another's state after step 1 continues exactly as the original:
/// the same statistics at steps 2 and 3 and the same samples (exact resume). Control: a fresh
/// trainer that skips the restore differs. A state of another model is refused.
#[test]
fn state_restores_a_trainer_exactly() {
    let dev = Cpu::seed_from_u64(0);
    let mut rng = StdRng::seed_from_u64(8);
    let reals: Vec<f32> = (0..3 * 4 * 3072)
        .map(|_| rand::Rng::gen_range(&mut rng, -1.0..1.0))
        .collect();
    let batch = |t: u64| &reals[t as usize * 4 * 3072..(t as usize + 1) * 4 * 3072];
    let cfg = image_config(VariantKind::EbganPt, 4);
    let mut a = build_image(&dev, &cfg, 3).unwrap();
    a.step(0, batch(0));
    let saved = a.state().unwrap();
    let straight: Vec<_> = (1..3).map(|t| a.step(t, batch(t))).collect();
    let mut b = build_image(&dev, &cfg, 3).unwrap();
    b.set_state(&saved).unwrap();
    let resumed: Vec<_> = (1..3).map(|t| b.step(t, batch(t))).collect();
    assert_eq!(straight, resumed);
    assert_eq!(a.samples(4, 9), b.samples(4, 9));
    let mut c = build_image(&dev, &cfg, 3).unwrap();
    let fresh: Vec<_> = (1..3).map(|t| c.step(t, batch(t))).collect();
    assert_ne!(straight, fresh, "the restore made no difference");
    let mut gan = build_image(&dev, &image_config(VariantKind::Gan, 4), 3).unwrap();
    let e = gan.set_state(&saved).unwrap_err();
    assert!(e.starts_with("D: "), "{e}");
}

/// The ImageNet models of appendix C: every layer's sides and channels (noise planes included
/// in the next layer's input channels), the declared noise arithmetic checked (control), the
/// 128 × 128 generator's noise deterministic per z and different across z, and one EBGAN-PT
/// step of each size on random images (finite, samples of the right size). A DCGAN
/// discriminator at these sizes is refused.
#[test]
fn imagenet_models_build_shape_check_and_step() {
    use gan_variants::nets::conv::{Maps, NoiseConcat, Pass, Stage};
    use gan_variants::nets::image::{ImageNetAe128, ImageNetAe256, ImageNetG128, ImageNetG256};
    let dev = Cpu::seed_from_u64(0);
    let t = "conv_t";
    let c = "conv";
    let g128 = ImageNetG128::<49152>::build(&dev).layers().unwrap();
    assert_eq!(
        shapes(&g128),
        [
            (t, 100, 1024, 1, 4),
            (t, 1088, 512, 4, 8),
            (t, 544, 256, 8, 16),
            (t, 272, 128, 16, 32),
            (t, 136, 64, 32, 64),
            (t, 68, 64, 64, 128),
            (c, 64, 3, 128, 128)
        ]
    );
    let g256 = ImageNetG256::<196608>::build(&dev).layers().unwrap();
    let sides: Vec<(usize, usize, usize)> =
        g256.iter().map(|l| (l.c_in, l.c_out, l.side_out)).collect();
    assert_eq!(
        sides,
        [
            (100, 2048, 4),
            (2112, 1024, 8),
            (1056, 512, 16),
            (528, 256, 32),
            (264, 128, 64),
            (132, 64, 128),
            (66, 64, 256),
            (64, 3, 256)
        ]
    );
    let ae128 = ImageNetAe128::<49152, 49152>::build(&dev).layers().unwrap();
    let sides: Vec<usize> = ae128.iter().map(|l| l.side_out).collect();
    assert_eq!(sides, [64, 32, 16, 8, 16, 32, 64, 128]);
    let ae256 = ImageNetAe256::<196608, 196608>::build(&dev)
        .layers()
        .unwrap();
    assert_eq!(ae256.len(), 10);
    assert_eq!(ae256[4].side_out, 8);
    // Control: 4 + 2 planes declared as 7 channels.
    use gan_variants::nets::conv::Layers;
    assert!(NoiseConcat::<4, 2, 7>.describe(8, &mut Vec::new()).is_err());
    // Noise planes: a function of each image's input, N(0, 1), appended after its channels.
    let pass = Pass {
        segments: &[3],
        eps: 1e-5,
        bn: gan_variants::nets::BnMode::Batch,
    };
    let x: Rows<4> = dev.sample_normal_like(&(3 * 64, Const));
    let noise = NoiseConcat::<4, 60, 64>;
    let a = noise
        .run(
            Maps {
                x: x.clone(),
                side: 8,
            },
            &pass,
        )
        .x
        .as_vec();
    let b = noise
        .run(
            Maps {
                x: x.clone(),
                side: 8,
            },
            &pass,
        )
        .x
        .as_vec();
    assert_eq!(a, b, "the planes are a deterministic function of the input");
    let xs = x.as_vec();
    for (r, row) in a.chunks_exact(64).enumerate() {
        assert_eq!(
            &row[..4],
            &xs[r * 4..r * 4 + 4],
            "the input channels come first"
        );
    }
    let planes: Vec<f64> = a
        .chunks_exact(64)
        .flat_map(|r| r[4..].iter().map(|v| *v as f64))
        .collect();
    let m = planes.iter().sum::<f64>() / planes.len() as f64;
    let v = planes.iter().map(|p| (p - m).powi(2)).sum::<f64>() / planes.len() as f64;
    // 11,520 draws: the mean's standard error is 0.009, the variance's 0.013.
    assert!(
        m.abs() < 0.05 && (v - 1.0).abs() < 0.07,
        "mean {m}, variance {v}"
    );
    let image_a = &a[..64 * 64];
    let image_b = &a[64 * 64..2 * 64 * 64];
    assert_ne!(
        &image_a[4..64],
        &image_b[4..64],
        "two images drew the same planes"
    );
    for side in [128usize, 256] {
        let mut cfg = image_config(VariantKind::EbganPt, 2);
        cfg.arch.side = side;
        let mut trainer = build_image(&dev, &cfg, 1).unwrap();
        let width = side * side * 3;
        assert_eq!(trainer.width(), width);
        let reals: Vec<f32> = dev.sample_uniform_like(&(2 * width,)).as_vec();
        let s = trainer.step(0, &reals);
        assert!(s.is_finite(), "{side}: {s:?}");
        assert_eq!(trainer.samples(2, 0).len(), 2 * width);
        cfg.arch.variant = VariantKind::Gan;
        let e = build_image(&dev, &cfg, 1).err().unwrap();
        assert!(e.contains("no DCGAN discriminator"), "{e}");
    }
}
