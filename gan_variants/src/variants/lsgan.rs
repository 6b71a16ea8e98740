//! LSGAN (Mao et al. 2017, eq. 2 with a = 0, b = c = 1), a peer of the EDGAN paper's Table 6:
//! D has one linear output ℓ;
//! L_D = ½ E(ℓ(x) − 1)² + ½ E ℓ(G(z))²,  L_G = ½ E(ℓ(G(z)) − 1)².
//! The schedule (D steps per G step, optimisers) is the configuration's.

use crate::harness::{one_output_g, DiscOut, LossStats, Losses, OneOutput};
use crate::shapes::Loss;
use dfdx::prelude::*;

/// The least-squares losses.
#[derive(Clone, Copy, Debug, Default)]
pub struct Lsgan;

impl<const X: usize> Losses<X, 1> for Lsgan {
    fn d_loss(&self, d: DiscOut<X, 1>, n_real: usize) -> (Loss, LossStats) {
        let o = OneOutput::new(d, n_real);
        let (real, fake) = o.means(|v| v);
        let stats = LossStats {
            real: Some(real),
            fake: Some(fake),
            ..Default::default()
        };
        // Per row: ½(ℓ − 1)² on real rows, ½ℓ² on fake rows.
        let target = o.per_half(1.0, 0.0);
        let sq = (o.l - target).square() * 0.5;
        (
            (sq.with_empty_tape() * o.w_real + sq * o.w_fake).sum(),
            stats,
        )
    }

    fn g_loss(&self, d: DiscOut<X, 1>) -> (Loss, LossStats) {
        let (l, mean) = one_output_g(d);
        let stats = LossStats {
            fake: Some(mean),
            ..Default::default()
        };
        (((l - 1.0).square() * 0.5).mean(), stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variants::test_out as out;

    /// Outputs real (2, −1), fake (0.5, −3): L_D = ½[(1 + 4)/2] + ½[(0.25 + 9)/2] = 1.25 +
    /// 2.3125 = 3.5625; ∂L_D/∂ℓ = (ℓ − 1)/2 on real rows, ℓ/2 on fake rows.
    /// G on (0.5, −3): L_G = ½[(0.25 + 16)/2] = 4.0625, ∂/∂ℓ = (ℓ − 1)/2 = (−0.25, −2).
    #[test]
    fn losses_and_gradients_by_hand() {
        let dev: Cpu = Default::default();
        let (d, t) = out(&dev, &[2.0, -1.0, 0.5, -3.0]);
        let (loss, s) = Lsgan.d_loss(d, 2);
        assert!((loss.array() - 3.5625).abs() < 1e-6, "{}", loss.array());
        assert_eq!((s.real, s.fake), (Some(0.5), Some(-1.25)));
        let g = loss.backward().get(&t).as_vec();
        assert_eq!(g, vec![0.5, -1.0, 0.25, -1.5]);
        let (d, t) = out(&dev, &[0.5, -3.0]);
        let (loss, _) = Lsgan.g_loss(d);
        assert!((loss.array() - 4.0625).abs() < 1e-6);
        assert_eq!(loss.backward().get(&t).as_vec(), vec![-0.25, -2.0]);
    }
}
