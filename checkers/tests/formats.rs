//! History formats end to end: golden histories whose names carry their verdict, and round
//! trips through every writer on real Jepsen files.

use std::path::{Path, PathBuf};

use faultline_checkers::format::{self, jepsen, jsonl, Format, ReadOptions};
use faultline_checkers::registry::{self, CheckerOptions};
use faultline_checkers::{Budget, History, Verdict};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// The corpus of other tools' histories is not part of the repository: tests on it run
/// only when `FAULTLINE_TESTDATA` names the testdata folder (the one holding `knossos/`).
const TESTDATA_VAR: &str = "FAULTLINE_TESTDATA";

/// Knossos's histories (`.edn` under `$FAULTLINE_TESTDATA/knossos`), or `None` when the
/// variable is unset, after saying on stderr that `test` did not run. A variable that is set
/// but names a folder without histories fails the test: a corpus that silently vanished
/// must not look like a pass.
fn knossos_files(test: &str) -> Option<Vec<PathBuf>> {
    let Some(testdata) = std::env::var_os(TESTDATA_VAR) else {
        eprintln!(
            "skipped: {test} needs Knossos's histories; set {TESTDATA_VAR}=/path/to/testdata \
             (the folder holding knossos/)"
        );
        return None;
    };
    let root = Path::new(&testdata).join("knossos");
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "edn") {
                files.push(path);
            }
        }
    }
    assert!(
        !files.is_empty(),
        "{TESTDATA_VAR} is set but {} holds no .edn history",
        root.display()
    );
    files.sort();
    Some(files)
}

/// `<checker>-<what>-<good|bad>.<ext>` → (checker, expected verdict).
fn name_parts(path: &Path) -> (&'static str, Verdict) {
    let stem = path.file_stem().unwrap().to_str().unwrap();
    let verdict = if stem.ends_with("-good") {
        Verdict::Valid
    } else if stem.ends_with("-bad") {
        Verdict::Invalid
    } else {
        panic!(
            "{}: a golden history's name ends in -good or -bad",
            path.display()
        )
    };
    let checker = registry::CHECKERS
        .iter()
        .map(|c| c.name)
        .filter(|name| stem.starts_with(&format!("{name}-")))
        .max_by_key(|name| name.len())
        .unwrap_or_else(|| panic!("{}: the name starts with no checker's name", path.display()));
    (checker, verdict)
}

#[test]
fn golden_histories_get_the_verdict_in_their_name() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "golden histories missing: {files:?}");
    let mut wrong = Vec::new();
    for path in &files {
        let (name, expected) = name_parts(path);
        let history =
            format::read_path(path, &ReadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        let checker = registry::build(name, &CheckerOptions::default()).unwrap();
        let result = checker.check(&history, &Budget::default());
        if result.verdict != expected {
            wrong.push(format!(
                "{}: {} (expected {expected}): {}",
                path.display(),
                result.verdict,
                result.summary
            ));
        }
    }
    assert!(wrong.is_empty(), "wrong verdicts:\n{}", wrong.join("\n"));
}

#[test]
fn the_golden_histories_cover_every_format() {
    let formats: Vec<Format> = std::fs::read_dir(golden_dir())
        .unwrap()
        .filter_map(|e| Format::from_extension(&e.unwrap().path()))
        .collect();
    for f in Format::ALL {
        assert!(formats.contains(&f), "no golden history in {f}");
    }
}

/// Ops as the checkers see them, without source lines (which a writer renumbers).
fn ops_without_lines(mut h: History) -> History {
    for op in &mut h.ops {
        op.line = 0;
    }
    h.warnings.clear();
    h
}

