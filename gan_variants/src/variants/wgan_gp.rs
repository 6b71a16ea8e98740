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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variants::{assert_input_grad_entries, test_input_grads as grads, test_out as out};

    /// Critic outputs real (2, −1), fake (0.5, −3), λ = 10: L_D = mean ℓ(fake) − mean ℓ(real)
    /// plus λ·((5 − 1)² + (0.5 − 1)²)/2, that is −1.25 − 0.5 + 81.25 = 79.5; ∂L_D/∂ℓ is −½ on
    /// real rows and ½ on fake rows; ∂L_D/∂g = λ·2(‖g‖ − 1)/‖g‖·g / 2 (the mean over two rows):
    /// (24, 32) on row 1, (0, −5) on row 2. G on (0.5, −3): L_G = −mean ℓ = 1.25, ∂/∂ℓ = −½
    /// each. A flipped sign of the Wasserstein term would give 83.0.
    #[test]
    fn losses_and_gradients_by_hand() {
        let dev: Cpu = Default::default();
        let (mut d, t) = out(&dev, &[2.0, -1.0, 0.5, -3.0]);
        let g = grads(&dev);
        d.interp_grad = Some(g.clone().leaky_trace());
        let (loss, s) = WganGp { lambda: 10.0 }.d_loss(d, 2);
        assert!((loss.array() - 79.5).abs() < 1e-4, "{}", loss.array());
        assert_eq!((s.real, s.fake), (Some(0.5), Some(-1.25)));
        assert!((s.grad_penalty.unwrap() - 8.125).abs() < 1e-5);
        let grads_all = loss.backward();
        assert_eq!(grads_all.get(&t).as_vec(), vec![-0.5, -0.5, 0.5, 0.5]);
        let gg = grads_all.get(&g).as_vec();
        assert_input_grad_entries(&gg, [24.0, 32.0, 0.0, -5.0]);
        let (d, t) = out(&dev, &[0.5, -3.0]);
        let (loss, _) = WganGp { lambda: 10.0 }.g_loss(d);
        assert!((loss.array() - 1.25).abs() < 1e-6);
        assert_eq!(loss.backward().get(&t).as_vec(), vec![-0.5, -0.5]);
    }
}
