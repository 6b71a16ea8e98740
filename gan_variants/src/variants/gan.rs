//! GAN (Goodfellow et al. 2014): D outputs a logit ℓ, D(x) = σ(ℓ).
//! L_D = −E log D(x) − E log(1 − D(G(z))) = mean softplus(−ℓ_real) + mean softplus(ℓ_fake);
//! G uses the non-saturating loss L_G = −E log D(G(z)) = mean softplus(−ℓ_fake).
//! Schedule: k D steps per G step (k = 1 by default), as in the harness.

use crate::harness::{one_output_g, DiscOut, LossStats, Losses, OneOutput};
use crate::shapes::{Loss, Traced};
use dfdx::prelude::*;

/// The GAN losses.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gan;

type Column = Tensor<(usize,), f32, Cpu, Traced>;

/// softplus(x) = log(1 + eˣ) = max(x, 0) + log(1 + e^{−|x|}), exact for large |x|.
pub fn softplus(x: Column) -> Column {
    let positive = x.with_empty_tape().relu();
    positive + (x.abs().negate().exp() + 1.0).ln()
}

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

impl<const X: usize> Losses<X, 1> for Gan {
    fn d_loss(&self, d: DiscOut<X, 1>, n_real: usize) -> (Loss, LossStats) {
        let o = OneOutput::new(d, n_real);
        let (real, fake) = o.means(sigmoid);
        let stats = LossStats {
            real: Some(real),
            fake: Some(fake),
            ..Default::default()
        };
        let real = softplus(o.l.with_empty_tape().negate()) * o.w_real;
        let fake = softplus(o.l) * o.w_fake;
        ((real + fake).sum(), stats)
    }

    fn g_loss(&self, d: DiscOut<X, 1>) -> (Loss, LossStats) {
        let (l, _) = one_output_g(d);
        let lv = l.as_vec();
        let stats = LossStats {
            fake: Some(lv.iter().map(|&v| sigmoid(v)).sum::<f32>() / lv.len() as f32),
            ..Default::default()
        };
        (softplus(l.negate()).mean(), stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variants::test_out as out;

    /// Logits real (2, −1), fake (0.5, −3):
    /// L_D = [sp(−2) + sp(1)]/2 + [sp(0.5) + sp(−3)]/2 with sp(x) = ln(1 + eˣ)
    ///     = (0.126928 + 1.313262)/2 + (0.974077 + 0.048587)/2 = 1.231427.
    #[test]
    fn d_loss_matches_hand_computed_value() {
        let dev: Cpu = Default::default();
        let (d, _) = out(&dev, &[2.0, -1.0, 0.5, -3.0]);
        let (loss, stats) = Gan.d_loss(d, 2);
        assert!((loss.array() - 1.231427).abs() < 1e-5, "{}", loss.array());
        // Mean D(x): (σ(2) + σ(−1))/2 = (0.880797 + 0.268941)/2.
        assert!((stats.real.unwrap() - 0.574869).abs() < 1e-5);
    }

    /// Fakes (0.5, −3): L_G = [sp(−0.5) + sp(3)]/2 = (0.474077 + 3.048587)/2 = 1.761332, and
    /// ∂L_G/∂ℓ = −σ(−ℓ)/2 = (−0.188771, −0.476287).
    #[test]
    fn non_saturating_g_loss_and_gradient() {
        let dev: Cpu = Default::default();
        let (d, t) = out(&dev, &[0.5, -3.0]);
        let (loss, _) = Gan.g_loss(d);
        assert!((loss.array() - 1.761332).abs() < 1e-5);
        let g = loss.backward();
        let g = g.get(&t).as_vec();
        assert!(
            (g[0] + 0.188771).abs() < 1e-5 && (g[1] + 0.476287).abs() < 1e-5,
            "{g:?}"
        );
    }

    /// softplus(100) = 100 (e¹⁰⁰ would overflow f32), softplus(0) = ln 2, softplus(−10) =
    /// ln(1 + e⁻¹⁰) = 4.5398899e-5 and softplus(5) = 5.0067153: absolute error within f32
    /// rounding of the sum (6e-8 at these sizes); softplus(−100) = 3.7e-44 underflows to 0.
    #[test]
    fn softplus_is_accurate_and_does_not_overflow() {
        let dev: Cpu = Default::default();
        let x: Tensor<(usize,), f32, Cpu> =
            dev.tensor_from_vec(vec![100.0, -100.0, 0.0, -10.0, 5.0], (5,));
        let y = softplus(x.leaky_trace()).as_vec();
        assert_eq!(y[0], 100.0);
        assert_eq!(y[1], 0.0);
        assert!((y[2] - std::f32::consts::LN_2).abs() < 1e-7);
        assert!((y[3] - 4.539_889_9e-5).abs() < 1e-7, "{}", y[3]);
        assert!((y[4] - 5.006_715_3).abs() < 1e-6, "{}", y[4]);
    }
}
