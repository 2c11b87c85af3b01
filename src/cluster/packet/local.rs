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
    /// Whether the chains hold duplicate rules, whose counters are read at the end.
    duplicates: bool,
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
        duplicates: plan.shape.duplicate.is_some(),
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
    let mut duplicated = BTreeMap::new();
    for &i in &shaping.touched {
        let node = &nodes[i];
        if shaping.duplicates {
            match duplicated_by(node) {
                Ok(n) => {
                    duplicated.insert(node.name().to_string(), n);
                }
                Err(e) => tracing::warn!("{e}"),
            }
        }
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
    let mut stats: BTreeMap<String, ShimStats> = shaping
        .shims
        .into_iter()
        .map(|(name, shim)| (name, shim.stop()))
        .collect();
    for (name, n) in duplicated {
        stats.entry(name).or_default().duplicated = n;
    }
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

/// The copies the node's duplicate rules have sent: their packet counters, read before the
/// rules are flushed.
fn duplicated_by(node: &LocalNode) -> Result<u64> {
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        node.namespace(),
        "iptables-save",
        "-c",
        "-t",
        "mangle",
    ]);
    let out = process::run(
        cmd,
        &format!("reading the duplicate counters of node {}", node.name()),
        TC_TIMEOUT,
    )?;
    Ok(count_duplicates(&out.stdout))
}

/// Sums the packet counters of the `TEE` rules in `iptables-save -c` output.
fn count_duplicates(saved: &str) -> u64 {
    let rule = format!("-A {DUP_CHAIN} ");
    saved
        .lines()
        .filter(|l| l.contains(&rule) && l.contains("-j TEE"))
        .filter_map(|l| l.strip_prefix('[')?.split(':').next()?.parse::<u64>().ok())
        .sum()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copies_are_counted_from_the_tee_rules_only() {
        let saved =
            "*mangle\n:FAULTLINE-PKT-DUP - [0:0]\n[40:3000] -A OUTPUT -j FAULTLINE-PKT-DUP\n\
                     [7:700] -A FAULTLINE-PKT-DUP -d 10.0.0.2/32 -m statistic --mode random \
                     --probability 0.100000 -j TEE --gateway 10.0.0.2\n\
                     [5:500] -A FAULTLINE-PKT-DUP -d 10.0.0.3/32 -m statistic --mode random \
                     --probability 0.100000 -j TEE --gateway 10.0.0.3\nCOMMIT\n";
        assert_eq!(count_duplicates(saved), 12);
    }
}
