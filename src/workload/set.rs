//! `set`: `add` of unique elements to a few keys; each set's contents are read by the final
//! reads, after the cluster has healed, and checked with `set-full` (an element acknowledged
//! but never read is lost; one read that was never added is phantom).
//!
//! A set keeps its keys for the whole run: the final reads must see every add.

use serde_json::{json, Value};

use super::keys::Keys;
use super::{Descriptor, Workload, WorkloadKind};
use crate::client::Invocation;
use crate::spec::WorkloadSpec;

pub const SET: Descriptor = Descriptor {
    kind: WorkloadKind::Set,
    about: "add unique elements to a few sets, read them all after the heal",
    fs: &["add", "read"],
    default_checker: "set-full",
    needs_final_reads: true,
    build: |spec| Box::new(Set::new(spec)),
    checker_initial: |_| serde_json::Value::Null,
};

struct Set {
    keys: Keys,
}

impl Set {
    fn new(spec: &WorkloadSpec) -> Set {
        // Never retired: `spend` is never called.
        Set {
            keys: Keys::new(spec.keys, u64::MAX),
        }
    }
}

impl Workload for Set {
    fn next_op(&mut self, rng: &mut rand_chacha::ChaCha8Rng) -> Invocation {
        let slot = self.keys.pick(rng);
        let state = &mut self.keys.slots[slot];
        Invocation {
            f: "add".into(),
            key: Some(state.name.clone()),
            value: json!(state.fresh_value()),
        }
    }

    fn final_reads(&self) -> Vec<Invocation> {
        self.keys
            .used
            .iter()
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
    use super::super::tests::spec;
    use super::super::Generator;
    use std::collections::HashSet;

    #[test]
    fn a_set_adds_unique_elements_and_reads_every_key_at_the_end() {
        let mut g = Generator::new(&spec("set"), 3);
        let mut seen = HashSet::new();
        for _ in 0..100 {
            let op = g.next_op();
            assert_eq!(op.f, "add");
            assert!(seen.insert((op.key.clone().unwrap(), op.value.as_i64().unwrap())));
        }
        assert_eq!(g.final_reads().len(), 3);
    }
}
