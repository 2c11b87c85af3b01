//! Faults that act on the store's processes through their node: the one implementation
//! behind `kill` ([`super::kill`]) and `pause` ([`super::pause`]).
//!
//! Both pick target nodes ([`Target`]: `one`, `minority`, `majority`, `all`, `leader`,
//! `followers`, `leader-and-one` or names) with the schedule's rng among the nodes no other
//! fault holds down ([`Aim`]), do something to each node's daemon, and undo it on stop for
//! exactly those nodes. The
//! history's value is the list of nodes at both ends: `["n2","n4"]`. A kind of this family
//! says only its verbs and the two actions, as a [`ProcessFault`].

use std::marker::PhantomData;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::json;

use super::{Aim, FaultEvent, Kind, Nemesis};
use crate::cluster::{Cluster, Error, Node, Result, Target};

/// What a process fault does to one node's daemon, and undoes.
pub trait ProcessFault: 'static {
    /// Its kind, with exactly one start verb.
    const KIND: &'static Kind;

    /// Puts the fault in force on `node`.
    fn start(node: &Arc<dyn Node>) -> Result<()>;

    /// Ends it on `node`.
    fn stop(node: &Arc<dyn Node>) -> Result<()>;

    /// Whether the daemon should still be running when the fault ends (a paused one should;
    /// a killed one is not): one that is not has exited on its own, and the stop says so.
    const ALIVE_AT_STOP: bool = true;
}

/// Applies the process fault `F` to the daemons of its target's nodes on start, and undoes
/// it on stop.
pub struct ProcessNemesis<F: ProcessFault> {
    target: Target,
    /// The nodes the fault is in force on.
    hit: Vec<String>,
    /// What the schedule said before this start: the leader, the nodes to spare.
    aim: Aim,
    // `fn() -> F`: the nemesis holds no `F`, so it is `Send` whatever `F` is.
    fault: PhantomData<fn() -> F>,
}

impl<F: ProcessFault> ProcessNemesis<F> {
    pub fn new(target: Target) -> ProcessNemesis<F> {
        ProcessNemesis {
            target,
            hit: Vec::new(),
            aim: Aim::default(),
            fault: PhantomData,
        }
    }
}

impl<F: ProcessFault> Nemesis for ProcessNemesis<F> {
    fn kind(&self) -> &'static Kind {
        F::KIND
    }

    fn applicable(&self, cluster: &Cluster) -> bool {
        targets_someone(&self.target, cluster)
    }

    fn is_active(&self) -> bool {
        !self.hit.is_empty()
    }

    fn aims_at_leader(&self) -> bool {
        self.target.needs_leader()
    }

    fn aim(&mut self, aim: &Aim) {
        self.aim = aim.clone();
    }

    fn downed(&self) -> Vec<String> {
        if F::ALIVE_AT_STOP {
            return Vec::new();
        }
        self.hit.clone()
    }

    fn start(&mut self, cluster: &Cluster, rng: &mut dyn rand::RngCore) -> Result<FaultEvent> {
        let names = select(&self.target, &self.aim, cluster, rng)?;
        let mut down = Vec::new();
        for name in &names {
            let node = cluster.node(name)?;
            if !node.is_alive() {
                down.push(name.as_str());
            }
            // Recorded before the act: if a later node fails, stop still undoes this one.
            self.hit.push(name.clone());
            F::start(node)?;
        }
        // A daemon that had exited on its own was not killed or paused by this fault.
        let note = (!down.is_empty()).then(|| {
            format!(
                "{} was not running when the fault began (it had exited on its own)",
                down.join(", ")
            )
        });
        if let Some(note) = &note {
            tracing::warn!("{}: {note}", F::KIND.starts[0]);
        }
        Ok(FaultEvent {
            f: F::KIND.starts[0],
            value: json!(names),
            note,
        })
    }

    fn stop(&mut self, cluster: &Cluster) -> Result<Option<FaultEvent>> {
        if self.hit.is_empty() {
            return Ok(None);
        }
        let names = std::mem::take(&mut self.hit);
        let gone: Vec<&str> = if F::ALIVE_AT_STOP {
            names
                .iter()
                .filter(|n| cluster.node(n).is_ok_and(|node| !node.is_alive()))
                .map(String::as_str)
                .collect()
        } else {
            Vec::new()
        };
        on_each(cluster, &names, F::stop)?;
        let note =
            (!gone.is_empty()).then(|| format!("{} had exited during the fault", gone.join(", ")));
        Ok(Some(FaultEvent {
            f: F::KIND.stop,
            value: json!(names),
            note,
        }))
    }
}

/// Runs `f` on each named node, going on past a failure so that every node is undone, and
/// returns the first error.
pub(super) fn on_each(
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
pub(super) fn targets_someone(target: &Target, cluster: &Cluster) -> bool {
    let mut rng = StdRng::seed_from_u64(0);
    let names = cluster.node_names();
    // Whichever node leads, a leader target picks someone.
    let leader = names.first().map(String::as_str);
    target
        .select_aimed(&names, leader, &mut rng)
        .is_ok_and(|nodes| !nodes.is_empty())
}

/// The target's nodes among those no other fault holds down, aimed at the leader of `aim`.
pub(super) fn select(
    target: &Target,
    aim: &Aim,
    cluster: &Cluster,
    rng: &mut dyn rand::RngCore,
) -> Result<Vec<String>> {
    let up = aim.up(cluster.node_names());
    let names = target.select_aimed(&up, aim.leader.as_deref(), rng)?;
    if names.is_empty() {
        return Err(Error::Invalid(format!(
            "fault target {target} picks no node of the {} of {} nodes no other fault holds \
             down",
            up.len(),
            cluster.nodes().len()
        )));
    }
    Ok(names)
}
