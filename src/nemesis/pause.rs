//! Pause: the store's daemon is frozen (SIGSTOP to its process group) and thawed (SIGCONT) on
//! stop.
//!
//! A frozen process keeps its sockets: peers see a node that accepts connections and never
//! answers, the shape of a long GC pause or a stalled VM — and, once thawed, a node that
//! acts on what it believed before (a lease it no longer holds). The history's value is the
//! nodes hit:
//!
//! ```text
//! {"process":"nemesis","type":"info","f":"pause","value":["n3"]}
//! {"process":"nemesis","type":"info","f":"resume","value":["n3"]}
//! ```

use std::sync::Arc;

use super::process::{ProcessFault, ProcessNemesis};
use super::{Fault, Kind};
use crate::cluster::{Node, Result, Signal};

pub const KIND: Kind = Kind {
    name: "pause",
    starts: &["pause"],
    stop: "resume",
    moves_clocks: false,
};

/// `pause`: random faults hit `[nemesis] pause_target`; a scripted step its `target`.
pub const PAUSE: Fault = Fault {
    name: "pause",
    kind: &KIND,
    random: |spec| Box::new(PauseNemesis::new(spec.pause_target.clone())),
    scripted: |step, _| Box::new(PauseNemesis::new(step.target())),
};

/// Freezes the daemons of its target's nodes and thaws them on stop.
pub type PauseNemesis = ProcessNemesis<Pause>;

/// The pause fault, as a [`ProcessFault`].
pub struct Pause;

impl ProcessFault for Pause {
    const KIND: &'static Kind = &KIND;

    fn start(node: &Arc<dyn Node>) -> Result<()> {
        node.signal(Signal::SIGSTOP)
    }

    fn stop(node: &Arc<dyn Node>) -> Result<()> {
        node.signal(Signal::SIGCONT)
    }
}
