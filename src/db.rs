//! The store's lifecycle on a node, as a spec's `[db]` describes it: render the commands,
//! empty the data directory, start the daemon on every node, and wait until every node
//! answers its readiness probe.
//!
//! Two things end setup with a clear error (exit 3) rather than a test of a broken cluster:
//! a node whose process dies during start ("n3's store exited during setup", with the last
//! lines of its log), and a node that never answers the probe within `ready.timeout_s`. Both
//! name the node and the log file, which the runner copies into the run directory before
//! teardown.
//!
//! With `[db.ready] probe = "write-read"`, passing the HTTP probe is not enough: a write
//! made on one node through the client must then be read back from every node
//! (`write_read.rs`).
//!
//! Data directories are node-side paths (`<node dir>/data`), removed with the node at
//! teardown; the store's output goes to the node's daemon log, collected into
//! `nodes/<node>/` of the run directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::http::OpValues;
use crate::client::template::{Scope, Template};
use crate::client::{Invocation, Target};
use crate::cluster::{Cluster, Daemon, Node};
use crate::spec::{db_vars, DbSpec, DB_VARS, OP_VARS};

mod write_read;
pub use write_read::{await_replicated, ProbeOps, KEY_PREFIX as PROBE_KEY_PREFIX};

/// The `[db]` templates rendered for one node.
#[derive(Clone, Debug)]
pub struct NodePlan {
    pub node: String,
    pub data_dir: PathBuf,
    pub daemon: Daemon,
    pub wipe: Vec<String>,
    pub logs: Vec<PathBuf>,
    pub target: Target,
    /// Whether the data directory is a lazy filesystem (`[db] lazyfs`).
    pub lazyfs: bool,
}

/// Renders every node's commands. The spec was validated, so templates compile.
pub fn plan(spec: &DbSpec, nodes: &[Arc<dyn Node>]) -> anyhow::Result<Vec<NodePlan>> {
    let names = db_vars(spec);
    let vars: Vec<&str> = names.iter().map(String::as_str).collect();
    let compile = |t: &String| Template::compile(t, &vars).map_err(|e| anyhow::anyhow!("{e}"));
    let member = compile(&spec.member)?;
    let per_node: Vec<NodeValues> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| NodeValues::new(spec, n.as_ref(), i, nodes))
        .collect();
    let members: Vec<String> = per_node
        .iter()
        .map(|v| member.render(&v.scope(&Value::Null)))
        .collect();
    let initial_cluster = Value::String(members.join(&spec.member_separator));
    let mut plans = Vec::new();
    for (node, values) in nodes.iter().zip(&per_node) {
        let scope = values.scope(&initial_cluster);
        let render_all = |ts: &[String]| -> anyhow::Result<Vec<String>> {
            ts.iter().map(|t| Ok(compile(t)?.render(&scope))).collect()
        };
        let env = spec
            .env
            .iter()
            .map(|(k, t)| Ok((k.clone(), compile(t)?.render(&scope))))
            .collect::<anyhow::Result<BTreeMap<_, _>>>()?;
        plans.push(NodePlan {
            node: node.name().to_string(),
            data_dir: data_dir(node.as_ref()),
            daemon: Daemon {
                argv: render_all(&spec.start)?,
                env,
                cwd: None,
            },
            wipe: render_all(&spec.wipe)?,
            logs: render_all(&spec.logs)?
                .into_iter()
                .map(PathBuf::from)
                .collect(),
            target: Target {
                node: node.name().to_string(),
                ip: node.address().to_string(),
                port: spec.ports["client"],
            },
            lazyfs: spec.lazyfs,
        });
    }
    Ok(plans)
}

fn data_dir(node: &dyn Node) -> PathBuf {
    node.dir().join("data")
}

/// One node's values of the `[db]` template variables ([`db_vars`]).
struct NodeValues {
    fixed: Vec<(&'static str, Value)>,
    /// `{{<name>_port}}` of each `[db.ports]` entry.
    ports: Vec<(String, Value)>,
}

impl NodeValues {
    fn new(spec: &DbSpec, node: &dyn Node, i: usize, all: &[Arc<dyn Node>]) -> NodeValues {
        let text = |s: String| Value::String(s);
        let value = |name: &str| match name {
            "node" => text(node.name().to_string()),
            "ip" | "addr" => text(node.address().to_string()),
            "data_dir" => text(data_dir(node).display().to_string()),
            "log_dir" => text(node.dir().display().to_string()),
            "nodes" => text(all.iter().map(|n| n.name()).collect::<Vec<_>>().join(",")),
            "index" => Value::from(i + 1),
            // Bound by `scope`, once every node's member text is known.
            "initial_cluster" => Value::Null,
            other => unreachable!("`{other}` is a [db] variable without a value"),
        };
        NodeValues {
            fixed: DB_VARS.iter().map(|&name| (name, value(name))).collect(),
            ports: spec
                .ports
                .iter()
                .map(|(name, port)| (format!("{name}_port"), Value::from(*port)))
                .collect(),
        }
    }

