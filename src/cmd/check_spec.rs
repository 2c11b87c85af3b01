//! `faultline check-spec SPEC`: everything a run would do before its first operation,
//! without starting anything. The spec is loaded and validated (with the same workload and
//! overrides `run` takes), the test plan is built, the nodes are planned as a run plans them
//! (names, addresses, directories, but no namespace, process or rule), and every template
//! is rendered for every node: each node's role, command line, environment and readiness
//! probe, the write-read probe if asked, and one request of each operation the workload
//! issues, as the client would send it. Exit 0, or 3 with the located error.
//!
//! A spec with several workloads (`[workload.NAME]`) is checked for each, unless
//! `--workload` picks one.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use serde_json::Value;

use super::run::SpecArgs;
use crate::client::http::HttpClient;
use crate::client::Invocation;
use crate::cluster::{BackendKind, Cluster, Node};
use crate::db::{NodePlan, ReadyRequest};
use crate::exit::Code;
use crate::plan::Plan;
use crate::spec::{LoadedSpec, ReadyProbe, ReadySpec};
use crate::workload::Generator;

#[derive(Args, Debug)]
#[command(after_long_help = super::run::registries_help())]
pub struct CheckSpecArgs {
    /// The test spec (TOML), e.g. workloads/redis.toml.
    #[arg(value_name = "SPEC")]
    pub spec: PathBuf,
    #[command(flatten)]
    pub overrides: SpecArgs,
}

pub fn execute(args: CheckSpecArgs) -> anyhow::Result<Code> {
    let names = match &args.overrides.workload {
        Some(name) => vec![Some(name.clone())],
        None => match LoadedSpec::load_workload(&args.spec, None) {
            // One workload, or an error that is not about choosing one.
            Ok(_) => vec![None],
            Err(e) => match workload_names(&args.spec) {
                Some(names) => names.into_iter().map(Some).collect(),
                None => return refuse(e),
            },
        },
    };
    let mut overrides = args.overrides;
    for name in names {
        overrides.workload = name;
        let loaded = match overrides.clone().load(&args.spec) {
            Ok(l) => l,
            Err(e) => return refuse(e),
        };
        print(&loaded)?;
    }
    Ok(Code::Valid)
}

fn refuse(e: crate::spec::SpecError) -> anyhow::Result<Code> {
    crate::errln!("faultline: error: {e}");
    Ok(Code::Error)
}

/// The names of a spec's several workloads, when it has more than one.
fn workload_names(spec: &std::path::Path) -> Option<Vec<String>> {
    let source = std::fs::read_to_string(spec).ok()?;
    crate::spec::workload_names(&source).filter(|names| names.len() > 1)
}

/// Everything a run of `loaded` would start and send, rendered for planned nodes.
fn print(loaded: &LoadedSpec) -> anyhow::Result<()> {
    let spec = &loaded.spec;
    let seed = spec.run.seed.unwrap_or(0);
    let plan = Plan::new(loaded, seed)?;
    let nodes = Cluster::plan_nodes(&plan.cluster)?;
    let plans = plan.commands(&nodes)?;
    let workload = match &loaded.workload {
        Some(name) => format!("workload `{name}` ({})", spec.workload.name.name()),
        None => format!("workload {}", spec.workload.name.name()),
    };
    crate::outln!(
        "{}: the spec is valid; {workload}, {} nodes on the {} backend",
        loaded.path.display(),
        nodes.len(),
        spec.run.backend
    );
    crate::outln!("addresses: {}", addresses(spec.run.backend, &nodes));
    for p in &plans {
        print_node(p);
    }
    let targets = plans.iter().map(|p| p.target.clone()).collect();
    let client = HttpClient::new(&spec.client, targets)?;
    if spec.db.ready.probe == ReadyProbe::WriteRead {
        crate::outln!(
            "\nthen the write-read probe: a unique value written to `{}1` on {} (the next \
             node if that write is not ok), read back on every node",
            crate::db::PROBE_KEY_PREFIX,
            plans[0].node
        );
    }
    print_requests(&plan, &client, &plans)?;
    print_faults(loaded);
    crate::outln!();
    Ok(())
}

/// How the backend gives addresses, and the ones this check rendered with.
fn addresses(backend: BackendKind, nodes: &[Arc<dyn Node>]) -> String {
    let first = nodes.first().map(|n| n.address().to_string());
    let how = match backend {
        BackendKind::Local => {
            "10.a.b.N, N the node's index, in a /24 of 10.128.0.0/9 that no address or route \
             of this machine uses, picked when the run starts (so a run may get another one)"
        }
        BackendKind::Loopback => "127.a.b.N, N the node's index, a and b drawn from the run id",
        BackendKind::Ssh => "each node is its host's address, in the order of the hosts",
    };
    format!(
        "{how}; rendered here with {}",
        first.as_deref().unwrap_or("none")
    )
}

