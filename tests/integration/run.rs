//! `faultline run` as a user runs it: the built binary on a spec, judged by its exit code,
//! its messages and the run directory it leaves — against real etcd clusters in network
//! namespaces, and against stores that are broken on purpose.
//!
//! After every run nothing of it may remain: no namespace, link or process.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use faultline_checkers::{Event, History, Outcome};

pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `faultline run SPEC --out DIR ARGS...` to the end.
pub(crate) fn run(spec: &Path, out: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("run")
        .arg(spec)
        .arg("--out")
        .arg(out)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the faultline binary runs")
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `out`'s stdout, after asserting that it exited with `code` (both streams shown if not).
pub(crate) fn stdout_of(out: &Output, code: i32) -> String {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

/// The run directory of the latest run of `name` under `out`.
pub(crate) fn latest(out: &Path, name: &str) -> PathBuf {
    let link = out.join(name).join("latest");
    std::fs::canonicalize(&link).unwrap_or_else(|e| panic!("{}: {e}", link.display()))
}

pub(crate) fn events(run_dir: &Path) -> Vec<Event> {
    let text = std::fs::read_to_string(run_dir.join("history.jsonl")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    // An interrupted run may end in a torn line; everything before it must parse.
    if lines
        .last()
        .is_some_and(|l| serde_json::from_str::<Event>(l).is_err())
    {
        lines.pop();
    }
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// A copy of a ready etcd spec with its random nemesis replaced by `nemesis` (a TOML
/// `[nemesis]` table), written into `dir`.
fn etcd_spec(dir: &Path, file: &str, nemesis: &str) -> PathBuf {
    let source = std::fs::read_to_string(repo().join("workloads").join(file)).unwrap();
    let head = &source[..source
        .find("[nemesis]")
        .expect("the spec has a [nemesis] table")];
    let path = dir.join(file);
    std::fs::write(&path, format!("{head}{nemesis}")).unwrap();
    path
}

/// A partition cutting n1 and n2 off from the majority for 10 s: long after every election
/// timeout (1 s), with keys written on both sides of it.
const SCRIPTED_PARTITION: &str = r#"[nemesis]
schedule = [{ at_s = 3, fault = "partition", topology = "n1,n2|n3,n4,n5", duration_s = 10 }]
"#;

/// The cluster id of a run, from its controller log (`cluster 1a2b3c: n1 10.x.y.1, ...`).
fn cluster_id(run_dir: &Path) -> String {
    let log = std::fs::read_to_string(run_dir.join("controller.log")).unwrap();
    log.lines()
        .find_map(|l| l.split("] cluster ").nth(1))
        .and_then(|rest| rest.split(':').next())
        .unwrap_or_else(|| panic!("no cluster id in the controller log:\n{log}"))
        .to_string()
}

/// The run's node subnet (`10.a.b.0/24`), from its controller log.
fn subnet_of(run_dir: &Path) -> String {
    let log = std::fs::read_to_string(run_dir.join("controller.log")).unwrap();
    let n1 = log
        .lines()
        .find_map(|l| l.split("] cluster ").nth(1))
        .and_then(|rest| rest.split(" n1 ").nth(1))
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("no address of n1 in the controller log:\n{log}"));
    let (net, _) = n1.rsplit_once('.').unwrap();
    format!("{net}.0/24")
}

/// A host rule that drops and counts every packet to `subnet` leaving by an interface that
/// is not one of a run's own links: test traffic that would otherwise reach the real network.
struct LeakGuard {
    rule: Vec<String>,
}

impl LeakGuard {
    fn new(subnet: &str) -> LeakGuard {
        let rule: Vec<String> = [
            "OUTPUT",
            "-d",
            subnet,
            "!",
            "-o",
            "fl+",
            "-m",
            "comment",
            "--comment",
            "faultline-test-leak-guard",
            "-j",
            "DROP",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let out = Command::new("iptables")
            .args(["-w", "5", "-I"])
            .args(&rule)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        LeakGuard { rule }
    }

    fn packets(&self) -> u64 {
        let out = Command::new("iptables")
            .args(["-w", "5", "-L", "OUTPUT", "-v", "-n", "-x"])
            .output()
            .unwrap();
        text(&out.stdout)
            .lines()
            .find(|l| l.contains("faultline-test-leak-guard"))
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
            .expect("the guard rule is in place")
    }
}

impl Drop for LeakGuard {
    fn drop(&mut self) {
        let _ = Command::new("iptables")
            .args(["-w", "5", "-D"])
            .args(&self.rule)
            .output();
    }
}

/// Asserts that no namespace, link or process of the run in `run_dir` is left.
pub(crate) fn assert_nothing_left(run_dir: &Path) {
    let id = cluster_id(run_dir);
    let prefix = format!("fl{id}");
    let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let netns = text(&netns.stdout);
    assert!(!netns.contains(&prefix), "namespaces left behind:\n{netns}");
    let links = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .unwrap();
    let links = text(&links.stdout);
    assert!(!links.contains(&prefix), "links left behind:\n{links}");
    assert_no_process(&format!("faultline-{id}/"));
}

fn assert_no_process(pattern: &str) {
    let ps = Command::new("pgrep")
        .args(["-af", pattern])
        .output()
        .unwrap();
    let found: Vec<String> = text(&ps.stdout)
        .lines()
        .filter(|l| !l.contains("pgrep"))
        .map(String::from)
        .collect();
    assert!(found.is_empty(), "processes left behind: {found:?}");
}

#[test]
fn etcd_v3_with_linearizable_reads_passes_through_a_partition() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let spec = etcd_spec(dir.path(), "etcd-v3.toml", SCRIPTED_PARTITION);
    let out = run(&spec, dir.path(), &["--time-limit", "18", "--seed", "1"]);
    assert_nothing_left(&latest(dir.path(), "etcd-v3"));
    let stdout = stdout_of(&out, 0);
    assert!(stdout.contains("etcd-v3: valid"), "{stdout}");
    let run_dir = latest(dir.path(), "etcd-v3");
    let history = History::from_events(events(&run_dir)).unwrap();
    assert!(history.ops.len() > 1000, "only {} ops", history.ops.len());
    let fs: Vec<&str> = history.nemesis.iter().map(|n| n.event.f.as_str()).collect();
    assert_eq!(fs, ["start-partition", "stop-partition"]);
    for file in [
        "results.json",
        "report.html",
        "junit.xml",
        "spec.toml",
        "seed",
        "command-line",
        "controller.log",
    ] {
        assert!(
            run_dir.join(file).is_file(),
            "the run directory lacks {file}"
        );
    }
    assert!(
        run_dir.join("nodes/n3/daemon.log").is_file(),
        "node logs were not collected"
    );
}

#[test]
fn etcd_v3_serializable_reads_are_caught_stale_in_a_partition() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let spec = etcd_spec(dir.path(), "etcd-v3-fast-reads.toml", SCRIPTED_PARTITION);
    let out = run(&spec, dir.path(), &["--time-limit", "18", "--seed", "1"]);
    assert_nothing_left(&latest(dir.path(), "etcd-v3-fast-reads"));
    let stdout = stdout_of(&out, 1);
    assert!(stdout.contains("etcd-v3-fast-reads: invalid"), "{stdout}");
    // "read" alone would match the spec's name in the headline; the checker's own line must
    // carry the explanation of the op that cannot take effect.
    let verdict = stdout
        .lines()
        .find(|l| l.contains("not linearizable"))
        .unwrap_or_else(|| panic!("no linearizability explanation:\n{stdout}"));
    assert!(
        verdict.contains("cannot take effect"),
        "the explanation names the op that cannot take effect: {verdict}"
    );
}

/// n1 cut off from n2 and n3 for 8 s, in a 3-node cluster.
const SCRIPTED_PARTITION_3: &str = r#"[nemesis]
schedule = [{ at_s = 3, fault = "partition", topology = "n1|n2,n3", duration_s = 8 }]
"#;

/// Runs an etcd v2 spec on 3 nodes through [`SCRIPTED_PARTITION_3`]; returns stdout, after
/// checking that nothing of the run is left and that it exited with `code`.
fn run_etcd_v2(file: &str, name: &str, code: i32) -> String {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let spec = etcd_spec(dir.path(), file, SCRIPTED_PARTITION_3);
    let out = run(
        &spec,
        dir.path(),
        &["--nodes", "3", "--time-limit", "15", "--seed", "2"],
    );
    assert_nothing_left(&latest(dir.path(), name));
    stdout_of(&out, code)
}

#[test]
fn etcd_v2_with_quorum_reads_passes_through_a_partition() {
    let stdout = run_etcd_v2("etcd-v2.toml", "etcd-v2", 0);
    assert!(stdout.contains("etcd-v2: valid"), "{stdout}");
}

#[test]
fn etcd_v2_reads_without_quorum_are_caught_stale_in_a_partition() {
    let stdout = run_etcd_v2("etcd-v2-fast-reads.toml", "etcd-v2-fast-reads", 1);
    assert!(stdout.contains("etcd-v2-fast-reads: invalid"), "{stdout}");
}

#[test]
fn ctrl_c_in_the_middle_of_a_partition_leaves_nothing_and_keeps_the_history() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let nemesis = r#"[nemesis]
schedule = [{ at_s = 1, fault = "partition", topology = "n1|n2,n3", duration_s = 60 }]
"#;
    let spec = etcd_spec(dir.path(), "etcd-v3.toml", nemesis);
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "run",
            spec.to_str().unwrap(),
            "--nodes",
            "3",
            "--time-limit",
            "60",
            "--out",
        ])
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the partition is in force, then interrupt.
    let deadline = Instant::now() + Duration::from_secs(60);
    let history = loop {
        let link = dir.path().join("etcd-v3/latest/history.jsonl");
        if std::fs::read_to_string(&link).is_ok_and(|t| t.contains("start-partition")) {
            break link;
        }
        assert!(Instant::now() < deadline, "the partition never started");
        assert!(
            child.try_wait().unwrap().is_none(),
            "faultline ended before the partition"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    std::thread::sleep(Duration::from_secs(2));
    let recorded = std::fs::read_to_string(&history).unwrap().lines().count();
    let guard = LeakGuard::new(&subnet_of(history.parent().unwrap()));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = exit_after_interrupt(&mut child);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let run_dir = latest(dir.path(), "etcd-v3");
    assert_nothing_left(&run_dir);
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert_eq!(
        guard.packets(),
        0,
        "packets to the run's nodes left by another interface than the run's own"
    );
    let events = events(&run_dir);
    assert!(
        events.len() >= recorded,
        "lines recorded before the interrupt were lost"
    );
    assert!(events.iter().any(|e| e.f == "start-partition"));
    History::from_events(events).expect("the history up to the interrupt is well formed");
    for node in ["n1", "n2", "n3"] {
        let logs = run_dir.join("nodes").join(node);
        let kept = std::fs::read_dir(&logs)
            .map(|d| d.flatten().any(|e| e.metadata().is_ok_and(|m| m.len() > 0)))
            .unwrap_or(false);
        assert!(kept, "{node}'s logs were not kept in {}", logs.display());
    }
}

/// Waits, at most 60 s, for an interrupted faultline to exit; kills it and fails past that.
fn exit_after_interrupt(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("faultline did not exit within 60 s of Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Names of the host's namespaces and links that carry faultline's prefix.
fn faultline_objects() -> std::collections::BTreeSet<String> {
    let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let links = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .unwrap();
    let mut names: std::collections::BTreeSet<String> = text(&netns.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect();
    names.extend(
        text(&links.stdout)
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_string()),
    );
    names.retain(|n| n.starts_with("fl"));
    names
}

/// The faultline objects that appeared since `before` and stay. Another process's live run
/// (a developer's test on the same machine) has its state directory and is not counted; a
/// preflight's scratch objects of another process are gone within moments.
fn objects_left_since(before: &std::collections::BTreeSet<String>) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<String> = faultline_objects()
            .difference(before)
            .filter(|name| {
                let id = name.get(2..8).unwrap_or_default();
                !std::env::temp_dir()
                    .join(format!("faultline-{id}"))
                    .exists()
            })
            .cloned()
            .collect();
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn ctrl_c_at_any_moment_of_the_start_leaves_nothing_behind() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("sleeper.toml");
    std::fs::write(
        &spec,
        r#"name = "sleeper"
[run]
nodes = 3
time_limit_s = 5
[db]
start = ["sleep", "1000"]
ports = { client = 9 }
[db.ready]
path = "/"
timeout_s = 5
[client.ops.read]
path = "/{{key}}"
[client.ops.write]
path = "/{{key}}"
[workload]
name = "register"
"#,
    )
    .unwrap();
    let before = faultline_objects();
    for delay_ms in [0, 15, 30, 50, 80, 120, 200] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["run", spec.to_str().unwrap(), "--out"])
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        );
        exit_after_interrupt(&mut child);
        let mut stderr = String::new();
        let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
        let left = objects_left_since(&before);
        assert!(
            left.is_empty(),
            "Ctrl-C after {delay_ms} ms left {left:?}; stderr:\n{stderr}"
        );
    }
}

