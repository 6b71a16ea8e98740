//! EBGAN-PT (eq. 14): the EBGAN losses, plus the pulling-away term on the generator only,
//! f_PT(S) = 1/(N(N−1)) Σ_i Σ_{j≠i} (S_iᵀS_j / (‖S_i‖ ‖S_j‖))², the mean *squared* cosine
//! between the encoder outputs S of the generated batch (not the pixels, not unsquared).

use crate::harness::{DiscOut, LossStats, Losses};
use crate::shapes::{Loss, Matrix, Traced};
use crate::variants::ebgan::Ebgan;
use dfdx::prelude::*;

/// EBGAN with the pulling-away term at `weight` (0.1 in the paper).
#[derive(Clone, Copy, Debug)]
pub struct EbganPt {
    pub ebgan: Ebgan,
    pub weight: f32,
}

/// ε under the row norms, so that an all-zero code row (every ReLU off) gives cosine 0
/// instead of 0/0.
const NORM_EPS: f32 = 1e-12;

/// f_PT of the rows of `s` (N ≥ 2).
pub fn pulling_away(s: Matrix<Traced>) -> Loss {
    let (n, w) = *s.shape();
    assert!(n >= 2, "the pulling-away term needs at least two rows");
    let norms = (s.with_empty_tape().square().sum::<(usize,), Axis<1>>() + NORM_EPS).sqrt();
    let unit = s / norms.broadcast_like::<_, Axis<1>>(&(n, w));
    // Σ_ij cos² minus the diagonal Σ_i (ŝ_i·ŝ_i)² (= 1 up to ε).
    let diag = unit
        .with_empty_tape()
        .square()
        .sum::<(usize,), Axis<1>>()
        .square()
        .sum();
    // S·Sᵀ needs a copy on the right: matmul's backward borrows both operands' gradients
    // mutably, so they must be different tensors.
    let right = (unit.with_empty_tape() * 1.0).permute::<(usize, usize), Axes2<1, 0>>();
    let cos = unit.matmul(right);
    (cos.square().sum() - diag) / (n * (n - 1)) as f32
}

impl<const X: usize> Losses<X, X> for EbganPt {
    fn d_loss(&self, d: DiscOut<X, X>, n_real: usize) -> (Loss, LossStats) {
        self.ebgan.d_loss(d, n_real)
    }

    fn g_loss(&self, d: DiscOut<X, X>) -> (Loss, LossStats) {
        let code = d.code.with_empty_tape();
        let (energy, mut stats) = self.ebgan.g_loss(d);
        let pt = pulling_away(code);
        stats.pt = Some(pt.array());
        (energy + pt * self.weight, stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EnergyNorm;

    fn matrix(dev: &Cpu, rows: &[[f32; 2]]) -> Matrix {
        dev.tensor_from_vec(
            rows.iter().flatten().copied().collect(),
            (rows.len(), 2usize),
        )
    }

    /// S = (1, 0), (1, 1), (0, 2): cos² = 1/2, 0, 1/2 over the three pairs, each counted twice:
    /// f_PT = 2 · (1/2 + 0 + 1/2) / (3 · 2) = 1/3. (Without the square: 0.4714.)
    #[test]
    fn squared_cosine_on_literal_rows() {
        let dev: Cpu = Default::default();
        let s = matrix(&dev, &[[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]]);
        let f = pulling_away(s.leaky_trace()).array();
        assert!((f - 1.0 / 3.0).abs() < 1e-6, "{f}");
        // Scale-free per row; orthogonal rows give 0, identical directions give 1.
        let scaled = matrix(&dev, &[[7.0, 0.0], [0.5, 0.5], [0.0, 0.1]]);
        assert!((pulling_away(scaled.leaky_trace()).array() - 1.0 / 3.0).abs() < 1e-6);
        let ortho = matrix(&dev, &[[1.0, 0.0], [0.0, 3.0]]);
        assert!(pulling_away(ortho.leaky_trace()).array().abs() < 1e-7);
        let same = matrix(&dev, &[[1.0, 2.0], [2.0, 4.0]]);
        assert!((pulling_away(same.leaky_trace()).array() - 1.0).abs() < 1e-6);
    }

    /// ∂f_PT/∂S against central differences (S = rows above; f64 accumulation of f32).
    #[test]
    fn gradient_matches_finite_differences() {
        let dev: Cpu = Default::default();
        let base = [[1.0f32, 0.2], [0.7, 1.1], [-0.3, 2.0]];
        let s = matrix(&dev, &base);
        let g = pulling_away(s.leaky_trace()).backward();
        let analytic = g.get(&s).as_vec();
        let h = 1e-3;
        for i in 0..6 {
            let mut p = base;
            p[i / 2][i % 2] += h;
            let mut m = base;
            m[i / 2][i % 2] -= h;
            let fp = pulling_away(matrix(&dev, &p).leaky_trace()).array() as f64;
            let fm = pulling_away(matrix(&dev, &m).leaky_trace()).array() as f64;
            let numeric = (fp - fm) / (2.0 * h as f64);
            assert!(
                (numeric - analytic[i] as f64).abs() < 2e-3,
                "{i}: {numeric} vs {}",
                analytic[i]
            );
        }
    }

    /// L_G = mean energy + 0.1 f_PT on the EBGAN rows with S set to the rows above.
    #[test]
    fn g_loss_adds_the_weighted_term() {
        let dev: Cpu = Default::default();
        let (mut d, _, _) = crate::variants::ebgan::tests::four_rows(&dev);
        let s = matrix(&dev, &[[1.0, 0.0], [1.0, 1.0], [0.0, 2.0], [1.0, 0.0]]);
        d.code = s.leaky_trace();
        let pt = EbganPt {
            ebgan: Ebgan {
                margin: 10.0,
                norm: EnergyNorm::L2,
            },
            weight: 0.1,
        };
        // Pairs: (1,2) ½, (1,3) 0, (1,4) 1, (2,3) ½, (2,4) ½, (3,4) 0 → 2 · 2.5 / 12 = 5/12.
        let (loss, stats) = pt.g_loss(d);
        assert!((stats.pt.unwrap() - 5.0 / 12.0).abs() < 1e-6);
        assert!((loss.array() - (31.0 / 4.0 + 0.1 * 5.0 / 12.0)).abs() < 1e-5);
    }
}
