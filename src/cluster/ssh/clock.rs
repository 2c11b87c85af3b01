//! A host's real clock: stepped with the clock command (`date -s` by default), read over one
//! round trip.
//!
//! Before the first step, every active NTP unit is stopped (it would step the clock back);
//! the units stopped and the net shift are kept in [`ClockState`], so that teardown can
//! undo the shift and start the units again.

use std::time::Duration;

use super::node::{lock, SshNode};
use super::scripts;
use super::transport::REMOTE_TIMEOUT;
use crate::cluster::clock::unix_ns;
use crate::cluster::{ClockControl, ClockOffset, Daemon, Error, Result};

/// Clock bookkeeping of one host, so that teardown can put it back.
#[derive(Default, Debug)]
pub(super) struct ClockState {
    /// Net shift faultline applied, milliseconds.
    pub shift_ms: i64,
    /// Whether the NTP units were looked at (and the active ones stopped).
    pub ntp_handled: bool,
    /// NTP units faultline stopped, to start again at teardown.
    pub stopped_units: Vec<String>,
}

impl SshNode {
    /// The net shift faultline has applied to this host's clock, milliseconds.
    pub fn clock_shift_ms(&self) -> i64 {
        lock(&self.clock).shift_ms
    }

    fn stop_ntp(&self) -> Result<()> {
        let mut clock = lock(&self.clock);
        if clock.ntp_handled {
            return Ok(());
        }
        let out = self.call_ok("stopping NTP", &scripts::stop_ntp(), REMOTE_TIMEOUT)?;
        clock.stopped_units = out
            .lines()
            .filter_map(|l| l.strip_prefix("stopped="))
            .map(str::to_string)
            .collect();
        clock.ntp_handled = true;
        Ok(())
    }
}

/// The host's own clock.
impl ClockControl for SshNode {
    /// Setting a host's clock needs only what the preflight checks.
    fn usable(&self) -> bool {
        true
    }

    /// The daemon reads the host's clock: nothing to prepare.
    fn prepare(&self, _daemon: &mut Daemon) -> Result<()> {
        Ok(())
    }

    fn check(&self) -> Result<()> {
        Ok(())
    }

    /// Steps the host's clock by `delta_ms`, first stopping any active NTP unit (once).
    fn shift(&self, delta_ms: i64) -> Result<()> {
        self.stop_ntp()?;
        let script = scripts::step(&self.options.clock_command, delta_ms);
        let mut clock = lock(&self.clock);
        self.call_ok(
            &format!("shifting the clock by {delta_ms} ms"),
            &script,
            REMOTE_TIMEOUT,
        )?;
        clock.shift_ms += delta_ms;
        Ok(())
    }

    /// One script flips the clock on the host, so that ssh round trips do not stretch the
    /// period.
    fn strobe(&self, delta_ms: i64, period: Duration, flips: u32) -> Result<u32> {
        self.stop_ntp()?;
        let script = scripts::strobe(&self.options.clock_command, delta_ms, period, flips);
        let bound = period * 2 * flips + REMOTE_TIMEOUT;
        let mut clock = lock(&self.clock);
        let raw = self.call("strobing the clock", &script, None, None, bound);
        // Count the steps that happened, even when the strobe failed half-way.
        let (steps, result) = match raw {
            Ok(raw) => {
                let out = String::from_utf8_lossy(&raw.stdout);
                let ups = out.lines().filter(|l| *l == "up").count() as i64;
                let downs = out.lines().filter(|l| *l == "down").count() as i64;
                clock.shift_ms += (ups - downs) * delta_ms;
                let failed = raw.code != Some(0);
                (
                    (ups + downs) as u32,
                    if failed {
                        Err(Error::command(
                            format!("strobing the clock of {}", self.who()),
                            raw.stderr.trim().to_string(),
                        ))
                    } else {
                        Ok(())
                    },
                )
            }
            Err(e) => (0, Err(e)),
        };
        result.map(|()| steps)
    }

    fn reset(&self) -> Result<()> {
        let mut clock = lock(&self.clock);
        if clock.shift_ms != 0 {
            let script = scripts::step(&self.options.clock_command, -clock.shift_ms);
            self.call_ok("resetting the clock", &script, REMOTE_TIMEOUT)?;
            clock.shift_ms = 0;
        }
        Ok(())
    }

    /// Reads the host's clock with the clock command.
    fn measure(&self) -> Result<ClockOffset> {
        let script = scripts::read_clock(&self.options.clock_command);
        let before = unix_ns();
        let out = self.call_ok("reading the clock", &script, REMOTE_TIMEOUT)?;
        let after = unix_ns();
        let remote: i128 = out.trim().parse().map_err(|_| {
            Error::command(
                format!("reading the clock of {}", self.who()),
                format!("`{script}` printed {:?}, not nanoseconds", out.trim()),
            )
        })?;
        let mid = (before + after) / 2;
        Ok(ClockOffset {
            offset_ms: ((remote - mid) / 1_000_000) as i64,
            uncertainty_ms: ((after - before) / 2_000_000) as i64,
        })
    }
}
