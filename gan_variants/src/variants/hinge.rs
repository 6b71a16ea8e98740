//! The hinge losses of SAGAN (Zhang et al. 2019, eq. 4; Lim & Ye 2017), a peer of the EDGAN
//! paper's Table 6: D has one linear output ℓ;
//! L_D = E[max(0, 1 − ℓ(x))] + E[max(0, 1 + ℓ(G(z)))],  L_G = −E ℓ(G(z)).
//! The schedule (D steps per G step, optimisers) is the configuration's.

use crate::harness::{one_output_g, DiscOut, LossStats, Losses, OneOutput};
use crate::shapes::Loss;
use dfdx::prelude::*;

/// The hinge losses.
#[derive(Clone, Copy, Debug, Default)]
pub struct Hinge;

impl<const X: usize> Losses<X, 1> for Hinge {
    fn d_loss(&self, d: DiscOut<X, 1>, n_real: usize) -> (Loss, LossStats) {
        let o = OneOutput::new(d, n_real);
        let (real, fake) = o.means(|v| v);
        let stats = LossStats {
            real: Some(real),
            fake: Some(fake),
            ..Default::default()
        };
        // Per row: max(0, 1 − ℓ) on real rows, max(0, 1 + ℓ) on fake rows, i.e.
        // max(0, 1 − y·ℓ) with y = +1 (real), −1 (fake).
        let sign = o.per_half(1.0, -1.0);
        let margin = ((o.l * sign).negate() + 1.0).relu();
        (
            (margin.with_empty_tape() * o.w_real + margin * o.w_fake).sum(),
            stats,
        )
    }

    fn g_loss(&self, d: DiscOut<X, 1>) -> (Loss, LossStats) {
        let (l, mean) = one_output_g(d);
        let stats = LossStats {
            fake: Some(mean),
            ..Default::default()
        };
        (l.mean().negate(), stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variants::test_out as out;

    /// Outputs real (2, 0.5), fake (−3, 0.25): L_D = [max(0, −1) + max(0, 0.5)]/2 +
    /// [max(0, −2) + max(0, 1.25)]/2 = 0.25 + 0.625 = 0.875; ∂L_D/∂ℓ = −½ on the real row
    /// inside the margin (0.5), 0 on the one outside (2); +½ on the fake row inside (0.25), 0
    /// outside (−3). G on (−3, 0.25): L_G = −(−2.75/2) = 1.375, ∂/∂ℓ = −½ each. A loss that
    /// ignored the hinge (a linear critic) would give −½/+½ on every row and fail.
    #[test]
    fn losses_and_gradients_by_hand() {
        let dev: Cpu = Default::default();
        let (d, t) = out(&dev, &[2.0, 0.5, -3.0, 0.25]);
        let (loss, s) = Hinge.d_loss(d, 2);
        assert!((loss.array() - 0.875).abs() < 1e-6, "{}", loss.array());
        assert_eq!((s.real, s.fake), (Some(1.25), Some(-1.375)));
        let g = loss.backward().get(&t).as_vec();
        assert_eq!(g, vec![0.0, -0.5, 0.0, 0.5]);
        let (d, t) = out(&dev, &[-3.0, 0.25]);
        let (loss, _) = Hinge.g_loss(d);
        assert!((loss.array() - 1.375).abs() < 1e-6);
        assert_eq!(loss.backward().get(&t).as_vec(), vec![-0.5, -0.5]);
    }
}