    /// Every variable, with `initial_cluster` (known only once every node's member text
    /// is) bound to `initial_cluster`.
    fn scope<'a>(&'a self, initial_cluster: &'a Value) -> Scope<'a> {
        let mut scope = Scope::new();
        for (name, value) in &self.fixed {
            scope.set(name, value);
        }
        scope.set("initial_cluster", initial_cluster);
        for (name, value) in &self.ports {
            scope.set(name, value);
        }
        scope
    }
}

/// Empties each node's data directory, runs the `wipe` command, starts every daemon.
pub fn start_all(cluster: &Cluster, plans: &[NodePlan], timeout: Duration) -> anyhow::Result<()> {
    for (node, plan) in cluster.nodes().iter().zip(plans) {
        // On the node, not the controller's disk: an ssh node's directory is on its host.
        let fresh = vec![
            "sh".to_string(),
            "-c".into(),
            "rm -rf \"$0\" && mkdir -p \"$0\"".into(),
            plan.data_dir.display().to_string(),
        ];
        let out = node.exec(&fresh, timeout)?;
        if !out.success() {
            anyhow::bail!(
                "{}: cannot create the data directory {}: {}",
                plan.node,
                plan.data_dir.display(),
                out.stderr.trim()
            );
        }
        if plan.lazyfs {
            crate::cluster::lazyfs::mount(node.dir())
                .map_err(|e| anyhow::anyhow!("{}: {e}", plan.node))?;
        }
        if !plan.wipe.is_empty() {
            let out = node.exec(&plan.wipe, timeout)?;
            if !out.success() {
                anyhow::bail!(
                    "{}: the wipe command {:?} failed ({:?}): {}",
                    plan.node,
                    plan.wipe,
                    out.code,
                    out.stderr.trim()
                );
            }
        }
        node.spawn_daemon(&plan.daemon).map_err(|e| {
            anyhow::anyhow!("{}: cannot start {:?}: {e}", plan.node, plan.daemon.argv[0])
        })?;
    }
    Ok(())
}

/// Waits until every node answers the readiness probe, a node's process dies, or `timeout`.
/// How much of a readiness answer is read: `body_contains` is looked for in this much.
const READY_BODY_BYTES: usize = 64 * 1024;

/// The first `limit` bytes of an answer's body, as text; the rest is never read, so an
/// endless answer costs no more memory than a short one.
async fn bounded_text(mut response: reqwest::Response, limit: usize) -> String {
    let mut body = Vec::new();
    while body.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk[..chunk.len().min(limit - body.len())])
            }
            _ => break,
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

pub async fn await_ready(
    cluster: &Cluster,
    spec: &DbSpec,
    plans: &[NodePlan],
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let deadline = started + timeout;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(1000).min(timeout))
        .build()?;
    let method = reqwest::Method::from_bytes(spec.ready.method.as_bytes())?;
    let probe = ReadyRequest::compile(spec)?;
    let mut pending: Vec<usize> = (0..plans.len()).collect();
    let mut last: BTreeMap<usize, String> = BTreeMap::new();
    loop {
        let mut still = Vec::new();
        for &i in &pending {
            let node = &cluster.nodes()[i];
            if !node.is_alive() {
                anyhow::bail!(
                    "{}: the store's process exited during setup; last lines of its log ({}):\n{}",
                    plans[i].node,
                    kept_log(&plans[i].node),
                    node_tail(node.as_ref(), 15)
                );
            }
            let t = &plans[i].target;
            let url = format!("http://{}:{}{}", t.ip, t.port, spec.ready.path);
            match probe.build(&http, method.clone(), &url, t)?.send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let body = bounded_text(r, READY_BODY_BYTES).await;
                    let body_ok = spec
                        .ready
                        .body_contains
                        .as_ref()
                        .is_none_or(|b| body.contains(b.as_str()));
                    if spec.ready.status.contains(&status) && body_ok {
                        continue;
                    }
                    last.insert(
                        i,
                        format!(
                            "HTTP {status} {}",
                            body.chars().take(100).collect::<String>().trim()
                        ),
                    );
                }
                Err(e) => {
                    last.insert(
                        i,
                        if e.is_connect() {
                            "connection refused".into()
                        } else {
                            e.to_string()
                        },
                    );
                }
            }
            still.push(i);
        }
        pending = still;
        if pending.is_empty() {
            return Ok(started.elapsed());
        }
        if Instant::now() >= deadline {
            let i = pending[0];
            let names: Vec<&str> = pending.iter().map(|&i| plans[i].node.as_str()).collect();
            anyhow::bail!(
                "{} never became ready within {}s: the probe {} {} last got: {}; \
                 the store's log ({}) ends with:\n{}",
                names.join(", "),
                timeout.as_secs(),
                spec.ready.method,
                spec.ready.path,
                last.get(&i).map(String::as_str).unwrap_or("nothing"),
                kept_log(&plans[i].node),
                node_tail(cluster.nodes()[i].as_ref(), 15)
            );
        }
        tokio::time::sleep(Duration::from_millis(spec.ready.interval_ms)).await;
    }
}

