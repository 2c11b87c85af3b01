//! `faultline run SPEC`: a full test from a spec, with command-line overrides. The exit code
//! is the verdict (0 valid, 1 invalid, 2 unknown), or 3 when the test could not be carried
//! out (a bad spec, a store that never became ready, a missing tool).

use std::path::PathBuf;

use clap::Args;

use crate::cli::OutArgs;
use crate::exit::Code;
use crate::runner::{self, RunOptions};
use crate::spec::{LoadedSpec, Overrides};

#[derive(Args, Debug)]
#[command(after_long_help = registries_help())]
pub struct RunArgs {
    /// The test spec (TOML), e.g. workloads/etcd-v3.toml.
    #[arg(value_name = "SPEC")]
    pub spec: PathBuf,
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
    #[command(flatten)]
    pub out: OutArgs,
}

/// What a spec may name, from the registries themselves, so that the help cannot drift.
fn registries_help() -> String {
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
    let mut loaded = match LoadedSpec::load(&args.spec) {
        Ok(l) => l,
        Err(e) => {
            crate::errln!("faultline: error: {e}");
            return Ok(Code::Error);
        }
    };
    let nemesis = args.nemesis.map(|faults| {
        faults
            .into_iter()
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty() && f != "none")
            .collect()
    });
    let overrides = Overrides {
        nodes: match &args.nodes {
            Some(Nodes::Count(n)) => Some(*n),
            _ => None,
        },
        hosts: match args.nodes {
            Some(Nodes::Hosts(hosts)) => Some(hosts),
            _ => None,
        },
        concurrency: args.concurrency,
        rate: args.rate,
        time_limit_s: args.time_limit,
        nemesis,
        seed: args.seed,
        backend: args.backend,
        nodes_file: args.nodes_file,
        insecure_host_keys: args.insecure_host_keys,
    };
    if let Err(e) = loaded.apply(&overrides) {
        crate::errln!("faultline: error: {e}");
        return Ok(Code::Error);
    }
    let opts = RunOptions {
        out: args.out.out,
        ..RunOptions::default()
    };
    let outcome = runner::run(&loaded, &opts)?;
    crate::outln!(
        "{}: {} ({} ops, seed {}) — {}",
        loaded.spec.name,
        outcome.verdict,
        outcome.ops,
        outcome.seed,
        outcome.run_dir.display()
    );
    for c in &outcome.checks {
        crate::outln!("  {}: {} — {}", c.checker, c.verdict, c.summary);
        print_placed(c);
    }
    Ok(outcome.code)
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
