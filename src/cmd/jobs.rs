//! `ebgan jobs table2 --profile P`: one self-contained shell command per run of a table, for
//! GNU parallel, a Slurm job array, or any other engine. Each line trains one run and writes
//! its folder; `ebgan table2` then aggregates whatever folders exist.

use crate::cmd::run::Paths;
use crate::config::{load_profile, Model};
use anyhow::Result;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Experiment {
    /// LN vs EBGAN-LN, every (labels, seed, model) of the profile.
    Table2,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The experiment whose runs to list.
    #[arg(value_enum)]
    pub experiment: Experiment,
    /// Profile of configs/profiles.toml.
    #[arg(long, default_value = "quick")]
    pub profile: String,
    /// Only runs without a final.csv.
    #[arg(long)]
    pub pending: bool,
    /// The binary as the workers will call it.
    #[arg(long, default_value = "target/release/ebgan")]
    pub bin: String,
    #[command(flatten)]
    pub paths: Paths,
}

/// The command lines, in the Makefile's order (labels, then seed, then model).
pub fn table2_jobs(args: &Args) -> Result<Vec<String>> {
    let layout = args.paths.layout();
    let p = load_profile(&layout.configs, &args.profile)?;
    let mut out = Vec::new();
    for &labels in &p.labels {
        for &seed in &p.seeds {
            for model in Model::ALL {
                if args.pending
                    && layout
                        .run_dir(&args.profile, model, labels, seed)
                        .join("final.csv")
                        .exists()
                {
                    continue;
                }
                out.push(format!(
                    "{} run --profile {} --model {} --labels {labels} --seed {seed} --quiet --configs {} --results {}",
                    args.bin,
                    args.profile,
                    model.name(),
                    args.paths.configs.display(),
                    args.paths.results.display()
                ));
            }
        }
    }
    Ok(out)
}

pub fn main(args: Args) -> Result<()> {
    match args.experiment {
        Experiment::Table2 => table2_jobs(&args)?.iter().for_each(|l| println!("{l}")),
    }
    Ok(())
}