/// `[db.ready]`'s headers and body, compiled once.
struct ReadyRequest {
    headers: Vec<(String, Template)>,
    body: Option<Template>,
}

impl ReadyRequest {
    fn compile(spec: &DbSpec) -> anyhow::Result<ReadyRequest> {
        let compile = |t: &str| Template::compile(t, &OP_VARS).map_err(|e| anyhow::anyhow!("{e}"));
        Ok(ReadyRequest {
            headers: spec
                .ready
                .headers
                .iter()
                .flatten()
                .map(|(k, t)| Ok((k.clone(), compile(t)?)))
                .collect::<anyhow::Result<_>>()?,
            body: spec.ready.body.as_deref().map(compile).transpose()?,
        })
    }

    /// The probe of one node, its templates rendered for it.
    fn build(
        &self,
        http: &reqwest::Client,
        method: reqwest::Method,
        url: &str,
        target: &Target,
    ) -> anyhow::Result<reqwest::RequestBuilder> {
        let inv = Invocation {
            f: "ready".into(),
            key: None,
            value: Value::Null,
        };
        let values = OpValues::new(&inv, target);
        let scope = values.scope(&inv);
        let mut request = http.request(method, url);
        for (name, t) in &self.headers {
            request = request.header(name.as_str(), t.render(&scope));
        }
        if let Some(body) = &self.body {
            request = request.body(body.render(&scope));
        }
        Ok(request)
    }
}

