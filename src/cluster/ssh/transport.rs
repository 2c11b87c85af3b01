//! Running commands on a host with the OpenSSH client.
//!
//! Every call is one `ssh` process in its own process group, multiplexed over the host's
//! master connection (`ControlMaster=auto`, socket `<state dir>/ssh/<node>`, kept
//! [`CONTROL_PERSIST_S`] after its last use), `BatchMode=yes`, bounded by `ConnectTimeout`
//! and a deadline after which the whole group is killed. The remote command is a script run
//! by `sh -c`, through `sudo -n` unless the login user is root. Exit 255 is ssh's own failure
//! and becomes an error that says what to do.

use std::fs::File;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use super::netem::NetemSupport;
use super::node::{lock, SshNode};
use super::scripts::{self, shell_quote};
use crate::cluster::preflight::Missing;
use crate::cluster::{Error, Result};

/// Time allowed to each remote housekeeping command (rules, pidfile, clock), on top of the
/// connect timeout.
pub(super) const REMOTE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a master connection outlives its last use: a controller killed without teardown
/// leaves no ssh process behind for longer than this.
const CONTROL_PERSIST_S: u64 = 60;

/// What a remote call returned, raw.
pub(super) struct Raw {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl SshNode {
    /// The `ssh` command line up to and including the destination.
    fn ssh_command(&self) -> Command {
        let o = &self.options;
        let mut cmd = Command::new("ssh");
        cmd.arg("-p").arg(self.port.to_string());
        for opt in [
            "BatchMode=yes".to_string(),
            format!("ConnectTimeout={}", o.connect_timeout.as_secs().max(1)),
            "ControlMaster=auto".into(),
            format!("ControlPath={}", self.control_path.display()),
            format!("ControlPersist={CONTROL_PERSIST_S}"),
            "ServerAliveInterval=2".into(),
            "ServerAliveCountMax=3".into(),
            "LogLevel=ERROR".into(),
        ] {
            cmd.arg("-o").arg(opt);
        }
        if let Some(key) = &o.identity_file {
            cmd.arg("-i").arg(key).arg("-o").arg("IdentitiesOnly=yes");
        }
        if o.strict_host_key_checking {
            cmd.arg("-o").arg("StrictHostKeyChecking=yes");
            if let Some(kh) = &o.known_hosts_file {
                cmd.arg("-o")
                    .arg(format!("UserKnownHostsFile={}", kh.display()));
            }
        } else {
            cmd.args(["-o", "StrictHostKeyChecking=no"]);
            cmd.args(["-o", "UserKnownHostsFile=/dev/null"]);
        }
        cmd.arg("-l").arg(&self.user).arg(&self.host.host);
        cmd
    }

    /// `script` as the remote command: `sh -c`, through `sudo -n` unless the user is root.
    fn remote(&self, script: &str) -> String {
        let sudo = if self.user == "root" { "" } else { "sudo -n " };
        format!("{sudo}sh -c {}", shell_quote(script))
    }

    /// Runs `script` on the host as root, its stdin from `stdin`, its stdout to `stdout` (or
    /// captured), all within `timeout` plus the connect timeout. Exit 255 (ssh's own failure)
    /// is an error explaining what ssh said.
    pub(super) fn call(
        &self,
        what: &str,
        script: &str,
        stdin: Option<File>,
        stdout: Option<File>,
        timeout: Duration,
    ) -> Result<Raw> {
        let mut cmd = self.ssh_command();
        cmd.arg(self.remote(script));
        let context = format!("{what} on {}", self.who());
        let raw = run(
            cmd,
            &context,
            stdin,
            stdout,
            timeout + self.options.connect_timeout,
        )?;
        if raw.code == Some(255) {
            return Err(Error::command(context, explain_ssh_failure(&raw.stderr)));
        }
        Ok(raw)
    }

    /// As [`SshNode::call`], failing unless the script exits 0.
    pub(super) fn call_ok(&self, what: &str, script: &str, timeout: Duration) -> Result<String> {
        let raw = self.call(what, script, None, None, timeout)?;
        if raw.code != Some(0) {
            return Err(Error::command(
                format!("{what} on {}", self.who()),
                format!(
                    "exited with {}: {}",
                    raw.code.map_or("a signal".into(), |c| c.to_string()),
                    raw.stderr.trim()
                ),
            ));
        }
        Ok(String::from_utf8_lossy(&raw.stdout).into_owned())
    }

