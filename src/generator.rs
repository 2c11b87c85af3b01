//! Workload generators: seeded streams of operations.
//!
//! - `register`: `read` and `write` over many independent keys.
//! - `cas-register`: `read`, `write` and `cas [expected, new]` over many independent keys.
//! - `set`: `add` of unique elements to a few keys; the set's contents are read only by the
//!   final reads, after the cluster has healed.
//! - `list-append`: Elle's transactions, `txn [["append", k, v], ["r", k, null], ...]`, of 1
//!   to `max_txn_length` micro-ops over a few active keys; a read returns the key's whole
//!   list. The checker infers each key's order of appends from the longest list read and
//!   finds dependency cycles between transactions (Kingsbury and Alvaro, "Elle: Inferring
//!   Isolation Anomalies from Experimental Observations", VLDB 2020).
//!
//! Every value written to a key is unique for that key (1, 2, 3, ...): a read then names the
//! write it saw, which keeps checking tractable and makes a stale read provable. `cas` expects
//! one of the key's recently written values (so that it sometimes succeeds) and writes a
//! fresh one.
//!
//! A key is retired after `ops_per_key` operations and a fresh key takes its slot: the
//! linearizability search is exponential in the number of concurrent operations on one key,
//! so each key's history must stay small. A list-append key is retired after `ops_per_key`
//! appends instead (about 20 suits Elle): reads return whole lists, so a long-lived key makes
//! every read, and the history, grow with its length, and few appends per key leave the
//! version order of each key short and the cycles between keys plentiful. Keys must still live long enough to span a fault
//! (ops per key / (rate / keys) seconds), or a stale read cannot be seen: a key written on
//! the majority side must be read on the minority side.
//!
//! The generator is one seeded stream ([`rand_chacha::ChaCha8Rng`]) shared by all workers
//! behind a lock: the sequence of operations is a function of the seed; which worker gets
//! which operation depends on timing, as in any concurrent test.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use crate::client::Invocation;
use crate::spec::{WorkloadKind, WorkloadSpec};

/// How many recent writes of a key a `cas` may expect.
const CAS_WINDOW: usize = 3;

/// Keys read by one transaction of a list-append workload's final reads.
pub const FINAL_READS_PER_TXN: usize = 8;

#[derive(Debug)]
struct KeyState {
    name: String,
    ops: u64,
    next_value: i64,
    recent: Vec<i64>,
}

impl KeyState {
    /// A value never written to this key before; a later `cas` may expect it.
    fn fresh_value(&mut self) -> i64 {
        let v = self.next_value;
        self.next_value += 1;
        self.recent.push(v);
        if self.recent.len() > CAS_WINDOW {
            self.recent.remove(0);
        }
        v
    }
}

/// A seeded stream of operations for one workload.
#[derive(Debug)]
pub struct Generator {
    kind: WorkloadKind,
    rng: ChaCha8Rng,
    slots: Vec<KeyState>,
    next_key: u64,
    ops_per_key: u64,
    weights: [u32; 3],
    max_txn_length: usize,
    /// Every key handed out, in order, for the final reads.
    used: Vec<String>,
}

impl Generator {
    pub fn new(spec: &WorkloadSpec, seed: u64) -> Generator {
        let mut g = Generator {
            kind: spec.name,
            rng: ChaCha8Rng::seed_from_u64(seed),
            slots: Vec::with_capacity(spec.keys),
            next_key: 0,
            ops_per_key: spec.ops_per_key,
            weights: match spec.name {
                WorkloadKind::Register => [spec.read_weight, spec.write_weight, 0],
                WorkloadKind::CasRegister => [spec.read_weight, spec.write_weight, spec.cas_weight],
                WorkloadKind::Set => [0, 1, 0],
                WorkloadKind::ListAppend => [spec.read_weight, spec.write_weight, 0],
            },
            max_txn_length: spec.max_txn_length.max(1),
            used: Vec::new(),
        };
        for _ in 0..spec.keys {
            let key = g.fresh_key();
            g.slots.push(key);
        }
        g
    }

    fn fresh_key(&mut self) -> KeyState {
        let name = format!("k{}", self.next_key);
        self.next_key += 1;
        self.used.push(name.clone());
        KeyState {
            name,
            ops: 0,
            next_value: 1,
            recent: Vec::new(),
        }
    }

