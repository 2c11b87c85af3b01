//! `faultline run SPEC --repeat N [--until-invalid]` as a user runs it: several runs of the
//! demo store's unique-ids spec on the loopback backend, each kept, and one summary table.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn faultline(spec: &Path, out: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("run")
        .arg(spec)
        .arg("--out")
        .arg(out)
        .args([
            "--backend",
            "loopback",
            "--nemesis",
            "none",
            "--time-limit",
            "1",
        ])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the faultline binary runs")
}

/// The summary table's rows (after its header), split into cells.
fn table_rows(stdout: &str) -> Vec<Vec<String>> {
    let header = stdout
        .lines()
        .position(|l| l.starts_with("run  seed"))
        .unwrap_or_else(|| panic!("no summary table:\n{stdout}"));
    stdout
        .lines()
        .skip(header + 1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split("  ")
                .filter(|c| !c.is_empty())
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

#[test]
fn repeated_runs_use_consecutive_seeds_keep_every_run_and_end_with_one_table() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let spec = crate::workloads::spec(dir.path(), "unique-ids", "linearizable");
    let out = faultline(&spec, dir.path(), &["--repeat", "2", "--seed", "40"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("run 1/2: seed 40") && stdout.contains("run 2/2: seed 41"));
    let rows = table_rows(&stdout);
    assert_eq!(rows.len(), 2, "{stdout}");
    for (row, seed) in rows.iter().zip(["40", "41"]) {
        assert_eq!(&row[1..4], [seed, "valid", "-"], "{stdout}");
        assert!(row[4].parse::<f64>().unwrap() > 10.0, "ops/s: {row:?}");
        assert!(Path::new(&row[5]).is_file(), "no report at {}", row[5]);
    }
    let runs = std::fs::read_dir(dir.path().join("demo-unique-ids"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name() != "latest")
        .count();
    assert_eq!(runs, 2, "every run directory is kept");
}

#[test]
fn until_invalid_stops_at_the_first_invalid_run_and_exits_1() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let spec = crate::workloads::spec(dir.path(), "unique-ids", "lost-updates");
    let out = faultline(&spec, dir.path(), &["--repeat", "3", "--until-invalid"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("run 1/3 is invalid: stopping"), "{stdout}");
    assert!(!stdout.contains("run 2/3"), "{stdout}");
    let rows = table_rows(&stdout);
    assert_eq!(rows.len(), 1, "{stdout}");
    assert_eq!(rows[0][2], "invalid");
    assert!(rows[0][3].starts_with("duplicate-id ×"), "{:?}", rows[0]);
}

#[test]
fn until_invalid_without_repeat_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "run",
            "workloads/demo-unique-ids.toml",
            "--until-invalid",
            "--out",
        ])
        .arg(dir.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--repeat"));
}
