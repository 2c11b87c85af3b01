//! Packet faults on ssh hosts: the kernel's own `netem` qdisc, where the host's kernel has it.
//!
//! A shaped sender gets, on each interface that routes to one of its shaped peers (`ip route
//! get`), a `prio` root qdisc of four bands whose priority map never chooses the fourth, a
//! `netem` qdisc under that fourth band, and one `u32` filter per peer sending its packets
//! there. Every other packet of the host keeps the first three bands, as under the default
//! `pfifo_fast`, and is neither delayed nor dropped:
//!
//! ```text
//! dev eth0 root prio fa11: bands 4 ── bands 1-3: everything else, as before
//!                                 └── band 4 (fa11:4): netem fa12: ◄── u32 dst <peer>/32
//! ```
//!
//! The interfaces are written to `<node dir>/netem.devs` before their qdisc is added, so that
//! ending the fault, teardown and `faultline clean` delete exactly the root qdiscs faultline
//! added (only while their handle is still `fa11:`); the kernel then puts the interface's
//! default root qdisc back. A root qdisc the host had set up itself is replaced while the
//! fault lasts and comes back as the kernel's default, not as it was.
//!
//! netem's model differs from the local shim's in two ways, both stated here and refused
//! where they would change what a spec asks for: reordering is netem's (`delay H reorder
//! (1-share)`: the held-back share waits `H`, the rest goes at once), so it cannot be combined
//! with a delay; and a jitter larger than the gaps between packets reorders them, as netem
//! does. The clients' links are not shaped on ssh hosts (the controller's packets arrive on
//! the host's ingress, which needs an `ifb` device), and a spec asking for them is refused.
//!
//! At the end of a fault the netem qdisc's counters become the node's stats: `packets` is
//! what it sent, `lost` what it dropped.

use std::net::IpAddr;
use std::path::Path;

use super::scripts::shell_quote;
use crate::cluster::packet::{Distribution, Shape, ShimStats};

/// The root qdisc's handle (`prio`) and the netem qdisc's under it.
const ROOT: &str = "fa11";
const NETEM: &str = "fa12";
/// The file, in the node directory, that lists the interfaces faultline shaped.
const DEVS_FILE: &str = "netem.devs";

/// Shell lines for the preflight: print `netem=yes`, `netem=no` or `netem=unknown`, from the
/// running kernel's configuration (`/proc/config.gz`, `/boot/config-<release>`), else from its
/// modules. Needs nothing but `sh`, `tc` and `grep`.
pub(super) const PROBE: &str = r#"if ! command -v tc >/dev/null 2>&1; then echo netem=no-tc;
else cfg=; if [ -r /proc/config.gz ] && command -v zcat >/dev/null 2>&1; then cfg=$(zcat /proc/config.gz 2>/dev/null);
elif [ -r /boot/config-$(uname -r) ]; then cfg=$(cat /boot/config-$(uname -r)); fi
if [ -n "$cfg" ]; then
  if printf '%s\n' "$cfg" | grep -Eq '^CONFIG_NET_SCH_NETEM=(y|m)' && printf '%s\n' "$cfg" | grep -Eq '^CONFIG_NET_SCH_PRIO=(y|m)'; then echo netem=yes; else echo netem=no; fi
elif [ -d /sys/module/sch_netem ] || modinfo sch_netem >/dev/null 2>&1; then echo netem=yes;
else echo netem=unknown; fi; fi
"#;

/// What the host's preflight said of netem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetemSupport {
    Yes,
    /// The kernel's configuration lacks `sch_netem` or `sch_prio`.
    No,
    /// `tc` is not installed.
    NoTc,
    /// Neither the configuration nor the modules could be read; a fault will try.
    Unknown,
}

impl NetemSupport {
    /// Reads the preflight's `netem=` line (none: unknown).
    pub(super) fn from_preflight(out: &str) -> NetemSupport {
        match out.lines().find_map(|l| l.strip_prefix("netem=")) {
            Some("yes") => NetemSupport::Yes,
            Some("no") => NetemSupport::No,
            Some("no-tc") => NetemSupport::NoTc,
            _ => NetemSupport::Unknown,
        }
    }

