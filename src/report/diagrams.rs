//! Failure diagrams, so a person sees *why* a checker said invalid. This module computes
//! what to draw; the templates `explorer.html` and `cycle.html` draw it, escaping every text.
//!
//! **Linearizability: the failure explorer.** The linearizability checker's `details` (and
//! each anomaly's `data`, one per failing key; all but the first key are folded) hold a
//! [`Failure`]: the failing key, the op that could not be placed (`failing_op`, an index into
//! `History::ops`), the ops concurrent with it, the longest prefix the search linearized
//! (`prefix`), the states along it (`prefix_states`) and the states the model could be in
//! where the failing op had to take effect (`states`). The explorer draws each process as a
//! lane and each op as a bar from its invocation to its completion (x is the order of events,
//! not time, so short overlaps stay visible), and steps through the prefix: at each step the
//! ops placed so far are numbered in linearization order and the model's state is shown; the
//! last step tries the failing op, outlined, with the checker's reason. An op still open at
//! the end runs to the right edge. The script is `templates/explorer.js`.
//!
//! ```text
//!   p0 |==#1 write 1==|        |==read 2 ✗==|
//!   p1      |=====#2 write 2=====|
//!   step 2 of 3: placed write 2; the model is now in state 2
//! ```
//!
//! **Transactional anomalies.** An Elle-style checker reports a cycle ([`Cycle`]): steps of
//! an op, the edge type to the next step's op, and the key and value behind that edge. The
//! diagram places the ops on a circle and draws each dependency as a labelled arrow: `ww`
//! (write-write), `wr` (write-read), `rw` (read-write anti-dependency, dashed), `process`,
//! `realtime`; a table lists the edges. Every transaction, in the graph and the table, moves
//! the timeline to its op when clicked.
//!
//! A diagram draws at most [`MAX_OPS`] ops.

use std::collections::{BTreeMap, BTreeSet};

use faultline_checkers::elle::anomaly::Cycle;
use faultline_checkers::linear::Failure;
use faultline_checkers::{CheckResult, History, Op, Outcome};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cycles::{self, CycleView};
use super::escape::truncate;
use super::stats::value_text;
use super::timeline::Units;

/// The most ops a linearizability diagram draws, so a huge prefix stays readable.
pub const MAX_OPS: usize = 40;
/// The most cycles drawn per checker.
const MAX_CYCLES: usize = 5;
/// The most failing keys drawn per checker.
const MAX_KEYS: usize = 10;
/// The most states listed for the failing op.
const MAX_STATES_LISTED: usize = 20;

/// The explorers and cycle diagrams a checker's result calls for (none for a valid result).
pub fn for_checker(c: &CheckResult, history: &History) -> (Vec<Explorer>, Vec<CycleView>) {
    if c.verdict != faultline_checkers::Verdict::Invalid {
        return (Vec::new(), Vec::new());
    }
    let units = Units::of(history);
    let explorers = linear_failures(c, history)
        .iter()
        .map(|f| explorer(f, history, units))
        .collect();
    let mut cycles: Vec<(String, Cycle)> = c
        .anomalies
        .iter()
        .filter_map(|a| Some((a.kind.clone(), Cycle::from_json(&a.data)?)))
        .collect();
    if cycles.is_empty() {
        cycles.extend(details_cycles(&c.details));
    }
    let views = cycles
        .iter()
        .take(MAX_CYCLES)
        .enumerate()
        .map(|(i, (name, cy))| cycles::view(name, cy, history, units, i))
        .collect();
    (explorers, views)
}

/// Cycles listed in an Elle-style `details.anomalies` (kind → instances), for results whose
/// anomalies are notes rather than violations.
fn details_cycles(details: &Value) -> Vec<(String, Cycle)> {
    let Some(by_kind) = details.get("anomalies").and_then(Value::as_object) else {
        return Vec::new();
    };
    by_kind
        .iter()
        .flat_map(|(kind, items)| {
            items
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(move |item| Some((kind.clone(), Cycle::from_json(item)?)))
        })
        .collect()
}

/// The linearizability failures to draw: the one in `details` first, then each anomaly's
/// (one per failing key), at most [`MAX_KEYS`], without repeats.
fn linear_failures(c: &CheckResult, history: &History) -> Vec<LinearFailure> {
    let model = Named::deserialize(&c.details).ok().map(|n| n.model);
    let mut out: Vec<LinearFailure> = Vec::new();
    let candidates = std::iter::once(&c.details).chain(c.anomalies.iter().map(|a| &a.data));
    for data in candidates {
        if out.len() >= MAX_KEYS {
            break;
        }
        if let Some(mut f) = LinearFailure::from_details(data, history) {
            if f.model.is_none() {
                f.model = model.clone();
            }
            if !out.iter().any(|o| o.failing_op == f.failing_op) {
                out.push(f);
            }
        }
    }
    out
}

