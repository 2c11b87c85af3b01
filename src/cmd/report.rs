//! `faultline report`.

use clap::Args;

use crate::exit::Code;

#[derive(Args, Debug)]
pub struct ReportArgs {}

pub fn execute(_args: ReportArgs) -> anyhow::Result<Code> {
    anyhow::bail!("`faultline report` is not available in this build yet")
}
