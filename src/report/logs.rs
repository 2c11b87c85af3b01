//! Node logs beside a failure: what each node that served the failing operations wrote
//! around the time they ran, so a reader sees the store's own account next to the diagram.
//!
//! At teardown every node's log is copied into the run directory as
//! `nodes/<node>/daemon.log`. On the `local` and `loopback` backends each line is stamped
//! with the history's clock (seconds since the history's origin, the origin of its `time`):
//!
//! ```text
//! [    5.065526s] faultline-demo: fatal: replica n2 found its applied index ahead of its log
//! ```
//!
//! For a failure, [`Logs::panel`] takes the nodes of the failing ops (their `node`), and for
//! each reads the lines stamped from [`BEFORE_NS`] (1 s) before the first op's invocation to
//! [`AFTER_NS`] (1 s) after the last op's completion. A line without a stamp (a continuation
//! of a multi-line message, faultline's own `--- faultline: starting` header) belongs to the
//! stamped line before it. At most [`MAX_LINES`] lines per node are kept, those nearest the
//! first failing op (half before it, the rest after), and the invocation and completion of
//! each marked op are inserted at their place. A log with no stamp at all (the ssh backend
//! does not stamp its nodes' logs) gets a note instead of lines. Reading stops at the first
//! line stamped after the window, so a long log costs only its part up to the failure; each
//! diagram reads its nodes' logs again (at most 10 linearizability keys and 5 cycles are
//! drawn per checker).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use faultline_checkers::History;
use serde::Serialize;

use super::diagrams::{op_text, outcome_class};
use super::escape::truncate;

/// How long before the first failing op the window opens.
pub const BEFORE_NS: u64 = 1_000_000_000;
/// How long after the last failing op the window closes.
pub const AFTER_NS: u64 = 1_000_000_000;
/// The most lines shown per node.
pub const MAX_LINES: usize = 60;
/// The most nodes shown per failure.
const MAX_NODES: usize = 6;
/// Lines are cut to this many characters.
const MAX_LINE_CHARS: usize = 400;

/// Where a run's node logs are.
pub struct Logs {
    nodes_dir: Option<PathBuf>,
}

/// The logs of the nodes of one failure, as `logs.html` shows them.
#[derive(Serialize, Debug)]
pub struct Panel {
    /// The window, `4.065 s – 6.128 s` on the history's clock.
    pub window: String,
    pub nodes: Vec<NodeLog>,
}

/// One node's lines in the window.
#[derive(Serialize, Debug)]
pub struct NodeLog {
    pub node: String,
    /// The log's path in the run directory.
    pub file: String,
    /// Why there are no lines (no log, no stamps), when there are none to show.
    pub note: Option<String>,
    pub lines: Vec<Line>,
    /// Lines of the window left out to stay within [`MAX_LINES`].
    pub left_out: usize,
}

/// A log line, or a mark where a failing op was invoked or completed.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Line {
    /// Seconds on the history's clock, `5.065526`.
    pub at: String,
    pub text: String,
    pub mark: bool,
    #[serde(skip)]
    ns: u64,
}

impl Logs {
    /// The logs of the run in `run_dir`; none when it has no `nodes/` (a checked history).
    pub fn of(run_dir: &Path) -> Logs {
        let dir = run_dir.join("nodes");
        Logs {
            nodes_dir: dir.is_dir().then_some(dir),
        }
    }

    /// No logs at all.
    pub fn none() -> Logs {
        Logs { nodes_dir: None }
    }

