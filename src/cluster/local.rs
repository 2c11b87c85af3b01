//! The `local` backend: one network namespace per node on a bridge owned by the run.
//!
//! Names carry the run id `<run>` (six hex digits) so that concurrent runs never meet and
//! `faultline clean` can find a dead run's objects by name alone:
//!
//! | object | name | where |
//! |---|---|---|
//! | namespace of node `n1` | `fl<run>-n1` | `ip netns` |
//! | bridge | `fl<run>-br`, address 10.a.b.254/24 | host |
//! | veth of the i-th node | `fl<run>-v<i>` (host end), `eth0` (inside) | host / namespace |
//! | partition rules | chain `FAULTLINE`, jumped to first thing in INPUT | each namespace |
//! | packet fault rules | chains `FAULTLINE-PKT-OUT` (OUTPUT), `FAULTLINE-PKT-IN` (INPUT), mangle `FAULTLINE-PKT-DUP` (OUTPUT), empty until a packet fault fills them; an htb root qdisc on `eth0` for a rate limit | each namespace |
//! | host rule (only with br_netfilter) | `FORWARD -i fl<run>-br -o fl<run>-br -j ACCEPT`, comment `faultline-<run>` | host |
//! | blackhole route | `blackhole 10.a.b.0/24 proto 250 metric 0x1000000+<run>` | host |
//!
//! The blackhole route is the run's wall against leaking test traffic off the machine: it is
//! created before the bridge and removed after everything else, and its metric loses to the
//! bridge's own route while the bridge lives. Without it, a packet to a node sent in the
//! moment after the bridge went (a client's SYN retransmitted during Ctrl-C) would follow the
//! default route into the user's real network; with it, it is dropped on the machine. Its
//! metric carries the run id, so `faultline clean` finds a dead run's route by that alone.
//!
//! Interface names stay within the kernel's 15 bytes (`fl` + 6 + `-v200` = 13). The /24 is
//! drawn from 10.128.0.0/9 by the run id and moved on until it overlaps no address or route of
//! the machine. Setup is one `ip -batch` on the host plus, for every node in parallel, one
//! `ip -n <ns> -batch` and one `iptables-restore`. On a busy 2-core machine five nodes are up
//! in about 110 ms and a partition is in force on all of them in about 12 ms (median; 60 ms at
//! worst): `cargo bench --bench cluster` measures both.
//!
//! A partition rewrites each node's `FAULTLINE` chain with one `iptables-restore --noflush`
//! (declaring the chain flushes it; no other rule or chain is touched), all nodes in parallel,
//! and returns when every node has its rules. Rules drop inbound packets by source address;
//! the controller (10.a.b.254) is never dropped, so clients keep reaching their nodes.
//!
//! When the host has `br_netfilter` loaded, bridged packets pass the host's FORWARD chain,
//! where a firewall (Docker's among them) may drop them; the run then adds one ACCEPT rule for
//! its own bridge and removes it at teardown.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::faketime::FakeClock;
use super::hostnet::pick_subnet;
pub use super::hostnet::{list_links, list_namespaces, namespace_pids};
use super::packet::{self, PacketPlan, ShimStats};
use super::process::{self, DaemonSlot};
use super::{
    state, Backend, BackendKind, ClockControl, Daemon, Error, Grudge, Node, Output, Result,
};

/// Every namespace and link of a local run starts with this, then the run id and a dash.
pub const NAME_PREFIX: &str = "fl";
/// The chain faultline owns in each namespace.
pub const CHAIN: &str = "FAULTLINE";
/// The routing protocol number that marks faultline's blackhole routes (`ip route ... proto`).
pub const ROUTE_PROTO: u8 = 250;
/// A run's blackhole route has metric `ROUTE_METRIC_BASE + run id`, above any metric a
/// connected or hand-made route of the machine usually has.
const ROUTE_METRIC_BASE: u32 = 0x0100_0000;
/// Time limit of each `ip` or `iptables` command faultline runs.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// A node in its own network namespace.
pub struct LocalNode {
    name: String,
    namespace: String,
    address: Ipv4Addr,
    dir: PathBuf,
    daemon: DaemonSlot,
    /// The daemon's fake clock: the namespace shares the controller's.
    clock: FakeClock,
}

/// `argv` wrapped to run inside namespace `namespace`.
fn in_namespace(namespace: &str, argv: &[String]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", namespace]).args(argv);
    cmd
}

impl LocalNode {
    /// The node's network namespace (`fl<run>-<node>`).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The node's address on the run's bridge.
    pub fn ipv4(&self) -> Ipv4Addr {
        self.address
    }

