//! EBGAN (eqs. 1, 2, 13): D is an autoencoder and its energy is the reconstruction error
//! D(x) = ‖Dec(Enc(x)) − x‖ (the norm of eq. 13 by default; squared or mean squared error
//! selectable). L_D = mean_x D(x) + mean_z [m − D(G(z))]⁺ (hinge per sample);
//! L_G = mean_z D(G(z)). One D step per G step.

use crate::config::EnergyNorm;
use crate::harness::{half_weights, weighted_mean, DiscOut, LossStats, Losses};
use crate::shapes::{Loss, Traced};
use dfdx::prelude::*;

/// The EBGAN losses with margin m.
#[derive(Clone, Copy, Debug)]
pub struct Ebgan {
    pub margin: f32,
    pub norm: EnergyNorm,
}

/// ε² inside the L2 energy √(‖·‖² + ε²), ε = 1e-6: the norm's derivative, diff/‖diff‖, is
/// 0/0 at an exact reconstruction; with ε it is 0 there. The value moves by at most ε, and not at
/// all in f32 once ‖·‖² ≳ 1e-5 (1e-12 is below its rounding unit).
pub const L2_EPS_SQUARED: f32 = 1e-12;

/// Per-sample energies of D's output against its input (rows; eq. 13's norm by default).
pub fn energies<const X: usize>(
    d: DiscOut<X, X>,
    norm: EnergyNorm,
) -> Tensor<(usize,), f32, Cpu, Traced> {
    let sq = (d.out - d.input).square();
    match norm {
        EnergyNorm::L2 => (sq.sum::<(usize,), Axis<1>>() + L2_EPS_SQUARED).sqrt(),
        EnergyNorm::Squared => sq.sum::<(usize,), Axis<1>>(),
        EnergyNorm::MeanSquared => sq.mean::<(usize,), Axis<1>>(),
    }
}

impl<const X: usize> Losses<X, X> for Ebgan {
    fn d_loss(&self, d: DiscOut<X, X>, n_real: usize) -> (Loss, LossStats) {
        let e = energies(d, self.norm);
        let dev = e.device().clone();
        let rows = e.shape().0;
        let (wr, wf) = (
            half_weights(&dev, n_real, rows, true),
            half_weights(&dev, n_real, rows, false),
        );
        let ev = e.as_vec();
        let stats = LossStats {
            real: Some(weighted_mean(&ev, &wr.as_vec())),
            fake: Some(weighted_mean(&ev, &wf.as_vec())),
            ..Default::default()
        };
        let real = e.with_empty_tape() * wr;
        let hinge = (e.negate() + self.margin).relu() * wf;
        ((real + hinge).sum(), stats)
    }

