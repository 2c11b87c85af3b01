//! `faultline clean`.

use clap::Args;

use crate::exit::Code;

#[derive(Args, Debug)]
pub struct CleanArgs {}

pub fn execute(_args: CleanArgs) -> anyhow::Result<Code> {
    anyhow::bail!("`faultline clean` is not available in this build yet")
}
