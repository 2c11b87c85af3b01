//! The faultline controller. `main` is thin: parse, run, map the outcome to an exit code.
//! Every module lives in the library target (`src/lib.rs`); add new modules there.

use std::process::ExitCode;

use faultline::{cli, exit};

fn main() -> ExitCode {
    let code = match std::panic::catch_unwind(cli::main) {
        Ok(code) => code,
        // The panic hook has already printed the message; unwinding ran every teardown guard.
        Err(_) => exit::Code::Error,
    };
    ExitCode::from(code as u8)
}