/// A minimal spec for a store that is not etcd, on the no-root `loopback` backend.
fn broken_store_spec(dir: &Path, start: &str, port: u16, ready_timeout_s: u64) -> PathBuf {
    let spec = format!(
        r#"name = "broken"
[run]
nodes = 3
concurrency = 4
time_limit_s = 3
backend = "loopback"
quiet_s = 0
[db]
start = {start}
ports = {{ client = {port} }}
[db.ready]
path = "/health"
timeout_s = {ready_timeout_s}
[client]
timeout_ms = 500
[client.ops.read]
path = "/kv/{{{{key}}}}"
[[client.ops.read.rules]]
status = [200]
outcome = "ok"
value = {{ pointer = "/value", type = "int" }}
[client.ops.write]
method = "PUT"
path = "/kv/{{{{key}}}}"
body = "{{{{value}}}}"
[[client.ops.write.rules]]
status = [204]
outcome = "ok"
[workload]
name = "register"
"#
    );
    let path = dir.join("broken.toml");
    std::fs::write(&path, spec).unwrap();
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_spec_with_a_typo_exits_3_naming_the_line_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let source = std::fs::read_to_string(repo().join("workloads/etcd-v3.toml")).unwrap();
    let line = source
        .lines()
        .position(|l| l.starts_with("path = \"/v3/kv/put\""))
        .unwrap()
        + 1;
    let spec = dir.path().join("typo.toml");
    std::fs::write(
        &spec,
        source.replace("path = \"/v3/kv/put\"", "pth = \"/v3/kv/put\""),
    )
    .unwrap();
    let out = run(&spec, dir.path(), &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("typo.toml:{line}")),
        "no file:line in: {stderr}"
    );
    assert!(stderr.contains("pth"), "the key is not named: {stderr}");
    assert!(
        stderr.contains("did you mean `path`?"),
        "no suggestion: {stderr}"
    );
    assert!(
        !dir.path().join("etcd-v3").exists(),
        "a bad spec must not start a run"
    );
}

