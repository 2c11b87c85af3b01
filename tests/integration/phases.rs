//! A spec whose main phase is a sequence of phases — a warm-up of reads only at a low rate
//! without faults, kills at a higher rate, a recovery — run as a user runs it, on the demo
//! store (loopback backend). Each phase must be framed in the history by its own events,
//! keep its rate, mix and faults to itself, and be drawn on the report's plots.

use std::process::{Command, Stdio};

use faultline_checkers::{EventType, Process};

const PHASES: &str = r#"[nemesis]
kill_target = "one"
interval_s = 0.5
duration_s = 1

[[phases]]
name = "warm-up"
duration_s = 2
rate = 40
mix = { read = 1 }

[[phases]]
name = "faults"
duration_s = 4
rate = 150
nemesis = ["kill"]

[[phases]]
name = "recovery"
duration_s = 2
rate = 40
"#;

#[test]
fn each_phase_keeps_its_rate_mix_and_faults_and_is_recorded_and_drawn() {
    let _heavy = crate::heavy();
    let dir = tempfile::tempdir().unwrap();
    let spec = crate::workloads::spec(dir.path(), "counter", "linearizable");
    let source = std::fs::read_to_string(&spec).unwrap();
    let head = &source[..source.find("[nemesis]").unwrap()];
    std::fs::write(&spec, format!("{head}{PHASES}")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("run")
        .arg(&spec)
        .args(["--backend", "loopback", "--seed", "4", "--out"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("the faultline binary runs");
    let stdout = crate::run::stdout_of(&out, 0);
    assert!(stdout.contains("demo-counter: valid"), "{stdout}");
    let run_dir = crate::run::latest(dir.path(), "demo-counter");
    let events = crate::run::events(&run_dir);

    // The phases' boundaries, in order, each start paired with its stop.
    let marks: Vec<(usize, &str, &str)> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.f.starts_with("phase-"))
        .map(|(i, e)| (i, e.f.as_str(), e.value["name"].as_str().unwrap()))
        .collect();
    let names: Vec<(&str, &str)> = marks.iter().map(|m| (m.1, m.2)).collect();
    assert_eq!(
        names,
        [
            ("phase-start", "warm-up"),
            ("phase-stop", "warm-up"),
            ("phase-start", "faults"),
            ("phase-stop", "faults"),
            ("phase-start", "recovery"),
            ("phase-stop", "recovery"),
        ]
    );
    let span = |k: usize| marks[2 * k].0..marks[2 * k + 1].0;
    let invokes = |k: usize| {
        events[span(k)]
            .iter()
            .filter(|e| e.kind == EventType::Invoke)
            .collect::<Vec<_>>()
    };
    // The warm-up's mix: reads only.
    let warm = invokes(0);
    assert!(!warm.is_empty() && warm.iter().all(|e| e.f == "read"));
    assert!(invokes(1).iter().any(|e| e.f == "add"));
    // Each phase's rate: 40, 150, 40 ops/s.
    let (w, f, r) = (warm.len(), invokes(1).len(), invokes(2).len());
    assert!(f > 2 * w && f > 2 * r, "invocations per phase: {w} {f} {r}");
    // Faults only inside the faults phase, healed before it ended.
    let faults: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.process == Process::Nemesis && (e.f == "kill" || e.f == "restart"))
        .map(|(i, _)| i)
        .collect();
    assert!(!faults.is_empty(), "no kill in the faults phase");
    assert!(faults.iter().all(|i| span(1).contains(i)), "{faults:?}");
    // Drawn: every phase's name on the plots of the report.
    let report = std::fs::read_to_string(run_dir.join("report.html")).unwrap();
    let throughput = std::fs::read_to_string(run_dir.join("throughput.svg")).unwrap();
    for name in ["warm-up", "faults", "recovery"] {
        let label = format!("\n{name}\n</text>");
        assert!(throughput.contains(&label), "no {name} band label");
        assert!(report.contains(&label), "the report's plots lack {name}");
    }
}
