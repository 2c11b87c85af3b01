//! The runner: one test, from an empty machine to a verdict and back to an empty machine.
//!
//! ```text
//!  setup ──► main phase ──────────────► heal + quiet ──► final reads ──► teardown ──► check
//!  start,    workers + nemesis          end every fault,  every live key  logs in,       verdict,
//!  ready     (time_limit_s)             let it settle     from every node nodes gone     report
//! ```
//!
//! Every phase has a hard limit (the sum is printed at the start), so a hung store or a hung
//! fault cannot hold a CI job: setup `setup_timeout_s`; the main phase `time_limit_s` plus one
//! client timeout for the last operations in flight; the heal the nemesis's own bounded
//! calls; the quiet period `quiet_s`; final reads `final_reads_timeout_s`; teardown
//! `teardown_timeout_s`; the checker `check_timeout_s` (past it: unknown).
//!
//! The workers and the final reads live in `workers`, the run directory in `rundir`, the
//! progress of the main phase in `progress`; every message goes through `tracing` (`log`).
//!
//! The cluster is torn down on every path — success, a setup error, a panic (its `Drop`) and
//! Ctrl-C (the cluster registry's signal handler) — after the node logs are copied into the
//! run directory, so a failed setup still leaves its evidence.
//!
//! A vacuous run is not a pass: if some operation of the workload never completed `ok` (a
//! wrong URL, a cluster that never formed, a rule that never matches), a `workload` check
//! answers unknown, and so does the run.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use faultline_checkers::registry::{self, CheckerOptions};
use faultline_checkers::{Budget, CheckResult, History, Outcome, Verdict};
use serde_json::Value;

use crate::client::http::HttpClient;
use crate::client::{Client, Target};
use crate::cluster::Cluster;
use crate::db::{self, NodePlan};
use crate::exit::Code;
use crate::generator::Generator;
use crate::log;
use crate::nemesis::{self, NemesisSink, Schedule};
use crate::progress;
use crate::recorder::{self, Recorder};
use crate::report::{self, RunMeta, Versions};
use crate::rundir;
use crate::spec::{LoadedSpec, Spec, WorkloadKind};
use crate::workers;

/// How a run is carried out, beyond its spec.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The reports root: the run lands in `out/<spec name>/<UTC timestamp>/`.
    pub out: PathBuf,
    /// The command line, for the record.
    pub command_line: Vec<String>,
    /// Free text naming the store under test, for the report.
    pub store: String,
    /// A live progress line on stderr (when it is a terminal) instead of periodic log lines.
    pub progress: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            out: PathBuf::from("reports"),
            command_line: std::env::args().collect(),
            store: String::new(),
            progress: std::io::stderr().is_terminal(),
        }
    }
}

/// What a finished run produced.
#[derive(Debug)]
pub struct RunOutcome {
    pub run_dir: PathBuf,
    pub verdict: Verdict,
    pub code: Code,
    pub checks: Vec<CheckResult>,
    pub seed: u64,
    /// Client operations recorded.
    pub ops: usize,
}