#[test]
fn a_store_that_never_becomes_ready_exits_3_and_keeps_its_logs() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let start = r#"["sh", "-c", "echo 'store starting on {{ip}}'; exec sleep 29.4711"]"#;
    let spec = broken_store_spec(dir.path(), start, free_port(), 2);
    let out = run(&spec, dir.path(), &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("never became ready within 2s"), "{stderr}");
    assert!(
        stderr.contains("connection refused"),
        "the probe's last answer is shown: {stderr}"
    );
    let log = latest(dir.path(), "broken").join("nodes/n1/daemon.log");
    let log = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    assert!(log.contains("store starting on 127."), "{log}");
    assert_nothing_left(&latest(dir.path(), "broken"));
    assert_no_process("sleep 29.4711");
}

#[test]
fn a_node_whose_process_dies_at_start_exits_3_with_its_last_words() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let start = r#"["sh", "-c", "echo 'fatal: cannot bind {{ip}}' >&2; exit 1"]"#;
    let spec = broken_store_spec(dir.path(), start, free_port(), 20);
    let began = Instant::now();
    let out = run(&spec, dir.path(), &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("exited during setup"), "{stderr}");
    assert!(
        stderr.contains("fatal: cannot bind"),
        "the node's log is quoted: {stderr}"
    );
    let run_dir = latest(dir.path(), "broken");
    assert!(
        stderr.contains(&run_dir.display().to_string())
            || stderr.contains(&dir.path().join("broken").display().to_string()),
        "the error names the run directory: {stderr}"
    );
    assert!(
        stderr.contains("/daemon.log in the run directory")
            && run_dir.join("nodes/n1/daemon.log").exists(),
        "the error names the log as it is kept: {stderr}"
    );
    assert!(
        began.elapsed() < Duration::from_secs(15),
        "a dead node must not wait for the readiness timeout"
    );
    assert_nothing_left(&latest(dir.path(), "broken"));
}

