//! Nodes and clusters: where the store under test runs, and how faultline breaks it.
//!
//! A **cluster** is a set of named **nodes** (`n1`, `n2`, ...) owned by one run. Every backend
//! offers the same node API ([`Node`]): run a command to completion, start the store as a
//! long-lived daemon with its output captured to a log file, signal the daemon's process
//! group, ask whether it lives, restart it with the same command, copy a file in and fetch the
//! logs out. A node may also offer its clock ([`Node::clock`], see [`clock`]). The cluster adds
//! the network faults ([`Cluster::partition`], [`Cluster::heal`]) and a teardown that always
//! runs.
//!
//! Backends ([`BackendKind`]):
//!
//! - `local` (default, needs root): one network namespace per node on a bridge owned by the
//!   run, addresses in a private /24 picked per run. A partition is a set of DROP rules in an
//!   iptables chain `FAULTLINE` inside each namespace; heal flushes that chain and nothing else.
//!   See [`local`].
//! - `loopback` (no root): nodes are plain processes, each on its own `127.a.b.N` address. Kill
//!   and pause work; partitions do not (the preflight and [`Cluster::supports_partitions`] say
//!   so). See [`loopback`].
//! - `ssh`: real hosts reached with the OpenSSH client, one host per node; partitions are
//!   rules in the run's own chain on each host. Nothing in [`Node`] assumes namespaces or a
//!   shared filesystem: paths are node-side paths, and logs come back through
//!   [`Node::fetch_logs`]. See [`ssh`].
//!
//! ```text
//!   controller (host namespace, 10.a.b.254)           clients connect from here
//!        │
//!   ─────┴──── bridge fl<run>-br ───────────────────────────────
//!        │            │            │            │            │
//!   fl<run>-n1   fl<run>-n2   fl<run>-n3   fl<run>-n4   fl<run>-n5   (namespaces)
//!   10.a.b.1     10.a.b.2     10.a.b.3     10.a.b.4     10.a.b.5
//!   INPUT → FAULTLINE: -s <peer> -j DROP for every peer in the node's grudge
//! ```
//!
//! Nodes share one kernel, PID space and filesystem with each other and with the controller,
//! so the daemon is signalled through its process group (recorded in a pidfile), never by name,
//! and every path carries the node's name (`/tmp/faultline-<run>/<node>/`).
//!
//! **Teardown always runs.** [`Cluster`] tears everything down when dropped — on success, on
//! error and on panic (unwinding runs `Drop`). Every live cluster is also held in a process-wide
//! registry ([`registry`]), and [`Cluster::start`] installs (once per process) a handler that
//! makes Ctrl-C, SIGTERM and SIGHUP tear down every live cluster before the process exits with
//! code 3. `std::process::exit` skips `Drop`: call [`registry::teardown_all`] before it. What
//! a controller killed with SIGKILL leaves behind, `faultline clean` ([`clean`]) finds by name
//! and removes.
//!
//! All calls are blocking and may be made from any thread; from async code use
//! `tokio::task::spawn_blocking`. Each call is bounded in time.

pub mod clean;
pub mod clock;
pub mod faketime;
pub mod grudge;
mod hostnet;
pub mod lazyfs;
pub mod local;
mod logstamp;
pub mod loopback;
pub mod packet;
pub mod preflight;
pub use logstamp::stamp_logs_from;
mod process;
pub mod registry;
pub mod ssh;
mod state;

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

pub use clock::{ClockControl, ClockOffset};
pub use grudge::{Grudge, Target, Topology};
pub use nix::sys::signal::Signal;
pub use packet::{PacketPlan, Shape, ShimStats};
pub use preflight::{Missing, PreflightError};

/// Runs `f` on every item at once, one thread each, and returns the results in item order.
pub(crate) fn on_all<N: Sync, T: Send>(items: &[N], f: impl Fn(&N) -> T + Sync) -> Vec<T> {
    std::thread::scope(|s| {
        let handles: Vec<_> = items.iter().map(|n| s.spawn(|| f(n))).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a per-node thread panicked"))
            .collect()
    })
}