/// Runs the test a spec describes and returns the verdict. An `Err` means the test could not
/// be carried out (exit 3); the run directory, if it was made, keeps what was gathered.
pub fn run(loaded: &LoadedSpec, opts: &RunOptions) -> anyhow::Result<RunOutcome> {
    let spec = &loaded.spec;
    let seed = spec.run.seed.unwrap_or_else(rand::random::<u64>);
    let started_wall = chrono::Utc::now();
    let run_dir = rundir::make_run_dir(&opts.out, &spec.name, started_wall)?;
    rundir::write_run_files(&run_dir, loaded, seed, &opts.command_line)?;
    // Every line from here on, from any thread, also goes to the run's controller.log.
    let _log = log::start_run(&run_dir.join("controller.log"));
    let bound = total_bound(spec);
    tracing::info!(
        "faultline run {}: {} nodes ({} backend), {} workers, {} for {}s, seed {seed}",
        spec.name,
        spec.run.nodes,
        spec.run.backend,
        spec.run.concurrency,
        spec.workload.name.name(),
        spec.run.time_limit_s
    );
    tracing::info!(
        "every phase is bounded: at most {}s in all; run directory {}",
        bound.as_secs(),
        run_dir.display()
    );
    crate::cluster::registry::install_interrupt_teardown()
        .context("cannot install the Ctrl-C handler")?;
    let cluster =
        Arc::new(Cluster::start(&spec.cluster_config()?).context("cannot create the cluster")?);
    let mut plans = db::plan(&spec.db, cluster.nodes())?;
    if spec.uses_clock_faults() {
        // Local nodes share the controller's clock: the store reads a fake one instead.
        for (node, plan) in cluster.nodes().iter().zip(plans.iter_mut()) {
            nemesis::clock::prepare_daemon(node.as_ref(), &mut plan.daemon)?;
        }
    }
    tracing::info!(
        "cluster {}: {}",
        cluster.run_id(),
        plans
            .iter()
            .map(|p| format!("{} {}", p.node, p.target.ip))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // On Ctrl-C the signal thread tears the cluster down and exits. Before that, every
    // client socket must be closed (a SYN retransmitted after the bridge went would leave
    // the machine), and the nodes' logs are kept.
    let quiesce = Quiesce::new();
    let _on_interrupt = {
        let (weak, plans, dest, quiesce) = (
            Arc::downgrade(&cluster),
            plans.clone(),
            run_dir.join("nodes"),
            quiesce.clone(),
        );
        crate::cluster::registry::before_interrupt_teardown(move || {
            quiesce.request_and_wait(QUIESCE_BOUND);
            if let Some(cluster) = weak.upgrade() {
                for problem in db::collect_logs(&cluster, &plans, &dest) {
                    crate::errln!("faultline: {problem}");
                }
            }
        })
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()?;
    let start = Instant::now();
    let (rec, writer) = recorder::create(&run_dir.join(report::HISTORY_FILE), start)?;
    let mut asked = quiesce.asked();
    // A bar only where someone watches it; elsewhere, plain lines in the log.
    let bar = opts.progress && std::io::stderr().is_terminal();
    let phases = rt.block_on(async {
        tokio::select! {
            outcome = phases(&cluster, spec, &plans, &rec, seed, bar) => {
                Some(outcome)
            }
            _ = asked.wait_for(|asked| *asked) => None,
        }
    });
    // Dropping the runtime drops every task still alive, and with them their sockets.
    rt.shutdown_timeout(Duration::from_secs(1));
    quiesce.done();
    let Some(phases) = phases else {
        // Interrupted: the signal thread tears down and exits the process.
        loop {
            std::thread::park();
        }
    };
    drop(rec);
    let recorded = writer.finish()?;
    let problems = finish_cluster(cluster, spec, &plans, &run_dir);
    let phase_outcome = phases.with_context(|| {
        format!(
            "the test stopped; the run directory {} keeps what it gathered",
            run_dir.display()
        )
    })?;
    for p in problems {
        tracing::warn!("{p}");
    }
    // Errors that cost files but not the verdict: the run's code is the worse of the two.
    let mut output_errors: Vec<String> = recorded.write_error.into_iter().collect();
    let history =
        History::from_events(recorded.events).context("the recorded history is malformed")?;
    tracing::info!(
        "recorded {} operations ({} events); checking",
        history.ops.len(),
        history.event_count
    );
    let checks = check(spec, &history, &phase_outcome);
    let meta = RunMeta {
        spec_name: spec.name.clone(),
        store: if opts.store.is_empty() {
            spec.description.clone()
        } else {
            opts.store.clone()
        },
        nodes: plans.iter().map(|p| p.node.clone()).collect(),
        seed: Some(seed),
        command_line: opts.command_line.clone(),
        started: Some(started_wall),
        finished: Some(chrono::Utc::now()),
        duration: Some(start.elapsed()),
        versions: Versions::current(),
        spec_text: Some(loaded.source.clone()),
        run_dir: run_dir.clone(),
        ..RunMeta::default()
    };
    let verdict = report::overall_verdict(&checks);
    let meta = RunMeta {
        errors: output_errors.clone(),
        ..meta
    };
    match report::write_outputs(&run_dir, &meta, &history, &checks) {
        Ok(outputs) => tracing::info!("report: {}", outputs.report_html.display()),
        Err(e) => output_errors.push(format!("{e:#}")),
    }
    for c in &checks {
        tracing::info!("{}: {} — {}", c.checker, c.verdict, c.summary);
    }
    for e in &output_errors {
        tracing::error!("{e}");
    }
    let code = report::exit_code(verdict, &output_errors);
    Ok(RunOutcome {
        run_dir,
        verdict,
        code,
        checks,
        seed,
        ops: history.ops.len(),
    })
}

/// How long an interrupt waits for the clients to stop before tearing down regardless (the
/// blackhole route of the local backend still keeps their packets on the machine).
const QUIESCE_BOUND: Duration = Duration::from_secs(5);

/// The handshake between the signal thread and the runner: the signal thread asks the runner
/// to drop every client task, then waits until it has (or a bound passes) before the nodes'
/// links go.
#[derive(Clone)]
struct Quiesce {
    ask: Arc<tokio::sync::watch::Sender<bool>>,
    quiet: Arc<(Mutex<bool>, std::sync::Condvar)>,
}

impl Quiesce {
    fn new() -> Quiesce {
        Quiesce {
            ask: Arc::new(tokio::sync::watch::Sender::new(false)),
            quiet: Arc::new((Mutex::new(false), std::sync::Condvar::new())),
        }
    }

    fn asked(&self) -> tokio::sync::watch::Receiver<bool> {
        self.ask.subscribe()
    }

    /// Called by the runner once no client task is left.
    fn done(&self) {
        let (lock, cond) = &*self.quiet;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cond.notify_all();
    }

    fn request_and_wait(&self, bound: Duration) {
        self.ask.send_replace(true);
        let (lock, cond) = &*self.quiet;
        let quiet = lock.lock().unwrap_or_else(|p| p.into_inner());
        let _ = cond.wait_timeout_while(quiet, bound, |quiet| !*quiet);
    }
}

/// The bound printed at the start: every phase's hard limit added up.
pub fn total_bound(spec: &Spec) -> Duration {
    let r = &spec.run;
    let client = Duration::from_millis(spec.client.timeout_ms);
    Duration::from_secs(
        r.setup_timeout_s
            + r.time_limit_s
            + HEAL_BOUND_S
            + r.quiet_s
            + r.final_reads_timeout_s
            + r.teardown_timeout_s
            + r.check_timeout_s,
    ) + client * 2
}

/// A bound on the final heal: stopping every fault calls the cluster, whose calls are each
/// bounded; this is the budget we announce for them.
const HEAL_BOUND_S: u64 = 30;

/// What the phases learned that the checks need.
struct PhaseOutcome {
    final_reads_done: bool,
}

async fn phases(
    cluster: &Arc<Cluster>,
    spec: &Spec,
    plans: &[NodePlan],
    rec: &Recorder,
    seed: u64,
    progress: bool,
) -> anyhow::Result<PhaseOutcome> {
    // A fault this cluster cannot inject (a partition on the loopback backend) is a test
    // that cannot be carried out as written: refuse before starting anything.
    let schedule = Schedule::from_spec(&spec.nemesis, seed);
    if let Some(s) = &schedule {
        s.check(cluster)?;
    }

    // Setup.
    let setup = Duration::from_secs(spec.run.setup_timeout_s);
    {
        let (c, p) = (cluster.clone(), plans.to_vec());
        tokio::task::spawn_blocking(move || db::start_all(&c, &p, setup)).await??;
    }
    let ready = Duration::from_secs(spec.db.ready.timeout_s).min(setup);
    let took = db::await_ready(cluster, &spec.db, plans, ready).await?;
    tracing::info!(
        "setup: every node is ready after {:.1}s",
        took.as_secs_f64()
    );

    let targets: Vec<Target> = plans.iter().map(|p| p.target.clone()).collect();
    let client: Arc<dyn Client> = Arc::new(HttpClient::new(&spec.client, targets.clone())?);
    let generator = Arc::new(Mutex::new(Generator::new(&spec.workload, seed)));

    // Main phase.
    let nemesis = schedule.map(|s| {
        s.spawn(
            cluster.clone(),
            Arc::new(rec.clone()) as Arc<dyn NemesisSink>,
        )
    });
    let main = Duration::from_secs(spec.run.time_limit_s);
    tracing::info!(
        "main phase: {}s{}",
        main.as_secs(),
        if nemesis.is_some() {
            " with faults"
        } else {
            ""
        }
    );
    let stop = Arc::new(AtomicBool::new(false));
    let ticker = tokio::spawn(progress::progress_loop(
        rec.counters().clone(),
        stop.clone(),
        main,
        progress,
    ));
    let workers = workers::spawn_workers(
        spec.run.concurrency,
        spec.run.rate,
        &client,
        &generator,
        rec,
        &targets,
        main,
    );
    let mut next_process = 0;
    for w in workers {
        next_process = next_process.max(w.await.unwrap_or(0));
    }
    stop.store(true, Ordering::Relaxed);
    let _ = ticker.await;

    // Final heal and quiet period.
    if let Some(n) = nemesis {
        tracing::info!("heal: ending every fault");
        let errors = tokio::task::spawn_blocking(move || n.finish()).await?;
        for e in errors {
            tracing::warn!("nemesis: {e}");
        }
    }
    tracing::info!("quiet period: {}s", spec.run.quiet_s);
    tokio::time::sleep(Duration::from_secs(spec.run.quiet_s)).await;

    // Final reads.
    let reads = generator
        .lock()
        .map(|g| g.final_reads())
        .unwrap_or_default();
    let limit = Duration::from_secs(spec.run.final_reads_timeout_s);
    let done = workers::final_reads(&client, rec, &targets, reads, next_process, limit).await;
    if done {
        tracing::info!("final reads: done");
    } else {
        tracing::info!("final reads: did not finish in time");
    }
    Ok(PhaseOutcome {
        final_reads_done: done,
    })
}

/// Stops the store, copies the logs into the run directory, tears the cluster down.
fn finish_cluster(
    cluster: Arc<Cluster>,
    spec: &Spec,
    plans: &[NodePlan],
    run_dir: &Path,
) -> Vec<String> {
    tracing::info!("teardown: stopping the store, collecting logs");
    let limit = Duration::from_secs(spec.run.teardown_timeout_s);
    let (db_spec, plans, dest) = (spec.db.clone(), plans.to_vec(), run_dir.join("nodes"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        db::stop_all(&cluster, &db_spec);
        let mut problems = db::collect_logs(&cluster, &plans, &dest);
        match Arc::try_unwrap(cluster) {
            Ok(c) => {
                if let Err(e) = c.teardown() {
                    problems.push(e.to_string());
                }
            }
            // Some task still holds it; its drop tears the cluster down.
            Err(_) => problems
                .push("the cluster is still referenced; it is torn down when released".into()),
        }
        let _ = tx.send(problems);
    });
    match rx.recv_timeout(limit) {
        Ok(problems) => problems,
        Err(_) => vec![format!(
            "teardown did not finish within {}s; `faultline clean` removes what is left",
            limit.as_secs()
        )],
    }
}

/// The checks of a run: the model's checker, and the workload's own sanity check.
fn check(spec: &Spec, history: &History, phases: &PhaseOutcome) -> Vec<CheckResult> {
    let budget = Budget::with_time_limit(Duration::from_secs(spec.run.check_timeout_s));
    let name = spec
        .checker
        .name
        .clone()
        .unwrap_or_else(|| spec.workload.name.default_checker().to_string());
    let options = CheckerOptions {
        nil_read_matches_any: spec.checker.nil_read_matches_any,
        // Validated when the spec was loaded.
        consistency: spec.checker.consistency_model,
        ..CheckerOptions::default()
    };
    let checker = match registry::build(&name, &options) {
        Ok(c) => c,
        Err(e) => return vec![CheckResult::unknown(&name, e.to_string())],
    };
    let started = std::time::Instant::now();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        checker.check(history, &budget)
    }))
    .unwrap_or_else(|_| CheckResult::unknown(checker.name(), "the checker panicked"))
    .with_duration(started.elapsed());
    vec![result, workload_check(spec, history, phases)]
}

