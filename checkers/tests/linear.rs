//! The linearizability checker against a brute-force reference, its reductions against the
//! plain search, and golden tiny histories whose names carry their verdict.

use faultline_checkers::gen;
use faultline_checkers::linear::{check_history, SearchOptions};
use faultline_checkers::model::{ModelKind, ModelOptions};
use faultline_checkers::{Budget, Event, EventType, History, Op, Outcome, Process, Verdict};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------
// The brute-force reference: every order of the ops, no memo, no reductions, its own model
// code over plain JSON values.

/// Tries every order of the ops of each key (crashed ops anywhere after their invocation,
/// or never) and says whether one satisfies the model.
fn brute_force(history: &History, model: ModelKind, options: &ModelOptions) -> bool {
    history.by_key().values().all(|ids| {
        let ops: Vec<&Op> = ids
            .iter()
            .map(|&i| &history.ops[i])
            .filter(|op| op.outcome != Outcome::Fail)
            .collect();
        let mut used = vec![false; ops.len()];
        let init = match model {
            ModelKind::Mutex => json!(options.initial == json!(true)),
            ModelKind::Set => json!([]),
            ModelKind::MultiRegister => json!({}),
            ModelKind::Queue if options.initial.is_null() => json!([]),
            _ => options.initial.clone(),
        };
        extend(&ops, &mut used, &init, model, options)
    })
}

fn extend(
    ops: &[&Op],
    used: &mut [bool],
    state: &Value,
    model: ModelKind,
    options: &ModelOptions,
) -> bool {
    let pending_ok = (0..ops.len()).any(|i| !used[i] && ops[i].outcome == Outcome::Ok);
    if !pending_ok {
        return true;
    }
    for i in 0..ops.len() {
        if used[i] {
            continue;
        }
        // An op can go next only if no unused `ok` op returned before it was invoked.
        let blocked = (0..ops.len()).any(|j| {
            !used[j] && j != i && ops[j].outcome == Outcome::Ok && ops[j].precedes(ops[i])
        });
        if blocked {
            continue;
        }
        if let Some(next) = reference_step(state, ops[i], model, options) {
            used[i] = true;
            if extend(ops, used, &next, model, options) {
                return true;
            }
            used[i] = false;
        }
    }
    false
}

