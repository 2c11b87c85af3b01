//! `[db]`: how to start, probe and stop the store on a node.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{LoadedSpec, SpecError};
use crate::client::template::Template;

/// How to run the store on a node. Command templates are argument vectors: each element is
/// rendered and passed as one argument, never through a shell.
///
/// Variables in `start`, `wipe`, `member`, `env` and `logs`: `node` (`n1`), `ip`, `addr`
/// (same as `ip`), `NAME_port` for each entry of `ports`, `data_dir` (inside the run
/// directory, per node), `log_dir`, `initial_cluster` (every node's `member`, joined by
/// `member_separator`), `nodes` (node names joined by commas), `index` (1-based),
/// `cluster_state` (`new`; `existing` when a node rejoins after a `membership` fault).
#[derive(Deserialize, Serialize, JsonSchema, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct DbSpec {
    /// The store's program and arguments; it must stay in the foreground.
    #[schemars(example = ["kvd", "--listen", "{{ip}}:{{client_port}}", "--data", "{{data_dir}}"])]
    pub start: Vec<String>,
    /// Extra command run before the first start (after the data dir is emptied).
    #[serde(default)]
    #[schemars(example = ["kvd-admin", "reset", "{{data_dir}}"])]
    pub wipe: Vec<String>,
    /// Environment variables for the store.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"GOMAXPROCS": "2"}))]
    pub env: BTreeMap<String, String>,
    /// One member of `{{initial_cluster}}`. Default `{{node}}={{ip}}`.
    #[serde(default = "default_member")]
    #[schemars(example = &"{{node}}=http://{{ip}}:{{peer_port}}")]
    pub member: String,
    #[serde(default = "default_separator")]
    /// What joins the members in `{{initial_cluster}}`. Default `,`.
    #[schemars(example = &";")]
    pub member_separator: String,
    /// Named ports; `client` is the one the client and the readiness probe use.
    #[serde(default = "default_ports")]
    #[schemars(example = serde_json::json!({"client": 2379, "peer": 2380}))]
    pub ports: BTreeMap<String, u16>,
    /// Signal to stop the store at teardown (`TERM`, `INT` or `KILL`). Default `TERM`.
    #[serde(default)]
    #[schemars(example = &"KILL")]
    pub stop_signal: StopSignal,
    /// When a node counts as started (see `[db.ready]`).
    pub ready: ReadySpec,
    /// Extra log files to collect at teardown (templates), besides the store's own output.
    #[serde(default)]
    #[schemars(example = ["{{data_dir}}/store.log"])]
    pub logs: Vec<String>,
    /// What a store process that exits on its own during the run means: `finding` (the
    /// default: the run is invalid, as a crash under test is a bug) or `note` (a warning,
    /// for stores whose processes are expected to exit).
    #[serde(default)]
    #[schemars(example = &"note", schema_with = "super::reference::crash_policies")]
    pub crashes: crate::health::CrashPolicy,
    /// How to learn which node leads (see `[db.leader]`), for faults that aim at it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<super::leader::LeaderSpec>,
    /// How a node leaves the cluster and rejoins (see `[db.membership]`), for the
    /// `membership` fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership: Option<super::leader::MembershipSpec>,
    /// Files written into each node's directory (`{{log_dir}}`) before the store starts, by
    /// file name; each content is a template over the same variables as `start`. A store
    /// configured by a file (`webdis.json`, `redis.conf`) needs no wrapper to write it.
    /// Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(example = serde_json::json!({"kvd.conf": "listen {{ip}}:{{client_port}}\n"}))]
    pub files: BTreeMap<String, String>,
    /// Node roles, by name (`[db.roles.primary]`, `[db.roles.replica]`): each role's nodes
    /// run its own `start`, `env` and readiness instead of `[db]`'s. A node in no role runs
    /// `[db]`'s own. Templates reach other nodes by role (`{{role.primary.ip}}`) or name
    /// (`{{node.n1.ip}}`). Default: no roles.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(example = serde_json::json!({
        "primary": {"nodes": ["n1"]},
        "replica": {"start": ["kvd", "--follow", "{{role.primary.ip}}:{{client_port}}"]}
    }))]
    pub roles: BTreeMap<String, RoleSpec>,
    /// Mount each node's data directory (`{{data_dir}}`) as a lazy filesystem, which keeps
    /// track of what the store never fsynced so that `lose-unfsynced-writes` can drop it
    /// (needs root, `/dev/fuse`, and the `local` or `loopback` backend; costs throughput).
    /// Default `false`.
    #[serde(default)]
    #[schemars(example = true)]
    pub lazyfs: bool,
}

