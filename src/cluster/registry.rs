//! Every live cluster of this process, so that a signal can tear them all down.
//!
//! [`Cluster::start`](super::Cluster::start) registers its backend before creating anything
//! and the cluster's `Drop` unregisters it after teardown. Two ways to use the registry:
//!
//! - [`install_interrupt_teardown`], which `Cluster::start` calls: the first SIGINT, SIGTERM
//!   or SIGHUP tears down every live cluster, prints what it did on stderr, and exits with
//!   code 3 (the test could not be carried out); a second signal during that teardown exits at
//!   once.
//! - [`teardown_all`], for code that is about to `std::process::exit` (which skips `Drop`).
//!
//! [`before_interrupt_teardown`] lets an owner do its last work on an interrupt while the
//! nodes still exist: the runner stops its clients (so that no socket of theirs outlives the
//! nodes' links) and copies the nodes' logs into the run directory.
//!
//! [`scratch`] guards objects made outside any cluster (the preflight's scratch namespace):
//! an interrupt waits for their owner to remove them before it exits.

use std::sync::{Arc, Mutex, OnceLock};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::Backend;

struct Entry {
    id: u64,
    backend: Arc<dyn Backend>,
}

static LIVE: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
static NEXT_ID: Mutex<u64> = Mutex::new(0);

type Hook = Arc<dyn Fn() + Send + Sync>;

/// Work to do on an interrupt before the clusters go (a runner copying node logs out).
static HOOKS: Mutex<Vec<(u64, Hook)>> = Mutex::new(Vec::new());

/// Held while scratch objects exist outside any cluster; see [`scratch`].
static SCRATCH: Mutex<()> = Mutex::new(());

/// Holds off an interrupt's exit while the caller creates and removes objects that belong to
/// no cluster: the preflight's scratch namespace and links. The caller's commands must be
/// bounded in time, since the interrupt waits for the guard.
pub fn scratch() -> std::sync::MutexGuard<'static, ()> {
    SCRATCH.lock().unwrap_or_else(|p| p.into_inner())
}

fn hooks() -> std::sync::MutexGuard<'static, Vec<(u64, Hook)>> {
    HOOKS.lock().unwrap_or_else(|p| p.into_inner())
}

/// A hook that runs on an interrupt before teardown, for as long as this value lives.
pub struct InterruptHook {
    id: u64,
}

impl Drop for InterruptHook {
    fn drop(&mut self) {
        hooks().retain(|(id, _)| *id != self.id);
    }
}

/// Registers `hook` to run (once, on the signal thread) when an interrupt arrives, before
/// every live cluster is torn down. It must bound its own time: teardown waits for it. Hold
/// no strong reference to a cluster in it, or the cluster's `Drop` never comes.
pub fn before_interrupt_teardown(hook: impl Fn() + Send + Sync + 'static) -> InterruptHook {
    let id = {
        let mut next = NEXT_ID.lock().unwrap_or_else(|p| p.into_inner());
        *next += 1;
        *next
    };
    hooks().push((id, Arc::new(hook)));
    InterruptHook { id }
}

/// Proof that a backend is in the registry; the owning cluster takes it out when dropped.
pub struct Registration {
    id: u64,
}

fn live() -> std::sync::MutexGuard<'static, Vec<Entry>> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn register(backend: Arc<dyn Backend>) -> Registration {
    let id = {
        let mut next = NEXT_ID.lock().unwrap_or_else(|p| p.into_inner());
        *next += 1;
        *next
    };
    live().push(Entry { id, backend });
    Registration { id }
}

impl Registration {
    pub(crate) fn release(&self) {
        live().retain(|e| e.id != self.id);
    }
}

/// The run ids of the clusters alive in this process.
pub fn live_run_ids() -> Vec<String> {
    live()
        .iter()
        .map(|e| e.backend.run_id().to_string())
        .collect()
}

/// Tears down every live cluster of this process and returns their run ids. Each teardown is
/// idempotent, so a cluster later dropped by its owner does no harm.
pub fn teardown_all() -> Vec<String> {
    let backends: Vec<Arc<dyn Backend>> = live().iter().map(|e| e.backend.clone()).collect();
    let mut ids = Vec::new();
    for backend in backends {
        for what in backend.teardown() {
            say(&format!(
                "faultline: teardown of run {} could not remove {what}; run `faultline clean`",
                backend.run_id()
            ));
        }
        ids.push(backend.run_id().to_string());
    }
    ids
}

/// Installs (once) a handler thread that tears down every live cluster on the first SIGINT,
/// SIGTERM or SIGHUP and exits the process with code 3. Calling it again does nothing.
pub fn install_interrupt_teardown() -> std::io::Result<()> {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let _ = INSTALLED.set(());
    std::thread::Builder::new()
        .name("faultline-signals".into())
        .spawn(move || {
            let mut tearing_down = false;
            for signal in signals.forever() {
                if tearing_down {
                    // A second signal while tearing down means "stop now".
                    say(
                        "faultline: interrupted again; exiting before teardown finished: \
                         run `faultline clean` to remove what is left",
                    );
                    std::process::exit(3);
                }
                tearing_down = true;
                say(&format!(
                    "faultline: interrupted by signal {signal}; tearing down {} cluster(s)",
                    live().len()
                ));
                std::thread::spawn(|| {
                    let pending: Vec<Hook> = hooks().iter().map(|(_, h)| h.clone()).collect();
                    for hook in pending {
                        hook();
                    }
                    let _scratch = scratch();
                    let ids = teardown_all();
                    if !ids.is_empty() {
                        say(&format!("faultline: tore down run(s) {}", ids.join(", ")));
                    }
                    std::process::exit(3);
                });
            }
        })?;
    Ok(())
}

/// A line on stderr; a closed or broken stderr must not stop a teardown.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}
