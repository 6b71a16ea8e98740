//! One module per subcommand.

pub mod bench;
pub mod bench_images;
pub mod data;
pub mod edgan;
pub mod energy;
pub mod gan;
pub mod images;
pub mod jobs;
pub mod plot;
pub mod run;
pub mod status;
pub mod table2;
pub mod tuning;
