//! `faultline sweep SPEC`: one spec run over a grid — node counts × fault settings, and
//! optionally × rates and × concurrencies — to see how throughput, latency, availability and
//! the verdict change as the cluster grows and as faults change.
//!
//! Every point is an ordinary run (the runner, as `run --repeat` calls it) with the grid's
//! coordinates as command-line overrides and one seed for all, so that points differ by their
//! coordinates only; each keeps its run directory under the sweep's. A combination the spec
//! refuses (a partition of a single node) is listed as not applicable and not run; a name or
//! value that is wrong for every point (an unknown fault, a rate below zero) is a usage error
//! (exit 3) before anything starts.
//!
//! Bounded: the sum of every point's phase limits is printed before the first point starts.
//! The page, `sweep.json` and `sweep.csv` (`report::sweep`) are written again after each
//! point, and on Ctrl-C once more with the point under way marked interrupted, so what
//! finished is kept. The exit code is the most serious of the points' (invalid, then error,
//! then unknown, then valid).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::cmd::run::{anomaly_summary, first_line};
use crate::exit::Code;
use crate::plan::Plan;
use crate::report::sweep::{self, Figures, Point, PointStatus, Sweep, SweepState};
use crate::runner::{self, RunOptions};
use crate::spec::{LoadedSpec, Overrides};

#[derive(Args, Debug)]
pub struct SweepArgs {
    /// The test spec (TOML) every point runs, e.g. workloads/demo.toml.
    #[arg(value_name = "SPEC")]
    pub spec: PathBuf,
    /// Cluster sizes, comma-separated: `1,3,5,7`.
    #[arg(long, value_name = "N,...", value_delimiter = ',', required = true)]
    pub nodes: Vec<usize>,
    /// Fault settings, comma-separated: `none`, a fault (`partition`, `kill`, `pause`,
    /// `delay`, ...), faults joined by `+` (`partition+kill`), or `spec` for the spec's own
    /// faults and schedule. Default: `spec`.
    #[arg(long, value_name = "SETTING,...", value_delimiter = ',')]
    pub nemesis: Vec<String>,
    /// Total operations per second, comma-separated: each is a point of the grid.
    #[arg(long, value_name = "R,...", value_delimiter = ',')]
    pub rate: Vec<f64>,
    /// Concurrent client workers, comma-separated: each is a point of the grid.
    #[arg(long, value_name = "C,...", value_delimiter = ',')]
    pub concurrency: Vec<usize>,
    /// Length of every point's main phase in seconds (overrides `run.time_limit_s`).
    #[arg(long, value_name = "SECS")]
    pub time_limit: Option<u64>,
    /// The seed of every point (default: one random seed for the whole sweep).
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Node backend for every point: local or loopback (no partitions).
    #[arg(long, value_name = "BACKEND")]
    pub backend: Option<String>,
    /// Reports root: the sweep lands in DIR/<spec name>-sweep/<UTC timestamp>/, each point's
    /// run under its runs/.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out: PathBuf,
}

/// A fault setting of the grid.
#[derive(Clone, Debug)]
struct Setting {
    label: String,
    /// The faults (`[]` for none); `None` keeps the spec's own.
    faults: Option<Vec<String>>,
}

/// One point to run: its row of the page, and its spec with the overrides applied (or why
/// the spec refuses it).
struct Planned {
    point: Point,
    spec: Option<LoadedSpec>,
}

