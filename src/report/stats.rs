//! Statistics a report shows beside the verdict: operation counts by type and `f`, latency
//! quantiles, throughput, the nemesis's fault windows, and **availability** — the share of
//! operations that succeeded overall, inside each fault window and on each side of a
//! partition. Availability shows where a store sits on the CAP trade-off: a store that keeps
//! answering `ok` during a partition and fails the consistency check is available but stale;
//! one that refuses (fail/info) and passes is consistent but unavailable.
//!
//! An operation belongs to a fault window when it was invoked between the window's start and
//! stop events (positions in the history, so this works for imported histories without
//! times). A window whose stop event never came lasts to the end of the history.
//!
//! Everything here is one pass over the history plus a sort of latencies: O(n log n).

use std::collections::{BTreeMap, BTreeSet};

use faultline_checkers::history::NemesisEvent;
use faultline_checkers::{History, Op, Outcome};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use super::health::Gap;
use crate::nemesis::Verb;

/// Operation counts by how they ended.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Counts {
    pub total: usize,
    pub ok: usize,
    pub fail: usize,
    pub info: usize,
}

impl Counts {
    pub fn add(&mut self, outcome: Outcome) {
        self.total += 1;
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::Fail => self.fail += 1,
            Outcome::Info => self.info += 1,
        }
    }

    /// Share of operations that succeeded, `None` when there were none.
    pub fn ok_share(&self) -> Option<f64> {
        (self.total > 0).then(|| self.ok as f64 / self.total as f64)
    }
}

/// Latency quantiles in milliseconds, over operations that completed (ok, fail or info with
/// a completion event).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Quantiles {
    pub count: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Quantiles {
    fn of(latencies_ns: &mut [u64]) -> Option<Quantiles> {
        if latencies_ns.is_empty() {
            return None;
        }
        latencies_ns.sort_unstable();
        let q = |p: f64| {
            let i = ((latencies_ns.len() - 1) as f64 * p).round() as usize;
            latencies_ns[i] as f64 / 1e6
        };
        Some(Quantiles {
            count: latencies_ns.len(),
            p50_ms: q(0.50),
            p95_ms: q(0.95),
            p99_ms: q(0.99),
            max_ms: q(1.0),
        })
    }
}

/// Counts and latency of one `f`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct FStats {
    #[serde(flatten)]
    pub counts: Counts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Quantiles>,
}

/// The statistics section of `results.json`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Client operations by outcome.
    pub ops: Counts,
    /// Client operations by `f`.
    pub by_f: BTreeMap<String, FStats>,
    /// Nemesis events by `f`.
    pub nemesis: BTreeMap<String, usize>,
    pub processes: usize,
    pub keys: usize,
    /// From the first to the last timed event, when the history has times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_s: Option<f64>,
    /// `ok` operations per second over the span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok_per_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Quantiles>,
}

/// A period during which a fault was in force, from a nemesis start event to its stop event.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct FaultWindow {
    /// `partition`, `kill`, `pause`, `clock`, or the start event's `f` for other faults.
    pub kind: String,
    pub start_f: String,
    /// The event that ended the window; `None` when the fault lasted to the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_f: Option<String>,
    /// Positions of the start and stop events in the history (stop: end of history).
    pub start_pos: usize,
    pub end_pos: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ns: Option<u64>,
    /// The start event's value: the nodes, or the grudge (node → nodes it drops).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub value: Value,
    /// A short label for plots: `partition n1,n2 | n3,n4,n5`, `kill n2`.
    pub label: String,
}

/// The kind of the windows [`phase_windows`] returns: not faults, so never counted in
/// availability; the plots draw them as bands of their own.
pub const PHASE_KIND: &str = "phase";

