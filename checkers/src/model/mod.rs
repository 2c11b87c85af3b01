//! Sequential models: pure step functions the linearizability checker searches over.
//!
//! A model says what a single, correct copy of an object answers to each operation. The
//! checker ([`crate::linear`]) looks for an order of a history's operations, consistent with
//! real time, in which every `ok` answer is one the model could give.
//!
//! | model | `f` and `value` | state |
//! |---|---|---|
//! | [`register`] | `read` (value at `ok`), `write v` | one value, `null` = absent |
//! | `cas-register` | as `register`, plus `cas [expected, new]` | one value |
//! | [`mutex`] | `acquire`, `release` | held or free |
//! | [`set`] | `add v`, `read` (the whole set at `ok`) | a set of values |
//! | [`queue`] | `enqueue v`, `dequeue` (the head at `ok`, `null` = empty) | a FIFO list |
//! | [`multi_register`] | `txn [["read", k, v], ["write", k, v], ...]` | one value per register |
//! | [`kv`] | `get` (the string at `ok`), `put s`, `append s` | one string, `""` = absent |
//!
//! Every model is written twice over: as a pure step function on plain values
//! (`step(state, op) -> Option<state>`, `None` when the model cannot answer that way), and as
//! a [`Model`] compiled for the operations of one key, where values are interned to small
//! integers and states are numbered, so that the search compares and hashes `u32`s only.
//!
//! Semantics (DESIGN.md defaults, changed through [`ModelOptions`]): a register starts as
//! `null` (absent) and an `ok` read of `null` means the key was absent. `fail` operations never
//! reach a model (they did not happen); reads inside crashed (`info`) operations are unknown
//! and match any state.

pub mod kv;
pub mod multi_register;
pub mod mutex;
pub mod queue;
pub mod register;
pub mod set;
mod values;

use serde_json::Value;

use crate::history::Op;

pub use values::{FastMap, States, Values, WordHasher};

/// The sequential models `faultline check --model` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelKind {
    Register,
    CasRegister,
    Mutex,
    Set,
    Queue,
    MultiRegister,
    Kv,
}

impl ModelKind {
    pub const ALL: [ModelKind; 7] = [
        ModelKind::Register,
        ModelKind::CasRegister,
        ModelKind::Mutex,
        ModelKind::Set,
        ModelKind::Queue,
        ModelKind::MultiRegister,
        ModelKind::Kv,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Register => "register",
            ModelKind::CasRegister => "cas-register",
            ModelKind::Mutex => "mutex",
            ModelKind::Set => "set",
            ModelKind::Queue => "queue",
            ModelKind::MultiRegister => "multi-register",
            ModelKind::Kv => "kv",
        }
    }

    pub fn from_name(name: &str) -> Option<ModelKind> {
        ModelKind::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The operations (`f`) the model understands, for messages and `--help`.
    pub fn functions(self) -> &'static [&'static str] {
        match self {
            ModelKind::Register => &["read", "write"],
            ModelKind::CasRegister => &["read", "write", "cas"],
            ModelKind::Mutex => &["acquire", "release"],
            ModelKind::Set => &["add", "read"],
            ModelKind::Queue => &["enqueue", "dequeue"],
            ModelKind::MultiRegister => &["txn"],
            ModelKind::Kv => &["get", "put", "append"],
        }
    }

    /// Whether `--nil-read-matches-any` (Knossos's rule: an `ok` read of `null` observed
    /// nothing) can apply. Not for `queue`, where a dequeue of `null` is an answer — the
    /// queue was empty — and never "observed nothing". `mutex` has no reads, so the rule is
    /// accepted there and changes nothing.
    pub fn supports_nil_read_matches_any(self) -> bool {
        match self {
            ModelKind::Register
            | ModelKind::CasRegister
            | ModelKind::Mutex
            | ModelKind::Set
            | ModelKind::MultiRegister
            | ModelKind::Kv => true,
            ModelKind::Queue => false,
        }
    }

    /// Compiles the operations of one key (`ok` and `info` only: `fail` ops are dropped
    /// before) into the model the search runs on. An `f` the model does not know, or a value
    /// of the wrong shape, is an error naming the op.
    pub fn compile(self, options: &ModelOptions, ops: &[&Op]) -> Result<Compiled, ModelError> {
        Ok(match self {
            ModelKind::Register => {
                Compiled::Register(register::RegisterKey::compile(options, ops, false)?)
            }
            ModelKind::CasRegister => {
                Compiled::Register(register::RegisterKey::compile(options, ops, true)?)
            }
            ModelKind::Mutex => Compiled::Mutex(mutex::MutexKey::compile(options, ops)?),
            ModelKind::Set => Compiled::Set(set::SetKey::compile(options, ops)?),
            ModelKind::Queue => Compiled::Queue(queue::QueueKey::compile(options, ops)?),
            ModelKind::MultiRegister => {
                Compiled::MultiRegister(multi_register::MultiKey::compile(options, ops)?)
            }
            ModelKind::Kv => Compiled::Kv(kv::KvKey::compile(options, ops)?),
        })
    }
}

