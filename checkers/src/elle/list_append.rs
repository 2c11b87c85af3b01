//! list-append: each key holds a list, transactions append unique values and read whole
//! lists.
//!
//! A read of a list reveals the whole history of that key up to the read: `[1 2 3]` says 1
//! was appended before 2 before 3. So each key's version order is its longest read, and
//! every other read must be a prefix of it (otherwise: `incompatible-order`). Per key,
//! independently and in parallel, this pass infers:
//!
//! - `ww`: the writer of element *i* precedes the writer of element *i + 1*;
//! - `wr`: the writer of a read's last element precedes the reader;
//! - `rw`: a reader precedes the writer of the first element it did not see; a reader of
//!   the whole known list precedes every committed append that no read shows (lists only
//!   grow, so those came later);
//!
//! and the anomalies that need no cycle: `G1a` (an element whose append failed was read),
//! `G1b` (a read ends between two appends of one transaction), `dirty-update` (an
//! append lands on top of a failed one), `duplicate-elements`, `incompatible-order`,
//! `internal` (a read does not end with its own transaction's earlier appends),
//! `future-read` (a read holds an element its transaction appends only later),
//! `garbage-read` (an element nobody appended), `lost-update` (two transactions read the
//! same version and both appended) and `lost-append` (an append acknowledged as committed
//! that no read ever saw, though reads of the key began after it completed).
//!
//! Reads inside crashed (`info`) transactions are unknown and ignored; their appends count
//! when someone read them. Cost: O(reads × read length + appends × log appends) per key.

use serde_json::json;

use crate::history::Outcome;
use crate::verdict::Budget;

use super::anomaly::{and_list, Found, Namer};
use super::graph::{DepEdge, RW, WR, WW};
use super::txn::{MopKind, Txns, NIL};
use super::KeyOut;

/// Lists longer than this are shortened in explanations.
const SHOWN_ELEMENTS: usize = 8;

pub(crate) fn show_list(list: &[i64]) -> String {
    let items = |xs: &[i64]| {
        xs.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    if list.len() <= SHOWN_ELEMENTS {
        format!("[{}]", items(list))
    } else {
        let tail = &list[list.len() - 4..];
        format!(
            "[{} … {}] ({} elements)",
            items(&list[..3]),
            items(tail),
            list.len()
        )
    }
}

/// One key's appends, sorted by value: (value, micro-op id, last append of its txn to
/// this key).
struct Writers(Vec<(i64, u32, bool)>);

impl Writers {
    fn of(&self, v: i64) -> Option<(u32, bool)> {
        let i = self.0.partition_point(|a| a.0 < v);
        self.0.get(i).filter(|a| a.0 == v).map(|a| (a.1, a.2))
    }
}

struct KeyPass<'a> {
    txns: &'a Txns,
    /// Checked once per transaction, element or read in the loops below: one key of a
    /// dense history can hold most of the work.
    budget: &'a Budget,
    key: u32,
    writers: Writers,
    /// The version order: the longest read.
    order: &'a [i64],
    order_reader: Option<u32>,
    /// Reads that are not a prefix of `order`.
    incompatible: Vec<u32>,
    /// (version length, reader) for reads followed by an append of the same transaction.
    updates: Vec<(usize, u32)>,
    /// Committed appends no read of the order shows: (value, writer).
    unseen: Vec<(i64, u32)>,
}

/// The longest read of key `k`: its micro-op id.
fn longest_read(txns: &Txns, ids: &[u32]) -> Option<u32> {
    let mut longest: Option<u32> = None;
    for &m in ids {
        let mop = &txns.mops[m as usize];
        if mop.kind == MopKind::Read
            && mop.known()
            && longest.is_none_or(|l| mop.len > txns.mops[l as usize].len)
        {
            longest = Some(m);
        }
    }
    longest
}

/// First pass: crashed transactions whose append to key `k` someone read. They committed,
/// so all their appends happened — including ones nobody saw.
pub(crate) fn observed_crashed(txns: &Txns, k: usize, out: &mut KeyOut) {
    let ids = txns.key_mop_ids(k);
    let Some(longest) = longest_read(txns, ids) else {
        return;
    };
    let mut order = txns.list(&txns.mops[longest as usize]).to_vec();
    order.sort_unstable();
    for &m in ids {
        let mop = &txns.mops[m as usize];
        if mop.kind == MopKind::Append
            && txns.outcome[mop.txn as usize] == Outcome::Info
            && order.binary_search(&mop.value).is_ok()
        {
            out.committed.push(mop.txn);
        }
    }
}

