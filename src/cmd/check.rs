//! `faultline check`: check recorded histories offline, ours or Jepsen's.
//!
//! Each history is read (format from `--format`, else the extension, else the content),
//! checked against one model within its own time budget, and given one verdict line; then a
//! summary line. A history that cannot be read is reported with its file and line, counts as
//! "could not be carried out" (exit 3), and does not stop the others from being checked. The
//! exit code is the most serious over all histories: 1, then 3, then 2, then 0.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::builder::{PossibleValue, PossibleValuesParser};
use clap::Args;
use faultline_checkers::elle::{ConsistencyModel, ListAppend, RwRegister};
use faultline_checkers::format::jsonl::StreamSummary;
use faultline_checkers::format::{self, edn, Format, FormatError, ReadOptions};
use faultline_checkers::history::NemesisEvent;
use faultline_checkers::linear;
use faultline_checkers::model::{ModelKind, ModelOptions};
use faultline_checkers::registry::{self, CheckerOptions};
use faultline_checkers::{verdict, Budget, CheckResult, Checker, History, Verdict};
use serde_json::{json, Value};

use crate::exit::Code;
use crate::report::placing;
use crate::report::stats::FaultLog;

/// The time limit per history when `--time-limit` is not given.
pub const DEFAULT_TIME_LIMIT_SECS: f64 = 60.0;

/// Check histories against a model. Exit code: 0 all valid, 1 some history is invalid,
/// 2 some could not be decided in time, 3 some could not be read (or bad usage); the most
/// serious wins, in the order 1, 3, 2, 0.
#[derive(Args, Debug)]
#[command(after_long_help = models_help())]
pub struct CheckArgs {
    /// History files: faultline's history.jsonl, Jepsen's history.edn, history.txt or a
    /// Jepsen log. A directory stands for the history in it (a run directory, Jepsen's
    /// store/<test>/<time>/). `-` reads standard input.
    #[arg(value_name = "HISTORY", required = true)]
    pub histories: Vec<PathBuf>,

    /// The model or checker (listed below under "Models and checkers").
    #[arg(long, short = 'm', value_name = "M", default_value = "cas-register",
          value_parser = model_names())]
    pub model: String,

    /// The history format; by default taken from the extension (.jsonl/.json, .edn,
    /// .txt/.log), else guessed from the content.
    #[arg(long, value_name = "FORMAT", value_parser = format_names())]
    pub format: Option<String>,

    /// Print machine-readable results (one JSON document) instead of text.
    #[arg(long)]
    pub json: bool,

    /// The initial value, as JSON (or EDN): of every register for the linearizable models
    /// (default null: absent, so a read of null before any write is fine), a list of the
    /// elements present at the start for `set` and `queue` (head first); of the counter
    /// for `counter` (default 0); the total, or a map of initial balances, for `bank`
    /// (default: the total most reads agree on).
    #[arg(long, value_name = "V")]
    pub initial_value: Option<String>,

    /// Knossos's reading of nil: an ok read of null observed nothing and matches any state.
    /// By default a read of null means the key was absent (never written). Checking
    /// Knossos's cas-register data as Knossos does needs this and --initial-value 0.
    #[arg(long)]
    pub nil_read_matches_any: bool,

    /// The isolation level list-append and rw-register check against
    /// (default strict-serializable, which also uses real-time order).
    #[arg(long, value_name = "C", value_parser = consistency_names())]
    pub consistency_model: Option<String>,

    /// Seconds each history may take to read and check; past it the verdict is unknown (exit 2).
    /// 0 means no limit.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_TIME_LIMIT_SECS)]
    pub time_limit: f64,

    /// Read Jepsen `[key value]` values as independent keys, each checked on its own
    /// (by default they are detected: every client invocation holds such a tuple).
    #[arg(long, conflicts_with = "no_independent")]
    pub independent: bool,

    /// Never read Jepsen values as `[key value]` tuples.
    #[arg(long)]
    pub no_independent: bool,

    /// For set-full: a stale read (an element missing, then back) makes the history invalid.
    #[arg(long)]
    pub set_linearizable: bool,

    /// For bank: balances may go below zero.
    #[arg(long)]
    pub allow_negative_balances: bool,

    /// Also write a report into DIR: report.html, results.json, junit.xml, plots and the
    /// history as history.jsonl (`faultline report DIR` re-renders it). With several
    /// histories, each gets DIR/<n>-<file name>/.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,

    /// Also write the history as Jepsen EDN to FILE (one HISTORY only), for Knossos or Elle
    /// to re-check: keyed ops as [k v] tuples, transaction micro-ops as [:append k v].
    #[arg(long, value_name = "FILE")]
    pub export_edn: Option<PathBuf>,
}

