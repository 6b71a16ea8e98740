//! EDGAN (spec conv-gans-edgan.md, "EDGAN", the paper's algorithm 1): GAN's losses with a
//! conditional-entropy-distance penalty on the generator,
//!
//! L_D = −E log D(x) − E log(1 − D(G(z)))  (as [`super::gan`]),
//! L_G = −E log D(G(z)) + λ · ρ(X_E, X̂_EG),
//!
//! ρ the conditional entropy distance ([`crate::ops::ced`]) between the real batch of the last
//! D step and the generated batch, their pixel values paired by position (the i-th real image
//! with the i-th fake, same pixel and channel), estimated by soft histograms (spec default: 32
//! bins on [−1, 1], Gaussian kernel one bin wide). λ = 1 in the paper. With `penalty = js` the
//! term is instead the JS divergence of the two batches' pixel histograms (Table 5's control;
//! `LossStats::ced` then reports that value). The schedule (2 D steps
//! per G step, OAdam, the learning rates) is the configuration's, not this file's.

use super::gan::Gan;
use super::penalty::{gradient_penalty, Centre};
use crate::config::GPenalty;
use crate::harness::{DiscOut, LossStats, Losses};
use crate::ops::ced::{ced, js_divergence, SoftHistogram};
use crate::shapes::{Loss, Traced};
use dfdx::prelude::*;

/// EDGAN's losses: GAN's plus λ·ρ on G.
#[derive(Clone, Copy, Debug)]
pub struct Edgan {
    /// λ, the penalty's weight (paper: 1; its Table 3 sweeps 0.1 … 20).
    pub lambda: f32,
    /// The soft-histogram estimator of ρ.
    pub histogram: SoftHistogram,
    /// ρ (EDGAN) or the JS divergence of the pixel histograms (the paper's Table 5 control).
    pub penalty: GPenalty,
    /// Weight of a one-centred gradient penalty on D at interpolates (WGAN-GP's), 0 = none:
    /// with ρ on G, the paper's Table 5 "bi-penalty" (λ = 10).
    pub lambda_gp: f32,
}

impl<const X: usize> Losses<X, 1> for Edgan {
    fn d_loss(&self, mut d: DiscOut<X, 1>, n_real: usize) -> (Loss, LossStats) {
        let g = d.interp_grad.take();
        let (gan, mut stats) = Gan.d_loss(d, n_real);
        match g {
            Some(g) if self.lambda_gp > 0.0 => {
                let (gp, v) = gradient_penalty(g, Centre::One);
                stats.grad_penalty = Some(v);
                (gan + gp * self.lambda_gp, stats)
            }
            _ => (gan, stats),
        }
    }

    fn needs_interpolates(&self) -> bool {
        self.lambda_gp > 0.0
    }

    fn g_loss(&self, mut d: DiscOut<X, 1>) -> (Loss, LossStats) {
        let real = d
            .real
            .take()
            .expect("the harness passes the real batch when needs_real_in_g_step");
        // The fakes as D saw them: the empty-tape copy shares their identity, so ρ's gradient
        // reaches G through them.
        let fake = d.input.with_empty_tape();
        let (gan, mut stats) = Gan.g_loss(d);
        let n = fake.shape().0 * X;
        let x = real.reshape_like(&(n,)).retaped::<Traced>();
        let y = fake.reshape_like(&(n,));
        let rho = match self.penalty {
            GPenalty::Ced => ced(x, y, &self.histogram),
            GPenalty::Js => js_divergence(x, y, &self.histogram),
        };
        stats.ced = Some(rho.array());
        (gan + rho * self.lambda, stats)
    }

    fn needs_real_in_g_step(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shapes::Rows;

    /// L_G = GAN's L_G + λ·ρ with ρ the estimator's value on the flattened batches, and
    /// ∂L_G/∂(fake pixels) equals GAN's plus λ·∂ρ/∂y (the penalty reaches the fakes through D's
    /// input); λ = 0 leaves GAN's loss and gradient. Control: with λ = 2 the gradient on the
    /// fakes differs from GAN's.
    #[test]
    fn g_loss_is_gan_plus_lambda_rho() {
        let dev: Cpu = Default::default();
        let real: Rows<4> =
            dev.tensor_from_vec(vec![-0.9, 0.1, 0.5, 0.8, -0.2, 0.3, 0.95, -0.6], (2, Const));
        let fake_v = vec![0.2, -0.4, 0.7, 0.1, -0.8, 0.6, 0.0, 0.35];
        let logits = vec![0.3f32, -1.2];
        let h = SoftHistogram {
            bins: 8,
            ..Default::default()
        };
        let run = |lambda: f32| {
            let fake: Rows<4> = dev.tensor_from_vec(fake_v.clone(), (2, Const));
            let fake_t = fake.clone().leaky_trace();
            // D's output as a function of the fakes: logit_i = c_i + Σ fake_i (on the tape).
            let sum = fake_t.with_empty_tape().sum::<(usize,), Axis<1>>();
            let c: Tensor<(usize,), f32, Cpu> = dev.tensor_from_vec(logits.clone(), (2,));
            let out = (sum + c).reshape_like(&(2, Const::<1>));
            let d = DiscOut {
                real: Some(real.clone()),
                ..DiscOut::new(out, dev.zeros_like(&(2, 1usize)).leaky_trace(), fake_t)
            };
            let (loss, stats) = Edgan {
                lambda,
                histogram: h,
                penalty: GPenalty::Ced,
                lambda_gp: 0.0,
            }
            .g_loss(d);
            let v = loss.array();
            let g = loss.backward().get(&fake).as_vec();
            (v, g, stats.ced)
        };
        let (l0, g0, rho0) = run(0.0);
        let (l2, g2, rho2) = run(2.0);
        let rho = {
            let x: Tensor<(usize,), f32, Cpu> = dev.tensor_from_vec(real.as_vec(), (8,));
            let y: Tensor<(usize,), f32, Cpu> = dev.tensor_from_vec(fake_v.clone(), (8,));
            ced(x, y, &h).array()
        };
        assert_eq!(rho0, Some(rho));
        assert_eq!(rho2, Some(rho));
        assert!(
            (l2 - (l0 + 2.0 * rho)).abs() < 1e-5,
            "{l2} vs {l0} + 2·{rho}"
        );
        // ∂ρ/∂y on its own, times λ, is the difference of the two gradients.
        let y: Tensor<(usize,), f32, Cpu> = dev.tensor_from_vec(fake_v.clone(), (8,));
        let x: Tensor<(usize,), f32, Cpu> = dev.tensor_from_vec(real.as_vec(), (8,));
        let yt = y.clone().leaky_trace();
        let drho = ced(x.retaped::<Traced>(), yt, &h)
            .backward()
            .get(&y)
            .as_vec();
        let mut largest = 0f32;
        for i in 0..8 {
            assert!(
                (g2[i] - g0[i] - 2.0 * drho[i]).abs() < 1e-4,
                "pixel {i}: {} vs {}",
                g2[i] - g0[i],
                2.0 * drho[i]
            );
            largest = largest.max((g2[i] - g0[i]).abs());
        }
        assert!(
            largest > 1e-2,
            "control: the penalty moved no gradient ({largest})"
        );
    }
}
