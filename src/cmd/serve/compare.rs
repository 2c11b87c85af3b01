//! The compare page: two runs of one spec side by side — verdicts and anomalies, op counts,
//! store crashes, availability (overall, outside faults, in each fault window, the stretches
//! without `ok` outside faults and crashes) and latency quantiles,
//! overall and per `f`. A run without readable results shows what its summary has.

use std::collections::BTreeSet;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{blocking, run_href, Refusal, Shared};
use crate::report::runs::RunSummary;
use crate::report::stats::{Counts, Quantiles};
use crate::report::Results;

/// The compare page's address for runs `a` and `b` (`<spec>/<timestamp>` each).
pub fn href(a: &str, b: &str) -> String {
    let q = |s: &str| percent_encoding::utf8_percent_encode(s, super::SEGMENT).to_string();
    format!("/compare?a={}&b={}", q(a), q(b))
}

#[derive(Deserialize)]
pub struct CompareQuery {
    a: String,
    b: String,
}

/// One line of the table: a section heading, or a label with each run's value.
#[derive(Serialize)]
struct Line {
    section: Option<&'static str>,
    label: String,
    a: String,
    b: String,
}

fn split(id: &str) -> Result<(String, String), Refusal> {
    match id.split_once('/') {
        Some((spec, stamp)) if !spec.is_empty() && !stamp.contains('/') => {
            Ok((spec.to_string(), stamp.to_string()))
        }
        _ => Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            format!("{id:?} is not a run: runs are <spec>/<timestamp>"),
        )),
    }
}

pub async fn page_inner(index: Shared, q: CompareQuery) -> Result<Response, Refusal> {
    let (a, b) = (split(&q.a)?, split(&q.b)?);
    if a.0 != b.0 {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "the compare page sets two runs of one spec side by side; these are of two specs",
        ));
    }
    let spec = a.0.clone();
    let found = blocking(move || {
        let runs = index.list();
        let choices: Vec<RunSummary> = runs.into_iter().filter(|r| r.spec == a.0).collect();
        let side = |(spec, stamp): &(String, String)| {
            let summary = choices.iter().find(|r| &r.stamp == stamp).cloned();
            let results = index.results(spec, stamp).ok();
            (summary, results)
        };
        (side(&a), side(&b), choices)
    })
    .await?;
    let ((Some(sa), ra), (Some(sb), rb), choices) = found else {
        return Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "one of the two runs does not exist",
        ));
    };
    let rows = lines(&sa, ra.as_ref(), &sb, rb.as_ref());
    let choices: Vec<_> = choices
        .iter()
        .map(|r| context! { id => r.id.clone(), stamp => r.stamp.clone(), status => r.status() })
        .collect();
    Ok(super::page(
        "serve_compare.html",
        context! {
            title => format!("compare {spec}"),
            root => "",
            spec,
            choices,
            picked => context! { a => q.a, b => q.b },
            a => context! { id => sa.id.clone(), stamp => sa.stamp.clone(), href => run_href(&sa.id) },
            b => context! { id => sb.id.clone(), stamp => sb.stamp.clone(), href => run_href(&sb.id) },
            rows,
        },
    ))
}

