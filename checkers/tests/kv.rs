//! The `kv` model (strings with get, put and append, keys independent): against a brute-force
//! reference on small random histories, on simulated Raft-lab-style twins of 1, 10 and 50
//! clients (one valid, one with a planted stale read), and read from Jepsen EDN lines with
//! a `:key` field.

use std::path::Path;

use faultline_checkers::format::{self, Format, ReadOptions};
use faultline_checkers::linear::{check_history, SearchOptions};
use faultline_checkers::model::kv;
use faultline_checkers::model::{ModelKind, ModelOptions};
use faultline_checkers::registry::{self, CheckerOptions};
use faultline_checkers::{Budget, Event, EventType, History, Op, Outcome, Process, Verdict};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

fn verdict(history: &History, reductions: bool) -> Verdict {
    check_history(
        history,
        ModelKind::Kv,
        &ModelOptions::default(),
        &SearchOptions { reductions },
        &Budget::default(),
    )
    .verdict
}

// ---------------------------------------------------------------------------------------
// Brute force: every order of each key's ops, on plain strings.

fn brute_force(history: &History) -> bool {
    history.by_key().values().all(|ids| {
        let ops: Vec<&Op> = ids
            .iter()
            .map(|&i| &history.ops[i])
            .filter(|op| op.outcome != Outcome::Fail)
            .collect();
        extend(&ops, &mut vec![false; ops.len()], "")
    })
}

fn extend(ops: &[&Op], used: &mut [bool], state: &str) -> bool {
    if !(0..ops.len()).any(|i| !used[i] && ops[i].outcome == Outcome::Ok) {
        return true;
    }
    for i in 0..ops.len() {
        let blocked = (0..ops.len()).any(|j| {
            !used[j] && j != i && ops[j].outcome == Outcome::Ok && ops[j].precedes(ops[i])
        });
        if used[i] || blocked {
            continue;
        }
        let ok = ops[i].outcome == Outcome::Ok;
        let argument = match (ops[i].f.as_str(), &ops[i].value) {
            ("get", _) if !ok => None,
            ("get", Value::Null) => Some(""),
            (_, v) => v.as_str(),
        };
        if let Some(next) = kv::step(state, &ops[i].f, argument) {
            used[i] = true;
            if extend(ops, used, &next) {
                return true;
            }
            used[i] = false;
        }
    }
    false
}

fn event(p: u64, kind: EventType, f: &str, key: &str, value: Value) -> Event {
    Event {
        index: 0,
        time: None,
        process: Process::Client(p),
        kind,
        f: f.to_string(),
        key: Some(key.to_string()),
        value,
        node: None,
        error: None,
        response: None,
    }
}