/// Semantics a user may change from the defaults.
///
/// Defaults (DESIGN.md): a register starts as `null` (absent) and an `ok` read of `null`
/// means the key was absent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelOptions {
    /// The initial value of every register (`null` = absent). For `set`, an array of the
    /// elements present at the start; for `queue`, an array of the elements queued at the
    /// start, head first; for `mutex`, `true` starts it held.
    pub initial: Value,
    /// Knossos's rule: an `ok` read of `null` observed nothing and matches any state.
    pub nil_read_matches_any: bool,
}

/// An operation a model cannot interpret. The checker answers `unknown` with this reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("op {op} (line {line}, process {process}): {message}")]
pub struct ModelError {
    pub op: usize,
    pub line: usize,
    pub process: u64,
    pub message: String,
}

impl ModelError {
    pub(crate) fn new(op: &Op, message: impl Into<String>) -> ModelError {
        ModelError {
            op: op.id,
            line: op.line,
            process: op.process,
            message: message.into(),
        }
    }

    pub(crate) fn unknown_f(op: &Op, model: ModelKind) -> ModelError {
        ModelError::new(
            op,
            format!(
                "the {} model has no operation `{}` (it knows {})",
                model.name(),
                op.f,
                model.functions().join(", ")
            ),
        )
    }
}

/// A sequential model compiled for the operations of one key.
///
/// Contract: `step` is a pure function of `(state, op)` (implementations may memoise, never
/// change an answer); states are small integers the model hands out, equal exactly when the
/// object states are equal, so the search can hash and compare them.
pub trait Model {
    /// The compiled form of one operation; equal ops have equal effects in every state.
    type Op: Clone + Eq + std::hash::Hash + std::fmt::Debug;

    /// The compiled operations, in the order they were given to `compile`.
    fn ops(&self) -> &[Self::Op];
    /// The state before any operation.
    fn init(&mut self) -> u32;
    /// The state after `ops()[op]` in `state`, or `None` if the op cannot happen there.
    fn step(&mut self, state: u32, op: usize) -> Option<u32>;
    /// A state as JSON, for reports.
    fn state_value(&self, state: u32) -> Value;
    /// What a state is called in an explanation ("register", "lock", "set", "registers").
    fn noun(&self) -> &'static str;
}

/// One key's operations compiled for a model.
#[derive(Clone, Debug)]
pub enum Compiled {
    Register(register::RegisterKey),
    Mutex(mutex::MutexKey),
    Set(set::SetKey),
    Queue(queue::QueueKey),
    MultiRegister(multi_register::MultiKey),
    Kv(kv::KvKey),
}

/// Describes a state for a person: `3`, `absent`, `[1, 2]`.
pub fn describe_value(value: &Value) -> String {
    match value {
        Value::Null => "absent".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
