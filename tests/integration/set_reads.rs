//! The set workload reads its sets during the run: a replica serving an old copy while a
//! partition is in force is caught, and the anomaly names the node, the time and the fault
//! of each read it cites.

use std::path::Path;

use crate::run::{assert_nothing_left, demo_binary, latest, repo, run, stdout_of};

/// workloads/demo-set.toml with the demo binary's path, `mode`, and one partition that cuts
/// n4 and n5 off from the start of the run (the stale replicas' reads fall inside it).
fn demo_set_spec(dir: &Path, mode: &str) -> std::path::PathBuf {
    let source = std::fs::read_to_string(repo().join("workloads/demo-set.toml")).unwrap();
    let binary = serde_json::to_string(demo_binary().to_str().unwrap()).unwrap();
    let head = &source[..source.find("[nemesis]").expect("a [nemesis] table")];
    assert!(head.contains("\"faultline-demo\",\n") && head.contains("\"stale-reads\""));
    let text = head
        .replacen("\"faultline-demo\",\n", &format!("{binary},\n"), 1)
        .replacen("\"stale-reads\"", &format!("\"{mode}\""), 1)
        + "[nemesis]\nschedule = [{ at_s = 0, fault = \"partition\", topology = \"n1,n2,n3|n4,n5\", duration_s = 5 }]\n";
    let path = dir.join(format!("demo-set-{mode}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_lagging_replica_is_caught_reading_a_set_stale_during_a_partition() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let spec = demo_set_spec(dir.path(), "stale-reads");
    let out = run(&spec, dir.path(), &["--time-limit", "5", "--seed", "2"]);
    let stdout = stdout_of(&out, 1);
    assert!(stdout.contains("set-full: invalid"), "{stdout}");
    assert!(
        stdout.contains("during partition n1,n2,n3 | n4,n5"),
        "the stale reads name the partition:\n{stdout}"
    );
    let run_dir = latest(dir.path(), "demo-set");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("results.json")).unwrap())
            .unwrap();
    let stale = results["checkers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["anomalies"].as_array().cloned().unwrap_or_default())
        .find(|a| a["kind"] == "stale")
        .unwrap_or_else(|| panic!("no stale anomaly: {results}"));
    let ops = stale["ops"].as_array().unwrap();
    assert!(
        ops.iter()
            .all(|op| op["node"].is_string() && op["start_s"].is_f64()),
        "every op is placed: {stale}"
    );
    assert!(
        ops.iter()
            .any(|op| op["faults"][0] == "partition n1,n2,n3 | n4,n5"),
        "a stale read during the partition: {stale}"
    );
    assert_nothing_left(&run_dir);

    let spec = demo_set_spec(dir.path(), "linearizable");
    let out = run(&spec, dir.path(), &["--time-limit", "5", "--seed", "2"]);
    let stdout = stdout_of(&out, 0);
    assert!(stdout.contains("set-full: valid"), "{stdout}");
}
