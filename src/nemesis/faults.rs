//! The three fault kinds: partition (iptables DROP rules), kill (SIGKILL, then restart) and
//! pause (SIGSTOP, then SIGCONT).

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::json;

use super::{FaultEvent, FaultKind, Nemesis, Verb};
use crate::cluster::{Cluster, Error, Grudge, Node, Result, Signal, Target, Topology};

/// Cuts the network with one of its topologies (drawn by the rng), heals it on stop.
pub struct PartitionNemesis {
    topologies: Vec<Topology>,
    active: Option<Grudge>,
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
        }
    }

    /// The grudge in force, if any.
    pub fn active(&self) -> Option<&Grudge> {
        self.active.as_ref()
    }
}

impl Nemesis for PartitionNemesis {
    fn kind(&self) -> FaultKind {
        FaultKind::Partition
    }

    fn applicable(&self, cluster: &Cluster) -> bool {
        cluster.supports_partitions() && cluster.nodes().len() >= 2
    }

    fn is_active(&self) -> bool {
        self.active.is_some()
    }

    fn start(&mut self, cluster: &Cluster, rng: &mut dyn rand::RngCore) -> Result<FaultEvent> {
        let topology = self
            .topologies
            .choose(rng)
            .expect("checked non-empty in new");
        let grudge = topology.grudge(&cluster.node_names(), rng)?;
        // Mark it active first: if applying fails half-way, stop still heals.
        self.active = Some(grudge.clone());
        cluster.partition(&grudge)?;
        Ok(FaultEvent {
            f: Verb::StartPartition.name(),
            value: grudge.to_json(),
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
            f: Verb::StopPartition.name(),
            value: grudge.to_json(),
        }))
    }
}

/// Kills the daemons of its target's nodes (SIGKILL to each process group) and restarts them
/// with the same command on stop.
pub struct KillNemesis {
    target: Target,
    killed: Vec<String>,
}

impl KillNemesis {
    pub fn new(target: Target) -> KillNemesis {
        KillNemesis {
            target,
            killed: Vec::new(),
        }
    }
}

impl Nemesis for KillNemesis {
    fn kind(&self) -> FaultKind {
        FaultKind::Kill
    }

    fn applicable(&self, cluster: &Cluster) -> bool {
        targets_someone(&self.target, cluster)
    }

    fn is_active(&self) -> bool {
        !self.killed.is_empty()
    }

    fn start(&mut self, cluster: &Cluster, rng: &mut dyn rand::RngCore) -> Result<FaultEvent> {
        let names = select(&self.target, cluster, rng)?;
        for name in &names {
            // Recorded before the kill: if a later one fails, stop still restarts this one.
            self.killed.push(name.clone());
            cluster.node(name)?.kill()?;
        }
        Ok(FaultEvent {
            f: Verb::Kill.name(),
            value: json!(names),
        })
    }

    fn stop(&mut self, cluster: &Cluster) -> Result<Option<FaultEvent>> {
        if self.killed.is_empty() {
            return Ok(None);
        }
        let names = std::mem::take(&mut self.killed);
        on_each(cluster, &names, |n| n.restart())?;
        Ok(Some(FaultEvent {
            f: Verb::Restart.name(),
            value: json!(names),
        }))
    }
}

/// Freezes the daemons of its target's nodes (SIGSTOP to each process group) and thaws them
/// (SIGCONT) on stop. A frozen process keeps its sockets: peers see a node that accepts
/// connections and never answers, the shape of a long GC pause or a stalled VM.
pub struct PauseNemesis {
    target: Target,
    paused: Vec<String>,
}

impl PauseNemesis {
    pub fn new(target: Target) -> PauseNemesis {
        PauseNemesis {
            target,
            paused: Vec::new(),
        }
    }
}

impl Nemesis for PauseNemesis {
    fn kind(&self) -> FaultKind {
        FaultKind::Pause
    }

    fn applicable(&self, cluster: &Cluster) -> bool {
        targets_someone(&self.target, cluster)
    }

    fn is_active(&self) -> bool {
        !self.paused.is_empty()
    }

    fn start(&mut self, cluster: &Cluster, rng: &mut dyn rand::RngCore) -> Result<FaultEvent> {
        let names = select(&self.target, cluster, rng)?;
        for name in &names {
            self.paused.push(name.clone());
            cluster.node(name)?.signal(Signal::SIGSTOP)?;
        }
        Ok(FaultEvent {
            f: Verb::Pause.name(),
            value: json!(names),
        })
    }

    fn stop(&mut self, cluster: &Cluster) -> Result<Option<FaultEvent>> {
        if self.paused.is_empty() {
            return Ok(None);
        }
        let names = std::mem::take(&mut self.paused);
        on_each(cluster, &names, |n| n.signal(Signal::SIGCONT))?;
        Ok(Some(FaultEvent {
            f: Verb::Resume.name(),
            value: json!(names),
        }))
    }
}

/// Runs `f` on each named node, going on past a failure so that every node is undone, and
/// returns the first error.
fn on_each(
    cluster: &Cluster,
    names: &[String],
    f: impl Fn(&Arc<dyn Node>) -> Result<()>,
) -> Result<()> {
    let mut first_error = None;
    for name in names {
        if let Err(e) = cluster.node(name).and_then(&f) {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Whether the target picks at least one node of this cluster (the minority of one node is
/// nobody). Uses a throwaway rng so that asking does not change the run's random sequence.
fn targets_someone(target: &Target, cluster: &Cluster) -> bool {
    let mut rng = StdRng::seed_from_u64(0);
    target
        .select(&cluster.node_names(), &mut rng)
        .is_ok_and(|nodes| !nodes.is_empty())
}

fn select(target: &Target, cluster: &Cluster, rng: &mut dyn rand::RngCore) -> Result<Vec<String>> {
    let names = target.select(&cluster.node_names(), rng)?;
    if names.is_empty() {
        return Err(Error::Invalid(format!(
            "fault target {target} picks no node of a {}-node cluster",
            cluster.nodes().len()
        )));
    }
    Ok(names)
}
