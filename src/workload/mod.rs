//! Workloads: what the clients do, as seeded streams of operations.
//!
//! A workload is one file in this folder. It says, in its [`Descriptor`], the operations it
//! issues (each needs a `[client.ops.F]` in the spec), the checker that judges it unless the
//! spec names another, whether that checker needs the final reads to have finished, and how
//! to build its generator; [`REGISTRY`] lists every workload, and `run --help`, the spec's
//! validation and the runner read it from there.
//!
//! | workload | operations | default checker |
//! |---|---|---|
//! | `register` | `read`, `write` | linearizability, register model |
//! | `cas-register` | `read`, `write`, `cas [expected, new]` | linearizability, cas-register |
//! | `set` | `add`, final `read` | `set-full` |
//! | `list-append` | `txn [["append", k, v], ["r", k, null], ...]` | Elle's `list-append` |
//! | `rw-register` | `txn [["w", k, v], ["r", k, null], ...]` | Elle's `rw-register` |
//! | `bank` | `init` (setup), `transfer {from, to, amount}`, `read [accounts]` | `bank` |
//! | `counter` | `add n`, `read` | `counter` |
//! | `unique-ids` | `generate` | `unique-ids` |
//!
//! A workload may need the store in a known state first (the bank's opening balances): its
//! [`Workload::setup_ops`] run once, in order, before the main phase and before any fault,
//! and the run stops (exit 3) unless each completes `ok`.
//!
//! The [`Generator`] is one seeded stream ([`rand_chacha::ChaCha8Rng`]) shared by all workers
//! behind a lock: the sequence of operations is a function of the seed; which worker gets
//! which operation depends on timing, as in any concurrent test.
//!
//! A vacuous run is not a pass: [`vacuity_check`] answers unknown when some operation of the
//! workload never completed `ok` (a wrong URL, a cluster that never formed, a rule that never
//! matches), since such a run tested nothing about that operation.

mod bank;
mod counter;
mod keys;
mod list_append;
mod register;
mod rw_register;
mod set;
mod txn;
mod unique_ids;

use std::collections::BTreeMap;

use faultline_checkers::{CheckResult, History, Outcome, Verdict};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::Invocation;
use crate::spec::WorkloadSpec;

pub use txn::FINAL_READS_PER_TXN;

/// A workload's stream of operations. The generator owns the random stream and lends it, so
/// that one seed drives every choice.
pub trait Workload: Send {
    /// The next operation of the main phase.
    fn next_op(&mut self, rng: &mut ChaCha8Rng) -> Invocation;
    /// The reads after the cluster healed, each sent to every node: every key that may hold
    /// data the checker needs to see.
    fn final_reads(&self) -> Vec<Invocation>;
    /// Operations run once, in order, before the main phase, each of which must complete
    /// `ok` (the bank's opening balances). None by default.
    fn setup_ops(&self) -> Vec<Invocation> {
        Vec::new()
    }
}

/// Everything the rest of faultline needs to know about one workload.
pub struct Descriptor {
    pub kind: WorkloadKind,
    /// One line for `--help`.
    pub about: &'static str,
    /// The operations it issues; the spec needs a `[client.ops.F]` for each, and a run in
    /// which one of them never completed `ok` is vacuous.
    pub fs: &'static [&'static str],
    /// The checker a run uses unless `[checker] name` says otherwise.
    pub default_checker: &'static str,
    /// Whether the default checker judges the final reads (a set is only ever read there):
    /// if they did not finish, the verdict carries a warning.
    pub needs_final_reads: bool,
    pub build: fn(&WorkloadSpec) -> Box<dyn Workload>,
    /// What the default checker is told of the store's initial state (its
    /// `--initial-value`: the bank's opening balances); `null` when nothing.
    pub checker_initial: fn(&WorkloadSpec) -> Value,
}

/// Every workload, in the order `--help` lists them.
pub const REGISTRY: &[Descriptor] = &[
    register::REGISTER,
    register::CAS_REGISTER,
    set::SET,
    list_append::LIST_APPEND,
    rw_register::RW_REGISTER,
    bank::BANK,
    counter::COUNTER,
    unique_ids::UNIQUE_IDS,
];

/// A workload's name in the spec (`[workload] name`).
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadKind {
    Register,
    CasRegister,
    Set,
    ListAppend,
    RwRegister,
    Bank,
    Counter,
    UniqueIds,
}

