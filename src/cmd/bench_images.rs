//! The image rows of `ebgan bench` (image-GAN issue, "Speed"): the DCGAN discriminator's
//! forward + backward at batch 64 on 32 × 32 × 3, its convolution layers alone, the same
//! layers' matmuls alone (the difference is the column transforms), and full D + G steps of
//! the face models (DCGAN, EBGAN) at 32 × 32 and 64 × 64 on random images; and
//! ([`measure_edgan`]) the D and G steps of the EDGAN paper's models at batch 64.
//!
//! FLOP counts are matmul FLOP: a layer's forward product 2·rows·K·N (per image:
//! [`LayerInfo::flops_per_image`]), three such products for forward + backward (the input and
//! the weight gradient). A D + G step of the harness runs D forward + backward on 2b images
//! (3 · 2b · F_D), then D forward + backward on the b fakes (3 · b · F_D) and G forward +
//! backward on b latents (3 · b · F_G): 9b·F_D + 3b·F_G.

use super::bench::time_steps;
use dfdx::prelude::*;
use gan_variants::config::{ImageArch, ImageGanConfig, TrainSettings};
use gan_variants::nets::conv::LayerInfo;
use gan_variants::nets::image::{AutoEncoder, DcganD32, DcganD64, Generator32, Generator64};
use gan_variants::ops::conv::{conv2d, Geometry, Mat};
use gan_variants::ops::matmul::matmul_w;
use gan_variants::variants::build_image;
use gan_variants::VariantKind;

/// A measurement: name, milliseconds per call, GFLOP per call.
pub type Timed = (String, Vec<f64>, f64);

/// Batch of the image rows (DCGAN's 64).
pub const BATCH: usize = 64;

/// Forward matmul FLOP per image of each model at (side, variant): (F_G, F_D).
pub fn model_flops(side: usize, variant: VariantKind) -> (f64, f64) {
    let dev = Cpu::seed_from_u64(0);
    let f_g = match side {
        32 => Generator32::<3, 3072>::build(&dev).flops_per_image(),
        _ => Generator64::<3, 12288>::build(&dev).flops_per_image(),
    };
    let f_d = match (side, variant) {
        (32, VariantKind::Gan) => DcganD32::<3, 3072, 1>::build(&dev).flops_per_image(),
        (_, VariantKind::Gan) => DcganD64::<3, 12288, 1>::build(&dev).flops_per_image(),
        (32, _) => AutoEncoder::<3, 3072, 3072>::build(&dev).flops_per_image(),
        _ => AutoEncoder::<3, 12288, 12288>::build(&dev).flops_per_image(),
    };
    (f_g, f_d)
}

/// GFLOP of one D + G step of the harness at batch `b`: 9b·F_D + 3b·F_G.
pub fn step_gflop(b: usize, f_g: f64, f_d: f64) -> f64 {
    (9.0 * b as f64 * f_d + 3.0 * b as f64 * f_g) / 1e9
}

fn random(dev: &Cpu, rows: usize, cols: usize) -> Mat {
    dev.sample_uniform_like(&(rows, cols)) * 2.0 - 1.0
}

