//! The spec loader's tests: defaults, located errors, overrides.

use super::*;

pub(super) const MINIMAL: &str = r#"
[db]
start = ["store", "--name", "{{node}}", "--listen", "{{ip}}:{{client_port}}"]
ports = { client = 9000 }
[db.ready]
path = "/health"
[client.ops.read]
path = "/kv/{{key}}"
[[client.ops.read.rules]]
status = [200]
outcome = "ok"
value = { pointer = "/value", type = "int" }
[client.ops.write]
method = "PUT"
path = "/kv/{{key}}"
body = "{{value}}"
[workload]
name = "register"
"#;

/// A list-append workload on etcd's builtin transaction.
const LIST_APPEND: &str = r#"
[db]
start = ["etcd"]
[db.ready]
path = "/health"
[client.ops.txn]
method = "POST"
path = "/v3/kv/txn"
builtin = "etcd-v3-list-append"
[workload]
name = "list-append"
"#;

fn parse(src: &str) -> Result<LoadedSpec, SpecError> {
    LoadedSpec::parse(Path::new("t.toml"), src.to_string())
}

#[test]
fn a_minimal_spec_takes_every_default() {
    let s = parse(MINIMAL).unwrap().spec;
    assert_eq!(s.name, "t");
    assert_eq!(s.run.nodes, 5);
    assert_eq!(s.client.timeout_ms, 2000);
    assert_eq!(s.workload.keys, 10);
    assert!(s.nemesis.faults.is_empty());
}

#[test]
fn an_unknown_key_is_named_with_its_line_and_a_suggestion() {
    let src = MINIMAL.replace("method = \"PUT\"", "methd = \"PUT\"");
    let err = parse(&src).unwrap_err();
    assert_eq!(err.line, Some(14), "{err}");
    let text = err.to_string();
    assert!(text.contains("t.toml:14"), "{text}");
    assert!(text.contains("methd"), "{text}");
    assert!(text.contains("did you mean `method`?"), "{text}");
}

#[test]
fn a_misspelt_variable_in_a_template_is_located() {
    let src = MINIMAL.replace("body = \"{{value}}\"", "body = \"{{vlue}}\"");
    let err = parse(&src).unwrap_err();
    assert_eq!(err.key.as_deref(), Some("client.ops.write.body"));
    assert_eq!(err.line, Some(16));
    assert!(err.hint.unwrap().contains("value"));
}

#[test]
fn an_unknown_workload_suggests_the_closest() {
    let err = parse(&MINIMAL.replace("\"register\"", "\"regster\"")).unwrap_err();
    assert!(
        err.to_string().contains("did you mean `register`?"),
        "{err}"
    );
    assert_eq!(err.line, Some(18));
}

#[test]
fn a_workload_op_without_a_client_mapping_is_an_error() {
    let err = parse(&MINIMAL.replace("\"register\"", "\"cas-register\"")).unwrap_err();
    assert!(err.to_string().contains("no [client.ops.cas]"), "{err}");
}

#[test]
fn a_list_append_workload_needs_a_txn_op_and_checks_with_list_append() {
    let err = parse(&MINIMAL.replace("\"register\"", "\"list-append\"")).unwrap_err();
    assert!(err.to_string().contains("no [client.ops.txn]"), "{err}");
    let src = LIST_APPEND;
    let s = parse(src).unwrap().spec;
    assert_eq!(s.workload.name.default_checker(), "list-append");
    assert_eq!(s.workload.max_txn_length, 4);
    let err = parse(&format!(
        "{src}[[client.ops.txn.rules]]\noutcome = \"ok\"\n"
    ))
    .unwrap_err();
    assert_eq!(err.key.as_deref(), Some("client.ops.txn.builtin"), "{err}");
    assert!(err.to_string().contains("do not apply"), "{err}");
}

#[test]
fn set_linearizable_is_refused_where_no_set_is_checked_naming_its_line() {
    let err = parse(&format!("{MINIMAL}\n[checker]\nset_linearizable = true\n")).unwrap_err();
    assert_eq!(
        err.key.as_deref(),
        Some("checker.set_linearizable"),
        "{err}"
    );
    assert!(err.to_string().contains("no stale reads to judge"), "{err}");
    assert!(err.line.is_some(), "{err}");
}

