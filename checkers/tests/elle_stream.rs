//! The streaming path of the transactional checkers (`check_jsonl`, straight into the
//! compact form) against the `History` path: the same result, to the word and with the
//! anomalies' ops filled in, on every golden history, on generated ones under every
//! consistency model, with each planted anomaly, and the same errors on damaged files; the
//! same nemesis events, nodes and last time, which the faults in force are found from.

use std::path::{Path, PathBuf};

use faultline_checkers::elle::gen::{self, GenConfig, Inject};
use faultline_checkers::elle::{ConsistencyModel, ListAppend, RwRegister};
use faultline_checkers::format::{jsonl, read_str, ReadOptions};
use faultline_checkers::{fill_op_refs, Budget, CheckResult, Checker, History};

/// Both ways of checking one JSON Lines text: (via `History` with the anomalies' ops
/// filled in, streamed). What the stream says besides is held to what the history says.
fn both(text: &str, register: bool, model: ConsistencyModel) -> (CheckResult, CheckResult) {
    let budget = Budget::default();
    let history = read_str(text, "h.jsonl", &ReadOptions::default()).expect("readable");
    let mut nemesis = Vec::new();
    let mut on_nemesis = |n| nemesis.push(n);
    let (checker, streamed): (Box<dyn Checker>, _) = if register {
        let c = RwRegister { model };
        let streamed = c.check_jsonl(text.as_bytes(), "h.jsonl", &budget, &mut on_nemesis);
        (Box::new(c), streamed)
    } else {
        let c = ListAppend { model };
        let streamed = c.check_jsonl(text.as_bytes(), "h.jsonl", &budget, &mut on_nemesis);
        (Box::new(c), streamed)
    };
    let (got, summary) = streamed.unwrap();
    assert_eq!(summary.ops, history.ops.len());
    assert_eq!(summary.events, history.event_count);
    assert_eq!(nemesis, history.nemesis);
    let nodes: std::collections::BTreeSet<String> =
        history.ops.iter().filter_map(|o| o.node.clone()).collect();
    assert_eq!(summary.nodes, nodes.into_iter().collect::<Vec<_>>());
    let times = history
        .ops
        .iter()
        .flat_map(|o| [o.invoke_time, o.complete_time]);
    let last = times
        .chain(history.nemesis.iter().map(|n| n.event.time))
        .max();
    assert_eq!(summary.last_time_ns, last.flatten());
    let mut want = checker.check(&history, &budget);
    fill_op_refs(std::slice::from_mut(&mut want), &history);
    (want, got)
}

fn text_of(history: &History) -> String {
    let mut out = Vec::new();
    jsonl::write_history(history, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn every_golden_history_gets_the_same_result_streamed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/elle");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "golden histories are missing");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let register = path.to_string_lossy().contains("rw-register");
        for model in ConsistencyModel::ALL {
            let (want, got) = both(&text, register, model);
            assert_eq!(got, want, "{} under {}", path.display(), model.name());
        }
    }
}

#[test]
fn generated_histories_with_each_planted_anomaly_get_the_same_result_streamed() {
    for seed in 0..6 {
        let config = GenConfig {
            seed,
            txns: 600,
            clients: 6,
            active_keys: 4,
            ..GenConfig::default()
        };
        let clean = gen::list_append(&config);
        let (want, got) = both(
            &text_of(&clean),
            false,
            ConsistencyModel::StrictSerializable,
        );
        assert_eq!(got, want, "seed {seed}");
        for anomaly in Inject::ALL {
            let mut history = clean.clone();
            if gen::inject(&mut history, anomaly, seed).is_err() {
                continue;
            }
            let (want, got) = both(&text_of(&history), false, ConsistencyModel::Serializable);
            assert_eq!(got, want, "seed {seed}, {anomaly:?}");
            assert!(got.summary.contains(anomaly.expected()), "{}", got.summary);
        }
        for weak in [
            gen::list_append_snapshot(&config),
            gen::list_append_read_committed(&config),
        ] {
            for model in ConsistencyModel::ALL {
                let (want, got) = both(&text_of(&weak), false, model);
                assert_eq!(got, want, "seed {seed}, weak store, {}", model.name());
            }
        }
        let register = gen::rw_register(&config);
        let (want, got) = both(
            &text_of(&register),
            true,
            ConsistencyModel::StrictSerializable,
        );
        assert_eq!(got, want, "seed {seed}, rw-register");
    }
}

