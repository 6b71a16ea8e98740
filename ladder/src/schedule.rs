//! Learning-rate and margin schedules (appendix D). Steps count from 0; step `t` uses the
//! value returned for `t`.

use crate::config::MarginDecay;

/// Constant `base` until `decay_start`, then linear so that it would reach 0 at `end`:
/// lr_t = base · min(1, (end − t) / (end − decay_start)).
pub fn linear_decay_lr(base: f32, t: u64, decay_start: u64, end: u64) -> f32 {
    if t < decay_start || end <= decay_start {
        return base;
    }
    let left = end.saturating_sub(t) as f64;
    (base as f64 * left / (end - decay_start) as f64) as f32
}

/// EBGAN-LN margin m_t: linear, m_t = m₀ · max(0, 1 − t / T), or a step to 0 at T.
pub fn margin(m0: f32, t: u64, over: u64, shape: MarginDecay) -> f32 {
    if t >= over {
        return 0.0;
    }
    match shape {
        MarginDecay::Linear => (m0 as f64 * (1.0 - t as f64 / over as f64)) as f32,
        MarginDecay::Step => m0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lr_is_constant_then_linear_to_zero() {
        // LN protocol: 2e-4 to step 80,000, then linear to 0 at 120,000.
        assert_eq!(linear_decay_lr(2e-4, 0, 80_000, 120_000), 2e-4);
        assert_eq!(linear_decay_lr(2e-4, 79_999, 80_000, 120_000), 2e-4);
        assert_eq!(linear_decay_lr(2e-4, 80_000, 80_000, 120_000), 2e-4);
        // Half-way through the decay: (120000 − 100000) / 40000 = 0.5.
        assert!((linear_decay_lr(2e-4, 100_000, 80_000, 120_000) - 1e-4).abs() < 1e-12);
        // Last step: 1/40000 of the base.
        assert!((linear_decay_lr(2e-4, 119_999, 80_000, 120_000) - 5e-9).abs() < 1e-15);
        assert_eq!(linear_decay_lr(2e-4, 120_000, 80_000, 120_000), 0.0);
    }

    #[test]
    fn margin_decays_linearly_to_zero_at_60k() {
        assert_eq!(margin(16.0, 0, 60_000, MarginDecay::Linear), 16.0);
        assert_eq!(margin(16.0, 30_000, 60_000, MarginDecay::Linear), 8.0);
        // One step before the end: 16 / 60000.
        assert!((margin(16.0, 59_999, 60_000, MarginDecay::Linear) - 16.0 / 60_000.0).abs() < 1e-7);
        assert_eq!(margin(16.0, 60_000, 60_000, MarginDecay::Linear), 0.0);
        assert_eq!(margin(16.0, 170_000, 60_000, MarginDecay::Linear), 0.0);
        assert_eq!(margin(16.0, 59_999, 60_000, MarginDecay::Step), 16.0);
        assert_eq!(margin(16.0, 60_000, 60_000, MarginDecay::Step), 0.0);
    }
}
