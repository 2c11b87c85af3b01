//! The linearizability checker: is there one order of the operations, consistent with real
//! time, in which a single correct copy of the object gives every answer the clients saw?
//!
//! Each operation takes effect at one instant between its invocation and its completion
//! (its linearization point). A history is linearizable when such points exist for every
//! `ok` op, with the model accepting the ops in that order; `fail` ops never happened, and a
//! crashed (`info`) op takes effect at any instant after its invocation, or never.
//!
//! ```text
//! time ──────────────────────────────────────────────────────────────────►
//! p0  |──write 1──|            |──write 2──|
//! p1        |───────read 1───────|             fine: read 1 takes effect before write 2
//! p2                                          |──read 1──|
//!                                               invalid: write 2 completed before this
//!                                               read began, nothing wrote 1 again (stale)
//! points:   w1     r1(p1)        w2             r1(p2)?  the register holds 2 here
//! ```
//!
//! Anomaly reported: `nonlinearizable`, with the key, the operation that could not be
//! placed, the states the object could be in at that point, the operations concurrent with
//! it, and the longest prefix that could be linearized ([`Failure`]).
//!
//! How: the WGL search (`search.rs`) over each key separately and in parallel (keys of a
//! history are independent objects: a history is linearizable iff each key's is, Herlihy &
//! Wing's locality, which Porcupine calls P-compositionality), after the reductions of
//! `reduce.rs` removed or bounded the crashed ops that would otherwise stay pending to the
//! end of the history. Values are interned to small integers per key, states are `u32`,
//! the memo holds the linearized set as a compact bitset, and a configuration that used a
//! superset of the crashed ops of one already explored (same state, same `ok` ops) is
//! skipped. [`SearchOptions::reductions`] turns all of this off for the plain search.
//!
//! Complexity: NP-complete in general (Gibbons & Korach 1997); the search is exponential
//! in the number of ops concurrent with each other, linear in the length of the history
//! when concurrency is bounded. A [`Budget`] turns an exhausted time or memory budget into
//! `unknown`.
//!
//! References: Herlihy & Wing, "Linearizability: a correctness condition for concurrent
//! objects" (1990); Wing & Gong, "Testing and verifying concurrent objects" (1993); Lowe,
//! "Testing for linearizability" (2017); Horn & Kroening, "Faster linearizability checking
//! via P-compositionality" (2015).

mod reduce;
mod search;
pub mod stream;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::history::{History, Op, Outcome};
use crate::model::{describe_value, Compiled, Model, ModelKind, ModelOptions};
use crate::verdict::{Anomaly, Budget, CheckResult, Checker, OpRef, Verdict};

use reduce::Role;
use search::{Deadline, Limits, Outcome as SearchOutcome, SearchOp, Stuck};

/// Checks that a history is linearizable with respect to a sequential model, each key
/// independently.
#[derive(Clone, Debug)]
pub struct Linearizable {
    pub model: ModelKind,
    pub options: ModelOptions,
}

impl Checker for Linearizable {
    fn name(&self) -> &str {
        "linearizable"
    }

    fn check(&self, history: &History, budget: &Budget) -> CheckResult {
        check_history(
            history,
            self.model,
            &self.options,
            &SearchOptions::default(),
            budget,
        )
    }

    fn functions(&self) -> Option<&'static [&'static str]> {
        Some(self.model.functions())
    }
}

/// How the search runs. Defaults: every reduction on.
#[derive(Clone, Debug)]
pub struct SearchOptions {
    /// Apply the crashed-op reductions (the rules of `reduce.rs`). Off, the search is the plain
    /// WGL search, kept for comparison and for the property tests that prove the
    /// reductions.
    pub reductions: bool,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions { reductions: true }
    }
}

/// Figures for one key, as they appear in `details.per_key`.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct KeyStats {
    /// The key (`null` for ops without one).
    pub key: Option<String>,
    pub verdict: Option<Verdict>,
    /// `ok` and `info` ops of the key (`fail` ops are not counted: they never happened).
    pub ops: usize,
    /// Crashed (`info`) ops, open invocations included.
    pub crashed: usize,
    /// Crashed ops a reduction removed.
    pub dropped: usize,
    /// Crashed ops a reduction gave a deadline (the return of the first op that observed
    /// their effect).
    pub bounded: usize,
    /// Distinct (linearized set, state) configurations the search reached.
    pub configurations: u64,
}