fn models_help() -> String {
    let mut text = String::from("Models and checkers (--model):\n");
    for line in registry::help_text().lines() {
        let _ = writeln!(text, "  {line}");
    }
    text.push_str(
        "\n`set` is the linearizable set model; `set-full` is Jepsen's cheaper set checker.\n\
         Defaults: registers start as null (absent), an ok read of null means absent, a fail \
         is a no-op, an info op may take effect at any later time or never, line order is \
         real-time order.",
    );
    text
}

fn model_names() -> PossibleValuesParser {
    PossibleValuesParser::new(
        registry::CHECKERS
            .iter()
            .map(|c| PossibleValue::new(c.name).help(c.description)),
    )
}

fn format_names() -> PossibleValuesParser {
    PossibleValuesParser::new(Format::ALL.iter().map(|f| f.name()))
}

fn consistency_names() -> PossibleValuesParser {
    PossibleValuesParser::new(ConsistencyModel::ALL.iter().map(|m| m.name()))
}

/// A checker that can read a JSON Lines history itself, line by line into its own compact
/// form, never holding the whole [`History`]: a million transactions then take a tenth of
/// the memory and under half the time, a million linearizability ops a fifth of both.
/// Used only when nothing else needs the `History` (no `--report`, no `--export-edn`); the
/// verdicts, counts, warnings and errors are those of the general path (the checkers
/// crate's `elle_stream` and `linear_stream` tests hold it to that), and so are the
/// anomalies' ops with the faults in force (built from the nemesis events as they are read).
enum Streamed {
    ListAppend(ListAppend),
    RwRegister(RwRegister),
    Linearizable(ModelKind, ModelOptions),
}

impl Streamed {
    fn of(model: &str, options: &CheckerOptions) -> Option<Streamed> {
        let level = options
            .consistency
            .unwrap_or(ConsistencyModel::StrictSerializable);
        if let Some(kind) = ModelKind::from_name(model) {
            let options = ModelOptions {
                initial: options.initial.clone(),
                nil_read_matches_any: options.nil_read_matches_any,
            };
            return Some(Streamed::Linearizable(kind, options));
        }
        match model {
            "list-append" => Some(Streamed::ListAppend(ListAppend { model: level })),
            "rw-register" => Some(Streamed::RwRegister(RwRegister { model: level })),
            _ => None,
        }
    }

    fn check(
        &self,
        reader: impl io::BufRead,
        name: &str,
        budget: &Budget,
        on_nemesis: &mut (dyn FnMut(NemesisEvent) + Send),
    ) -> Result<(CheckResult, StreamSummary), FormatError> {
        match self {
            Streamed::ListAppend(c) => c.check_jsonl(reader, name, budget, on_nemesis),
            Streamed::RwRegister(c) => c.check_jsonl(reader, name, budget, on_nemesis),
            Streamed::Linearizable(model, options) => {
                linear::stream::check_jsonl(reader, name, *model, options, budget, on_nemesis)
            }
        }
    }
}

/// The validated configuration of one `check` invocation.
struct Config {
    model: String,
    checker: Box<dyn Checker>,
    /// The streamed reader and checker, when the model has one and no option needs the
    /// whole history.
    streamed: Option<Streamed>,
    read: ReadOptions,
    time_limit: Option<Duration>,
    json: bool,
    report: Option<PathBuf>,
    export_edn: Option<PathBuf>,
}

