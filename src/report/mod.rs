//! Reports: what a person reads and what a CI system gates on, written into a run directory.
//!
//! A checker's verdict is only useful when a person can see why. After a run (or
//! `faultline check --report DIR`), [`write_outputs`] writes beside `history.jsonl`:
//!
//! | file | for |
//! |---|---|
//! | `results.json` | machines: verdicts, anomalies, statistics, availability ([`Results`]) |
//! | `junit.xml` | CI systems: one test case per checker, failures carry the explanation |
//! | `report.html` | people: one self-contained page (inline CSS and SVG, no network) |
//! | `latency.svg`, `throughput.svg`, `availability.svg` (and `.png` of each) | the plots, also inline in the page |
//!
//! `report.html` shows the verdict, each checker's anomalies in plain words, the test (spec,
//! store, nodes, seed, command line, duration, op counts), latency and throughput over time
//! with the nemesis's fault windows shaded, a diagram of a linearizability failure (each
//! process a lane, each op a bar naming the node that served it, the op that could not be
//! placed marked, the states the model could be in) or of a transactional cycle (a graph of
//! its edges), each with the logs of the nodes that served the failing ops around their time
//! ([`logs`]), and a timeline of every op per process that shows a window of the history at a
//! time, so it stays usable for millions of ops. Above [`DENSITY_THRESHOLD`] points the plots
//! switch to density bins. The store's health ([`health`]): every crash of a store process
//! listed (node, time, status, until its restart, its log's end) and drawn on every plot and
//! on the timeline; the stretches without an `ok` while no fault or crash was in force
//! listed under availability (also in `results.json`'s `availability.gaps`).
//!
//! `faultline report RUN_DIR` calls [`rerender`]: it reads `history.jsonl` and `results.json`
//! back and writes the other files again, re-checking nothing (a report must show the verdict
//! that was reached, and the checker and model are recorded only as results). Without
//! `results.json` it fails and says to run `faultline check HISTORY --report DIR`.
//!
//! Values come from the store under test and are untrusted: every page is rendered from a
//! template that escapes by default ([`templates`]; only plotters' SVG passes as markup), and
//! `junit.xml` goes through [`escape::xml`]. [`runs`] summarises a reports root for
//! `faultline serve`.
//!
//! Cost: linear in the history plus sorting latencies; the page embeds about 10 bytes per op
//! for the timeline (see [`timeline`]): a 1,000,000-op report is about 10 MB and renders in
//! about 1.5 s (`cargo bench --bench report`).

mod cycles;
pub mod diagrams;
pub mod escape;
pub mod health;
mod html;
pub mod junit;
pub mod logs;
#[cfg(test)]
mod page_tests;
pub mod placing;
mod plots;
pub mod runs;
pub mod stats;
pub mod sweep;
pub mod templates;
pub mod timeline;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use faultline_checkers::format::{self, Format, ReadOptions};
use faultline_checkers::{CheckResult, History, Verdict};
use serde::{Deserialize, Serialize};

use crate::exit::Code;
pub use stats::{Availability, FaultWindow, Stats};

/// Above this many points a plot draws density bins instead of one mark per op.
pub const DENSITY_THRESHOLD: usize = 50_000;

/// The version of the `results.json` layout. Readers accept files with the same major version;
/// fields are only ever added within one version.
pub const RESULTS_FORMAT_VERSION: u32 = 1;

/// What was tested and how: the header of a report and the `test` section of `results.json`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct RunMeta {
    /// The spec's name (`etcd-v3`), or the history file's name for `faultline check`.
    pub spec_name: String,
    /// The store under test (`etcd 3.5`, `demo (weak mode)`), free text.
    #[serde(default)]
    pub store: String,
    #[serde(default)]
    pub nodes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The command line, one argument per element, as typed.
    #[serde(default)]
    pub command_line: Vec<String>,
    /// Wall clock at the start and end of the run (UTC, RFC 3339 in JSON).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "rfc3339")]
    pub started: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "rfc3339")]
    pub finished: Option<DateTime<Utc>>,
    /// How long the run took, in milliseconds in JSON.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "duration_ms",
        with = "millis"
    )]
    pub duration: Option<Duration>,
    #[serde(default)]
    pub versions: Versions,
    /// The spec as run (TOML text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_text: Option<String>,
    /// The run directory, as given when the run was made.
    #[serde(default)]
    pub run_dir: PathBuf,
    /// Anything else worth a line in the report's test table (`model`, `consistency model`,
    /// `history source`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
    /// Files of the run that could not be written in full (a full disk), each naming its
    /// file. Any makes the exit code at least "could not be carried out" (3), below invalid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// Versions of what took part in the run.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Versions {
    pub faultline: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
}