    /// `argv` wrapped to run inside the namespace.
    fn in_namespace(&self, argv: &[String]) -> Command {
        in_namespace(&self.namespace, argv)
    }

    /// Feeds `rules` to `iptables-restore --noflush` inside the namespace. It enters the
    /// namespace with `setns` between fork and exec rather than through `ip netns exec`: one
    /// exec fewer, which is most of the time a partition takes.
    pub(crate) fn restore_rules(&self, rules: &str, what: &str) -> Result<()> {
        let path = format!("/run/netns/{}", self.namespace);
        let netns = fs::File::open(&path).map_err(|e| Error::io(format!("opening {path}"), e))?;
        let fd = netns.as_raw_fd();
        let mut cmd = Command::new("iptables-restore");
        cmd.args(["-w", "5", "--noflush"]);
        // SAFETY: the closure only makes the setns system call, which is async-signal-safe;
        // `netns` outlives the spawn, so the descriptor is valid in the child.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        process::run_ok(&mut cmd, what, Some(rules.as_bytes()), COMMAND_TIMEOUT)?;
        drop(netns);
        Ok(())
    }

    /// Replaces the node's `FAULTLINE` chain with DROP rules for `sources`.
    fn set_drops(&self, sources: &[Ipv4Addr]) -> Result<()> {
        let mut rules = format!("*filter\n:{CHAIN} - [0:0]\n-F {CHAIN}\n");
        for source in sources {
            rules.push_str(&format!("-A {CHAIN} -s {source}/32 -j DROP\n"));
        }
        rules.push_str("COMMIT\n");
        self.restore_rules(
            &rules,
            &format!("setting the partition rules of node {}", self.name),
        )
    }
}

