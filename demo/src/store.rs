//! The replicated state machine: a map from keys to JSON values, the operations clients ask
//! for, and the log entries that change the map.
//!
//! Operations are *executed* against the current map (a read returns a value, a
//! compare-and-set compares, a transaction fills in its reads) and produce the list of
//! [`Change`]s they made. Those changes — never the operations — are what the primary logs
//! and replicates: replaying the log on a follower or after a restart is then deterministic
//! and needs no knowledge of how a change came about.
//!
//! Keys are strings on the wire; a transaction may name a key by a JSON number (Elle's
//! list-append workload does), which is turned into its decimal text.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One state change. The log is a sequence of entries, each holding the changes of one
/// operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Change {
    /// Sets `key` to `value`.
    Put { key: String, value: Value },
    /// Appends `value` to the list at `key` (an absent key is the empty list).
    Append { key: String, value: Value },
}

/// One entry of the replicated log: its position (0-based) and the changes of one operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub index: u64,
    pub changes: Vec<Change>,
}

/// A micro-operation of a transaction, as Elle writes them: `["r", k, null]`,
/// `["w", k, v]`, `["append", k, v]`; and `["add", k, n]`, which adds the integer `n` to the
/// integer at `k` (absent, or not an integer: 0).
#[derive(Clone, Debug, PartialEq)]
pub struct MicroOp {
    pub f: MicroF,
    /// The key as the client wrote it, echoed back unchanged.
    pub key_json: Value,
    pub key: String,
    pub value: Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MicroF {
    Read,
    Write,
    Append,
    Add,
}

/// An operation a client asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Read {
        key: String,
    },
    Write {
        key: String,
        value: Value,
    },
    Cas {
        key: String,
        expected: Value,
        new: Value,
    },
    Txn {
        ops: Vec<MicroOp>,
    },
    /// Sets several keys at once (`PUT /kv`); also the second half of the lost-updates
    /// mode's read-then-write operations.
    PutAll {
        values: Vec<(String, Value)>,
    },
    /// Reads several keys at once, answering a map of key to value.
    ReadMany {
        keys: Vec<String>,
    },
    /// Moves `amount` from the integer at `from` to the one at `to` (absent: 0); refused,
    /// changing nothing, when `from` holds less than `amount`.
    Transfer {
        from: String,
        to: String,
        amount: i64,
    },
    /// Adds one to the integer at `key` (absent: 0) and answers the new value: an id no
    /// other call of this operation on `key` receives.
    NextId {
        key: String,
    },
    /// Changes nothing and answers nothing; used to ask "could this operation commit now?".
    Barrier,
}

impl Op {
    /// Whether the operation can change the state. Read-only operations have no effect, so a
    /// failure to serve them is a definite failure, never an ambiguous one.
    pub fn is_read_only(&self) -> bool {
        match self {
            Op::Read { .. } | Op::ReadMany { .. } | Op::Barrier => true,
            Op::Txn { ops } => ops.iter().all(|m| m.f == MicroF::Read),
            Op::Write { .. }
            | Op::Cas { .. }
            | Op::PutAll { .. }
            | Op::Transfer { .. }
            | Op::NextId { .. } => false,
        }
    }
}

/// What an executed operation answers.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The operation happened; the value read (reads), the value written (writes and CAS),
    /// or the transaction with its reads filled in.
    Done(Value),
    /// A compare-and-set found another value, or a transfer found too little in its source
    /// account (`current` is that balance): it did not happen.
    Mismatch { current: Value },
}

/// The key-value map.
#[derive(Debug, Default)]
pub struct State {
    map: HashMap<String, Value>,
}

impl State {
    pub fn get(&self, key: &str) -> Value {
        self.map.get(key).cloned().unwrap_or(Value::Null)
    }

    /// The integer at `key`; an absent key, or one holding anything else, counts as 0.
    pub fn get_int(&self, key: &str) -> i64 {
        self.map.get(key).and_then(Value::as_i64).unwrap_or(0)
    }

    pub fn apply(&mut self, change: &Change) {
        match change {
            Change::Put { key, value } => {
                self.map.insert(key.clone(), value.clone());
            }
            Change::Append { key, value } => {
                let slot = self.map.entry(key.clone()).or_insert(Value::Null);
                match slot {
                    Value::Array(list) => list.push(value.clone()),
                    // Appending to an absent key, or to a key holding a scalar written by a
                    // register operation, starts a fresh list: the workloads never mix the two
                    // on one key, and a list read must always return a list.
                    other => *other = Value::Array(vec![value.clone()]),
                }
            }
        }
    }