/// Everything that can go wrong in the cluster layer. A store's own failure is not an error
/// here: a command that exits non-zero is an [`Output`], judged by the caller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The machine lacks what the backend needs; the message lists what and how to get it.
    #[error(transparent)]
    Preflight(#[from] PreflightError),
    /// The backend cannot do this at all (a partition on `loopback`).
    #[error("the {backend} backend cannot {what}; {hint}")]
    Unsupported {
        backend: BackendKind,
        what: &'static str,
        hint: &'static str,
    },
    /// A command faultline needs did not start, timed out or failed.
    #[error("{context}: {detail}")]
    Command { context: String, detail: String },
    /// A file or directory operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A node, topology or target that does not fit this cluster.
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn command(context: impl Into<String>, detail: impl Into<String>) -> Error {
        Error::Command {
            context: context.into(),
            detail: detail.into(),
        }
    }
}

/// Which backend runs the nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Network namespaces on a bridge; needs root, `ip` and `iptables`.
    Local,
    /// Plain processes on 127.a.b.N addresses; no root, no partitions.
    Loopback,
    /// Real hosts over ssh ([`ClusterConfig::ssh`] says which).
    Ssh,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Local => "local",
            BackendKind::Loopback => "loopback",
            BackendKind::Ssh => "ssh",
        })
    }
}

impl FromStr for BackendKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "local" => Ok(BackendKind::Local),
            "loopback" => Ok(BackendKind::Loopback),
            "ssh" => Ok(BackendKind::Ssh),
            other => Err(Error::Invalid(format!(
                "unknown cluster backend {other:?}; expected \"local\", \"loopback\" or \"ssh\""
            ))),
        }
    }
}

/// What a cluster is made of. Defaults: 5 nodes, the `local` backend, a random run id.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    pub backend: BackendKind,
    /// Node names, in order; each becomes part of paths and interface names, so they must be
    /// short ASCII words (`n1`, `db-2`): at most 8 bytes of `[a-z0-9-]`.
    pub node_names: Vec<String>,
    /// Six lowercase hex digits naming every object of the run; `None` draws a random one.
    pub run_id: Option<String>,
    /// The hosts and how to reach them, for the `ssh` backend.
    pub ssh: Option<ssh::SshOptions>,
}

impl ClusterConfig {
    /// `count` nodes named `n1`..`nN` on `backend`.
    pub fn new(backend: BackendKind, count: usize) -> ClusterConfig {
        ClusterConfig {
            backend,
            node_names: (1..=count).map(|i| format!("n{i}")).collect(),
            run_id: None,
            ssh: None,
        }
    }

    /// One node per host of `options`, named `n1`..`nN`, on the `ssh` backend.
    pub fn ssh(options: ssh::SshOptions) -> ClusterConfig {
        ClusterConfig {
            ssh: Some(options.clone()),
            ..ClusterConfig::new(BackendKind::Ssh, options.hosts.len())
        }
    }
}

impl Default for ClusterConfig {
    fn default() -> ClusterConfig {
        ClusterConfig::new(BackendKind::Local, 5)
    }
}

/// How a command run with [`Node::exec`] ended. A non-zero exit is data, not an error.
#[derive(Clone, Debug)]
pub struct Output {
    /// The exit code; `None` when a signal ended the command.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// A long-lived process on a node: the store. Template values reach it as separate `argv`
/// elements, never through a shell.
#[derive(Clone, Debug, Default)]
pub struct Daemon {
    /// Program and arguments; `argv[0]` is looked up in `PATH`.
    pub argv: Vec<String>,
    /// Extra environment variables on top of the controller's environment.
    pub env: BTreeMap<String, String>,
    /// Working directory; defaults to the node's directory ([`Node::dir`]).
    pub cwd: Option<PathBuf>,
}

/// One machine of the cluster, as the runner sees it. Implementations must be cheap to call
/// from several threads at once. Each node runs at most one daemon at a time.
pub trait Node: Send + Sync {
    /// The node's name (`n1`), as it appears in the history, in grudges and in paths.
    fn name(&self) -> &str;