/// The part of the linearizability checker's `details` that names its model (anomalies carry
/// the failure only).
#[derive(Deserialize)]
struct Named {
    model: String,
}

/// What the linearizability checker says about its failure ([`Failure`], read from
/// `details`), with the model and only the op ids this history has.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearFailure {
    pub key: Option<String>,
    pub model: Option<String>,
    pub failing_op: usize,
    pub concurrent: Vec<usize>,
    pub prefix: Vec<usize>,
    /// The state before the prefix, then after each of its ops (empty from older versions).
    pub prefix_states: Vec<Value>,
    pub states: Vec<Value>,
    pub headline: String,
}

impl LinearFailure {
    /// Reads the details; `None` when they do not describe a failure within this history.
    pub fn from_details(details: &Value, history: &History) -> Option<LinearFailure> {
        let f = Failure::from_json(details)?;
        if f.failing_op >= history.ops.len() {
            return None;
        }
        let n = history.ops.len();
        // States pair with prefix ops by position, so a prefix naming ops this history lacks
        // makes the states unusable rather than shifted.
        let prefix_ok = f.prefix.iter().all(|&i| i < n);
        let prefix_states = if prefix_ok && f.prefix_states.len() == f.prefix.len() + 1 {
            f.prefix_states
        } else {
            Vec::new()
        };
        Some(LinearFailure {
            key: f.key,
            model: Named::deserialize(details).ok().map(|n| n.model),
            failing_op: f.failing_op,
            concurrent: f.concurrent.into_iter().filter(|&i| i < n).collect(),
            prefix: if prefix_ok { f.prefix } else { Vec::new() },
            prefix_states,
            states: f.states,
            headline: if f.headline.is_empty() {
                f.explanation
            } else {
                f.headline
            },
        })
    }

    /// The ops to draw: the failing op, the ops concurrent with it, and the latest placed ops,
    /// at most [`MAX_OPS`], in invocation order.
    fn ops_to_draw(&self, history: &History) -> Vec<usize> {
        let failing = &history.ops[self.failing_op];
        let mut chosen: BTreeSet<usize> = BTreeSet::new();
        chosen.insert(self.failing_op);
        chosen.extend(self.concurrent.iter().copied().take(MAX_OPS / 2));
        let mut earlier: Vec<usize> = if self.prefix.is_empty() {
            // No prefix given: the ops of the same key that began before the failing op ended.
            history
                .ops
                .iter()
                .filter(|o| o.key == failing.key && o.invoke_pos < failing.complete_pos_or_end())
                .map(|o| o.id)
                .collect()
        } else {
            self.prefix.clone()
        };
        earlier.sort_unstable_by_key(|&i| history.ops[i].invoke_pos);
        for &i in earlier.iter().rev() {
            if chosen.len() >= MAX_OPS {
                break;
            }
            chosen.insert(i);
        }
        let mut ids: Vec<usize> = chosen.into_iter().collect();
        ids.sort_unstable_by_key(|&i| history.ops[i].invoke_pos);
        ids
    }
}

/// A short description of an op: `write 3`, `read → 2`, `cas [1,2]`.
pub fn op_text(op: &Op) -> String {
    if let Some(txn) = txn_text(op) {
        return txn;
    }
    let value = match (&op.complete_value, op.outcome) {
        (Some(v), Outcome::Ok) if !v.is_null() && *v != op.invoke_value => {
            if op.invoke_value.is_null() {
                format!("→ {}", value_text(v))
            } else {
                format!("{} → {}", value_text(&op.invoke_value), value_text(v))
            }
        }
        _ if op.invoke_value.is_null() => String::new(),
        _ => value_text(&op.invoke_value),
    };
    if value.is_empty() {
        op.f.clone()
    } else {
        format!("{} {value}", op.f)
    }
}

/// A transaction as its micro-ops, `append x 1; r y [1 2]`: the completion's (reads filled
/// in) when it completed ok, else the invocation's. `None` when the value is not a list of
/// `[f, key, value]` micro-ops.
fn txn_text(op: &Op) -> Option<String> {
    let value = match (&op.complete_value, op.outcome) {
        (Some(v), Outcome::Ok) if v.is_array() => v,
        _ => &op.invoke_value,
    };
    let micro_ops = value.as_array()?;
    let parts: Option<Vec<String>> = micro_ops
        .iter()
        .map(|m| {
            let m = m.as_array()?;
            let f = m.first()?.as_str()?;
            let rest: Vec<String> = m[1..].iter().map(compact).collect();
            Some(format!("{f} {}", rest.join(" ")))
        })
        .collect();
    let parts = parts.filter(|p| !p.is_empty())?;
    Some(parts.join("; "))
}