#[test]
fn a_consistency_model_applies_only_to_transactional_checkers() {
    let src = format!("{LIST_APPEND}[checker]\nconsistency_model = \"serializable\"\n");
    let src = src.as_str();
    let s = parse(src).unwrap().spec;
    assert_eq!(
        s.checker.consistency_model,
        Some(faultline_checkers::elle::ConsistencyModel::Serializable)
    );
    let err = parse(&src.replace("\"serializable\"", "\"serialisable\"")).unwrap_err();
    assert_eq!(
        err.key.as_deref(),
        Some("checker.consistency_model"),
        "{err}"
    );
    assert!(err.to_string().contains("did you mean"), "{err}");
    let err = parse(&format!(
        "{MINIMAL}\n[checker]\nconsistency_model = \"serializable\"\n"
    ))
    .unwrap_err();
    assert!(
        err.to_string().contains("takes no consistency model"),
        "{err}"
    );
}

#[test]
fn overrides_replace_the_spec_and_are_validated() {
    let mut s = parse(MINIMAL).unwrap();
    let o = Overrides {
        nodes: Some(3),
        nemesis: Some(vec!["partiton".into()]),
        ..Overrides::default()
    };
    let err = s.apply(&o).unwrap_err();
    assert!(
        err.to_string().contains("did you mean `partition`?"),
        "{err}"
    );
    assert!(err.to_string().contains("--nemesis"), "{err}");
    assert_eq!(s.spec.run.nodes, 5, "a failed override changes nothing");
    let o = Overrides {
        nodes: Some(3),
        time_limit_s: Some(20),
        ..Overrides::default()
    };
    s.apply(&o).unwrap();
    assert_eq!((s.spec.run.nodes, s.spec.run.time_limit_s), (3, 20));
}

#[test]
fn an_ssh_spec_runs_one_node_per_host_with_strict_host_keys() {
    let src = format!(
        "[run]\nbackend = \"ssh\"\n[ssh]\nhosts = [\"10.0.0.1\", \"admin@10.0.0.2:2222\"]\n{MINIMAL}"
    );
    let s = parse(&src).unwrap();
    assert_eq!(s.spec.run.nodes, 2, "the node count follows the hosts");
    let config = s.spec.cluster_config().unwrap();
    let o = config.ssh.expect("ssh options");
    assert_eq!(config.node_names, ["n1", "n2"]);
    assert!(o.strict_host_key_checking);
    assert_eq!(o.hosts[1].to_string(), "admin@10.0.0.2:2222");
}

#[test]
fn hosts_on_the_command_line_select_the_ssh_backend_and_set_the_node_count() {
    let mut s = parse(MINIMAL).unwrap();
    let o = Overrides {
        hosts: Some(vec![
            "10.0.0.1".into(),
            "10.0.0.2".into(),
            "db3:2222".into(),
        ]),
        ..Overrides::default()
    };
    s.apply(&o).unwrap();
    assert_eq!(s.spec.run.backend, crate::cluster::BackendKind::Ssh);
    assert_eq!(s.spec.run.nodes, 3);
    let config = s.spec.cluster_config().unwrap();
    assert_eq!(
        config.ssh.expect("ssh options").hosts[2].to_string(),
        "db3:2222"
    );
}

#[test]
fn the_ssh_backend_without_hosts_is_an_error_naming_the_key() {
    let e = parse(&format!("[run]\nbackend = \"ssh\"\n{MINIMAL}")).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("ssh.hosts"));
    assert!(e.to_string().contains("--nodes-file"), "{e}");
}

#[test]
fn a_nodes_file_error_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hosts.txt");
    std::fs::write(&file, "# lab\n10.0.0.1\n10.0.0.2:99999\n").unwrap();
    let mut s = parse(MINIMAL).unwrap();
    let o = Overrides {
        backend: Some("ssh".into()),
        nodes_file: Some(file.clone()),
        ..Overrides::default()
    };
    let e = s.apply(&o).unwrap_err();
    assert_eq!((e.file.as_path(), e.line), (file.as_path(), Some(3)));
    std::fs::write(&file, "10.0.0.1\n10.0.0.2, 10.0.0.3 # three\n").unwrap();
    s.apply(&o).unwrap();
    assert_eq!(s.spec.run.nodes, 3);
    assert_eq!(s.spec.cluster_config().unwrap().node_names.len(), 3);
}

#[test]
fn a_name_that_is_not_one_plain_directory_name_is_refused() {
    for name in [
        "/srv/victim",
        "../../../srv/x",
        "..",
        ".",
        "a/b",
        "a\\b",
        "line\nbreak",
        ".hidden",
    ] {
        let src = format!("name = {}\n{MINIMAL}", toml::Value::String(name.into()));
        let err = parse(&src).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("name"), "{name:?}: {err}");
        assert_eq!(err.line, Some(1), "{name:?}: {err}");
    }
    let ok = parse(&format!("name = \"etcd v3.4_fast-reads\"\n{MINIMAL}")).unwrap();
    assert_eq!(ok.spec.name, "etcd v3.4_fast-reads");
}