/// `unknown` when some operation of the workload never completed `ok`: such a run tested
/// nothing about that operation, and a pass would be a lie.
fn workload_check(spec: &Spec, history: &History, phases: &PhaseOutcome) -> CheckResult {
    let mut missing = Vec::new();
    let mut counts = serde_json::Map::new();
    for f in spec.workload.name.fs() {
        let ops = history.ops.iter().filter(|o| o.f == *f);
        let (mut ok, mut fail, mut info) = (0u64, 0u64, 0u64);
        for o in ops {
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
    if spec.workload.name == WorkloadKind::Set && !phases.final_reads_done {
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
mod tests {
    use super::*;
    use faultline_checkers::{Event, EventType, Process};
    use serde_json::json;

    fn spec() -> Spec {
        let src = r#"
[db]
start = ["store"]
[db.ready]
path = "/"
[client.ops.read]
path = "/"
[client.ops.write]
path = "/"
[client.ops.cas]
path = "/"
[workload]
name = "cas-register"
"#;
        LoadedSpec::parse(Path::new("t.toml"), src.into())
            .unwrap()
            .spec
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
        };
        [event(EventType::Invoke), event(outcome)]
    }

    #[test]
    fn a_run_in_which_some_operation_never_succeeded_is_unknown() {
        let phases = PhaseOutcome {
            final_reads_done: true,
        };
        let mut events: Vec<Event> = Vec::new();
        events.extend(op(0, "read", EventType::Ok));
        events.extend(op(1, "write", EventType::Ok));
        events.extend(op(2, "cas", EventType::Fail));
        let history = History::from_events(events.clone()).unwrap();
        let result = workload_check(&spec(), &history, &phases);
        assert_eq!(result.verdict, Verdict::Unknown);
        assert!(
            result.summary.contains("`cas` never completed ok"),
            "{}",
            result.summary
        );

        events.extend(op(3, "cas", EventType::Ok));
        let history = History::from_events(events).unwrap();
        assert_eq!(
            workload_check(&spec(), &history, &phases).verdict,
            Verdict::Valid
        );
    }
}
