//! The variants, each its losses in one small file: [`gan`] (Goodfellow et al. 2014),
//! [`ebgan`] (EBGAN eqs. 1, 2, 13), [`ebgan_pt`] (eq. 14), [`energy`] (the energy view's
//! energy GAN: gradient penalty and MI bound) and [`edgan`] (EDGAN's conditional entropy
//! distance on G). This file only maps a
//! configuration's variant to its losses and to the discriminator that fits them (one logit or
//! an autoencoder), then hands both networks to the one [`Harness`].

pub mod ebgan;
pub mod ebgan_pt;
pub mod edgan;
pub mod energy;
pub mod gan;
pub mod gan_0gp;
pub mod hinge;
pub mod lsgan;
pub mod penalty;
pub mod wgan_gp;

use crate::config::{CedInput, GanConfig, ImageGanConfig, ImageModel, VariantKind};
use crate::harness::{stream, GanTrainer, Harness, Stream};
use crate::metrics::feature_net::FeatureMap;
use crate::nets::energy::build_energy;
use crate::nets::image::{discriminator, generator, DiscKind};
use crate::nets::Net;
use crate::nets::{build_discriminator, build_generator};
use crate::shapes::{LATENT, PIXELS};
use dfdx::prelude::*;
use std::sync::Arc;

/// The trainer of a fully connected configuration (the MNIST grid), initialised from `seed`.
/// The energy GAN's U is the energy network ([`crate::nets::energy::build_energy`], D's
/// layers and width, Glorot initialisation); its encoder E (when λ₂ > 0) is the MLP family's
/// discriminator body with `LATENT` outputs, D's layers and width, G's optimiser, drawn from
/// the InitD stream after U.
pub fn build(dev: &Cpu, cfg: &GanConfig, seed: u64) -> Result<Box<dyn GanTrainer>, String> {
    let (a, t) = (&cfg.arch, &cfg.train);
    a.validate()?;
    let ebgan = ebgan::Ebgan {
        margin: a.margin,
        norm: t.energy,
    };
    Ok(match a.variant {
        VariantKind::Energy => {
            let g = build_generator(
                dev,
                a.n_layer_g,
                a.size_g,
                a.optim_g,
                a.lr,
                t,
                &mut stream(seed, Stream::InitG, 0),
            )?;
            let mut rng = stream(seed, Stream::InitD, 0);
            let u =
                build_energy::<PIXELS>(dev, a.n_layer_d, a.size_d, a.optim_d, a.lr, t, &mut rng)?;
            let e = if a.lambda_mi != 0.0 {
                Some(build_discriminator::<LATENT>(
                    dev,
                    a.n_layer_d,
                    a.size_d,
                    a.optim_g,
                    a.lr,
                    t,
                    &mut rng,
                )?)
            } else {
                None
            };
            let losses = energy::EnergyGan {
                lambda_gp: a.lambda_gp,
                lambda_mi: a.lambda_mi,
            };
            Box::new(Harness::with_encoder(dev, g, u, e, t, None, losses, seed)?)
        }
        VariantKind::Gan => Box::new(Harness::new(dev, a, t, gan::Gan, seed)?),
        VariantKind::Edgan
        | VariantKind::Lsgan
        | VariantKind::WganGp
        | VariantKind::Gan0Gp
        | VariantKind::Hinge => {
            return Err(format!(
                "{} is an image variant (`ebgan edgan`)",
                a.variant.name()
            ))
        }
        VariantKind::Ebgan => Box::new(Harness::new(dev, a, t, ebgan, seed)?),
        VariantKind::EbganPt => Box::new(Harness::new(
            dev,
            a,
            t,
            ebgan_pt::EbganPt {
                ebgan,
                weight: a.pt_weight,
            },
            seed,
        )?),
    })
}

/// The trainer of an image configuration, initialised from `seed`: for `model = dcgan` the
/// DCGAN generator with the DCGAN discriminator (GAN) or the autoencoder (EBGAN, EBGAN-PT);
/// for `model = edgan-dcgan` the EDGAN paper's models ([`crate::nets::edgan`]) with a
/// one-logit D (GAN, EDGAN), z of `arch.latent` values.
pub fn build_image(
    dev: &Cpu,
    cfg: &ImageGanConfig,
    seed: u64,
) -> Result<Box<dyn GanTrainer>, String> {
    build_image_with(dev, cfg, seed, None)
}