    /// The next operation of the main phase.
    pub fn next_op(&mut self) -> Invocation {
        if self.kind == WorkloadKind::ListAppend {
            return self.next_txn();
        }
        let slot = self.rng.gen_range(0..self.slots.len());
        let [r, w, c] = self.weights;
        let pick = self.rng.gen_range(0..r + w + c);
        let kind = self.kind;
        let state = &mut self.slots[slot];
        state.ops += 1;
        // A cas on a key never written could only fail; write instead.
        let cas = pick >= r + w && !state.recent.is_empty();
        let (f, value) = if pick < r {
            ("read", Value::Null)
        } else if !cas {
            let v = state.fresh_value();
            (
                if kind == WorkloadKind::Set {
                    "add"
                } else {
                    "write"
                },
                json!(v),
            )
        } else {
            let expected = state.recent[self.rng.gen_range(0..state.recent.len())];
            let new = state.fresh_value();
            ("cas", json!([expected, new]))
        };
        let key = state.name.clone();
        // A set keeps its keys: its final reads must see every add.
        if state.ops >= self.ops_per_key && kind != WorkloadKind::Set {
            self.slots[slot] = self.fresh_key();
        }
        Invocation {
            f: f.to_string(),
            key: Some(key),
            value,
        }
    }

    /// A transaction of 1 to `max_txn_length` micro-ops, each on a key drawn from the active
    /// ones: `["r", k, null]` or `["append", k, v]` with `v` fresh for `k`. A key that has
    /// had its `ops_per_key` appends is retired at once, so later micro-ops of the same
    /// transaction may already use its successor.
    fn next_txn(&mut self) -> Invocation {
        let n = self.rng.gen_range(1..=self.max_txn_length);
        let [r, w, _] = self.weights;
        let mut micro = Vec::with_capacity(n);
        for _ in 0..n {
            let slot = self.rng.gen_range(0..self.slots.len());
            let state = &mut self.slots[slot];
            if self.rng.gen_range(0..r + w) < r {
                micro.push(json!(["r", state.name, null]));
                continue;
            }
            state.ops += 1;
            let v = state.next_value;
            state.next_value += 1;
            micro.push(json!(["append", state.name, v]));
            if state.ops >= self.ops_per_key {
                self.slots[slot] = self.fresh_key();
            }
        }
        Invocation {
            f: "txn".into(),
            key: None,
            value: Value::Array(micro),
        }
    }

