//! `ebgan`: the command line of the suite. `main` only maps the outcome of `run` to an exit
//! code and prints the error chain; each subcommand lives in its own module under `cmd/`.

use clap::Parser;
use ebgan::cli::{run, Cli};
use std::process::ExitCode;

/// Everything runs on a worker of rayon's pool (RAYON_NUM_THREADS threads, else one per core),
/// so that the parallel kernels and dfdx's matmul also use the calling thread instead of
/// handing each parallel call to a pool thread and sleeping until it is done (measured with
/// 1 thread: about 9,000 such hand-offs in 35 EBGAN-LN steps). Large stacks, as the main
/// thread has. The allocator is set first, before any thread exists ([`ebgan::allocator`]).
fn main() -> ExitCode {
    // A refused setting costs speed, never a number: nothing to report.
    let _kept = ebgan::allocator::keep_freed_memory();
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
