//! placeholder
#[derive(clap::Args, Debug)]
pub struct Args {}
pub fn main(_a: Args) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}
