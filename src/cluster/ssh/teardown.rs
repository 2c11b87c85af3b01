//! Putting a host back as it was: per-host teardown with retries, and `faultline clean` for
//! the hosts of a run whose controller died.
//!
//! Teardown visits every host it touched: kills the daemon, deletes the chain and its jump,
//! undoes the clock shift, restarts the NTP units it stopped, removes the node directory,
//! closes the master connection, all in one idempotent script. A host that does not answer
//! is retried ([`TEARDOWN_ATTEMPTS`], one second apart); what is left is then reported.

use std::fs;
use std::path::Path;
use std::time::Duration;

use super::hosts::SshOptions;
use super::node::{lock, SshNode};
use super::scripts::{self, Leftovers};
use super::transport::REMOTE_TIMEOUT;
use super::SshCluster;
use crate::cluster::{on_all, Error, Result};

/// Teardown attempts per host before it reports the host's leftovers.
const TEARDOWN_ATTEMPTS: u32 = 3;
/// The file in a run's state directory that records how to reach its hosts.
pub(super) const OPTIONS_FILE: &str = "ssh.json";

impl SshNode {
    /// Everything faultline may have left on this host, removed in one idempotent script.
    /// Returns what is still there.
    fn teardown_once(&self) -> Result<Vec<String>> {
        let clock = lock(&self.clock);
        let script = scripts::teardown(&Leftovers {
            pidfile: &self.pidfile(),
            chain: &self.chain,
            dir: &self.dir,
            clock_command: &self.options.clock_command,
            shift_ms: clock.shift_ms,
            stopped_units: &clock.stopped_units,
        });
        drop(clock);
        let out = self.call_ok("tearing down", &script, REMOTE_TIMEOUT)?;
        let mut clock = lock(&self.clock);
        clock.shift_ms = 0;
        clock.stopped_units.clear();
        Ok(out
            .lines()
            .filter_map(|l| l.strip_prefix("left="))
            .map(|l| format!("{}: {l}", self.who()))
            .collect())
    }

    /// What teardown would have removed, for a host it could not reach.
    fn unreachable_leftovers(&self, error: &Error) -> String {
        let clock = lock(&self.clock);
        let mut parts = vec![
            format!(
                "the daemon{}",
                lock(&self.pgid).map_or(String::new(), |p| format!(" (process group {p})"))
            ),
            format!("the iptables chain {}", self.chain),
            format!("directory {}", self.dir.display()),
        ];
        if clock.shift_ms != 0 {
            parts.push(format!("a clock shift of {} ms", clock.shift_ms));
        }
        if !clock.stopped_units.is_empty() {
            parts.push(format!(
                "stopped NTP unit(s) {}",
                clock.stopped_units.join(", ")
            ));
        }
        format!(
            "{}: unreachable after {TEARDOWN_ATTEMPTS} attempts ({error}); may still hold {}",
            self.who(),
            parts.join(", ")
        )
    }

    /// Tears this host down, retrying a host that does not answer.
    pub(super) fn teardown(&self) -> Vec<String> {
        if !*lock(&self.touched) {
            self.close_master();
            return Vec::new();
        }
        let mut last = None;
        for attempt in 0..TEARDOWN_ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(Duration::from_secs(1));
            }
            match self.teardown_once() {
                Ok(left) => {
                    *lock(&self.touched) = false;
                    self.close_master();
                    return left;
                }
                Err(e) => last = Some(e),
            }
        }
        self.close_master();
        let error = last.expect("at least one attempt");
        vec![self.unreachable_leftovers(&error)]
    }
}

/// `faultline clean` for a dead ssh run: reaches every host named in the run's `ssh.json`
/// and removes what faultline may have left there (daemon, chain, node directory). Clock
/// shifts and stopped NTP units were known only to the dead controller and are reported as
/// unknown. Returns (removed, failed).
pub(crate) fn clean_run(
    run_id: &str,
    state_dir: &Path,
    names: &[String],
) -> (Vec<String>, Vec<String>) {
    let saved = state_dir.join(OPTIONS_FILE);
    let options: SshOptions = match fs::read_to_string(&saved)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
    {
        Some(o) => o,
        None => {
            return (
                Vec::new(),
                vec![format!(
                    "run {run_id}: {} is missing or unreadable, so its hosts are unknown",
                    saved.display()
                )],
            )
        }
    };
    let cluster = match SshCluster::new(run_id, names, &options) {
        Ok(c) => c,
        Err(e) => return (Vec::new(), vec![format!("run {run_id}: {e}")]),
    };
    let _ = fs::create_dir_all(state_dir.join("ssh"));
    let (mut removed, mut failed) = (Vec::new(), Vec::new());
    for (node, left) in cluster
        .ssh_nodes
        .iter()
        .zip(on_all(&cluster.ssh_nodes, |n| {
            *lock(&n.touched) = true;
            n.teardown()
        }))
    {
        if left.is_empty() {
            removed.push(format!(
                "{}: daemon, chain {} and directory {} of run {run_id} (any clock shift the \
                 dead controller made is unknown; check the host's clock)",
                node.who(),
                node.chain,
                node.dir.display()
            ));
        } else {
            failed.extend(left);
        }
    }
    (removed, failed)
}
