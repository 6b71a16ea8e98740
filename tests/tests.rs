//! Index of the integration tests (one file per subcommand or concern):
//! - `test_data.rs`: MNIST loading, its errors, and the labeled subsets on the real data;
//! - `test_run.rs`: a run's outputs, reproducibility, divergence, and CLI errors;
//! - `test_table2.rs`: table aggregation against a golden Markdown file;
//! - `test_gan.rs`: the GAN grid commands (classifier, smoke runs, id sets, CLI errors);
//! - `test_regression.rs`: error-rate thresholds of short fixed-seed runs
//!   (`results/reference/regression.toml`).
