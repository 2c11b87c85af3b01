//! The bank checker: clients transfer money between accounts and read every balance in one
//! snapshot; each snapshot must conserve the total and show no negative balance.
//!
//! Transfers move an amount from one account to another, so whatever order they take
//! effect in, a consistent snapshot (a transaction that reads all accounts) sums to the same
//! total. A read that sums to anything else saw part of a transfer: a read skew or a lost
//! update, the classic symptom of isolation weaker than snapshot isolation.
//!
//! ```text
//!  transfer 0→1 5   |---------ok---------|
//!  read                  |--{0: 5, 1: 10}--|    total 15, not 20: wrong-total
//! ```
//!
//! Operations: `transfer` with `{"from": a, "to": b, "amount": n}` (only counted), and
//! `read` whose `ok` value is a map of account to balance. Reported anomalies (Jepsen's
//! names): `wrong-total`, `negative-value` (unless negative balances are allowed),
//! `nil-balance` (an account read as null), `unexpected-key` (an account that does not exist,
//! when the accounts are known). Amounts and balances are integers by
//! [`crate::history::integer`]'s rule (numbers written as strings too).
//!
//! The expected total comes from the options: a number, or the initial balances (which also
//! fix the accounts). Without either, the total that most reads agree on is taken (and said
//! so in the result); if no two reads agree the checker cannot tell and answers unknown.
//! Keys are checked independently. Complexity: O(n·a) for n reads of a accounts.
//! Reference: Jepsen, `jepsen.tests.bank` (jepsen-io/jepsen).

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};

use crate::history::{integer, History, Op, Outcome};
use crate::verdict::{Anomaly, Budget, CheckResult, Checker, OpRef, Verdict, MAX_ANOMALIES};

/// The bank checker; see the module docs.
#[derive(Clone, Debug, Default)]
pub struct Bank {
    /// The total every read must sum to; `None` infers it from the reads.
    pub total: Option<i128>,
    /// The accounts that exist; `None` accepts any.
    pub accounts: Option<Vec<String>>,
    /// Whether a balance may go below zero (stores that allow overdrafts).
    pub allow_negative: bool,
}

impl Bank {
    /// Options from `--initial-value`: a number is the total; a map of account to balance
    /// gives the accounts and their sum; `null` infers the total.
    pub fn from_initial(initial: &Value, allow_negative: bool) -> Result<Bank, String> {
        let mut bank = Bank {
            allow_negative,
            ..Bank::default()
        };
        match initial {
            Value::Null => {}
            Value::Object(balances) => {
                let mut total = 0i128;
                for (account, balance) in balances {
                    total += integer(balance).ok_or_else(|| {
                        format!(
                            "the initial balance of account {account} is {balance}, not an integer"
                        )
                    })?;
                }
                bank.total = Some(total);
                bank.accounts = Some(balances.keys().cloned().collect());
            }
            v => {
                bank.total = Some(integer(v).ok_or_else(|| {
                    format!("a bank's initial value is a total or a map of balances, not {v}")
                })?);
            }
        }
        Ok(bank)
    }
}

impl Checker for Bank {
    fn name(&self) -> &str {
        "bank"
    }

