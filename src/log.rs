//! The controller's log: every `tracing` event, stamped with the seconds since the run
//! started, on stderr and in the run directory's `controller.log`.
//!
//! ```text
//! [   0.00s] faultline run demo: 5 nodes (local backend), 10 workers, ...
//! [   7.31s] warning: nemesis: could not stop pause: ...
//! ```
//!
//! One subscriber is installed for the whole process ([`init`], called by `cli::main` and by
//! every run), because the events come from every thread: the tokio workers, the nemesis's
//! own thread, the teardown thread. A thread-local default would miss most of them. What
//! changes from run to run is held in one place beside it: the instant the stamps count from
//! and the open `controller.log`, both set by [`start_run`] and dropped with its guard, so a
//! process may carry out several runs one after the other (tests do).
//!
//! Writing never fails a run: a closed stderr or a full disk drops the line, as `errln!` does
//! (`src/out.rs`), and the writers answer `Ok` so that `tracing-subscriber` has no error to
//! print with `eprintln!`. While a progress bar is on screen ([`show_bar`]) a line on stderr
//! is written through the bar's `suspend`, which clears the bar and draws it again below.
//!
//! `WARN` events read `warning: ...` and `ERROR` events `error: ...`; other levels print the
//! message alone. The level shown is `info` for faultline's crates and `warn` for the rest,
//! and the environment variable `FAULTLINE_LOG` replaces that with an `EnvFilter` directive
//! (`FAULTLINE_LOG=debug`, `FAULTLINE_LOG=faultline::nemesis=debug`).

use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use indicatif::ProgressBar;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// The environment variable that overrides which events are shown.
pub const FILTER_VAR: &str = "FAULTLINE_LOG";

const DEFAULT_FILTER: &str = "warn,faultline=info,faultline_checkers=info";

/// What the log's writers and clock share with the run in progress.
struct State {
    /// The stamps count from here: the run's start, or the subscriber's outside a run.
    start: Instant,
    /// The run's `controller.log`, when a run is in progress and the file could be made.
    file: Option<File>,
    /// Which run owns `file`, so that a late guard cannot close a newer run's log.
    run: u64,
    /// The progress bar on screen, if any.
    bar: Option<ProgressBar>,
}

fn state() -> MutexGuard<'static, State> {
    static STATE: OnceLock<Mutex<State>> = OnceLock::new();
    STATE
        .get_or_init(|| {
            Mutex::new(State {
                start: Instant::now(),
                file: None,
                run: 0,
                bar: None,
            })
        })
        .lock()
        // A panic while writing a line leaves nothing half-done worth refusing.
        .unwrap_or_else(|p| p.into_inner())
}

/// Installs the process's subscriber: a stderr layer and a `controller.log` layer. Calling it
/// again does nothing; if another subscriber was installed first (a test harness), it stays.
pub fn init() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let default = || EnvFilter::new(DEFAULT_FILTER);
        let (filter, bad) = match std::env::var(FILTER_VAR) {
            Ok(asked) => match EnvFilter::try_new(&asked) {
                Ok(filter) => (filter, None),
                Err(e) => (default(), Some(format!("{FILTER_VAR}={asked:?}: {e}"))),
            },
            Err(_) => (default(), None),
        };
        let subscriber = tracing_subscriber::registry()
            .with(filter)
            .with(layer(StderrWriter))
            .with(layer(RunFileWriter));
        let _ = tracing::subscriber::set_global_default(subscriber);
        if let Some(bad) = bad {
            tracing::warn!("{bad}; logging with the default filter `{DEFAULT_FILTER}` instead");
        }
    });
}

/// One `fmt` layer in the log's own format, writing to `writer`. Never ANSI: the format has
/// no colour, and the file must stay plain text.
fn layer<S, W>(writer: W) -> impl tracing_subscriber::Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .event_format(Line)
        .with_writer(writer)
}

/// Starts the log of a run: stamps count from now and lines also go to `path` (created, or
/// truncated). The run's lines stop going to the file when the guard drops.
pub fn start_run(path: &Path) -> RunLog {
    init();
    let mut s = state();
    s.start = Instant::now();
    s.file = File::create(path).ok();
    s.run += 1;
    RunLog { run: s.run }
}

/// The guard of a run's log (see [`start_run`]).
#[must_use = "the run's log file closes when the guard drops"]
pub struct RunLog {
    run: u64,
}

impl Drop for RunLog {
    fn drop(&mut self) {
        let mut s = state();
        if s.run == self.run {
            s.file = None;
        }
    }
}

/// Routes stderr lines through `bar` until the guard drops, so that they do not garble it.
pub fn show_bar(bar: ProgressBar) -> BarShown {
    state().bar = Some(bar);
    BarShown(())
}

