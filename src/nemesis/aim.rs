//! What a fault knows when it begins, beyond the cluster: the node that leads at that moment,
//! the nodes other faults have taken down, and the store's own membership commands.
//!
//! Faults that aim (targets `leader`, `followers`, `leader-and-one`; topologies
//! `isolate-leader`, `leader-minority`) need the leader of the moment the fault starts, not
//! of the moment the schedule was drawn: leaders move under faults. So just before each start
//! the schedule asks the store who leads ([`Store::leader`], the spec's `[db.leader]`) and
//! hands the answer to the nemesis in an [`Aim`] ([`super::Nemesis::aim`]); the start event
//! records it as its `node`:
//!
//! ```text
//! {"process":"nemesis","type":"info","f":"start-partition","node":"n2","value":{"n2":["n1","n3"],...}}
//! ```
//!
//! With several faults at once, the [`Aim`] also lists the nodes whose store another fault
//! holds down (killed, removed from the cluster): a kill, a pause or a removal leaves them
//! alone, so a node is never paused while it is dead, nor restarted by one fault while
//! another has removed it.

use std::sync::Arc;

use crate::cluster::{Cluster, Result};

/// The store's side of the faults that need more than the cluster: who leads, and how a node
/// leaves and rejoins the cluster. Built by the controller from `[db.leader]` and
/// `[db.membership]` once the nodes have addresses.
pub trait Store: Send + Sync {
    /// Whether the spec says how to find the leader.
    fn probes_leader(&self) -> bool;

    /// The node that leads now, asked of every node: `Ok(None)` when none does (an election
    /// under way). Called from the nemesis thread; every request is bounded.
    fn leader(&self, cluster: &Cluster) -> Result<Option<String>>;

    /// How long a fault that aims at the leader waits for one.
    fn leader_wait(&self) -> std::time::Duration;

    /// Whether the spec says how to remove a node and add it back.
    fn changes_membership(&self) -> bool;

    /// Removes `node` from the cluster (asking another member) and stops its store; its data
    /// is wiped when the spec says so.
    fn remove_member(&self, cluster: &Cluster, node: &str) -> Result<()>;

    /// Adds `node` back to the cluster (asking another member) and starts its store as a
    /// joining member.
    fn add_member(&self, cluster: &Cluster, node: &str) -> Result<()>;
}

/// What the schedule tells a nemesis just before it starts a fault.
#[derive(Clone, Default)]
pub struct Aim {
    /// The node that led when the fault began; `None` without a probe or a leader.
    pub leader: Option<String>,
    /// Nodes whose store another fault in force has taken down: leave them alone.
    pub down: Vec<String>,
    /// The store, when the run has one (always, in a run; tests may leave it out).
    pub store: Option<Arc<dyn Store>>,
}

impl Aim {
    /// `nodes` without the ones another fault has taken down.
    pub fn up(&self, nodes: Vec<String>) -> Vec<String> {
        nodes
            .into_iter()
            .filter(|n| !self.down.contains(n))
            .collect()
    }
}
