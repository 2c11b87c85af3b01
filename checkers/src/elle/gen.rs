//! Generated list-append (and rw-register) histories: strictly serializable by
//! construction, optionally with one anomaly injected — or from simulated weaker stores.
//!
//! [`list_append`] simulates `clients` concurrent clients against an ideal store. Each
//! transaction is invoked, takes effect atomically at one instant strictly inside its
//! invocation–completion window, and completes; so the order of those instants is a serial
//! order consistent with real time, and the history is strictly serializable. A few percent
//! of transactions fail (they never take effect) and a few crash (`info`: half of them take
//! effect, half never do; the client then carries on under a new process id, as the format
//! demands). Keys rotate: a key takes about `appends_per_key` appends and is then retired
//! for a fresh one, the way Jepsen's list-append workload keeps lists short.
//!
//! [`rw_register`] runs the same simulation with registers. [`inject`] edits a list-append
//! history to contain exactly one anomaly of a chosen kind, for tests and benchmarks to
//! check that the checker reports that anomaly and nothing else.
//!
//! Two weaker stores bound the checker from the other side: [`list_append_snapshot`]
//! (snapshot isolation: write skew, G2-item, but never G-single) and
//! [`list_append_read_committed`] (lost updates too, but never G0 or G1). Their histories
//! must be valid under those models, with only the anomalies those models allow.
//!
//! Every random choice comes from one seeded generator, so a seed replays a history.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use serde_json::{json, Value};

use crate::history::{Event, EventType, History, Op, Outcome, Process};

/// The shape of a generated history. Defaults: 1,000 transactions, 10 clients, 1–4
/// micro-operations, 8 keys in use at a time, about 20 appends per key, half reads,
/// 3% failed and 2% crashed transactions.
#[derive(Clone, Debug)]
pub struct GenConfig {
    pub seed: u64,
    pub txns: usize,
    pub clients: usize,
    pub max_mops: usize,
    pub active_keys: usize,
    pub appends_per_key: usize,
    /// Share of micro-operations that are reads.
    pub read_share: f64,
    pub fail_rate: f64,
    pub crash_rate: f64,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            seed: 0,
            txns: 1_000,
            clients: 10,
            max_mops: 4,
            active_keys: 8,
            appends_per_key: 20,
            read_share: 0.5,
            fail_rate: 0.03,
            crash_rate: 0.02,
        }
    }
}

/// The shape the benchmarks check at scale (`benches/elle.rs`, `examples/write_histories.rs`):
/// `txns` transactions, seed 42, 50 clients, 1–4 micro-operations, 10 keys in use at a time,
/// about 20 appends per key, and the default failure and crash rates.
pub fn bench_config(txns: usize) -> GenConfig {
    GenConfig {
        seed: 42,
        txns,
        clients: 50,
        max_mops: 4,
        active_keys: 10,
        appends_per_key: 20,
        ..GenConfig::default()
    }
}

/// A small, fast, seedable generator (SplitMix64); statistical quality is ample for
/// picking operations, and it keeps the crate free of a random-number dependency.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Ok,
    Fail,
    CrashApplied,
    CrashLost,
}

struct Planned {
    process: u64,
    invoke_at: u64,
    apply_at: u64,
    complete_at: u64,
    fate: Fate,
    /// (is read, key, appended value)
    mops: Vec<(bool, u64, i64)>,
}

/// Generates a strictly serializable list-append history.
pub fn list_append(config: &GenConfig) -> History {
    simulate(config, false)
}

/// Generates a strictly serializable rw-register history: the same simulation with
/// `["w", k, v]` writes of unique values and single-value reads (`null` before any write).
pub fn rw_register(config: &GenConfig) -> History {
    simulate(config, true)
}

/// Generates a list-append history from a store that gives *snapshot isolation* instead:
/// a transaction reads the state as of its invocation (plus its own appends), and commits
/// at one instant inside its window unless a key it appends to was appended to by another
/// transaction that committed since it began (first committer wins; it then fails). Such
/// histories have write skew (G2-item) but no G-single or G-nonadjacent.
pub fn list_append_snapshot(config: &GenConfig) -> History {
    simulate_snapshot(config, true)
}

/// Generates a list-append history from a store that is only *read committed*: reads come
/// from a snapshot taken at invocation, as with [`list_append_snapshot`], but concurrent
/// appends to one key never conflict, so updates get lost. Such histories have G-single
/// (lost updates) and write skew, and nothing read committed forbids.
pub fn list_append_read_committed(config: &GenConfig) -> History {
    simulate_snapshot(config, false)
}

