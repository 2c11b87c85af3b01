//! `faultline demo`: the zero-install first run. It starts five replicas of the bundled demo
//! store (`faultline-demo`, in `demo/`), drives clients against them while the nemesis breaks
//! them, checks the history, writes the run directory and report, and ends with the verdict,
//! the anomaly in one sentence and the path of `report.html`.
//!
//! The test is `workloads/demo.toml`, compiled into the binary so that it runs from anywhere;
//! only the store's program and its `--mode` are filled in. The run directory's `spec.toml`
//! is the spec exactly as it ran, so `faultline run <run dir>/spec.toml` repeats it.
//!
//! Modes (`--mode`): `stale-reads` (the default) lags its replication and serves reads from
//! any replica, so it fails (exit 1) in every run; `linearizable` passes (exit 0);
//! `lost-updates` fails on compare-and-set even with `--nemesis none`.
//!
//! Where the store's binary comes from, first match wins:
//! 1. `FAULTLINE_DEMO_BIN`, if set;
//! 2. `faultline-demo` beside the running `faultline` (`cargo build --workspace` puts both in
//!    `target/<profile>/`; `cargo install --path demo` puts it beside an installed faultline);
//! 3. when `faultline` runs from a cargo target directory of this source tree (`cargo run`),
//!    it builds `faultline-demo` there with the same profile;
//! 4. `faultline-demo` on the `PATH`.
//!
//! Backend: `local` (network namespaces, partitions and kills) when the machine allows it;
//! otherwise it says why and runs the nodes as plain processes on loopback with the faults
//! that need no root (kills and pauses) — the stale-read bug shows up either way, since the
//! replication lag alone exposes it.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use faultline_checkers::linear::Failure;
use faultline_checkers::{CheckResult, Verdict};

use crate::cli::OutArgs;
use crate::cluster::{preflight, BackendKind};
use crate::exit::Code;
use crate::runner::{self, RunOptions, RunOutcome};
use crate::spec::{LoadedSpec, Overrides};

/// The spec, as shipped in `workloads/demo.toml`.
const DEMO_SPEC: &str = include_str!("../../workloads/demo.toml");
/// Where that spec lives in the source tree; errors and the run's records name it.
const DEMO_SPEC_PATH: &str = "workloads/demo.toml";
const DEMO_BINARY: &str = "faultline-demo";
/// Overrides every other way of finding the demo store's binary.
const DEMO_BIN_ENV: &str = "FAULTLINE_DEMO_BIN";

#[derive(Args, Debug)]
#[command(after_long_help = "\
The demo store's binary, faultline-demo, is looked up in this order: $FAULTLINE_DEMO_BIN; \
beside the faultline binary (`cargo build --workspace` puts both in target/<profile>/; \
after `cargo install --path .` also run `cargo install --path demo`); built on the spot when \
faultline runs from a cargo target directory of its source tree; the PATH.

Exit codes: 0 valid, 1 invalid, 2 unknown, 3 the test could not be carried out.")]
pub struct DemoArgs {
    /// The demo store's mode: stale-reads fails (a stale read), linearizable passes,
    /// lost-updates fails on compare-and-set even without faults.
    #[arg(long, value_enum, default_value_t = DemoMode::StaleReads)]
    pub mode: DemoMode,
    /// Length of the main phase in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub time_limit: u64,
    /// The seed of every random choice; a run's seed replays it.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Faults, comma-separated: partition,kill,pause, or `none`. Default: partition,kill on
    /// the local backend, kill,pause on loopback.
    #[arg(long, value_name = "FAULTS", value_delimiter = ',')]
    pub nemesis: Option<Vec<String>>,
    /// Node backend: local (network namespaces, needs root) or loopback (plain processes).
    /// Default: local when this machine can run it, loopback otherwise.
    #[arg(long, value_name = "BACKEND")]
    pub backend: Option<String>,
    #[command(flatten)]
    pub out: OutArgs,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum DemoMode {
    /// Replicas answer reads from their own, lagging copy: fails with a stale read.
    StaleReads,
    /// Every operation is replicated to a majority by the primary first: passes.
    Linearizable,
    /// Compare-and-set reads, pauses, then writes: fails with a lost update.
    LostUpdates,
    /// Replicas abort under load: fails with a store crash.
    Crashes,
}

impl DemoMode {
    fn name(self) -> &'static str {
        match self {
            DemoMode::StaleReads => "stale-reads",
            DemoMode::Linearizable => "linearizable",
            DemoMode::LostUpdates => "lost-updates",
            DemoMode::Crashes => "crashes",
        }
    }

