//! The counter checker: clients add integers to a counter and read it; every read must lie
//! within the bounds the adds around it allow.
//!
//! A read that returned `r` must satisfy `lower ≤ r ≤ upper`, where, for the read's interval
//! `[invoke, complete]`:
//!
//! - `lower` = the initial value + every add that certainly happened before the read began
//!   (`ok`, completed before the invocation) + every *negative* add that may have happened by
//!   the time the read ended (`ok` or `info`, invoked before its completion);
//! - `upper` = the same with the *positive* adds that may have happened.
//!
//! ```text
//!  add 1  |--ok--|
//!  add 2        |------info------ ...      (may or may not have happened)
//!  read                  |--?--|           bounds 1..=3
//! ```
//!
//! (With only positive adds this is Jepsen's counter checker: at least the acknowledged adds,
//! at most every attempted one.) The interval test is necessary, not sufficient: a read of 2
//! above passes although no subset of the adds sums to 2 — checking that exactly is
//! subset-sum; use `--model` over a linearizable counter for that. `fail`ed adds are ignored.
//! A read of `null` counts as the initial value (the counter was never written). Adds and
//! reads are integers by [`crate::history::integer`]'s rule (numbers written as strings too).
//!
//! Reported anomaly: `out-of-bounds` (the read, its bounds, its line). Keys are checked
//! independently. Complexity: O(n log n) for n ops (one sweep over the sorted events).
//! Reference: Jepsen, `jepsen.checker/counter` (jepsen-io/jepsen, checker.clj).

use serde_json::{json, Value};

use crate::history::{integer, History, Op, Outcome};
use crate::verdict::{Anomaly, Budget, CheckResult, Checker, OpRef, Verdict, MAX_ANOMALIES};

/// The counter checker; see the module docs.
#[derive(Clone, Debug, Default)]
pub struct Counter {
    /// The counter's value before any add.
    pub initial: i64,
}

impl Checker for Counter {
    fn name(&self) -> &str {
        "counter"
    }

    fn check(&self, history: &History, _budget: &Budget) -> CheckResult {
        let mut anomalies = Vec::new();
        let mut bad_reads = 0usize;
        let mut reads = 0usize;
        for (key, ops) in history.ops_by_key() {
            let found = match check_key(&ops, self.initial) {
                Ok(f) => f,
                Err(why) => return CheckResult::unknown(self.name(), why),
            };
            reads += found.reads;
            for bad in found.bad {
                bad_reads += 1;
                if anomalies.len() < MAX_ANOMALIES {
                    anomalies.push(bad.anomaly(key));
                }
            }
        }
        let verdict = if bad_reads > 0 {
            Verdict::Invalid
        } else {
            Verdict::Valid
        };
        CheckResult {
            checker: self.name().to_string(),
            verdict,
            summary: format!("{bad_reads} of {reads} read(s) out of bounds"),
            anomalies,
            details: json!({"reads": reads, "out_of_bounds": bad_reads}),
            warnings: Vec::new(),
            duration_ms: None,
        }
    }
}

struct BadRead {
    op: usize,
    line: usize,
    value: i128,
    lower: i128,
    upper: i128,
}

impl BadRead {
    fn anomaly(&self, key: Option<&str>) -> Anomaly {
        let on = key.map(|k| format!(" of key {k}")).unwrap_or_default();
        Anomaly {
            kind: "out-of-bounds".into(),
            explanation: format!(
                "the read{on} at line {} returned {}, but the adds around it allow only {}..={}",
                self.line, self.value, self.lower, self.upper
            ),
            data: json!({"key": key, "line": self.line, "read": self.value.to_string(),
                "lower": self.lower.to_string(), "upper": self.upper.to_string()}),
            ops: vec![OpRef::id(self.op)],
        }
    }
}

struct KeyFound {
    reads: usize,
    bad: Vec<BadRead>,
}

/// Sums at one moment: adds certainly done (`ok`, completed) and adds possibly started.
#[derive(Clone, Copy, Default)]
struct Sums {
    done_pos: i128,
    done_neg: i128,
    started_pos: i128,
    started_neg: i128,
}

