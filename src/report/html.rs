//! `report.html`: one self-contained page (inline CSS, inline SVG, small inline scripts for
//! the timeline window and the failure explorer; no network, opens from disk).
//!
//! Sections, top to bottom: the verdict banner; each checker's verdict, summary, anomalies in
//! plain words and failure diagrams; the test (spec, store, nodes, seed, command line, times,
//! versions, op counts); availability during faults; latency and throughput plots; the
//! timeline of every op; the spec as run. The page is the template `report.html` (see
//! [`templates`](super::templates)), which escapes every value; this module only gathers
//! the values. The plots' SVG is the one fragment passed as markup.

use faultline_checkers::{CheckResult, History, Verdict};
use minijinja::Value;
use serde::Serialize;

use super::escape::truncate;
use super::plots::Plots;
use super::stats::{Counts, Quantiles, Stats};
use super::{diagrams, templates, timeline, Results};

/// At most this many anomalies of one checker are listed in the page (results.json has all).
const MAX_ANOMALIES_SHOWN: usize = 100;

#[derive(Serialize)]
struct Page<'a> {
    spec_name: &'a str,
    verdict: &'static str,
    sentence: &'static str,
    exit_code: u8,
    total_ops: usize,
    checkers: Vec<Checker<'a>>,
    has_explorer: bool,
    history_warnings: &'a [String],
    test_rows: Vec<(String, String)>,
    ops_rows: Vec<OpsRow>,
    nemesis: Vec<(&'a str, usize)>,
    ok_per_s: Option<String>,
    availability_rows: Vec<(String, String)>,
    plots: PlotsView,
    timeline: Option<timeline::Section>,
    spec_text: Option<&'a str>,
    faultline_version: &'a str,
    format_version: u32,
    run_dir: String,
}

#[derive(Serialize)]
struct Checker<'a> {
    name: &'a str,
    verdict: &'static str,
    summary: &'a str,
    anomalies: Vec<(&'a str, String)>,
    more_anomalies: usize,
    warnings: &'a [String],
    explorers: Vec<diagrams::Explorer>,
    cycles: Vec<super::cycles::CycleView>,
}

#[derive(Serialize)]
struct OpsRow {
    name: String,
    total: usize,
    ok: usize,
    fail: usize,
    info: usize,
    p50: String,
    p99: String,
    max: String,
}

#[derive(Serialize)]
struct PlotsView {
    missing: Option<String>,
    density: bool,
    figures: Vec<Figure>,
}

#[derive(Serialize)]
struct Figure {
    id: &'static str,
    svg: Value,
}

/// The whole page.
pub fn page(results: &Results, history: &History, plots: &Plots) -> String {
    let checkers: Vec<Checker> = results
        .checkers
        .iter()
        .map(|c| checker(c, history))
        .collect();
    let s = &results.stats;
    let page = Page {
        spec_name: &results.test.spec_name,
        verdict: results.verdict.as_str(),
        sentence: verdict_sentence(results.verdict),
        exit_code: results.exit_code,
        total_ops: s.ops.total,
        has_explorer: checkers.iter().any(|c| !c.explorers.is_empty()),
        checkers,
        history_warnings: &results.history.warnings,
        test_rows: test_rows(results),
        ops_rows: ops_rows(s),
        nemesis: s.nemesis.iter().map(|(f, n)| (f.as_str(), *n)).collect(),
        ok_per_s: s.ok_per_s.map(|x| format!("{x:.1}")),
        availability_rows: availability_rows(results),
        plots: plots_view(plots),
        timeline: timeline::section(history),
        spec_text: results.test.spec_text.as_deref(),
        faultline_version: &results.test.versions.faultline,
        format_version: results.format_version,
        run_dir: results.test.run_dir.display().to_string(),
    };
    templates::render("report.html", Value::from_serialize(&page))
        .unwrap_or_else(|e| panic!("the report template failed: {e:#}"))
}

fn verdict_sentence(v: Verdict) -> &'static str {
    match v {
        Verdict::Valid => "No consistency violation was found.",
        Verdict::Invalid => "A consistency violation was found.",
        Verdict::Unknown => "The checkers could not decide; this is not a pass.",
    }
}

fn checker<'a>(c: &'a CheckResult, history: &History) -> Checker<'a> {
    let (explorers, cycles) = diagrams::for_checker(c, history);
    Checker {
        name: &c.checker,
        verdict: c.verdict.as_str(),
        summary: &c.summary,
        anomalies: c
            .anomalies
            .iter()
            .take(MAX_ANOMALIES_SHOWN)
            .map(|a| (a.kind.as_str(), truncate(&a.explanation, 4000)))
            .collect(),
        more_anomalies: c.anomalies.len().saturating_sub(MAX_ANOMALIES_SHOWN),
        warnings: &c.warnings,
        explorers,
        cycles,
    }
}

