//! `faultline check-spec`: a spec checked, and everything a run would start and send
//! printed, without a cluster — so these tests start nothing and take milliseconds. One
//! run, on the loopback backend, shows that a role's probe is what its nodes must pass.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::run::{demo_binary, repo, stdout_of, text};

fn check_spec(spec: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("check-spec")
        .arg(spec)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the faultline binary runs")
}

/// The lines of `stdout` from the one naming node `node` to the next blank line.
fn node_block<'a>(stdout: &'a str, node: &str) -> Vec<&'a str> {
    let start = stdout
        .lines()
        .position(|l| l.starts_with(&format!("{node} (")))
        .unwrap_or_else(|| panic!("no block for {node}:\n{stdout}"));
    stdout
        .lines()
        .skip(start)
        .take_while(|l| !l.is_empty())
        .collect()
}

#[test]
fn check_spec_prints_every_nodes_role_command_line_probe_and_requests() {
    let out = check_spec(
        &repo().join("workloads/redis.toml"),
        &["--workload", "register"],
    );
    let stdout = stdout_of(&out, 0);
    assert!(
        stdout.contains("the spec is valid; workload `register`"),
        "{stdout}"
    );
    let n1 = node_block(&stdout, "n1");
    let primary_ip = n1[0].rsplit(", ").next().unwrap();
    assert!(n1[0].contains("(role primary)"), "{n1:?}");
    assert!(
        n1.iter().any(|l| l.contains("/PING → status 200")),
        "{n1:?}"
    );
    assert!(!n1.iter().any(|l| l.contains("--replicaof")), "{n1:?}");
    for replica in ["n2", "n3"] {
        let block = node_block(&stdout, replica);
        assert!(block[0].contains("(role replica)"), "{block:?}");
        let start = block.iter().find(|l| l.contains("start: ")).unwrap();
        assert!(
            start.ends_with(&format!("--replicaof {primary_ip} 6379")),
            "a replica follows the primary's address: {start}"
        );
        assert!(
            block
                .iter()
                .any(|l| l.contains("/INFO/replication") && l.contains("master_link_status")),
            "{block:?}"
        );
        assert!(
            block.iter().any(|l| l.contains("\"http_host\": \"10.")),
            "the node's webdis.json, rendered: {block:?}"
        );
    }
    for node in ["n1", "n2", "n3"] {
        assert!(
            stdout.contains(&format!("    {node}: GET http://")),
            "{node}'s requests:\n{stdout}"
        );
    }
    assert!(stdout.contains("write-read probe"), "{stdout}");
    assert!(stdout.contains("partition"), "{stdout}");
}

#[test]
fn check_spec_without_a_workload_checks_each_of_a_specs_workloads_with_the_overrides() {
    let out = check_spec(&repo().join("workloads/redis.toml"), &["--nodes", "5"]);
    let stdout = stdout_of(&out, 0);
    for w in ["`register`", "`set`"] {
        assert!(
            stdout.contains(&format!("workload {w}")) && stdout.contains("5 nodes"),
            "{stdout}"
        );
    }
    assert!(
        stdout.contains("/SMEMBERS/"),
        "the set's own read: {stdout}"
    );
    assert!(stdout.contains("n5 (role replica)"), "{stdout}");
}

#[test]
fn check_spec_refuses_a_role_naming_a_node_the_cluster_lacks_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let source = std::fs::read_to_string(repo().join("workloads/redis.toml")).unwrap();
    let bad = source.replacen("nodes = [\"n1\"]", "nodes = [\"n7\"]", 1);
    assert_ne!(bad, source);
    let spec = dir.path().join("redis.toml");
    std::fs::write(&spec, &bad).unwrap();
    let out = check_spec(&spec, &["--workload", "set"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    let line = bad.lines().position(|l| l == "[db.roles.primary]").unwrap() + 1;
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("redis.toml:{line}: key `db.roles.primary`"))
            && stderr.contains("node \"n7\" is not in the cluster"),
        "{stderr}"
    );
    assert!(
        text(&out.stdout).is_empty(),
        "nothing printed for a bad spec"
    );
}

#[test]
fn a_run_of_a_spec_with_several_workloads_needs_one_named_and_starts_nothing_without() {
    let dir = tempfile::tempdir().unwrap();
    let spec = repo().join("workloads/redis.toml");
    for (args, wanted) in [
        (
            &[][..],
            "the spec has 2 workloads (register, set): a run needs one",
        ),
        (&["--workload", "sets"][..], "did you mean `set`?"),
    ] {
        let out = crate::run::run(&spec, dir.path(), args);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(wanted), "{args:?}: {stderr}");
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "no run directory"
    );
}

#[test]
fn a_node_waits_for_its_roles_own_probe_and_is_named_when_it_never_passes() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let source = std::fs::read_to_string(repo().join("workloads/demo-set.toml")).unwrap();
    let binary = serde_json::to_string(demo_binary().to_str().unwrap()).unwrap();
    assert!(source.contains("\"faultline-demo\",\n") && source.contains("timeout_s = 20\n"));
    let edited = source
        .replacen("\"faultline-demo\",\n", &format!("{binary},\n"), 1)
        .replacen("timeout_s = 20\n", "timeout_s = 3\n", 1)
        + "\n[db.roles.laggard]\nnodes = [\"n2\"]\nready = { path = \"/never\" }\n";
    let spec = dir.path().join("demo-set.toml");
    std::fs::write(&spec, edited).unwrap();
    let args = ["--backend", "loopback", "--nodes", "3", "--nemesis", "none"];
    let out = crate::run::run(&spec, dir.path(), &args);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("n2 never became ready within 3s: the probe GET /never last got: HTTP 404"),
        "only n2, with its role's probe: {stderr}"
    );
    crate::run::assert_nothing_left(&crate::run::latest(dir.path(), "demo-set"));
}
