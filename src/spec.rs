//! Test specs: one TOML file says how to run a store, how to talk to it, what to ask of it
//! and how to break it. `workloads/README.md` is the user's guide; this module is the
//! reference: every key, its default, and the checks made before anything starts.
//!
//! ```toml
//! name = "etcd-v3"                  # default: the file's stem
//! [run]                             # all optional; CLI flags override
//! nodes = 5                         # cluster size
//! concurrency = 10                  # client workers; worker w talks to node w % nodes
//! rate = 0                          # total ops/s; 0 = as fast as the store answers
//! time_limit_s = 60                 # length of the main phase (the nemesis runs here)
//! seed = 7                          # default: random, printed and stored with the run
//! [db]
//! start = ["etcd", "--name", "{{node}}", "--data-dir", "{{data_dir}}", ...]
//! member = "{{node}}=http://{{ip}}:{{peer_port}}"   # one entry of {{initial_cluster}}
//! ports = { client = 2379, peer = 2380 }            # each becomes {{NAME_port}}
//! [db.ready]                        # readiness probe, run against every node
//! path = "/health"
//! [client]
//! timeout_ms = 2000
//! [client.ops.read]                 # one table per `f` of the workload
//! method = "POST"
//! path = "/v3/kv/range"
//! body = '{"key":"{{key|base64}}"}'
//! [[client.ops.read.rules]]         # first matching rule classifies the response
//! status = [200]
//! outcome = "ok"
//! value = { pointer = "/kvs/0/value", decode = "base64", type = "int" }
//! [workload]
//! name = "cas-register"
//! [nemesis]
//! faults = ["partition", "kill"]
//! ```
//!
//! Errors name the file, the line and the key, and say how to fix it (exit 3). Unknown keys
//! are errors with the closest known key suggested: a misspelt optional key silently taking
//! its default is how a test ends up checking nothing.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use faultline_checkers::elle::ConsistencyModel;
use serde::{Deserialize, Serialize};

use crate::client::template::{did_you_mean, Template, TemplateError};
use crate::cluster::ssh::{SshHost, SshOptions};
use crate::cluster::{BackendKind, ClusterConfig, Target, Topology};

/// A validation error, located in the spec file.
#[derive(Debug, Clone)]
pub struct SpecError {
    pub file: PathBuf,
    pub line: Option<usize>,
    /// The dotted key path (`client.ops.read.method`), when known.
    pub key: Option<String>,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(": ")?;
        if let Some(key) = &self.key {
            write!(f, "key `{key}`: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecError {}

/// The whole spec, as written (after defaults). See the module docs for the shape.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The test's name: the directory its runs land in. Default: the file's stem.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub run: RunSettings,
    pub db: DbSpec,
    pub client: ClientSpec,
    pub workload: WorkloadSpec,
    #[serde(default)]
    pub nemesis: NemesisSpec,
    #[serde(default)]
    pub checker: CheckerSpec,
    /// The hosts of the `ssh` backend and how to reach them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshSpec>,
}

/// `[ssh]`: real hosts, one per node, for `backend = "ssh"`. With this backend the node count
/// is the number of hosts (`run.nodes` follows it).
///
/// ```toml
/// [ssh]
/// hosts = ["10.0.0.11", "10.0.0.12", "admin@10.0.0.13:2222"]   # or nodes_file = "hosts.txt"
/// user = "root"                     # a user other than root needs passwordless sudo
/// identity_file = "~/.ssh/id_ed25519"
/// strict_host_key_checking = true   # false only in a lab: any host key is accepted
/// ```
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct SshSpec {
    /// One host per node, `[user@]host[:port]`, in node order.
    pub hosts: Vec<String>,
    /// A file naming the hosts (comma- or line-separated, `#` comments), relative to the spec;
    /// replaces `hosts`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes_file: Option<PathBuf>,
    /// Login user. Default `root`.
    pub user: String,
    /// sshd port. Default 22.
    pub port: u16,
    /// Private key; default: the ssh client's own choice. `~/` is the home directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_file: Option<PathBuf>,
    /// Refuse hosts whose key is unknown or changed. Default true.
    pub strict_host_key_checking: bool,
    /// known_hosts file instead of the user's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_hosts_file: Option<PathBuf>,
    /// Seconds to wait for a connection. Default 5.
    pub connect_timeout_s: u64,
    /// Remote directory holding each node's `faultline-<run>-<node>/`. Default `/tmp`.
    pub remote_root: PathBuf,
}

impl Default for SshSpec {
    fn default() -> Self {
        SshSpec {
            hosts: Vec::new(),
            nodes_file: None,
            user: "root".into(),
            port: 22,
            identity_file: None,
            strict_host_key_checking: true,
            known_hosts_file: None,
            connect_timeout_s: 5,
            remote_root: PathBuf::from("/tmp"),
        }
    }
}

impl Spec {
    /// Whether any fault of the nemesis moves clocks.
    pub fn uses_clock_faults(&self) -> bool {
        let n = &self.nemesis;
        n.faults
            .iter()
            .chain(n.schedule.iter().map(|s| &s.fault))
            .any(|f| f.starts_with("clock"))
    }

    /// The cluster this spec asks for: `run.backend` with `run.nodes` nodes, or one node per
    /// `[ssh]` host.
    pub fn cluster_config(&self) -> Result<ClusterConfig, crate::cluster::Error> {
        let backend: BackendKind = self.run.backend.parse()?;
        if backend != BackendKind::Ssh {
            return Ok(ClusterConfig::new(backend, self.run.nodes));
        }
        let ssh = self.ssh.clone().unwrap_or_default();
        let hosts = ssh
            .hosts
            .iter()
            .map(|h| h.parse())
            .collect::<Result<Vec<SshHost>, _>>()?;
        let mut o = SshOptions::new(hosts);
        o.user = ssh.user;
        o.port = ssh.port;
        o.identity_file = ssh.identity_file.as_deref().map(home);
        o.strict_host_key_checking = ssh.strict_host_key_checking;
        o.known_hosts_file = ssh.known_hosts_file.as_deref().map(home);
        o.connect_timeout = Duration::from_secs(ssh.connect_timeout_s.max(1));
        o.remote_root = ssh.remote_root;
        Ok(ClusterConfig::ssh(o))
    }
}

/// `~/x` under the home directory; any other path as is.
fn home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(h)) => PathBuf::from(h).join(rest),
        _ => path.to_path_buf(),
    }
}

/// Reads a node list for `--nodes-file` or `ssh.nodes_file`; errors name the file and line.
pub fn read_nodes_file(path: &Path) -> Result<Vec<String>, SpecError> {
    let located = |line: Option<usize>, message: String, hint: Option<String>| SpecError {
        file: path.to_path_buf(),
        line,
        key: None,
        message,
        hint,
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        located(
            None,
            format!("cannot read the node list: {e}"),
            Some("one host per line: host, user@host or user@host:port".into()),
        )
    })?;
    let mut hosts = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        for word in line.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            word.parse::<SshHost>()
                .map_err(|e| located(Some(i + 1), e.to_string(), None))?;
            hosts.push(word.to_string());
        }
    }
    if hosts.is_empty() {
        return Err(located(None, "the node list names no host".into(), None));
    }
    Ok(hosts)
}

