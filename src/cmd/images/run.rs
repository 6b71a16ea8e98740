//! placeholder
use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct Args {}
#[derive(clap::Args, Debug)]
pub struct JobsArgs {}

pub fn main(_: Args) -> Result<()> {
    anyhow::bail!("not yet")
}
pub fn jobs(_: JobsArgs) -> Result<()> {
    anyhow::bail!("not yet")
}