/// Second pass: the inference for key `k`. `committed[t]` says that crashed transaction
/// `t` is known to have committed.
pub(crate) fn check_key(
    txns: &Txns,
    committed: &[bool],
    budget: &Budget,
    k: usize,
    out: &mut KeyOut,
) {
    let ids = txns.key_mop_ids(k);
    let appends = txns.key_writes(k, MopKind::Append, &mut out.warnings);
    let longest = longest_read(txns, ids);
    let mut pass = KeyPass {
        txns,
        budget,
        key: k as u32,
        writers: Writers(appends),
        order: longest.map_or(&[][..], |m| txns.list(&txns.mops[m as usize])),
        order_reader: longest.map(|m| txns.mops[m as usize].txn),
        incompatible: Vec::new(),
        updates: Vec::new(),
        unseen: Vec::new(),
    };
    pass.unseen = pass.unseen_appends(committed);
    let mut start = 0;
    while start < ids.len() {
        if budget.expired() {
            return;
        }
        let t = txns.mops[ids[start] as usize].txn;
        let end = start + ids[start..].partition_point(|&m| txns.mops[m as usize].txn == t);
        pass.txn_group(t, &ids[start..end], out);
        start = end;
    }
    pass.version_order(ids, out);
    pass.incompatible_reads(out);
    pass.lost_updates(out);
    pass.lost_appends(ids, out);
}