/// One role of `[db.roles]`: which nodes play it and what they run differently.
#[derive(Deserialize, Serialize, JsonSchema, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    /// The role's nodes, by name (`"n1"`) or 1-based index (`1`). At most one role may
    /// leave it out: that role takes every node no other role names. A node is in at most
    /// one role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = serde_json::json!(["n1", 2]))]
    pub nodes: Option<Vec<NodeRef>>,
    /// The role's start command, replacing `[db] start` on its nodes. Default: `[db]`'s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = ["kvd", "--replica-of", "{{role.primary.ip}}:{{client_port}}"])]
    pub start: Option<Vec<String>>,
    /// Environment variables added to (and overriding) `[db] env` on the role's nodes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(example = serde_json::json!({"KVD_ROLE": "replica"}))]
    pub env: BTreeMap<String, String>,
    /// The role's readiness probe, replacing `[db.ready]`'s request on its nodes (method,
    /// path, headers, body, status, body_contains). `timeout_s`, `interval_ms` and `probe`
    /// stay `[db.ready]`'s: one deadline and one write-read check span the cluster.
    /// Default: `[db.ready]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = serde_json::json!({"path": "/replication", "body_contains": "link:up"}))]
    pub ready: Option<ReadySpec>,
}

/// A node named in `[db.roles.NAME] nodes`: its name or its 1-based index.
#[derive(Deserialize, Serialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(untagged)]
pub enum NodeRef {
    /// `1` is `n1`.
    Index(usize),
    /// `"n1"`.
    Name(String),
}

impl NodeRef {
    /// The node's 0-based position among `names`, if it is one of them.
    fn position(&self, names: &[String]) -> Option<usize> {
        match self {
            NodeRef::Index(i) => (1..=names.len()).contains(i).then(|| i - 1),
            NodeRef::Name(n) => names.iter().position(|m| m == n),
        }
    }
}

impl std::fmt::Display for NodeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeRef::Index(i) => write!(f, "{i}"),
            NodeRef::Name(n) => write!(f, "{n:?}"),
        }
    }
}

/// Why `[db.roles]` cannot be given to the cluster's nodes: the role, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleError {
    pub role: String,
    pub message: String,
}

impl DbSpec {
    /// Each node's role (by position among `names`), or `None` for a node in no role.
    pub fn roles_of(&self, names: &[String]) -> Result<Vec<Option<String>>, RoleError> {
        let mut roles: Vec<Option<String>> = vec![None; names.len()];
        let mut rest: Option<&str> = None;
        for (role, r) in &self.roles {
            let Some(nodes) = &r.nodes else {
                if let Some(other) = rest {
                    return Err(RoleError {
                        role: role.clone(),
                        message: format!(
                            "roles `{other}` and `{role}` both leave out `nodes`; only one \
                             role may take the nodes no other role names"
                        ),
                    });
                }
                rest = Some(role);
                continue;
            };
            for n in nodes {
                let Some(i) = n.position(names) else {
                    return Err(RoleError {
                        role: role.clone(),
                        message: format!(
                            "node {n} is not in the cluster (its nodes: {})",
                            names.join(", ")
                        ),
                    });
                };
                if let Some(other) = &roles[i] {
                    return Err(RoleError {
                        role: role.clone(),
                        message: format!("{} is already in role `{other}`", names[i]),
                    });
                }
                roles[i] = Some(role.clone());
            }
        }
        if let Some(rest) = rest {
            for r in roles.iter_mut().filter(|r| r.is_none()) {
                *r = Some(rest.to_string());
            }
        }
        Ok(roles)
    }

