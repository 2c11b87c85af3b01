//! Preflight: before creating anything, check that the machine can run the backend, and say
//! exactly what is missing and how to get it. The command maps the error to exit code 3.
//!
//! `local` needs root, `ip` (iproute2), `iptables` and `iptables-restore` that work with the
//! running kernel (nf_tables or legacy), and network namespaces. `loopback` needs nothing.

use std::fmt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::{process, BackendKind};

/// One thing the machine lacks, and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing {
    pub what: String,
    pub fix: String,
}

/// The machine cannot run this backend.
#[derive(Clone, Debug, thiserror::Error)]
pub struct PreflightError {
    pub backend: BackendKind,
    pub missing: Vec<Missing>,
}

impl fmt::Display for PreflightError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the {} cluster backend cannot run on this machine:",
            self.backend
        )?;
        for m in &self.missing {
            write!(f, "\n  - {}; {}", m.what, m.fix)?;
        }
        Ok(())
    }
}

/// Checks everything `backend` needs; fails listing every missing piece at once.
pub fn check(backend: BackendKind) -> Result<(), PreflightError> {
    let missing = match backend {
        BackendKind::Local => check_local(),
        BackendKind::Loopback => Vec::new(),
        // Each host is checked once the cluster knows them (`ssh::SshCluster::preflight`).
        BackendKind::Ssh => super::ssh::check_client(),
    };
    if missing.is_empty() {
        Ok(())
    } else {
        Err(PreflightError { backend, missing })
    }
}

fn check_local() -> Vec<Missing> {
    let mut missing = Vec::new();
    let root = nix::unistd::geteuid().is_root();
    if !root {
        missing.push(Missing {
            what: "not running as root (namespaces and iptables need it)".into(),
            fix: "run faultline as root (`sudo faultline ...`), or use the loopback backend, \
                  which has no partitions"
                .into(),
        });
    }
    if !Path::new("/proc/self/ns/net").exists() {
        missing.push(Missing {
            what: "the kernel has no network namespaces".into(),
            fix: "use a kernel built with CONFIG_NET_NS, or the loopback backend".into(),
        });
    }
    if !runs(&["ip", "-V"]) {
        missing.push(Missing {
            what: "`ip` is not installed".into(),
            fix: "install it with `apt-get install -y iproute2`".into(),
        });
    } else if root && missing.is_empty() {
        if let Err(e) = try_namespace_and_links() {
            missing.push(Missing {
                what: format!("the kernel refuses a namespace, bridge or veth pair: {e}"),
                fix: "run on a host or a privileged container whose kernel has CONFIG_NET_NS,                       CONFIG_BRIDGE and CONFIG_VETH, or use the loopback backend"
                    .into(),
            });
        }
    }
    let have_iptables = runs(&["iptables", "--version"]);
    let have_restore = runs(&["iptables-restore", "--version"]);
    if !have_iptables || !have_restore {
        missing.push(Missing {
            what: "`iptables` or `iptables-restore` is not installed".into(),
            fix: "install them with `apt-get install -y iptables`".into(),
        });
    } else if root {
        // Installed is not enough: the nf_tables flavour fails on kernels without nf_tables.
        let mut cmd = Command::new("iptables");
        cmd.args(["-w", "5", "-t", "filter", "-S", "INPUT"]);
        match process::run(cmd, "iptables -S INPUT", Duration::from_secs(10)) {
            Ok(out) if out.success() => {}
            Ok(out) => missing.push(Missing {
                what: format!("`iptables` does not work here: {}", out.stderr.trim()),
                fix: "if the kernel lacks nf_tables, switch to the legacy flavour with \
                      `update-alternatives --set iptables /usr/sbin/iptables-legacy`"
                    .into(),
            }),
            Err(e) => missing.push(Missing {
                what: format!("`iptables` does not work here: {e}"),
                fix: "check that iptables runs as root on this machine".into(),
            }),
        }
    }
    missing
}

/// Creates and deletes a scratch namespace with a veth into a scratch bridge: a file in
/// `/proc` does not prove that a container lets us do it. The names carry a fresh run id, so
/// `faultline clean` removes them if we die half-way.
fn try_namespace_and_links() -> Result<(), String> {
    let id = super::state::new_run_id();
    let prefix = format!("{}{id}", super::local::NAME_PREFIX);
    let create = format!(
        "netns add {prefix}-pf\nlink add {prefix}-br type bridge\n\
         link add {prefix}-v1 type veth peer name eth0 netns {prefix}-pf\n\
         link set {prefix}-v1 master {prefix}-br\n"
    );
    let remove = format!("link del {prefix}-v1\nlink del {prefix}-br\nnetns del {prefix}-pf\n");
    // An interrupt waits until the scratch objects are gone again.
    let _scratch = super::registry::scratch();
    let mut cmd = Command::new("ip");
    cmd.args(["-batch", "-"]);
    let created = process::run_ok(
        &mut cmd,
        "ip",
        Some(create.as_bytes()),
        Duration::from_secs(10),
    );
    let mut cmd = Command::new("ip");
    cmd.args(["-force", "-batch", "-"]);
    let _ = process::run_with_input(
        &mut cmd,
        "ip",
        Some(remove.as_bytes()),
        Duration::from_secs(10),
    );
    created.map(|_| ()).map_err(|e| e.to_string())
}

/// Whether `argv` starts and exits 0 within a few seconds.
fn runs(argv: &[&str]) -> bool {
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..]);
    process::run(cmd, argv[0], Duration::from_secs(5)).is_ok_and(|o| o.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preflight_error_lists_each_missing_piece_with_its_fix() {
        let e = PreflightError {
            backend: BackendKind::Local,
            missing: vec![
                Missing {
                    what: "`ip` is not installed".into(),
                    fix: "install it with `apt-get install -y iproute2`".into(),
                },
                Missing {
                    what: "not running as root".into(),
                    fix: "run as root".into(),
                },
            ],
        };
        let text = e.to_string();
        assert!(text.starts_with("the local cluster backend cannot run on this machine:"));
        assert!(text.contains(
            "\n  - `ip` is not installed; install it with `apt-get install -y iproute2`"
        ));
        assert!(text.contains("\n  - not running as root; run as root"));
    }

    #[test]
    fn the_loopback_backend_needs_nothing() {
        assert!(check(BackendKind::Loopback).is_ok());
    }
}
