//! The timeline: every op of the history per process, shown a window at a time.
//!
//! Drawing a million bars at once would freeze a browser and show nothing, so the page
//! embeds the ops compactly and a small inline script draws the window a person picks (a
//! start slider, a width, previous/next, or a click on the overview), at most [`MAX_DRAWN`]
//! bars at a time. Above the window, an overview raster bins every op of the run into one
//! column per pixel, so the whole run is visible at any length. Each op is
//! encoded as four numbers, LEB128 varints, then base64:
//!
//! | field | meaning |
//! |---|---|
//! | lane | index of the op's process in `processes` |
//! | start | invocation, as a delta from the previous op's invocation (ops are in invocation order) |
//! | length | completion minus invocation (0 for an op still open at the end) |
//! | code | outcome in the low 2 bits (0 ok, 1 fail, 2 info, 3 open), `f` index above |
//!
//! Units are microseconds since the first invocation when the history has times, otherwise
//! positions of events in the history. That is about 7 bytes per op before base64, 10 after.
//! Up to [`DETAIL_LIMIT`] ops also carry a short text (key, value, error) for the hover
//! tooltip; above it the tooltip shows the op number, whose line is in `history.jsonl`.
//! Fault windows are drawn behind the lanes, labelled along the top; crash windows
//! ([`health::crash_windows`]) in a darker colour with a line where the process died,
//! labelled along the bottom. `report.html#op=N` opens the window on op N,
//! outlined; the failure diagrams' buttons (class `tl-jump`) do the same. Text reaches the
//! page through JSON escaped for a script block (the template's `tojson`) and is set with
//! `textContent`, never parsed as markup. The script is `templates/timeline.js`.

use std::fmt::Write as _;

use base64::Engine as _;
use faultline_checkers::{History, Op, Outcome};
use serde::Serialize;

use super::escape::truncate;
use super::health;
use super::stats::{fault_windows, value_text};

/// The most bars the script draws in one window.
pub const MAX_DRAWN: usize = 4000;
/// Histories up to this many ops carry per-op tooltip text.
pub const DETAIL_LIMIT: usize = 100_000;
/// More distinct `f`s than this share the last code.
const MAX_FS: usize = 63;

#[derive(Serialize)]
struct Meta {
    n: usize,
    unit: &'static str,
    processes: Vec<u64>,
    fs: Vec<String>,
    end: u64,
    /// Fault and crash windows: start, end, label, kind (`crash` for a crash).
    windows: Vec<(u64, u64, String, String)>,
    details: Option<Vec<String>>,
}

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Encodes the ops; returns the metadata and the base64 data.
/// The timeline's x units: microseconds since the first invocation when every op has times,
/// else positions of events in the history.
#[derive(Clone, Copy, Debug)]
pub struct Units {
    timed: bool,
    t0: u64,
}

impl Units {
    pub fn of(history: &History) -> Units {
        let timed = history.ops.iter().all(|o| {
            o.invoke_time.is_some() && (o.complete_pos.is_none() || o.complete_time.is_some())
        });
        let t0 = history
            .ops
            .iter()
            .filter_map(|o| o.invoke_time)
            .min()
            .unwrap_or(0);
        Units { timed, t0 }
    }

    /// Where a moment of the history (nanoseconds) is on the timeline, when it has times.
    pub fn at_ns(self, ns: u64) -> Option<u64> {
        self.timed.then(|| self.micros(ns))
    }

    fn micros(self, ns: u64) -> u64 {
        ns.saturating_sub(self.t0) / 1000
    }

    /// Where an op's invocation is on the timeline.
    pub fn start(self, o: &Op) -> u64 {
        if self.timed {
            self.micros(o.invoke_time.unwrap_or(self.t0))
        } else {
            o.invoke_pos as u64
        }
    }

    fn end(self, o: &Op) -> Option<u64> {
        let pos = o.complete_pos?;
        Some(if self.timed {
            self.micros(o.complete_time.unwrap_or(self.t0))
        } else {
            pos as u64
        })
    }
}