/// Answers every request with a different kind of garbage, and `/health` with 200.
fn garbage_server(stop: Arc<AtomicBool>) -> (u16, std::thread::JoinHandle<usize>) {
    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = Arc::new(AtomicUsize::new(0));
    let handle = std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let Ok((mut conn, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            };
            conn.set_nonblocking(false).unwrap();
            conn.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let mut buf = [0u8; 4096];
            let n = conn.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]);
            let i = served.fetch_add(1, Ordering::Relaxed);
            let reply: &[u8] = if request.contains("/health") {
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            } else {
                match i % 6 {
                    0 => b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nnot json",
                    1 => b"HTTP/1.1 200 OK\r\nContent-Length: 17\r\nConnection: close\r\n\r\n{\"value\":\"seven\"}",
                    2 => b"",
                    3 => b"HTTP/1.1 500 Oops\r\nContent-Length: 13\r\nConnection: close\r\n\r\n<html></html>",
                    4 => b"\x00\x01garbage\r\n\r\n",
                    _ => b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{\"val",
                }
            };
            let _ = conn.write_all(reply);
        }
        served.load(Ordering::Relaxed)
    });
    (port, handle)
}

#[test]
fn a_store_answering_garbage_gives_fail_and_info_ops_in_a_valid_history() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (port, server) = garbage_server(stop.clone());
    let spec = broken_store_spec(dir.path(), r#"["sleep", "30.5213"]"#, port, 10);
    let out = run(&spec, dir.path(), &["--time-limit", "2"]);
    stop.store(true, Ordering::Relaxed);
    let served = server.join().unwrap();
    // Nothing ever succeeded: not a pass, not a crash, but unknown.
    let stdout = stdout_of(&out, 2);
    assert!(stdout.contains("vacuous run"), "{stdout}");
    assert!(served > 20, "the server saw only {served} requests");
    let history = History::from_events(events(&latest(dir.path(), "broken"))).unwrap();
    let reads: Vec<_> = history.ops.iter().filter(|o| o.f == "read").collect();
    let writes: Vec<_> = history.ops.iter().filter(|o| o.f == "write").collect();
    assert!(!reads.is_empty() && !writes.is_empty());
    assert!(
        reads.iter().all(|o| o.outcome == Outcome::Fail),
        "a read without an answer changed nothing"
    );
    assert!(
        writes.iter().all(|o| o.outcome == Outcome::Info),
        "a write without a clear answer is unknown"
    );
    assert!(
        history.ops.iter().all(|o| o.error.is_some()),
        "every failed op says why"
    );
    assert_nothing_left(&latest(dir.path(), "broken"));
    assert_no_process("sleep 30.5213");
}

