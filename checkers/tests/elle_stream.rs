//! The streaming path of the transactional checkers (`check_jsonl`, straight into the
//! compact form) against the `History` path: the same result, to the word, on every golden
//! history, on generated ones under every consistency model, with each planted anomaly, and
//! the same errors on damaged files.

use std::path::{Path, PathBuf};

use faultline_checkers::elle::gen::{self, GenConfig, Inject};
use faultline_checkers::elle::{ConsistencyModel, ListAppend, RwRegister};
use faultline_checkers::format::{jsonl, read_str, ReadOptions};
use faultline_checkers::{Budget, CheckResult, Checker, History};

/// Both ways of checking one JSON Lines text: (via `History`, streamed).
fn both(text: &str, register: bool, model: ConsistencyModel) -> (CheckResult, CheckResult) {
    let budget = Budget::default();
    let history = read_str(text, "h.jsonl", &ReadOptions::default()).expect("readable");
    if register {
        let c = RwRegister { model };
        let streamed = c.check_jsonl(text.as_bytes(), "h.jsonl", &budget).unwrap();
        assert_eq!(streamed.1.ops, history.ops.len());
        assert_eq!(streamed.1.events, history.event_count);
        (c.check(&history, &budget), streamed.0)
    } else {
        let c = ListAppend { model };
        let streamed = c.check_jsonl(text.as_bytes(), "h.jsonl", &budget).unwrap();
        assert_eq!(streamed.1.ops, history.ops.len());
        (c.check(&history, &budget), streamed.0)
    }
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
    .check_jsonl(orphan.as_bytes(), "h.jsonl", &Budget::default())
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
