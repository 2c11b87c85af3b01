//! One host as a [`Node`]: its daemon, its partition rules, files in and logs out.
//!
//! Every operation is one remote script ([`super::scripts`]) sent over the host's master
//! connection ([`super::transport`]). The daemon is found through its pidfile only, and the
//! pidfile's start time guards against a recycled pid.

use std::fs::{self, File};
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::clock::ClockState;
use super::hosts::{SshHost, SshOptions};
use super::netem::{self, NetemSupport};
use super::scripts;
use super::transport::REMOTE_TIMEOUT;
use crate::cluster::logstamp::{self, HostClock};
use crate::cluster::packet::{Shape, ShimStats};
use crate::cluster::{ClockControl, Daemon, Error, Node, Output, Result};

/// One host.
pub struct SshNode {
    pub(super) name: String,
    pub(super) host: SshHost,
    pub(super) user: String,
    pub(super) port: u16,
    pub(super) address: IpAddr,
    pub(super) dir: PathBuf,
    pub(super) options: Arc<SshOptions>,
    pub(super) control_path: PathBuf,
    pub(super) chain: String,
    /// The last daemon started, for restarts.
    pub(super) daemon: Mutex<Option<Daemon>>,
    /// Process group of the daemon, as last read from the pidfile (for reports).
    pub(super) pgid: Mutex<Option<i32>>,
    /// Whether setup created anything on the host (then teardown must visit it).
    pub(super) touched: Mutex<bool>,
    pub(super) clock: Mutex<ClockState>,
    /// Whether faultline is ending the daemon, and whether its own exit was reported.
    pub(super) watch: Mutex<Watch>,
    /// The host's wall clock against ours, measured at setup, to put its log lines on the
    /// history's clock.
    pub(super) host_clock: Mutex<Option<HostClock>>,
    /// What the preflight found of the host's netem, for packet faults.
    pub(super) netem: Mutex<NetemSupport>,
}

/// What [`Node::unexpected_exit`] needs to report an exit once, and only one nobody caused.
#[derive(Default)]
pub(super) struct Watch {
    ending: bool,
    reported: bool,
    /// An exit found by a kill before the watcher saw it.
    pending: bool,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SshNode {
    /// `user@host:port`, as messages name the host.
    pub fn destination(&self) -> String {
        format!("{}@{}:{}", self.user, self.host.host, self.port)
    }

    pub(super) fn who(&self) -> String {
        format!("node {} ({})", self.name, self.destination())
    }

    /// Puts the host-stamped lines of the fetched log `path` on the history's clock.
    fn restamp(&self, path: &Path) -> Result<()> {
        let raw =
            fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        let text = String::from_utf8_lossy(&raw);
        let restamped = logstamp::restamp(&text, *lock(&self.host_clock));
        if restamped != text {
            fs::write(path, restamped)
                .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        }
        Ok(())
    }

    pub(super) fn pidfile(&self) -> PathBuf {
        self.dir.join("daemon.pid")
    }

    /// Node directory and the empty chain, jumped to first in INPUT.
    pub(super) fn setup(&self) -> Result<()> {
        *lock(&self.touched) = true;
        self.call_ok(
            "creating the node directory and rules",
            &scripts::setup(&self.dir, &self.chain),
            REMOTE_TIMEOUT,
        )?;
        // Before any clock fault, so that the offset is the host's own. A host whose time
        // cannot be read keeps its log lines' host stamps.
        *lock(&self.host_clock) = HostClock::measure(|| {
            self.call_ok("reading the clock", logstamp::HOST_NOW, REMOTE_TIMEOUT)
                .ok()?
                .trim()
                .parse()
                .ok()
        });
        Ok(())
    }

    /// Replaces the chain's rules with DROPs of `sources`.
    pub(super) fn set_drops(&self, sources: &[IpAddr]) -> Result<()> {
        let script = scripts::set_drops(&self.chain, sources);
        self.call_ok("setting the partition rules", &script, REMOTE_TIMEOUT)?;
        Ok(())
    }

    /// Shapes this host's packets to `peers` with netem, replacing any fault of its own.
    pub(super) fn shape(&self, shape: &Shape, peers: &[IpAddr]) -> Result<()> {
        let script = netem::apply(&self.dir, shape, peers);
        if let Err(e) = self.call_ok("shaping packets with netem", &script, REMOTE_TIMEOUT) {
            // Whatever was added before the failure goes again.
            let _ = self.unshape();
            return Err(e);
        }
        Ok(())
    }

    /// Ends this host's packet fault and returns netem's counts.
    pub(super) fn unshape(&self) -> Result<ShimStats> {
        let out = self.call_ok(
            "removing the netem qdisc",
            &netem::remove(&self.dir),
            REMOTE_TIMEOUT,
        )?;
        if let Some(left) = out.lines().find_map(|l| l.strip_prefix("left=")) {
            return Err(Error::command(
                format!("removing the packet fault on {}", self.who()),
                format!("{left} is still there"),
            ));
        }
        Ok(netem::stats(&out))
    }

    fn spawn(&self, daemon: &Daemon) -> Result<()> {
        if daemon.argv.is_empty() {
            return Err(Error::Invalid("a daemon needs a program to run".into()));
        }
        let script = scripts::spawn(daemon, &self.dir, &self.pidfile(), &self.log_path());
        let out = self.call_ok(
            &format!("starting {:?}", daemon.argv),
            &script,
            REMOTE_TIMEOUT,
        )?;
        *lock(&self.pgid) = out.split_whitespace().next().and_then(|p| p.parse().ok());
        *lock(&self.daemon) = Some(daemon.clone());
        let mut watch = lock(&self.watch);
        *watch = Watch {
            pending: watch.pending,
            ..Watch::default()
        };
        Ok(())
    }
}

impl Node for SshNode {
    fn name(&self) -> &str {
        &self.name
    }