/// 3 processes, 7 ops on one or two keys; gets mostly answer the true string, sometimes a
/// stale or wrong one; some ops crash (applied or not).
fn random_history(seed: u64) -> History {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let keys = ["a", "b"];
    let mut store = [String::new(), String::new()];
    let mut previous = [String::new(), String::new()];
    let mut open: Vec<Option<(usize, &str, Value)>> = vec![None; 3];
    let mut ids: Vec<u64> = (0..3).collect();
    let (mut events, mut invoked) = (Vec::new(), 0);
    while invoked < 7 || open.iter().any(Option::is_some) {
        let slot = rng.gen_range(0..3);
        match open[slot].take() {
            None if invoked < 7 => {
                invoked += 1;
                let k = rng.gen_range(0..keys.len());
                let (f, v) = match rng.gen_range(0..5) {
                    0 | 1 => ("get", Value::Null),
                    2 => ("put", json!(["x", "y"][rng.gen_range(0..2)])),
                    _ => ("append", json!(["x", "y", "z"][rng.gen_range(0..3)])),
                };
                events.push(event(ids[slot], EventType::Invoke, f, keys[k], v.clone()));
                open[slot] = Some((k, f, v));
            }
            None => {}
            Some((k, f, v)) => {
                let apply = |store: &mut [String; 2], previous: &mut [String; 2]| {
                    previous[k] = store[k].clone();
                    match f {
                        "put" => store[k] = v.as_str().unwrap().to_string(),
                        "append" => store[k].push_str(v.as_str().unwrap()),
                        _ => {}
                    }
                };
                let p = ids[slot];
                match rng.gen_range(0..10) {
                    0 => {
                        if rng.gen_bool(0.5) {
                            apply(&mut store, &mut previous);
                        }
                        events.push(event(p, EventType::Info, f, keys[k], v));
                        ids[slot] += 3;
                    }
                    1 => events.push(event(p, EventType::Fail, f, keys[k], v)),
                    _ if f == "get" => {
                        let read = match rng.gen_range(0..6) {
                            0 => previous[k].clone(),
                            1 => "yx".to_string(),
                            _ => store[k].clone(),
                        };
                        events.push(event(p, EventType::Ok, f, keys[k], json!(read)));
                    }
                    _ => {
                        apply(&mut store, &mut previous);
                        events.push(event(p, EventType::Ok, f, keys[k], v));
                    }
                }
            }
        }
    }
    History::from_events(events).expect("generated histories pair up")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn agrees_with_brute_force_on_small_kv_histories(seed in any::<u64>()) {
        let h = random_history(seed);
        let want = if brute_force(&h) { Verdict::Valid } else { Verdict::Invalid };
        prop_assert_eq!(verdict(&h, false), want, "plain search, seed {}", seed);
        prop_assert_eq!(verdict(&h, true), want, "with reductions, seed {}", seed);
    }
}

#[test]
fn random_kv_histories_mix_valid_and_invalid_verdicts() {
    let valid = (0..300)
        .filter(|&s| verdict(&random_history(s), true) == Verdict::Valid)
        .count();
    assert!((30..270).contains(&valid), "{valid} of 300 valid");
}

// ---------------------------------------------------------------------------------------
// Simulated Raft-lab clients: twins of 1, 10 and 50 clients.

/// A Raft key-value lab's history as EDN lines: `clients` clients each run `ops_each` ops on
/// `5 + clients / 5` keys (about three ops in flight per key with 50 clients: unique appends
/// all concurrent on one key would leave the search every order of them) against one
/// correct store; an op takes effect at one instant inside its
/// window. Appends write `x <client> <seq> y`, unique. Puts go to key "0" only, so on the
/// other keys a string only grows. 2% of ops crash (applied or not) and the client carries
/// on under a new process id.
fn simulate(seed: u64, clients: u64, ops_each: u64) -> Vec<(u64, Event)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // (apply time, invoke event, completion event or None when crashed and lost)
    let mut planned = Vec::new();
    let keys = 5 + clients as u32 / 5;
    for c in 0..clients {
        let (mut t, mut process) = (rng.gen_range(0..100u64), c);
        for seq in 0..ops_each {
            let key = rng.gen_range(0..keys).to_string();
            let (f, v) = match rng.gen_range(0..10) {
                0..=3 => ("get", Value::Null),
                4 if key == "0" => ("put", json!(format!("p {c} {seq}"))),
                _ => ("append", json!(format!("x {c} {seq} y"))),
            };
            let (invoke, apply) = (t, t + rng.gen_range(1..50));
            let complete = apply + rng.gen_range(1..50);
            let crashed = rng.gen_bool(0.02);
            let lost = crashed && rng.gen_bool(0.5);
            planned.push((invoke, apply, complete, process, f, key, v, crashed, lost));
            if crashed {
                process += clients;
            }
            t = complete + rng.gen_range(1..30);
        }
    }
    let mut by_apply: Vec<usize> = (0..planned.len()).collect();
    by_apply.sort_by_key(|&i| planned[i].1);
    let mut store: std::collections::HashMap<String, String> = Default::default();
    let mut answer = vec![Value::Null; planned.len()];
    for i in by_apply {
        let (_, _, _, _, f, key, v, _, lost) = &planned[i];
        let held = store.entry(key.clone()).or_default();
        match (*f, *lost) {
            (_, true) => {}
            ("get", _) => answer[i] = json!(held.clone()),
            ("put", _) => *held = v.as_str().unwrap().to_string(),
            _ => held.push_str(v.as_str().unwrap()),
        }
    }
    let mut events = Vec::new();
    for (i, (invoke, _, complete, p, f, key, v, crashed, _)) in planned.into_iter().enumerate() {
        events.push((invoke, event(p, EventType::Invoke, f, &key, v.clone())));
        let (kind, value) = match (crashed, f) {
            (true, _) => (EventType::Info, v),
            (false, "get") => (EventType::Ok, answer[i].clone()),
            (false, _) => (EventType::Ok, v),
        };
        events.push((complete, event(p, kind, f, &key, value)));
    }
    events.sort_by_key(|(t, _)| *t);
    events
}

