//! Workload generators: seeded streams of operations.
//!
//! - `register`: `read` and `write` over many independent keys.
//! - `cas-register`: `read`, `write` and `cas [expected, new]` over many independent keys.
//! - `set`: `add` of unique elements to a few keys; the set's contents are read only by the
//!   final reads, after the cluster has healed.
//!
//! Every value written to a key is unique for that key (1, 2, 3, ...): a read then names the
//! write it saw, which keeps checking tractable and makes a stale read provable. `cas` expects
//! one of the key's recently written values (so that it sometimes succeeds) and writes a
//! fresh one.
//!
//! A key is retired after `ops_per_key` operations and a fresh key takes its slot: the
//! linearizability search is exponential in the number of concurrent operations on one key,
//! so each key's history must stay small. Keys must still live long enough to span a fault
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
            },
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

    /// The reads after the cluster healed: every key that may hold data. For registers, the
    /// keys in use at the end; for sets, every key (a set's contents are only ever read here).
    pub fn final_reads(&self) -> Vec<Invocation> {
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

    /// True when the workload needs final reads to be checked at all.
    pub fn needs_final_reads(&self) -> bool {
        self.kind == WorkloadKind::Set
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

    #[test]
    fn a_set_adds_and_reads_every_key_at_the_end() {
        let mut g = Generator::new(&spec("set"), 3);
        assert!((0..100).all(|_| g.next_op().f == "add"));
        assert_eq!(g.final_reads().len(), 3);
    }
}
