//! A multi-register: several named registers read and written together in one `txn`.
//!
//! A `txn` value is a list of micro-ops, `["read", k, v]` or `["write", k, v]` (`"r"`/`"w"`
//! are accepted too), applied in order as one atomic step. Register names come from the
//! history as they are (EDN keywords become strings: `[["read","x",0],["write","y",2]]`).
//!
//! ```text
//! process 0  |--txn [w x 1] [w y 1]--|
//! process 1        |--txn [r x 1] [r y 0]--|     <- sees half a transaction: invalid
//!                      registers: {x: absent, y: absent} -> {x: 1, y: 1}
//! ```
//!
//! Anomalies: a transaction that observed a combination of values no single point in time
//! held (fractured or stale reads). Reads inside crashed (`info`) transactions are unknown.
//! Reference: Knossos `knossos.model/multi-register`.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::values::States;
use super::{Model, ModelError, ModelKind, ModelOptions, Values};
use crate::history::{Op, Outcome};

/// One micro-op: register index and interned value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Micro {
    /// `None` observed nothing (a read in a crashed txn, or `null` under Knossos's rule).
    Read(u32, Option<u32>),
    Write(u32, u32),
}

/// The multi-register's step function: one value per register, the txn applied in order.
pub fn step(registers: &[u32], txn: &[Micro]) -> Option<Vec<u32>> {
    let mut next = registers.to_vec();
    for micro in txn {
        match *micro {
            Micro::Read(r, Some(v)) if next[r as usize] != v => return None,
            Micro::Read(..) => {}
            Micro::Write(r, v) => next[r as usize] = v,
        }
    }
    Some(next)
}

/// A multi-register compiled for one key.
#[derive(Clone, Debug)]
pub struct MultiKey {
    pub names: Vec<String>,
    pub values: Values,
    pub ops: Vec<Vec<Micro>>,
    states: States<Vec<u32>>,
    init: u32,
}

impl MultiKey {
    pub fn compile(options: &ModelOptions, ops: &[&Op]) -> Result<MultiKey, ModelError> {
        let mut values = Values::default();
        let initial = values.intern(&options.initial);
        let mut names: Vec<String> = Vec::new();
        let mut index: HashMap<String, u32> = HashMap::new();
        let mut compiled = Vec::with_capacity(ops.len());
        for op in ops {
            if op.f != "txn" {
                return Err(ModelError::unknown_f(op, ModelKind::MultiRegister));
            }
            let micros = op.value.as_array().ok_or_else(|| {
                ModelError::new(
                    op,
                    format!("a txn value must be a list of micro-ops, not {}", op.value),
                )
            })?;
            let mut txn = Vec::with_capacity(micros.len());
            for micro in micros {
                let Some([f, k, v]) = micro.as_array().map(Vec::as_slice) else {
                    return Err(ModelError::new(
                        op,
                        format!("a micro-op must be [f, key, value], not {micro}"),
                    ));
                };
                let name = match k {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let next = names.len() as u32;
                let r = *index.entry(name.clone()).or_insert_with(|| {
                    names.push(name);
                    next
                });
                txn.push(match f.as_str() {
                    Some("read" | "r") => match (&op.outcome, v) {
                        (Outcome::Ok, Value::Null) if options.nil_read_matches_any => {
                            Micro::Read(r, None)
                        }
                        (Outcome::Ok, v) => Micro::Read(r, Some(values.intern(v))),
                        _ => Micro::Read(r, None),
                    },
                    Some("write" | "w") => Micro::Write(r, values.intern(v)),
                    _ => {
                        return Err(ModelError::new(
                            op,
                            format!(
                                "unknown micro-op {f} (the multi-register knows read and write)"
                            ),
                        ))
                    }
                });
            }
            compiled.push(txn);
        }
        let mut states = States::default();
        let init = states.intern(vec![initial; names.len()]);
        Ok(MultiKey {
            names,
            values,
            ops: compiled,
            states,
            init,
        })
    }
}

impl Model for MultiKey {
    type Op = Vec<Micro>;

    fn ops(&self) -> &[Vec<Micro>] {
        &self.ops
    }

    fn init(&mut self) -> u32 {
        self.init
    }

    fn step(&mut self, state: u32, op: usize) -> Option<u32> {
        let txn = &self.ops[op];
        self.states.step(state, op, |regs| step(regs, txn))
    }

    fn state_value(&self, state: u32) -> Value {
        let regs = self.states.get(state);
        let map: Map<String, Value> = self
            .names
            .iter()
            .zip(regs)
            .map(|(name, &v)| (name.clone(), self.values.value(v).clone()))
            .collect();
        Value::Object(map)
    }

    fn noun(&self) -> &'static str {
        "registers"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_txn_reads_its_own_earlier_writes() {
        let txn = [Micro::Write(0, 5), Micro::Read(0, Some(5))];
        assert_eq!(step(&[0, 0], &txn), Some(vec![5, 0]));
    }

    #[test]
    fn a_txn_reading_a_value_not_held_cannot_happen() {
        let txn = [Micro::Read(0, Some(1)), Micro::Read(1, Some(0))];
        assert_eq!(step(&[1, 1], &txn), None);
        assert_eq!(step(&[1, 0], &txn), Some(vec![1, 0]));
    }
}
