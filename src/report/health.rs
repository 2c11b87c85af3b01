//! The store's health as the report shows it: every crash of a store process, how long the
//! node stayed down, and the stretches in which the store served nothing although no fault
//! was in force.
//!
//! **Crashes.** A `node-crash` event ([`crate::health`]) names the node, the exit status and
//! the last lines of its log. The node is down from that event until a later nemesis
//! `restart` naming it (the kill fault's stop, which starts the daemon again), or the end of
//! the run. That span is a [`FaultWindow`] of kind [`CRASH_KIND`], labelled `n3 crashed
//! (exit 70)`, which the plots and the timeline draw beside the nemesis's own windows in a
//! style of its own:
//!
//! ```text
//!   ops     |||||||||||||||||||||.......x.x..x.......||||||||
//!   faults          [== pause n1 ==]
//!   crashes                     |######## n3 crashed (exit 70) ####|restart
//! ```
//!
//! **Unavailable stretches.** A stretch is a span with no `ok` completion while clients kept
//! trying and neither a fault nor a crash was in force: from an `ok` (or the first
//! invocation) to the next `ok` (or the last event), less every fault and crash window and
//! every idle span in which no operation was in flight (the quiet period before the final
//! reads issues nothing, and must not count). A stretch is listed when it lasts at least the
//! threshold: [`MIN_GAP_NS`] (1 s), or [`GAP_FACTOR`] (10) times the median interval between
//! `ok` completions when that is longer, so a slow store's ordinary pauses are not listed.
//! A history without times has none. Cost: O(n log n) in the ops.

use faultline_checkers::{History, Outcome};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::stats::{value_text, FaultWindow};
use crate::health::CRASH;
use crate::nemesis::Verb;

/// The `kind` of a crash's window.
pub const CRASH_KIND: &str = "crash";
/// The shortest stretch without `ok` that is listed.
pub const MIN_GAP_NS: u64 = 1_000_000_000;
/// A listed stretch is also at least this many times the median interval between `ok`s.
pub const GAP_FACTOR: u64 = 10;
/// The most log lines a crash keeps in the page (its event holds at most 20).
const TAIL_SHOWN: usize = 40;

/// One crash of a store process, and what brought its node back.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Crash {
    pub node: String,
    pub pos: usize,
    pub time_ns: Option<u64>,
    /// `exit code 70`, `killed by SIGSEGV`, `exited (status unknown)`.
    pub status: String,
    pub log_tail: Vec<String>,
    /// The event that started the node again (`restart`), with its position and time.
    pub back_f: Option<String>,
    pub back_pos: Option<usize>,
    pub back_ns: Option<u64>,
}

impl Crash {
    /// `n3 crashed (exit 70)`.
    pub fn label(&self) -> String {
        let status = match self.status.strip_prefix("exit code ") {
            Some(code) => format!("exit {code}"),
            None => self.status.clone(),
        };
        if status.is_empty() || status.contains("unknown") {
            format!("{} crashed", self.node)
        } else {
            format!("{} crashed ({status})", self.node)
        }
    }
}

/// Every crash in the history, in order, each with the event that brought its node back.
pub fn crashes(history: &History) -> Vec<Crash> {
    let mut out: Vec<Crash> = Vec::new();
    for n in &history.nemesis {
        let e = &n.event;
        if e.f == CRASH {
            let node = e
                .node
                .clone()
                .unwrap_or_else(|| value_text(&e.value["node"]));
            let tail = e.value["log_tail"]
                .as_array()
                .map_or(&[][..], Vec::as_slice);
            out.push(Crash {
                node,
                pos: n.pos,
                time_ns: e.time,
                status: e.value.get("status").map(value_text).unwrap_or_default(),
                log_tail: tail[tail.len().saturating_sub(TAIL_SHOWN)..]
                    .iter()
                    .map(value_text)
                    .collect(),
                back_f: None,
                back_pos: None,
                back_ns: None,
            });
            continue;
        }
        if !starts_nodes_again(&e.f) {
            continue;
        }
        for c in out.iter_mut().filter(|c| c.back_pos.is_none()) {
            if names(&e.value, &c.node) {
                c.back_f = Some(e.f.clone());
                c.back_pos = Some(n.pos);
                c.back_ns = e.time;
            }
        }
    }
    out
}

/// Whether a nemesis event of this `f` starts the store's daemon on the nodes it names: the
/// stop of the kill fault (`restart`).
fn starts_nodes_again(f: &str) -> bool {
    Verb::parse(f).is_some_and(|v| !v.starts() && v.kind().name() == "kill")
}

/// Whether a nemesis event's value names `node`: a list of nodes, one node, or a map by node.
fn names(value: &Value, node: &str) -> bool {
    match value {
        Value::Array(items) => items.iter().any(|v| value_text(v) == node),
        Value::String(s) => s == node,
        Value::Object(map) => map.contains_key(node),
        _ => false,
    }
}