    fn g_loss(&self, d: DiscOut<X, X>) -> (Loss, LossStats) {
        let e = energies(d, self.norm);
        let ev = e.as_vec();
        let stats = LossStats {
            fake: Some(ev.iter().sum::<f32>() / ev.len() as f32),
            ..Default::default()
        };
        (e.mean(), stats)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::shapes::{Rows, PIXELS};

    /// Rows whose difference out − input is (3, 4) → ‖·‖ 5; 12; (1, 1, 1, 1) → 2; 12.
    pub(crate) fn four_rows(dev: &Cpu) -> (DiscOut<PIXELS, PIXELS>, Rows<PIXELS>, Rows<PIXELS>) {
        let mut out = vec![0.0f32; 4 * PIXELS];
        let input = vec![0.5f32; 4 * PIXELS];
        for (i, v) in out.iter_mut().enumerate() {
            *v = input[i];
        }
        out[0] += 3.0;
        out[1] += 4.0;
        out[PIXELS + 5] += 12.0;
        for j in 0..4 {
            out[2 * PIXELS + 10 + j] += 1.0;
        }
        out[3 * PIXELS + 7] -= 12.0;
        let out: Rows<PIXELS> = dev.tensor_from_vec(out, (4, Const));
        let input: Rows<PIXELS> = dev.tensor_from_vec(input, (4, Const));
        let d = DiscOut::new(
            out.leaky_trace(),
            dev.zeros_like(&(4, 3usize)).leaky_trace(),
            input.leaky_trace(),
        );
        (d, out, input)
    }

    /// m = 10: L_D = (5 + 12)/2 + ([10 − 2]⁺ + [10 − 12]⁺)/2 = 8.5 + 4 = 12.5; squared:
    /// (25 + 144)/2 + ([10 − 4]⁺ + 0)/2 = 87.5; mean squared: energies / 1024.
    #[test]
    fn d_loss_matches_hand_computed_values() {
        let dev: Cpu = Default::default();
        let cases = [
            (EnergyNorm::L2, 12.5),
            (EnergyNorm::Squared, 87.5),
            (
                EnergyNorm::MeanSquared,
                (25.0 + 144.0) / 2048.0 + (10.0 - 4.0 / 1024.0 + 10.0 - 144.0 / 1024.0) / 2.0,
            ),
        ];
        for (norm, want) in cases {
            let (d, _, _) = four_rows(&dev);
            let (loss, stats) = Ebgan { margin: 10.0, norm }.d_loss(d, 2);
            assert!(
                (loss.array() - want).abs() < 1e-4,
                "{norm:?}: {}",
                loss.array()
            );
            if norm == EnergyNorm::L2 {
                assert_eq!(stats.real, Some(8.5));
                assert_eq!(stats.fake, Some(7.0));
            }
        }
    }

    /// L_G = mean energy; its gradient reaches both the reconstruction (+diff / (e·n)) and the
    /// target (−diff / (e·n)): G(z) is not detached from the target.
    #[test]
    fn g_loss_and_its_gradient_through_output_and_target() {
        let dev: Cpu = Default::default();
        let (d, out, input) = four_rows(&dev);
        let (loss, _) = Ebgan {
            margin: 10.0,
            norm: EnergyNorm::L2,
        }
        .g_loss(d);
        assert!((loss.array() - (5.0 + 12.0 + 2.0 + 12.0) / 4.0).abs() < 1e-5);
        let g = loss.backward();
        let (go, gi) = (g.get(&out).as_vec(), g.get(&input).as_vec());
        // Row 0: diff (3, 4), e = 5, n = 4 → ∂/∂out = (0.15, 0.2).
        assert!((go[0] - 0.15).abs() < 1e-6 && (go[1] - 0.2).abs() < 1e-6);
        assert!((gi[0] + 0.15).abs() < 1e-6 && (gi[1] + 0.2).abs() < 1e-6);
        assert_eq!(go[2], 0.0);
    }

    /// At an exact reconstruction (out = input) the L2 energy is ε = 1e-6 and its gradient is
    /// 0 in every entry, finite (without ε: 0 · 1/√0 = NaN in every entry of the row).
    #[test]
    fn l2_energy_gradient_is_finite_at_an_exact_reconstruction() {
        let dev: Cpu = Default::default();
        let x: Rows<PIXELS> = dev.tensor_from_vec(vec![0.3; 2 * PIXELS], (2, Const));
        let target: Rows<PIXELS> = dev.tensor_from_vec(vec![0.3; 2 * PIXELS], (2, Const));
        let d = DiscOut::new(
            x.leaky_trace(),
            dev.zeros_like(&(2, 3usize)).leaky_trace(),
            target.leaky_trace(),
        );
        let e = energies(d, EnergyNorm::L2);
        assert!(
            e.as_vec().iter().all(|v| (*v - 1e-6).abs() < 1e-9),
            "{:?}",
            e.as_vec()
        );
        let g = e.sum().backward();
        let gx = g.get(&x).as_vec();
        assert!(gx.iter().all(|v| *v == 0.0), "finite and zero");
    }
}
