//! `[ssh]`: the hosts of the ssh backend, and node lists (`--nodes-file`).

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{LoadedSpec, SpecError};
use crate::cluster::ssh::SshHost;

/// `[ssh]`: real hosts, one per node, for `backend = "ssh"`. With this backend the node count
/// is the number of hosts (`run.nodes` follows it).
///
/// ```toml
/// [ssh]
/// hosts = ["10.0.0.11", "10.0.0.12", "admin@10.0.0.13:2222"]   # or nodes_file = "hosts.txt"
/// user = "root"                     # a user other than root needs passwordless sudo
/// identity_file = "~/.ssh/id_ed25519"
/// strict_host_key_checking = true   # false only in a lab: any host key is accepted
/// ```
#[derive(Deserialize, Serialize, JsonSchema, Clone, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct SshSpec {
    /// One host per node, `[user@]host[:port]`, in node order.
    #[schemars(example = ["10.0.0.11", "admin@10.0.0.12:2222"])]
    pub hosts: Vec<String>,
    /// A file naming the hosts (comma- or line-separated, `#` comments), relative to the spec;
    /// replaces `hosts`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"hosts.txt")]
    pub nodes_file: Option<PathBuf>,
    /// Login user. Default `root`.
    #[schemars(example = &"admin")]
    pub user: String,
    /// sshd port. Default 22.
    #[schemars(example = 2222)]
    pub port: u16,
    /// Private key; default: the ssh client's own choice. `~/` is the home directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"~/.ssh/id_ed25519")]
    pub identity_file: Option<PathBuf>,
    /// Refuse hosts whose key is unknown or changed. Default true.
    #[schemars(example = false)]
    pub strict_host_key_checking: bool,
    /// known_hosts file instead of the user's.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"lab_known_hosts")]
    pub known_hosts_file: Option<PathBuf>,
    /// Seconds to wait for a connection. Default 5.
    #[schemars(example = 10)]
    pub connect_timeout_s: u64,
    /// Remote directory holding each node's `faultline-<run>-<node>/`. Default `/tmp`.
    #[schemars(example = &"/var/tmp")]
    pub remote_root: PathBuf,
}

impl Default for SshSpec {
    fn default() -> Self {
        SshSpec {
            hosts: Vec::new(),
            nodes_file: None,
            user: "root".into(),
            port: 22,
            identity_file: None,
            strict_host_key_checking: true,
            known_hosts_file: None,
            connect_timeout_s: 5,
            remote_root: PathBuf::from("/tmp"),
        }
    }
}

/// `~/x` under the home directory; any other path as is.
pub(super) fn home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(h)) => PathBuf::from(h).join(rest),
        _ => path.to_path_buf(),
    }
}

/// Reads a node list for `--nodes-file` or `ssh.nodes_file`; errors name the file and line.
pub fn read_nodes_file(path: &Path) -> Result<Vec<String>, SpecError> {
    let located = |line: Option<usize>, message: String, hint: Option<String>| SpecError {
        file: path.to_path_buf(),
        line,
        key: None,
        message,
        hint,
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        located(
            None,
            format!("cannot read the node list: {e}"),
            Some("one host per line: host, user@host or user@host:port".into()),
        )
    })?;
    let mut hosts = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        for word in line.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            word.parse::<SshHost>()
                .map_err(|e| located(Some(i + 1), e.to_string(), None))?;
            hosts.push(word.to_string());
        }
    }
    if hosts.is_empty() {
        return Err(located(None, "the node list names no host".into(), None));
    }
    Ok(hosts)
}

impl LoadedSpec {
    pub(super) fn validate_ssh(&self) -> Result<(), SpecError> {
        if self.spec.run.backend != crate::cluster::BackendKind::Ssh {
            return Ok(());
        }
        let hosts = self.spec.ssh.as_ref().map_or(&[][..], |s| &s.hosts[..]);
        if hosts.is_empty() {
            return Err(self.err(
                "ssh.hosts",
                "the ssh backend needs its hosts",
                Some(
                    "list one host per node in `[ssh] hosts = [...]`, or pass --nodes-file".into(),
                ),
            ));
        }
        for h in hosts {
            if let Err(e) = h.parse::<SshHost>() {
                return Err(self.err("ssh.hosts", e.to_string(), None));
            }
        }
        Ok(())
    }
}
