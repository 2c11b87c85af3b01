//! Integration tests: reports. Synthetic histories are rendered with the report module and
//! opened in real headless Chromium (Debian's `chromium`), which must load them without a
//! console message; the DOM it ends with is checked for the verdict, the plots and the
//! failure diagrams. Screenshots are kept in `<target dir>/test-artifacts/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use faultline::report::{self, RunMeta, Versions};
use faultline_checkers::elle::{ConsistencyModel, ListAppend};
use faultline_checkers::registry::{self, CheckerOptions};
use faultline_checkers::{
    Anomaly, Budget, CheckResult, Checker, Event, EventType, History, Process, Verdict,
};
use serde_json::{json, Value};

/// Builds a history with times, one event at a time.
#[derive(Default)]
struct Recorder {
    events: Vec<Event>,
    now_ns: u64,
}

impl Recorder {
    fn at(&mut self, ms: u64) -> &mut Self {
        self.now_ns = self.now_ns.max(ms * 1_000_000);
        self
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        process: Process,
        kind: EventType,
        f: &str,
        key: Option<&str>,
        value: Value,
        node: Option<&str>,
    ) {
        self.now_ns += 100_000;
        self.events.push(Event {
            index: self.events.len() as u64,
            time: Some(self.now_ns),
            process,
            kind,
            f: f.to_string(),
            key: key.map(String::from),
            value,
            node: node.map(String::from),
            error: (kind == EventType::Info && process != Process::Nemesis)
                .then(|| json!("timeout")),
            response: None,
        });
    }

    fn invoke(&mut self, p: u64, f: &str, key: &str, value: Value) {
        let node = format!("n{}", p % 5 + 1);
        self.push(
            Process::Client(p),
            EventType::Invoke,
            f,
            Some(key),
            value,
            Some(&node),
        );
    }

    fn complete(&mut self, p: u64, kind: EventType, f: &str, key: &str, value: Value) {
        let node = format!("n{}", p % 5 + 1);
        self.push(Process::Client(p), kind, f, Some(key), value, Some(&node));
    }

    fn nemesis(&mut self, f: &str, value: Value) {
        self.push(Process::Nemesis, EventType::Info, f, None, value, None);
    }

    fn history(&self) -> History {
        History::from_events(self.events.clone()).expect("a well-formed synthetic history")
    }
}

fn nodes() -> Vec<String> {
    (1..=5).map(|i| format!("n{i}")).collect()
}

/// 5 processes writing and reading keys k0..k2 for 6 s, with a partition from 2 s to 4 s
/// during which the minority side's ops time out.
fn background(r: &mut Recorder) {
    let grudge = json!({"n1":["n3","n4","n5"],"n2":["n3","n4","n5"],
                        "n3":["n1","n2"],"n4":["n1","n2"],"n5":["n1","n2"]});
    let mut value = 100;
    // Reads return the last value written ok before their batch: linearizable, since every
    // op of a batch is concurrent with the others.
    let mut last: std::collections::HashMap<String, Value> = Default::default();
    for step in 0..120u64 {
        r.at(step * 50);
        if step == 40 {
            r.nemesis("start-partition", grudge.clone());
        }
        if step == 80 {
            r.nemesis("stop-partition", Value::Null);
        }
        let mut batch = Vec::new();
        for p in 0..5u64 {
            let key = format!("k{}", (step + p) % 3);
            value += 1;
            let (f, v) = if (step + p) % 2 == 0 {
                ("write", json!(value))
            } else {
                ("read", Value::Null)
            };
            r.invoke(p, f, &key, v.clone());
            batch.push((p, key, f, v));
        }
        let before = last.clone();
        for (p, key, f, v) in batch {
            // Process 0 serves the minority side (n1): its ops fail during the partition.
            let kind = if (40..80).contains(&step) && p == 0 {
                EventType::Fail
            } else {
                EventType::Ok
            };
            let out = match (f, kind) {
                ("read", EventType::Ok) => before.get(&key).cloned().unwrap_or(Value::Null),
                ("write", EventType::Ok) => {
                    last.insert(key.clone(), v.clone());
                    v
                }
                _ => Value::Null,
            };
            r.complete(p, kind, f, &key, out);
        }
    }
}

