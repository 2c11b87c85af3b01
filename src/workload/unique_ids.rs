//! `unique-ids`: every operation asks the store for a new identifier.
//!
//! `generate` is invoked with no key and no value; its `ok` answer's value is the id the
//! store handed out (a number, or a string such as the key etcd's v2 API creates for an
//! in-order child). The `unique-ids` checker reports every id that two acknowledged
//! requests received (`duplicate-id`): a sequence whose read and increment are not one
//! atomic step — a lost update — hands the same id to two callers. There is nothing to read
//! after the heal: each answer is the evidence.

use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use super::{Descriptor, Workload, WorkloadKind};
use crate::client::Invocation;

pub const UNIQUE_IDS: Descriptor = Descriptor {
    kind: WorkloadKind::UniqueIds,
    about: "ask the store for new ids; no id may be handed out twice",
    fs: &["generate"],
    default_checker: "unique-ids",
    needs_final_reads: false,
    build: |_| Box::new(UniqueIds),
    checker_initial: |_| Value::Null,
};

struct UniqueIds;

impl Workload for UniqueIds {
    fn next_op(&mut self, _rng: &mut ChaCha8Rng) -> Invocation {
        Invocation {
            f: "generate".into(),
            key: None,
            value: Value::Null,
        }
    }

    fn final_reads(&self) -> Vec<Invocation> {
        Vec::new()
    }
}
