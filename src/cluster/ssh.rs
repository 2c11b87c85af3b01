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
//! lean login shell answers a multiplexed call in a round trip plus a few ms.

use std::fmt;
use std::fs::{self, File};
use std::io::Read;
use std::net::{IpAddr, ToSocketAddrs};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use super::preflight::{Missing, PreflightError};
use super::{on_all, state, Backend, BackendKind, Daemon, Error, Grudge, Node, Output, Result};

/// Every run's chain on a host is called this, followed by the run id.
pub const CHAIN_PREFIX: &str = "FAULTLINE-";
/// Teardown attempts per host before it reports the host's leftovers.
const TEARDOWN_ATTEMPTS: u32 = 3;
/// Time allowed to each remote housekeeping command (rules, pidfile, clock), on top of the
/// connect timeout.
const REMOTE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a master connection outlives its last use: a controller killed without teardown
/// leaves no ssh process behind for longer than this.
const CONTROL_PERSIST_S: u64 = 60;
/// NTP daemons stopped (if active) before a host's clock is stepped.
const NTP_UNITS: [&str; 7] = [
    "systemd-timesyncd",
    "chrony",
    "chronyd",
    "ntp",
    "ntpd",
    "ntpsec",
    "openntpd",
];

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

/// Quotes `word` for a POSIX shell.
pub fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b))
    {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

fn quote_all(words: &[String]) -> String {
    words
        .iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `alive PID TICKS`: whether that very process lives (not a zombie, not a later process
/// with the same pid). Prepended to every script that reads a pidfile.
const ALIVE_FN: &str = r#"alive() {
  st=$(sed 's/.*) //' /proc/$1/stat 2>/dev/null | cut -d' ' -f1,20) || return 1
  [ -n "$st" ] || return 1
  [ "${st##* }" = "$2" ] || return 1
  case "${st%% *}" in Z|X) return 1;; esac
  return 0
}
"#;

/// `killd PIDFILE`: SIGCONT then SIGKILL to the recorded process group, waiting up to 5 s
/// for its leader to die; a missing pidfile or a dead daemon is success.
const KILL_FN: &str = r#"killd() {
  [ -f "$1" ] || return 0
  read pid ticks < "$1" || return 0
  if [ -e /proc/$pid ] && ! alive $pid $ticks; then rm -f "$1"; return 0; fi
  kill -CONT -$pid 2>/dev/null; kill -KILL -$pid 2>/dev/null
  i=0; while alive $pid $ticks && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
  if alive $pid $ticks; then echo "process group $pid did not die within 5 s of SIGKILL" >&2; return 19; fi
  rm -f "$1"
}
"#;

/// What a remote call returned, raw.
struct Raw {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

/// Clock bookkeeping of one host, so that teardown can put it back.
#[derive(Default, Debug)]
struct ClockState {
    /// Net shift faultline applied, milliseconds.
    shift_ms: i64,
    /// Whether the NTP units were looked at (and the active ones stopped).
    ntp_handled: bool,
    /// NTP units faultline stopped, to start again at teardown.
    stopped_units: Vec<String>,
}

/// A clock reading: the host's clock minus the controller's, measured over one round trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ClockOffset {
    pub offset_ms: i64,
    /// Half the round trip: the reading is right within this.
    pub uncertainty_ms: i64,
}

