//! The nemesis: faults injected into a running cluster on a schedule, each recorded in the
//! history.
//!
//! A fault kind is a [`Nemesis`] with a pair of verbs — it starts a fault and later stops it:
//!
//! | kind | start | stop | value in the history |
//! |---|---|---|---|
//! | `partition` | `start-partition` | `stop-partition` | the grudge, `{"n1":["n3","n4","n5"],...}` |
//! | `kill` | `kill` (SIGKILL the process group) | `restart` (same command) | `["n2","n4"]` |
//! | `pause` | `pause` (SIGSTOP) | `resume` (SIGCONT) | `["n3"]` |
//!
//! | `clock` | `clock-bump` (±N ms) or `clock-strobe` | `clock-reset` | per node: delta and measured offset; see [`clock`] |
//!
//! Each start and stop is reported to a [`NemesisSink`] — the recorder — once it is in force
//! (rules installed on every node, signals delivered), as one `info` line of process
//! `nemesis`:
//!
//! ```text
//! {"process":"nemesis","type":"info","f":"start-partition","value":{"n1":["n3","n4","n5"],...}}
//! {"process":"nemesis","type":"info","f":"stop-partition","value":{"n1":["n3","n4","n5"],...}}
//! ```
//!
//! A [`Schedule`] drives the faults from its own thread ([`Schedule::spawn`]):
//!
//! - **random**: after a quiet interval (seeded jitter) it picks one enabled fault kind that
//!   is applicable now (partitions need a backend that supports them), starts it, holds it
//!   for a while (seeded jitter), stops it, and so on; one fault at a time.
//! - **scripted**: a list of (offset from the start, operation), for deterministic tests.
//!
//! [`RunningSchedule::finish`] stops the schedule and then performs the **final heal**: it
//! ends every fault still in force (recording each stop), heals the network, resumes every
//! node and restarts every dead daemon, so the last phase of a test sees a whole cluster.
//! Every random choice comes from one `ChaCha8Rng` seeded by the caller: a seed replays the
//! same fault sequence (the timing of the store's reactions is, of course, its own).

pub mod clock;
mod faults;
mod schedule;

use serde_json::Value;

pub use clock::{ClockFault, ClockNemesis};
pub use faults::{KillNemesis, PartitionNemesis, PauseNemesis};
pub use schedule::{RunningSchedule, Schedule, ScheduleConfig, ScriptStep, ScriptedOp};

use crate::cluster::{Cluster, Result};

/// Where nemesis events go: the recorder implements it and writes one history line per call,
/// stamped with its own clock. `f` is one of the verbs above; `value` the grudge or node list.
pub trait NemesisSink: Send + Sync {
    fn record(&self, f: &str, value: Value);
}

/// A sink that forgets everything, for callers that only want the faults.
pub struct NullSink;

impl NemesisSink for NullSink {
    fn record(&self, _f: &str, _value: Value) {}
}

/// A recorded start or stop: the history `f` and `value`.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultEvent {
    pub f: &'static str,
    pub value: Value,
}

/// A fault a spec can ask for (`[nemesis] faults`, a scripted step's `fault`, `--nemesis`).
#[derive(serde::Deserialize, serde::Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// Cut the network along a topology (`partition`, then `heal`).
    Partition,
    /// Kill store processes (`kill`, then `restart`).
    Kill,
    /// Stop store processes with SIGSTOP (`pause`, then `resume`).
    Pause,
    /// Move clocks by a fixed offset (`clock-bump`, then `clock-reset`).
    Clock,
    /// Flip clocks back and forth (`clock-strobe`, then `clock-reset`).
    ClockStrobe,
}