impl Node for LocalNode {
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
        let mut cmd = self.in_namespace(argv);
        cmd.current_dir(&self.dir);
        process::run(cmd, &format!("{:?} on node {}", argv, self.name), timeout)
    }

    fn spawn_daemon(&self, daemon: &Daemon) -> Result<()> {
        self.daemon.spawn(daemon, |d| self.in_namespace(&d.argv))
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
        self.daemon.restart(|d| self.in_namespace(&d.argv))
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

/// A run's namespaces, bridge and rules.
pub struct LocalCluster {
    run_id: String,
    /// The 10.a.b.0/24 of the run, as (a, b).
    subnet: (u8, u8),
    local_nodes: Vec<Arc<LocalNode>>,
    nodes: Vec<Arc<dyn Node>>,
    /// Serialises partition and heal, so that two callers never leave nodes half in one
    /// partition and half in another.
    network: Mutex<()>,
    /// The packet fault in force, if any.
    packet: Mutex<Option<packet::local::Shaping>>,
    /// True once teardown ran. Setup and teardown both hold it, so that a teardown from the
    /// signal handler waits for a setup in progress instead of racing it.
    torn_down: Mutex<bool>,
}

impl LocalCluster {
    /// Plans the run (names, subnet, addresses) without creating anything.
    pub fn new(run_id: &str, names: &[String]) -> Result<Arc<LocalCluster>> {
        let subnet = pick_subnet(run_id)?;
        let dir = state::state_dir(run_id);
        let local_nodes: Vec<Arc<LocalNode>> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let node_dir = dir.join(name);
                let namespace = namespace_name(run_id, name);
                let ns = namespace.clone();
                Arc::new(LocalNode {
                    name: name.clone(),
                    clock: FakeClock::new(name, BackendKind::Local, &node_dir, move |argv| {
                        in_namespace(&ns, argv)
                    }),
                    namespace,
                    address: Ipv4Addr::new(10, subnet.0, subnet.1, i as u8 + 1),
                    daemon: DaemonSlot::new(node_dir.clone(), node_dir.join("daemon.log")),
                    dir: node_dir,
                })
            })
            .collect();
        let nodes = local_nodes
            .iter()
            .map(|n| n.clone() as Arc<dyn Node>)
            .collect();
        Ok(Arc::new(LocalCluster {
            run_id: run_id.to_string(),
            subnet,
            local_nodes,
            nodes,
            network: Mutex::new(()),
            packet: Mutex::new(None),
            torn_down: Mutex::new(false),
        }))
    }

    /// The local nodes, with their namespaces.
    pub fn local_nodes(&self) -> &[Arc<LocalNode>] {
        &self.local_nodes
    }

    fn bridge(&self) -> String {
        format!("{NAME_PREFIX}{}-br", self.run_id)
    }

    fn bridge_address(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, self.subnet.0, self.subnet.1, 254)
    }

    fn address_of(&self, name: &str) -> Option<Ipv4Addr> {
        self.local_nodes
            .iter()
            .find(|n| n.name == name)
            .map(|n| n.address)
    }

    /// The blackhole route first, then the bridge and every namespace with its veth, in one
    /// `ip -batch`.
    fn create_links(&self) -> Result<()> {
        let bridge = self.bridge();
        let (a, b) = self.subnet;
        let mut batch = format!(
            "route add {}\nlink add {bridge} type bridge\naddr add {}/24 dev {bridge}\n\
             link set {bridge} up\n",
            blackhole_route(&format!("10.{a}.{b}.0/24"), &self.run_id),
            self.bridge_address()
        );
        for (i, node) in self.local_nodes.iter().enumerate() {
            let veth = veth_name(&self.run_id, i);
            let ns = &node.namespace;
            batch.push_str(&format!(
                "netns add {ns}\nlink add {veth} type veth peer name eth0 netns {ns}\n\
                 link set {veth} master {bridge} up\n"
            ));
        }
        let mut cmd = Command::new("ip");
        cmd.args(["-batch", "-"]);
        process::run_ok(
            &mut cmd,
            &format!("creating the bridge and namespaces of run {}", self.run_id),
            Some(batch.as_bytes()),
            COMMAND_TIMEOUT,
        )?;
        Ok(())
    }

    /// Addresses, loopback and the empty `FAULTLINE` chain inside one namespace. `eth0` gets no
    /// IPv6 link-local address: the partition rules are IPv4 rules, and peers must not be able
    /// to talk around them.
    fn configure_namespace(&self, node: &LocalNode) -> Result<()> {
        let batch = format!(
            "link set lo up\nlink set eth0 addrgenmode none\naddr add {}/24 dev eth0\n\
             link set eth0 up\n",
            node.address
        );
        let mut cmd = Command::new("ip");
        cmd.args(["-n", &node.namespace, "-batch", "-"]);
        process::run_ok(
            &mut cmd,
            &format!("configuring the network of node {}", node.name),
            Some(batch.as_bytes()),
            COMMAND_TIMEOUT,
        )?;
        // The packet faults' chains too, empty: a fault only fills and flushes them.
        let rules = format!(
            "*filter\n:{CHAIN} - [0:0]\n-I INPUT 1 -j {CHAIN}\nCOMMIT\n{}",
            packet::local::chain_setup_rules()
        );
        node.restore_rules(
            &rules,
            &format!("creating the {CHAIN} chain of node {}", node.name),
        )
    }

    /// With br_netfilter, bridged packets meet the host's FORWARD chain: let ours through.
    fn allow_bridge_forwarding(&self) -> Result<()> {
        if !bridge_netfilter_on() {
            return Ok(());
        }
        let bridge = self.bridge();
        let mut cmd = Command::new("iptables");
        cmd.args(["-w", "5", "-I", "FORWARD", "1"])
            .args(forward_rule(&bridge, &self.run_id));
        process::run_ok(
            &mut cmd,
            "allowing the run's bridge through the host's FORWARD chain",
            None,
            COMMAND_TIMEOUT,
        )?;
        Ok(())
    }

    /// Runs `f` on every node at once and returns the first error.
    fn on_all_nodes(&self, f: impl Fn(&LocalNode) -> Result<()> + Sync) -> Result<()> {
        super::on_all(&self.local_nodes, |n| f(n))
            .into_iter()
            .collect()
    }
}

impl Backend for LocalCluster {
    fn kind(&self) -> BackendKind {
        BackendKind::Local
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
            state::begin_setup(&self.torn_down, &self.run_id, BackendKind::Local, &names)?;
        self.create_links()?;
        self.allow_bridge_forwarding()?;
        self.on_all_nodes(|node| self.configure_namespace(node))
    }

    fn supports_partitions(&self) -> bool {
        true
    }

    fn partition(&self, grudge: &Grudge) -> Result<()> {
        let _network = self.network.lock().unwrap_or_else(|p| p.into_inner());
        self.on_all_nodes(|node| {
            let sources: Vec<Ipv4Addr> = grudge
                .dropped_by(&node.name)
                .filter_map(|peer| self.address_of(peer))
                .collect();
            node.set_drops(&sources)
        })
    }

    fn heal(&self) -> Result<()> {
        let _network = self.network.lock().unwrap_or_else(|p| p.into_inner());
        self.on_all_nodes(|node| node.set_drops(&[]))
    }

