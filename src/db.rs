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
use crate::spec::{cluster_vars, db_vars, DbSpec, ReadySpec, DB_VARS, OP_VARS};

mod leader;
mod membership;
mod write_read;
pub use leader::LeaderProbe;
pub use membership::Membership;
pub use write_read::{await_replicated, ProbeOps, KEY_PREFIX as PROBE_KEY_PREFIX};

/// The `[db]` templates rendered for one node.
#[derive(Clone, Debug)]
pub struct NodePlan {
    pub node: String,
    /// The node's `[db.roles]` role, if it has one.
    pub role: Option<String>,
    pub data_dir: PathBuf,
    pub daemon: Daemon,
    pub wipe: Vec<String>,
    pub logs: Vec<PathBuf>,
    /// `[db.files]` rendered for the node: where each goes on the node, and its content.
    pub files: Vec<(PathBuf, String)>,
    pub target: Target,
    /// The start command of a node that rejoins after a membership change
    /// (`{{cluster_state}}` = `existing`).
    pub rejoin: Daemon,
    /// Every `[db]` variable's value on this node, for the templates rendered later
    /// (`[db.leader]`, `[db.membership]`).
    pub vars: Vec<(String, Value)>,
    /// The node's readiness probe: its role's, or `[db.ready]`.
    pub ready: ReadySpec,
    /// Whether the data directory is a lazy filesystem (`[db] lazyfs`).
    pub lazyfs: bool,
}

impl NodePlan {
    /// The node's `[db]` variables, for rendering a template.
    pub fn scope(&self) -> Scope<'_> {
        let mut scope = Scope::new();
        for (name, value) in &self.vars {
            scope.set(name, value);
        }
        scope
    }
}

/// Renders every node's commands, each with its role's `start`, `env` and readiness. The
/// spec was validated, so templates compile.
pub fn plan(spec: &DbSpec, nodes: &[Arc<dyn Node>]) -> anyhow::Result<Vec<NodePlan>> {
    let names: Vec<String> = nodes.iter().map(|n| n.name().to_string()).collect();
    let roles = spec
        .roles_of(&names)
        .map_err(|e| anyhow::anyhow!("[db.roles.{}]: {}", e.role, e.message))?;
    let mut vars = db_vars(spec);
    vars.extend(cluster_vars(spec, &names));
    let vars: Vec<&str> = vars.iter().map(String::as_str).collect();
    let compile = |t: &String| Template::compile(t, &vars).map_err(|e| anyhow::anyhow!("{e}"));
    let member = compile(&spec.member)?;
    let others = ClusterValues::new(spec, nodes, &roles);
    let per_node: Vec<NodeValues> = nodes
        .iter()
        .zip(&roles)
        .enumerate()
        .map(|(i, (n, role))| NodeValues::new(spec, n.as_ref(), i, nodes, role.as_deref()))
        .collect();
    let members: Vec<String> = per_node
        .iter()
        .map(|v| member.render(&v.scope(&Value::Null, &others)))
        .collect();
    let initial_cluster = Value::String(members.join(&spec.member_separator));
    let existing = Value::String("existing".into());
    let mut plans = Vec::new();
    for ((node, values), role) in nodes.iter().zip(&per_node).zip(&roles) {
        let scope = values.scope(&initial_cluster, &others);
        let render_all = |ts: &[String], scope: &Scope| -> anyhow::Result<Vec<String>> {
            ts.iter().map(|t| Ok(compile(t)?.render(scope))).collect()
        };
        let role = role.as_deref();
        let env = spec
            .env_of(role)
            .iter()
            .map(|(k, t)| Ok((k.clone(), compile(t)?.render(&scope))))
            .collect::<anyhow::Result<BTreeMap<_, _>>>()?;
        let daemon = Daemon {
            argv: render_all(spec.start_of(role), &scope)?,
            env,
            cwd: None,
        };
        let rejoin = Daemon {
            argv: render_all(
                spec.start_of(role),
                &scope.clone().with("cluster_state", &existing),
            )?,
            ..daemon.clone()
        };
        let vars = scope
            .names()
            .map(|name| (name.to_string(), scope.get(name).clone()))
            .collect();
        plans.push(NodePlan {
            node: node.name().to_string(),
            role: role.map(String::from),
            data_dir: data_dir(node.as_ref()),
            daemon,
            rejoin,
            vars,
            wipe: render_all(&spec.wipe, &scope)?,
            logs: render_all(&spec.logs, &scope)?
                .into_iter()
                .map(PathBuf::from)
                .collect(),
            files: spec
                .files
                .iter()
                .map(|(name, t)| Ok((node.dir().join(name), compile(t)?.render(&scope))))
                .collect::<anyhow::Result<_>>()?,
            target: Target {
                node: node.name().to_string(),
                ip: node.address().to_string(),
                port: spec.ports["client"],
            },
            ready: spec.ready_of(role).clone(),
            lazyfs: spec.lazyfs,
        });
    }
    Ok(plans)
}

