//! The test plan: a validated spec (the command line's overrides already applied) turned,
//! in one step, into the objects a run is made of.
//!
//! ```text
//!  spec.toml + flags ──► LoadedSpec (parsed, validated once) ──► Plan ──► runner
//!                                                                 │
//!        cluster config · fault schedule · workload generator · checker · phase bounds
//! ```
//!
//! Everything that can be decided before a node exists is decided here, so that a spec the
//! run cannot carry out fails before anything starts, and the runner only orchestrates. The
//! objects that need the nodes' addresses (the store's command lines, the HTTP client) are
//! built from the plan once the cluster is up: [`Plan::node_plans`] and [`Plan::client`]
//! (`faultline check-spec` builds them for nodes planned but never created).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use faultline_checkers::registry::{self, CheckerOptions};
use faultline_checkers::{Budget, CheckResult, Checker, History};

use crate::client::http::HttpClient;
use crate::client::{Client, Target};
use crate::cluster::{Cluster, ClusterConfig, Node};
use crate::db::{self, NodePlan};
use crate::nemesis::Schedule;
use crate::spec::{LoadedSpec, Spec};
use crate::workload::{self, Generator, WorkloadKind};

/// A bound on the final heal: stopping every fault calls the cluster, whose calls are each
/// bounded; this is the budget we announce for them.
const HEAL_BOUND: Duration = Duration::from_secs(30);

/// The hard limit of every phase; their sum is printed at the start of a run.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    pub setup: Duration,
    /// Waiting for every node to answer its readiness probe (within `setup`).
    pub ready: Duration,
    pub main: Duration,
    /// The last operations of the main phase still in flight.
    pub client: Duration,
    pub heal: Duration,
    pub quiet: Duration,
    pub final_reads: Duration,
    pub teardown: Duration,
    pub check: Duration,
}

impl Bounds {
    fn of(spec: &Spec) -> Bounds {
        let r = &spec.run;
        let setup = Duration::from_secs(r.setup_timeout_s);
        Bounds {
            setup,
            ready: Duration::from_secs(spec.db.ready.timeout_s).min(setup),
            main: Duration::from_secs(spec.main_s()),
            client: Duration::from_millis(spec.client.timeout_ms),
            // Each phase heals its own faults before the next.
            heal: HEAL_BOUND * spec.phases.len().max(1) as u32,
            quiet: Duration::from_secs(r.quiet_s),
            final_reads: Duration::from_secs(r.final_reads_timeout_s),
            teardown: Duration::from_secs(r.teardown_timeout_s),
            check: Duration::from_secs(r.check_timeout_s),
        }
    }

    /// Every phase's limit added up, with one client timeout for the main phase's last
    /// operations and one for the final reads' last.
    pub fn total(&self) -> Duration {
        self.setup
            + self.main
            + self.heal
            + self.quiet
            + self.final_reads
            + self.teardown
            + self.check
            + self.client * 2
    }
}

/// The history event (of the nemesis process, `info`) that starts a named phase; its value
/// is the phase: `{"name": "faults", "duration_s": 10, "rate": 100.0, "nemesis":
/// ["partition"], "mix": null}`. [`PHASE_STOP`], with the same value, ends it.
pub const PHASE_START: &str = "phase-start";
/// The history event that ends a named phase, after its faults were healed.
pub const PHASE_STOP: &str = "phase-stop";

/// One phase of the main phase, as the runner carries it out.
pub struct PhasePlan {
    /// The phase's name; `None` for the one main phase of a spec without `[[phases]]`,
    /// which records no phase events.
    pub name: Option<String>,
    pub duration: Duration,
    /// Total operations per second, 0 for unlimited.
    pub rate: f64,
    /// A weight per operation, multiplying the workload's own odds; `None`: its own mix.
    pub mix: Option<Arc<BTreeMap<String, f64>>>,
    /// The phase's faults and when; `None` when it injects none.
    pub schedule: Option<Schedule>,
    /// The names of the phase's faults, for its events.
    pub faults: Vec<String>,
}

impl PhasePlan {
    /// The spec's phases: each draws its faults from its own list with the `[nemesis]`
    /// table's timing, and from a seed of its own, so that a phase's faults do not depend on
    /// how many the phases before it drew.
    fn of(spec: &Spec, seed: u64) -> Vec<PhasePlan> {
        if spec.phases.is_empty() {
            return vec![PhasePlan {
                name: None,
                duration: Duration::from_secs(spec.run.time_limit_s),
                rate: spec.run.rate,
                mix: None,
                schedule: Schedule::from_spec(&spec.nemesis, seed),
                faults: spec
                    .nemesis
                    .faults
                    .iter()
                    .map(|f| f.name().to_string())
                    .collect(),
            }];
        }
        spec.phases
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let nemesis = crate::spec::NemesisSpec {
                    faults: p.nemesis.clone(),
                    schedule: Vec::new(),
                    ..spec.nemesis.clone()
                };
                PhasePlan {
                    name: Some(p.name.clone()),
                    duration: p.duration(),
                    rate: p.rate.unwrap_or(spec.run.rate),
                    mix: p.mix.clone().map(Arc::new),
                    schedule: Schedule::from_spec(&nemesis, seed.wrapping_add(i as u64 + 1)),
                    faults: p.nemesis.iter().map(|f| f.name().to_string()).collect(),
                }
            })
            .collect()
    }
}

