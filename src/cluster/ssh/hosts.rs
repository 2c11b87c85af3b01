//! Host specs: which hosts a run uses and how to reach them.
//!
//! A node list names one host per node (`[user@]host[:port]`, an IPv6 address in brackets),
//! separated by commas or new lines; [`SshOptions`] says how to reach them all.

use std::fmt;
use std::net::{IpAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::cluster::{Error, Result};

/// One host of the node list: `[user@]host[:port]`, an IPv6 address in brackets.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SshHost {
    pub host: String,
    /// Overrides [`SshOptions::user`] for this host.
    pub user: Option<String>,
    /// Overrides [`SshOptions::port`] for this host.
    pub port: Option<u16>,
}

impl FromStr for SshHost {
    type Err = Error;
    fn from_str(s: &str) -> Result<SshHost> {
        let s = s.trim();
        let bad = |why: &str| {
            Error::Invalid(format!(
                "ssh host {s:?} {why}; write it as host, user@host or user@host:port"
            ))
        };
        let (user, rest) = match s.split_once('@') {
            Some((u, r)) if !u.is_empty() => (Some(u.to_string()), r),
            Some(_) => return Err(bad("has an empty user")),
            None => (None, s),
        };
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, tail) = v6
                .split_once(']')
                .ok_or_else(|| bad("lacks its closing ']'"))?;
            match tail.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None if tail.is_empty() => (h, None),
                None => return Err(bad("has text after ']'")),
            }
        } else if rest.matches(':').count() == 1 {
            let (h, p) = rest.split_once(':').expect("one colon");
            (h, Some(p))
        } else {
            (rest, None)
        };
        let port = match port {
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| bad("has a bad port"))?,
            ),
            None => None,
        };
        let plain = |c: char| c.is_ascii_alphanumeric() || ".-_:".contains(c);
        if host.is_empty() || !host.chars().all(plain) {
            return Err(bad("has a bad host name"));
        }
        if user.as_deref().is_some_and(|u| !u.chars().all(plain)) {
            return Err(bad("has a bad user name"));
        }
        Ok(SshHost {
            host: host.to_string(),
            user,
            port,
        })
    }
}

impl fmt::Display for SshHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(u) = &self.user {
            write!(f, "{u}@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

/// Parses a node list: hosts separated by commas or new lines; `#` starts a comment. Errors
/// name the line (for `--nodes-file`).
pub fn parse_hosts(text: &str) -> Result<Vec<SshHost>> {
    let mut hosts = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        for word in line.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let host = word
                .parse()
                .map_err(|e| Error::Invalid(format!("line {}: {e}", i + 1)))?;
            hosts.push(host);
        }
    }
    if hosts.is_empty() {
        return Err(Error::Invalid("the node list names no host".into()));
    }
    Ok(hosts)
}

/// How to reach the hosts. Defaults: user root, port 22, the user's default key and
/// known_hosts, strict host-key checking, 5 s connect timeout, node directories under `/tmp`,
/// the clock set with `date`. Saved as `ssh.json` in the run's state directory, so that
/// `faultline clean` can reach the hosts of a run whose controller died.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SshOptions {
    /// One host per node, in node order.
    pub hosts: Vec<SshHost>,
    pub user: String,
    pub port: u16,
    /// The private key (`ssh -i`); `None` uses the ssh client's defaults.
    pub identity_file: Option<PathBuf>,
    /// On by default: a host whose key is unknown or changed is refused. Off (for a lab)
    /// accepts any host key and records none.
    pub strict_host_key_checking: bool,
    /// A known_hosts file to use instead of the user's (with strict checking).
    pub known_hosts_file: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// The remote directory under which each node gets `faultline-<run>-<node>/`.
    pub remote_root: PathBuf,
    /// The command that reads (`+%s%N`) and sets (`-s @<seconds>.<nanos>`) a host's clock.
    pub clock_command: String,
}

impl SshOptions {
    pub fn new(hosts: Vec<SshHost>) -> SshOptions {
        SshOptions {
            hosts,
            user: "root".into(),
            port: 22,
            identity_file: None,
            strict_host_key_checking: true,
            known_hosts_file: None,
            connect_timeout: Duration::from_secs(5),
            remote_root: PathBuf::from("/tmp"),
            clock_command: "date".into(),
        }
    }
}

/// The address of `host`, resolved once at start.
pub(super) fn resolve(host: &str, port: u16) -> std::io::Result<IpAddr> {
    (host, port)
        .to_socket_addrs()?
        .map(|a| a.ip())
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_specs_take_user_and_port_and_reject_junk() {
        let h: SshHost = "admin@db1.example:2222".parse().unwrap();
        assert_eq!(
            (h.user.as_deref(), h.host.as_str(), h.port),
            (Some("admin"), "db1.example", Some(2222))
        );
        let h: SshHost = "[fd00::1]:22".parse().unwrap();
        assert_eq!((h.host.as_str(), h.port), ("fd00::1", Some(22)));
        assert_eq!("10.0.0.1".parse::<SshHost>().unwrap().port, None);
        for bad in ["", "@h", "h:0", "h:x", "h;rm -rf", "[::1"] {
            assert!(bad.parse::<SshHost>().is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn a_node_list_error_names_its_line() {
        let hosts = parse_hosts("# db hosts\n10.0.0.1, 10.0.0.2\n\nroot@10.0.0.3:22\n").unwrap();
        assert_eq!(hosts.len(), 3);
        let e = parse_hosts("10.0.0.1\nbad host\n").unwrap_err().to_string();
        assert!(e.starts_with("line 2: "), "{e}");
        assert!(parse_hosts("# nothing\n").is_err());
    }
}
