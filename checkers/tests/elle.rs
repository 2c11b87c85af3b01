//! Elle checkers against golden histories (hand-written, named for their verdict) and
//! generated ones (strictly serializable by construction, or with one planted anomaly).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use faultline_checkers::elle::gen::{self, GenConfig, Inject};
use faultline_checkers::elle::{ConsistencyModel, ListAppend, RwRegister};
use faultline_checkers::{Budget, CheckResult, Checker, Event, History, Verdict};
use serde_json::Value;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/elle")
}

fn load(path: &Path) -> History {
    let text = std::fs::read_to_string(path).unwrap();
    let events = text.lines().enumerate().map(|(i, line)| {
        serde_json::from_str::<Event>(line)
            .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), i + 1))
    });
    History::from_events(events).unwrap()
}

fn golden(name: &str) -> History {
    load(&golden_dir().join(name))
}

fn kinds(result: &CheckResult) -> BTreeSet<String> {
    result.details["anomaly_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect()
}

fn list_append(model: ConsistencyModel) -> ListAppend {
    ListAppend { model }
}

/// Anomalies that cannot occur alone: a lost update is also a cycle, and a dirty update
/// is also an aborted read.
fn companions(checker: &str, kind: &str) -> &'static [&'static str] {
    match (checker, kind) {
        ("list-append", "lost-update") => &["G-single"],
        ("rw-register", "lost-update") => &["G2-item"],
        ("list-append", "dirty-update") => &["G1a"],
        _ => &[],
    }
}

#[test]
fn every_golden_history_gets_the_verdict_and_anomaly_its_name_gives() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "golden histories are missing");
    for path in files {
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let (checker, rest): (Box<dyn Checker>, &str) =
            if let Some(rest) = name.strip_prefix("list-append-") {
                (
                    Box::new(list_append(ConsistencyModel::StrictSerializable)),
                    rest,
                )
            } else if let Some(rest) = name.strip_prefix("rw-register-") {
                let model = ConsistencyModel::StrictSerializable;
                (Box::new(RwRegister { model }), rest)
            } else {
                panic!("{name}: golden files start with the checker's name");
            };
        let result = checker.check(&load(&path), &Budget::default());
        let found = kinds(&result);
        if rest == "ok" || rest.ends_with("-ok") {
            assert_eq!(result.verdict, Verdict::Valid, "{name}: {result:#?}");
            assert!(found.is_empty(), "{name}: {found:?}");
            continue;
        }
        // `{checker}-{anomaly}-bad[-{what is special}]`
        let expected = rest.split_once("-bad").expect("-ok or -bad").0;
        let mut want: BTreeSet<String> = found
            .iter()
            .filter(|k| k.to_lowercase() == expected)
            .cloned()
            .collect();
        assert_eq!(
            want.len(),
            1,
            "{name}: expected {expected}, found {found:?}"
        );
        let kind = want.iter().next().unwrap().clone();
        want.extend(
            companions(checker.name(), &kind)
                .iter()
                .map(|k| k.to_string()),
        );
        assert_eq!(found, want, "{name}: {}", result.details);
        assert_eq!(result.verdict, Verdict::Invalid, "{name}");
        assert!(result.anomalies.iter().any(|a| a.kind == kind), "{name}");
        assert!(result.summary.contains(&kind), "{name}: {}", result.summary);
    }
}