fn print_node(p: &NodePlan) {
    let role = p
        .role
        .as_deref()
        .map(|r| format!(" (role {r})"))
        .unwrap_or_default();
    crate::outln!("\n{}{role}, {}", p.node, p.target.ip);
    crate::outln!("  start: {}", shell_words(&p.daemon.argv));
    for (k, v) in &p.daemon.env {
        crate::outln!("  env:   {k}={}", shell_word(v));
    }
    for (path, content) in &p.files {
        crate::outln!("  file:  {}", path.display());
        for line in content.lines() {
            crate::outln!("         | {line}");
        }
    }
    if !p.wipe.is_empty() {
        crate::outln!("  wipe:  {}", shell_words(&p.wipe));
    }
    crate::outln!("  ready: {}", probe_text(&p.ready, p));
}

/// The readiness probe of a node, rendered, with what it must answer.
fn probe_text(ready: &ReadySpec, p: &NodePlan) -> String {
    let Ok(request) = ReadyRequest::compile(ready) else {
        return "(does not compile)".into();
    };
    let probe = request.render(&p.target);
    let mut text = format!("{} {}", probe.method, probe.url);
    for (name, value) in &probe.headers {
        text.push_str(&format!(" -H '{name}: {value}'"));
    }
    if let Some(body) = &probe.body {
        text.push_str(&format!(" -d {}", shell_word(body)));
    }
    let statuses: Vec<String> = ready.status.iter().map(u16::to_string).collect();
    text.push_str(&format!(" → status {}", statuses.join(" or ")));
    if let Some(b) = &ready.body_contains {
        text.push_str(&format!(", body containing {b:?}"));
    }
    text
}

/// One request of each operation of the workload (its setup operations first), drawn from
/// the run's own generator, as the client would send it to each node.
fn print_requests(plan: &Plan, client: &HttpClient, plans: &[NodePlan]) -> anyhow::Result<()> {
    let spec = &plan.spec;
    crate::outln!(
        "\nrequests ({} workers; worker w talks to node w % {}; values drawn with seed {}):",
        spec.run.concurrency,
        plans.len(),
        plan.seed
    );
    let mut generator = Generator::new(&spec.workload, plan.seed);
    let mut samples: Vec<Invocation> = generator.setup_ops();
    // Every f is drawn within a few thousand draws unless its weight is zero.
    for _ in 0..10_000 {
        if spec
            .workload
            .name
            .fs()
            .iter()
            .all(|f| samples.iter().any(|s| s.f == *f))
        {
            break;
        }
        let op = generator.next_op();
        if !samples.iter().any(|s| s.f == op.f) {
            samples.push(op);
        }
    }
    for inv in &samples {
        let value = match &inv.value {
            Value::Null => String::new(),
            v => format!(" {v}"),
        };
        let key = inv
            .key
            .as_deref()
            .map(|k| format!(" {k}"))
            .unwrap_or_default();
        crate::outln!("  {}{key}{value}:", inv.f);
        for (i, p) in plans.iter().enumerate() {
            let text = client
                .describe(i, inv)
                .map_err(|e| anyhow::anyhow!("[client.ops.{}]: {e}", inv.f))?;
            let mut lines = text.lines();
            crate::outln!("    {}: {}", p.node, lines.next().unwrap_or(""));
            for line in lines {
                crate::outln!("        {line}");
            }
        }
    }
    for f in spec.workload.name.fs() {
        if !samples.iter().any(|s| s.f == *f) {
            crate::outln!("  {f}: never drawn (its weight is zero)");
        }
    }
    Ok(())
}

fn print_faults(loaded: &LoadedSpec) {
    let n = &loaded.spec.nemesis;
    if !n.schedule.is_empty() {
        crate::outln!("\nfaults, scripted:");
        for step in &n.schedule {
            crate::outln!(
                "  at {}s: {}",
                step.at_s,
                toml::to_string(step)
                    .unwrap_or_default()
                    .lines()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    } else if n.faults.is_empty() {
        crate::outln!("\nfaults: none");
    } else {
        let names: Vec<String> = n.faults.iter().map(|f| f.to_string()).collect();
        crate::outln!(
            "\nfaults, at random: {} (every {}s ± 50 %, lasting {}s ± 50 %)",
            names.join(", "),
            n.interval_s,
            n.duration_s
        );
    }
}

/// An argument vector as a shell would need it typed (each element one argument).
fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| shell_word(a))
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_word(a: &str) -> String {
    let plain = !a.is_empty()
        && a.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,@%+{}".contains(&b));
    if plain {
        a.to_string()
    } else {
        format!("'{}'", a.replace('\'', r"'\''"))
    }
}