/// One host.
pub struct SshNode {
    name: String,
    host: SshHost,
    user: String,
    port: u16,
    address: IpAddr,
    dir: PathBuf,
    options: Arc<SshOptions>,
    control_path: PathBuf,
    chain: String,
    /// The last daemon started, for restarts.
    daemon: Mutex<Option<Daemon>>,
    /// Process group of the daemon, as last read from the pidfile (for reports).
    pgid: Mutex<Option<i32>>,
    /// Whether setup created anything on the host (then teardown must visit it).
    touched: Mutex<bool>,
    clock: Mutex<ClockState>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SshNode {
    /// `user@host:port`, as messages name the host.
    pub fn destination(&self) -> String {
        format!("{}@{}:{}", self.user, self.host.host, self.port)
    }

    fn who(&self) -> String {
        format!("node {} ({})", self.name, self.destination())
    }

    fn pidfile(&self) -> PathBuf {
        self.dir.join("daemon.pid")
    }

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
    fn call(
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
    fn call_ok(&self, what: &str, script: &str, timeout: Duration) -> Result<String> {
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
    fn preflight(&self) -> Vec<Missing> {
        let tools = "iptables iptables-restore ip setsid nohup timeout date sed cut";
        let inner = format!(
            "for c in {tools}; do command -v $c >/dev/null 2>&1 || echo lack=$c; done; \
             command -v iptables >/dev/null 2>&1 && \
             {{ iptables -w 5 -S INPUT >/dev/null 2>&1 || echo broken=iptables; }}; exit 0"
        );
        let script = format!(
            "uid=$(id -u); echo uid=$uid; if [ \"$uid\" = 0 ]; then S=; \
             elif sudo -n true 2>/dev/null; then S='sudo -n'; \
             else echo nosudo; exit 0; fi; \
             $S sh -c {}",
            shell_quote(&inner)
        );
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

    /// Node directory and the empty chain, jumped to first in INPUT.
    fn setup(&self) -> Result<()> {
        *lock(&self.touched) = true;
        let chain = &self.chain;
        let script = format!(
            "mkdir -p {dir} && \
             printf '*filter\\n:{chain} - [0:0]\\n-I INPUT 1 -j {chain}\\nCOMMIT\\n' | \
             iptables-restore -w 5 --noflush",
            dir = shell_quote(&self.dir.display().to_string()),
        );
        self.call_ok(
            "creating the node directory and rules",
            &script,
            REMOTE_TIMEOUT,
        )?;
        Ok(())
    }

    /// Replaces the chain's rules with DROPs of `sources`.
    fn set_drops(&self, sources: &[IpAddr]) -> Result<()> {
        let chain = &self.chain;
        let mut rules = format!("*filter\\n:{chain} - [0:0]\\n-F {chain}\\n");
        for s in sources {
            rules.push_str(&format!("-A {chain} -s {s} -j DROP\\n"));
        }
        rules.push_str("COMMIT\\n");
        let script = format!("printf '{rules}' | iptables-restore -w 5 --noflush");
        self.call_ok("setting the partition rules", &script, REMOTE_TIMEOUT)?;
        Ok(())
    }

    /// The remote script that kills the daemon's process group and waits for its leader.
    fn kill_script(&self) -> String {
        format!(
            "{ALIVE_FN}{KILL_FN}killd {}\n",
            shell_quote(&self.pidfile().display().to_string())
        )
    }

    fn spawn(&self, daemon: &Daemon) -> Result<()> {
        if daemon.argv.is_empty() {
            return Err(Error::Invalid("a daemon needs a program to run".into()));
        }
        let mut command: Vec<String> = vec!["env".into()];
        command.extend(daemon.env.iter().map(|(k, v)| format!("{k}={v}")));
        command.extend(daemon.argv.iter().cloned());
        let cwd = daemon.cwd.as_deref().unwrap_or(&self.dir);
        let banner = format!(
            "--- faultline: starting {:?} at {} ---",
            daemon.argv,
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ")
        );
        // The leader writes its own pid and start time: `setsid` may fork, so `$!` could
        // name a process that is gone a moment later.
        let leader = r#"echo "$$ $(sed 's/.*) //' /proc/$$/stat | cut -d' ' -f20)" > "$1.tmp" && mv "$1.tmp" "$1"; shift; exec "$@""#;
        let script = format!(
            "{ALIVE_FN}P={p}; L={l}\n\
             mkdir -p {dir}\n\
             if [ -f \"$P\" ] && read pid ticks < \"$P\" && alive $pid $ticks; then \
               echo \"a daemon is already running (pid $pid); kill it first\" >&2; exit 17; fi\n\
             rm -f \"$P\"\n\
             printf '%s\\n' {banner} >> \"$L\"\n\
             cd {cwd} || exit 16\n\
             setsid nohup sh -c {leader} faultline-daemon \"$P\" {command} >> \"$L\" 2>&1 < /dev/null &\n\
             i=0; while [ ! -s \"$P\" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done\n\
             [ -s \"$P\" ] || {{ echo 'the daemon did not record its pid within 5 s' >&2; exit 18; }}\n\
             cat \"$P\"\n",
            p = shell_quote(&self.pidfile().display().to_string()),
            l = shell_quote(&self.log_path().display().to_string()),
            dir = shell_quote(&self.dir.display().to_string()),
            banner = shell_quote(&banner),
            cwd = shell_quote(&cwd.display().to_string()),
            leader = shell_quote(leader),
            command = quote_all(&command),
        );
        let out = self.call_ok(
            &format!("starting {:?}", daemon.argv),
            &script,
            REMOTE_TIMEOUT,
        )?;
        *lock(&self.pgid) = out.split_whitespace().next().and_then(|p| p.parse().ok());
        *lock(&self.daemon) = Some(daemon.clone());
        Ok(())
    }

    /// Steps the host's clock by `delta_ms`, first stopping any active NTP unit (once).
    pub fn shift_clock(&self, delta_ms: i64) -> Result<()> {
        self.stop_ntp()?;
        let script = step_script(&self.options.clock_command, delta_ms);
        let mut clock = lock(&self.clock);
        self.call_ok(
            &format!("shifting the clock by {delta_ms} ms"),
            &script,
            REMOTE_TIMEOUT,
        )?;
        clock.shift_ms += delta_ms;
        Ok(())
    }

    /// Flips the clock `flips` times between +`delta_ms` and back, `period` apart, ending
    /// where it began; returns the number of steps made.
    pub fn strobe_clock(&self, delta_ms: i64, period: Duration, flips: u32) -> Result<u32> {
        self.stop_ntp()?;
        let up = step_script(&self.options.clock_command, delta_ms);
        let down = step_script(&self.options.clock_command, -delta_ms);
        let pause = format!("{:.3}", period.as_secs_f64());
        let script = format!(
            "i=0; while [ $i -lt {flips} ]; do {{ {up}; }} && echo up && sleep {pause} && \
             {{ {down}; }} && echo down && sleep {pause} || exit 1; i=$((i+1)); done"
        );
        let bound = period * 2 * flips + REMOTE_TIMEOUT;
        let mut clock = lock(&self.clock);
        let raw = self.call("strobing the clock", &script, None, None, bound);
        // Count the steps that happened, even when the strobe failed half-way.
        let (steps, result) = match raw {
            Ok(raw) => {
                let out = String::from_utf8_lossy(&raw.stdout);
                let ups = out.lines().filter(|l| *l == "up").count() as i64;
                let downs = out.lines().filter(|l| *l == "down").count() as i64;
                clock.shift_ms += (ups - downs) * delta_ms;
                let failed = raw.code != Some(0);
                (
                    (ups + downs) as u32,
                    if failed {
                        Err(Error::command(
                            format!("strobing the clock of {}", self.who()),
                            raw.stderr.trim().to_string(),
                        ))
                    } else {
                        Ok(())
                    },
                )
            }
            Err(e) => (0, Err(e)),
        };
        result.map(|()| steps)
    }

    /// Undoes every shift faultline made to this host's clock.
    pub fn reset_clock(&self) -> Result<()> {
        let mut clock = lock(&self.clock);
        if clock.shift_ms != 0 {
            let script = step_script(&self.options.clock_command, -clock.shift_ms);
            self.call_ok("resetting the clock", &script, REMOTE_TIMEOUT)?;
            clock.shift_ms = 0;
        }
        Ok(())
    }

    /// The host's clock minus the controller's, read with the clock command.
    pub fn clock_offset(&self) -> Result<ClockOffset> {
        let script = format!("{} +%s%N", self.options.clock_command);
        let before = unix_ns();
        let out = self.call_ok("reading the clock", &script, REMOTE_TIMEOUT)?;
        let after = unix_ns();
        let remote: i128 = out.trim().parse().map_err(|_| {
            Error::command(
                format!("reading the clock of {}", self.who()),
                format!("`{script}` printed {:?}, not nanoseconds", out.trim()),
            )
        })?;
        let mid = (before + after) / 2;
        Ok(ClockOffset {
            offset_ms: ((remote - mid) / 1_000_000) as i64,
            uncertainty_ms: ((after - before) / 2_000_000) as i64,
        })
    }

    /// The net shift faultline has applied to this host's clock, milliseconds.
    pub fn clock_shift_ms(&self) -> i64 {
        lock(&self.clock).shift_ms
    }

    fn stop_ntp(&self) -> Result<()> {
        let mut clock = lock(&self.clock);
        if clock.ntp_handled {
            return Ok(());
        }
        let script = format!(
            "command -v systemctl >/dev/null 2>&1 || exit 0; for u in {}; do \
             if systemctl is-active --quiet $u 2>/dev/null; then \
             systemctl stop $u && echo stopped=$u; fi; done; exit 0",
            NTP_UNITS.join(" ")
        );
        let out = self.call_ok("stopping NTP", &script, REMOTE_TIMEOUT)?;
        clock.stopped_units = out
            .lines()
            .filter_map(|l| l.strip_prefix("stopped="))
            .map(str::to_string)
            .collect();
        clock.ntp_handled = true;
        Ok(())
    }

    /// Everything faultline may have left on this host, removed in one idempotent script.
    /// Returns what is still there.
    fn teardown_once(&self) -> Result<Vec<String>> {
        let clock = lock(&self.clock);
        let chain = &self.chain;
        let mut script = format!(
            "{ALIVE_FN}{KILL_FN}killd {} || echo left=the daemon\n",
            shell_quote(&self.pidfile().display().to_string())
        );
        script.push_str(&format!(
            "while iptables -w 5 -D INPUT -j {chain} 2>/dev/null; do :; done\n\
             iptables -w 5 -F {chain} 2>/dev/null; iptables -w 5 -X {chain} 2>/dev/null\n\
             if iptables -w 5 -S {chain} >/dev/null 2>&1; then echo left=the iptables chain {chain}; fi\n"
        ));
        if clock.shift_ms != 0 {
            script.push_str(&format!(
                "{{ {}; }} || echo left=a clock shift of {} ms\n",
                step_script(&self.options.clock_command, -clock.shift_ms),
                clock.shift_ms
            ));
        }
        for unit in &clock.stopped_units {
            script.push_str(&format!(
                "systemctl start {unit} || echo left=NTP unit {unit} stopped\n"
            ));
        }
        let dir = shell_quote(&self.dir.display().to_string());
        script.push_str(&format!(
            "rm -rf {dir}; [ -e {dir} ] && echo left=directory {dir}; exit 0\n"
        ));
        drop(clock);
        let out = self.call_ok("tearing down", &script, REMOTE_TIMEOUT)?;
        let mut clock = lock(&self.clock);
        clock.shift_ms = 0;
        clock.stopped_units.clear();
        Ok(out
            .lines()
            .filter_map(|l| l.strip_prefix("left="))
            .map(|l| format!("{}: {l}", self.who()))
            .collect())
    }

    /// What teardown would have removed, for a host it could not reach.
    fn unreachable_leftovers(&self, error: &Error) -> String {
        let clock = lock(&self.clock);
        let mut parts = vec![
            format!(
                "the daemon{}",
                lock(&self.pgid).map_or(String::new(), |p| format!(" (process group {p})"))
            ),
            format!("the iptables chain {}", self.chain),
            format!("directory {}", self.dir.display()),
        ];
        if clock.shift_ms != 0 {
            parts.push(format!("a clock shift of {} ms", clock.shift_ms));
        }
        if !clock.stopped_units.is_empty() {
            parts.push(format!(
                "stopped NTP unit(s) {}",
                clock.stopped_units.join(", ")
            ));
        }
        format!(
            "{}: unreachable after {TEARDOWN_ATTEMPTS} attempts ({error}); may still hold {}",
            self.who(),
            parts.join(", ")
        )
    }

    /// Tears this host down, retrying a host that does not answer.
    fn teardown(&self) -> Vec<String> {
        if !*lock(&self.touched) {
            self.close_master();
            return Vec::new();
        }
        let mut last = None;
        for attempt in 0..TEARDOWN_ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(Duration::from_secs(1));
            }
            match self.teardown_once() {
                Ok(left) => {
                    *lock(&self.touched) = false;
                    self.close_master();
                    return left;
                }
                Err(e) => last = Some(e),
            }
        }
        self.close_master();
        let error = last.expect("at least one attempt");
        vec![self.unreachable_leftovers(&error)]
    }

    /// Ends the master connection (a no-op when there is none).
    fn close_master(&self) {
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

/// A script stepping the clock by `delta_ms` relative to its current reading.
fn step_script(clock: &str, delta_ms: i64) -> String {
    format!(
        "ns=$(( $({clock} +%s%N) + ({delta_ms}) * 1000000 )) && \
         {clock} -s \"@$((ns / 1000000000)).$(printf %09d $((ns % 1000000000)))\" >/dev/null"
    )
}

fn unix_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
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

impl Node for SshNode {
    fn name(&self) -> &str {
        &self.name
    }

    fn address(&self) -> IpAddr {
        self.address
    }

    fn dir(&self) -> &Path {
        &self.dir
    }

    fn exec(&self, argv: &[String], timeout: Duration) -> Result<Output> {
        if argv.is_empty() {
            return Err(Error::Invalid("exec needs a program to run".into()));
        }
        // The remote `timeout` kills the command on the host too, not only our ssh client.
        let secs = format!("{:.3}", timeout.as_secs_f64());
        let script = format!(
            "cd {} 2>/dev/null || cd /; exec timeout -k 1 {secs} {}",
            shell_quote(&self.dir.display().to_string()),
            quote_all(argv)
        );
        let started = Instant::now();
        let raw = self.call(
            &format!("{argv:?}"),
            &script,
            None,
            None,
            timeout + Duration::from_secs(2),
        )?;
        if matches!(raw.code, Some(124) | Some(137)) && started.elapsed() >= timeout {
            return Err(Error::command(
                format!("{argv:?} on {}", self.who()),
                format!("no answer within {} ms; killed", timeout.as_millis()),
            ));
        }
        Ok(Output {
            code: raw.code,
            stdout: String::from_utf8_lossy(&raw.stdout).into_owned(),
            stderr: raw.stderr,
        })
    }

    fn spawn_daemon(&self, daemon: &Daemon) -> Result<()> {
        self.spawn(daemon)
    }

    fn signal(&self, signal: Signal) -> Result<()> {
        if lock(&self.daemon).is_none() {
            return Err(Error::Invalid(format!(
                "no daemon was started on {}",
                self.who()
            )));
        }
        let script = format!(
            "{ALIVE_FN}P={p}\n\
             read pid ticks < \"$P\" 2>/dev/null || exit 0\n\
             if [ -e /proc/$pid ] && ! alive $pid $ticks; then exit 0; fi\n\
             kill -{sig} -$pid 2>/dev/null; exit 0\n",
            p = shell_quote(&self.pidfile().display().to_string()),
            sig = signal.as_str().trim_start_matches("SIG"),
        );
        self.call_ok(&format!("sending {signal}"), &script, REMOTE_TIMEOUT)?;
        Ok(())
    }

    fn is_alive(&self) -> bool {
        let script = format!(
            "{ALIVE_FN}read pid ticks < {} 2>/dev/null && alive $pid $ticks",
            shell_quote(&self.pidfile().display().to_string())
        );
        match self.call("checking the daemon", &script, None, None, REMOTE_TIMEOUT) {
            Ok(raw) => raw.code == Some(0),
            Err(e) => {
                tracing::warn!("{e}");
                false
            }
        }
    }

    fn kill(&self) -> Result<()> {
        self.call_ok("killing the daemon", &self.kill_script(), REMOTE_TIMEOUT)?;
        Ok(())
    }

    fn restart(&self) -> Result<()> {
        self.kill()?;
        let daemon = lock(&self.daemon).clone().ok_or_else(|| {
            Error::Invalid(format!(
                "no daemon was started on {}, so none can be restarted",
                self.who()
            ))
        })?;
        self.spawn(&daemon)
    }

    fn copy_in(&self, local: &Path, dest: &Path) -> Result<()> {
        let file =
            File::open(local).map_err(|e| Error::io(format!("opening {}", local.display()), e))?;
        let mode = file
            .metadata()
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o644);
        let dest_s = dest.display().to_string();
        let tmp = shell_quote(&format!("{dest_s}.faultline-part"));
        let parent = dest
            .parent()
            .map_or(".".into(), |p| p.display().to_string());
        let script = format!(
            "mkdir -p {} && cat > {tmp} && chmod {mode:o} {tmp} && mv -f {tmp} {}",
            shell_quote(&parent),
            shell_quote(&dest_s)
        );
        let size = fs::metadata(local).map_or(0, |m| m.len());
        // A generous allowance for slow links: 1 MB/s on top of the usual bound.
        let timeout = REMOTE_TIMEOUT + Duration::from_secs(size / 1_000_000);
        let raw = self.call(
            &format!("copying {} to {dest_s}", local.display()),
            &script,
            Some(file),
            None,
            timeout,
        )?;
        if raw.code != Some(0) {
            return Err(Error::command(
                format!("copying {} to {dest_s} on {}", local.display(), self.who()),
                raw.stderr.trim().to_string(),
            ));
        }
        Ok(())
    }

    fn fetch_logs(&self, dest_dir: &Path) -> Result<Vec<PathBuf>> {
        fs::create_dir_all(dest_dir)
            .map_err(|e| Error::io(format!("creating {}", dest_dir.display()), e))?;
        let dir = shell_quote(&self.dir.display().to_string());
        let list = self.call_ok(
            "listing the logs",
            &format!("cd {dir} && for f in *.log; do [ -f \"$f\" ] && echo \"$f\"; done; exit 0"),
            REMOTE_TIMEOUT,
        )?;
        let mut copied = Vec::new();
        for name in list.lines().filter(|l| !l.is_empty() && !l.contains('/')) {
            let dest = dest_dir.join(name);
            let file = File::create(&dest)
                .map_err(|e| Error::io(format!("creating {}", dest.display()), e))?;
            let remote = shell_quote(&self.dir.join(name).display().to_string());
            let raw = self.call(
                &format!("fetching {name}"),
                &format!("cat {remote}"),
                None,
                Some(file),
                REMOTE_TIMEOUT * 6,
            )?;
            if raw.code != Some(0) {
                return Err(Error::command(
                    format!("fetching {name} from {}", self.who()),
                    raw.stderr.trim().to_string(),
                ));
            }
            copied.push(dest);
        }
        copied.sort();
        Ok(copied)
    }
}

/// A run on real hosts.
pub struct SshCluster {
    run_id: String,
    ssh_nodes: Vec<Arc<SshNode>>,
    nodes: Vec<Arc<dyn Node>>,
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

/// The file in a run's state directory that records how to reach its hosts.
const OPTIONS_FILE: &str = "ssh.json";

/// `faultline clean` for a dead ssh run: reaches every host named in the run's `ssh.json`
/// and removes what faultline may have left there (daemon, chain, node directory). Clock
/// shifts and stopped NTP units were known only to the dead controller and are reported as
/// unknown. Returns (removed, failed).
pub(crate) fn clean_run(
    run_id: &str,
    state_dir: &Path,
    names: &[String],
) -> (Vec<String>, Vec<String>) {
    let saved = state_dir.join(OPTIONS_FILE);
    let options: SshOptions = match fs::read_to_string(&saved)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
    {
        Some(o) => o,
        None => {
            return (
                Vec::new(),
                vec![format!(
                    "run {run_id}: {} is missing or unreadable, so its hosts are unknown",
                    saved.display()
                )],
            )
        }
    };
    let cluster = match SshCluster::new(run_id, names, &options) {
        Ok(c) => c,
        Err(e) => return (Vec::new(), vec![format!("run {run_id}: {e}")]),
    };
    let _ = fs::create_dir_all(state_dir.join("ssh"));
    let (mut removed, mut failed) = (Vec::new(), Vec::new());
    for (node, left) in cluster
        .ssh_nodes
        .iter()
        .zip(on_all(&cluster.ssh_nodes, |n| {
            *lock(&n.touched) = true;
            n.teardown()
        }))
    {
        if left.is_empty() {
            removed.push(format!(
                "{}: daemon, chain {} and directory {} of run {run_id} (any clock shift the \
                 dead controller made is unknown; check the host's clock)",
                node.who(),
                node.chain,
                node.dir.display()
            ));
        } else {
            failed.extend(left);
        }
    }
    (removed, failed)
}

fn resolve(host: &str, port: u16) -> std::io::Result<IpAddr> {
    (host, port)
        .to_socket_addrs()?
        .map(|a| a.ip())
        .next()
        .ok_or_else(|| std::io::Error::other("no address"))
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

    fn as_ssh(&self) -> Option<&SshCluster> {
        Some(self)
    }
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

    #[test]
    fn shell_quoting_survives_quotes_and_spaces() {
        assert_eq!(shell_quote("plain-word_1.0"), "plain-word_1.0");
        assert_eq!(shell_quote("it's a b"), r"'it'\''s a b'");
        assert_eq!(shell_quote(""), "''");
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", shell_quote("$HOME `x` 'y' \"z\"")))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "$HOME `x` 'y' \"z\"");
    }

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

    #[test]
    fn a_clock_step_script_moves_a_stand_in_clock_by_the_delta() {
        // A stand-in `date` that prints a fixed time and echoes what it is asked to set.
        let script = step_script("fake", -1500);
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "fake() {{ if [ \"$1\" = -s ]; then echo \"$2\" >&2; else echo 1000000000000000000; fi; }}; {script}"
            ))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim(),
            "@999999998.500000000"
        );
    }
}