#[test]
fn a_malformed_transaction_is_unknown_both_ways_and_a_broken_file_an_error_naming_the_line() {
    let bad_mop =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"r\",\"x\",null]]}\n\
                   {\"process\":0,\"type\":\"ok\",\"f\":\"txn\",\"value\":[[\"r\",\"x\",7]]}\n";
    let (want, got) = both(bad_mop, false, ConsistencyModel::Serializable);
    assert_eq!(got, want);
    assert_eq!(got.verdict, faultline_checkers::Verdict::Unknown);
    let orphan = "{\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[]}\n\
                  {\"process\":1,\"type\":\"ok\",\"f\":\"txn\",\"value\":[]}\n";
    let err = ListAppend {
        model: ConsistencyModel::Serializable,
    }
    .check_jsonl(
        orphan.as_bytes(),
        "h.jsonl",
        &Budget::default(),
        &mut |_| {},
    )
    .unwrap_err();
    let want = read_str(orphan, "h.jsonl", &ReadOptions::default()).unwrap_err();
    assert_eq!(err, want);
    assert_eq!(err.line, Some(2));
}

#[test]
fn lines_off_the_fast_path_get_the_same_result_streamed() {
    let invoke = |p: u32, v: &str| {
        format!("{{\"process\":{p},\"type\":\"invoke\",\"f\":\"txn\",\"value\":{v}}}\n")
    };
    let ok = |p: u32, v: &str| {
        format!("{{\"process\":{p},\"type\":\"ok\",\"f\":\"txn\",\"value\":{v}}}\n")
    };
    let cases = [
        // An escaped key, an integer key and a string key of the same digits.
        (
            r#"[["append","a\"b",1],["append",7,2],["append","7",3]]"#,
            r#"[["r","a\"b",[1]],["r",7,[2]],["r","7",[3]]]"#,
        ),
        // A micro-op with a fourth element, a float, a key that is a list.
        (r#"[["append","x",1,"extra"]]"#, r#"[["r","x",[1]]]"#),
        (r#"[["append","x",1.5]]"#, r#"[["r","x",null]]"#),
        (r#"[["append",["k"],1]]"#, r#"[["r","x",null]]"#),
        // An integer beyond 64 bits, and a value that is not a list of micro-ops.
        (
            r#"[["append","x",100000000000000000000]]"#,
            r#"[["r","x",[]]]"#,
        ),
        (r#""txn""#, r#"[]"#),
        (r#"[["w","x",1]]"#, r#"[["r","x",1]]"#),
    ];
    for (first, second) in cases {
        let text = format!(
            "{}{}{}{}",
            invoke(0, first),
            ok(0, first),
            invoke(1, "[]"),
            ok(1, second)
        );
        for model in [
            ConsistencyModel::Serializable,
            ConsistencyModel::StrictSerializable,
        ] {
            let (want, got) = both(&text, false, model);
            assert_eq!(got, want, "{first} / {second}");
            let (want, got) = both(&text, true, model);
            assert_eq!(got, want, "rw-register: {first} / {second}");
        }
    }
}

#[test]
fn a_cycle_during_a_partition_names_where_its_transactions_ran_streamed() {
    // A G1c between two transactions served by n1 and n3 while n3 was cut off; nemesis
    // values of every shape (a grudge, a list, null: the last one a line the fast reader
    // could take); a non-transaction op whose node counts among the nodes.
    let text = concat!(
        r#"{"process":"nemesis","type":"info","f":"start-partition","value":{"n3":["n1","n2"]},"time":1000}"#,
        "\n",
        r#"{"process":0,"type":"invoke","f":"txn","value":[["append","x",1],["r","y",null]],"time":2000,"node":"n1"}"#,
        "\n",
        r#"{"process":1,"type":"invoke","f":"txn","value":[["append","y",2],["r","x",null]],"time":2100,"node":"n2"}"#,
        "\n",
        r#"{"process":0,"type":"ok","f":"txn","value":[["append","x",1],["r","y",[2]]],"time":3000}"#,
        "\n",
        r#"{"process":1,"type":"ok","f":"txn","value":[["append","y",2],["r","x",[1]]],"time":3100,"node":"n3"}"#,
        "\n",
        r#"{"process":"nemesis","type":"info","f":"kill","value":["n2"],"time":3200}"#,
        "\n",
        r#"{"process":2,"type":"invoke","f":"ping","value":null,"time":3300,"node":"n4"}"#,
        "\n",
        r#"{"process":"nemesis","type":"info","f":"stop-partition","value":null,"time":4000}"#,
        "\n",
    );
    let (want, got) = both(text, false, ConsistencyModel::Serializable);
    assert_eq!(got, want);
    assert_eq!(got.anomalies[0].kind, "G1c");
    let placed: Vec<_> = got.anomalies[0]
        .ops
        .iter()
        .map(|o| {
            (
                o.op,
                o.line,
                o.process,
                o.node.as_deref(),
                o.start_ns,
                o.end_ns,
            )
        })
        .collect();
    assert_eq!(
        placed,
        [
            (0, Some(2), Some(0), Some("n1"), Some(2000), Some(3000)),
            (1, Some(3), Some(1), Some("n3"), Some(2100), Some(3100)),
        ]
    );
}