/// Why a key is not linearizable: the evidence a report draws.
///
/// All op ids are indices into [`History::ops`]. It is written into `details` (flattened) and
/// into each `nonlinearizable` anomaly's `data`, and read back with [`Failure::from_json`];
/// every field but `failing_op` may be missing from what older versions wrote.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Failure {
    /// The key (`null` for ops without one).
    #[serde(default)]
    pub key: Option<String>,
    /// The op that could not be placed, furthest into the history the search got.
    pub failing_op: usize,
    /// Ops of the same key whose interval overlaps the failing op's (crashed ops extend to
    /// the end of the history), at most [`MAX_CONCURRENT`].
    #[serde(default)]
    pub concurrent: Vec<usize>,
    /// The states the object could be in where the failing op had to take effect.
    #[serde(default)]
    pub states: Vec<Value>,
    /// The longest linearizable prefix found, in linearization order.
    #[serde(default)]
    pub prefix: Vec<usize>,
    /// The state the model starts in, then the one after each op of `prefix` (one more
    /// than `prefix`), along the search's best attempt; empty from older versions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefix_states: Vec<Value>,
    /// The first witness in one clause: the key, the op that cannot take effect and the
    /// states it met (`key k0: read by process 8 returned 1 (op 68, line 137) cannot take
    /// effect: at that point the register could only be 4`).
    #[serde(default)]
    pub headline: String,
    /// A sentence a person reads: the headline, then the concurrent ops.
    #[serde(default)]
    pub explanation: String,
}

impl Failure {
    /// The failure a linearizability result's `details` or an anomaly's `data` describes;
    /// `None` when it describes none (a valid result, another checker's output).
    pub fn from_json(value: &Value) -> Option<Failure> {
        Failure::deserialize(value).ok()
    }
}

/// The most concurrent ops a [`Failure`] lists.
pub const MAX_CONCURRENT: usize = 64;

/// The most keys `details.per_key` lists (keys that are not valid always are).
pub const MAX_KEYS_LISTED: usize = 1000;

/// What the linearizability check of one key concluded.
#[derive(Clone, Debug)]
pub struct KeyReport {
    pub stats: KeyStats,
    pub verdict: Verdict,
    /// Set when invalid.
    pub failure: Option<Failure>,
    /// Set when unknown: why.
    pub reason: Option<String>,
}

/// `CheckResult.details` of the linearizability checker.
///
/// ```json
/// {"model": "cas-register", "keys": 100, "ops": 1000000, "crashed": 10000,
///  "dropped": 1200, "bounded": 8100, "configurations": 1234567,
///  "key": "k3", "failing_op": 4711, "concurrent": [4705, 4709], "states": [3, 4],
///  "prefix": [0, 2, 1, 3], "headline": "key k3: read by process 4 returned 2, ...",
///  "explanation": "key k3: read by process 4 returned 2, ...; concurrent: ...",
///  "per_key": [{"key": "k3", "verdict": "invalid", "ops": 10000, "crashed": 100,
///               "dropped": 12, "bounded": 81, "configurations": 20411}]}
/// ```
///
/// The totals are over all keys. `key`, `failing_op`, `concurrent`, `states`, `prefix`,
/// `headline` and `explanation` ([`Failure`]) are present only for an invalid history and describe the
/// first invalid key; `anomalies` carries one [`Failure`] per invalid key in `data`.
/// `per_key` lists every key up to [`MAX_KEYS_LISTED`] (keys that are not valid first).
#[derive(Clone, Debug, Serialize)]
pub struct LinearDetails {
    pub model: &'static str,
    pub keys: usize,
    pub ops: usize,
    pub crashed: usize,
    pub dropped: usize,
    pub bounded: usize,
    pub configurations: u64,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    pub per_key: Vec<KeyStats>,
}

