//! Clock faults: a node whose clock disagrees with the others.
//!
//! Stores that lean on time — leases, lock expiry, "read from the leader while its lease
//! lasts", timestamps that order writes — go wrong when one node's clock jumps. Three verbs:
//!
//! | verb | what | value in the history |
//! |---|---|---|
//! | `clock-bump` | shift each target node's clock by ±`delta_ms` (sign drawn by the seed) | `{"n2":{"delta_ms":-1500,"offset_ms":-1502,"uncertainty_ms":1}}` |
//! | `clock-strobe` | flip it +`delta_ms` and back every `period_ms` for `duration_ms` | `{"n2":{"delta_ms":200,"period_ms":100,"steps":20,"offset_ms":0,...}}` |
//! | `clock-reset` | undo every shift faultline made | `{"n2":{"offset_ms":0,"uncertainty_ms":1}}` |
//!
//! A spec names them `clock` (a bump) and `clock-strobe`: two faults of one kind, since one
//! `clock-reset` undoes either.
//!
//! `offset_ms` is measured after the change: the node's clock minus the controller's, read
//! over one round trip, right within `uncertainty_ms`.
//!
//! This module holds the fault alone: which nodes, which deltas, the strobe's timing, what
//! the history records. How a node's clock moves is its backend's business, behind
//! [`ClockControl`] ([`crate::cluster::clock`]): an ssh host's real clock is stepped, a
//! local or loopback node's daemon reads a fake clock through libfaketime
//! ([`crate::cluster::faketime`]), which cannot reach Go programs such as etcd.

use std::time::Duration;

use rand::Rng;
use serde_json::{json, Map, Value};

use super::{Aim, Fault, FaultEvent, Kind, Nemesis};
use crate::cluster::{
    on_all, ClockControl, ClockOffset, Cluster, Daemon, Error, Node, Result, Target,
};
use crate::spec::NemesisSpec;

const BUMP_VERB: &str = "clock-bump";
const STROBE_VERB: &str = "clock-strobe";
const RESET_VERB: &str = "clock-reset";

/// One kind for both faults: one `clock-reset` undoes either, so a node's clock is moved by
/// at most one of them at a time.
pub const KIND: Kind = Kind {
    name: "clock",
    starts: &[BUMP_VERB, STROBE_VERB],
    stop: RESET_VERB,
    moves_clocks: true,
};

/// `clock`: a bump by ±`[nemesis] clock_delta_ms` of `clock_target` (random), or of a
/// scripted step's `target`.
pub const BUMP: Fault = Fault {
    name: "clock",
    kind: &KIND,
    random: |spec| Box::new(ClockNemesis::new(spec.clock_target.clone(), bump(spec))),
    scripted: |step, spec| Box::new(ClockNemesis::new(step.target(), bump(spec))),
};

/// `clock-strobe`: a strobe of `clock_delta_ms` every `clock_period_ms`, for as long as the
/// fault lasts (`duration_s`, or the scripted step's, at most [`MAX_STROBE`]).
pub const STROBE: Fault = Fault {
    name: "clock-strobe",
    kind: &KIND,
    random: |spec| {
        let duration = Duration::from_secs_f64(spec.duration_s).min(MAX_STROBE);
        Box::new(ClockNemesis::new(
            spec.clock_target.clone(),
            strobe(spec, duration),
        ))
    },
    scripted: |step, spec| {
        let duration = step.end() - step.at();
        Box::new(ClockNemesis::new(step.target(), strobe(spec, duration)))
    },
};

fn bump(spec: &NemesisSpec) -> ClockFault {
    ClockFault::Bump {
        delta_ms: spec.clock_delta_ms,
    }
}

fn strobe(spec: &NemesisSpec, duration: Duration) -> ClockFault {
    ClockFault::Strobe {
        delta_ms: spec.clock_delta_ms,
        period: Duration::from_millis(spec.clock_period_ms),
        duration,
    }
}

/// Longest strobe: it runs while the nemesis waits.
pub const MAX_STROBE: Duration = Duration::from_secs(60);

/// Makes `daemon` read the clock faultline moves on `node`, before it starts
/// ([`ClockControl::prepare`]); refuses a program that clock cannot reach. A spec with clock
/// faults starts every daemon through this.
pub fn prepare_daemon(node: &dyn Node, daemon: &mut Daemon) -> Result<()> {
    match node.clock() {
        Some(clock) => clock.prepare(daemon),
        None => Ok(()),
    }
}

/// The clock of node `name`, ready to move; fails, naming the node, when it is not.
fn clock_of<'a>(cluster: &'a Cluster, name: &str) -> Result<&'a dyn ClockControl> {
    let clock = cluster.node(name)?.clock().ok_or(Error::Unsupported {
        backend: cluster.kind(),
        what: "move a node's clock",
        hint: "use the ssh backend for clock faults",
    })?;
    clock.check()?;
    Ok(clock)
}

/// Measures node `name`'s clock offset from the controller's.
pub fn measure(cluster: &Cluster, name: &str) -> Result<ClockOffset> {
    clock_of(cluster, name)?.measure()
}

