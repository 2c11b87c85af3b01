//! The unique-ids checker: clients ask the store for a new identifier; no two acknowledged
//! requests may receive the same one.
//!
//! A store that hands out ids (a sequence, an auto-increment column, etcd's in-order keys)
//! promises that each id goes to one caller. A store that reads its counter, then writes it
//! back without a guard (a lost update) lets two concurrent callers read the same counter
//! and both return the same id:
//!
//! ```text
//!  generate  |--read 7--------write 8--ok 8|
//!  generate       |--read 7--write 8--ok 8|          id 8 twice: duplicate-id
//! ```
//!
//! Operations: `generate`, whose `ok` completion's value is the id (any JSON value: a number,
//! a string such as etcd's `/ids/00000000000000000023`). `fail` and `info` requests are
//! ignored: an id nobody was told of cannot be a duplicate anyone relies on. Ids compare by
//! their JSON text, except that integers compare by [`crate::history::integer`]'s rule (`7`
//! equals `"7"`). An `ok` completion without an id (`null`) is counted and noted, not judged.
//!
//! Reported anomaly: `duplicate-id`, with the id and every operation (line, process, node)
//! that received it. Verdict: invalid with any duplicate; unknown when no request succeeded
//! (nothing was tested); valid otherwise. Keys are ignored: ids are unique across the whole
//! history. Complexity: O(n log n) for n operations.
//! Reference: Jepsen, `jepsen.checker/unique-ids` (jepsen-io/jepsen, checker.clj).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::history::{integer, History, Op, Outcome};
use crate::verdict::{Anomaly, Budget, CheckResult, Checker, OpRef, Verdict, MAX_ANOMALIES};

/// The unique-ids checker; see the module docs.
#[derive(Clone, Debug, Default)]
pub struct UniqueIds;

/// An id's identity: an integer by value, anything else by its JSON text.
fn id_text(value: &Value) -> String {
    match integer(value) {
        Some(n) => n.to_string(),
        None => value.to_string(),
    }
}

impl Checker for UniqueIds {
    fn name(&self) -> &str {
        "unique-ids"
    }

    fn functions(&self) -> Option<&'static [&'static str]> {
        Some(&["generate"])
    }

    fn check(&self, history: &History, _budget: &Budget) -> CheckResult {
        let mut by_id: BTreeMap<String, Vec<&Op>> = BTreeMap::new();
        let (mut attempted, mut acknowledged, mut without_id) = (0usize, 0usize, 0usize);
        for op in history.ops.iter().filter(|o| o.f == "generate") {
            attempted += 1;
            if op.outcome != Outcome::Ok {
                continue;
            }
            acknowledged += 1;
            if op.complete_value.as_ref().is_none_or(Value::is_null) {
                without_id += 1;
                continue;
            }
            by_id.entry(id_text(&op.value)).or_default().push(op);
        }
        let mut duplicates: Vec<(&String, &Vec<&Op>)> =
            by_id.iter().filter(|(_, ops)| ops.len() > 1).collect();
        // The earliest duplicate first: it is where the store first went wrong.
        duplicates.sort_by_key(|(_, ops)| ops[0].invoke_pos);
        let anomalies: Vec<Anomaly> = duplicates
            .iter()
            .take(MAX_ANOMALIES)
            .map(|(id, ops)| duplicate(id, ops))
            .collect();
        let mut warnings = Vec::new();
        if without_id > 0 {
            warnings.push(format!(
                "{without_id} acknowledged request(s) carried no id (null): check the spec's \
                 value pointer for `generate`"
            ));
        }
        let distinct = by_id.len();
        let (verdict, summary) = if !duplicates.is_empty() {
            let extra: usize = duplicates.iter().map(|(_, ops)| ops.len() - 1).sum();
            (
                Verdict::Invalid,
                format!(
                    "{} id(s) handed out more than once ({extra} duplicate acknowledgement(s) \
                     among {acknowledged} ok of {attempted} requests)",
                    duplicates.len()
                ),
            )
        } else if distinct == 0 {
            (
                Verdict::Unknown,
                format!("no request of {attempted} received an id: nothing to check"),
            )
        } else {
            (
                Verdict::Valid,
                format!("{distinct} distinct id(s) for {acknowledged} ok of {attempted} requests"),
            )
        };
        CheckResult {
            checker: self.name().to_string(),
            verdict,
            summary,
            anomalies,
            details: json!({
                "attempted": attempted,
                "acknowledged": acknowledged,
                "distinct": distinct,
                "duplicated": duplicates.len(),
                "without_id": without_id,
            }),
            warnings,
            duration_ms: None,
        }
    }
}

