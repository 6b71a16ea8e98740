//! `ebgan`: the command line of the suite. `main` only maps the outcome of `run` to an exit
//! code and prints the error chain; each subcommand lives in its own module under `cmd/`.

use clap::{Parser, Subcommand};
use ebgan::cmd;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ebgan",
    version,
    about = "Energy-based GAN experiments: LN vs EBGAN-LN on MNIST (Zhao et al. 2017, Table 2)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    /// Summarise the validation runs of a profile's tuning into results/tuning/<profile>.*
    Tuning(cmd::tuning::Args),
    /// Data: `ebgan data fetch` downloads and verifies MNIST (for a machine without a copy).
    Data(cmd::data::Args),
    /// The MNIST grid experiments: GAN, EBGAN, EBGAN-PT (Table 1, Figures 2-4 and 9).
    Gan(cmd::gan::Args),
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(a) => cmd::run::main(a),
        Command::Table2(a) => cmd::table2::main(a),
        Command::Plot(a) => cmd::plot::main(a),
        Command::Bench(a) => cmd::bench::main(a),
        Command::Jobs(a) => cmd::jobs::main(a),
        Command::Gan(a) => cmd::gan::main(a),
        Command::Tuning(a) => cmd::tuning::main(a),
        Command::Data(a) => cmd::data::main(a),
    }
}

/// Everything runs on a worker of rayon's pool (RAYON_NUM_THREADS threads, else one per core),
/// so that the parallel kernels and dfdx's matmul also use the calling thread instead of
/// handing each parallel call to a pool thread and sleeping until it is done (measured with
/// 1 thread: about 9,000 such hand-offs in 35 EBGAN-LN steps). Large stacks, as the main
/// thread has.
fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = rayon::ThreadPoolBuilder::new()
        .stack_size(64 << 20)
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|pool| pool.install(|| run(cli)));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<ebgan::cmd::run::Interrupted>() {
            // 128 + SIGINT, as a shell reports a process stopped by Ctrl-C.
            Some(i) => {
                eprintln!("{i}");
                ExitCode::from(130)
            }
            None => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}