    /// The start command of a node in `role`.
    pub fn start_of(&self, role: Option<&str>) -> &[String] {
        self.role(role)
            .and_then(|r| r.start.as_deref())
            .unwrap_or(&self.start)
    }

    /// The environment of a node in `role`: `[db] env`, then the role's.
    pub fn env_of(&self, role: Option<&str>) -> BTreeMap<String, String> {
        let mut env = self.env.clone();
        if let Some(r) = self.role(role) {
            env.extend(r.env.clone());
        }
        env
    }

    /// The readiness probe of a node in `role`.
    pub fn ready_of(&self, role: Option<&str>) -> &ReadySpec {
        self.role(role)
            .and_then(|r| r.ready.as_ref())
            .unwrap_or(&self.ready)
    }

    fn role(&self, role: Option<&str>) -> Option<&RoleSpec> {
        role.and_then(|r| self.roles.get(r))
    }
}

fn default_member() -> String {
    "{{node}}={{ip}}".into()
}
fn default_separator() -> String {
    ",".into()
}
fn default_ports() -> BTreeMap<String, u16> {
    BTreeMap::from([("client".to_string(), 8080)])
}
/// The signal that stops the store at teardown.
#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum StopSignal {
    #[default]
    Term,
    Int,
    Kill,
}

impl StopSignal {
    pub fn signal(self) -> nix::sys::signal::Signal {
        match self {
            StopSignal::Term => nix::sys::signal::Signal::SIGTERM,
            StopSignal::Int => nix::sys::signal::Signal::SIGINT,
            StopSignal::Kill => nix::sys::signal::Signal::SIGKILL,
        }
    }
}

/// The readiness probe: an HTTP request to each node's client port, repeated until it
/// answers one of `status` or `timeout_s` runs out (then the test cannot be carried out).
/// With `probe = "write-read"`, a write made through the client on one node must then be
/// read back from every node, within the same `timeout_s`.
///
/// `headers` and `body` are templates over the client's variables (`node`, `ip`, `port`;
/// `key` and `value` are empty), so a store that demands a content type or a body can be
/// asked properly instead of having its refusal accepted as "ready".
#[derive(Deserialize, Serialize, JsonSchema, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct ReadySpec {
    #[serde(default = "default_get")]
    /// The probe's HTTP method. Default `GET`.
    #[schemars(example = &"POST")]
    pub method: String,
    /// The probe's path on each node's client port.
    #[schemars(example = &"/health")]
    pub path: String,
    /// Headers of the probe. Default: the client's `[client] headers` (filled in at load,
    /// so the run's `spec.toml` shows what was sent).
    #[serde(default)]
    #[schemars(example = serde_json::json!({"content-type": "application/json"}))]
    pub headers: Option<BTreeMap<String, String>>,
    /// The probe's body. Default: none.
    #[serde(default)]
    #[schemars(example = &"{\"probe\":\"{{node}}\"}")]
    pub body: Option<String>,
    #[serde(default = "default_ok_status")]
    /// The statuses that mean ready. Default `[200]`.
    #[schemars(example = [200, 204])]
    pub status: Vec<u16>,
    /// If set, the body must contain this text.
    #[serde(default)]
    #[schemars(example = &"\"health\":\"true\"")]
    pub body_contains: Option<String>,
    #[serde(default = "default_ready_timeout")]
    /// How long every node has to pass, from the first probe, seconds (within
    /// `run.setup_timeout_s`); past it the test cannot be carried out (exit 3). Default 30.
    #[schemars(example = 60)]
    pub timeout_s: u64,
    #[serde(default = "default_ready_interval")]
    /// The pause between two rounds of probes, milliseconds. Default 200.
    #[schemars(example = 500)]
    pub interval_ms: u64,
    /// What ready means: `http` (the default: every node answers the probe above) or
    /// `write-read` (then, through the client's own `write` and `read`, a unique value
    /// written to a reserved key on one node must be read back from every node, so a
    /// replica still serving an old snapshot is not ready; not recorded in the history).
    #[serde(default)]
    #[schemars(example = &"write-read")]
    pub probe: ReadyProbe,
}

