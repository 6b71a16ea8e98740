//! GAN-0GP (Thanh-Tung, Tran & Venkatesh 2019), a peer of the EDGAN paper's Table 6: GAN's
//! losses ([`super::gan`]) with a zero-centred gradient penalty on D at per-sample interpolates
//! between real and fake images, L_D = GAN's L_D + λ · mean_i ‖∇ℓ(x̂_i)‖², ℓ D's logit; L_G is
//! GAN's. λ = 10 by default (this project's choice: the spec names only "zero-centred").

use super::gan::Gan;
use super::penalty::{gradient_penalty, Centre};
use crate::harness::{DiscOut, LossStats, Losses};
use crate::shapes::Loss;

/// GAN's losses with the zero-centred penalty of weight λ.
#[derive(Clone, Copy, Debug)]
pub struct Gan0Gp {
    pub lambda: f32,
}

impl<const X: usize> Losses<X, 1> for Gan0Gp {
    fn d_loss(&self, mut d: DiscOut<X, 1>, n_real: usize) -> (Loss, LossStats) {
        let g = d.interp_grad.take().expect("the harness fills interp_grad");
        let (gan, mut stats) = Gan.d_loss(d, n_real);
        let (gp, v) = gradient_penalty(g, Centre::Zero);
        stats.grad_penalty = Some(v);
        (gan + gp * self.lambda, stats)
    }

    fn g_loss(&self, d: DiscOut<X, 1>) -> (Loss, LossStats) {
        Gan.g_loss(d)
    }

    fn needs_interpolates(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variants::{assert_input_grad_entries, test_input_grads as grads, test_out as out};
    use dfdx::prelude::*;

    /// Logits real (2, −1), fake (0.5, −3) and per-sample input gradients of norms 5 and 0.5,
    /// λ = 10: L_D = GAN's L_D on the same logits + λ·(25 + 0.25)/2 = GAN's + 126.25, with
    /// GAN's gradient on the logits and ∂/∂g = λ·2g/2: (30, 40) on row 1, (0, 5) on row 2
    /// (a one-centred penalty would give (24, 32)); L_G is GAN's.
    #[test]
    fn gan_losses_plus_the_zero_centred_penalty() {
        let dev: Cpu = Default::default();
        let logits = [2.0, -1.0, 0.5, -3.0];
        let (d, t) = out(&dev, &logits);
        let (gan, _) = <Gan as Losses<{ crate::shapes::PIXELS }, 1>>::d_loss(&Gan, d, 2);
        let gan_v = gan.array();
        let gan_grad = gan.backward().get(&t).as_vec();
        let (mut d, t) = out(&dev, &logits);
        let g = grads(&dev);
        d.interp_grad = Some(g.clone().leaky_trace());
        let (loss, s) = Gan0Gp { lambda: 10.0 }.d_loss(d, 2);
        assert!(
            (loss.array() - (gan_v + 126.25)).abs() < 1e-4,
            "{} vs {gan_v} + 126.25",
            loss.array()
        );
        assert!((s.grad_penalty.unwrap() - 12.625).abs() < 1e-5);
        let all = loss.backward();
        assert_eq!(all.get(&t).as_vec(), gan_grad);
        let gg = all.get(&g).as_vec();
        assert_input_grad_entries(&gg, [30.0, 40.0, 0.0, 5.0]);
        let (d, t) = out(&dev, &[0.5, -3.0]);
        let (a, _) = Gan0Gp { lambda: 10.0 }.g_loss(d);
        let (d2, t2) = out(&dev, &[0.5, -3.0]);
        let (b, _) = <Gan as Losses<{ crate::shapes::PIXELS }, 1>>::g_loss(&Gan, d2);
        assert_eq!(a.array(), b.array());
        assert_eq!(
            a.backward().get(&t).as_vec(),
            b.backward().get(&t2).as_vec()
        );
    }
}
