//! Command-line arguments. Raw arguments become typed `Args`; each command turns its args into
//! a validated config before it builds anything.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::cmd;
use crate::exit::Code;

/// faultline finds consistency bugs in distributed stores that speak HTTP.
///
/// Exit codes: 0 valid, 1 invalid (a consistency violation), 2 unknown (undecided within the
/// budget), 3 the test could not be carried out.
#[derive(Parser, Debug)]
#[command(name = "faultline", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a full test from a spec: start the cluster, drive clients, inject faults, check.
    Run(cmd::run::RunArgs),
    /// Check a test spec without running it: validate it, render every node's command line
    /// and readiness probe and one request of each operation; exit 0, or 3 with the error.
    CheckSpec(cmd::check_spec::CheckSpecArgs),
    /// Check recorded histories offline (ours or Jepsen's) against a model.
    Check(cmd::check::CheckArgs),
    /// Re-render the report of a run directory from its stored history.
    Report(cmd::report::ReportArgs),
    /// The zero-install first run: a 5-node demo store, faults, a verdict and a report.
    Demo(cmd::demo::DemoArgs),
    /// Remove namespaces, links, rules and processes left behind by a killed controller.
    Clean(cmd::clean::CleanArgs),
    /// A local web UI over the reports: every run, each report, two runs compared.
    Serve(cmd::serve::ServeArgs),
    /// Run a spec over a grid of node counts × fault settings (× rates, concurrencies) and
    /// draw throughput, latency, availability and the verdict at every point on one page.
    Sweep(cmd::sweep::SweepArgs),
}

/// Where runs land.
#[derive(Args, Debug, Clone)]
pub struct OutArgs {
    /// Reports root; a run lands in DIR/<spec name>/<UTC timestamp>/.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out: PathBuf,
}

/// Parses the command line and runs the command. Usage errors exit 3, not clap's 2, because 2
/// means "unknown" to a CI job.
pub fn main() -> Code {
    // Before anything can log: every command's warnings reach stderr.
    crate::log::init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp
                | clap::error::ErrorKind::DisplayVersion
                | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => Code::Valid,
                _ => Code::Error,
            };
            let _ = e.print();
            return code;
        }
    };
    let result = match cli.command {
        Command::Run(args) => cmd::run::execute(args),
        Command::Check(args) => cmd::check::execute(args),
        Command::CheckSpec(args) => cmd::check_spec::execute(args),
        Command::Report(args) => cmd::report::execute(args),
        Command::Demo(args) => cmd::demo::execute(args),
        Command::Clean(args) => cmd::clean::execute(args),
        Command::Serve(args) => cmd::serve::execute(args),
        Command::Sweep(args) => cmd::sweep::execute(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            crate::errln!("faultline: error: {e:#}");
            Code::Error
        }
    }
}