    /// The reads after the cluster healed: every key that may hold data. For registers, the
    /// keys in use at the end; for sets, every key (a set's contents are only ever read here);
    /// for list-append, every key, [`FINAL_READS_PER_TXN`] to a read-only transaction.
    pub fn final_reads(&self) -> Vec<Invocation> {
        if self.kind == WorkloadKind::ListAppend {
            return self
                .used
                .chunks(FINAL_READS_PER_TXN)
                .map(|keys| Invocation {
                    f: "txn".into(),
                    key: None,
                    value: keys.iter().map(|k| json!(["r", k, null])).collect(),
                })
                .collect();
        }
        let keys: Vec<&String> = match self.kind {
            WorkloadKind::Set => self.used.iter().collect(),
            _ => self.slots.iter().map(|s| &s.name).collect(),
        };
        keys.into_iter()
            .map(|k| Invocation {
                f: "read".into(),
                key: Some(k.clone()),
                value: Value::Null,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    fn spec(kind: &str) -> WorkloadSpec {
        toml::from_str(&format!("name = \"{kind}\"\nkeys = 3\nops_per_key = 10")).unwrap()
    }

    #[test]
    fn the_same_seed_gives_the_same_operations() {
        let mut a = Generator::new(&spec("cas-register"), 7);
        let mut b = Generator::new(&spec("cas-register"), 7);
        let mut c = Generator::new(&spec("cas-register"), 8);
        let xs: Vec<_> = (0..100).map(|_| a.next_op()).collect();
        let ys: Vec<_> = (0..100).map(|_| b.next_op()).collect();
        let zs: Vec<_> = (0..100).map(|_| c.next_op()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn written_values_are_unique_per_key_and_keys_retire() {
        let mut g = Generator::new(&spec("cas-register"), 1);
        let mut seen: HashSet<(String, i64)> = HashSet::new();
        let mut per_key: HashMap<String, u64> = HashMap::new();
        for _ in 0..1000 {
            let op = g.next_op();
            let key = op.key.clone().unwrap();
            *per_key.entry(key.clone()).or_default() += 1;
            let written = match op.f.as_str() {
                "write" => op.value.as_i64(),
                "cas" => op.value[1].as_i64(),
                _ => None,
            };
            if let Some(v) = written {
                assert!(seen.insert((key, v)), "value {v} written twice");
            }
        }
        assert!(per_key.values().all(|&n| n <= 10));
        assert!(per_key.len() >= 100);
    }

    #[test]
    fn a_register_workload_never_issues_cas() {
        let mut g = Generator::new(&spec("register"), 3);
        assert!((0..500).all(|_| g.next_op().f != "cas"));
    }

    fn list_append(keys: usize, appends_per_key: u64) -> WorkloadSpec {
        toml::from_str(&format!(
            "name = \"list-append\"\nkeys = {keys}\nops_per_key = {appends_per_key}\n\
             read_weight = 1\nwrite_weight = 1"
        ))
        .unwrap()
    }

    /// The micro-ops of a transaction as (f, key, value).
    fn micro_ops(op: &Invocation) -> Vec<(String, String, Value)> {
        assert_eq!(op.f, "txn");
        assert_eq!(op.key, None, "a transaction spans keys");
        op.value
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m[0].as_str().unwrap().to_string(),
                    m[1].as_str().unwrap().to_string(),
                    m[2].clone(),
                )
            })
            .collect()
    }

    #[test]
    fn a_transaction_has_one_to_four_micro_ops_of_both_kinds() {
        let mut g = Generator::new(&list_append(3, 20), 5);
        let mut lengths = HashSet::new();
        let (mut reads, mut appends) = (0, 0);
        for _ in 0..2000 {
            let ops = micro_ops(&g.next_op());
            lengths.insert(ops.len());
            for (f, _, v) in ops {
                match f.as_str() {
                    "r" => {
                        assert_eq!(v, Value::Null, "a read is invoked without a value");
                        reads += 1;
                    }
                    "append" => appends += 1,
                    other => panic!("unexpected micro-op {other}"),
                }
            }
        }
        assert_eq!(lengths, HashSet::from([1, 2, 3, 4]));
        assert!(
            reads > 1000 && appends > 1000,
            "{reads} reads, {appends} appends"
        );
    }

    #[test]
    fn appended_values_are_unique_per_key_and_a_key_retires_after_its_appends() {
        let mut g = Generator::new(&list_append(3, 20), 9);
        let mut appended: HashMap<String, Vec<i64>> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        for _ in 0..3000 {
            for (f, k, v) in micro_ops(&g.next_op()) {
                if f == "append" {
                    if !appended.contains_key(&k) {
                        order.push(k.clone());
                    }
                    appended.entry(k).or_default().push(v.as_i64().unwrap());
                }
            }
        }
        for (k, vs) in &appended {
            let unique: HashSet<_> = vs.iter().collect();
            assert_eq!(unique.len(), vs.len(), "{k} got a value twice: {vs:?}");
            assert!(vs.len() <= 20, "{k} got {} appends", vs.len());
        }
        // About 3000 × 2.5 / 2 appends over 20 per key: keys do rotate, and every key but
        // the last few active ones got its full 20.
        assert!(appended.len() > 100, "only {} keys", appended.len());
        let full = order[..order.len() - 3]
            .iter()
            .filter(|k| appended[*k].len() == 20)
            .count();
        assert_eq!(full, order.len() - 3);
    }

    #[test]
    fn only_a_few_keys_are_active_at_a_time() {
        let mut g = Generator::new(&list_append(3, 20), 2);
        for _ in 0..500 {
            let before: HashSet<String> = g.slots.iter().map(|s| s.name.clone()).collect();
            let op = g.next_op();
            let after: HashSet<String> = g.slots.iter().map(|s| s.name.clone()).collect();
            for (_, k, _) in micro_ops(&op) {
                assert!(
                    before.contains(&k) || after.contains(&k),
                    "{k} was not active"
                );
            }
            assert_eq!(after.len(), 3);
        }
    }

    #[test]
    fn list_append_final_reads_read_every_key_in_read_only_transactions() {
        let mut g = Generator::new(&list_append(3, 5), 4);
        for _ in 0..200 {
            g.next_op();
        }
        let reads = g.final_reads();
        let keys: Vec<String> = reads
            .iter()
            .flat_map(micro_ops)
            .map(|(f, k, _)| {
                assert_eq!(f, "r");
                k
            })
            .collect();
        assert_eq!(keys, g.used);
        assert!(reads
            .iter()
            .all(|r| micro_ops(r).len() <= FINAL_READS_PER_TXN));
    }

    #[test]
    fn a_set_adds_and_reads_every_key_at_the_end() {
        let mut g = Generator::new(&spec("set"), 3);
        assert!((0..100).all(|_| g.next_op().f == "add"));
        assert_eq!(g.final_reads().len(), 3);
    }
}
