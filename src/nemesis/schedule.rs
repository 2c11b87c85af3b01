//! When faults happen: a seeded random schedule or a fixed script, run on its own thread and
//! always closed by a final heal.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Aim, FaultEvent, Kind, Nemesis, NemesisSink, Store};
use crate::cluster::{Cluster, Error, Signal};
use crate::spec::NemesisSpec;

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
    /// How many faults may be in force at once (at least 1).
    pub max_concurrent: usize,
}

impl Default for ScheduleConfig {
    fn default() -> ScheduleConfig {
        ScheduleConfig {
            interval: Duration::from_secs(10),
            duration: Duration::from_secs(10),
            jitter: 0.5,
            seed: 0,
            max_concurrent: 1,
        }
    }
}

/// One fault of a scripted schedule: `nemesis` starts its fault `at` after the schedule
/// starts (ending any fault of its kind in force first), and the fault of its kind in force
/// is stopped `until` (`None`: by the final heal). Its random choices, such as which node
/// `one` is, come from the schedule's seeded rng, in the order the steps start.
pub struct ScriptStep {
    pub at: Duration,
    pub until: Option<Duration>,
    pub nemesis: Box<dyn Nemesis>,
}

/// What a scripted schedule does at one instant.
enum Action {
    Start(Box<dyn Nemesis>),
    Stop(&'static Kind),
}

/// What faults to inject and when. Build one with [`Schedule::from_spec`] (or by hand), then
/// [`Schedule::spawn`] it.
pub enum Schedule {
    /// One fault at a time among `nemeses`, timed by `config`.
    Random {
        config: ScheduleConfig,
        nemeses: Vec<Box<dyn Nemesis>>,
    },
    /// Exactly these steps, in order of time; `seed` draws random targets and topologies.
    Scripted { steps: Vec<ScriptStep>, seed: u64 },
}

impl Schedule {
    /// The schedule a spec's `[nemesis]` asks for: its script when it has one, else random
    /// faults among `faults`; `None` when it injects nothing. Each fault builds its own
    /// nemesis ([`super::Fault`]).
    pub fn from_spec(spec: &NemesisSpec, seed: u64) -> Option<Schedule> {
        // The nemesis draws from its own stream, so adding a fault does not change the ops.
        let seed = seed ^ 0x6e65_6d65_7369_7321;
        if !spec.schedule.is_empty() {
            let steps = spec
                .schedule
                .iter()
                .map(|step| ScriptStep {
                    at: step.at(),
                    until: Some(step.end()),
                    nemesis: step.fault.scripted(step, spec),
                })
                .collect();
            return Some(Schedule::Scripted { steps, seed });
        }
        if spec.faults.is_empty() {
            return None;
        }
        Some(Schedule::Random {
            config: ScheduleConfig {
                interval: Duration::from_secs_f64(spec.interval_s),
                duration: Duration::from_secs_f64(spec.duration_s),
                jitter: 0.5,
                seed,
                max_concurrent: spec.max_concurrent.max(1),
            },
            nemeses: spec.faults.iter().map(|f| f.random(spec)).collect(),
        })
    }

    /// Fails naming the first fault this cluster cannot undergo at all (a partition on the
    /// `loopback` backend, a kill of the minority of a 1-node cluster), so that a test asking
    /// for it stops before it starts instead of silently running without it.
    pub fn check(&self, cluster: &Cluster) -> Result<(), Error> {
        match self {
            Schedule::Random { nemeses, .. } => nemeses.iter().try_for_each(|n| n.check(cluster)),
            Schedule::Scripted { steps, .. } => {
                steps.iter().try_for_each(|s| s.nemesis.check(cluster))
            }
        }
    }

    /// Starts the schedule on its own thread. Faults go to `cluster`, events to `sink`. A
    /// fault [`Schedule::check`] rejects is never started, and its error is the first that
    /// [`RunningSchedule::finish`] returns.
    pub fn spawn(self, cluster: Arc<Cluster>, sink: Arc<dyn NemesisSink>) -> RunningSchedule {
        self.spawn_with(cluster, sink, None)
    }