/// Run settings; each has a CLI flag that overrides it.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct RunSettings {
    /// Cluster size. Default 5.
    pub nodes: usize,
    /// Concurrent client workers. Default 10.
    pub concurrency: usize,
    /// Total operations per second over all workers; 0 means unlimited. Default 0.
    pub rate: f64,
    /// Length of the main phase in seconds. Default 60.
    pub time_limit_s: u64,
    /// The seed of every random choice. Default: drawn at random and printed.
    pub seed: Option<u64>,
    /// Node backend: `local` (network namespaces, needs root) or `loopback`. Default `local`.
    pub backend: String,
    /// Limit on setup (start and readiness of every node), seconds. Default 60.
    pub setup_timeout_s: u64,
    /// Quiet period after the final heal, before final reads, seconds. Default 5.
    pub quiet_s: u64,
    /// Limit on the final reads, seconds. Default 15.
    pub final_reads_timeout_s: u64,
    /// Limit on teardown, seconds. Default 30.
    pub teardown_timeout_s: u64,
    /// Limit on the checker, seconds; past it the verdict is unknown. Default 120.
    pub check_timeout_s: u64,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            nodes: 5,
            concurrency: 10,
            rate: 0.0,
            time_limit_s: 60,
            seed: None,
            backend: "local".into(),
            setup_timeout_s: 60,
            quiet_s: 5,
            final_reads_timeout_s: 15,
            teardown_timeout_s: 30,
            check_timeout_s: 120,
        }
    }
}

/// How to run the store on a node. Command templates are argument vectors: each element is
/// rendered and passed as one argument, never through a shell.
///
/// Variables in `start`, `wipe`, `member`, `env` and `logs`: `node` (`n1`), `ip`, `addr`
/// (same as `ip`), `NAME_port` for each entry of `ports`, `data_dir` (inside the run
/// directory, per node), `log_dir`, `initial_cluster` (every node's `member`, joined by
/// `member_separator`), `nodes` (node names joined by commas), `index` (1-based).
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct DbSpec {
    /// The store's program and arguments; it must stay in the foreground.
    pub start: Vec<String>,
    /// Extra command run before the first start (after the data dir is emptied).
    #[serde(default)]
    pub wipe: Vec<String>,
    /// Environment variables for the store.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// One member of `{{initial_cluster}}`. Default `{{node}}={{ip}}`.
    #[serde(default = "default_member")]
    pub member: String,
    #[serde(default = "default_separator")]
    pub member_separator: String,
    /// Named ports; `client` is the one the client and the readiness probe use.
    #[serde(default = "default_ports")]
    pub ports: BTreeMap<String, u16>,
    /// Signal to stop the store at teardown (`TERM` or `KILL`). Default `TERM`.
    #[serde(default = "default_stop_signal")]
    pub stop_signal: String,
    pub ready: ReadySpec,
    /// Extra log files to collect at teardown (templates), besides the store's own output.
    #[serde(default)]
    pub logs: Vec<String>,
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
fn default_stop_signal() -> String {
    "TERM".into()
}

/// The readiness probe: an HTTP request to each node's client port, repeated until it
/// answers one of `status` or `timeout_s` runs out (then the test cannot be carried out).
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct ReadySpec {
    #[serde(default = "default_get")]
    pub method: String,
    pub path: String,
    #[serde(default = "default_ok_status")]
    pub status: Vec<u16>,
    /// If set, the body must contain this text.
    #[serde(default)]
    pub body_contains: Option<String>,
    #[serde(default = "default_ready_timeout")]
    pub timeout_s: u64,
    #[serde(default = "default_ready_interval")]
    pub interval_ms: u64,
}

fn default_get() -> String {
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

/// The declarative client: one [`OpSpec`] per operation `f`.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// Per-request limit; past it the op is `info` (or `fail` for a read). Default 2000.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Limit on opening a connection. Default 500.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// The longest answer body read, in bytes; a longer answer is recorded as lost (`info`,
    /// or `fail` for a read) and the rest of it is not read. Default 1048576 (1 MiB).
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Headers sent with every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub ops: BTreeMap<String, OpSpec>,
}

fn default_max_body_bytes() -> usize {
    1 << 20
}

/// The largest `client.max_body_bytes` a spec may set (1 GiB).
const MAX_BODY_BYTES: usize = 1 << 30;

fn default_timeout_ms() -> u64 {
    2000
}
fn default_connect_timeout_ms() -> u64 {
    500
}

/// One operation as an HTTP request and the rules that classify its response.
///
/// Variables in `path`, `query`, `headers` and `body`: `key`, `value` (the invocation's
/// value), `expected` and `new` (a `cas`'s `[expected, new]`), `node`, `ip`, `port`.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct OpSpec {
    #[serde(default = "default_get")]
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<String>,
    /// False for an op that changes nothing (a read): a timeout or an unrecognised answer is
    /// then `fail`, not `info`. Default: false for `read`, true for everything else.
    #[serde(default)]
    pub side_effects: Option<bool>,
    /// Tried in order; the first that matches classifies the response. None matching: `info`
    /// (or `fail` without side effects).
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// An operation carried out by faultline's own code instead of one templated request,
    /// for protocols one request cannot express: `etcd-v3-list-append` (a `txn` of
    /// list-append micro-ops as a read of its keys, then a write guarded by their
    /// revisions, both sent to `path` on etcd's v3 JSON gateway). `rules` and `body` do not
    /// apply to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<Builtin>,
}

/// The operations faultline carries out in its own code (see [`OpSpec::builtin`]).
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Builtin {
    EtcdV3ListAppend,
}

/// A response rule. Every condition given must hold.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Statuses that match; empty matches any.
    #[serde(default)]
    pub status: Vec<u16>,
    /// The body must contain this text.
    #[serde(default)]
    pub body_contains: Option<String>,
    /// JSON pointers that must be absent from the body (or the body is not JSON).
    #[serde(default)]
    pub missing: Vec<String>,
    /// JSON pointers that must be present in the body.
    #[serde(default)]
    pub present: Vec<String>,
    /// Pointer -> value that must be equal (`{ "/succeeded" = true }`).
    #[serde(default)]
    pub equals: BTreeMap<String, toml::Value>,
    pub outcome: RuleOutcome,
    /// For `ok`: where the op's value comes from. Without it an `ok` keeps the invocation's
    /// value (writes) — for a read it is `null`.
    #[serde(default)]
    pub value: Option<ExtractSpec>,
    /// Text recorded as the op's `error` (for `fail` and `info`).
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RuleOutcome {
    Ok,
    Fail,
    Info,
}

/// How to take an `ok` op's value out of the response body.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct ExtractSpec {
    /// JSON pointer into the body; `""` is the whole body.
    pub pointer: String,
    /// For a list: pointer applied to each element of the array found at `pointer`.
    #[serde(default)]
    pub each: Option<String>,
    /// `base64` to decode a string before typing it.
    #[serde(default)]
    pub decode: Option<Decode>,
    #[serde(rename = "type", default = "default_value_type")]
    pub kind: ValueType,
    /// What a missing pointer means: `null` (ok, value null: the key is absent), `fail` or
    /// `info`. Default `null`.
    #[serde(default = "default_if_missing")]
    pub if_missing: IfMissing,
}