    /// The address the store listens on and clients connect to.
    fn address(&self) -> IpAddr;

    /// A directory on the node that belongs to it alone (data, logs, pidfile live under it).
    /// It is a node-side path: on a remote backend it is not on the controller's disk.
    fn dir(&self) -> &Path;

    /// The node-side path of the daemon's log (stdout and stderr, appended across restarts).
    fn log_path(&self) -> PathBuf {
        self.dir().join("daemon.log")
    }

    /// Runs `argv` on the node to completion, at most `timeout` long (then its process group
    /// is killed and the call fails).
    fn exec(&self, argv: &[String], timeout: Duration) -> Result<Output>;

    /// Starts `daemon` in its own process group with stdout and stderr appended to
    /// [`Node::log_path`], and records its process group in a pidfile. Fails if a daemon of
    /// this node is still alive.
    fn spawn_daemon(&self, daemon: &Daemon) -> Result<()>;

    /// Sends `signal` to the daemon's whole process group. Fails if no daemon was started;
    /// signalling a daemon that has died is not an error.
    fn signal(&self, signal: Signal) -> Result<()>;

    /// Whether the daemon is running (a stopped, paused daemon is alive).
    fn is_alive(&self) -> bool;

    /// Kills the daemon's process group (SIGCONT then SIGKILL, so a paused daemon dies too)
    /// and waits for it, up to a few seconds.
    fn kill(&self) -> Result<()>;

    /// Starts the last daemon again with the same command, killing it first if it lives.
    fn restart(&self) -> Result<()>;

    /// The daemon's exit that faultline did not cause, once: a daemon that died on its own
    /// since it was last started, while no `kill`, `restart` or teardown was under way.
    /// `None` while it runs (or is paused), after faultline killed it, and once reported.
    fn unexpected_exit(&self) -> Option<Exit>;

    /// Copies a controller-side file to `dest` on the node (parent directories are created).
    fn copy_in(&self, local: &Path, dest: &Path) -> Result<()>;

    /// Copies the node's logs into `dest_dir` on the controller and returns the files written.
    fn fetch_logs(&self, dest_dir: &Path) -> Result<Vec<PathBuf>>;

    /// The node's clock, when faultline can move it ([`clock`](self::clock)): an ssh host's
    /// own clock, a fake clock for a local or loopback daemon.
    fn clock(&self) -> Option<&dyn ClockControl> {
        None
    }
}

/// What a backend does beyond its nodes. A [`Cluster`] wraps one; the registry holds it too,
/// so that a signal handler can tear it down.
pub trait Backend: Send + Sync {
    fn kind(&self) -> BackendKind;
    fn run_id(&self) -> &str;
    fn nodes(&self) -> &[Arc<dyn Node>];
    /// Creates what the run needs (state directory, namespaces, links, rules). A failure may
    /// leave parts behind: the caller then calls [`Backend::teardown`].
    fn setup(&self) -> Result<()>;
    /// Whether [`Backend::partition`] works on this backend.
    fn supports_partitions(&self) -> bool;
    /// Replaces the partition in force with `grudge`, on every node, before returning.
    fn partition(&self, grudge: &Grudge) -> Result<()>;
    /// Removes every partition rule faultline added, and nothing else.
    fn heal(&self) -> Result<()>;
    /// Whether [`Backend::shape`] works on this backend.
    fn supports_packet_faults(&self) -> bool {
        false
    }
    /// Why a packet fault of `shape` (shaping the clients' links too when `clients`) cannot
    /// run on this cluster, if it cannot.
    fn packet_fault_refusal(&self, shape: &Shape, clients: bool) -> Option<String> {
        let _ = (shape, clients);
        (!self.supports_packet_faults()).then(|| {
            "packet faults need the local backend (root) or ssh hosts with netem: loopback \
             nodes share one interface"
                .to_string()
        })
    }
    /// Replaces the packet fault in force with `plan`, on every node, before returning.
    fn shape(&self, plan: &PacketPlan) -> Result<()> {
        let _ = plan;
        Err(Error::Unsupported {
            backend: self.kind(),
            what: "delay, drop, duplicate, reorder or rate-limit packets",
            hint: "packet faults need the local backend (root)",
        })
    }
    /// Ends the packet fault in force, if any, and returns what each node's shim counted.
    fn unshape(&self) -> Result<BTreeMap<String, ShimStats>> {
        Ok(BTreeMap::new())
    }
    /// Removes every process, rule, link, namespace and file of the run. Idempotent, best
    /// effort: it goes on past failures and returns what it could not remove.
    fn teardown(&self) -> Vec<String>;
}

/// How a store's process ended without faultline asking it to.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Exit {
    /// The exit code, when it exited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
    /// The signal that ended it, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
}

