//! Range checks of settings. Every config type of the suite has a `validate` method built from
//! these checks; each failure names the key (dotted, as in the TOML file, e.g.
//! `protocol.adam_d.beta1`), the value and the allowed range, so that the caller only adds the
//! file (or the flag) it came from.

use std::fmt;

/// A setting outside its allowed range.
#[derive(Clone, Debug, PartialEq)]
pub struct Invalid {
    /// Dotted key as written in the settings file (or a CLI flag, `--labels`).
    pub key: String,
    /// The value found, as text.
    pub value: String,
    /// The allowed range, in words (e.g. "a finite number > 0").
    pub allowed: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} = {} is not allowed: it must be {}",
            self.key, self.value, self.allowed
        )
    }
}

impl std::error::Error for Invalid {}

impl Invalid {
    pub fn new(key: &str, value: impl fmt::Display, allowed: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.to_string(),
            allowed: allowed.into(),
        }
    }

    /// The same error with `prefix.` in front of its key (a nested table).
    pub fn under(mut self, prefix: &str) -> Self {
        if !prefix.is_empty() {
            self.key = format!("{prefix}.{}", self.key);
        }
        self
    }
}

/// The result of a check.
pub type Checked = Result<(), Invalid>;

/// `v` is finite and > 0 (learning rates, ε of Adam and batch norm, scales).
pub fn positive(key: &str, v: f64) -> Checked {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Invalid::new(key, v, "a finite number > 0"))
    }
}

/// `v` is finite and ≥ 0 (weights of costs, margins, noise levels).
pub fn non_negative(key: &str, v: f64) -> Checked {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(Invalid::new(key, v, "a finite number ≥ 0"))
    }
}

/// 0 ≤ v < 1 (Adam's β₁ and β₂, momentum, dropout probability).
pub fn unit_interval_open(key: &str, v: f64) -> Checked {
    if (0.0..1.0).contains(&v) {
        Ok(())
    } else {
        Err(Invalid::new(key, v, "in [0, 1)"))
    }
}

/// An integer ≥ `min` (counts of steps, rows, samples).
pub fn at_least(key: &str, v: u64, min: u64) -> Checked {
    if v >= min {
        Ok(())
    } else {
        Err(Invalid::new(key, v, format!("an integer ≥ {min}")))
    }
}

/// An integer ≤ `max`, where `max` is the value of `max_key` (schedule boundaries inside a
/// run: `decay_start ≤ steps`).
pub fn at_most_key(key: &str, v: u64, max_key: &str, max: u64) -> Checked {
    if v <= max {
        Ok(())
    } else {
        Err(Invalid::new(
            key,
            v,
            format!("≤ {max_key} (= {max}), an integer in [0, {max}]"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_check_accepts_its_boundary_and_rejects_just_past_it() {
        assert!(positive("k", f64::MIN_POSITIVE).is_ok());
        for bad in [0.0, -1e-9, f64::NAN, f64::INFINITY] {
            assert!(positive("k", bad).is_err(), "{bad}");
        }
        assert!(non_negative("k", 0.0).is_ok());
        for bad in [-1e-9, f64::NAN, f64::INFINITY] {
            assert!(non_negative("k", bad).is_err(), "{bad}");
        }
        assert!(unit_interval_open("k", 0.0).is_ok());
        assert!(unit_interval_open("k", 0.999_999).is_ok());
        for bad in [1.0, 1.5, -0.1, f64::NAN] {
            assert!(unit_interval_open("k", bad).is_err(), "{bad}");
        }
        assert!(at_least("k", 1, 1).is_ok() && at_least("k", 0, 1).is_err());
        assert!(at_most_key("k", 5, "m", 5).is_ok() && at_most_key("k", 6, "m", 5).is_err());
    }

    #[test]
    fn the_message_names_key_value_and_range() {
        let e = unit_interval_open("beta1", 1.5)
            .unwrap_err()
            .under("protocol.adam");
        assert_eq!(
            e.to_string(),
            "protocol.adam.beta1 = 1.5 is not allowed: it must be in [0, 1)"
        );
    }
}
