//! rw-register: each key is a register; transactions write unique values (`["w", k, v]`)
//! and read single values (`["r", k, v]`, `null` for the initial state).
//!
//! A register read shows one version, not the history behind it, so the version order is
//! only partly known. This pass infers what is provable, per key and in parallel:
//!
//! - the initial state (`nil`) precedes every written version;
//! - writes follow reads: a transaction that read `a` and then wrote `b` installed `b`
//!   after `a`; two writes of one transaction are ordered as written.
//!
//! From that partial order come `ww` edges (between the writers of ordered versions), `wr`
//! edges (writer to reader), and `rw` edges (a reader of version `a` precedes the writer
//! of any version known to follow `a`; a reader of `nil` precedes the writers of the
//! versions with no other known predecessor).
//!
//! Under strict serializability versions also follow real time, which proves stale reads.
//! Those inferences hold only if the history is strictly serializable, so their edges are
//! marked: searches use them only where real-time edges are allowed, and a cycle through
//! one is named `-realtime`. A reader of `a` anti-depends on the earliest committed writes
//! that began after `a`'s write completed; and the committed writes that completed before
//! a read of `a` began were installed before `a` (`ww` to `a`'s writer).
//!
//! ```text
//!   T1 [w x 1]──ok   T2 [w x 2]──ok   T3 [r x 1]──ok     T3 --rw--> T2 --realtime--> T3
//! ```
//!
//! Non-cycle anomalies: `G1a` (a read of a value whose write failed), `G1b` (a read of a
//! transaction's intermediate write), `internal` (a read disagrees with the transaction's
//! own earlier write; two reads that differ are a non-repeatable read, shown by edges), `future-read` (a read of a value its transaction writes
//! only later), `garbage-read` (a value nobody wrote) and `lost-update` (two transactions
//! read the same version and both wrote the key). Reads inside crashed (`info`) transactions
//! are unknown. Cost: O(micro-operations × log writes) per key, plus the `rw` edges out of
//! `nil` reads and, per read, a scan of the key's committed writes for real-time order.

use serde_json::json;

use crate::history::Outcome;
use crate::verdict::Budget;

use super::anomaly::{and_list, show, Found, Namer};
use super::graph::{DepEdge, RW, WR, WW};
use super::txn::{MopKind, Txns, NIL};
use super::KeyOut;

/// The committed final writes of one key in real time, as (invoked, completed, value,
/// writer), indexed two ways so each read's real-time neighbours take a binary search.
struct Timeline {
    /// By invocation, with the earliest completion from each position on.
    by_start: Vec<(usize, usize, i64, u32)>,
    earliest_done: Vec<usize>,
    /// By completion, with the latest invocation up to each position.
    by_done: Vec<(usize, usize, i64, u32)>,
    latest_start: Vec<usize>,
}

struct KeyPass<'a> {
    txns: &'a Txns,
    budget: &'a Budget,
    key: u32,
    /// (value, micro-op id, last write of its txn to this key), sorted by value.
    writes: Vec<(i64, u32, bool)>,
    /// Known version order pairs (earlier, later); `NIL` as earlier means the initial state.
    pairs: Vec<(i64, i64)>,
    /// External reads: (value read, reader, whether the reader then wrote the key).
    reads: Vec<(i64, u32, bool)>,
}

pub(crate) fn check_key(txns: &Txns, budget: &Budget, k: usize, out: &mut KeyOut) {
    let ids = txns.key_mop_ids(k);
    let writes = txns.key_writes(k, MopKind::Write, &mut out.warnings);
    let mut pass = KeyPass {
        txns,
        budget,
        key: k as u32,
        writes,
        pairs: Vec::new(),
        reads: Vec::new(),
    };
    let mut start = 0;
    while start < ids.len() {
        // One key of a dense history can hold most of the work.
        if budget.expired() {
            return;
        }
        let t = txns.mops[ids[start] as usize].txn;
        let end = start + ids[start..].partition_point(|&m| txns.mops[m as usize].txn == t);
        pass.txn_group(t, &ids[start..end], out);
        start = end;
    }
    pass.reads_and_edges(out);
    pass.lost_updates(out);
}