/// What a run is made of.
pub struct Plan {
    pub spec: Spec,
    pub seed: u64,
    pub cluster: ClusterConfig,
    /// The main phase: one stretch, or the spec's `[[phases]]` one after another.
    pub phases: Vec<PhasePlan>,
    pub workload: WorkloadKind,
    /// Shared by the workers: one seeded stream whatever worker draws from it.
    pub generator: Arc<Mutex<Generator>>,
    /// The checker that judges the history (the workload's own check comes on top).
    pub checker: Box<dyn Checker>,
    pub bounds: Bounds,
    /// Whether the store must read a fake clock (local nodes share the controller's).
    pub clock_faults: bool,
}

impl Plan {
    /// Builds the plan of `loaded`, with `seed` for every random choice (the spec's own
    /// seed, when it has one, is the caller's to pass).
    pub fn new(loaded: &LoadedSpec, seed: u64) -> anyhow::Result<Plan> {
        let spec = loaded.spec.clone();
        let cluster = spec
            .cluster_config()
            .context("the spec's cluster cannot be set up")?;
        let phases = PhasePlan::of(&spec, seed);
        let checker = build_checker(&spec)?;
        Ok(Plan {
            seed,
            cluster,
            phases,
            workload: spec.workload.name,
            generator: Arc::new(Mutex::new(Generator::new(&spec.workload, seed))),
            checker,
            bounds: Bounds::of(&spec),
            clock_faults: spec.uses_clock_faults(),
            spec,
        })
    }

    /// The store's command line, environment and address on each node of `cluster`.
    pub fn node_plans(&self, cluster: &Cluster) -> anyhow::Result<Vec<NodePlan>> {
        let mut plans = self.commands(cluster.nodes())?;
        if self.clock_faults {
            for (node, plan) in cluster.nodes().iter().zip(plans.iter_mut()) {
                crate::nemesis::clock::prepare_daemon(node.as_ref(), &mut plan.daemon)?;
                crate::nemesis::clock::prepare_daemon(node.as_ref(), &mut plan.rejoin)?;
            }
        }
        Ok(plans)
    }

    /// Each node's role, command line, environment, address and readiness probe, as the
    /// spec's templates render them for `nodes` (no clock is prepared: nothing runs yet).
    pub fn commands(&self, nodes: &[Arc<dyn Node>]) -> anyhow::Result<Vec<NodePlan>> {
        db::plan(&self.spec.db, nodes)
    }

    /// The HTTP client that talks to `targets`, one per node.
    pub fn client(&self, targets: Vec<Target>) -> anyhow::Result<Arc<dyn Client>> {
        Ok(Arc::new(HttpClient::new(&self.spec.client, targets)?))
    }

    /// Judges `history`: the checker's verdict (within the check bound; a panic is unknown),
    /// the workload's own check that the run was not vacuous, and the store's health
    /// (crashes, recovery after the final heal).
    pub fn check(
        &self,
        history: &History,
        final_reads_done: bool,
        final_reads_from: Option<u64>,
    ) -> Vec<CheckResult> {
        let budget = Budget::with_time_limit(self.bounds.check);
        let started = std::time::Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.checker.check(history, &budget)
        }))
        .unwrap_or_else(|_| CheckResult::unknown(self.checker.name(), "the checker panicked"))
        .with_duration(started.elapsed());
        vec![
            result,
            workload::vacuity_check(self.workload, history, final_reads_done),
            crate::health::check(history, self.spec.db.crashes, final_reads_from),
        ]
    }
}

/// The checker `[checker]` names, or the workload's own.
fn build_checker(spec: &Spec) -> anyhow::Result<Box<dyn Checker>> {
    let name = spec
        .checker
        .name
        .clone()
        .unwrap_or_else(|| spec.workload.name.default_checker().to_string());
    let descriptor = spec.workload.name.descriptor();
    let options = CheckerOptions {
        nil_read_matches_any: spec.checker.nil_read_matches_any,
        set_linearizable: spec.checker.set_linearizable,
        consistency: spec.checker.consistency_model,
        // What the workload's setup makes of the store (the bank's opening balances) is
        // known to its own checker; another checker is judged without it.
        initial: if name == descriptor.default_checker {
            (descriptor.checker_initial)(&spec.workload)
        } else {
            serde_json::Value::Null
        },
        ..CheckerOptions::default()
    };
    registry::build(&name, &options)
        .with_context(|| format!("the spec's checker `{name}` cannot be built"))
}