    /// The panel for the failing ops `ops` (ids into the history), with the invocation and
    /// completion of each of `marked` shown in place. `None` when the run kept no logs, the
    /// ops name no node or the history has no times.
    pub fn panel(&self, history: &History, ops: &[usize], marked: &[usize]) -> Option<Panel> {
        let dir = self.nodes_dir.as_ref()?;
        let ops: Vec<&faultline_checkers::Op> =
            ops.iter().filter_map(|&i| history.ops.get(i)).collect();
        let first = ops.iter().filter_map(|o| o.invoke_time).min()?;
        let last = ops
            .iter()
            .filter_map(|o| o.complete_time.or(o.invoke_time))
            .max()?;
        let (from, to) = (
            first.saturating_sub(BEFORE_NS),
            last.saturating_add(AFTER_NS),
        );
        let mut nodes: Vec<&str> = Vec::new();
        for o in &ops {
            if let Some(n) = o.node.as_deref() {
                if !nodes.contains(&n) && nodes.len() < MAX_NODES {
                    nodes.push(n);
                }
            }
        }
        if nodes.is_empty() {
            return None;
        }
        let marks = marks(history, marked);
        let centre = marks.first().map_or(first, |m| m.ns);
        Some(Panel {
            window: format!("{} – {}", secs(from), secs(to)),
            nodes: nodes
                .into_iter()
                .map(|n| node_log(dir, n, (from, to), centre, &marks))
                .collect(),
        })
    }
}

fn secs(ns: u64) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

/// The marks of the invocation and completion of each marked op, in time order.
fn marks(history: &History, marked: &[usize]) -> Vec<Line> {
    let mut out = Vec::new();
    for &i in marked {
        let Some(o) = history.ops.get(i) else {
            continue;
        };
        let what = truncate(&op_text(o), 80);
        let by = format!("process {}", o.process);
        if let Some(t) = o.invoke_time {
            out.push(mark(t, format!("▶ op {i} invoked: {what} ({by})")));
        }
        if let (Some(t), Some(_)) = (o.complete_time, o.complete_pos) {
            let how = outcome_class(o.outcome);
            out.push(mark(t, format!("◀ op {i} completed {how}: {what} ({by})")));
        }
    }
    out.sort_by_key(|m| m.ns);
    out
}

fn mark(ns: u64, text: String) -> Line {
    Line {
        at: format!("{:.6}", ns as f64 / 1e9),
        text,
        mark: true,
        ns,
    }
}

/// A node's lines in `window`, or a note saying why there are none.
fn node_log(dir: &Path, node: &str, window: (u64, u64), centre: u64, marks: &[Line]) -> NodeLog {
    let file = format!("nodes/{node}/daemon.log");
    let mut log = NodeLog {
        node: node.to_string(),
        file: file.clone(),
        note: None,
        lines: Vec::new(),
        left_out: 0,
    };
    // A node's name comes from the history; only a plain name may become a path.
    let plain = !node.is_empty()
        && !node.starts_with('.')
        && !node.contains(['/', '\\'])
        && !node.chars().any(char::is_control);
    let opened = plain
        .then(|| File::open(dir.join(node).join("daemon.log")).ok())
        .flatten();
    let Some(reader) = opened else {
        log.note = Some(format!("This run directory has no log of {node} ({file})."));
        return log;
    };
    match read_window(BufReader::new(reader), window, centre) {
        Window::Unstamped => {
            log.note = Some(format!(
                "{file} has no time stamps (nodes of the ssh backend write their logs \
                 unstamped), so its lines cannot be placed beside the failing ops; read it whole."
            ));
        }
        Window::Lines { lines, left_out } => {
            if lines.is_empty() {
                log.note = Some(format!("{node} wrote nothing in this window."));
            }
            log.lines = merge(lines, marks, window);
            log.left_out = left_out;
        }
    }
    log
}

enum Window {
    /// The log carries no stamp at all.
    Unstamped,
    Lines {
        lines: Vec<Line>,
        left_out: usize,
    },
}

/// The stamp at the start of a log line, in nanoseconds, and the text after it.
pub fn parse_stamp(line: &str) -> Option<(u64, &str)> {
    let rest = line.strip_prefix('[')?;
    // A stamp is `[` + a right-aligned number of seconds + `s] `: a few dozen bytes at most.
    let close = rest.find("s] ").filter(|&c| c <= 32)?;
    let secs: f64 = rest[..close].trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| ((secs * 1e9).round() as u64, &rest[close + 3..]))
}