impl Config {
    fn from_args(args: &CheckArgs) -> anyhow::Result<Config> {
        let initial = match &args.initial_value {
            None => Value::Null,
            Some(text) => parse_value(text)
                .with_context(|| format!("--initial-value {text:?} is neither JSON nor EDN"))?,
        };
        let consistency = args
            .consistency_model
            .as_deref()
            .map(|name| ConsistencyModel::from_name(name).context("unknown consistency model"))
            .transpose()?;
        let options = CheckerOptions {
            initial,
            nil_read_matches_any: args.nil_read_matches_any,
            consistency,
            set_linearizable: args.set_linearizable,
            allow_negative: args.allow_negative_balances,
        };
        let checker = registry::build(&args.model, &options)?;
        if !args.time_limit.is_finite() || args.time_limit < 0.0 {
            bail!("--time-limit must be a number of seconds, 0 or more");
        }
        if args.time_limit > crate::spec::MAX_SECONDS as f64 {
            bail!(
                "--time-limit {} is out of range: at most {} seconds (one week), or 0 for none",
                args.time_limit,
                crate::spec::MAX_SECONDS
            );
        }
        let time_limit = (args.time_limit > 0.0).then(|| Duration::from_secs_f64(args.time_limit));
        if args.export_edn.is_some() && args.histories.len() != 1 {
            bail!("--export-edn writes one history; give exactly one HISTORY");
        }
        let independent = match (args.independent, args.no_independent) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        };
        let needs_history = args.report.is_some() || args.export_edn.is_some();
        Ok(Config {
            model: args.model.clone(),
            checker,
            streamed: Streamed::of(&args.model, &options).filter(|_| !needs_history),
            read: ReadOptions {
                format: args.format.as_deref().and_then(Format::from_name),
                independent,
            },
            time_limit,
            json: args.json,
            report: args.report.clone(),
            export_edn: args.export_edn.clone(),
        })
    }
}

/// JSON first (`0`, `"x"`, `{"a": 1}`), then EDN (`nil`, `:x`, `{:a 1}`).
fn parse_value(text: &str) -> anyhow::Result<Value> {
    // Big integers stay exact, as they do in histories.
    if let Ok(v) = serde_json::from_slice(&format::jsonl::big_integers_as_text(text.as_bytes())) {
        return Ok(v);
    }
    Ok(edn::parse(text)?.to_json())
}

/// What happened to one history.
struct Outcome {
    path: PathBuf,
    code: Code,
    ops: usize,
    elapsed: Duration,
    result: Option<CheckResult>,
    error: Option<FormatError>,
    warnings: Vec<String>,
}

pub fn execute(args: CheckArgs) -> anyhow::Result<Code> {
    let config = Config::from_args(&args)?;
    // A reader that went away (`faultline check H | head -1`) must not turn the verdict into
    // a crash: every write to stdout ignores its error, and the exit code stays the verdict's.
    let mut out = io::stdout().lock();
    let mut outcomes = Vec::with_capacity(args.histories.len());
    for (i, path) in args.histories.iter().enumerate() {
        let report_dir = config
            .report
            .as_ref()
            .map(|dir| match args.histories.len() {
                1 => dir.clone(),
                _ => dir.join(format!(
                    "{}-{}",
                    i + 1,
                    path.file_name().unwrap_or_default().to_string_lossy()
                )),
            });
        let outcome = check_one(&config, path, report_dir.as_deref());
        if !config.json {
            print_outcome(&mut out, &outcome);
        }
        outcomes.push(outcome);
    }
    let code = outcomes.iter().fold(Code::Valid, |c, o| c.worst(o.code));
    if config.json {
        let report = serde_json::to_string_pretty(&json_report(&config, &outcomes, code))?;
        let _ = writeln!(out, "{report}");
    } else {
        let _ = writeln!(out, "{}", summary_line(&outcomes, code));
    }
    let _ = out.flush();
    Ok(code)
}

/// The history file a path names: the path itself, or for a run directory the history in it.
fn history_path(path: &Path) -> Result<PathBuf, FormatError> {
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    ["history.jsonl", "history.edn", "history.txt"]
        .iter()
        .map(|name| path.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| FormatError {
            source_name: path.display().to_string(),
            line: None,
            column: None,
            message: "a directory without history.jsonl, history.edn or history.txt".into(),
        })
}