#[test]
fn durations_past_a_week_and_port_zero_are_refused_with_their_line() {
    let cases = [
        (
            "[run]\ntime_limit_s = 1000000000000\n",
            "run.time_limit_s",
            2,
        ),
        ("[run]\nquiet_s = 100000000000\n", "run.quiet_s", 2),
        (
            "[run]\ncheck_timeout_s = 604801\n",
            "run.check_timeout_s",
            2,
        ),
    ];
    for (head, key, line) in cases {
        let err = parse(&format!("{head}{MINIMAL}")).unwrap_err();
        assert_eq!(err.key.as_deref(), Some(key), "{err}");
        assert_eq!(err.line, Some(line), "{err}");
        assert!(err.to_string().contains("out of range"), "{err}");
    }
    let err = parse(&MINIMAL.replace(
        "[client.ops.read]",
        "[client]\ntimeout_ms = 99999999999999\n[client.ops.read]",
    ))
    .unwrap_err();
    assert_eq!(err.key.as_deref(), Some("client.timeout_ms"), "{err}");
    let err = parse(&MINIMAL.replace("client = 9000", "client = 0")).unwrap_err();
    assert_eq!(err.key.as_deref(), Some("db.ports.client"), "{err}");
    assert!(err.line.is_some(), "{err}");
    assert!(parse(&format!("[run]\ntime_limit_s = 604800\n{MINIMAL}")).is_ok());
}

#[test]
fn a_time_limit_too_large_on_the_command_line_names_the_flag() {
    let mut s = parse(MINIMAL).unwrap();
    let err = s
        .apply(&Overrides {
            time_limit_s: Some(u64::MAX),
            ..Overrides::default()
        })
        .unwrap_err();
    assert_eq!(err.key.as_deref(), Some("--time-limit"), "{err}");
    assert_eq!(s.spec.run.time_limit_s, 60, "the spec is left as it was");
}

#[test]
fn a_value_of_the_wrong_type_names_its_key_not_the_value() {
    let err = parse(&format!("[run]\nnodes = \"five\"\n{MINIMAL}")).unwrap_err();
    assert_eq!(err.key.as_deref(), Some("run.nodes"), "{err}");
    assert_eq!(err.line, Some(2), "{err}");
    let err = parse(&MINIMAL.replace("client = 9000", "client = 70000")).unwrap_err();
    assert_eq!(err.key.as_deref(), Some("db.ports.client"), "{err}");
    assert!(!err.to_string().contains("key `70000`"), "{err}");
}

#[test]
fn typed_choices_are_located_and_suggest_the_closest() {
    let cases = [
        (
            "[nemesis]\nfaults = [\"partiton\"]\n",
            "did you mean `partition`?",
        ),
        ("[nemesis]\nkill_target = \"\"\n", "empty fault target"),
        ("[nemesis]\ntopologies = [\"n1,n2|\"]\n", "empty component"),
        ("[run]\nbackend = \"lopback\"\n", "did you mean `loopback`?"),
        (
            "[checker]\nconsistency_model = \"serialisable\"\n",
            "did you mean `serializable`?",
        ),
    ];
    for (head, expected) in cases {
        let err = parse(&format!("{head}{MINIMAL}")).unwrap_err();
        assert_eq!(err.line, Some(2), "{head}: {err}");
        assert!(err.to_string().contains(expected), "{head}: {err}");
    }
    let err =
        parse(&MINIMAL.replace("[db.ready]", "stop_signal = \"HUP\"\n[db.ready]")).unwrap_err();
    assert!(
        err.to_string().contains("did you mean") || err.to_string().contains("TERM"),
        "{err}"
    );
    let err = parse(&format!("[nemesis]\nkill_target = \"n7\"\n{MINIMAL}")).unwrap_err();
    assert!(err.to_string().contains("nodes are n1"), "{err}");
    let s = parse(&format!(
        "[nemesis]\nfaults = [\"clock-strobe\"]\nkill_target = \"n1,n3\"\n{MINIMAL}"
    ))
    .unwrap()
    .spec;
    assert_eq!(s.nemesis.faults, vec![crate::nemesis::clock::STROBE]);
    assert_eq!(
        s.nemesis.kill_target,
        crate::cluster::Target::Nodes(vec!["n1".into(), "n3".into()])
    );
    assert!(s.uses_clock_faults());
}
