//! Registers: `register` (read, write) and `cas-register` (read, write, compare-and-set).
//!
//! A register holds one value; `null` means absent. A `read` returns the value, a
//! `write v` replaces it, a `cas [e, n]` replaces it with `n` only if it holds `e`. A `cas`
//! that did not match is recorded as `fail` and never reaches the model.
//!
//! ```text
//! process 0  |--write 1--|          |--cas [1,2]--|
//! process 1        |--read 1--|            |----read 2----|
//!                                                   register: absent -> 1 -> 2
//! ```
//!
//! Anomalies: a read of a value the register could not hold at any point of the read
//! (a stale read, a read of a value never written, a lost write) or a `cas` whose expected
//! value was not there. Reference: Herlihy & Wing, "Linearizability: a correctness
//! condition for concurrent objects" (1990), whose running example is a register.

use serde_json::Value;

use super::{Model, ModelError, ModelKind, ModelOptions, Values};
use crate::history::{Op, Outcome};

/// A register operation over interned values (0 is `null`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegisterOp {
    /// A read that returned the value; `None` observed nothing (a crashed read, or a `null`
    /// read under Knossos's rule) and matches any state.
    Read(Option<u32>),
    Write(u32),
    Cas(u32, u32),
}

/// The register's step function.
pub fn step(state: u32, op: RegisterOp) -> Option<u32> {
    match op {
        RegisterOp::Read(None) => Some(state),
        RegisterOp::Read(Some(v)) => (v == state).then_some(state),
        RegisterOp::Write(v) => Some(v),
        RegisterOp::Cas(expected, new) => (expected == state).then_some(new),
    }
}

/// A register compiled for one key: values interned, ops in the order given.
#[derive(Clone, Debug)]
pub struct RegisterKey {
    pub values: Values,
    pub ops: Vec<RegisterOp>,
    pub init: u32,
    pub cas: bool,
}

impl RegisterKey {
    /// Compiles `ok` and `info` ops; `cas` allows compare-and-set.
    pub fn compile(
        options: &ModelOptions,
        ops: &[&Op],
        cas: bool,
    ) -> Result<RegisterKey, ModelError> {
        let mut values = Values::default();
        let init = values.intern(&options.initial);
        let kind = if cas {
            ModelKind::CasRegister
        } else {
            ModelKind::Register
        };
        let compiled = ops
            .iter()
            .map(|op| compile_op(op, options, &mut values, kind))
            .collect::<Result<_, _>>()?;
        Ok(RegisterKey {
            values,
            ops: compiled,
            init,
            cas,
        })
    }
}

fn compile_op(
    op: &Op,
    options: &ModelOptions,
    values: &mut Values,
    kind: ModelKind,
) -> Result<RegisterOp, ModelError> {
    Ok(match op.f.as_str() {
        "read" => match (&op.outcome, &op.value) {
            (Outcome::Ok, Value::Null) if options.nil_read_matches_any => RegisterOp::Read(None),
            (Outcome::Ok, v) => RegisterOp::Read(Some(values.intern(v))),
            _ => RegisterOp::Read(None),
        },
        "write" => RegisterOp::Write(values.intern(&op.value)),
        "cas" if kind == ModelKind::CasRegister => match op.value.as_array().map(Vec::as_slice) {
            Some([expected, new]) => RegisterOp::Cas(values.intern(expected), values.intern(new)),
            _ => {
                return Err(ModelError::new(
                    op,
                    format!("a cas value must be [expected, new], not {}", op.value),
                ))
            }
        },
        _ => return Err(ModelError::unknown_f(op, kind)),
    })
}

impl Model for RegisterKey {
    type Op = RegisterOp;

    fn ops(&self) -> &[RegisterOp] {
        &self.ops
    }

    fn init(&mut self) -> u32 {
        self.init
    }

    #[inline]
    fn step(&mut self, state: u32, op: usize) -> Option<u32> {
        step(state, self.ops[op])
    }

    fn state_value(&self, state: u32) -> Value {
        self.values.value(state).clone()
    }

    fn noun(&self) -> &'static str {
        "register"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_return_only_the_current_value() {
        assert_eq!(step(3, RegisterOp::Read(Some(3))), Some(3));
        assert_eq!(step(3, RegisterOp::Read(Some(2))), None);
        assert_eq!(step(3, RegisterOp::Read(None)), Some(3));
    }

    #[test]
    fn writes_replace_whatever_was_there() {
        assert_eq!(step(0, RegisterOp::Write(4)), Some(4));
        assert_eq!(step(4, RegisterOp::Write(4)), Some(4));
    }

    #[test]
    fn cas_applies_only_when_the_expected_value_is_held() {
        assert_eq!(step(1, RegisterOp::Cas(1, 2)), Some(2));
        assert_eq!(step(3, RegisterOp::Cas(1, 2)), None);
    }
}
