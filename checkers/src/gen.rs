//! Synthetic register histories, seeded and reproducible, for tests and benchmarks.
//!
//! Each history comes from a simulation of a real linearizable register (one per key):
//! clients invoke operations, each takes effect at one instant inside its interval, and the
//! answers are what the register held at that instant. So a generated history is valid by
//! construction, unless a violation is injected on purpose, and the injection is chosen so
//! that it is provably invalid: the read returns a value that every op able to produce it had
//! written before an `ok` overwrite that completed before the read began.
//!
//! ```text
//! client 0  p0 |--write 3--|  |--cas [3,1]--X (timeout: info, p0 retires)
//! client 1  p1    |--read 3--|      p5 |--read 1--|     <- the crashed cas took effect
//! client 2  p2 |----read nil----|                   |--write 2--|
//!              effects:   w3  r3       cas     r1       w2
//! ```
//!
//! Crashed operations (`info`) often take effect (possibly after their timeout) or never do;
//! a crashed client continues under a new process id (old id + number of clients), as in
//! Jepsen.
//!
//! - [`etcd_like`]: one key, ~85 ops, 5 clients, values 0-4, 7-19 crashed writes and CAS,
//!   like Jepsen's etcd register test.
//! - [`large`]: N ops over K keys, C clients, half reads, values unique per key, ~1% crashed
//!   writes and CAS spread evenly.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use crate::history::{Event, EventType, History, HistoryBuilder, Process};

/// Settings of [`etcd_like`]. The defaults are Jepsen's etcd register test.
#[derive(Clone, Debug)]
pub struct EtcdLike {
    /// Operations, about (each history draws within ±5).
    pub ops: usize,
    pub clients: usize,
    /// Values are drawn from `0..values`.
    pub values: i64,
    /// Crashed writes and CAS: a number drawn from this range.
    pub crashed_min: usize,
    pub crashed_max: usize,
    /// Replace one `ok` read's value with a provably impossible (stale) one.
    pub violation: bool,
}

impl Default for EtcdLike {
    fn default() -> Self {
        EtcdLike {
            ops: 85,
            clients: 5,
            values: 5,
            crashed_min: 7,
            crashed_max: 19,
            violation: false,
        }
    }
}

/// Settings of [`large`].
#[derive(Clone, Debug)]
pub struct Large {
    pub ops: usize,
    pub keys: usize,
    pub clients: usize,
    /// Share of all ops that crash (all of them writes or CAS).
    pub crash_rate: f64,
    /// Replace one `ok` read's value, late in the history, with a provably stale one.
    pub stale_read: bool,
}

impl Default for Large {
    fn default() -> Self {
        Large {
            ops: 1_000_000,
            keys: 100,
            clients: 50,
            crash_rate: 0.01,
            stale_read: false,
        }
    }
}