    fn supports_packet_faults(&self) -> bool {
        true
    }

    fn shape(&self, plan: &PacketPlan) -> Result<()> {
        let mut slot = self.packet.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = slot.take() {
            packet::local::remove(&self.local_nodes, old)?;
        }
        *slot = Some(packet::local::apply(
            &self.local_nodes,
            plan,
            self.bridge_address(),
        )?);
        Ok(())
    }

    fn unshape(&self) -> Result<BTreeMap<String, ShimStats>> {
        let mut slot = self.packet.lock().unwrap_or_else(|p| p.into_inner());
        match slot.take() {
            Some(shaping) => packet::local::remove(&self.local_nodes, shaping),
            None => Ok(BTreeMap::new()),
        }
    }

    fn teardown(&self) -> Vec<String> {
        let Some(_done) = state::begin_teardown(&self.torn_down) else {
            return Vec::new();
        };
        let mut leftovers = Vec::new();
        // The shims first: they release what they hold before their namespaces go.
        if let Err(e) = self.unshape() {
            leftovers.push(format!("the packet fault: {e}"));
        }
        for node in &self.local_nodes {
            if let Err(e) = node.daemon.kill() {
                leftovers.push(format!("the daemon of node {}: {e}", node.name));
            }
        }
        let purge = purge_run(&self.run_id);
        leftovers.extend(purge.failed);
        state::remove(&self.run_id, &mut leftovers);
        leftovers
    }
}

/// What [`purge_run`] removed and what it could not.
#[derive(Debug, Default)]
pub struct Purge {
    pub removed: Vec<String>,
    pub failed: Vec<String>,
}

/// Removes every process, namespace, link and host rule named after run `run_id`, found by
/// name alone: the teardown of a live run and `faultline clean` of a dead one share it.
pub fn purge_run(run_id: &str) -> Purge {
    let prefix = format!("{NAME_PREFIX}{run_id}-");
    let mut purge = Purge::default();
    let namespaces: Vec<String> = list_namespaces()
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect();
    for ns in &namespaces {
        for pid in namespace_pids(ns) {
            let pid = Pid::from_raw(pid);
            let _ = kill(pid, Signal::SIGCONT);
            if kill(pid, Signal::SIGKILL).is_ok() {
                purge
                    .removed
                    .push(format!("process {pid} in namespace {ns}"));
            }
        }
    }
    let links: Vec<String> = list_links()
        .into_iter()
        .filter(|l| l.starts_with(&prefix))
        .collect();
    // Veths first (deleting one end deletes its peer at once), then the bridge, then the
    // namespaces: a namespace dies lazily, and would leave its veth behind for a moment.
    let mut batch = String::new();
    let (bridges, veths): (Vec<&String>, Vec<&String>) =
        links.iter().partition(|l| l.ends_with("-br"));
    for link in veths.iter().chain(bridges.iter()) {
        batch.push_str(&format!("link del {link}\n"));
    }
    for ns in &namespaces {
        batch.push_str(&format!("netns del {ns}\n"));
    }
    if !batch.is_empty() {
        let mut cmd = Command::new("ip");
        cmd.args(["-force", "-batch", "-"]);
        let _ = process::run_with_input(
            &mut cmd,
            "removing links and namespaces",
            Some(batch.as_bytes()),
            COMMAND_TIMEOUT,
        );
    }
    let links_left: BTreeSet<String> = list_links().into_iter().collect();
    let namespaces_left: BTreeSet<String> = list_namespaces().into_iter().collect();
    for link in &links {
        if links_left.contains(link) {
            purge.failed.push(format!("link {link}"));
        } else {
            purge.removed.push(format!("link {link}"));
        }
    }
    for ns in &namespaces {
        if namespaces_left.contains(ns) {
            purge.failed.push(format!("namespace {ns}"));
        } else {
            purge.removed.push(format!("namespace {ns}"));
        }
    }
    remove_forward_rules(run_id, &mut purge);
    // Last: the wall stays up until nothing of the run can send any more.
    remove_blackhole_routes(run_id, &mut purge);
    purge
}

/// The arguments of `ip route add|del` for run `run_id`'s blackhole route over `network`.
fn blackhole_route(network: &str, run_id: &str) -> String {
    let metric = route_metric(run_id).unwrap_or(ROUTE_METRIC_BASE);
    format!("blackhole {network} proto {ROUTE_PROTO} metric {metric}")
}

fn route_metric(run_id: &str) -> Option<u32> {
    state::is_run_id(run_id)
        .then(|| u32::from_str_radix(run_id, 16).ok())
        .flatten()
        .map(|id| ROUTE_METRIC_BASE + id)
}