fn check_one(config: &Config, path: &Path, report_dir: Option<&Path>) -> Outcome {
    let started = Instant::now();
    let unreadable = |e: FormatError| Outcome {
        path: path.to_path_buf(),
        code: Code::Error,
        ops: 0,
        elapsed: started.elapsed(),
        result: None,
        error: Some(e),
        warnings: Vec::new(),
    };
    let file = match history_path(path) {
        Ok(file) => file,
        Err(e) => return unreadable(e),
    };
    let (reader, name, format) = match open(&file, &config.read) {
        Ok(opened) => opened,
        Err(e) => return unreadable(e),
    };
    if let (Some(streamed), Format::Jsonl) = (&config.streamed, format) {
        return match check_streamed(config, streamed, reader, &name, started) {
            Ok((result, ops, warnings)) => Outcome {
                path: file,
                code: Code::from(result.verdict),
                ops,
                elapsed: started.elapsed(),
                result: Some(result),
                error: None,
                warnings,
            },
            Err(e) => unreadable(e),
        };
    }
    let read = ReadOptions {
        format: Some(format),
        ..config.read
    };
    let history = match format::read(reader, &name, &read) {
        Ok(h) => h,
        Err(e) => return unreadable(e),
    };
    // An op the model has no meaning for is a history for another model (or a typo), a
    // problem with the input like a malformed line, not a verdict the budget could change.
    if let Some(e) = verdict::unknown_function(config.checker.as_ref(), &history) {
        let name = file.display().to_string();
        return unreadable(FormatError::at(&name, e.line, e.message));
    }
    if let Some(out) = &config.export_edn {
        if let Err(e) = export_edn(&history, out) {
            return unreadable(FormatError {
                source_name: out.display().to_string(),
                line: None,
                column: None,
                message: format!("cannot write the EDN export: {e}"),
            });
        }
    }
    let mut result = if history.ops.is_empty() {
        no_operation(config, history.event_count)
    } else {
        run_checker(config, &history, started)
    };
    placing::place_anomalies(
        std::slice::from_mut(&mut result),
        &history,
        &nodes_of(&history),
    );
    let mut warnings = history.warnings.clone();
    warnings.extend(result.warnings.iter().cloned());
    let mut code = Code::from(result.verdict);
    if let Some(dir) = report_dir {
        if let Err(e) = write_report(config, &file, dir, &history, &result, started) {
            warnings.push(format!(
                "could not write the report into {}: {e:#}",
                dir.display()
            ));
            code = code.worst(Code::Error);
        }
    }
    let outcome = Outcome {
        path: file,
        code,
        ops: history.ops.len(),
        elapsed: started.elapsed(),
        result: Some(result),
        error: None,
        warnings,
    };
    drop_aside(history);
    outcome
}

/// The nodes the history's ops name, for labelling the sides of its faults.
fn nodes_of(history: &History) -> Vec<String> {
    let nodes: std::collections::BTreeSet<&str> = history
        .ops
        .iter()
        .filter_map(|o| o.node.as_deref())
        .collect();
    nodes.into_iter().map(String::from).collect()
}

/// Frees a history on a thread of its own. A million ops are millions of small allocations
/// (each value a JSON tree) and take a noticeable part of a second to free; nobody waits
/// for that: the next history is read meanwhile, and after the last one the process exits
/// without joining the thread (the operating system takes the memory back at once).
fn drop_aside(history: History) {
    if history.ops.len() < 10_000 {
        return drop(history);
    }
    // A thread that cannot be started drops its closure, and the history with it: freed
    // here, only slower.
    let _ = std::thread::Builder::new()
        .name("drop-history".into())
        .spawn(move || drop(history));
}