impl Fault {
    pub const ALL: [Fault; 5] = [
        Fault::Partition,
        Fault::Kill,
        Fault::Pause,
        Fault::Clock,
        Fault::ClockStrobe,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::Partition => "partition",
            Fault::Kill => "kill",
            Fault::Pause => "pause",
            Fault::Clock => "clock",
            Fault::ClockStrobe => "clock-strobe",
        }
    }

    pub fn names() -> Vec<&'static str> {
        Fault::ALL.iter().map(|f| f.name()).collect()
    }

    /// Whether the fault moves clocks.
    pub fn moves_clocks(self) -> bool {
        matches!(self, Fault::Clock | Fault::ClockStrobe)
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Fault, String> {
        Fault::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names = Fault::names();
                match crate::client::template::did_you_mean(s, names.iter().copied()) {
                    Some(close) => format!(
                        "unknown fault `{s}`: did you mean `{close}`? (one of: {})",
                        names.join(", ")
                    ),
                    None => format!("unknown fault `{s}` (one of: {})", names.join(", ")),
                }
            })
    }
}

/// Every `f` a nemesis event can have: one start and one stop verb per kind of fault. The
/// history, the recorder's live count of faults in force, the progress line, the report's
/// fault windows and the plots all read nemesis events through this type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verb {
    StartPartition,
    StopPartition,
    Kill,
    Restart,
    Pause,
    Resume,
    ClockBump,
    ClockStrobe,
    ClockReset,
}

impl Verb {
    pub const ALL: [Verb; 9] = [
        Verb::StartPartition,
        Verb::StopPartition,
        Verb::Kill,
        Verb::Restart,
        Verb::Pause,
        Verb::Resume,
        Verb::ClockBump,
        Verb::ClockStrobe,
        Verb::ClockReset,
    ];

    /// The `f` written to the history.
    pub fn name(self) -> &'static str {
        match self {
            Verb::StartPartition => "start-partition",
            Verb::StopPartition => "stop-partition",
            Verb::Kill => "kill",
            Verb::Restart => "restart",
            Verb::Pause => "pause",
            Verb::Resume => "resume",
            Verb::ClockBump => "clock-bump",
            Verb::ClockStrobe => "clock-strobe",
            Verb::ClockReset => "clock-reset",
        }
    }

    /// The verb a history's `f` names, if it is one of ours.
    pub fn parse(f: &str) -> Option<Verb> {
        Verb::ALL.into_iter().find(|v| v.name() == f)
    }

    /// The kind of fault the verb starts or stops.
    pub fn kind(self) -> FaultKind {
        match self {
            Verb::StartPartition | Verb::StopPartition => FaultKind::Partition,
            Verb::Kill | Verb::Restart => FaultKind::Kill,
            Verb::Pause | Verb::Resume => FaultKind::Pause,
            Verb::ClockBump | Verb::ClockStrobe | Verb::ClockReset => FaultKind::Clock,
        }
    }

    /// Whether the verb puts a fault in force (else it ends one).
    pub fn starts(self) -> bool {
        !matches!(
            self,
            Verb::StopPartition | Verb::Restart | Verb::Resume | Verb::ClockReset
        )
    }
}

/// The kinds of fault the schedule knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    Partition,
    Kill,
    Pause,
    Clock,
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Partition => "partition",
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
            FaultKind::Clock => "clock",
        }
    }
}

/// One kind of fault with its paired verbs. `start` puts a fault in force and says what it
/// did; `stop` undoes exactly that fault (and is a no-op returning `None` when none is in
/// force). A nemesis holds at most one fault at a time.
pub trait Nemesis: Send {
    fn kind(&self) -> FaultKind;

    /// Whether `start` can work on this cluster now (a partition needs backend support).
    fn applicable(&self, cluster: &Cluster) -> bool;

    /// Whether a fault of this nemesis is in force.
    fn is_active(&self) -> bool;

    /// Starts a fault, drawing any random choice (topology, target nodes) from `rng`.
    fn start(&mut self, cluster: &Cluster, rng: &mut dyn rand::RngCore) -> Result<FaultEvent>;

    /// Stops the fault in force, if any.
    fn stop(&mut self, cluster: &Cluster) -> Result<Option<FaultEvent>>;
}
