//! `faultline run SPEC`: a full test from a spec, with command-line overrides. The exit code
//! is the verdict (0 valid, 1 invalid, 2 unknown), or 3 when the test could not be carried
//! out (a bad spec, a store that never became ready, a missing tool).
//!
//! `--repeat N` runs the same spec N times, each with a fresh seed printed before it starts
//! (with `--seed S`: S, S+1, ..., so the series replays), keeps every run directory, and
//! ends with one table — seed, verdict, anomalies, ops/s, report — and the most serious exit
//! code of all runs; `--until-invalid` stops after the first invalid run. A bug that shows
//! once in five runs is found without a shell loop, and its seed is in the table.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::cli::OutArgs;
use crate::exit::Code;
use crate::runner::{self, RunOptions, RunOutcome};
use crate::spec::{LoadedSpec, Overrides};

#[derive(Args, Debug)]
#[command(after_long_help = registries_help())]
pub struct RunArgs {
    /// The test spec (TOML), e.g. workloads/etcd-v3.toml.
    #[arg(value_name = "SPEC")]
    pub spec: PathBuf,
    #[command(flatten)]
    pub overrides: SpecArgs,
    /// Run the test N times, each with a fresh seed (S, S+1, ... with --seed S), keeping
    /// every run directory, then print one summary table; the exit code is the most serious.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: Option<u32>,
    /// With --repeat: stop after the first invalid run.
    #[arg(long, requires = "repeat")]
    pub until_invalid: bool,
    #[command(flatten)]
    pub out: OutArgs,
}

/// The flags that choose a spec's workload and override its settings, shared by `run` and
/// `check-spec`.
#[derive(Args, Debug, Default, Clone)]
pub struct SpecArgs {
    /// The workload to run, of a spec with several (`[workload.NAME]` tables); required
    /// when it has more than one.
    #[arg(long, value_name = "NAME")]
    pub workload: Option<String>,
    /// Cluster size (overrides `run.nodes`), or the ssh backend's hosts, comma-separated:
    /// `host`, `user@host` or `user@host:port` (replaces `ssh.hosts` and selects the ssh
    /// backend unless --backend says otherwise).
    #[arg(long, value_name = "N|HOSTS", value_parser = parse_nodes)]
    pub nodes: Option<Nodes>,
    /// Concurrent client workers (overrides `run.concurrency`).
    #[arg(long, value_name = "C")]
    pub concurrency: Option<usize>,
    /// Total operations per second, 0 for unlimited (overrides `run.rate`).
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// Length of the main phase in seconds (overrides `run.time_limit_s`).
    #[arg(long, value_name = "SECS")]
    pub time_limit: Option<u64>,
    /// Faults to inject at random, comma-separated (listed below under "Faults"); `none` for
    /// none. Replaces the spec's faults and scripted schedule.
    #[arg(long, value_name = "FAULTS", value_delimiter = ',')]
    pub nemesis: Option<Vec<String>>,
    /// The seed of every random choice; a run's seed replays it.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Node backend: local (network namespaces, root), loopback (no root, no partitions) or
    /// ssh (real hosts, from `[ssh]` or --nodes-file).
    #[arg(long, value_name = "BACKEND")]
    pub backend: Option<String>,
    /// The ssh backend's hosts, one per node: `host`, `user@host` or `user@host:port`, one per
    /// line or comma-separated, `#` comments (replaces `ssh.hosts`).
    #[arg(long, value_name = "FILE")]
    pub nodes_file: Option<PathBuf>,
    /// Accept any ssh host key and record none (StrictHostKeyChecking=no), for a lab.
    #[arg(long)]
    pub insecure_host_keys: bool,
}

impl SpecArgs {
    /// Loads `spec` with the chosen workload, then applies the overrides; the error is
    /// located in the file or names the flag.
    pub fn load(self, spec: &Path) -> Result<LoadedSpec, crate::spec::SpecError> {
        let mut loaded = LoadedSpec::load_workload(spec, self.workload.as_deref())?;
        loaded.apply(&self.into_overrides())?;
        Ok(loaded)
    }

    fn into_overrides(self) -> Overrides {
        let nemesis = self.nemesis.map(|faults| {
            faults
                .into_iter()
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty() && f != "none")
                .collect()
        });
        Overrides {
            nodes: match &self.nodes {
                Some(Nodes::Count(n)) => Some(*n),
                _ => None,
            },
            hosts: match self.nodes {
                Some(Nodes::Hosts(hosts)) => Some(hosts),
                _ => None,
            },
            concurrency: self.concurrency,
            rate: self.rate,
            time_limit_s: self.time_limit,
            nemesis,
            seed: self.seed,
            backend: self.backend,
            nodes_file: self.nodes_file,
            insecure_host_keys: self.insecure_host_keys,
        }
    }
}