fn reference_step(
    state: &Value,
    op: &Op,
    model: ModelKind,
    options: &ModelOptions,
) -> Option<Value> {
    let ok = op.outcome == Outcome::Ok;
    match (model, op.f.as_str()) {
        (ModelKind::Register | ModelKind::CasRegister, "read") => {
            let matches =
                !ok || op.value == *state || (op.value.is_null() && options.nil_read_matches_any);
            matches.then(|| state.clone())
        }
        (ModelKind::Register | ModelKind::CasRegister, "write") => Some(op.value.clone()),
        (ModelKind::CasRegister, "cas") => (op.value[0] == *state).then(|| op.value[1].clone()),
        (ModelKind::Mutex, "acquire") => (*state == json!(false)).then_some(json!(true)),
        (ModelKind::Mutex, "release") => (*state == json!(true)).then_some(json!(false)),
        (ModelKind::Set, "add") => {
            let mut set = state.as_array().cloned().unwrap_or_default();
            if !set.contains(&op.value) {
                set.push(op.value.clone());
            }
            Some(Value::Array(set))
        }
        (ModelKind::Set, "read") => {
            let same = |a: &Value, b: &Value| {
                let a = a.as_array().cloned().unwrap_or_default();
                let b = b.as_array().cloned().unwrap_or_default();
                a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
            };
            (!ok || same(&op.value, state)).then(|| state.clone())
        }
        (ModelKind::Queue, "enqueue") => {
            let mut queue = state.as_array().cloned().unwrap_or_default();
            queue.push(op.value.clone());
            Some(Value::Array(queue))
        }
        (ModelKind::Queue, "dequeue") => {
            let mut queue = state.as_array().cloned().unwrap_or_default();
            match queue.first() {
                // A crashed dequeue takes the head off, if there is one.
                _ if !ok => {}
                None if op.value.is_null() => {}
                Some(head) if *head == op.value => {}
                _ => return None,
            }
            if !queue.is_empty() {
                queue.remove(0);
            }
            Some(Value::Array(queue))
        }
        (ModelKind::MultiRegister, "txn") => {
            let mut regs = state.clone();
            for micro in op.value.as_array()? {
                let (f, k, v) = (micro[0].as_str()?, micro[1].as_str()?, &micro[2]);
                let held = regs.get(k).cloned().unwrap_or(options.initial.clone());
                match f {
                    "read"
                        if ok && !(v.is_null() && options.nil_read_matches_any) && *v != held =>
                    {
                        return None
                    }
                    "write" => regs[k] = v.clone(),
                    _ => {}
                }
            }
            Some(regs)
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// Random small histories.

struct Shape {
    model: ModelKind,
    processes: u64,
    ops: usize,
    values: i64,
    /// Each write or CAS writes a value never written before.
    unique: bool,
    crash_percent: u32,
}

fn event(p: u64, kind: EventType, f: &str, value: Value) -> Event {
    Event {
        index: 0,
        time: None,
        process: Process::Client(p),
        kind,
        f: f.to_string(),
        key: None,
        value,
        node: None,
        error: None,
        response: None,
    }
}

/// A random history: processes invoke and complete ops in a random interleaving; reads
/// mostly return the last value written (so valid histories are common), sometimes another.
fn random_history(seed: u64, shape: &Shape) -> History {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut events = Vec::new();
    let mut in_flight: Vec<Option<(String, Value)>> = vec![None; shape.processes as usize];
    let mut ids: Vec<u64> = (0..shape.processes).collect();
    let mut last_written = Value::Null;
    let mut added: Vec<Value> = Vec::new();
    let mut registers = json!({});
    let mut next_unique = 1i64;
    let mut invoked = 0;
    while invoked < shape.ops || in_flight.iter().any(Option::is_some) {
        let slot = rng.gen_range(0..shape.processes as usize);
        let p = ids[slot];
        match in_flight[slot].take() {
            None if invoked < shape.ops => {
                invoked += 1;
                let fresh = if shape.unique {
                    next_unique += 1;
                    json!(next_unique - 1)
                } else {
                    json!(rng.gen_range(0..shape.values))
                };
                let (f, v) = match (shape.model, rng.gen_range(0..3)) {
                    (ModelKind::MultiRegister, _) => {
                        let micro = |rng: &mut ChaCha8Rng| {
                            let k = ["x", "y"][rng.gen_range(0..2)];
                            if rng.gen_bool(0.5) {
                                json!(["read", k, null])
                            } else {
                                json!(["write", k, rng.gen_range(0..shape.values)])
                            }
                        };
                        let len = rng.gen_range(1..=2);
                        (
                            "txn",
                            json!((0..len).map(|_| micro(&mut rng)).collect::<Vec<_>>()),
                        )
                    }
                    (ModelKind::Mutex, 0 | 1) => ("acquire", Value::Null),
                    (ModelKind::Mutex, _) => ("release", Value::Null),
                    (ModelKind::Set, 0) => ("read", Value::Null),
                    (ModelKind::Set, _) => ("add", fresh),
                    (ModelKind::Queue, 0) => ("dequeue", Value::Null),
                    (ModelKind::Queue, _) => ("enqueue", fresh),
                    (_, 0) => ("read", Value::Null),
                    (ModelKind::CasRegister, 1) => {
                        let expected = if rng.gen_bool(0.6) {
                            last_written.clone()
                        } else {
                            json!(rng.gen_range(0..shape.values))
                        };
                        ("cas", json!([expected, fresh]))
                    }
                    _ => ("write", fresh),
                };
                events.push(event(p, EventType::Invoke, f, v.clone()));
                in_flight[slot] = Some((f.to_string(), v));
            }
            None => {}
            Some((f, v)) => {
                // Answers come from a register applied at completion, with some wrong ones.
                let roll = rng.gen_range(0..100);
                let lie = rng.gen_bool(0.25);
                let applies = match f.as_str() {
                    "cas" => v[0] == last_written || lie,
                    "acquire" => (last_written != json!(true)) || lie,
                    "release" => (last_written == json!(true)) || lie,
                    _ => true,
                };
                if roll < shape.crash_percent {
                    if rng.gen_bool(0.5) {
                        apply(&mut last_written, &mut added, &f, &v);
                    }
                    events.push(event(p, EventType::Info, &f, v));
                    ids[slot] += shape.processes;
                } else if roll < shape.crash_percent + 8 || !applies {
                    events.push(event(p, EventType::Fail, &f, v));
                } else {
                    let value = match f.as_str() {
                        "txn" => {
                            let mut filled = Vec::new();
                            for micro in v.as_array().unwrap() {
                                let k = micro[1].as_str().unwrap();
                                if micro[0] == json!("read") {
                                    let held = if lie {
                                        json!(rng.gen_range(0..shape.values))
                                    } else {
                                        registers.get(k).cloned().unwrap_or(Value::Null)
                                    };
                                    filled.push(json!(["read", k, held]));
                                } else {
                                    registers[k] = micro[2].clone();
                                    filled.push(micro.clone());
                                }
                            }
                            json!(filled)
                        }
                        "read" if shape.model == ModelKind::Set && lie => {
                            json!((1..=rng.gen_range(0..3)).collect::<Vec<i64>>())
                        }
                        "read" if shape.model == ModelKind::Set => json!(added.clone()),
                        "dequeue" => {
                            let head = added.first().cloned().unwrap_or(Value::Null);
                            apply(&mut last_written, &mut added, &f, &v);
                            match rng.gen_range(0..4) {
                                _ if !lie => head,
                                0 => Value::Null,
                                _ => json!(rng.gen_range(0..shape.values)),
                            }
                        }
                        "read" if !lie => last_written.clone(),
                        "read" if rng.gen_bool(0.3) => Value::Null,
                        "read" => json!(rng.gen_range(0..shape.values.max(next_unique))),
                        _ => {
                            apply(&mut last_written, &mut added, &f, &v);
                            v
                        }
                    };
                    events.push(event(p, EventType::Ok, &f, value));
                }
            }
        }
    }
    // Sometimes leave an invocation open at the end: it counts as crashed.
    if !matches!(shape.model, ModelKind::Set | ModelKind::MultiRegister) && rng.gen_bool(0.3) {
        let value = if shape.model == ModelKind::Mutex {
            Value::Null
        } else {
            json!(rng.gen_range(0..shape.values))
        };
        let f = match shape.model {
            ModelKind::Mutex => "acquire",
            ModelKind::Queue => "enqueue",
            _ => "write",
        };
        events.push(event(1000, EventType::Invoke, f, value));
    }
    History::from_events(events).expect("generated histories pair up")
}

/// The effect of an op on the simulated object (a register, a lock, a set or a queue, the
/// set and the queue sharing `elements`).
fn apply(register: &mut Value, elements: &mut Vec<Value>, f: &str, v: &Value) {
    match f {
        "write" => *register = v.clone(),
        "cas" => *register = v[1].clone(),
        "acquire" => *register = json!(true),
        "release" => *register = json!(false),
        "add" if !elements.contains(v) => elements.push(v.clone()),
        "enqueue" => elements.push(v.clone()),
        "dequeue" if !elements.is_empty() => {
            elements.remove(0);
        }
        _ => {}
    }
}

fn verdict(
    history: &History,
    model: ModelKind,
    options: &ModelOptions,
    reductions: bool,
) -> Verdict {
    check_history(
        history,
        model,
        options,
        &SearchOptions { reductions },
        &Budget::default(),
    )
    .verdict
}

fn expected(valid: bool) -> Verdict {
    if valid {
        Verdict::Valid
    } else {
        Verdict::Invalid
    }
}

// ---------------------------------------------------------------------------------------
// Properties.

/// The shapes the properties draw their histories from.
fn shape(
    model: ModelKind,
    processes: u64,
    ops: usize,
    values: i64,
    unique: bool,
    crash_percent: u32,
) -> Shape {
    Shape {
        model,
        processes,
        ops,
        values,
        unique,
        crash_percent,
    }
}

/// Small enough for brute force: 3 processes, 7 ops over 3 values.
fn small(model: ModelKind) -> Shape {
    shape(model, 3, 7, 3, false, 20)
}

/// The queue's brute-force shape: one op more and more crashes.
fn small_queue() -> Shape {
    shape(ModelKind::Queue, 3, 8, 3, false, 25)
}

/// Unique written values, so reduction 2 (bounding crashed writes) fires.
fn unique_values() -> Shape {
    shape(ModelKind::CasRegister, 4, 14, 4, true, 30)
}

/// Two values only, so identical crashed ops (reductions 3 and 4) are common.
fn small_domain() -> Shape {
    shape(ModelKind::CasRegister, 4, 14, 2, false, 35)
}

/// The reduction shape of the other models.
fn crash_heavy(model: ModelKind) -> Shape {
    shape(model, 4, 12, 3, false, 35)
}

/// The search, with and without reductions, gives brute force's answer on the history of
/// `seed`.
fn agrees_with_brute_force(
    seed: u64,
    shape: &Shape,
    options: &ModelOptions,
) -> Result<(), TestCaseError> {
    let h = random_history(seed, shape);
    let want = expected(brute_force(&h, shape.model, options));
    prop_assert_eq!(
        verdict(&h, shape.model, options, false),
        want,
        "plain search, seed {}",
        seed
    );
    prop_assert_eq!(
        verdict(&h, shape.model, options, true),
        want,
        "with reductions, seed {}",
        seed
    );
    Ok(())
}

/// The search with reductions gives the plain search's answer on the history of `seed`.
fn reductions_keep_the_verdict(seed: u64, shape: &Shape) -> Result<(), TestCaseError> {
    let h = random_history(seed, shape);
    let options = ModelOptions::default();
    prop_assert_eq!(
        verdict(&h, shape.model, &options, true),
        verdict(&h, shape.model, &options, false),
        "seed {}",
        seed
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn agrees_with_brute_force_on_small_cas_register_histories(seed in any::<u64>(), nil_any in any::<bool>()) {
        let options = ModelOptions { initial: Value::Null, nil_read_matches_any: nil_any };
        agrees_with_brute_force(seed, &small(ModelKind::CasRegister), &options)?;
    }

    #[test]
    fn agrees_with_brute_force_on_small_register_mutex_set_and_multi_register_histories(seed in any::<u64>(), which in 0..4usize) {
        let model = [ModelKind::Register, ModelKind::Mutex, ModelKind::Set, ModelKind::MultiRegister][which];
        let initial = if model == ModelKind::Register { json!(0) } else { Value::Null };
        let options = ModelOptions { initial, nil_read_matches_any: false };
        agrees_with_brute_force(seed, &small(model), &options)?;
    }

    #[test]
    fn agrees_with_brute_force_on_small_queue_histories(seed in any::<u64>(), initial in 0..2usize) {
        let initial = [Value::Null, json!([1])][initial].clone();
        let options = ModelOptions { initial, nil_read_matches_any: false };
        agrees_with_brute_force(seed, &small_queue(), &options)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Reduction 2 (unique values: unobserved crashed writes dropped, observed ones bounded)
    /// and reduction 1 (crashed ops that cannot change the state dropped).
    #[test]
    fn unique_value_reductions_keep_the_verdict_of_the_plain_search(seed in any::<u64>()) {
        reductions_keep_the_verdict(seed, &unique_values())?;
    }

    /// Reductions 3 and 4 (identical crashed ops as a multiset, idle crashed ops skipped)
    /// with a small value domain.
    #[test]
    fn small_domain_reductions_keep_the_verdict_of_the_plain_search(seed in any::<u64>()) {
        reductions_keep_the_verdict(seed, &small_domain())?;
    }

    #[test]
    fn set_mutex_queue_and_multi_register_reductions_keep_the_verdict_of_the_plain_search(seed in any::<u64>(), which in 0..4usize) {
        let model = [ModelKind::Set, ModelKind::Mutex, ModelKind::Queue, ModelKind::MultiRegister][which];
        reductions_keep_the_verdict(seed, &crash_heavy(model))?;
    }
}

#[test]
fn generated_etcd_like_histories_get_the_verdict_they_were_generated_with() {
    for seed in 0..40 {
        let violation = seed % 2 == 1;
        let config = gen::EtcdLike {
            violation,
            ..Default::default()
        };
        let g = gen::etcd_like(seed, &config);
        let options = ModelOptions::default();
        let reduced = verdict(&g.history, ModelKind::CasRegister, &options, true);
        assert_eq!(reduced, expected(!violation), "seed {seed}");
        let plain = verdict(&g.history, ModelKind::CasRegister, &options, false);
        assert_eq!(plain, reduced, "seed {seed}");
    }
}

#[test]
fn generated_multi_key_histories_get_the_verdict_they_were_generated_with() {
    for (seed, stale_read) in [(1, false), (2, true), (3, true)] {
        let config = gen::Large {
            ops: 20_000,
            keys: 10,
            clients: 10,
            stale_read,
            ..Default::default()
        };
        let g = gen::large(seed, &config);
        let result = check_history(
            &g.history,
            ModelKind::CasRegister,
            &ModelOptions::default(),
            &SearchOptions::default(),
            &Budget::default(),
        );
        assert_eq!(
            result.verdict,
            expected(!stale_read),
            "seed {seed}: {}",
            result.summary
        );
        assert_eq!(g.injected.is_some(), stale_read, "seed {seed}");
        if let Some(op) = g.injected {
            assert_eq!(
                result.details["failing_op"],
                json!(op),
                "{}",
                result.summary
            );
        }
    }
}

/// The property tests above prove something only if their histories mix both verdicts and
/// the reductions really fire on them.
#[test]
fn random_histories_mix_verdicts_and_exercise_every_reduction() {
    let shapes = [
        small(ModelKind::CasRegister),
        small(ModelKind::Register),
        small(ModelKind::Mutex),
        small(ModelKind::Set),
        small(ModelKind::MultiRegister),
        small_queue(),
        unique_values(),
        small_domain(),
    ];
    for shape in shapes {
        let (model, unique) = (shape.model, shape.unique);
        let (mut valid, mut invalid, mut dropped, mut bounded) = (0, 0, 0, 0);
        for seed in 0..300 {
            let h = random_history(seed, &shape);
            let result = check_history(
                &h,
                model,
                &ModelOptions::default(),
                &SearchOptions::default(),
                &Budget::default(),
            );
            match result.verdict {
                Verdict::Valid => valid += 1,
                Verdict::Invalid => invalid += 1,
                Verdict::Unknown => panic!("seed {seed}: {}", result.summary),
            }
            dropped += result.details["dropped"].as_u64().unwrap();
            bounded += result.details["bounded"].as_u64().unwrap();
        }
        let name = model.name();
        eprintln!("{name}: {valid} valid, {invalid} invalid, {dropped} dropped, {bounded} bounded");
        assert!(
            valid >= 45 && invalid >= 45,
            "{name}: {valid} valid, {invalid} invalid"
        );
        if model != ModelKind::Mutex {
            assert!(dropped > 0, "{name}: no crashed op dropped");
        }
        if unique {
            assert!(bounded > 0, "{name}: no crashed op bounded");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Golden tiny histories: `<model>-<story>-<verdict>`, one event per line as in
// `history.jsonl`.

const GOLDEN: &[(&str, &str)] = &[
    (
        "cas-register-write-then-read-valid",
        r#"{"process":0,"type":"invoke","f":"write","value":1}
           {"process":0,"type":"ok","f":"write","value":1}
           {"process":1,"type":"invoke","f":"read","value":null}
           {"process":1,"type":"ok","f":"read","value":1}"#,
    ),
    (
        "cas-register-stale-read-invalid",
        r#"{"process":0,"type":"invoke","f":"write","value":1}
           {"process":0,"type":"ok","f":"write","value":1}
           {"process":0,"type":"invoke","f":"write","value":2}
           {"process":0,"type":"ok","f":"write","value":2}
           {"process":1,"type":"invoke","f":"read","value":null}
           {"process":1,"type":"ok","f":"read","value":1}"#,
    ),
    (
        "cas-register-concurrent-read-of-old-value-valid",
        r#"{"process":0,"type":"invoke","f":"write","value":1}
           {"process":0,"type":"ok","f":"write","value":1}
           {"process":1,"type":"invoke","f":"read","value":null}
           {"process":0,"type":"invoke","f":"write","value":2}
           {"process":0,"type":"ok","f":"write","value":2}
           {"process":1,"type":"ok","f":"read","value":1}"#,
    ),
    (
        "cas-register-read-of-absent-after-write-invalid",
        r#"{"process":0,"type":"invoke","f":"write","value":3}
           {"process":0,"type":"ok","f":"write","value":3}
           {"process":1,"type":"invoke","f":"read","value":null}
           {"process":1,"type":"ok","f":"read","value":null}"#,
    ),
    (
        "cas-register-crashed-write-seen-later-valid",
        r#"{"process":0,"type":"invoke","f":"write","value":7}
           {"process":0,"type":"info","f":"write","value":7}
           {"process":1,"type":"invoke","f":"read","value":null}
           {"process":1,"type":"ok","f":"read","value":null}
           {"process":1,"type":"invoke","f":"read","value":null}
           {"process":1,"type":"ok","f":"read","value":7}"#,
    ),
    (
        "cas-register-crashed-write-seen-then-lost-invalid",
        r#"{"process":0,"type":"invoke","f":"write","value":7}
           {"process":0,"type":"info","f":"write","value":7}
           {"process":1,"type":"invoke","f":"read","value":null}
           {"process":1,"type":"ok","f":"read","value":7}
           {"process":1,"type":"invoke","f":"read","value":null}
           {"process":1,"type":"ok","f":"read","value":null}"#,
    ),
    (
        "cas-register-failed-write-never-happened-invalid",
        r#"{"process":0,"type":"invoke","f":"write","value":5}
           {"process":0,"type":"fail","f":"write","value":5}
           {"process":1,"type":"invoke","f":"read","value":null}
           {"process":1,"type":"ok","f":"read","value":5}"#,
    ),
    (
        "cas-register-cas-on-expected-value-valid",
        r#"{"process":0,"type":"invoke","f":"write","value":1}
           {"process":0,"type":"ok","f":"write","value":1}
           {"process":1,"type":"invoke","f":"cas","value":[1,2]}
           {"process":1,"type":"ok","f":"cas","value":[1,2]}
           {"process":2,"type":"invoke","f":"read","value":null}
           {"process":2,"type":"ok","f":"read","value":2}"#,
    ),
    (
        "cas-register-cas-on-wrong-value-invalid",
        r#"{"process":0,"type":"invoke","f":"write","value":1}
           {"process":0,"type":"ok","f":"write","value":1}
           {"process":1,"type":"invoke","f":"cas","value":[3,2]}
           {"process":1,"type":"ok","f":"cas","value":[3,2]}"#,
    ),
    (
        "mutex-two-holders-invalid",
        r#"{"process":0,"type":"invoke","f":"acquire","value":null}
           {"process":0,"type":"ok","f":"acquire","value":null}
           {"process":1,"type":"invoke","f":"acquire","value":null}
           {"process":1,"type":"ok","f":"acquire","value":null}"#,
    ),
    (
        "mutex-handover-valid",
        r#"{"process":0,"type":"invoke","f":"acquire","value":null}
           {"process":0,"type":"ok","f":"acquire","value":null}
           {"process":1,"type":"invoke","f":"acquire","value":null}
           {"process":0,"type":"invoke","f":"release","value":null}
           {"process":0,"type":"ok","f":"release","value":null}
           {"process":1,"type":"ok","f":"acquire","value":null}"#,
    ),
    (
        "set-lost-element-invalid",
        r#"{"process":0,"type":"invoke","f":"add","value":1}
           {"process":0,"type":"ok","f":"add","value":1}
           {"process":1,"type":"invoke","f":"add","value":2}
           {"process":1,"type":"ok","f":"add","value":2}
           {"process":2,"type":"invoke","f":"read","value":null}
           {"process":2,"type":"ok","f":"read","value":[2]}"#,
    ),
    (
        "set-read-in-any-order-valid",
        r#"{"process":0,"type":"invoke","f":"add","value":1}
           {"process":1,"type":"invoke","f":"add","value":2}
           {"process":0,"type":"ok","f":"add","value":1}
           {"process":1,"type":"ok","f":"add","value":2}
           {"process":2,"type":"invoke","f":"read","value":null}
           {"process":2,"type":"ok","f":"read","value":[2,1]}"#,
    ),
    (
        "multi-register-whole-txn-visible-valid",
        r#"{"process":0,"type":"invoke","f":"txn","value":[["write","x",1],["write","y",1]]}
           {"process":0,"type":"ok","f":"txn","value":[["write","x",1],["write","y",1]]}
           {"process":1,"type":"invoke","f":"txn","value":[["read","x",null],["read","y",null]]}
           {"process":1,"type":"ok","f":"txn","value":[["read","x",1],["read","y",1]]}"#,
    ),
    (
        "multi-register-fractured-read-invalid",
        r#"{"process":0,"type":"invoke","f":"txn","value":[["write","x",1],["write","y",1]]}
           {"process":0,"type":"ok","f":"txn","value":[["write","x",1],["write","y",1]]}
           {"process":1,"type":"invoke","f":"txn","value":[["read","x",null],["read","y",null]]}
           {"process":1,"type":"ok","f":"txn","value":[["read","x",1],["read","y",null]]}"#,
    ),
    (
        "queue-fifo-order-valid",
        r#"{"process":0,"type":"invoke","f":"enqueue","value":1}
           {"process":0,"type":"ok","f":"enqueue","value":1}
           {"process":0,"type":"invoke","f":"enqueue","value":2}
           {"process":0,"type":"ok","f":"enqueue","value":2}
           {"process":1,"type":"invoke","f":"dequeue","value":null}
           {"process":1,"type":"ok","f":"dequeue","value":1}
           {"process":1,"type":"invoke","f":"dequeue","value":null}
           {"process":1,"type":"ok","f":"dequeue","value":2}
           {"process":1,"type":"invoke","f":"dequeue","value":null}
           {"process":1,"type":"ok","f":"dequeue","value":null}"#,
    ),
    (
        "queue-out-of-order-dequeues-invalid",
        r#"{"process":0,"type":"invoke","f":"enqueue","value":1}
           {"process":0,"type":"ok","f":"enqueue","value":1}
           {"process":0,"type":"invoke","f":"enqueue","value":2}
           {"process":0,"type":"ok","f":"enqueue","value":2}
           {"process":1,"type":"invoke","f":"dequeue","value":null}
           {"process":1,"type":"ok","f":"dequeue","value":2}
           {"process":1,"type":"invoke","f":"dequeue","value":null}
           {"process":1,"type":"ok","f":"dequeue","value":1}"#,
    ),
    (
        "queue-concurrent-enqueues-dequeued-in-either-order-valid",
        r#"{"process":0,"type":"invoke","f":"enqueue","value":1}
           {"process":1,"type":"invoke","f":"enqueue","value":2}
           {"process":0,"type":"ok","f":"enqueue","value":1}
           {"process":1,"type":"ok","f":"enqueue","value":2}
           {"process":2,"type":"invoke","f":"dequeue","value":null}
           {"process":2,"type":"ok","f":"dequeue","value":2}
           {"process":2,"type":"invoke","f":"dequeue","value":null}
           {"process":2,"type":"ok","f":"dequeue","value":1}"#,
    ),
    (
        "queue-dequeue-of-value-never-enqueued-invalid",
        r#"{"process":0,"type":"invoke","f":"enqueue","value":1}
           {"process":0,"type":"ok","f":"enqueue","value":1}
           {"process":1,"type":"invoke","f":"dequeue","value":null}
           {"process":1,"type":"ok","f":"dequeue","value":3}"#,
    ),
    (
        "queue-value-dequeued-twice-invalid",
        r#"{"process":0,"type":"invoke","f":"enqueue","value":1}
           {"process":0,"type":"ok","f":"enqueue","value":1}
           {"process":1,"type":"invoke","f":"dequeue","value":null}
           {"process":1,"type":"ok","f":"dequeue","value":1}
           {"process":2,"type":"invoke","f":"dequeue","value":null}
           {"process":2,"type":"ok","f":"dequeue","value":1}"#,
    ),
    (
        "queue-empty-dequeue-while-an-element-waits-invalid",
        r#"{"process":0,"type":"invoke","f":"enqueue","value":1}
           {"process":0,"type":"ok","f":"enqueue","value":1}
           {"process":1,"type":"invoke","f":"dequeue","value":null}
           {"process":1,"type":"ok","f":"dequeue","value":null}"#,
    ),
    (
        "queue-crashed-enqueue-dequeued-later-valid",
        r#"{"process":0,"type":"invoke","f":"enqueue","value":5}
           {"process":0,"type":"info","f":"enqueue","value":5}
           {"process":1,"type":"invoke","f":"dequeue","value":null}
           {"process":1,"type":"ok","f":"dequeue","value":null}
           {"process":1,"type":"invoke","f":"dequeue","value":null}
           {"process":1,"type":"ok","f":"dequeue","value":5}"#,
    ),
    (
        "queue-crashed-enqueue-dequeued-then-empty-valid",
        r#"{"process":0,"type":"invoke","f":"enqueue","value":5}
           {"process":0,"type":"info","f":"enqueue","value":5}
           {"process":1,"type":"invoke","f":"enqueue","value":6}
           {"process":1,"type":"ok","f":"enqueue","value":6}
           {"process":2,"type":"invoke","f":"dequeue","value":null}
           {"process":2,"type":"ok","f":"dequeue","value":5}
           {"process":2,"type":"invoke","f":"dequeue","value":null}
           {"process":2,"type":"ok","f":"dequeue","value":6}
           {"process":2,"type":"invoke","f":"dequeue","value":null}
           {"process":2,"type":"ok","f":"dequeue","value":null}"#,
    ),
    (
        "queue-failed-enqueue-never-happened-invalid",
        r#"{"process":0,"type":"invoke","f":"enqueue","value":4}
           {"process":0,"type":"fail","f":"enqueue","value":4}
           {"process":1,"type":"invoke","f":"dequeue","value":null}
           {"process":1,"type":"ok","f":"dequeue","value":4}"#,
    ),
    (
        "queue-crashed-dequeue-may-take-the-head-valid",
        r#"{"process":0,"type":"invoke","f":"enqueue","value":1}
           {"process":0,"type":"ok","f":"enqueue","value":1}
           {"process":0,"type":"invoke","f":"enqueue","value":2}
           {"process":0,"type":"ok","f":"enqueue","value":2}
           {"process":1,"type":"invoke","f":"dequeue","value":null}
           {"process":1,"type":"info","f":"dequeue","value":null}
           {"process":2,"type":"invoke","f":"dequeue","value":null}
           {"process":2,"type":"ok","f":"dequeue","value":2}"#,
    ),
    (
        "register-keys-are-independent-valid",
        r#"{"process":0,"type":"invoke","f":"write","key":"a","value":1}
           {"process":0,"type":"ok","f":"write","key":"a","value":1}
           {"process":1,"type":"invoke","f":"read","key":"b","value":null}
           {"process":1,"type":"ok","f":"read","key":"b","value":null}"#,
    ),
];

fn parse(jsonl: &str) -> History {
    let events = jsonl
        .lines()
        .map(|line| serde_json::from_str::<Event>(line.trim()).expect("golden lines parse"));
    History::from_events(events).expect("golden histories pair up")
}

fn model_of(name: &str) -> ModelKind {
    ModelKind::ALL
        .into_iter()
        .filter(|m| name.starts_with(m.name()))
        .max_by_key(|m| m.name().len())
        .expect("golden names start with a model")
}

#[test]
fn golden_histories_get_the_verdict_in_their_name() {
    for (name, jsonl) in GOLDEN {
        let want = match name.rsplit_once('-') {
            Some((_, "valid")) => Verdict::Valid,
            Some((_, "invalid")) => Verdict::Invalid,
            _ => panic!("{name}: a golden name ends in -valid or -invalid"),
        };
        let history = parse(jsonl);
        for reductions in [true, false] {
            let got = verdict(
                &history,
                model_of(name),
                &ModelOptions::default(),
                reductions,
            );
            assert_eq!(got, want, "{name} (reductions {reductions})");
        }
    }
}

#[test]
fn explains_a_stale_read_with_the_key_the_op_the_states_and_the_concurrent_ops() {
    let history = parse(
        r#"{"process":0,"type":"invoke","f":"write","key":"k3","value":3}
           {"process":0,"type":"ok","f":"write","key":"k3","value":3}
           {"process":0,"type":"invoke","f":"write","key":"k3","value":4}
           {"process":2,"type":"invoke","f":"write","key":"k3","value":5}
           {"process":0,"type":"ok","f":"write","key":"k3","value":4}
           {"process":4,"type":"invoke","f":"read","key":"k3","value":null}
           {"process":4,"type":"ok","f":"read","key":"k3","value":2}
           {"process":2,"type":"ok","f":"write","key":"k3","value":5}"#,
    );
    let result = check_history(
        &history,
        ModelKind::CasRegister,
        &ModelOptions::default(),
        &SearchOptions::default(),
        &Budget::default(),
    );
    assert_eq!(result.verdict, Verdict::Invalid);
    let d = &result.details;
    assert_eq!(d["key"], json!("k3"));
    assert_eq!(d["failing_op"], json!(3), "the read is op 3");
    assert_eq!(d["concurrent"], json!([2]), "write 5 overlaps the read");
    let mut states: Vec<i64> = d["states"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_i64().unwrap())
        .collect();
    states.sort();
    assert_eq!(
        states,
        vec![4, 5],
        "the register holds 4, or 5 if write 5 went first"
    );
    assert_eq!(d["prefix"][0], json!(0), "write 3 is linearized first");
    let failure = faultline_checkers::linear::Failure::from_json(d).unwrap();
    assert_eq!(
        failure.prefix_states.len(),
        failure.prefix.len() + 1,
        "the initial state, then one after each placed op"
    );
    assert_eq!(
        failure.prefix_states[0],
        Value::Null,
        "the register starts empty"
    );
    assert_eq!(failure.prefix_states[1], json!(3), "write 3 leaves 3");
    assert_eq!(result.anomalies.len(), 1);
    assert_eq!(result.anomalies[0].kind, "nonlinearizable");
    let text = &result.anomalies[0].explanation;
    assert!(
        text.starts_with("key k3: read by process 4 returned 2"),
        "{text}"
    );
    assert!(text.contains("could only be"), "{text}");
    assert!(text.contains("write 5 by process 2"), "{text}");
    assert!(result.summary.contains("key k3"), "{}", result.summary);
    assert!(!result.summary.contains('\n'));
}

#[test]
fn valid_results_report_keys_ops_crashed_ops_and_states_explored() {
    let g = gen::etcd_like(3, &gen::EtcdLike::default());
    let result = check_history(
        &g.history,
        ModelKind::CasRegister,
        &ModelOptions::default(),
        &SearchOptions::default(),
        &Budget::default(),
    );
    assert_eq!(result.verdict, Verdict::Valid);
    let d = &result.details;
    assert_eq!(d["keys"], json!(1));
    assert!(d["ops"].as_u64().unwrap() > 60);
    assert!(d["crashed"].as_u64().unwrap() >= 7);
    assert!(d["configurations"].as_u64().unwrap() > 0);
    assert_eq!(d["per_key"][0]["verdict"], json!("valid"));
    assert!(d.get("failing_op").is_none());
}

#[test]
fn answers_unknown_naming_the_op_when_the_model_has_no_such_operation() {
    let history = parse(
        r#"{"process":0,"type":"invoke","f":"cas","value":[1,2]}
           {"process":0,"type":"ok","f":"cas","value":[1,2]}"#,
    );
    let result = check_history(
        &history,
        ModelKind::Register,
        &ModelOptions::default(),
        &SearchOptions::default(),
        &Budget::default(),
    );
    assert_eq!(result.verdict, Verdict::Unknown);
    assert!(
        result.summary.contains("no operation `cas`"),
        "{}",
        result.summary
    );
    assert!(result.summary.contains("line 1"), "{}", result.summary);
}

#[test]
fn answers_unknown_when_the_memory_budget_runs_out() {
    let g = gen::etcd_like(
        101,
        &gen::EtcdLike {
            violation: true,
            ..Default::default()
        },
    );
    let budget = Budget {
        memory_bytes: 64 * 1024,
        ..Budget::default()
    };
    let result = check_history(
        &g.history,
        ModelKind::CasRegister,
        &ModelOptions::default(),
        &SearchOptions { reductions: false },
        &budget,
    );
    assert_eq!(result.verdict, Verdict::Unknown, "{}", result.summary);
    assert!(result.summary.contains("memory"), "{}", result.summary);
}

#[test]
fn answers_unknown_when_the_time_limit_runs_out() {
    let g = gen::etcd_like(
        101,
        &gen::EtcdLike {
            violation: true,
            ..Default::default()
        },
    );
    let budget = Budget {
        deadline: Some(std::time::Instant::now()),
        ..Budget::default()
    };
    let result = check_history(
        &g.history,
        ModelKind::CasRegister,
        &ModelOptions::default(),
        &SearchOptions { reductions: false },
        &budget,
    );
    assert_eq!(result.verdict, Verdict::Unknown, "{}", result.summary);
    assert!(result.summary.contains("time limit"), "{}", result.summary);
}

#[test]
fn knossos_rule_lets_a_nil_read_match_any_state() {
    let history = parse(
        r#"{"process":0,"type":"invoke","f":"write","value":3}
           {"process":0,"type":"ok","f":"write","value":3}
           {"process":1,"type":"invoke","f":"read","value":null}
           {"process":1,"type":"ok","f":"read","value":null}"#,
    );
    let knossos = ModelOptions {
        initial: json!(0),
        nil_read_matches_any: true,
    };
    assert_eq!(
        verdict(&history, ModelKind::CasRegister, &knossos, true),
        Verdict::Valid
    );
    assert_eq!(
        verdict(
            &history,
            ModelKind::CasRegister,
            &ModelOptions::default(),
            true
        ),
        Verdict::Invalid
    );
}

#[test]
fn gives_the_same_answer_with_one_worker_thread_or_many() {
    let config = gen::Large {
        ops: 20_000,
        keys: 16,
        clients: 12,
        stale_read: true,
        ..Default::default()
    };
    let g = gen::large(11, &config);
    let results: Vec<_> = [1, 4]
        .into_iter()
        .map(|threads| {
            let budget = Budget {
                threads,
                ..Budget::default()
            };
            check_history(
                &g.history,
                ModelKind::CasRegister,
                &ModelOptions::default(),
                &SearchOptions::default(),
                &budget,
            )
        })
        .collect();
    assert_eq!(results[0].verdict, Verdict::Invalid);
    assert_eq!(results[0], results[1]);
}