impl Exit {
    /// An exit whose status was not kept (a daemon detached on an ssh host).
    pub fn unknown() -> Exit {
        Exit {
            code: None,
            signal: None,
        }
    }

    pub fn of(status: std::process::ExitStatus) -> Exit {
        use std::os::unix::process::ExitStatusExt;
        Exit {
            code: status.code(),
            signal: status.signal().map(|n| {
                Signal::try_from(n)
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|_| format!("signal {n}"))
            }),
        }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.code, &self.signal) {
            (Some(code), _) => write!(f, "exit code {code}"),
            (None, Some(signal)) => write!(f, "killed by {signal}"),
            (None, None) => f.write_str("exited (status unknown)"),
        }
    }
}

/// A running cluster. Dropping it tears it down; call [`Cluster::teardown`] to see the result.
pub struct Cluster {
    backend: Arc<dyn Backend>,
    registration: registry::Registration,
}

impl Cluster {
    /// Checks the machine ([`preflight::check`]), then creates the nodes. Nothing of the run
    /// survives a failure here. No daemon runs yet.
    pub fn start(config: &ClusterConfig) -> Result<Cluster> {
        // Before the preflight: its scratch namespace must not outlive a Ctrl-C either.
        if let Err(e) = registry::install_interrupt_teardown() {
            tracing::warn!("cannot tear clusters down on Ctrl-C: {e}");
        }
        preflight::check(config.backend)?;
        validate_names(&config.node_names)?;
        let backend = Cluster::backend(config)?;
        // Registered before anything exists, so that Ctrl-C during setup cleans up too, and
        // wrapped before setup, so that a failed setup is torn down by `Drop`.
        let registration = registry::register(backend.clone());
        let cluster = Cluster {
            backend,
            registration,
        };
        cluster.backend.setup()?;
        Ok(cluster)
    }

    /// The nodes a run of `config` would get (names, addresses, directories), planned as
    /// [`Cluster::start`] plans them but without the preflight and without creating
    /// anything: what `faultline check-spec` renders the store's commands with. A local
    /// run picks its /24 when it starts, so another run may get other addresses.
    pub fn plan_nodes(config: &ClusterConfig) -> Result<Vec<Arc<dyn Node>>> {
        validate_names(&config.node_names)?;
        Ok(Cluster::backend(config)?.nodes().to_vec())
    }

    /// The backend of `config`, planned: nothing exists until its `setup`.
    fn backend(config: &ClusterConfig) -> Result<Arc<dyn Backend>> {
        let run_id = match &config.run_id {
            Some(id) => state::validate_run_id(id)?,
            None => state::new_run_id(),
        };
        Ok(match config.backend {
            BackendKind::Local => local::LocalCluster::new(&run_id, &config.node_names)?,
            BackendKind::Loopback => loopback::LoopbackCluster::new(&run_id, &config.node_names)?,
            BackendKind::Ssh => {
                let options = config.ssh.as_ref().ok_or_else(|| {
                    Error::Invalid("the ssh backend needs a host list (--nodes-file)".into())
                })?;
                ssh::SshCluster::new(&run_id, &config.node_names, options)?
            }
        })
    }

    pub fn kind(&self) -> BackendKind {
        self.backend.kind()
    }

    /// Six hex digits that name every object of the run.
    pub fn run_id(&self) -> &str {
        self.backend.run_id()
    }