/// The values of [`cluster_vars`] the same on every node: each node's address, each
/// role's first node and its address.
struct ClusterValues(Vec<(String, Value)>);

impl ClusterValues {
    fn new(spec: &DbSpec, nodes: &[Arc<dyn Node>], roles: &[Option<String>]) -> ClusterValues {
        let mut values: Vec<(String, Value)> = nodes
            .iter()
            .map(|n| {
                (
                    format!("node.{}.ip", n.name()),
                    n.address().to_string().into(),
                )
            })
            .collect();
        for role in spec.roles.keys() {
            // A role left with no node (the rest, when other roles took every node) renders
            // empty, like any unbound variable.
            let first = roles
                .iter()
                .position(|r| r.as_deref() == Some(role.as_str()));
            let (ip, node) = match first {
                Some(i) => (
                    Value::from(nodes[i].address().to_string()),
                    Value::from(nodes[i].name()),
                ),
                None => (Value::Null, Value::Null),
            };
            values.push((format!("role.{role}.ip"), ip));
            values.push((format!("role.{role}.node"), node));
        }
        ClusterValues(values)
    }
}

fn data_dir(node: &dyn Node) -> PathBuf {
    node.dir().join("data")
}

/// One node's values of the `[db]` template variables ([`db_vars`]) and its `role`.
struct NodeValues {
    fixed: Vec<(&'static str, Value)>,
    /// `{{<name>_port}}` of each `[db.ports]` entry.
    ports: Vec<(String, Value)>,
    role: Value,
}

impl NodeValues {
    fn new(
        spec: &DbSpec,
        node: &dyn Node,
        i: usize,
        all: &[Arc<dyn Node>],
        role: Option<&str>,
    ) -> NodeValues {
        let text = |s: String| Value::String(s);
        let value = |name: &str| match name {
            "node" => text(node.name().to_string()),
            "ip" | "addr" => text(node.address().to_string()),
            "data_dir" => text(data_dir(node).display().to_string()),
            "log_dir" => text(node.dir().display().to_string()),
            "nodes" => text(all.iter().map(|n| n.name()).collect::<Vec<_>>().join(",")),
            "index" => Value::from(i + 1),
            "cluster_state" => text("new".to_string()),
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
            role: role.map_or(Value::Null, Value::from),
        }
    }

    /// Every variable, with `initial_cluster` (known only once every node's member text
    /// is) bound to `initial_cluster`, and the other nodes' values from `others`.
    fn scope<'a>(&'a self, initial_cluster: &'a Value, others: &'a ClusterValues) -> Scope<'a> {
        let mut scope = Scope::new();
        for (name, value) in &self.fixed {
            scope.set(name, value);
        }
        scope.set("initial_cluster", initial_cluster);
        for (name, value) in self.ports.iter().chain(&others.0) {
            scope.set(name, value);
        }
        scope.set("role", &self.role);
        scope
    }
}

/// Empties each node's data directory, runs the `wipe` command, starts every daemon.
pub fn start_all(cluster: &Cluster, plans: &[NodePlan], timeout: Duration) -> anyhow::Result<()> {
    for (node, plan) in cluster.nodes().iter().zip(plans) {
        fresh_data(node.as_ref(), plan, timeout)?;
        for (dest, content) in &plan.files {
            write_file(node.as_ref(), dest, content).map_err(|e| {
                anyhow::anyhow!("{}: cannot write {}: {e}", plan.node, dest.display())
            })?;
        }
        node.spawn_daemon(&plan.daemon).map_err(|e| {
            anyhow::anyhow!("{}: cannot start {:?}: {e}", plan.node, plan.daemon.argv[0])
        })?;
    }
    Ok(())
}

