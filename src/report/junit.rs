//! `junit.xml`: the verdict in the format CI systems already show natively.
//!
//! One `<testsuite>` per run, named after the spec; one `<testcase>` per checker. An
//! `invalid` checker is a `<failure>` whose message is its summary and whose text lists every
//! anomaly with its explanation; an `unknown` checker is an `<error>` (the check could not
//! decide, which must not look like a pass); a `valid` one is a plain test case. Each test
//! case's `time` is how long its check took (0 for results that did not record it). The run's
//! seed, store and command line are `<property>` elements, so a failure can be replayed from
//! the CI page. Everything is escaped (values come from the store under test).

use std::fmt::Write as _;

use faultline_checkers::Verdict;

use super::escape::{truncate, xml};
use super::Results;

/// The `junit.xml` document of a run.
pub fn junit_xml(results: &Results) -> String {
    let meta = &results.test;
    let count = |v: Verdict| results.checkers.iter().filter(|c| c.verdict == v).count();
    let (failures, errors) = (count(Verdict::Invalid), count(Verdict::Unknown));
    let seconds = meta.duration.map_or(0.0, |d| d.as_secs_f64());
    let suite = xml(&meta.spec_name);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"faultline\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{seconds:.3}\">",
        results.checkers.len()
    );
    let timestamp = meta
        .started
        .map(|t| format!(" timestamp=\"{}\"", t.format("%Y-%m-%dT%H:%M:%S")))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "  <testsuite name=\"{suite}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{seconds:.3}\"{timestamp}>",
        results.checkers.len()
    );
    out.push_str("    <properties>\n");
    let mut property = |name: &str, value: &str| {
        let _ = writeln!(
            out,
            "      <property name=\"{}\" value=\"{}\"/>",
            xml(name),
            xml(value)
        );
    };
    property("store", &meta.store);
    property("nodes", &meta.nodes.join(","));
    if let Some(seed) = meta.seed {
        property("seed", &seed.to_string());
    }
    property("command_line", &meta.command_line.join(" "));
    property("run_dir", &meta.run_dir.display().to_string());
    property("verdict", results.verdict.as_str());
    for (k, v) in &meta.extra {
        property(k, v);
    }
    out.push_str("    </properties>\n");
    for c in &results.checkers {
        // A result from before durations were recorded (or a check that did not run) says 0.
        let case_seconds = c.duration_ms.map_or(0.0, |ms| ms / 1e3);
        let _ = write!(
            out,
            "    <testcase classname=\"faultline.{suite}\" name=\"{}\" time=\"{case_seconds:.3}\"",
            xml(&c.checker)
        );
        let tag = match c.verdict {
            Verdict::Valid => {
                out.push_str("/>\n");
                continue;
            }
            Verdict::Invalid => "failure",
            Verdict::Unknown => "error",
        };
        let kind = c
            .anomalies
            .first()
            .map_or(c.verdict.as_str(), |a| a.kind.as_str());
        let _ = writeln!(
            out,
            ">\n      <{tag} message=\"{}\" type=\"{}\">{}</{tag}>\n    </testcase>",
            xml(&truncate(&c.summary, 500)),
            xml(kind),
            xml(&body(c))
        );
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn body(c: &faultline_checkers::CheckResult) -> String {
    let mut text = format!("{}: {}\n", c.verdict, c.summary);
    // A CI page is no place for ten thousand anomalies; results.json and the report have all.
    for a in c.anomalies.iter().take(50) {
        let _ = writeln!(text, "- {}: {}", a.kind, truncate(&a.explanation, 2000));
    }
    if c.anomalies.len() > 50 {
        let _ = writeln!(
            text,
            "… and {} more anomalies (see results.json)",
            c.anomalies.len() - 50
        );
    }
    for w in &c.warnings {
        let _ = writeln!(text, "warning: {w}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{results, RunMeta};
    use faultline_checkers::{Anomaly, CheckResult, History};
    use std::time::Duration;

    fn check(verdict: Verdict, explanation: &str) -> CheckResult {
        CheckResult {
            checker: "linearizable".into(),
            verdict,
            summary: "key k1 is not linearizable".into(),
            anomalies: vec![Anomaly {
                kind: "nonlinearizable".into(),
                explanation: explanation.into(),
                data: serde_json::Value::Null,
                ops: Vec::new(),
            }],
            details: serde_json::Value::Null,
            warnings: vec![],
            duration_ms: None,
        }
    }

    #[test]
    fn an_invalid_checker_is_a_failure_carrying_its_explanation() {
        let meta = RunMeta {
            spec_name: "etcd".into(),
            seed: Some(7),
            ..RunMeta::default()
        };
        let r = results(
            &meta,
            &History::default(),
            &[check(Verdict::Invalid, "read 3 after write 4 <b>")],
        );
        let doc = junit_xml(&r);
        assert!(doc.contains("failures=\"1\""));
        assert!(doc
            .contains("<failure message=\"key k1 is not linearizable\" type=\"nonlinearizable\">"));
        assert!(doc.contains("read 3 after write 4 &lt;b&gt;"));
        assert!(doc.contains("<property name=\"seed\" value=\"7\"/>"));
    }

    #[test]
    fn an_unknown_checker_is_an_error_not_a_pass() {
        let r = results(
            &RunMeta::default(),
            &History::default(),
            &[check(Verdict::Unknown, "budget")],
        );
        let doc = junit_xml(&r);
        assert!(doc.contains("errors=\"1\""));
        assert!(doc.contains("<error message="));
    }

    #[test]
    fn each_testcase_takes_the_time_its_check_took() {
        let slow = check(Verdict::Invalid, "x").with_duration(Duration::from_millis(2500));
        let old = check(Verdict::Valid, "x");
        let r = results(&RunMeta::default(), &History::default(), &[slow, old]);
        let doc = junit_xml(&r);
        assert!(
            doc.contains("name=\"linearizable\" time=\"2.500\">"),
            "{doc}"
        );
        assert!(
            doc.contains("name=\"linearizable\" time=\"0.000\"/>"),
            "{doc}"
        );
    }
}
