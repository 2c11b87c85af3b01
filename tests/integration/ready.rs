//! `[db.ready] probe = "write-read"` on the demo store, whose stale-reads mode ships its log
//! to the followers `--replication-lag-ms` late: an HTTP probe passes at once, the
//! write-read probe must wait the lag out, and a lag longer than the readiness timeout is a
//! setup error that names the node and the log it left in the run directory.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::run::{assert_nothing_left, demo_binary, events, latest, run, text};

/// workloads/demo.toml on 3 loopback nodes in stale-reads mode, shipping its log `lag_ms`
/// late, with the write-read probe and `ready_timeout_s`.
fn lagging_demo_spec(dir: &Path, lag_ms: u64, ready_timeout_s: u64) -> PathBuf {
    let source = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("workloads/demo.toml"),
    )
    .unwrap();
    let binary = serde_json::to_string(demo_binary().to_str().unwrap()).unwrap();
    let replaced = [
        ("\"faultline-demo\",\n", format!("{binary},\n")),
        (
            "\"--replication-lag-ms\", \"400\"",
            format!("\"--replication-lag-ms\", \"{lag_ms}\""),
        ),
        (
            "[db.ready]\n",
            "[db.ready]\nprobe = \"write-read\"\n".to_string(),
        ),
        (
            "timeout_s = 20\n",
            format!("timeout_s = {ready_timeout_s}\n"),
        ),
        ("quiet_s = 3\n", "quiet_s = 0\n".to_string()),
    ];
    let mut text = source;
    for (from, to) in replaced {
        assert!(text.contains(from), "workloads/demo.toml has no {from:?}");
        text = text.replacen(from, &to, 1);
    }
    let path = dir.join("lagging.toml");
    std::fs::write(&path, text).unwrap();
    path
}

const ARGS: [&str; 8] = [
    "--backend",
    "loopback",
    "--nodes",
    "3",
    "--nemesis",
    "none",
    "--time-limit",
    "1",
];

#[test]
fn a_write_read_probe_waits_until_every_replica_shows_a_write_before_the_test_starts() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let spec = lagging_demo_spec(dir.path(), 2500, 15);
    let out = run(&spec, dir.path(), &ARGS);
    let stderr = text(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "the test ran to a verdict: {stderr}"
    );
    let run_dir = latest(dir.path(), "demo");
    let log = std::fs::read_to_string(run_dir.join("controller.log")).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("was read back from every node after"))
        .unwrap_or_else(|| panic!("no write-read line in:\n{log}"));
    let took: f64 = line
        .rsplit("after ")
        .next()
        .and_then(|s| s.trim_end_matches('s').parse().ok())
        .unwrap_or_else(|| panic!("no duration in {line:?}"));
    assert!(
        took >= 2.4,
        "the followers ship the write 2.5 s late, yet setup passed after {took}s: {line}"
    );
    let probe_keys: Vec<String> = events(&run_dir)
        .into_iter()
        .filter_map(|e| e.key)
        .filter(|k| k.starts_with("faultline-ready"))
        .collect();
    assert!(
        probe_keys.is_empty(),
        "the probe is setup, not history: {probe_keys:?}"
    );
    assert_nothing_left(&run_dir);
}

#[test]
fn a_replica_that_never_shows_the_probes_write_exits_3_naming_it_and_its_kept_log() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let spec = lagging_demo_spec(dir.path(), 60_000, 3);
    let began = Instant::now();
    let out = run(&spec, dir.path(), &ARGS);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("n2, n3 never read back the value")
            && stderr.contains("on n1")
            && stderr.contains("n2's last read answered"),
        "the error names the lagging nodes and what they answered: {stderr}"
    );
    let run_dir = latest(dir.path(), "demo");
    assert!(
        stderr.contains("nodes/n2/daemon.log in the run directory")
            && run_dir.join("nodes/n2/daemon.log").is_file(),
        "the error names n2's log as it is kept after teardown: {stderr}"
    );
    assert!(
        began.elapsed() < Duration::from_secs(20),
        "the probe is bounded by the 3 s readiness timeout"
    );
    assert_nothing_left(&run_dir);
}
