//! `register` and `cas-register`: single-value registers over many independent keys.
//!
//! - `register`: `read` and `write`.
//! - `cas-register`: `read`, `write` and `cas [expected, new]`. A `cas` expects one of the
//!   key's recently written values (so that it sometimes succeeds) and writes a fresh one; a
//!   `cas` on a key never written could only fail, so it writes instead.
//!
//! Checked for linearizability against the register or cas-register model, key by key. The
//! final reads read the keys active at the end from every node.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::keys::Keys;
use super::{Descriptor, Workload, WorkloadKind};
use crate::client::Invocation;
use crate::spec::WorkloadSpec;

pub const REGISTER: Descriptor = Descriptor {
    kind: WorkloadKind::Register,
    about: "read and write over many independent keys",
    fs: &["read", "write"],
    default_checker: "register",
    needs_final_reads: false,
    build: |spec| Box::new(Register::new(spec, false)),
    checker_initial: |_| serde_json::Value::Null,
};

pub const CAS_REGISTER: Descriptor = Descriptor {
    kind: WorkloadKind::CasRegister,
    about: "read, write and compare-and-set over many independent keys",
    fs: &["read", "write", "cas"],
    default_checker: "cas-register",
    needs_final_reads: false,
    build: |spec| Box::new(Register::new(spec, true)),
    checker_initial: |_| serde_json::Value::Null,
};

struct Register {
    keys: Keys,
    /// Relative weights of read, write and cas.
    weights: [u32; 3],
}

impl Register {
    fn new(spec: &WorkloadSpec, cas: bool) -> Register {
        Register {
            keys: Keys::new(spec.keys, spec.ops_per_key),
            weights: [
                spec.read_weight,
                spec.write_weight,
                if cas { spec.cas_weight } else { 0 },
            ],
        }
    }
}

impl Workload for Register {
    fn next_op(&mut self, rng: &mut ChaCha8Rng) -> Invocation {
        let slot = self.keys.pick(rng);
        let [r, w, c] = self.weights;
        let pick = rng.gen_range(0..r + w + c);
        let state = &mut self.keys.slots[slot];
        let cas = pick >= r + w && !state.recent.is_empty();
        let (f, value) = if pick < r {
            ("read", Value::Null)
        } else if !cas {
            ("write", json!(state.fresh_value()))
        } else {
            let expected = state.recent[rng.gen_range(0..state.recent.len())];
            ("cas", json!([expected, state.fresh_value()]))
        };
        let key = state.name.clone();
        self.keys.spend(slot);
        Invocation {
            f: f.to_string(),
            key: Some(key),
            value,
        }
    }

    fn final_reads(&self) -> Vec<Invocation> {
        self.keys
            .active()
            .map(|k| Invocation {
                f: "read".into(),
                key: Some(k.to_string()),
                value: Value::Null,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::spec;
    use super::super::Generator;
    use std::collections::{HashMap, HashSet};

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
    fn a_cas_expects_a_value_recently_written_to_its_key() {
        let mut g = Generator::new(&spec("cas-register"), 5);
        let mut written: HashMap<String, Vec<i64>> = HashMap::new();
        let mut cases = 0;
        for _ in 0..1000 {
            let op = g.next_op();
            let key = op.key.clone().unwrap();
            match op.f.as_str() {
                "write" => written
                    .entry(key)
                    .or_default()
                    .push(op.value.as_i64().unwrap()),
                "cas" => {
                    let past = written.entry(key).or_default();
                    let expected = op.value[0].as_i64().unwrap();
                    assert!(past.iter().rev().take(3).any(|&v| v == expected));
                    past.push(op.value[1].as_i64().unwrap());
                    cases += 1;
                }
                _ => {}
            }
        }
        assert!(cases > 100, "only {cases} cas");
    }

    #[test]
    fn a_register_workload_never_issues_cas() {
        let mut g = Generator::new(&spec("register"), 3);
        assert!((0..500).all(|_| g.next_op().f != "cas"));
    }

    #[test]
    fn register_final_reads_read_the_keys_active_at_the_end() {
        let mut g = Generator::new(&spec("register"), 3);
        for _ in 0..100 {
            g.next_op();
        }
        let reads = g.final_reads();
        assert_eq!(reads.len(), 3);
        assert!(reads.iter().all(|r| r.f == "read"));
    }
}
