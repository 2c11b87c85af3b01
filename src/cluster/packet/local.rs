//! Packet faults on the `local` backend: per sending node, rules in its namespace's
//! `FAULTLINE-PKT-*` chains (created empty with the namespace, jumped to from OUTPUT and
//! INPUT), a [`Shim`] thread on its queue, and an htb qdisc on its `eth0` for a rate limit.
//! Removing a fault flushes those chains, deletes the qdisc and stops the shims; nothing else
//! of the namespace is touched.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::shim::{Shim, QUEUE};
use super::{PacketPlan, ShimStats};
use crate::cluster::local::LocalNode;
use crate::cluster::{process, Error, Node, Result};

/// Outbound packets of a node to its shaped peers: queued for the shim.
pub const OUT_CHAIN: &str = "FAULTLINE-PKT-OUT";
/// Inbound packets from the clients, when the clients' links are shaped.
pub const IN_CHAIN: &str = "FAULTLINE-PKT-IN";
/// Duplicates (mangle table, before the queue, so that copies are delayed too).
pub const DUP_CHAIN: &str = "FAULTLINE-PKT-DUP";
const TC_TIMEOUT: Duration = Duration::from_secs(10);

/// The rules that create the chains, empty, and jump to them: part of every namespace's
/// setup, so a fault only ever fills and flushes them.
pub fn chain_setup_rules() -> String {
    format!(
        "*mangle\n:{DUP_CHAIN} - [0:0]\n-A OUTPUT -j {DUP_CHAIN}\nCOMMIT\n\
         *filter\n:{OUT_CHAIN} - [0:0]\n:{IN_CHAIN} - [0:0]\n\
         -A OUTPUT -j {OUT_CHAIN}\n-A INPUT -j {IN_CHAIN}\nCOMMIT\n"
    )
}

/// A packet fault in force on a local cluster.
pub struct Shaping {
    shims: Vec<(String, Shim)>,
    /// Nodes whose chains or qdisc were written (to be cleared).
    touched: Vec<usize>,
}

