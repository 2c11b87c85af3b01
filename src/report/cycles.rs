//! The graph of a transactional cycle ([`Cycle`], as the Elle-style checkers report it):
//! the transactions on a circle, each dependency a bowed, labelled arrow (`rw` dashed), and a
//! table of the edges. Geometry is computed here; `templates/cycle.html` draws it, escaping
//! every text. Each transaction carries its op id and timeline position, so a click moves the
//! timeline to it.

use faultline_checkers::elle::anomaly::{Cycle, CycleStep};
use faultline_checkers::History;
use serde::Serialize;

use super::diagrams::{op_text, MAX_OPS};
use super::escape::truncate;
use super::stats::value_text;
use super::timeline::Units;

fn edge_color(edge: &str) -> &'static str {
    match edge {
        "ww" => "#b3261e",
        "wr" => "#2563b5",
        "rw" => "#7a4fb0",
        "realtime" | "rt" => "#1d7a3a",
        _ => "#666666",
    }
}

/// One cycle, as `cycle.html` draws it: geometry computed here, text escaped there.
#[derive(Serialize)]
pub struct CycleView {
    pub(super) name: String,
    pub(super) marker: String,
    pub(super) width: String,
    pub(super) height: String,
    pub(super) nodes: Vec<Node>,
    pub(super) edges: Vec<Edge>,
    pub(super) steps: Vec<EdgeRow>,
    /// The logs of the nodes that served the cycle's transactions.
    pub(super) logs: Option<super::logs::Panel>,
}

#[derive(Serialize)]
pub(super) struct Node {
    pub(super) op: usize,
    pub(super) at: u64,
    pub(super) x: f64,
    pub(super) y: f64,
    pub(super) tx: String,
    pub(super) ty: String,
    pub(super) anchor: &'static str,
    pub(super) title: String,
    pub(super) short: String,
}

#[derive(Serialize)]
pub(super) struct Edge {
    pub(super) edge: String,
    pub(super) d: String,
    pub(super) color: &'static str,
    pub(super) dashed: bool,
    pub(super) lx: String,
    pub(super) ly: String,
    pub(super) anchor: &'static str,
    pub(super) label: String,
}

#[derive(Serialize)]
pub(super) struct EdgeRow {
    pub(super) from: usize,
    pub(super) from_at: u64,
    pub(super) from_text: String,
    pub(super) edge: String,
    pub(super) key: String,
    pub(super) value: String,
    pub(super) to: usize,
    pub(super) to_at: u64,
}

fn px(v: f64) -> String {
    format!("{v:.1}")
}

pub fn view(name: &str, cy: &Cycle, history: &History, units: Units, index: usize) -> CycleView {
    let steps = &cy.cycle[..cy.cycle.len().min(MAX_OPS)];
    let mut nodes: Vec<usize> = Vec::new();
    for s in steps {
        if !nodes.contains(&s.op) {
            nodes.push(s.op);
        }
    }
    let n = nodes.len().max(1) as f64;
    let radius = (60.0 * n / std::f64::consts::PI).clamp(90.0, 320.0);
    let (cx, cy_) = (radius + 190.0, radius + 50.0);
    let at = |op: usize| {
        let k = nodes.iter().position(|&o| o == op).unwrap_or(0) as f64;
        let a = -std::f64::consts::FRAC_PI_2 + 2.0 * std::f64::consts::PI * k / n;
        (cx + radius * a.cos(), cy_ + radius * a.sin())
    };
    let text_of = |op: usize| history.ops.get(op).map(op_text).unwrap_or_default();
    let at_of = |op: usize| history.ops.get(op).map_or(0, |o| units.start(o));
    let edges = steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let next = steps[(i + 1) % steps.len()].op;
            edge(s, at(s.op), at(next))
        })
        .collect();
    let node_views = nodes
        .iter()
        .map(|&op| {
            let (x, y) = at(op);
            // The op's text goes outside the circle, away from the centre, clear of the arrows.
            let (ox, oy) = ((x - cx) / radius, (y - cy_) / radius);
            let text = text_of(op);
            Node {
                op,
                at: at_of(op),
                x: (x * 10.0).round() / 10.0,
                y: (y * 10.0).round() / 10.0,
                tx: px(x + ox * 34.0),
                ty: px(y + oy * 34.0 + 4.0),
                anchor: match ox {
                    o if o > 0.3 => "start",
                    o if o < -0.3 => "end",
                    _ => "middle",
                },
                title: match history.ops.get(op).and_then(|o| o.node.as_deref()) {
                    Some(n) => format!(
                        "op {op}, served by {}: {}",
                        truncate(n, 20),
                        truncate(&text, 300)
                    ),
                    None => format!("op {op}: {}", truncate(&text, 300)),
                },
                short: truncate(&text, 36),
            }
        })
        .collect();
    let rows = steps
        .iter()
        .map(|s| EdgeRow {
            from: s.op,
            from_at: at_of(s.op),
            from_text: truncate(&text_of(s.op), 80),
            edge: s.edge.clone(),
            key: s.key.as_ref().map(value_text).unwrap_or_default(),
            value: s.value.map(|v| v.to_string()).unwrap_or_default(),
            to: s.to,
            to_at: at_of(s.to),
        })
        .collect();
    CycleView {
        name: name.to_string(),
        marker: format!("arrow-{index}"),
        width: format!("{:.0}", 2.0 * cx),
        height: format!("{:.0}", 2.0 * cy_),
        nodes: node_views,
        edges,
        steps: rows,
        logs: None,
    }
}

/// One dependency of a cycle: a bowed arrow between two node centres, labelled with its type,
/// key and value.
fn edge(s: &CycleStep, (x0, y0): (f64, f64), (x1, y1): (f64, f64)) -> Edge {
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
    let mut label = s.edge.clone();
    if let Some(k) = &s.key {
        label.push(' ');
        label.push_str(&value_text(k));
    }
    if let Some(v) = s.value {
        label.push('=');
        label.push_str(&v.to_string());
    }
    Edge {
        edge: s.edge.clone(),
        d: format!("M{sx:.1},{sy:.1} Q{mx:.1},{my:.1} {ex:.1},{ey:.1}"),
        color: edge_color(&s.edge),
        dashed: s.edge == "rw",
        lx: px((sx + ex) / 2.0 - uy * 22.0),
        ly: px((sy + ey) / 2.0 + ux * 22.0 + 4.0),
        // The label sits outside the bow, anchored away from the edge so it never covers it.
        anchor: match -uy {
            p if p > 0.3 => "start",
            p if p < -0.3 => "end",
            _ => "middle",
        },
        label: truncate(&label, 40),
    }
}
