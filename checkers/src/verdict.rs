//! Verdicts, anomalies and the [`Checker`] contract.
//!
//! Every checker answers `valid`, `invalid` (with anomalies and an explanation) or
//! `unknown` (its budget ran out, or it was given input it cannot judge). Verdicts compose:
//! invalid beats unknown beats valid.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::history::{History, HistoryError, Op};

/// The answer of a checker.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Valid,
    Unknown,
    Invalid,
}

impl Verdict {
    /// Composition of two verdicts: invalid beats unknown beats valid.
    pub fn and(self, other: Verdict) -> Verdict {
        self.max(other)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Unknown => "unknown",
            Verdict::Invalid => "invalid",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many anomalies the counting checkers (counter, bank) list in full; the rest they
/// only count.
pub(crate) const MAX_ANOMALIES: usize = 100;

/// One violation found in a history.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Anomaly {
    /// The anomaly's name from the literature (`G1c`, `G-single`, `stale-read`,
    /// `nonlinearizable`, `lost`, ...).
    pub kind: String,
    /// A sentence a person can read.
    pub explanation: String,
    /// Structured evidence for reports (the ops, the cycle, the states).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub data: Value,
    /// The operations the anomaly is about, with where and when each ran. A checker names
    /// them ([`OpRef::id`]); [`OpRef::fill`] adds the rest from the history, and the caller
    /// that knows the fault kinds adds the faults in force.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ops: Vec<OpRef>,
}

/// One operation an anomaly is about, placed in the run: the node that served it, when it
/// ran on the history's clock, and the faults in force meanwhile — what a person needs to
/// put the anomaly beside the fault schedule and the nodes' logs.
///
/// ```json
/// {"op": 68, "line": 137, "process": 8, "node": "n3", "start_s": 5.104, "end_s": 5.131,
///  "faults": ["partition n1,n2 | n3,n4,n5"]}
/// ```
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct OpRef {
    /// The op's id ([`Op::id`](crate::history::Op::id)).
    pub op: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Invocation and completion, seconds since the history's origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_s: Option<f64>,
    /// Labels of the faults in force at some moment while the op ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<String>,
    /// Invocation and completion in nanoseconds on the history's clock, exact: what the
    /// faults in force are found by (the seconds above are rounded to the millisecond). Not
    /// written out.
    #[serde(skip)]
    pub start_ns: Option<u64>,
    #[serde(skip)]
    pub end_ns: Option<u64>,
}

impl OpRef {
    /// The op with id `op`, to be filled in from the history.
    pub fn id(op: usize) -> OpRef {
        OpRef {
            op,
            ..OpRef::default()
        }
    }

    /// Fills what the history says about the op; an id the history lacks is left bare.
    pub fn fill(&mut self, history: &History) {
        if let Some(op) = history.ops.get(self.op) {
            self.fill_from(op);
        }
    }

    /// Fills what `op` (the op this names) says about itself.
    pub fn fill_from(&mut self, op: &Op) {
        self.node.clone_from(&op.node);
        self.fill_times(op.line, op.process, op.invoke_time, op.complete_time);
    }

    /// Fills the op's source line, process and times (nanoseconds on the history's clock),
    /// for a reader that keeps them without an [`Op`].
    pub fn fill_times(
        &mut self,
        line: usize,
        process: u64,
        invoke_ns: Option<u64>,
        complete_ns: Option<u64>,
    ) {
        let secs = |ns: u64| (ns as f64 / 1e6).round() / 1e3;
        self.line = Some(line);
        self.process = Some(process);
        self.start_s = invoke_ns.map(secs);
        self.end_s = complete_ns.map(secs);
        self.start_ns = invoke_ns;
        self.end_ns = complete_ns;
    }

    /// `op 68 (process 8) on n3 at 5.104 s, during partition n1,n2 | n3,n4,n5`.
    pub fn describe(&self) -> String {
        let mut s = format!("op {}", self.op);
        if let Some(p) = self.process {
            s.push_str(&format!(" (process {p})"));
        }
        if let Some(n) = &self.node {
            s.push_str(&format!(" on {n}"));
        }
        if let Some(t) = self.start_s {
            s.push_str(&format!(" at {t:.3} s"));
        }
        if !self.faults.is_empty() {
            s.push_str(&format!(", during {}", self.faults.join(" and ")));
        }
        s
    }
}

impl Anomaly {
    /// Its ops, described where and when they ran, for a line under the explanation
    /// (`None` when it names none). Lists at most four.
    pub fn placed(&self) -> Option<String> {
        const SHOWN: usize = 4;
        if self.ops.is_empty() {
            return None;
        }
        let mut s: Vec<String> = self.ops.iter().take(SHOWN).map(OpRef::describe).collect();
        if self.ops.len() > SHOWN {
            s.push(format!("and {} more", self.ops.len() - SHOWN));
        }
        Some(s.join("; "))
    }
}

/// Fills every anomaly's ops from `history` ([`OpRef::fill`]).
pub fn fill_op_refs(results: &mut [CheckResult], history: &History) {
    for a in results.iter_mut().flat_map(|r| r.anomalies.iter_mut()) {
        for op in &mut a.ops {
            op.fill(history);
        }
    }
}

/// What one checker concluded about one history.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CheckResult {
    /// The checker's name (`linearizable`, `list-append`, ...).
    pub checker: String,
    pub verdict: Verdict,
    /// One line for the verdict summary.
    pub summary: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anomalies: Vec<Anomaly>,
    /// Checker-specific structured output (statistics, failing key, isolation levels).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub details: Value,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// How long the check took, in milliseconds (to the microsecond), for `junit.xml`'s
    /// `time`. Set by whoever runs the checker — checkers themselves never read the clock for
    /// it — and absent in results written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
}

