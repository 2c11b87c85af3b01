//! The `ssh` backend: nodes are real hosts reached with the system OpenSSH client.
//!
//! Each node is one host (`[user@]host[:port]`), in the order given. The controller runs
//! `ssh` for every call, multiplexed over one master connection per host (`ControlMaster`,
//! socket `<state dir>/ssh/<node>`, `ControlPersist` 60 s), so a call costs a round trip, not a
//! handshake. Every call is `BatchMode=yes` (a prompt would hang a test), bounded by
//! `ConnectTimeout` and a deadline, and checks host keys strictly unless the user turns that
//! off for a lab (`StrictHostKeyChecking=no`, `UserKnownHostsFile=/dev/null`). A login user
//! other than root runs every command through `sudo -n` (passwordless sudo is required; the
//! preflight says so per host).
//!
//! On each host, faultline owns:
//!
//! | object | name |
//! |---|---|
//! | node directory (daemon log, pidfile, data) | `<remote_root>/faultline-<run>-<node>/` |
//! | the daemon | its own session and process group, leader in `daemon.pid` as `pid start_ticks` |
//! | partition rules | chain `FAULTLINE-<run>`, jumped to first thing in `INPUT` |
//! | a shifted clock | stepped with `date -s`; NTP units it stopped, restarted at teardown |
//!
//! Daemons start as `setsid nohup` with their output appended to `daemon.log`. The pidfile
//! holds the session leader's pid and its start time (field 22 of `/proc/<pid>/stat`), so a
//! signal goes to the daemon's process group only if the pid still names that very process:
//! nothing is ever signalled by name, and hosts that share one PID space (test hosts in
//! namespaces of one machine) never touch each other's processes.
//!
//! A partition rewrites each host's chain with one `iptables-restore --noflush`, all hosts in
//! parallel, dropping inbound packets from the addresses of the peers in the grudge; heal
//! flushes the chain and nothing else. A node's address is its host name resolved once at
//! start, so the host list must name the addresses peers see each other by.
//!
//! **Preflight** runs on every host in parallel before anything is created, and lists per host
//! what is missing: a reachable sshd that accepts the key, root or passwordless sudo, and the
//! commands faultline runs there (`iptables`, `iptables-restore`, `ip`, `setsid`, `nohup`,
//! `timeout`, `date`, `sed`, `cut`).
//!
//! **Teardown** visits every host it touched, in parallel: kills the daemon, deletes the chain
//! and its jump, undoes the clock shift, restarts the NTP units it stopped, removes the node
//! directory, closes the master connection. A host that does not answer is retried (three
//! attempts, one second apart); what is left is then reported host by host. Setup saves the
//! options as `ssh.json` in the run's state directory, so that `faultline clean` can reach the
//! hosts of a run whose controller died.
//!
//! Cost, measured on three test hosts (sshd in namespaces of one loaded 2-core machine, whose
//! root login shell spends ~100 ms in its rc files per command): start with preflight 0.7 s,
//! one `exec` 0.14 s, a partition or a heal on all hosts 0.3 s, teardown 0.35 s. A host with a
//!
//! The code, by concern: `hosts` (host specs and options), `transport` (running a script
//! over OpenSSH), `scripts` (the scripts sent), `node` (an [`SshNode`] as a [`Node`]),
//! `clock` (a host's real clock), `teardown` (teardown and `faultline clean`).

mod clock;
mod hosts;
mod netem;
mod node;
mod scripts;
mod teardown;
mod transport;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

pub use hosts::{parse_hosts, SshHost, SshOptions};
pub use node::SshNode;
pub use scripts::shell_quote;
pub(crate) use teardown::clean_run;
pub(crate) use transport::check_client;

use super::packet::{PacketPlan, Shape, ShimStats};
use super::preflight::{Missing, PreflightError};
use super::{on_all, state, Backend, BackendKind, Error, Grudge, Node, Result};
use clock::ClockState;
use hosts::resolve;
use node::lock;
use teardown::OPTIONS_FILE;