/// Checks a whole history: groups ops by key and checks keys in parallel
/// (`budget.threads` workers), composing the verdicts (invalid beats unknown beats valid).
pub fn check_history(
    history: &History,
    model: ModelKind,
    options: &ModelOptions,
    search: &SearchOptions,
    budget: &Budget,
) -> CheckResult {
    let groups: Vec<(Option<&str>, Vec<&Op>)> = history
        .by_key()
        .into_iter()
        .map(|(key, ids)| (key, ids.into_iter().map(|id| &history.ops[id]).collect()))
        .collect();
    let keys: Vec<Option<&str>> = groups.iter().map(|(key, _)| *key).collect();
    let sizes: Vec<usize> = groups.iter().map(|(_, ops)| ops.len()).collect();
    let memory_used = AtomicUsize::new(0);
    let reports = run_keys(&keys, &sizes, budget, |i| {
        check_key(model, options, &groups[i].1, search, budget, &memory_used)
    });
    summarize(model, reports)
}

/// Runs `check` over every key (`keys[i]` has `sizes[i]` ops) on `budget.threads` workers,
/// largest keys first.
fn run_keys<F>(keys: &[Option<&str>], sizes: &[usize], budget: &Budget, check: F) -> Vec<KeyReport>
where
    F: Fn(usize) -> KeyReport + Sync,
{
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));
    let slots: Mutex<Vec<Option<KeyReport>>> = Mutex::new(vec![None; keys.len()]);
    let next = AtomicUsize::new(0);
    let work = || {
        while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
            // A bug in one key's search must not take the whole check down: that key is
            // unknown, and says why.
            let mut report = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(i)))
                .unwrap_or_else(|panic| {
                    let why = panic
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or_else(|| panic.downcast_ref::<&str>().copied())
                        .unwrap_or("no message");
                    KeyReport::unknown(
                        KeyStats::default(),
                        format!("internal error in the search: {why}"),
                    )
                });
            report.stats.key = keys[i].map(str::to_string);
            if let Some(failure) = report.failure.as_mut() {
                failure.key = report.stats.key.clone();
                if let Some(k) = &failure.key {
                    failure.headline = format!("key {k}: {}", failure.headline);
                    failure.explanation = format!("key {k}: {}", failure.explanation);
                }
            }
            slots.lock().expect("no worker panics holding the lock")[i] = Some(report);
        }
    };
    let threads = budget.threads.clamp(1, keys.len().max(1));
    if threads == 1 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(work);
            }
        });
    }
    slots
        .into_inner()
        .expect("workers are done")
        .into_iter()
        .map(|r| r.expect("every key was checked"))
        .collect()
}

/// Checks the ops of one key (all outcomes; `fail` ops are dropped here), counting the
/// search's memory in `memory_used`, which all keys share.
fn check_key(
    model: ModelKind,
    options: &ModelOptions,
    ops: &[&Op],
    search: &SearchOptions,
    budget: &Budget,
    memory_used: &AtomicUsize,
) -> KeyReport {
    let mut kept: Vec<&Op> = ops
        .iter()
        .copied()
        .filter(|op| op.outcome != Outcome::Fail)
        .collect();
    kept.sort_by_key(|op| op.invoke_pos);
    let mut stats = KeyStats {
        ops: kept.len(),
        crashed: kept.iter().filter(|op| op.outcome == Outcome::Info).count(),
        ..KeyStats::default()
    };
    let compiled = match model.compile(options, &kept) {
        Ok(compiled) => compiled,
        Err(e) => return KeyReport::unknown(stats, format!("cannot check {e}")),
    };
    let roles = if search.reductions {
        reduce::reduce(&compiled, &kept)
    } else {
        reduce::plain(&kept)
    };
    for (role, op) in roles.iter().zip(&kept) {
        match role {
            Role::Dropped => stats.dropped += 1,
            Role::Must { .. } if op.outcome == Outcome::Info => stats.bounded += 1,
            _ => {}
        }
    }
    let limits = Limits {
        deadline: budget.deadline,
        memory_used,
        memory_bytes: budget.memory_bytes,
        prune_idle_optional: search.reductions,
        subsume: search.reductions,
    };
    let job = Job {
        ops: &kept,
        roles: &roles,
        limits: &limits,
        group: search.reductions,
    };
    match compiled {
        Compiled::Register(mut m) => job.run(&mut m, stats),
        Compiled::Mutex(mut m) => job.run(&mut m, stats),
        Compiled::Set(mut m) => job.run(&mut m, stats),
        Compiled::Queue(mut m) => job.run(&mut m, stats),
        Compiled::MultiRegister(mut m) => job.run(&mut m, stats),
        Compiled::Kv(mut m) => job.run(&mut m, stats),
    }
}