/// Each crash as a window: from the crash to the event that brought the node back, or to the
/// end of the history.
pub fn crash_windows(history: &History, crashes: &[Crash]) -> Vec<FaultWindow> {
    let end_ns = history
        .ops
        .iter()
        .filter_map(|o| o.complete_time.or(o.invoke_time))
        .chain(history.nemesis.iter().filter_map(|n| n.event.time))
        .max();
    crashes
        .iter()
        .map(|c| FaultWindow {
            kind: CRASH_KIND.to_string(),
            start_f: CRASH.to_string(),
            stop_f: c.back_f.clone(),
            start_pos: c.pos,
            end_pos: c.back_pos.unwrap_or(history.event_count),
            start_ns: c.time_ns,
            end_ns: c.back_ns.or(end_ns),
            value: Value::Array(vec![Value::String(c.node.clone())]),
            label: c.label(),
        })
        .collect()
}

/// A stretch with no `ok` completion while no fault or crash was in force, in seconds on the
/// history's clock (the one of crash times and of the node logs' stamps).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Gap {
    pub start_s: f64,
    pub end_s: f64,
    pub length_s: f64,
    /// Operations invoked in the stretch (none of them completed `ok` inside it).
    pub ops: usize,
}

/// The unavailable stretches of a history and the threshold they passed (seconds); `None`
/// for a history without times.
pub fn gaps(history: &History, windows: &[FaultWindow]) -> Option<(Vec<Gap>, f64)> {
    let t0 = history.ops.iter().map(|o| o.invoke_time).min()??;
    let t_end = history
        .ops
        .iter()
        .map(|o| o.complete_time.or(o.invoke_time))
        .max()??;
    let mut oks: Vec<u64> = history
        .ops
        .iter()
        .filter(|o| o.outcome == Outcome::Ok)
        .filter_map(|o| o.complete_time)
        .collect();
    oks.sort_unstable();
    let mut intervals: Vec<u64> = oks.windows(2).map(|w| w[1] - w[0]).collect();
    intervals.sort_unstable();
    let median = intervals.get(intervals.len() / 2).copied().unwrap_or(0);
    let threshold = MIN_GAP_NS.max(median.saturating_mul(GAP_FACTOR));
    let mut excluded: Vec<(u64, u64)> = windows
        .iter()
        .map(|w| (w.start_ns.unwrap_or(t0), w.end_ns.unwrap_or(t_end)))
        .collect();
    excluded.extend(idle_spans(history, threshold));
    let excluded = merge(excluded);
    let mut bounds = Vec::with_capacity(oks.len() + 2);
    bounds.push(t0);
    bounds.extend(oks.iter().copied().filter(|&t| t > t0 && t < t_end));
    bounds.push(t_end);
    let mut invokes: Vec<u64> = history.ops.iter().filter_map(|o| o.invoke_time).collect();
    invokes.sort_unstable();
    let mut out = Vec::new();
    for w in bounds.windows(2) {
        if w[1] - w[0] < threshold {
            continue;
        }
        for (a, b) in subtract((w[0], w[1]), &excluded) {
            if b - a >= threshold {
                let secs = |t: u64| t as f64 / 1e9;
                let ops = invokes.partition_point(|&t| t < b) - invokes.partition_point(|&t| t < a);
                out.push(Gap {
                    start_s: secs(a),
                    end_s: secs(b),
                    length_s: (b - a) as f64 / 1e9,
                    ops,
                });
            }
        }
    }
    Some((out, threshold as f64 / 1e9))
}

/// Spans of at least `min` in which no client operation was in flight (an op never completed
/// counts only at its invocation: it may have been abandoned long before the end).
fn idle_spans(history: &History, min: u64) -> Vec<(u64, u64)> {
    let mut spans: Vec<(u64, u64)> = history
        .ops
        .iter()
        .filter_map(|o| {
            let a = o.invoke_time?;
            Some((a, o.complete_time.unwrap_or(a).max(a)))
        })
        .collect();
    spans.sort_unstable();
    let mut out = Vec::new();
    let mut covered = match spans.first() {
        Some(s) => s.1,
        None => return out,
    };
    for &(a, b) in &spans[1..] {
        if a > covered && a - covered >= min {
            out.push((covered, a));
        }
        covered = covered.max(b);
    }
    out
}

/// Sorted, disjoint intervals covering the same time as `v`.
fn merge(mut v: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    v.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b.max(a))),
        }
    }
    out
}

