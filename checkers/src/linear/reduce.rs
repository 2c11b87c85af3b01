//! Reductions of crashed operations, applied before the search.
//!
//! Knossos and Porcupine keep every crashed (`info`) op pending to the end of the history,
//! free to take effect at any later point: each one doubles the configurations to explore.
//! Each rule below removes crashed ops, or bounds when they may take effect, without
//! changing the verdict (each is proven against the plain search by a property test in
//! `tests/linear.rs`):
//!
//! 1. **Cannot change the state**: a crashed read, a crashed `cas [v, v]`, a crashed `cas`
//!    whose expected value no op can ever produce, a crashed set `add` of an element no read
//!    ever saw, a crashed txn without writes. Any linearization that uses it stays valid
//!    without it.
//! 2. **Unique written values**: when exactly one op can produce value `v` (a write of `v`
//!    or a `cas [_, v]`, `v` neither `null` nor the initial value) and it crashed:
//!    - if nobody observed `v` (no read returned it, no `cas` expected it), dropping the
//!      op keeps every linearization valid: after it only writes could follow before the
//!      next change of value, and a write does not look at the value it replaces;
//!    - if an `ok` op observed `v`, the crashed op must have taken effect before that
//!      observer returned: it gets a deadline, and becomes an op the search must place
//!      inside a bounded window instead of one pending forever.
//!
//!    ```text
//!    p1  |--write 7--X  (crashed)
//!    p2                    |--read 7--|        -> write 7 must take effect before here
//!    p3  |--write 8--X  (crashed, 8 never read) -> dropped
//!    ```
//! 3. **Identical crashed ops are interchangeable** (small value domains, Jepsen's 0-4):
//!    crashed ops with the same compiled effect form a group, and the search only
//!    linearizes the earliest invoked member not yet linearized, so it explores a multiset
//!    instead of every permutation (applied when the search's ops are prepared).
//! 4. **Idle crashed ops** are not linearized where they would leave the state as it is (a
//!    `write 3` when the register holds 3): the configuration without them dominates
//!    (applied in the search).
//! 5. **Queue**: a crashed `enqueue v` with no `ok` dequeue of `v` is dropped. Given a
//!    linearization that uses it, remove it and the crashed dequeue (if any) that took `v`
//!    off: the queue at every point is the old one without that `v`, which had the same
//!    head whenever an `ok` dequeue looked (that head was never `v`) and was empty exactly
//!    when it was. No other queue op is dropped or bounded: a crashed dequeue removes the
//!    head, and a value enqueued by several ops has no single producer. Rules 3 and 4 hold
//!    for the queue as for every model: identical crashed ops have identical effects and no
//!    deadline, and an idle op left pending can still be linearized later.
//! 6. **kv**: a crashed `append s` where no `ok` get's string contains `s` is dropped. Were
//!    it applied, every state after it would hold `s` until a put replaced the string, and
//!    no get saw such a state: without it, the gets see the same strings. (A crashed get is
//!    dropped by rule 1.) Proven against brute force in `tests/kv.rs`.

use crate::history::{Op, Outcome};
use crate::model::kv::KvOp;
use crate::model::multi_register::Micro;
use crate::model::queue::{QueueKey, QueueOp};
use crate::model::register::{RegisterKey, RegisterOp};
use crate::model::set::{SetKey, SetOp};
use crate::model::{Compiled, Model};

/// What the search does with one op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Must take effect by `ret` (its own return, or the return of `observer`, the first op
    /// that observed its effect).
    Must { ret: usize, observer: Option<usize> },
    /// May take effect at any time after its call, or never.
    Optional,
    /// Removed by a reduction.
    Dropped,
}

/// The roles without reductions: `ok` ops must take effect before they return, crashed
/// ops any time later or never.
pub(crate) fn plain(ops: &[&Op]) -> Vec<Role> {
    ops.iter()
        .map(|op| match (op.outcome, op.complete_pos) {
            (Outcome::Ok, Some(ret)) => Role::Must {
                ret,
                observer: None,
            },
            _ => Role::Optional,
        })
        .collect()
}

/// The roles with every reduction that applies to the model.
pub(crate) fn reduce(compiled: &Compiled, ops: &[&Op]) -> Vec<Role> {
    let mut roles = plain(ops);
    match compiled {
        Compiled::Register(m) => register(m, ops, &mut roles),
        Compiled::Set(m) => set(m, ops, &mut roles),
        Compiled::Mutex(_) => {}
        // A crashed get observed nothing and changes nothing; a crashed append nobody saw
        // may as well not have happened (see `KvKey::unobserved_appends`).
        Compiled::Kv(m) => {
            let unobserved = m.unobserved_appends();
            for (i, op) in m.ops.iter().enumerate() {
                let idle = *op == KvOp::Get(None) || unobserved[i];
                if roles[i] == Role::Optional && idle {
                    roles[i] = Role::Dropped;
                }
            }
        }
        Compiled::Queue(m) => queue(m, &mut roles),
        Compiled::MultiRegister(m) => {
            for (i, txn) in m.ops().iter().enumerate() {
                let writes = txn.iter().any(|micro| matches!(micro, Micro::Write(..)));
                if roles[i] == Role::Optional && !writes {
                    roles[i] = Role::Dropped;
                }
            }
        }
    }
    roles
}