pub async fn handler(State(index): State<Shared>, Query(q): Query<CompareQuery>) -> Response {
    page_inner(index, q)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

fn section(name: &'static str) -> Line {
    Line {
        section: Some(name),
        label: String::new(),
        a: String::new(),
        b: String::new(),
    }
}

fn line(label: impl Into<String>, a: String, b: String) -> Line {
    Line {
        section: None,
        label: label.into(),
        a,
        b,
    }
}

const NONE: &str = "—";

fn counts(c: &Counts) -> String {
    format!(
        "{} ops: {} ok, {} fail, {} info",
        c.total, c.ok, c.fail, c.info
    )
}

fn share(c: Option<&Counts>) -> String {
    match c.and_then(Counts::ok_share) {
        Some(s) => format!("{:.1}% ok", s * 100.0),
        None => NONE.to_string(),
    }
}

fn quantiles(q: Option<&Quantiles>) -> String {
    q.map_or(NONE.to_string(), |q| {
        format!(
            "p50 {:.2} · p95 {:.2} · p99 {:.2} · max {:.2} ms",
            q.p50_ms, q.p95_ms, q.p99_ms, q.max_ms
        )
    })
}

/// The crashes the store-health check saw: how many, on which nodes.
fn crashes(r: &Results) -> String {
    let Some(health) = r.checkers.iter().find(|c| c.checker == "store-health") else {
        return NONE.to_string();
    };
    let nodes: Vec<String> = health.details["crashes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| crate::report::stats::value_text(&c["node"]))
        .collect();
    match nodes.len() {
        0 => "none".to_string(),
        n => format!("{n} ({})", nodes.join(", ")),
    }
}

/// How many stretches without `ok` outside faults and crashes, and the longest.
fn gaps(r: &Results) -> String {
    let a = &r.availability;
    let longest = a.gaps.iter().map(|g| g.length_s).fold(0.0, f64::max);
    match (a.gap_threshold_s, a.gaps.len()) {
        (None, _) => NONE.to_string(),
        (Some(t), 0) => format!("none of {t:.2} s or more"),
        (Some(_), n) => format!("{n}, the longest {longest:.2} s"),
    }
}

/// The rows of the table, from each run's summary and, when readable, its results.
fn lines(
    sa: &RunSummary,
    ra: Option<&Results>,
    sb: &RunSummary,
    rb: Option<&Results>,
) -> Vec<Line> {
    let both = |f: &dyn Fn(&RunSummary, Option<&Results>) -> String| (f(sa, ra), f(sb, rb));
    let mut out = vec![section("Outcome")];
    let (a, b) = both(&|s, _| s.status().to_string());
    out.push(line("verdict", a, b));
    let (a, b) = both(&|s, _| match s.anomalies.join(", ") {
        none if none.is_empty() => NONE.to_string(),
        kinds => kinds,
    });
    out.push(line("anomalies", a, b));
    let (a, b) = both(&|_, r| {
        r.map_or(NONE.to_string(), |r| {
            r.checkers
                .iter()
                .map(|c| format!("{}: {}", c.checker, c.verdict.as_str()))
                .collect::<Vec<_>>()
                .join("; ")
        })
    });
    out.push(line("checkers", a, b));
    let (a, b) = both(&|s, _| s.seed.map_or(NONE.to_string(), |x| x.to_string()));
    out.push(line("seed", a, b));
    let (a, b) = both(&|s, _| {
        s.duration_s
            .map_or(NONE.to_string(), |d| format!("{d:.1} s"))
    });
    out.push(line("duration", a, b));
    let (a, b) = both(&|s, _| counts(&s.ops));
    out.push(line("operations", a, b));
    let (a, b) = both(&|s, _| s.faults.to_string());
    out.push(line("fault events", a, b));
    let (a, b) = both(&|_, r| r.map_or(NONE.to_string(), crashes));
    out.push(line("store crashes", a, b));
    out.push(section("Availability"));
    let (a, b) = both(&|_, r| share(r.map(|r| &r.availability.overall)));
    out.push(line("overall", a, b));
    let (a, b) = both(&|_, r| share(r.map(|r| &r.availability.outside_faults)));
    out.push(line("outside faults", a, b));
    let (a, b) = both(&|_, r| r.map_or(NONE.to_string(), gaps));
    out.push(line("stretches without ok outside faults", a, b));
    let kinds: BTreeSet<String> = [ra, rb]
        .into_iter()
        .flatten()
        .flat_map(|r| r.availability.windows.iter().map(|w| w.window.kind.clone()))
        .collect();
    for kind in kinds {
        let (a, b) = both(&|_, r| {
            let mut c = Counts::default();
            for w in r.iter().flat_map(|r| &r.availability.windows) {
                if w.window.kind == kind {
                    c.total += w.ops.total;
                    c.ok += w.ops.ok;
                    c.fail += w.ops.fail;
                    c.info += w.ops.info;
                }
            }
            share(Some(&c))
        });
        out.push(line(format!("during {kind} faults"), a, b));
    }
    out.push(section("Latency"));
    let (a, b) = both(&|_, r| quantiles(r.and_then(|r| r.stats.latency.as_ref())));
    out.push(line("all ops", a, b));
    let fs: BTreeSet<String> = [ra, rb]
        .into_iter()
        .flatten()
        .flat_map(|r| r.stats.by_f.keys().cloned())
        .collect();
    for f in fs {
        let (a, b) = both(&|_, r| {
            quantiles(
                r.and_then(|r| r.stats.by_f.get(&f))
                    .and_then(|s| s.latency.as_ref()),
            )
        });
        out.push(line(f, a, b));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_checkers::{Event, EventType, History, Process};
    use serde_json::json;

    fn event(p: Process, kind: EventType, f: &str, ms: u64) -> Event {
        Event {
            index: 0,
            time: Some(ms * 1_000_000),
            process: p,
            kind,
            f: f.into(),
            key: None,
            value: json!(null),
            node: Some("n1".into()),
            error: None,
            response: None,
        }
    }

    #[test]
    fn a_run_with_a_crash_and_a_silent_stretch_says_so_beside_the_other() {
        // Reads every 10 ms: ok for a second, failing for two, ok again; then n2 crashes.
        let mut events = Vec::new();
        for (from, to, outcome) in [
            (0, 1000, EventType::Ok),
            (1000, 3000, EventType::Fail),
            (3000, 3500, EventType::Ok),
        ] {
            for t in (from..to).step_by(10) {
                events.push(event(Process::Client(0), EventType::Invoke, "read", t));
                events.push(event(Process::Client(0), outcome, "read", t + 2));
            }
        }
        events.push(Event {
            node: Some("n2".into()),
            value: json!({"node": "n2", "status": "exit code 70"}),
            ..event(Process::Nemesis, EventType::Info, "node-crash", 3500)
        });
        let history = History::from_events(events).unwrap();
        let health = crate::health::check(&history, crate::health::CrashPolicy::Finding, None);
        let meta = crate::report::RunMeta::default();
        let crashed = crate::report::results(&meta, &history, &[health]);
        assert_eq!(crashes(&crashed), "1 (n2)");
        assert_eq!(gaps(&crashed), "1, the longest 2.01 s");
        let quiet = crate::report::results(&meta, &History::default(), &[]);
        assert_eq!(
            crashes(&quiet),
            NONE,
            "no store-health check, nothing to say"
        );
        assert_eq!(gaps(&quiet), NONE);
    }
}