/// A generated history and what was injected.
#[derive(Clone, Debug)]
pub struct Generated {
    pub history: History,
    /// The op (index into `history.ops`) whose read value was replaced, if any.
    pub injected: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Read,
    Write(i64),
    Cas(i64, i64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Ok,
    Fail,
    Info,
}

#[derive(Clone, Debug)]
struct SimOp {
    key: u32,
    process: u64,
    kind: Kind,
    invoke: u64,
    complete: u64,
    /// When it takes effect; `None`: never (a crashed op that was lost).
    effect: Option<u64>,
    end: End,
    /// What an `ok` read returned (`None`: absent).
    read: Option<i64>,
}

const MS: u64 = 1_000_000;

/// A Jepsen-etcd-like single-key history. Deterministic for a given seed.
pub fn etcd_like(seed: u64, config: &EtcdLike) -> Generated {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    loop {
        let n = config.ops - 5 + rng.gen_range(0..=10);
        let kinds: Vec<Kind> = (0..n)
            .map(|_| match rng.gen_range(0..3) {
                0 => Kind::Read,
                1 => Kind::Write(rng.gen_range(0..config.values)),
                _ => Kind::Cas(
                    rng.gen_range(0..config.values),
                    rng.gen_range(0..config.values),
                ),
            })
            .collect();
        let mutators: Vec<usize> = (0..n).filter(|&i| kinds[i] != Kind::Read).collect();
        let crashes = rng
            .gen_range(config.crashed_min..=config.crashed_max)
            .min(mutators.len());
        let mut crash = vec![false; n];
        for &i in mutators.choose_multiple(&mut rng, crashes) {
            crash[i] = true;
        }
        let mut ops = schedule(&mut rng, config.clients, &kinds, &crash, |_| 0);
        simulate(&mut rng, &mut ops, 1);
        if !config.violation {
            return build(&ops, false, None);
        }
        if let Some(at) = inject(
            &mut rng,
            &mut ops,
            1,
            0.0,
            &(0..config.values).collect::<Vec<_>>(),
        ) {
            return build(&ops, false, Some(at));
        }
    }
}

/// A large multi-key history. Deterministic for a given seed.
pub fn large(seed: u64, config: &Large) -> Generated {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = config.ops;
    let keys = config.keys.max(1);
    let mut next_value = vec![0i64; keys];
    let mut written: Vec<Vec<i64>> = vec![Vec::new(); keys];
    let mut key_of = Vec::with_capacity(n);
    let mut kinds = Vec::with_capacity(n);
    let mut crash = Vec::with_capacity(n);
    // Half reads; of the rest, four writes for every CAS. Crashes are spread evenly: one
    // every 1/crash_rate ops, each on the next write or CAS.
    let every = if config.crash_rate > 0.0 {
        (1.0 / config.crash_rate).round() as usize
    } else {
        usize::MAX
    };
    let mut crash_due = false;
    for i in 0..n {
        let key = rng.gen_range(0..keys);
        let kind = match rng.gen_range(0..10) {
            0..=4 => Kind::Read,
            5..=8 => {
                next_value[key] += 1;
                Kind::Write(next_value[key])
            }
            _ => {
                next_value[key] += 1;
                let recent = &written[key];
                let expected = if recent.is_empty() {
                    0
                } else {
                    recent[recent.len() - 1 - rng.gen_range(0..recent.len().min(3))]
                };
                Kind::Cas(expected, next_value[key])
            }
        };
        if let Kind::Write(v) | Kind::Cas(_, v) = kind {
            written[key].push(v);
            if written[key].len() > 8 {
                written[key].remove(0);
            }
        }
        if i % every == every / 2 {
            crash_due = true;
        }
        let crashes = crash_due && kind != Kind::Read;
        if crashes {
            crash_due = false;
        }
        key_of.push(key as u32);
        kinds.push(kind);
        crash.push(crashes);
    }
    let mut ops = schedule(&mut rng, config.clients, &kinds, &crash, |i| key_of[i]);
    simulate(&mut rng, &mut ops, keys);
    let injected = if config.stale_read {
        inject(&mut rng, &mut ops, keys, 0.6, &[])
    } else {
        None
    };
    build(&ops, true, injected)
}

/// Gives every op a client, a process id, an interval and a planned effect time.
fn schedule(
    rng: &mut ChaCha8Rng,
    clients: usize,
    kinds: &[Kind],
    crash: &[bool],
    key_of: impl Fn(usize) -> u32,
) -> Vec<SimOp> {
    let clients = clients.max(1);
    let mut free: BinaryHeap<Reverse<(u64, usize)>> = (0..clients)
        .map(|c| Reverse((rng.gen_range(0..MS), c)))
        .collect();
    let mut process: Vec<u64> = (0..clients as u64).collect();
    let mut ops = Vec::with_capacity(kinds.len());
    for (i, &kind) in kinds.iter().enumerate() {
        let Reverse((at, client)) = free.pop().expect("there is a client");
        let invoke = at + rng.gen_range(0..MS / 2);
        let duration = rng.gen_range(2 * MS / 10..20 * MS);
        let (complete, effect, end) = if crash[i] {
            // A timeout, much longer than an op; the op took effect (maybe after the timeout)
            // seven times in ten.
            let timeout = rng.gen_range(50 * MS..150 * MS);
            let effect = rng
                .gen_bool(0.7)
                .then(|| invoke + 1 + rng.gen_range(0..60 * MS));
            (invoke + timeout, effect, End::Info)
        } else {
            let effect = invoke + 1 + rng.gen_range(0..duration - 1);
            (invoke + duration, Some(effect), End::Ok)
        };
        ops.push(SimOp {
            key: key_of(i),
            process: process[client],
            kind,
            invoke,
            complete,
            effect,
            end,
            read: None,
        });
        if end == End::Info {
            process[client] += clients as u64;
        }
        free.push(Reverse((complete, client)));
    }
    ops
}

/// Applies the effects in time order to one register per key, filling in answers.
fn simulate(rng: &mut ChaCha8Rng, ops: &mut [SimOp], keys: usize) {
    let mut order: Vec<(u64, usize)> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| op.effect.map(|t| (t, i)))
        .collect();
    order.sort_unstable();
    let mut registers: Vec<Option<i64>> = vec![None; keys];
    for (_, i) in order {
        let op = &mut ops[i];
        let register = &mut registers[op.key as usize];
        match op.kind {
            Kind::Read => op.read = *register,
            Kind::Write(v) => *register = Some(v),
            Kind::Cas(e, n) => {
                if *register == Some(e) {
                    *register = Some(n);
                } else if op.end == End::Ok {
                    op.end = End::Fail;
                }
            }
        }
    }
    // A few reads time out; reads have no side effect, so they are recorded as `fail`.
    for op in ops.iter_mut() {
        if op.kind == Kind::Read && op.end == End::Ok && rng.gen_bool(0.02) {
            op.end = End::Fail;
        }
    }
}

