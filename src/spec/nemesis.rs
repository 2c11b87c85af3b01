//! `[nemesis]`: random faults at an interval, or a scripted schedule.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::disk::DiskSpec;
use super::packet::PacketSpec;
use super::{LoadedSpec, SpecError};
use crate::cluster::{Target, Topology};
use crate::nemesis::Fault;

/// The nemesis: random faults at an interval, or a scripted schedule.
#[derive(Deserialize, Serialize, JsonSchema, Clone, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct NemesisSpec {
    /// Fault kinds drawn at random: `partition`, `kill`, `pause`, `clock` (a clock bump) or
    /// `clock-strobe` (one of the two clock faults at a time). Empty: none. Clock faults on
    /// `local`/`loopback` nodes run the store under libfaketime and refuse Go stores (etcd),
    /// whose clock reads bypass libc; on `ssh` hosts they set the real clock. Packet faults
    /// (`delay`, `loss`, `duplicate`, `reorder`, `bandwidth`, `packet`) take
    /// `[nemesis.packet]` and need the `local` backend or ssh hosts with netem.
    #[schemars(example = ["partition", "kill"], schema_with = "super::reference::fault_list")]
    pub faults: Vec<Fault>,
    /// Which nodes a `kill` hits: `one`, `minority`, `majority`, `all`, `leader`,
    /// `followers`, `leader-and-one` (the three need `[db.leader]`) or names (`n1,n3`).
    /// Default `minority`.
    #[schemars(example = &"n1,n3", with = "String")]
    pub kill_target: Target,
    /// Which nodes a `pause` hits (as `kill_target`). Default `one`.
    #[schemars(example = &"majority", with = "String")]
    pub pause_target: Target,
    /// Which nodes a clock fault hits (as `kill_target`). Default `one`.
    #[schemars(example = &"all", with = "String")]
    pub clock_target: Target,
    /// Which nodes a `membership` fault removes and adds back (as `kill_target`; several
    /// are removed one after another). Default `one`.
    #[schemars(example = &"leader", with = "String")]
    pub membership_target: Target,
    /// How many random faults may be in force at once, each drawn with its own start and
    /// length (two of one kind never overlap, and a node killed or removed is not also
    /// paused, killed or removed); the final heal ends them all. Default 1.
    #[schemars(example = 2)]
    pub max_concurrent: usize,
    /// How far a clock fault moves a clock, milliseconds (a bump's sign is drawn by the
    /// seed). Default 2000.
    #[schemars(example = 500)]
    pub clock_delta_ms: i64,
    /// How long a `clock-strobe` holds each position, milliseconds. Default 100.
    #[schemars(example = 250)]
    pub clock_period_ms: u64,
    /// Mean seconds between the end of one fault and the start of the next (each wait is
    /// drawn from ±50 % of it). Default 5.
    #[schemars(example = 2.5)]
    pub interval_s: f64,
    /// Mean seconds each fault lasts (±50 %). Default 10.
    #[schemars(example = 20)]
    pub duration_s: f64,
    /// Partition topologies drawn from (`halves`, `random-halves`, `majorities-ring`,
    /// `isolate-one`, `bridge`, `isolate-leader`, `leader-minority` (the two need
    /// `[db.leader]`), or explicit components `n1,n2|n3,n4,n5`). Default:
    /// `random-halves`, `isolate-one`, `majorities-ring`.
    #[schemars(example = ["halves", "n1,n2|n3,n4,n5"], with = "Vec<String>")]
    pub topologies: Vec<Topology>,
    /// A scripted schedule; when given, it replaces the random one.
    pub schedule: Vec<ScheduledFault>,
    /// `[nemesis.packet]`: the packet faults' parameters and links.
    pub packet: PacketSpec,
    /// `[nemesis.disk]`: the disk faults' targets and damage.
    pub disk: DiskSpec,
}

impl Default for NemesisSpec {
    fn default() -> Self {
        NemesisSpec {
            faults: Vec::new(),
            kill_target: Target::Minority,
            pause_target: Target::One,
            clock_target: Target::One,
            membership_target: Target::One,
            max_concurrent: 1,
            clock_delta_ms: 2000,
            clock_period_ms: 100,
            interval_s: 5.0,
            duration_s: 10.0,
            topologies: Vec::new(),
            schedule: Vec::new(),
            packet: PacketSpec::default(),
            disk: DiskSpec::default(),
        }
    }
}