/// Generates the densest dependency graph for its size: `txns` transactions, all concurrent,
/// on one key; the even ones append (or, with `register`, write) a unique value, the odd
/// ones read the key and see nothing. It is strictly serializable (every read first), yet
/// every reader must precede every writer: `txns² / 4` anti-dependencies. For testing that
/// the checkers keep their time budget when the work is quadratic.
pub fn all_concurrent(txns: usize, register: bool) -> History {
    let mop = |i: usize, done: bool| match (i % 2, register) {
        (0, false) => json!([["append", "x", i]]),
        (0, true) => json!([["w", "x", i]]),
        (_, false) => json!([["r", "x", if done { json!([]) } else { Value::Null }]]),
        (_, true) => json!([["r", "x", null]]),
    };
    let event = |i: usize, kind: EventType| Event {
        index: 0,
        time: None,
        process: Process::Client(i as u64),
        kind,
        f: "txn".into(),
        key: None,
        value: mop(i, kind == EventType::Ok),
        node: None,
        error: None,
        response: None,
    };
    let invocations = (0..txns).map(|i| event(i, EventType::Invoke));
    let completions = (0..txns).map(|i| event(i, EventType::Ok));
    History::from_events(invocations.chain(completions)).expect("one op per process")
}

fn simulate_snapshot(config: &GenConfig, first_committer_wins: bool) -> History {
    let mut rng = Rng::new(config.seed);
    let planned = plan(config, &mut rng);
    // Per key: (commit instant, value), in commit order; a snapshot is a prefix.
    let mut lists: HashMap<u64, Vec<(u64, i64)>> = HashMap::new();
    replay(&planned, false, |p, time| {
        let conflict = first_committer_wins
            && p.mops.iter().any(|&(is_read, key, _)| {
                !is_read
                    && lists
                        .get(&key)
                        .and_then(|l| l.last())
                        .is_some_and(|&(c, _)| c > p.invoke_at)
            });
        if conflict {
            let fate = if p.fate == Fate::Ok {
                Fate::Fail
            } else {
                Fate::CrashLost
            };
            return (fate, None);
        }
        let mut own: HashMap<u64, Vec<i64>> = HashMap::new();
        let mut seen = Vec::new();
        for &(is_read, key, value) in &p.mops {
            if is_read {
                let committed = lists.get(&key).map_or(&[][..], Vec::as_slice);
                // Without write conflicts, a transaction that appended to a key
                // reads it as of its commit, as a store that locks written rows
                // would show it; otherwise its own appends would land out of order.
                let upto = if !first_committer_wins && own.contains_key(&key) {
                    committed.len()
                } else {
                    committed.partition_point(|&(c, _)| c < p.invoke_at)
                };
                let mut list: Vec<i64> = committed[..upto].iter().map(|&(_, v)| v).collect();
                list.extend(own.get(&key).into_iter().flatten());
                seen.push(json!(list));
            } else {
                own.entry(key).or_default().push(value);
            }
        }
        for &(is_read, key, value) in &p.mops {
            if !is_read {
                lists.entry(key).or_default().push((time, value));
            }
        }
        (p.fate, Some(seen))
    })
}

fn simulate(config: &GenConfig, register: bool) -> History {
    let mut rng = Rng::new(config.seed);
    let planned = plan(config, &mut rng);
    let mut lists: HashMap<u64, Vec<i64>> = HashMap::new();
    replay(&planned, register, |p, _| {
        let mut seen = Vec::new();
        for &(is_read, key, value) in &p.mops {
            let list = lists.entry(key).or_default();
            match (is_read, register) {
                (true, false) => seen.push(json!(list)),
                (true, true) => seen.push(json!(list.last())),
                (false, _) => list.push(value),
            }
        }
        (p.fate, Some(seen))
    })
}

