//! `faultline sweep` as a user runs it: the ready demo sweeps (workloads/sweeps/) over one
//! and three nodes × no fault and a partition, on the local backend with short main phases.
//! Each must end within the bound it printed first, leave nothing behind, and write a page
//! that Chromium opens with its plots and its verdict grid — and the figures must show the
//! trade-off: the correct mode's availability falls under the partition while it stays
//! valid; the stale-reads mode stays more available and is invalid.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// workloads/sweeps/demo-<mode>.toml with the demo binary's path filled in.
fn ready_sweep(dir: &Path, mode: &str) -> PathBuf {
    let file = crate::run::repo().join(format!("workloads/sweeps/demo-{mode}.toml"));
    let source = std::fs::read_to_string(&file).unwrap();
    let binary = serde_json::to_string(crate::run::demo_binary().to_str().unwrap()).unwrap();
    assert!(source.contains("\"faultline-demo\",\n"));
    let path = dir.join(format!("demo-{mode}.toml"));
    std::fs::write(
        &path,
        source.replacen("\"faultline-demo\",\n", &format!("{binary},\n"), 1),
    )
    .unwrap();
    path
}

/// What one sweep left: its exit code, its directory and `sweep.json`.
struct Swept {
    code: Option<i32>,
    dir: PathBuf,
    json: Value,
}

/// Runs the sweep and checks what every sweep must do: end within its printed bound, and
/// leave no namespace, link or process of any of its runs.
fn sweep(out: &Path, mode: &str) -> Swept {
    let spec = ready_sweep(out, mode);
    let started = Instant::now();
    let run = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("sweep")
        .arg(&spec)
        .args(["--nodes", "1,3", "--nemesis", "none,partition"])
        .args(["--time-limit", "4", "--seed", "5", "--out"])
        .arg(out)
        .stdin(Stdio::null())
        .output()
        .expect("the faultline binary runs");
    let took = started.elapsed();
    let stdout = crate::run::text(&run.stdout);
    let bound_s: u64 = stdout
        .split("at most ")
        .nth(1)
        .and_then(|rest| rest.split('s').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no bound printed first:\n{stdout}"));
    assert!(
        took < Duration::from_secs(bound_s),
        "took {took:?}, beyond its bound of {bound_s} s"
    );
    eprintln!("sweep {mode}: {took:?} (bound {bound_s} s)");
    let dir = crate::run::latest(out, &format!("demo-{mode}-sweep"));
    let runs = dir.join(format!("runs/demo-{mode}"));
    for run_dir in std::fs::read_dir(&runs).unwrap().flatten() {
        if run_dir.file_name() != "latest" {
            crate::run::assert_nothing_left(&run_dir.path());
        }
    }
    let json = serde_json::from_slice(&std::fs::read(dir.join("sweep.json")).unwrap()).unwrap();
    Swept {
        code: run.status.code(),
        dir,
        json,
    }
}

/// The point at `nodes` × `nemesis`.
fn point<'a>(s: &'a Swept, nodes: u64, nemesis: &str) -> &'a Value {
    s.json["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["nodes"] == nodes && p["nemesis"] == nemesis)
        .unwrap_or_else(|| panic!("no point {nodes} × {nemesis}: {}", s.json))
}

fn figure(p: &Value, name: &str) -> f64 {
    p["figures"][name]
        .as_f64()
        .unwrap_or_else(|| panic!("no {name} in {p}"))
}

#[test]
fn demo_sweeps_show_the_correct_mode_refusing_under_partitions_and_stale_reads_serving_stale() {
    let _heavy = crate::heavy();
    let out = tempfile::tempdir().unwrap();
    let correct = sweep(out.path(), "linearizable");
    let stale = sweep(out.path(), "stale-reads");
    let (c, s) = (&correct.json, &stale.json);
    assert_eq!(correct.code, Some(0), "{c}");
    assert_eq!(stale.code, Some(1), "{s}");
    assert_eq!(c["state"], "finished");
    for swept in [&correct, &stale] {
        // A single node cannot be partitioned: listed, not run.
        let lone = point(swept, 1, "partition");
        assert_eq!(lone["status"], "not-applicable", "{lone}");
        assert!(lone["reason"]
            .as_str()
            .unwrap()
            .contains("at least 2 nodes"));
    }
    for nemesis in ["none", "partition"] {
        for nodes in [1, 3] {
            if (nodes, nemesis) != (1, "partition") {
                assert_eq!(point(&correct, nodes, nemesis)["status"], "valid");
            }
        }
    }
    // Consistent, not available: the partition cut the correct mode's availability.
    let calm = figure(point(&correct, 3, "none"), "availability");
    let cut = figure(point(&correct, 3, "partition"), "availability_in_faults");
    assert!(
        cut + 0.3 < calm,
        "available {cut} in the partition, {calm} without"
    );
    // Available, not consistent: stale reads are found, and under the same partition more
    // of it stayed available than of the correct mode.
    let stale_cut = point(&stale, 3, "partition");
    assert_eq!(stale_cut["status"], "invalid", "{stale_cut}");
    assert!(stale_cut["anomalies"]
        .as_str()
        .unwrap()
        .contains("nonlinearizable"));
    let stale_available = figure(stale_cut, "availability_in_faults");
    assert!(
        stale_available > cut + 0.3,
        "stale-reads {stale_available} vs correct {cut} during the partition"
    );
    let csv = std::fs::read_to_string(correct.dir.join("sweep.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        5,
        "a header and a row per point:\n{csv}"
    );

    let page = crate::report::open_in_chromium(&correct.dir.join("sweep.html"), "sweep-demo");
    crate::report::assert_no_console_messages(&page);
    let dom = &page.dom;
    for id in ["plot-throughput", "plot-latency", "plot-availability"] {
        let at = dom
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no {id} in the page"));
        assert!(dom[at..].contains("<svg"), "{id} has no plot");
    }
    assert_eq!(dom.matches("<td class=\"cell valid\"").count(), 3, "{dom}");
    assert_eq!(dom.matches("<td class=\"cell not-applicable\"").count(), 1);
    // Every run cell links to that run's report, which exists.
    let links: Vec<&str> = dom
        .split("<td class=\"cell valid\" data-status=\"valid\"")
        .skip(1)
        .filter_map(|cell| cell.split("href=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(links.len(), 3, "{dom}");
    for link in links {
        assert!(correct.dir.join(link).is_file(), "{link} is not a report");
    }
}
