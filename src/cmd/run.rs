//! `faultline run`.

use clap::Args;

use crate::exit::Code;

#[derive(Args, Debug)]
pub struct RunArgs {}

pub fn execute(_args: RunArgs) -> anyhow::Result<Code> {
    anyhow::bail!("`faultline run` is not available in this build yet")
}
