//! One module per command; each exposes its clap `Args` and `execute(args) -> Result<Code>`.
//! An `Err` is a test that could not be carried out (exit 3); a verdict is a `Code`.

pub mod check;
pub mod check_spec;
pub mod clean;
pub mod demo;
pub mod report;
pub mod run;
pub mod serve;
pub mod sweep;