/// What a node must do to count as ready (`[db.ready] probe`).
#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ReadyProbe {
    /// Answer the HTTP probe.
    #[default]
    Http,
    /// Answer the HTTP probe, then show a write made on one node through the client.
    WriteRead,
}

pub(super) fn default_get() -> String {
    "GET".into()
}
fn default_ok_status() -> Vec<u16> {
    vec![200]
}
fn default_ready_timeout() -> u64 {
    30
}
fn default_ready_interval() -> u64 {
    200
}

/// The variables of every `[db]` template, besides one `{{<name>_port}}` per `[db.ports]`
/// entry; `db::plan` binds each by name.
pub const DB_VARS: [&str; 9] = [
    "node",
    "ip",
    "addr",
    "data_dir",
    "log_dir",
    "initial_cluster",
    "nodes",
    "index",
    "cluster_state",
];

/// The variables a `[db]` template of this spec may use.
pub fn db_vars(spec: &DbSpec) -> Vec<String> {
    let mut vars: Vec<String> = DB_VARS.iter().map(|s| s.to_string()).collect();
    vars.extend(spec.ports.keys().map(|p| format!("{p}_port")));
    vars
}

/// The variables of a `[db]` template that name the cluster's other nodes, for a cluster
/// of `names`: `role` (this node's role, empty for none), `node.<name>.ip` for each node,
/// and `role.<role>.ip` and `role.<role>.node` (the role's first node) for each role.
pub fn cluster_vars(spec: &DbSpec, names: &[String]) -> Vec<String> {
    let mut vars = vec!["role".to_string()];
    vars.extend(names.iter().map(|n| format!("node.{n}.ip")));
    for role in spec.roles.keys() {
        vars.push(format!("role.{role}.ip"));
        vars.push(format!("role.{role}.node"));
    }
    vars
}

/// The names of a cluster's `n` nodes.
pub fn node_names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("n{i}")).collect()
}

