//! The bank, counter, rw-register and unique-ids workloads, run as a user runs them: the
//! built binary on each spec for the demo store (workloads/demo-*.toml), on the loopback
//! backend, briefly. In the correct mode each run is valid; in `lost-updates` mode, where
//! the store reads, pauses, then writes blindly, each checker names the anomaly it exists
//! to find.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// workloads/demo-<name>.toml with the demo binary's path and `mode` filled in.
pub(crate) fn spec(dir: &Path, name: &str, mode: &str) -> PathBuf {
    let file = crate::run::repo().join(format!("workloads/demo-{name}.toml"));
    let source = std::fs::read_to_string(&file).unwrap();
    let binary = serde_json::to_string(crate::run::demo_binary().to_str().unwrap()).unwrap();
    assert!(source.contains("\"faultline-demo\",\n") && source.contains("\"linearizable\""));
    let text = source
        .replacen("\"faultline-demo\",\n", &format!("{binary},\n"), 1)
        .replacen(
            "\"--mode\", \"linearizable\"",
            &format!("\"--mode\", \"{mode}\""),
            1,
        );
    let path = dir.join(format!("demo-{name}-{mode}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs the spec without faults for `secs` seconds; the exit code and the checker's line.
fn run(name: &str, mode: &str, secs: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let out: Output = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("run")
        .arg(spec(dir.path(), name, mode))
        .args(["--out"])
        .arg(dir.path())
        .args(["--backend", "loopback", "--nemesis", "none"])
        .args(["--time-limit", secs, "--seed", "3"])
        .stdin(Stdio::null())
        .output()
        .expect("the faultline binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let checker = stdout
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{name}: ")))
        .unwrap_or_else(|| {
            panic!(
                "no {name} verdict:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .trim()
        .to_string();
    (out.status.code(), checker)
}

#[test]
fn each_new_workload_passes_on_the_correct_demo_store_and_names_its_anomaly_on_lost_updates() {
    let _heavy = crate::heavy();
    // (workload, the anomaly lost-updates mode must show)
    let cases = [
        ("bank", "wrong-total"),
        ("counter", "out of bounds"),
        ("rw-register", "lost-update"),
        ("unique-ids", "more than once"),
    ];
    let mut wrong = Vec::new();
    for (name, anomaly) in cases {
        let (code, line) = run(name, "linearizable", "3");
        if code != Some(0) || !line.contains(": valid") {
            wrong.push(format!("{name} linearizable: exit {code:?}, {line}"));
        }
        let (code, line) = run(name, "lost-updates", "2");
        if code != Some(1) || !line.contains(": invalid") || !line.contains(anomaly) {
            wrong.push(format!(
                "{name} lost-updates: exit {code:?}, {line} (wanted {anomaly})"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
