//! The keys of a workload: a few active at a time, each retired after a bounded number of
//! operations and replaced by a fresh one.
//!
//! The linearizability search is exponential in the number of concurrent operations on one
//! key, and a list-append read returns the key's whole list, so each key's history must stay
//! small; but a key must also live long enough to span a fault (ops per key / (rate / keys)
//! seconds), or a stale read cannot be seen: a key written on the majority side must be read
//! on the minority side.
//!
//! Every value written to a key is unique for that key (1, 2, 3, ...): a read then names the
//! write it saw, which keeps checking tractable and makes a stale read provable.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// How many recent writes of a key a `cas` may expect.
const CAS_WINDOW: usize = 3;

/// One active key.
#[derive(Debug)]
pub struct KeyState {
    pub name: String,
    /// Operations counted against the key's budget so far.
    pub ops: u64,
    pub next_value: i64,
    /// The last few values written, newest last.
    pub recent: Vec<i64>,
}

impl KeyState {
    /// A value never written to this key before; a later `cas` may expect it.
    pub fn fresh_value(&mut self) -> i64 {
        let v = self.next_value;
        self.next_value += 1;
        self.recent.push(v);
        if self.recent.len() > CAS_WINDOW {
            self.recent.remove(0);
        }
        v
    }
}

/// The active keys, and every key ever handed out (for final reads).
#[derive(Debug)]
pub struct Keys {
    pub slots: Vec<KeyState>,
    next_key: u64,
    ops_per_key: u64,
    /// Every key handed out, in order.
    pub used: Vec<String>,
}

impl Keys {
    pub fn new(active: usize, ops_per_key: u64) -> Keys {
        let mut keys = Keys {
            slots: Vec::with_capacity(active),
            next_key: 0,
            ops_per_key,
            used: Vec::new(),
        };
        for _ in 0..active {
            let key = keys.fresh_key();
            keys.slots.push(key);
        }
        keys
    }

    fn fresh_key(&mut self) -> KeyState {
        let name = format!("k{}", self.next_key);
        self.next_key += 1;
        self.used.push(name.clone());
        KeyState {
            name,
            ops: 0,
            next_value: 1,
            recent: Vec::new(),
        }
    }

    /// A slot drawn uniformly from the active keys.
    pub fn pick(&self, rng: &mut ChaCha8Rng) -> usize {
        rng.gen_range(0..self.slots.len())
    }

    /// Counts one operation against the key in `slot`; retires it once it has had its
    /// `ops_per_key`, so the next pick of that slot gets a fresh key.
    pub fn spend(&mut self, slot: usize) {
        self.slots[slot].ops += 1;
        if self.slots[slot].ops >= self.ops_per_key {
            self.slots[slot] = self.fresh_key();
        }
    }

    /// The names of the keys active now.
    /// One `read` of each key ever used: the final reads of the keyed workloads.
    pub fn read_each(&self) -> Vec<crate::client::Invocation> {
        self.used
            .iter()
            .map(|k| crate::client::Invocation {
                f: "read".into(),
                key: Some(k.clone()),
                value: serde_json::Value::Null,
            })
            .collect()
    }

    pub fn active(&self) -> impl Iterator<Item = &str> {
        self.slots.iter().map(|s| s.name.as_str())
    }
}
