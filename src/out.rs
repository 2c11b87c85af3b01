//! Terminal output that never takes a run down.
//!
//! `println!` and `eprintln!` panic when their stream is closed (`faultline run … | head`, a
//! terminal that went away). A test must not end because nobody reads its messages: these
//! macros write the same text and drop the error, so a broken stream only silences the
//! terminal, never the run, its history or its exit code.

/// `println!` that ignores a closed standard output.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `eprintln!` that ignores a closed standard error.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// `eprint!` that ignores a closed standard error.
#[macro_export]
macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut stderr = std::io::stderr();
        let _ = write!(stderr, $($arg)*);
        let _ = stderr.flush();
    }};
}