fn meta(run_dir: &Path, name: &str) -> RunMeta {
    RunMeta {
        spec_name: name.to_string(),
        store: "synthetic register".to_string(),
        nodes: nodes(),
        seed: Some(42),
        command_line: vec![
            "faultline".into(),
            "run".into(),
            format!("workloads/{name}.toml"),
        ],
        started: Some(chrono::Utc::now()),
        finished: Some(chrono::Utc::now()),
        duration: Some(std::time::Duration::from_millis(6_500)),
        versions: Versions::current(),
        spec_text: Some(format!("name = \"{name}\"\n")),
        run_dir: run_dir.to_path_buf(),
        extra: Default::default(),
        errors: Vec::new(),
    }
}

/// A history whose key `kx` has a stale read: write 1, then write 2, then a read of 1.
fn failing_history() -> (History, CheckResult) {
    let mut r = Recorder::default();
    background(&mut r);
    r.at(6_200);
    r.invoke(10, "write", "kx", json!(1));
    r.complete(10, EventType::Ok, "write", "kx", json!(1));
    r.invoke(11, "write", "kx", json!(2));
    r.invoke(12, "read", "kx", Value::Null);
    r.complete(11, EventType::Ok, "write", "kx", json!(2));
    r.invoke(10, "read", "kx", Value::Null);
    r.complete(12, EventType::Ok, "read", "kx", json!(2));
    r.complete(10, EventType::Ok, "read", "kx", json!(1));
    let history = r.history();
    let id = |p: u64, f: &str| {
        history
            .ops
            .iter()
            .rev()
            .find(|o| o.process == p && o.f == f && o.key.as_deref() == Some("kx"))
            .unwrap()
            .id
    };
    let checker = registry::build("register", &CheckerOptions::default()).unwrap();
    let result = checker.check(&history, &Budget::default());
    assert_eq!(result.verdict, Verdict::Invalid, "{}", result.summary);
    assert_eq!(
        result.details["key"],
        json!("kx"),
        "only kx is broken: {}",
        result.summary
    );
    assert_eq!(result.details["failing_op"], json!(id(10, "read")));
    (history, result)
}

fn passing_result(name: &str) -> CheckResult {
    CheckResult {
        checker: name.into(),
        verdict: Verdict::Valid,
        summary: "every key is linearizable".into(),
        anomalies: vec![],
        details: Value::Null,
        warnings: vec![],
        duration_ms: None,
    }
}

/// `faultline report <dir>`, run to completion.
fn faultline_report(dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("report")
        .arg(dir)
        .output()
        .unwrap()
}