    /// What the anomaly means for this store, in plain words.
    fn explanation(self) -> &'static str {
        match self {
            DemoMode::StaleReads => {
                "a replica answered a read from its own lagging copy, missing a write that had \
                 already been acknowledged (a stale read)"
            }
            DemoMode::LostUpdates => {
                "two compare-and-sets from the same value both succeeded, so one update was \
                 silently overwritten (a lost update)"
            }
            DemoMode::Crashes => {
                "a replica's process exited on its own while it served requests (a crash)"
            }
            DemoMode::Linearizable => {
                "the linearizable mode broke its promise; that is a bug in faultline-demo"
            }
        }
    }
}

pub fn execute(args: DemoArgs) -> anyhow::Result<Code> {
    let binary = locate_demo_binary()?;
    let backend = choose_backend(args.backend.as_deref());
    let nemesis = match (&args.nemesis, backend.as_str()) {
        (Some(faults), _) => Some(
            faults
                .iter()
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty() && f != "none")
                .collect(),
        ),
        // The spec's partitions need namespaces; pauses take their place.
        (None, "loopback") => Some(vec!["kill".to_string(), "pause".to_string()]),
        (None, _) => None,
    };
    let source = demo_spec_source(&binary, args.mode)?;
    let mut loaded = LoadedSpec::parse(Path::new(DEMO_SPEC_PATH), source)
        .map_err(|e| anyhow::anyhow!("the built-in demo spec is invalid: {e}"))?;
    let overrides = Overrides {
        time_limit_s: Some(args.time_limit),
        seed: args.seed,
        nemesis,
        backend: Some(backend),
        ..Overrides::default()
    };
    if let Err(e) = loaded.apply(&overrides) {
        crate::errln!("faultline: error: {e}");
        return Ok(Code::Error);
    }
    let faults = &loaded.spec.nemesis.faults;
    crate::errln!(
        "faultline demo: {} replicas of {} in {} mode, {} backend, faults: {}, {} s",
        loaded.spec.run.nodes,
        binary.display(),
        args.mode.name(),
        loaded.spec.run.backend,
        if faults.is_empty() {
            "none".to_string()
        } else {
            faults
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(", ")
        },
        loaded.spec.run.time_limit_s
    );
    let opts = RunOptions {
        out: args.out.out,
        store: format!("faultline-demo ({} mode)", args.mode.name()),
        progress: std::io::stderr().is_terminal(),
        ..RunOptions::default()
    };
    let outcome = runner::run(&loaded, &opts)?;
    print_summary(args.mode, &outcome);
    Ok(outcome.code)
}

/// Ends the demo with three lines a newcomer reads: the verdict, the anomaly, the report.
fn print_summary(mode: DemoMode, outcome: &RunOutcome) {
    let verdict = match outcome.verdict {
        Verdict::Valid => "VALID (linearizable: no anomaly found)",
        Verdict::Invalid if crashed(&outcome.checks) => "INVALID (a store process crashed)",
        Verdict::Invalid => "INVALID (a consistency violation was found)",
        Verdict::Unknown => "UNKNOWN (the checker could not decide)",
    };
    crate::outln!();
    crate::outln!(
        "faultline demo, {} mode: {verdict}, {} operations, seed {}, exit code {}",
        mode.name(),
        outcome.ops,
        outcome.seed,
        outcome.code as u8
    );
    crate::outln!(
        "  {}",
        anomaly_sentence(mode, outcome.verdict, &outcome.checks)
    );
    let report = outcome.run_dir.join("report.html");
    let report = std::fs::canonicalize(&report).unwrap_or(report);
    crate::outln!("  report: {}", report.display());
    if mode == DemoMode::StaleReads && outcome.verdict == Verdict::Invalid {
        crate::outln!("  next: `faultline demo --mode linearizable` runs the same test against the correct mode");
    }
}