/// The named phases of the main phase, from their `phase-start` and `phase-stop` events
/// (a phase without its stop lasts to the end of the history), labelled with their names.
pub fn phase_windows(history: &History) -> Vec<FaultWindow> {
    use crate::plan::{PHASE_START, PHASE_STOP};
    let mut out: Vec<FaultWindow> = Vec::new();
    for n in &history.nemesis {
        let e = &n.event;
        if e.f == PHASE_START {
            out.push(FaultWindow {
                kind: PHASE_KIND.to_string(),
                start_f: PHASE_START.to_string(),
                stop_f: None,
                start_pos: n.pos,
                end_pos: history.event_count,
                start_ns: e.time,
                end_ns: None,
                label: e.value["name"].as_str().unwrap_or("phase").to_string(),
                value: e.value.clone(),
            });
        } else if e.f == PHASE_STOP {
            if let Some(w) = out.iter_mut().rev().find(|w| w.stop_f.is_none()) {
                w.stop_f = Some(PHASE_STOP.to_string());
                w.end_pos = n.pos;
                w.end_ns = e.time;
            }
        }
    }
    out
}

/// Availability on one side of a fault: the nodes, and the ops they served.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SideAvailability {
    pub nodes: Vec<String>,
    pub ops: Counts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok_share: Option<f64>,
}

/// Availability inside one fault window.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct WindowAvailability {
    pub window: FaultWindow,
    pub ops: Counts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok_share: Option<f64>,
    /// For a partition, each side of it; for a fault on some nodes, those nodes and the rest.
    /// Only ops that name the node that served them are counted here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sides: Vec<SideAvailability>,
}

/// The availability section of `results.json`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Availability {
    pub overall: Counts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overall_ok_share: Option<f64>,
    /// Ops invoked while no fault was in force.
    pub outside_faults: Counts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outside_faults_ok_share: Option<f64>,
    pub windows: Vec<WindowAvailability>,
    /// Stretches of at least `gap_threshold_s` with no `ok` completion while no fault or
    /// crash was in force and clients kept asking ([`super::health::gaps`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<Gap>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap_threshold_s: Option<f64>,
}

/// Pairs nemesis start and stop events into fault windows, in order of their start.
pub fn fault_windows(history: &History, nodes: &[String]) -> Vec<FaultWindow> {
    let mut log = FaultLog::default();
    for n in &history.nemesis {
        log.push(n);
    }
    log.finish(history.event_count, last_time_ns(history), nodes)
}

/// The fault windows of a history, built one nemesis event at a time: [`fault_windows`]
/// feeds it a [`History`]'s events, a streamed check each event as it reads it. Only the
/// windows are kept, never the events.
#[derive(Debug, Default)]
pub struct FaultLog {
    /// Labelled at the end, when the nodes are known.
    windows: Vec<FaultWindow>,
    /// The windows still open, by kind.
    open: BTreeMap<&'static str, Vec<usize>>,
}

impl FaultLog {
    /// Adds the next nemesis event: a start opens a window, a stop ends every open window
    /// of its kind (a heal removes all partition rules); other events are not faults.
    pub fn push(&mut self, n: &NemesisEvent) {
        let f = n.event.f.as_str();
        let Some(verb) = Verb::parse(f) else {
            return;
        };
        let kind = verb.kind().name();
        if verb.starts() {
            self.open.entry(kind).or_default().push(self.windows.len());
            self.windows.push(FaultWindow {
                kind: kind.to_string(),
                start_f: f.to_string(),
                stop_f: None,
                start_pos: n.pos,
                end_pos: usize::MAX,
                start_ns: n.event.time,
                end_ns: None,
                value: n.event.value.clone(),
                label: String::new(),
            });
            return;
        }
        for i in self.open.remove(kind).unwrap_or_default() {
            let w = &mut self.windows[i];
            w.stop_f = Some(f.to_string());
            w.end_pos = n.pos;
            w.end_ns = n.event.time;
        }
    }

    /// The windows, in order of their start. A window never stopped lasts to the end of
    /// the history: `end_pos` (the number of events) and `end_ns` (its latest time);
    /// `nodes` are the ones the labels split into sides.
    pub fn finish(self, end_pos: usize, end_ns: Option<u64>, nodes: &[String]) -> Vec<FaultWindow> {
        let mut windows = self.windows;
        for w in &mut windows {
            if w.stop_f.is_none() {
                w.end_pos = end_pos;
            }
            // Never stopped, or stopped by an event without a time: as late as the history.
            w.end_ns = w.end_ns.or(end_ns);
            w.label = label(&w.kind, &w.value, nodes);
        }
        windows
    }
}