#[test]
fn explains_a_g_single_cycle_in_words_naming_transactions_and_processes() {
    let result = list_append(ConsistencyModel::StrictSerializable).check(
        &golden("list-append-g-single-bad.jsonl"),
        &Budget::default(),
    );
    let anomaly = &result.anomalies[0];
    assert_eq!(anomaly.kind, "G-single");
    assert_eq!(
        anomaly.explanation,
        "T1 (process 1) read x without 1, which T0 (process 0) appended; T0 appended 1 to y, \
         which T1 read: a cycle (G-single), so no serial order of the transactions explains \
         what they observed"
    );
    let cycle = anomaly.data["cycle"].as_array().unwrap();
    assert_eq!(cycle.len(), 2);
    assert_eq!(cycle[0]["op"], 1);
    assert_eq!(cycle[0]["edge"], "rw");
    assert_eq!(cycle[0]["key"], "x");
    assert_eq!(cycle[0]["value"], 1);
    assert_eq!(cycle[0]["to"], 0);
    assert_eq!(cycle[1]["edge"], "wr");
    assert_eq!(cycle[1]["key"], "y");
    let typed = faultline_checkers::elle::anomaly::Cycle::from_json(&anomaly.data).unwrap();
    assert_eq!(
        typed.cycle[0].to, typed.cycle[1].op,
        "each step leads to the next"
    );
    assert_eq!(typed.cycle[1].value, Some(1));
}

#[test]
fn names_the_isolation_levels_a_history_rules_out() {
    let levels = |file: &str| {
        let result = list_append(ConsistencyModel::StrictSerializable)
            .check(&golden(file), &Budget::default());
        result.details["not"].clone()
    };
    let all = [
        "read-committed",
        "snapshot-isolation",
        "serializable",
        "strict-serializable",
    ];
    assert_eq!(levels("list-append-g1c-bad.jsonl"), serde_json::json!(all));
    assert_eq!(
        levels("list-append-g-single-bad.jsonl"),
        serde_json::json!(all[1..])
    );
    assert_eq!(
        levels("list-append-g2-item-bad.jsonl"),
        serde_json::json!(all[2..])
    );
    assert_eq!(
        levels("list-append-g-single-realtime-bad.jsonl"),
        serde_json::json!(all[3..])
    );
    assert_eq!(levels("list-append-ok.jsonl"), serde_json::json!([]));
}

#[test]
fn a_weaker_model_turns_the_anomalies_it_allows_into_notes() {
    let write_skew = golden("list-append-g2-item-bad.jsonl");
    let si =
        list_append(ConsistencyModel::SnapshotIsolation).check(&write_skew, &Budget::default());
    assert_eq!(si.verdict, Verdict::Valid);
    assert!(si.anomalies.is_empty());
    assert_eq!(si.details["anomaly_types"], serde_json::json!(["G2-item"]));
    assert!(si.warnings.iter().any(|w| w.contains("G2-item")));
    let serializable =
        list_append(ConsistencyModel::Serializable).check(&write_skew, &Budget::default());
    assert_eq!(serializable.verdict, Verdict::Invalid);

    let stale = golden("list-append-g-single-realtime-bad.jsonl");
    let plain = list_append(ConsistencyModel::Serializable).check(&stale, &Budget::default());
    assert_eq!(plain.verdict, Verdict::Valid);
    let strict =
        list_append(ConsistencyModel::StrictSerializable).check(&stale, &Budget::default());
    assert_eq!(strict.verdict, Verdict::Invalid);

    // A register read that is stale only in real time: fine for serializability.
    let stale = golden("rw-register-g-single-realtime-bad-stale.jsonl");
    let model = ConsistencyModel::Serializable;
    let plain = RwRegister { model }.check(&stale, &Budget::default());
    assert_eq!(plain.verdict, Verdict::Valid, "{}", plain.details);
    assert_eq!(
        plain.details["not"],
        serde_json::json!(["strict-serializable"])
    );

    // Non-repeatable reads: fine for read committed, not for snapshot isolation.
    for (file, register) in [
        ("list-append-g-single-bad-nonrepeatable.jsonl", false),
        ("rw-register-g-single-bad-nonrepeatable.jsonl", true),
    ] {
        let history = golden(file);
        for (model, verdict) in [
            (ConsistencyModel::ReadCommitted, Verdict::Valid),
            (ConsistencyModel::SnapshotIsolation, Verdict::Invalid),
        ] {
            let result = if register {
                RwRegister { model }.check(&history, &Budget::default())
            } else {
                ListAppend { model }.check(&history, &Budget::default())
            };
            assert_eq!(
                result.verdict, verdict,
                "{file} {model:?}: {}",
                result.summary
            );
        }
    }

    let aborted = golden("list-append-g1a-bad.jsonl");
    let rc = list_append(ConsistencyModel::ReadCommitted).check(&aborted, &Budget::default());
    assert_eq!(rc.verdict, Verdict::Invalid);
}

