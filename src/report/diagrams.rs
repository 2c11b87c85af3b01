//! Failure diagrams: SVG drawn by hand (plotters has no notion of lanes or graphs), so a person
//! sees *why* a checker said invalid.
//!
//! **Linearizability.** The linearizability checker's `details` (and each anomaly's `data`,
//! one per failing key; all but the first key are folded) name the failing key, the
//! model, the op that could not be placed (`failing_op`, an index into `History::ops`), the
//! ops concurrent with it (`concurrent`), the ops already placed (`prefix`) and the states
//! the model could be in at that point (`states`). The diagram draws each process as a lane
//! and each op as a bar from its invocation to its completion (x is the order of events, not
//! time, so short overlaps stay visible), marks the op that could not be placed, and lists the
//! possible states. An op still open at the end runs to the right edge.
//!
//! ```text
//!   p0 |==write 1==|        |==read 2 ✗==|
//!   p1      |=====write 2=====|
//!   states the model could be in before the ✗: {1}
//! ```
//!
//! **Transactional anomalies.** An Elle-style checker reports a cycle as steps (an op, the
//! edge type to the next step, the key and value behind that edge). The diagram places the
//! ops on a circle and draws each dependency as a labelled arrow: `ww` (write-write), `wr`
//! (write-read), `rw` (read-write anti-dependency, dashed), `process`, `realtime`.
//!
//! Every piece of text is escaped; a diagram draws at most [`MAX_OPS`] ops.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use faultline_checkers::linear::Failure;
use faultline_checkers::{CheckResult, History, Op, Outcome};
use serde::Deserialize;
use serde_json::Value;

use super::escape::{html, truncate};
use super::stats::value_text;

/// The most ops a linearizability diagram draws, so a huge prefix stays readable.
pub const MAX_OPS: usize = 40;
/// The most cycles drawn per checker.
const MAX_CYCLES: usize = 5;

/// Appends the diagrams a checker's result calls for (none for a valid result).
pub fn for_checker(out: &mut String, c: &CheckResult, history: &History) {
    if c.verdict != faultline_checkers::Verdict::Invalid {
        return;
    }
    let failures = linear_failures(c, history);
    for (i, failure) in failures.iter().enumerate() {
        if i == 1 {
            let _ = write!(
                out,
                "<details class=\"more-keys\"><summary>{} more failing key(s)</summary>",
                failures.len() - 1
            );
        }
        linear(out, failure, history, i == 0);
    }
    if failures.len() > 1 {
        out.push_str("</details>");
    }
    let mut cycles = Vec::new();
    for a in &c.anomalies {
        collect_cycles(&a.data, &a.kind, &mut cycles);
    }
    if cycles.is_empty() {
        collect_cycles(&c.details, "cycle", &mut cycles);
    }
    for (i, (name, steps)) in cycles.iter().take(MAX_CYCLES).enumerate() {
        cycle(out, name, steps, history, i);
    }
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

/// The most failing keys drawn per checker.
const MAX_KEYS: usize = 10;

/// What the linearizability checker says about its failure ([`Failure`], read from
/// `details`), with the model and only the op ids this history has.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearFailure {
    pub key: Option<String>,
    pub model: Option<String>,
    pub failing_op: usize,
    pub concurrent: Vec<usize>,
    pub prefix: Vec<usize>,
    pub states: Vec<Value>,
}

