//! Latency, throughput and availability over time, with the nemesis's fault windows and the
//! store's crashes shaded and labelled, drawn with plotters: to SVG (inlined in the page and
//! saved as `latency.svg`, `throughput.svg`, `availability.svg`) and to PNG beside them.
//!
//! Latency: each completed op is a point at its invocation time, its latency on a log scale,
//! coloured by outcome (ok, fail, info). Above [`DENSITY_THRESHOLD`] ops the plot draws
//! density bins instead (a grid of time × log-latency cells, each shaded by how many ops of
//! each outcome fall in it), which bounds the SVG to a few thousand shapes whatever the
//! history's length. Throughput: completions per second, per outcome, in at most 200 bins.
//! Availability: the share of those completions that were `ok`, per bin (`availability.svg`,
//! `availability.png`); a bin in which nothing completed breaks the line.
//!
//! Every plot shades the nemesis's fault windows (labelled along the top) and the crashes of
//! store processes ([`super::health`]: a dark line where the process died, a faint band until
//! it was restarted or the run ended, labelled `n3 crashed (exit 70)` along the bottom).
//!
//! The PNG backend draws text with DejaVu Sans, shipped in `fonts/` and compiled in, so no
//! system font library is needed.
//!
//! Histories without times (some imported ones) have no latency; the plots are then left out
//! and the page says why.

use std::path::{Path, PathBuf};
use std::sync::Once;

use anyhow::anyhow;
use faultline_checkers::{History, Outcome};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::health::CRASH_KIND;
use super::stats::{latency_ns, FaultWindow, PHASE_KIND};
use super::DENSITY_THRESHOLD;

const SIZE: (u32, u32) = (960, 340);
const DENSITY_COLUMNS: usize = 240;
const DENSITY_ROWS: usize = 60;
const THROUGHPUT_BINS: usize = 200;

pub const OK: RGBColor = RGBColor(37, 99, 181);
pub const FAIL: RGBColor = RGBColor(200, 40, 40);
pub const INFO: RGBColor = RGBColor(222, 138, 0);
/// Crash windows: darker than any fault's colour, drawn with a solid line where the
/// process died and labelled along the bottom, so they never read as a fault.
pub const CRASH: RGBColor = RGBColor(90, 20, 60);
/// Phases of the main phase: a neutral slate, so their bands never read as a fault.
pub const PHASE: RGBColor = RGBColor(60, 80, 100);

/// The plots of one report.
#[derive(Debug, Default)]
pub struct Plots {
    pub latency_svg: Option<String>,
    pub throughput_svg: Option<String>,
    pub availability_svg: Option<String>,
    /// Whether the latency plot shows density bins rather than points.
    pub density: bool,
    /// Why there are no plots, when there are none.
    pub missing: Option<String>,
    pub files: Vec<PathBuf>,
}

pub fn outcome_color(o: Outcome) -> RGBColor {
    match o {
        Outcome::Ok => OK,
        Outcome::Fail => FAIL,
        Outcome::Info => INFO,
    }
}

fn window_color(kind: &str) -> RGBColor {
    match kind {
        "partition" => RGBColor(120, 80, 170),
        "kill" => RGBColor(190, 30, 30),
        "pause" => RGBColor(200, 160, 0),
        "clock" => RGBColor(20, 140, 90),
        "disk" => RGBColor(150, 75, 0),
        CRASH_KIND => CRASH,
        _ => RGBColor(110, 110, 110),
    }
}

/// What the plots draw, computed once and drawn to every backend.
struct PlotData {
    /// (invocation time s, latency ms, outcome); empty in density mode.
    points: Vec<(f64, f64, Outcome)>,
    /// Per outcome, the op count of each density cell (row-major, `DENSITY_ROWS` rows).
    density: Option<[Vec<u32>; 3]>,
    x_max: f64,
    y_min: f64,
    y_max: f64,
    windows: Vec<(f64, f64, String, String)>,
    bin_s: f64,
    /// Per bin: completions per second for ok, fail, info.
    throughput: Vec<[f64; 3]>,
}

pub(super) fn register_font() {
    static FONT: Once = Once::new();
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("fonts/DejaVuSans.ttf");
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // The font is compiled in and known to parse; a failure here is a broken build.
            register_font_style(bytes, style);
        }
    });
}

