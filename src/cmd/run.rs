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
pub struct RunArgs {
    /// The test spec (TOML), e.g. workloads/etcd-v3.toml.
    #[arg(value_name = "SPEC")]
    pub spec: PathBuf,
    /// Cluster size (overrides `run.nodes`).
    #[arg(long, value_name = "N")]
    pub nodes: Option<usize>,
    /// Concurrent client workers (overrides `run.concurrency`).
    #[arg(long, value_name = "C")]
    pub concurrency: Option<usize>,
    /// Total operations per second, 0 for unlimited (overrides `run.rate`).
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// Length of the main phase in seconds (overrides `run.time_limit_s`).
    #[arg(long, value_name = "SECS")]
    pub time_limit: Option<u64>,
    /// Faults to inject at random, comma-separated: partition,kill,pause; `none` for none.
    /// Replaces the spec's faults and scripted schedule.
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

pub fn execute(args: RunArgs) -> anyhow::Result<Code> {
    let mut loaded = match LoadedSpec::load(&args.spec) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("faultline: error: {e}");
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
        nodes: args.nodes,
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
        eprintln!("faultline: error: {e}");
        return Ok(Code::Error);
    }
    let opts = RunOptions {
        out: args.out.out,
        ..RunOptions::default()
    };
    let outcome = runner::run(&loaded, &opts)?;
    println!(
        "{}: {} ({} ops, seed {}) — {}",
        loaded.spec.name,
        outcome.verdict,
        outcome.ops,
        outcome.seed,
        outcome.run_dir.display()
    );
    for c in &outcome.checks {
        println!("  {}: {} — {}", c.checker, c.verdict, c.summary);
    }
    Ok(outcome.code)
}
