//! The faultline controller. `main` is thin: parse, run, map the outcome to an exit code.

mod cli;
mod client;
mod cluster;
mod cmd;
mod db;
mod exit;
mod generator;
mod nemesis;
mod recorder;
mod report;
mod runner;
mod spec;

use std::process::ExitCode;

fn main() -> ExitCode {
    let code = match std::panic::catch_unwind(cli::main) {
        Ok(code) => code,
        // The panic hook has already printed the message; unwinding ran every teardown guard.
        Err(_) => exit::Code::Error,
    };
    ExitCode::from(code as u8)
}
