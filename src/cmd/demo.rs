//! `faultline demo`.

use clap::Args;

use crate::exit::Code;

#[derive(Args, Debug)]
pub struct DemoArgs {}

pub fn execute(_args: DemoArgs) -> anyhow::Result<Code> {
    anyhow::bail!("`faultline demo` is not available in this build yet")
}