impl LinearFailure {
    /// Reads the details; `None` when they do not describe a failure within this history.
    pub fn from_details(details: &Value, history: &History) -> Option<LinearFailure> {
        let f = Failure::from_json(details)?;
        if f.failing_op >= history.ops.len() {
            return None;
        }
        let known = |ids: Vec<usize>| -> Vec<usize> {
            ids.into_iter().filter(|&i| i < history.ops.len()).collect()
        };
        Some(LinearFailure {
            key: f.key,
            model: Named::deserialize(details).ok().map(|n| n.model),
            failing_op: f.failing_op,
            concurrent: known(f.concurrent),
            prefix: known(f.prefix),
            states: f.states,
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

fn outcome_class(o: Outcome) -> &'static str {
    match o {
        Outcome::Ok => "ok",
        Outcome::Fail => "fail",
        Outcome::Info => "info",
    }
}

fn fill(o: Outcome) -> &'static str {
    match o {
        Outcome::Ok => "#d6e4f7",
        Outcome::Fail => "#eeeeee",
        Outcome::Info => "#fbe3b8",
    }
}

/// Height of one process lane in a linearizability diagram.
const LANE_H: f64 = 38.0;

fn linear(out: &mut String, f: &LinearFailure, history: &History, first: bool) {
    let ids = f.ops_to_draw(history);
    // x is the rank of each event position among the drawn ops, so bars keep their order and
    // overlaps without wasting width on long quiet stretches.
    let mut positions: BTreeSet<usize> = BTreeSet::new();
    for &i in &ids {
        let op = &history.ops[i];
        positions.insert(op.invoke_pos);
        if let Some(c) = op.complete_pos {
            positions.insert(c);
        }
    }
    let rank: BTreeMap<usize, usize> = positions.iter().enumerate().map(|(r, &p)| (p, r)).collect();
    let lanes: BTreeSet<u64> = ids.iter().map(|&i| history.ops[i].process).collect();
    let lane_of: BTreeMap<u64, usize> = lanes.iter().enumerate().map(|(l, &p)| (p, l)).collect();
    let (left, step, lane_h, top) = (70.0, 46.0, LANE_H, 30.0);
    let width = left + step * (positions.len() as f64 + 1.5);
    let height = top + lane_h * lanes.len() as f64 + 20.0;
    let key = f
        .key
        .as_deref()
        .unwrap_or("(the whole history has one key)");
    let _ = write!(
        out,
        "<div class=\"diagram linear\"{}><h3>Failing key {}{}</h3>\
         <p class=\"muted\">Each lane is a process, each bar an operation from invocation to \
         completion (x is the order of events). The op marked ✗ could not be placed in any order \
         consistent with the model.</p>\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"sans-serif\" font-size=\"11\">",
        if first { " id=\"linear-diagram\"" } else { "" },
        html(key),
        f.model
            .as_deref()
            .map(|m| format!(" (model {})", html(m)))
            .unwrap_or_default()
    );
    for (&p, &l) in &lane_of {
        let y = top + lane_h * l as f64;
        let _ = write!(
            out,
            "<line x1=\"{left}\" x2=\"{width:.0}\" y1=\"{:.0}\" y2=\"{:.0}\" stroke=\"#e4e4e8\"/>\
             <text x=\"8\" y=\"{:.0}\" fill=\"#444\">process {p}</text>",
            y + lane_h / 2.0,
            y + lane_h / 2.0,
            y + lane_h / 2.0 + 4.0
        );
    }
    for &i in &ids {
        let op = &history.ops[i];
        let x0 = left + step * rank[&op.invoke_pos] as f64;
        let x1 = match op.complete_pos {
            Some(c) => left + step * rank[&c] as f64 + step * 0.8,
            None => width - 4.0,
        };
        let y = top + lane_h * lane_of[&op.process] as f64 + 6.0;
        let failing = i == f.failing_op;
        bar(out, op, [x0, x1, y], failing);
    }
    out.push_str("</svg>");
    super::timeline::jump_button(
        out,
        super::timeline::Units::of(history),
        &history.ops[f.failing_op],
    );
    states(out, f);
    ops_table(out, &ids, f.failing_op, history);
    out.push_str("</div>\n");
}

/// One op of the diagram: a bar from `x0` to `x1` on the lane at `y`, with its text, and a
/// red outline and ✗ for the op that could not be placed.
fn bar(out: &mut String, op: &Op, [x0, x1, y]: [f64; 3], failing: bool) {
    let (i, lane_h) = (op.id, LANE_H);
    let stroke = if failing {
        "stroke=\"#c82828\" stroke-width=\"3\""
    } else {
        "stroke=\"#777\" stroke-width=\"1\""
    };
    let dash = if op.complete_pos.is_none() {
        " stroke-dasharray=\"4 3\""
    } else {
        ""
    };
    let label = op_text(op);
    let chars = (((x1 - x0) / 6.5) as usize).max(3);
    let shown = if failing {
        format!("✗ {}", truncate(&label, chars.saturating_sub(2)))
    } else {
        truncate(&label, chars)
    };
    let _ = write!(
        out,
        "<g class=\"op {}{}\" data-op=\"{i}\"><title>{}</title>\
         <rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"3\" fill=\"{}\" {stroke}{dash}/>\
         <text x=\"{:.1}\" y=\"{:.1}\"{}>{}</text></g>",
        outcome_class(op.outcome),
        if failing { " failing" } else { "" },
        html(&format!(
            "op {i}, process {}: {} ({}), history line {}",
            op.process,
            truncate(&label, 300),
            outcome_class(op.outcome),
            op.line
        )),
        (x1 - x0).max(8.0),
        lane_h - 12.0,
        fill(op.outcome),
        x0 + 4.0,
        y + lane_h / 2.0 - 2.0,
        if failing { " fill=\"#c82828\" font-weight=\"bold\"" } else { "" },
        html(&shown)
    );
}

fn states(out: &mut String, f: &LinearFailure) {
    if f.states.is_empty() {
        out.push_str("<p>No model state could be reached in which this op is allowed.</p>");
        return;
    }
    let _ = write!(
        out,
        "<p class=\"states\">The model could be in {} state(s) when the ✗ op had to take effect, \
         and none allows it:</p><ul class=\"states mono\">",
        f.states.len()
    );
    for s in f.states.iter().take(20) {
        let _ = write!(out, "<li>{}</li>", html(&truncate(&value_text(s), 300)));
    }
    if f.states.len() > 20 {
        let _ = write!(out, "<li>… {} more</li>", f.states.len() - 20);
    }
    out.push_str("</ul>");
}

fn ops_table(out: &mut String, ids: &[usize], failing: usize, history: &History) {
    out.push_str(
        "<details><summary>The operations drawn</summary><table class=\"mono\"><tr><th>op</th>\
         <th>process</th><th>f</th><th>value</th><th>outcome</th><th>line</th><th>node</th><th>error</th></tr>",
    );
    for &i in ids {
        let op = &history.ops[i];
        let _ = write!(
            out,
            "<tr{}><td>{i}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if i == failing { " class=\"fail\"" } else { "" },
            op.process,
            html(&op.f),
            html(&truncate(&op_text(op), 200)),
            outcome_class(op.outcome),
            outcome_class(op.outcome),
            op.line,
            html(op.node.as_deref().unwrap_or("")),
            html(&op.error.as_ref().map(value_text).unwrap_or_default())
        );
    }
    out.push_str("</table></details>");
}

/// One step of a cycle: an op and the dependency edge from it to the next step's op.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub op: usize,
    pub edge: String,
    pub key: Option<String>,
    pub value: Option<String>,
}