impl Versions {
    /// faultline's own version and the running kernel's release; the store's is left empty.
    pub fn current() -> Versions {
        Versions {
            faultline: env!("CARGO_PKG_VERSION").to_string(),
            store: None,
            kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
                .ok()
                .map(|s| s.trim().to_string()),
        }
    }
}

/// `results.json`: everything a machine needs to know about a run's outcome.
///
/// ```json
/// {
///   "format": "faultline-results", "format_version": 1,
///   "verdict": "invalid", "exit_code": 1,
///   "test": {"spec_name": "etcd-v3", "store": "etcd", "nodes": ["n1","n2","n3"], "seed": 7,
///            "command_line": ["faultline","run","workloads/etcd-v3.toml"],
///            "started": "2026-01-01T10:00:00.000Z", "duration_ms": 61000,
///            "versions": {"faultline": "0.1.0", "kernel": "6.1.0"}, "run_dir": "reports/…"},
///   "checkers": [{"checker": "linearizable", "verdict": "invalid", "summary": "…",
///                 "anomalies": [{"kind": "nonlinearizable", "explanation": "…"}],
///                 "details": {"key": "k3", "failing_op": 812, …}}],
///   "stats": {"ops": {"total": 2000, "ok": 1900, "fail": 60, "info": 40},
///             "by_f": {"read": {"total": 1000, "ok": 990, …, "latency": {"p50_ms": 1.2, …}}},
///             "nemesis": {"start-partition": 3}, "processes": 12, "keys": 4,
///             "span_s": 60.1, "ok_per_s": 31.6, "latency": {…}},
///   "availability": {"overall": {…}, "overall_ok_share": 0.95, "outside_faults": {…},
///                    "windows": [{"window": {"kind": "partition", "label": "partition n1,n2 | n3,n4,n5", …},
///                                 "ops": {…}, "ok_share": 0.7,
///                                 "sides": [{"nodes": ["n1","n2"], "ops": {…}, "ok_share": 0.1}]}],
///                    "gaps": [{"start_s": 12.1, "end_s": 14.0, "length_s": 1.9, "ops": 180}],
///                    "gap_threshold_s": 1.0},
///   "history": {"file": "history.jsonl", "events": 4003, "ops": 2000, "warnings": []}
/// }
/// ```
///
/// `checkers` holds each [`CheckResult`] as the checker returned it; `verdict` is their
/// composition (invalid beats unknown beats valid) and `exit_code` the matching exit code.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Results {
    /// Always `faultline-results`.
    pub format: String,
    pub format_version: u32,
    pub verdict: Verdict,
    pub exit_code: u8,
    pub test: RunMeta,
    pub checkers: Vec<CheckResult>,
    pub stats: Stats,
    pub availability: Availability,
    pub history: HistoryInfo,
}

/// Where the history of a run is and how big it is.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct HistoryInfo {
    /// Relative to the run directory.
    pub file: String,
    pub events: usize,
    pub ops: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The files [`write_outputs`] wrote, and the overall verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct Outputs {
    pub verdict: Verdict,
    pub code: Code,
    pub results_json: PathBuf,
    pub junit_xml: PathBuf,
    pub report_html: PathBuf,
    /// SVG and PNG plots beside the report.
    pub plots: Vec<PathBuf>,
    pub history: PathBuf,
}

pub const HISTORY_FILE: &str = "history.jsonl";
pub const RESULTS_FILE: &str = "results.json";
pub const JUNIT_FILE: &str = "junit.xml";
pub const REPORT_FILE: &str = "report.html";

/// The composition of the checkers' verdicts; no checker at all is `unknown`, never a pass.
pub fn overall_verdict(results: &[CheckResult]) -> Verdict {
    results
        .iter()
        .map(|r| r.verdict)
        .reduce(Verdict::and)
        .unwrap_or(Verdict::Unknown)
}

