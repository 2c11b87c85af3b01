//! `set`: `add` of unique elements to a few keys, and reads of a whole set, all through the
//! run (by `read_weight` against `write_weight`) and once more from every node after the
//! cluster has healed; checked with `set-full`, which judges every element by the timing of
//! every read: an element acknowledged and then missing from every later read is lost, one
//! missing from a read and back later was read stale (an anomaly with `set_linearizable`),
//! one read but never added is unexpected.
//!
//! Reads during the run are what catch a replica serving an old copy of a set while a fault
//! is in force; the final reads alone can only find what was lost for good.
//!
//! A set keeps its keys for the whole run: the final reads must see every add.

use rand::Rng;
use serde_json::{json, Value};

use super::keys::Keys;
use super::{Descriptor, Workload, WorkloadKind};
use crate::client::Invocation;
use crate::spec::WorkloadSpec;

pub const SET: Descriptor = Descriptor {
    kind: WorkloadKind::Set,
    about: "add unique elements to a few sets and read them, during the run and after the heal",
    fs: &["add", "read"],
    default_checker: "set-full",
    needs_final_reads: true,
    build: |spec| Box::new(Set::new(spec)),
    checker_initial: |_| serde_json::Value::Null,
};

struct Set {
    keys: Keys,
    read_weight: u32,
    add_weight: u32,
}

impl Set {
    fn new(spec: &WorkloadSpec) -> Set {
        // Never retired: `spend` is never called.
        Set {
            keys: Keys::new(spec.keys, u64::MAX),
            read_weight: spec.read_weight,
            add_weight: spec.write_weight,
        }
    }
}

impl Workload for Set {
    fn next_op(&mut self, rng: &mut rand_chacha::ChaCha8Rng) -> Invocation {
        let slot = self.keys.pick(rng);
        let total = self.read_weight + self.add_weight;
        // A set read before any add to it would only say "empty": read sets added to.
        let read = total > 0
            && self.keys.slots[slot].next_value > 1
            && rng.gen_range(0..total) < self.read_weight;
        let state = &mut self.keys.slots[slot];
        if read {
            return Invocation {
                f: "read".into(),
                key: Some(state.name.clone()),
                value: Value::Null,
            };
        }
        Invocation {
            f: "add".into(),
            key: Some(state.name.clone()),
            value: json!(state.fresh_value()),
        }
    }

    fn final_reads(&self) -> Vec<Invocation> {
        self.keys.read_each()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::spec;
    use super::super::Generator;
    use std::collections::HashSet;

    #[test]
    fn a_set_adds_unique_elements_reads_along_the_way_and_reads_every_key_at_the_end() {
        let mut g = Generator::new(&spec("set"), 3);
        let mut seen = HashSet::new();
        let mut reads = 0;
        for _ in 0..300 {
            let op = g.next_op();
            match op.f.as_str() {
                "add" => {
                    assert!(seen.insert((op.key.clone().unwrap(), op.value.as_i64().unwrap())))
                }
                "read" => {
                    reads += 1;
                    assert!(seen.iter().any(|(k, _)| Some(k) == op.key.as_ref()));
                }
                f => panic!("unexpected op {f}"),
            }
        }
        // Default weights: two reads for every add.
        assert!((150..250).contains(&reads), "{reads} reads of 300 ops");
        assert_eq!(g.final_reads().len(), 3);
    }

    #[test]
    fn a_read_weight_of_zero_gives_adds_only() {
        let mut spec = spec("set");
        spec.read_weight = 0;
        let mut g = Generator::new(&spec, 3);
        assert!((0..200).all(|_| g.next_op().f == "add"));
    }
}
