//! A set: `add v` inserts an element, `read` returns the whole set.
//!
//! ```text
//! process 0  |--add 1--|   |--add 2--|
//! process 1     |--read [1]--|     |--read [1 2]--|
//!                           set: {} -> {1} -> {1 2}
//! ```
//!
//! Anomalies: a read missing an element whose `add` completed before the read began (a lost
//! or stale element), or holding one nobody added. The order of a read's elements does not
//! matter and duplicates are ignored; an `ok` read of `null` is the empty set (or observes
//! nothing under Knossos's rule). Reference: Knossos `knossos.model/set`.

use serde_json::Value;

use super::values::States;
use super::{Model, ModelError, ModelKind, ModelOptions, Values};
use crate::history::{Op, Outcome};

/// A set operation over interned elements. A read holds the set it returned, sorted.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SetOp {
    Add(u32),
    /// `None` observed nothing (a crashed read, or `null` under Knossos's rule).
    Read(Option<Vec<u32>>),
}

/// The set's step function over a sorted list of elements.
pub fn step(set: &[u32], op: &SetOp) -> Option<Vec<u32>> {
    match op {
        SetOp::Add(x) => {
            let mut next = set.to_vec();
            if let Err(at) = next.binary_search(x) {
                next.insert(at, *x);
            }
            Some(next)
        }
        SetOp::Read(None) => Some(set.to_vec()),
        SetOp::Read(Some(seen)) => (seen.as_slice() == set).then(|| set.to_vec()),
    }
}

/// A set compiled for one key.
#[derive(Clone, Debug)]
pub struct SetKey {
    pub elements: Values,
    pub ops: Vec<SetOp>,
    states: States<Vec<u32>>,
    init: u32,
}

impl SetKey {
    pub fn compile(options: &ModelOptions, ops: &[&Op]) -> Result<SetKey, ModelError> {
        let mut elements = Values::default();
        let mut compiled = Vec::with_capacity(ops.len());
        for op in ops {
            compiled.push(match op.f.as_str() {
                "add" => SetOp::Add(elements.intern(&op.value)),
                "read" => match (&op.outcome, &op.value) {
                    (Outcome::Ok, Value::Null) if options.nil_read_matches_any => SetOp::Read(None),
                    (Outcome::Ok, v) => {
                        SetOp::Read(Some(as_elements(v, &mut elements).ok_or_else(|| {
                            ModelError::new(op, format!("a set read must return a list, not {v}"))
                        })?))
                    }
                    _ => SetOp::Read(None),
                },
                _ => return Err(ModelError::unknown_f(op, ModelKind::Set)),
            });
        }
        let mut states = States::default();
        let start = as_elements(&options.initial, &mut elements).unwrap_or_default();
        let init = states.intern(start);
        Ok(SetKey {
            elements,
            ops: compiled,
            states,
            init,
        })
    }
}

/// A list of values as sorted, deduplicated element ids; `null` is the empty set.
fn as_elements(value: &Value, elements: &mut Values) -> Option<Vec<u32>> {
    let mut ids: Vec<u32> = match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items.iter().map(|v| elements.intern(v)).collect(),
        _ => return None,
    };
    ids.sort_unstable();
    ids.dedup();
    Some(ids)
}

impl SetKey {
    /// The elements present at the start (ids into `elements`).
    pub fn initial_elements(&self) -> &[u32] {
        self.states.get(self.init)
    }
}

impl Model for SetKey {
    type Op = SetOp;

    fn ops(&self) -> &[SetOp] {
        &self.ops
    }

    fn init(&mut self) -> u32 {
        self.init
    }

    fn step(&mut self, state: u32, op: usize) -> Option<u32> {
        let op_ref = &self.ops[op];
        self.states.step(state, op, |set| step(set, op_ref))
    }

    fn state_value(&self, state: u32) -> Value {
        Value::Array(
            self.states
                .get(state)
                .iter()
                .map(|&e| self.elements.value(e).clone())
                .collect(),
        )
    }

    fn noun(&self) -> &'static str {
        "set"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_an_element_twice_keeps_one_copy() {
        let once = step(&[], &SetOp::Add(3)).unwrap();
        assert_eq!(step(&once, &SetOp::Add(3)).unwrap(), vec![3]);
    }

    #[test]
    fn a_read_must_return_exactly_the_elements_present() {
        assert!(step(&[1, 2], &SetOp::Read(Some(vec![1, 2]))).is_some());
        assert!(step(&[1, 2], &SetOp::Read(Some(vec![1]))).is_none());
        assert!(step(&[1], &SetOp::Read(Some(vec![1, 2]))).is_none());
        assert!(step(&[1], &SetOp::Read(None)).is_some());
    }
}