/// Plays the planned transactions in real time and records the history. `apply` runs at
/// the apply instant of each transaction that takes effect (`ok`, or crashed after
/// applying) and returns its final fate with the values its reads saw.
fn replay(
    planned: &[Planned],
    register: bool,
    mut apply: impl FnMut(&Planned, u64) -> (Fate, Option<Vec<Value>>),
) -> History {
    // Events: (time, kind: 0 invoke / 1 apply / 2 complete, txn). Times are distinct per
    // client and an apply lies strictly inside its window, so sorting gives real time.
    let mut events: Vec<(u64, u8, u32)> = Vec::with_capacity(planned.len() * 3);
    for (i, p) in planned.iter().enumerate() {
        events.push((p.invoke_at, 0, i as u32));
        events.push((p.apply_at, 1, i as u32));
        events.push((p.complete_at, 2, i as u32));
    }
    events.sort_unstable();
    let mut reads: Vec<Option<Vec<Value>>> = (0..planned.len()).map(|_| None).collect();
    let mut fates: Vec<Fate> = planned.iter().map(|p| p.fate).collect();
    let mut ops: Vec<Op> = Vec::with_capacity(planned.len());
    let mut op_of: Vec<usize> = vec![usize::MAX; planned.len()];
    let mut pos = 0usize;
    for &(time, kind, t) in &events {
        let p = &planned[t as usize];
        match kind {
            0 => {
                op_of[t as usize] = ops.len();
                ops.push(invocation(ops.len(), p, pos, time, register));
                pos += 1;
            }
            1 if matches!(p.fate, Fate::Ok | Fate::CrashApplied) => {
                (fates[t as usize], reads[t as usize]) = apply(p, time);
            }
            1 => {}
            _ => {
                let seen = reads[t as usize].take();
                let fate = fates[t as usize];
                complete(
                    &mut ops[op_of[t as usize]],
                    p,
                    fate,
                    seen,
                    pos,
                    time,
                    register,
                );
                pos += 1;
            }
        }
    }
    History {
        ops,
        nemesis: Vec::new(),
        event_count: pos,
        warnings: Vec::new(),
    }
}

fn plan(config: &GenConfig, rng: &mut Rng) -> Vec<Planned> {
    let clients = config.clients.max(1);
    let mut free: BinaryHeap<Reverse<(u64, usize)>> =
        (0..clients).map(|c| Reverse((c as u64, c))).collect();
    let mut process: Vec<u64> = (0..clients as u64).collect();
    let mut next_key = config.active_keys.max(1) as u64;
    let mut active: Vec<(u64, usize)> = (0..next_key).map(|k| (k, 0)).collect();
    let mut counters: HashMap<u64, i64> = HashMap::new();
    let mut planned = Vec::with_capacity(config.txns);
    for _ in 0..config.txns {
        let Reverse((at, c)) = free.pop().expect("one entry per client");
        // Times are multiples of the client count plus the client's number, so no two
        // events of different clients share an instant.
        let unit = clients as u64;
        let invoke_at = at + unit * (1 + rng.below(20));
        let duration = unit * (2 + rng.below(100));
        let apply_at = invoke_at + unit * (1 + rng.below(duration / unit - 1));
        let complete_at = invoke_at + duration;
        let fate = if rng.chance(config.fail_rate) {
            Fate::Fail
        } else if rng.chance(config.crash_rate) {
            if rng.chance(0.5) {
                Fate::CrashApplied
            } else {
                Fate::CrashLost
            }
        } else {
            Fate::Ok
        };
        let n = 1 + rng.below(config.max_mops.max(1) as u64) as usize;
        let mut mops = Vec::with_capacity(n);
        for _ in 0..n {
            let slot = rng.below(active.len() as u64) as usize;
            let key = active[slot].0;
            if rng.chance(config.read_share) {
                mops.push((true, key, 0));
                continue;
            }
            let counter = counters.entry(key).or_insert(0);
            *counter += 1;
            mops.push((false, key, *counter));
            active[slot].1 += 1;
            if active[slot].1 >= config.appends_per_key {
                counters.remove(&key);
                active[slot] = (next_key, 0);
                next_key += 1;
            }
        }
        planned.push(Planned {
            process: process[c],
            invoke_at,
            apply_at,
            complete_at,
            fate,
            mops,
        });
        if matches!(fate, Fate::CrashApplied | Fate::CrashLost) {
            process[c] += clients as u64;
        }
        free.push(Reverse((complete_at, c)));
    }
    planned
}

fn txn_value(mops: &[(bool, u64, i64)], reads: Option<&[Value]>, register: bool) -> Value {
    let mut next_read = 0;
    let write = if register { "w" } else { "append" };
    let items = mops
        .iter()
        .map(|&(is_read, key, value)| {
            if !is_read {
                return json!([write, key, value]);
            }
            let seen = reads.map(|r| r[next_read].clone());
            next_read += 1;
            json!(["r", key, seen.unwrap_or(Value::Null)])
        })
        .collect();
    Value::Array(items)
}

