//! Elle-style transactions shared by `list-append` and `rw-register`: `txn` ops of 1 to
//! `max_txn_length` micro-ops over a few active keys, each a read `["r", k, null]` or a write
//! of a value fresh for its key (`["append", k, v]` or `["w", k, v]`); a key is retired after
//! `ops_per_key` writes. The final reads read every key ever used, [`FINAL_READS_PER_TXN`]
//! to a read-only transaction.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use super::keys::Keys;
use super::Workload;
use crate::client::Invocation;
use crate::spec::WorkloadSpec;

/// Keys read by one transaction of the final reads.
pub const FINAL_READS_PER_TXN: usize = 8;

pub(super) struct Transactions {
    pub(super) keys: Keys,
    read_weight: u32,
    write_weight: u32,
    max_txn_length: usize,
    /// The write micro-op's name: `append` or `w`.
    write: &'static str,
}

impl Transactions {
    pub fn new(spec: &WorkloadSpec, write: &'static str) -> Transactions {
        Transactions {
            keys: Keys::new(spec.keys, spec.ops_per_key),
            read_weight: spec.read_weight,
            write_weight: spec.write_weight,
            max_txn_length: spec.max_txn_length.max(1),
            write,
        }
    }
}

impl Workload for Transactions {
    /// A transaction of 1 to `max_txn_length` micro-ops, each on a key drawn from the active
    /// ones. A key that has had its `ops_per_key` writes is retired at once, so later
    /// micro-ops of the same transaction may already use its successor.
    fn next_op(&mut self, rng: &mut ChaCha8Rng) -> Invocation {
        let n = rng.gen_range(1..=self.max_txn_length);
        let mut micro = Vec::with_capacity(n);
        for _ in 0..n {
            let slot = self.keys.pick(rng);
            let state = &mut self.keys.slots[slot];
            if rng.gen_range(0..self.read_weight + self.write_weight) < self.read_weight {
                micro.push(json!(["r", state.name, null]));
                continue;
            }
            micro.push(json!([self.write, state.name, state.fresh_value()]));
            self.keys.spend(slot);
        }
        Invocation {
            f: "txn".into(),
            key: None,
            value: Value::Array(micro),
        }
    }

    fn final_reads(&self) -> Vec<Invocation> {
        self.keys
            .used
            .chunks(FINAL_READS_PER_TXN)
            .map(|keys| Invocation {
                f: "txn".into(),
                key: None,
                value: keys.iter().map(|k| json!(["r", k, null])).collect(),
            })
            .collect()
    }
}