/// Plants a stale read: an `ok` get on a key without puts whose answer holds the suffix of
/// an `ok` append that completed before the get began now misses that suffix. The key's
/// string only grows and every suffix is unique, so no order explains the get.
fn plant_stale_read(events: &mut [(u64, Event)]) {
    let done_appends: Vec<(u64, String, String)> = events
        .iter()
        .filter(|(_, e)| e.kind == EventType::Ok && e.f == "append")
        .map(|(t, e)| {
            let v = e.value.as_str().unwrap().to_string();
            (*t, e.key.clone().unwrap(), v)
        })
        .collect();
    let started: Vec<(u64, u64)> = events
        .iter()
        .filter(|(_, e)| e.kind == EventType::Invoke)
        .map(|(t, e)| (*t, client(e.process)))
        .collect();
    for (t, e) in events.iter_mut().rev() {
        if e.kind != EventType::Ok || e.f != "get" || e.key.as_deref() == Some("0") {
            continue;
        }
        let p = client(e.process);
        let begun = started
            .iter()
            .filter(|s| s.1 == p && s.0 < *t)
            .map(|s| s.0)
            .max();
        let read = e.value.as_str().unwrap().to_string();
        let seen = done_appends.iter().find(|(done, key, suffix)| {
            Some(*done) < begun && e.key.as_ref() == Some(key) && read.contains(suffix.as_str())
        });
        if let Some((_, _, suffix)) = seen {
            e.value = json!(read.replacen(suffix.as_str(), "", 1));
            return;
        }
    }
    panic!("no get to make stale");
}

fn client(p: Process) -> u64 {
    match p {
        Process::Client(c) => c,
        Process::Nemesis => unreachable!("the simulation has no nemesis"),
    }
}

/// The history as Jepsen EDN lines with a `:key` field, as Raft labs print them.
fn to_edn(events: &[(u64, Event)]) -> String {
    let mut text = String::new();
    for (t, e) in events {
        let value = match &e.value {
            Value::Null => "nil".to_string(),
            v => v.to_string(),
        };
        text.push_str(&format!(
            "{{:process {}, :type :{}, :f :{}, :key {}, :value {value}, :time {t}}}\n",
            e.process,
            e.kind,
            e.f,
            json!(e.key.as_deref().unwrap())
        ));
    }
    text
}

fn read_edn(text: &str) -> History {
    let options = ReadOptions {
        format: Some(Format::Edn),
        independent: None,
    };
    format::read_str(text, "kv.edn", &options).expect("the EDN lines read")
}

fn check_kv(history: &History) -> Verdict {
    let checker = registry::build("kv", &CheckerOptions::default()).expect("kv is registered");
    // A search that runs away answers unknown, which fails the test, instead of hanging it.
    let budget = Budget::with_time_limit(std::time::Duration::from_secs(60));
    checker.check(history, &budget).verdict
}

