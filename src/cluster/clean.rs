//! `faultline clean`: removes what a controller killed without its teardown left behind.
//!
//! It finds leftovers by name only — state directories `/tmp/faultline-<run>/`, namespaces and
//! links `fl<run>-*`, host FORWARD rules commented `faultline-<run>`, blackhole routes of
//! protocol 250 whose metric carries the run id — and for each run:
//! kills the daemons recorded in its pidfiles (only if the pid still belongs to the same
//! process), kills whatever else lives in its namespaces, deletes its links, namespaces and
//! host rules (their iptables chains go with the namespaces), then its blackhole route,
//! detaches the lazy filesystems still mounted under its state directory, and removes it.
//! A run whose controller is still alive is left alone unless `force` is set: a concurrent
//! test on the same machine keeps its cluster.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use super::{local, process, state};

/// What to clean.
#[derive(Clone, Debug, Default)]
pub struct CleanOptions {
    /// Also remove runs whose controller is still alive.
    pub force: bool,
    /// Only this run (six hex digits); all runs when `None`.
    pub run_id: Option<String>,
}

/// What was removed, what was left alone on purpose, and what could not be removed.
#[derive(Clone, Debug, Default)]
pub struct CleanReport {
    pub removed: Vec<String>,
    pub skipped: Vec<String>,
    pub failed: Vec<String>,
}

/// Cleans every leftover run matching `options`.
pub fn clean(options: &CleanOptions) -> CleanReport {
    let mut report = CleanReport::default();
    let wanted = |id: &str| options.run_id.as_deref().filter(|w| *w != id).is_none();
    let mut runs: BTreeSet<String> = BTreeSet::new();
    let mut state_dirs: Vec<(String, PathBuf)> = Vec::new();
    if let Ok(entries) = fs::read_dir(std::env::temp_dir()) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_prefix(state::STATE_DIR_PREFIX) {
                if state::is_run_id(id) && wanted(id) {
                    runs.insert(id.to_string());
                    state_dirs.push((id.to_string(), entry.path()));
                }
            }
        }
    }
    let root = nix::unistd::geteuid().is_root();
    let network_objects: Vec<String> = local::list_namespaces()
        .into_iter()
        .chain(local::list_links())
        .filter(|name| local::run_id_of(name).is_some_and(&wanted))
        .collect();
    for name in &network_objects {
        runs.extend(local::run_id_of(name).map(str::to_string));
    }
    // A run whose links are gone may still have its blackhole route: the last thing to go.
    let routes: Vec<(String, String)> = local::list_blackhole_routes()
        .into_iter()
        .filter(|(_, id)| wanted(id))
        .collect();
    runs.extend(routes.iter().map(|(_, id)| id.clone()));
    for id in runs {
        let dir = state::state_dir(&id);
        let record = state::read_record(&dir);
        if let Some(record) = &record {
            if record.controller.is_running() && !options.force {
                report.skipped.push(format!(
                    "run {id}: its controller (pid {}) is still running; pass --force to remove it anyway",
                    record.controller.pid
                ));
                continue;
            }
            if record.backend == super::BackendKind::Ssh {
                let (removed, failed) = super::ssh::clean_run(&id, &dir, &record.nodes);
                report.removed.extend(removed);
                report.failed.extend(failed);
            }
            for node in &record.nodes {
                if let Some(pid) = process::kill_pidfile(&state::pidfile(&dir.join(node))) {
                    report.removed.push(format!(
                        "process group {pid} (daemon of node {node}, run {id})"
                    ));
                }
            }
        }
        for pid in process::kill_marked(&dir) {
            report
                .removed
                .push(format!("process {pid} started by a node of run {id}"));
        }
        if root {
            let purge = local::purge_run(&id);
            report.removed.extend(purge.removed);
            report.failed.extend(purge.failed);
        } else {
            let routes = routes
                .iter()
                .filter(|(_, route_id)| *route_id == id)
                .map(|(network, _)| format!("route {network}"));
            for name in network_objects
                .iter()
                .filter(|n| local::run_id_of(n) == Some(id.as_str()))
                .cloned()
                .chain(routes)
            {
                report
                    .failed
                    .push(format!("{name} (removing namespaces and links needs root)"));
            }
        }
        let (unmounted, stuck) = super::lazyfs::unmount_under(&dir);
        report.removed.extend(unmounted);
        report.failed.extend(stuck);
        if dir.exists() {
            match fs::remove_dir_all(&dir) {
                Ok(()) => report.removed.push(format!("directory {}", dir.display())),
                Err(e) => report
                    .failed
                    .push(format!("directory {}: {e}", dir.display())),
            }
        }
    }
    report
}