/// [`build_image`] with the feature map EDGAN's ρ uses when `arch.ced_on = fid-features`
/// (required then; ignored otherwise).
pub fn build_image_with(
    dev: &Cpu,
    cfg: &ImageGanConfig,
    seed: u64,
    features: Option<Arc<FeatureMap>>,
) -> Result<Box<dyn GanTrainer>, String> {
    cfg.validate()?;
    let features = match (cfg.arch.ced_on, features) {
        (CedInput::Pixels, _) => None,
        (CedInput::FidFeatures, Some(f)) => Some(f),
        (CedInput::FidFeatures, None) => {
            return Err("arch.ced_on = fid-features needs the FID network's feature map (ebgan edgan run and ebgan images run load it)".into())
        }
    };
    if cfg.arch.model == ImageModel::EdganDcgan {
        return match cfg.arch.latent {
            100 => edgan_trainer::<3072, 100>(dev, cfg, seed, features),
            128 => edgan_trainer::<3072, 128>(dev, cfg, seed, features),
            z => Err(format!("no compiled EDGAN generator for z of {z} values")),
        };
    }
    if cfg.arch.latent != LATENT {
        return Err(format!(
            "arch.latent = {}: the DCGAN family is compiled for z of {LATENT} values",
            cfg.arch.latent
        ));
    }
    match (cfg.arch.side, cfg.arch.channels) {
        (32, 3) => image_trainer::<3072>(dev, cfg, seed, features),
        (64, 3) => image_trainer::<12288>(dev, cfg, seed, None),
        (32, 1) => image_trainer::<1024>(dev, cfg, seed, None),
        (128, 3) => image_trainer::<49152>(dev, cfg, seed, None),
        (256, 3) => image_trainer::<196608>(dev, cfg, seed, None),
        (s, c) => Err(format!(
            "no compiled image model for {s} × {s} × {c} (compiled: {:?})",
            crate::nets::image::COMPILED
        )),
    }
}

fn image_trainer<const X: usize>(
    dev: &Cpu,
    cfg: &ImageGanConfig,
    seed: u64,
    features: Option<Arc<FeatureMap>>,
) -> Result<Box<dyn GanTrainer>, String> {
    let (a, t) = (&cfg.arch, &cfg.train);
    let g = generator::<X>(
        dev,
        a.side,
        a.channels,
        a.lr_g,
        t,
        &mut stream(seed, Stream::InitG, 0),
    )?;
    let mut rng = stream(seed, Stream::InitD, 0);
    let ebgan = ebgan::Ebgan {
        margin: a.margin,
        norm: t.energy,
    };
    let d_logit =
        |rng| discriminator::<X, 1>(dev, DiscKind::Logit, a.side, a.channels, a.lr_d, t, rng);
    let d_ae = |rng| {
        discriminator::<X, X>(
            dev,
            DiscKind::AutoEncoder,
            a.side,
            a.channels,
            a.lr_d,
            t,
            rng,
        )
    };
    Ok(match a.variant {
        VariantKind::Gan
        | VariantKind::Edgan
        | VariantKind::Lsgan
        | VariantKind::WganGp
        | VariantKind::Gan0Gp
        | VariantKind::Hinge => logit_trainer(dev, cfg, seed, g, d_logit(&mut rng)?, features)?,
        VariantKind::Ebgan => Box::new(Harness::from_nets(
            dev,
            g,
            d_ae(&mut rng)?,
            t,
            None,
            ebgan,
            seed,
        )?),
        VariantKind::EbganPt => Box::new(Harness::from_nets(
            dev,
            g,
            d_ae(&mut rng)?,
            t,
            None,
            ebgan_pt::EbganPt {
                ebgan,
                weight: a.pt_weight,
            },
            seed,
        )?),
        VariantKind::Energy => {
            return Err("the energy GAN has no convolutional energy network yet (MNIST, fully connected: `ebgan gan run`)".into())
        }
    })
}