/// The exit code of a run with this verdict whose files met these errors.
pub fn exit_code(verdict: Verdict, errors: &[String]) -> Code {
    if errors.is_empty() {
        Code::from(verdict)
    } else {
        Code::from(verdict).worst(Code::Error)
    }
}

/// Builds the `results.json` content of a run.
pub fn results(meta: &RunMeta, history: &History, checkers: &[CheckResult]) -> Results {
    let verdict = overall_verdict(checkers);
    let windows = stats::fault_windows(history, &meta.nodes);
    let mut availability = stats::availability(history, &windows, &meta.nodes);
    let mut in_force = windows;
    in_force.extend(health::crash_windows(history, &health::crashes(history)));
    if let Some((gaps, threshold_s)) = health::gaps(history, &in_force) {
        availability.gaps = gaps;
        availability.gap_threshold_s = Some(threshold_s);
    }
    Results {
        format: "faultline-results".to_string(),
        format_version: RESULTS_FORMAT_VERSION,
        verdict,
        exit_code: exit_code(verdict, &meta.errors) as u8,
        test: meta.clone(),
        checkers: checkers.to_vec(),
        stats: stats::stats(history),
        availability,
        history: HistoryInfo {
            file: HISTORY_FILE.to_string(),
            events: history.event_count,
            ops: history.ops.len(),
            warnings: history.warnings.clone(),
        },
    }
}

/// Writes `results.json`, `junit.xml`, `report.html` and the plots into `run_dir` (created if
/// missing). Writes `history.jsonl` too when the directory has none, so every report can be
/// re-rendered; an existing history (streamed by the recorder) is left as it is.
pub fn write_outputs(
    run_dir: &Path,
    meta: &RunMeta,
    history: &History,
    checkers: &[CheckResult],
) -> anyhow::Result<Outputs> {
    fs::create_dir_all(run_dir)
        .with_context(|| format!("cannot create the run directory {}", run_dir.display()))?;
    let history_path = run_dir.join(HISTORY_FILE);
    if !history_path.exists() {
        write_history(&history_path, history)?;
    }
    let mut results = results(meta, history, checkers);
    // results.json goes last, so that its exit code also counts a report that failed.
    let rendered = render(run_dir, &results, history);
    if let Err(e) = &rendered {
        results.test.errors.push(format!("{e:#}"));
        results.exit_code = exit_code(results.verdict, &results.test.errors) as u8;
    }
    let results_path = run_dir.join(RESULTS_FILE);
    let json = serde_json::to_vec_pretty(&results)?;
    fs::write(&results_path, json)
        .with_context(|| format!("cannot write {}", results_path.display()))?;
    rendered
}

/// Writes `junit.xml`, the plots and `report.html` from results already computed.
fn render(run_dir: &Path, results: &Results, history: &History) -> anyhow::Result<Outputs> {
    let junit_path = run_dir.join(JUNIT_FILE);
    fs::write(&junit_path, junit::junit_xml(results))
        .with_context(|| format!("cannot write {}", junit_path.display()))?;
    let mut windows: Vec<FaultWindow> = results
        .availability
        .windows
        .iter()
        .map(|w| w.window.clone())
        .collect();
    windows.extend(health::crash_windows(history, &health::crashes(history)));
    // Gaps are judged without the phases (a phase is not a fault), the plots draw them.
    let mut drawn = windows.clone();
    drawn.extend(stats::phase_windows(history));
    let plots = draw_plots(run_dir, history, &drawn);
    let report_path = run_dir.join(REPORT_FILE);
    // Computed again rather than read from `results.json`, so that re-rendering a run
    // recorded before the stretches were kept shows them too.
    let gaps = health::gaps(history, &windows);
    let page = html::page(results, history, &plots, gaps, &logs::Logs::of(run_dir));
    fs::write(&report_path, page)
        .with_context(|| format!("cannot write {}", report_path.display()))?;
    Ok(Outputs {
        verdict: results.verdict,
        code: exit_code(results.verdict, &results.test.errors),
        results_json: run_dir.join(RESULTS_FILE),
        junit_xml: junit_path,
        report_html: report_path,
        plots: plots.files,
        history: run_dir.join(HISTORY_FILE),
    })
}