/// The DCGAN discriminator rows and the face-model steps; `steps` timed calls after `warmup`
/// for the discriminator rows, a tenth of them (at least 3, one warm-up) for the steps, which
/// take seconds at 64 × 64.
pub fn measure(warmup: usize, steps: usize) -> Vec<Timed> {
    let dev = Cpu::seed_from_u64(0);
    let mut out = Vec::new();
    // The DCGAN D, 32 × 32 × 3, batch 64: full forward + backward (batch norm, LeakyReLU).
    let d = DcganD32::<3, 3072, 1>::build(&dev);
    let layers = d.layers().expect("compiled shapes");
    let f_d: f64 = layers.iter().map(|l| l.flops_per_image).sum();
    let x: Tensor<(usize, Const<3072>), f32, Cpu> =
        dev.sample_uniform_like(&(BATCH, Const)) * 2.0 - 1.0;
    let pass = gan_variants::nets::conv::Pass {
        segments: &[BATCH],
        eps: 1e-5,
        bn: gan_variants::nets::BnMode::Batch,
    };
    out.push((
        "dcgan_d32_fwd_bwd".into(),
        time_steps(warmup, steps, |_| {
            let g = d.alloc_grads();
            let (y, _) = d.run(x.clone().trace(g), &pass);
            drop(y.sum().backward());
        }),
        3.0 * BATCH as f64 * f_d / 1e9,
    ));
    // Its convolutions alone (im2col + matmul, and their backward), then their matmuls alone
    // (the same gemm 0.19 op): the difference is the column transforms.
    let convs: Vec<(LayerInfo, Mat, Mat)> = layers
        .iter()
        .map(|l| {
            let x = random(&dev, BATCH * l.side_in * l.side_in, l.c_in);
            let w = random(&dev, l.kernel * l.kernel * l.c_in, l.c_out);
            (l.clone(), x, w)
        })
        .collect();
    out.push((
        "dcgan_d32_convs_only".into(),
        time_steps(warmup, steps, |_| {
            for (l, x, w) in &convs {
                let g = Geometry::new(l.kernel, l.stride, l.pad);
                let y = conv2d(x.clone().leaky_trace(), w, l.side_in, l.side_in, g);
                drop(y.sum().backward());
            }
        }),
        3.0 * BATCH as f64 * f_d / 1e9,
    ));
    let products: Vec<(Mat, Mat)> = layers
        .iter()
        .map(|l| {
            let rows = BATCH * l.side_out * l.side_out;
            (
                random(&dev, rows, l.kernel * l.kernel * l.c_in),
                random(&dev, l.kernel * l.kernel * l.c_in, l.c_out),
            )
        })
        .collect();
    out.push((
        "dcgan_d32_matmuls_only".into(),
        time_steps(warmup, steps, |_| {
            for (a, w) in &products {
                drop(matmul_w(a.clone().leaky_trace(), w).sum().backward());
            }
        }),
        3.0 * BATCH as f64 * f_d / 1e9,
    ));
    // Full D + G steps of the face models.
    let step_runs = (steps / 10).max(3);
    for side in [32, 64] {
        for variant in [VariantKind::Gan, VariantKind::Ebgan] {
            let cfg = ImageGanConfig {
                arch: ImageArch {
                    variant,
                    side,
                    channels: 3,
                    lr_d: 2e-4,
                    lr_g: 2e-4,
                    margin: 20.0,
                    pt_weight: 0.1,
                    ..Default::default()
                },
                train: TrainSettings {
                    batch: BATCH,
                    d_init_std: 0.02,
                    g_init_std: 0.02,
                    ..Default::default()
                },
            };
            let mut trainer = build_image(&dev, &cfg, 1).expect("compiled geometry");
            let width = trainer.width();
            let reals: Vec<f32> = random(&dev, BATCH, width).as_vec();
            let (f_g, f_d) = model_flops(side, variant);
            let name = match variant {
                VariantKind::Gan => format!("faces{side}_dcgan_step"),
                _ => format!("faces{side}_ebgan_step"),
            };
            out.push((
                name,
                time_steps(1, step_runs, |t| {
                    trainer.step(t, &reals);
                }),
                step_gflop(BATCH, f_g, f_d),
            ));
        }
    }
    out
}