/// What a spec may name, from the registries themselves, so that the help cannot drift.
pub(crate) fn registries_help() -> String {
    use crate::cluster::Topology;
    use crate::nemesis::Fault;
    let checkers: Vec<&str> = faultline_checkers::registry::CHECKERS
        .iter()
        .map(|c| c.name)
        .collect();
    let workloads: Vec<String> = crate::workload::REGISTRY
        .iter()
        .map(|w| {
            format!(
                "{}: {} ({}; checked with {})",
                w.kind.name(),
                w.about,
                w.fs.join(", "),
                w.default_checker
            )
        })
        .collect();
    format!(
        "Workloads ([workload] name):\n  {}\n\nFaults (--nemesis, [nemesis] faults):\n  {}\n\n\
         Topologies ([nemesis] topologies): {}, or components such as n1,n2|n3,n4,n5\n\n\
         Checkers ([checker] name): {}",
        workloads.join("\n  "),
        Fault::names().join(", "),
        Topology::NAMES.join(", "),
        checkers.join(", ")
    )
}

/// `--nodes`: a count, or a list of hosts.
#[derive(Clone, Debug, PartialEq)]
pub enum Nodes {
    Count(usize),
    Hosts(Vec<String>),
}

fn parse_nodes(text: &str) -> Result<Nodes, String> {
    if let Ok(n) = text.trim().parse::<usize>() {
        return Ok(Nodes::Count(n));
    }
    let hosts: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(String::from)
        .collect();
    if hosts.is_empty() {
        return Err("expected a node count or hosts such as host1,host2,host3".into());
    }
    if let Some(bad) = hosts.iter().find(|h| h.contains(char::is_whitespace)) {
        return Err(format!(
            "{bad:?} is not a host: hosts are separated by commas"
        ));
    }
    Ok(Nodes::Hosts(hosts))
}

pub fn execute(args: RunArgs) -> anyhow::Result<Code> {
    let mut loaded = match args.overrides.load(&args.spec) {
        Ok(l) => l,
        Err(e) => {
            crate::errln!("faultline: error: {e}");
            return Ok(Code::Error);
        }
    };
    let opts = RunOptions {
        out: args.out.out,
        ..RunOptions::default()
    };
    let Some(times) = args.repeat else {
        let outcome = runner::run(&loaded, &opts)?;
        print_outcome(&loaded.spec.name, &outcome);
        return Ok(outcome.code);
    };
    repeat(&mut loaded, &opts, times, args.until_invalid)
}

fn print_outcome(name: &str, outcome: &RunOutcome) {
    crate::outln!(
        "{}: {} ({} ops, seed {}) — {}",
        name,
        outcome.verdict,
        outcome.ops,
        outcome.seed,
        outcome.run_dir.display()
    );
    for c in &outcome.checks {
        crate::outln!("  {}: {} — {}", c.checker, c.verdict, c.summary);
        print_placed(c);
    }
}

/// One line of the summary table.
struct Row {
    seed: u64,
    code: Code,
    verdict: String,
    anomalies: String,
    ops_per_s: Option<f64>,
    report: Option<PathBuf>,
}

/// `--repeat`: the runs one after another, then the table.
fn repeat(
    loaded: &mut LoadedSpec,
    opts: &RunOptions,
    times: u32,
    until_invalid: bool,
) -> anyhow::Result<Code> {
    let first_seed = loaded.spec.run.seed;
    let main_s = loaded.spec.main_s().max(1) as f64;
    let mut rows = Vec::new();
    for i in 0..times {
        let seed = match first_seed {
            Some(s) => s.wrapping_add(u64::from(i)),
            None => rand::random::<u64>(),
        };
        crate::outln!("run {}/{times}: seed {seed}", i + 1);
        loaded.spec.run.seed = Some(seed);
        let row = match runner::run(loaded, opts) {
            Ok(outcome) => {
                print_outcome(&loaded.spec.name, &outcome);
                Row {
                    seed,
                    code: outcome.code,
                    verdict: outcome.verdict.to_string(),
                    anomalies: anomaly_summary(&outcome),
                    ops_per_s: Some(outcome.ops as f64 / main_s),
                    report: Some(outcome.run_dir.join("report.html")),
                }
            }
            Err(e) => {
                crate::errln!("faultline: error: {e:#}");
                Row {
                    seed,
                    code: Code::Error,
                    verdict: "error".into(),
                    anomalies: first_line(&format!("{e:#}"), 60),
                    ops_per_s: None,
                    report: None,
                }
            }
        };
        let invalid = row.code == Code::Invalid;
        rows.push(row);
        if invalid && until_invalid {
            crate::outln!(
                "run {}/{times} is invalid: stopping (--until-invalid)",
                i + 1
            );
            break;
        }
    }
    crate::outln!("\n{}", table(&rows));
    Ok(rows
        .iter()
        .fold(Code::Valid, |worst, r| worst.worst(r.code)))
}

