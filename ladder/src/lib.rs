//! The ladder network with the bottom-layer cost (Rasmus et al. 2015; Pezeshki et al. 2015)
//! and its use as the discriminator of an energy-based GAN, "EBGAN-LN"
//! (Zhao, Mathieu & LeCun 2017, section 4.2 and appendix D).
//!
//! This crate holds models, losses, schedules and training steps. It takes tensors in and
//! gives numbers out; it never reads or writes files.
//!
//! Shapes: every feature width is a named const (see [`shapes`]) and every layer a type; the
//! batch dimension is a runtime `usize`, so that the labeled, unlabeled and fake groups of a
//! step are stacked into one matrix (one matmul per layer) while batch normalisation keeps
//! per-group statistics ([`bn`]).
//!
//! Two implementations of the corrupted pass: [`Ladder::corrupted`] builds it from dfdx ops
//! (autodiff; the reference), and [`fast`] writes it and its backward pass by hand (the
//! training steps of [`train`]); `tests/fast_pass.rs` holds them equal.

pub mod bn;
pub mod combinator;
pub mod config;
pub mod fast;
pub mod fused;
pub mod generator;
pub mod model;
pub mod optim;
pub mod params;
pub mod rng;
pub mod schedule;
pub mod shapes;
pub mod train;
pub mod validate;

pub use config::{BnGroups, CombinatorKind, EbganProtocol, LadderConfig, LnProtocol, TestBnStats};
pub use model::Ladder;
pub use train::{evaluate, Batch, EbganLnTrainer, LnTrainer, StepStats, Trainer};