fn assert_exit(out: &std::process::Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn artifacts_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What Chromium made of a page: the DOM after scripts ran, and its console messages.
pub(crate) struct Page {
    pub(crate) dom: String,
    pub(crate) console: Vec<String>,
}

fn chromium(args: &[&str], profile: &Path) -> std::process::Output {
    // Bounded: a browser that hangs is killed (coreutils `timeout`) and the test fails.
    Command::new("timeout")
        .args(["--kill-after=5", "90", "/usr/bin/chromium"])
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium runs (Debian package `chromium`)")
}

/// Opens a report in headless Chromium, keeps a screenshot as `<artifact>.png`.
pub(crate) fn open_in_chromium(report: &Path, artifact: &str) -> Page {
    open_url_in_chromium(
        &format!("file://{}", report.canonicalize().unwrap().display()),
        artifact,
    )
}

fn open_url_in_chromium(url: &str, artifact: &str) -> Page {
    let url = url.to_string();
    let profile = tempfile::tempdir().unwrap();
    let out = chromium(&["--dump-dom", &url], profile.path());
    assert!(
        out.status.success(),
        "chromium --dump-dom failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let console = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .map(String::from)
        .collect();
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    let shot = artifacts_dir().join(format!("{artifact}.png"));
    let _ = std::fs::remove_file(&shot);
    let profile = tempfile::tempdir().unwrap();
    let out = chromium(
        &[
            "--window-size=1280,3200",
            &format!("--screenshot={}", shot.display()),
            &url,
        ],
        profile.path(),
    );
    assert!(
        out.status.success() && shot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Page { dom, console }
}

pub(crate) fn assert_no_console_messages(page: &Page) {
    assert!(
        page.console.is_empty(),
        "the page logged to the console: {:#?}",
        page.console
    );
}

#[test]
fn a_report_that_cannot_be_written_leaves_a_results_file_whose_code_agrees() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where report.html should go: the write fails as on a full disk.
    std::fs::create_dir(dir.path().join("report.html")).unwrap();
    let (history, result) = failing_history();
    let err = report::write_outputs(
        dir.path(),
        &meta(dir.path(), "register"),
        &history,
        std::slice::from_ref(&result),
    )
    .unwrap_err();
    assert!(format!("{err:#}").contains("report.html"), "{err:#}");
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap())
            .unwrap();
    assert_eq!(results["verdict"], "invalid");
    assert_eq!(results["exit_code"], 1, "invalid outranks the failed file");
    let errors = results["test"]["errors"].to_string();
    assert!(errors.contains("report.html"), "{errors}");

    let valid = CheckResult {
        verdict: Verdict::Valid,
        ..result
    };
    let err = report::write_outputs(
        dir.path(),
        &meta(dir.path(), "register"),
        &history,
        &[valid],
    )
    .unwrap_err();
    assert!(format!("{err:#}").contains("report.html"), "{err:#}");
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("results.json")).unwrap())
            .unwrap();
    assert_eq!(
        results["exit_code"], 3,
        "a valid run whose report failed is not a pass"
    );
}

#[test]
fn failing_linearizability_report_shows_verdict_plots_and_diagram_in_chromium() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let (history, result) = failing_history();
    let failing = result.details["failing_op"].as_u64().unwrap();
    let outputs = report::write_outputs(
        dir.path(),
        &meta(dir.path(), "register"),
        &history,
        &[result],
    )
    .unwrap();
    assert_eq!(outputs.verdict, Verdict::Invalid);
    for plot in [
        "latency.svg",
        "latency.png",
        "throughput.svg",
        "throughput.png",
        "availability.svg",
        "availability.png",
    ] {
        assert!(dir.path().join(plot).exists(), "{plot} missing");
    }
    let page = open_in_chromium(&outputs.report_html, "report-linearizability-failure");
    assert_no_console_messages(&page);
    assert!(
        page.dom.contains("data-verdict=\"invalid\""),
        "no invalid verdict banner"
    );
    assert!(page.dom.contains("INVALID"));
    assert!(
        page.dom.contains("id=\"plot-latency\"")
            && page.dom.contains("id=\"plot-throughput\"")
            && page.dom.contains("id=\"plot-availability\"")
    );
    assert!(
        page.dom.contains("partition n1,n2 | n3,n4,n5"),
        "fault window not labelled"
    );
    assert!(
        page.dom.contains("id=\"linear-diagram\""),
        "no failure diagram"
    );
    assert!(page
        .dom
        .contains(&format!("class=\"op ok failing\" data-op=\"{failing}\"")));
    assert!(
        page.dom.contains("class=\"tl-op\""),
        "the timeline script drew no op"
    );
    assert!(page.dom.contains("Failing key kx"));
    assert!(page
        .dom
        .contains(&format!("class=\"tl-jump\" data-op=\"{failing}\"")));
    assert!(!page.dom.contains("class=\"tl-op tl-marked\""));
    // A link to the failing op opens the timeline on it, outlined.
    let url = format!(
        "file://{}#op={failing}",
        outputs.report_html.canonicalize().unwrap().display()
    );
    let linked = open_url_in_chromium(&url, "report-linearizability-failure-op-link");
    assert_no_console_messages(&linked);
    assert_eq!(
        linked.dom.matches("class=\"tl-op tl-marked\"").count(),
        1,
        "the linked op is not outlined"
    );
}

