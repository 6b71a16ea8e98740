//! The energy GAN of "GAN = analysis + sampling" (spec energy-gan-mcmc.md, "Model"; Su 2019,
//! after Kumar et al. 2019). D is an energy U(x) with one unbounded output.
//!
//! U's loss: mean U(x_real) − mean U(G(z)) + λ₁ · mean over the real rows of ‖∇ₓU(x)‖²
//! (the penalty keeps real data at the minima of U; ∇ₓU comes from
//! [`crate::nets::Net::forward_with_input_grad`] as forward operations, so it is differentiable
//! in θ without a second backward pass).
//!
//! G's and E's loss: mean U(G(z)) + λ₂ · mean ‖z − E(G(z))‖², the InfoGAN-style lower bound on
//! I(X, Z) standing in for G's entropy; λ₂ = 0 is the model without the MI term (no encoder).
//! Schedule: k U steps per G step (k = 1 by default), as in the harness.

use crate::harness::{half_weights, weighted_mean, DiscOut, LossStats, Losses};
use crate::nets::energy::squared_norms;
use crate::shapes::{Loss, Traced};
use dfdx::prelude::*;

/// The energy GAN's losses with the penalty weight λ₁ and the MI weight λ₂.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EnergyGan {
    /// λ₁ of the gradient penalty at real data (spec default 10).
    pub lambda_gp: f32,
    /// λ₂ of the latent reconstruction term (spec default 1; 0 = no MI term, no encoder).
    pub lambda_mi: f32,
}

impl Default for EnergyGan {
    /// The spec's defaults (not given by the post; this project's choice): λ₁ = 10, λ₂ = 1.
    fn default() -> Self {
        Self {
            lambda_gp: 10.0,
            lambda_mi: 1.0,
        }
    }
}

type Column = Tensor<(usize,), f32, Cpu, Traced>;

fn energies<const X: usize>(out: crate::shapes::Rows<1, Traced>) -> Column {
    let rows = out.shape().0;
    out.reshape_like(&(rows,))
}

impl<const X: usize> Losses<X, 1> for EnergyGan {
    fn d_loss(&self, d: DiscOut<X, 1>, n_real: usize) -> (Loss, LossStats) {
        let u = energies::<X>(d.out);
        let dev = u.device().clone();
        let rows = u.shape().0;
        let (wr, wf) = (
            half_weights(&dev, n_real, rows, true),
            half_weights(&dev, n_real, rows, false),
        );
        let uv = u.as_vec();
        let mut stats = LossStats {
            real: Some(weighted_mean(&uv, &wr.as_vec())),
            fake: Some(weighted_mean(&uv, &wf.as_vec())),
            ..Default::default()
        };
        let real = (u.with_empty_tape() * wr.clone()).sum();
        let fake = (u * wf).sum();
        let loss = real - fake;
        if self.lambda_gp == 0.0 {
            return (loss, stats);
        }
        let g = d
            .input_grad
            .expect("the harness fills input_grad when needs_input_grad");
        let pen = (squared_norms(g) * wr).sum();
        stats.grad_penalty = Some(pen.array());
        (loss + pen * self.lambda_gp, stats)
    }

    fn g_loss(&self, d: DiscOut<X, 1>) -> (Loss, LossStats) {
        let u = energies::<X>(d.out);
        let mut stats = LossStats {
            fake: Some(u.as_vec().iter().sum::<f32>() / u.shape().0 as f32),
            ..Default::default()
        };
        let loss = u.mean();
        if self.lambda_mi == 0.0 {
            return (loss, stats);
        }
        let pair = d
            .latent
            .expect("the harness fills latent when needs_encoder");
        let err = (pair.recon - pair.z)
            .square()
            .sum::<(usize,), Axis<1>>()
            .mean();
        stats.latent_error = Some(err.array());
        (loss + err * self.lambda_mi, stats)
    }

    fn needs_input_grad(&self) -> bool {
        self.lambda_gp != 0.0
    }

    fn needs_encoder(&self) -> bool {
        self.lambda_mi != 0.0
    }