    fn address(&self) -> IpAddr {
        self.address
    }

    fn dir(&self) -> &Path {
        &self.dir
    }

    fn exec(&self, argv: &[String], timeout: Duration) -> Result<Output> {
        if argv.is_empty() {
            return Err(Error::Invalid("exec needs a program to run".into()));
        }
        let script = scripts::exec(&self.dir, argv, timeout);
        let started = Instant::now();
        let raw = self.call(
            &format!("{argv:?}"),
            &script,
            None,
            None,
            timeout + Duration::from_secs(2),
        )?;
        if matches!(raw.code, Some(124) | Some(137)) && started.elapsed() >= timeout {
            return Err(Error::command(
                format!("{argv:?} on {}", self.who()),
                format!("no answer within {} ms; killed", timeout.as_millis()),
            ));
        }
        Ok(Output {
            code: raw.code,
            stdout: String::from_utf8_lossy(&raw.stdout).into_owned(),
            stderr: raw.stderr,
        })
    }

    fn spawn_daemon(&self, daemon: &Daemon) -> Result<()> {
        self.spawn(daemon)
    }

    fn signal(&self, signal: Signal) -> Result<()> {
        if lock(&self.daemon).is_none() {
            return Err(Error::Invalid(format!(
                "no daemon was started on {}",
                self.who()
            )));
        }
        let script = scripts::signal(&self.pidfile(), signal);
        self.call_ok(&format!("sending {signal}"), &script, REMOTE_TIMEOUT)?;
        Ok(())
    }

    fn is_alive(&self) -> bool {
        let script = scripts::is_alive(&self.pidfile());
        match self.call("checking the daemon", &script, None, None, REMOTE_TIMEOUT) {
            Ok(raw) => raw.code == Some(0),
            Err(e) => {
                tracing::warn!("{e}");
                false
            }
        }
    }

    fn kill(&self) -> Result<()> {
        {
            // A daemon that died on its own stays news until the watcher has seen it.
            let unseen = {
                let watch = lock(&self.watch);
                !watch.ending && !watch.reported && lock(&self.daemon).is_some()
            };
            let dead = unseen && !self.is_alive();
            let mut watch = lock(&self.watch);
            if dead {
                watch.pending = true;
                watch.reported = true;
            }
            watch.ending = true;
        }
        let script = scripts::kill(&self.pidfile());
        self.call_ok("killing the daemon", &script, REMOTE_TIMEOUT)?;
        Ok(())
    }

    fn unexpected_exit(&self) -> Option<crate::cluster::Exit> {
        {
            let mut watch = lock(&self.watch);
            if watch.pending {
                watch.pending = false;
                return Some(crate::cluster::Exit::unknown());
            }
            if watch.ending || watch.reported || lock(&self.daemon).is_none() {
                return None;
            }
        }
        if self.is_alive() {
            return None;
        }
        let mut watch = lock(&self.watch);
        if watch.ending || watch.reported {
            return None;
        }
        watch.reported = true;
        // The daemon runs detached on the host: its exit status is not kept.
        Some(crate::cluster::Exit::unknown())
    }

    fn restart(&self) -> Result<()> {
        self.kill()?;
        let daemon = lock(&self.daemon).clone().ok_or_else(|| {
            Error::Invalid(format!(
                "no daemon was started on {}, so none can be restarted",
                self.who()
            ))
        })?;
        self.spawn(&daemon)
    }

    fn copy_in(&self, local: &Path, dest: &Path) -> Result<()> {
        let file =
            File::open(local).map_err(|e| Error::io(format!("opening {}", local.display()), e))?;
        let mode = file
            .metadata()
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o644);
        let dest_s = dest.display().to_string();
        let script = scripts::copy_in(dest, mode);
        let size = fs::metadata(local).map_or(0, |m| m.len());
        // A generous allowance for slow links: 1 MB/s on top of the usual bound.
        let timeout = REMOTE_TIMEOUT + Duration::from_secs(size / 1_000_000);
        let raw = self.call(
            &format!("copying {} to {dest_s}", local.display()),
            &script,
            Some(file),
            None,
            timeout,
        )?;
        if raw.code != Some(0) {
            return Err(Error::command(
                format!("copying {} to {dest_s} on {}", local.display(), self.who()),
                raw.stderr.trim().to_string(),
            ));
        }
        Ok(())
    }

    fn fetch_logs(&self, dest_dir: &Path) -> Result<Vec<PathBuf>> {
        fs::create_dir_all(dest_dir)
            .map_err(|e| Error::io(format!("creating {}", dest_dir.display()), e))?;
        let list = self.call_ok(
            "listing the logs",
            &scripts::list_logs(&self.dir),
            REMOTE_TIMEOUT,
        )?;
        let mut copied = Vec::new();
        for name in list.lines().filter(|l| !l.is_empty() && !l.contains('/')) {
            let dest = dest_dir.join(name);
            let file = File::create(&dest)
                .map_err(|e| Error::io(format!("creating {}", dest.display()), e))?;
            let raw = self.call(
                &format!("fetching {name}"),
                &scripts::cat(&self.dir.join(name)),
                None,
                Some(file),
                REMOTE_TIMEOUT * 6,
            )?;
            if raw.code != Some(0) {
                return Err(Error::command(
                    format!("fetching {name} from {}", self.who()),
                    raw.stderr.trim().to_string(),
                ));
            }
            self.restamp(&dest)?;
            copied.push(dest);
        }
        copied.sort();
        Ok(copied)
    }

    /// The host's own clock ([`super::clock`]).
    fn clock(&self) -> Option<&dyn ClockControl> {
        Some(self)
    }
}