    /// Executes `op` against the map, applies its changes, and returns what to answer and the
    /// changes to log (empty when the operation changed nothing).
    pub fn execute(&mut self, op: &Op) -> (Outcome, Vec<Change>) {
        let changes = match op {
            Op::Read { key } => return (Outcome::Done(self.get(key)), Vec::new()),
            Op::ReadMany { keys } => {
                let map = keys.iter().map(|k| (k.clone(), self.get(k))).collect();
                return (Outcome::Done(Value::Object(map)), Vec::new());
            }
            Op::Transfer { from, to, amount } => {
                let current = self.get_int(from);
                if current < *amount {
                    return (
                        Outcome::Mismatch {
                            current: Value::from(current),
                        },
                        Vec::new(),
                    );
                }
                let mut changes = vec![Change::Put {
                    key: from.clone(),
                    value: Value::from(current - amount),
                }];
                self.apply(&changes[0]);
                // Read after the first change, so a transfer to itself changes nothing.
                changes.push(Change::Put {
                    key: to.clone(),
                    value: Value::from(self.get_int(to).wrapping_add(*amount)),
                });
                self.apply(&changes[1]);
                return (Outcome::Done(op.transfer_value()), changes);
            }
            Op::NextId { key } => {
                let id = Value::from(self.get_int(key).wrapping_add(1));
                let change = Change::Put {
                    key: key.clone(),
                    value: id.clone(),
                };
                self.apply(&change);
                return (Outcome::Done(id), vec![change]);
            }
            Op::Barrier => return (Outcome::Done(Value::Null), Vec::new()),
            Op::Write { key, value } => vec![Change::Put {
                key: key.clone(),
                value: value.clone(),
            }],
            Op::Cas { key, expected, new } => {
                let current = self.get(key);
                if &current != expected {
                    return (Outcome::Mismatch { current }, Vec::new());
                }
                vec![Change::Put {
                    key: key.clone(),
                    value: new.clone(),
                }]
            }
            Op::PutAll { values } => values
                .iter()
                .map(|(key, value)| Change::Put {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
            Op::Txn { ops } => {
                let mut filled = Vec::with_capacity(ops.len());
                let mut changes = Vec::new();
                for m in ops {
                    let value = match m.f {
                        MicroF::Read => self.get(&m.key),
                        MicroF::Write | MicroF::Append | MicroF::Add => {
                            let change = match m.f {
                                MicroF::Write => Change::Put {
                                    key: m.key.clone(),
                                    value: m.value.clone(),
                                },
                                MicroF::Add => Change::Put {
                                    key: m.key.clone(),
                                    value: Value::from(
                                        self.get_int(&m.key)
                                            .wrapping_add(m.value.as_i64().unwrap_or(0)),
                                    ),
                                },
                                _ => Change::Append {
                                    key: m.key.clone(),
                                    value: m.value.clone(),
                                },
                            };
                            // Later micro-ops of the same transaction see this one.
                            self.apply(&change);
                            changes.push(change);
                            m.value.clone()
                        }
                    };
                    filled.push(m.render(value));
                }
                return (Outcome::Done(Value::Array(filled)), changes);
            }
        };
        for change in &changes {
            self.apply(change);
        }
        let written = match op {
            Op::Write { value, .. } => value.clone(),
            Op::Cas { new, .. } => new.clone(),
            Op::PutAll { values } => Value::Object(values.iter().cloned().collect()),
            _ => Value::Null,
        };
        (Outcome::Done(written), changes)
    }
}

impl Op {
    /// A transfer as the history writes it: `{"from": a, "to": b, "amount": n}`.
    pub fn transfer_value(&self) -> Value {
        match self {
            Op::Transfer { from, to, amount } => {
                serde_json::json!({"from": from, "to": to, "amount": amount})
            }
            _ => Value::Null,
        }
    }
}

impl MicroOp {
    /// The micro-op as JSON with `value` in its third place.
    pub fn render(&self, value: Value) -> Value {
        let f = match self.f {
            MicroF::Read => "r",
            MicroF::Write => "w",
            MicroF::Append => "append",
            MicroF::Add => "add",
        };
        Value::Array(vec![Value::from(f), self.key_json.clone(), value])
    }
}

/// Turns a JSON key (string or number) into the map's key.
pub fn key_of(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(format!("a key must be a string or a number, not {other}")),
    }
}

/// Parses a transaction: either a bare list of micro-ops or `{"txn": [...]}`.
pub fn parse_txn(body: &Value) -> Result<Vec<MicroOp>, String> {
    let list = match body {
        Value::Array(list) => list,
        Value::Object(map) => match map.get("txn").or_else(|| map.get("value")) {
            Some(Value::Array(list)) => list,
            _ => return Err("expected {\"txn\": [[f, key, value], ...]}".into()),
        },
        _ => return Err("a transaction is a JSON list of micro-ops".into()),
    };
    list.iter()
        .enumerate()
        .map(|(i, m)| parse_micro(m).map_err(|e| format!("micro-op {i}: {e}")))
        .collect()
}

fn parse_micro(m: &Value) -> Result<MicroOp, String> {
    let parts = m
        .as_array()
        .filter(|p| p.len() == 3)
        .ok_or("expected [f, key, value]")?;
    let f = match parts[0].as_str() {
        Some("r") => MicroF::Read,
        Some("w") => MicroF::Write,
        Some("append") => MicroF::Append,
        Some("add") => MicroF::Add,
        _ => {
            return Err(format!(
                "unknown function {}; use r, w, append or add",
                parts[0]
            ))
        }
    };
    if f == MicroF::Add && parts[2].as_i64().is_none() {
        return Err(format!("add needs an integer, not {}", parts[2]));
    }
    Ok(MicroOp {
        f,
        key_json: parts[1].clone(),
        key: key_of(&parts[1])?,
        value: parts[2].clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn transaction_reads_see_earlier_appends_of_the_same_transaction() {
        let mut state = State::default();
        let ops = parse_txn(&json!([
            ["append", 1, 5],
            ["r", 1, null],
            ["append", "1", 6]
        ]))
        .expect("valid txn");
        let (outcome, changes) = state.execute(&Op::Txn { ops });
        assert_eq!(
            outcome,
            Outcome::Done(json!([["append", 1, 5], ["r", 1, [5]], ["append", "1", 6]]))
        );
        assert_eq!(changes.len(), 2);
        assert_eq!(state.get("1"), json!([5, 6]));
    }

    #[test]
    fn compare_and_set_with_a_wrong_expectation_changes_nothing() {
        let mut state = State::default();
        state.execute(&Op::Write {
            key: "k".into(),
            value: json!(1),
        });
        let (outcome, changes) = state.execute(&Op::Cas {
            key: "k".into(),
            expected: json!(2),
            new: json!(3),
        });
        assert_eq!(outcome, Outcome::Mismatch { current: json!(1) });
        assert!(changes.is_empty());
        assert_eq!(state.get("k"), json!(1));
    }

    #[test]
    fn replaying_the_changes_rebuilds_the_same_map() {
        let mut primary = State::default();
        let mut log = Vec::new();
        for op in [
            Op::Write {
                key: "a".into(),
                value: json!(1),
            },
            Op::Txn {
                ops: parse_txn(&json!([["append", "b", 1], ["append", "b", 2]])).unwrap(),
            },
            Op::Cas {
                key: "a".into(),
                expected: json!(1),
                new: json!(7),
            },
        ] {
            log.extend(primary.execute(&op).1);
        }
        let mut replica = State::default();
        log.iter().for_each(|c| replica.apply(c));
        assert_eq!(replica.get("a"), json!(7));
        assert_eq!(replica.get("b"), json!([1, 2]));
        assert_eq!(replica.map, primary.map);
    }

    #[test]
    fn adds_sum_up_and_a_transfer_that_would_overdraw_changes_nothing() {
        let mut state = State::default();
        let ops = parse_txn(&json!([["add", "c", 3], ["add", "c", 4], ["r", "c", null]])).unwrap();
        let (outcome, _) = state.execute(&Op::Txn { ops });
        assert_eq!(
            outcome,
            Outcome::Done(json!([["add", "c", 3], ["add", "c", 4], ["r", "c", 7]]))
        );
        let transfer = |amount| Op::Transfer {
            from: "c".into(),
            to: "d".into(),
            amount,
        };
        let (outcome, changes) = state.execute(&transfer(8));
        assert_eq!(outcome, Outcome::Mismatch { current: json!(7) });
        assert!(changes.is_empty());
        state.execute(&transfer(5));
        let (read, _) = state.execute(&Op::ReadMany {
            keys: vec!["c".into(), "d".into()],
        });
        assert_eq!(read, Outcome::Done(json!({"c": 2, "d": 5})));
    }

    #[test]
    fn every_new_id_differs_from_the_last() {
        let mut state = State::default();
        let next = |s: &mut State| s.execute(&Op::NextId { key: "ids".into() }).0;
        assert_eq!(next(&mut state), Outcome::Done(json!(1)));
        assert_eq!(next(&mut state), Outcome::Done(json!(2)));
    }

    #[test]
    fn malformed_micro_ops_are_rejected_with_their_position() {
        let err = parse_txn(&json!([["r", "k", null], ["incr", "k", 1]])).unwrap_err();
        assert!(err.contains("micro-op 1"), "{err}");
    }
}
