//! `faultline check`.

use clap::Args;

use crate::exit::Code;

#[derive(Args, Debug)]
pub struct CheckArgs {}

pub fn execute(_args: CheckArgs) -> anyhow::Result<Code> {
    anyhow::bail!("`faultline check` is not available in this build yet")
}
