//! Progress of the main phase: operations per second, completions by outcome, and the
//! faults in force.
//!
//! On a terminal it is a live bar (`indicatif`) redrawn every second, which log lines pass
//! through without garbling it (`log::show_bar`), and which stays on screen, in its last
//! state, when the phase ends:
//!
//! ```text
//! main phase ████████░░░░░░░░░░░░  12/30s  1843 ops/s  ok 20110  fail 1303  info 17  faults: partition n1,n2|n3,n4,n5
//! ```
//!
//! Anywhere else (a CI log, `2>file`) it is a plain log line every 10 s, without the bar.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::log;
use crate::recorder::Counters;

/// How often the bar is redrawn.
const TTY_EVERY: Duration = Duration::from_secs(1);
/// How often a plain progress line is logged.
const PLAIN_EVERY: Duration = Duration::from_secs(10);
/// How soon after `stop` is set the loop notices.
const STOP_POLL: Duration = Duration::from_millis(200);

/// Reports progress until `stop` is set: a bar over `main` when `tty`, plain lines otherwise.
pub async fn progress_loop(
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    main: Duration,
    tty: bool,
) {
    let bar = tty.then(|| main_phase_bar(main));
    let shown = bar.clone().map(log::show_bar);
    let started = Instant::now();
    let mut last = (started, 0u64);
    let mut ticks = tokio::time::interval(if tty { TTY_EVERY } else { PLAIN_EVERY });
    ticks.tick().await;
    while !stop.load(Ordering::Relaxed) {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = tokio::time::sleep(STOP_POLL) => { continue; }
        }
        let done = counters.completed();
        let rate = (done - last.1) as f64 / last.0.elapsed().as_secs_f64().max(1e-3);
        last = (Instant::now(), done);
        let text = line(&counters, rate);
        match &bar {
            Some(bar) => {
                bar.set_position(started.elapsed().as_secs().min(main.as_secs()));
                bar.set_message(text);
            }
            None => tracing::info!("{text}"),
        }
    }
    drop(shown);
    if let Some(bar) = bar {
        // The last state stays on screen; the next log line starts below it.
        bar.finish();
        crate::errln!();
    }
}

/// A bar counting the main phase's seconds, with the progress line as its message, cut to
/// the terminal's width (a wrapped line could not be redrawn in place).
fn main_phase_bar(main: Duration) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(main.as_secs()), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("main phase {bar:20} {pos:>3}/{len}s  {wide_msg}")
        .expect("the template is valid");
    bar.set_style(style);
    bar.set_message("starting");
    bar
}

/// `1843 ops/s  ok 20110  fail 1303  info 17  faults: none`.
fn line(counters: &Counters, rate: f64) -> String {
    let faults = counters
        .faults
        .lock()
        .map(|f| {
            f.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    format!(
        "{:.0} ops/s  ok {}  fail {}  info {}  faults: {}",
        rate,
        counters.ok.load(Ordering::Relaxed),
        counters.fail.load(Ordering::Relaxed),
        counters.info.load(Ordering::Relaxed),
        if faults.is_empty() {
            "none".into()
        } else {
            faults
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_counts_outcomes_and_names_the_faults_in_force() {
        let counters = Counters::default();
        counters.ok.store(20, Ordering::Relaxed);
        counters.fail.store(3, Ordering::Relaxed);
        assert_eq!(
            line(&counters, 41.6),
            "42 ops/s  ok 20  fail 3  info 0  faults: none"
        );
        counters
            .faults
            .lock()
            .unwrap()
            .insert("partition".into(), "n1|n2,n3".into());
        assert!(line(&counters, 0.0).ends_with("faults: partition n1|n2,n3"));
    }
}
