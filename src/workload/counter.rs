//! `counter`: increments of a few counters, and reads of them.
//!
//! An `add` adds 1 to 5 to the counter at its key (`keys` counters, never retired, each
//! starting at 0, as a store reads an absent counter); a `read` returns its value. Every
//! read must lie between the sum of the adds acknowledged before it began and the sum of
//! every add that may have happened by the time it ended: the `counter` checker (Jepsen's
//! counter) reports a read outside those bounds as `out-of-bounds`, the mark of a lost
//! increment (below) or of an increment counted twice or from a failed add (above). After
//! the heal every counter is read once more from every node.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::keys::Keys;
use super::{Descriptor, Workload, WorkloadKind};
use crate::client::Invocation;
use crate::spec::WorkloadSpec;

/// The largest increment: small, so that a lost one moves a read out of bounds by little
/// and the checker's bounds stay tight, but above 1, so that sums name their adds less often.
const MAX_ADD: i64 = 5;

pub const COUNTER: Descriptor = Descriptor {
    kind: WorkloadKind::Counter,
    about: "increments and reads of a few counters (bounds on every read)",
    fs: &["add", "read"],
    default_checker: "counter",
    needs_final_reads: false,
    build: |spec| Box::new(Counter::new(spec)),
    checker_initial: |_| Value::Null,
};

struct Counter {
    keys: Keys,
    read_weight: u32,
    add_weight: u32,
}

impl Counter {
    fn new(spec: &WorkloadSpec) -> Counter {
        Counter {
            // Never retired: every add of the run counts towards each later read.
            keys: Keys::new(spec.keys, u64::MAX),
            read_weight: spec.read_weight,
            add_weight: spec.write_weight,
        }
    }
}

impl Workload for Counter {
    fn next_op(&mut self, rng: &mut ChaCha8Rng) -> Invocation {
        let slot = self.keys.pick(rng);
        let key = Some(self.keys.slots[slot].name.clone());
        if rng.gen_range(0..self.read_weight + self.add_weight) < self.read_weight {
            return Invocation {
                f: "read".into(),
                key,
                value: Value::Null,
            };
        }
        Invocation {
            f: "add".into(),
            key,
            value: json!(rng.gen_range(1..=MAX_ADD)),
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
    use std::collections::BTreeSet;

    #[test]
    fn a_counter_adds_small_positive_amounts_to_a_fixed_set_of_keys() {
        let mut g = Generator::new(&spec("counter"), 3);
        let mut keys = BTreeSet::new();
        let mut amounts = BTreeSet::new();
        let mut reads = 0;
        for _ in 0..600 {
            let op = g.next_op();
            keys.insert(op.key.clone().unwrap());
            match op.f.as_str() {
                "add" => {
                    amounts.insert(op.value.as_i64().unwrap());
                }
                "read" => reads += 1,
                other => panic!("a counter issued {other}"),
            }
        }
        assert_eq!(keys.len(), 3, "{keys:?}");
        assert_eq!(amounts.into_iter().collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        assert!(reads > 300, "{reads} reads of 600 with read_weight 2");
        assert_eq!(g.final_reads().len(), 3);
    }
}
