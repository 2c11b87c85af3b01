//! `faultline demo` as a new user runs it: the built binary starts five demo replicas, breaks
//! them, and must end with the verdict each mode promises, a report on disk and the right
//! exit code. Runs are shortened (`--time-limit`) but keep their faults.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Runs `faultline demo ARGS --out DIR`; the demo store is the one built beside faultline.
fn demo(out: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("demo")
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("the faultline binary runs")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("faultline exits with a code")
}

fn text(out: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The report path printed on the last lines of stdout.
fn report_path(out: &Output) -> PathBuf {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("report: "))
        .unwrap_or_else(|| panic!("no report line:\n{}", text(out)));
    PathBuf::from(line)
}

#[test]
fn demo_finds_the_stale_read_and_writes_its_report() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let out = demo(dir.path(), &["--time-limit", "8", "--seed", "11"]);
    assert_eq!(code(&out), 1, "the default mode must fail:\n{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("INVALID"), "{}", text(&out));
    assert!(
        stdout.contains("stale read"),
        "the anomaly is named:\n{}",
        text(&out)
    );
    let report = report_path(&out);
    assert!(report.is_file(), "{} is missing", report.display());
    assert!(report.starts_with(std::fs::canonicalize(dir.path()).unwrap()));
    let run_dir = report.parent().unwrap();
    for file in ["history.jsonl", "results.json", "spec.toml"] {
        assert!(
            run_dir.join(file).is_file(),
            "{file} is missing from {}",
            run_dir.display()
        );
    }
    let spec = std::fs::read_to_string(run_dir.join("spec.toml")).unwrap();
    assert!(
        spec.contains("\"--mode\", \"stale-reads\""),
        "spec.toml is what ran:\n{spec}"
    );
}

#[test]
fn demo_in_linearizable_mode_passes_through_faults() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let out = demo(
        dir.path(),
        &[
            "--mode",
            "linearizable",
            "--time-limit",
            "10",
            "--seed",
            "12",
        ],
    );
    assert_eq!(code(&out), 0, "the correct mode must pass:\n{}", text(&out));
    // "VALID" alone is also a substring of "INVALID".
    assert!(String::from_utf8_lossy(&out.stdout).contains("VALID (linearizable"));
    // The run really was under fire: the nemesis recorded its faults in the history.
    let history = std::fs::read_to_string(report_path(&out).with_file_name("history.jsonl"))
        .expect("history.jsonl");
    assert!(
        history.contains("\"process\":\"nemesis\""),
        "no fault was injected"
    );
}

#[test]
fn demo_in_lost_updates_mode_fails_without_any_fault() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let out = demo(
        dir.path(),
        &[
            "--mode",
            "lost-updates",
            "--nemesis",
            "none",
            "--time-limit",
            "8",
            "--seed",
            "13",
        ],
    );
    assert_eq!(
        code(&out),
        1,
        "concurrency alone breaks it:\n{}",
        text(&out)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("lost update"));
}

#[test]
fn a_closed_stderr_silences_the_terminal_but_not_the_test() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["demo", "--mode", "lost-updates", "--nemesis", "none"])
        .args(["--time-limit", "5", "--seed", "13", "--out"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader of stderr goes away at once, as `faultline demo 2>&1 | head -3` does.
    drop(child.stderr.take());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("faultline did not finish within 120 s with its stderr closed");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 1, "the verdict's code, not 3:\n{}", text(&out));
    assert!(report_path(&out).exists(), "{}", text(&out));
}

#[test]
fn demo_on_the_loopback_backend_still_finds_the_stale_read() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let out = demo(
        dir.path(),
        &["--backend", "loopback", "--time-limit", "8", "--seed", "14"],
    );
    assert_eq!(code(&out), 1, "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("loopback backend, faults: kill, pause"),
        "{}",
        text(&out)
    );
}

#[test]
fn demo_without_its_store_binary_says_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["demo", "--out"])
        .arg(dir.path())
        .env("FAULTLINE_DEMO_BIN", dir.path().join("no-such-binary"))
        .output()
        .expect("the faultline binary runs");
    assert_eq!(code(&out), 3, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("FAULTLINE_DEMO_BIN"));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no run was started"
    );
}

#[test]
fn demo_in_crashes_mode_names_every_crash_and_fails() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let out = demo(
        dir.path(),
        &[
            "--mode",
            "crashes",
            "--nemesis",
            "none",
            "--backend",
            "loopback",
            "--time-limit",
            "6",
            "--seed",
            "14",
        ],
    );
    assert_eq!(code(&out), 1, "a crash is a finding:\n{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("a store process crashed"), "{}", text(&out));
    let run_dir = report_path(&out).parent().unwrap().to_path_buf();
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("results.json")).unwrap())
            .unwrap();
    let health = results["checkers"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["checker"] == "store-health"))
        .unwrap_or_else(|| panic!("no store-health check:\n{results:#}"));
    assert_eq!(health["verdict"], "invalid", "{health:#}");
    let crashes: Vec<&serde_json::Value> = health["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "node-crash")
        .collect();
    assert!(!crashes.is_empty(), "{health:#}");
    for a in &crashes {
        let explanation = a["explanation"].as_str().unwrap();
        assert!(explanation.contains("exit code 70"), "{explanation}");
        assert!(
            explanation.contains("aborting"),
            "the log tail: {explanation}"
        );
        // Only replicas crash in this mode; n1 is the primary.
        assert_ne!(a["data"]["node"], "n1", "{explanation}");
    }
    // Recorded the moment it happened, in the history itself.
    let history = std::fs::read_to_string(run_dir.join("history.jsonl")).unwrap();
    assert!(history.contains("\"f\":\"node-crash\""), "no crash event");
    // The report lists every crash and draws it on the plots.
    let page = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
    for a in &crashes {
        let node = a["data"]["node"].as_str().unwrap();
        let row = format!("<tr class=\"crash\" data-node=\"{node}\">");
        assert!(
            page.contains(&row),
            "{node} is not in the report's crash list"
        );
    }
    for plot in ["latency.svg", "throughput.svg", "availability.svg"] {
        let svg = std::fs::read_to_string(run_dir.join(plot)).unwrap();
        assert!(
            svg.contains("crashed (exit 70)"),
            "{plot} does not mark the crashes"
        );
    }
}