/// The lines stamped inside `window`: at most [`MAX_LINES`], half of them the last before
/// `centre` and the rest the first after it.
fn read_window(reader: impl BufRead, window: (u64, u64), centre: u64) -> Window {
    let half = MAX_LINES / 2;
    let mut before: VecDeque<Line> = VecDeque::new();
    let mut after: Vec<Line> = Vec::new();
    let (mut left_out, mut stamped, mut current) = (0usize, false, None::<u64>);
    for line in reader.split(b'\n').map_while(Result::ok) {
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end_matches('\r');
        let text = match parse_stamp(line) {
            Some((ns, text)) => {
                stamped = true;
                current = Some(ns);
                text
            }
            None => line,
        };
        let Some(ns) = current else {
            continue;
        };
        if ns > window.1 {
            break;
        }
        if ns < window.0 {
            continue;
        }
        let l = Line {
            at: format!("{:.6}", ns as f64 / 1e9),
            text: truncate(text, MAX_LINE_CHARS),
            mark: false,
            ns,
        };
        if ns < centre {
            before.push_back(l);
            if before.len() > half {
                before.pop_front();
                left_out += 1;
            }
        } else if after.len() < MAX_LINES - before.len() {
            after.push(l);
        } else {
            left_out += 1;
        }
    }
    if !stamped {
        return Window::Unstamped;
    }
    let mut lines: Vec<Line> = before.into_iter().collect();
    lines.extend(after);
    Window::Lines { lines, left_out }
}

/// The log lines with the marks inside the shown span put in place (a mark goes before the
/// lines stamped at or after it).
fn merge(lines: Vec<Line>, marks: &[Line], window: (u64, u64)) -> Vec<Line> {
    let mut out = Vec::with_capacity(lines.len() + marks.len());
    let mut marks = marks
        .iter()
        .filter(|m| m.ns >= window.0 && m.ns <= window.1)
        .peekable();
    for l in lines {
        while let Some(m) = marks.next_if(|m| m.ns <= l.ns) {
            out.push(m.clone());
        }
        out.push(l);
    }
    out.extend(marks.cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_is_read_from_the_line_and_a_bracket_in_the_text_is_not() {
        assert_eq!(
            parse_stamp("[    5.065526s] fatal: oops"),
            Some((5_065_526_000, "fatal: oops"))
        );
        assert_eq!(parse_stamp("[n2] listening"), None);
        assert_eq!(parse_stamp("--- faultline: starting [\"demo\"] ---"), None);
    }

    fn window_of(text: &str, window: (u64, u64), centre: u64) -> Vec<String> {
        match read_window(text.as_bytes(), window, centre) {
            Window::Lines { lines, .. } => lines.into_iter().map(|l| l.text).collect(),
            Window::Unstamped => vec!["(unstamped)".into()],
        }
    }

    #[test]
    fn only_lines_stamped_inside_the_window_are_kept_with_their_continuations() {
        let log = "[ 0.5s] early\n[ 1.5s] panic: boom\n  at frame 1\n[ 9.0s] late\n";
        let s = 1_000_000_000;
        assert_eq!(
            window_of(log, (s, 2 * s), s),
            vec!["panic: boom", "  at frame 1"]
        );
        assert_eq!(window_of("no stamps\n", (0, s), 0), vec!["(unstamped)"]);
    }

    #[test]
    fn a_chatty_node_shows_the_lines_nearest_the_failing_op() {
        let log: String = (0..1000)
            .map(|i| format!("[{:>12.6}s] line {i}\n", f64::from(i) / 1000.0))
            .collect();
        let Window::Lines { lines, left_out } =
            read_window(log.as_bytes(), (0, 2_000_000_000), 500_000_000)
        else {
            panic!("the log is stamped");
        };
        assert_eq!(lines.len(), MAX_LINES);
        assert_eq!(left_out, 1000 - MAX_LINES);
        assert_eq!(lines[0].text, format!("line {}", 500 - MAX_LINES / 2));
        assert_eq!(
            lines[MAX_LINES - 1].text,
            format!("line {}", 500 + MAX_LINES / 2 - 1)
        );
    }
}