pub fn execute(args: SweepArgs) -> anyhow::Result<Code> {
    let loaded = match LoadedSpec::load(&args.spec) {
        Ok(l) => l,
        Err(e) => {
            crate::errln!("faultline: error: {e}");
            return Ok(Code::Error);
        }
    };
    let seed = args.seed.unwrap_or_else(rand::random::<u64>);
    let grid = match plan_grid(&loaded, &args, seed) {
        Ok(grid) => grid,
        Err(e) => {
            crate::errln!("faultline: error: {e}");
            return Ok(Code::Error);
        }
    };
    let runnable = grid.iter().filter(|p| p.spec.is_some()).count();
    if runnable == 0 {
        let why = grid
            .iter()
            .find_map(|p| p.point.reason.clone())
            .unwrap_or_else(|| "the grid is empty".into());
        crate::errln!("faultline: error: no point of the grid can run: {why}");
        return Ok(Code::Error);
    }
    let mut bound = Duration::ZERO;
    for p in grid.iter().filter_map(|p| p.spec.as_ref()) {
        bound += Plan::new(p, seed)?.bounds.total();
    }
    let started = chrono::Utc::now();
    let dir =
        crate::rundir::make_run_dir(&args.out, &format!("{}-sweep", loaded.spec.name), started)?;
    let state = Arc::new(Mutex::new(Sweep {
        format: "faultline-sweep".into(),
        spec_name: loaded.spec.name.clone(),
        spec_file: args.spec.display().to_string(),
        seed,
        command_line: std::env::args().collect(),
        started: started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        bound_s: bound.as_secs(),
        state: SweepState::Running,
        points: grid.iter().map(|p| p.point.clone()).collect(),
    }));
    crate::outln!(
        "sweep {}: {} point(s), {} not applicable; every point's phases are bounded: at most {}s in all; seed {seed}; {}",
        loaded.spec.name,
        grid.len(),
        grid.len() - runnable,
        bound.as_secs(),
        dir.join(sweep::PAGE_FILE).display()
    );
    for p in grid.iter().filter(|p| p.spec.is_none()) {
        crate::outln!(
            "  not applicable: {} nodes, {}: {}",
            p.point.nodes,
            p.point.series(),
            p.point.reason.as_deref().unwrap_or("")
        );
    }
    let _ = save(&dir, &state);
    crate::cluster::registry::install_interrupt_teardown()
        .context("cannot install the Ctrl-C handler")?;
    // On Ctrl-C the process exits after teardown: the page is written first, with what
    // finished.
    let _on_interrupt = {
        let (dir, state) = (dir.clone(), state.clone());
        crate::cluster::registry::before_interrupt_teardown(move || {
            if let Ok(mut s) = state.lock() {
                s.state = SweepState::Interrupted;
                for p in &mut s.points {
                    if p.status == PointStatus::Running {
                        p.status = PointStatus::Interrupted;
                    }
                }
            }
            let _ = save(&dir, &state);
            crate::errln!(
                "faultline: the sweep's page keeps the points that finished: {}",
                dir.join(sweep::PAGE_FILE).display()
            );
        })
    };
    let opts = RunOptions {
        out: dir.join("runs"),
        ..RunOptions::default()
    };
    let mut code = Code::Valid;
    for (i, planned) in grid.iter().enumerate() {
        let Some(spec) = &planned.spec else { continue };
        let p = &planned.point;
        crate::outln!(
            "point {}/{}: {} nodes, {}",
            i + 1,
            grid.len(),
            p.nodes,
            p.series()
        );
        set_point(&state, i, |p| p.status = PointStatus::Running);
        let point = run_point(spec, &opts, &dir, p.clone());
        crate::outln!(
            "  {}{}",
            point.status.as_str(),
            point
                .anomalies
                .as_deref()
                .filter(|a| *a != "-")
                .map(|a| format!(": {a}"))
                .or_else(|| point.reason.as_deref().map(|r| format!(": {r}")))
                .unwrap_or_default()
        );
        code = code.worst(match point.status {
            PointStatus::Valid => Code::Valid,
            PointStatus::Invalid => Code::Invalid,
            PointStatus::Unknown => Code::Unknown,
            _ => Code::Error,
        });
        set_point(&state, i, |p| *p = point);
        let _ = save(&dir, &state);
    }
    set_state(&state, SweepState::Finished);
    if !save(&dir, &state) {
        code = code.worst(Code::Error);
    }
    crate::outln!("sweep: {}", dir.join(sweep::PAGE_FILE).display());
    Ok(code)
}

/// The grid in running order (per setting, rate and concurrency, every node count), each
/// point with its spec, or with why the spec refuses it. A setting, rate or concurrency that
/// no point could use is an error.
fn plan_grid(loaded: &LoadedSpec, args: &SweepArgs, seed: u64) -> anyhow::Result<Vec<Planned>> {
    let settings = settings(&args.nemesis)?;
    let mut base = loaded.clone();
    base.apply(&Overrides {
        time_limit_s: args.time_limit,
        backend: args.backend.clone(),
        seed: Some(seed),
        ..Overrides::default()
    })?;
    // Each value alone must be acceptable to the spec; only combinations may be refused.
    for &rate in &args.rate {
        base.clone().apply(&Overrides {
            rate: Some(rate),
            ..Overrides::default()
        })?;
    }
    for &concurrency in &args.concurrency {
        base.clone().apply(&Overrides {
            concurrency: Some(concurrency),
            ..Overrides::default()
        })?;
    }
    let rates = optional(&args.rate);
    let concurrencies = optional(&args.concurrency);
    let mut grid = Vec::new();
    for setting in &settings {
        for &rate in &rates {
            for &concurrency in &concurrencies {
                for &nodes in &args.nodes {
                    let mut spec = base.clone();
                    let applied = spec.apply(&Overrides {
                        nodes: Some(nodes),
                        nemesis: setting.faults.clone(),
                        rate,
                        concurrency,
                        ..Overrides::default()
                    });
                    let reason = applied.as_ref().err().map(|e| e.message.clone());
                    grid.push(Planned {
                        point: Point {
                            nodes,
                            nemesis: setting.label.clone(),
                            rate,
                            concurrency,
                            status: if reason.is_some() {
                                PointStatus::NotApplicable
                            } else {
                                PointStatus::Pending
                            },
                            reason,
                            anomalies: None,
                            run_dir: None,
                            seed: Some(seed),
                            figures: None,
                        },
                        spec: applied.ok().map(|()| spec),
                    });
                }
            }
        }
    }
    Ok(grid)
}

/// The values of an optional axis of the grid; `[None]` (the spec's own) when none is given.
fn optional<T: Copy>(given: &[T]) -> Vec<Option<T>> {
    if given.is_empty() {
        vec![None]
    } else {
        given.iter().copied().map(Some).collect()
    }
}

