//! A run's state on the controller's disk: `/tmp/faultline-<run>/`, holding `run.json` (who
//! owns the run) and one directory per node (`n1/daemon.log`, `n1/daemon.pid`, data).
//! `faultline clean` reads it to tell a dead controller's leftovers from a live run.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use super::{BackendKind, Error, Result};

/// Every state directory's name starts with this, followed by the run id.
pub(crate) const STATE_DIR_PREFIX: &str = "faultline-";

/// The state directory of run `run_id`.
pub(crate) fn state_dir(run_id: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{STATE_DIR_PREFIX}{run_id}"))
}

/// A fresh random run id: six lowercase hex digits.
pub(crate) fn new_run_id() -> String {
    format!("{:06x}", rand::random::<u32>() & 0x00ff_ffff)
}

pub(crate) fn is_run_id(id: &str) -> bool {
    id.len() == 6
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub(crate) fn validate_run_id(id: &str) -> Result<String> {
    if is_run_id(id) {
        Ok(id.to_string())
    } else {
        Err(Error::Invalid(format!(
            "run id {id:?} must be six lowercase hex digits"
        )))
    }
}

/// `run.json`: who owns a run, so that `clean` leaves live runs alone.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub(crate) struct RunRecord {
    pub run_id: String,
    pub backend: BackendKind,
    pub controller: ProcessId,
    pub nodes: Vec<String>,
}

/// A process identity that survives pid reuse: the pid and its start time in clock ticks
/// since boot (field 22 of `/proc/<pid>/stat`).
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcessId {
    pub pid: i32,
    pub start_ticks: u64,
}

impl ProcessId {
    pub fn of(pid: i32) -> Option<ProcessId> {
        start_ticks(pid).map(|start_ticks| ProcessId { pid, start_ticks })
    }

    pub fn current() -> ProcessId {
        ProcessId::of(std::process::id() as i32).unwrap_or(ProcessId {
            pid: std::process::id() as i32,
            start_ticks: 0,
        })
    }

    /// Whether this very process still exists (not a later one with the same pid).
    pub fn is_running(&self) -> bool {
        start_ticks(self.pid) == Some(self.start_ticks)
    }

    /// Pidfile form: `pid start_ticks`.
    pub fn to_line(self) -> String {
        format!("{} {}\n", self.pid, self.start_ticks)
    }

    pub fn parse(line: &str) -> Option<ProcessId> {
        let mut parts = line.split_whitespace();
        let pid = parts.next()?.parse().ok()?;
        let start_ticks = parts.next()?.parse().ok()?;
        Some(ProcessId { pid, start_ticks })
    }
}

/// Start time of a live process, `None` if there is none (or it is a zombie awaiting reaping,
/// which counts as dead).
fn start_ticks(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); field 22 is rest[19].
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Creates the run's state directory with `run.json` and a directory per node.
pub(crate) fn create(run_id: &str, backend: BackendKind, nodes: &[String]) -> Result<PathBuf> {
    let dir = state_dir(run_id);
    fs::create_dir(&dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    for node in nodes {
        let node_dir = dir.join(node);
        fs::create_dir(&node_dir)
            .map_err(|e| Error::io(format!("creating {}", node_dir.display()), e))?;
    }
    let record = RunRecord {
        run_id: run_id.to_string(),
        backend,
        controller: ProcessId::current(),
        nodes: nodes.to_vec(),
    };
    let path = dir.join("run.json");
    let text = serde_json::to_string_pretty(&record).expect("a run record serialises");
    fs::write(&path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    Ok(dir)
}

/// Opens the setup of run `run_id` for a backend whose teardown flag is `torn_down`: refuses
/// a run already torn down, then creates its state directory (see [`create`]). The caller
/// holds the returned guard for the whole setup, so that a teardown (from the signal handler)
/// waits for the setup under way.
pub(crate) fn begin_setup<'a>(
    torn_down: &'a Mutex<bool>,
    run_id: &str,
    backend: BackendKind,
    nodes: &[String],
) -> Result<(MutexGuard<'a, bool>, PathBuf)> {
    let guard = torn_down.lock().unwrap_or_else(|p| p.into_inner());
    if *guard {
        return Err(Error::Invalid(format!("run {run_id} was torn down")));
    }
    let dir = create(run_id, backend, nodes)?;
    Ok((guard, dir))
}

/// Opens a teardown: `None` if the run was torn down already, else the guard, with the run
/// marked torn down. The caller holds the guard for the whole teardown.
pub(crate) fn begin_teardown(torn_down: &Mutex<bool>) -> Option<MutexGuard<'_, bool>> {
    let mut done = torn_down.lock().unwrap_or_else(|p| p.into_inner());
    if *done {
        return None;
    }
    *done = true;
    Some(done)
}

/// Removes the state directory of run `run_id` (the last step of a teardown), noting in
/// `leftovers` what could not be removed.
pub(crate) fn remove(run_id: &str, leftovers: &mut Vec<String>) {
    let dir = state_dir(run_id);
    // A lazy filesystem's mount would stop the removal, or take its backing files with it.
    leftovers.extend(super::lazyfs::unmount_under(&dir).1);
    if dir.exists() {
        if let Err(e) = fs::remove_dir_all(&dir) {
            leftovers.push(format!("{}: {e}", dir.display()));
        }
    }
}

pub(crate) fn read_record(dir: &Path) -> Option<RunRecord> {
    serde_json::from_str(&fs::read_to_string(dir.join("run.json")).ok()?).ok()
}

/// The pidfile of a node's daemon.
pub(crate) fn pidfile(node_dir: &Path) -> PathBuf {
    node_dir.join("daemon.pid")
}
