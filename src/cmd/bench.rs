//! `ebgan bench`: median, minimum and maximum milliseconds per training step of the LN step
//! and of the EBGAN-LN D+G step, on random data of MNIST's shape (release build).

use anyhow::Result;
use dfdx::prelude::*;
use ladder::train::{Batch, Trainer};
use ladder::{EbganLnTrainer, EbganProtocol, LadderConfig, LnProtocol, LnTrainer};
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Timed steps per measurement.
    #[arg(long, default_value_t = 30)]
    pub steps: usize,
    /// Untimed warm-up steps.
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
}

/// Milliseconds of each timed call of `f`.
pub fn time_steps(warmup: usize, steps: usize, mut f: impl FnMut(u64)) -> Vec<f64> {
    for t in 0..warmup {
        f(t as u64);
    }
    (0..steps)
        .map(|t| {
            let start = Instant::now();
            f((warmup + t) as u64);
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect()
}

/// (median, min, max).
pub fn summary(mut ms: Vec<f64>) -> (f64, f64, f64) {
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], ms[0], ms[ms.len() - 1])
}

pub fn main(args: Args) -> Result<()> {
    let dev = Cpu::seed_from_u64(0);
    let cfg = LadderConfig::default();
    let b = cfg.batch_size;
    let x_l: Vec<f32> = dev.sample_uniform_like(&(b, Const::<784>)).as_vec();
    let x_u: Vec<f32> = dev.sample_uniform_like(&(b, Const::<784>)).as_vec();
    let y: Vec<u8> = (0..b).map(|i| (i % 10) as u8).collect();
    let batch = Batch {
        labeled_x: &x_l,
        labeled_y: &y,
        unlabeled_x: &x_u,
    };
    let mut ln = LnTrainer::new(&dev, 0, cfg.clone(), LnProtocol::default());
    let (m, lo, hi) = summary(time_steps(args.warmup, args.steps, |t| {
        ln.train_step(t, &batch);
    }));
    println!("ln_step_ms median={m:.1} min={lo:.1} max={hi:.1}");
    let mut eb = EbganLnTrainer::new(&dev, 0, cfg, EbganProtocol::default());
    let (m, lo, hi) = summary(time_steps(args.warmup, args.steps, |t| {
        eb.train_step(t, &batch);
    }));
    println!("ebgan_ln_step_ms median={m:.1} min={lo:.1} max={hi:.1}");
    Ok(())
}