/// The parts of `span` outside every interval of `excluded` (sorted and disjoint).
fn subtract(span: (u64, u64), excluded: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let (mut from, to) = span;
    let mut out = Vec::new();
    let first = excluded.partition_point(|e| e.1 <= from);
    for &(a, b) in &excluded[first..] {
        if a >= to {
            break;
        }
        if a > from {
            out.push((from, a));
        }
        from = from.max(b);
        if from >= to {
            return out;
        }
    }
    out.push((from, to));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_checkers::{Event, EventType, Process};
    use serde_json::json;

    const MS: u64 = 1_000_000;

    fn event(process: Process, kind: EventType, f: &str, ms: u64) -> Event {
        Event {
            index: 0,
            time: Some(ms * MS),
            process,
            kind,
            f: f.into(),
            key: None,
            value: Value::Null,
            node: Some("n1".into()),
            error: None,
            response: None,
        }
    }

    /// Reads by one process every 10 ms over `[from, to)` ms, each 2 ms long.
    fn reads(p: u64, from: u64, to: u64, outcome: EventType) -> Vec<Event> {
        (from / 10..to / 10)
            .flat_map(|i| {
                let t = i * 10;
                [
                    event(Process::Client(p), EventType::Invoke, "read", t),
                    event(Process::Client(p), outcome, "read", t + 2),
                ]
            })
            .collect()
    }

    fn nemesis(f: &str, ms: u64, value: Value) -> Event {
        Event {
            value,
            node: None,
            ..event(Process::Nemesis, EventType::Info, f, ms)
        }
    }

    fn crash(node: &str, ms: u64) -> Event {
        Event {
            node: Some(node.into()),
            value: json!({"node": node, "status": "exit code 70", "log_tail": ["fatal: oops"]}),
            ..nemesis(CRASH, ms, Value::Null)
        }
    }

    fn sorted(mut events: Vec<Event>) -> History {
        events.sort_by_key(|e| e.time);
        History::from_events(events).unwrap()
    }

    #[test]
    fn a_crash_lasts_until_the_restart_that_names_its_node() {
        let mut events = reads(0, 0, 3000, EventType::Ok);
        events.push(crash("n3", 500));
        events.push(nemesis("restart", 900, json!(["n1"])));
        events.push(nemesis("restart", 1500, json!(["n2", "n3"])));
        events.push(crash("n2", 2000));
        let h = sorted(events);
        let c = crashes(&h);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].label(), "n3 crashed (exit 70)");
        assert_eq!(c[0].back_ns, Some(1500 * MS));
        assert_eq!(c[0].log_tail, vec!["fatal: oops"]);
        assert_eq!(
            c[1].back_f, None,
            "the second crash was never followed by a restart"
        );
        let w = crash_windows(&h, &c);
        assert_eq!(
            (w[0].start_ns, w[0].end_ns),
            (Some(500 * MS), Some(1500 * MS))
        );
        assert_eq!(
            w[1].end_ns,
            Some(2992 * MS),
            "an unended crash runs to the end"
        );
        assert_eq!(w[1].kind, CRASH_KIND);
    }

    #[test]
    fn a_second_without_ok_outside_faults_is_listed_and_one_inside_a_fault_is_not() {
        let mut events = reads(0, 0, 1000, EventType::Ok);
        events.extend(reads(0, 1000, 2500, EventType::Fail));
        events.extend(reads(0, 2500, 3000, EventType::Ok));
        events.push(nemesis("pause", 3000, json!(["n1"])));
        events.extend(reads(0, 3000, 5000, EventType::Fail));
        events.push(nemesis("resume", 5000, json!(["n1"])));
        events.extend(reads(0, 5000, 5500, EventType::Ok));
        let h = sorted(events);
        let windows = super::super::stats::fault_windows(&h, &[]);
        let (gaps, threshold) = gaps(&h, &windows).unwrap();
        assert_eq!(threshold, 1.0);
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        let g = &gaps[0];
        assert!((g.start_s - 0.992).abs() < 1e-9, "{g:?}");
        assert!((g.end_s - 2.502).abs() < 1e-9, "{g:?}");
        assert_eq!(g.ops, 151);
    }

    #[test]
    fn a_quiet_period_in_which_nothing_was_asked_is_not_unavailability() {
        let mut events = reads(0, 0, 1000, EventType::Ok);
        events.extend(reads(0, 4000, 4500, EventType::Ok));
        let (gaps, _) = gaps(&sorted(events), &[]).unwrap();
        assert!(gaps.is_empty(), "{gaps:?}");
    }

    #[test]
    fn a_crashed_node_hides_the_stretch_it_caused() {
        let mut events = reads(0, 0, 1000, EventType::Ok);
        events.push(crash("n1", 1000));
        events.extend(reads(0, 1000, 3000, EventType::Fail));
        let h = sorted(events);
        let windows = crash_windows(&h, &crashes(&h));
        assert!(gaps(&h, &windows).unwrap().0.is_empty());
        assert_eq!(gaps(&h, &[]).unwrap().0.len(), 1);
    }
}