    /// [`Schedule::spawn`], with the store that says who leads and changes membership: each
    /// start is then aimed ([`super::aim`]).
    pub fn spawn_with(
        self,
        cluster: Arc<Cluster>,
        sink: Arc<dyn NemesisSink>,
        store: Option<Arc<dyn Store>>,
    ) -> RunningSchedule {
        let stop = Arc::new(StopFlag::default());
        let thread_stop = stop.clone();
        let handle = std::thread::Builder::new()
            .name("nemesis".into())
            .spawn(move || {
                let mut run = Run {
                    cluster: &cluster,
                    sink: &*sink,
                    stop: &thread_stop,
                    errors: self.check(&cluster).err().into_iter().collect(),
                    store,
                };
                let mut nemeses = match self {
                    Schedule::Random { config, nemeses } => run.random(&config, nemeses),
                    Schedule::Scripted { steps, seed } => run.scripted(steps, seed),
                };
                thread_stop.wait(Duration::MAX);
                run.final_heal(&mut nemeses);
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
    errors: Vec<Error>,
    store: Option<Arc<dyn Store>>,
}

/// One lane of a concurrent random schedule: idle until `at`, or holding a fault until `at`.
struct Lane {
    at: Instant,
    holding: Option<usize>,
}

impl Run<'_> {
    /// Runs until stopped; returns the nemeses, for the final heal to stop.
    fn random(
        &mut self,
        config: &ScheduleConfig,
        nemeses: Vec<Box<dyn Nemesis>>,
    ) -> Vec<Box<dyn Nemesis>> {
        if config.max_concurrent > 1 {
            return self.concurrent(config, nemeses);
        }
        self.one_at_a_time(config, nemeses)
    }

    /// One fault at a time: a quiet interval, a fault, and so on.
    fn one_at_a_time(
        &mut self,
        config: &ScheduleConfig,
        mut nemeses: Vec<Box<dyn Nemesis>>,
    ) -> Vec<Box<dyn Nemesis>> {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        loop {
            if self
                .stop
                .wait(jittered(config.interval, config.jitter, &mut rng))
            {
                return nemeses;
            }
            let applicable: Vec<usize> = (0..nemeses.len())
                .filter(|&i| nemeses[i].applicable(self.cluster))
                .collect();
            if applicable.is_empty() {
                continue;
            }
            let i = applicable[rng.gen_range(0..applicable.len())];
            self.start(&mut nemeses, i, &mut rng);
            let nemesis = &mut nemeses[i];
            if self
                .stop
                .wait(jittered(config.duration, config.jitter, &mut rng))
            {
                return nemeses;
            }
            self.stop_fault(nemesis.as_mut());
        }
    }

    /// Up to `max_concurrent` lanes, each on its own clock: a quiet interval, then a fault
    /// drawn among those not in force (one per kind), held for its own drawn length, and so
    /// on. The lane whose moment comes first acts first (ties: the lower lane), so a seed
    /// replays the same sequence of draws. One thread acts for every lane, so a start or
    /// stop that takes long (a membership change the store refuses while a partition lasts,
    /// asked again up to its `timeout_s`) holds the other lanes' moments back until it
    /// returns.
    fn concurrent(
        &mut self,
        config: &ScheduleConfig,
        mut nemeses: Vec<Box<dyn Nemesis>>,
    ) -> Vec<Box<dyn Nemesis>> {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let began = Instant::now();
        let mut lanes: Vec<Lane> = (0..config.max_concurrent)
            .map(|_| Lane {
                at: began + jittered(config.interval, config.jitter, &mut rng),
                holding: None,
            })
            .collect();
        loop {
            let next = (0..lanes.len())
                .min_by_key(|&l| (lanes[l].at, l))
                .expect("at least one lane");
            if self
                .stop
                .wait(lanes[next].at.saturating_duration_since(Instant::now()))
            {
                return nemeses;
            }
            let lane = &mut lanes[next];
            if let Some(i) = lane.holding.take() {
                self.stop_fault(nemeses[i].as_mut());
                lane.at = Instant::now() + jittered(config.interval, config.jitter, &mut rng);
                continue;
            }
            // One fault per kind: `delay` and `loss` share the links' shaping, `clock` and
            // `clock-strobe` the clocks.
            let busy: Vec<&Kind> = nemeses
                .iter()
                .filter(|n| n.is_active())
                .map(|n| n.kind())
                .collect();
            let free: Vec<usize> = (0..nemeses.len())
                .filter(|&i| !busy.contains(&nemeses[i].kind()))
                .filter(|&i| nemeses[i].applicable(self.cluster))
                .collect();
            if free.is_empty() {
                lane.at = Instant::now() + jittered(config.interval, config.jitter, &mut rng);
                continue;
            }
            let i = free[rng.gen_range(0..free.len())];
            self.start(&mut nemeses, i, &mut rng);
            let lane = &mut lanes[next];
            lane.holding = Some(i);
            lane.at = Instant::now() + jittered(config.duration, config.jitter, &mut rng);
        }
    }

    /// Runs the steps until the last or until stopped; returns the nemesis of each kind that
    /// may still hold a fault, for the final heal.
    fn scripted(&mut self, steps: Vec<ScriptStep>, seed: u64) -> Vec<Box<dyn Nemesis>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut timeline = Vec::with_capacity(2 * steps.len());
        for step in steps {
            let kind = step.nemesis.kind();
            timeline.push((step.at, Action::Start(step.nemesis)));
            if let Some(until) = step.until {
                timeline.push((until, Action::Stop(kind)));
            }
        }
        // Stable: of two actions at one instant, the one written first goes first.
        timeline.sort_by_key(|(at, _)| *at);
        // At most one nemesis per kind: the last one started.
        let mut current: Vec<Box<dyn Nemesis>> = Vec::new();
        let began = Instant::now();
        for (at, action) in timeline {
            if self.stop.wait(at.saturating_sub(began.elapsed())) {
                break;
            }
            match action {
                Action::Start(nemesis) => {
                    let kind = nemesis.kind();
                    if let Some(i) = current.iter().position(|n| n.kind() == kind) {
                        let mut old = current.swap_remove(i);
                        self.stop_fault(old.as_mut());
                    }
                    current.push(nemesis);
                    let last = current.len() - 1;
                    self.start(&mut current, last, &mut rng);
                }
                Action::Stop(kind) => {
                    if let Some(n) = current.iter_mut().find(|n| n.kind() == kind) {
                        self.stop_fault(n.as_mut());
                    }
                }
            }
        }
        current
    }

    /// Starts `nemeses[i]`, aimed: told the leader of this moment (a fault that aims at it is
    /// skipped when none leads within the probe's wait) and the nodes the others hold down.
    fn start(&mut self, nemeses: &mut [Box<dyn Nemesis>], i: usize, rng: &mut ChaCha8Rng) {
        let down: Vec<String> = nemeses
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .flat_map(|(_, n)| n.downed())
            .collect();
        let nemesis = nemeses[i].as_mut();
        let leader = self.leader(nemesis.aims_at_leader());
        if nemesis.aims_at_leader() && leader.is_none() {
            let e = Error::Invalid(format!(
                "the {} fault aims at the leader, and no node led; it was skipped",
                nemesis.kind().name()
            ));
            tracing::warn!("nemesis: {e}");
            self.errors.push(e);
            return;
        }
        nemesis.aim(&Aim {
            leader: leader.clone(),
            down,
            store: self.store.clone(),
        });
        match nemesis.start(self.cluster, rng) {
            Ok(event) => self.record_aimed(event, leader.as_deref()),
            Err(e) => {
                tracing::warn!("nemesis: could not start {}: {e}", nemesis.kind().name());
                self.errors.push(e);
                // A half-started fault is still a fault: end what did happen.
                self.stop_fault(nemesis);
            }
        }
    }

    fn stop_fault(&mut self, nemesis: &mut dyn Nemesis) {
        match nemesis.stop(self.cluster) {
            Ok(Some(event)) => self.record(event),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!("nemesis: could not stop {}: {e}", nemesis.kind().name());
                self.errors.push(e);
            }
        }
    }

