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