fn register_font_style(bytes: &'static [u8], style: FontStyle) {
    if plotters::style::register_font("sans-serif", style, bytes).is_err() {
        tracing::warn!("the bundled font could not be loaded; PNG plots will have no text");
    }
}

/// The plots, by the name of their files.
const CHARTS: [&str; 3] = ["latency", "throughput", "availability"];

fn chart<DB: DrawingBackend>(name: &str, root: &Area<DB>, d: &PlotData) -> anyhow::Result<()> {
    match name {
        "latency" => latency_chart(root, d),
        "throughput" => throughput_chart(root, d),
        _ => availability_chart(root, d),
    }
}

/// Draws the plots, saves them in `run_dir` and returns their SVG text for the page.
pub fn draw(run_dir: &Path, history: &History, windows: &[FaultWindow]) -> anyhow::Result<Plots> {
    let Some(data) = plot_data(history, windows) else {
        return Ok(Plots {
            missing: Some(
                "The history has no operation times, so latency and throughput cannot be plotted."
                    .to_string(),
            ),
            ..Plots::default()
        });
    };
    register_font();
    let mut plots = Plots {
        density: data.density.is_some(),
        ..Plots::default()
    };
    for name in CHARTS {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
            chart(name, &root, &data)?;
            root.present()
                .map_err(|e| anyhow!("drawing the {name} plot: {e}"))?;
        }
        let path = run_dir.join(format!("{name}.svg"));
        std::fs::write(&path, &svg)?;
        plots.files.push(path);
        let png = run_dir.join(format!("{name}.png"));
        {
            let root = BitMapBackend::new(&png, SIZE).into_drawing_area();
            chart(name, &root, &data)?;
            root.present()
                .map_err(|e| anyhow!("writing {}: {e}", png.display()))?;
        }
        plots.files.push(png);
        match name {
            "latency" => plots.latency_svg = Some(svg),
            "throughput" => plots.throughput_svg = Some(svg),
            _ => plots.availability_svg = Some(svg),
        }
    }
    Ok(plots)
}

fn plot_data(history: &History, windows: &[FaultWindow]) -> Option<PlotData> {
    let t0 = history.ops.iter().filter_map(|o| o.invoke_time).min()?;
    let secs = |ns: u64| ns.saturating_sub(t0) as f64 / 1e9;
    let mut x_max: f64 = 0.0;
    let (mut y_min, mut y_max) = (f64::MAX, f64::MIN);
    let mut samples: Vec<(f64, f64, Outcome)> = Vec::with_capacity(history.ops.len());
    let mut completions: Vec<(f64, Outcome)> = Vec::with_capacity(history.ops.len());
    for op in &history.ops {
        if let Some(t) = op.invoke_time {
            x_max = x_max.max(secs(t));
        }
        if let (Some(l), Some(t), Some(c)) = (latency_ns(op), op.invoke_time, op.complete_time) {
            // Log scale: a zero latency (coarse clocks) is drawn at one microsecond.
            let ms = (l as f64 / 1e6).max(0.001);
            y_min = y_min.min(ms);
            y_max = y_max.max(ms);
            samples.push((secs(t), ms, op.outcome));
            completions.push((secs(c), op.outcome));
            x_max = x_max.max(secs(c));
        }
    }
    if samples.is_empty() {
        return None;
    }
    let windows: Vec<_> = windows
        .iter()
        .map(|w| {
            let start = w.start_ns.map_or(0.0, secs);
            let end = w.end_ns.map_or(x_max, secs).max(start);
            x_max = x_max.max(end);
            (start, end, w.kind.clone(), w.label.clone())
        })
        .collect();
    let x_max = if x_max > 0.0 { x_max * 1.01 } else { 1.0 };
    let (y_min, y_max) = (y_min / 1.5, (y_max * 1.5).max(y_min * 10.0));
    let (bin_s, throughput) = throughput(&completions, x_max);
    let density = (samples.len() > DENSITY_THRESHOLD).then(|| {
        let mut cells = [
            vec![0u32; DENSITY_COLUMNS * DENSITY_ROWS],
            vec![0u32; DENSITY_COLUMNS * DENSITY_ROWS],
            vec![0u32; DENSITY_COLUMNS * DENSITY_ROWS],
        ];
        let (ly0, ly1) = (y_min.ln(), y_max.ln());
        for &(x, y, o) in &samples {
            let col = ((x / x_max) * DENSITY_COLUMNS as f64) as usize;
            let row = (((y.ln() - ly0) / (ly1 - ly0)) * DENSITY_ROWS as f64) as usize;
            let cell = row.min(DENSITY_ROWS - 1) * DENSITY_COLUMNS + col.min(DENSITY_COLUMNS - 1);
            cells[outcome_index(o)][cell] += 1;
        }
        cells
    });
    if density.is_some() {
        samples = Vec::new();
    }
    Some(PlotData {
        points: samples,
        density,
        x_max,
        y_min,
        y_max,
        windows,
        bin_s,
        throughput,
    })
}