    pub fn nodes(&self) -> &[Arc<dyn Node>] {
        self.backend.nodes()
    }

    pub fn node_names(&self) -> Vec<String> {
        self.nodes().iter().map(|n| n.name().to_string()).collect()
    }

    /// The node called `name`, or an error naming the nodes that exist.
    pub fn node(&self, name: &str) -> Result<&Arc<dyn Node>> {
        self.nodes()
            .iter()
            .find(|n| n.name() == name)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "no node {name:?} in this cluster (nodes: {})",
                    self.node_names().join(", ")
                ))
            })
    }

    pub fn supports_partitions(&self) -> bool {
        self.backend.supports_partitions()
    }

    /// Puts `grudge` in force on every node (replacing any partition already in force) and
    /// returns once every node drops what it should.
    pub fn partition(&self, grudge: &Grudge) -> Result<()> {
        grudge.check_nodes(&self.node_names())?;
        self.backend.partition(grudge)
    }

    /// Removes every partition rule; leaves every other rule alone.
    pub fn heal(&self) -> Result<()> {
        self.backend.heal()
    }

    pub fn supports_packet_faults(&self) -> bool {
        self.backend.supports_packet_faults()
    }

    /// Why a packet fault of `shape` cannot run here, if it cannot.
    pub fn packet_fault_refusal(&self, shape: &Shape, clients: bool) -> Option<String> {
        self.backend.packet_fault_refusal(shape, clients)
    }

    /// Puts the packet fault `plan` in force (replacing any in force) on every node.
    pub fn shape(&self, plan: &PacketPlan) -> Result<()> {
        let names = self.node_names();
        let named = plan
            .links
            .iter()
            .flat_map(|(from, to)| std::iter::once(from).chain(to));
        if let Some(unknown) = named.into_iter().find(|n| !names.contains(n)) {
            return Err(Error::Invalid(format!(
                "the packet fault names node {unknown:?}, which is not in the cluster (nodes: {})",
                names.join(", ")
            )));
        }
        self.backend.shape(plan)
    }

    /// Ends the packet fault in force and returns each node's shim counts.
    pub fn unshape(&self) -> Result<BTreeMap<String, ShimStats>> {
        self.backend.unshape()
    }

    /// Copies every node's logs into `dest_dir/<node>/`. Call it before teardown, which
    /// removes the node directories.
    pub fn collect_logs(&self, dest_dir: &Path) -> Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        for node in self.nodes() {
            files.extend(node.fetch_logs(&dest_dir.join(node.name()))?);
        }
        Ok(files)
    }

    /// Tears the cluster down now and reports what could not be removed. Dropping the cluster
    /// does the same, silently except for a warning on stderr.
    pub fn teardown(self) -> Result<()> {
        let leftovers = self.backend.teardown();
        if leftovers.is_empty() {
            Ok(())
        } else {
            Err(Error::command(
                format!("tearing down run {}", self.run_id()),
                format!(
                    "could not remove: {}; `faultline clean` retries",
                    leftovers.join("; ")
                ),
            ))
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let leftovers = self.backend.teardown();
        for what in leftovers {
            crate::errln!(
                "faultline: teardown of run {} could not remove {what}; run `faultline clean`",
                self.backend.run_id()
            );
        }
        self.registration.release();
    }
}

/// Node names end up in paths and in interface-related names: keep them short and plain.
fn validate_names(names: &[String]) -> Result<()> {
    if names.is_empty() || names.len() > 200 {
        return Err(Error::Invalid(format!(
            "a cluster needs between 1 and 200 nodes, not {}",
            names.len()
        )));
    }
    for (i, name) in names.iter().enumerate() {
        let plain = name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if name.is_empty() || name.len() > 8 || !plain {
            return Err(Error::Invalid(format!(
                "node name {name:?} must be 1 to 8 characters of a-z, 0-9 and '-'"
            )));
        }
        if names[..i].contains(name) {
            return Err(Error::Invalid(format!("node name {name:?} appears twice")));
        }
    }
    Ok(())
}
