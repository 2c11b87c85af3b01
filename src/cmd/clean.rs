//! `faultline clean`: removes the namespaces, links, rules, processes and state directories
//! that a killed controller left behind, and says what it removed. See [`crate::cluster::clean`].

use clap::Args;

use crate::cluster::clean::{clean, CleanOptions};
use crate::exit::Code;

#[derive(Args, Debug)]
pub struct CleanArgs {
    /// Also remove runs whose controller is still running.
    #[arg(long)]
    pub force: bool,
    /// Only the run with this id (six hex digits, as in `fl<run>-n1`).
    #[arg(long, value_name = "RUN")]
    pub run: Option<String>,
}

/// Prints one line per object removed (stdout) and per object skipped or left (stderr). Exit 0
/// when nothing was left that should have gone, 3 otherwise.
pub fn execute(args: CleanArgs) -> anyhow::Result<Code> {
    let report = clean(&CleanOptions {
        force: args.force,
        run_id: args.run,
    });
    for what in &report.removed {
        crate::outln!("removed {what}");
    }
    if report.removed.is_empty() {
        crate::outln!("nothing to clean");
    }
    for what in &report.skipped {
        crate::errln!("faultline: skipped {what}");
    }
    for what in &report.failed {
        crate::errln!("faultline: could not remove {what}");
    }
    Ok(if report.failed.is_empty() {
        Code::Valid
    } else {
        Code::Error
    })
}