const OP_FIELDS: [&str; 4] = ["op", "op_id", "id", "from"];
const EDGE_FIELDS: [&str; 4] = ["edge", "type", "rel", "kind"];

fn step(v: &Value) -> Option<Step> {
    let op = OP_FIELDS.iter().find_map(|f| v.get(f)?.as_u64())? as usize;
    let edge = EDGE_FIELDS.iter().find_map(|f| v.get(f)).map(value_text)?;
    Some(Step {
        op,
        edge,
        key: v.get("key").filter(|k| !k.is_null()).map(value_text),
        value: v.get("value").filter(|k| !k.is_null()).map(value_text),
    })
}

/// Finds cycles (arrays of steps) anywhere in `data`, depth-first, named after the anomaly.
fn collect_cycles(data: &Value, name: &str, out: &mut Vec<(String, Vec<Step>)>) {
    match data {
        Value::Array(items) if !items.is_empty() && items.iter().all(|i| step(i).is_some()) => {
            out.push((name.to_string(), items.iter().filter_map(step).collect()));
        }
        Value::Array(items) => items.iter().for_each(|i| collect_cycles(i, name, out)),
        Value::Object(map) => {
            let name = map
                .get("anomaly")
                .or_else(|| map.get("name"))
                .and_then(Value::as_str)
                .unwrap_or(name);
            map.values().for_each(|v| collect_cycles(v, name, out));
        }
        _ => {}
    }
}

