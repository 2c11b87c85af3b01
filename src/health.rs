//! Store health: a store whose processes die on their own, or that never serves again after
//! the faults end, has a bug a CI gate must stop on, whatever its history says.
//!
//! - **Crashes.** From the start of the store until teardown, a [`Watcher`] asks every node,
//!   a few times a second, whether its daemon exited without faultline asking
//!   ([`crate::cluster::Node::unexpected_exit`]: not a `kill`, a `restart` or teardown). Each
//!   such exit is recorded the moment it is seen, as a `node-crash` event of the nemesis
//!   process naming the node, with its status and the last lines of its log:
//!
//!   ```text
//!   {"process":"nemesis","type":"info","f":"node-crash","node":"n2","value":{"node":"n2","status":"exit code 70","log_tail":["..."]}}
//!   ```
//!
//!   and [`check`] makes each one an anomaly (`node-crash`): the run is invalid, unless the
//!   spec says its crashes are expected (`[db] crashes = "note"`), when they are warnings.
//! - **Recovery.** After the final heal and the quiet period, every node must answer the final
//!   reads: a node whose final reads never completed `ok` has not recovered (anomaly
//!   `not-recovered`, with when it last answered `ok`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use faultline_checkers::{Anomaly, CheckResult, History, Outcome, Verdict};
use serde_json::{json, Value};

use crate::client::template::text;
use crate::cluster::Cluster;
use crate::recorder::Recorder;

/// The `f` of a crash event.
pub const CRASH: &str = "node-crash";

/// Lines of a crashed node's log kept in its event.
const TAIL_LINES: usize = 20;

/// How often every node is asked.
const PERIOD: Duration = Duration::from_millis(200);

/// Watches every node's daemon from its own thread until [`Watcher::stop`].
pub struct Watcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    pub fn start(cluster: Arc<Cluster>, rec: Recorder) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("health".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    look(&cluster, &rec);
                    std::thread::sleep(PERIOD);
                }
                // One last look: an exit just before the stop is still news.
                look(&cluster, &rec);
            })
            .ok();
        Watcher { stop, thread }
    }

    /// Stops watching (before faultline stops the store itself).
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.halt();
    }
}