/// The EDGAN paper's models (figure 2 / OptimizedDCGAN, [`crate::nets::edgan`]) for z of `Z`
/// values: G from the stream InitG, D from InitD.
fn edgan_trainer<const X: usize, const Z: usize>(
    dev: &Cpu,
    cfg: &ImageGanConfig,
    seed: u64,
    features: Option<Arc<FeatureMap>>,
) -> Result<Box<dyn GanTrainer>, String> {
    let (a, t) = (&cfg.arch, &cfg.train);
    let g = crate::nets::edgan::generator::<Z, X>(dev, a, t, &mut stream(seed, Stream::InitG, 0))?;
    let d = crate::nets::edgan::discriminator::<X>(dev, a, t, &mut stream(seed, Stream::InitD, 0))?;
    logit_trainer(dev, cfg, seed, g, d, features)
}

/// A variant with a one-logit D on the built G and D.
fn logit_trainer<const X: usize, const Z: usize>(
    dev: &Cpu,
    cfg: &ImageGanConfig,
    seed: u64,
    g: Box<dyn Net<Z, X>>,
    d: Box<dyn Net<X, 1>>,
    features: Option<Arc<FeatureMap>>,
) -> Result<Box<dyn GanTrainer>, String> {
    let (a, t) = (&cfg.arch, &cfg.train);
    Ok(match a.variant {
        VariantKind::Gan => Box::new(Harness::from_nets(dev, g, d, t, None, gan::Gan, seed)?),
        VariantKind::Lsgan => Box::new(Harness::from_nets(dev, g, d, t, None, lsgan::Lsgan, seed)?),
        VariantKind::Hinge => Box::new(Harness::from_nets(dev, g, d, t, None, hinge::Hinge, seed)?),
        VariantKind::WganGp => Box::new(Harness::from_nets(
            dev,
            g,
            d,
            t,
            None,
            wgan_gp::WganGp {
                lambda: a.lambda_gp,
            },
            seed,
        )?),
        VariantKind::Gan0Gp => Box::new(Harness::from_nets(
            dev,
            g,
            d,
            t,
            None,
            gan_0gp::Gan0Gp {
                lambda: a.lambda_gp,
            },
            seed,
        )?),
        VariantKind::Edgan => Box::new(Harness::from_nets(
            dev,
            g,
            d,
            t,
            None,
            edgan::Edgan {
                lambda: a.lambda_ced,
                histogram: a.ced_histogram,
                features,
                penalty: a.g_penalty,
                lambda_gp: a.lambda_gp,
            },
            seed,
        )?),
        v => {
            return Err(format!(
                "variant {} needs another discriminator than the one-logit D of this model",
                v.name()
            ))
        }
    })
}

/// A one-output D's result for testing a variant's losses: the output rows `v` on a fresh tape
/// (zero code and input), and the leaf tensor whose gradient the loss's backward pass fills.
#[cfg(test)]
pub(crate) fn test_out(
    dev: &Cpu,
    v: &[f32],
) -> (crate::harness::DiscOut<PIXELS, 1>, crate::shapes::Rows<1>) {
    let t: crate::shapes::Rows<1> = dev.tensor_from_vec(v.to_vec(), (v.len(), Const));
    let input: crate::shapes::Rows<PIXELS> = dev.zeros_like(&(v.len(), Const));
    let code = dev.zeros_like(&(v.len(), 1usize)).leaky_trace();
    (
        crate::harness::DiscOut::new(t.clone().leaky_trace(), code, input.leaky_trace()),
        t,
    )
}

/// Per-sample input gradients (2, PIXELS) for testing a gradient penalty: rows (3, 4, 0, …) and
/// (0, 0.5, 0, …), of norms 5 and 0.5.
#[cfg(test)]
pub(crate) fn test_input_grads(dev: &Cpu) -> crate::shapes::Rows<PIXELS> {
    let mut v = vec![0f32; 2 * PIXELS];
    (v[0], v[1], v[PIXELS + 1]) = (3.0, 4.0, 0.5);
    dev.tensor_from_vec(v, (2, Const))
}

/// Asserts that `gg`, a gradient on [`test_input_grads`]' rows, holds `want` at the four
/// non-zero entries of those rows (row 1's first two values, then row 2's), within 1e-3.
#[cfg(test)]
pub(crate) fn assert_input_grad_entries(gg: &[f32], want: [f32; 4]) {
    let at = [0, 1, PIXELS, PIXELS + 1];
    for (i, w) in at.into_iter().zip(want) {
        assert!((gg[i] - w).abs() < 1e-3, "entry {i}: {} vs {w}", gg[i]);
    }
}