/// The demo store's binary: beside faultline (`cargo build --workspace`, or a `cargo test`
/// of the workspace), else built there once with the same profile.
pub(crate) fn demo_binary() -> PathBuf {
    let faultline = PathBuf::from(env!("CARGO_BIN_EXE_faultline"));
    let beside = faultline.with_file_name("faultline-demo");
    if beside.is_file() {
        return beside;
    }
    let profile_dir = faultline.parent().unwrap();
    let profile = match profile_dir.file_name().and_then(|p| p.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--quiet",
            "-p",
            "faultline-demo",
            "--profile",
            profile,
        ])
        .env("CARGO_TARGET_DIR", profile_dir.parent().unwrap())
        .current_dir(repo())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building faultline-demo failed");
    beside
}

#[test]
fn list_append_transactions_on_the_linearizable_demo_store_pass_through_kills_and_pauses() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let spec = crate::workloads::spec(dir.path(), "list-append", "linearizable");
    let out = run(
        &spec,
        dir.path(),
        &[
            "--backend",
            "loopback",
            "--nemesis",
            "kill,pause",
            "--time-limit",
            "6",
            "--seed",
            "5",
        ],
    );
    let stdout = stdout_of(&out, 0);
    assert!(
        stdout.contains("list-append: valid") && stdout.contains("strict-serializable"),
        "{stdout}"
    );
    let run_dir = latest(dir.path(), "demo-list-append");
    let history = History::from_events(events(&run_dir)).unwrap();
    let txns: Vec<_> = history.ops.iter().filter(|o| o.f == "txn").collect();
    assert!(txns.len() > 200, "only {} transactions", txns.len());
    assert!(
        txns.iter().all(|o| o.key.is_none()),
        "a transaction spans keys"
    );
    // Some transaction read back a list that its own append or others' had filled.
    let read_a_list = txns.iter().filter(|o| o.outcome == Outcome::Ok).any(|o| {
        o.value
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m[0] == "r" && m[2].as_array().is_some_and(|l| !l.is_empty()))
    });
    assert!(read_a_list, "no read saw an appended element");
    assert_nothing_left(&run_dir);
}