impl WorkloadKind {
    /// Its entry in the registry.
    pub fn descriptor(self) -> &'static Descriptor {
        REGISTRY
            .iter()
            .find(|d| d.kind == self)
            .expect("every workload kind is registered")
    }

    /// The name a spec uses.
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Register => "register",
            WorkloadKind::CasRegister => "cas-register",
            WorkloadKind::Set => "set",
            WorkloadKind::ListAppend => "list-append",
            WorkloadKind::RwRegister => "rw-register",
            WorkloadKind::Bank => "bank",
            WorkloadKind::Counter => "counter",
            WorkloadKind::UniqueIds => "unique-ids",
        }
    }

    /// The checker a run of this workload uses unless the spec names another.
    pub fn default_checker(self) -> &'static str {
        self.descriptor().default_checker
    }

    /// The operations the workload issues; each needs a `[client.ops.F]`.
    pub fn fs(self) -> &'static [&'static str] {
        self.descriptor().fs
    }
}

/// A seeded stream of operations for one workload.
/// How many draws a phase's mix may reject in a row before a worker skips its turn.
pub const MIX_DRAWS: usize = 64;

pub struct Generator {
    rng: ChaCha8Rng,
    workload: Box<dyn Workload>,
}

impl std::fmt::Debug for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator").finish_non_exhaustive()
    }
}

impl Generator {
    pub fn new(spec: &WorkloadSpec, seed: u64) -> Generator {
        Generator {
            rng: ChaCha8Rng::seed_from_u64(seed),
            workload: (spec.name.descriptor().build)(spec),
        }
    }

    /// The next operation of the main phase.
    pub fn next_op(&mut self) -> Invocation {
        self.workload.next_op(&mut self.rng)
    }

    /// The next operation under a phase's mix (a weight per `f`): the workload's own draw,
    /// kept with the odds of its weight against the largest, so each weight multiplies the
    /// workload's own odds of that operation. At most [`MIX_DRAWS`] draws: `None` when none
    /// was kept, so that a mix the workload rarely meets cannot hold a worker.
    pub fn next_op_in(&mut self, mix: Option<&BTreeMap<String, f64>>) -> Option<Invocation> {
        let Some(mix) = mix else {
            return Some(self.next_op());
        };
        let top = mix.values().copied().fold(0.0, f64::max);
        for _ in 0..MIX_DRAWS {
            let op = self.next_op();
            let weight = mix.get(&op.f).copied().unwrap_or(0.0);
            if weight > 0.0 && self.rng.gen_bool((weight / top).min(1.0)) {
                return Some(op);
            }
        }
        None
    }

    /// The reads after the cluster healed.
    pub fn final_reads(&self) -> Vec<Invocation> {
        self.workload.final_reads()
    }

    /// The operations that must succeed before the main phase.
    pub fn setup_ops(&self) -> Vec<Invocation> {
        self.workload.setup_ops()
    }
}