/// A value in few characters: strings bare, lists as `[1 2 3]`, null as `_`.
fn compact(v: &Value) -> String {
    match v {
        Value::Null => "_".to_string(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(compact).collect::<Vec<_>>().join(" ")
        ),
        other => value_text(other),
    }
}

pub(super) fn outcome_class(o: Outcome) -> &'static str {
    match o {
        Outcome::Ok => "ok",
        Outcome::Fail => "fail",
        Outcome::Info => "info",
    }
}

/// One failing key's explorer, as `explorer.html` shows it.
#[derive(Serialize)]
pub struct Explorer {
    key: String,
    model: Option<String>,
    failing: usize,
    /// Where the failing op is on the timeline.
    failing_at: u64,
    /// The states the failing op met (at most [`MAX_STATES_LISTED`]) and how many there are.
    states: Vec<String>,
    states_total: usize,
    table: Vec<OpRow>,
    /// What the script draws and steps through.
    data: ExplorerData,
}

/// The explorer script's input. Positions are ranks of the drawn ops' events.
#[derive(Serialize)]
struct ExplorerData {
    lanes: Vec<u64>,
    ranks: usize,
    ops: Vec<Bar>,
    /// The shown end of the best attempt, in linearization order.
    steps: Vec<Step>,
    /// Ops of the attempt placed before the first shown step.
    skipped: usize,
    initial_state: String,
    failing: usize,
    stuck_states: Vec<String>,
    why: String,
}

#[derive(Serialize)]
struct Bar {
    id: usize,
    lane: usize,
    start: usize,
    end: Option<usize>,
    outcome: &'static str,
    label: String,
    title: String,
}

#[derive(Serialize)]
struct Step {
    op: usize,
    label: String,
    state: String,
}

#[derive(Serialize)]
struct OpRow {
    id: usize,
    process: u64,
    f: String,
    value: String,
    outcome: &'static str,
    line: usize,
    node: String,
    error: String,
    failing: bool,
}

fn state_text(v: &Value) -> String {
    truncate(&value_text(v), 300)
}

fn explorer(f: &LinearFailure, history: &History, units: Units) -> Explorer {
    let ids = f.ops_to_draw(history);
    // x is the rank of each event position among the drawn ops, so bars keep their order and
    // overlaps without wasting width on long quiet stretches.
    let mut positions: BTreeSet<usize> = BTreeSet::new();
    for &i in &ids {
        let op = &history.ops[i];
        positions.insert(op.invoke_pos);
        positions.extend(op.complete_pos);
    }
    let rank: BTreeMap<usize, usize> = positions.iter().enumerate().map(|(r, &p)| (p, r)).collect();
    let lanes: Vec<u64> = ids
        .iter()
        .map(|&i| history.ops[i].process)
        .collect::<BTreeSet<u64>>()
        .into_iter()
        .collect();
    let ops = ids
        .iter()
        .map(|&i| {
            let op = &history.ops[i];
            let label = op_text(op);
            Bar {
                id: i,
                lane: lanes.binary_search(&op.process).unwrap_or(0),
                start: rank[&op.invoke_pos],
                end: op.complete_pos.map(|c| rank[&c]),
                outcome: outcome_class(op.outcome),
                title: format!(
                    "op {i}, process {}: {} ({}), history line {}",
                    op.process,
                    truncate(&label, 300),
                    outcome_class(op.outcome),
                    op.line
                ),
                label: truncate(&label, 60),
            }
        })
        .collect();
    // The shown steps: the end of the attempt whose ops are all drawn.
    let drawn: BTreeSet<usize> = ids.iter().copied().collect();
    let shown = f
        .prefix
        .iter()
        .rev()
        .take_while(|i| drawn.contains(i))
        .count();
    let skipped = f.prefix.len() - shown;
    let state_at = |k: usize| {
        f.prefix_states
            .get(k)
            .map_or("unknown".to_string(), state_text)
    };
    let steps = f.prefix[skipped..]
        .iter()
        .enumerate()
        .map(|(k, &op)| Step {
            op,
            label: truncate(&op_text(&history.ops[op]), 80),
            state: state_at(skipped + k + 1),
        })
        .collect();
    let failing = &history.ops[f.failing_op];
    Explorer {
        key: f
            .key
            .clone()
            .unwrap_or_else(|| "(the whole history has one key)".to_string()),
        model: f.model.clone(),
        failing: f.failing_op,
        failing_at: units.start(failing),
        states: f
            .states
            .iter()
            .take(MAX_STATES_LISTED)
            .map(state_text)
            .collect(),
        states_total: f.states.len(),
        table: ids
            .iter()
            .map(|&i| op_row(history, i, f.failing_op))
            .collect(),
        data: ExplorerData {
            lanes,
            ranks: positions.len(),
            ops,
            steps,
            skipped,
            initial_state: state_at(skipped),
            failing: f.failing_op,
            stuck_states: f.states.iter().map(state_text).collect(),
            why: truncate(&f.headline, 1000),
        },
    }
}

