//! Partitions: the network cut along a topology (iptables DROP rules in each node's
//! `FAULTLINE` chain), healed on stop.
//!
//! A partition is a grudge — node → the nodes whose packets it drops — drawn from one of the
//! nemesis's topologies ([`Topology`]: `halves`, `random-halves`, `majorities-ring`,
//! `isolate-one`, `bridge`, `isolate-leader`, `leader-minority`, or explicit components). The history records the grudge at both
//! ends, so the report can say which side each client was on:
//!
//! ```text
//! {"process":"nemesis","type":"info","f":"start-partition","value":{"n1":["n2","n3"],"n2":["n1"],"n3":["n1"]}}
//! ```
//!
//! Only the `local` backend can cut links (root, namespaces); `loopback` and `ssh` clusters
//! refuse a test that asks for partitions.

use rand::seq::SliceRandom;

use super::{cannot_run, Aim, Fault, FaultEvent, Kind, Nemesis};
use crate::cluster::{Cluster, Grudge, Result, Topology};
use crate::spec::NemesisSpec;

const START: &str = "start-partition";
const STOP: &str = "stop-partition";

pub const KIND: Kind = Kind {
    name: "partition",
    starts: &[START],
    stop: STOP,
    moves_clocks: false,
};

/// `partition`: random faults cut along `[nemesis] topologies`; a scripted step along its
/// `topology` (default `random-halves`).
pub const PARTITION: Fault = Fault {
    name: "partition",
    kind: &KIND,
    random: |spec| Box::new(PartitionNemesis::new(topologies(spec))),
    scripted: |step, _| {
        let topology = step.topology.clone().unwrap_or(Topology::RandomHalves);
        Box::new(PartitionNemesis::new(vec![topology]))
    },
};

/// The topologies a random partition is drawn from: the spec's, or by default a random
/// split, one node alone, and overlapping majorities (`[nemesis] topologies` documents it).
fn topologies(spec: &NemesisSpec) -> Vec<Topology> {
    if spec.topologies.is_empty() {
        return vec![
            Topology::RandomHalves,
            Topology::IsolateOne,
            Topology::MajoritiesRing,
        ];
    }
    spec.topologies.clone()
}

/// Cuts the network with one of its topologies (drawn by the rng), heals it on stop.
pub struct PartitionNemesis {
    topologies: Vec<Topology>,
    active: Option<Grudge>,
    /// The node that led when the schedule last aimed it.
    leader: Option<String>,
}

impl PartitionNemesis {
    /// `topologies` must not be empty.
    pub fn new(topologies: Vec<Topology>) -> PartitionNemesis {
        assert!(
            !topologies.is_empty(),
            "a partition nemesis needs a topology"
        );
        PartitionNemesis {
            topologies,
            active: None,
            leader: None,
        }
    }

    /// The grudge in force, if any.
    pub fn active(&self) -> Option<&Grudge> {
        self.active.as_ref()
    }
}

impl Nemesis for PartitionNemesis {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    fn applicable(&self, cluster: &Cluster) -> bool {
        cluster.supports_partitions() && cluster.nodes().len() >= 2
    }

    fn check(&self, cluster: &Cluster) -> Result<()> {
        if self.applicable(cluster) {
            return Ok(());
        }
        let hint = if cluster.supports_partitions() {
            ""
        } else {
            "; partitions need the local backend (root)"
        };
        Err(cannot_run(&KIND, cluster, hint))
    }

    fn is_active(&self) -> bool {
        self.active.is_some()
    }

    fn aims_at_leader(&self) -> bool {
        self.topologies.iter().any(Topology::needs_leader)
    }

    fn aim(&mut self, aim: &Aim) {
        self.leader = aim.leader.clone();
    }

    fn start(&mut self, cluster: &Cluster, rng: &mut dyn rand::RngCore) -> Result<FaultEvent> {
        let topology = self
            .topologies
            .choose(rng)
            .expect("checked non-empty in new");
        let grudge = topology.grudge_aimed(&cluster.node_names(), self.leader.as_deref(), rng)?;
        // Mark it active first: if applying fails half-way, stop still heals.
        self.active = Some(grudge.clone());
        cluster.partition(&grudge)?;
        Ok(FaultEvent {
            f: START,
            value: grudge.to_json(),
            note: None,
        })
    }

    fn stop(&mut self, cluster: &Cluster) -> Result<Option<FaultEvent>> {
        let Some(grudge) = self.active.take() else {
            return Ok(None);
        };
        if let Err(e) = cluster.heal() {
            self.active = Some(grudge);
            return Err(e);
        }
        Ok(Some(FaultEvent {
            f: STOP,
            value: grudge.to_json(),
            note: None,
        }))
    }
}
