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
/// `member_separator`), `nodes` (node names joined by commas), `index` (1-based).
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
    /// Mount each node's data directory (`{{data_dir}}`) as a lazy filesystem, which keeps
    /// track of what the store never fsynced so that `lose-unfsynced-writes` can drop it
    /// (needs root, `/dev/fuse`, and the `local` or `loopback` backend; costs throughput).
    /// Default `false`.
    #[serde(default)]
    #[schemars(example = true)]
    pub lazyfs: bool,
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
pub const DB_VARS: [&str; 8] = [
    "node",
    "ip",
    "addr",
    "data_dir",
    "log_dir",
    "initial_cluster",
    "nodes",
    "index",
];

/// The variables a `[db]` template of this spec may use.
pub fn db_vars(spec: &DbSpec) -> Vec<String> {
    let mut vars: Vec<String> = DB_VARS.iter().map(|s| s.to_string()).collect();
    vars.extend(spec.ports.keys().map(|p| format!("{p}_port")));
    vars
}

impl LoadedSpec {
    pub(super) fn validate_db(&self) -> Result<(), SpecError> {
        let db = &self.spec.db;
        let vars = db_vars(db);
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
        if !db.ports.contains_key("client") {
            return Err(self.err(
                "db.ports",
                "there is no `client` port",
                Some("add the port clients talk to: ports = { client = 2379 }".into()),
            ));
        }
        if reqwest::Method::from_bytes(db.ready.method.as_bytes()).is_err() {
            return Err(self.err(
                "db.ready.method",
                format!("`{}` is not an HTTP method", db.ready.method),
                Some("e.g. method = \"POST\"".into()),
            ));
        }
        let ready_templates = db
            .ready
            .headers
            .iter()
            .flatten()
            .map(|(k, t)| (format!("db.ready.headers.{k}"), t))
            .chain(
                db.ready
                    .body
                    .iter()
                    .map(|b| ("db.ready.body".to_string(), b)),
            );
        for (key, t) in ready_templates {
            Template::compile(t, &super::OP_VARS).map_err(|e| self.template_err(&key, e))?;
        }
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
        if db.ready.status.is_empty() {
            return Err(self.err(
                "db.ready.status",
                "no status would ever mean ready",
                Some("e.g. status = [200]".into()),
            ));
        }
        Ok(())
    }
}
