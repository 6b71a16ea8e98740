//! The Parzen-window test log-likelihood of a trained generator (Goodfellow et al. 2014,
//! section 5), on 784 pixels in [0, 1]: σ is chosen from [`SIGMAS`] by the mean
//! log-likelihood of the last `parzen_validation` training images, then the 10,000 test images
//! are scored. As in the GAN paper, the validation images are held out of the generator's
//! training set (a run with `--parzen` trains on the first 60,000 − `parzen_validation`), so
//! σ is chosen on images the generator never saw.

use crate::data::Mnist;
use anyhow::Result;
use dfdx::prelude::*;
use gan_variants::harness::GanTrainer;
use gan_variants::parzen::{log_likelihoods, mean_and_stderr, select_sigma};
use gan_variants::shapes::crop_to_28;
use serde::{Deserialize, Serialize};

/// Candidate σ: 20 values spaced geometrically from 0.05 to 1.
pub fn sigmas() -> Vec<f64> {
    (0..20)
        .map(|i| 0.05 * 20f64.powf(i as f64 / 19.0))
        .collect()
}

/// The GAN paper's Table 1 (Parzen log-likelihood on MNIST, mean ± standard error).
pub const PAPER: [(&str, f64, f64); 4] = [
    ("DBN", 138.0, 2.0),
    ("Stacked CAE", 121.0, 1.6),
    ("Deep GSN", 214.0, 1.1),
    ("Adversarial nets", 225.0, 2.0),
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParzenRow {
    pub id: String,
    pub samples: usize,
    pub validation_images: usize,
    pub test_images: usize,
    pub sigma: f64,
    /// True when σ is the smallest or largest candidate (widen the grid).
    pub sigma_at_edge: bool,
    pub validation_ll: f64,
    pub test_ll: f64,
    pub test_ll_stderr: f64,
}

/// Draws `n_samples` samples (stream Samples, counter 2) and estimates the test log-likelihood,
/// σ chosen on the last `n_validation` training images.
///
/// Errors when those images overlap the generator's training images 0..`trained_on`.
pub fn estimate(
    id: &str,
    trainer: &dyn GanTrainer,
    data: &Mnist,
    n_samples: usize,
    n_validation: usize,
    trained_on: usize,
) -> Result<ParzenRow> {
    let dev: Cpu = Default::default();
    let d = crate::data::PIXELS;
    let n_train = data.train.len();
    if n_validation == 0 || n_validation > n_train || trained_on > n_train - n_validation {
        anyhow::bail!(
            "Parzen σ would be chosen on training images {}..{n_train}, but the generator trained on images 0..{trained_on}: hold them out (run with --parzen)",
            n_train.saturating_sub(n_validation)
        );
    }
    let samples = crop_to_28(&trainer.samples(n_samples, 2));
    let train = &data.train.images;
    let validation = &train[train.len() - n_validation * d..];
    let grid = sigmas();
    let (best, means) = select_sigma(&dev, &samples, validation, d, &grid);
    let ll = log_likelihoods(&dev, &samples, &data.test.images, d, grid[best]);
    let (mean, se) = mean_and_stderr(&ll);
    Ok(ParzenRow {
        id: id.to_string(),
        samples: n_samples,
        validation_images: n_validation,
        test_images: data.test.len(),
        sigma: grid[best],
        sigma_at_edge: best == 0 || best == grid.len() - 1,
        validation_ll: means[best],
        test_ll: mean,
        test_ll_stderr: se,
    })
}
