//! WGAN-GP (Gulrajani et al. 2017), a peer of the EDGAN paper's Table 6: a critic D (no batch
//! norm) with one linear output ℓ;
//! L_D = mean ℓ(G(z)) − mean ℓ(x) + λ · mean_i (‖∇ℓ(x̂_i)‖ − 1)²  (x̂ per-sample interpolates),
//! L_G = −mean ℓ(G(z)). λ = 10 (the paper's). The schedule (critic steps per G step, optimisers)
//! is the configuration's.

use super::penalty::{gradient_penalty, Centre};
use crate::harness::{one_output_g, DiscOut, LossStats, Losses, OneOutput};
use crate::shapes::Loss;
use dfdx::prelude::*;

/// The WGAN-GP losses with penalty weight λ.
#[derive(Clone, Copy, Debug)]
pub struct WganGp {
    pub lambda: f32,
}

impl<const X: usize> Losses<X, 1> for WganGp {
    fn d_loss(&self, mut d: DiscOut<X, 1>, n_real: usize) -> (Loss, LossStats) {
        let interp_grad = d.interp_grad.take();
        let o = OneOutput::new(d, n_real);
        let (real, fake) = o.means(|v| v);
        // Σ w_f ℓ − Σ w_r ℓ = mean ℓ(fake) − mean ℓ(real).
        let wasserstein = (o.l * (o.w_fake - o.w_real)).sum();
        let (gp, gp_value) = gradient_penalty(
            interp_grad.expect("the harness fills interp_grad"),
            Centre::One,
        );
        let stats = LossStats {
            real: Some(real),
            fake: Some(fake),
            grad_penalty: Some(gp_value),
            ..Default::default()
        };
        (wasserstein + gp * self.lambda, stats)
    }

    fn g_loss(&self, d: DiscOut<X, 1>) -> (Loss, LossStats) {
        let (l, m) = one_output_g(d);
        let stats = LossStats {
            fake: Some(m),
            ..Default::default()
        };
        (l.mean().negate(), stats)
    }

    fn needs_interpolates(&self) -> bool {
        true
    }
}