/// Empties the node's data directory, mounts its lazy filesystem (`[db] lazyfs`) and runs
/// the `wipe` command.
/// A node that rejoins after a membership change keeps its lazy filesystem mounted: the
/// directory is emptied through the mount, not removed from under it.
pub fn fresh_data(node: &dyn Node, plan: &NodePlan, timeout: Duration) -> anyhow::Result<()> {
    let mounted = plan.lazyfs && crate::cluster::lazyfs::of(node.dir()).is_some();
    let empty = if mounted {
        "find \"$0\" -mindepth 1 -delete"
    } else {
        "rm -rf \"$0\" && mkdir -p \"$0\""
    };
    // On the node, not the controller's disk: an ssh node's directory is on its host.
    let fresh = vec![
        "sh".to_string(),
        "-c".into(),
        empty.into(),
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
    if plan.lazyfs && !mounted {
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
    Ok(())
}

/// Writes `content` to `dest` on the node, through a controller-side file copied in (the
/// node's directory may be on another host).
fn write_file(node: &dyn Node, dest: &Path, content: &str) -> anyhow::Result<()> {
    let local = std::env::temp_dir().join(format!(
        "faultline-{}-{}-{}",
        std::process::id(),
        node.name(),
        dest.file_name().unwrap_or_default().to_string_lossy()
    ));
    std::fs::write(&local, content)?;
    let copied = node.copy_in(&local, dest);
    let _ = std::fs::remove_file(&local);
    Ok(copied?)
}

/// How much of a readiness answer is read: `body_contains` is looked for in this much.
const READY_BODY_BYTES: usize = 64 * 1024;

/// The first `limit` bytes of an answer's body, as text; the rest is never read, so an
/// endless answer costs no more memory than a short one.
pub(crate) async fn bounded_text(mut response: reqwest::Response, limit: usize) -> String {
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

/// Waits until every node answers its readiness probe (its role's, or `[db.ready]`), a
/// node's process dies, or `timeout`. `[db.ready]` gives the pause between rounds.
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
    let probes = plans
        .iter()
        .map(|p| ReadyRequest::compile(&p.ready))
        .collect::<anyhow::Result<Vec<_>>>()?;
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
            let (ready, t) = (&plans[i].ready, &plans[i].target);
            match probes[i].build(&http, t)?.send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let body = bounded_text(r, READY_BODY_BYTES).await;
                    let body_ok = ready
                        .body_contains
                        .as_ref()
                        .is_none_or(|b| body.contains(b.as_str()));
                    if ready.status.contains(&status) && body_ok {
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
                plans[i].ready.method,
                plans[i].ready.path,
                last.get(&i).map(String::as_str).unwrap_or("nothing"),
                kept_log(&plans[i].node),
                node_tail(cluster.nodes()[i].as_ref(), 15)
            );
        }
        tokio::time::sleep(Duration::from_millis(spec.ready.interval_ms)).await;
    }
}

/// The headers and body of a request faultline sends a node besides the client's ops
/// (`[db.ready]`, `[db.leader]`), compiled once over the client's variables.
pub(crate) struct NodeRequest {
    headers: Vec<(String, Template)>,
    body: Option<Template>,
}

impl NodeRequest {
    pub(crate) fn compile<'a>(
        headers: impl Iterator<Item = (&'a String, &'a String)>,
        body: Option<&str>,
    ) -> anyhow::Result<NodeRequest> {
        let compile = |t: &str| Template::compile(t, &OP_VARS).map_err(|e| anyhow::anyhow!("{e}"));
        Ok(NodeRequest {
            headers: headers
                .map(|(k, t)| Ok((k.clone(), compile(t)?)))
                .collect::<anyhow::Result<_>>()?,
            body: body.map(compile).transpose()?,
        })
    }

    /// The headers and body for one node, their templates rendered for it.
    fn render(&self, target: &Target) -> (Vec<(String, String)>, Option<String>) {
        let inv = Invocation {
            f: "ready".into(),
            key: None,
            value: Value::Null,
        };
        let values = OpValues::new(&inv, target);
        let scope = values.scope(&inv);
        let headers = self
            .headers
            .iter()
            .map(|(name, t)| (name.clone(), t.render(&scope)))
            .collect();
        (headers, self.body.as_ref().map(|b| b.render(&scope)))
    }

    /// The request to one node, its templates rendered for it.
    pub(crate) fn build(
        &self,
        http: &reqwest::Client,
        method: reqwest::Method,
        url: &str,
        target: &Target,
    ) -> anyhow::Result<reqwest::RequestBuilder> {
        let (headers, body) = self.render(target);
        let mut request = http.request(method, url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        Ok(request)
    }
}

/// A readiness probe's method, path, headers and body, compiled once.
pub struct ReadyRequest {
    method: reqwest::Method,
    path: String,
    request: NodeRequest,
}

/// A readiness probe rendered for one node: what `check-spec` prints and a run sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedProbe {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