fn register(m: &RegisterKey, ops: &[&Op], roles: &mut [Role]) {
    let values = m.values.len();
    // Values the register can ever hold: the initial one, every written one, and the new
    // value of every cas whose expected value it can hold (to a fixpoint).
    let mut reachable = vec![false; values];
    reachable[m.init as usize] = true;
    let mut grew = true;
    while grew {
        grew = false;
        for op in &m.ops {
            let produced = match *op {
                RegisterOp::Write(v) => Some(v),
                RegisterOp::Cas(e, n) if reachable[e as usize] => Some(n),
                _ => None,
            };
            if let Some(v) = produced.filter(|&v| !reachable[v as usize]) {
                reachable[v as usize] = true;
                grew = true;
            }
        }
    }
    for (i, op) in m.ops.iter().enumerate() {
        let idle = match *op {
            RegisterOp::Read(_) => true,
            RegisterOp::Cas(e, n) => e == n || !reachable[e as usize],
            RegisterOp::Write(_) => false,
        };
        if roles[i] == Role::Optional && idle {
            roles[i] = Role::Dropped;
        }
    }
    // Per value: how many ops write it and the last of them, whether any op observes it,
    // and the first `ok` observer to return.
    let mut writers = vec![0u32; values];
    let mut writer = vec![0usize; values];
    let mut observed = vec![false; values];
    let mut first_seen: Vec<Option<(usize, usize)>> = vec![None; values];
    let mut observe = |v: u32, i: usize| {
        observed[v as usize] = true;
        if ops[i].outcome == Outcome::Ok {
            if let Some(ret) = ops[i].complete_pos {
                let first = &mut first_seen[v as usize];
                *first = Some(first.map_or((ret, i), |seen| seen.min((ret, i))));
            }
        }
    };
    let mut write = |v: u32, i: usize| {
        writers[v as usize] += 1;
        writer[v as usize] = i;
    };
    for (i, op) in m.ops.iter().enumerate() {
        if roles[i] == Role::Dropped {
            continue;
        }
        match *op {
            RegisterOp::Read(Some(v)) => observe(v, i),
            RegisterOp::Read(None) => {}
            RegisterOp::Write(v) => write(v, i),
            RegisterOp::Cas(e, n) => {
                observe(e, i);
                write(n, i);
            }
        }
    }
    for v in 1..values {
        if v == m.init as usize || writers[v] != 1 {
            continue;
        }
        let w = writer[v];
        if roles[w] == Role::Optional {
            roles[w] = bound_by_first(w, observed[v], first_seen[v], ops);
        }
    }
}

/// The role of a crashed op `w` that is the only producer of a value: dropped when nothing
/// observes the value, else bound by `first`, the first `ok` observer to return, as its
/// (return position, index).
fn bound_by_first(w: usize, observed: bool, first: Option<(usize, usize)>, ops: &[&Op]) -> Role {
    if !observed {
        return Role::Dropped;
    }
    match first {
        // An observer that returned before the op was even invoked makes the history
        // invalid; the search finds that on its own.
        Some((ret, o)) if ret > ops[w].invoke_pos => Role::Must {
            ret,
            observer: Some(o),
        },
        _ => Role::Optional,
    }
}

/// The role of a crashed op that is the only producer of what `observers` observed.
fn bound_by_observers(w: usize, observers: &[usize], ops: &[&Op]) -> Role {
    let first = observers
        .iter()
        .filter(|&&o| ops[o].outcome == Outcome::Ok)
        .filter_map(|&o| ops[o].complete_pos.map(|ret| (ret, o)))
        .min();
    bound_by_first(w, !observers.is_empty(), first, ops)
}

fn set(m: &SetKey, ops: &[&Op], roles: &mut [Role]) {
    let elements = m.elements.len();
    let mut adders: Vec<Vec<usize>> = vec![Vec::new(); elements];
    let mut observers: Vec<Vec<usize>> = vec![Vec::new(); elements];
    for (i, op) in m.ops.iter().enumerate() {
        match op {
            SetOp::Add(x) => adders[*x as usize].push(i),
            SetOp::Read(Some(seen)) => {
                for &x in seen {
                    observers[x as usize].push(i);
                }
            }
            SetOp::Read(None) => {
                if roles[i] == Role::Optional {
                    roles[i] = Role::Dropped;
                }
            }
        }
    }
    let initial = m.initial_elements();
    for x in 0..elements {
        for &a in &adders[x] {
            if roles[a] != Role::Optional {
                continue;
            }
            if initial.contains(&(x as u32)) || observers[x].is_empty() {
                roles[a] = Role::Dropped;
            } else if adders[x].len() == 1 {
                roles[a] = bound_by_observers(a, &observers[x], ops);
            }
        }
    }
}

fn queue(m: &QueueKey, roles: &mut [Role]) {
    let mut dequeued = vec![false; m.values.len()];
    for op in &m.ops {
        if let QueueOp::Dequeue(Some(v)) = *op {
            dequeued[v as usize] = true;
        }
    }
    for (i, op) in m.ops.iter().enumerate() {
        if let QueueOp::Enqueue(v) = *op {
            if roles[i] == Role::Optional && !dequeued[v as usize] {
                roles[i] = Role::Dropped;
            }
        }
    }
}