impl CheckResult {
    /// The same result, saying the check took `elapsed`.
    pub fn with_duration(self, elapsed: Duration) -> CheckResult {
        CheckResult {
            duration_ms: Some((elapsed.as_secs_f64() * 1e6).round() / 1e3),
            ..self
        }
    }

    /// A result that says the checker could not judge the history.
    pub fn unknown(checker: &str, why: impl Into<String>) -> CheckResult {
        CheckResult {
            checker: checker.to_string(),
            verdict: Verdict::Unknown,
            summary: why.into(),
            anomalies: Vec::new(),
            details: Value::Null,
            warnings: Vec::new(),
            duration_ms: None,
        }
    }
}

/// Limits on a search. A checker that reaches one answers `unknown`, never hangs.
///
/// Defaults: no deadline, 1 GiB of search memory, one worker thread per available core.
#[derive(Clone, Debug)]
pub struct Budget {
    /// When the search must stop. The only use of the clock in this crate: it bounds work,
    /// it never changes a verdict that is reached in time.
    pub deadline: Option<Instant>,
    /// Bytes the search's own structures (caches, stacks) may hold.
    pub memory_bytes: usize,
    /// Worker threads for checks that split into independent parts (keys).
    pub threads: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            deadline: None,
            memory_bytes: 1 << 30,
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        }
    }
}

impl Budget {
    /// A budget that ends `limit` from now.
    pub fn with_time_limit(limit: Duration) -> Budget {
        Budget {
            deadline: Some(Instant::now() + limit),
            ..Budget::default()
        }
    }

    pub fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// A consistency check over a whole history.
///
/// Contract: pure and deterministic given the history (the budget only bounds work), never
/// panics on odd input (it answers `unknown` and says why), and ignores nemesis events.
pub trait Checker: Send + Sync {
    /// The name used on the command line and in reports.
    fn name(&self) -> &str;
    fn check(&self, history: &History, budget: &Budget) -> CheckResult;

    /// The operations (`f`) this checker judges; `None` when it takes any `f` (it skips or
    /// reports the ones it does not know itself). A history holding a client op with
    /// another `f` was written for another model: [`unknown_function`] finds that op, so
    /// the caller can refuse the history naming its line instead of answering unknown.
    fn functions(&self) -> Option<&'static [&'static str]> {
        None
    }
}

/// The first client op whose `f` the checker does not judge, as an error naming its line.
pub fn unknown_function(checker: &dyn Checker, history: &History) -> Option<HistoryError> {
    let known = checker.functions()?;
    let op = history
        .ops
        .iter()
        .find(|op| !known.contains(&op.f.as_str()))?;
    Some(HistoryError {
        line: op.line,
        message: unknown_function_message(&op.f, op.process, checker.name(), known),
    })
}

/// Why an op with function `f` cannot be judged by `checker`, which knows `known`.
pub fn unknown_function_message(f: &str, process: u64, checker: &str, known: &[&str]) -> String {
    format!(
        "`{f}` (process {process}) is not an operation the {checker} checker knows (it knows {}); \
         check --model",
        known.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_anomalys_ops_are_placed_on_their_node_at_their_time() {
        let jsonl = r#"{"process":0,"type":"invoke","f":"write","value":1,"time":1000000000,"node":"n1"}
{"process":0,"type":"ok","f":"write","value":1,"time":1100000000,"node":"n1"}
{"process":1,"type":"invoke","f":"read","value":null,"time":2500000000,"node":"n3"}
{"process":1,"type":"ok","f":"read","value":0,"time":2600000000,"node":"n3"}
"#;
        let history = crate::format::jsonl::read_jsonl(jsonl.as_bytes(), "h.jsonl").unwrap();
        let checker = crate::registry::build("register", &Default::default()).unwrap();
        let mut results = vec![checker.check(&history, &Budget::default())];
        assert_eq!(results[0].verdict, Verdict::Invalid);
        assert!(
            results[0]
                .summary
                .contains("read by process 1 on n3 at 2.500 s returned 0"),
            "{}",
            results[0].summary
        );
        fill_op_refs(&mut results, &history);
        let mut placed = results[0].anomalies[0].clone();
        placed.ops[0].faults.push("partition n1 | n2,n3".into());
        assert_eq!(
            placed.placed().as_deref(),
            Some("op 1 (process 1) on n3 at 2.500 s, during partition n1 | n2,n3")
        );
        assert_eq!(placed.ops[0].end_s, Some(2.6));
    }

    #[test]
    fn invalid_beats_unknown_beats_valid() {
        assert_eq!(Verdict::Valid.and(Verdict::Unknown), Verdict::Unknown);
        assert_eq!(Verdict::Unknown.and(Verdict::Invalid), Verdict::Invalid);
        assert_eq!(Verdict::Invalid.and(Verdict::Valid), Verdict::Invalid);
        assert_eq!(Verdict::Valid.and(Verdict::Valid), Verdict::Valid);
    }

    #[test]
    fn a_result_written_before_durations_existed_still_reads() {
        let old =
            r#"{"checker":"counter","verdict":"valid","summary":"0 of 1 read(s) out of bounds"}"#;
        let r: CheckResult = serde_json::from_str(old).unwrap();
        assert_eq!(r.duration_ms, None);
        let timed = r.with_duration(Duration::from_micros(1500));
        assert_eq!(timed.duration_ms, Some(1.5));
        let text = serde_json::to_string(&timed).unwrap();
        assert!(text.contains(r#""duration_ms":1.5"#), "{text}");
    }
}
