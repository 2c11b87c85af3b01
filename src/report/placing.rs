//! Anomalies placed in the run: each op an anomaly names gets the node that served it, when
//! it ran on the history's clock, and the faults in force meanwhile, so an anomaly can be
//! tied to a fault without reading `history.jsonl`.
//!
//! The checkers name the ops ([`faultline_checkers::OpRef`]) and fill where and when they
//! ran, from a `History` ([`faultline_checkers::fill_op_refs`]) or from what a streamed
//! check kept; the fault windows are faultline's own ([`super::stats::FaultLog`]), which is
//! why the faults are added here, the same way for both.

use faultline_checkers::{fill_op_refs, CheckResult, History};

use super::stats::{fault_windows, FaultWindow};

/// Fills every anomaly's ops from `history` and names the faults in force while each ran
/// ([`name_faults`]).
pub fn place_anomalies(checks: &mut [CheckResult], history: &History, nodes: &[String]) {
    fill_op_refs(checks, history);
    name_faults(checks, &fault_windows(history, nodes));
}

/// Lists, for every op an anomaly names, the faults whose window overlaps it (from its
/// invocation to its completion, or to the end of the history), by the op's times as
/// filled in. An op without a time is left without faults.
pub fn name_faults(checks: &mut [CheckResult], windows: &[FaultWindow]) {
    if windows.is_empty() {
        return;
    }
    for op_ref in checks
        .iter_mut()
        .flat_map(|c| c.anomalies.iter_mut())
        .flat_map(|a| a.ops.iter_mut())
    {
        let Some(start) = op_ref.start_ns else {
            continue;
        };
        let end = op_ref.end_ns.unwrap_or(u64::MAX);
        op_ref.faults = windows
            .iter()
            .filter(|w| w.start_ns.is_some_and(|s| s <= end) && w.end_ns.is_none_or(|e| start <= e))
            .map(|w| w.label.clone())
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_checkers::format::jsonl::read_jsonl;
    use faultline_checkers::{registry, Budget};

    #[test]
    fn a_stale_read_during_a_partition_names_its_node_time_and_the_partition() {
        let jsonl = r#"{"process":0,"type":"invoke","f":"write","value":1,"time":1000000000,"node":"n1"}
{"process":0,"type":"ok","f":"write","value":1,"time":1100000000,"node":"n1"}
{"process":"nemesis","type":"info","f":"start-partition","value":{"n3":["n1","n2"],"n1":["n3"],"n2":["n3"]},"time":2000000000}
{"process":1,"type":"invoke","f":"read","value":null,"time":2500000000,"node":"n3"}
{"process":1,"type":"ok","f":"read","value":0,"time":2600000000,"node":"n3"}
{"process":"nemesis","type":"info","f":"stop-partition","value":null,"time":4000000000}
{"process":2,"type":"invoke","f":"read","value":null,"time":4500000000,"node":"n2"}
{"process":2,"type":"ok","f":"read","value":0,"time":4600000000,"node":"n2"}
"#;
        let history = read_jsonl(jsonl.as_bytes(), "h.jsonl").unwrap();
        let checker = registry::build("register", &Default::default()).unwrap();
        let mut checks = vec![checker.check(&history, &Budget::default())];
        let nodes: Vec<String> = ["n1", "n2", "n3"].map(String::from).to_vec();
        place_anomalies(&mut checks, &history, &nodes);
        let placed = checks[0].anomalies[0].placed().unwrap();
        assert!(
            placed.starts_with("op 1 (process 1) on n3 at 2.500 s, during partition"),
            "{placed}"
        );
        assert!(
            placed.contains("n1,n2 | n3") || placed.contains("n3 | n1,n2"),
            "{placed}"
        );
        let json = serde_json::to_value(&checks[0].anomalies[0]).unwrap();
        assert_eq!(json["ops"][0]["node"], "n3");
        assert_eq!(json["ops"][0]["start_s"], 2.5);
    }
}
