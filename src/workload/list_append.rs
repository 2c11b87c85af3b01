//! `list-append`: Elle's transactions, `txn [["append", k, v], ["r", k, null], ...]`, of 1 to
//! `max_txn_length` micro-ops over a few active keys; a read returns the key's whole list.
//!
//! The checker infers each key's order of appends from the longest list read and finds
//! dependency cycles between transactions (Kingsbury and Alvaro, "Elle: Inferring Isolation
//! Anomalies from Experimental Observations", VLDB 2020). A key is retired after
//! `ops_per_key` appends (about 20 suits Elle): reads return whole lists, so a long-lived key
//! makes every read, and the history, grow with its length, and few appends per key leave
//! each key's version order short and the cycles between keys plentiful.
//!
//! The final reads read every key ever used, [`super::FINAL_READS_PER_TXN`] to a read-only
//! transaction.

use super::txn::Transactions;
use super::{Descriptor, WorkloadKind};

pub const LIST_APPEND: Descriptor = Descriptor {
    kind: WorkloadKind::ListAppend,
    about: "transactions of appends and whole-list reads (Elle)",
    fs: &["txn"],
    default_checker: "list-append",
    needs_final_reads: false,
    build: |spec| Box::new(Transactions::new(spec, "append")),
    checker_initial: |_| serde_json::Value::Null,
};

#[cfg(test)]
mod tests {
    use super::super::{Generator, Workload, FINAL_READS_PER_TXN};
    use super::*;
    use crate::client::Invocation;
    use crate::spec::WorkloadSpec;
    use serde_json::Value;
    use std::collections::{HashMap, HashSet};

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
        let mut w = Transactions::new(&list_append(3, 20), "append");
        let mut rng = rand::SeedableRng::seed_from_u64(2);
        for _ in 0..500 {
            let before: HashSet<String> = w.keys.active().map(String::from).collect();
            let op = w.next_op(&mut rng);
            let after: HashSet<String> = w.keys.active().map(String::from).collect();
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
        let mut w = Transactions::new(&list_append(3, 5), "append");
        let mut rng = rand::SeedableRng::seed_from_u64(4);
        for _ in 0..200 {
            w.next_op(&mut rng);
        }
        let reads = w.final_reads();
        let keys: Vec<String> = reads
            .iter()
            .flat_map(micro_ops)
            .map(|(f, k, _)| {
                assert_eq!(f, "r");
                k
            })
            .collect();
        assert_eq!(keys, w.keys.used);
        assert!(reads
            .iter()
            .all(|r| micro_ops(r).len() <= FINAL_READS_PER_TXN));
    }
}