    /// What the host lacks, by one call as the login user.
    pub(super) fn preflight(&self) -> Vec<Missing> {
        let script = scripts::preflight();
        // The check runs as the login user: it must not go through `remote`'s sudo.
        let mut cmd = self.ssh_command();
        cmd.arg(format!("sh -c {}", shell_quote(&script)));
        let who = self.who();
        let mut missing = Vec::new();
        let raw = match run(
            cmd,
            &format!("reaching {who}"),
            None,
            None,
            REMOTE_TIMEOUT + self.options.connect_timeout,
        ) {
            Ok(raw) => raw,
            Err(e) => {
                missing.push(Missing {
                    what: format!("{who} cannot be reached: {e}"),
                    fix: "check that the host is up and sshd listens on that port".into(),
                });
                return missing;
            }
        };
        if raw.code == Some(255) {
            missing.push(Missing {
                what: format!(
                    "{who} cannot be reached over ssh: {}",
                    explain_ssh_failure(&raw.stderr)
                ),
                fix: format!(
                    "check that `ssh -p {} {}@{}` works without a prompt",
                    self.port, self.user, self.host.host
                ),
            });
            return missing;
        }
        let out = String::from_utf8_lossy(&raw.stdout);
        *lock(&self.netem) = NetemSupport::from_preflight(&out);
        if out.lines().any(|l| l == "nosudo") {
            missing.push(Missing {
                what: format!(
                    "{who}: user {} is not root and has no passwordless sudo",
                    self.user
                ),
                fix: format!(
                    "log in as root, or allow `{} ALL=(ALL) NOPASSWD: ALL` in /etc/sudoers.d on \
                     that host",
                    self.user
                ),
            });
        }
        for line in out.lines() {
            if let Some(tool) = line.strip_prefix("lack=") {
                missing.push(Missing {
                    what: format!("{who}: `{tool}` is not installed (or not in PATH)"),
                    fix: format!("install it on that host ({})", package_of(tool)),
                });
            } else if line == "broken=iptables" {
                missing.push(Missing {
                    what: format!("{who}: `iptables -S INPUT` fails"),
                    fix: "if the host's kernel lacks nf_tables, use iptables-legacy there".into(),
                });
            }
        }
        if !out.lines().any(|l| l.starts_with("uid=")) {
            missing.push(Missing {
                what: format!("{who}: the check printed nothing: {}", raw.stderr.trim()),
                fix: "check that the login shell of that user is a POSIX shell".into(),
            });
        }
        missing
    }

    /// Ends the master connection (a no-op when there is none).
    pub(super) fn close_master(&self) {
        let mut cmd = self.ssh_command();
        cmd.args(["-O", "exit"]);
        let _ = run(
            cmd,
            "closing the ssh master",
            None,
            None,
            Duration::from_secs(5),
        );
    }
}

/// Whether the controller has the OpenSSH client.
pub(crate) fn check_client() -> Vec<Missing> {
    let mut cmd = Command::new("ssh");
    cmd.arg("-V");
    match run(cmd, "ssh -V", None, None, Duration::from_secs(5)) {
        Ok(raw) if raw.code == Some(0) => Vec::new(),
        _ => vec![Missing {
            what: "the OpenSSH client (`ssh`) is not installed on the controller".into(),
            fix: "install it with `apt-get install -y openssh-client`".into(),
        }],
    }
}

fn package_of(tool: &str) -> &'static str {
    match tool {
        "iptables" | "iptables-restore" => "`apt-get install -y iptables`",
        "ip" => "`apt-get install -y iproute2`",
        "setsid" => "`apt-get install -y util-linux`",
        _ => "`apt-get install -y coreutils sed`",
    }
}

/// Turns what ssh printed on failure into a sentence saying what to do.
fn explain_ssh_failure(stderr: &str) -> String {
    let said = stderr.trim();
    let hint = if said.contains("Permission denied") {
        "the host refused the key: add the public key to the user's authorized_keys there, or \
         pass the right identity file"
    } else if said.contains("Host key verification failed") || said.contains("No ED25519 host key")
    {
        "the host key is not in known_hosts (strict host-key checking is on): add it with \
         `ssh-keyscan`, or turn checking off for a lab"
    } else if said.contains("Connection refused") {
        "no sshd listens on that port"
    } else if said.contains("timed out")
        || said.contains("No route")
        || said.contains("unreachable")
    {
        "the host does not answer"
    } else if said.contains("Could not resolve") {
        "the host name does not resolve"
    } else {
        "ssh failed"
    };
    if said.is_empty() {
        hint.to_string()
    } else {
        format!("{hint} (ssh said: {})", said.replace('\n', " / "))
    }
}

/// Runs `cmd` in its own process group; stdin from `stdin` (else nothing), stdout to
/// `stdout` (else captured). Kills the group and fails once `timeout` has passed.
fn run(
    mut cmd: Command,
    what: &str,
    stdin: Option<File>,
    stdout: Option<File>,
    timeout: Duration,
) -> Result<Raw> {
    let capture = stdout.is_none();
    cmd.process_group(0)
        .stdin(stdin.map_or_else(Stdio::null, Stdio::from))
        .stdout(stdout.map_or_else(Stdio::piped, Stdio::from))
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::command(what.to_string(), format!("could not start ssh: {e}")))?;
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            _ => {
                kill_group(&mut child);
                return Err(Error::command(
                    what.to_string(),
                    format!("no answer within {} ms; gave up", timeout.as_millis()),
                ));
            }
        }
    };
    let stdout = out.join().unwrap_or_default();
    Ok(Raw {
        code: status.code(),
        stdout: if capture { stdout } else { Vec::new() },
        stderr: String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned(),
    })
}

fn kill_group(child: &mut Child) {
    let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
    let _ = child.wait();
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buf);
        }
        buf
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_failures_are_explained_for_the_user() {
        assert!(
            explain_ssh_failure("root@h: Permission denied (publickey).")
                .starts_with("the host refused the key")
        );
        assert!(explain_ssh_failure("Host key verification failed.").contains("known_hosts"));
        assert!(
            explain_ssh_failure("ssh: connect to host h port 22: Connection timed out")
                .starts_with("the host does not answer")
        );
    }
}