    fn check(&self, history: &History, _budget: &Budget) -> CheckResult {
        let mut anomalies = Vec::new();
        let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
        let mut reads_total = 0usize;
        let mut notes = Vec::new();
        for (key, ops) in history.ops_by_key() {
            let reads = match snapshots(&ops) {
                Ok(r) => r,
                Err(why) => return CheckResult::unknown(self.name(), why),
            };
            reads_total += reads.len();
            let total = match self.total {
                Some(t) => t,
                None => match inferred_total(&reads) {
                    Some((t, agreeing)) => {
                        notes.push(format!(
                            "expected total {t}{}, inferred from {agreeing} of {} reads",
                            key.map(|k| format!(" for key {k}")).unwrap_or_default(),
                            reads.len()
                        ));
                        t
                    }
                    None if reads.len() <= 1 => continue,
                    None => {
                        return CheckResult::unknown(
                            self.name(),
                            "no two reads agree on the total; give it with --initial-value",
                        )
                    }
                },
            };
            for read in &reads {
                for (kind, explanation) in self.judge(read, total) {
                    *counts.entry(kind).or_default() += 1;
                    if anomalies.len() < MAX_ANOMALIES {
                        let on = key.map(|k| format!("key {k}: ")).unwrap_or_default();
                        anomalies.push(Anomaly {
                            kind: kind.into(),
                            explanation: format!(
                                "{on}the read at line {} {explanation}",
                                read.line
                            ),
                            data: json!({"key": key, "line": read.line, "balances": read.raw}),
                            ops: vec![OpRef::id(read.op)],
                        });
                    }
                }
            }
        }
        let bad: usize = counts.values().sum();
        let transfers = history.ops.iter().filter(|o| o.f == "transfer").count();
        let mut summary = if bad == 0 {
            format!("{reads_total} read(s) conserve the total ({transfers} transfer(s))")
        } else {
            let list: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
            format!("{} over {reads_total} read(s)", list.join(", "))
        };
        if !notes.is_empty() {
            summary.push_str(&format!("; {}", notes.join("; ")));
        }
        CheckResult {
            checker: self.name().to_string(),
            verdict: if bad > 0 {
                Verdict::Invalid
            } else {
                Verdict::Valid
            },
            summary,
            anomalies,
            details: json!({"reads": reads_total, "transfers": transfers, "anomalies": counts}),
            warnings: Vec::new(),
            duration_ms: None,
        }
    }
}

struct Snapshot<'a> {
    op: usize,
    line: usize,
    raw: &'a Value,
    balances: Vec<(&'a str, Option<i128>)>,
}

impl Bank {
    fn judge(&self, read: &Snapshot, total: i128) -> Vec<(&'static str, String)> {
        let mut found = Vec::new();
        let mut sum = 0i128;
        for &(account, balance) in &read.balances {
            match balance {
                None => found.push((
                    "nil-balance",
                    format!("has no balance for account {account}"),
                )),
                Some(b) => {
                    sum += b;
                    if b < 0 && !self.allow_negative {
                        found.push((
                            "negative-value",
                            format!("shows account {account} at {b}, below zero"),
                        ));
                    }
                }
            }
            if let Some(accounts) = &self.accounts {
                if !accounts.iter().any(|a| a == account) {
                    found.push((
                        "unexpected-key",
                        format!("shows account {account}, which does not exist"),
                    ));
                }
            }
        }
        if sum != total && !read.balances.iter().any(|(_, b)| b.is_none()) {
            found.push(("wrong-total", format!("sums to {sum}, not {total}")));
        }
        found
    }
}

fn snapshots<'a>(ops: &[&'a Op]) -> Result<Vec<Snapshot<'a>>, String> {
    let mut reads = Vec::new();
    for op in ops {
        if op.f != "read" || op.outcome != Outcome::Ok {
            continue;
        }
        let Value::Object(map) = &op.value else {
            return Err(format!(
                "the read at line {} returned {}, not a map of account to balance",
                op.line, op.value
            ));
        };
        let mut balances = Vec::with_capacity(map.len());
        for (account, balance) in map {
            let b = match balance {
                Value::Null => None,
                v => Some(integer(v).ok_or_else(|| {
                    format!(
                        "the read at line {} shows account {account} at {v}, not an integer",
                        op.line
                    )
                })?),
            };
            balances.push((account.as_str(), b));
        }
        reads.push(Snapshot {
            op: op.id,
            line: op.line,
            raw: &op.value,
            balances,
        });
    }
    Ok(reads)
}

