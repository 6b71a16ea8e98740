//! The error rate of a diverged ladder is "not available", never a number.

use dfdx::prelude::*;
use ladder::train::Trainer;
use ladder::{evaluate, LadderConfig, LnProtocol, LnTrainer};

/// A ladder whose output scale γ is NaN predicts NaN for every image: `evaluate` returns None
/// (before, the arg-max of a NaN row was class 0 and the run ended `ok` with about 90 % error).
/// Control: the same ladder with a finite γ gets an error rate in [0, 1].
#[test]
fn nan_predictions_are_not_an_error_rate() {
    let dev = Cpu::seed_from_u64(1);
    let mut t = LnTrainer::new(&dev, 1, LadderConfig::default(), LnProtocol::default());
    let x: Vec<f32> = (0..200 * 784)
        .map(|i| ((i * 31) % 256) as f32 / 255.0)
        .collect();
    let y: Vec<u8> = (0..200).map(|i| (i % 10) as u8).collect();
    let stats = || x.chunks(100 * 784);
    let ok = evaluate(&mut t, stats(), &x, &y).expect("finite predictions");
    assert!((0.0..=1.0).contains(&ok));
    let (ladder, _) = t.modules_mut();
    ladder.gamma6 = ladder.gamma6.clone() * f32::NAN;
    assert_eq!(evaluate(&mut t, stats(), &x, &y), None);
}