/// A duration in the unit that suits it: `2 s`, `15 ms`, `40 µs`.
fn seconds_text(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.0} s")
    } else if s >= 1e-3 {
        format!("{:.0} ms", s * 1e3)
    } else {
        format!("{:.0} µs", s * 1e6)
    }
}

/// A latency tick label with only the digits that matter (a log axis has odd tick values).
pub(super) fn format_ms(ms: f64) -> String {
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else if ms >= 1.0 {
        format!("{:.3}", ms)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    } else {
        let digits = (-ms.log10()).ceil() as usize + 1;
        format!("{ms:.digits$}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

fn outcome_index(o: Outcome) -> usize {
    match o {
        Outcome::Ok => 0,
        Outcome::Fail => 1,
        Outcome::Info => 2,
    }
}

fn throughput(completions: &[(f64, Outcome)], x_max: f64) -> (f64, Vec<[f64; 3]>) {
    // Whole seconds when the run is short enough, so the y axis reads as ops/s directly.
    let bin_s = if x_max <= THROUGHPUT_BINS as f64 {
        (x_max / 60.0).clamp(1e-6, 1.0)
    } else {
        (x_max / THROUGHPUT_BINS as f64).ceil()
    };
    let bins = ((x_max / bin_s).ceil() as usize).max(1);
    let mut counts = vec![[0f64; 3]; bins];
    for &(t, o) in completions {
        let b = ((t / bin_s) as usize).min(bins - 1);
        counts[b][outcome_index(o)] += 1.0;
    }
    for c in &mut counts {
        for v in c.iter_mut() {
            *v /= bin_s;
        }
    }
    (bin_s, counts)
}

type Area<DB> = DrawingArea<DB, Shift>;

fn err<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> anyhow::Error {
    move |e| anyhow!("drawing the {what} plot: {e}")
}

fn latency_chart<DB: DrawingBackend>(root: &Area<DB>, d: &PlotData) -> anyhow::Result<()> {
    let e = err("latency");
    root.fill(&WHITE).map_err(&e)?;
    let caption = if d.density.is_some() {
        "Latency, density of ops (blue ok, red fail, orange info; log scale)"
    } else {
        "Latency of each operation (log scale)"
    };
    let mut chart = ChartBuilder::on(root)
        .caption(caption, ("sans-serif", 17))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..d.x_max, (d.y_min..d.y_max).log_scale())
        .map_err(&e)?;
    chart
        .configure_mesh()
        .x_desc("time since start (s)")
        .y_desc("latency (ms)")
        .y_label_formatter(&|ms| format_ms(*ms))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(&e)?;
    draw_windows(&mut chart, d, d.y_min, d.y_max).map_err(&e)?;
    if let Some(cells) = &d.density {
        draw_density(&mut chart, d, cells).map_err(&e)?;
    } else {
        for (o, label) in [
            (Outcome::Ok, "ok"),
            (Outcome::Info, "info"),
            (Outcome::Fail, "fail"),
        ] {
            let color = outcome_color(o);
            chart
                .draw_series(
                    d.points
                        .iter()
                        .filter(|p| p.2 == o)
                        .map(|&(x, y, _)| Circle::new((x, y), 2, color.mix(0.7).filled())),
                )
                .map_err(&e)?
                .label(label)
                .legend(move |(x, y)| Circle::new((x, y), 4, color.filled()));
        }
        draw_legend(&mut chart).map_err(&e)?;
    }
    Ok(())
}

/// The density view of the latency plot: one rectangle per non-empty cell of the grid.
fn draw_density<DB: DrawingBackend, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    d: &PlotData,
    cells: &[Vec<u32>; 3],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (ly0, ly1) = (d.y_min.ln(), d.y_max.ln());
    let cw = d.x_max / DENSITY_COLUMNS as f64;
    let totals: Vec<u32> = (0..cells[0].len())
        .map(|i| cells[0][i] + cells[1][i] + cells[2][i])
        .collect();
    let max = totals.iter().copied().max().unwrap_or(1).max(1) as f64;
    // One cell, one rectangle: its colour mixes the outcomes by their counts (so a few
    // failures among many successes tint the cell rather than hide the successes), and
    // its opacity grows with the number of ops in it.
    let rects = totals
        .iter()
        .enumerate()
        .filter(|(_, &n)| n > 0)
        .map(|(i, &n)| {
            let (row, col) = (i / DENSITY_COLUMNS, i % DENSITY_COLUMNS);
            let y = |r: usize| (ly0 + (ly1 - ly0) * r as f64 / DENSITY_ROWS as f64).exp();
            let mix = |c: fn(&RGBColor) -> u8| {
                let sum: f64 = [OK, FAIL, INFO]
                    .iter()
                    .enumerate()
                    .map(|(k, color)| f64::from(c(color)) * f64::from(cells[k][i]))
                    .sum();
                (sum / f64::from(n)).round() as u8
            };
            let color = RGBColor(mix(|c| c.0), mix(|c| c.1), mix(|c| c.2));
            let alpha = 0.3 + 0.7 * ((n as f64).ln_1p() / max.ln_1p());
            Rectangle::new(
                [
                    (col as f64 * cw, y(row)),
                    ((col + 1) as f64 * cw, y(row + 1)),
                ],
                color.mix(alpha).filled(),
            )
        });
    chart.draw_series(rects)?;
    Ok(())
}

fn draw_windows<DB: DrawingBackend, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    d: &PlotData,
    y0: f64,
    y1: f64,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let faults = || {
        d.windows
            .iter()
            .filter(|w| w.2 != CRASH_KIND && w.2 != PHASE_KIND)
    };
    let phases = || d.windows.iter().filter(|w| w.2 == PHASE_KIND);
    // Phases: alternate faint bands behind everything, a line where each begins, and the
    // name along the bottom.
    chart.draw_series(
        phases()
            .enumerate()
            .filter(|(k, _)| k % 2 == 1)
            .map(|(_, (a, b, _, _))| {
                Rectangle::new([(*a, y0), (*b, y1)], PHASE.mix(0.06).filled())
            }),
    )?;
    chart.draw_series(phases().map(|(a, _, _, _)| {
        PathElement::new(vec![(*a, y0), (*a, y1)], PHASE.mix(0.6).stroke_width(1))
    }))?;
    let crashes = || d.windows.iter().filter(|w| w.2 == CRASH_KIND);
    chart.draw_series(faults().map(|(a, b, kind, _)| {
        Rectangle::new([(*a, y0), (*b, y1)], window_color(kind).mix(0.13).filled())
    }))?;
    chart.draw_series(
        crashes()
            .map(|(a, b, _, _)| Rectangle::new([(*a, y0), (*b, y1)], CRASH.mix(0.05).filled())),
    )?;
    chart
        .draw_series(crashes().map(|(a, _, _, _)| {
            PathElement::new(vec![(*a, y0), (*a, y1)], CRASH.stroke_width(2))
        }))?;
    // The height of a label `share` of the way from the bottom, on either scale.
    let at = |share: f64| {
        if y0 > 0.0 && y1 / y0 > 10.0 {
            y0 * (y1 / y0).powf(share)
        } else {
            y0 + (y1 - y0) * share
        }
    };
    // Fault labels sit in the top band of each window, crash labels along the bottom,
    // staggered so that nodes crashing together stay legible. A label needs room: a narrow
    // window gets only its kind, a very narrow one nothing, so dozens of faults stay legible.
    let span = d.x_max.max(f64::MIN_POSITIVE);
    let text = |a: f64, b: f64, kind: &str, label: &str| {
        let share = (b - a) / span;
        if share >= 0.12 {
            Some(super::escape::truncate(label, 28))
        } else if share >= 0.04 {
            Some(kind.to_string())
        } else {
            None
        }
    };
    chart.draw_series(faults().filter_map(|(a, b, kind, label)| {
        Some(Text::new(
            text(*a, *b, kind, label)?,
            (*a, at(0.96)),
            ("sans-serif", 11).into_font().color(&window_color(kind)),
        ))
    }))?;
    chart.draw_series(phases().map(|(a, _, _, label)| {
        Text::new(
            super::escape::truncate(label, 28),
            (*a, at(0.04)),
            ("sans-serif", 12).into_font().color(&PHASE),
        )
    }))?;
    chart.draw_series(
        crashes()
            .enumerate()
            .filter_map(|(k, (a, b, kind, label))| {
                Some(Text::new(
                    text(*a, *b, kind, label)?,
                    (*a, at(0.14 + 0.07 * (k % 4) as f64)),
                    ("sans-serif", 11).into_font().color(&CRASH),
                ))
            }),
    )?;
    Ok(())
}