#[test]
fn passing_report_opens_in_chromium_without_console_messages() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let mut r = Recorder::default();
    background(&mut r);
    let outputs = report::write_outputs(
        dir.path(),
        &meta(dir.path(), "register-ok"),
        &r.history(),
        &[passing_result("linearizable")],
    )
    .unwrap();
    assert_eq!(outputs.verdict, Verdict::Valid);
    let page = open_in_chromium(&outputs.report_html, "report-passing");
    assert_no_console_messages(&page);
    assert!(page.dom.contains("data-verdict=\"valid\""));
    assert!(page.dom.contains("No consistency violation was found."));
    assert!(page.dom.contains("id=\"plot-latency\""));
    assert!(!page.dom.contains("linear-diagram"));
}

const HOSTILE: &str =
    "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">";

#[test]
fn values_holding_markup_render_as_text_not_elements() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let mut r = Recorder::default();
    r.at(1);
    r.invoke(0, "write", HOSTILE, json!(HOSTILE));
    r.complete(0, EventType::Ok, "write", HOSTILE, json!(HOSTILE));
    r.nemesis("kill", json!([HOSTILE]));
    r.invoke(1, "read", HOSTILE, Value::Null);
    r.complete(1, EventType::Ok, "read", HOSTILE, json!(HOSTILE));
    let history = r.history();
    let mut result = passing_result(HOSTILE);
    result.verdict = Verdict::Invalid;
    result.summary = HOSTILE.to_string();
    result.anomalies = vec![Anomaly {
        kind: HOSTILE.into(),
        explanation: HOSTILE.into(),
        data: Value::Null,
        ops: Vec::new(),
    }];
    result.details = json!({"key": HOSTILE, "model": HOSTILE, "failing_op": 1, "states": [HOSTILE], "prefix": [0]});
    let mut m = meta(dir.path(), HOSTILE);
    m.store = HOSTILE.into();
    m.nodes.push(HOSTILE.into());
    let outputs = report::write_outputs(dir.path(), &m, &history, &[result]).unwrap();
    let page = open_in_chromium(&outputs.report_html, "report-hostile-values");
    assert_no_console_messages(&page);
    assert!(
        !page.dom.contains("<img"),
        "a value became an <img> element"
    );
    assert!(!page.dom.contains("<title>pwned"), "a value ran as script");
    // Our four script blocks (timeline data, metadata, code, the explorer's data) and no
    // other.
    assert_eq!(page.dom.matches("<script").count(), 4);
    assert!(
        page.dom.contains("&lt;script&gt;document.title="),
        "the value is not shown as text"
    );
    let junit = std::fs::read_to_string(outputs.junit_xml).unwrap();
    assert!(!junit.contains("<script") && junit.contains("&lt;script&gt;"));
}

#[test]
fn transactional_cycle_is_drawn_as_a_graph_with_its_edge_types() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let mut r = Recorder::default();
    r.at(1);
    // Each transaction appends to one key and reads the other without seeing the other's
    // append: two anti-dependencies, a G2-item cycle.
    let mut push = |p: u64, kind: EventType, value: Value| {
        r.push(Process::Client(p), kind, "txn", None, value, Some("n1"));
    };
    push(
        0,
        EventType::Invoke,
        json!([["append", "x", 1], ["r", "y", null]]),
    );
    push(
        1,
        EventType::Invoke,
        json!([["append", "y", 1], ["r", "x", null]]),
    );
    push(
        0,
        EventType::Ok,
        json!([["append", "x", 1], ["r", "y", []]]),
    );
    push(
        1,
        EventType::Ok,
        json!([["append", "y", 1], ["r", "x", []]]),
    );
    push(
        2,
        EventType::Invoke,
        json!([["r", "x", null], ["r", "y", null]]),
    );
    push(2, EventType::Ok, json!([["r", "x", [1]], ["r", "y", [1]]]));
    let history = r.history();
    let checker = ListAppend {
        model: ConsistencyModel::Serializable,
    };
    let result = checker.check(&history, &Budget::default());
    assert_eq!(result.verdict, Verdict::Invalid, "{}", result.summary);
    assert!(
        result.anomalies.iter().any(|a| a.kind == "G2-item"),
        "{:?}",
        result.anomalies
    );
    let outputs =
        report::write_outputs(dir.path(), &meta(dir.path(), "append"), &history, &[result])
            .unwrap();
    let page = open_in_chromium(&outputs.report_html, "report-elle-cycle");
    assert_no_console_messages(&page);
    assert!(
        page.dom.contains("data-anomaly=\"G2-item\""),
        "no cycle diagram"
    );
    assert_eq!(
        page.dom.matches("class=\"edge\" data-edge=\"rw\"").count(),
        2
    );
    assert!(page.dom.contains("data-op=\"0\"") && page.dom.contains("data-op=\"1\""));
}