    fn scalar_energy(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::LatentPair;
    use crate::shapes::{Rows, LATENT};

    /// Three real and two fake rows of a 2-pixel "image" with hand-picked energies and input
    /// gradients: L_U = mean(1, 2, 3) − mean(−1, 5) + λ₁ · mean(‖(1,2)‖², ‖(0,3)‖², ‖(2,2)‖²)
    /// = 2 − 2 + 10 · (5 + 9 + 8)/3; the fakes' gradients (100, 100) must not count.
    #[test]
    fn d_loss_is_the_spec_expression() {
        let dev: Cpu = Default::default();
        let u: Rows<1> = dev.tensor_from_vec(vec![1.0, 2.0, 3.0, -1.0, 5.0], (5, Const));
        let g: Rows<2> = dev.tensor_from_vec(
            vec![1.0, 2.0, 0.0, 3.0, 2.0, 2.0, 100.0, 100.0, 100.0, 100.0],
            (5, Const),
        );
        let input: Rows<2> = dev.zeros_like(&(5, Const));
        let d = DiscOut {
            input_grad: Some(g.leaky_trace()),
            ..DiscOut::new(
                u.leaky_trace(),
                dev.zeros_like(&(5, 1usize)).leaky_trace(),
                input.leaky_trace(),
            )
        };
        let (loss, stats) = EnergyGan::default().d_loss(d, 3);
        let want = 2.0 - 2.0 + 10.0 * 22.0 / 3.0;
        assert!(
            (loss.array() - want).abs() < 1e-4,
            "{} vs {want}",
            loss.array()
        );
        assert_eq!((stats.real, stats.fake), (Some(2.0), Some(2.0)));
        assert!((stats.grad_penalty.unwrap() - 22.0 / 3.0).abs() < 1e-5);
        // Its gradient in the real energies is +1/3 each, in the fakes' −1/2 each.
        let u = u.leaky_trace();
        let g: Rows<2> = dev.zeros_like(&(5, Const));
        let d = DiscOut {
            input_grad: Some(g.leaky_trace()),
            ..DiscOut::new(
                u.with_empty_tape(),
                dev.zeros_like(&(5, 1usize)).leaky_trace(),
                input.leaky_trace(),
            )
        };
        let grads = EnergyGan::default().d_loss(d, 3).0.backward();
        let gu = grads.get(&u).as_vec();
        for (i, v) in gu.iter().enumerate() {
            let want = if i < 3 { 1.0 / 3.0 } else { -0.5 };
            assert!((v - want).abs() < 1e-6, "row {i}: {v}");
        }
    }

    /// L_G = mean U(G(z)) + λ₂ · mean ‖z − E(G(z))‖², by hand on two rows; λ₂ = 0 drops the
    /// second term and needs no encoder.
    #[test]
    fn g_loss_is_the_spec_expression() {
        let dev: Cpu = Default::default();
        let u: Rows<1> = dev.tensor_from_vec(vec![1.0, 4.0], (2, Const));
        let mut z = vec![0f32; 2 * LATENT];
        let mut r = vec![0f32; 2 * LATENT];
        (z[0], r[0]) = (1.0, 0.0); // ‖·‖² = 1 on row 0
        (z[LATENT + 5], r[LATENT + 5]) = (-1.0, 2.0); // 9 on row 1
        let z: Rows<LATENT> = dev.tensor_from_vec(z, (2, Const));
        let r: Rows<LATENT> = dev.tensor_from_vec(r, (2, Const));
        let input: Rows<3> = dev.zeros_like(&(2, Const));
        let out = |latent| DiscOut {
            latent,
            ..DiscOut::new(
                u.clone().leaky_trace(),
                dev.zeros_like(&(2, 1usize)).leaky_trace(),
                input.clone().leaky_trace(),
            )
        };
        let pair = LatentPair {
            z: z.clone().reshape_like(&(2, LATENT)),
            recon: r.leaky_trace().reshape_like(&(2, LATENT)),
        };
        let with = EnergyGan {
            lambda_gp: 10.0,
            lambda_mi: 0.5,
        };
        let (loss, stats) = with.g_loss(out(Some(pair)));
        assert!((loss.array() - (2.5 + 0.5 * 5.0)).abs() < 1e-6);
        assert_eq!(stats.latent_error, Some(5.0));
        let without = EnergyGan {
            lambda_mi: 0.0,
            ..with
        };
        assert!(!Losses::<3, 1>::needs_encoder(&without));
        assert!(Losses::<3, 1>::needs_encoder(&with));
        assert_eq!(without.g_loss(out(None)).0.array(), 2.5);
    }
}
