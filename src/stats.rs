//! Summary statistics for the tables: mean, median, sample standard deviation, Welch's
//! t-test and Holm's adjustment of a family of p-values.

use statrs::function::beta::beta_reg;

/// Arithmetic mean (NaN for an empty slice).
pub fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Sample standard deviation (n − 1 in the denominator; NaN for fewer than two values).
pub fn sample_std(x: &[f64]) -> f64 {
    if x.len() < 2 {
        return f64::NAN;
    }
    let m = mean(x);
    (x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (x.len() - 1) as f64).sqrt()
}

/// Median (the mean of the two middle values for an even count; NaN for an empty slice or a
/// NaN value).
pub fn median(x: &[f64]) -> f64 {
    if x.is_empty() || x.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    let mut v = x.to_vec();
    v.sort_by(f64::total_cmp);
    let h = v.len() / 2;
    if v.len() % 2 == 1 {
        v[h]
    } else {
        0.5 * (v[h - 1] + v[h])
    }
}

/// "mean ± sample std" with `digits` decimals, for a table cell: one value alone, "–" for none.
pub fn mean_pm_std(v: &[f64], digits: usize) -> String {
    match v.len() {
        0 => "–".into(),
        1 => format!("{:.*}", digits, v[0]),
        _ => format!("{:.*} ± {:.*}", digits, mean(v), digits, sample_std(v)),
    }
}

/// Welch's unequal-variance t-test: returns (t, degrees of freedom, two-sided p-value).
/// t = (m_a − m_b) / sqrt(s_a²/n_a + s_b²/n_b), df by Welch–Satterthwaite. None when either
/// sample has fewer than two values, either holds a non-finite value, or both have zero
/// variance ("not available", never a panic inside the statistics library).
pub fn welch_t_test(a: &[f64], b: &[f64]) -> Option<(f64, f64, f64)> {
    if a.len() < 2 || b.len() < 2 || a.iter().chain(b).any(|v| !v.is_finite()) {
        return None;
    }
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (va, vb) = (sample_std(a).powi(2) / na, sample_std(b).powi(2) / nb);
    if va + vb == 0.0 {
        return None;
    }
    let t = (mean(a) - mean(b)) / (va + vb).sqrt();
    let df = (va + vb).powi(2) / (va * va / (na - 1.0) + vb * vb / (nb - 1.0));
    // Two-sided p = I_{df/(df+t²)}(df/2, 1/2), the regularised incomplete beta function: exact
    // in the far tail, where 1 − cdf(|t|) cancels to 0 in f64 below about 1e-16.
    if !(t.is_finite() && df.is_finite()) {
        return None;
    }
    Some((t, df, beta_reg(df / 2.0, 0.5, df / (df + t * t))))
}

/// Holm's step-down adjustment (Holm 1979, "A simple sequentially rejective multiple test
/// procedure") of a family of m p-values: the i-th smallest becomes max over j ≤ i of
/// min(1, (m − j + 1)·p₍ⱼ₎); returned in the input order. Rejecting where the adjusted value
/// is below α controls the family-wise error rate at α. NaN values are not allowed (the
/// caller passes only computed tests).
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut out = vec![0.0; m];
    let mut running = 0.0f64;
    for (i, &k) in order.iter().enumerate() {
        running = running.max(((m - i) as f64 * p[k]).min(1.0));
        out[k] = running;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-computed: sorted 0.01, 0.03, 0.04 → 3·0.01 = 0.03, 2·0.03 = 0.06, 1·0.04 = 0.04
    /// raised to the running maximum 0.06; in the input order. Capped at 1. Controls: the
    /// unadjusted values and the step without the running maximum (0.04) are not the answer.
    #[test]
    fn holm_matches_hand_computation() {
        let a = holm(&[0.01, 0.04, 0.03]);
        let want = [0.03, 0.06, 0.06];
        for (x, w) in a.iter().zip(want) {
            assert!((x - w).abs() < 1e-12, "{a:?}");
        }
        assert_ne!(a[1], 0.04, "the running maximum must apply");
        assert_eq!(holm(&[0.6, 0.7]), vec![1.0, 1.0]);
        assert_eq!(holm(&[0.2]), vec![0.2]);
        assert!(holm(&[]).is_empty());
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        // A pause-inflated outlier moves the mean, not the median (why the face table uses it).
        assert_eq!(median(&[1.0, 1.2, 100.0]), 1.2);
        assert!(median(&[]).is_nan() && median(&[1.0, f64::NAN]).is_nan());
    }

    #[test]
    fn welch_matches_hand_computed_case() {
        // a = [1, 2, 3, 4]: mean 2.5, s² = 5/3; b = [2, 4, 6, 8, 10]: mean 6, s² = 10.
        // t = −3.5 / sqrt(5/12 + 2) = −2.251436…; df = (29/12)² / ((5/12)²/3 + 2²/4) = 5.520788…
        // p = 1 − 2·∫₀^|t| f_df(x) dx = 0.069134 (Simpson's rule on the t density, 2·10⁵ panels).
        let (t, df, p) = welch_t_test(&[1.0, 2.0, 3.0, 4.0], &[2.0, 4.0, 6.0, 8.0, 10.0]).unwrap();
        assert!((t + 2.251436).abs() < 1e-5, "t = {t}");
        assert!((df - 5.520788).abs() < 1e-5, "df = {df}");
        assert!((p - 0.069134).abs() < 1e-5, "p = {p}");
    }

    /// Fewer than two values, or a NaN or infinity: not available (statrs panics on NaN).
    /// Control: the same samples without the bad value give a test.
    #[test]
    fn welch_is_not_available_for_non_finite_or_too_few_values() {
        let b = [1.0, 2.0, 3.0];
        assert!(welch_t_test(&[1.5], &b).is_none());
        assert!(welch_t_test(&[], &b).is_none());
        assert!(welch_t_test(&[1.5, f64::NAN, 2.5], &b).is_none());
        assert!(welch_t_test(&[1.5, f64::INFINITY, 2.5], &b).is_none());
        assert!(welch_t_test(&[1.0e308, -1.0e308], &b).is_none());
        assert!(welch_t_test(&[1.5, 2.5], &b).is_some());
    }

    /// Far tail: t = 18 with 28 degrees of freedom, p = 2∫₁₈^∞ f₂₈(x) dx = 6.3075e-17 (Simpson's
    /// rule, 2·10⁵ panels after x = 18/u); 1 − cdf would give 0 here.
    #[test]
    fn welch_p_value_is_exact_in_the_far_tail() {
        // b = 0..14 (sample variance 20), a = b + d with d = 18·sqrt(2·20/15): t = 18, df = 28.
        let b: Vec<f64> = (0..15).map(f64::from).collect();
        let d = 18.0 * (2.0 * 20.0 / 15.0f64).sqrt();
        let a: Vec<f64> = b.iter().map(|v| v + d).collect();
        let (t, df, p) = welch_t_test(&a, &b).unwrap();
        assert!(
            (t - 18.0).abs() < 1e-9 && (df - 28.0).abs() < 1e-9,
            "t = {t}, df = {df}"
        );
        assert!((p / 6.3075e-17 - 1.0).abs() < 1e-3, "p = {p}");
        assert!((sample_std(&[1.0, 2.0, 3.0, 4.0]) - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
    }
}