/// Puts `plan` in force. `nodes` are the cluster's nodes, `addr` maps a name to its address,
/// `clients` is the controller's address on the bridge. On failure, what was done is undone.
pub fn apply(
    nodes: &[std::sync::Arc<LocalNode>],
    plan: &PacketPlan,
    clients: Ipv4Addr,
) -> Result<Shaping> {
    let addr = |name: &str| nodes.iter().find(|n| n.name() == name).map(|n| n.ipv4());
    let mut shaping = Shaping {
        shims: Vec::new(),
        touched: Vec::new(),
    };
    let senders = plan.senders();
    for (index, node) in nodes.iter().enumerate() {
        if !senders.contains(node.name()) {
            continue;
        }
        let peers: Vec<Ipv4Addr> = plan
            .links
            .get(node.name())
            .into_iter()
            .flatten()
            .filter_map(|p| addr(p))
            .collect();
        let result = (|| {
            if plan.shape.needs_queue() {
                let netns = PathBuf::from(format!("/run/netns/{}", node.namespace()));
                let seed = plan.seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let shim = Shim::start(&netns, plan.shape.clone(), plan.max_held, seed)?;
                shaping.shims.push((node.name().to_string(), shim));
            }
            shaping.touched.push(index);
            node.restore_rules(
                &rules(plan, &peers, plan.clients.then_some(clients)),
                &format!("setting the packet rules of node {}", node.name()),
            )?;
            if let Some(kbit) = plan.shape.rate_kbit {
                let mut targets = peers.clone();
                if plan.clients {
                    targets.push(clients);
                }
                limit_rate(node, kbit, &targets)?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            let _ = remove(nodes, shaping);
            return Err(e);
        }
    }
    Ok(shaping)
}

/// Ends the fault: rules flushed first (no new packet is queued), then the shims release
/// what they hold. Returns each shim's counts.
pub fn remove(
    nodes: &[std::sync::Arc<LocalNode>],
    shaping: Shaping,
) -> Result<BTreeMap<String, ShimStats>> {
    let mut first_error = None;
    for &i in &shaping.touched {
        let node = &nodes[i];
        let flush = format!(
            "*mangle\n:{DUP_CHAIN} - [0:0]\nCOMMIT\n*filter\n:{OUT_CHAIN} - [0:0]\n\
             :{IN_CHAIN} - [0:0]\nCOMMIT\n"
        );
        let cleared = node
            .restore_rules(
                &flush,
                &format!("clearing the packet rules of node {}", node.name()),
            )
            .and_then(|()| clear_rate(node));
        if let Err(e) = cleared {
            first_error.get_or_insert(e);
        }
    }
    let stats = shaping
        .shims
        .into_iter()
        .map(|(name, shim)| (name, shim.stop()))
        .collect();
    match first_error {
        Some(e) => Err(e),
        None => Ok(stats),
    }
}

/// The node's chains for `plan`: its peers' packets queued, duplicated; the clients' both
/// ways when asked.
fn rules(plan: &PacketPlan, peers: &[Ipv4Addr], clients: Option<Ipv4Addr>) -> String {
    let queue = format!("-j NFQUEUE --queue-num {QUEUE} --queue-bypass");
    let mut mangle = format!("*mangle\n:{DUP_CHAIN} - [0:0]\n");
    let mut filter = format!("*filter\n:{OUT_CHAIN} - [0:0]\n:{IN_CHAIN} - [0:0]\n");
    for dest in peers.iter().chain(clients.iter()) {
        if let Some(p) = plan.shape.duplicate {
            mangle.push_str(&format!(
                "-A {DUP_CHAIN} -d {dest}/32 -m statistic --mode random --probability {p:.6} \
                 -j TEE --gateway {dest}\n"
            ));
        }
        if plan.shape.needs_queue() {
            filter.push_str(&format!("-A {OUT_CHAIN} -d {dest}/32 {queue}\n"));
        }
    }
    if let (Some(source), true) = (clients, plan.shape.needs_queue()) {
        filter.push_str(&format!("-A {IN_CHAIN} -s {source}/32 {queue}\n"));
    }
    format!("{mangle}COMMIT\n{filter}COMMIT\n")
}

/// An htb root qdisc on the node's `eth0`: packets to `targets` go through one class limited
/// to `kbit`; everything else is unclassified and goes straight out.
fn limit_rate(node: &LocalNode, kbit: u64, targets: &[Ipv4Addr]) -> Result<()> {
    // A burst of at least one full frame, or htb cannot send a packet at low rates.
    let mut batch = format!(
        "qdisc replace dev eth0 root handle 1: htb\n\
         class add dev eth0 parent 1: classid 1:1 htb rate {kbit}kbit ceil {kbit}kbit burst 16k\n"
    );
    for t in targets {
        batch.push_str(&format!(
            "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst {t}/32 flowid 1:1\n"
        ));
    }
    tc(node, &batch, "limiting the rate")
}

fn clear_rate(node: &LocalNode) -> Result<()> {
    let mut cmd = Command::new("tc");
    cmd.args(["-n", node.namespace(), "qdisc", "show", "dev", "eth0"]);
    let out = process::run(cmd, "tc qdisc show", TC_TIMEOUT)?;
    if !out.stdout.contains("htb 1:") {
        return Ok(());
    }
    tc(node, "qdisc del dev eth0 root\n", "removing the rate limit")
}

fn tc(node: &LocalNode, batch: &str, what: &str) -> Result<()> {
    let mut cmd = Command::new("tc");
    cmd.args(["-n", node.namespace(), "-batch", "-"]);
    process::run_ok(
        &mut cmd,
        &format!("{what} of node {}", node.name()),
        Some(batch.as_bytes()),
        TC_TIMEOUT,
    )
    .map(|_| ())
    .map_err(|e| match e {
        Error::Command { context, detail } => Error::Command {
            context,
            detail: format!("{detail} (the kernel needs the htb qdisc and the u32 filter)"),
        },
        other => other,
    })
}
