//! The runs under a reports root, summarised for `faultline serve`'s list and compare pages.
//!
//! A run directory is `ROOT/<spec name>/<timestamp>/` (see `rundir.rs`). What a run shows
//! depends on what its directory holds so far:
//!
//! | holds | shown as |
//! |---|---|
//! | `results.json` that reads back | finished: verdict, anomalies, counts from the results |
//! | no `results.json` | in progress: ops and faults counted from `history.jsonl` so far |
//! | `results.json` that does not read back | corrupt, with the reason, and the history's counts |
//!
//! Listing must stay fast with many runs and long histories, so a summary is cached per run
//! directory and rebuilt only when the file it came from changed (length or mtime). An
//! unfinished history is read incrementally: the cache keeps the offset of the last whole
//! line and the counts up to it, and a later listing reads only what was appended since.
//! Symlinks inside the root (`latest`) are not listed: they only repeat a run.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use faultline_checkers::Verdict;
use serde::{Deserialize, Serialize};

use super::stats::Counts;
use super::{read_results, Results, HISTORY_FILE, REPORT_FILE, RESULTS_FILE};

/// Where a run stands, from what its directory holds.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RunState {
    Finished,
    InProgress,
    Corrupt,
}

/// One line of the runs list.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct RunSummary {
    /// `<spec>/<timestamp>`, the run's path under the root (also its id in URLs).
    pub id: String,
    pub spec: String,
    pub stamp: String,
    pub state: RunState,
    /// Set for finished runs.
    pub verdict: Option<Verdict>,
    /// The anomaly kinds found, each once, in the order the checkers listed them.
    pub anomalies: Vec<String>,
    pub store: String,
    pub seed: Option<u64>,
    pub duration_s: Option<f64>,
    pub ops: Counts,
    /// Nemesis events (fault starts and stops) recorded.
    pub faults: usize,
    pub has_report: bool,
    /// Why the run is shown as corrupt, or what is odd about it (a torn history line).
    pub problem: Option<String>,
}

impl RunSummary {
    /// The word the list's verdict filter matches: the verdict, `in-progress` or `corrupt`.
    pub fn status(&self) -> &'static str {
        match (self.state, self.verdict) {
            (RunState::Finished, Some(v)) => v.as_str(),
            (RunState::InProgress, _) => "in-progress",
            _ => "corrupt",
        }
    }
}

/// What a cached summary was built from, to tell when it is stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

fn stamp_of(path: &Path) -> Option<Stamp> {
    let meta = fs::metadata(path).ok()?;
    Some(Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
    })
}

/// Counts from a history read so far: complete lines up to `offset`.
#[derive(Clone, Debug, Default)]
struct Tally {
    offset: u64,
    ops: Counts,
    faults: usize,
    bad_lines: usize,
}

/// The fields of a history line the list needs; the rest is skipped unparsed.
#[derive(Deserialize)]
struct Line {
    process: serde_json::Value,
    #[serde(rename = "type")]
    kind: String,
}

impl Tally {
    /// Reads the history from `self.offset` to its last complete line. A history that
    /// shrank (rewritten) is read again from the start.
    fn advance(&mut self, path: &Path) -> std::io::Result<()> {
        let mut file = fs::File::open(path)?;
        let len = file.metadata()?.len();
        if len < self.offset {
            *self = Tally::default();
        }
        // A bound per listing, so that a huge history cannot stall the page: the rest is
        // read by the next listing.
        const MAX_READ_BYTES: u64 = 64 << 20;
        file.seek(SeekFrom::Start(self.offset))?;
        let mut buf = Vec::new();
        file.take(MAX_READ_BYTES).read_to_end(&mut buf)?;
        let Some(last_newline) = buf.iter().rposition(|&b| b == b'\n') else {
            return Ok(());
        };
        for line in buf[..last_newline].split(|&b| b == b'\n') {
            self.count(line);
        }
        self.offset += last_newline as u64 + 1;
        Ok(())
    }

    fn count(&mut self, line: &[u8]) {
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let Ok(line) = serde_json::from_slice::<Line>(line) else {
            self.bad_lines += 1;
            return;
        };
        if line.process.is_string() {
            self.faults += 1;
            return;
        }
        match line.kind.as_str() {
            "invoke" => self.ops.total += 1,
            "ok" => self.ops.ok += 1,
            "fail" => self.ops.fail += 1,
            "info" => self.ops.info += 1,
            _ => self.bad_lines += 1,
        }
    }
}

