//! `bank`: transfers between a fixed set of accounts, and reads of every balance at once.
//!
//! The accounts (`keys` of them, `a0`, `a1`, ...) each start with `initial_balance`, set by
//! one `init` before the main phase (`{"a0": 10, "a1": 10, ...}`). A `transfer`
//! (`{"from": "a2", "to": "a0", "amount": 3}`, 1 to `max_transfer`) moves money between two
//! distinct accounts in one transaction, and the store must refuse one that would overdraw
//! its source; a `read` (invoked with the list of accounts) returns the map of account to
//! balance. Money is neither made nor destroyed, so every read sums to the initial total
//! and shows no negative balance: the `bank` checker (Jepsen's bank test) reports a read
//! that does not as `wrong-total` or `negative-value`, the mark of a lost update or a read
//! that saw half a transfer.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Map, Value};

use super::{Descriptor, Workload, WorkloadKind};
use crate::client::Invocation;
use crate::spec::WorkloadSpec;

pub const BANK: Descriptor = Descriptor {
    kind: WorkloadKind::Bank,
    about: "transfers between accounts and reads of every balance (total conserved)",
    fs: &["init", "transfer", "read"],
    default_checker: "bank",
    needs_final_reads: false,
    build: |spec| Box::new(Bank::new(spec)),
    checker_initial: |spec| Value::Object(Bank::new(spec).balances()),
};

struct Bank {
    accounts: Vec<String>,
    initial_balance: i64,
    max_transfer: i64,
    read_weight: u32,
    transfer_weight: u32,
}

impl Bank {
    fn new(spec: &WorkloadSpec) -> Bank {
        Bank {
            accounts: (0..spec.keys).map(|i| format!("a{i}")).collect(),
            initial_balance: spec.initial_balance,
            max_transfer: spec.max_transfer.max(1),
            read_weight: spec.read_weight,
            transfer_weight: spec.write_weight,
        }
    }

    /// Every account with its initial balance.
    fn balances(&self) -> Map<String, Value> {
        self.accounts
            .iter()
            .map(|a| (a.clone(), json!(self.initial_balance)))
            .collect()
    }

    fn read(&self) -> Invocation {
        Invocation {
            f: "read".into(),
            key: None,
            value: json!(self.accounts),
        }
    }
}

impl Workload for Bank {
    fn setup_ops(&self) -> Vec<Invocation> {
        vec![Invocation {
            f: "init".into(),
            key: None,
            value: Value::Object(self.balances()),
        }]
    }

    /// A read of every balance (by `read_weight`) or a transfer (by `write_weight`) of 1 to
    /// `max_transfer` between two distinct accounts.
    fn next_op(&mut self, rng: &mut ChaCha8Rng) -> Invocation {
        let n = self.accounts.len();
        if n < 2 || rng.gen_range(0..self.read_weight + self.transfer_weight) < self.read_weight {
            return self.read();
        }
        let from = rng.gen_range(0..n);
        let to = (from + rng.gen_range(1..n)) % n;
        Invocation {
            f: "transfer".into(),
            key: None,
            value: json!({
                "from": self.accounts[from],
                "to": self.accounts[to],
                "amount": rng.gen_range(1..=self.max_transfer),
            }),
        }
    }

    fn final_reads(&self) -> Vec<Invocation> {
        vec![self.read()]
    }
}

#[cfg(test)]
mod tests {
    use super::super::Generator;
    use super::*;

    fn bank() -> WorkloadSpec {
        toml::from_str("name = \"bank\"\nkeys = 4\ninitial_balance = 20\nmax_transfer = 3").unwrap()
    }

    #[test]
    fn transfers_move_one_to_max_transfer_between_two_distinct_known_accounts() {
        let mut g = Generator::new(&bank(), 11);
        let accounts = ["a0", "a1", "a2", "a3"];
        let (mut reads, mut transfers) = (0, 0);
        let mut amounts = std::collections::BTreeSet::new();
        for _ in 0..1000 {
            let op = g.next_op();
            match op.f.as_str() {
                "read" => {
                    assert_eq!(op.value, json!(accounts));
                    reads += 1;
                }
                "transfer" => {
                    let (from, to) = (&op.value["from"], &op.value["to"]);
                    assert_ne!(from, to);
                    assert!(accounts.contains(&from.as_str().unwrap()), "{from}");
                    assert!(accounts.contains(&to.as_str().unwrap()), "{to}");
                    amounts.insert(op.value["amount"].as_i64().unwrap());
                    transfers += 1;
                }
                other => panic!("a bank's main phase issued {other}"),
            }
        }
        assert_eq!(amounts.into_iter().collect::<Vec<_>>(), [1, 2, 3]);
        // read_weight 2, write_weight 1 by default.
        assert!(reads > 550 && transfers > 250, "{reads} reads, {transfers}");
    }

    #[test]
    fn the_setup_gives_every_account_its_initial_balance_and_the_checker_the_same() {
        let g = Generator::new(&bank(), 1);
        let init = g.setup_ops();
        assert_eq!(init.len(), 1);
        assert_eq!(init[0].f, "init");
        let balances = json!({"a0": 20, "a1": 20, "a2": 20, "a3": 20});
        assert_eq!(init[0].value, balances);
        assert_eq!((BANK.checker_initial)(&bank()), balances);
    }
}
