//! The runner: one test, from an empty machine to a verdict and back to an empty machine.
//!
//! ```text
//!  setup ──► main phase ──────────────► heal + quiet ──► final reads ──► teardown ──► check
//!  start,    workers + nemesis          end every fault,  every live key  logs in,       verdict,
//!  ready     (time_limit_s)             let it settle     from every node nodes gone     report
//! ```
//!
//! Every phase has a hard limit (the sum is printed at the start), so a hung store or a hung
//! fault cannot hold a CI job: setup `setup_timeout_s`; the main phase `time_limit_s` (or
//! the sum of the spec's `[[phases]]`, run one after another, each healing its own faults)
//! plus one client timeout for the last operations in flight; the heal the nemesis's own bounded
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
use faultline_checkers::{CheckResult, Verdict};

use crate::client::Target;
use crate::cluster::Cluster;
use crate::db::{self, NodePlan};
use crate::exit::Code;
use crate::log;
use crate::nemesis::NemesisSink;
use crate::plan::{PhasePlan, Plan, PHASE_START, PHASE_STOP};
use crate::progress;
use crate::recorder::{self, Recorder};
use crate::report::{self, RunMeta, Versions};
use crate::rundir;
use crate::spec::{LoadedSpec, ReadyProbe};
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
    let seed = loaded.spec.run.seed.unwrap_or_else(rand::random::<u64>);
    let mut plan = Plan::new(loaded, seed)?;
    let spec = &loaded.spec;
    let started_wall = chrono::Utc::now();
    let run_dir = rundir::make_run_dir(&opts.out, &spec.name, started_wall)?;
    rundir::write_run_files(&run_dir, loaded, seed, &opts.command_line)?;
    // Every line from here on, from any thread, also goes to the run's controller.log.
    let _log = log::start_run(&run_dir.join("controller.log"));
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
        plan.bounds.total().as_secs(),
        run_dir.display()
    );
    crate::cluster::registry::install_interrupt_teardown()
        .context("cannot install the Ctrl-C handler")?;
    let cluster = Arc::new(Cluster::start(&plan.cluster).context("cannot create the cluster")?);
    let plans = plan.node_plans(&cluster)?;
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
    // The stores' log lines carry the history's clock, so a failing op can be put beside
    // what each node was saying.
    crate::cluster::stamp_logs_from(Some(start));
    let (rec, writer) = recorder::create(&run_dir.join(report::HISTORY_FILE), start)?;
    let mut asked = quiesce.asked();
    // A bar only where someone watches it; elsewhere, plain lines in the log.
    let bar = opts.progress && std::io::stderr().is_terminal();
    let main = std::mem::take(&mut plan.phases);
    let phases = rt.block_on(async {
        tokio::select! {
            outcome = phases(&cluster, &plan, main, &plans, &rec, bar) => {
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
    crate::cluster::stamp_logs_from(None);
    let recorded = writer.finish()?;
    let problems = finish_cluster(cluster, &plan, &plans, &run_dir);
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
    let mut output_errors: Vec<String> = recorded.write_error.clone().into_iter().collect();
    let history = recorded
        .history()
        .context("the recorded history cannot be read back")?;
    tracing::info!(
        "recorded {} operations ({} events); checking",
        history.ops.len(),
        history.event_count
    );
    let mut checks = plan.check(
        &history,
        phase_outcome.final_reads_done,
        phase_outcome.final_reads_from,
    );
    let nodes: Vec<String> = plans.iter().map(|p| p.node.clone()).collect();
    report::placing::place_anomalies(&mut checks, &history, &nodes);
    let meta = RunMeta {
        spec_name: spec.name.clone(),
        store: if opts.store.is_empty() {
            spec.description.clone()
        } else {
            opts.store.clone()
        },
        nodes,
        seed: Some(seed),
        command_line: opts.command_line.clone(),
        started: Some(started_wall),
        finished: Some(chrono::Utc::now()),
        duration: Some(start.elapsed()),
        versions: Versions::current(),
        spec_text: Some(loaded.source.clone()),
        run_dir: run_dir.clone(),
        errors: output_errors.clone(),
        ..RunMeta::default()
    };
    let verdict = report::overall_verdict(&checks);
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

/// What the phases learned that the checks need.
struct PhaseOutcome {
    final_reads_done: bool,
    /// When the final reads began (history nanoseconds).
    final_reads_from: Option<u64>,
}

async fn phases(
    cluster: &Arc<Cluster>,
    plan: &Plan,
    main: Vec<PhasePlan>,
    nodes: &[NodePlan],
    rec: &Recorder,
    progress: bool,
) -> anyhow::Result<PhaseOutcome> {
    let b = plan.bounds;
    // A fault this cluster cannot inject (a partition on the loopback backend) is a test
    // that cannot be carried out as written: refuse before starting anything.
    for s in main.iter().filter_map(|p| p.schedule.as_ref()) {
        s.check(cluster)?;
    }

    // Setup.
    {
        let (c, p, setup) = (cluster.clone(), nodes.to_vec(), b.setup);
        tokio::task::spawn_blocking(move || db::start_all(&c, &p, setup)).await??;
    }
    let targets: Vec<Target> = nodes.iter().map(|p| p.target.clone()).collect();
    let client = plan.client(targets.clone())?;
    let ready_from = Instant::now();
    let took = db::await_ready(cluster, &plan.spec.db, nodes, b.ready).await?;
    tracing::info!(
        "setup: every node is ready after {:.1}s",
        took.as_secs_f64()
    );
    let ready = &plan.spec.db.ready;
    if ready.probe == ReadyProbe::WriteRead {
        // Validated at load: the workload has a write and a read.
        let ops = db::ProbeOps::of(plan.workload.fs())
            .context("the workload has no write and read for the write-read probe")?;
        let interval = Duration::from_millis(ready.interval_ms);
        let deadline = ready_from + b.ready;
        let what =
            db::await_replicated(cluster, nodes, client.as_ref(), ops, deadline, interval).await?;
        tracing::info!(
            "setup: {what} after {:.1}s",
            ready_from.elapsed().as_secs_f64()
        );
    }

    // From here to teardown, a store process that exits on its own is a finding.
    let watcher = crate::health::Watcher::start(cluster.clone(), rec.clone());
    let generator = &plan.generator;
    let setup = generator.lock().map(|g| g.setup_ops()).unwrap_or_default();
    workers::setup(&client, rec, &targets, setup, b.setup).await?;

    // Main phase: one stretch, or the spec's phases one after another. Who leads and how
    // membership changes, for the faults of every phase.
    let store: Arc<dyn crate::nemesis::Store> =
        Arc::new(db::StoreControl::new(&plan.spec.db, nodes)?);
    let stop = Arc::new(AtomicBool::new(false));
    let ticker = tokio::spawn(progress::progress_loop(
        rec.counters().clone(),
        stop.clone(),
        b.main,
        progress,
    ));
    let mut next_process = 0;
    for phase in main {
        let stint = workers::Stint {
            concurrency: plan.spec.run.concurrency,
            rate: phase.rate,
            mix: phase.mix.clone(),
            first_process: next_process,
            length: phase.duration,
        };
        let context = PhaseContext {
            cluster,
            client: &client,
            generator,
            rec,
            targets: &targets,
            store: &store,
        };
        next_process = run_phase(&context, phase, stint).await?;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = ticker.await;

    tracing::info!("quiet period: {}s", b.quiet.as_secs());
    tokio::time::sleep(b.quiet).await;

    // Final reads.
    let final_reads_from = rec.now_ns();
    let reads = generator
        .lock()
        .map(|g| g.final_reads())
        .unwrap_or_default();
    let done =
        workers::final_reads(&client, rec, &targets, reads, next_process, b.final_reads).await;
    if done {
        tracing::info!("final reads: done");
    } else {
        tracing::info!("final reads: did not finish in time");
    }
    watcher.stop();
    Ok(PhaseOutcome {
        final_reads_done: done,
        final_reads_from: Some(final_reads_from),
    })
}

/// What every phase of the main phase runs against.
struct PhaseContext<'a> {
    cluster: &'a Arc<Cluster>,
    client: &'a Arc<dyn crate::client::Client>,
    generator: &'a Arc<Mutex<crate::workload::Generator>>,
    rec: &'a Recorder,
    targets: &'a [Target],
    /// Who leads and how membership changes, for the faults.
    store: &'a Arc<dyn crate::nemesis::Store>,
}

/// One phase of the main phase: its workers and its faults, every fault healed before it
/// returns; a named phase is also framed by its `phase-start` and `phase-stop` events.
/// Resolves to the first process id no worker used.
async fn run_phase(
    context: &PhaseContext<'_>,
    phase: PhasePlan,
    stint: workers::Stint,
) -> anyhow::Result<u64> {
    let PhaseContext {
        cluster,
        client,
        generator,
        rec,
        targets,
        store,
    } = *context;
    let event = phase.name.as_ref().map(|name| {
        serde_json::json!({
            "name": name,
            "duration_s": phase.duration.as_secs(),
            "rate": phase.rate,
            "nemesis": phase.faults,
            "mix": phase.mix.as_deref(),
        })
    });
    if let Some(e) = &event {
        rec.nemesis(PHASE_START, e.clone());
    }
    let nemesis = phase.schedule.map(|s| {
        s.spawn_with(
            cluster.clone(),
            Arc::new(rec.clone()) as Arc<dyn NemesisSink>,
            Some(store.clone()),
        )
    });
    tracing::info!(
        "{}: {}s at {} ops/s{}",
        phase
            .name
            .as_deref()
            .map_or("main phase".to_string(), |n| format!("phase {n}")),
        phase.duration.as_secs(),
        phase.rate,
        if nemesis.is_some() {
            " with faults"
        } else {
            ""
        }
    );
    let mut next_process = stint.first_process;
    for w in workers::spawn_workers(&stint, client, generator, rec, targets) {
        next_process = next_process.max(w.await.unwrap_or(0));
    }
    if let Some(n) = nemesis {
        tracing::info!("heal: ending every fault");
        let errors = tokio::task::spawn_blocking(move || n.finish()).await?;
        for e in errors {
            tracing::warn!("nemesis: {e}");
        }
    }
    if let Some(e) = event {
        rec.nemesis(PHASE_STOP, e);
    }
    Ok(next_process)
}

/// Stops the store, copies the logs into the run directory, tears the cluster down.
fn finish_cluster(
    cluster: Arc<Cluster>,
    plan: &Plan,
    plans: &[NodePlan],
    run_dir: &Path,
) -> Vec<String> {
    tracing::info!("teardown: stopping the store, collecting logs");
    let limit = plan.bounds.teardown;
    let (db_spec, plans, dest) = (plan.spec.db.clone(), plans.to_vec(), run_dir.join("nodes"));
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