fn invocation(id: usize, p: &Planned, pos: usize, time: u64, register: bool) -> Op {
    let value = txn_value(&p.mops, None, register);
    Op {
        id,
        process: p.process,
        f: "txn".to_string(),
        key: None,
        value: value.clone(),
        invoke_value: value,
        complete_value: None,
        outcome: Outcome::Info,
        invoke_pos: pos,
        complete_pos: None,
        line: pos + 1,
        invoke_time: Some(time * 1000),
        complete_time: None,
        node: None,
        error: None,
        response: None,
    }
}

#[allow(clippy::too_many_arguments)]
fn complete(
    op: &mut Op,
    p: &Planned,
    fate: Fate,
    reads: Option<Vec<Value>>,
    pos: usize,
    time: u64,
    register: bool,
) {
    op.complete_pos = Some(pos);
    op.complete_time = Some(time * 1000);
    match fate {
        Fate::Ok => {
            op.outcome = Outcome::Ok;
            op.value = txn_value(&p.mops, reads.as_deref(), register);
            op.complete_value = Some(op.value.clone());
        }
        Fate::Fail => {
            op.outcome = Outcome::Fail;
            op.complete_value = Some(op.invoke_value.clone());
            op.error = Some(json!("aborted"));
        }
        Fate::CrashApplied | Fate::CrashLost => {
            op.outcome = Outcome::Info;
            op.complete_value = Some(op.invoke_value.clone());
            op.error = Some(json!("timeout"));
        }
    }
}

/// An anomaly [`inject`] can plant in a generated history, and the anomaly a checker must
/// then report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inject {
    /// A read-only transaction misses an append that completed before it began:
    /// `G-single-realtime` (or `G-single-process` when the order runs through its process).
    StaleRead,
    /// A committed append that every read misses, though reads began after it: `lost-append`.
    LostAppend,
    /// A longest read holds its last element twice: `duplicate-elements`.
    DuplicateElement,
    /// A longest read ends with the append of a failed transaction: `G1a`.
    AbortedRead,
}

impl Inject {
    pub const ALL: [Inject; 4] = [
        Inject::StaleRead,
        Inject::LostAppend,
        Inject::DuplicateElement,
        Inject::AbortedRead,
    ];

    /// The anomaly kind a checker must report (a prefix for the stale read, whose cycle
    /// may need process or real-time order).
    pub fn expected(self) -> &'static str {
        match self {
            Inject::StaleRead => "G-single",
            Inject::LostAppend => "lost-append",
            Inject::DuplicateElement => "duplicate-elements",
            Inject::AbortedRead => "G1a",
        }
    }
}

/// One micro-operation of a history, located; a read keeps only its length and last
/// element (the list itself stays in the history).
#[derive(Clone, Debug)]
struct Located {
    op: usize,
    index: usize,
    append: bool,
    key: String,
    /// The appended value.
    value: i64,
    len: usize,
    last: Option<i64>,
}

fn micro_ops(history: &History) -> Vec<Located> {
    let mut all = Vec::new();
    for op in history.ops.iter().filter(|o| o.f == "txn") {
        let Some(mops) = op.value.as_array() else {
            continue;
        };
        for (index, m) in mops.iter().enumerate() {
            let Some([f, k, v]) = m.as_array().and_then(|a| a.get(..3)) else {
                continue;
            };
            let list = v.as_array();
            all.push(Located {
                op: op.id,
                index,
                append: f == "append",
                key: k.to_string(),
                value: v.as_i64().unwrap_or(0),
                len: list.map_or(0, Vec::len),
                last: list.and_then(|l| l.last()).and_then(Value::as_i64),
            });
        }
    }
    all
}