/// The latest time of any event of the history, client or nemesis.
fn last_time_ns(history: &History) -> Option<u64> {
    let ops = history
        .ops
        .iter()
        .flat_map(|o| [o.invoke_time, o.complete_time])
        .flatten();
    let nemesis = history.nemesis.iter().filter_map(|n| n.event.time);
    ops.chain(nemesis).max()
}

/// The sides of a fault: components of the "can still talk" graph for a grudge, or the named
/// nodes and the rest for a list of nodes. Empty when no split can be derived.
pub fn sides(value: &Value, nodes: &[String]) -> Vec<Vec<String>> {
    match value {
        Value::Object(grudge) => {
            let mut all: BTreeSet<String> = nodes.iter().cloned().collect();
            let mut drops: BTreeSet<(String, String)> = BTreeSet::new();
            for (node, dropped) in grudge {
                all.insert(node.clone());
                for d in dropped.as_array().into_iter().flatten() {
                    let d = value_text(d);
                    all.insert(d.clone());
                    drops.insert((node.clone(), d.clone()));
                    drops.insert((d, node.clone()));
                }
            }
            let all: Vec<String> = all.into_iter().collect();
            let components = components(&all, |a, b| !drops.contains(&(a.into(), b.into())));
            if components.len() >= 2 {
                components
            } else {
                Vec::new()
            }
        }
        Value::Array(list) => {
            let named: BTreeSet<String> = list.iter().map(value_text).collect();
            let rest: Vec<String> = nodes
                .iter()
                .filter(|n| !named.contains(*n))
                .cloned()
                .collect();
            let mut out = vec![named.into_iter().collect::<Vec<_>>()];
            if !rest.is_empty() {
                out.push(rest);
            }
            out
        }
        Value::String(node) => sides(&Value::Array(vec![Value::String(node.clone())]), nodes),
        _ => Vec::new(),
    }
}

fn components(all: &[String], talk: impl Fn(&str, &str) -> bool) -> Vec<Vec<String>> {
    let mut seen = vec![false; all.len()];
    let mut out = Vec::new();
    for start in 0..all.len() {
        if seen[start] {
            continue;
        }
        seen[start] = true;
        let mut stack = vec![start];
        let mut component = Vec::new();
        while let Some(i) = stack.pop() {
            component.push(all[i].clone());
            for j in 0..all.len() {
                if !seen[j] && talk(&all[i], &all[j]) {
                    seen[j] = true;
                    stack.push(j);
                }
            }
        }
        component.sort();
        out.push(component);
    }
    out
}

/// A value as plain text: strings without their quotes.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn label(kind: &str, value: &Value, nodes: &[String]) -> String {
    if let (true, Value::Object(per_node)) = (kind.starts_with("clock"), value) {
        let offsets: Vec<String> = per_node
            .iter()
            .map(|(node, v)| format!("{node} {}", clock_offset(v)))
            .collect();
        return format!("{kind} {}", offsets.join(", "));
    }
    // A fault that describes itself (packet faults: effects and links) is labelled so.
    if let Some(summary) = value.get("summary").and_then(Value::as_str) {
        return format!("{kind} {summary}");
    }
    let split = sides(value, nodes);
    let detail = match value {
        Value::Object(_) if !split.is_empty() => split
            .iter()
            .map(|s| s.join(","))
            .collect::<Vec<_>>()
            .join(" | "),
        Value::Array(_) | Value::String(_) => {
            split.first().map(|s| s.join(",")).unwrap_or_default()
        }
        Value::Null => String::new(),
        other => crate::report::escape::truncate(&other.to_string(), 40),
    };
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} {detail}")
    }
}

/// One node's clock change as a person reads it: `-1500 ms (measured -1502 ±1 ms)`.
fn clock_offset(v: &Value) -> String {
    let ms = |field: &str| v.get(field).and_then(Value::as_i64);
    let measured = match (ms("offset_ms"), ms("uncertainty_ms")) {
        (Some(o), Some(u)) => format!("measured {o:+} ±{u} ms"),
        (Some(o), None) => format!("measured {o:+} ms"),
        _ => String::new(),
    };
    match (ms("delta_ms"), measured.is_empty()) {
        (Some(d), false) => format!("{d:+} ms ({measured})"),
        (Some(d), true) => format!("{d:+} ms"),
        (None, _) => measured,
    }
}

