//! The page of a sweep: one spec run over a grid of cluster sizes × fault settings (× rates or
//! concurrencies), and what each point of the grid measured. It shows, beside the verdict at
//! every point, how throughput, latency and availability change as the cluster grows and as
//! faults change: where the store sits on the scalability, fault-tolerance and consistency
//! trade-off.
//!
//! A sweep directory holds:
//!
//! | file | for |
//! |---|---|
//! | `sweep.html` | people: the verdict grid (each cell links to its run's report), throughput, latency quantiles and availability (overall and during faults) against node count, one line per setting, and a table of every figure; inline CSS and SVG, no network |
//! | `sweep.json` | machines: [`Sweep`], every point with its figures |
//! | `sweep.csv` | spreadsheets: one row per point, the same figures |
//! | `runs/<spec>/<stamp>/` | each point's own run directory (history, report, logs) |
//!
//! The three files are written again after every point, so a sweep interrupted by Ctrl-C
//! keeps the points that finished (the one under way is marked `interrupted`).
//!
//! A point's figures are its run's own (`results.json`): ok operations per second, latency
//! quantiles over every completed operation, and availability — the share of operations that
//! completed `ok` — overall and over the operations invoked while a fault was in force.

use std::fs;
use std::path::Path;

use anyhow::{anyhow, Context};
use faultline_checkers::Verdict;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use super::{plots, templates, Results};

pub const PAGE_FILE: &str = "sweep.html";
pub const JSON_FILE: &str = "sweep.json";
pub const CSV_FILE: &str = "sweep.csv";

/// Where a sweep stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SweepState {
    Running,
    Finished,
    /// Stopped by a signal: the points that finished are kept.
    Interrupted,
}

/// How one point of the grid ended.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum PointStatus {
    Pending,
    Running,
    Valid,
    Invalid,
    Unknown,
    /// The run could not be carried out (exit 3).
    Error,
    /// The spec refuses this combination (a partition of a single node): not run.
    NotApplicable,
    /// Under way when the sweep was interrupted.
    Interrupted,
}

impl PointStatus {
    pub fn of(verdict: Verdict) -> PointStatus {
        match verdict {
            Verdict::Valid => PointStatus::Valid,
            Verdict::Invalid => PointStatus::Invalid,
            Verdict::Unknown => PointStatus::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PointStatus::Pending => "pending",
            PointStatus::Running => "running",
            PointStatus::Valid => "valid",
            PointStatus::Invalid => "invalid",
            PointStatus::Unknown => "unknown",
            PointStatus::Error => "error",
            PointStatus::NotApplicable => "not-applicable",
            PointStatus::Interrupted => "interrupted",
        }
    }
}

/// What one run of the sweep measured.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Figures {
    pub ops: usize,
    /// `ok` operations per second over the run.
    pub ok_per_s: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    /// Share of operations that completed `ok`.
    pub availability: Option<f64>,
    /// The same over operations invoked while a fault was in force; `None` without faults.
    pub availability_in_faults: Option<f64>,
    /// The same over operations invoked while no fault was in force.
    pub availability_outside_faults: Option<f64>,
    /// How many fault windows the run had.
    pub fault_windows: usize,
}

impl Figures {
    /// A run's figures, from its results.
    pub fn of(results: &Results) -> Figures {
        let a = &results.availability;
        let mut in_faults = a.overall.clone();
        in_faults.total -= a.outside_faults.total.min(in_faults.total);
        in_faults.ok -= a.outside_faults.ok.min(in_faults.ok);
        let latency = results.stats.latency.as_ref();
        Figures {
            ops: results.stats.ops.total,
            ok_per_s: results.stats.ok_per_s,
            latency_p50_ms: latency.map(|l| l.p50_ms),
            latency_p95_ms: latency.map(|l| l.p95_ms),
            latency_p99_ms: latency.map(|l| l.p99_ms),
            availability: a.overall.ok_share(),
            availability_in_faults: in_faults.ok_share(),
            availability_outside_faults: a.outside_faults.ok_share(),
            fault_windows: a.windows.len(),
        }
    }
}

/// One point of the grid: its coordinates, how it ended and what it measured.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Point {
    pub nodes: usize,
    /// `none`, a fault, faults joined by `+`, or `spec` (the spec's own faults).
    pub nemesis: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    pub status: PointStatus,
    /// Why the point did not run, or why its run could not be carried out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The anomalies found, `nonlinearizable ×3`; `-` for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anomalies: Option<String>,
    /// The run directory, relative to the sweep directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub figures: Option<Figures>,
}