/// One key's search, ready to run on its compiled model.
struct Job<'a> {
    ops: &'a [&'a Op],
    roles: &'a [Role],
    limits: &'a Limits<'a>,
    /// Group identical optional ops (reduction 3).
    group: bool,
}

impl Job<'_> {
    fn run<M: Model>(&self, model: &mut M, mut stats: KeyStats) -> KeyReport {
        let (search_ops, local) = self.prepare(model);
        let (outcome, search_stats) = search::search(model, &search_ops, self.limits);
        stats.configurations = search_stats.configurations;
        match outcome {
            SearchOutcome::Valid => KeyReport {
                verdict: Verdict::Valid,
                stats: KeyStats {
                    verdict: Some(Verdict::Valid),
                    ..stats
                },
                failure: None,
                reason: None,
            },
            SearchOutcome::Unknown(why) => KeyReport::unknown(stats, why),
            SearchOutcome::Invalid(stuck) => {
                let failure = self.explain(model, &stuck, &local);
                KeyReport {
                    verdict: Verdict::Invalid,
                    stats: KeyStats {
                        verdict: Some(Verdict::Invalid),
                        ..stats
                    },
                    failure: Some(failure),
                    reason: None,
                }
            }
        }
    }

    /// The search's ops (dropped ones left out) and, for each, its index in `self.ops`.
    fn prepare<M: Model>(&self, model: &M) -> (Vec<SearchOp>, Vec<usize>) {
        let mut search_ops = Vec::with_capacity(self.ops.len());
        let mut local = Vec::with_capacity(self.ops.len());
        let mut last_of_group: HashMap<&M::Op, u32> = HashMap::new();
        for (i, op) in self.ops.iter().enumerate() {
            let ret = match self.roles[i] {
                Role::Dropped => continue,
                Role::Must { ret, observer } => Some(Deadline {
                    pos: ret,
                    synthetic: observer.is_some(),
                }),
                Role::Optional => None,
            };
            let index = search_ops.len() as u32;
            let same_prev = match ret {
                None if self.group => last_of_group.insert(&model.ops()[i], index),
                _ => None,
            };
            search_ops.push(SearchOp {
                model_op: i as u32,
                call: op.invoke_pos,
                ret,
                same_prev,
            });
            local.push(i);
        }
        (search_ops, local)
    }

    fn explain<M: Model>(&self, model: &M, stuck: &Stuck, local: &[usize]) -> Failure {
        let mut failing = local[stuck.op as usize];
        let mut depends = String::new();
        if let Role::Must {
            observer: Some(o), ..
        } = self.roles[failing]
        {
            depends = format!(
                " (its value can only come from the indeterminate (info) {}, which cannot take effect in time)",
                describe_op(self.ops[failing])
            );
            failing = o;
        }
        let op = self.ops[failing];
        let concurrent: Vec<&Op> = self
            .ops
            .iter()
            .copied()
            .filter(|x| {
                x.id != op.id
                    && x.invoke_pos < op.complete_pos_or_end()
                    && op.invoke_pos < x.complete_pos_or_end()
            })
            .take(MAX_CONCURRENT)
            .collect();
        let states: Vec<Value> = stuck.states.iter().map(|&s| model.state_value(s)).collect();
        let described: Vec<String> = states.iter().map(describe_value).collect();
        let listed: Vec<String> = concurrent
            .iter()
            .take(6)
            .map(|x| format!("{} (op {})", describe_op(x), x.id))
            .collect();
        let more = concurrent.len().saturating_sub(listed.len());
        let headline = format!(
            "{} (op {}, line {}){depends} cannot take effect: at that point the {} could only be {}",
            describe_op(op),
            op.id,
            op.line,
            model.noun(),
            join_or(&described),
        );
        let explanation = format!(
            "{headline}; concurrent: {}{}",
            if listed.is_empty() {
                "none".to_string()
            } else {
                listed.join(", ")
            },
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            },
        );
        Failure {
            key: None,
            failing_op: op.id,
            concurrent: concurrent.iter().map(|x| x.id).collect(),
            states,
            prefix: stuck
                .prefix
                .iter()
                .map(|&p| self.ops[local[p as usize]].id)
                .collect(),
            prefix_states: stuck
                .prefix_states
                .iter()
                .map(|&s| model.state_value(s))
                .collect(),
            headline,
            explanation,
        }
    }
}

