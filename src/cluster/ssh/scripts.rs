//! The shell scripts faultline sends to a host, one function per script.
//!
//! Every script runs under a POSIX `sh` as root (see [`super::transport`]) and uses only the
//! commands the preflight checks for. Paths and words from the user are quoted with
//! [`shell_quote`]; nothing else is interpolated but numbers and faultline's own names.
//! A script that reports several things prints one `key=value` line each (`lack=ip`,
//! `left=the daemon`), which the caller picks out.

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::cluster::Daemon;

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

fn quote_path(path: &Path) -> String {
    shell_quote(&path.display().to_string())
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

/// What the host lacks, run as the login user: prints `uid=`, then `nosudo`, or one
/// `lack=<tool>` per missing command and `broken=iptables`, and what its kernel offers for
/// packet faults (`netem=`, see [`super::netem::PROBE`]).
pub(super) fn preflight() -> String {
    let tools = "iptables iptables-restore ip setsid nohup timeout date sed cut";
    let inner = format!(
        "for c in {tools}; do command -v $c >/dev/null 2>&1 || echo lack=$c; done; \
         command -v iptables >/dev/null 2>&1 && \
         {{ iptables -w 5 -S INPUT >/dev/null 2>&1 || echo broken=iptables; }}; {}exit 0",
        super::netem::PROBE
    );
    format!(
        "uid=$(id -u); echo uid=$uid; if [ \"$uid\" = 0 ]; then S=; \
         elif sudo -n true 2>/dev/null; then S='sudo -n'; \
         else echo nosudo; exit 0; fi; \
         $S sh -c {}",
        shell_quote(&inner)
    )
}

/// Creates the node directory and the run's empty chain, jumped to first in INPUT.
pub(super) fn setup(dir: &Path, chain: &str) -> String {
    format!(
        "mkdir -p {dir} && \
         printf '*filter\\n:{chain} - [0:0]\\n-I INPUT 1 -j {chain}\\nCOMMIT\\n' | \
         iptables-restore -w 5 --noflush",
        dir = quote_path(dir),
    )
}

/// Replaces the chain's rules with DROPs of `sources`.
pub(super) fn set_drops(chain: &str, sources: &[IpAddr]) -> String {
    let mut rules = format!("*filter\\n:{chain} - [0:0]\\n-F {chain}\\n");
    for s in sources {
        rules.push_str(&format!("-A {chain} -s {s} -j DROP\\n"));
    }
    rules.push_str("COMMIT\\n");
    format!("printf '{rules}' | iptables-restore -w 5 --noflush")
}

/// Kills the daemon's process group and waits for its leader.
pub(super) fn kill(pidfile: &Path) -> String {
    format!("{ALIVE_FN}{KILL_FN}killd {}\n", quote_path(pidfile))
}

/// Sends `signal` to the daemon's process group if its leader still lives.
pub(super) fn signal(pidfile: &Path, signal: Signal) -> String {
    format!(
        "{ALIVE_FN}P={p}\n\
         read pid ticks < \"$P\" 2>/dev/null || exit 0\n\
         if [ -e /proc/$pid ] && ! alive $pid $ticks; then exit 0; fi\n\
         kill -{sig} -$pid 2>/dev/null; exit 0\n",
        p = quote_path(pidfile),
        sig = signal.as_str().trim_start_matches("SIG"),
    )
}

/// Exits 0 exactly when the daemon lives.
pub(super) fn is_alive(pidfile: &Path) -> String {
    format!(
        "{ALIVE_FN}read pid ticks < {} 2>/dev/null && alive $pid $ticks",
        quote_path(pidfile)
    )
}

/// Starts `daemon` in its own session, its output stamped with the host's clock line by line
/// ([`crate::cluster::logstamp`]) and appended to `log`, and prints the pidfile
/// (`pid start_ticks`) once the leader has written it. The stamping loop is not in the
/// daemon's process group, so signals to the group miss it; it ends when the daemon's last
/// process has closed the pipe.
pub(super) fn spawn(daemon: &Daemon, dir: &Path, pidfile: &Path, log: &Path) -> String {
    let mut command: Vec<String> = vec!["env".into()];
    command.extend(daemon.env.iter().map(|(k, v)| format!("{k}={v}")));
    command.extend(daemon.argv.iter().cloned());
    let cwd = daemon.cwd.as_deref().unwrap_or(dir);
    let banner = format!(
        "--- faultline: starting {:?} at {} ---",
        daemon.argv,
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ")
    );
    // The leader writes its own pid and start time: `setsid` may fork, so `$!` could
    // name a process that is gone a moment later.
    let leader = r#"echo "$$ $(sed 's/.*) //' /proc/$$/stat | cut -d' ' -f20)" > "$1.tmp" && mv "$1.tmp" "$1"; shift; exec "$@""#;
    format!(
        "{ALIVE_FN}P={p}; L={l}\n\
         mkdir -p {dir}\n\
         if [ -f \"$P\" ] && read pid ticks < \"$P\" && alive $pid $ticks; then \
           echo \"a daemon is already running (pid $pid); kill it first\" >&2; exit 17; fi\n\
         rm -f \"$P\"\n\
         printf '%s\\n' {banner} >> \"$L\"\n\
         cd {cwd} || exit 16\n\
         setsid nohup sh -c {leader} faultline-daemon \"$P\" {command} 2>&1 < /dev/null \
           | setsid sh -c {stamper} >> \"$L\" 2>&1 &\n\
         i=0; while [ ! -s \"$P\" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done\n\
         [ -s \"$P\" ] || {{ echo 'the daemon did not record its pid within 5 s' >&2; exit 18; }}\n\
         cat \"$P\"\n",
        p = quote_path(pidfile),
        l = quote_path(log),
        dir = quote_path(dir),
        banner = shell_quote(&banner),
        cwd = quote_path(cwd),
        leader = shell_quote(leader),
        stamper = shell_quote(crate::cluster::logstamp::HOST_STAMPER),
        command = quote_all(&command),
    )
}

/// Runs `argv` in `dir` (else `/`) under the remote `timeout`, which kills the command on
/// the host too, not only the ssh client.
pub(super) fn exec(dir: &Path, argv: &[String], timeout: Duration) -> String {
    let secs = format!("{:.3}", timeout.as_secs_f64());
    format!(
        "cd {} 2>/dev/null || cd /; exec timeout -k 1 {secs} {}",
        quote_path(dir),
        quote_all(argv)
    )
}

/// Writes stdin to `dest` with `mode`, through a temporary file renamed into place.
pub(super) fn copy_in(dest: &Path, mode: u32) -> String {
    let dest_s = dest.display().to_string();
    let tmp = shell_quote(&format!("{dest_s}.faultline-part"));
    let parent = dest
        .parent()
        .map_or(".".into(), |p| p.display().to_string());
    format!(
        "mkdir -p {} && cat > {tmp} && chmod {mode:o} {tmp} && mv -f {tmp} {}",
        shell_quote(&parent),
        shell_quote(&dest_s)
    )
}

/// Prints the name of every `*.log` file in `dir`, one a line.
pub(super) fn list_logs(dir: &Path) -> String {
    format!(
        "cd {} && for f in *.log; do [ -f \"$f\" ] && echo \"$f\"; done; exit 0",
        quote_path(dir)
    )
}

/// Prints the file at `path`.
pub(super) fn cat(path: &Path) -> String {
    format!("cat {}", quote_path(path))
}

/// Prints the host's clock in nanoseconds since the epoch.
pub(super) fn read_clock(clock: &str) -> String {
    format!("{clock} +%s%N")
}

/// Steps the clock by `delta_ms` relative to its current reading.
pub(super) fn step(clock: &str, delta_ms: i64) -> String {
    format!(
        "ns=$(( $({clock} +%s%N) + ({delta_ms}) * 1000000 )) && \
         {clock} -s \"@$((ns / 1000000000)).$(printf %09d $((ns % 1000000000)))\" >/dev/null"
    )
}

/// Flips the clock `flips` times up by `delta_ms` and back, `period` apart, printing `up`
/// and `down` for each step made.
pub(super) fn strobe(clock: &str, delta_ms: i64, period: Duration, flips: u32) -> String {
    let up = step(clock, delta_ms);
    let down = step(clock, -delta_ms);
    let pause = format!("{:.3}", period.as_secs_f64());
    format!(
        "i=0; while [ $i -lt {flips} ]; do {{ {up}; }} && echo up && sleep {pause} && \
         {{ {down}; }} && echo down && sleep {pause} || exit 1; i=$((i+1)); done"
    )
}

/// Stops every active NTP unit, printing `stopped=<unit>` for each.
pub(super) fn stop_ntp() -> String {
    format!(
        "command -v systemctl >/dev/null 2>&1 || exit 0; for u in {}; do \
         if systemctl is-active --quiet $u 2>/dev/null; then \
         systemctl stop $u && echo stopped=$u; fi; done; exit 0",
        NTP_UNITS.join(" ")
    )
}

/// What teardown must undo on a host: everything faultline may have left there.
pub(super) struct Leftovers<'a> {
    pub pidfile: &'a Path,
    pub chain: &'a str,
    pub dir: &'a Path,
    pub clock_command: &'a str,
    /// Net clock shift still in force, milliseconds.
    pub shift_ms: i64,
    pub stopped_units: &'a [String],
}

