//! The set checker (`set-full`): clients add unique elements to a set and read the whole set;
//! every element acknowledged as added must show up, and stay.
//!
//! This is Jepsen's `set-full` checker. It is weaker than checking the linearizable `set`
//! model (`--model set`), which demands that every read return exactly the elements added
//! before it, and much cheaper: it looks at each element on its own, against the reads that
//! began after the element was *known* to be present — when its `add` completed `ok`, or when
//! a read first returned it, whichever came first.
//!
//! ```text
//!  add 5   |--ok--|                               (5 known present from here)
//!  read                |--{1 5}--|                present
//!  read                   |--{1}--|               absent: stale (a later read has it)
//!  read                             |--{1 5}--|   present: 5 is stable
//! ```
//!
//! Each element ends up in one class:
//!
//! - `stable`: present in the last reads that began after it was known;
//! - `stale`: stable, but missing from some read that began after it was known (a stale
//!   read; an anomaly only when `linearizable` is set);
//! - `lost`: known present, then missing from every read that began after the last read
//!   that saw it had finished (or missing from every read that began after it was known);
//! - `never-read`: acknowledged, but no read began afterwards and none returned it (not an
//!   error: nothing to judge); an element returned only by the last reads counts as stable;
//! - `unexpected`: read, but never added, or added only by adds that `fail`ed;
//! - `duplicated`: returned more than once by a single read.
//!
//! `info` adds (outcome unknown) may or may not appear: those never seen are counted as
//! `indeterminate`, those seen as `recovered`. The history is invalid when any element is
//! lost, unexpected or duplicated (or stale, under `linearizable`). Operations: `add` with the
//! element as its value, `read` with the set (a JSON array; `null` is the empty set) at `ok`.
//! Keys are checked independently. Real-time order is the order of lines; `time` is unused.
//!
//! Complexity: O(R·s + E·log R) for R reads of at most s elements and E elements.
//! Reference: Jepsen, `jepsen.checker/set-full` (jepsen-io/jepsen, checker.clj).

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::history::{History, Op, Outcome};
use crate::verdict::{Anomaly, Budget, CheckResult, Checker, OpRef, Verdict};

/// Jepsen's `set-full` checker; see the module docs.
#[derive(Clone, Debug, Default)]
pub struct SetFull {
    /// Treat stale reads as anomalies (for stores that claim linearizable reads).
    pub linearizable: bool,
}

/// How many example elements an anomaly lists in full.
const EXAMPLES: usize = 8;

impl Checker for SetFull {
    fn name(&self) -> &str {
        "set-full"
    }

    fn check(&self, history: &History, _budget: &Budget) -> CheckResult {
        let mut totals = Counts::default();
        let mut found: HashMap<&'static str, Vec<Value>> = HashMap::new();
        let mut explanations: HashMap<&'static str, Vec<(String, Vec<usize>)>> = HashMap::new();
        for (key, ops) in history.ops_by_key() {
            let outcome = match check_key(&ops) {
                Ok(o) => o,
                Err(why) => return CheckResult::unknown(self.name(), why),
            };
            totals.add(&outcome.counts);
            for (class, elements) in outcome.classes {
                for e in elements {
                    let list = explanations.entry(class).or_default();
                    if list.len() < EXAMPLES {
                        let text = match key {
                            Some(k) => format!("key {k}: {}", e.explanation),
                            None => e.explanation.clone(),
                        };
                        list.push((text, e.ops.clone()));
                    }
                    found
                        .entry(class)
                        .or_default()
                        .push(json!({"key": key, "element": e.element}));
                }
            }
        }
        self.result(totals, found, explanations)
    }
}

