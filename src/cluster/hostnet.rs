//! The host's own network, as `ip` reports it: its namespaces, links and the processes in a
//! namespace (which teardown and `faultline clean` search by name), and the choice of a free
//! /24 for a local run's nodes.

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use super::{process, Error, Result};

/// Time limit of each `ip` command run here.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// Names of all network namespaces (`ip netns list`).
pub fn list_namespaces() -> Vec<String> {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "list"]);
    match process::run(cmd, "ip netns list", COMMAND_TIMEOUT) {
        Ok(out) => out
            .stdout
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Names of all links of the host namespace (`ip -o link`), without their `@peer` suffix.
pub fn list_links() -> Vec<String> {
    let mut cmd = Command::new("ip");
    cmd.args(["-o", "link", "show"]);
    match process::run(cmd, "ip -o link show", COMMAND_TIMEOUT) {
        Ok(out) => out
            .stdout
            .lines()
            .filter_map(|l| {
                let name = l.split(": ").nth(1)?;
                Some(name.split('@').next().unwrap_or(name).to_string())
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Pids of the processes inside namespace `ns`.
pub fn namespace_pids(ns: &str) -> Vec<i32> {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "pids", ns]);
    match process::run(cmd, "ip netns pids", COMMAND_TIMEOUT) {
        Ok(out) => out
            .stdout
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Picks the run's 10.a.b.0/24: a start drawn from the run id, moved on past any /24 that
/// overlaps an address or route of the machine (other runs' bridges included).
pub(crate) fn pick_subnet(run_id: &str) -> Result<(u8, u8)> {
    let taken = taken_networks();
    let seed = u32::from_str_radix(run_id, 16).unwrap_or(0);
    for step in 0..(128 * 256) {
        let k = (seed + step) % (128 * 256);
        let (a, b) = (128 + (k / 256) as u8, (k % 256) as u8);
        let candidate = u32::from(Ipv4Addr::new(10, a, b, 0));
        if !taken
            .iter()
            .any(|&(net, len)| overlaps(candidate, 24, net, len))
        {
            return Ok((a, b));
        }
    }
    Err(Error::Invalid(
        "no free /24 left in 10.128.0.0/9 for the run's nodes".into(),
    ))
}

fn overlaps(a: u32, a_len: u8, b: u32, b_len: u8) -> bool {
    let len = a_len.min(b_len);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    a & mask == b & mask
}

/// Every IPv4 network of the host's addresses and routes, as (network, prefix length).
fn taken_networks() -> Vec<(u32, u8)> {
    let mut taken = Vec::new();
    for args in [
        &["-4", "-o", "addr", "show"][..],
        &["-4", "route", "show", "table", "all"],
    ] {
        let mut cmd = Command::new("ip");
        cmd.args(args);
        let Ok(out) = process::run(cmd, "ip", COMMAND_TIMEOUT) else {
            continue;
        };
        for word in out.stdout.split_whitespace() {
            // A default route says nothing about which private subnets are in use.
            if let Some(net) = parse_cidr(word).filter(|&(_, len)| len > 0) {
                taken.push(net);
            }
        }
    }
    taken
}

fn parse_cidr(word: &str) -> Option<(u32, u8)> {
    let (ip, len) = match word.split_once('/') {
        Some((ip, len)) => (ip, len.parse().ok()?),
        None => (word, 32),
    };
    let ip: Ipv4Addr = ip.parse().ok()?;
    (len <= 32).then_some((u32::from(ip), len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subnet_overlaps_the_routes_that_contain_it() {
        let net = u32::from(Ipv4Addr::new(10, 200, 3, 0));
        assert!(overlaps(net, 24, u32::from(Ipv4Addr::new(10, 0, 0, 0)), 8));
        assert!(overlaps(
            net,
            24,
            u32::from(Ipv4Addr::new(10, 200, 3, 7)),
            32
        ));
        assert!(!overlaps(
            net,
            24,
            u32::from(Ipv4Addr::new(10, 200, 4, 0)),
            24
        ));
        assert!(
            overlaps(net, 24, 0, 0),
            "a default route overlaps everything"
        );
        assert_eq!(
            parse_cidr("192.0.2.2/24"),
            Some((u32::from(Ipv4Addr::new(192, 0, 2, 2)), 24))
        );
        assert_eq!(parse_cidr("dev"), None);
    }
}
