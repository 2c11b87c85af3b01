//! A key-value store of strings: `get`, `put v` and `append v`, keys checked independently.
//!
//! Each key holds a string; a key never written reads as the empty string. `put` replaces
//! the string, `append` concatenates onto it, `get` returns it. This is the model Raft
//! key-value services (the MIT 6.5840 labs, Porcupine's `kvModel`) are checked against,
//! with Jepsen-style lines such as
//! `{:process 0, :type :ok, :f :append, :key "4", :value "x 0 1 y"}`.
//!
//! ```text
//! process 0  |--put "a"--|   |--append "b"--|
//! process 1        |--get "a"--|        |----get "ab"----|
//!                               key: "" -> "a" -> "ab"
//! ```
//!
//! An `ok` get of `null` reads the empty string (an absent key), unless Knossos's rule
//! (`nil_read_matches_any`) makes it observe nothing. A crashed get observed nothing. The
//! initial value, if given, is a string every key starts with.
//!
//! Anomalies: a get of a string the key could not hold at any point of the get — a stale
//! read, a lost or duplicated append (the concatenation shows both), appends applied in an
//! order no linearization allows.
//!
//! States are whole strings, hash-consed to `u32` ids with transitions memoised, so the
//! search explores at most one state per distinct string; the search stays exponential in
//! the number of concurrent operations on one key, as for every linearizable model.
//! Reference: Herlihy & Wing, "Linearizability: a correctness condition for concurrent
//! objects" (1990); Porcupine's key-value model (Athalye, 2017).

use serde_json::Value;

use super::values::States;
use super::{Model, ModelError, ModelKind, ModelOptions};
use crate::history::{Op, Outcome};

/// A key-value operation over one key. String arguments are numbered: a `Get` or `Put`
/// names a state (the string read or written), an `Append` names its suffix in
/// [`KvKey::suffixes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KvOp {
    /// A get that returned the state; `None` observed nothing (crashed, or a `null` read
    /// under Knossos's rule).
    Get(Option<u32>),
    Put(u32),
    Append(u32),
}

/// The step function on plain strings, `None` when the op cannot happen in `state`.
pub fn step(state: &str, f: &str, value: Option<&str>) -> Option<String> {
    match (f, value) {
        ("get", None) => Some(state.to_string()),
        ("get", Some(read)) => (read == state).then(|| state.to_string()),
        ("put", Some(v)) => Some(v.to_string()),
        ("append", Some(v)) => Some(format!("{state}{v}")),
        _ => None,
    }
}

/// One key's operations compiled: strings numbered, transitions memoised.
#[derive(Clone, Debug)]
pub struct KvKey {
    pub ops: Vec<KvOp>,
    pub suffixes: Vec<String>,
    states: States<String>,
    init: u32,
}

impl KvKey {
    /// Compiles `ok` and `info` ops of one key.
    pub fn compile(options: &ModelOptions, ops: &[&Op]) -> Result<KvKey, ModelError> {
        let mut states: States<String> = States::default();
        let init = match &options.initial {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => match ops.first() {
                Some(first) => {
                    return Err(ModelError::new(
                        first,
                        format!("the initial value of a kv key must be a string, not {other}"),
                    ))
                }
                None => String::new(),
            },
        };
        let init = states.intern(init);
        let mut suffixes = Vec::new();
        let mut compiled = Vec::with_capacity(ops.len());
        for op in ops {
            let text = |v: &Value| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(ModelError::new(
                    op,
                    format!("a kv `{}` needs a string value, not {other}", op.f),
                )),
            };
            compiled.push(match op.f.as_str() {
                "get" => match (&op.outcome, &op.value) {
                    (Outcome::Ok, Value::Null) if options.nil_read_matches_any => KvOp::Get(None),
                    (Outcome::Ok, Value::Null) => KvOp::Get(Some(states.intern(String::new()))),
                    (Outcome::Ok, v) => KvOp::Get(Some(states.intern(text(v)?))),
                    _ => KvOp::Get(None),
                },
                "put" => KvOp::Put(states.intern(text(&op.value)?)),
                "append" => {
                    suffixes.push(text(&op.value)?);
                    KvOp::Append(suffixes.len() as u32 - 1)
                }
                _ => return Err(ModelError::unknown_f(op, ModelKind::Kv)),
            });
        }
        Ok(KvKey {
            ops: compiled,
            suffixes,
            states,
            init,
        })
    }
}

impl KvKey {
    /// For each op, whether it is an append whose suffix no `ok` get holds. If such an
    /// append took effect, every state after it holds its suffix until a put replaces the
    /// string, and no get saw one of those states; so a crashed one may be taken as never
    /// applied without changing the verdict. An empty suffix is always observed.
    pub fn unobserved_appends(&self) -> Vec<bool> {
        let reads: Vec<&str> = self
            .ops
            .iter()
            .filter_map(|op| match op {
                KvOp::Get(Some(s)) => Some(self.states.get(*s).as_str()),
                _ => None,
            })
            .collect();
        self.ops
            .iter()
            .map(|op| match op {
                KvOp::Append(i) => {
                    let suffix = &self.suffixes[*i as usize];
                    !suffix.is_empty() && !reads.iter().any(|r| r.contains(suffix.as_str()))
                }
                _ => false,
            })
            .collect()
    }
}

impl Model for KvKey {
    type Op = KvOp;

    fn ops(&self) -> &[KvOp] {
        &self.ops
    }

    fn init(&mut self) -> u32 {
        self.init
    }

    fn step(&mut self, state: u32, op: usize) -> Option<u32> {
        match self.ops[op] {
            KvOp::Get(None) => Some(state),
            KvOp::Get(Some(read)) => (read == state).then_some(state),
            KvOp::Put(v) => Some(v),
            KvOp::Append(suffix) => {
                let suffix = &self.suffixes[suffix as usize];
                self.states
                    .step(state, op, |held| Some(format!("{held}{suffix}")))
            }
        }
    }

    fn state_value(&self, state: u32) -> Value {
        Value::String(self.states.get(state).clone())
    }

    fn noun(&self) -> &'static str {
        "value"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_append_concatenates_onto_the_current_string() {
        assert_eq!(step("x 0", "append", Some(" 1")).as_deref(), Some("x 0 1"));
        assert_eq!(step("", "append", Some("y")).as_deref(), Some("y"));
    }

    #[test]
    fn a_get_returns_only_the_current_string() {
        assert_eq!(step("ab", "get", Some("ab")).as_deref(), Some("ab"));
        assert_eq!(step("ab", "get", Some("a")), None);
        assert_eq!(step("ab", "get", None).as_deref(), Some("ab"));
    }

    #[test]
    fn a_put_replaces_whatever_was_there() {
        assert_eq!(step("old", "put", Some("new")).as_deref(), Some("new"));
    }
}
