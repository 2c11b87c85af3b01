//! Rendering the report of a 1,000,000-op history: the time `write_outputs` takes (results,
//! JUnit, plots as SVG and PNG, report.html) and the size of `report.html`. Targets: under
//! 10 s and under 20 MB. Also times `rerender`, which reads `history.jsonl` back first.
//!
//! Run with `cargo bench --bench report` (optionally `-- OPS` for another size; set
//! `REPORT_BENCH_DIR` to keep the run directory).

use std::time::{Duration, Instant};

use faultline::report::{self, RunMeta, Versions};
use faultline_checkers::{CheckResult, Event, EventType, HistoryBuilder, Process, Verdict};
use serde_json::{json, Value};

const PROCESSES: u64 = 50;
const KEYS: u64 = 100;

/// A register workload: 50 concurrent clients, 100 keys, ~1 op/ms each; every 10 s a
/// partition for 5 s during which a tenth of the ops crash (info) and their process is
/// replaced, as the runner does.
fn history(ops: usize) -> faultline_checkers::History {
    let mut b = HistoryBuilder::default();
    let mut line = 0;
    let mut push = |b: &mut HistoryBuilder, e: Event| {
        line += 1;
        b.push(line, e).expect("well-formed");
    };
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut slot_process: Vec<u64> = (0..PROCESSES).collect();
    let mut next_process = PROCESSES;
    let mut t_ns = 0u64;
    let mut partitioned = false;
    let mut done = 0usize;
    let mut value = 0u64;
    while done < ops {
        let second = t_ns / 1_000_000_000;
        if (second % 10 >= 5) != partitioned {
            partitioned = !partitioned;
            let f = if partitioned {
                "start-partition"
            } else {
                "stop-partition"
            };
            let v = if partitioned {
                json!({"n1": ["n3", "n4", "n5"], "n2": ["n3", "n4", "n5"]})
            } else {
                Value::Null
            };
            push(
                &mut b,
                event(Process::Nemesis, EventType::Info, f, None, v, t_ns, None),
            );
        }
        let batch = PROCESSES.min((ops - done) as u64);
        let mut open = Vec::new();
        for slot in 0..batch {
            let p = slot_process[slot as usize];
            let key = format!("k{}", rand() % KEYS);
            let (f, v) = if rand() % 2 == 0 {
                value += 1;
                ("write", json!(value))
            } else {
                ("read", Value::Null)
            };
            t_ns += 10_000;
            let node = format!("n{}", slot % 5 + 1);
            push(
                &mut b,
                event(
                    Process::Client(p),
                    EventType::Invoke,
                    f,
                    Some(&key),
                    v.clone(),
                    t_ns,
                    Some(&node),
                ),
            );
            open.push((slot, p, f, key, v, node));
        }
        for (slot, p, f, key, v, node) in open {
            t_ns += 10_000 + rand() % 20_000;
            let roll = rand() % 100;
            let (kind, out) = if partitioned && roll < 10 {
                (EventType::Info, Value::Null)
            } else if partitioned && roll < 20 {
                (EventType::Fail, Value::Null)
            } else if f == "read" {
                (EventType::Ok, json!(value.saturating_sub(rand() % 3)))
            } else {
                (EventType::Ok, v)
            };
            push(
                &mut b,
                event(
                    Process::Client(p),
                    kind,
                    f,
                    Some(&key),
                    out,
                    t_ns,
                    Some(&node),
                ),
            );
            if kind == EventType::Info {
                slot_process[slot as usize] = next_process;
                next_process += 1;
            }
            done += 1;
        }
    }
    b.finish()
}

fn event(
    process: Process,
    kind: EventType,
    f: &str,
    key: Option<&str>,
    value: Value,
    time: u64,
    node: Option<&str>,
) -> Event {
    Event {
        index: 0,
        time: Some(time),
        process,
        kind,
        f: f.to_string(),
        key: key.map(String::from),
        value,
        node: node.map(String::from),
        error: (kind == EventType::Info).then(|| json!("timeout")),
        response: None,
    }
}

fn main() {
    let ops: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let started = Instant::now();
    let history = history(ops);
    println!(
        "built a history of {} ops, {} events in {:.2?}",
        history.ops.len(),
        history.event_count,
        started.elapsed()
    );
    // REPORT_BENCH_DIR keeps the run directory, to open the report in a browser afterwards.
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = match std::env::var_os("REPORT_BENCH_DIR") {
        Some(d) => std::path::PathBuf::from(d),
        None => temp.path().to_path_buf(),
    };
    std::fs::create_dir_all(&dir).expect("bench directory");
    let dir = dir.as_path();
    let started = Instant::now();
    report::write_history(&dir.join(report::HISTORY_FILE), &history).expect("history written");
    println!(
        "history.jsonl written in {:.2?} (not part of the report; the recorder streams it)",
        started.elapsed()
    );
    let meta = RunMeta {
        spec_name: "bench".into(),
        store: "synthetic".into(),
        nodes: (1..=5).map(|i| format!("n{i}")).collect(),
        seed: Some(1),
        command_line: vec!["faultline".into(), "bench".into()],
        duration: Some(Duration::from_secs(60)),
        versions: Versions::current(),
        run_dir: dir.to_path_buf(),
        ..RunMeta::default()
    };
    let checks = vec![CheckResult {
        checker: "linearizable".into(),
        verdict: Verdict::Invalid,
        summary: "key k7 is not linearizable".into(),
        anomalies: vec![],
        details: json!({"key": "k7", "model": "register", "failing_op": ops / 2,
                        "states": [1, 2], "prefix": (ops / 2 - 30..ops / 2).collect::<Vec<_>>()}),
        warnings: vec![],
        duration_ms: None,
    }];
    let started = Instant::now();
    let outputs = report::write_outputs(dir, &meta, &history, &checks).expect("report written");
    let render = started.elapsed();
    let size = std::fs::metadata(&outputs.report_html)
        .expect("report exists")
        .len();
    println!("write_outputs: {render:.2?} for {ops} ops (target < 10 s)");
    println!("report.html: {:.2} MB (target < 20 MB)", size as f64 / 1e6);
    for file in outputs
        .plots
        .iter()
        .chain([&outputs.results_json, &outputs.junit_xml])
    {
        let bytes = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        println!(
            "  {}: {:.1} kB",
            file.file_name().unwrap_or_default().to_string_lossy(),
            bytes as f64 / 1e3
        );
    }
    let started = Instant::now();
    report::rerender(dir).expect("re-rendered");
    println!(
        "rerender (reads history.jsonl back): {:.2?}",
        started.elapsed()
    );
    if render > Duration::from_secs(10) || size > 20_000_000 {
        println!("OVER TARGET");
        std::process::exit(1);
    }
}