/// The EDGAN paper's three protocols at batch 64 on random 32 × 32 × 3 images: the figure-2
/// DCGAN (GAN losses, Adam), OptimizedDCGAN (R311 + SN_in_P, orthogonal, OAdam, GAN losses)
/// and EDGAN (OptimizedDCGAN + λ·ρ on G), each trained with one and with two D steps per G
/// step. Rows `edgan32_<model>_step_k1` and `_k2` are measured (`steps`/10 calls, at least 3,
/// after one warm-up); `_d_step` = median(k2) − median(k1) and `_g_step` = median(k1) −
/// `_d_step` are derived from those medians (one value each: the harness times no part of a
/// step on its own). GFLOP: a D step 3·2b·F_D, a G step 3b·(F_D + F_G) (ρ's soft histograms
/// not counted).
pub fn measure_edgan(steps: usize) -> Vec<Timed> {
    use gan_variants::config::{ImageModel, Optim, WeightInit};
    use gan_variants::nets::edgan::{Fig2Discriminator, Fig2Generator, R311Generator};
    let dev = Cpu::seed_from_u64(0);
    let runs = (steps / 10).max(3);
    let reals: Vec<f32> = random(&dev, 2 * BATCH, 3072).as_vec();
    let f_d = Fig2Discriminator::<3072, 1>::build(&dev).flops_per_image();
    let mut out = Vec::new();
    for model in ["dcgan", "optimized", "edgan"] {
        let mut arch = ImageArch {
            model: ImageModel::EdganDcgan,
            latent: 128,
            ..Default::default()
        };
        if model != "dcgan" {
            arch.r311 = true;
            arch.sn_in_p = true;
            (arch.init_d, arch.init_g) = (WeightInit::Orthogonal, WeightInit::Orthogonal);
            (arch.optim_d, arch.optim_g) = (Optim::OAdam, Optim::OAdam);
        }
        if model == "edgan" {
            arch.variant = VariantKind::Edgan;
        }
        let f_g = if arch.r311 {
            R311Generator::<128, 3072>::build(&dev).flops_per_image()
        } else {
            Fig2Generator::<128, 3072>::build(&dev).flops_per_image()
        };
        let b = BATCH as f64;
        let mut medians = [0.0; 2];
        for k in [1usize, 2] {
            let cfg = ImageGanConfig {
                arch: arch.clone(),
                train: TrainSettings {
                    batch: BATCH,
                    d_steps: k,
                    d_init_std: 0.02,
                    g_init_std: 0.02,
                    ..Default::default()
                },
            };
            let mut trainer = build_image(&dev, &cfg, 1).expect("compiled geometry");
            let ms = time_steps(1, runs, |t| {
                trainer.step(t, &reals[..k * BATCH * 3072]);
            });
            medians[k - 1] = super::bench::summary(ms.clone()).0;
            out.push((
                format!("edgan32_{model}_step_k{k}"),
                ms,
                (3.0 * 2.0 * b * f_d * k as f64 + 3.0 * b * (f_d + f_g)) / 1e9,
            ));
        }
        let d = medians[1] - medians[0];
        out.push((
            format!("edgan32_{model}_d_step"),
            vec![d],
            3.0 * 2.0 * b * f_d / 1e9,
        ));
        out.push((
            format!("edgan32_{model}_g_step"),
            vec![medians[0] - d],
            3.0 * b * (f_d + f_g) / 1e9,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand counts of the forward matmul FLOP per image. DCGAN D 32 (output pixels × 16·C_in ×
    /// C_out): 16²·(16·3·64) + 8²·(16·64·128) + 4²·(16·128·256) + 1·(16·256·1), times 2 =
    /// 2·(786,432 + 8,388,608 + 8,388,608 + 4,096) = 35,135,488. G 32 (transposed: input pixels × C_in × 16·C_out): 1·100·
    /// 16·512 + 16·512·16·256 + 64·256·16·128 + 256·128·16·3, times 2 = 2·(819,200 +
    /// 33,554,432 + 33,554,432 + 1,572,864) = 139,001,856.
    #[test]
    fn flop_counts_match_hand_counts() {
        let (f_g, f_d) = model_flops(32, VariantKind::Gan);
        assert_eq!(f_d, 35_135_488.0);
        assert_eq!(f_g, 139_001_856.0);
        // A D + G step at b = 64: 9·64·F_D + 3·64·F_G.
        let want = (9.0 * 64.0 * 35_135_488.0 + 3.0 * 64.0 * 139_001_856.0) / 1e9;
        assert!((step_gflop(64, f_g, f_d) - want).abs() < 1e-9);
    }
}
