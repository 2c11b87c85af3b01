//! Processes on the controller's machine, shared by the `local` and `loopback` backends:
//! commands run to completion under a deadline, and daemons in their own process group with
//! their output in a log file and their identity in a pidfile.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

use super::state::{self, ProcessId};
use super::{Daemon, Error, Output, Result};

/// How long a killed process may take to be reaped before we give up waiting.
const REAP_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs `cmd` in its own process group with no stdin, collecting its output; kills the group
/// and fails once `timeout` has passed.
pub(crate) fn run(mut cmd: Command, what: &str, timeout: Duration) -> Result<Output> {
    run_with_input(&mut cmd, what, None, timeout)
}

/// As [`run`], writing `input` to the command's stdin first.
pub(crate) fn run_with_input(
    cmd: &mut Command,
    what: &str,
    input: Option<&[u8]>,
    timeout: Duration,
) -> Result<Output> {
    cmd.process_group(0)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::command(what.to_string(), format!("could not start: {e}")))?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        // A command that exits without reading its input is judged by its exit status.
        let _ = stdin.write_all(input);
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let group = Pid::from_raw(child.id() as i32);
    let status = match wait_until(&mut child, deadline) {
        Some(status) => status,
        None => {
            let _ = killpg(group, Signal::SIGKILL);
            let _ = child.wait();
            return Err(Error::command(
                what.to_string(),
                format!("no answer within {} ms; killed", timeout.as_millis()),
            ));
        }
    };
    // A background child left by the command may hold the pipes open forever; a command run
    // to completion leaves nothing behind, so past the deadline its group is killed.
    while !(stdout.is_finished() && stderr.is_finished()) {
        if Instant::now() >= deadline {
            let _ = killpg(group, Signal::SIGKILL);
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(Output {
        code: status.code(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// As [`run_with_input`], but a non-zero exit is an error carrying the command's stderr.
pub(crate) fn run_ok(
    cmd: &mut Command,
    what: &str,
    input: Option<&[u8]>,
    timeout: Duration,
) -> Result<Output> {
    let out = run_with_input(cmd, what, input, timeout)?;
    if out.success() {
        Ok(out)
    } else {
        Err(Error::command(
            what.to_string(),
            format!(
                "exited with {}: {}",
                out.code.map_or("a signal".into(), |c| c.to_string()),
                out.stderr.trim()
            ),
        ))
    }
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buf);
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Polls `child` until it exits or `deadline` passes, backing off from 1 ms to 20 ms so that
/// short commands return quickly without spinning on long ones.
fn wait_until(child: &mut Child, deadline: Instant) -> Option<std::process::ExitStatus> {
    let mut pause = Duration::from_millis(1);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Copies `pipe` into `log` line by line, each line stamped `[  12.345678s] ` with the
/// seconds since `origin` at the moment it was read. Ends when the daemon's side closes.
fn stamp_lines(
    pipe: impl Read + Send + 'static,
    log: Arc<Mutex<File>>,
    origin: Instant,
) -> std::io::Result<()> {
    use std::io::BufRead;
    std::thread::Builder::new()
        .name("daemon-log".into())
        .spawn(move || {
            let mut reader = std::io::BufReader::new(pipe);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                if line.last() != Some(&b'\n') {
                    line.push(b'\n');
                }
                let stamp = super::logstamp::prefix(origin.elapsed().as_secs_f64());
                let mut file = log.lock().unwrap_or_else(|p| p.into_inner());
                let _ = file.write_all(stamp.as_bytes());
                let _ = file.write_all(&line);
            }
        })
        .map(|_| ())
}

/// The one daemon a node runs, with the command that started it (for restarts).
pub(crate) struct DaemonSlot {
    node_dir: PathBuf,
    log_path: PathBuf,
    inner: Mutex<SlotInner>,
}

#[derive(Default)]
struct SlotInner {
    child: Option<Child>,
    daemon: Option<Daemon>,
    /// faultline is ending the daemon (a kill, a restart, teardown): its exit is no news.
    ending: bool,
    /// Its unexpected exit was reported already.
    reported: bool,
    /// An unexpected exit found by a kill or restart before the watcher saw it; reported
    /// next, whatever the daemon does since.
    pending: Option<super::Exit>,
}

impl DaemonSlot {
    pub fn new(node_dir: PathBuf, log_path: PathBuf) -> DaemonSlot {
        DaemonSlot {
            node_dir,
            log_path,
            inner: Mutex::new(SlotInner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts `daemon`; `command` turns it into the [`Command`] that runs it on the node
    /// (wrapped in `ip netns exec` for a namespace, as is for loopback).
    pub fn spawn(&self, daemon: &Daemon, command: impl Fn(&Daemon) -> Command) -> Result<()> {
        let mut inner = self.lock();
        if let Some(child) = inner.child.as_mut() {
            if matches!(child.try_wait(), Ok(None)) {
                return Err(Error::Invalid(format!(
                    "a daemon is already running in {} (pid {}); kill it first",
                    self.node_dir.display(),
                    child.id()
                )));
            }
        }
        if daemon.argv.is_empty() {
            return Err(Error::Invalid("a daemon needs a program to run".into()));
        }
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|e| Error::io(format!("opening {}", self.log_path.display()), e))?;
        let _ = writeln!(
            log,
            "--- faultline: starting {:?} at {} ---",
            daemon.argv,
            chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ")
        );
        let origin = super::logstamp::origin();
        let mut cmd = command(daemon);
        cmd.current_dir(daemon.cwd.as_deref().unwrap_or(&self.node_dir))
            .envs(&daemon.env)
            .env(MARK_VAR, &self.node_dir)
            .process_group(0)
            .stdin(Stdio::null());
        if origin.is_some() {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        } else {
            let err_log = log
                .try_clone()
                .map_err(|e| Error::io(format!("opening {}", self.log_path.display()), e))?;
            cmd.stdout(
                log.try_clone()
                    .map_err(|e| Error::io(format!("opening {}", self.log_path.display()), e))?,
            )
            .stderr(err_log);
        }
        let mut child = cmd.spawn().map_err(|e| {
            Error::command(
                format!("starting {:?}", daemon.argv),
                format!("could not start: {e}"),
            )
        })?;
        if let Some(origin) = origin {
            let log = Arc::new(Mutex::new(log));
            let pipes = [
                child
                    .stdout
                    .take()
                    .map(|p| Box::new(p) as Box<dyn Read + Send>),
                child
                    .stderr
                    .take()
                    .map(|p| Box::new(p) as Box<dyn Read + Send>),
            ];
            for pipe in pipes.into_iter().flatten() {
                stamp_lines(pipe, log.clone(), origin)
                    .map_err(|e| Error::io("starting a log thread".to_string(), e))?;
            }
        }
        let id = ProcessId::of(child.id() as i32).unwrap_or(ProcessId {
            pid: child.id() as i32,
            start_ticks: 0,
        });
        let pidfile = state::pidfile(&self.node_dir);
        fs::write(&pidfile, id.to_line())
            .map_err(|e| Error::io(format!("writing {}", pidfile.display()), e))?;
        inner.child = Some(child);
        inner.daemon = Some(daemon.clone());
        inner.ending = false;
        inner.reported = false;
        Ok(())
    }

    /// Sends `signal` to the daemon's process group.
    pub fn signal(&self, signal: Signal) -> Result<()> {
        let inner = self.lock();
        let Some(child) = inner.child.as_ref() else {
            return Err(Error::Invalid(format!(
                "no daemon was started in {}",
                self.node_dir.display()
            )));
        };
        // ESRCH: the group is gone already, which is what a signal to a dead daemon means.
        match killpg(Pid::from_raw(child.id() as i32), signal) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
            Err(e) => Err(Error::command(
                format!("sending {signal} to pid {}", child.id()),
                e.to_string(),
            )),
        }
    }

    pub fn is_alive(&self) -> bool {
        let mut inner = self.lock();
        inner
            .child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The daemon's exit nobody asked for, once (see [`super::Node::unexpected_exit`]).
    pub fn unexpected_exit(&self) -> Option<super::Exit> {
        let mut inner = self.lock();
        if let Some(exit) = inner.pending.take() {
            return Some(exit);
        }
        if inner.ending || inner.reported {
            return None;
        }
        let status = inner.child.as_mut()?.try_wait().ok()??;
        inner.reported = true;
        Some(super::Exit::of(status))
    }

    /// SIGCONT then SIGKILL to the group, and reaps the leader. A no-op without a daemon.
    pub fn kill(&self) -> Result<()> {
        let mut inner = self.lock();
        // A daemon that already died on its own is still news until the watcher has seen
        // it: killing or restarting it does not take that away.
        if !inner.reported && !inner.ending {
            if let Some(Ok(Some(status))) = inner.child.as_mut().map(|c| c.try_wait()) {
                inner.pending = Some(super::Exit::of(status));
                inner.reported = true;
            }
        }
        inner.ending = true;
        let Some(child) = inner.child.as_mut() else {
            return Ok(());
        };
        let group = Pid::from_raw(child.id() as i32);
        let _ = killpg(group, Signal::SIGCONT);
        let _ = killpg(group, Signal::SIGKILL);
        // What the store daemonised into a session of its own left the group: find it by mark.
        kill_marked(&self.node_dir);
        if wait_until(child, Instant::now() + REAP_TIMEOUT).is_none() {
            return Err(Error::command(
                format!("killing pid {}", child.id()),
                "it did not die within 5 s of SIGKILL",
            ));
        }
        let _ = fs::remove_file(state::pidfile(&self.node_dir));
        Ok(())
    }

    /// Kills the daemon if it lives, then starts its last command again.
    pub fn restart(&self, command: impl Fn(&Daemon) -> Command) -> Result<()> {
        self.kill()?;
        let daemon = self.lock().daemon.clone().ok_or_else(|| {
            Error::Invalid(format!(
                "no daemon was started in {}, so none can be restarted",
                self.node_dir.display()
            ))
        })?;
        self.spawn(&daemon, command)
    }
}

/// Copies `local` to `dest`, creating `dest`'s parent directories.
pub(crate) fn copy_file(local: &Path, dest: &Path) -> Result<()> {
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent)
            .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
    }
    fs::copy(local, dest).map_err(|e| {
        Error::io(
            format!("copying {} to {}", local.display(), dest.display()),
            e,
        )
    })?;
    Ok(())
}

/// Copies every `*.log` file of `node_dir` into `dest_dir`.
pub(crate) fn copy_logs(node_dir: &Path, dest_dir: &Path) -> Result<Vec<PathBuf>> {
    fs::create_dir_all(dest_dir)
        .map_err(|e| Error::io(format!("creating {}", dest_dir.display()), e))?;
    let entries = fs::read_dir(node_dir)
        .map_err(|e| Error::io(format!("reading {}", node_dir.display()), e))?;
    let mut copied = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "log") {
            let dest = dest_dir.join(entry.file_name());
            copy_file(&path, &dest)?;
            copied.push(dest);
        }
    }
    copied.sort();
    Ok(copied)
}

/// The environment variable every daemon is started with, naming its node's directory. A
/// store that daemonises (`setsid`, a double fork) leaves its process group but keeps its
/// environment, so teardown and `faultline clean` still find what it left running; only a
/// process that clears its environment escapes this.
pub const MARK_VAR: &str = "FAULTLINE_NODE_DIR";

/// SIGCONT then SIGKILL to every process whose [`MARK_VAR`] is `dir` or lies below it, and
/// returns their pids. Only processes this user may read the environment of are seen.
pub(crate) fn kill_marked(dir: &Path) -> Vec<i32> {
    let own = std::process::id() as i32;
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let prefix = format!("{MARK_VAR}=");
    let mut killed = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == own {
            continue;
        }
        let Ok(environ) = fs::read(entry.path().join("environ")) else {
            continue;
        };
        let marked = environ
            .split(|b| *b == 0)
            .filter_map(|var| var.strip_prefix(prefix.as_bytes()))
            .any(|value| Path::new(std::ffi::OsStr::from_bytes(value)).starts_with(dir));
        if marked {
            let pid = Pid::from_raw(pid);
            let _ = kill(pid, Signal::SIGCONT);
            if kill(pid, Signal::SIGKILL).is_ok() {
                killed.push(pid.as_raw());
            }
        }
    }
    killed
}

/// SIGCONT then SIGKILL to the process group recorded in a pidfile, if that very process
/// still exists. Returns the pid it killed.
pub(crate) fn kill_pidfile(pidfile: &Path) -> Option<i32> {
    let id = ProcessId::parse(&fs::read_to_string(pidfile).ok()?)?;
    if !id.is_running() {
        return None;
    }
    let group = Pid::from_raw(id.pid);
    let _ = killpg(group, Signal::SIGCONT);
    killpg(group, Signal::SIGKILL).ok()?;
    Some(id.pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        cmd
    }

    #[test]
    fn a_command_reports_its_exit_code_and_output() {
        let out = run(
            sh("echo out; echo err >&2; exit 7"),
            "sh",
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(out.code, Some(7));
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
    }

    #[test]
    fn a_command_past_its_deadline_is_killed_and_fails() {
        let began = Instant::now();
        let err = run(sh("sleep 30"), "sleeper", Duration::from_millis(200)).unwrap_err();
        assert!(err.to_string().contains("no answer within 200 ms"), "{err}");
        assert!(began.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_background_child_holding_the_output_does_not_hang_the_caller() {
        let began = Instant::now();
        let out = run(
            sh("sleep 30 & echo started"),
            "sh",
            Duration::from_millis(300),
        )
        .unwrap();
        assert_eq!(out.stdout, "started\n");
        assert!(began.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn input_reaches_the_command() {
        let mut cmd = Command::new("cat");
        let out = run_ok(&mut cmd, "cat", Some(b"rules\n"), Duration::from_secs(10)).unwrap();
        assert_eq!(out.stdout, "rules\n");
        let mut cmd = sh("exit 2");
        let err = run_ok(&mut cmd, "failing", None, Duration::from_secs(10)).unwrap_err();
        assert!(
            err.to_string().starts_with("failing: exited with 2"),
            "{err}"
        );
    }
}