    pub fn usable(self) -> bool {
        matches!(self, NetemSupport::Yes | NetemSupport::Unknown)
    }

    /// Why a host cannot shape packets, for an error message.
    pub fn lack(self) -> Option<&'static str> {
        match self {
            NetemSupport::No => Some(
                "its kernel has no netem or prio qdisc (CONFIG_NET_SCH_NETEM, CONFIG_NET_SCH_PRIO)",
            ),
            NetemSupport::NoTc => Some("`tc` is not installed (Debian: iproute2)"),
            NetemSupport::Yes | NetemSupport::Unknown => None,
        }
    }
}

/// Why netem cannot do what `shape` asks on ssh hosts, if it cannot.
pub fn refusal(shape: &Shape, clients: bool) -> Option<String> {
    if clients {
        return Some(
            "on ssh hosts only the links between nodes are shaped: set `clients = false` in \
             [nemesis.packet]"
                .into(),
        );
    }
    if shape.delay.is_some() && shape.reorder.is_some() {
        return Some(
            "netem reorders by sending a share of packets without the delay, so on ssh hosts \
             a fault cannot both delay and reorder: ask for one of them"
                .into(),
        );
    }
    None
}

/// netem's arguments for `shape` (after [`refusal`] said nothing).
pub fn netem_args(shape: &Shape) -> String {
    let mut args = Vec::new();
    let pct = |p: f64| format!("{:.4}%", p * 100.0);
    if let Some(d) = &shape.delay {
        let mut delay = format!("delay {:.3}ms", d.mean_ms);
        if d.jitter_ms > 0.0 {
            delay.push_str(&format!(" {:.3}ms", d.jitter_ms));
            if d.distribution == Distribution::Normal {
                delay.push_str(" distribution normal");
            }
        }
        args.push(delay);
    }
    if let Some(r) = &shape.reorder {
        args.push(format!(
            "delay {:.3}ms reorder {}",
            r.hold_ms,
            pct(1.0 - r.share)
        ));
    }
    if let Some(l) = &shape.loss {
        let mut loss = format!("loss {}", pct(l.probability));
        if l.correlation > 0.0 {
            loss.push_str(&format!(" {}", pct(l.correlation)));
        }
        args.push(loss);
    }
    if let Some(p) = shape.duplicate {
        args.push(format!("duplicate {}", pct(p)));
    }
    if let Some(kbit) = shape.rate_kbit {
        args.push(format!("rate {kbit}kbit"));
    }
    args.join(" ")
}

/// The script that shapes the packets from this host to `peers`, run as root. It first ends
/// any fault of this host (see [`remove`]).
pub(super) fn apply(dir: &Path, shape: &Shape, peers: &[IpAddr]) -> String {
    let devs = shell_quote(&dir.join(DEVS_FILE).display().to_string());
    let mut script = remove(dir);
    script.push_str(&format!(
        "set -e\n\
         shape() {{\n\
           dev=$(ip -o route get \"$1\" | sed -n 's/.* dev \\([^ ]*\\).*/\\1/p')\n\
           [ -n \"$dev\" ] || {{ echo \"no route to $1\" >&2; exit 1; }}\n\
           if ! grep -qx \"$dev\" {devs} 2>/dev/null; then\n\
             echo \"$dev\" >> {devs}\n\
             tc qdisc replace dev \"$dev\" root handle {ROOT}: prio bands 4 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1\n\
             tc qdisc add dev \"$dev\" parent {ROOT}:4 handle {NETEM}: netem {args}\n\
           fi\n\
           tc filter add dev \"$dev\" parent {ROOT}: protocol $2 prio 1 u32 match $3 dst \"$1\" flowid {ROOT}:4\n\
         }}\n",
        args = netem_args(shape),
    ));
    for peer in peers {
        let (protocol, family, prefix) = match peer {
            IpAddr::V4(_) => ("ip", "ip", 32),
            IpAddr::V6(_) => ("ipv6", "ip6", 128),
        };
        script.push_str(&format!("shape {peer}/{prefix} {protocol} {family}\n"));
    }
    script
}