    /// The node that leads now, when the store has a probe; a fault that `aims` waits for
    /// one up to the probe's bound (an election may be under way), asking every 200 ms.
    fn leader(&self, aims: bool) -> Option<String> {
        let store = self.store.as_ref().filter(|s| s.probes_leader())?;
        let asked = Instant::now();
        let wait = if aims {
            store.leader_wait()
        } else {
            Duration::ZERO
        };
        loop {
            match store.leader(self.cluster) {
                Ok(Some(leader)) => {
                    if asked.elapsed() > LEADER_POLL {
                        let waited = asked.elapsed().as_secs_f64();
                        tracing::info!("nemesis: {leader} leads, after {waited:.1}s without");
                    }
                    return Some(leader);
                }
                Ok(None) => tracing::debug!("nemesis: no node leads now"),
                Err(e) => tracing::warn!("nemesis: the leader probe failed: {e}"),
            }
            if asked.elapsed() >= wait || self.stop.wait(LEADER_POLL) {
                return None;
            }
        }
    }

    fn record(&self, event: FaultEvent) {
        self.record_aimed(event, None);
    }

    fn record_aimed(&self, event: FaultEvent, leader: Option<&str>) {
        match leader {
            Some(l) => tracing::info!("nemesis: {} {} (leader {l})", event.f, event.value),
            None => tracing::info!("nemesis: {} {}", event.f, event.value),
        }
        self.sink
            .record_aimed(event.f, event.value, leader, event.note.as_deref());
    }

