//! The store's health in a rendered report: a run directory written from a synthetic history
//! with a crash, a stretch without `ok`, node logs and a linearizability failure, read back
//! as a person would see it.

use std::fs;

use faultline_checkers::{CheckResult, Event, EventType, History, Process, Verdict};
use serde_json::{json, Value};

use super::{write_outputs, RunMeta, REPORT_FILE};

const MS: u64 = 1_000_000;

fn event(p: Process, kind: EventType, f: &str, ms: u64, node: Option<&str>) -> Event {
    Event {
        index: 0,
        time: Some(ms * MS),
        process: p,
        kind,
        f: f.into(),
        key: Some("k".into()),
        value: json!(1),
        node: node.map(String::from),
        error: None,
        response: None,
    }
}

/// Process 0 reads from n1 every 10 ms: ok to 1 s, failing to 2.5 s, ok to 3 s. n2 crashes
/// at 3 s and is restarted at 3.5 s; process 1 then reads from it, n3 alongside.
fn history() -> History {
    let mut events = Vec::new();
    let mut reads = |p: u64, node: &'static str, from: u64, to: u64, outcome: EventType| {
        for t in (from..to).step_by(10) {
            events.push(event(
                Process::Client(p),
                EventType::Invoke,
                "read",
                t,
                Some(node),
            ));
            events.push(event(
                Process::Client(p),
                outcome,
                "read",
                t + 2,
                Some(node),
            ));
        }
    };
    reads(0, "n1", 0, 1000, EventType::Ok);
    reads(0, "n1", 1000, 2500, EventType::Fail);
    reads(0, "n1", 2500, 3000, EventType::Ok);
    reads(1, "n2", 3600, 3700, EventType::Ok);
    reads(2, "n3", 3600, 3700, EventType::Ok);
    let nemesis = |f: &str, ms: u64, value: Value| Event {
        key: None,
        value,
        ..event(Process::Nemesis, EventType::Info, f, ms, None)
    };
    events.push(Event {
        node: Some("n2".into()),
        ..nemesis(
            "node-crash",
            3000,
            json!({"node": "n2", "status": "exit code 70",
                   "log_tail": ["[    2.990000s] fatal: index ahead of log"]}),
        )
    });
    events.push(nemesis("restart", 3500, json!(["n2"])));
    events.sort_by_key(|e| e.time);
    History::from_events(events).unwrap()
}

fn failure(history: &History) -> CheckResult {
    let on = |node: &str| {
        history
            .ops
            .iter()
            .position(|o| o.node.as_deref() == Some(node))
            .unwrap()
    };
    let (failing, concurrent) = (on("n2"), on("n3"));
    CheckResult {
        checker: "linearizable".into(),
        verdict: Verdict::Invalid,
        summary: "not linearizable".into(),
        anomalies: vec![],
        details: json!({"failing_op": failing, "key": "k", "concurrent": [concurrent],
                        "states": [2], "model": "register"}),
        warnings: vec![],
        duration_ms: None,
    }
}

fn render() -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let n2 = dir.path().join("nodes/n2");
    fs::create_dir_all(&n2).unwrap();
    fs::create_dir_all(dir.path().join("nodes/n3")).unwrap();
    let log: String = [
        "[    1.000000s] n2: long before",
        "[    3.550000s] n2: serving",
    ]
    .into_iter()
    .chain((0..200).map(|_| "[    3.601000s] n2: read from the local copy"))
    .chain(["[    9.000000s] n2: long after"])
    .map(|l| format!("{l}\n"))
    .collect();
    fs::write(n2.join("daemon.log"), log).unwrap();
    fs::write(
        dir.path().join("nodes/n3/daemon.log"),
        "n3: no stamps here\n",
    )
    .unwrap();
    let history = history();
    let meta = RunMeta {
        spec_name: "health".into(),
        nodes: ["n1", "n2", "n3"].map(String::from).to_vec(),
        ..RunMeta::default()
    };
    write_outputs(dir.path(), &meta, &history, &[failure(&history)]).unwrap();
    let page = fs::read_to_string(dir.path().join(REPORT_FILE)).unwrap();
    let plot = fs::read_to_string(dir.path().join("availability.svg")).unwrap();
    (page, plot)
}

fn section<'a>(page: &'a str, from: &str, to: &str) -> &'a str {
    let start = page.find(from).unwrap_or_else(|| panic!("{from} missing"));
    let end = page[start..].find(to).map_or(page.len(), |e| start + e);
    &page[start..end]
}

#[test]
fn every_crash_is_listed_with_its_status_its_restart_and_its_log() {
    let (page, _) = render();
    let health = section(&page, "id=\"store-health\"", "id=\"test\"");
    assert_eq!(health.matches("class=\"crash\"").count(), 1, "{health}");
    assert!(
        health.contains("<td>n2</td><td class=\"n\">3.000 s</td>"),
        "{health}"
    );
    assert!(health.contains("exit code 70"), "{health}");
    assert!(health.contains("restart at 3.500 s"), "{health}");
    assert!(health.contains("fatal: index ahead of log"), "{health}");
}

#[test]
fn a_crash_is_drawn_on_the_plots_and_the_timeline_with_its_label() {
    let (page, plot) = render();
    assert!(plot.contains("n2 crashed (exit 70)"), "availability plot");
    assert!(page.contains("id=\"plot-availability\""));
    let meta = section(&page, "id=\"tl-meta\"", "</script>");
    assert!(
        meta.contains("\"n2 crashed (exit 70)\",\"crash\""),
        "{meta}"
    );
}

#[test]
fn a_stretch_without_ok_outside_faults_is_listed_with_its_length() {
    let (page, _) = render();
    let gaps = section(&page, "id=\"gaps\"", "</table>");
    assert_eq!(gaps.matches("class=\"gap\"").count(), 1, "{gaps}");
    assert!(
        gaps.contains("0.992 s") && gaps.contains("2.502 s"),
        "{gaps}"
    );
    assert!(gaps.contains("1.51 s"), "{gaps}");
}

#[test]
fn the_failing_op_shows_its_node_and_that_nodes_log_around_it() {
    let (page, _) = render();
    let explorer = section(
        &page,
        "class=\"diagram linear explorer\"",
        "</div></details>",
    );
    assert!(
        explorer.contains("\"lane_nodes\":[\"n1\",\"n2\",\"n3\"]"),
        "the lanes name the node"
    );
    let n2 = section(explorer, "data-node=\"n2\"", "</div>");
    assert!(n2.contains("n2: serving"), "{n2}");
    assert!(
        !n2.contains("long before") && !n2.contains("long after"),
        "{n2}"
    );
    assert!(n2.contains("class=\"log-mark\""), "{n2}");
    // One line before the failing op, the rest of the bound after it, the others left out.
    let left_out = 200 - (super::logs::MAX_LINES - 1);
    assert!(n2.contains(&format!("{left_out} more line(s)")), "{n2}");
    let n3 = section(explorer, "data-node=\"n3\"", "</div>");
    assert!(n3.contains("has no time stamps"), "{n3}");
}
