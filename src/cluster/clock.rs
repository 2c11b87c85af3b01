//! Node clocks: the capability to move the time a node's store reads.
//!
//! A node whose clock faultline can move offers a [`ClockControl`] through [`Node::clock`].
//! The clock fault ([`crate::nemesis::clock`]) decides which nodes, by how much and when;
//! the backend decides how:
//!
//! - `ssh`: each node is a host with its own system clock, stepped with `date -s` (any NTP
//!   daemon stopped first, restarted at teardown, which also undoes any shift still in
//!   force). See [`super::ssh`].
//! - `local` and `loopback`: every node shares the controller's one clock, which no test may
//!   move; instead the store's own view of time is skewed with libfaketime, through a control
//!   file the controller writes. See [`super::faketime`].
//!
//! ```text
//!   clock fault ──► Node::clock() ──► ClockControl ──┬─► ssh host: date -s over ssh
//!   (targets, deltas,                                 └─► local/loopback: faketime.rc
//!    strobe timing, history)
//! ```
//!
//! [`Node::clock`]: super::Node::clock

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Daemon, Result};

/// A clock reading: the node's clock minus the controller's, measured over one round trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ClockOffset {
    pub offset_ms: i64,
    /// Half the round trip: the reading is right within this.
    pub uncertainty_ms: i64,
}

/// One node's clock, as faultline can move it. Every shift is relative to where the clock
/// stands; [`ClockControl::reset`] undoes them all. Calls are blocking, bounded in time, and
/// may come from several threads at once (a strobe moves every target in parallel).
pub trait ClockControl: Send + Sync {
    /// Whether this machine can move the clock at all (libfaketime is installed, say). A run
    /// schedules clock faults only when every node's clock is usable.
    fn usable(&self) -> bool;

    /// Makes `daemon` read this clock; call it before the daemon starts. Refuses, saying why,
    /// a program whose time this clock cannot reach. Does nothing where the clock is the
    /// host's own.
    fn prepare(&self, daemon: &mut Daemon) -> Result<()>;

    /// Fails, naming the node and saying why, when the clock cannot be moved now (the running
    /// daemon does not read it). Called before any clock of a fault is moved.
    fn check(&self) -> Result<()>;

    /// Moves the clock by `delta_ms` (either sign), held until reset.
    fn shift(&self, delta_ms: i64) -> Result<()>;

    /// Flips the clock `flips` times to +`delta_ms` and back, `period` apart, ending where it
    /// began; returns the number of steps made.
    fn strobe(&self, delta_ms: i64, period: Duration, flips: u32) -> Result<u32>;

    /// Undoes every shift faultline made to this clock.
    fn reset(&self) -> Result<()>;

    /// The clock as the store reads it, minus the controller's.
    fn measure(&self) -> Result<ClockOffset>;
}

/// The controller's wall clock in nanoseconds since the epoch, for [`ClockOffset`]s.
pub(crate) fn unix_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}