/// The script that ends this host's fault: for each interface it shaped, prints the netem
/// qdisc's counters (`netem=<sent packets> <dropped>`), then deletes the root qdisc if it is
/// still faultline's. Prints `left=...` for one it could not delete. Safe to run when nothing
/// is shaped, and part of teardown.
pub(super) fn remove(dir: &Path) -> String {
    let devs = shell_quote(&dir.join(DEVS_FILE).display().to_string());
    format!(
        "if [ -f {devs} ]; then\n\
           for d in $(sort -u {devs}); do\n\
             tc -s qdisc show dev \"$d\" 2>/dev/null | \
               sed -n '/^qdisc netem {NETEM}:/{{n;s/^ *Sent [0-9]* bytes \\([0-9]*\\) pkt (dropped \\([0-9]*\\).*/netem=\\1 \\2/p;}}'\n\
             if tc qdisc show dev \"$d\" 2>/dev/null | grep -q '^qdisc prio {ROOT}:'; then\n\
               tc qdisc del dev \"$d\" root || echo \"left=the netem qdisc on $d\"\n\
             fi\n\
           done\n\
           rm -f {devs}\n\
         fi\n"
    )
}

/// The counters [`remove`] printed, summed over the host's interfaces.
pub(super) fn stats(out: &str) -> ShimStats {
    let mut stats = ShimStats::default();
    for line in out.lines() {
        let Some(rest) = line.strip_prefix("netem=") else {
            continue;
        };
        let mut numbers = rest
            .split_whitespace()
            .map(|n| n.parse::<u64>().unwrap_or(0));
        let sent = numbers.next().unwrap_or(0);
        let dropped = numbers.next().unwrap_or(0);
        stats.packets += sent + dropped;
        stats.lost += dropped;
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::packet::{Delay, Loss, Reorder};
    use std::process::Command;

    fn delay(mean_ms: f64, jitter_ms: f64, distribution: Distribution) -> Option<Delay> {
        Some(Delay {
            mean_ms,
            jitter_ms,
            distribution,
        })
    }

    #[test]
    fn netem_is_asked_for_every_effect_of_a_shape() {
        let shape = Shape {
            delay: delay(50.0, 5.0, Distribution::Normal),
            loss: Some(Loss {
                probability: 0.1,
                correlation: 0.25,
            }),
            duplicate: Some(0.01),
            reorder: None,
            rate_kbit: Some(800),
        };
        assert_eq!(
            netem_args(&shape),
            "delay 50.000ms 5.000ms distribution normal loss 10.0000% 25.0000% \
             duplicate 1.0000% rate 800kbit"
        );
        let reorder = Shape {
            reorder: Some(Reorder {
                share: 0.25,
                hold_ms: 20.0,
            }),
            ..Shape::default()
        };
        // netem sends the reorder share at once and delays the rest: the held-back share is
        // what waits.
        assert_eq!(netem_args(&reorder), "delay 20.000ms reorder 75.0000%");
        let uniform = Shape {
            delay: delay(5.0, 1.0, Distribution::Uniform),
            ..Shape::default()
        };
        assert_eq!(netem_args(&uniform), "delay 5.000ms 1.000ms");
    }

    #[test]
    fn what_netem_cannot_model_is_refused_with_the_way_out() {
        let both = Shape {
            delay: delay(10.0, 0.0, Distribution::Uniform),
            reorder: Some(Reorder {
                share: 0.1,
                hold_ms: 5.0,
            }),
            ..Shape::default()
        };
        assert!(refusal(&both, false)
            .unwrap()
            .contains("ask for one of them"));
        let plain = Shape {
            delay: delay(10.0, 0.0, Distribution::Uniform),
            ..Shape::default()
        };
        assert!(refusal(&plain, true).unwrap().contains("clients = false"));
        assert_eq!(refusal(&plain, false), None);
    }

    #[test]
    fn the_preflight_line_says_what_the_host_can_do() {
        assert_eq!(
            NetemSupport::from_preflight("uid=0\nnetem=yes\n"),
            NetemSupport::Yes
        );
        assert_eq!(NetemSupport::from_preflight("netem=no"), NetemSupport::No);
        assert_eq!(
            NetemSupport::from_preflight("netem=no-tc"),
            NetemSupport::NoTc
        );
        assert_eq!(NetemSupport::from_preflight("uid=0"), NetemSupport::Unknown);
        assert!(NetemSupport::Unknown.usable());
        assert!(NetemSupport::No
            .lack()
            .unwrap()
            .contains("CONFIG_NET_SCH_NETEM"));
    }

    /// The probe, run here, agrees with this machine's kernel configuration.
    #[test]
    fn the_probe_reads_the_running_kernels_configuration() {
        let out = Command::new("sh").arg("-c").arg(PROBE).output().unwrap();
        let said = NetemSupport::from_preflight(&String::from_utf8_lossy(&out.stdout));
        let config = Command::new("sh")
            .arg("-c")
            .arg("zcat /proc/config.gz 2>/dev/null || cat /boot/config-$(uname -r) 2>/dev/null")
            .output()
            .unwrap();
        let config = String::from_utf8_lossy(&config.stdout);
        let has = |key: &str| {
            config
                .lines()
                .any(|l| l == format!("{key}=y") || l == format!("{key}=m"))
        };
        let tc = Command::new("sh")
            .arg("-c")
            .arg("command -v tc")
            .output()
            .unwrap()
            .status
            .success();
        let expected = if !tc {
            NetemSupport::NoTc
        } else if config.is_empty() {
            said // no configuration to compare with: the modules decided
        } else if has("CONFIG_NET_SCH_NETEM") && has("CONFIG_NET_SCH_PRIO") {
            NetemSupport::Yes
        } else {
            NetemSupport::No
        };
        assert_eq!(said, expected);
    }

    /// The shaping script, run against stand-ins for `ip` and `tc` that log their arguments,
    /// installs one root qdisc per interface, a filter per peer, and records the interfaces;
    /// the removal script reads the counters and deletes only faultline's root qdisc.
    #[test]
    fn the_scripts_shape_each_interface_once_and_remove_what_they_added() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let stubs = format!(
            "ip() {{ echo \"1.2.3.4 dev eth0 src 1.1.1.1\"; }}\n\
             tc() {{ echo \"tc $*\" >> {log}; case \"$*\" in \
               '-s qdisc show dev eth0') printf 'qdisc prio fa11: root\\n Sent 1 bytes 1 pkt (dropped 0, overlimits 0)\\nqdisc netem fa12: parent fa11:4\\n Sent 4200 bytes 90 pkt (dropped 10, overlimits 0 requeues 0)\\n';; \
               'qdisc show dev eth0') echo 'qdisc prio fa11: root refcnt 2';; esac; }}\n",
            log = log.display()
        );
        let shape = Shape {
            loss: Some(Loss {
                probability: 0.1,
                correlation: 0.0,
            }),
            ..Shape::default()
        };
        let peers: Vec<IpAddr> = vec!["10.0.0.2".parse().unwrap(), "10.0.0.3".parse().unwrap()];
        let run = |script: String| {
            let out = Command::new("sh")
                .arg("-c")
                .arg(format!("{stubs}{script}"))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        run(apply(dir.path(), &shape, &peers));
        let calls = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            calls.matches("root handle fa11: prio").count(),
            1,
            "{calls}"
        );
        assert!(calls.contains("parent fa11:4 handle fa12: netem loss 10.0000%"));
        assert!(calls.contains("match ip dst 10.0.0.2/32 flowid fa11:4"));
        assert!(calls.contains("match ip dst 10.0.0.3/32 flowid fa11:4"));
        assert_eq!(
            std::fs::read_to_string(dir.path().join(DEVS_FILE)).unwrap(),
            "eth0\n"
        );
        let out = run(remove(dir.path()));
        assert_eq!(
            stats(&out),
            ShimStats {
                packets: 100,
                lost: 10,
                ..ShimStats::default()
            }
        );
        assert!(std::fs::read_to_string(&log)
            .unwrap()
            .contains("tc qdisc del dev eth0 root"));
        assert!(!dir.path().join(DEVS_FILE).exists());
    }
}
