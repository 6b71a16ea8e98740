//! The gradient penalties on D at interpolates x̂ = α·x + (1 − α)·x̃ (α ~ U[0, 1] per sample,
//! drawn by the harness: [`crate::harness::DiscOut::interp_grad`]), from D's per-sample input
//! gradient flattened over all pixels and channels (the spec's WGAN-GP pitfall: a norm over one
//! axis of a 4-D gradient penalises per pixel):
//!
//! - one-centred (WGAN-GP, Gulrajani et al. 2017, eq. 3): mean_i (‖∇D(x̂_i)‖ − 1)²;
//! - zero-centred (GAN-0GP, Thanh-Tung et al. 2019): mean_i ‖∇D(x̂_i)‖².

use crate::shapes::{Loss, Rows, Traced};
use dfdx::prelude::*;

/// The penalty's centre.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Centre {
    One,
    Zero,
}

/// The penalty (before its weight) of the per-sample gradients `g` (rows of X values) and its
/// value.
pub fn gradient_penalty<const X: usize>(g: Rows<X, Traced>, centre: Centre) -> (Loss, f32) {
    let sq = g.square().sum::<(usize,), Axis<1>>();
    let p = match centre {
        // √(s + 1e-12): finite gradient at a zero gradient row.
        Centre::One => ((sq + 1e-12).sqrt() - 1.0).square().mean(),
        Centre::Zero => sq.mean(),
    };
    let v = p.array();
    (p, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows (3, 4) and (0, 0.5) of width 2: one-centred ((5 − 1)² + (0.5 − 1)²)/2 = 8.125,
    /// zero-centred (25 + 0.25)/2 = 12.625; ∂/∂g of the one-centred term for row 1 is
    /// (‖g‖ − 1)/‖g‖ · g = (0.8·3, 0.8·4)·(2/2)... = (2.4, 3.2) (the mean's 1/2 times 2).
    #[test]
    fn penalties_by_hand() {
        let dev: Cpu = Default::default();
        let g: Rows<2> = dev.tensor_from_vec(vec![3.0, 4.0, 0.0, 0.5], (2, Const));
        let (p, v) = gradient_penalty(g.clone().leaky_trace(), Centre::One);
        assert!((v - 8.125).abs() < 1e-5, "{v}");
        let grad = p.backward().get(&g).as_vec();
        assert!(
            (grad[0] - 2.4).abs() < 1e-5 && (grad[1] - 3.2).abs() < 1e-5,
            "{grad:?}"
        );
        // Row 2: (0.5 − 1)/0.5 · (0, 0.5) = (0, −0.5).
        assert!(
            grad[2].abs() < 1e-6 && (grad[3] + 0.5).abs() < 1e-5,
            "{grad:?}"
        );
        let (_, z) = gradient_penalty(g.leaky_trace(), Centre::Zero);
        assert!((z - 12.625).abs() < 1e-5, "{z}");
    }
}