fn default_value_type() -> ValueType {
    ValueType::Json
}
fn default_if_missing() -> IfMissing {
    IfMissing::Null
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Decode {
    Base64,
}

/// The type a value is converted to. `int` accepts a JSON number or a string of digits
/// (etcd's gateway writes 64-bit numbers as strings).
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    Int,
    String,
    Bool,
    Json,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum IfMissing {
    Null,
    Fail,
    Info,
}

/// The workload: which operations, over which keys.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// `register` (read, write), `cas-register` (read, write, cas), `set` (add, then final
    /// reads) or `list-append` (txn: transactions of appends and reads).
    pub name: WorkloadKind,
    /// Keys in use at once. Default 10.
    #[serde(default = "default_keys")]
    pub keys: usize,
    /// A key is retired after this many ops (for `list-append`: appends) and a fresh one
    /// takes its place, so each key's history stays small enough to check. Default 200.
    #[serde(default = "default_ops_per_key")]
    pub ops_per_key: u64,
    /// `list-append`: the most micro-ops in one transaction (each has 1 to this many).
    /// Default 4.
    #[serde(default = "default_max_txn_length")]
    pub max_txn_length: usize,
    /// Relative weights of the operations (for `list-append`, of the micro-ops: `r` by
    /// `read_weight`, `append` by `write_weight`). Defaults: read 2, write 1, cas 1.
    #[serde(default = "default_weight2")]
    pub read_weight: u32,
    #[serde(default = "default_weight1")]
    pub write_weight: u32,
    #[serde(default = "default_weight1")]
    pub cas_weight: u32,
}

fn default_keys() -> usize {
    10
}
fn default_ops_per_key() -> u64 {
    200
}
fn default_max_txn_length() -> usize {
    4
}
fn default_weight1() -> u32 {
    1
}
fn default_weight2() -> u32 {
    2
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadKind {
    Register,
    CasRegister,
    Set,
    ListAppend,
}

impl WorkloadKind {
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Register => "register",
            WorkloadKind::CasRegister => "cas-register",
            WorkloadKind::Set => "set",
            WorkloadKind::ListAppend => "list-append",
        }
    }

    /// The checker a run of this workload uses unless the spec names another.
    pub fn default_checker(self) -> &'static str {
        match self {
            WorkloadKind::Register => "register",
            WorkloadKind::CasRegister => "cas-register",
            WorkloadKind::Set => "set-full",
            WorkloadKind::ListAppend => "list-append",
        }
    }

    /// The operations the workload issues; each needs a `[client.ops.F]`.
    pub fn fs(self) -> &'static [&'static str] {
        match self {
            WorkloadKind::Register => &["read", "write"],
            WorkloadKind::CasRegister => &["read", "write", "cas"],
            WorkloadKind::Set => &["add", "read"],
            WorkloadKind::ListAppend => &["txn"],
        }
    }
}

/// The nemesis: random faults at an interval, or a scripted schedule.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct NemesisSpec {
    /// Fault kinds drawn at random: `partition`, `kill`, `pause`, `clock` (a clock bump) or
    /// `clock-strobe` (one of the two clock faults at a time). Empty: none. Clock faults on
    /// `local`/`loopback` nodes run the store under libfaketime and refuse Go stores (etcd),
    /// whose clock reads bypass libc; on `ssh` hosts they set the real clock.
    pub faults: Vec<String>,
    /// Which nodes a `kill` hits: `one`, `minority`, `majority`, `all` or names
    /// (`n1,n3`). Default `minority`.
    pub kill_target: String,
    /// Which nodes a `pause` hits (as `kill_target`). Default `one`.
    pub pause_target: String,
    /// Which nodes a clock fault hits (as `kill_target`). Default `one`.
    pub clock_target: String,
    /// How far a clock fault moves a clock, milliseconds (a bump's sign is drawn by the
    /// seed). Default 2000.
    pub clock_delta_ms: i64,
    /// How long a `clock-strobe` holds each position, milliseconds. Default 100.
    pub clock_period_ms: u64,
    /// Mean seconds between the end of one fault and the start of the next (each wait is
    /// drawn from ±50 % of it). Default 5.
    pub interval_s: f64,
    /// Mean seconds each fault lasts (±50 %). Default 10.
    pub duration_s: f64,
    /// Partition topologies drawn from (`halves`, `random-halves`, `majorities-ring`,
    /// `isolate-one`, `bridge`, or explicit components `n1,n2|n3,n4,n5`). Default:
    /// `random-halves`, `isolate-one`, `majorities-ring`.
    pub topologies: Vec<String>,
    /// A scripted schedule; when given, it replaces the random one.
    pub schedule: Vec<ScheduledFault>,
}

impl Default for NemesisSpec {
    fn default() -> Self {
        NemesisSpec {
            faults: Vec::new(),
            kill_target: "minority".into(),
            pause_target: "one".into(),
            clock_target: "one".into(),
            clock_delta_ms: 2000,
            clock_period_ms: 100,
            interval_s: 5.0,
            duration_s: 10.0,
            topologies: Vec::new(),
            schedule: Vec::new(),
        }
    }
}

/// One scripted fault: starts `at_s` seconds into the main phase and lasts `duration_s`.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct ScheduledFault {
    pub at_s: f64,
    pub fault: String,
    pub duration_s: f64,
    /// For a partition: the topology (default `random-halves`).
    #[serde(default)]
    pub topology: Option<String>,
    /// For kill and pause: `one`, `minority`, `majority`, `all` or node names (`n1,n3`).
    /// Default `one`.
    #[serde(default)]
    pub target: Option<String>,
}

/// Checker settings. The checker follows from the workload (`register` and `cas-register`:
/// linearizability over that model; `set`: `set-full`; `list-append`: Elle's `list-append`,
/// strict serializability) unless `name` says otherwise.
#[derive(Deserialize, Serialize, Clone, Debug, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CheckerSpec {
    /// A checker by name (`faultline check --help` lists them).
    pub name: Option<String>,
    /// Knossos's rule: an `ok` read of `null` observed nothing. Default false.
    pub nil_read_matches_any: bool,
    /// For `list-append` and `rw-register`: the isolation level the history must meet
    /// (`read-committed`, `snapshot-isolation`, `serializable`, `strict-serializable`).
    /// Default `strict-serializable`.
    pub consistency_model: Option<String>,
}

pub const FAULTS: [&str; 5] = ["partition", "kill", "pause", "clock", "clock-strobe"];
pub const BACKENDS: [&str; 3] = ["local", "loopback", "ssh"];

/// CLI overrides of run settings and the nemesis.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub nodes: Option<usize>,
    pub concurrency: Option<usize>,
    pub rate: Option<f64>,
    pub time_limit_s: Option<u64>,
    pub nemesis: Option<Vec<String>>,
    pub seed: Option<u64>,
    pub backend: Option<String>,
    /// Hosts of the ssh backend, read from a file (`--nodes-file`).
    pub nodes_file: Option<PathBuf>,
    /// Hosts of the ssh backend given as `--nodes host1,host2,...`.
    pub hosts: Option<Vec<String>>,
    /// Accept any host key (`--insecure-host-keys`, for a lab).
    pub insecure_host_keys: bool,
}

/// A loaded, validated spec with its source text (stored with every run).
#[derive(Clone, Debug)]
pub struct LoadedSpec {
    pub path: PathBuf,
    pub source: String,
    pub spec: Spec,
}