impl KeyPass<'_> {
    fn writer(&self, v: i64) -> Option<(u32, bool)> {
        let i = self.writes.partition_point(|w| w.0 < v);
        self.writes
            .get(i)
            .filter(|w| w.0 == v)
            .map(|w| (self.txns.mops[w.1 as usize].txn, w.2))
    }

    fn failed(&self, t: u32) -> bool {
        self.txns.outcome[t as usize] == Outcome::Fail
    }

    fn op_id(&self, t: u32) -> u32 {
        self.txns.op[t as usize]
    }

    fn key_json(&self) -> serde_json::Value {
        self.txns.keys[self.key as usize].clone()
    }

    fn txn_group(&mut self, t: u32, group: &[u32], out: &mut KeyOut) {
        let txns = self.txns;
        // The last value known in this transaction, its own last write, and its last read
        // of others' state (two differing ones are a non-repeatable read: edges, not
        // `internal`).
        let mut known: Option<i64> = None;
        let mut own: Option<i64> = None;
        let mut external: Option<usize> = None;
        for (gi, &m) in group.iter().enumerate() {
            let mop = &txns.mops[m as usize];
            if mop.kind == MopKind::Write {
                if let Some(before) = known {
                    self.pairs.push((before, mop.value));
                }
                if let Some(i) = external.take() {
                    self.reads[i].2 = true;
                }
                known = Some(mop.value);
                own = Some(mop.value);
                continue;
            }
            if !mop.known() {
                continue;
            }
            match own {
                Some(x) if x != mop.value => self.internal(t, x, mop.value, out),
                Some(_) => {}
                None if known == Some(mop.value) => {}
                None => {
                    external = Some(self.reads.len());
                    self.reads.push((mop.value, t, false));
                }
            }
            let later = group[gi + 1..]
                .iter()
                .map(|&m2| &txns.mops[m2 as usize])
                .find(|m2| m2.kind == MopKind::Write && m2.value == mop.value);
            if later.is_some() {
                let mut n = Namer::new(txns);
                out.found.push(Found::new(
                    "future-read",
                    format!(
                        "{} read {} = {}, a value the same transaction writes only later",
                        n.t(t),
                        n.key(self.key),
                        mop.value
                    ),
                    json!({"key": self.key_json(), "value": mop.value, "ops": [self.op_id(t)]}),
                ));
            }
            known = Some(mop.value);
        }
    }

    fn internal(&self, t: u32, expected: i64, read: i64, out: &mut KeyOut) {
        let mut n = Namer::new(self.txns);
        out.found.push(Found::new(
            "internal",
            format!(
                "{} read {} = {}, but it had itself written {} to it earlier in the same \
                 transaction",
                n.t(t),
                n.key(self.key),
                show(read),
                show(expected)
            ),
            json!({"key": self.key_json(), "value": read, "ops": [self.op_id(t)]}),
        ));
    }

    fn reads_and_edges(&mut self, out: &mut KeyOut) {
        self.pairs.sort_unstable();
        self.pairs.dedup();
        for &(a, b) in &self.pairs {
            let (Some((wa, _)), Some((wb, _))) = (self.writer(a), self.writer(b)) else {
                continue;
            };
            if wa != wb && !self.failed(wa) && !self.failed(wb) {
                out.edges.push(DepEdge {
                    from: wa,
                    to: wb,
                    key: self.key,
                    kind: WW,
                    value: a,
                    other: b,
                    unseen: false,
                    realtime: false,
                });
            }
        }
        let mut has_pred: Vec<i64> = self
            .pairs
            .iter()
            .filter(|p| p.0 != NIL)
            .map(|p| p.1)
            .collect();
        has_pred.sort_unstable();
        let firsts: Vec<i64> = self
            .writes
            .iter()
            .map(|w| w.0)
            .filter(|v| has_pred.binary_search(v).is_err())
            .collect();
        let timeline = self.timeline();
        let mut successors = Vec::new();
        for i in 0..self.reads.len() {
            if self.budget.expired() {
                return;
            }
            let (v, t, _) = self.reads[i];
            if v != NIL && !self.observed(t, v, out) {
                continue;
            }
            let next: &[i64] = if v == NIL {
                &firsts
            } else {
                let from = self.pairs.partition_point(|p| p.0 < v);
                let to = from + self.pairs[from..].partition_point(|p| p.0 == v);
                successors.clear();
                successors.extend(self.pairs[from..to].iter().map(|p| p.1));
                &successors
            };
            // A writer that overwrote its own version: the read was intermediate (G1b).
            let source = self.writer(v).map(|(w, _)| w);
            for &b in next {
                let target = self.writer(b).map(|(w, _)| w);
                if let Some(w) = target.filter(|&w| w != t && !self.failed(w) && Some(w) != source)
                {
                    out.edges.push(DepEdge {
                        from: t,
                        to: w,
                        key: self.key,
                        kind: RW,
                        value: b,
                        other: v,
                        unseen: false,
                        realtime: false,
                    });
                }
            }
            if let Some((w1, last)) = self.writer(v).filter(|_| v != NIL) {
                if last {
                    self.realtime_successors(t, w1, v, &timeline, out);
                }
                self.realtime_predecessors(t, w1, v, &timeline, out);
            }
        }
    }

    /// This key's [`Timeline`].
    fn timeline(&self) -> Timeline {
        let mut by_start: Vec<(usize, usize, i64, u32)> = self
            .writes
            .iter()
            .filter(|w| w.2)
            .filter_map(|&(v, m, _)| {
                let t = self.txns.mops[m as usize].txn;
                let op = &self.txns.meta[t as usize];
                let done = op.complete_pos.filter(|_| op.outcome == Outcome::Ok)?;
                Some((op.invoke_pos, done, v, t))
            })
            .collect();
        by_start.sort_unstable();
        let mut earliest_done = vec![usize::MAX; by_start.len() + 1];
        for i in (0..by_start.len()).rev() {
            earliest_done[i] = earliest_done[i + 1].min(by_start[i].1);
        }
        let mut by_done = by_start.clone();
        by_done.sort_unstable_by_key(|e| e.1);
        let latest_start = by_done
            .iter()
            .scan(0, |latest, e| {
                *latest = e.0.max(*latest);
                Some(*latest)
            })
            .collect();
        Timeline {
            by_start,
            earliest_done,
            by_done,
            latest_start,
        }
    }

    /// Real-time order of writes and reads: the committed writes that completed before a
    /// read of `v` began were installed before `v` (or the read would have returned one of
    /// them or something later) — if versions follow real time. Only the latest such writes
    /// get a (marked) `ww` edge to `v`'s writer; the earlier ones precede them in real
    /// time. A write that began after `v`'s writer completed gets none: the reader's
    /// anti-dependency on it (see [`Self::realtime_successors`]) already tells that stale
    /// read, as a G-single.
    fn realtime_predecessors(
        &self,
        t: u32,
        w1: u32,
        v: i64,
        timeline: &Timeline,
        out: &mut KeyOut,
    ) {
        let began = self.txns.meta[t as usize].invoke_pos;
        let before = timeline.by_done.partition_point(|e| e.1 < began);
        let Some(&latest_start) = before.checked_sub(1).map(|i| &timeline.latest_start[i]) else {
            return;
        };
        let written = self.txns.meta[w1 as usize].complete_pos;
        let latest = timeline.by_done[..before]
            .iter()
            .rev()
            .take_while(|e| e.1 >= latest_start);
        for &(started, _, b, w) in latest {
            let after_v = written.is_some_and(|c| c < started);
            if w != w1 && w != t && !after_v {
                out.edges.push(DepEdge {
                    from: w,
                    to: w1,
                    key: self.key,
                    kind: WW,
                    value: b,
                    other: v,
                    unseen: false,
                    realtime: true,
                });
            }
        }
    }

    /// Real-time order of writes: a reader of `v`, written by `w1`, precedes the writes
    /// that began after `w1` completed — if versions follow real time, as under strict
    /// serializability. Only the earliest such writes get an edge (the rest follow them in
    /// real time), and each edge is marked, so a cycle through it is named `-realtime`.
    fn realtime_successors(&self, t: u32, w1: u32, v: i64, timeline: &Timeline, out: &mut KeyOut) {
        let Some(done) = self.txns.meta[w1 as usize].complete_pos else {
            return;
        };
        let from = timeline.by_start.partition_point(|e| e.0 <= done);
        let first_done = timeline.earliest_done[from];
        for &(invoked, _, b, w2) in &timeline.by_start[from..] {
            if invoked >= first_done {
                break;
            }
            if w2 != t && w2 != w1 {
                out.edges.push(DepEdge {
                    from: t,
                    to: w2,
                    key: self.key,
                    kind: RW,
                    value: b,
                    other: v,
                    unseen: false,
                    realtime: true,
                });
            }
        }
    }

    /// The `wr` edge of an external read of `v`, or the anomaly that replaces it. Returns
    /// whether the read is of a committed, final write.
    fn observed(&self, t: u32, v: i64, out: &mut KeyOut) -> bool {
        let mut n = Namer::new(self.txns);
        let data = |w: Option<u32>| {
            let ops: Vec<u32> = std::iter::once(t).chain(w).map(|x| self.op_id(x)).collect();
            json!({"key": self.key_json(), "value": v, "ops": ops})
        };
        let Some((w, last)) = self.writer(v) else {
            let what = format!(
                "{} read {} = {v}, which no transaction ever wrote",
                n.t(t),
                n.key(self.key)
            );
            out.found.push(Found::new("garbage-read", what, data(None)));
            return false;
        };
        if w == t {
            return false;
        }
        if self.failed(w) {
            let what = format!(
                "{} read {} = {v}, which {} wrote in a transaction that failed",
                n.t(t),
                n.key(self.key),
                n.t(w)
            );
            out.found.push(Found::new("G1a", what, data(Some(w))));
            return false;
        }
        out.edges.push(DepEdge {
            from: w,
            to: t,
            key: self.key,
            kind: WR,
            value: v,
            other: NIL,
            unseen: false,
            realtime: false,
        });
        if !last {
            let what = format!(
                "{} read {} = {v}, an intermediate state of {}, which wrote {v} and then \
                 overwrote it in the same transaction",
                n.t(t),
                n.key(self.key),
                n.t(w)
            );
            out.found.push(Found::new("G1b", what, data(Some(w))));
        }
        true
    }

    fn lost_updates(&mut self, out: &mut KeyOut) {
        let mut updates: Vec<(i64, u32)> = self
            .reads
            .iter()
            .filter(|r| r.2)
            .map(|r| (r.0, r.1))
            .collect();
        updates.sort_unstable();
        updates.dedup();
        for group in updates.chunk_by(|a, b| a.0 == b.0) {
            if group.len() < 2 {
                continue;
            }
            let mut n = Namer::new(self.txns);
            let names: Vec<String> = group.iter().map(|&(_, t)| n.t(t)).collect();
            out.found.push(Found::new(
                "lost-update",
                format!(
                    "{} {} read {} = {} and then wrote it: each committed an update made \
                     without seeing the others' changes",
                    and_list(&names),
                    if names.len() == 2 { "both" } else { "all" },
                    n.key(self.key),
                    show(group[0].0)
                ),
                json!({"key": self.key_json(),
                       "ops": group.iter().map(|&(_, t)| self.op_id(t)).collect::<Vec<_>>()}),
            ));
        }
    }
}