/// Every run's chain on a host is called this, followed by the run id.
pub const CHAIN_PREFIX: &str = "FAULTLINE-";

/// A run on real hosts.
pub struct SshCluster {
    run_id: String,
    ssh_nodes: Vec<Arc<SshNode>>,
    nodes: Vec<Arc<dyn Node>>,
    /// The nodes whose packets a fault in force shapes.
    shaped: Mutex<BTreeSet<String>>,
    torn_down: Mutex<bool>,
}

impl SshCluster {
    /// Plans the run: one node per host, named by `names`; resolves every host name once.
    /// Creates nothing.
    pub fn new(run_id: &str, names: &[String], options: &SshOptions) -> Result<Arc<SshCluster>> {
        if names.len() != options.hosts.len() {
            return Err(Error::Invalid(format!(
                "the ssh backend needs one host per node: {} node(s), {} host(s)",
                names.len(),
                options.hosts.len()
            )));
        }
        let options = Arc::new(options.clone());
        let control_dir = state::state_dir(run_id).join("ssh");
        let mut ssh_nodes: Vec<Arc<SshNode>> = Vec::new();
        for (name, host) in names.iter().zip(&options.hosts) {
            let port = host.port.unwrap_or(options.port);
            let address = resolve(&host.host, port).map_err(|e| {
                Error::Invalid(format!("node {name}: cannot resolve host {host}: {e}"))
            })?;
            if let Some(other) = ssh_nodes.iter().find(|n| n.address == address) {
                return Err(Error::Invalid(format!(
                    "nodes {} and {name} are both {address}: partitions tell hosts apart by \
                     address, so each node needs its own host",
                    other.name
                )));
            }
            ssh_nodes.push(Arc::new(SshNode {
                name: name.clone(),
                user: host.user.clone().unwrap_or_else(|| options.user.clone()),
                port,
                address,
                dir: options
                    .remote_root
                    .join(format!("faultline-{run_id}-{name}")),
                control_path: control_dir.join(name),
                chain: format!("{CHAIN_PREFIX}{run_id}"),
                host: host.clone(),
                options: options.clone(),
                daemon: Mutex::new(None),
                pgid: Mutex::new(None),
                touched: Mutex::new(false),
                clock: Mutex::new(ClockState::default()),
                watch: Mutex::new(Default::default()),
                host_clock: Mutex::new(None),
                netem: Mutex::new(netem::NetemSupport::Unknown),
            }));
        }
        let nodes = ssh_nodes
            .iter()
            .map(|n| n.clone() as Arc<dyn Node>)
            .collect();
        Ok(Arc::new(SshCluster {
            run_id: run_id.to_string(),
            ssh_nodes,
            nodes,
            shaped: Mutex::new(BTreeSet::new()),
            torn_down: Mutex::new(false),
        }))
    }

    pub fn ssh_nodes(&self) -> &[Arc<SshNode>] {
        &self.ssh_nodes
    }

    /// The node called `name`.
    pub fn ssh_node(&self, name: &str) -> Option<&Arc<SshNode>> {
        self.ssh_nodes.iter().find(|n| n.name == name)
    }

    /// Checks every host at once; fails listing, host by host, everything missing.
    pub fn preflight(&self) -> Result<(), PreflightError> {
        let missing: Vec<Missing> = on_all(&self.ssh_nodes, |n| n.preflight())
            .into_iter()
            .flatten()
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(PreflightError {
                backend: BackendKind::Ssh,
                missing,
            })
        }
    }

    fn address_of(&self, name: &str) -> Option<IpAddr> {
        self.ssh_node(name).map(|n| n.address)
    }

    fn on_all_nodes(&self, f: impl Fn(&SshNode) -> Result<()> + Sync) -> Result<()> {
        on_all(&self.ssh_nodes, |n| f(n)).into_iter().collect()
    }
}

impl Backend for SshCluster {
    fn kind(&self) -> BackendKind {
        BackendKind::Ssh
    }

    fn run_id(&self) -> &str {
        &self.run_id
    }