impl LoadedSpec {
    pub(super) fn validate_db(&self) -> Result<(), SpecError> {
        let db = &self.spec.db;
        let names = node_names(self.spec.run.nodes);
        let mut vars = db_vars(db);
        vars.extend(cluster_vars(db, &names));
        let vars: Vec<&str> = vars.iter().map(String::as_str).collect();
        if db.start.is_empty() {
            return Err(self.err(
                "db.start",
                "the start command is empty",
                Some(
                    "give the program and its arguments, e.g. [\"etcd\", \"--name\", \"{{node}}\"]"
                        .into(),
                ),
            ));
        }
        let templates = db
            .start
            .iter()
            .map(|t| ("db.start", t))
            .chain(db.wipe.iter().map(|t| ("db.wipe", t)))
            .chain(db.logs.iter().map(|t| ("db.logs", t)))
            .chain(db.env.iter().map(|(k, t)| (k.as_str(), t)))
            .chain([("db.member", &db.member)]);
        for (key, t) in templates {
            let key = if db.env.contains_key(key) {
                format!("db.env.{key}")
            } else {
                key.to_string()
            };
            Template::compile(t, &vars).map_err(|e| self.template_err(&key, e))?;
        }
        for (name, t) in &db.files {
            let key = format!("db.files.{name}");
            let reserved = ["data", "daemon.log", "daemon.pid"].contains(&name.as_str());
            if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\']) || reserved {
                return Err(self.err(
                    &key,
                    format!("{name:?} is not a plain file name of the node's own"),
                    Some(
                        "name a file such as \"store.conf\" (no `/`, no leading dot; not \
                          data, daemon.log or daemon.pid)"
                            .into(),
                    ),
                ));
            }
            Template::compile(t, &vars).map_err(|e| self.template_err(&key, e))?;
        }
        self.validate_roles(&names, &vars)?;
        if !db.ports.contains_key("client") {
            return Err(self.err(
                "db.ports",
                "there is no `client` port",
                Some("add the port clients talk to: ports = { client = 2379 }".into()),
            ));
        }
        self.validate_ready(&db.ready, "db.ready")?;
        let fs = self.spec.workload.name.fs();
        if db.ready.probe == ReadyProbe::WriteRead && crate::db::ProbeOps::of(fs).is_none() {
            return Err(self.err(
                "db.ready.probe",
                format!(
                    "the `{}` workload has no write and read for the write-read probe (it \
                     issues {})",
                    self.spec.workload.name.name(),
                    fs.join(", ")
                ),
                Some("use probe = \"http\"".into()),
            ));
        }
        Ok(())
    }

    /// The request of a readiness probe at `at` (`db.ready`, `db.roles.NAME.ready`).
    fn validate_ready(&self, ready: &ReadySpec, at: &str) -> Result<(), SpecError> {
        if reqwest::Method::from_bytes(ready.method.as_bytes()).is_err() {
            return Err(self.err(
                &format!("{at}.method"),
                format!("`{}` is not an HTTP method", ready.method),
                Some("e.g. method = \"POST\"".into()),
            ));
        }
        let templates = ready
            .headers
            .iter()
            .flatten()
            .map(|(k, t)| (format!("{at}.headers.{k}"), t))
            .chain(ready.body.iter().map(|b| (format!("{at}.body"), b)));
        for (key, t) in templates {
            Template::compile(t, &super::OP_VARS).map_err(|e| self.template_err(&key, e))?;
        }
        if ready.status.is_empty() {
            return Err(self.err(
                &format!("{at}.status"),
                "no status would ever mean ready",
                Some("e.g. status = [200]".into()),
            ));
        }
        Ok(())
    }

    /// `[db.roles]`: every role's nodes exist and none is in two roles; its start, env and
    /// readiness compile.
    fn validate_roles(&self, names: &[String], vars: &[&str]) -> Result<(), SpecError> {
        let db = &self.spec.db;
        db.roles_of(names).map_err(|e| {
            self.err(
                &format!("db.roles.{}", e.role),
                e.message,
                Some(
                    "name nodes as \"n1\" or 1, each in one role; leave `nodes` out of one \
                     role for the rest"
                        .into(),
                ),
            )
        })?;
        for (role, r) in &db.roles {
            let at = format!("db.roles.{role}");
            if r.start.as_ref().is_some_and(Vec::is_empty) {
                return Err(self.err(
                    &format!("{at}.start"),
                    "the start command is empty",
                    Some("give the program and its arguments, or leave `start` out".into()),
                ));
            }
            let templates = r
                .start
                .iter()
                .flatten()
                .map(|t| (format!("{at}.start"), t))
                .chain(r.env.iter().map(|(k, t)| (format!("{at}.env.{k}"), t)));
            for (key, t) in templates {
                Template::compile(t, vars).map_err(|e| self.template_err(&key, e))?;
            }
            if let Some(ready) = &r.ready {
                self.validate_ready(ready, &format!("{at}.ready"))?;
                if ready.probe != ReadyProbe::Http {
                    return Err(self.err(
                        &format!("{at}.ready.probe"),
                        "a role's probe is an HTTP request: the write-read probe spans the \
                         whole cluster",
                        Some("set probe = \"write-read\" in [db.ready] instead".into()),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// A 3-node spec with `roles` appended after its `[db.ready]`.
    fn with_roles(roles: &str) -> Result<LoadedSpec, SpecError> {
        let src = format!(
            "[run]\nnodes = 3\n[db]\nstart = [\"kvd\", \"{{{{ip}}}}\"]\n[db.ready]\npath = \"/\"\n\
             {roles}\n[client.ops.read]\npath = \"/\"\n[client.ops.write]\npath = \"/\"\n\
             [workload]\nname = \"register\"\n"
        );
        LoadedSpec::parse(Path::new("t.toml"), src)
    }

    fn names() -> Vec<String> {
        node_names(3)
    }

    #[test]
    fn a_role_without_nodes_takes_every_node_no_other_role_names() {
        let spec = with_roles(
            "[db.roles.primary]\nnodes = [1]\n[db.roles.replica]\nstart = [\"kvd\", \"--follow\", \
             \"{{role.primary.ip}}\"]",
        )
        .unwrap()
        .spec;
        let roles = spec.db.roles_of(&names()).unwrap();
        assert_eq!(
            roles,
            [Some("primary"), Some("replica"), Some("replica")].map(|r| r.map(String::from))
        );
        assert_eq!(spec.db.start_of(Some("primary")), ["kvd", "{{ip}}"]);
        assert_eq!(spec.db.start_of(Some("replica"))[1], "--follow");
    }

    #[test]
    fn a_node_in_no_role_runs_the_db_table_itself() {
        let spec = with_roles("[db.roles.primary]\nnodes = [\"n2\"]")
            .unwrap()
            .spec;
        let roles = spec.db.roles_of(&names()).unwrap();
        assert_eq!(roles, [None, Some("primary".to_string()), None]);
        assert_eq!(spec.db.ready_of(None).path, "/");
    }

    #[test]
    fn roles_that_cannot_be_given_to_the_cluster_are_located_errors() {
        for (roles, wanted) in [
            ("[db.roles.a]\nnodes = [4]", "node 4 is not in the cluster"),
            (
                "[db.roles.a]\nnodes = [\"n9\"]",
                "node \"n9\" is not in the cluster",
            ),
            (
                "[db.roles.a]\nnodes = [1]\n[db.roles.b]\nnodes = [\"n1\"]",
                "n1 is already in role `a`",
            ),
            ("[db.roles.a]\n[db.roles.b]", "both leave out `nodes`"),
        ] {
            let e = with_roles(roles).unwrap_err();
            assert!(e.message.contains(wanted), "{roles}: {e}");
            assert!(e.key.as_deref().unwrap().starts_with("db.roles."), "{e}");
            assert!(e.line.is_some(), "{e}");
        }
    }

    #[test]
    fn a_misspelt_role_in_a_template_suggests_the_role_that_exists() {
        let e = with_roles(
            "[db.roles.primary]\nnodes = [1]\n[db.roles.replica]\nstart = [\"kvd\", \
             \"{{role.primray.ip}}\"]",
        )
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("db.roles.replica.start"));
        assert!(
            e.hint.as_deref().unwrap().contains("role.primary.ip"),
            "{e}"
        );
    }

    #[test]
    fn a_roles_probe_is_an_http_request_and_its_headers_default_to_the_clients() {
        let e = with_roles("[db.roles.a]\nready = { path = \"/x\", probe = \"write-read\" }")
            .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("db.roles.a.ready.probe"), "{e}");
        let spec = with_roles("[db.roles.a]\nready = { path = \"/x\" }")
            .unwrap()
            .spec;
        assert_eq!(spec.db.ready_of(Some("a")).path, "/x");
        assert!(spec.db.roles["a"].ready.as_ref().unwrap().headers.is_some());
    }

    #[test]
    fn a_file_name_must_stay_inside_the_node_directory() {
        let e = with_roles("[db.files]\n\"../x\" = \"a\"").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("db.files.../x"), "{e}");
        assert!(with_roles("[db.files]\n\"kvd.conf\" = \"listen {{ip}}\"").is_ok());
    }
}