fn edge_color(edge: &str) -> &'static str {
    match edge {
        "ww" => "#b3261e",
        "wr" => "#2563b5",
        "rw" => "#7a4fb0",
        "realtime" | "rt" => "#1d7a3a",
        _ => "#666666",
    }
}

fn cycle(out: &mut String, name: &str, steps: &[Step], history: &History, index: usize) {
    let steps = &steps[..steps.len().min(MAX_OPS)];
    let mut nodes: Vec<usize> = Vec::new();
    for s in steps {
        if !nodes.contains(&s.op) {
            nodes.push(s.op);
        }
    }
    let n = nodes.len().max(1) as f64;
    let radius = (60.0 * n / std::f64::consts::PI).clamp(90.0, 320.0);
    let (cx, cy) = (radius + 190.0, radius + 50.0);
    let (width, height) = (2.0 * cx, 2.0 * cy);
    let at = |op: usize| {
        let k = nodes.iter().position(|&o| o == op).unwrap_or(0) as f64;
        let a = -std::f64::consts::FRAC_PI_2 + 2.0 * std::f64::consts::PI * k / n;
        (cx + radius * a.cos(), cy + radius * a.sin())
    };
    let marker = format!("arrow-{index}");
    let _ = write!(
        out,
        "<div class=\"diagram cycle\" data-anomaly=\"{}\"><h3>Cycle: {}</h3>\
         <p class=\"muted\">Each node is a transaction; an arrow A → B means A must come before B: \
         ww (B overwrote A's write), wr (B read A's write), rw (B overwrote what A read; dashed), \
         process and realtime (order of one process, or in real time). A cycle means no serial \
         order exists.</p>\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"sans-serif\" font-size=\"11\">\
         <defs><marker id=\"{marker}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" \
         markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M0,0L10,5L0,10z\" fill=\"context-stroke\"/></marker></defs>",
        html(name),
        html(name)
    );
    for (i, s) in steps.iter().enumerate() {
        let next = steps[(i + 1) % steps.len()].op;
        edge(out, s, at(s.op), at(next), &marker);
    }
    for &op in &nodes {
        let (x, y) = at(op);
        // The op's text goes outside the circle, away from the centre, clear of the arrows.
        let (ox, oy) = ((x - cx) / radius, (y - cy) / radius);
        let (tx, ty) = (x + ox * 34.0, y + oy * 34.0 + 4.0);
        let anchor = match ox {
            o if o > 0.3 => "start",
            o if o < -0.3 => "end",
            _ => "middle",
        };
        let text = history.ops.get(op).map(op_text).unwrap_or_default();
        let _ = write!(
            out,
            "<g class=\"txn\" data-op=\"{op}\"><title>{}</title><circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"22\" \
             fill=\"#f3f3f6\" stroke=\"#444\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" \
             font-weight=\"bold\">T{op}</text><text x=\"{tx:.1}\" y=\"{ty:.1}\" text-anchor=\"{anchor}\" fill=\"#333\">{}</text></g>",
            html(&format!("op {op}: {text}")),
            y + 4.0,
            html(&truncate(&text, 36))
        );
    }
    out.push_str("</svg></div>\n");
}