fn op_row(history: &History, i: usize, failing: usize) -> OpRow {
    let op = &history.ops[i];
    OpRow {
        id: i,
        process: op.process,
        f: op.f.clone(),
        value: truncate(&op_text(op), 200),
        outcome: outcome_class(op.outcome),
        line: op.line,
        node: op.node.clone().unwrap_or_default(),
        error: op.error.as_ref().map(value_text).unwrap_or_default(),
        failing: i == failing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn two_op_history() -> History {
        use faultline_checkers::{Event, EventType, Process};
        let ev = |p: u64, kind: EventType, key: &str| Event {
            index: 0,
            time: None,
            process: Process::Client(p),
            kind,
            f: "read".into(),
            key: Some(key.into()),
            value: json!(1),
            node: None,
            error: None,
            response: None,
        };
        History::from_events([
            ev(0, EventType::Invoke, "a"),
            ev(0, EventType::Ok, "a"),
            ev(1, EventType::Invoke, "b"),
            ev(1, EventType::Ok, "b"),
        ])
        .unwrap()
    }

    #[test]
    fn a_cycle_from_the_elle_checker_becomes_a_graph_with_one_arrow_per_edge() {
        use faultline_checkers::{Anomaly, Verdict};
        let data = json!({"cycle": [
            {"op": 1, "process": 1, "edge": "rw", "key": "x", "value": 1, "to": 0},
            {"op": 0, "process": 0, "edge": "wr", "key": "y", "value": 2, "to": 1}]});
        let c = CheckResult {
            checker: "list-append".into(),
            verdict: Verdict::Invalid,
            summary: String::new(),
            anomalies: vec![Anomaly {
                kind: "G-single".into(),
                explanation: String::new(),
                data,
                ops: Vec::new(),
            }],
            details: Value::Null,
            warnings: vec![],
            duration_ms: None,
        };
        let (explorers, cycles) = for_checker(&c, &two_op_history());
        assert!(explorers.is_empty());
        assert_eq!(cycles.len(), 1);
        let cy = &cycles[0];
        assert_eq!(cy.name, "G-single");
        assert_eq!(cy.edges.len(), 2);
        assert!(cy.edges[0].dashed, "rw is dashed");
        assert_eq!(cy.edges[1].label, "wr y=2");
        assert_eq!((cy.steps[0].from, cy.steps[0].to), (1, 0));
    }

    #[test]
    fn every_failing_key_gets_an_explorer_with_its_model() {
        use faultline_checkers::{Anomaly, Verdict};
        let history = two_op_history();
        let failure =
            |op: usize, key: &str| json!({"failing_op": op, "key": key, "states": [null]});
        let anomaly = |op: usize, key: &str| Anomaly {
            kind: "nonlinearizable".into(),
            explanation: String::new(),
            data: failure(op, key),
            ops: Vec::new(),
        };
        let c = CheckResult {
            checker: "linearizable".into(),
            verdict: Verdict::Invalid,
            summary: String::new(),
            anomalies: vec![anomaly(0, "a"), anomaly(1, "b")],
            details: json!({"failing_op": 0, "key": "a", "model": "register", "states": [null]}),
            warnings: vec![],
            duration_ms: None,
        };
        let (explorers, _) = for_checker(&c, &history);
        assert_eq!(explorers.len(), 2);
        assert_eq!(explorers[1].key, "b");
        assert_eq!(explorers[1].model.as_deref(), Some("register"));
    }

    #[test]
    fn the_explorer_steps_through_the_prefix_with_the_state_after_each_op() {
        let history = two_op_history();
        let details = json!({"failing_op": 1, "prefix": [0], "prefix_states": [null, 1],
                             "states": [1], "headline": "read 1 cannot take effect"});
        let f = LinearFailure::from_details(&details, &history).unwrap();
        let e = explorer(&f, &history, Units::of(&history));
        assert_eq!(e.data.initial_state, "null");
        assert_eq!(e.data.steps.len(), 1);
        assert_eq!(
            (e.data.steps[0].op, e.data.steps[0].state.as_str()),
            (0, "1")
        );
        assert_eq!(e.data.why, "read 1 cannot take effect");
    }

    #[test]
    fn a_failing_op_outside_the_history_draws_nothing() {
        let details = json!({"failing_op": 5});
        assert!(LinearFailure::from_details(&details, &History::default()).is_none());
    }
}