/// Opens a history: its reader, its name for messages and its format (as
/// [`format::read_path`] finds them: `--format`, else the extension, else the content).
fn open(
    file: &Path,
    options: &ReadOptions,
) -> Result<(Box<dyn io::BufRead>, String, Format), FormatError> {
    let (mut reader, name): (Box<dyn io::BufRead>, String) = if file == Path::new("-") {
        (Box::new(io::stdin().lock()), "<stdin>".into())
    } else {
        let name = file.display().to_string();
        let f = std::fs::File::open(file).map_err(|e| FormatError::io(&name, &e))?;
        (Box::new(io::BufReader::with_capacity(1 << 16, f)), name)
    };
    let format = match options.format.or_else(|| Format::from_extension(file)) {
        Some(f) => f,
        None => Format::sniff(reader.fill_buf().map_err(|e| FormatError::io(&name, &e))?),
    };
    Ok((reader, name, format))
}

/// Reads and checks a JSON Lines history the streamed way: the result (its anomalies placed,
/// with the faults in force, as [`check_one`]'s), the number of client operations and the
/// warnings (the reader's, then the checker's). A checker that panics degrades to unknown,
/// as in [`run_checker`].
fn check_streamed(
    config: &Config,
    streamed: &Streamed,
    reader: impl io::BufRead,
    name: &str,
    started: Instant,
) -> Result<(CheckResult, usize, Vec<String>), FormatError> {
    let budget = Budget {
        deadline: config.time_limit.map(|limit| started + limit),
        ..Budget::default()
    };
    let mut faults = FaultLog::default();
    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        streamed.check(reader, name, &budget, &mut |n| faults.push(&n))
    }));
    let (result, summary) = match checked {
        Ok(checked) => checked?,
        Err(_) => {
            let result = CheckResult::unknown(
                config.checker.name(),
                "the checker crashed on this history (see the message above); please report it",
            );
            return Ok((result.with_duration(started.elapsed()), 0, Vec::new()));
        }
    };
    let mut result = match summary.ops {
        0 => no_operation(config, summary.events),
        _ => result.with_duration(started.elapsed()),
    };
    let windows = faults.finish(summary.events, summary.last_time_ns, &summary.nodes);
    placing::name_faults(std::slice::from_mut(&mut result), &windows);
    let mut warnings = summary.warnings;
    warnings.extend(result.warnings.iter().cloned());
    Ok((result, summary.ops, warnings))
}

/// Nothing checked is not a pass: an empty file or one of nemesis events only must not let
/// a CI job go green.
fn no_operation(config: &Config, events: usize) -> CheckResult {
    CheckResult::unknown(
        config.checker.name(),
        format!(
            "no operation to check: the history holds no client operation ({events} event(s) \
             read)"
        ),
    )
}

/// Writes the report of one checked history into `dir`, with the history as history.jsonl
/// (replacing one left there by another history, so `faultline report DIR` shows this one).
fn write_report(
    config: &Config,
    file: &Path,
    dir: &Path,
    history: &History,
    result: &CheckResult,
    started: Instant,
) -> anyhow::Result<()> {
    use crate::report;
    std::fs::create_dir_all(dir)?;
    let stored = dir.join(report::HISTORY_FILE);
    let same = |a: &Path, b: &Path| {
        a.canonicalize()
            .ok()
            .is_some_and(|a| Some(a) == b.canonicalize().ok())
    };
    if !same(file, &stored) {
        report::write_history(&stored, history)?;
    }
    let mut extra = std::collections::BTreeMap::new();
    extra.insert("model".to_string(), config.model.clone());
    extra.insert("history source".to_string(), file.display().to_string());
    let now = chrono::Utc::now();
    let meta = report::RunMeta {
        spec_name: file
            .file_name()
            .map_or("stdin".into(), |n| n.to_string_lossy().into_owned()),
        command_line: std::env::args().collect(),
        started: Some(now - started.elapsed()),
        finished: Some(now),
        duration: Some(started.elapsed()),
        versions: report::Versions::current(),
        run_dir: dir.to_path_buf(),
        extra,
        ..report::RunMeta::default()
    };
    report::write_outputs(dir, &meta, history, std::slice::from_ref(result))?;
    Ok(())
}

fn export_edn(history: &History, out: &Path) -> std::io::Result<()> {
    let file = std::fs::File::create(out)?;
    format::jepsen::write_edn(history, file)
}