impl KeyPass<'_> {
    fn writer_txn(&self, v: i64) -> Option<u32> {
        self.writers
            .of(v)
            .map(|(m, _)| self.txns.mops[m as usize].txn)
    }

    /// Whether micro-op `m` is a read that agrees with the version order and sees its
    /// position `i`.
    fn covers(&self, m: u32, i: usize) -> bool {
        let mop = &self.txns.mops[m as usize];
        mop.kind == MopKind::Read
            && mop.known()
            && mop.len as usize > i
            && self.incompatible.binary_search(&m).is_err()
    }

    fn failed(&self, t: u32) -> bool {
        self.txns.outcome[t as usize] == Outcome::Fail
    }

    fn key_json(&self) -> serde_json::Value {
        self.txns.keys[self.key as usize].clone()
    }

    fn op_id(&self, t: u32) -> u32 {
        self.txns.op[t as usize]
    }

    /// Committed appends (of `ok` transactions, or crashed ones known to have committed)
    /// that are not in the version order. A list only grows, so each of them was installed
    /// after every version anyone read.
    fn unseen_appends(&self, committed: &[bool]) -> Vec<(i64, u32)> {
        let mut in_order = self.order.to_vec();
        in_order.sort_unstable();
        self.writers
            .0
            .iter()
            .map(|&(v, m, _)| (v, self.txns.mops[m as usize].txn))
            .filter(|&(v, t)| {
                let done = match self.txns.outcome[t as usize] {
                    Outcome::Ok => true,
                    Outcome::Info => committed[t as usize],
                    Outcome::Fail => false,
                };
                done && in_order.binary_search(&v).is_err()
            })
            .collect()
    }

    /// The micro-operations of one transaction on this key, in order.
    /// The micro-operations of one transaction on this key, in order. Every read yields
    /// edges: two reads of one transaction that differ (a non-repeatable read, which read
    /// committed allows) show as a cycle through that transaction, not as `internal`.
    fn txn_group(&mut self, t: u32, group: &[u32], out: &mut KeyOut) {
        let txns = self.txns;
        let mut own: Vec<i64> = Vec::new();
        let mut last_seen: Option<usize> = None;
        for (gi, &m) in group.iter().enumerate() {
            let mop = &txns.mops[m as usize];
            if mop.kind == MopKind::Append {
                own.push(mop.value);
                continue;
            }
            if !mop.known() {
                continue;
            }
            let read = txns.list(mop);
            let compatible = read.len() <= self.order.len() && self.order[..read.len()] == *read;
            if !compatible {
                self.incompatible.push(m);
            }
            if !read.ends_with(&own) {
                self.internal(t, &own, read, out);
            }
            let later = group[gi + 1..]
                .iter()
                .map(|&m2| &txns.mops[m2 as usize])
                .filter(|m2| m2.kind == MopKind::Append);
            if let Some(future) = later.clone().find(|m2| read.contains(&m2.value)) {
                let mut n = Namer::new(txns);
                out.found.push(Found::new(
                    "future-read",
                    format!(
                        "{} read {} = {}, which already holds {}, an element the same \
                         transaction appends only later",
                        n.t(t),
                        n.key(self.key),
                        show_list(read),
                        future.value
                    ),
                    json!({"key": self.key_json(), "value": future.value, "ops": [self.op_id(t)]}),
                ));
            }
            if !compatible {
                continue;
            }
            let mut seen = read.len();
            while seen > 0 && self.writer_txn(read[seen - 1]) == Some(t) {
                seen -= 1;
            }
            if last_seen != Some(seen) {
                self.read_edges(t, seen, read.len(), out);
            }
            if last_seen.is_none() && later.count() > 0 {
                self.updates.push((seen, t));
            }
            last_seen = Some(seen);
        }
    }

    /// A read that does not end with the transaction's own appends so far, in order: every
    /// isolation level lets a transaction see its own writes.
    fn internal(&self, t: u32, own: &[i64], read: &[i64], out: &mut KeyOut) {
        let mut n = Namer::new(self.txns);
        out.found.push(Found::new(
            "internal",
            format!(
                "{} read {} = {}, but it had itself appended {} to {} earlier in the same \
                 transaction, so the list should end with that",
                n.t(t),
                n.key(self.key),
                show_list(read),
                show_list(own),
                n.key(self.key)
            ),
            json!({"key": self.key_json(), "ops": [self.op_id(t)], "read": read}),
        ));
    }

    /// The `wr` and `rw` edges of a transaction's read of this key, which saw the first
    /// `seen` elements of the version order once its own appends are removed, and
    /// `observed` elements with them.
    fn read_edges(&mut self, t: u32, seen: usize, observed: usize, out: &mut KeyOut) {
        if seen > 0 {
            let v = self.order[seen - 1];
            if let Some((m, last)) = self.writers.of(v) {
                let w = self.txns.mops[m as usize].txn;
                if w != t && !self.failed(w) {
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
                        self.intermediate_read(t, w, m, v, out);
                    }
                }
            }
        }
        // A writer that appended right after its own element: the read was intermediate
        // (G1b), not an anti-dependency.
        let source = seen
            .checked_sub(1)
            .and_then(|i| self.writer_txn(self.order[i]));
        if observed == self.order.len() {
            // The read saw the latest known version (perhaps through its own appends):
            // each unseen committed append came after it.
            for &(v, w) in &self.unseen {
                if w != t {
                    out.edges.push(DepEdge {
                        from: t,
                        to: w,
                        key: self.key,
                        kind: RW,
                        value: v,
                        other: if seen > 0 { self.order[seen - 1] } else { NIL },
                        unseen: true,
                        realtime: false,
                    });
                }
            }
        }
        if let Some(&next) = self.order.get(seen) {
            if let Some(w) = self.writer_txn(next) {
                if w != t && !self.failed(w) && Some(w) != source {
                    out.edges.push(DepEdge {
                        from: t,
                        to: w,
                        key: self.key,
                        kind: RW,
                        value: next,
                        other: if seen > 0 { self.order[seen - 1] } else { NIL },
                        unseen: false,
                        realtime: false,
                    });
                }
            }
        }
    }

    fn intermediate_read(&self, t: u32, w: u32, m: u32, v: i64, out: &mut KeyOut) {
        let txns = self.txns;
        let after = txns.mops_of(w)[txns.index_in_txn(m) as usize + 1..]
            .iter()
            .filter(|x| x.kind == MopKind::Append && x.key == self.key)
            .map(|x| x.value)
            .collect::<Vec<_>>();
        let mut n = Namer::new(txns);
        let (reader, writer) = (n.t(t), n.t(w));
        out.found.push(Found::new(
            "G1b",
            format!(
                "{reader} read {} ending at {v}, an intermediate state of {writer}, which \
                 appended {v} and then {} to {} in the same transaction",
                n.key(self.key),
                show_list(&after),
                n.key(self.key)
            ),
            json!({"key": self.key_json(), "value": v, "ops": [self.op_id(t), self.op_id(w)]}),
        ));
    }

    /// Writer chain of the version order (`ww`), and the anomalies visible in it.
    fn version_order(&self, ids: &[u32], out: &mut KeyOut) {
        let txns = self.txns;
        let order = self.order;
        let mut firsts: Vec<(i64, usize)> =
            order.iter().enumerate().map(|(i, &v)| (v, i)).collect();
        firsts.sort_unstable();
        let duplicate_at = firsts
            .windows(2)
            .filter(|w| w[0].0 == w[1].0)
            .map(|w| w[1].1)
            .min();
        // The first transaction whose read covers position `i` of the order.
        let reader_of = |i: usize| {
            ids.iter()
                .find(|&&m| self.covers(m, i))
                .map(|&m| txns.mops[m as usize].txn)
        };
        if let (Some(j), Some(r)) = (duplicate_at, duplicate_at.and_then(reader_of)) {
            let mut n = Namer::new(txns);
            out.found.push(Found::new(
                "duplicate-elements",
                format!(
                    "{} read {} = {}, which holds {} more than once",
                    n.t(r),
                    n.key(self.key),
                    show_list(&order[..=j]),
                    order[j]
                ),
                json!({"key": self.key_json(), "value": order[j], "ops": [self.op_id(r)]}),
            ));
        }
        let mut prev: Option<(u32, i64)> = None;
        let mut failed_before: Option<(u32, i64)> = None;
        let mut dirty_reported = false;
        for (i, &v) in order.iter().enumerate() {
            if i & 1023 == 0 && self.budget.expired() {
                return;
            }
            if duplicate_at.is_some_and(|j| i >= j) && order[..i].contains(&v) {
                continue;
            }
            let Some(w) = self.writer_txn(v) else {
                if let Some(r) = reader_of(i) {
                    self.garbage(r, v, out);
                }
                continue;
            };
            if self.failed(w) {
                if let Some(r) = reader_of(i) {
                    self.aborted_read(r, w, v, i, ids, out);
                }
                failed_before.get_or_insert((w, v));
                continue;
            }
            if let (Some((fw, fv)), false) = (failed_before, dirty_reported) {
                dirty_reported = true;
                self.dirty_update(fw, fv, w, v, out);
            }
            if let Some((p, pv)) = prev.filter(|&(p, _)| p != w) {
                out.edges.push(DepEdge {
                    from: p,
                    to: w,
                    key: self.key,
                    kind: WW,
                    value: pv,
                    other: v,
                    unseen: false,
                    realtime: false,
                });
            }
            prev = Some((w, v));
        }
    }

    fn garbage(&self, r: u32, v: i64, out: &mut KeyOut) {
        let mut n = Namer::new(self.txns);
        out.found.push(Found::new(
            "garbage-read",
            format!(
                "{} read {} holding {v}, which no transaction ever appended",
                n.t(r),
                n.key(self.key)
            ),
            json!({"key": self.key_json(), "value": v, "ops": [self.op_id(r)]}),
        ));
    }

    fn aborted_read(&self, r: u32, w: u32, v: i64, i: usize, ids: &[u32], out: &mut KeyOut) {
        let readers = ids.iter().filter(|&&m| self.covers(m, i)).count();
        let mut n = Namer::new(self.txns);
        let more = if readers > 1 {
            format!(" ({} reads saw it)", readers)
        } else {
            String::new()
        };
        out.found.push(Found::new(
            "G1a",
            format!(
                "{} read {} holding {v}, which {} appended in a transaction that failed{more}",
                n.t(r),
                n.key(self.key),
                n.t(w)
            ),
            json!({"key": self.key_json(), "value": v, "ops": [self.op_id(r), self.op_id(w)]}),
        ));
    }

    fn dirty_update(&self, fw: u32, fv: i64, w: u32, v: i64, out: &mut KeyOut) {
        let mut n = Namer::new(self.txns);
        out.found.push(Found::new(
            "dirty-update",
            format!(
                "{} appended {fv} to {} and failed, yet {} appended {v} after it, on top of \
                 the aborted state",
                n.t(fw),
                n.key(self.key),
                n.t(w)
            ),
            json!({"key": self.key_json(), "value": v, "ops": [self.op_id(fw), self.op_id(w)]}),
        ));
    }

    fn incompatible_reads(&self, out: &mut KeyOut) {
        let mut shown: Vec<&[i64]> = Vec::new();
        for &m in &self.incompatible {
            if self.budget.expired() {
                return;
            }
            let mop = &self.txns.mops[m as usize];
            let read = self.txns.list(mop);
            if shown.contains(&read) {
                continue;
            }
            shown.push(read);
            let (Some(o), mut n) = (self.order_reader, Namer::new(self.txns)) else {
                continue;
            };
            out.found.push(Found::new(
                "incompatible-order",
                format!(
                    "{} read {} = {} but {} read {} = {}; neither is a prefix of the other, \
                     so no single order of appends explains both",
                    n.t(mop.txn),
                    n.key(self.key),
                    show_list(read),
                    n.t(o),
                    n.key(self.key),
                    show_list(self.order)
                ),
                json!({"key": self.key_json(), "ops": [self.op_id(mop.txn), self.op_id(o)],
                       "read": read, "longest": self.order}),
            ));
            for &v in read {
                match self.writer_txn(v) {
                    None => self.garbage(mop.txn, v, out),
                    Some(w) if self.failed(w) => {
                        self.aborted_read(mop.txn, w, v, usize::MAX, &[], out)
                    }
                    Some(_) => {}
                }
            }
        }
    }

    fn lost_updates(&mut self, out: &mut KeyOut) {
        self.updates.sort_unstable();
        self.updates.dedup();
        for group in self.updates.chunk_by(|a, b| a.0 == b.0) {
            if group.len() < 2 {
                continue;
            }
            let mut n = Namer::new(self.txns);
            let names: Vec<String> = group.iter().map(|&(_, t)| n.t(t)).collect();
            out.found.push(Found::new(
                "lost-update",
                format!(
                    "{} {} read {} = {} and then appended to it: each committed an update made \
                     without seeing the others' changes",
                    and_list(&names),
                    if names.len() == 2 { "both" } else { "all" },
                    n.key(self.key),
                    show_list(&self.order[..group[0].0])
                ),
                json!({"key": self.key_json(),
                       "ops": group.iter().map(|&(_, t)| self.op_id(t)).collect::<Vec<_>>()}),
            ));
        }
    }

    /// Committed appends that no read saw, though a read of the key began after they
    /// completed.
    fn lost_appends(&self, ids: &[u32], out: &mut KeyOut) {
        let txns = self.txns;
        let invoke = |t: u32| txns.meta[t as usize].invoke_pos;
        let last_read = ids
            .iter()
            .map(|&m| &txns.mops[m as usize])
            .filter(|m| m.kind == MopKind::Read && m.known())
            .max_by_key(|m| invoke(m.txn));
        let Some(last_read) = last_read else { return };
        let mut seen: Vec<i64> = self.order.to_vec();
        for &m in &self.incompatible {
            seen.extend_from_slice(txns.list(&txns.mops[m as usize]));
        }
        seen.sort_unstable();
        for (i, &(v, m, _)) in self.writers.0.iter().enumerate() {
            if i & 1023 == 0 && self.budget.expired() {
                return;
            }
            let t = txns.mops[m as usize].txn;
            let op = &txns.meta[t as usize];
            let completed = op.complete_pos.unwrap_or(usize::MAX);
            if op.outcome != Outcome::Ok
                || completed >= invoke(last_read.txn)
                || seen.binary_search(&v).is_ok()
            {
                continue;
            }
            let mut n = Namer::new(txns);
            out.found.push(Found::new(
                "lost-append",
                format!(
                    "{} appended {v} to {} and committed, but no read ever saw {v}, although \
                     {} read {} = {} after {} had completed",
                    n.t(t),
                    n.key(self.key),
                    n.t(last_read.txn),
                    n.key(self.key),
                    show_list(txns.list(last_read)),
                    n.t(t)
                ),
                json!({"key": self.key_json(), "value": v,
                       "ops": [self.op_id(t), self.op_id(last_read.txn)]}),
            ));
        }
    }
}
