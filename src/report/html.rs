//! `report.html`: one self-contained page (inline CSS, inline SVG, one small inline script for
//! the timeline window; no network, opens from disk).
//!
//! Sections, top to bottom: the verdict banner; each checker's verdict, summary, anomalies in
//! plain words and failure diagrams; the test (spec, store, nodes, seed, command line, times,
//! versions, op counts); availability during faults; latency and throughput plots; the
//! timeline of every op; the spec as run. All text from the history or the results passes
//! through [`escape::html`](super::escape::html).

use std::fmt::Write as _;

use faultline_checkers::{CheckResult, History, Verdict};

use super::escape::{html, truncate};
use super::plots::Plots;
use super::stats::Counts;
use super::{diagrams, timeline, Results};

/// At most this many anomalies of one checker are listed in the page (results.json has all).
const MAX_ANOMALIES_SHOWN: usize = 100;

const STYLE: &str = r#"
:root{--ok:#2563b5;--fail:#c82828;--info:#de8a00;--valid:#1d7a3a;--invalid:#b3261e;--unknown:#8a6d00}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d1d1f;background:#f6f6f8}
main{max-width:1100px;margin:0 auto;padding:0 16px 48px}
h1{font-size:28px;margin:0}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:16px;margin:16px 0 6px}
.banner{color:#fff;padding:20px 16px;margin:0 0 8px}
.banner .inner{max-width:1100px;margin:0 auto}
.banner.valid{background:var(--valid)}.banner.invalid{background:var(--invalid)}.banner.unknown{background:var(--unknown)}
.banner p{margin:4px 0 0;font-size:15px;opacity:.95}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;font-weight:600;text-transform:uppercase;vertical-align:middle}
.badge.valid{background:var(--valid)}.badge.invalid{background:var(--invalid)}.badge.unknown{background:var(--unknown)}
.card{background:#fff;border:1px solid #e0e0e4;border-radius:6px;padding:12px 16px;margin:10px 0}
table{border-collapse:collapse;margin:6px 0}td,th{border-bottom:1px solid #eee;padding:3px 10px 3px 0;text-align:left;vertical-align:top}
th{font-weight:600;color:#444}td.n{text-align:right;font-variant-numeric:tabular-nums}
code,pre,.mono{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12.5px}
pre{background:#f3f3f6;padding:8px;overflow:auto;max-height:420px;white-space:pre-wrap;word-break:break-all}
.anomaly{margin:6px 0;padding-left:10px;border-left:3px solid var(--invalid)}
.anomaly .kind{font-weight:600}
.plot svg,.diagram svg{max-width:100%;height:auto;display:block}
.muted{color:#666}.warn{color:#8a4b00}
.ok{color:var(--ok)}.fail{color:var(--fail)}.info{color:var(--info)}
#timeline-controls{display:flex;gap:8px;align-items:center;flex-wrap:wrap;margin:6px 0}
#timeline-controls input[type=range]{flex:1;min-width:200px}
#timeline-view{overflow-x:auto;background:#fff;border:1px solid #e0e0e4}
#tl-overview{display:block;width:100%;height:40px;cursor:pointer;background:#fff;border:1px solid #e0e0e4;border-bottom:0}
"#;

/// The whole page.
pub fn page(results: &Results, history: &History, plots: &Plots) -> String {
    let mut out = String::with_capacity(64 * 1024 + history.ops.len() * 12);
    let title = format!(
        "{} — {} — faultline report",
        results.test.spec_name,
        results.verdict.as_str()
    );
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n",
        html(&title)
    );
    banner(&mut out, results);
    out.push_str("<main>\n");
    checkers(&mut out, results, history);
    test_section(&mut out, results);
    availability(&mut out, results);
    plots_section(&mut out, plots);
    out.push_str("<h2 id=\"timeline\">Timeline</h2>\n");
    timeline::section(&mut out, history);
    if let Some(spec) = &results.test.spec_text {
        let _ = write!(
            out,
            "<h2>Spec as run</h2><details><summary>spec.toml</summary><pre>{}</pre></details>",
            html(spec)
        );
    }
    let _ = write!(
        out,
        "<p class=\"muted\">faultline {} · results format {} · re-render with \
         <code>faultline report {}</code></p>\n</main></body></html>\n",
        html(&results.test.versions.faultline),
        results.format_version,
        html(&results.test.run_dir.display().to_string())
    );
    out
}

fn verdict_sentence(v: Verdict) -> &'static str {
    match v {
        Verdict::Valid => "No consistency violation was found.",
        Verdict::Invalid => "A consistency violation was found.",
        Verdict::Unknown => "The checkers could not decide; this is not a pass.",
    }
}

fn banner(out: &mut String, r: &Results) {
    let v = r.verdict.as_str();
    let _ = write!(
        out,
        "<header class=\"banner {v}\" id=\"verdict\" data-verdict=\"{v}\"><div class=\"inner\">\
         <h1>{} — {}</h1><p>{} Exit code {}. {} checker(s), {} operations.</p></div></header>",
        v.to_uppercase(),
        html(&r.test.spec_name),
        verdict_sentence(r.verdict),
        r.exit_code,
        r.checkers.len(),
        r.stats.ops.total
    );
}

fn checkers(out: &mut String, r: &Results, history: &History) {
    out.push_str("<h2 id=\"checkers\">Checkers</h2>\n");
    if r.checkers.is_empty() {
        out.push_str("<p>No checker ran, so nothing was verified.</p>\n");
    }
    for c in &r.checkers {
        checker(out, c, history);
    }
    if !r.history.warnings.is_empty() {
        out.push_str("<h3>History warnings</h3><ul>");
        for w in &r.history.warnings {
            let _ = write!(out, "<li class=\"warn\">{}</li>", html(w));
        }
        out.push_str("</ul>\n");
    }
}

fn checker(out: &mut String, c: &CheckResult, history: &History) {
    let v = c.verdict.as_str();
    let _ = write!(
        out,
        "<section class=\"card checker\" data-checker=\"{}\" data-verdict=\"{v}\">\
         <h3>{} <span class=\"badge {v}\">{v}</span></h3><p>{}</p>",
        html(&c.checker),
        html(&c.checker),
        html(&c.summary)
    );
    for a in c.anomalies.iter().take(MAX_ANOMALIES_SHOWN) {
        let _ = write!(
            out,
            "<div class=\"anomaly\"><span class=\"kind\">{}</span>: {}</div>",
            html(&a.kind),
            html(&truncate(&a.explanation, 4000))
        );
    }
    if c.anomalies.len() > MAX_ANOMALIES_SHOWN {
        let _ = write!(
            out,
            "<p class=\"muted\">… and {} more anomalies, all listed in results.json.</p>",
            c.anomalies.len() - MAX_ANOMALIES_SHOWN
        );
    }
    for w in &c.warnings {
        let _ = write!(out, "<p class=\"warn\">warning: {}</p>", html(w));
    }
    diagrams::for_checker(out, c, history);
    out.push_str("</section>\n");
}

fn row(out: &mut String, name: &str, value: &str) {
    let _ = write!(
        out,
        "<tr><th>{}</th><td>{}</td></tr>",
        html(name),
        html(value)
    );
}

fn test_section(out: &mut String, r: &Results) {
    let m = &r.test;
    out.push_str("<h2 id=\"test\">The test</h2><div class=\"card\"><table>");
    row(out, "spec", &m.spec_name);
    row(out, "store", &m.store);
    row(out, "nodes", &m.nodes.join(", "));
    row(out, "seed", &m.seed.map_or("—".into(), |s| s.to_string()));
    row(out, "command line", &m.command_line.join(" "));
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or("—".into(), |t| {
            t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()
        })
    };
    row(out, "started", &time(m.started));
    row(out, "finished", &time(m.finished));
    row(
        out,
        "duration",
        &m.duration
            .map_or("—".into(), |d| format!("{:.1} s", d.as_secs_f64())),
    );
    let v = &m.versions;
    let versions = format!(
        "faultline {}; store {}; kernel {}",
        v.faultline,
        v.store.as_deref().unwrap_or("—"),
        v.kernel.as_deref().unwrap_or("—")
    );
    row(out, "versions", &versions);
    row(out, "run directory", &m.run_dir.display().to_string());
    for (k, val) in &m.extra {
        row(out, k, val);
    }
    let s = &r.stats;
    let span = s.span_s.map_or("—".into(), |x| format!("{x:.2} s"));
    row(out, "history span", &span);
    row(
        out,
        "processes / keys",
        &format!("{} / {}", s.processes, s.keys),
    );
    out.push_str("</table>\n");
    ops_table(out, s);
    if !s.nemesis.is_empty() {
        out.push_str("<h3>Nemesis events</h3><table>");
        for (f, n) in &s.nemesis {
            let _ = write!(out, "<tr><td>{}</td><td class=\"n\">{n}</td></tr>", html(f));
        }
        out.push_str("</table>");
    }
    if let Some(ok_per_s) = s.ok_per_s {
        let _ = write!(out, "<p>Throughput: {ok_per_s:.1} ok ops/s.</p>");
    }
    out.push_str("</div>\n");
}

/// Op counts and latency by `f`, then for all ops.
fn ops_table(out: &mut String, s: &super::stats::Stats) {
    out.push_str("<h3>Operations</h3><table><tr><th>f</th><th>total</th><th class=\"ok\">ok</th>\
                  <th class=\"fail\">fail</th><th class=\"info\">info</th><th>p50 ms</th><th>p99 ms</th><th>max ms</th></tr>");
    let mut f_row = |name: &str, c: &Counts, q: Option<&super::stats::Quantiles>| {
        let ms = |x: Option<f64>| x.map_or("—".into(), |x| format!("{x:.2}"));
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            html(name),
            c.total,
            c.ok,
            c.fail,
            c.info,
            ms(q.map(|q| q.p50_ms)),
            ms(q.map(|q| q.p99_ms)),
            ms(q.map(|q| q.max_ms))
        );
    };
    for (f, fs) in &s.by_f {
        f_row(f, &fs.counts, fs.latency.as_ref());
    }
    f_row("all", &s.ops, s.latency.as_ref());
    out.push_str("</table>");
}

fn share(c: &Counts) -> String {
    match c.ok_share() {
        Some(s) => format!("{:.1}% ({} of {})", s * 100.0, c.ok, c.total),
        None => "no ops".to_string(),
    }
}

fn availability(out: &mut String, r: &Results) {
    let a = &r.availability;
    out.push_str(
        "<h2 id=\"availability\">Availability</h2><div class=\"card\">\
         <p class=\"muted\">Share of operations that completed ok. An op counts for a fault window \
         when it was invoked while the fault was in force; per side, by the node that served it.</p><table>",
    );
    row(out, "overall", &share(&a.overall));
    row(out, "outside faults", &share(&a.outside_faults));
    for w in &a.windows {
        let healed = w
            .window
            .stop_f
            .as_deref()
            .map_or("never healed".to_string(), |f| format!("until {f}"));
        row(
            out,
            &format!("during {} ({healed})", w.window.label),
            &share(&w.ops),
        );
        for side in &w.sides {
            row(
                out,
                &format!("  side {}", side.nodes.join(",")),
                &share(&side.ops),
            );
        }
    }
    out.push_str("</table></div>\n");
}

fn plots_section(out: &mut String, plots: &Plots) {
    out.push_str("<h2 id=\"plots\">Latency and throughput</h2>\n");
    if let Some(why) = &plots.missing {
        let _ = write!(out, "<p class=\"muted\">{}</p>", html(why));
        return;
    }
    out.push_str(
        "<p class=\"muted\">Shaded bands are fault windows. Points: \
         <span class=\"ok\">ok</span>, <span class=\"fail\">fail</span>, \
         <span class=\"info\">info</span> (unknown outcome). PNG copies sit beside this page.</p>",
    );
    if plots.density {
        out.push_str(
            "<p class=\"muted\">This history is too long for one point per op: the latency plot \
             shows density bins, darker where more ops fall.</p>",
        );
    }
    for (id, svg) in [
        ("plot-latency", &plots.latency_svg),
        ("plot-throughput", &plots.throughput_svg),
    ] {
        if let Some(svg) = svg {
            // plotters escapes the text it draws; our labels are escaped in the data too.
            let _ = write!(out, "<div class=\"card plot\" id=\"{id}\">{svg}</div>");
        }
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