/// One scripted fault: starts `at_s` seconds into the main phase and lasts `duration_s`.
#[derive(Deserialize, Serialize, JsonSchema, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct ScheduledFault {
    /// When the fault starts, seconds into the main phase.
    #[schemars(example = 3)]
    pub at_s: f64,
    /// Which fault (a name from `[nemesis] faults`).
    #[schemars(example = &"kill", schema_with = "super::reference::faults")]
    pub fault: Fault,
    /// How long it lasts, seconds.
    #[schemars(example = 10)]
    pub duration_s: f64,
    /// For a partition: the topology (default `random-halves`); for a packet fault, the
    /// links a partition along it would cut (default: `[nemesis.packet]`'s links).
    #[serde(default)]
    #[schemars(example = &"isolate-one", with = "Option<String>")]
    pub topology: Option<Topology>,
    /// For kill, pause, clock and membership faults: `one`, `minority`, `majority`, `all`,
    /// `leader`, `followers`, `leader-and-one` or node names (`n1,n3`). Default `one`. For a packet fault, the links of these nodes (default:
    /// `[nemesis.packet]`'s links).
    #[serde(default)]
    #[schemars(example = &"n3", with = "Option<String>")]
    pub target: Option<Target>,
}

impl ScheduledFault {
    /// When the fault starts, from the start of the main phase.
    pub fn at(&self) -> Duration {
        Duration::from_secs_f64(self.at_s)
    }

    /// When it stops.
    pub fn end(&self) -> Duration {
        Duration::from_secs_f64(self.at_s + self.duration_s)
    }

    /// The nodes it hits, for the faults that take a target.
    pub fn target(&self) -> Target {
        self.target.clone().unwrap_or(Target::One)
    }
}

impl LoadedSpec {
    pub(super) fn validate_nemesis(&self) -> Result<(), SpecError> {
        let n = &self.spec.nemesis;
        let nodes: Vec<String> = (1..=self.spec.run.nodes).map(|i| format!("n{i}")).collect();
        // Only random partitions draw from the topologies: a cluster too small for them can
        // still run without partitions (`--nemesis none`, a sweep's one-node point).
        let partitions = n
            .faults
            .iter()
            .any(|f| f.kind() == &crate::nemesis::partition::KIND);
        for t in n.topologies.iter().filter(|_| partitions) {
            self.check_topology("nemesis.topologies", t, &nodes)?;
        }
        self.check_target("nemesis.kill_target", &n.kill_target, &nodes)?;
        self.check_target("nemesis.pause_target", &n.pause_target, &nodes)?;
        self.check_target("nemesis.clock_target", &n.clock_target, &nodes)?;
        self.check_target("nemesis.membership_target", &n.membership_target, &nodes)?;
        if n.max_concurrent == 0 || n.max_concurrent > 16 {
            return Err(self.err(
                "nemesis.max_concurrent",
                format!("max_concurrent {} is out of range", n.max_concurrent),
                Some("use 1 (one fault at a time) to 16".into()),
            ));
        }
        if n.clock_delta_ms <= 0 || n.clock_period_ms == 0 {
            return Err(self.err(
                "nemesis.clock_delta_ms",
                "clock_delta_ms and clock_period_ms must be positive",
                None,
            ));
        }
        if !(n.interval_s >= 0.0 && n.duration_s > 0.0) {
            return Err(self.err("nemesis.duration_s", "durations must be positive", None));
        }
        self.validate_packet()?;
        self.validate_disk()?;
        for (i, step) in n.schedule.iter().enumerate() {
            let at = format!("entry {}", i + 1);
            if let Some(t) = &step.topology {
                self.check_topology("nemesis.schedule", t, &nodes)?;
            }
            if let Some(t) = &step.target {
                self.check_target("nemesis.schedule", t, &nodes)?;
            }
            if !(step.at_s >= 0.0 && step.duration_s > 0.0) {
                return Err(self.err(
                    "nemesis.schedule",
                    format!("{at}: times must be positive"),
                    None,
                ));
            }
        }
        Ok(())
    }

    /// A topology that parses may still not fit the cluster (`n7` of 5 nodes).
    pub(super) fn check_topology(
        &self,
        key: &str,
        t: &Topology,
        nodes: &[String],
    ) -> Result<(), SpecError> {
        let mut rng = rand::rngs::mock::StepRng::new(0, 1);
        // A leader topology is drawn around whichever node leads; any node will do here.
        t.grudge_aimed(nodes, nodes.first().map(String::as_str), &mut rng)
            .map(|_| ())
            .map_err(|e| self.err(key, e.to_string(), None))
    }

    pub(super) fn check_target(
        &self,
        key: &str,
        t: &Target,
        nodes: &[String],
    ) -> Result<(), SpecError> {
        let mut rng = rand::rngs::mock::StepRng::new(0, 1);
        let leader = nodes.first().map(String::as_str);
        t.select_aimed(nodes, leader, &mut rng)
            .map(|_| ())
            .map_err(|e| {
                self.err(
                    key,
                    e.to_string(),
                    Some(format!("nodes are {}", nodes.join(", "))),
                )
            })
    }
}
