//! When faults happen: a seeded random schedule or a fixed script, run on its own thread and
//! always closed by a final heal.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{
    ClockFault, ClockNemesis, FaultEvent, FaultKind, KillNemesis, Nemesis, NemesisSink,
    PartitionNemesis, PauseNemesis,
};
use crate::cluster::{Cluster, Error, Signal, Target, Topology};

/// Timing of the random schedule. Defaults: a fault every 10 s ± 50 %, held 10 s ± 50 %.
#[derive(Clone, Debug)]
pub struct ScheduleConfig {
    /// Mean quiet time before each fault starts.
    pub interval: Duration,
    /// Mean time a fault stays in force.
    pub duration: Duration,
    /// Each wait is drawn uniformly from mean × (1 ± jitter); clamped to [0, 1].
    pub jitter: f64,
    /// Seeds every random choice: which fault, which topology, which nodes, how long.
    pub seed: u64,
}

impl Default for ScheduleConfig {
    fn default() -> ScheduleConfig {
        ScheduleConfig {
            interval: Duration::from_secs(10),
            duration: Duration::from_secs(10),
            jitter: 0.5,
            seed: 0,
        }
    }
}

/// One operation of a scripted schedule.
#[derive(Clone, Debug, PartialEq)]
pub enum ScriptedOp {
    /// Replaces any partition in force with this one.
    StartPartition(Topology),
    StopPartition,
    Kill(Target),
    /// Restarts every node the script killed.
    Restart,
    Pause(Target),
    /// Resumes every node the script paused.
    Resume,
    /// Shifts the target's clocks by ±`delta_ms` (replacing any clock fault in force).
    ClockBump {
        target: Target,
        delta_ms: i64,
    },
    /// Strobes the target's clocks (see [`super::ClockFault::Strobe`]).
    ClockStrobe {
        target: Target,
        delta_ms: i64,
        period: Duration,
        duration: Duration,
    },
    /// Undoes every clock shift the script made.
    ClockReset,
}

/// `op` happens `at` after the schedule starts.
#[derive(Clone, Debug, PartialEq)]
pub struct ScriptStep {
    pub at: Duration,
    pub op: ScriptedOp,
}

/// What a scripted operation does: start a fault of a fresh nemesis (ending any fault of the
/// same kind first), or stop the fault of a kind.
enum Action {
    Start(Box<dyn Nemesis>),
    Stop(FaultKind),
}

impl ScriptedOp {
    fn into_action(self) -> Action {
        match self {
            ScriptedOp::StartPartition(topology) => {
                Action::Start(Box::new(PartitionNemesis::new(vec![topology])))
            }
            ScriptedOp::Kill(target) => Action::Start(Box::new(KillNemesis::new(target))),
            ScriptedOp::Pause(target) => Action::Start(Box::new(PauseNemesis::new(target))),
            ScriptedOp::ClockBump { target, delta_ms } => Action::Start(Box::new(
                ClockNemesis::new(target, ClockFault::Bump { delta_ms }),
            )),
            ScriptedOp::ClockStrobe {
                target,
                delta_ms,
                period,
                duration,
            } => Action::Start(Box::new(ClockNemesis::new(
                target,
                ClockFault::Strobe {
                    delta_ms,
                    period,
                    duration,
                },
            ))),
            ScriptedOp::StopPartition => Action::Stop(FaultKind::Partition),
            ScriptedOp::Restart => Action::Stop(FaultKind::Kill),
            ScriptedOp::Resume => Action::Stop(FaultKind::Pause),
            ScriptedOp::ClockReset => Action::Stop(FaultKind::Clock),
        }
    }
}

/// What faults to inject and when. Build one, then [`Schedule::spawn`] it.
pub enum Schedule {
    /// One fault at a time among `nemeses`, timed by `config`.
    Random {
        config: ScheduleConfig,
        nemeses: Vec<Box<dyn Nemesis>>,
    },
    /// Exactly these steps, in order of `at`; `seed` draws random targets and topologies.
    Scripted { steps: Vec<ScriptStep>, seed: u64 },
}