fn encode(history: &History) -> (Meta, String) {
    let units = Units::of(history);
    let timed = units.timed;
    let micros = |ns: u64| units.micros(ns);
    let start = |o: &Op| units.start(o);
    let end_of = |o: &Op| units.end(o);
    let mut processes: Vec<u64> = history.ops.iter().map(|o| o.process).collect();
    processes.sort_unstable();
    processes.dedup();
    let mut fs: Vec<String> = Vec::new();
    let mut bytes = Vec::with_capacity(history.ops.len() * 8);
    let mut previous = 0u64;
    let mut end = 0u64;
    for op in &history.ops {
        let lane = processes.binary_search(&op.process).unwrap_or(0);
        let s = start(op).max(previous);
        let f = match fs.iter().position(|f| *f == op.f) {
            Some(i) => i,
            None if fs.len() < MAX_FS => {
                fs.push(op.f.clone());
                fs.len() - 1
            }
            None => MAX_FS,
        };
        let (length, outcome) = match end_of(op) {
            Some(e) => (
                e.saturating_sub(s),
                match op.outcome {
                    Outcome::Ok => 0,
                    Outcome::Fail => 1,
                    Outcome::Info => 2,
                },
            ),
            None => (0, 3),
        };
        end = end.max(s + length);
        push_varint(&mut bytes, lane as u64);
        push_varint(&mut bytes, s - previous);
        push_varint(&mut bytes, length);
        bytes.push((outcome | (f << 2)) as u8);
        previous = s;
    }
    if !timed {
        end = end.max(history.event_count as u64);
    }
    let mut windows = fault_windows(history, &[]);
    windows.extend(health::crash_windows(history, &health::crashes(history)));
    let windows = windows
        .into_iter()
        .map(|w| {
            let (a, b) = if timed {
                (w.start_ns.map_or(0, micros), w.end_ns.map_or(end, micros))
            } else {
                (w.start_pos as u64, w.end_pos as u64)
            };
            (a, b.max(a), w.label, w.kind)
        })
        .collect();
    let details =
        (history.ops.len() <= DETAIL_LIMIT).then(|| history.ops.iter().map(detail).collect());
    let meta = Meta {
        n: history.ops.len(),
        unit: if timed { "us" } else { "event" },
        processes,
        fs,
        end,
        windows,
        details,
    };
    (
        meta,
        base64::engine::general_purpose::STANDARD.encode(bytes),
    )
}

/// The tooltip text of one op: key, value, error, node, each cut short.
fn detail(o: &Op) -> String {
    let mut d = String::new();
    if let Some(k) = &o.key {
        let _ = write!(d, "key {} · ", truncate(k, 40));
    }
    d.push_str(&truncate(&super::diagrams::op_text(o), 80));
    if let Some(e) = &o.error {
        let _ = write!(d, " · error {}", truncate(&value_text(e), 60));
    }
    if let Some(n) = &o.node {
        let _ = write!(d, " · node {}", truncate(n, 20));
    }
    d
}

/// What the report's timeline section needs: the op count, the processes, the metadata (as
/// JSON in a script block) and the encoded ops. `None` when the history has no client op.
#[derive(Serialize)]
pub struct Section {
    n: usize,
    processes: usize,
    meta: Meta,
    /// base64 text, passed as markup on purpose: a `text/plain` script block does not decode
    /// entities, and base64's alphabet (`A-Z a-z 0-9 + / =`) holds nothing HTML reads.
    data: minijinja::Value,
}

pub fn section(history: &History) -> Option<Section> {
    if history.ops.is_empty() {
        return None;
    }
    let (meta, data) = encode(history);
    Some(Section {
        n: meta.n,
        processes: meta.processes.len(),
        meta,
        data: minijinja::Value::from_safe_string(data),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_little_endian_base_128_with_a_continuation_bit() {
        let mut out = Vec::new();
        push_varint(&mut out, 300);
        push_varint(&mut out, 0);
        assert_eq!(out, vec![0xac, 0x02, 0x00]);
    }
}
