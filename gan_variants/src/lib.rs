//! Generator/discriminator harness for the MNIST grid experiments of the EBGAN paper
//! (Zhao, Mathieu & LeCun 2017: Table 1, Figures 2–4 and 9) and the Parzen-window estimate of
//! Goodfellow et al. 2014: GAN, EBGAN and EBGAN-PT on one fully connected family
//! ([`nets`]), each variant only its losses in one small file ([`gan`], [`ebgan`],
//! [`ebgan_pt`]) driven by one training step ([`harness`]).
//!
//! Like `ladder`, this crate holds models, losses, scores and steps; it never touches files.

pub mod config;
pub mod nets;
pub mod ops;
pub mod shapes;

pub use config::{
    Arch, EnergyNorm, GanConfig, ImageArch, ImageGanConfig, Optim, TrainSettings, VariantKind,
};
pub mod classifier;
pub mod grid;
pub mod harness;
pub mod metrics;
pub mod optim;
pub mod parzen;
pub mod sampling;
pub mod score;
pub mod variants;

pub use variants::{ebgan, ebgan_pt, gan};
