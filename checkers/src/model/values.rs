//! Interning of JSON values to small integers, so models compare `u32`s.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde_json::Value;

/// A fast multiplicative hasher (FxHash's constant) for small integer keys. Not resistant to
/// crafted collisions, which cost time here, never a wrong answer.
#[derive(Default, Clone, Copy)]
pub struct WordHasher(u64);

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    #[inline]
    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    #[inline]
    fn write_u32(&mut self, word: u32) {
        self.write_u64(u64::from(word));
    }
    #[inline]
    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }
    #[inline]
    fn write_i64(&mut self, word: i64) {
        self.write_u64(word as u64);
    }
}

/// A `HashMap` with [`WordHasher`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<WordHasher>>;

/// Numbers every distinct value of one key; `null` is always 0.
#[derive(Clone, Debug)]
pub struct Values {
    ids: FastMap<ValueKey, u32>,
    values: Vec<Value>,
}

/// Integers (the common case) skip serialisation; anything else is keyed by its JSON text,
/// which serde_json writes canonically (object keys sorted).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum ValueKey {
    Int(i64),
    Text(String),
}

impl Default for Values {
    fn default() -> Self {
        let mut values = Values {
            ids: FastMap::default(),
            values: Vec::new(),
        };
        values.intern(&Value::Null);
        values
    }
}

impl Values {
    /// The id of `value`, numbering it if it is new.
    pub fn intern(&mut self, value: &Value) -> u32 {
        let key = match value.as_i64() {
            Some(i) => ValueKey::Int(i),
            None => ValueKey::Text(value.to_string()),
        };
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        let id = self.values.len() as u32;
        self.ids.insert(key, id);
        self.values.push(value.clone());
        id
    }

    /// The value numbered `id`.
    pub fn value(&self, id: u32) -> &Value {
        &self.values[id as usize]
    }

    /// How many distinct values (with `null`) were seen.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_equal_values_alike_and_null_as_zero() {
        let mut v = Values::default();
        assert_eq!(v.intern(&Value::Null), 0);
        let a = v.intern(&json!(3));
        let b = v.intern(&json!("x"));
        assert_ne!(a, b);
        assert_eq!(v.intern(&json!(3)), a);
        assert_eq!(
            v.intern(&json!({"b": 1, "a": 2})),
            v.intern(&json!({"a": 2, "b": 1}))
        );
        assert_eq!(v.value(a), &json!(3));
    }
}

/// Numbers the states of a model whose states are not small integers (sets, maps of
/// registers), and remembers transitions, so the search sees `u32` states only.
#[derive(Clone, Debug)]
pub struct States<S> {
    ids: FastMap<S, u32>,
    states: Vec<S>,
    /// (state, op) -> next state, or `u32::MAX` when the op cannot happen there.
    transitions: FastMap<(u32, u32), u32>,
}

impl<S> Default for States<S> {
    fn default() -> Self {
        States {
            ids: FastMap::default(),
            states: Vec::new(),
            transitions: FastMap::default(),
        }
    }
}

impl<S: Clone + Eq + std::hash::Hash> States<S> {
    pub fn intern(&mut self, state: S) -> u32 {
        if let Some(&id) = self.ids.get(&state) {
            return id;
        }
        let id = self.states.len() as u32;
        self.ids.insert(state.clone(), id);
        self.states.push(state);
        id
    }

    pub fn get(&self, id: u32) -> &S {
        &self.states[id as usize]
    }

    /// The memoised result of `step` for `(state, op)`.
    pub fn step(
        &mut self,
        state: u32,
        op: usize,
        step: impl FnOnce(&S) -> Option<S>,
    ) -> Option<u32> {
        let memo_key = (state, op as u32);
        if let Some(&next) = self.transitions.get(&memo_key) {
            return (next != u32::MAX).then_some(next);
        }
        let next = step(&self.states[state as usize]).map(|s| self.intern(s));
        self.transitions.insert(memo_key, next.unwrap_or(u32::MAX));
        next
    }
}