/// faultline's blackhole routes of the host, as (network, run id).
pub fn list_blackhole_routes() -> Vec<(String, String)> {
    let mut cmd = Command::new("ip");
    cmd.args(["-4", "-o", "route", "show", "type", "blackhole", "proto"])
        .arg(ROUTE_PROTO.to_string());
    let Ok(out) = process::run(cmd, "ip route show", COMMAND_TIMEOUT) else {
        return Vec::new();
    };
    out.stdout
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let network = words.get(1)?;
            let at = words.iter().position(|w| *w == "metric")?;
            let metric: u32 = words.get(at + 1)?.parse().ok()?;
            let id = format!("{:06x}", metric.checked_sub(ROUTE_METRIC_BASE)?);
            state::is_run_id(&id).then(|| (network.to_string(), id))
        })
        .collect()
}

fn remove_blackhole_routes(run_id: &str, purge: &mut Purge) {
    for (network, _) in list_blackhole_routes()
        .into_iter()
        .filter(|(_, id)| id == run_id)
    {
        let route = blackhole_route(&network, run_id);
        let mut cmd = Command::new("ip");
        cmd.args(["route", "del"]).args(route.split_whitespace());
        match process::run_ok(&mut cmd, "ip route del", None, COMMAND_TIMEOUT) {
            Ok(_) => purge.removed.push(format!("route {route}")),
            Err(e) => purge.failed.push(format!("route {route}: {e}")),
        }
    }
}

/// Deletes the host FORWARD rules carrying the run's comment.
fn remove_forward_rules(run_id: &str, purge: &mut Purge) {
    let mut cmd = Command::new("iptables");
    cmd.args(["-w", "5", "-S", "FORWARD"]);
    let Ok(out) = process::run(cmd, "iptables -S FORWARD", COMMAND_TIMEOUT) else {
        return;
    };
    let comment = format!("faultline-{run_id}");
    let count = out.stdout.lines().filter(|l| l.contains(&comment)).count();
    let bridge = format!("{NAME_PREFIX}{run_id}-br");
    for _ in 0..count {
        let mut cmd = Command::new("iptables");
        cmd.args(["-w", "5", "-D", "FORWARD"])
            .args(forward_rule(&bridge, run_id));
        match process::run_ok(&mut cmd, "iptables -D FORWARD", None, COMMAND_TIMEOUT) {
            Ok(_) => purge
                .removed
                .push(format!("host FORWARD rule for bridge {bridge}")),
            Err(e) => purge
                .failed
                .push(format!("host FORWARD rule for bridge {bridge}: {e}")),
        }
    }
}

fn forward_rule(bridge: &str, run_id: &str) -> Vec<String> {
    argv(&[
        "-i",
        bridge,
        "-o",
        bridge,
        "-j",
        "ACCEPT",
        "-m",
        "comment",
        "--comment",
        &format!("faultline-{run_id}"),
    ])
}

fn bridge_netfilter_on() -> bool {
    fs::read_to_string("/proc/sys/net/bridge/bridge-nf-call-iptables")
        .is_ok_and(|v| v.trim() == "1")
}

pub(crate) fn namespace_name(run_id: &str, node: &str) -> String {
    format!("{NAME_PREFIX}{run_id}-{node}")
}

fn veth_name(run_id: &str, index: usize) -> String {
    format!("{NAME_PREFIX}{run_id}-v{}", index + 1)
}

/// The run id in a faultline object name (`fl1a2b3c-n1` → `1a2b3c`), if it is one.
pub fn run_id_of(name: &str) -> Option<&str> {
    let rest = name.strip_prefix(NAME_PREFIX)?;
    let (id, tail) = rest.split_once('-')?;
    (state::is_run_id(id) && !tail.is_empty()).then_some(id)
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_fit_in_fifteen_bytes() {
        assert!(veth_name("abcdef", 199).len() <= 15);
        assert!(format!("{NAME_PREFIX}abcdef-br").len() <= 15);
    }

    #[test]
    fn recognises_its_own_object_names_only() {
        assert_eq!(run_id_of("fl1a2b3c-n1"), Some("1a2b3c"));
        assert_eq!(run_id_of("fl1a2b3c-br"), Some("1a2b3c"));
        assert_eq!(run_id_of("flannel.1"), None);
        assert_eq!(run_id_of("fl1a2b3c"), None);
        assert_eq!(run_id_of("flXYZXYZ-n1"), None);
        assert_eq!(run_id_of("eth0"), None);
    }
}