impl Point {
    /// The line this point belongs to on the plots: every coordinate but the node count.
    pub fn series(&self) -> String {
        let mut label = self.nemesis.clone();
        if let Some(r) = self.rate {
            label.push_str(&format!(", rate {r}"));
        }
        if let Some(c) = self.concurrency {
            label.push_str(&format!(", {c} workers"));
        }
        label
    }
}

/// A whole sweep: `sweep.json`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Sweep {
    pub format: String,
    pub spec_name: String,
    pub spec_file: String,
    /// Every point runs with this seed, so that the points differ by their coordinates only.
    pub seed: u64,
    pub command_line: Vec<String>,
    /// When the sweep started (UTC, RFC 3339).
    pub started: String,
    /// Every point's phase limits added up: the sweep ends within this.
    pub bound_s: u64,
    pub state: SweepState,
    pub points: Vec<Point>,
}

impl Sweep {
    /// The series in grid order, each with its points by node count.
    fn series(&self) -> Vec<(String, Vec<&Point>)> {
        let mut out: Vec<(String, Vec<&Point>)> = Vec::new();
        for p in &self.points {
            let label = p.series();
            match out.iter_mut().find(|(l, _)| *l == label) {
                Some((_, points)) => points.push(p),
                None => out.push((label, vec![p])),
            }
        }
        for (_, points) in &mut out {
            points.sort_by_key(|p| p.nodes);
        }
        out
    }

    fn node_counts(&self) -> Vec<usize> {
        let mut nodes: Vec<usize> = self.points.iter().map(|p| p.nodes).collect();
        nodes.sort_unstable();
        nodes.dedup();
        nodes
    }

    fn count(&self, status: PointStatus) -> usize {
        self.points.iter().filter(|p| p.status == status).count()
    }
}

/// Writes `sweep.json`, `sweep.csv` and `sweep.html` into `dir`.
pub fn write_outputs(dir: &Path, sweep: &Sweep) -> anyhow::Result<()> {
    let json = dir.join(JSON_FILE);
    fs::write(&json, serde_json::to_vec_pretty(sweep)?)
        .with_context(|| format!("cannot write {}", json.display()))?;
    let csv_path = dir.join(CSV_FILE);
    fs::write(&csv_path, csv_text(sweep)?)
        .with_context(|| format!("cannot write {}", csv_path.display()))?;
    let page = dir.join(PAGE_FILE);
    fs::write(&page, page_html(sweep)?)
        .with_context(|| format!("cannot write {}", page.display()))?;
    Ok(())
}

/// One row per point, every figure in its own column, empty where there is none.
fn csv_text(sweep: &Sweep) -> anyhow::Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "nodes",
        "nemesis",
        "rate",
        "concurrency",
        "status",
        "anomalies",
        "ops",
        "ok_per_s",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "availability",
        "availability_in_faults",
        "availability_outside_faults",
        "fault_windows",
        "seed",
        "run_dir",
        "reason",
    ])?;
    let num = |x: Option<f64>| x.map(|x| format!("{x:.6}")).unwrap_or_default();
    for p in &sweep.points {
        let f = p.figures.clone().unwrap_or_default();
        let has = p.figures.is_some();
        w.write_record([
            p.nodes.to_string(),
            p.nemesis.clone(),
            p.rate.map(|r| r.to_string()).unwrap_or_default(),
            p.concurrency.map(|c| c.to_string()).unwrap_or_default(),
            p.status.as_str().to_string(),
            p.anomalies.clone().unwrap_or_default(),
            if has {
                f.ops.to_string()
            } else {
                String::new()
            },
            num(f.ok_per_s),
            num(f.latency_p50_ms),
            num(f.latency_p95_ms),
            num(f.latency_p99_ms),
            num(f.availability),
            num(f.availability_in_faults),
            num(f.availability_outside_faults),
            if has {
                f.fault_windows.to_string()
            } else {
                String::new()
            },
            p.seed.map(|s| s.to_string()).unwrap_or_default(),
            p.run_dir.clone().unwrap_or_default(),
            p.reason.clone().unwrap_or_default(),
        ])?;
    }
    let bytes = w.into_inner().map_err(|e| anyhow!("{e}"))?;
    Ok(String::from_utf8(bytes)?)
}

/// A cell of the verdict grid.
#[derive(Serialize)]
struct Cell {
    status: &'static str,
    link: Option<String>,
    title: String,
}

#[derive(Serialize)]
struct Row {
    series: String,
    cells: Vec<Cell>,
}

