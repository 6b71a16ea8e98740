//! `ebgan gan bench --id ID`: median / min / max ms per training iteration (k D steps and one
//! G step) of a configuration, after warm-up, on real MNIST batches; no classifier needed.

use super::run::{resolve, RealBatches};
use super::Paths;
use anyhow::Result;
use dfdx::prelude::*;
use gan_variants::shapes::PIXELS;
use gan_variants::variants::build;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Configuration ids to time.
    #[arg(long, required = true, num_args = 1..)]
    pub id: Vec<String>,
    /// Profile of configs/gans.toml: paper, quick or smoke.
    #[arg(long, default_value = "quick")]
    pub profile: String,
    /// Timed iterations (after 5 warm-up iterations), ≥ 1.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub steps: u64,
    /// MNIST folder (default: $MNIST_DIR, then data/mnist).
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub paths: Paths,
}

pub fn main(args: Args) -> Result<()> {
    let data = crate::data::load_mnist(&crate::data::resolve_dir(args.data_dir.as_deref()))?;
    let images = super::padded(&data.train);
    println!("id,g_params,d_params,median_ms,min_ms,max_ms");
    for id in &args.id {
        let (cfg, _) = resolve(&args.paths, &args.profile, id, None)?;
        let dev = Cpu::seed_from_u64(cfg.seed);
        let mut trainer = build(&dev, &cfg.config, cfg.seed).map_err(anyhow::Error::msg)?;
        let train = &cfg.config.train;
        let mut batches = RealBatches::new(&images, cfg.seed);
        let mut reals = Vec::with_capacity(train.d_steps * train.batch * PIXELS);
        let mut ms = Vec::new();
        for t in 0..5 + args.steps {
            reals.clear();
            for i in 0..train.d_steps as u64 {
                batches.fill(t * train.d_steps as u64 + i, train.batch, &mut reals);
            }
            let start = Instant::now();
            trainer.step(t, &reals);
            if t >= 5 {
                ms.push(start.elapsed().as_secs_f64() * 1e3);
            }
        }
        ms.sort_by(f64::total_cmp);
        let (g, d) = trainer.num_params();
        println!(
            "{id},{g},{d},{:.2},{:.2},{:.2}",
            ms[ms.len() / 2],
            ms[0],
            ms[ms.len() - 1]
        );
    }
    Ok(())
}
