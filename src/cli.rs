//! The command line: every subcommand and flag (each with its help text, tested below).
//! `main.rs` only parses it, runs it on rayon's pool and maps the outcome to an exit code.

use crate::cmd;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ebgan",
    version,
    about = "Energy-based GAN experiments: LN vs EBGAN-LN on MNIST (Zhao et al. 2017, Table 2)",
    after_help = "Environment: RAYON_NUM_THREADS sets the threads (all cores by default). On Linux with glibc the \
                  binary keeps freed memory (one malloc arena, no mmap, no trimming: the image models \
                  run 1.8-3.1x faster; README, Performance); EBGAN_SYSTEM_MALLOC=1 keeps glibc's \
                  defaults. Neither changes a number (tested at 1 and 2 threads)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Train one (model, labels, seed) run of a profile and write its result folder.
    Run(cmd::run::Args),
    /// Aggregate finished runs into results/table2_<profile>.{csv,md} and its figure.
    Table2(cmd::table2::Args),
    /// Rebuild every figure from the CSV files alone (no training).
    Plot(cmd::plot::Args),
    /// Median / min / max ms per training step and the achieved GFLOP/s.
    Bench(cmd::bench::Args),
    /// Print one self-contained command per run of a table (for make, GNU parallel, Slurm).
    Jobs(cmd::jobs::Args),
    /// Progress of a whole table: runs done, running, pending, and the ETA.
    Status(cmd::status::Args),
    /// Summarise the validation runs of a profile's tuning into results/tuning/<profile>.*
    Tuning(cmd::tuning::Args),
    /// Data: `ebgan data fetch` downloads and verifies MNIST (for a machine without a copy).
    Data(cmd::data::Args),
    /// The MNIST grid experiments: GAN, EBGAN, EBGAN-PT (Table 1, Figures 2-4 and 9).
    Gan(cmd::gan::Args),
    /// The image experiments: the FID feature network and DCGAN vs EBGAN(-PT) on faces.
    Images(cmd::images::Args),
    /// The energy view of GANs on MNIST: the energy GAN with and without the MI term, and
    /// Langevin / MALA sampling in its latent space.
    Energy(cmd::energy::Args),
    /// EDGAN on CIFAR-10: the paper's ablations (Tables 1, 3, 4, 5) and peers (Table 6).
    Edgan(cmd::edgan::Args),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(a) => cmd::run::main(a),
        Command::Table2(a) => cmd::table2::main(a),
        Command::Plot(a) => cmd::plot::main(a),
        Command::Bench(a) => cmd::bench::main(a),
        Command::Jobs(a) => cmd::jobs::main(a),
        Command::Gan(a) => cmd::gan::main(a),
        Command::Tuning(a) => cmd::tuning::main(a),
        Command::Data(a) => cmd::data::main(a),
        Command::Status(a) => cmd::status::main(a),
        Command::Images(a) => cmd::images::main(a),
        Command::Energy(a) => cmd::energy::main(a),
        Command::Edgan(a) => cmd::edgan::main(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every subcommand and every flag of every subcommand has help text (clap's own --help
    /// and --version aside). Control: a command with an undocumented flag is caught.
    #[test]
    fn every_flag_has_help_text() {
        fn undocumented(c: &clap::Command, path: &str, out: &mut Vec<String>) {
            for a in c.get_arguments() {
                let id = a.get_id().as_str();
                if id != "help" && id != "version" && a.get_help().is_none() {
                    out.push(format!("{path} --{id}"));
                }
            }
            for s in c.get_subcommands() {
                if s.get_about().is_none() {
                    out.push(format!("{path} {} (no about)", s.get_name()));
                }
                undocumented(s, &format!("{path} {}", s.get_name()), out);
            }
        }
        let mut missing = Vec::new();
        undocumented(&Cli::command(), "ebgan", &mut missing);
        assert!(missing.is_empty(), "without help text: {missing:#?}");
        let control = clap::Command::new("x").arg(clap::Arg::new("flag").long("flag"));
        let mut found = Vec::new();
        undocumented(&control, "x", &mut found);
        assert_eq!(found, ["x --flag"]);
    }
}