/// One dependency of a cycle: a bowed arrow between two node centres, labelled with its type,
/// key and value.
fn edge(out: &mut String, s: &Step, (x0, y0): (f64, f64), (x1, y1): (f64, f64), marker: &str) {
    // Stop short of the node circles and bow the edge outward, so a 2-cycle shows two arrows.
    let (dx, dy) = (x1 - x0, y1 - y0);
    let len = (dx * dx + dy * dy).sqrt().max(1.0);
    let (ux, uy) = (dx / len, dy / len);
    let (sx, sy, ex, ey) = (
        x0 + ux * 24.0,
        y0 + uy * 24.0,
        x1 - ux * 24.0,
        y1 - uy * 24.0,
    );
    let (mx, my) = ((sx + ex) / 2.0 - uy * 28.0, (sy + ey) / 2.0 + ux * 28.0);
    let color = edge_color(&s.edge);
    // The label sits outside the bow, anchored away from the edge so it never covers it.
    let anchor = match -uy {
        p if p > 0.3 => "start",
        p if p < -0.3 => "end",
        _ => "middle",
    };
    let dash = if s.edge == "rw" {
        " stroke-dasharray=\"6 4\""
    } else {
        ""
    };
    let mut label = s.edge.clone();
    if let Some(k) = &s.key {
        let _ = write!(label, " {k}");
    }
    if let Some(v) = &s.value {
        let _ = write!(label, "={v}");
    }
    let _ = write!(
        out,
        "<g class=\"edge\" data-edge=\"{}\"><path d=\"M{sx:.1},{sy:.1} Q{mx:.1},{my:.1} {ex:.1},{ey:.1}\" \
         fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash} marker-end=\"url(#{marker})\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\" fill=\"{color}\" text-anchor=\"{anchor}\">{}</text></g>",
        html(&s.edge),
        (sx + ex) / 2.0 - uy * 22.0,
        (sy + ey) / 2.0 + ux * 22.0 + 4.0,
        html(&truncate(&label, 40))
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_cycle_steps_nested_in_anomaly_data() {
        let data = json!({"cycles": [{"anomaly": "G1c", "steps": [
            {"op": 1, "edge": "ww", "key": "x", "value": 1},
            {"op": 2, "edge": "wr", "key": "y", "value": 2}]}]});
        let mut cycles = Vec::new();
        collect_cycles(&data, "cycle", &mut cycles);
        assert_eq!(cycles.len(), 1);
        assert_eq!(cycles[0].0, "G1c");
        assert_eq!(cycles[0].1[1].edge, "wr");
        assert_eq!(cycles[0].1[0].value.as_deref(), Some("1"));
    }

    #[test]
    fn every_failing_key_gets_a_diagram_and_the_first_is_open() {
        use faultline_checkers::{Anomaly, Event, EventType, Process, Verdict};
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
        let history = History::from_events([
            ev(0, EventType::Invoke, "a"),
            ev(0, EventType::Ok, "a"),
            ev(1, EventType::Invoke, "b"),
            ev(1, EventType::Ok, "b"),
        ])
        .unwrap();
        let failure =
            |op: usize, key: &str| json!({"failing_op": op, "key": key, "states": [null]});
        let anomaly = |op: usize, key: &str| Anomaly {
            kind: "nonlinearizable".into(),
            explanation: String::new(),
            data: failure(op, key),
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
        let mut out = String::new();
        for_checker(&mut out, &c, &history);
        assert_eq!(out.matches("class=\"diagram linear\"").count(), 2);
        assert_eq!(out.matches("id=\"linear-diagram\"").count(), 1);
        let hidden = out
            .find("1 more failing key(s)")
            .expect("the second key is folded");
        assert!(out[hidden..].contains("Failing key b (model register)"));
    }

    #[test]
    fn a_failing_op_outside_the_history_draws_nothing() {
        let details = json!({"failing_op": 5});
        assert!(LinearFailure::from_details(&details, &History::default()).is_none());
    }
}