impl Schedule {
    /// Fails naming the first fault this cluster cannot undergo at all (a partition on the
    /// `loopback` backend, a kill of the minority of a 1-node cluster), so that a test asking
    /// for it stops before it starts instead of silently running without it.
    pub fn check(&self, cluster: &Cluster) -> Result<(), Error> {
        let cannot = |kind: FaultKind| {
            Error::Invalid(format!(
                "the {} fault cannot run on this {}-node {} cluster{}",
                kind.name(),
                cluster.nodes().len(),
                cluster.kind(),
                if kind == FaultKind::Partition && !cluster.supports_partitions() {
                    "; partitions need the local backend (root)"
                } else {
                    ""
                }
            ))
        };
        match self {
            Schedule::Random { nemeses, .. } => {
                if let Some(n) = nemeses.iter().find(|n| !n.applicable(cluster)) {
                    return Err(cannot(n.kind()));
                }
            }
            Schedule::Scripted { steps, .. } => {
                for step in steps {
                    if let Action::Start(n) = step.op.clone().into_action() {
                        if !n.applicable(cluster) {
                            return Err(cannot(n.kind()));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Starts the schedule on its own thread. Faults go to `cluster`, events to `sink`. A
    /// fault [`Schedule::check`] rejects is never started, and its error is the first that
    /// [`RunningSchedule::finish`] returns.
    pub fn spawn(self, cluster: Arc<Cluster>, sink: Arc<dyn NemesisSink>) -> RunningSchedule {
        let stop = Arc::new(StopFlag::default());
        let thread_stop = stop.clone();
        let handle = std::thread::Builder::new()
            .name("nemesis".into())
            .spawn(move || {
                let mut run = Run {
                    cluster: &cluster,
                    sink: &*sink,
                    stop: &thread_stop,
                    nemeses: BTreeMap::new(),
                    errors: self.check(&cluster).err().into_iter().collect(),
                };
                match self {
                    Schedule::Random { config, nemeses } => run.random(&config, nemeses),
                    Schedule::Scripted { steps, seed } => run.scripted(steps, seed),
                }
                thread_stop.wait(Duration::MAX);
                run.final_heal();
                run.errors
            })
            .expect("spawning the nemesis thread");
        RunningSchedule {
            stop,
            handle: Some(handle),
        }
    }
}

/// A schedule at work. [`RunningSchedule::finish`] ends it with the final heal; dropping it
/// does the same and discards errors.
pub struct RunningSchedule {
    stop: Arc<StopFlag>,
    handle: Option<JoinHandle<Vec<Error>>>,
}

impl RunningSchedule {
    /// Stops injecting faults, ends every fault in force (recording each stop), heals the
    /// network and resumes every node. Returns every error met along the way (a fault that
    /// could not be started or stopped); the schedule went on past each.
    pub fn finish(mut self) -> Vec<Error> {
        self.stop.set();
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(errors)) => errors,
            Some(Err(_)) => vec![Error::command("the nemesis", "its thread panicked")],
            None => Vec::new(),
        }
    }
}

impl Drop for RunningSchedule {
    fn drop(&mut self) {
        self.stop.set();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// A flag a sleeping thread wakes up for.
#[derive(Default)]
struct StopFlag {
    stopped: Mutex<bool>,
    changed: Condvar,
}

impl StopFlag {
    fn set(&self) {
        *self.stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.changed.notify_all();
    }

    /// Sleeps up to `timeout`; true if the flag is (or becomes) set.
    fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut stopped = self.stopped.lock().unwrap_or_else(|p| p.into_inner());
        while !*stopped {
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return false;
            }
            stopped = self
                .changed
                .wait_timeout(stopped, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }
}

/// The state of the nemesis thread.
struct Run<'a> {
    cluster: &'a Cluster,
    sink: &'a dyn NemesisSink,
    stop: &'a StopFlag,
    /// Nemeses that may hold a fault, by kind; the final heal stops each.
    nemeses: BTreeMap<FaultKind, Box<dyn Nemesis>>,
    errors: Vec<Error>,
}

impl Run<'_> {
    fn random(&mut self, config: &ScheduleConfig, nemeses: Vec<Box<dyn Nemesis>>) {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let kinds: Vec<FaultKind> = nemeses.iter().map(|n| n.kind()).collect();
        for nemesis in nemeses {
            self.nemeses.insert(nemesis.kind(), nemesis);
        }
        loop {
            if self
                .stop
                .wait(jittered(config.interval, config.jitter, &mut rng))
            {
                return;
            }
            let applicable: Vec<FaultKind> = kinds
                .iter()
                .copied()
                .filter(|k| self.nemeses[k].applicable(self.cluster))
                .collect();
            if applicable.is_empty() {
                continue;
            }
            let kind = applicable[rng.gen_range(0..applicable.len())];
            self.start(kind, &mut rng);
            if self
                .stop
                .wait(jittered(config.duration, config.jitter, &mut rng))
            {
                return;
            }
            self.stop_kind(kind);
        }
    }

    fn scripted(&mut self, mut steps: Vec<ScriptStep>, seed: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        steps.sort_by_key(|s| s.at);
        let began = Instant::now();
        for step in steps {
            let wait = step.at.saturating_sub(began.elapsed());
            if self.stop.wait(wait) {
                return;
            }
            match step.op.into_action() {
                Action::Start(nemesis) => {
                    let kind = nemesis.kind();
                    self.stop_kind(kind);
                    self.replace(nemesis);
                    self.start(kind, &mut rng);
                }
                Action::Stop(kind) => self.stop_kind(kind),
            }
        }
    }

    fn replace(&mut self, nemesis: Box<dyn Nemesis>) {
        self.nemeses.insert(nemesis.kind(), nemesis);
    }

    fn start(&mut self, kind: FaultKind, rng: &mut ChaCha8Rng) {
        let Some(nemesis) = self.nemeses.get_mut(&kind) else {
            return;
        };
        match nemesis.start(self.cluster, rng) {
            Ok(event) => self.record(event),
            Err(e) => {
                tracing::warn!("nemesis: could not start {}: {e}", kind.name());
                self.errors.push(e);
                // A half-started fault is still a fault: end what did happen.
                self.stop_kind(kind);
            }
        }
    }

    fn stop_kind(&mut self, kind: FaultKind) {
        let Some(nemesis) = self.nemeses.get_mut(&kind) else {
            return;
        };
        match nemesis.stop(self.cluster) {
            Ok(Some(event)) => self.record(event),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!("nemesis: could not stop {}: {e}", kind.name());
                self.errors.push(e);
            }
        }
    }

    fn record(&self, event: FaultEvent) {
        tracing::info!("nemesis: {} {}", event.f, event.value);
        self.sink.record(event.f, event.value);
    }

    /// Ends every fault: each nemesis stops its own (recorded), then the network is healed
    /// and every daemon resumed regardless, in case a stop failed half-way.
    fn final_heal(&mut self) {
        let kinds: Vec<FaultKind> = self.nemeses.keys().copied().collect();
        for kind in kinds {
            self.stop_kind(kind);
        }
        if self.cluster.supports_partitions() {
            if let Err(e) = self.cluster.heal() {
                self.errors.push(e);
            }
        }
        for node in self.cluster.nodes() {
            if node.is_alive() {
                // Harmless for a running process; thaws one a failed resume left frozen.
                let _ = node.signal(Signal::SIGCONT);
            }
        }
    }
}

/// `mean` × a uniform factor in [1 − jitter, 1 + jitter].
fn jittered(mean: Duration, jitter: f64, rng: &mut ChaCha8Rng) -> Duration {
    let jitter = jitter.clamp(0.0, 1.0);
    if jitter == 0.0 {
        return mean;
    }
    mean.mul_f64(rng.gen_range(1.0 - jitter..=1.0 + jitter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_its_bounds_and_repeats_with_the_seed() {
        let mean = Duration::from_secs(10);
        let draw = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..100)
                .map(|_| jittered(mean, 0.5, &mut rng))
                .collect::<Vec<_>>()
        };
        let a = draw(7);
        assert_eq!(a, draw(7));
        assert_ne!(a, draw(8));
        assert!(a
            .iter()
            .all(|d| *d >= Duration::from_secs(5) && *d <= Duration::from_secs(15)));
    }

    #[test]
    fn a_stop_flag_wakes_a_sleeper_at_once() {
        let flag = Arc::new(StopFlag::default());
        let setter = flag.clone();
        let began = Instant::now();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            setter.set();
        });
        assert!(flag.wait(Duration::from_secs(30)));
        assert!(began.elapsed() < Duration::from_secs(10));
        t.join().unwrap();
        assert!(!StopFlag::default().wait(Duration::from_millis(1)));
    }
}