/// Runs the checker within the time budget. A checker that panics degrades to unknown (the
/// panic message is already on stderr), so one bad history cannot hide the others' verdicts.
/// The time limit counts from `started`, when the history began to be read: the verdict
/// line's time, and what a user waits for, include reading it.
fn run_checker(config: &Config, history: &History, started: Instant) -> CheckResult {
    let budget = Budget {
        deadline: config.time_limit.map(|limit| started + limit),
        ..Budget::default()
    };
    let checker = &config.checker;
    let started = Instant::now();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        checker.check(history, &budget)
    })) {
        Ok(result) => result,
        Err(_) => CheckResult::unknown(
            checker.name(),
            "the checker crashed on this history (see the message above); please report it",
        ),
    }
    .with_duration(started.elapsed())
}

fn location(e: &FormatError) -> String {
    match (e.line, e.column) {
        (Some(l), Some(c)) => format!("line {l}, column {c}: "),
        (Some(l), None) => format!("line {l}: "),
        _ => String::new(),
    }
}

/// Writes one history's verdict, anomalies and warnings; write errors are ignored (see
/// [`execute`]).
fn print_outcome(out: &mut impl io::Write, o: &Outcome) {
    let path = o.path.display();
    if let Some(e) = &o.error {
        let _ = writeln!(out, "{path}: error: {}{}", location(e), e.message);
        return;
    }
    let Some(r) = &o.result else { return };
    let _ = writeln!(
        out,
        "{path}: {} ({} ops, {} ms): {}",
        r.verdict,
        o.ops,
        o.elapsed.as_millis(),
        r.summary
    );
    for a in &r.anomalies {
        // A summary may already carry the explanation of its only anomaly; say it once.
        if r.summary.contains(&a.explanation) {
            if let Some(placed) = a.placed() {
                let _ = writeln!(out, "  {} at {placed}", a.kind);
            }
            continue;
        }
        let mut lines = a.explanation.lines();
        let _ = writeln!(out, "  {}: {}", a.kind, lines.next().unwrap_or(""));
        for line in lines {
            let _ = writeln!(out, "    {line}");
        }
        if let Some(placed) = a.placed() {
            let _ = writeln!(out, "    at {placed}");
        }
    }
    for w in &o.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
}

/// How many of the histories got the verdict `v`.
fn count_verdict(outcomes: &[Outcome], v: Verdict) -> usize {
    outcomes
        .iter()
        .filter(|o| o.result.as_ref().is_some_and(|r| r.verdict == v))
        .count()
}

fn summary_line(outcomes: &[Outcome], code: Code) -> String {
    let count = |v: Verdict| count_verdict(outcomes, v);
    format!(
        "{} {}: {} valid, {} invalid, {} unknown, {} unreadable (exit {})",
        outcomes.len(),
        if outcomes.len() == 1 {
            "history"
        } else {
            "histories"
        },
        count(Verdict::Valid),
        count(Verdict::Invalid),
        count(Verdict::Unknown),
        outcomes.iter().filter(|o| o.error.is_some()).count(),
        code as u8
    )
}

fn json_report(config: &Config, outcomes: &[Outcome], code: Code) -> Value {
    let histories: Vec<Value> = outcomes
        .iter()
        .map(|o| {
            let verdict = o.result.as_ref().map_or("error", |r| r.verdict.as_str());
            json!({
                "path": o.path.display().to_string(),
                "verdict": verdict,
                "exit_code": o.code as u8,
                "ops": o.ops,
                "elapsed_ms": (o.elapsed.as_secs_f64() * 1e6).round() / 1e3,
                "result": o.result,
                "error": o.error.as_ref().map(|e| json!({
                    "message": e.message, "line": e.line, "column": e.column,
                    "text": e.to_string(),
                })),
                "warnings": o.warnings,
            })
        })
        .collect();
    let count = |v: Verdict| count_verdict(outcomes, v);
    json!({
        "model": config.model,
        "checker": config.checker.name(),
        "histories": histories,
        "summary": {
            "valid": count(Verdict::Valid),
            "invalid": count(Verdict::Invalid),
            "unknown": count(Verdict::Unknown),
            "unreadable": outcomes.iter().filter(|o| o.error.is_some()).count(),
        },
        "exit_code": code as u8,
    })
}