#[derive(Clone, Debug)]
struct Cached {
    results: Option<Stamp>,
    history: Tally,
    summary: RunSummary,
}

/// The runs under one root, with summaries cached between listings.
pub struct RunIndex {
    root: PathBuf,
    cache: Mutex<HashMap<String, Cached>>,
}

impl RunIndex {
    pub fn new(root: PathBuf) -> RunIndex {
        RunIndex {
            root,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every run, newest first (by timestamp, then spec). A directory that cannot be read
    /// is skipped; a run that cannot be summarised is listed as corrupt.
    pub fn list(&self) -> Vec<RunSummary> {
        let mut runs: Vec<RunSummary> = run_dirs(&self.root)
            .into_iter()
            .map(|(spec, stamp)| self.summary(&spec, &stamp))
            .collect();
        runs.sort_by(|a, b| b.stamp.cmp(&a.stamp).then_with(|| a.spec.cmp(&b.spec)));
        runs
    }

    /// The summary of one run, from the cache when its files did not change.
    pub fn summary(&self, spec: &str, stamp: &str) -> RunSummary {
        let id = format!("{spec}/{stamp}");
        let dir = self.root.join(spec).join(stamp);
        let results_stamp = stamp_of(&dir.join(RESULTS_FILE));
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let mut entry = cache.remove(&id).unwrap_or_else(|| Cached {
            results: None,
            history: Tally::default(),
            summary: blank(&id, spec, stamp),
        });
        let finished_and_fresh = results_stamp.is_some()
            && entry.results == results_stamp
            && entry.summary.state == RunState::Finished;
        if !finished_and_fresh {
            entry.summary = summarise(&dir, &id, spec, stamp, results_stamp, &mut entry.history);
            entry.results = results_stamp;
        }
        entry.summary.has_report = dir.join(REPORT_FILE).is_file();
        let summary = entry.summary.clone();
        cache.insert(id, entry);
        summary
    }

    /// The full results of a run, or why they cannot be read.
    pub fn results(&self, spec: &str, stamp: &str) -> anyhow::Result<Results> {
        read_results(&self.root.join(spec).join(stamp).join(RESULTS_FILE))
    }
}

fn blank(id: &str, spec: &str, stamp: &str) -> RunSummary {
    RunSummary {
        id: id.to_string(),
        spec: spec.to_string(),
        stamp: stamp.to_string(),
        state: RunState::InProgress,
        verdict: None,
        anomalies: Vec::new(),
        store: String::new(),
        seed: None,
        duration_s: None,
        ops: Counts::default(),
        faults: 0,
        has_report: false,
        problem: None,
    }
}

/// `(spec, timestamp)` of every run directory: real directories two levels down. Names that
/// are not UTF-8, hidden entries, symlinks and sweep directories (`faultline sweep`'s, which
/// hold their runs below them) are left out.
pub fn run_dirs(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for spec in plain_dirs(root) {
        for stamp in plain_dirs(&root.join(&spec)) {
            if !root
                .join(&spec)
                .join(&stamp)
                .join(super::sweep::JSON_FILE)
                .exists()
            {
                out.push((spec.clone(), stamp));
            }
        }
    }
    out
}

fn plain_dirs(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| !name.starts_with('.'))
        .collect()
}

fn summarise(
    dir: &Path,
    id: &str,
    spec: &str,
    stamp: &str,
    results_stamp: Option<Stamp>,
    tally: &mut Tally,
) -> RunSummary {
    let mut s = blank(id, spec, stamp);
    s.seed = fs::read_to_string(dir.join("seed"))
        .ok()
        .and_then(|t| t.trim().parse().ok());
    if results_stamp.is_some() {
        match read_results(&dir.join(RESULTS_FILE)) {
            Ok(r) => return finished(s, &r),
            Err(e) => {
                s.state = RunState::Corrupt;
                s.problem = Some(format!("{RESULTS_FILE} cannot be read: {e:#}"));
            }
        }
    }
    let history = dir.join(HISTORY_FILE);
    if history.exists() {
        if let Err(e) = tally.advance(&history) {
            s.problem
                .get_or_insert_with(|| format!("{HISTORY_FILE} cannot be read: {e}"));
        }
    }
    s.ops = tally.ops.clone();
    s.faults = tally.faults;
    if tally.bad_lines > 0 && s.problem.is_none() {
        s.problem = Some(format!(
            "{} line(s) of {HISTORY_FILE} are not history events",
            tally.bad_lines
        ));
    }
    s
}

fn finished(mut s: RunSummary, r: &Results) -> RunSummary {
    s.state = RunState::Finished;
    s.verdict = Some(r.verdict);
    let mut kinds: Vec<String> = Vec::new();
    for a in r.checkers.iter().flat_map(|c| &c.anomalies) {
        if !kinds.contains(&a.kind) {
            kinds.push(a.kind.clone());
        }
    }
    s.anomalies = kinds;
    s.store = r.test.store.clone();
    s.seed = r.test.seed.or(s.seed);
    s.duration_s = r.test.duration.map(|d| d.as_secs_f64());
    s.ops = r.stats.ops.clone();
    s.faults = r.stats.nemesis.values().sum();
    s.problem = r.test.errors.first().cloned();
    s
}

/// The runs of each spec, newest first: what the compare page offers to pick from.
pub fn by_spec(runs: &[RunSummary]) -> BTreeMap<&str, Vec<&RunSummary>> {
    let mut out: BTreeMap<&str, Vec<&RunSummary>> = BTreeMap::new();
    for r in runs {
        out.entry(r.spec.as_str()).or_default().push(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    const INVOKE: &str = r#"{"process":0,"type":"invoke","f":"read","value":null}"#;
    const OK: &str = r#"{"process":0,"type":"ok","f":"read","value":1}"#;
    const FAULT: &str = r#"{"process":"nemesis","type":"info","f":"kill","value":null}"#;

    #[test]
    fn a_run_without_results_is_in_progress_and_counts_what_was_recorded() {
        let root = tempfile::tempdir().unwrap();
        let history = root
            .path()
            .join("s/20260101T000000.000Z")
            .join(HISTORY_FILE);
        write(&history, &format!("{INVOKE}\n{FAULT}\n{OK}\n{INVOKE}"));
        let index = RunIndex::new(root.path().to_path_buf());
        let runs = index.list();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].state, RunState::InProgress);
        // The last line has no newline yet: the recorder may be writing it.
        assert_eq!(
            (runs[0].ops.total, runs[0].ops.ok, runs[0].faults),
            (1, 1, 1)
        );
        fs::write(
            &history,
            format!("{INVOKE}\n{FAULT}\n{OK}\n{INVOKE}\n{OK}\n"),
        )
        .unwrap();
        let runs = index.list();
        assert_eq!((runs[0].ops.total, runs[0].ops.ok), (2, 2));
    }

    #[test]
    fn unreadable_results_show_the_run_as_corrupt_with_the_reason() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("s/20260101T000000.000Z");
        write(&dir.join(RESULTS_FILE), "{\"format\": \"faultline-res");
        write(&dir.join(HISTORY_FILE), &format!("{INVOKE}\n{OK}\n"));
        let runs = RunIndex::new(root.path().to_path_buf()).list();
        assert_eq!(runs[0].status(), "corrupt");
        assert!(runs[0].problem.as_deref().unwrap().contains("results.json"));
        assert_eq!(runs[0].ops.ok, 1);
    }

    #[test]
    fn runs_are_listed_newest_first_and_links_are_left_out() {
        let root = tempfile::tempdir().unwrap();
        for (spec, stamp) in [("a", "20260101T000000.000Z"), ("b", "20260102T000000.000Z")] {
            fs::create_dir_all(root.path().join(spec).join(stamp)).unwrap();
        }
        std::os::unix::fs::symlink("20260101T000000.000Z", root.path().join("a/latest")).unwrap();
        let runs = RunIndex::new(root.path().to_path_buf()).list();
        let ids: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["b/20260102T000000.000Z", "a/20260101T000000.000Z"]);
    }

    #[test]
    fn a_sweep_directory_is_not_listed_as_a_run() {
        let root = tempfile::tempdir().unwrap();
        write(
            &root
                .path()
                .join("demo-sweep/20260101T000000.000Z")
                .join(super::super::sweep::JSON_FILE),
            "{}",
        );
        fs::create_dir_all(root.path().join("demo/20260101T000000.000Z")).unwrap();
        let runs = RunIndex::new(root.path().to_path_buf()).list();
        let ids: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["demo/20260101T000000.000Z"]);
    }
}
