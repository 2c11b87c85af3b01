//! Kill: the store's daemon dies at once (SIGKILL to its process group), and on stop is
//! started again with the same command.
//!
//! A crash without warning: no shutdown hook runs, unsynced writes are lost with the process
//! (not with the machine: the page cache survives). The history's value is the nodes hit:
//!
//! ```text
//! {"process":"nemesis","type":"info","f":"kill","value":["n2","n4"]}
//! {"process":"nemesis","type":"info","f":"restart","value":["n2","n4"]}
//! ```

use std::sync::Arc;

use super::process::{ProcessFault, ProcessNemesis};
use super::{Fault, Kind};
use crate::cluster::{Node, Result};

pub const KIND: Kind = Kind {
    name: "kill",
    starts: &["kill"],
    stop: "restart",
    moves_clocks: false,
};

/// `kill`: random faults hit `[nemesis] kill_target`; a scripted step its `target`.
pub const KILL: Fault = Fault {
    name: "kill",
    kind: &KIND,
    random: |spec| Box::new(KillNemesis::new(spec.kill_target.clone())),
    scripted: |step, _| Box::new(KillNemesis::new(step.target())),
};

/// Kills the daemons of its target's nodes and restarts them on stop.
pub type KillNemesis = ProcessNemesis<Kill>;

/// The kill fault, as a [`ProcessFault`].
pub struct Kill;

impl ProcessFault for Kill {
    const KIND: &'static Kind = &KIND;
    const ALIVE_AT_STOP: bool = false;

    fn start(node: &Arc<dyn Node>) -> Result<()> {
        node.kill()
    }

    fn stop(node: &Arc<dyn Node>) -> Result<()> {
        node.restart()
    }
}
