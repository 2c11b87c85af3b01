//! Faults that aim at the leader, and several faults at once, on the demo store: its primary
//! (the first of `--peers`) is a leader that never moves. The specs here list n2 first, so a
//! fault aimed at the leader must hit n2 — not n1, which a probe that found no leader, or
//! broke ties by cluster order, would name — and its followers are n1 and n3.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use faultline_checkers::{Event, Process};
use serde_json::Value;

use crate::run::{events, latest, run, stdout_of, text};

/// workloads/demo-counter.toml (correct mode) with its `[nemesis]` replaced by `nemesis`;
/// `probe` false also drops its `[db.leader]` table.
fn demo_spec(dir: &Path, nemesis: &str, probe: bool) -> PathBuf {
    let path = crate::workloads::spec(dir, "counter", "linearizable");
    let source = std::fs::read_to_string(&path).unwrap();
    let mut head = source[..source.find("[nemesis]").unwrap()].to_string();
    let peers = "\"--peers\", \"{{initial_cluster}}\"";
    assert!(head.contains(peers));
    let n2_first = "\"--peers\", \"n2={{node.n2.ip}}:{{client_port}},\
                    n1={{node.n1.ip}}:{{client_port}},n3={{node.n3.ip}}:{{client_port}}\"";
    head = head.replace(peers, n2_first);
    if !probe {
        let from = head.find("[db.leader]").unwrap();
        let to = from + head[from..].find("[client]").unwrap();
        head.replace_range(from..to, "");
    }
    std::fs::write(&path, format!("{head}{nemesis}")).unwrap();
    path
}

/// The nemesis events of a run: `(f, value, node)`.
fn faults(run_dir: &Path) -> Vec<(String, Value, Option<String>)> {
    events(run_dir)
        .into_iter()
        .filter(|e: &Event| e.process == Process::Nemesis)
        .map(|e| (e.f, e.value, e.node))
        .collect()
}

fn names(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect()
}

#[test]
fn a_fault_aimed_at_the_leader_hits_the_node_the_probe_named() {
    let _heavy = crate::heavy();
    let began = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let nemesis = r#"[nemesis]
schedule = [
  { at_s = 1, fault = "kill", target = "leader", duration_s = 1.5 },
  { at_s = 3, fault = "pause", target = "followers", duration_s = 1 },
]
"#;
    let spec = demo_spec(dir.path(), nemesis, true);
    let args = ["--backend", "loopback", "--nodes", "3", "--time-limit", "5"];
    let out = run(&spec, dir.path(), &[&args[..], &["--seed", "5"]].concat());
    stdout_of(&out, 0);
    let faults = faults(&latest(dir.path(), "demo-counter"));
    let fs: Vec<&str> = faults.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(fs, ["kill", "restart", "pause", "resume"], "{faults:?}");
    // Each start names the leader of its moment, and aims at it.
    assert_eq!(faults[0].2.as_deref(), Some("n2"), "{faults:?}");
    assert_eq!(names(&faults[0].1), ["n2"]);
    assert_eq!(faults[2].2.as_deref(), Some("n2"), "{faults:?}");
    assert_eq!(names(&faults[2].1), ["n1", "n3"]);
    assert_eq!(faults[1].2, None, "a stop names no leader");
    eprintln!("took {:.1}s", began.elapsed().as_secs_f64());
}

#[test]
fn concurrent_faults_overlap_as_scheduled_and_the_final_heal_ends_them_all() {
    let _heavy = crate::heavy();
    let began = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let nemesis = r#"[nemesis]
faults = ["kill", "pause"]
kill_target = "one"
pause_target = "one"
max_concurrent = 2
interval_s = 0.5
duration_s = 2
"#;
    let spec = demo_spec(dir.path(), nemesis, true);
    let args = ["--backend", "loopback", "--nodes", "3", "--time-limit", "7"];
    let out = run(&spec, dir.path(), &[&args[..], &["--seed", "11"]].concat());
    let stdout = stdout_of(&out, 0);
    let faults = faults(&latest(dir.path(), "demo-counter"));
    // Replay the events: which fault is in force, on which nodes.
    let mut killed: Option<Vec<String>> = None;
    let mut paused: Option<Vec<String>> = None;
    let mut overlaps = 0;
    for (f, value, _) in &faults {
        let nodes: Vec<String> = names(value).into_iter().map(String::from).collect();
        match f.as_str() {
            "kill" => {
                assert!(killed.is_none(), "two kills at once: {faults:?}");
                killed = Some(nodes);
            }
            "pause" => {
                assert!(paused.is_none(), "two pauses at once: {faults:?}");
                let dead = killed.clone().unwrap_or_default();
                assert!(
                    nodes.iter().all(|n| !dead.contains(n)),
                    "{nodes:?} paused while killed: {faults:?}"
                );
                paused = Some(nodes);
            }
            "restart" => assert_eq!(killed.take(), Some(nodes), "{faults:?}"),
            "resume" => assert_eq!(paused.take(), Some(nodes), "{faults:?}"),
            other => panic!("no {other} fault was asked for: {faults:?}"),
        }
        if killed.is_some() && paused.is_some() {
            overlaps += 1;
        }
    }
    assert!(
        overlaps >= 1,
        "a kill and a pause never overlapped: {faults:?}"
    );
    assert!(
        killed.is_none() && paused.is_none(),
        "the final heal left a fault in force: {faults:?}"
    );
    let kinds: BTreeSet<&str> = faults.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(kinds.len(), 4, "{kinds:?}\n{stdout}");
    eprintln!("took {:.1}s", began.elapsed().as_secs_f64());
}

#[test]
fn a_leader_target_without_a_leader_probe_is_a_spec_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let nemesis = "[nemesis]\nfaults = [\"kill\"]\nkill_target = \"leader\"\n";
    let spec = demo_spec(dir.path(), nemesis, false);
    let out = run(&spec, dir.path(), &["--backend", "loopback"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("nemesis.kill_target") && stderr.contains("[db.leader]"),
        "{stderr}"
    );
    // The same for a topology, and for a membership change without its commands.
    let partition = "[nemesis]\nfaults = [\"partition\"]\ntopologies = [\"isolate-leader\"]\n";
    let out = run(&demo_spec(dir.path(), partition, false), dir.path(), &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("nemesis.topologies"));
    let membership = "[nemesis]\nfaults = [\"membership\"]\n";
    let out = run(&demo_spec(dir.path(), membership, true), dir.path(), &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("[db.membership]"));
}
