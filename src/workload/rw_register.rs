//! `rw-register`: Elle's read/write-register transactions, `txn [["w", k, v], ["r", k, null],
//! ...]`, of 1 to `max_txn_length` micro-ops over a few active keys.
//!
//! Every value written to a key is unique for that key (1, 2, 3, ...), so a read names the
//! write it saw; a read returns one value, not the history behind it, so the checker infers
//! only part of each key's version order (the initial state first, writes after the reads
//! their transaction made of the key) and looks for dependency cycles and for anomalies that
//! need none: aborted or intermediate reads, lost updates (Kingsbury and Alvaro, "Elle:
//! Inferring Isolation Anomalies from Experimental Observations", VLDB 2020). A key is
//! retired after `ops_per_key` writes, so each key's version order stays short and cycles
//! between keys plentiful; after the heal every key ever used is read again, in read-only
//! transactions of [`super::FINAL_READS_PER_TXN`] keys.

use serde_json::Value;

use super::txn::Transactions;
use super::{Descriptor, WorkloadKind};

pub const RW_REGISTER: Descriptor = Descriptor {
    kind: WorkloadKind::RwRegister,
    about: "transactions of register reads and writes (Elle)",
    fs: &["txn"],
    default_checker: "rw-register",
    needs_final_reads: false,
    build: |spec| Box::new(Transactions::new(spec, "w")),
    checker_initial: |_| Value::Null,
};

#[cfg(test)]
mod tests {
    use super::super::Generator;
    use crate::spec::WorkloadSpec;
    use serde_json::Value;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn writes_are_unique_per_key_and_transactions_mix_reads_and_writes() {
        let spec: WorkloadSpec = toml::from_str(
            "name = \"rw-register\"\nkeys = 3\nops_per_key = 10\nread_weight = 1\nwrite_weight = 1",
        )
        .unwrap();
        let mut g = Generator::new(&spec, 5);
        let mut written: HashMap<String, Vec<i64>> = HashMap::new();
        let (mut reads, mut lengths) = (0, HashSet::new());
        for _ in 0..2000 {
            let op = g.next_op();
            let micro = op.value.as_array().unwrap();
            lengths.insert(micro.len());
            for m in micro {
                let k = m[1].as_str().unwrap().to_string();
                match m[0].as_str().unwrap() {
                    "r" => {
                        assert_eq!(m[2], Value::Null);
                        reads += 1;
                    }
                    "w" => written.entry(k).or_default().push(m[2].as_i64().unwrap()),
                    other => panic!("rw-register issued micro-op {other}"),
                }
            }
        }
        assert_eq!(lengths, HashSet::from([1, 2, 3, 4]));
        assert!(reads > 1000, "{reads} reads");
        for (k, vs) in &written {
            let unique: HashSet<_> = vs.iter().collect();
            assert_eq!(unique.len(), vs.len(), "{k} got a value twice");
            assert!(vs.len() <= 10, "{k} outlived its 10 writes");
        }
        assert!(written.len() > 100, "keys do rotate: {}", written.len());
        let finals: usize = g
            .final_reads()
            .iter()
            .map(|r| r.value.as_array().unwrap().len())
            .sum();
        assert!(
            finals >= written.len(),
            "every written key is read at the end"
        );
    }
}