/// The guard of a progress bar on screen (see [`show_bar`]).
#[must_use = "lines stop going through the bar when the guard drops"]
pub struct BarShown(());

impl Drop for BarShown {
    fn drop(&mut self) {
        state().bar = None;
    }
}

/// The stamp: seconds since the run started, right-aligned, `[   1.23s]`.
struct RunClock;

impl FormatTime for RunClock {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        let secs = state().start.elapsed().as_secs_f64();
        write!(w, "[{secs:>7.2}s]")
    }
}

/// One event as one line: the stamp, `warning: ` or `error: ` by level, the message and any
/// other fields as `key=value`.
struct Line;

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        RunClock.format_time(&mut w)?;
        w.write_char(' ')?;
        match *event.metadata().level() {
            Level::ERROR => w.write_str("error: ")?,
            Level::WARN => w.write_str("warning: ")?,
            _ => {}
        }
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

/// Stderr, through the progress bar when one is shown; errors are dropped.
struct StderrWriter;

impl<'w> MakeWriter<'w> for StderrWriter {
    type Writer = StderrWriter;

    fn make_writer(&'w self) -> StderrWriter {
        StderrWriter
    }
}

impl Write for StderrWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Cloned out of the lock: drawing the bar must not hold up other threads' lines.
        let bar = state().bar.clone();
        let put = || {
            let _ = io::stderr().lock().write_all(buf);
        };
        match bar {
            Some(bar) => bar.suspend(put),
            None => put(),
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = io::stderr().flush();
        Ok(())
    }
}

/// The run's `controller.log`, when a run is in progress; errors are dropped.
struct RunFileWriter;

impl<'w> MakeWriter<'w> for RunFileWriter {
    type Writer = RunFileWriter;

    fn make_writer(&'w self) -> RunFileWriter {
        RunFileWriter
    }
}

impl Write for RunFileWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(f) = state().file.as_mut() {
            let _ = f.write_all(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A writer into memory, to read what a layer wrote.
    #[derive(Clone, Default)]
    struct Memory(Arc<Mutex<Vec<u8>>>);

    impl Write for Memory {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Memory {
        type Writer = Memory;
        fn make_writer(&'w self) -> Memory {
            self.clone()
        }
    }

    impl Memory {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    /// `[   1.23s] rest` split into the seconds and the rest.
    fn parse(line: &str) -> (f64, &str) {
        let (stamp, rest) = line.split_once("s] ").expect(line);
        assert!(stamp.starts_with('[') && stamp.len() == 8, "{line:?}");
        (stamp[1..].trim().parse().expect(line), rest)
    }

    #[test]
    fn lines_are_stamped_in_seconds_and_warnings_say_so() {
        let memory = Memory::default();
        let subscriber = tracing_subscriber::registry().with(layer(memory.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("cluster 1a2b: n1 10.0.0.1");
            tracing::warn!("nemesis: could not stop pause");
            tracing::error!(file = "x", "cannot write");
        });
        let text = memory.text();
        let lines: Vec<_> = text.lines().map(parse).collect();
        let rests: Vec<_> = lines.iter().map(|(_, rest)| *rest).collect();
        assert_eq!(
            rests,
            [
                "cluster 1a2b: n1 10.0.0.1",
                "warning: nemesis: could not stop pause",
                "error: cannot write file=\"x\"",
            ]
        );
        assert!(!text.contains('\x1b'), "no ANSI: {text:?}");
    }

    #[test]
    fn a_runs_lines_go_to_its_own_file_and_stamps_restart_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let subscriber = tracing_subscriber::registry().with(layer(RunFileWriter));
        tracing::subscriber::with_default(subscriber, || {
            let first = start_run(&dir.path().join("first.log"));
            std::thread::sleep(std::time::Duration::from_millis(300));
            tracing::info!("in the first run");
            drop(first);
            tracing::info!("between runs");
            let _second = start_run(&dir.path().join("second.log"));
            tracing::info!("in the second run");
        });
        let read = |name| std::fs::read_to_string(dir.path().join(name)).unwrap();
        let (first, second) = (read("first.log"), read("second.log"));
        // Other tests of this binary may log meanwhile into whichever run file is open:
        // judge this test's own lines.
        fn ours<'a>(text: &'a str, what: &str) -> (f64, &'a str) {
            let line = text.lines().find(|l| l.ends_with(what));
            parse(line.unwrap_or_else(|| panic!("no {what:?} in {text:?}")))
        }
        let (secs, rest) = ours(&first, "in the first run");
        assert_eq!(rest, "in the first run");
        assert!(secs >= 0.3, "{first}");
        assert!(!first.contains("between runs") && !first.contains("second run"));
        let (secs, rest) = ours(&second, "in the second run");
        assert_eq!(rest, "in the second run");
        assert!(secs < 0.3, "the stamps restart with the run: {second}");
    }
}