/// The series legend, in the same place and style on both plots.
pub(super) fn draw_legend<'a, DB: DrawingBackend + 'a, Y: Ranged<ValueType = f64>>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
}

fn throughput_chart<DB: DrawingBackend>(root: &Area<DB>, d: &PlotData) -> anyhow::Result<()> {
    let e = err("throughput");
    root.fill(&WHITE).map_err(&e)?;
    let peak = d
        .throughput
        .iter()
        .flat_map(|b| b.iter().copied())
        .fold(1.0f64, f64::max);
    let y_max = peak * 1.15;
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!(
                "Throughput (completions per second, {} bins)",
                seconds_text(d.bin_s)
            ),
            ("sans-serif", 17),
        )
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..d.x_max, 0f64..y_max)
        .map_err(&e)?;
    chart
        .configure_mesh()
        .x_desc("time since start (s)")
        .y_desc("ops/s")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(&e)?;
    draw_windows(&mut chart, d, 0.0, y_max).map_err(&e)?;
    for (o, label) in [
        (Outcome::Ok, "ok"),
        (Outcome::Info, "info"),
        (Outcome::Fail, "fail"),
    ] {
        let (i, color) = (outcome_index(o), outcome_color(o));
        let line = d
            .throughput
            .iter()
            .enumerate()
            .map(|(b, v)| ((b as f64 + 0.5) * d.bin_s, v[i]));
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(2)))
            .map_err(&e)?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
    }
    draw_legend(&mut chart).map_err(&e)?;
    Ok(())
}