#[test]
fn a_read_of_another_integer_beyond_64_bits_is_invalid_in_json_lines_as_in_edn() {
    let jsonl =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":100000000000000000000}\n\
                 {\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":100000000000000000000}\n\
                 {\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n\
                 {\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":100000000000000000001}\n";
    let edn = "[{:process 0, :type :invoke, :f :write, :value 100000000000000000000}\n\
                {:process 0, :type :ok, :f :write, :value 100000000000000000000}\n\
                {:process 1, :type :invoke, :f :read, :value nil}\n\
                {:process 1, :type :ok, :f :read, :value 100000000000000000001}]\n";
    let checker = registry::build("register", &CheckerOptions::default()).unwrap();
    let verdict = |text: &str| {
        let history = format::read_str(text, "h", &ReadOptions::default()).unwrap();
        checker.check(&history, &Budget::default()).verdict
    };
    assert_eq!(verdict(edn), Verdict::Invalid);
    assert_eq!(verdict(jsonl), Verdict::Invalid);
    // And the read of the value written is fine in both.
    let same = |t: &str| t.replace("100000000000000000001", "100000000000000000000");
    assert_eq!(verdict(&same(edn)), Verdict::Valid);
    assert_eq!(verdict(&same(jsonl)), Verdict::Valid);
}

/// Exports each history to EDN and reads it back: the ops must be the same.
fn assert_edn_round_trips(files: &[PathBuf]) {
    for path in files {
        let first = format::read_path(path, &ReadOptions::default()).unwrap();
        let edn = jepsen::to_edn_string(&first);
        let again = jepsen::read_edn(&edn, "exported.edn", None)
            .unwrap_or_else(|e| panic!("{}: the export does not read back: {e}", path.display()));
        let (a, b) = (ops_without_lines(first.clone()), ops_without_lines(again));
        assert_eq!(a.ops, b.ops, "{}", path.display());
        assert_eq!(a.nemesis.len(), b.nemesis.len(), "{}", path.display());
    }
}

#[test]
fn golden_histories_exported_to_edn_and_imported_again_give_the_same_ops() {
    let files: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    assert!(!files.is_empty(), "the golden histories are missing");
    assert_edn_round_trips(&files);
}

#[test]
fn knossos_histories_exported_to_edn_and_imported_again_give_the_same_ops() {
    let Some(files) = knossos_files("knossos_histories_exported_to_edn_and_imported_again") else {
        return;
    };
    assert!(
        files.len() > 30,
        "the Knossos testdata is incomplete: {files:?}"
    );
    assert_edn_round_trips(&files);
}

#[test]
fn a_jepsen_history_converted_to_json_lines_reads_back_the_same() {
    let Some(files) = knossos_files("a_jepsen_history_converted_to_json_lines_reads_back") else {
        return;
    };
    for path in files.into_iter().take(8) {
        let h = format::read_path(&path, &ReadOptions::default()).unwrap();
        let mut out = Vec::new();
        jsonl::write_history(&h, &mut out).unwrap();
        let back = jsonl::read_jsonl(out.as_slice(), "converted.jsonl").unwrap();
        assert_eq!(
            ops_without_lines(back).ops,
            ops_without_lines(h).ops,
            "{}",
            path.display()
        );
    }
}

#[test]
fn independent_keys_survive_an_edn_round_trip() {
    let path = golden_dir().join("cas-register-independent-keys-bad.edn");
    let h = format::read_path(&path, &ReadOptions::default()).unwrap();
    assert_eq!(h.by_key().len(), 2);
    let edn = jepsen::to_edn_string(&h);
    assert!(edn.contains(":value [2 [5 6]]"), "{edn}");
    let back = jepsen::read_edn(&edn, "exported.edn", None).unwrap();
    assert_eq!(back.by_key().len(), 2);
}

#[test]
fn reading_a_knossos_cas_history_as_independent_keys_is_refused_with_the_line() {
    let Some(files) = knossos_files("reading_a_knossos_cas_history_as_independent_keys") else {
        return;
    };
    let path = files
        .into_iter()
        .find(|p| p.ends_with("cas-register/good/memstress3-0.edn"))
        .expect("memstress3-0.edn in the Knossos testdata");
    let opts = ReadOptions {
        independent: Some(true),
        ..ReadOptions::default()
    };
    let err = format::read_path(&path, &opts).unwrap_err();
    assert!(err.line.is_some());
    assert!(err.message.contains("not a [key value] tuple"), "{err}");
    // Undetected by default: its reads invoke with nil.
    let h = format::read_path(&path, &ReadOptions::default()).unwrap();
    assert!(h.ops.iter().all(|op| op.key.is_none()));
}

mod round_trips {
    use faultline_checkers::format::{jepsen, jsonl};
    use faultline_checkers::{Event, EventType, History, Process};
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            any::<u64>().prop_map(|u| json!(u)),
            (-1_000_000i64..1_000_000).prop_map(|i| json!(i as f64 / 8.0)),
            "[a-z0-9 \"\\\\\n\t:#{}()-]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(2, 8, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z][a-z0-9-]{0,4}|[0-9]{1,3}|x y", inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Client ops of 4 processes, each completed or left open, with or without keys.
    fn history() -> impl Strategy<Value = History> {
        let op = (
            0u64..4,
            prop_oneof![
                Just("read"),
                Just("write"),
                Just("cas"),
                Just("add"),
                Just("odd f")
            ],
            value(),
            value(),
            prop_oneof![
                Just(EventType::Ok),
                Just(EventType::Fail),
                Just(EventType::Info)
            ],
            "[a-z]{1,3}|[0-9]{1,2}|0[0-9]",
            any::<bool>(),
        );
        (prop::collection::vec(op, 0..12), any::<bool>()).prop_map(|(ops, keyed)| {
            let mut events = Vec::new();
            let mut open: Vec<Option<Event>> = vec![None; 4];
            for (p, f, v1, v2, kind, key, complete_now) in ops {
                let ev = |kind, value| Event {
                    index: 0,
                    time: None,
                    process: Process::Client(p),
                    kind,
                    f: f.to_string(),
                    key: keyed.then(|| key.clone()),
                    value,
                    node: None,
                    error: None,
                    response: None,
                };
                if let Some(done) = open[p as usize].take() {
                    events.push(done);
                }
                events.push(ev(EventType::Invoke, v1));
                let completion = ev(kind, v2);
                if complete_now {
                    events.push(completion);
                } else {
                    open[p as usize] = Some(completion);
                }
            }
            History::from_events(events).unwrap()
        })
    }

    fn without_lines(mut h: History) -> History {
        for op in &mut h.ops {
            op.line = 0;
        }
        h
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 300,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn edn_export_reads_back_as_the_same_ops(h in history()) {
            let keyed = h.ops.first().is_some_and(|op| op.key.is_some());
            let text = jepsen::to_edn_string(&h);
            let back = jepsen::read_edn(&text, "exported.edn", Some(keyed))
                .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            prop_assert_eq!(without_lines(back).ops, without_lines(h).ops, "{}", text);
        }

        #[test]
        fn json_lines_read_back_as_the_same_history(h in history()) {
            let mut out = Vec::new();
            jsonl::write_history(&h, &mut out).unwrap();
            let back = jsonl::read_jsonl(out.as_slice(), "h.jsonl").unwrap();
            prop_assert_eq!(without_lines(back).ops, without_lines(h).ops);
        }
    }
}