/// Removes everything in `what`, idempotently, printing `left=<what>` for anything that
/// stays.
pub(super) fn teardown(what: &Leftovers) -> String {
    let chain = what.chain;
    let mut script = format!(
        "{ALIVE_FN}{KILL_FN}killd {} || echo left=the daemon\n",
        quote_path(what.pidfile)
    );
    script.push_str(&format!(
        "while iptables -w 5 -D INPUT -j {chain} 2>/dev/null; do :; done\n\
         iptables -w 5 -F {chain} 2>/dev/null; iptables -w 5 -X {chain} 2>/dev/null\n\
         if iptables -w 5 -S {chain} >/dev/null 2>&1; then echo left=the iptables chain {chain}; fi\n"
    ));
    if what.shift_ms != 0 {
        script.push_str(&format!(
            "{{ {}; }} || echo left=a clock shift of {} ms\n",
            step(what.clock_command, -what.shift_ms),
            what.shift_ms
        ));
    }
    for unit in what.stopped_units {
        script.push_str(&format!(
            "systemctl start {unit} || echo left=NTP unit {unit} stopped\n"
        ));
    }
    script.push_str(&super::netem::remove(what.dir));
    let dir = quote_path(what.dir);
    script.push_str(&format!(
        "rm -rf {dir}; [ -e {dir} ] && echo left=directory {dir}; exit 0\n"
    ));
    script
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

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
    fn a_clock_step_script_moves_a_stand_in_clock_by_the_delta() {
        // A stand-in `date` that prints a fixed time and echoes what it is asked to set.
        let script = step("fake", -1500);
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