/// The share of completions that were `ok`, per throughput bin; a bin without completions
/// is left out, so the line breaks where nothing completed.
fn availability_chart<DB: DrawingBackend>(root: &Area<DB>, d: &PlotData) -> anyhow::Result<()> {
    let e = err("availability");
    root.fill(&WHITE).map_err(&e)?;
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!(
                "Availability (share of completions that were ok, {} bins)",
                seconds_text(d.bin_s)
            ),
            ("sans-serif", 17),
        )
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..d.x_max, 0f64..110.0)
        .map_err(&e)?;
    chart
        .configure_mesh()
        .x_desc("time since start (s)")
        .y_desc("ok (%)")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(&e)?;
    draw_windows(&mut chart, d, 0.0, 110.0).map_err(&e)?;
    let share = |b: &[f64; 3]| {
        let total = b[0] + b[1] + b[2];
        (total > 0.0).then(|| 100.0 * b[0] / total)
    };
    // One line per run of bins with completions.
    let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for (i, b) in d.throughput.iter().enumerate() {
        match share(b) {
            Some(s) => runs
                .last_mut()
                .map_or((), |r| r.push(((i as f64 + 0.5) * d.bin_s, s))),
            None if runs.last().is_some_and(|r| !r.is_empty()) => runs.push(Vec::new()),
            None => {}
        }
    }
    for run in runs.into_iter().filter(|r| !r.is_empty()) {
        chart
            .draw_series(LineSeries::new(run, OK.stroke_width(2)).point_size(2))
            .map_err(&e)?;
    }
    Ok(())
}