/// Computes the statistics of a history.
pub fn stats(history: &History) -> Stats {
    let mut s = Stats::default();
    let mut latencies: Vec<u64> = Vec::with_capacity(history.ops.len());
    let mut by_f_latencies: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let mut processes = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for op in &history.ops {
        s.ops.add(op.outcome);
        s.by_f
            .entry(op.f.clone())
            .or_default()
            .counts
            .add(op.outcome);
        processes.insert(op.process);
        keys.insert(op.key.as_deref());
        if let Some(l) = latency_ns(op) {
            latencies.push(l);
            by_f_latencies.entry(&op.f).or_default().push(l);
        }
    }
    for n in &history.nemesis {
        *s.nemesis.entry(n.event.f.clone()).or_default() += 1;
    }
    for (f, mut l) in by_f_latencies {
        if let Some(entry) = s.by_f.get_mut(f) {
            entry.latency = Quantiles::of(&mut l);
        }
    }
    s.latency = Quantiles::of(&mut latencies);
    s.processes = processes.len();
    s.keys = keys.len();
    let first = history.ops.iter().filter_map(|o| o.invoke_time).min();
    if let (Some(first), Some(last)) = (first, last_time_ns(history)) {
        let span_s = last.saturating_sub(first) as f64 / 1e9;
        if span_s > 0.0 {
            s.span_s = Some(span_s);
            s.ok_per_s = Some(s.ops.ok as f64 / span_s);
        }
    }
    s
}

/// Latency of an operation that completed and carries both times.
pub fn latency_ns(op: &Op) -> Option<u64> {
    op.complete_pos?;
    Some(op.complete_time?.saturating_sub(op.invoke_time?))
}