/// The plots, or a page note saying why there are none: a plot that cannot be drawn (an odd
/// history, a full disk) must not cost the run its verdict and report.
fn draw_plots(run_dir: &Path, history: &History, windows: &[FaultWindow]) -> plots::Plots {
    let drawn = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        plots::draw(run_dir, history, windows)
    }));
    let why = match drawn {
        Ok(Ok(plots)) => return plots,
        Ok(Err(e)) => format!("{e:#}"),
        Err(_) => "the plotting library panicked (see the message on stderr)".to_string(),
    };
    tracing::warn!("plots left out of the report: {why}");
    plots::Plots {
        missing: Some(format!("The plots could not be drawn: {why}.")),
        ..plots::Plots::default()
    }
}

/// `faultline report RUN_DIR`: re-renders `junit.xml`, the plots and `report.html` from the
/// stored `history.jsonl` and `results.json`. Re-checks nothing.
pub fn rerender(run_dir: &Path) -> anyhow::Result<Outputs> {
    let results_path = run_dir.join(RESULTS_FILE);
    if !run_dir.is_dir() {
        bail!("{} is not a run directory", run_dir.display());
    }
    if !results_path.exists() {
        bail!(
            "{} has no {RESULTS_FILE}, so there is no verdict to report; check its history with \
             `faultline check {} --model MODEL --report {}`",
            run_dir.display(),
            run_dir.join(HISTORY_FILE).display(),
            run_dir.display()
        );
    }
    let results = read_results(&results_path)?;
    let history = read_history(&run_dir.join(&results.history.file))?;
    render(run_dir, &results, &history)
}

/// Reads `results.json`, refusing layouts of another format version.
pub fn read_results(path: &Path) -> anyhow::Result<Results> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let probe: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let version = probe.get("format_version").and_then(|v| v.as_u64());
    if version != Some(u64::from(RESULTS_FORMAT_VERSION)) {
        bail!(
            "{}: results format version {} is not {RESULTS_FORMAT_VERSION}, the one this faultline reads",
            path.display(),
            version.map_or("(missing)".to_string(), |v| v.to_string())
        );
    }
    serde_json::from_value(probe)
        .with_context(|| format!("{} does not hold faultline results", path.display()))
}

/// Reads a `history.jsonl` with the checkers' reader: a torn last line is a warning, damage
/// before it an error naming the file and line.
pub fn read_history(path: &Path) -> anyhow::Result<History> {
    let options = ReadOptions {
        format: Some(Format::Jsonl),
        independent: None,
    };
    format::read_path(path, &options).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Writes a history as JSON Lines.
pub fn write_history(path: &Path, history: &History) -> anyhow::Result<()> {
    let file =
        fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    faultline_checkers::format::jsonl::write_history(history, file)
        .with_context(|| format!("cannot write {}", path.display()))
}

mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => DateTime::parse_from_rfc3339(&text)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(serde::de::Error::custom),
        }
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_u64(d.as_millis() as u64),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_of_another_format_version_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RESULTS_FILE);
        fs::write(
            &path,
            r#"{"format":"faultline-results","format_version":99}"#,
        )
        .unwrap();
        let err = read_results(&path).unwrap_err().to_string();
        assert!(err.contains("version 99"), "{err}");
    }

    #[test]
    fn results_round_trip_through_json() {
        let meta = RunMeta {
            spec_name: "etcd".into(),
            started: Some(Utc::now()),
            duration: Some(Duration::from_millis(1500)),
            ..RunMeta::default()
        };
        let r = results(&meta, &History::default(), &[]);
        let back: Results = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back.test.duration, Some(Duration::from_millis(1500)));
        assert_eq!(
            back.test.started.map(|t| t.timestamp_millis()),
            meta.started.map(|t| t.timestamp_millis())
        );
        assert_eq!(back.verdict, Verdict::Unknown);
        assert_eq!(back.exit_code, 2);
    }

    #[test]
    fn a_torn_last_line_is_a_warning_and_damage_before_it_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HISTORY_FILE);
        let good = r#"{"process":0,"type":"invoke","f":"read","value":null}"#;
        fs::write(&path, format!("{good}\n{{\"process\":0,\"ty")).unwrap();
        let h = read_history(&path).unwrap();
        assert_eq!(h.ops.len(), 1);
        assert!(h.warnings[0].contains("torn last line"));
        fs::write(&path, format!("{{oops\n{good}\n")).unwrap();
        let err = read_history(&path).unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }
}