fn look(cluster: &Cluster, rec: &Recorder) {
    for node in cluster.nodes() {
        let Some(exit) = node.unexpected_exit() else {
            continue;
        };
        let name = node.name();
        let tail = crate::db::log_tail(node.as_ref(), TAIL_LINES);
        tracing::error!(
            "{name}: the store's process exited on its own ({exit}); last lines of its log:\n{}",
            tail.iter()
                .map(|l| format!("  | {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        rec.crash(
            name,
            json!({
                "node": name,
                "status": exit.to_string(),
                "exit": exit,
                "log_tail": tail,
            }),
        );
    }
}

/// How a crash weighs on the verdict (`[db] crashes`).
#[derive(serde::Deserialize, serde::Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum CrashPolicy {
    /// A crash makes the run invalid.
    #[default]
    Finding,
    /// A crash is a warning: for stores whose processes are expected to exit.
    Note,
}

/// The store's health over a history: its crashes, and whether every node recovered.
/// `final_reads_from` is the time (history nanoseconds) the final reads began, when they ran.
pub fn check(history: &History, policy: CrashPolicy, final_reads_from: Option<u64>) -> CheckResult {
    let mut anomalies = Vec::new();
    let mut warnings = Vec::new();
    let mut crashes = Vec::new();
    for e in history.nemesis.iter().map(|n| &n.event) {
        if e.f != CRASH {
            continue;
        }
        let node = e.node.clone().unwrap_or_else(|| text(&e.value["node"]));
        let status = text(&e.value["status"]);
        let at = e.time.map(seconds).unwrap_or_default();
        let explanation = format!(
            "the store's process on {node} exited on its own at {at} ({status}).\nIts log ends:\n{}",
            e.value["log_tail"]
                .as_array()
                .map(|l| l.iter().map(text).collect::<Vec<_>>().join("\n"))
                .unwrap_or_default()
        );
        crashes.push(json!({"node": node, "time": e.time, "status": status}));
        match policy {
            CrashPolicy::Finding => anomalies.push(Anomaly {
                kind: CRASH.into(),
                explanation,
                data: e.value.clone(),
                ops: Vec::new(),
            }),
            CrashPolicy::Note => warnings.push(explanation),
        }
    }
    let (recovery, unrecovered) = recovery(history, final_reads_from);
    for (node, last_ok) in &unrecovered {
        anomalies.push(Anomaly {
            kind: "not-recovered".into(),
            explanation: format!(
                "{node} served no `ok` operation in the final reads, after every fault had ended \
                 and the quiet period had passed; {}",
                match last_ok {
                    Some(t) => format!("it last answered `ok` at {}", seconds(*t)),
                    None => "it never answered `ok` in the whole run".into(),
                }
            ),
            data: json!({"node": node, "last_ok": last_ok}),
            ops: Vec::new(),
        });
    }
    let verdict = if anomalies.is_empty() {
        Verdict::Valid
    } else {
        Verdict::Invalid
    };
    let summary = match (crashes.len(), unrecovered.len()) {
        (0, 0) => "no store process exited on its own; every node recovered".to_string(),
        (c, 0) => format!(
            "{c} store process{} exited on {} own{}",
            if c == 1 { "" } else { "es" },
            if c == 1 { "its" } else { "their" },
            if policy == CrashPolicy::Note {
                " (noted, as the spec asks)"
            } else {
                ""
            }
        ),
        (0, u) => format!("{u} node{} never recovered", if u == 1 { "" } else { "s" }),
        (c, u) => format!(
            "{c} store process{} exited on {} own; {u} node{} never recovered",
            if c == 1 { "" } else { "es" },
            if c == 1 { "its" } else { "their" },
            if u == 1 { "" } else { "s" }
        ),
    };
    CheckResult {
        checker: "store-health".into(),
        verdict,
        summary,
        anomalies,
        details: json!({"crashes": crashes, "last_ok": recovery}),
        warnings,
        duration_ms: None,
    }
}

/// Each node's last `ok` (history nanoseconds), by node name.
type LastOk = serde_json::Map<String, Value>;

/// When each node last answered `ok`, and the nodes that answered no final read `ok` (with
/// their last `ok`). Without final reads (they never began) nothing is said of recovery.
fn recovery(
    history: &History,
    final_reads_from: Option<u64>,
) -> (LastOk, Vec<(String, Option<u64>)>) {
    let mut last_ok: std::collections::BTreeMap<String, Option<u64>> = Default::default();
    let mut recovered: std::collections::BTreeMap<String, bool> = Default::default();
    for op in &history.ops {
        let Some(node) = op.node.as_deref() else {
            continue;
        };
        let entry = last_ok.entry(node.to_string()).or_default();
        let final_read = final_reads_from.is_some_and(|t| op.invoke_time.is_some_and(|i| i >= t));
        if final_read {
            recovered.entry(node.to_string()).or_default();
        }
        if op.outcome == Outcome::Ok {
            *entry = (*entry).max(op.complete_time);
            if final_read {
                recovered.insert(node.to_string(), true);
            }
        }
    }
    // A node that never answered `ok` at all did not fail to recover: nothing it served
    // was ever accepted, which the workload's vacuity check reports.
    let unrecovered = recovered
        .iter()
        .filter(|(_, ok)| !**ok)
        .filter_map(|(node, _)| {
            let last = last_ok.get(node).copied().flatten()?;
            Some((node.clone(), Some(last)))
        })
        .collect();
    let map = last_ok
        .into_iter()
        .map(|(node, t)| (node, json!(t)))
        .collect();
    (map, unrecovered)
}

fn seconds(ns: u64) -> String {
    format!("{:.3}s", ns as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_checkers::{Event, EventType, Process};

    fn event(process: Process, kind: EventType, f: &str, time: u64, node: &str) -> Event {
        Event {
            index: 0,
            time: Some(time),
            process,
            kind,
            f: f.into(),
            key: Some("k0".into()),
            value: Value::Null,
            node: Some(node.into()),
            error: None,
            response: None,
        }
    }

    #[test]
    fn a_node_that_never_answered_ok_is_left_to_the_vacuity_check() {
        let mut events = Vec::new();
        events.extend(read(0, "n1", 1, EventType::Fail));
        events.extend(read(1, "n1", 100, EventType::Fail));
        let result = check(&history(events), CrashPolicy::Finding, Some(100_000_000));
        assert_eq!(result.verdict, Verdict::Valid, "{}", result.summary);
    }

    /// A read on `node` invoked at `t` ms, completed with `outcome` 1 ms later.
    fn read(p: u64, node: &str, t: u64, outcome: EventType) -> [Event; 2] {
        [
            event(
                Process::Client(p),
                EventType::Invoke,
                "read",
                t * 1_000_000,
                node,
            ),
            event(
                Process::Client(p),
                outcome,
                "read",
                (t + 1) * 1_000_000,
                node,
            ),
        ]
    }

    fn crash(node: &str, t: u64) -> Event {
        Event {
            value: json!({"node": node, "status": "exit code 70", "log_tail": ["fatal: oops"]}),
            key: None,
            ..event(
                Process::Nemesis,
                EventType::Info,
                CRASH,
                t * 1_000_000,
                node,
            )
        }
    }

    fn history(events: Vec<Event>) -> History {
        History::from_events(events).unwrap()
    }

    #[test]
    fn a_store_process_that_exited_on_its_own_makes_the_run_invalid() {
        let mut events = Vec::new();
        events.extend(read(0, "n1", 1, EventType::Ok));
        events.push(crash("n2", 5));
        events.extend(read(1, "n1", 10, EventType::Ok));
        let result = check(&history(events), CrashPolicy::Finding, None);
        assert_eq!(result.verdict, Verdict::Invalid);
        assert_eq!(result.anomalies.len(), 1);
        let a = &result.anomalies[0];
        assert_eq!(a.kind, "node-crash");
        assert!(a.explanation.contains("n2"), "{}", a.explanation);
        assert!(a.explanation.contains("exit code 70"), "{}", a.explanation);
        assert!(a.explanation.contains("0.005s"), "{}", a.explanation);
        assert!(a.explanation.contains("fatal: oops"), "{}", a.explanation);
    }

    #[test]
    fn a_spec_that_expects_crashes_gets_a_warning_instead() {
        let events = vec![crash("n2", 5)];
        let result = check(&history(events), CrashPolicy::Note, None);
        assert_eq!(result.verdict, Verdict::Valid);
        assert_eq!(result.warnings.len(), 1);
        assert!(result.summary.contains("noted"), "{}", result.summary);
    }

    #[test]
    fn a_node_whose_final_reads_never_succeed_has_not_recovered() {
        let mut events = Vec::new();
        events.extend(read(0, "n1", 1, EventType::Ok));
        events.extend(read(1, "n2", 2, EventType::Ok));
        // The final reads begin at 100 ms: n1 answers, n2 does not.
        events.extend(read(2, "n1", 100, EventType::Ok));
        events.extend(read(3, "n2", 100, EventType::Fail));
        let h = history(events);
        let result = check(&h, CrashPolicy::Finding, Some(100_000_000));
        assert_eq!(result.verdict, Verdict::Invalid);
        assert_eq!(result.anomalies.len(), 1);
        let a = &result.anomalies[0];
        assert_eq!(a.kind, "not-recovered");
        assert!(a.explanation.starts_with("n2 "), "{}", a.explanation);
        assert!(
            a.explanation.contains("last answered `ok` at 0.003s"),
            "{}",
            a.explanation
        );
        // Before the final reads, a failed read is no sign of a cluster that did not recover.
        assert_eq!(
            check(&h, CrashPolicy::Finding, None).verdict,
            Verdict::Valid
        );
    }
}