/// Which clock fault a [`ClockNemesis`] starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClockFault {
    /// Shift by ±`delta_ms`, held until stop.
    Bump { delta_ms: i64 },
    /// Flip +`delta_ms` and back every `period` for `duration` (at most [`MAX_STROBE`]).
    Strobe {
        delta_ms: i64,
        period: Duration,
        duration: Duration,
    },
}

/// Moves its target nodes' clocks on start and puts them back (`clock-reset`) on stop.
pub struct ClockNemesis {
    target: Target,
    fault: ClockFault,
    skewed: Vec<String>,
    /// The node that led when the schedule last aimed it.
    leader: Option<String>,
}

impl ClockNemesis {
    pub fn new(target: Target, fault: ClockFault) -> ClockNemesis {
        ClockNemesis {
            target,
            fault,
            skewed: Vec::new(),
            leader: None,
        }
    }

    fn bump(
        &mut self,
        cluster: &Cluster,
        names: &[String],
        delta_ms: i64,
        rng: &mut dyn rand::RngCore,
    ) -> Result<FaultEvent> {
        let mut value = Map::new();
        for name in names {
            let clock = clock_of(cluster, name)?;
            let delta = if rng.gen_bool(0.5) {
                delta_ms
            } else {
                -delta_ms
            };
            // Recorded before the change: if it half-fails, stop still resets this node.
            self.skewed.push(name.clone());
            clock.shift(delta)?;
            let m = clock.measure()?;
            value.insert(
                name.clone(),
                json!({"delta_ms": delta, "offset_ms": m.offset_ms, "uncertainty_ms": m.uncertainty_ms}),
            );
        }
        Ok(FaultEvent {
            f: BUMP_VERB,
            value: Value::Object(value),
            note: None,
        })
    }

    fn strobe(
        &mut self,
        cluster: &Cluster,
        names: &[String],
        delta_ms: i64,
        period: Duration,
        duration: Duration,
    ) -> Result<FaultEvent> {
        let period = period.max(Duration::from_millis(10));
        let flips = (duration.min(MAX_STROBE).as_millis() / (2 * period.as_millis())).max(1) as u32;
        let clocks: Vec<&dyn ClockControl> = names
            .iter()
            .map(|n| clock_of(cluster, n))
            .collect::<Result<_>>()?;
        self.skewed.extend(names.iter().cloned());
        // Every target strobes at once, as Jepsen's strobe does.
        let results: Vec<Result<(u32, ClockOffset)>> = on_all(&clocks, |c| {
            Ok((c.strobe(delta_ms, period, flips)?, c.measure()?))
        });
        let mut value = Map::new();
        for (name, result) in names.iter().zip(results) {
            let (steps, m) = result?;
            value.insert(
                name.clone(),
                json!({"delta_ms": delta_ms, "period_ms": period.as_millis() as u64,
                       "steps": steps, "offset_ms": m.offset_ms,
                       "uncertainty_ms": m.uncertainty_ms}),
            );
        }
        Ok(FaultEvent {
            f: STROBE_VERB,
            value: Value::Object(value),
            note: None,
        })
    }
}

impl Nemesis for ClockNemesis {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    /// When every node's clock is usable: on ssh hosts always, on local nodes when
    /// libfaketime is installed. Whether each daemon actually reads the fake clock (it may
    /// not have started yet) is checked by `start`, which refuses a node whose daemon does
    /// not, naming it.
    fn applicable(&self, cluster: &Cluster) -> bool {
        cluster
            .nodes()
            .iter()
            .all(|n| n.clock().is_some_and(|c| c.usable()))
    }

    fn is_active(&self) -> bool {
        !self.skewed.is_empty()
    }

    fn aims_at_leader(&self) -> bool {
        self.target.needs_leader()
    }

    fn aim(&mut self, aim: &Aim) {
        self.leader = aim.leader.clone();
    }

    fn start(&mut self, cluster: &Cluster, rng: &mut dyn rand::RngCore) -> Result<FaultEvent> {
        let names = self
            .target
            .select_aimed(&cluster.node_names(), self.leader.as_deref(), rng)?;
        if names.is_empty() {
            return Err(Error::Invalid(format!(
                "clock fault target {} picks no node",
                self.target
            )));
        }
        match self.fault.clone() {
            ClockFault::Bump { delta_ms } => self.bump(cluster, &names, delta_ms, rng),
            ClockFault::Strobe {
                delta_ms,
                period,
                duration,
            } => self.strobe(cluster, &names, delta_ms, period, duration),
        }
    }

    fn stop(&mut self, cluster: &Cluster) -> Result<Option<FaultEvent>> {
        if self.skewed.is_empty() {
            return Ok(None);
        }
        let names = std::mem::take(&mut self.skewed);
        let mut value = Map::new();
        let mut first_error = None;
        for name in &names {
            let result = clock_of(cluster, name).and_then(|c| {
                c.reset()?;
                c.measure()
            });
            match result {
                Ok(m) => {
                    value.insert(
                        name.clone(),
                        json!({"offset_ms": m.offset_ms, "uncertainty_ms": m.uncertainty_ms}),
                    );
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(Some(FaultEvent {
                f: RESET_VERB,
                value: Value::Object(value),
                note: None,
            })),
        }
    }
}
