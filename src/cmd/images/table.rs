//! `ebgan images table`: placeholder until the face runs land.

use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn main(_: Args) -> Result<()> {
    anyhow::bail!("not yet")
}