/// Availability overall, outside faults, and inside each fault window.
pub fn availability(history: &History, windows: &[FaultWindow], nodes: &[String]) -> Availability {
    let mut a = Availability::default();
    let mut per_window: Vec<WindowAvailability> = windows
        .iter()
        .map(|w| WindowAvailability {
            window: w.clone(),
            ops: Counts::default(),
            ok_share: None,
            sides: sides(&w.value, nodes)
                .into_iter()
                .map(|nodes| SideAvailability {
                    nodes,
                    ops: Counts::default(),
                    ok_share: None,
                })
                .collect(),
        })
        .collect();
    // Windows are sorted by start; an op is matched against the windows open at its
    // invocation. Overlaps are few, so a scan from the first window that may hold it is cheap.
    let mut first_open = 0;
    for op in &history.ops {
        a.overall.add(op.outcome);
        while first_open < windows.len() && windows[first_open].end_pos <= op.invoke_pos {
            first_open += 1;
        }
        let mut inside = false;
        for w in per_window.iter_mut().skip(first_open) {
            if w.window.start_pos > op.invoke_pos {
                break;
            }
            if op.invoke_pos >= w.window.end_pos {
                continue;
            }
            inside = true;
            w.ops.add(op.outcome);
            if let Some(node) = &op.node {
                if let Some(side) = w.sides.iter_mut().find(|s| s.nodes.contains(node)) {
                    side.ops.add(op.outcome);
                }
            }
        }
        if !inside {
            a.outside_faults.add(op.outcome);
        }
    }
    for w in &mut per_window {
        w.ok_share = w.ops.ok_share();
        for s in &mut w.sides {
            s.ok_share = s.ops.ok_share();
        }
    }
    a.overall_ok_share = a.overall.ok_share();
    a.outside_faults_ok_share = a.outside_faults.ok_share();
    a.windows = per_window;
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_checkers::{Event, EventType, Process};
    use serde_json::json;

    fn ev(process: Process, kind: EventType, f: &str, value: Value, node: &str) -> Event {
        Event {
            index: 0,
            time: None,
            process,
            kind,
            f: f.into(),
            key: None,
            value,
            node: (!node.is_empty()).then(|| node.to_string()),
            error: None,
            response: None,
        }
    }

    fn nodes() -> Vec<String> {
        ["n1", "n2", "n3", "n4", "n5"].map(String::from).to_vec()
    }

    #[test]
    fn a_halves_grudge_splits_into_two_sides() {
        let grudge = json!({"n1":["n3","n4","n5"],"n2":["n3","n4","n5"],
                            "n3":["n1","n2"],"n4":["n1","n2"],"n5":["n1","n2"]});
        assert_eq!(
            sides(&grudge, &nodes()),
            vec![vec!["n1", "n2"], vec!["n3", "n4", "n5"]]
        );
    }

    #[test]
    fn a_ring_of_majorities_has_no_sides() {
        let ring = json!({"n1":["n3","n4"],"n2":["n4","n5"],"n3":["n5","n1"],
                          "n4":["n1","n2"],"n5":["n2","n3"]});
        assert!(sides(&ring, &nodes()).is_empty());
    }

    #[test]
    fn ops_during_a_partition_count_against_the_side_that_served_them() {
        let c = Process::Client;
        let grudge = json!({"n1":["n2"],"n2":["n1"]});
        let h = History::from_events([
            ev(c(0), EventType::Invoke, "read", Value::Null, "n1"),
            ev(c(0), EventType::Ok, "read", json!(1), "n1"),
            ev(
                Process::Nemesis,
                EventType::Info,
                "start-partition",
                grudge,
                "",
            ),
            ev(c(0), EventType::Invoke, "write", json!(2), "n1"),
            ev(c(1), EventType::Invoke, "write", json!(3), "n2"),
            ev(c(0), EventType::Fail, "write", json!(2), "n1"),
            ev(c(1), EventType::Ok, "write", json!(3), "n2"),
            ev(
                Process::Nemesis,
                EventType::Info,
                "stop-partition",
                Value::Null,
                "",
            ),
            ev(c(0), EventType::Invoke, "read", Value::Null, "n1"),
        ])
        .unwrap();
        let two = vec!["n1".to_string(), "n2".to_string()];
        let windows = fault_windows(&h, &two);
        assert_eq!(windows.len(), 1);
        assert_eq!(windows[0].stop_f.as_deref(), Some("stop-partition"));
        assert_eq!(windows[0].label, "partition n1 | n2");
        let a = availability(&h, &windows, &two);
        assert_eq!(a.overall.total, 4);
        assert_eq!(a.outside_faults.total, 2);
        let w = &a.windows[0];
        assert_eq!((w.ops.ok, w.ops.total), (1, 2));
        assert_eq!(w.sides[0].ok_share, Some(0.0));
        assert_eq!(w.sides[1].ok_share, Some(1.0));
    }

    #[test]
    fn a_fault_never_healed_lasts_to_the_end_of_the_history() {
        let h = History::from_events([
            ev(Process::Nemesis, EventType::Info, "kill", json!(["n2"]), ""),
            ev(
                Process::Client(0),
                EventType::Invoke,
                "read",
                Value::Null,
                "n2",
            ),
        ])
        .unwrap();
        let w = fault_windows(&h, &nodes());
        assert_eq!(w[0].end_pos, 2);
        assert_eq!(w[0].stop_f, None);
        assert_eq!(w[0].label, "kill n2");
    }

    #[test]
    fn a_clock_window_is_labelled_with_the_shift_and_the_measured_offset() {
        let bump = json!({"n2": {"delta_ms": -1500, "offset_ms": -1502, "uncertainty_ms": 1}});
        let h = History::from_events([
            ev(Process::Nemesis, EventType::Info, "clock-bump", bump, ""),
            ev(
                Process::Nemesis,
                EventType::Info,
                "clock-reset",
                json!({}),
                "",
            ),
        ])
        .unwrap();
        let w = fault_windows(&h, &nodes());
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].label, "clock n2 -1500 ms (measured -1502 ±1 ms)");
        assert_eq!(w[0].stop_f.as_deref(), Some("clock-reset"));
    }
}
