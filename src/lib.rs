//! The `ebgan` experiment suite: everything that touches files — MNIST loading, configs,
//! per-run CSV outputs, tables and plots — around the `ladder` and `gan_variants` libraries.

pub mod allocator;
pub mod checkpoint;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod data;
pub mod images;
pub mod io;
pub mod machine;
pub mod results;
pub mod stats;