fn duplicate(id: &str, ops: &[&Op]) -> Anomaly {
    let who: Vec<String> = ops
        .iter()
        .map(|o| {
            let node = o
                .node
                .as_deref()
                .map(|n| format!(" on {n}"))
                .unwrap_or_default();
            format!("line {} (process {}{node})", o.line, o.process)
        })
        .collect();
    Anomaly {
        kind: "duplicate-id".into(),
        explanation: format!(
            "id {id} was handed to {} requests: {}",
            ops.len(),
            who.join(", ")
        ),
        data: json!({
            "id": id,
            "ops": ops.iter().map(|o| json!({
                "line": o.line, "process": o.process, "node": o.node,
            })).collect::<Vec<_>>(),
        }),
        ops: ops.iter().map(|o| OpRef::id(o.id)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Event, Process};

    fn check(rows: &[(u64, &str, Value)]) -> CheckResult {
        let h = History::from_events(rows.iter().map(|(p, t, v)| Event {
            index: 0,
            time: None,
            process: Process::Client(*p),
            kind: serde_json::from_value(json!(t)).unwrap(),
            f: "generate".into(),
            key: None,
            value: v.clone(),
            node: None,
            error: None,
            response: None,
        }))
        .unwrap();
        UniqueIds.check(&h, &Budget::default())
    }

    #[test]
    fn accepts_distinct_ids_and_ignores_failed_requests() {
        let r = check(&[
            (0, "invoke", Value::Null),
            (0, "ok", json!(1)),
            (1, "invoke", Value::Null),
            (1, "ok", json!("/ids/0002")),
            (2, "invoke", Value::Null),
            (2, "fail", Value::Null),
            (3, "invoke", Value::Null),
            (3, "info", Value::Null),
        ]);
        assert_eq!(r.verdict, Verdict::Valid, "{r:?}");
        assert_eq!(r.details["distinct"], 2);
        assert_eq!(r.details["attempted"], 4);
    }

    #[test]
    fn identifies_an_id_handed_out_twice_with_the_requests_that_got_it() {
        let r = check(&[
            (0, "invoke", Value::Null),
            (1, "invoke", Value::Null),
            (0, "ok", json!(8)),
            (1, "ok", json!("8")),
            (2, "invoke", Value::Null),
            (2, "ok", json!(9)),
        ]);
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!(r.anomalies.len(), 1);
        assert_eq!(r.anomalies[0].kind, "duplicate-id");
        let text = &r.anomalies[0].explanation;
        assert!(text.contains("id 8 was handed to 2 requests"), "{text}");
        assert!(
            text.contains("process 0") && text.contains("process 1"),
            "{text}"
        );
        assert_eq!(r.anomalies[0].data["ops"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_history_in_which_no_request_got_an_id_is_unknown() {
        let r = check(&[(0, "invoke", Value::Null), (0, "fail", Value::Null)]);
        assert_eq!(r.verdict, Verdict::Unknown);
        let r = check(&[(0, "invoke", Value::Null), (0, "ok", Value::Null)]);
        assert_eq!(r.verdict, Verdict::Unknown);
        assert_eq!(r.warnings.len(), 1, "{r:?}");
    }
}