impl SetFull {
    fn result(
        &self,
        counts: Counts,
        found: HashMap<&'static str, Vec<Value>>,
        explanations: HashMap<&'static str, Vec<(String, Vec<usize>)>>,
    ) -> CheckResult {
        let mut bad = vec!["lost", "unexpected", "duplicated"];
        if self.linearizable {
            bad.push("stale");
        }
        let mut anomalies = Vec::new();
        for class in bad {
            let Some(elements) = found.get(class) else {
                continue;
            };
            let examples = explanations.get(class).cloned().unwrap_or_default();
            let more = elements.len().saturating_sub(examples.len());
            let texts: Vec<&str> = examples.iter().map(|(t, _)| t.as_str()).collect();
            let mut ops: Vec<usize> = examples
                .iter()
                .flat_map(|(_, o)| o.iter().copied())
                .collect();
            ops.sort_unstable();
            ops.dedup();
            let mut explanation = format!(
                "{} {class} element(s): {}",
                elements.len(),
                texts.join("; ")
            );
            if more > 0 {
                explanation.push_str(&format!("; and {more} more"));
            }
            anomalies.push(Anomaly {
                kind: class.to_string(),
                explanation,
                data: json!({"elements": elements}),
                ops: ops.into_iter().map(OpRef::id).collect(),
            });
        }
        let verdict = if !anomalies.is_empty() {
            Verdict::Invalid
        } else if counts.stable + counts.lost == 0 && counts.attempted > 0 {
            Verdict::Unknown
        } else {
            Verdict::Valid
        };
        let summary = match verdict {
            Verdict::Unknown => format!(
                "{} element(s) added, but no read began after any of them was known present",
                counts.attempted
            ),
            _ => format!(
                "{} added ({} ok, {} indeterminate, {} failed): {} stable, {} lost, {} stale, \
                 {} never read, {} unexpected, {} duplicated",
                counts.attempted,
                counts.acknowledged,
                counts.indeterminate,
                counts.failed,
                counts.stable,
                counts.lost,
                counts.stale,
                counts.never_read,
                counts.unexpected,
                counts.duplicated
            ),
        };
        CheckResult {
            checker: self.name().to_string(),
            verdict,
            summary,
            anomalies,
            details: serde_json::to_value(&counts).unwrap_or(Value::Null),
            warnings: Vec::new(),
            duration_ms: None,
        }
    }
}

#[derive(Debug, Default, serde::Serialize)]
struct Counts {
    attempted: usize,
    acknowledged: usize,
    indeterminate: usize,
    recovered: usize,
    failed: usize,
    reads: usize,
    stable: usize,
    stale: usize,
    lost: usize,
    never_read: usize,
    unexpected: usize,
    duplicated: usize,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.attempted += o.attempted;
        self.acknowledged += o.acknowledged;
        self.indeterminate += o.indeterminate;
        self.recovered += o.recovered;
        self.failed += o.failed;
        self.reads += o.reads;
        self.stable += o.stable;
        self.stale += o.stale;
        self.lost += o.lost;
        self.never_read += o.never_read;
        self.unexpected += o.unexpected;
        self.duplicated += o.duplicated;
    }
}

struct Found {
    element: Value,
    explanation: String,
    /// The reads the explanation names.
    ops: Vec<usize>,
}

struct KeyOutcome {
    counts: Counts,
    classes: Vec<(&'static str, Vec<Found>)>,
}

#[derive(Default)]
struct Element {
    value: Value,
    /// Completion position of the earliest `ok` add.
    ok_at: Option<(usize, usize)>,
    info_adds: usize,
    fail_adds: usize,
    /// Reads (indexes into the read list) that returned the element, ascending.
    seen_in: Vec<usize>,
}

struct Read<'a> {
    op: &'a Op,
    invoke: usize,
    complete: usize,
}