fn test_rows(r: &Results) -> Vec<(String, String)> {
    let m = &r.test;
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or("—".into(), |t| {
            t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()
        })
    };
    let v = &m.versions;
    let s = &r.stats;
    let mut rows = vec![
        ("spec".into(), m.spec_name.clone()),
        ("store".into(), m.store.clone()),
        ("nodes".into(), m.nodes.join(", ")),
        ("seed".into(), m.seed.map_or("—".into(), |s| s.to_string())),
        ("command line".into(), m.command_line.join(" ")),
        ("started".into(), time(m.started)),
        ("finished".into(), time(m.finished)),
        (
            "duration".into(),
            m.duration
                .map_or("—".into(), |d| format!("{:.1} s", d.as_secs_f64())),
        ),
        (
            "versions".into(),
            format!(
                "faultline {}; store {}; kernel {}",
                v.faultline,
                v.store.as_deref().unwrap_or("—"),
                v.kernel.as_deref().unwrap_or("—")
            ),
        ),
        ("run directory".into(), m.run_dir.display().to_string()),
    ];
    rows.extend(m.extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    rows.push((
        "history span".into(),
        s.span_s.map_or("—".into(), |x| format!("{x:.2} s")),
    ));
    rows.push((
        "processes / keys".into(),
        format!("{} / {}", s.processes, s.keys),
    ));
    rows
}

/// Op counts and latency by `f`, then for all ops.
fn ops_rows(s: &Stats) -> Vec<OpsRow> {
    let row = |name: &str, c: &Counts, q: Option<&Quantiles>| {
        let ms = |x: Option<f64>| x.map_or("—".into(), |x| format!("{x:.2}"));
        OpsRow {
            name: name.to_string(),
            total: c.total,
            ok: c.ok,
            fail: c.fail,
            info: c.info,
            p50: ms(q.map(|q| q.p50_ms)),
            p99: ms(q.map(|q| q.p99_ms)),
            max: ms(q.map(|q| q.max_ms)),
        }
    };
    let mut rows: Vec<OpsRow> = s
        .by_f
        .iter()
        .map(|(f, fs)| row(f, &fs.counts, fs.latency.as_ref()))
        .collect();
    rows.push(row("all", &s.ops, s.latency.as_ref()));
    rows
}

fn share(c: &Counts) -> String {
    match c.ok_share() {
        Some(s) => format!("{:.1}% ({} of {})", s * 100.0, c.ok, c.total),
        None => "no ops".to_string(),
    }
}

fn availability_rows(r: &Results) -> Vec<(String, String)> {
    let a = &r.availability;
    let mut rows = vec![
        ("overall".to_string(), share(&a.overall)),
        ("outside faults".to_string(), share(&a.outside_faults)),
    ];
    for w in &a.windows {
        let healed = w
            .window
            .stop_f
            .as_deref()
            .map_or("never healed".to_string(), |f| format!("until {f}"));
        rows.push((
            format!("during {} ({healed})", w.window.label),
            share(&w.ops),
        ));
        for side in &w.sides {
            rows.push((format!("  side {}", side.nodes.join(",")), share(&side.ops)));
        }
    }
    rows
}

fn plots_view(plots: &Plots) -> PlotsView {
    let figures = [
        ("plot-latency", &plots.latency_svg),
        ("plot-throughput", &plots.throughput_svg),
    ]
    .into_iter()
    .filter_map(|(id, svg)| {
        // Trusted markup, deliberately: plotters drew this SVG and escapes the text it
        // draws (our labels included); nothing else in the page is passed unescaped.
        svg.as_ref().map(|svg| Figure {
            id,
            svg: Value::from_safe_string(svg.clone()),
        })
    })
    .collect();
    PlotsView {
        missing: plots.missing.clone(),
        density: plots.density,
        figures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{results, RunMeta};
    use faultline_checkers::{Anomaly, CheckResult};

    fn render(checks: &[CheckResult]) -> String {
        let history = History::default();
        page(
            &results(&RunMeta::default(), &history, checks),
            &history,
            &Plots::default(),
        )
    }

    fn check(verdict: Verdict) -> CheckResult {
        CheckResult {
            checker: "set-full".into(),
            verdict,
            summary: "3 elements lost".into(),
            anomalies: (0..150)
                .map(|i| Anomaly {
                    kind: "lost".into(),
                    explanation: format!("element {i} was acknowledged and never read"),
                    data: serde_json::Value::Null,
                    ops: Vec::new(),
                })
                .collect(),
            details: serde_json::Value::Null,
            warnings: vec![],
            duration_ms: None,
        }
    }

    #[test]
    fn an_undecided_run_says_it_is_not_a_pass() {
        let page = render(&[check(Verdict::Unknown)]);
        assert!(page.contains("data-verdict=\"unknown\""));
        assert!(page.contains("this is not a pass"));
    }

    #[test]
    fn a_run_without_checkers_is_unknown() {
        let page = render(&[]);
        assert!(page.contains("<header class=\"banner unknown\""));
        assert!(page.contains("No checker ran"));
    }

    #[test]
    fn long_anomaly_lists_are_cut_with_a_pointer_to_results_json() {
        let page = render(&[check(Verdict::Invalid)]);
        assert_eq!(
            page.matches("class=\"anomaly\"").count(),
            MAX_ANOMALIES_SHOWN
        );
        assert!(page.contains("… and 50 more anomalies, all listed in results.json."));
    }
}