    fn nodes(&self) -> &[Arc<dyn Node>] {
        &self.nodes
    }

    fn setup(&self) -> Result<()> {
        let names: Vec<String> = self.ssh_nodes.iter().map(|n| n.name.clone()).collect();
        // Held throughout, so that a teardown from the signal handler waits for this setup.
        let (_torn_down, dir) =
            state::begin_setup(&self.torn_down, &self.run_id, BackendKind::Ssh, &names)?;
        let control = dir.join("ssh");
        fs::create_dir(&control)
            .map_err(|e| Error::io(format!("creating {}", control.display()), e))?;
        let saved = dir.join(OPTIONS_FILE);
        let options = &self.ssh_nodes[0].options;
        let text = serde_json::to_string_pretty(&**options).expect("ssh options serialise");
        fs::write(&saved, text)
            .map_err(|e| Error::io(format!("writing {}", saved.display()), e))?;
        self.preflight()?;
        self.on_all_nodes(|n| n.setup())
    }

    fn supports_partitions(&self) -> bool {
        true
    }

    fn partition(&self, grudge: &Grudge) -> Result<()> {
        self.on_all_nodes(|node| {
            let sources: Vec<IpAddr> = grudge
                .dropped_by(&node.name)
                .filter_map(|peer| self.address_of(peer))
                .collect();
            node.set_drops(&sources)
        })
    }

    fn heal(&self) -> Result<()> {
        self.on_all_nodes(|node| node.set_drops(&[]))
    }

    fn supports_packet_faults(&self) -> bool {
        self.ssh_nodes.iter().all(|n| lock(&n.netem).usable())
    }

    fn packet_fault_refusal(&self, shape: &Shape, clients: bool) -> Option<String> {
        let lacking: Vec<String> = self
            .ssh_nodes
            .iter()
            .filter_map(|n| Some(format!("{} ({})", n.who(), lock(&n.netem).lack()?)))
            .collect();
        if !lacking.is_empty() {
            return Some(format!(
                "packet faults on ssh hosts need netem, which these hosts lack: {}; partitions, \
                 kills, pauses and clock faults still work there",
                lacking.join("; ")
            ));
        }
        netem::refusal(shape, clients)
    }

    fn shape(&self, plan: &PacketPlan) -> Result<()> {
        if let Some(refusal) = self.packet_fault_refusal(&plan.shape, plan.clients) {
            return Err(Error::Invalid(refusal));
        }
        self.unshape()?;
        let mut shaped = lock(&self.shaped);
        let senders: Vec<&Arc<SshNode>> = self
            .ssh_nodes
            .iter()
            .filter(|n| plan.links.contains_key(&n.name))
            .collect();
        // Recorded first: a half-applied fault is still ended.
        shaped.extend(senders.iter().map(|n| n.name.clone()));
        on_all(&senders, |node| {
            let peers: Vec<IpAddr> = plan.links[&node.name]
                .iter()
                .filter_map(|p| self.address_of(p))
                .collect();
            node.shape(&plan.shape, &peers)
        })
        .into_iter()
        .collect()
    }

    fn unshape(&self) -> Result<BTreeMap<String, ShimStats>> {
        let mut shaped = lock(&self.shaped);
        let nodes: Vec<&Arc<SshNode>> = self
            .ssh_nodes
            .iter()
            .filter(|n| shaped.contains(&n.name))
            .collect();
        let results = on_all(&nodes, |node| node.unshape());
        shaped.clear();
        nodes
            .iter()
            .zip(results)
            .map(|(node, stats)| stats.map(|s| (node.name.clone(), s)))
            .collect()
    }

    fn teardown(&self) -> Vec<String> {
        let Some(_done) = state::begin_teardown(&self.torn_down) else {
            return Vec::new();
        };
        let mut leftovers: Vec<String> = on_all(&self.ssh_nodes, |n| n.teardown())
            .into_iter()
            .flatten()
            .collect();
        state::remove(&self.run_id, &mut leftovers);
        leftovers
    }
}