#[test]
fn a_micro_operation_of_the_wrong_shape_makes_the_verdict_unknown_naming_the_line() {
    let mut history = golden("list-append-g1a-bad.jsonl");
    history.ops[1].value = serde_json::json!([["increment", "x", 1]]);
    let result =
        list_append(ConsistencyModel::StrictSerializable).check(&history, &Budget::default());
    assert_eq!(result.verdict, Verdict::Unknown);
    assert!(result.summary.contains("line 3"), "{}", result.summary);
    assert!(result.summary.contains("increment"), "{}", result.summary);
}

fn generated(seed: u64, txns: usize) -> History {
    gen::list_append(&GenConfig {
        seed,
        txns,
        clients: 8,
        ..GenConfig::default()
    })
}

#[test]
fn generated_strictly_serializable_histories_pass() {
    for seed in 0..20 {
        let history = generated(seed, 2_000);
        let result =
            list_append(ConsistencyModel::StrictSerializable).check(&history, &Budget::default());
        assert_eq!(
            result.verdict,
            Verdict::Valid,
            "seed {seed}: {}",
            result.details
        );
        assert_eq!(result.details["anomaly_types"], serde_json::json!([]));
        assert!(result.details["stats"]["fail"].as_u64().unwrap() > 0);
        assert!(result.details["stats"]["info"].as_u64().unwrap() > 0);
    }
}

#[test]
fn generated_histories_survive_a_round_trip_through_jsonl() {
    let history = generated(7, 300);
    let lines: Vec<String> = history
        .to_events()
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    let events = lines
        .iter()
        .map(|l| serde_json::from_str::<Event>(l).unwrap());
    let back = History::from_events(events).unwrap();
    let checker = list_append(ConsistencyModel::StrictSerializable);
    let a = checker.check(&history, &Budget::default());
    let b = checker.check(&back, &Budget::default());
    assert_eq!(a.verdict, Verdict::Valid);
    assert_eq!(a.details["stats"], b.details["stats"]);
}

#[test]
fn each_injected_anomaly_is_reported_and_nothing_else() {
    for anomaly in Inject::ALL {
        let mut planted = 0;
        for seed in 0..12 {
            let mut history = generated(100 + seed, 600);
            let Ok(op) = gen::inject(&mut history, anomaly, seed) else {
                continue;
            };
            planted += 1;
            let result = list_append(ConsistencyModel::StrictSerializable)
                .check(&history, &Budget::default());
            let found = kinds(&result);
            assert_eq!(found.len(), 1, "{anomaly:?} seed {seed}: {found:?}");
            let kind = found.iter().next().unwrap();
            assert!(
                kind.starts_with(anomaly.expected()),
                "{anomaly:?} seed {seed}: {kind}"
            );
            assert_eq!(result.verdict, Verdict::Invalid);
            let ops: Vec<u64> = collect_ops(&result.details["anomalies"][kind.as_str()][0]);
            assert!(
                ops.contains(&(op as u64)),
                "{anomaly:?} seed {seed}: op {op} not in {ops:?}"
            );
        }
        assert!(
            planted >= 6,
            "{anomaly:?} could be planted only {planted} times"
        );
    }
}