impl ReadyRequest {
    pub fn compile(ready: &ReadySpec) -> anyhow::Result<ReadyRequest> {
        Ok(ReadyRequest {
            method: reqwest::Method::from_bytes(ready.method.as_bytes())?,
            path: ready.path.clone(),
            request: NodeRequest::compile(ready.headers.iter().flatten(), ready.body.as_deref())?,
        })
    }

    fn url(&self, target: &Target) -> String {
        format!("http://{}:{}{}", target.ip, target.port, self.path)
    }

    /// The probe of one node, its templates rendered for it.
    pub fn render(&self, target: &Target) -> RenderedProbe {
        let (headers, body) = self.request.render(target);
        RenderedProbe {
            method: self.method.to_string(),
            url: self.url(target),
            headers,
            body,
        }
    }

    /// The probe of one node, as a request.
    fn build(
        &self,
        http: &reqwest::Client,
        target: &Target,
    ) -> anyhow::Result<reqwest::RequestBuilder> {
        self.request
            .build(http, self.method.clone(), &self.url(target), target)
    }
}

/// The store's side of the faults: who leads (`[db.leader]`) and how membership changes
/// (`[db.membership]`), for the nemesis.
pub struct StoreControl {
    leader: Option<LeaderProbe>,
    membership: Option<Membership>,
}

impl StoreControl {
    /// The store of `spec` on the nodes of `plans`.
    pub fn new(spec: &DbSpec, plans: &[NodePlan]) -> anyhow::Result<StoreControl> {
        Ok(StoreControl {
            leader: LeaderProbe::new(spec, plans)?,
            membership: Membership::new(spec, plans)?,
        })
    }
}

impl crate::nemesis::Store for StoreControl {
    fn probes_leader(&self) -> bool {
        self.leader.is_some()
    }

    fn leader(&self, cluster: &Cluster) -> crate::cluster::Result<Option<String>> {
        match &self.leader {
            Some(probe) => probe.ask(cluster),
            None => Ok(None),
        }
    }

    fn leader_wait(&self) -> Duration {
        self.leader
            .as_ref()
            .map_or(Duration::ZERO, LeaderProbe::wait)
    }

    fn changes_membership(&self) -> bool {
        self.membership.is_some()
    }

    fn remove_member(&self, cluster: &Cluster, node: &str) -> crate::cluster::Result<()> {
        self.membership()?.remove(cluster, node)
    }

    fn add_member(&self, cluster: &Cluster, node: &str) -> crate::cluster::Result<()> {
        self.membership()?.add(cluster, node)
    }
}

impl StoreControl {
    fn membership(&self) -> crate::cluster::Result<&Membership> {
        self.membership
            .as_ref()
            .ok_or_else(|| crate::cluster::Error::Invalid("the spec has no [db.membership]".into()))
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

    #[test]
    fn each_role_renders_its_own_start_env_and_probe_with_the_other_nodes_addresses() {
        let src = r#"
[run]
nodes = 3
[db]
start = ["store", "--role", "{{role}}"]
env = { SHARED = "1" }
[db.files]
"store.conf" = "peer {{node.n2.ip}}"
[db.ready]
path = "/ping"
[db.roles.primary]
nodes = [1]
[db.roles.replica]
start = ["store", "--follow", "{{role.primary.ip}}", "{{role.primary.node}}"]
env = { FOLLOW = "{{role.primary.node}}" }
ready = { path = "/caught-up" }
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
        let nodes = Cluster::plan_nodes(&crate::cluster::ClusterConfig::new(
            crate::cluster::BackendKind::Loopback,
            3,
        ))
        .unwrap();
        let plans = plan(&spec.db, &nodes).unwrap();
        let ip = |i: usize| nodes[i].address().to_string();
        assert_eq!(plans[0].role.as_deref(), Some("primary"));
        assert_eq!(plans[0].daemon.argv, ["store", "--role", "primary"]);
        assert_eq!(plans[0].ready.path, "/ping");
        for p in &plans[1..] {
            assert_eq!(p.role.as_deref(), Some("replica"));
            assert_eq!(p.daemon.argv, ["store", "--follow", &ip(0), "n1"]);
            assert_eq!(p.daemon.env["FOLLOW"], "n1");
            assert_eq!(p.daemon.env["SHARED"], "1");
            assert_eq!(p.ready.path, "/caught-up");
        }
        let (path, content) = &plans[2].files[0];
        assert_eq!(path, &nodes[2].dir().join("store.conf"));
        assert_eq!(content, &format!("peer {}", ip(1)));
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
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let request = ReadyRequest::compile(&spec.db.ready)
            .unwrap()
            .build(&http, &target)
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