/// `--nemesis`: each setting's faults, every name checked against the registry.
fn settings(given: &[String]) -> anyhow::Result<Vec<Setting>> {
    if given.is_empty() {
        return Ok(vec![Setting {
            label: "spec".into(),
            faults: None,
        }]);
    }
    given
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            let faults = match s {
                "spec" => None,
                "none" => Some(Vec::new()),
                _ => Some(
                    s.split('+')
                        .map(|f| {
                            let f = f.trim();
                            f.parse::<crate::nemesis::Fault>()
                                .map(|_| f.to_string())
                                .map_err(|e| anyhow::anyhow!("--nemesis {s}: {e}"))
                        })
                        .collect::<anyhow::Result<Vec<String>>>()?,
                ),
            };
            Ok(Setting {
                label: s.to_string(),
                faults,
            })
        })
        .collect()
}

/// Runs one point and reads its figures from the run's own results.
fn run_point(spec: &LoadedSpec, opts: &RunOptions, dir: &Path, mut point: Point) -> Point {
    match runner::run(spec, opts) {
        Ok(outcome) => {
            point.status = PointStatus::of(outcome.verdict);
            point.anomalies = Some(anomaly_summary(&outcome));
            point.seed = Some(outcome.seed);
            point.run_dir = Some(
                outcome
                    .run_dir
                    .strip_prefix(dir)
                    .unwrap_or(&outcome.run_dir)
                    .display()
                    .to_string(),
            );
            let results =
                crate::report::read_results(&outcome.run_dir.join(crate::report::RESULTS_FILE));
            match results {
                Ok(r) => point.figures = Some(Figures::of(&r)),
                Err(e) => point.reason = Some(first_line(&format!("{e:#}"), 200)),
            }
        }
        Err(e) => {
            crate::errln!("faultline: error: {e:#}");
            point.status = PointStatus::Error;
            point.reason = Some(first_line(&format!("{e:#}"), 200));
        }
    }
    point
}

fn set_point(state: &Mutex<Sweep>, i: usize, change: impl FnOnce(&mut Point)) {
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    change(&mut s.points[i]);
}

fn set_state(state: &Mutex<Sweep>, to: SweepState) {
    state.lock().unwrap_or_else(|p| p.into_inner()).state = to;
}

/// Writes the page and its data; a failure is reported, the sweep goes on, and `false` says
/// the files are not up to date.
fn save(dir: &Path, state: &Mutex<Sweep>) -> bool {
    let s = state.lock().unwrap_or_else(|p| p.into_inner());
    match sweep::write_outputs(dir, &s) {
        Ok(()) => true,
        Err(e) => {
            crate::errln!("faultline: error: {e:#}");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(nodes: &[usize], nemesis: &[&str]) -> SweepArgs {
        SweepArgs {
            spec: PathBuf::from("workloads/sweeps/demo-linearizable.toml"),
            nodes: nodes.to_vec(),
            nemesis: nemesis.iter().map(|s| s.to_string()).collect(),
            rate: vec![50.0, 100.0],
            concurrency: vec![],
            time_limit: Some(3),
            seed: None,
            backend: None,
            out: PathBuf::from("reports"),
        }
    }

    fn shipped() -> LoadedSpec {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        LoadedSpec::load(&root.join("workloads/sweeps/demo-linearizable.toml")).unwrap()
    }

    #[test]
    fn the_grid_runs_every_combination_and_lists_a_single_partitioned_node_as_not_applicable() {
        let grid = plan_grid(&shipped(), &args(&[1, 3], &["none", "partition+kill"]), 9).unwrap();
        assert_eq!(grid.len(), 2 * 2 * 2);
        let coords: Vec<(usize, &str, Option<f64>, PointStatus)> = grid
            .iter()
            .map(|p| {
                let p = &p.point;
                (p.nodes, p.nemesis.as_str(), p.rate, p.status)
            })
            .collect();
        assert_eq!(coords[0], (1, "none", Some(50.0), PointStatus::Pending));
        assert_eq!(coords[1], (3, "none", Some(50.0), PointStatus::Pending));
        assert_eq!(
            coords[4],
            (1, "partition+kill", Some(50.0), PointStatus::NotApplicable)
        );
        let three = grid[5].spec.as_ref().unwrap();
        assert_eq!(three.spec.run.nodes, 3);
        assert_eq!(three.spec.run.time_limit_s, 3);
        assert_eq!(three.spec.run.seed, Some(9));
        assert_eq!(three.spec.nemesis.faults.len(), 2);
        assert!(grid[4].point.reason.as_deref().unwrap().contains("2 nodes"));
    }

    #[test]
    fn an_unknown_fault_or_a_bad_rate_is_refused_before_anything_runs() {
        let err = plan_grid(&shipped(), &args(&[3], &["partiton"]), 1)
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("did you mean `partition`"),
            "{err}"
        );
        let mut bad = args(&[3], &["none"]);
        bad.rate = vec![-1.0];
        assert!(plan_grid(&shipped(), &bad, 1).is_err());
    }
}