/// Every op id an anomaly's evidence names: its `ops`, or the steps of its cycle.
fn collect_ops(entry: &Value) -> Vec<u64> {
    if let Some(cycle) = entry["cycle"].as_array() {
        return cycle.iter().map(|s| s["op"].as_u64().unwrap()).collect();
    }
    entry["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_u64().unwrap())
        .collect()
}

#[test]
fn a_stale_read_is_allowed_by_serializability_but_not_strict_serializability() {
    let mut history = generated(3, 800);
    gen::inject(&mut history, Inject::StaleRead, 1).unwrap();
    let strict =
        list_append(ConsistencyModel::StrictSerializable).check(&history, &Budget::default());
    assert_eq!(strict.verdict, Verdict::Invalid);
    assert_eq!(
        strict.details["not"],
        serde_json::json!(["strict-serializable"])
    );
    let plain = list_append(ConsistencyModel::Serializable).check(&history, &Budget::default());
    assert_eq!(plain.verdict, Verdict::Valid);
}

#[test]
fn generated_strictly_serializable_register_histories_pass() {
    for seed in 0..10 {
        let history = gen::rw_register(&GenConfig {
            seed,
            txns: 2_000,
            clients: 8,
            ..GenConfig::default()
        });
        let result = RwRegister {
            model: ConsistencyModel::StrictSerializable,
        }
        .check(&history, &Budget::default());
        assert_eq!(
            result.verdict,
            Verdict::Valid,
            "seed {seed}: {}",
            result.details
        );
        assert_eq!(result.details["anomaly_types"], serde_json::json!([]));
        assert!(result.details["stats"]["edges"].as_u64().unwrap() > 2_000);
    }
}

#[test]
fn reports_each_of_several_stale_reads_even_when_their_cycles_overlap() {
    let mut history = generated(5, 1_500);
    let mut planted = BTreeSet::new();
    for seed in 0..40 {
        if planted.len() == 4 {
            break;
        }
        let op = gen::inject(&mut history, Inject::StaleRead, seed).unwrap();
        planted.insert(op);
    }
    assert_eq!(planted.len(), 4);
    let result =
        list_append(ConsistencyModel::StrictSerializable).check(&history, &Budget::default());
    let counts = result.details["counts"].as_object().unwrap();
    assert!(
        counts.keys().all(|k| k.starts_with("G-single")),
        "{counts:?}"
    );
    let total: u64 = counts.values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(total, 4, "{}", result.details);
    let readers: BTreeSet<u64> = result
        .anomalies
        .iter()
        .map(|a| a.data["cycle"][0]["op"].as_u64().unwrap())
        .collect();
    assert_eq!(readers, planted.iter().map(|&o| o as u64).collect());
}

/// Makes one read-only register read in a generated history return a value that a later
/// committed write had overwritten before the read began; returns the reader's op id.
fn plant_stale_register_read(history: &mut History) -> Option<usize> {
    use faultline_checkers::Outcome;
    // key -> (invoked, completed, value) of committed single writes
    let mut writes: std::collections::HashMap<String, Vec<(usize, usize, Value)>> =
        Default::default();
    for op in history.ops.iter().filter(|o| o.outcome == Outcome::Ok) {
        let mops = op.value.as_array().unwrap();
        for m in mops.iter().filter(|m| m[0] == "w") {
            let once = mops.iter().filter(|x| x[1] == m[1]).count() == 1;
            if once {
                let entry = (op.invoke_pos, op.complete_pos.unwrap(), m[2].clone());
                writes.entry(m[1].to_string()).or_default().push(entry);
            }
        }
    }
    for i in 0..history.ops.len() {
        let op = &history.ops[i];
        let mops = op.value.as_array().unwrap();
        if op.outcome != Outcome::Ok || mops.len() != 1 || mops[0][0] != "r" {
            continue;
        }
        let key = mops[0][1].to_string();
        let candidates = writes.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        // An old write, overwritten in real time by a newer one that completed before
        // this read began.
        let old = candidates.iter().find(|a| {
            candidates
                .iter()
                .any(|b| a.1 < b.0 && b.1 < op.invoke_pos && mops[0][2] != a.2)
        });
        let Some(old) = old else { continue };
        let stale = old.2.clone();
        history.ops[i].value[0][2] = stale.clone();
        history.ops[i].complete_value.as_mut().unwrap()[0][2] = stale;
        return Some(i);
    }
    None
}

#[test]
fn a_stale_register_read_planted_in_a_generated_history_is_a_realtime_cycle() {
    let mut planted = 0;
    for seed in 0..6 {
        let mut history = gen::rw_register(&GenConfig {
            seed,
            txns: 800,
            clients: 6,
            ..GenConfig::default()
        });
        let Some(reader) = plant_stale_register_read(&mut history) else {
            continue;
        };
        planted += 1;
        let model = ConsistencyModel::StrictSerializable;
        let result = RwRegister { model }.check(&history, &Budget::default());
        let found = kinds(&result);
        assert_eq!(found.len(), 1, "seed {seed}: {found:?}");
        let kind = found.iter().next().unwrap();
        assert!(
            kind == "G-single-realtime" || kind == "G-single-process",
            "seed {seed}: {kind}"
        );
        let cycle = &result.anomalies[0].data["cycle"];
        let ops: Vec<u64> = collect_ops(&serde_json::json!({ "cycle": cycle }));
        assert!(ops.contains(&(reader as u64)), "seed {seed}: {ops:?}");
    }
    assert!(planted >= 3, "planted only {planted}");
}

/// A small history of arbitrary transactions: random appends or writes of unique values,
/// reads of random lists or values (some never written), random outcomes, interleaved.
fn arbitrary_history(seed: u64, register: bool) -> History {
    use faultline_checkers::{EventType, Process};
    let mut rng = gen::Rng::new(seed);
    let mut events = Vec::new();
    let mut open: Vec<(u64, Value)> = Vec::new();
    let mut next_value = [1i64, 1, 1];
    let mut process = 0u64;
    for _ in 0..rng.below(30) + 4 {
        if !open.is_empty() && rng.chance(0.5) {
            let (p, invoked) = open.swap_remove(rng.below(open.len() as u64) as usize);
            let kind = match rng.below(10) {
                0 => EventType::Fail,
                1 => EventType::Info,
                _ => EventType::Ok,
            };
            let mut value = invoked.clone();
            if kind == EventType::Ok {
                for m in value.as_array_mut().unwrap() {
                    if m[0] == "r" {
                        let k = m[1].as_u64().unwrap() as usize;
                        m[2] = if register {
                            match rng.below(next_value[k] as u64 + 1) {
                                0 => Value::Null,
                                v => serde_json::json!(v),
                            }
                        } else {
                            let len = rng.below(next_value[k] as u64 + 1);
                            serde_json::json!((0..len)
                                .map(|_| 1 + rng.below(next_value[k] as u64))
                                .collect::<Vec<_>>())
                        };
                    }
                }
            }
            events.push(event(Process::Client(p), kind, value));
            continue;
        }
        let mops: Vec<Value> = (0..1 + rng.below(3))
            .map(|_| {
                let k = rng.below(3) as usize;
                if rng.chance(0.5) {
                    serde_json::json!(["r", k, null])
                } else {
                    next_value[k] += 1;
                    let f = if register { "w" } else { "append" };
                    serde_json::json!([f, k, next_value[k] - 1])
                }
            })
            .collect();
        process += 1;
        open.push((process, Value::Array(mops.clone())));
        events.push(event(
            Process::Client(process),
            EventType::Invoke,
            Value::Array(mops),
        ));
    }
    History::from_events(events).unwrap()
}

fn event(
    process: faultline_checkers::Process,
    kind: faultline_checkers::EventType,
    value: Value,
) -> Event {
    Event {
        index: 0,
        time: None,
        process,
        kind,
        f: "txn".into(),
        key: None,
        value,
        node: None,
        error: None,
        response: None,
    }
}

#[test]
fn arbitrary_histories_get_verdicts_that_weaken_with_the_model() {
    // Histories whose verdict changes between the weakest and the strongest model.
    let mut split = 0;
    for seed in 0..400 {
        for register in [false, true] {
            let history = arbitrary_history(seed, register);
            let verdicts: Vec<Verdict> = ConsistencyModel::ALL
                .into_iter()
                .map(|model| {
                    let result = if register {
                        RwRegister { model }.check(&history, &Budget::default())
                    } else {
                        ListAppend { model }.check(&history, &Budget::default())
                    };
                    assert_ne!(
                        result.verdict,
                        Verdict::Unknown,
                        "seed {seed}: {}",
                        result.summary
                    );
                    // Every cycle step names a real op and a known edge.
                    for a in &result.anomalies {
                        for step in a.data["cycle"].as_array().into_iter().flatten() {
                            assert!(step["op"].as_u64().unwrap() < history.ops.len() as u64);
                            let edge = step["edge"].as_str().unwrap();
                            assert!(["ww", "wr", "rw", "process", "realtime"].contains(&edge));
                        }
                    }
                    result.verdict
                })
                .collect();
            // Models are listed weakest first: once invalid, invalid for every stronger one.
            for pair in verdicts.windows(2) {
                assert!(
                    pair[0] <= pair[1],
                    "seed {seed} register {register}: {verdicts:?}"
                );
            }
            split += usize::from(verdicts.first() != verdicts.last());
        }
    }
    assert!(split >= 20, "only {split} histories split the models");
}

/// Brute force: is there an order of the committed transactions (plus any of the crashed
/// ones), consistent with real time when `realtime`, whose serial execution reproduces every
/// committed read? Exponential; for histories of a handful of transactions.
fn serializable_by_search(history: &History, register: bool, realtime: bool) -> bool {
    use faultline_checkers::Outcome;
    let live: Vec<usize> = (0..history.ops.len())
        .filter(|&i| history.ops[i].outcome != Outcome::Fail)
        .collect();
    let mut state: std::collections::HashMap<String, Vec<Value>> = Default::default();
    let mut placed = vec![false; history.ops.len()];
    search(history, &live, &mut placed, &mut state, register, realtime)
}

fn search(
    history: &History,
    live: &[usize],
    placed: &mut [bool],
    state: &mut std::collections::HashMap<String, Vec<Value>>,
    register: bool,
    realtime: bool,
) -> bool {
    use faultline_checkers::Outcome;
    let ok = |i: usize| history.ops[i].outcome == Outcome::Ok;
    if live.iter().all(|&i| placed[i] || !ok(i)) {
        return true;
    }
    for &b in live {
        if placed[b] {
            continue;
        }
        let ready = !realtime
            || live
                .iter()
                .all(|&a| placed[a] || !ok(a) || !history.ops[a].precedes(&history.ops[b]));
        if !ready {
            continue;
        }
        let saved = state.clone();
        let mut consistent = true;
        for m in history.ops[b].value.as_array().unwrap() {
            let list = state.entry(m[1].to_string()).or_default();
            if m[0] != "r" {
                list.push(m[2].clone());
            } else if ok(b) {
                let seen = if register {
                    list.last().cloned().unwrap_or(Value::Null)
                } else {
                    Value::Array(list.clone())
                };
                let read = match (&m[2], register) {
                    (Value::Null, false) => Value::Array(vec![]),
                    (v, _) => v.clone(),
                };
                if seen != read {
                    consistent = false;
                    break;
                }
            }
        }
        if consistent {
            placed[b] = true;
            if search(history, live, placed, state, register, realtime) {
                return true;
            }
            placed[b] = false;
        }
        *state = saved;
    }
    false
}

/// A tiny generated history, sometimes with one read bent out of shape.
fn small_history(seed: u64, register: bool) -> History {
    let config = GenConfig {
        seed,
        txns: 7,
        clients: 3,
        active_keys: 2,
        max_mops: 3,
        fail_rate: 0.1,
        crash_rate: 0.1,
        ..GenConfig::default()
    };
    let mut history = if register {
        gen::rw_register(&config)
    } else {
        gen::list_append(&config)
    };
    let mut rng = gen::Rng::new(seed);
    if rng.chance(0.6) {
        let i = rng.below(history.ops.len() as u64) as usize;
        let op = &mut history.ops[i];
        let mops = op.value.as_array().unwrap().len();
        let j = rng.below(mops as u64) as usize;
        if op.outcome == faultline_checkers::Outcome::Ok && op.value[j][0] == "r" {
            let bent = match (register, op.value[j][2].clone()) {
                (true, _) => serde_json::json!(1 + rng.below(3)),
                (false, Value::Array(mut l)) if !l.is_empty() && rng.chance(0.5) => {
                    l.remove(rng.below(l.len() as u64) as usize);
                    Value::Array(l)
                }
                (false, Value::Array(mut l)) => {
                    l.push(serde_json::json!(1 + rng.below(4)));
                    Value::Array(l)
                }
                (false, other) => other,
            };
            op.value[j][2] = bent.clone();
            op.complete_value.as_mut().unwrap()[j][2] = bent;
        }
    }
    history
}

#[test]
fn every_anomaly_reported_in_a_small_history_is_confirmed_by_brute_force() {
    let mut confirmed = 0;
    for seed in 0..300 {
        for register in [false, true] {
            let history = small_history(seed, register);
            for (model, realtime) in [
                (ConsistencyModel::Serializable, false),
                (ConsistencyModel::StrictSerializable, true),
            ] {
                let result = if register {
                    RwRegister { model }.check(&history, &Budget::default())
                } else {
                    ListAppend { model }.check(&history, &Budget::default())
                };
                if result.verdict == Verdict::Invalid {
                    assert!(
                        !serializable_by_search(&history, register, realtime),
                        "seed {seed} register {register} {model:?}: {} but an order exists",
                        result.summary
                    );
                    confirmed += 1;
                }
            }
        }
    }
    assert!(
        confirmed > 50,
        "only {confirmed} invalid verdicts to confirm"
    );
}

#[test]
fn on_small_list_append_histories_the_verdict_matches_brute_force_exactly() {
    // Registers hide their version order, so there the checker is sound but not complete
    // (the test above); lists reveal it, and on these histories nothing is missed.
    let mut invalid = 0;
    for seed in 0..500 {
        let history = small_history(seed, false);
        for (model, realtime) in [
            (ConsistencyModel::Serializable, false),
            (ConsistencyModel::StrictSerializable, true),
        ] {
            let result = ListAppend { model }.check(&history, &Budget::default());
            let exists = serializable_by_search(&history, false, realtime);
            assert_eq!(
                result.verdict == Verdict::Valid,
                exists,
                "seed {seed} {model:?}: {}",
                result.summary
            );
            invalid += usize::from(!exists);
        }
    }
    assert!(invalid > 100, "only {invalid} histories without an order");
}

/// Checks 30 histories from `generate` against `model`, each of which must be valid and
/// show only anomalies whose kind starts with one of `allowed`; returns the kinds found.
fn weak_store_anomalies(
    generate: fn(&GenConfig) -> History,
    model: ConsistencyModel,
    allowed: &[&str],
) -> Vec<BTreeSet<String>> {
    (0..30)
        .map(|seed| {
            let history = generate(&GenConfig {
                seed,
                txns: 1_500,
                clients: 8,
                active_keys: 4,
                ..GenConfig::default()
            });
            let result = ListAppend { model }.check(&history, &Budget::default());
            assert_eq!(
                result.verdict,
                Verdict::Valid,
                "seed {seed}: {}",
                result.details
            );
            let found = kinds(&result);
            assert!(
                found
                    .iter()
                    .all(|k| allowed.iter().any(|a| k.starts_with(a))),
                "seed {seed}: {found:?}"
            );
            found
        })
        .collect()
}

#[test]
fn snapshot_isolated_histories_show_write_skew_and_nothing_snapshot_isolation_forbids() {
    let found = weak_store_anomalies(
        gen::list_append_snapshot,
        ConsistencyModel::SnapshotIsolation,
        &["G2-item"],
    );
    let skewed = found.iter().filter(|f| !f.is_empty()).count();
    assert!(skewed >= 10, "write skew in only {skewed} histories");
}

#[test]
fn read_committed_histories_lose_updates_and_show_nothing_read_committed_forbids() {
    let found = weak_store_anomalies(
        gen::list_append_read_committed,
        ConsistencyModel::ReadCommitted,
        &["G-single", "G-nonadjacent", "G2-item", "lost-update"],
    );
    let lost = found.iter().filter(|f| f.contains("lost-update")).count();
    assert!(lost >= 10, "lost updates in only {lost} histories");
}

#[test]
fn a_value_written_twice_to_one_key_is_warned_about_naming_both_ops() {
    let lines = |write: &str| {
        [
            format!(
                r#"{{"index":0,"process":0,"type":"invoke","f":"txn","value":[["{write}","x",1]]}}"#
            ),
            format!(
                r#"{{"index":1,"process":0,"type":"ok","f":"txn","value":[["{write}","x",1]]}}"#
            ),
            format!(
                r#"{{"index":2,"process":1,"type":"invoke","f":"txn","value":[["{write}","x",1]]}}"#
            ),
            format!(
                r#"{{"index":3,"process":1,"type":"ok","f":"txn","value":[["{write}","x",1]]}}"#
            ),
        ]
    };
    let history = |write: &str| {
        History::from_events(
            lines(write)
                .iter()
                .map(|l| serde_json::from_str::<Event>(l).unwrap()),
        )
        .unwrap()
    };
    let model = ConsistencyModel::StrictSerializable;
    let appended = list_append(model).check(&history("append"), &Budget::default());
    let written = RwRegister { model }.check(&history("w"), &Budget::default());
    for (result, words) in [
        (
            appended,
            "x: 1 is appended more than once (ops 0 and 1); list-append",
        ),
        (
            written,
            "x: 1 is written more than once (ops 0 and 1); rw-register",
        ),
    ] {
        assert!(
            result.warnings.iter().any(|w| w.contains(words)),
            "{words}: {:?}",
            result.warnings
        );
    }
}

#[test]
fn a_dense_history_is_unknown_soon_after_the_time_limit() {
    use std::time::{Duration, Instant};
    // 16,000 concurrent transactions: 64 million anti-dependencies, several seconds of work
    // for either checker. A limit of 0.5 s must be kept; 2 s leaves room for a slow machine.
    let limit = Duration::from_millis(500);
    for register in [false, true] {
        let history = gen::all_concurrent(16_000, register);
        let checker: Box<dyn Checker> = match register {
            false => Box::new(list_append(ConsistencyModel::StrictSerializable)),
            true => Box::new(RwRegister {
                model: ConsistencyModel::StrictSerializable,
            }),
        };
        let started = Instant::now();
        let result = checker.check(&history, &Budget::with_time_limit(limit));
        let took = started.elapsed();
        assert_eq!(
            result.verdict,
            Verdict::Unknown,
            "{}: {}",
            checker.name(),
            result.summary
        );
        assert!(
            took < Duration::from_secs(2),
            "{}: unknown only after {took:?} with a limit of {limit:?}",
            checker.name()
        );
    }
}

#[test]
fn a_small_all_concurrent_history_is_valid_without_a_limit() {
    for register in [false, true] {
        let history = gen::all_concurrent(200, register);
        let result = match register {
            false => list_append(ConsistencyModel::StrictSerializable)
                .check(&history, &Budget::default()),
            true => RwRegister {
                model: ConsistencyModel::StrictSerializable,
            }
            .check(&history, &Budget::default()),
        };
        assert_eq!(result.verdict, Verdict::Valid, "{}", result.summary);
    }
}