/// Stops every daemon with the spec's signal, then kills what is left.
pub fn stop_all(cluster: &Cluster, spec: &DbSpec) {
    let signal = spec.stop_signal.signal();
    for node in cluster.nodes() {
        let _ = node.signal(nix::sys::signal::Signal::SIGCONT);
        let _ = node.signal(signal);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while cluster.nodes().iter().any(|n| n.is_alive()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    for node in cluster.nodes() {
        if node.is_alive() {
            let _ = node.kill();
        }
    }
}

/// Copies every node's logs (the daemon log and the spec's `logs`) into `dest/<node>/`.
pub fn collect_logs(cluster: &Cluster, plans: &[NodePlan], dest: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = cluster.collect_logs(dest) {
        problems.push(format!("collecting logs: {e}"));
    }
    for plan in plans {
        for log in &plan.logs {
            let target = dest
                .join(&plan.node)
                .join(log.file_name().unwrap_or_default());
            if let Err(e) = std::fs::copy(log, &target) {
                problems.push(format!("{}: {}: {e}", plan.node, log.display()));
            }
        }
    }
    problems
}

/// Where a node's daemon log is kept once the run is over: the node's own copy goes with
/// its node at teardown.
fn kept_log(node: &str) -> String {
    format!("nodes/{node}/daemon.log in the run directory")
}

/// The last `n` lines of a node's daemon log, read on the node (an ssh node's log is on its
/// host, not on the controller's disk), indented for a message.
fn node_tail(node: &dyn Node, n: usize) -> String {
    let lines = log_tail(node, n);
    if lines.is_empty() {
        return "  | (empty)".into();
    }
    lines
        .iter()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The last `n` lines of a node's daemon log, read on the node; each cut at 500 bytes.
pub fn log_tail(node: &dyn Node, n: usize) -> Vec<String> {
    let log = node.log_path();
    let argv = [
        "tail".to_string(),
        "-n".into(),
        n.to_string(),
        log.display().to_string(),
    ];
    let text = match node.exec(&argv, Duration::from_secs(5)) {
        Ok(out) if out.success() => out.stdout,
        _ => tail(&log, n),
    };
    text.lines()
        .map(|l| match l.char_indices().nth(500) {
            Some((cut, _)) => format!("{}…", &l[..cut]),
            None => l.to_string(),
        })
        .collect()
}

/// The last `n` lines of a text file, or a note that it cannot be read.
pub fn tail(path: &Path, n: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(n);
            let out = lines[start..]
                .iter()
                .map(|l| format!("  | {l}"))
                .collect::<Vec<_>>()
                .join("\n");
            if out.is_empty() {
                "  | (empty)".into()
            } else {
                out
            }
        }
        Err(e) => format!("  (cannot read it: {e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_db_variable_is_rendered_by_name_on_every_node() {
        let src = r#"
[db]
start = ["store", "{{node}}", "{{ip}}", "{{addr}}", "{{data_dir}}", "{{log_dir}}",
         "{{initial_cluster}}", "{{nodes}}", "{{index}}", "{{client_port}}", "{{peer_port}}"]
member = "{{node}}=http://{{ip}}:{{peer_port}}"
[db.ports]
client = 7000
peer = 7001
[db.ready]
path = "/"
[client.ops.read]
path = "/"
[client.ops.write]
path = "/"
[workload]
name = "register"
"#;
        let spec = crate::spec::LoadedSpec::parse(Path::new("t.toml"), src.into())
            .unwrap()
            .spec;
        let cluster = Cluster::start(&crate::cluster::ClusterConfig::new(
            crate::cluster::BackendKind::Loopback,
            2,
        ))
        .unwrap();
        let plans = plan(&spec.db, cluster.nodes());
        cluster.teardown().unwrap();
        let plans = plans.unwrap();
        let argv = &plans[1].daemon.argv;
        let ip = plans[1].target.ip.clone();
        let ip0 = plans[0].target.ip.clone();
        assert_eq!(argv[1], "n2");
        assert_eq!(argv[2], ip);
        assert_eq!(argv[3], ip);
        assert!(argv[4].ends_with("/data"), "{}", argv[4]);
        assert!(!argv[5].is_empty());
        assert_eq!(argv[6], format!("n1=http://{ip0}:7001,n2=http://{ip}:7001"));
        assert_eq!(argv[7], "n1,n2");
        assert_eq!(argv[8], "2");
        assert_eq!(argv[9], "7000");
        assert_eq!(argv[10], "7001");
        assert_eq!(DB_VARS.len() + spec.db.ports.len(), db_vars(&spec.db).len());
    }

    /// The status `[db.ready]` of `ready` (with `[client] client_headers`) gets from
    /// [`crate::testing::strict_store`].
    fn probe_status(ready: &str, client_headers: &str) -> u16 {
        let (port, stop) = crate::testing::strict_store();
        let src = format!(
            "[db]\nstart = [\"x\"]\n[db.ready]\n{ready}\n[client]\n{client_headers}\n\
             [client.ops.read]\npath = \"/\"\n[client.ops.write]\npath = \"/\"\n\
             [workload]\nname = \"register\""
        );
        let spec = crate::spec::LoadedSpec::parse(Path::new("t.toml"), src)
            .unwrap()
            .spec;
        let target = Target {
            node: "n1".into(),
            ip: "127.0.0.1".into(),
            port,
        };
        let url = format!("http://127.0.0.1:{port}{}", spec.db.ready.path);
        let method = reqwest::Method::from_bytes(spec.db.ready.method.as_bytes()).unwrap();
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let request = ReadyRequest::compile(&spec.db)
            .unwrap()
            .build(&http, method, &url, &target)
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let status = rt.block_on(async { request.send().await.unwrap().status().as_u16() });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        status
    }

    #[test]
    fn a_probe_of_a_store_that_demands_a_content_type_and_a_body_sends_both() {
        let post = "method = \"POST\"\npath = \"/health\"";
        assert_eq!(probe_status(post, ""), 400, "no body: refused");
        let with_body = format!("{post}\nbody = '{{\"from\":\"{{{{node}}}}\"}}'");
        assert_eq!(
            probe_status(&with_body, ""),
            415,
            "no content type: refused"
        );
        let typed = format!("{with_body}\nheaders = {{ \"content-type\" = \"application/json\" }}");
        assert_eq!(probe_status(&typed, ""), 200);
    }

    #[test]
    fn the_probe_sends_the_clients_headers_unless_it_has_its_own() {
        let json = "headers = { \"content-type\" = \"application/json\" }";
        let post = "method = \"POST\"\npath = \"/health\"\nbody = '{}'";
        assert_eq!(
            probe_status(post, json),
            200,
            "the client's headers by default"
        );
        let own = format!("{post}\nheaders = {{ \"x-other\" = \"1\" }}");
        assert_eq!(
            probe_status(&own, json),
            415,
            "its own headers replace them"
        );
    }

    #[test]
    fn a_readiness_answer_that_never_ends_is_read_only_up_to_its_bound() {
        let (port, server) = crate::testing::endless_answers(1);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let body = rt.block_on(async {
            let response = reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap()
                .get(format!("http://127.0.0.1:{port}/health"))
                .send()
                .await
                .unwrap();
            bounded_text(response, READY_BODY_BYTES).await
        });
        assert_eq!(body.len(), READY_BODY_BYTES);
        drop(rt);
        server.join().unwrap();
    }
}