/// The total most complete reads agree on (ties go to the earliest), and how many agree;
/// `None` unless at least two do.
fn inferred_total(reads: &[Snapshot]) -> Option<(i128, usize)> {
    let mut tally: HashMap<i128, (usize, usize)> = HashMap::new();
    for (i, r) in reads.iter().enumerate() {
        if r.balances.iter().any(|(_, b)| b.is_none()) {
            continue;
        }
        let sum = r.balances.iter().filter_map(|(_, b)| *b).sum();
        tally.entry(sum).or_insert((0, i)).0 += 1;
    }
    let (total, (agreeing, _)) = tally
        .into_iter()
        .max_by_key(|(_, (count, first))| (*count, std::cmp::Reverse(*first)))?;
    (agreeing >= 2).then_some((total, agreeing))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Event, Process};

    fn history(reads: &[Value]) -> History {
        let mut events = vec![ev(
            9,
            "invoke",
            "transfer",
            json!({"from": 0, "to": 1, "amount": 5}),
        )];
        for (i, r) in reads.iter().enumerate() {
            events.push(ev(i as u64, "invoke", "read", Value::Null));
            events.push(ev(i as u64, "ok", "read", r.clone()));
        }
        History::from_events(events).unwrap()
    }

    fn ev(p: u64, t: &str, f: &str, v: Value) -> Event {
        Event {
            index: 0,
            time: None,
            process: Process::Client(p),
            kind: serde_json::from_value(json!(t)).unwrap(),
            f: f.to_string(),
            key: None,
            value: v,
            node: None,
            error: None,
            response: None,
        }
    }

    #[test]
    fn accepts_reads_that_conserve_the_total() {
        let h = history(&[json!({"0": 10, "1": 10}), json!({"0": 5, "1": 15})]);
        let bank = Bank::from_initial(&json!({"0": 10, "1": 10}), false).unwrap();
        let r = bank.check(&h, &Budget::default());
        assert_eq!(r.verdict, Verdict::Valid, "{r:?}");
    }

    #[test]
    fn identifies_a_read_that_saw_half_a_transfer() {
        let h = history(&[json!({"0": 10, "1": 10}), json!({"0": 5, "1": 10})]);
        let r = Bank::from_initial(&json!(20), false)
            .unwrap()
            .check(&h, &Budget::default());
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!(r.anomalies[0].kind, "wrong-total");
        assert!(r.anomalies[0].explanation.contains("sums to 15, not 20"));
    }

    #[test]
    fn infers_the_total_from_the_reads_that_agree() {
        let h = history(&[
            json!({"0": 10, "1": 10}),
            json!({"0": 5, "1": 15}),
            json!({"0": 5, "1": 10}),
        ]);
        let r = Bank::default().check(&h, &Budget::default());
        assert_eq!(r.verdict, Verdict::Invalid);
        assert!(r.summary.contains("inferred from 2 of 3"), "{}", r.summary);
    }

    #[test]
    fn identifies_negative_balances_unless_allowed() {
        let h = history(&[json!({"0": -5, "1": 25})]);
        let r = Bank::from_initial(&json!(20), false)
            .unwrap()
            .check(&h, &Budget::default());
        assert_eq!(r.anomalies[0].kind, "negative-value");
        let ok = Bank::from_initial(&json!(20), true)
            .unwrap()
            .check(&h, &Budget::default());
        assert_eq!(ok.verdict, Verdict::Valid);
    }

    #[test]
    fn identifies_unknown_accounts_and_missing_balances() {
        let h = history(&[json!({"0": 20, "7": 0}), json!({"0": null, "1": 20})]);
        let bank = Bank::from_initial(&json!({"0": 10, "1": 10}), false).unwrap();
        let r = bank.check(&h, &Budget::default());
        let kinds: Vec<&str> = r.anomalies.iter().map(|a| a.kind.as_str()).collect();
        assert_eq!(kinds, ["unexpected-key", "nil-balance"]);
    }
}