impl KeyReport {
    fn unknown(stats: KeyStats, why: String) -> KeyReport {
        KeyReport {
            stats: KeyStats {
                verdict: Some(Verdict::Unknown),
                ..stats
            },
            verdict: Verdict::Unknown,
            failure: None,
            reason: Some(why),
        }
    }
}

/// `read by process 4 on n3 at 5.104 s returned 2`, `write 3 by process 2 (indeterminate:
/// info)`, `cas [1,2] by ...` (node and time when the history has them).
pub fn describe_op(op: &Op) -> String {
    let what = match (op.f.as_str(), op.outcome) {
        ("read", Outcome::Ok) => {
            return format!(
                "read by process {}{} returned {}",
                op.process,
                op.whereabouts(),
                describe_value(&op.value)
            )
        }
        (f, _) if op.value.is_null() => f.to_string(),
        (f, _) => format!("{f} {}", op.value),
    };
    // `info` is an op whose outcome nobody knows, not a crash of the store: the word must
    // not send a reader looking for a dead process.
    let unknown = if op.outcome == Outcome::Info {
        " (indeterminate: info)"
    } else {
        ""
    };
    format!(
        "{what} by process {}{}{unknown}",
        op.process,
        op.whereabouts()
    )
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => "nothing".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn summarize(model: ModelKind, reports: Vec<KeyReport>) -> CheckResult {
    let verdict = reports.iter().fold(Verdict::Valid, |v, r| v.and(r.verdict));
    let mut details = LinearDetails {
        model: model.name(),
        keys: reports.len(),
        ops: 0,
        crashed: 0,
        dropped: 0,
        bounded: 0,
        configurations: 0,
        failure: None,
        per_key: Vec::new(),
    };
    for r in &reports {
        details.ops += r.stats.ops;
        details.crashed += r.stats.crashed;
        details.dropped += r.stats.dropped;
        details.bounded += r.stats.bounded;
        details.configurations += r.stats.configurations;
    }
    let failures: Vec<&Failure> = reports.iter().filter_map(|r| r.failure.as_ref()).collect();
    let unknown: Vec<&KeyReport> = reports
        .iter()
        .filter(|r| r.verdict == Verdict::Unknown)
        .collect();
    let summary = match verdict {
        Verdict::Invalid => format!(
            "not linearizable ({} of {} keys): {}",
            failures.len(),
            reports.len(),
            failures[0].explanation
        ),
        Verdict::Unknown => format!(
            "unknown ({} of {} keys undecided): {}{}",
            unknown.len(),
            reports.len(),
            unknown[0]
                .stats
                .key
                .as_ref()
                .map(|k| format!("key {k}: "))
                .unwrap_or_default(),
            unknown[0].reason.as_deref().unwrap_or("undecided")
        ),
        Verdict::Valid => format!(
            "linearizable: {} keys, {} ops ({} indeterminate (info)), {} configurations explored",
            details.keys, details.ops, details.crashed, details.configurations
        ),
    };
    let anomalies = failures
        .iter()
        .map(|f| Anomaly {
            kind: "nonlinearizable".to_string(),
            explanation: f.explanation.clone(),
            data: serde_json::to_value(f).unwrap_or(Value::Null),
            ops: vec![OpRef::id(f.failing_op)],
        })
        .collect();
    details.failure = failures.first().map(|f| (*f).clone());
    let mut listed: Vec<&KeyReport> = reports
        .iter()
        .filter(|r| r.verdict != Verdict::Valid)
        .collect();
    let shown = MAX_KEYS_LISTED.max(listed.len());
    listed.extend(reports.iter().filter(|r| r.verdict == Verdict::Valid));
    details.per_key = listed
        .into_iter()
        .take(shown)
        .map(|r| r.stats.clone())
        .collect();
    CheckResult {
        checker: "linearizable".to_string(),
        verdict,
        summary,
        anomalies,
        details: serde_json::to_value(&details).unwrap_or(Value::Null),
        warnings: Vec::new(),
        duration_ms: None,
    }
}