    /// Ends every fault: each nemesis stops its own (recorded), in the registry's order of
    /// kinds, then the network is healed and every daemon resumed regardless, in case a stop
    /// failed half-way.
    fn final_heal(&mut self, nemeses: &mut [Box<dyn Nemesis>]) {
        nemeses.sort_by_key(|n| n.kind().rank());
        for nemesis in nemeses {
            self.stop_fault(nemesis.as_mut());
        }
        if self.cluster.supports_partitions() {
            if let Err(e) = self.cluster.heal() {
                self.errors.push(e);
            }
        }
        if self.cluster.supports_packet_faults() {
            // A stop that failed half-way leaves shims or rules: end them all.
            if let Err(e) = self.cluster.unshape() {
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

/// How often a fault that aims asks again for a leader while none leads.
const LEADER_POLL: Duration = Duration::from_millis(200);

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

    fn nemesis_spec(toml: &str) -> NemesisSpec {
        toml::from_str(toml).unwrap()
    }

    #[test]
    fn a_spec_without_faults_injects_nothing() {
        assert!(Schedule::from_spec(&NemesisSpec::default(), 1).is_none());
    }

    #[test]
    fn a_script_replaces_the_random_faults_with_one_timed_step_per_entry() {
        let spec = nemesis_spec(
            "faults = [\"kill\"]\nschedule = [\n\
             { at_s = 3, fault = \"partition\", topology = \"halves\", duration_s = 10 },\n\
             { at_s = 1.5, fault = \"clock-strobe\", duration_s = 2 },\n]",
        );
        let Some(Schedule::Scripted { steps, seed }) = Schedule::from_spec(&spec, 7) else {
            panic!("a script makes a scripted schedule");
        };
        assert_ne!(seed, 7, "the nemesis draws from its own stream");
        let got: Vec<(&str, f64, Option<f64>)> = steps
            .iter()
            .map(|s| {
                let until = s.until.map(|u| u.as_secs_f64());
                (s.nemesis.kind().name(), s.at.as_secs_f64(), until)
            })
            .collect();
        assert_eq!(
            got,
            [("partition", 3.0, Some(13.0)), ("clock", 1.5, Some(3.5))]
        );
    }

    #[test]
    fn random_faults_get_one_nemesis_each_and_the_spec_timing() {
        let spec = nemesis_spec(
            "faults = [\"partition\", \"pause\", \"clock\"]\ninterval_s = 2\nduration_s = 3",
        );
        let Some(Schedule::Random { config, nemeses }) = Schedule::from_spec(&spec, 7) else {
            panic!("faults make a random schedule");
        };
        let kinds: Vec<&str> = nemeses.iter().map(|n| n.kind().name()).collect();
        assert_eq!(kinds, ["partition", "pause", "clock"]);
        assert_eq!(config.interval, Duration::from_secs(2));
        assert_eq!(config.duration, Duration::from_secs(3));
        let again = Schedule::from_spec(&spec, 7);
        assert!(matches!(again, Some(Schedule::Random { config: c, .. }) if c.seed == config.seed));
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