/// The kinds of anomaly the run's checkers listed, each with how many, in the order found:
/// `wrong-total ×12, negative-value ×1`; `-` for none.
pub(crate) fn anomaly_summary(outcome: &RunOutcome) -> String {
    let mut kinds: Vec<(&str, usize)> = Vec::new();
    for a in outcome.checks.iter().flat_map(|c| &c.anomalies) {
        match kinds.iter_mut().find(|(k, _)| *k == a.kind) {
            Some((_, n)) => *n += 1,
            None => kinds.push((&a.kind, 1)),
        }
    }
    if kinds.is_empty() {
        return "-".into();
    }
    kinds
        .iter()
        .map(|(k, n)| format!("{k} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first line of `text`, cut to `max` characters.
pub(crate) fn first_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    match line.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_string(),
    }
}

/// The summary table, columns padded to their widest cell.
fn table(rows: &[Row]) -> String {
    let header = ["run", "seed", "verdict", "anomalies", "ops/s", "report"].map(String::from);
    let mut cells: Vec<[String; 6]> = vec![header];
    for (i, r) in rows.iter().enumerate() {
        cells.push([
            (i + 1).to_string(),
            r.seed.to_string(),
            r.verdict.clone(),
            r.anomalies.clone(),
            r.ops_per_s
                .map(|x| format!("{x:.1}"))
                .unwrap_or_else(|| "-".into()),
            r.report
                .as_deref()
                .map(Path::display)
                .map(|p| p.to_string())
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|c| {
            cells
                .iter()
                .map(|row| row[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    cells
        .iter()
        .map(|row| {
            row.iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell}{}", " ".repeat(w - cell.chars().count())))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where and when the ops of a check's first anomalies ran, one line each, so that an
/// anomaly can be put beside the faults without opening the report.
fn print_placed(c: &faultline_checkers::CheckResult) {
    const SHOWN: usize = 3;
    for a in c.anomalies.iter().take(SHOWN) {
        if let Some(placed) = a.placed() {
            crate::outln!("    {}: {placed}", a.kind);
        }
    }
    if c.anomalies.len() > SHOWN {
        crate::outln!(
            "    and {} more anomalies (results.json, report.html)",
            c.anomalies.len() - SHOWN
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seed: u64, verdict: &str, anomalies: &str) -> Row {
        Row {
            seed,
            code: Code::Valid,
            verdict: verdict.into(),
            anomalies: anomalies.into(),
            ops_per_s: Some(98.04),
            report: Some(PathBuf::from(format!("reports/x/{seed}/report.html"))),
        }
    }

    #[test]
    fn the_summary_table_aligns_every_run_under_its_header() {
        let text = table(&[
            row(7, "valid", "-"),
            row(123456789, "invalid", "wrong-total ×3"),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("run  seed"), "{text}");
        let column = lines[0].find("verdict").unwrap();
        assert_eq!(lines[1].find("valid"), Some(column), "{text}");
        assert_eq!(lines[2].find("invalid"), Some(column), "{text}");
        assert!(lines[2].contains("wrong-total ×3") && lines[2].contains("98.0"));
        assert!(
            lines[2].ends_with("reports/x/123456789/report.html"),
            "{text}"
        );
    }

    #[test]
    fn an_error_is_summed_up_by_its_first_line_cut_short() {
        assert_eq!(first_line("no ready node\nmore", 60), "no ready node");
        assert_eq!(first_line("abcdef", 3), "abc…");
    }

    #[test]
    fn nodes_takes_a_count_or_a_list_of_hosts() {
        assert_eq!(parse_nodes("5"), Ok(Nodes::Count(5)));
        assert_eq!(
            parse_nodes("10.0.0.1, admin@db2:2222"),
            Ok(Nodes::Hosts(vec![
                "10.0.0.1".into(),
                "admin@db2:2222".into()
            ]))
        );
        assert!(parse_nodes(" , ").is_err());
        assert!(parse_nodes("db1 db2").is_err());
    }
}