/// The variables of `[db]` templates, in the order their values are passed to `render`.
pub fn db_vars(spec: &DbSpec) -> Vec<String> {
    let mut vars: Vec<String> = [
        "node",
        "ip",
        "addr",
        "data_dir",
        "log_dir",
        "initial_cluster",
        "nodes",
        "index",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    vars.extend(spec.ports.keys().map(|p| format!("{p}_port")));
    vars
}

/// The variables of `[client.ops]` templates, in render order.
pub const OP_VARS: [&str; 7] = ["key", "value", "expected", "new", "node", "ip", "port"];

impl LoadedSpec {
    /// Reads, parses and validates a spec file.
    pub fn load(path: &Path) -> Result<LoadedSpec, SpecError> {
        let source = std::fs::read_to_string(path).map_err(|e| SpecError {
            file: path.to_path_buf(),
            line: None,
            key: None,
            message: format!("cannot read the spec: {e}"),
            hint: Some("give the path of a test spec, such as workloads/etcd-v3.toml".into()),
        })?;
        LoadedSpec::parse(path, source)
    }

    /// Parses and validates spec text; `path` names it in errors.
    pub fn parse(path: &Path, source: String) -> Result<LoadedSpec, SpecError> {
        let mut spec: Spec = toml::from_str(&source).map_err(|e| parse_error(path, &source, &e))?;
        if spec.name.is_empty() {
            spec.name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "test".into());
        }
        let mut loaded = LoadedSpec {
            path: path.to_path_buf(),
            source,
            spec,
        };
        loaded.resolve_hosts()?;
        loaded.validate()?;
        Ok(loaded)
    }

    /// Applies CLI overrides and validates again. On error the spec is left as it was, and
    /// the error names the flag rather than the file.
    pub fn apply(&mut self, o: &Overrides) -> Result<(), SpecError> {
        let mut next = self.clone();
        let run = &mut next.spec.run;
        let mut flags: Vec<(&str, &str)> = Vec::new();
        if let Some(n) = o.nodes {
            run.nodes = n;
            flags.push(("run.nodes", "--nodes"));
        }
        if let Some(c) = o.concurrency {
            run.concurrency = c;
            flags.push(("run.concurrency", "--concurrency"));
        }
        if let Some(r) = o.rate {
            run.rate = r;
            flags.push(("run.rate", "--rate"));
        }
        if let Some(t) = o.time_limit_s {
            run.time_limit_s = t;
            flags.push(("run.time_limit_s", "--time-limit"));
        }
        if let Some(s) = o.seed {
            run.seed = Some(s);
        }
        if let Some(b) = &o.backend {
            run.backend = b.clone();
            flags.push(("run.backend", "--backend"));
        }
        if let Some(file) = &o.nodes_file {
            let ssh = next.spec.ssh.get_or_insert_with(SshSpec::default);
            ssh.hosts = read_nodes_file(file)?;
            ssh.nodes_file = None;
            flags.push(("ssh.hosts", "--nodes-file"));
        }
        if let Some(hosts) = &o.hosts {
            let ssh = next.spec.ssh.get_or_insert_with(SshSpec::default);
            ssh.hosts = hosts.clone();
            ssh.nodes_file = None;
            flags.push(("ssh.hosts", "--nodes"));
        }
        if (o.hosts.is_some() || o.nodes_file.is_some()) && o.backend.is_none() {
            // Hosts on the command line mean real hosts: nothing else could use them.
            next.spec.run.backend = "ssh".into();
        }
        if o.insecure_host_keys {
            next.spec
                .ssh
                .get_or_insert_with(SshSpec::default)
                .strict_host_key_checking = false;
        }
        next.follow_hosts();
        if let Some(faults) = &o.nemesis {
            next.spec.nemesis.faults = faults.clone();
            // A fault list on the command line asks for random faults; a script would
            // silently ignore it.
            next.spec.nemesis.schedule.clear();
            flags.push(("nemesis.faults", "--nemesis"));
        }
        match next.validate() {
            Ok(()) => {
                *self = next;
                Ok(())
            }
            Err(mut e) => {
                if let Some((_, flag)) = flags.iter().find(|(k, _)| e.key.as_deref() == Some(k)) {
                    e.key = Some(flag.to_string());
                    e.line = None;
                    e.message = format!("{} (given on the command line)", e.message);
                }
                Err(e)
            }
        }
    }

    /// Reads `ssh.nodes_file` (relative to the spec) into `ssh.hosts`.
    fn resolve_hosts(&mut self) -> Result<(), SpecError> {
        let dir = self.path.parent().unwrap_or(Path::new(".")).to_path_buf();
        if let Some(ssh) = &mut self.spec.ssh {
            if let Some(file) = ssh.nodes_file.take() {
                ssh.hosts = read_nodes_file(&dir.join(home(&file)))?;
            }
        }
        self.follow_hosts();
        Ok(())
    }

    /// With the ssh backend, the node count is the host count.
    fn follow_hosts(&mut self) {
        if self.spec.run.backend == "ssh" {
            if let Some(ssh) = &self.spec.ssh {
                if !ssh.hosts.is_empty() {
                    self.spec.run.nodes = ssh.hosts.len();
                }
            }
        }
    }

    fn err(&self, key: &str, message: impl Into<String>, hint: Option<String>) -> SpecError {
        let path: Vec<&str> = key.split('.').collect();
        SpecError {
            file: self.path.clone(),
            line: locate(&self.source, &path),
            key: Some(key.to_string()),
            message: message.into(),
            hint,
        }
    }

    fn validate(&self) -> Result<(), SpecError> {
        let s = &self.spec;
        let r = &s.run;
        self.validate_name()?;
        self.validate_ranges()?;
        if r.nodes == 0 || r.nodes > 9 {
            return Err(self.err(
                "run.nodes",
                format!("{} nodes is out of range", r.nodes),
                Some("use 1 to 9 nodes (3 or 5 for a quorum store)".into()),
            ));
        }
        if r.concurrency == 0 || r.concurrency > 1024 {
            return Err(self.err(
                "run.concurrency",
                format!("concurrency {} is out of range", r.concurrency),
                Some("use 1 to 1024 workers".into()),
            ));
        }
        if !(r.rate >= 0.0 && r.rate.is_finite()) {
            return Err(self.err(
                "run.rate",
                "the rate must be a non-negative number",
                Some("0 means unlimited".into()),
            ));
        }
        if r.time_limit_s == 0 {
            return Err(self.err(
                "run.time_limit_s",
                "the main phase needs at least 1 second",
                None,
            ));
        }
        if !BACKENDS.contains(&r.backend.as_str()) {
            return Err(self.err(
                "run.backend",
                format!("unknown backend `{}`", r.backend),
                Some(suggest(&r.backend, &BACKENDS)),
            ));
        }
        self.validate_ssh()?;
        self.validate_db()?;
        self.validate_client()?;
        self.validate_workload()?;
        self.validate_nemesis()
    }

    /// The name becomes a directory under `--out`: it must stay one plain directory name.
    fn validate_name(&self) -> Result<(), SpecError> {
        let name = &self.spec.name;
        let problem = if name.is_empty() {
            Some("is empty")
        } else if name.contains(['/', '\\']) {
            Some("contains a path separator")
        } else if name.starts_with('.') {
            Some("starts with a dot")
        } else if name.chars().any(char::is_control) {
            Some("contains a control character")
        } else if name.len() > MAX_NAME_LEN {
            Some("is too long")
        } else {
            None
        };
        match problem {
            None => Ok(()),
            Some(problem) => Err(self.err(
                "name",
                format!("the name {name:?} {problem}: it names the directory runs land in"),
                Some(format!(
                    "use a plain name of at most {MAX_NAME_LEN} bytes, e.g. name = \"etcd-v3\""
                )),
            )),
        }
    }

    /// Durations and ports within what the runner can represent and a person can mean.
    fn validate_ranges(&self) -> Result<(), SpecError> {
        let (r, c, db, n) = (
            &self.spec.run,
            &self.spec.client,
            &self.spec.db,
            &self.spec.nemesis,
        );
        let seconds = [
            ("run.time_limit_s", r.time_limit_s),
            ("run.setup_timeout_s", r.setup_timeout_s),
            ("run.quiet_s", r.quiet_s),
            ("run.final_reads_timeout_s", r.final_reads_timeout_s),
            ("run.teardown_timeout_s", r.teardown_timeout_s),
            ("run.check_timeout_s", r.check_timeout_s),
            ("db.ready.timeout_s", db.ready.timeout_s),
        ];
        let millis = [
            ("client.timeout_ms", c.timeout_ms),
            ("client.connect_timeout_ms", c.connect_timeout_ms),
            ("db.ready.interval_ms", db.ready.interval_ms),
            ("nemesis.clock_period_ms", n.clock_period_ms),
            ("nemesis.clock_delta_ms", n.clock_delta_ms.unsigned_abs()),
        ];
        let fractional = [
            ("nemesis.interval_s", n.interval_s),
            ("nemesis.duration_s", n.duration_s),
        ]
        .into_iter()
        .chain(n.schedule.iter().flat_map(|step| {
            [
                ("nemesis.schedule", step.at_s),
                ("nemesis.schedule", step.duration_s),
            ]
        }));
        let too_long = seconds
            .into_iter()
            .find(|(_, v)| *v > MAX_SECONDS)
            .map(|(key, v)| (key, v.to_string()))
            .or_else(|| {
                millis
                    .into_iter()
                    .find(|(_, v)| *v > MAX_SECONDS * 1000)
                    .map(|(key, v)| (key, v.to_string()))
            })
            .or_else(|| {
                fractional
                    .into_iter()
                    .find(|(_, v)| !v.is_finite() || *v > MAX_SECONDS as f64)
                    .map(|(key, v)| (key, v.to_string()))
            });
        if let Some((key, value)) = too_long {
            return Err(self.err(
                key,
                format!("{value} is out of range"),
                Some(format!(
                    "durations are at most {MAX_SECONDS} seconds (one week)"
                )),
            ));
        }
        if c.max_body_bytes == 0 || c.max_body_bytes > MAX_BODY_BYTES {
            return Err(self.err(
                "client.max_body_bytes",
                format!("{} is out of range", c.max_body_bytes),
                Some(format!("use 1 to {MAX_BODY_BYTES} bytes")),
            ));
        }
        if let Some((port, _)) = db.ports.iter().find(|(_, p)| **p == 0) {
            return Err(self.err(
                &format!("db.ports.{port}"),
                "port 0 is not a port a client can reach",
                Some("use the store's real port, 1 to 65535".into()),
            ));
        }
        Ok(())
    }

    fn validate_ssh(&self) -> Result<(), SpecError> {
        if self.spec.run.backend != "ssh" {
            return Ok(());
        }
        let hosts = self.spec.ssh.as_ref().map_or(&[][..], |s| &s.hosts[..]);
        if hosts.is_empty() {
            return Err(self.err(
                "ssh.hosts",
                "the ssh backend needs its hosts",
                Some(
                    "list one host per node in `[ssh] hosts = [...]`, or pass --nodes-file".into(),
                ),
            ));
        }
        for h in hosts {
            if let Err(e) = h.parse::<SshHost>() {
                return Err(self.err("ssh.hosts", e.to_string(), None));
            }
        }
        Ok(())
    }

    fn validate_db(&self) -> Result<(), SpecError> {
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
        if !matches!(db.stop_signal.as_str(), "TERM" | "KILL" | "INT") {
            return Err(self.err(
                "db.stop_signal",
                format!("unknown signal `{}`", db.stop_signal),
                Some("use TERM, INT or KILL".into()),
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

    fn template_err(&self, key: &str, e: TemplateError) -> SpecError {
        self.err(key, e.message, e.hint)
    }

    fn validate_client(&self) -> Result<(), SpecError> {
        let c = &self.spec.client;
        if c.timeout_ms == 0 {
            return Err(self.err("client.timeout_ms", "a zero timeout fails every op", None));
        }
        for (k, t) in &c.headers {
            Template::compile(t, &OP_VARS)
                .map_err(|e| self.template_err(&format!("client.headers.{k}"), e))?;
        }
        for (f, op) in &c.ops {
            let base = format!("client.ops.{f}");
            if reqwest::Method::from_bytes(op.method.as_bytes()).is_err() {
                return Err(self.err(
                    &format!("{base}.method"),
                    format!("`{}` is not an HTTP method", op.method),
                    None,
                ));
            }
            if op.builtin.is_some() && (!op.rules.is_empty() || op.body.is_some()) {
                return Err(self.err(
                    &format!("{base}.builtin"),
                    "a builtin op classifies its answers itself: `rules` and `body` do not apply",
                    Some("remove `rules` and `body` from this op".into()),
                ));
            }
            if op.builtin == Some(Builtin::EtcdV3ListAppend) && f != "txn" {
                return Err(self.err(
                    &format!("{base}.builtin"),
                    format!("`etcd-v3-list-append` carries out `txn`, not `{f}`"),
                    Some("use it in [client.ops.txn] with the list-append workload".into()),
                ));
            }
            if !op.path.starts_with('/') {
                return Err(self.err(
                    &format!("{base}.path"),
                    format!("the path {:?} does not start with `/`", op.path),
                    Some("the node's address and port come first; write only the path, e.g. \"/v3/kv/range\"".into()),
                ));
            }
            let mut templates: Vec<(String, &String)> = vec![(format!("{base}.path"), &op.path)];
            templates.extend(
                op.query
                    .iter()
                    .map(|(k, v)| (format!("{base}.query.{k}"), v)),
            );
            templates.extend(
                op.headers
                    .iter()
                    .map(|(k, v)| (format!("{base}.headers.{k}"), v)),
            );
            templates.extend(op.body.iter().map(|b| (format!("{base}.body"), b)));
            for (key, t) in templates {
                Template::compile(t, &OP_VARS).map_err(|e| self.template_err(&key, e))?;
            }
            for (i, rule) in op.rules.iter().enumerate() {
                let key = format!("{base}.rules");
                let pointers = rule
                    .missing
                    .iter()
                    .chain(&rule.present)
                    .chain(rule.equals.keys())
                    .chain(rule.value.iter().map(|v| &v.pointer))
                    .chain(rule.value.iter().filter_map(|v| v.each.as_ref()));
                for p in pointers {
                    if !p.is_empty() && !p.starts_with('/') {
                        return Err(self.err(
                            &key,
                            format!("rule {}: {p:?} is not a JSON pointer", i + 1),
                            Some(format!("JSON pointers start with `/`: \"/{p}\"")),
                        ));
                    }
                }
                if rule.value.is_some() && rule.outcome != RuleOutcome::Ok {
                    return Err(self.err(
                        &key,
                        format!("rule {}: only an `ok` rule takes a value", i + 1),
                        Some("remove `value`, or make the outcome \"ok\"".into()),
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_workload(&self) -> Result<(), SpecError> {
        let w = &self.spec.workload;
        for f in w.name.fs() {
            if !self.spec.client.ops.contains_key(*f) {
                return Err(self.err(
                    "client.ops",
                    format!(
                        "the `{}` workload issues `{f}`, but there is no [client.ops.{f}]",
                        w.name.name()
                    ),
                    Some(
                        match did_you_mean(f, self.spec.client.ops.keys().map(String::as_str)) {
                            Some(s) => format!("rename [client.ops.{s}] to [client.ops.{f}]"),
                            None => format!("add a [client.ops.{f}] table saying how to `{f}`"),
                        },
                    ),
                ));
            }
        }
        if let Some(extra) = self
            .spec
            .client
            .ops
            .keys()
            .find(|f| !w.name.fs().contains(&f.as_str()))
        {
            return Err(self.err(
                &format!("client.ops.{extra}"),
                format!("the `{}` workload never issues `{extra}`", w.name.name()),
                Some(match did_you_mean(extra, w.name.fs().iter().copied()) {
                    Some(s) => format!("did you mean [client.ops.{s}]?"),
                    None => format!("it issues: {}", w.name.fs().join(", ")),
                }),
            ));
        }
        if let Some(name) = &self.spec.checker.name {
            let names: Vec<&str> = faultline_checkers::registry::CHECKERS
                .iter()
                .map(|c| c.name)
                .collect();
            if !names.contains(&name.as_str()) {
                return Err(self.err(
                    "checker.name",
                    format!("unknown checker `{name}`"),
                    Some(suggest(name, &names)),
                ));
            }
        }
        if let Some(model) = &self.spec.checker.consistency_model {
            let names: Vec<&str> = ConsistencyModel::ALL.iter().map(|m| m.name()).collect();
            if ConsistencyModel::from_name(model).is_none() {
                return Err(self.err(
                    "checker.consistency_model",
                    format!("unknown consistency model `{model}`"),
                    Some(suggest(model, &names)),
                ));
            }
            let checker = self
                .spec
                .checker
                .name
                .clone()
                .unwrap_or_else(|| w.name.default_checker().to_string());
            if !matches!(checker.as_str(), "list-append" | "rw-register") {
                return Err(self.err(
                    "checker.consistency_model",
                    format!("the `{checker}` checker takes no consistency model"),
                    Some("only list-append and rw-register check isolation levels".into()),
                ));
            }
        }
        if w.keys == 0 {
            return Err(self.err("workload.keys", "at least one key is needed", None));
        }
        if w.ops_per_key < 2 {
            return Err(self.err(
                "workload.ops_per_key",
                "a key needs at least 2 ops to say anything",
                None,
            ));
        }
        if w.max_txn_length == 0 {
            return Err(self.err(
                "workload.max_txn_length",
                "a transaction needs at least one micro-op",
                None,
            ));
        }
        if w.name == WorkloadKind::ListAppend && w.write_weight == 0 {
            return Err(self.err(
                "workload.write_weight",
                "a list-append workload that never appends reads only empty lists",
                Some("give `write_weight` (appends) a positive weight".into()),
            ));
        }
        if w.read_weight + w.write_weight + w.cas_weight == 0 {
            return Err(self.err(
                "workload.read_weight",
                "all operation weights are zero",
                None,
            ));
        }
        Ok(())
    }

    fn validate_nemesis(&self) -> Result<(), SpecError> {
        let n = &self.spec.nemesis;
        let nodes: Vec<String> = (1..=self.spec.run.nodes).map(|i| format!("n{i}")).collect();
        for f in &n.faults {
            if !FAULTS.contains(&f.as_str()) {
                return Err(self.err(
                    "nemesis.faults",
                    format!("unknown fault `{f}`"),
                    Some(suggest(f, &FAULTS)),
                ));
            }
        }
        for t in &n.topologies {
            self.check_topology("nemesis.topologies", t, &nodes)?;
        }
        self.check_target("nemesis.kill_target", &n.kill_target, &nodes)?;
        self.check_target("nemesis.pause_target", &n.pause_target, &nodes)?;
        self.check_target("nemesis.clock_target", &n.clock_target, &nodes)?;
        if n.clock_delta_ms <= 0 || n.clock_period_ms == 0 {
            return Err(self.err(
                "nemesis.clock_delta_ms",
                "clock_delta_ms and clock_period_ms must be positive",
                None,
            ));
        }
        if !(n.interval_s >= 0.0 && n.duration_s > 0.0) {
            return Err(self.err("nemesis.duration_s", "durations must be positive", None));
        }
        for (i, step) in n.schedule.iter().enumerate() {
            let at = format!("entry {}", i + 1);
            if !FAULTS.contains(&step.fault.as_str()) {
                return Err(self.err(
                    "nemesis.schedule",
                    format!("{at}: unknown fault `{}`", step.fault),
                    Some(suggest(&step.fault, &FAULTS)),
                ));
            }
            if let Some(t) = &step.topology {
                self.check_topology("nemesis.schedule", t, &nodes)?;
            }
            if let Some(t) = &step.target {
                self.check_target("nemesis.schedule", t, &nodes)?;
            }
            if !(step.at_s >= 0.0 && step.duration_s > 0.0) {
                return Err(self.err(
                    "nemesis.schedule",
                    format!("{at}: times must be positive"),
                    None,
                ));
            }
        }
        Ok(())
    }

    fn check_topology(&self, key: &str, t: &str, nodes: &[String]) -> Result<(), SpecError> {
        let topology: Topology = t.parse().map_err(|e: crate::cluster::Error| {
            self.err(key, e.to_string(), Some(suggest(t, &Topology::NAMES)))
        })?;
        let mut rng = rand::rngs::mock::StepRng::new(0, 1);
        topology
            .grudge(nodes, &mut rng)
            .map(|_| ())
            .map_err(|e| self.err(key, e.to_string(), None))
    }

    fn check_target(&self, key: &str, t: &str, nodes: &[String]) -> Result<(), SpecError> {
        let target: Target = t.parse().map_err(|e: crate::cluster::Error| {
            self.err(
                key,
                e.to_string(),
                Some("use one, minority, majority, all or node names like n1,n3".into()),
            )
        })?;
        let mut rng = rand::rngs::mock::StepRng::new(0, 1);
        target.select(nodes, &mut rng).map(|_| ()).map_err(|e| {
            self.err(
                key,
                e.to_string(),
                Some(format!("nodes are {}", nodes.join(", "))),
            )
        })
    }
}

/// The longest duration any setting may ask for: one week, in seconds. Every phase bound is
/// added up into one total, which must not overflow.
pub const MAX_SECONDS: u64 = 7 * 24 * 3600;
/// The longest spec name, in bytes (it becomes a directory name).
const MAX_NAME_LEN: usize = 100;

fn suggest(word: &str, options: &[&str]) -> String {
    match did_you_mean(word, options.iter().copied()) {
        Some(s) => format!("did you mean `{s}`? (one of: {})", options.join(", ")),
        None => format!("use one of: {}", options.join(", ")),
    }
}

/// Turns a TOML or serde error into a located error, with a did-you-mean for unknown keys
/// and values.
fn parse_error(path: &Path, source: &str, e: &toml::de::Error) -> SpecError {
    let span = e.span();
    let line = span.clone().map(|s| line_of(source, s.start));
    let message = e.message().trim().to_string();
    let key = span.clone().and_then(|s| key_at(source, s));
    let hint = unknown_name_hint(&message).or_else(|| missing_field_hint(&message));
    SpecError {
        file: path.to_path_buf(),
        line,
        key,
        // serde speaks of fields; a spec's author writes keys.
        message: message
            .replacen("unknown field", "unknown key", 1)
            .replacen("missing field", "missing key", 1),
        hint,
    }
}

/// From serde's "unknown field `x`, expected one of `a`, `b`" (and the same for variants),
/// the closest expected name.
fn unknown_name_hint(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))?;
    let (word, rest) = rest.split_once('`')?;
    let expected: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    Some(match did_you_mean(word, expected.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("expected one of: {}", expected.join(", ")),
    })
}

fn missing_field_hint(message: &str) -> Option<String> {
    let field = message.strip_prefix("missing field `")?.split('`').next()?;
    Some(format!(
        "add `{field}` (see workloads/README.md for what it means)"
    ))
}

fn line_of(source: &str, offset: usize) -> usize {
    source[..offset.min(source.len())].matches('\n').count() + 1
}

/// The key written at a span (for an unknown key the span covers the key itself).
fn key_at(source: &str, span: Range<usize>) -> Option<String> {
    // A type error's span is the value (`five`, `70000`): name the key that holds it.
    if let Ok(doc) = toml_edit::ImDocument::parse(source) {
        if let Some(path) = key_path_at(doc.as_item(), span.start) {
            return Some(path.join("."));
        }
    }
    let text = source.get(span)?.trim();
    let (key, _) = text.split_once('=')?;
    let key = key.trim().trim_matches('"');
    (!key.is_empty() && key.len() < 64 && !key.contains('\n')).then(|| key.to_string())
}

/// The dotted path of the key whose name or value covers byte `at` of the source.
fn key_path_at(item: &toml_edit::Item, at: usize) -> Option<Vec<String>> {
    let covers = |span: Option<Range<usize>>| span.is_some_and(|s| s.start <= at && at < s.end);
    if let Some(tables) = item.as_array_of_tables() {
        return tables
            .iter()
            .find_map(|t| key_path_at(&toml_edit::Item::Table(t.clone()), at));
    }
    let table = item.as_table_like()?;
    for (name, _) in table.iter() {
        let (key, value) = table.get_key_value(name)?;
        if covers(key.span()) {
            return Some(vec![name.to_string()]);
        }
        let inner = key_path_at(value, at);
        if inner.is_some() || (value.is_value() && covers(value.span())) {
            let mut path = vec![name.to_string()];
            path.extend(inner.unwrap_or_default());
            return Some(path);
        }
    }
    None
}

/// The line of a dotted key path in the source, or of its deepest table that exists.
fn locate(source: &str, path: &[&str]) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(source).ok()?;
    let mut item: &toml_edit::Item = doc.as_item();
    let mut best = None;
    for part in path {
        let table = item.as_table_like()?;
        let (key, value) = table.get_key_value(part)?;
        if let Some(span) = key.span().or_else(|| value.span()) {
            best = Some(line_of(source, span.start));
        }
        item = value;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[db]
start = ["store", "--name", "{{node}}", "--listen", "{{ip}}:{{client_port}}"]
ports = { client = 9000 }
[db.ready]
path = "/health"
[client.ops.read]
path = "/kv/{{key}}"
[[client.ops.read.rules]]
status = [200]
outcome = "ok"
value = { pointer = "/value", type = "int" }
[client.ops.write]
method = "PUT"
path = "/kv/{{key}}"
body = "{{value}}"
[workload]
name = "register"
"#;

    /// A list-append workload on etcd's builtin transaction.
    const LIST_APPEND: &str = r#"
[db]
start = ["etcd"]
[db.ready]
path = "/health"
[client.ops.txn]
method = "POST"
path = "/v3/kv/txn"
builtin = "etcd-v3-list-append"
[workload]
name = "list-append"
"#;

    fn parse(src: &str) -> Result<LoadedSpec, SpecError> {
        LoadedSpec::parse(Path::new("t.toml"), src.to_string())
    }

    #[test]
    fn a_minimal_spec_takes_every_default() {
        let s = parse(MINIMAL).unwrap().spec;
        assert_eq!(s.name, "t");
        assert_eq!(s.run.nodes, 5);
        assert_eq!(s.client.timeout_ms, 2000);
        assert_eq!(s.workload.keys, 10);
        assert!(s.nemesis.faults.is_empty());
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line_and_a_suggestion() {
        let src = MINIMAL.replace("method = \"PUT\"", "methd = \"PUT\"");
        let err = parse(&src).unwrap_err();
        assert_eq!(err.line, Some(14), "{err}");
        let text = err.to_string();
        assert!(text.contains("t.toml:14"), "{text}");
        assert!(text.contains("methd"), "{text}");
        assert!(text.contains("did you mean `method`?"), "{text}");
    }

    #[test]
    fn a_misspelt_variable_in_a_template_is_located() {
        let src = MINIMAL.replace("body = \"{{value}}\"", "body = \"{{vlue}}\"");
        let err = parse(&src).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("client.ops.write.body"));
        assert_eq!(err.line, Some(16));
        assert!(err.hint.unwrap().contains("value"));
    }

    #[test]
    fn an_unknown_workload_suggests_the_closest() {
        let err = parse(&MINIMAL.replace("\"register\"", "\"regster\"")).unwrap_err();
        assert!(
            err.to_string().contains("did you mean `register`?"),
            "{err}"
        );
        assert_eq!(err.line, Some(18));
    }

    #[test]
    fn a_workload_op_without_a_client_mapping_is_an_error() {
        let err = parse(&MINIMAL.replace("\"register\"", "\"cas-register\"")).unwrap_err();
        assert!(err.to_string().contains("no [client.ops.cas]"), "{err}");
    }

    #[test]
    fn a_list_append_workload_needs_a_txn_op_and_checks_with_list_append() {
        let err = parse(&MINIMAL.replace("\"register\"", "\"list-append\"")).unwrap_err();
        assert!(err.to_string().contains("no [client.ops.txn]"), "{err}");
        let src = LIST_APPEND;
        let s = parse(src).unwrap().spec;
        assert_eq!(s.workload.name.default_checker(), "list-append");
        assert_eq!(s.workload.max_txn_length, 4);
        let err = parse(&format!(
            "{src}[[client.ops.txn.rules]]\noutcome = \"ok\"\n"
        ))
        .unwrap_err();
        assert_eq!(err.key.as_deref(), Some("client.ops.txn.builtin"), "{err}");
        assert!(err.to_string().contains("do not apply"), "{err}");
    }

    #[test]
    fn a_consistency_model_applies_only_to_transactional_checkers() {
        let src = format!("{LIST_APPEND}[checker]\nconsistency_model = \"serializable\"\n");
        let src = src.as_str();
        let s = parse(src).unwrap().spec;
        assert_eq!(s.checker.consistency_model.as_deref(), Some("serializable"));
        let err = parse(&src.replace("\"serializable\"", "\"serialisable\"")).unwrap_err();
        assert_eq!(
            err.key.as_deref(),
            Some("checker.consistency_model"),
            "{err}"
        );
        assert!(err.to_string().contains("did you mean"), "{err}");
        let err = parse(&format!(
            "{MINIMAL}\n[checker]\nconsistency_model = \"serializable\"\n"
        ))
        .unwrap_err();
        assert!(
            err.to_string().contains("takes no consistency model"),
            "{err}"
        );
    }

    #[test]
    fn overrides_replace_the_spec_and_are_validated() {
        let mut s = parse(MINIMAL).unwrap();
        let o = Overrides {
            nodes: Some(3),
            nemesis: Some(vec!["partiton".into()]),
            ..Overrides::default()
        };
        let err = s.apply(&o).unwrap_err();
        assert!(
            err.to_string().contains("did you mean `partition`?"),
            "{err}"
        );
        assert!(err.to_string().contains("--nemesis"), "{err}");
        assert_eq!(s.spec.run.nodes, 5, "a failed override changes nothing");
        let o = Overrides {
            nodes: Some(3),
            time_limit_s: Some(20),
            ..Overrides::default()
        };
        s.apply(&o).unwrap();
        assert_eq!((s.spec.run.nodes, s.spec.run.time_limit_s), (3, 20));
    }

    #[test]
    fn an_ssh_spec_runs_one_node_per_host_with_strict_host_keys() {
        let src = format!(
            "[run]\nbackend = \"ssh\"\n[ssh]\nhosts = [\"10.0.0.1\", \"admin@10.0.0.2:2222\"]\n{MINIMAL}"
        );
        let s = parse(&src).unwrap();
        assert_eq!(s.spec.run.nodes, 2, "the node count follows the hosts");
        let config = s.spec.cluster_config().unwrap();
        let o = config.ssh.expect("ssh options");
        assert_eq!(config.node_names, ["n1", "n2"]);
        assert!(o.strict_host_key_checking);
        assert_eq!(o.hosts[1].to_string(), "admin@10.0.0.2:2222");
    }

    #[test]
    fn hosts_on_the_command_line_select_the_ssh_backend_and_set_the_node_count() {
        let mut s = parse(MINIMAL).unwrap();
        let o = Overrides {
            hosts: Some(vec![
                "10.0.0.1".into(),
                "10.0.0.2".into(),
                "db3:2222".into(),
            ]),
            ..Overrides::default()
        };
        s.apply(&o).unwrap();
        assert_eq!(s.spec.run.backend, "ssh");
        assert_eq!(s.spec.run.nodes, 3);
        let config = s.spec.cluster_config().unwrap();
        assert_eq!(
            config.ssh.expect("ssh options").hosts[2].to_string(),
            "db3:2222"
        );
    }

    #[test]
    fn the_ssh_backend_without_hosts_is_an_error_naming_the_key() {
        let e = parse(&format!("[run]\nbackend = \"ssh\"\n{MINIMAL}")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("ssh.hosts"));
        assert!(e.to_string().contains("--nodes-file"), "{e}");
    }

    #[test]
    fn a_nodes_file_error_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hosts.txt");
        std::fs::write(&file, "# lab\n10.0.0.1\n10.0.0.2:99999\n").unwrap();
        let mut s = parse(MINIMAL).unwrap();
        let o = Overrides {
            backend: Some("ssh".into()),
            nodes_file: Some(file.clone()),
            ..Overrides::default()
        };
        let e = s.apply(&o).unwrap_err();
        assert_eq!((e.file.as_path(), e.line), (file.as_path(), Some(3)));
        std::fs::write(&file, "10.0.0.1\n10.0.0.2, 10.0.0.3 # three\n").unwrap();
        s.apply(&o).unwrap();
        assert_eq!(s.spec.run.nodes, 3);
        assert_eq!(s.spec.cluster_config().unwrap().node_names.len(), 3);
    }

    #[test]
    fn a_name_that_is_not_one_plain_directory_name_is_refused() {
        for name in [
            "/srv/victim",
            "../../../srv/x",
            "..",
            ".",
            "a/b",
            "a\\b",
            "line\nbreak",
            ".hidden",
        ] {
            let src = format!("name = {}\n{MINIMAL}", toml::Value::String(name.into()));
            let err = parse(&src).unwrap_err();
            assert_eq!(err.key.as_deref(), Some("name"), "{name:?}: {err}");
            assert_eq!(err.line, Some(1), "{name:?}: {err}");
        }
        let ok = parse(&format!("name = \"etcd v3.4_fast-reads\"\n{MINIMAL}")).unwrap();
        assert_eq!(ok.spec.name, "etcd v3.4_fast-reads");
    }

    #[test]
    fn durations_past_a_week_and_port_zero_are_refused_with_their_line() {
        let cases = [
            (
                "[run]\ntime_limit_s = 1000000000000\n",
                "run.time_limit_s",
                2,
            ),
            ("[run]\nquiet_s = 100000000000\n", "run.quiet_s", 2),
            (
                "[run]\ncheck_timeout_s = 604801\n",
                "run.check_timeout_s",
                2,
            ),
        ];
        for (head, key, line) in cases {
            let err = parse(&format!("{head}{MINIMAL}")).unwrap_err();
            assert_eq!(err.key.as_deref(), Some(key), "{err}");
            assert_eq!(err.line, Some(line), "{err}");
            assert!(err.to_string().contains("out of range"), "{err}");
        }
        let err = parse(&MINIMAL.replace(
            "[client.ops.read]",
            "[client]\ntimeout_ms = 99999999999999\n[client.ops.read]",
        ))
        .unwrap_err();
        assert_eq!(err.key.as_deref(), Some("client.timeout_ms"), "{err}");
        let err = parse(&MINIMAL.replace("client = 9000", "client = 0")).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("db.ports.client"), "{err}");
        assert!(err.line.is_some(), "{err}");
        assert!(parse(&format!("[run]\ntime_limit_s = 604800\n{MINIMAL}")).is_ok());
    }

    #[test]
    fn a_time_limit_too_large_on_the_command_line_names_the_flag() {
        let mut s = parse(MINIMAL).unwrap();
        let err = s
            .apply(&Overrides {
                time_limit_s: Some(u64::MAX),
                ..Overrides::default()
            })
            .unwrap_err();
        assert_eq!(err.key.as_deref(), Some("--time-limit"), "{err}");
        assert_eq!(s.spec.run.time_limit_s, 60, "the spec is left as it was");
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_key_not_the_value() {
        let err = parse(&format!("[run]\nnodes = \"five\"\n{MINIMAL}")).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("run.nodes"), "{err}");
        assert_eq!(err.line, Some(2), "{err}");
        let err = parse(&MINIMAL.replace("client = 9000", "client = 70000")).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("db.ports.client"), "{err}");
        assert!(!err.to_string().contains("key `70000`"), "{err}");
    }
}