fn check_key(ops: &[&Op], initial: i64) -> Result<KeyFound, String> {
    // Events in real-time order: (position, what happens).
    enum At {
        AddStarts(i128),
        AddDone(i128),
        ReadStarts(usize),
        ReadEnds(usize),
    }
    let mut events = Vec::with_capacity(ops.len() * 2);
    let mut reads: Vec<(&Op, i128)> = Vec::new();
    for op in ops {
        match (op.f.as_str(), op.outcome) {
            (_, Outcome::Fail) => {}
            ("add", outcome) => {
                let delta = integer(&op.invoke_value).ok_or_else(|| {
                    format!(
                        "the add at line {} adds {}, not an integer",
                        op.line, op.invoke_value
                    )
                })?;
                events.push((op.invoke_pos, At::AddStarts(delta)));
                if outcome == Outcome::Ok {
                    events.push((op.complete_pos_or_end(), At::AddDone(delta)));
                }
            }
            ("read", Outcome::Ok) => {
                let value = match &op.value {
                    Value::Null => initial as i128,
                    v => integer(v).ok_or_else(|| {
                        format!("the read at line {} returned {v}, not an integer", op.line)
                    })?,
                };
                events.push((op.invoke_pos, At::ReadStarts(reads.len())));
                events.push((op.complete_pos_or_end(), At::ReadEnds(reads.len())));
                reads.push((op, value));
            }
            _ => {}
        }
    }
    events.sort_by_key(|(pos, _)| *pos);
    let mut now = Sums::default();
    let mut at_start = vec![Sums::default(); reads.len()];
    let mut bad = Vec::new();
    for (_, event) in events {
        match event {
            At::AddStarts(d) if d >= 0 => now.started_pos += d,
            At::AddStarts(d) => now.started_neg += d,
            At::AddDone(d) if d >= 0 => now.done_pos += d,
            At::AddDone(d) => now.done_neg += d,
            At::ReadStarts(r) => at_start[r] = now,
            At::ReadEnds(r) => {
                let s = at_start[r];
                let base = initial as i128 + s.done_pos + s.done_neg;
                let lower = base + (now.started_neg - s.done_neg);
                let upper = base + (now.started_pos - s.done_pos);
                let (op, value) = reads[r];
                if value < lower || value > upper {
                    bad.push(BadRead {
                        op: op.id,
                        line: op.line,
                        value,
                        lower,
                        upper,
                    });
                }
            }
        }
    }
    bad.sort_by_key(|b| b.line);
    Ok(KeyFound {
        reads: reads.len(),
        bad,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Event, Process};

    fn check(rows: &[(u64, &str, &str, Value)]) -> CheckResult {
        let h = History::from_events(rows.iter().map(|(p, t, f, v)| Event {
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
        .unwrap();
        Counter::default().check(&h, &Budget::default())
    }

    #[test]
    fn accepts_reads_between_acknowledged_and_attempted_adds() {
        let r = check(&[
            (0, "invoke", "add", json!(1)),
            (0, "ok", "add", json!(1)),
            (1, "invoke", "add", json!(2)),
            (1, "info", "add", json!(2)),
            (2, "invoke", "read", Value::Null),
            (2, "ok", "read", json!(3)),
            (3, "invoke", "read", Value::Null),
            (3, "ok", "read", json!(1)),
        ]);
        assert_eq!(r.verdict, Verdict::Valid, "{r:?}");
    }

    #[test]
    fn identifies_a_read_missing_an_acknowledged_add() {
        let r = check(&[
            (0, "invoke", "add", json!(5)),
            (0, "ok", "add", json!(5)),
            (2, "invoke", "read", Value::Null),
            (2, "ok", "read", json!(0)),
        ]);
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!(r.anomalies[0].kind, "out-of-bounds");
        assert!(
            r.anomalies[0].explanation.contains("5..=5"),
            "{}",
            r.anomalies[0].explanation
        );
    }

    #[test]
    fn identifies_a_read_counting_a_failed_add() {
        let r = check(&[
            (0, "invoke", "add", json!(5)),
            (0, "fail", "add", json!(5)),
            (2, "invoke", "read", Value::Null),
            (2, "ok", "read", json!(5)),
        ]);
        assert_eq!(r.verdict, Verdict::Invalid);
    }

    #[test]
    fn allows_a_concurrent_add_to_be_seen_or_not_including_negative_ones() {
        let rows = |seen: i64| {
            vec![
                (0, "invoke", "add", json!(10)),
                (0, "ok", "add", json!(10)),
                (1, "invoke", "add", json!(-3)),
                (2, "invoke", "read", Value::Null),
                (2, "ok", "read", json!(seen)),
                (1, "ok", "add", json!(-3)),
            ]
        };
        assert_eq!(check(&rows(10)).verdict, Verdict::Valid);
        assert_eq!(check(&rows(7)).verdict, Verdict::Valid);
        assert_eq!(check(&rows(6)).verdict, Verdict::Invalid);
        assert_eq!(check(&rows(11)).verdict, Verdict::Invalid);
    }

    #[test]
    fn answers_unknown_for_a_read_that_is_not_a_number() {
        let r = check(&[
            (2, "invoke", "read", Value::Null),
            (2, "ok", "read", json!([1])),
        ]);
        assert_eq!(r.verdict, Verdict::Unknown);
    }
}
