//! Redis with asynchronous replicas behind webdis, both from Debian (`redis-server`,
//! `webdis`), run from `workloads/redis.toml` with no wrapper script: n1 is the primary
//! and the replicas follow `{{role.primary.ip}}`, each role with its own readiness. A
//! partition cuts replica n3 off; the stale reads it serves meanwhile are found and named
//! with n3, their time and the partition.

use crate::run::{assert_nothing_left, latest, repo, run, stdout_of};

#[test]
fn a_replica_cut_off_from_its_primary_is_caught_reading_stale_during_the_partition() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let spec = repo().join("workloads/redis.toml");
    let args = [
        "--workload",
        "register",
        "--time-limit",
        "10",
        "--seed",
        "3",
    ];
    let out = run(&spec, dir.path(), &args);
    let stdout = stdout_of(&out, 1);
    assert!(stdout.contains("linearizable: invalid"), "{stdout}");
    assert!(
        stdout.contains("on n3 at ") && stdout.contains("during partition n1,n2 | n3"),
        "the stale read names the replica, its time and the partition:\n{stdout}"
    );
    let run_dir = latest(dir.path(), "redis");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("results.json")).unwrap())
            .unwrap();
    let anomaly = results["checkers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["anomalies"].as_array().cloned().unwrap_or_default())
        .find(|a| a["kind"] == "nonlinearizable")
        .unwrap_or_else(|| panic!("no nonlinearizable anomaly: {results}"));
    let op = &anomaly["ops"][0];
    assert_eq!(op["node"], "n3", "{anomaly}");
    assert!(op["start_s"].is_f64(), "{anomaly}");
    assert_eq!(op["faults"][0], "partition n1,n2 | n3", "{anomaly}");
    assert_nothing_left(&run_dir);
}