/// A row of the figures table, every number already formatted.
#[derive(Serialize)]
struct FigureRow {
    series: String,
    nodes: usize,
    status: &'static str,
    link: Option<String>,
    anomalies: String,
    ops: String,
    ok_per_s: String,
    p50: String,
    p95: String,
    p99: String,
    availability: String,
    in_faults: String,
    reason: String,
}

fn page_html(sweep: &Sweep) -> anyhow::Result<String> {
    let nodes = sweep.node_counts();
    let series = sweep.series();
    let link = |p: &Point| {
        p.run_dir
            .as_ref()
            .filter(|_| p.figures.is_some())
            .map(|d| format!("{d}/{}", super::REPORT_FILE))
    };
    let rows: Vec<Row> = series
        .iter()
        .map(|(label, points)| Row {
            series: label.clone(),
            cells: nodes
                .iter()
                .map(|n| match points.iter().find(|p| p.nodes == *n) {
                    Some(p) => Cell {
                        status: p.status.as_str(),
                        link: link(p),
                        title: p
                            .reason
                            .clone()
                            .or_else(|| p.anomalies.clone())
                            .unwrap_or_default(),
                    },
                    None => Cell {
                        status: "",
                        link: None,
                        title: String::new(),
                    },
                })
                .collect(),
        })
        .collect();
    let pct = |x: Option<f64>| x.map(|x| format!("{:.1} %", x * 100.0)).unwrap_or_default();
    let ms = |x: Option<f64>| x.map(|x| format!("{x:.2}")).unwrap_or_default();
    let figures: Vec<FigureRow> = series
        .iter()
        .flat_map(|(label, points)| points.iter().map(move |p| (label, p)))
        .map(|(label, p)| {
            let f = p.figures.clone();
            let f = f.as_ref();
            FigureRow {
                series: label.clone(),
                nodes: p.nodes,
                status: p.status.as_str(),
                link: link(p),
                anomalies: p.anomalies.clone().unwrap_or_default(),
                ops: f.map(|f| f.ops.to_string()).unwrap_or_default(),
                ok_per_s: f
                    .and_then(|f| f.ok_per_s)
                    .map(|x| format!("{x:.1}"))
                    .unwrap_or_default(),
                p50: ms(f.and_then(|f| f.latency_p50_ms)),
                p95: ms(f.and_then(|f| f.latency_p95_ms)),
                p99: ms(f.and_then(|f| f.latency_p99_ms)),
                availability: pct(f.and_then(|f| f.availability)),
                in_faults: pct(f.and_then(|f| f.availability_in_faults)),
                reason: p.reason.clone().unwrap_or_default(),
            }
        })
        .collect();
    let charts = draw(sweep)?;
    let done = sweep
        .points
        .iter()
        .filter(|p| p.figures.is_some() || p.status == PointStatus::Error)
        .count();
    // Marked safe: plotters' SVG, which escapes its own text (the series labels).
    let svg = |s: &str| minijinja::Value::from_safe_string(s.to_string());
    let context = minijinja::context! {
        spec_name => &sweep.spec_name,
        spec_file => &sweep.spec_file,
        state => match sweep.state {
            SweepState::Running => "running",
            SweepState::Finished => "finished",
            SweepState::Interrupted => "interrupted",
        },
        seed => sweep.seed,
        started => &sweep.started,
        bound_s => sweep.bound_s,
        command_line => sweep.command_line.join(" "),
        total => sweep.points.len(),
        done => done,
        valid => sweep.count(PointStatus::Valid),
        invalid => sweep.count(PointStatus::Invalid),
        unknown => sweep.count(PointStatus::Unknown),
        errors => sweep.count(PointStatus::Error),
        not_applicable => sweep.count(PointStatus::NotApplicable),
        nodes => nodes,
        rows => rows,
        figures => figures,
        charts => charts.iter().map(|(id, title, s)| minijinja::context! {
            id => id, title => title, svg => svg(s)
        }).collect::<Vec<_>>(),
        json_file => JSON_FILE,
        csv_file => CSV_FILE,
    };
    templates::render("sweep.html", context)
}

const SIZE: (u32, u32) = (960, 360);

/// A figure of a point, as a plot reads it.
type Measure = fn(&Figures) -> Option<f64>;