#[test]
fn list_append_transactions_that_write_blindly_lose_appends_and_exit_1() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let spec = crate::workloads::spec(dir.path(), "list-append", "lost-updates");
    let out = run(
        &spec,
        dir.path(),
        &[
            "--backend",
            "loopback",
            "--nemesis",
            "none",
            "--time-limit",
            "4",
            "--seed",
            "5",
        ],
    );
    let stdout = stdout_of(&out, 1);
    let verdict = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("list-append: invalid"))
        .unwrap_or_else(|| panic!("no list-append verdict:\n{stdout}"));
    assert!(
        verdict.contains("lost-append") && verdict.contains("rules out"),
        "the anomaly and the isolation levels it rules out are named: {verdict}"
    );
    assert_nothing_left(&latest(dir.path(), "demo-list-append"));
}

#[test]
fn etcd_v3_list_append_transactions_guarded_by_revisions_are_strictly_serializable_through_a_partition(
) {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let partition = r#"[nemesis]
schedule = [{ at_s = 2, fault = "partition", topology = "n1,n2|n3,n4,n5", duration_s = 6 }]
"#;
    let spec = etcd_spec(dir.path(), "etcd-v3-list-append.toml", partition);
    let out = run(&spec, dir.path(), &["--time-limit", "10", "--seed", "3"]);
    let run_dir = latest(dir.path(), "etcd-v3-list-append");
    assert_nothing_left(&run_dir);
    let stdout = stdout_of(&out, 0);
    assert!(
        stdout.contains("list-append: valid") && stdout.contains("strict-serializable"),
        "{stdout}"
    );
    let history = History::from_events(events(&run_dir)).unwrap();
    let ok = |o: &&faultline_checkers::Op| o.f == "txn" && o.outcome == Outcome::Ok;
    let appended_and_read = history.ops.iter().filter(ok).any(|o| {
        let micro = o.value.as_array().unwrap();
        micro.iter().any(|m| m[0] == "append")
            && micro
                .iter()
                .any(|m| m[0] == "r" && m[2].as_array().is_some_and(|l| !l.is_empty()))
    });
    assert!(
        appended_and_read,
        "no transaction both appended and read a list"
    );
    // The minority side could not commit: its transactions failed or stayed unknown.
    assert!(
        history.ops.iter().any(|o| o.outcome != Outcome::Ok),
        "the partition changed nothing"
    );
}

#[test]
fn run_help_lists_every_fault_workload_and_checker_the_registries_hold() {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = text(&out.stdout);
    for fault in faultline::nemesis::Fault::ALL {
        assert!(help.contains(fault.name()), "{fault} missing:\n{help}");
    }
    for workload in faultline::workload::REGISTRY.iter().map(|w| w.kind) {
        assert!(
            help.contains(workload.name()),
            "{workload:?} missing:\n{help}"
        );
    }
    for checker in faultline_checkers::registry::CHECKERS {
        assert!(
            help.contains(checker.name),
            "{} missing:\n{help}",
            checker.name
        );
    }
    assert!(help.contains("majorities-ring"), "{help}");
}