/// Replaces the value of one `ok` read (in the part of the history after `from` of it) with
/// a provably impossible one; returns its index.
fn inject(
    rng: &mut ChaCha8Rng,
    ops: &mut [SimOp],
    keys: usize,
    from: f64,
    domain: &[i64],
) -> Option<usize> {
    let mut by_key: Vec<Vec<usize>> = vec![Vec::new(); keys];
    for (i, op) in ops.iter().enumerate() {
        by_key[op.key as usize].push(i);
    }
    let start = (ops.len() as f64 * from) as usize;
    let mut reads: Vec<usize> = (start..ops.len())
        .filter(|&i| ops[i].kind == Kind::Read && ops[i].end == End::Ok)
        .collect();
    reads.shuffle(rng);
    for r in reads.into_iter().take(200) {
        let key_ops = &by_key[ops[r].key as usize];
        let mut candidates: Vec<Option<i64>> = if domain.is_empty() {
            // Unique values: the values of the last few ok writes before the read.
            key_ops
                .iter()
                .rev()
                .filter(|&&i| ops[i].end == End::Ok && ops[i].complete < ops[r].invoke)
                .filter_map(|&i| match ops[i].kind {
                    Kind::Write(v) | Kind::Cas(_, v) => Some(Some(v)),
                    Kind::Read => None,
                })
                .skip(1)
                .take(4)
                .collect()
        } else {
            domain.iter().map(|&v| Some(v)).collect()
        };
        candidates.push(None);
        candidates.retain(|&v| v != ops[r].read);
        if let Some(v) = candidates
            .into_iter()
            .find(|&v| stale_value(ops, key_ops, r, v))
        {
            ops[r].read = v;
            return Some(r);
        }
    }
    None
}

/// True when no linearization lets read `r` return `v`: every op that could produce `v`
/// (invoked before `r` returned) completed `ok` before some `ok` op overwrote `v` with
/// another value, and that overwrite completed before `r` was invoked. `v = None` (absent)
/// qualifies once any `ok` write completed before `r` began, since nothing writes `null`.
fn stale_value(ops: &[SimOp], key_ops: &[usize], r: usize, v: Option<i64>) -> bool {
    let produces = |op: &SimOp, v: Option<i64>| match op.kind {
        Kind::Write(x) | Kind::Cas(_, x) => Some(x) == v,
        Kind::Read => false,
    };
    let read = &ops[r];
    let producers: Vec<&SimOp> = key_ops
        .iter()
        .map(|&i| &ops[i])
        .filter(|op| op.end != End::Fail && op.invoke < read.complete && produces(op, v))
        .collect();
    if producers.iter().any(|op| op.end != End::Ok) {
        return false;
    }
    let last_producer = producers.iter().map(|op| op.complete).max().unwrap_or(0);
    key_ops.iter().map(|&i| &ops[i]).any(|w| {
        w.end == End::Ok
            && !matches!(w.kind, Kind::Read)
            && !produces(w, v)
            && w.invoke > last_producer
            && w.complete < read.invoke
    })
}

/// The history as `HistoryBuilder` pairs it, events in time order, with the injected op's
/// index translated to its id in the history (ops are numbered by invocation).
fn build(ops: &[SimOp], keyed: bool, injected: Option<usize>) -> Generated {
    let mut events: Vec<(u64, u32, bool)> = Vec::with_capacity(ops.len() * 2);
    for (i, op) in ops.iter().enumerate() {
        events.push((op.invoke, i as u32, false));
        events.push((op.complete, i as u32, true));
    }
    events.sort_unstable();
    let mut builder = HistoryBuilder::default();
    let mut invoked = 0;
    let mut injected_id = None;
    for (line, &(time, i, completion)) in events.iter().enumerate() {
        let op = &ops[i as usize];
        if !completion {
            if injected == Some(i as usize) {
                injected_id = Some(invoked);
            }
            invoked += 1;
        }
        let (f, invoke_value) = match op.kind {
            Kind::Read => ("read", Value::Null),
            Kind::Write(v) => ("write", json!(v)),
            Kind::Cas(e, n) => ("cas", json!([e, n])),
        };
        let (kind, value) = match (completion, op.end) {
            (false, _) => (EventType::Invoke, invoke_value),
            (true, End::Ok) if op.kind == Kind::Read => (EventType::Ok, json!(op.read)),
            (true, End::Ok) => (EventType::Ok, invoke_value),
            (true, End::Fail) => (EventType::Fail, invoke_value),
            (true, End::Info) => (EventType::Info, invoke_value),
        };
        let event = Event {
            index: line as u64,
            time: Some(time),
            process: Process::Client(op.process),
            kind,
            f: f.to_string(),
            key: keyed.then(|| format!("k{}", op.key)),
            value,
            node: None,
            error: (kind == EventType::Info).then(|| json!("timeout")),
            response: None,
        };
        builder
            .push(line + 1, event)
            .expect("a generated history pairs every invocation with one completion");
    }
    Generated {
        history: builder.finish(),
        injected: injected_id,
    }
}