fn read_list(history: &History, m: &Located) -> Vec<i64> {
    history.ops[m.op].value[m.index][2]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

fn set_read(history: &mut History, op: usize, index: usize, list: &[i64]) {
    let op = &mut history.ops[op];
    op.value[index][2] = json!(list);
    if let Some(c) = op.complete_value.as_mut() {
        c[index][2] = json!(list);
    }
}

/// Plants one anomaly of the given kind; returns the id of the operation that now shows
/// it, or why the history offers no place for it (try another seed).
pub fn inject(history: &mut History, anomaly: Inject, seed: u64) -> Result<usize, String> {
    let all = micro_ops(history);
    let outcomes: Vec<Outcome> = history.ops.iter().map(|o| o.outcome).collect();
    let ok = |op: usize| outcomes[op] == Outcome::Ok;
    let single = |op: usize| {
        history.ops[op]
            .value
            .as_array()
            .is_some_and(|a| a.len() == 1)
    };
    let mut writer: HashMap<(&str, i64), usize> = HashMap::new();
    let mut longest: HashMap<&str, usize> = HashMap::new();
    let mut on_key: HashMap<(usize, &str), usize> = HashMap::new();
    let mut by_key: HashMap<&str, Vec<&Located>> = HashMap::new();
    let mut failed: HashMap<&str, i64> = HashMap::new();
    for m in &all {
        *on_key.entry((m.op, &m.key)).or_default() += 1;
        by_key.entry(&m.key).or_default().push(m);
        if m.append {
            writer.insert((&m.key, m.value), m.op);
            if outcomes[m.op] == Outcome::Fail {
                failed.entry(&m.key).or_insert(m.value);
            }
        } else if ok(m.op) {
            let best = longest.entry(&m.key).or_default();
            *best = (*best).max(m.len);
        }
    }
    let alone = |m: &Located| on_key[&(m.op, m.key.as_str())] == 1;
    let ok_reads = |key: &str| {
        by_key[key]
            .iter()
            .copied()
            .filter(|r| !r.append && ok(r.op))
            .collect::<Vec<_>>()
    };
    let reads = || all.iter().filter(|m| !m.append && ok(m.op) && alone(m));
    let candidates: Vec<&Located> = match anomaly {
        Inject::StaleRead => reads()
            .filter(|m| single(m.op))
            .filter(|m| {
                let Some(&a) = m.last.and_then(|last| writer.get(&(m.key.as_str(), last))) else {
                    return false;
                };
                ok(a)
                    && on_key[&(a, m.key.as_str())] == 1
                    && history.ops[a].precedes(&history.ops[m.op])
                    && longest[m.key.as_str()] > m.len
            })
            .collect(),
        // A transaction that does nothing else, so no read can see part of it.
        Inject::LostAppend => all
            .iter()
            .filter(|m| m.append && ok(m.op) && alone(m) && single(m.op))
            .filter(|m| {
                let a = &history.ops[m.op];
                let key_reads = ok_reads(&m.key);
                let all_end = key_reads
                    .iter()
                    .all(|r| r.last == Some(m.value) || !read_list(history, r).contains(&m.value));
                let later = key_reads
                    .iter()
                    .any(|r| r.last == Some(m.value) && alone(r) && a.precedes(&history.ops[r.op]));
                all_end && later
            })
            .collect(),
        Inject::DuplicateElement => reads()
            .filter(|m| m.len > 0 && longest[m.key.as_str()] == m.len)
            .collect(),
        Inject::AbortedRead => reads()
            .filter(|m| longest[m.key.as_str()] == m.len && failed.contains_key(m.key.as_str()))
            .collect(),
    };
    if candidates.is_empty() {
        return Err(format!("no place to inject {anomaly:?} in this history"));
    }
    let chosen = candidates[Rng::new(seed).below(candidates.len() as u64) as usize].clone();
    let list = read_list(history, &chosen);
    let mut edits: Vec<(usize, usize, Vec<i64>)> = Vec::new();
    match anomaly {
        Inject::StaleRead => edits.push((chosen.op, chosen.index, list[..list.len() - 1].to_vec())),
        Inject::LostAppend => {
            for r in ok_reads(&chosen.key)
                .iter()
                .filter(|r| r.last == Some(chosen.value))
            {
                let l = read_list(history, r);
                edits.push((r.op, r.index, l[..l.len() - 1].to_vec()));
            }
        }
        Inject::DuplicateElement => {
            let mut l = list.clone();
            l.push(*list.last().expect("non-empty"));
            edits.push((chosen.op, chosen.index, l));
        }
        Inject::AbortedRead => {
            let mut l = list.clone();
            l.push(failed[chosen.key.as_str()]);
            edits.push((chosen.op, chosen.index, l));
        }
    }
    drop(by_key);
    for (op, index, list) in edits {
        set_read(history, op, index, &list);
    }
    Ok(chosen.op)
}
