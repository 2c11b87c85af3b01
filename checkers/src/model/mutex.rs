//! A mutex (lock): `acquire` succeeds only when the lock is free, `release` only when held.
//!
//! ```text
//! process 0  |--acquire--|      |--release--|
//! process 1       |--------acquire--------------------|
//!                           lock: free -> held -> free -> held
//! ```
//!
//! Anomaly: two clients holding the lock at once (an `acquire` that completed `ok` while
//! the lock could only be held), or a `release` of a free lock. Like Knossos's mutex, the
//! model does not track the owner. Reference: Knossos `knossos.model/mutex`.

use serde_json::Value;

use super::{Model, ModelError, ModelKind, ModelOptions};
use crate::history::Op;

/// A mutex operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MutexOp {
    Acquire,
    Release,
}

/// The mutex's step function over "held".
pub fn step(held: bool, op: MutexOp) -> Option<bool> {
    match op {
        MutexOp::Acquire => (!held).then_some(true),
        MutexOp::Release => held.then_some(false),
    }
}

/// A mutex compiled for one key.
#[derive(Clone, Debug)]
pub struct MutexKey {
    pub ops: Vec<MutexOp>,
    pub held_at_start: bool,
}

impl MutexKey {
    pub fn compile(options: &ModelOptions, ops: &[&Op]) -> Result<MutexKey, ModelError> {
        let compiled = ops
            .iter()
            .map(|op| match op.f.as_str() {
                "acquire" => Ok(MutexOp::Acquire),
                "release" => Ok(MutexOp::Release),
                _ => Err(ModelError::unknown_f(op, ModelKind::Mutex)),
            })
            .collect::<Result<_, _>>()?;
        Ok(MutexKey {
            ops: compiled,
            held_at_start: options.initial == Value::Bool(true),
        })
    }
}

impl Model for MutexKey {
    type Op = MutexOp;

    fn ops(&self) -> &[MutexOp] {
        &self.ops
    }

    fn init(&mut self) -> u32 {
        self.held_at_start as u32
    }

    #[inline]
    fn step(&mut self, state: u32, op: usize) -> Option<u32> {
        step(state == 1, self.ops[op]).map(u32::from)
    }

    fn state_value(&self, state: u32) -> Value {
        Value::String(if state == 1 { "held" } else { "free" }.to_string())
    }

    fn noun(&self) -> &'static str {
        "lock"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_cannot_be_acquired_again() {
        assert_eq!(step(false, MutexOp::Acquire), Some(true));
        assert_eq!(step(true, MutexOp::Acquire), None);
    }

    #[test]
    fn only_a_held_lock_can_be_released() {
        assert_eq!(step(true, MutexOp::Release), Some(false));
        assert_eq!(step(false, MutexOp::Release), None);
    }
}