#[test]
fn twin_histories_of_1_10_and_50_clients_are_valid_and_invalid_as_simulated() {
    for (clients, ops_each) in [(1, 400), (10, 60), (50, 16)] {
        let mut events = simulate(clients, clients, ops_each);
        let valid = read_edn(&to_edn(&events));
        assert_eq!(valid.ops.len() as u64, clients * ops_each);
        assert!(valid.ops.iter().all(|op| op.key.is_some()));
        assert_eq!(check_kv(&valid), Verdict::Valid, "c{clients} valid twin");
        plant_stale_read(&mut events);
        let invalid = read_edn(&to_edn(&events));
        assert_eq!(
            check_kv(&invalid),
            Verdict::Invalid,
            "c{clients} invalid twin"
        );
    }
}

#[test]
fn golden_twins_get_the_verdict_in_their_name() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/kv");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/golden/kv") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let want = match name.rsplit_once('-').map(|(_, end)| end) {
            Some("ok.edn") => Verdict::Valid,
            Some("bad.edn") => Verdict::Invalid,
            _ => continue,
        };
        let history = format::read_path(&path, &ReadOptions::default()).unwrap();
        assert_eq!(check_kv(&history), want, "{name}");
        seen += 1;
    }
    assert_eq!(seen, 6, "c01, c10 and c50, each ok and bad");
}

/// `KV_GOLDEN_WRITE=1 cargo test -p faultline-checkers --test kv` rewrites the golden twins
/// from the simulator; otherwise this checks that they are what it writes.
#[test]
fn golden_twins_are_what_the_seeded_simulator_writes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/kv");
    for (clients, ops_each) in [(1u64, 40), (10, 12), (50, 4)] {
        let mut events = simulate(clients, clients, ops_each);
        let mut twins = vec![("ok", to_edn(&events))];
        plant_stale_read(&mut events);
        twins.push(("bad", to_edn(&events)));
        for (verdict, text) in twins {
            let path = dir.join(format!("kv-c{clients:02}-{verdict}.edn"));
            if std::env::var_os("KV_GOLDEN_WRITE").is_some() {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &text).unwrap();
            }
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "{path:?}");
        }
    }
}

#[test]
fn reads_a_jepsen_line_with_a_key_field_and_checks_it_per_key() {
    let h = read_edn(
        "{:process 0, :type :invoke, :f :append, :key \"4\", :value \"x 0 1 y\"}\n\
         {:process 0, :type :ok, :f :append, :key \"4\", :value \"x 0 1 y\"}\n\
         {:process 1, :type :invoke, :f :get, :key \"4\", :value nil}\n\
         {:process 1, :type :ok, :f :get, :key \"4\", :value \"x 0 1 y\"}\n\
         {:process 1, :type :invoke, :f :get, :key \"5\", :value nil}\n\
         {:process 1, :type :ok, :f :get, :key \"5\", :value \"\"}\n",
    );
    assert_eq!(h.ops[0].key.as_deref(), Some("4"));
    assert_eq!(h.ops[2].key.as_deref(), Some("5"));
    assert_eq!(h.ops[0].value, json!("x 0 1 y"));
    assert_eq!(check_kv(&h), Verdict::Valid);
    let stale = read_edn(
        "{:process 0, :type :invoke, :f :append, :key \"4\", :value \"x 0 1 y\"}\n\
         {:process 0, :type :ok, :f :append, :key \"4\", :value \"x 0 1 y\"}\n\
         {:process 1, :type :invoke, :f :get, :key \"4\", :value nil}\n\
         {:process 1, :type :ok, :f :get, :key \"4\", :value \"\"}\n",
    );
    assert_eq!(check_kv(&stale), Verdict::Invalid);
}

#[test]
fn an_absent_key_reads_as_the_empty_string_or_null() {
    for read in ["\"\"", "nil"] {
        let h = read_edn(&format!(
            "{{:process 0, :type :invoke, :f :get, :key \"k\", :value nil}}\n\
             {{:process 0, :type :ok, :f :get, :key \"k\", :value {read}}}\n"
        ));
        assert_eq!(check_kv(&h), Verdict::Valid, "{read}");
    }
}