/// `unknown` when some operation of the workload never completed `ok`: such a run tested
/// nothing about that operation, and a pass would be a lie. Counts each operation's
/// outcomes for the report.
pub fn vacuity_check(kind: WorkloadKind, history: &History, final_reads_done: bool) -> CheckResult {
    let mut missing = Vec::new();
    let mut counts = serde_json::Map::new();
    for f in kind.fs() {
        let (mut ok, mut fail, mut info) = (0u64, 0u64, 0u64);
        for o in history.ops.iter().filter(|o| o.f == *f) {
            match o.outcome {
                Outcome::Ok => ok += 1,
                Outcome::Fail => fail += 1,
                Outcome::Info => info += 1,
            }
        }
        counts.insert(
            f.to_string(),
            serde_json::json!({"ok": ok, "fail": fail, "info": info}),
        );
        if ok == 0 {
            missing.push(*f);
        }
    }
    let mut warnings = Vec::new();
    if kind.descriptor().needs_final_reads && !final_reads_done {
        warnings.push("the final reads did not finish in time".to_string());
    }
    let (verdict, summary) = if missing.is_empty() {
        (
            Verdict::Valid,
            "every operation of the workload succeeded at least once".to_string(),
        )
    } else {
        (
            Verdict::Unknown,
            format!(
                "vacuous run: `{}` never completed ok, so nothing was tested about it; check the \
                 spec's [client.ops] rules against the store's answers (the `error` of each op in \
                 history.jsonl says what came back)",
                missing.join("`, `")
            ),
        )
    };
    CheckResult {
        checker: "workload".into(),
        verdict,
        summary,
        anomalies: Vec::new(),
        details: Value::Object(counts),
        warnings,
        duration_ms: None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use faultline_checkers::{Event, EventType, Process};
    use serde_json::json;

    pub fn spec(kind: &str) -> WorkloadSpec {
        toml::from_str(&format!("name = \"{kind}\"\nkeys = 3\nops_per_key = 10")).unwrap()
    }

    #[test]
    fn a_phase_mix_reweights_the_workloads_own_draws_and_leaves_out_unweighted_ops() {
        let mut g = Generator::new(&spec("register"), 3);
        let reads_only = BTreeMap::from([("read".to_string(), 1.0)]);
        let ops: Vec<Invocation> = (0..200)
            .filter_map(|_| g.next_op_in(Some(&reads_only)))
            .collect();
        assert!(ops.len() > 150, "{} ops", ops.len());
        assert!(ops.iter().all(|o| o.f == "read"));
        let mostly_writes = BTreeMap::from([("read".to_string(), 1.0), ("write".to_string(), 9.0)]);
        let writes = (0..1000)
            .filter_map(|_| g.next_op_in(Some(&mostly_writes)))
            .filter(|o| o.f == "write")
            .count();
        assert!(writes > 800, "{writes} writes of 1000");
    }

    #[test]
    fn the_same_seed_gives_the_same_operations() {
        for d in REGISTRY {
            let s = spec(d.kind.name());
            let mut a = Generator::new(&s, 7);
            let mut b = Generator::new(&s, 7);
            let mut c = Generator::new(&s, 8);
            let xs: Vec<_> = (0..100).map(|_| a.next_op()).collect();
            let ys: Vec<_> = (0..100).map(|_| b.next_op()).collect();
            let zs: Vec<_> = (0..100).map(|_| c.next_op()).collect();
            assert_eq!(xs, ys, "{}", d.kind.name());
            // A workload that draws nothing (every `generate` is alike) has no seed to show.
            if xs.iter().any(|x| *x != xs[0]) {
                assert_ne!(xs, zs, "{}", d.kind.name());
            }
        }
    }

    #[test]
    fn every_workload_issues_only_the_operations_it_declares() {
        for d in REGISTRY {
            let mut g = Generator::new(&spec(d.kind.name()), 1);
            for _ in 0..300 {
                let op = g.next_op();
                assert!(
                    d.fs.contains(&op.f.as_str()),
                    "{} issued {}",
                    d.kind.name(),
                    op.f
                );
            }
            for op in g.final_reads().into_iter().chain(g.setup_ops()) {
                assert!(
                    d.fs.contains(&op.f.as_str()),
                    "{} read with {}",
                    d.kind.name(),
                    op.f
                );
            }
        }
    }

    #[test]
    fn every_workload_kind_is_registered_once() {
        for d in REGISTRY {
            assert_eq!(REGISTRY.iter().filter(|o| o.kind == d.kind).count(), 1);
            assert!(faultline_checkers::registry::CHECKERS
                .iter()
                .any(|c| c.name == d.default_checker));
        }
    }

    fn op(process: u64, f: &str, outcome: EventType) -> [Event; 2] {
        let event = |kind| Event {
            index: 0,
            time: None,
            process: Process::Client(process),
            kind,
            f: f.into(),
            key: Some("k0".into()),
            value: json!(null),
            node: None,
            error: None,
            response: None,
        };
        [event(EventType::Invoke), event(outcome)]
    }

    #[test]
    fn a_run_in_which_some_operation_never_succeeded_is_unknown() {
        let mut events: Vec<Event> = Vec::new();
        events.extend(op(0, "read", EventType::Ok));
        events.extend(op(1, "write", EventType::Ok));
        events.extend(op(2, "cas", EventType::Fail));
        let history = History::from_events(events.clone()).unwrap();
        let result = vacuity_check(WorkloadKind::CasRegister, &history, true);
        assert_eq!(result.verdict, Verdict::Unknown);
        assert!(
            result.summary.contains("`cas` never completed ok"),
            "{}",
            result.summary
        );

        events.extend(op(3, "cas", EventType::Ok));
        let history = History::from_events(events).unwrap();
        assert_eq!(
            vacuity_check(WorkloadKind::CasRegister, &history, true).verdict,
            Verdict::Valid
        );
    }

    #[test]
    fn a_set_whose_final_reads_did_not_finish_says_so() {
        let mut events: Vec<Event> = Vec::new();
        events.extend(op(0, "add", EventType::Ok));
        events.extend(op(1, "read", EventType::Ok));
        let history = History::from_events(events).unwrap();
        let result = vacuity_check(WorkloadKind::Set, &history, false);
        assert_eq!(result.warnings, ["the final reads did not finish in time"]);
        assert!(vacuity_check(WorkloadKind::Set, &history, true)
            .warnings
            .is_empty());
    }
}