fn check_key(ops: &[&Op]) -> Result<KeyOutcome, String> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut elements: Vec<Element> = Vec::new();
    let mut reads: Vec<Read> = Vec::new();
    let mut dup_in_reads: Vec<(usize, usize)> = Vec::new();
    let mut slot = |v: &Value, elements: &mut Vec<Element>| -> usize {
        *index.entry(v.to_string()).or_insert_with(|| {
            elements.push(Element {
                value: v.clone(),
                ..Element::default()
            });
            elements.len() - 1
        })
    };
    for op in ops {
        match op.f.as_str() {
            "add" => {
                let e = slot(&op.invoke_value, &mut elements);
                let el = &mut elements[e];
                match op.outcome {
                    Outcome::Ok => {
                        let at = op.complete_pos.unwrap_or(usize::MAX);
                        if el.ok_at.is_none_or(|(pos, _)| pos > at) {
                            el.ok_at = Some((at, op.line));
                        }
                    }
                    Outcome::Info => el.info_adds += 1,
                    Outcome::Fail => el.fail_adds += 1,
                }
            }
            "read" if op.outcome == Outcome::Ok => {
                let items = match &op.value {
                    Value::Null => &[][..],
                    Value::Array(items) => items.as_slice(),
                    other => {
                        return Err(format!(
                            "the read at line {} returned {other}, not a set (a JSON array)",
                            op.line
                        ))
                    }
                };
                let r = reads.len();
                reads.push(Read {
                    op,
                    invoke: op.invoke_pos,
                    complete: op.complete_pos.unwrap_or(usize::MAX),
                });
                for item in items {
                    let e = slot(item, &mut elements);
                    let seen = &mut elements[e].seen_in;
                    if seen.last() == Some(&r) {
                        dup_in_reads.push((e, r));
                    } else {
                        seen.push(r);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(classify(&elements, &reads, &dup_in_reads))
}

fn classify(elements: &[Element], reads: &[Read], dups: &[(usize, usize)]) -> KeyOutcome {
    let mut counts = Counts {
        reads: reads.len(),
        ..Counts::default()
    };
    let mut lost = Vec::new();
    let mut stale = Vec::new();
    let mut unexpected = Vec::new();
    let mut duplicated = Vec::new();
    for el in elements {
        count_adds(el, &mut counts);
        let value = &el.value;
        if let Some(&first) = el.seen_in.first() {
            if el.ok_at.is_none() && el.info_adds == 0 {
                counts.unexpected += 1;
                let why = if el.fail_adds > 0 {
                    "its add failed"
                } else {
                    "it was never added"
                };
                unexpected.push(Found {
                    element: value.clone(),
                    explanation: format!(
                        "{value} was read at line {} but {why}",
                        reads[first].op.line
                    ),
                    ops: vec![reads[first].op.id],
                });
                continue;
            }
        }
        // When the element was first known present: its add's ok, or the end of a read
        // that returned it.
        let seen_at = el
            .seen_in
            .iter()
            .map(|&r| (reads[r].complete, reads[r].op.line))
            .min();
        let known = match (el.ok_at, seen_at) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => continue,
        };
        match judge(el, reads, known.0) {
            Judgement::NeverRead => counts.never_read += 1,
            Judgement::Stable { stale_in: None } => counts.stable += 1,
            Judgement::Stable { stale_in: Some(r) } => {
                counts.stable += 1;
                counts.stale += 1;
                stale.push(Found {
                    element: value.clone(),
                    explanation: format!(
                        "{value}, known present since line {}, was missing from the read at \
                         line {} and reappeared later",
                        known.1, reads[r].op.line
                    ),
                    ops: vec![reads[r].op.id],
                });
            }
            Judgement::Lost { absent_from } => {
                counts.lost += 1;
                lost.push(Found {
                    element: value.clone(),
                    explanation: format!(
                        "{value}, known present since line {}, is missing from the read at line \
                         {} and every read after it{}",
                        known.1,
                        reads[absent_from].op.line,
                        match el.seen_in.last() {
                            Some(&r) =>
                                format!(" (last seen by the read at line {})", reads[r].op.line),
                            None => String::new(),
                        }
                    ),
                    ops: vec![reads[absent_from].op.id],
                });
            }
        }
    }
    for &(e, r) in dups {
        if duplicated
            .iter()
            .any(|f: &Found| f.element == elements[e].value)
        {
            continue;
        }
        counts.duplicated += 1;
        duplicated.push(Found {
            element: elements[e].value.clone(),
            explanation: format!(
                "{} appears more than once in the read at line {}",
                elements[e].value, reads[r].op.line
            ),
            ops: vec![reads[r].op.id],
        });
    }
    KeyOutcome {
        counts,
        classes: vec![
            ("lost", lost),
            ("unexpected", unexpected),
            ("duplicated", duplicated),
            ("stale", stale),
        ],
    }
}

/// Accounts for how an element's adds ended: acknowledged, indeterminate (`info`, never
/// seen), recovered (`info`, seen later) or failed.
fn count_adds(el: &Element, counts: &mut Counts) {
    if el.ok_at.is_some() || el.info_adds > 0 || el.fail_adds > 0 {
        counts.attempted += 1;
    }
    if el.ok_at.is_some() {
        counts.acknowledged += 1;
    } else if el.info_adds > 0 {
        if el.seen_in.is_empty() {
            counts.indeterminate += 1;
        } else {
            counts.recovered += 1;
        }
    } else if el.fail_adds > 0 {
        counts.failed += 1;
    }
}

enum Judgement {
    NeverRead,
    /// Present in the latest reads; `stale_in` is a read after it was known that missed it.
    Stable {
        stale_in: Option<usize>,
    },
    /// Missing from `absent_from` and every read that began after it.
    Lost {
        absent_from: usize,
    },
}

fn judge(el: &Element, reads: &[Read], known: usize) -> Judgement {
    // Reads are in invocation order; those that began after the element was known:
    let start = reads.partition_point(|r| r.invoke <= known);
    if start == reads.len() {
        // Known only from the last reads themselves: present as far as anyone looked.
        return if el.seen_in.is_empty() {
            Judgement::NeverRead
        } else {
            Judgement::Stable { stale_in: None }
        };
    }
    let present_from = el.seen_in.partition_point(|&r| r < start);
    let present = &el.seen_in[present_from..];
    let after = reads.len() - start;
    // The first read after `known` that missed the element, and the last one.
    let mut first_absent = None;
    let mut last_absent = None;
    if present.len() < after {
        let mut p = present.iter().peekable();
        for r in start..reads.len() {
            if p.peek() == Some(&&r) {
                p.next();
            } else {
                first_absent.get_or_insert(r);
                last_absent = Some(r);
            }
        }
    }
    let Some(&last_present) = present.last() else {
        return Judgement::Lost {
            absent_from: first_absent.unwrap_or(start),
        };
    };
    match last_absent {
        Some(la) if reads[la].invoke > reads[last_present].complete => {
            // Missing from every read that began after the last sighting ended.
            let first_after = (last_present + 1..reads.len())
                .find(|&r| reads[r].invoke > reads[last_present].complete)
                .unwrap_or(la);
            Judgement::Lost {
                absent_from: first_after,
            }
        }
        _ => Judgement::Stable {
            stale_in: first_absent,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Event, Process};

    /// Builds a history from `(process, type, f, value)` rows.
    fn history(rows: &[(u64, &str, &str, Value)]) -> History {
        History::from_events(rows.iter().map(|(p, t, f, v)| Event {
            index: 0,
            time: None,
            process: Process::Client(*p),
            kind: serde_json::from_value(json!(t)).unwrap(),
            f: f.to_string(),
            key: None,
            value: v.clone(),
            node: None,
            error: None,
            response: None,
        }))
        .unwrap()
    }

    fn check(rows: &[(u64, &str, &str, Value)]) -> CheckResult {
        SetFull::default().check(&history(rows), &Budget::default())
    }

    #[test]
    fn accepts_a_set_whose_reads_keep_every_acknowledged_add() {
        let r = check(&[
            (0, "invoke", "add", json!(1)),
            (0, "ok", "add", json!(1)),
            (1, "invoke", "add", json!(2)),
            (1, "info", "add", json!(2)),
            (2, "invoke", "read", Value::Null),
            (2, "ok", "read", json!([1])),
            (3, "invoke", "read", Value::Null),
            (3, "ok", "read", json!([1])),
        ]);
        assert_eq!(r.verdict, Verdict::Valid, "{r:?}");
        assert_eq!(r.details["stable"], 1);
        assert_eq!(r.details["indeterminate"], 1);
        assert_eq!(r.details["never_read"], 0);
    }

    #[test]
    fn identifies_an_acknowledged_add_missing_from_later_reads_as_lost() {
        let r = check(&[
            (0, "invoke", "add", json!(1)),
            (0, "ok", "add", json!(1)),
            (2, "invoke", "read", Value::Null),
            (2, "ok", "read", json!([1])),
            (3, "invoke", "read", Value::Null),
            (3, "ok", "read", json!([])),
        ]);
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!(r.anomalies[0].kind, "lost");
        assert!(
            r.anomalies[0].explanation.contains("line 5"),
            "{}",
            r.anomalies[0].explanation
        );
    }

    #[test]
    fn identifies_a_read_of_an_element_never_added_as_unexpected() {
        let r = check(&[
            (0, "invoke", "add", json!(1)),
            (0, "fail", "add", json!(1)),
            (2, "invoke", "read", Value::Null),
            (2, "ok", "read", json!([1, 9])),
        ]);
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!(r.anomalies[0].kind, "unexpected");
        assert_eq!(r.details["unexpected"], 2);
        assert!(r.anomalies[0].explanation.contains("its add failed"));
        assert!(r.anomalies[0].explanation.contains("never added"));
    }

    #[test]
    fn reports_a_stale_read_and_fails_it_only_when_linearizable() {
        let rows = [
            (0, "invoke", "add", json!(1)),
            (0, "ok", "add", json!(1)),
            (2, "invoke", "read", Value::Null),
            (2, "ok", "read", json!([])),
            (3, "invoke", "read", Value::Null),
            (3, "ok", "read", json!([1])),
        ];
        let r = check(&rows);
        assert_eq!(r.verdict, Verdict::Valid);
        assert_eq!(r.details["stale"], 1);
        let strict = SetFull { linearizable: true }.check(&history(&rows), &Budget::default());
        assert_eq!(strict.verdict, Verdict::Invalid);
        assert_eq!(strict.anomalies[0].kind, "stale");
    }

    #[test]
    fn does_not_call_an_element_lost_when_a_concurrent_read_missed_it() {
        let r = check(&[
            (0, "invoke", "add", json!(1)),
            (0, "ok", "add", json!(1)),
            (2, "invoke", "read", Value::Null),
            (3, "invoke", "read", Value::Null),
            (3, "ok", "read", json!([])),
            (2, "ok", "read", json!([1])),
        ]);
        assert_eq!(r.verdict, Verdict::Valid, "{r:?}");
    }

    #[test]
    fn counts_a_crashed_add_seen_by_the_last_read_as_recovered_and_stable() {
        let r = check(&[
            (0, "invoke", "add", json!(1)),
            (0, "info", "add", json!(1)),
            (2, "invoke", "read", Value::Null),
            (2, "ok", "read", json!([1])),
        ]);
        assert_eq!(r.verdict, Verdict::Valid, "{r:?}");
        assert_eq!(r.details["recovered"], 1);
        assert_eq!(r.details["stable"], 1);
        assert_eq!(r.details["never_read"], 0);
    }

    #[test]
    fn identifies_duplicates_within_one_read() {
        let r = check(&[
            (0, "invoke", "add", json!(1)),
            (0, "ok", "add", json!(1)),
            (2, "invoke", "read", Value::Null),
            (2, "ok", "read", json!([1, 1])),
        ]);
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!(r.anomalies[0].kind, "duplicated");
    }

    #[test]
    fn answers_unknown_when_no_read_followed_the_adds() {
        let r = check(&[(0, "invoke", "add", json!(1)), (0, "ok", "add", json!(1))]);
        assert_eq!(r.verdict, Verdict::Unknown);
        assert_eq!(r.details["never_read"], 1);
    }

    #[test]
    fn answers_unknown_for_a_read_that_is_not_a_set() {
        let r = check(&[
            (2, "invoke", "read", Value::Null),
            (2, "ok", "read", json!(3)),
        ]);
        assert_eq!(r.verdict, Verdict::Unknown);
        assert!(r.summary.contains("not a set"));
    }
}
