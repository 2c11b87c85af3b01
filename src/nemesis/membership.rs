//! Membership changes: a node's store is stopped and the node removed from the cluster
//! (asked of another member); on stop it is added back and started as a joining member, its data wiped
//! first when the spec says so (`[db.membership]`).
//!
//! Consensus stores keep their worst bugs here: a configuration change that races a
//! leader change, a removed member that still votes, a re-added member whose empty log is
//! taken for an up-to-date one. The store's own commands do the work ([`super::Store`]); the
//! history's value is the nodes changed:
//!
//! ```text
//! {"process":"nemesis","type":"info","f":"remove-member","value":["n3"],"node":"n1"}
//! {"process":"nemesis","type":"info","f":"add-member","value":["n3"]}
//! ```
//!
//! While removed, a node is held down ([`Nemesis::downed`]): no other fault kills, pauses or
//! removes it, so a concurrent kill cannot restart a store the cluster no longer counts.

use std::sync::Arc;

use serde_json::json;

use super::process::select;
use super::{Aim, Fault, FaultEvent, Kind, Nemesis, Store};
use crate::cluster::{Cluster, Error, Result, Target};

pub const KIND: Kind = Kind {
    name: "membership",
    starts: &["remove-member"],
    stop: "add-member",
    moves_clocks: false,
};

/// `membership`: random faults change `[nemesis] membership_target`; a scripted step its
/// `target`.
pub const MEMBERSHIP: Fault = Fault {
    name: "membership",
    kind: &KIND,
    random: |spec| Box::new(MembershipNemesis::new(spec.membership_target.clone())),
    scripted: |step, _| Box::new(MembershipNemesis::new(step.target())),
};

/// Removes its target's nodes from the cluster and adds them back on stop.
pub struct MembershipNemesis {
    target: Target,
    /// The nodes removed (in the order they were), for the stop to add back.
    removed: Vec<String>,
    aim: Aim,
    /// The store that changes membership, kept from the aim for the stop.
    store: Option<Arc<dyn Store>>,
}

impl MembershipNemesis {
    pub fn new(target: Target) -> MembershipNemesis {
        MembershipNemesis {
            target,
            removed: Vec::new(),
            aim: Aim::default(),
            store: None,
        }
    }

    fn store(&self) -> Result<&Arc<dyn Store>> {
        self.store
            .as_ref()
            .filter(|s| s.changes_membership())
            .ok_or_else(|| {
                Error::Invalid(
                    "the membership fault needs [db.membership] to say how a node leaves and \
                     rejoins"
                        .into(),
                )
            })
    }
}

impl Nemesis for MembershipNemesis {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    fn applicable(&self, cluster: &Cluster) -> bool {
        // Removing a node of two leaves a cluster of one: nothing left to reach a quorum.
        cluster.nodes().len() >= 3
    }

    fn is_active(&self) -> bool {
        !self.removed.is_empty()
    }

    fn aims_at_leader(&self) -> bool {
        self.target.needs_leader()
    }

    fn aim(&mut self, aim: &Aim) {
        self.aim = aim.clone();
        if aim.store.is_some() {
            self.store = aim.store.clone();
        }
    }

    fn downed(&self) -> Vec<String> {
        self.removed.clone()
    }

    fn start(&mut self, cluster: &Cluster, rng: &mut dyn rand::RngCore) -> Result<FaultEvent> {
        let store = self.store()?.clone();
        let names = select(&self.target, &self.aim, cluster, rng)?;
        for name in &names {
            // A removal that fails puts the node back as it was; the ones before it stay
            // removed, for the stop to add back.
            store.remove_member(cluster, name)?;
            self.removed.push(name.clone());
        }
        Ok(FaultEvent {
            f: KIND.starts[0],
            value: json!(names),
            note: None,
        })
    }

    /// Adds back every removed node; one that cannot be added stays removed, so that the
    /// final heal tries it again.
    fn stop(&mut self, cluster: &Cluster) -> Result<Option<FaultEvent>> {
        if self.removed.is_empty() {
            return Ok(None);
        }
        let store = self.store()?.clone();
        let names = std::mem::take(&mut self.removed);
        let mut first_error = None;
        for name in &names {
            if let Err(e) = store.add_member(cluster, name) {
                self.removed.push(name.clone());
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(Some(FaultEvent {
                f: KIND.stop,
                value: json!(names),
                note: None,
            })),
        }
    }
}
