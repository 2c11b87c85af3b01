//! The nemesis: faults injected into a running cluster on a schedule, each recorded in the
//! history.
//!
//! A fault kind is a [`Nemesis`] with a pair of verbs — it starts a fault and later stops it.
//! Each kind lives in its own file, which declares its [`Kind`] (name and verbs), the
//! [`Fault`]s a spec may name for it and how each is built, and whether a cluster can
//! undergo it ([`Nemesis::check`]); [`Fault::ALL`] in `registry.rs` lists them:
//!
//! | file | spec name | start | stop | value in the history |
//! |---|---|---|---|---|
//! | `partition.rs` | `partition` | `start-partition` | `stop-partition` | the grudge, `{"n1":["n3","n4","n5"],...}` |
//! | `kill.rs` | `kill` | `kill` (SIGKILL the process group) | `restart` (same command) | `["n2","n4"]` |
//! | `pause.rs` | `pause` | `pause` (SIGSTOP) | `resume` (SIGCONT) | `["n3"]` |
//! | `clock.rs` | `clock`, `clock-strobe` | `clock-bump` (±N ms) or `clock-strobe` | `clock-reset` | per node: delta and measured offset; see [`clock`] |
//! | `packet.rs` | `delay`, `loss`, `duplicate`, `reorder`, `bandwidth`, `packet` | `start-delay`, … `start-packet` | `stop-packet` | links, effects, and at the stop each node's counts; see [`packet`] |
//! | `membership.rs` | `membership` | `remove-member` (the store's own command, then stop it) | `add-member` (command, then start it as joining) | `["n3"]` |
//! | `disk.rs` | `lose-unfsynced-writes`, `corrupt-file` | the same names (kill, then damage the data) | `disk-restart` | per node: what was dropped or changed; see [`disk`] |
//!
//! `kill` and `pause` share one implementation of a fault that signals the store's processes
//! ([`process`]). When the spec has a leader probe, every start is aimed ([`aim`]): the node
//! that led at that moment is recorded as the start event's `node`, and the leader targets
//! and topologies cut, kill or pause around it.
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
//! A [`Schedule`], built from the spec's `[nemesis]` by [`Schedule::from_spec`], drives the
//! faults from its own thread ([`Schedule::spawn`]):
//!
//! - **random**: after a quiet interval (seeded jitter) it picks one enabled fault that is
//!   applicable now (partitions need a backend that supports them), starts it, holds it for
//!   a while (seeded jitter), stops it, and so on; one fault at a time, or with
//!   `max_concurrent = N` up to N at once, each fault's start and length drawn on its own
//!   (one fault per kind; nodes killed or removed are spared by the others, see [`aim`]).
//! - **scripted**: a list of steps, each a nemesis started at an offset from the start and
//!   stopped at another, for deterministic tests.
//!
//! [`RunningSchedule::finish`] stops the schedule and then performs the **final heal**: it
//! ends every fault still in force (recording each stop), heals the network, resumes every
//! node and restarts every dead daemon, so the last phase of a test sees a whole cluster.
//! Every random choice comes from one `ChaCha8Rng` seeded by the caller: a seed replays the
//! same fault sequence (the timing of the store's reactions is, of course, its own).

pub mod aim;
pub mod clock;
pub mod disk;
pub mod kill;
pub mod membership;
pub mod packet;
pub mod partition;
pub mod pause;
pub mod process;
mod registry;
mod schedule;

use serde_json::Value;

pub use aim::{Aim, Store};
pub use clock::{ClockFault, ClockNemesis};
pub use kill::KillNemesis;
pub use packet::{PacketNemesis, PACKET};
pub use partition::PartitionNemesis;
pub use pause::PauseNemesis;
pub use registry::{Fault, Kind, Verb};
pub use schedule::{RunningSchedule, Schedule, ScheduleConfig, ScriptStep};

use crate::cluster::{Cluster, Error, Result};

/// Where nemesis events go: the recorder implements it and writes one history line per call,
/// stamped with its own clock. `f` is one of the verbs above; `value` the grudge or node list.
pub trait NemesisSink: Send + Sync {
    fn record(&self, f: &str, value: Value);

    /// Records an event with a note on what did not go as asked; sinks that keep no notes
    /// record the event alone.
    fn record_with_note(&self, f: &str, value: Value, note: &str) {
        let _ = note;
        self.record(f, value);
    }

    /// Records a fault's start with the node that led when it began ([`aim`]) and any note;
    /// sinks that keep neither record the event alone.
    fn record_aimed(&self, f: &str, value: Value, leader: Option<&str>, note: Option<&str>) {
        let _ = leader;
        match note {
            Some(note) => self.record_with_note(f, value, note),
            None => self.record(f, value),
        }
    }
}

/// A sink that forgets everything, for callers that only want the faults.
pub struct NullSink;

impl NemesisSink for NullSink {
    fn record(&self, _f: &str, _value: Value) {}
}

/// A recorded start or stop: the history `f` (a [`Verb`]'s name) and `value`.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultEvent {
    pub f: &'static str,
    pub value: Value,
    /// What did not go as asked, for the history's `error` (a kill of a daemon that had
    /// already exited on its own).
    pub note: Option<String>,
}

/// One kind of fault with its paired verbs. `start` puts a fault in force and says what it
/// did; `stop` undoes exactly that fault (and is a no-op returning `None` when none is in
/// force). A nemesis holds at most one fault at a time.
pub trait Nemesis: Send {
    fn kind(&self) -> &'static Kind;

    /// Whether `start` can work on this cluster now (a partition needs backend support).
    fn applicable(&self, cluster: &Cluster) -> bool;

    /// Refuses a cluster this fault cannot run on at all, so that a test asking for it stops
    /// before it starts instead of silently running without it. A kind overrides it to say
    /// what to do instead.
    fn check(&self, cluster: &Cluster) -> Result<()> {
        if self.applicable(cluster) {
            return Ok(());
        }
        Err(cannot_run(self.kind(), cluster, ""))
    }

    /// Whether a fault of this nemesis is in force.
    fn is_active(&self) -> bool;

    /// Starts a fault, drawing any random choice (topology, target nodes) from `rng`.
    fn start(&mut self, cluster: &Cluster, rng: &mut dyn rand::RngCore) -> Result<FaultEvent>;

    /// Stops the fault in force, if any.
    fn stop(&mut self, cluster: &Cluster) -> Result<Option<FaultEvent>>;

    /// Whether its next start needs the node that leads (a leader target or topology): the
    /// schedule then starts it only once the store named a leader.
    fn aims_at_leader(&self) -> bool {
        false
    }

    /// Told just before each start: the leader of the moment, the nodes other faults hold
    /// down, the store ([`aim`]). Faults that use none of it ignore it.
    fn aim(&mut self, aim: &Aim) {
        let _ = aim;
    }

    /// The nodes whose store this fault holds down (killed, removed from the cluster) while
    /// it is in force; other faults leave them alone.
    fn downed(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The error of [`Nemesis::check`]: which fault, which cluster, and `hint` (empty, or `; `
/// and what to do).
pub fn cannot_run(kind: &Kind, cluster: &Cluster, hint: &str) -> Error {
    Error::Invalid(format!(
        "the {} fault cannot run on this {}-node {} cluster{hint}",
        kind.name(),
        cluster.nodes().len(),
        cluster.kind(),
    ))
}
