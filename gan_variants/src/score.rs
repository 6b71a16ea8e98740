//! Sample-quality scores from a classifier's log p(y|x) (EBGAN paper, appendix C).
//!
//! I' = E_x KL(p(y) ‖ p(y|x)) = E_x Σ_y p(y) [log p(y) − log p(y|x)], with p(y) the mean of
//! p(y|x) over the samples: the inception score with the KL's arguments swapped and no exp.
//! The inception score is exp E_x KL(p(y|x) ‖ p(y)). Natural logarithms throughout.

use crate::shapes::CLASSES;

/// The scores of one set of samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Scores {
    pub i_prime: f64,
    pub inception: f64,
    /// Samples per arg-max class.
    pub histogram: [usize; CLASSES],
    /// Entropy (nats) of the normalised histogram; ln 10 = 2.303 when every class is equally
    /// frequent, 0 when all samples fall in one class.
    pub histogram_entropy: f64,
}

/// Scores of `log_probs`: rows of log p(y|x), CLASSES per row.
pub fn scores(log_probs: &[f32]) -> Scores {
    assert!(!log_probs.is_empty() && log_probs.len().is_multiple_of(CLASSES));
    let n = (log_probs.len() / CLASSES) as f64;
    let mut p_y = [0f64; CLASSES];
    let mut histogram = [0usize; CLASSES];
    for row in log_probs.chunks_exact(CLASSES) {
        let mut best = 0;
        for (y, lp) in row.iter().enumerate() {
            p_y[y] += (*lp as f64).exp() / n;
            if *lp > row[best] {
                best = y;
            }
        }
        histogram[best] += 1;
    }
    let log_p_y: Vec<f64> = p_y.iter().map(|p| p.ln()).collect();
    let (mut i_prime, mut kl) = (0f64, 0f64);
    for row in log_probs.chunks_exact(CLASSES) {
        for (y, lp) in row.iter().enumerate() {
            let lp = *lp as f64;
            // Classes that no sample gives mass to contribute 0 · (…) = 0 to I'.
            if p_y[y] > 0.0 {
                i_prime += p_y[y] * (log_p_y[y] - lp) / n;
            }
            if lp.exp() > 0.0 {
                kl += lp.exp() * (lp - log_p_y[y]) / n;
            }
        }
    }
    let histogram_entropy = histogram
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let f = *c as f64 / n;
            -f * f.ln()
        })
        .sum();
    Scores {
        i_prime,
        inception: kl.exp(),
        histogram,
        histogram_entropy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logs(rows: &[[f64; CLASSES]]) -> Vec<f32> {
        rows.iter().flatten().map(|p| p.ln() as f32).collect()
    }

    /// Rows (0.8, 0.2, 0…) and (0.2, 0.8, 0…): p(y) = (½, ½).
    /// I' = ½ ln(0.5/0.8) + ½ ln(0.5/0.2) = 0.223144 per row;
    /// KL(p(y|x) ‖ p(y)) = 0.8 ln 1.6 + 0.2 ln 0.4 = 0.192745, IS = e^0.192745 = 1.212573.
    #[test]
    fn two_class_matrix_by_hand() {
        let mut a = [0.0; CLASSES];
        a[0] = 0.8;
        a[1] = 0.2;
        let mut b = [0.0; CLASSES];
        b[0] = 0.2;
        b[1] = 0.8;
        let s = scores(&logs(&[a, b]));
        assert!((s.i_prime - 0.223144).abs() < 1e-6, "{}", s.i_prime);
        assert!((s.inception - 1.212573).abs() < 1e-6, "{}", s.inception);
        assert_eq!(s.histogram[..3], [1, 1, 0]);
        assert!((s.histogram_entropy - std::f64::consts::LN_2).abs() < 1e-12);
    }

    /// Confident and balanced: ten one-hot-like rows (0.91 on class i, 0.01 elsewhere).
    /// p(y) = 0.1 each, so I' = Σ_y 0.1 ln(0.1/p(y|x)) = 0.1 ln(0.1/0.91) + 0.9 ln(0.1/0.01)
    /// = −0.220834 + 2.072327 = 1.851493; the same constant rows give I' = 0 and IS = 1.
    #[test]
    fn balanced_confident_and_constant_rows() {
        let rows: Vec<[f64; CLASSES]> = (0..CLASSES)
            .map(|i| {
                let mut r = [0.01; CLASSES];
                r[i] = 0.91;
                r
            })
            .collect();
        let s = scores(&logs(&rows));
        assert!((s.i_prime - 1.851493).abs() < 1e-5, "{}", s.i_prime);
        assert!((s.histogram_entropy - 10f64.ln()).abs() < 1e-12);
        let same = vec![rows[3]; 5];
        let s = scores(&logs(&same));
        assert!(s.i_prime.abs() < 1e-6 && (s.inception - 1.0).abs() < 1e-6);
        assert_eq!(s.histogram[3], 5);
        assert_eq!(s.histogram_entropy, 0.0);
    }
}