/// One line of a plot: a series label, a measure, and whether it is drawn dashed.
struct Line {
    label: String,
    color: RGBColor,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

/// The plots, as `(id, title, svg)`: throughput, latency quantiles and availability, each
/// against node count with one line per series.
fn draw(sweep: &Sweep) -> anyhow::Result<Vec<(String, String, String)>> {
    plots::register_font();
    let series = sweep.series();
    let lines = |measures: &[(&str, Measure, bool)]| -> Vec<Line> {
        let mut out = Vec::new();
        for (i, (label, points)) in series.iter().enumerate() {
            for (suffix, measure, dashed) in measures {
                let points: Vec<(f64, f64)> = points
                    .iter()
                    .filter_map(|p| Some((p.nodes as f64, measure(p.figures.as_ref()?)?)))
                    .collect();
                out.push(Line {
                    label: if suffix.is_empty() {
                        label.clone()
                    } else {
                        format!("{label} {suffix}")
                    },
                    color: series_color(i),
                    dashed: *dashed,
                    points,
                });
            }
        }
        out
    };
    let nodes = sweep.node_counts();
    let throughput = lines(&[("", |f| f.ok_per_s, false)]);
    let latency = lines(&[
        ("p50", |f| f.latency_p50_ms, false),
        ("p95", |f| f.latency_p95_ms, true),
        ("p99", |f| f.latency_p99_ms, true),
    ]);
    let availability = lines(&[
        ("overall", |f| f.availability.map(|a| a * 100.0), false),
        (
            "during faults",
            |f| f.availability_in_faults.map(|a| a * 100.0),
            true,
        ),
    ]);
    Ok(vec![
        (
            "throughput".into(),
            "Throughput (ok operations per second)".into(),
            chart(&nodes, &throughput, "ok ops/s", Scale::Linear)?,
        ),
        (
            "latency".into(),
            "Latency quantiles (ms, log scale; p95 and p99 dashed)".into(),
            chart(&nodes, &latency, "latency (ms)", Scale::Log)?,
        ),
        (
            "availability".into(),
            "Availability (% of operations ok; during faults dashed)".into(),
            chart(&nodes, &availability, "ok (%)", Scale::Percent)?,
        ),
    ])
}

#[derive(Clone, Copy, PartialEq)]
enum Scale {
    Linear,
    Log,
    Percent,
}

fn series_color(i: usize) -> RGBColor {
    const PALETTE: [RGBColor; 6] = [
        RGBColor(37, 99, 181),
        RGBColor(120, 80, 170),
        RGBColor(190, 30, 30),
        RGBColor(20, 140, 90),
        RGBColor(222, 138, 0),
        RGBColor(90, 90, 90),
    ];
    PALETTE[i % PALETTE.len()]
}

/// One plot as SVG text.
fn chart(nodes: &[usize], lines: &[Line], y_desc: &str, scale: Scale) -> anyhow::Result<String> {
    let e = |e: DrawingAreaErrorKind<_>| anyhow!("drawing the sweep's {y_desc} plot: {e}");
    let x0 = nodes.first().copied().unwrap_or(1) as f64 - 0.5;
    let x1 = nodes.last().copied().unwrap_or(1) as f64 + 0.5;
    let values = lines.iter().flat_map(|l| l.points.iter().map(|p| p.1));
    let y_max = values.clone().fold(0f64, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let mut builder = ChartBuilder::on(&root);
        builder
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(64);
        let x_label = |x: &f64| {
            let n = x.round();
            if (x - n).abs() < 1e-6 && nodes.contains(&(n as usize)) {
                format!("{n}")
            } else {
                String::new()
            }
        };
        let x_labels = ((x1 - x0) * 2.0) as usize + 1;
        if scale == Scale::Log {
            let y_min = values.fold(f64::MAX, f64::min).min(y_max).max(0.001);
            let range = (y_min / 1.5)..(y_max * 1.5).max(y_min * 10.0);
            let mut c = builder
                .build_cartesian_2d(x0..x1, range.log_scale())
                .map_err(e)?;
            c.configure_mesh()
                .x_desc("nodes")
                .y_desc(y_desc)
                .x_labels(x_labels)
                .x_label_formatter(&x_label)
                .y_label_formatter(&|ms| plots::format_ms(*ms))
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(e)?;
            draw_lines(&mut c, lines).map_err(e)?;
        } else {
            let top = if scale == Scale::Percent {
                105.0
            } else {
                (y_max * 1.15).max(1.0)
            };
            let mut c = builder.build_cartesian_2d(x0..x1, 0f64..top).map_err(e)?;
            c.configure_mesh()
                .x_desc("nodes")
                .y_desc(y_desc)
                .x_labels(x_labels)
                .x_label_formatter(&x_label)
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(e)?;
            draw_lines(&mut c, lines).map_err(e)?;
        }
        root.present().map_err(e)?;
    }
    Ok(svg)
}

fn draw_lines<'a, DB: DrawingBackend + 'a, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    lines: &[Line],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    for line in lines.iter().filter(|l| !l.points.is_empty()) {
        let color = line.color;
        let style = color.stroke_width(2);
        if line.dashed {
            chart.draw_series(DashedLineSeries::new(
                line.points.iter().copied(),
                6,
                4,
                style,
            ))?;
        } else {
            chart.draw_series(LineSeries::new(line.points.iter().copied(), style))?;
        }
        chart
            .draw_series(
                line.points
                    .iter()
                    .map(|&p| Circle::new(p, 4, color.filled())),
            )?
            .label(line.label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x - 8, y), (x + 8, y)], color.stroke_width(2))
            });
    }
    plots::draw_legend(chart)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(nodes: usize, nemesis: &str, status: PointStatus, avail: f64) -> Point {
        Point {
            nodes,
            nemesis: nemesis.into(),
            rate: None,
            concurrency: None,
            status,
            reason: None,
            anomalies: Some("-".into()),
            run_dir: Some(format!("runs/demo/{nodes}-{nemesis}")),
            seed: Some(7),
            figures: Some(Figures {
                ops: 100,
                ok_per_s: Some(50.0 * nodes as f64),
                latency_p50_ms: Some(1.0),
                latency_p95_ms: Some(4.0),
                latency_p99_ms: Some(9.0),
                availability: Some(avail),
                availability_in_faults: (nemesis != "none").then_some(avail / 2.0),
                availability_outside_faults: Some(avail),
                fault_windows: usize::from(nemesis != "none"),
            }),
        }
    }

    fn sweep() -> Sweep {
        Sweep {
            format: "faultline-sweep".into(),
            spec_name: "demo".into(),
            spec_file: "workloads/demo.toml".into(),
            seed: 7,
            command_line: vec!["faultline".into(), "sweep".into()],
            started: "2026-12-02T00:00:00Z".into(),
            bound_s: 600,
            state: SweepState::Finished,
            points: vec![
                point(1, "none", PointStatus::Valid, 1.0),
                point(3, "none", PointStatus::Valid, 0.99),
                Point {
                    status: PointStatus::NotApplicable,
                    reason: Some("the isolate-one partition needs at least 2 nodes".into()),
                    figures: None,
                    run_dir: None,
                    ..point(1, "partition", PointStatus::NotApplicable, 0.0)
                },
                point(3, "partition", PointStatus::Invalid, 0.6),
            ],
        }
    }

    #[test]
    fn the_page_has_a_verdict_cell_per_point_linking_its_report_and_three_plots() {
        // minijinja escapes `/` in values; a browser reads it back as `/`.
        let page = page_html(&sweep()).unwrap().replace("&#x2f;", "/");
        assert_eq!(page.matches("<td class=\"cell ").count(), 4, "{page}");
        assert!(page.contains("href=\"runs/demo/3-partition/report.html\""));
        assert!(page.contains("class=\"cell invalid\""));
        assert!(page.contains("class=\"cell not-applicable\""));
        assert_eq!(page.matches("<svg").count(), 3);
        assert!(page.contains("partition during faults"));
    }

    #[test]
    fn the_csv_has_a_row_per_point_with_empty_figures_where_none_were_measured() {
        let text = csv_text(&sweep()).unwrap();
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 4);
        let h = r.headers().unwrap().clone();
        let col = |name: &str| h.iter().position(|c| c == name).unwrap();
        assert_eq!(&rows[3][col("availability_in_faults")], "0.300000");
        assert_eq!(&rows[2][col("status")], "not-applicable");
        assert_eq!(&rows[2][col("ok_per_s")], "");
        assert!(rows[2][col("reason")].contains("at least 2 nodes"));
    }

    #[test]
    fn in_fault_availability_is_what_the_overall_counts_hold_beyond_the_outside_ones() {
        let mut results = Results {
            format: String::new(),
            format_version: 1,
            verdict: Verdict::Valid,
            exit_code: 0,
            test: Default::default(),
            checkers: vec![],
            stats: Default::default(),
            availability: Default::default(),
            history: Default::default(),
        };
        let counts = |total, ok| super::super::stats::Counts {
            total,
            ok,
            fail: total - ok,
            info: 0,
        };
        results.availability.overall = counts(100, 70);
        results.availability.outside_faults = counts(60, 60);
        let f = Figures::of(&results);
        assert_eq!(f.availability, Some(0.7));
        assert_eq!(f.availability_in_faults, Some(0.25));
        assert_eq!(f.availability_outside_faults, Some(1.0));
    }
}