#[test]
fn report_command_rerenders_a_run_directory_and_exits_with_its_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let (history, result) = failing_history();
    report::write_outputs(
        dir.path(),
        &meta(dir.path(), "register"),
        &history,
        &[result],
    )
    .unwrap();
    std::fs::remove_file(dir.path().join("report.html")).unwrap();
    std::fs::remove_file(dir.path().join("junit.xml")).unwrap();
    let out = faultline_report(dir.path());
    assert_exit(&out, 1);
    assert!(String::from_utf8_lossy(&out.stdout).contains("invalid"));
    let page = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(page.contains("id=\"linear-diagram\""));
    assert!(dir.path().join("junit.xml").exists());
}

#[test]
fn report_command_without_results_says_how_to_check_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = Recorder::default();
    background(&mut r);
    report::write_history(&dir.path().join("history.jsonl"), &r.history()).unwrap();
    let out = faultline_report(dir.path());
    assert_exit(&out, 3);
    assert!(String::from_utf8_lossy(&out.stderr).contains("faultline check"));
}

#[test]
fn results_json_reads_back_with_availability_per_fault_window_and_side() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = Recorder::default();
    background(&mut r);
    let history = r.history();
    report::write_outputs(
        dir.path(),
        &meta(dir.path(), "register"),
        &history,
        &[passing_result("linearizable")],
    )
    .unwrap();
    let results = report::read_results(&dir.path().join("results.json")).unwrap();
    assert_eq!(results.format_version, report::RESULTS_FORMAT_VERSION);
    assert_eq!(results.exit_code, 0);
    assert_eq!(results.stats.ops.total, history.ops.len());
    let window = &results.availability.windows[0];
    assert_eq!(window.window.kind, "partition");
    assert!(window.ok_share.unwrap() < results.availability.outside_faults_ok_share.unwrap());
    // Process 0 (node n1, minority side) failed every op during the partition.
    let minority = window
        .sides
        .iter()
        .find(|s| s.nodes == ["n1", "n2"])
        .unwrap();
    let majority = window
        .sides
        .iter()
        .find(|s| s.nodes == ["n3", "n4", "n5"])
        .unwrap();
    assert!(minority.ok_share.unwrap() < 0.6);
    assert_eq!(majority.ok_share, Some(1.0));
}

#[test]
fn check_with_report_writes_a_report_that_faultline_report_rerenders() {
    let dir = tempfile::tempdir().unwrap();
    let (history, _) = failing_history();
    let file = dir.path().join("stale-read.jsonl");
    report::write_history(&file, &history).unwrap();
    let out_dir = dir.path().join("report");
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("check")
        .arg(&file)
        .args(["--model", "register", "--report"])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert_exit(&out, 1);
    let page = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(page.contains("id=\"linear-diagram\"") && page.contains("Failing key kx"));
    let results = report::read_results(&out_dir.join("results.json")).unwrap();
    assert_eq!(results.test.extra["model"], "register");
    assert_eq!(results.history.ops, history.ops.len());
    assert_exit(&faultline_report(&out_dir), 1);
}
