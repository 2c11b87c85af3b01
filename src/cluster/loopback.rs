//! The `loopback` backend: nodes are plain processes of the controller's machine, each bound
//! to its own loopback address `127.a.b.N` (Linux routes all of 127.0.0.0/8 to `lo`), so every
//! node can use the same port. `a.b` comes from the run id, so concurrent runs rarely share
//! addresses. It needs no root. Kill and pause work as on `local`; partitions do not, since
//! every node shares one network stack — [`Backend::supports_partitions`] says so and
//! [`Backend::partition`] fails with [`Error::Unsupported`]. Faults and teardown reach the
//! daemon's process group: a store that leaves it (`setsid`, double fork into a new session)
//! escapes them here, where on `local` its namespace still gives it away.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;

use super::faketime::FakeClock;
use super::process::{self, DaemonSlot};
use super::{
    state, Backend, BackendKind, ClockControl, Daemon, Error, Grudge, Node, Output, Result,
};

/// A node that is a plain local process on its own loopback address.
pub struct LoopbackNode {
    name: String,
    address: Ipv4Addr,
    dir: PathBuf,
    daemon: DaemonSlot,
    /// The daemon's fake clock: the node shares the controller's.
    clock: FakeClock,
}

fn command(argv: &[String]) -> Command {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    cmd
}

impl Node for LoopbackNode {
    fn name(&self) -> &str {
        &self.name
    }

    fn address(&self) -> IpAddr {
        IpAddr::V4(self.address)
    }

    fn dir(&self) -> &Path {
        &self.dir
    }

    fn exec(&self, argv: &[String], timeout: Duration) -> Result<Output> {
        if argv.is_empty() {
            return Err(Error::Invalid("exec needs a program to run".into()));
        }
        let mut cmd = command(argv);
        cmd.current_dir(&self.dir);
        process::run(cmd, &format!("{:?} on node {}", argv, self.name), timeout)
    }

    fn spawn_daemon(&self, daemon: &Daemon) -> Result<()> {
        self.daemon.spawn(daemon, |d| command(&d.argv))
    }

    fn signal(&self, signal: Signal) -> Result<()> {
        self.daemon.signal(signal)
    }

    fn is_alive(&self) -> bool {
        self.daemon.is_alive()
    }

    fn kill(&self) -> Result<()> {
        self.daemon.kill()
    }

    fn restart(&self) -> Result<()> {
        self.daemon.restart(|d| command(&d.argv))
    }

    fn unexpected_exit(&self) -> Option<super::Exit> {
        self.daemon.unexpected_exit()
    }

    fn copy_in(&self, local: &Path, dest: &Path) -> Result<()> {
        process::copy_file(local, dest)
    }

    fn fetch_logs(&self, dest_dir: &Path) -> Result<Vec<PathBuf>> {
        process::copy_logs(&self.dir, dest_dir)
    }

    fn clock(&self) -> Option<&dyn ClockControl> {
        Some(&self.clock)
    }
}

/// A run of plain processes.
pub struct LoopbackCluster {
    run_id: String,
    local_nodes: Vec<Arc<LoopbackNode>>,
    nodes: Vec<Arc<dyn Node>>,
    /// True once teardown ran; held by setup and teardown so that they never overlap.
    torn_down: Mutex<bool>,
}

impl LoopbackCluster {
    /// Plans the run (addresses, directories) without creating anything.
    pub fn new(run_id: &str, names: &[String]) -> Result<Arc<LoopbackCluster>> {
        if names.len() > 254 {
            return Err(Error::Invalid(format!(
                "the loopback backend has addresses for 254 nodes, not {}",
                names.len()
            )));
        }
        let id = u32::from_str_radix(run_id, 16).unwrap_or(0);
        // 127.a.b.N with a in 1..=254: 127.0.0.x is left to whatever else the machine runs.
        let (a, b) = (1 + (id >> 8) % 254, id & 0xff);
        let dir = state::state_dir(run_id);
        let local_nodes: Vec<Arc<LoopbackNode>> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let node_dir = dir.join(name);
                Arc::new(LoopbackNode {
                    name: name.clone(),
                    address: Ipv4Addr::new(127, a as u8, b as u8, i as u8 + 1),
                    daemon: DaemonSlot::new(node_dir.clone(), node_dir.join("daemon.log")),
                    clock: FakeClock::new(name, BackendKind::Loopback, &node_dir, command),
                    dir: node_dir,
                })
            })
            .collect();
        let nodes = local_nodes
            .iter()
            .map(|n| n.clone() as Arc<dyn Node>)
            .collect();
        Ok(Arc::new(LoopbackCluster {
            run_id: run_id.to_string(),
            local_nodes,
            nodes,
            torn_down: Mutex::new(false),
        }))
    }
}

impl Backend for LoopbackCluster {
    fn kind(&self) -> BackendKind {
        BackendKind::Loopback
    }

    fn run_id(&self) -> &str {
        &self.run_id
    }

    fn nodes(&self) -> &[Arc<dyn Node>] {
        &self.nodes
    }

    fn setup(&self) -> Result<()> {
        let names: Vec<String> = self.local_nodes.iter().map(|n| n.name.clone()).collect();
        let (_torn_down, _) =
            state::begin_setup(&self.torn_down, &self.run_id, BackendKind::Loopback, &names)?;
        Ok(())
    }

    fn supports_partitions(&self) -> bool {
        false
    }

    fn partition(&self, _grudge: &Grudge) -> Result<()> {
        Err(Error::Unsupported {
            backend: BackendKind::Loopback,
            what: "partition the network (all nodes share one network stack)",
            hint: "use the local backend (needs root) for partitions",
        })
    }

    fn heal(&self) -> Result<()> {
        // Nothing can be partitioned, so there is nothing to heal.
        Ok(())
    }

    fn teardown(&self) -> Vec<String> {
        let Some(_done) = state::begin_teardown(&self.torn_down) else {
            return Vec::new();
        };
        let mut leftovers = Vec::new();
        for node in &self.local_nodes {
            if let Err(e) = node.daemon.kill() {
                leftovers.push(format!("the daemon of node {}: {e}", node.name));
            }
        }
        state::remove(&self.run_id, &mut leftovers);
        leftovers
    }
}