/// Whether the only finding is the store's health (a crash, a node that never recovered).
fn crashed(checks: &[CheckResult]) -> bool {
    checks
        .iter()
        .filter(|c| c.verdict == Verdict::Invalid)
        .all(|c| c.checker == "store-health")
}

/// One sentence: what went wrong, with the checker's first witness.
fn anomaly_sentence(mode: DemoMode, verdict: Verdict, checks: &[CheckResult]) -> String {
    let first = |v: Verdict| checks.iter().find(|c| c.verdict == v);
    match verdict {
        Verdict::Invalid => {
            let witness = first(Verdict::Invalid).map(witness);
            let mut s = capitalised(mode.explanation());
            if let Some(w) = witness.filter(|w| !w.is_empty()) {
                s = format!("{s}: {w}");
            }
            format!("{s}.")
        }
        Verdict::Valid => {
            "No anomaly: every operation fits one order consistent with real time.".to_string()
        }
        Verdict::Unknown => match first(Verdict::Unknown) {
            Some(c) => format!(
                "Undecided: {}: {}.",
                c.checker,
                c.summary.trim_end_matches('.')
            ),
            None => "Undecided.".to_string(),
        },
    }
}

/// The first witness of an invalid result: the linearizability failure's headline (`key k0:
/// read ... could only be 4`), or the summary of any other checker.
fn witness(c: &CheckResult) -> String {
    let text = match Failure::from_json(&c.details) {
        Some(f) => f.headline,
        None => match c.anomalies.first() {
            // A crash's explanation ends with its log; its first line says what happened.
            Some(a) if c.checker == "store-health" => {
                a.explanation.lines().next().unwrap_or_default().to_string()
            }
            _ => c.summary.clone(),
        },
    };
    let text = text.trim().trim_end_matches('.');
    let faults = c
        .anomalies
        .first()
        .and_then(|a| a.ops.first())
        .map(|op| op.faults.join(" and "))
        .filter(|f| !f.is_empty());
    match faults {
        Some(f) => format!("{text}, during {f}"),
        None => text.to_string(),
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `local` when this machine can run it (root, ip, iptables), else `loopback`, saying why.
fn choose_backend(requested: Option<&str>) -> String {
    if let Some(b) = requested {
        return b.to_string();
    }
    match preflight::check(BackendKind::Local) {
        Ok(()) => "local".to_string(),
        Err(e) => {
            crate::errln!(
                "faultline demo: {e}\n  so the nodes run as plain local processes on loopback \
                 addresses, with the faults that need no root (kill, pause)"
            );
            "loopback".to_string()
        }
    }
}

/// The shipped spec with the store's program and mode filled in. Text is replaced rather
/// than the parsed spec changed, so the run's `spec.toml` is exactly what ran.
fn demo_spec_source(binary: &Path, mode: DemoMode) -> anyhow::Result<String> {
    let program = binary
        .to_str()
        .with_context(|| format!("the path {} is not UTF-8", binary.display()))?;
    let quoted = serde_json::to_string(program)?; // a JSON string is a TOML basic string
    let replace = |text: &str, from: &str, to: &str| -> anyhow::Result<String> {
        if !text.contains(from) {
            bail!("{DEMO_SPEC_PATH} no longer contains {from}; `faultline demo` needs it");
        }
        Ok(text.replacen(from, to, 1))
    };
    let text = replace(
        DEMO_SPEC,
        "name = \"demo\"",
        &format!("name = \"demo-{}\"", mode.name()),
    )?;
    let text = replace(&text, "\"faultline-demo\",\n", &format!("{quoted},\n"))?;
    replace(
        &text,
        "\"--mode\", \"stale-reads\"",
        &format!("\"--mode\", \"{}\"", mode.name()),
    )
}

/// Finds the demo store's binary (see the module docs for the order).
pub fn locate_demo_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os(DEMO_BIN_ENV) {
        let path = PathBuf::from(path);
        if is_executable(&path) {
            return Ok(path);
        }
        bail!(
            "{DEMO_BIN_ENV} is set to {}, which is not an executable file",
            path.display()
        );
    }
    let exe = std::env::current_exe().context("cannot tell where faultline itself is")?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    let beside = dir.join(DEMO_BINARY);
    if is_executable(&beside) {
        return Ok(beside);
    }
    if let Some(built) = build_in_source_tree(dir)? {
        return Ok(built);
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(DEMO_BINARY))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .find(|p| is_executable(p));
    if let Some(path) = on_path {
        return Ok(path);
    }
    bail!(
        "cannot find the demo store's binary `{DEMO_BINARY}`: it is not beside {} and not on \
         the PATH\n  hint: in the source tree, `cargo build --release --workspace` builds it \
         beside faultline; with `cargo install --path .`, also run `cargo install --path demo`; \
         or point {DEMO_BIN_ENV} at it",
        exe.display()
    )
}

/// When faultline runs from a cargo target directory (`cargo run`, or target/<profile>/
/// directly) of the source tree it was built from, builds the demo store there, with the
/// same profile. `None` when faultline does not run from such a place.
fn build_in_source_tree(profile_dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"));
    let is_target_dir = profile_dir.join(".fingerprint").is_dir();
    if !is_target_dir || !workspace.join("demo").join("Cargo.toml").is_file() {
        return Ok(None);
    }
    let (Some(profile), Some(target_dir)) = (profile_dir.file_name(), profile_dir.parent()) else {
        return Ok(None);
    };
    let profile = if profile == "debug" {
        OsString::from("dev")
    } else {
        profile.to_os_string()
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    crate::errln!(
        "faultline demo: building {DEMO_BINARY} (once): cargo build -p faultline-demo --profile {}",
        profile.to_string_lossy()
    );
    let status = Command::new(&cargo)
        .args(["build", "--quiet", "-p", "faultline-demo", "--profile"])
        .arg(&profile)
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(workspace)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => bail!(
            "building {DEMO_BINARY} failed ({s}); run `cargo build --workspace` in {} to see why",
            workspace.display()
        ),
        // No cargo here: let the PATH search and its hint take over.
        Err(_) => return Ok(None),
    }
    let built = profile_dir.join(DEMO_BINARY);
    Ok(is_executable(&built).then_some(built))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_spec_runs_the_chosen_binary_in_the_chosen_mode() {
        let source = demo_spec_source(
            Path::new("/opt/fl bin/faultline-demo"),
            DemoMode::Linearizable,
        )
        .unwrap();
        let loaded = LoadedSpec::parse(Path::new(DEMO_SPEC_PATH), source).expect("valid spec");
        let start = &loaded.spec.db.start;
        assert_eq!(start[0], "/opt/fl bin/faultline-demo");
        let mode = start.iter().position(|a| a == "--mode").expect("--mode");
        assert_eq!(start[mode + 1], "linearizable");
        assert_eq!(loaded.spec.name, "demo-linearizable");
    }

    #[test]
    fn the_anomaly_sentence_keeps_the_first_witness_only() {
        use faultline_checkers::registry::{build, CheckerOptions};
        use faultline_checkers::{Budget, Event, History, Process};
        let ev = |p: u64, kind: &str, f: &str, value: serde_json::Value| Event {
            index: 0,
            time: None,
            process: Process::Client(p),
            kind: serde_json::from_value(serde_json::json!(kind)).unwrap(),
            f: f.into(),
            key: Some("k0".into()),
            value,
            node: None,
            error: None,
            response: None,
        };
        let stale = History::from_events([
            ev(0, "invoke", "write", 4.into()),
            ev(0, "ok", "write", 4.into()),
            ev(1, "invoke", "read", serde_json::Value::Null),
            ev(1, "ok", "read", 1.into()),
        ])
        .unwrap();
        let checker = build("register", &CheckerOptions::default()).unwrap();
        let result = checker.check(&stale, &Budget::default());
        let w = witness(&result);
        assert!(w.starts_with("key k0: read by process 1 returned 1"), "{w}");
        assert!(w.ends_with("could only be 4"), "{w}");
        // The same clause the summary carries, without the concurrent ops.
        assert!(
            result.summary.contains(&format!("): {w}; concurrent")),
            "{}",
            result.summary
        );
        let sentence = anomaly_sentence(DemoMode::StaleReads, Verdict::Invalid, &[result]);
        assert!(sentence.ends_with(&format!(": {w}.")), "{sentence}");
    }
}
