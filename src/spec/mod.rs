//! Test specs: one TOML file says how to run a store, how to talk to it, what to ask of it
//! and how to break it. `workloads/README.md` is the user's guide and `workloads/SPEC.md`
//! the list of every key, generated from these types by `reference.rs`; this module holds
//! the types, their defaults and the checks made before anything starts.
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
//! `[db.roles.NAME]` give some nodes their own start, env and readiness (a primary and its
//! replicas); `[workload.NAME]` tables put several workloads in one spec, one chosen per run
//! (`--workload`) and made a plain `Spec` at load.
//!
//! Errors name the file, the line and the key, and say how to fix it (exit 3). Unknown keys
//! are errors with the closest known key suggested: a misspelt optional key silently taking
//! its default is how a test ends up checking nothing.

mod client;
mod db;
mod disk;
mod error;
mod leader;
mod nemesis;
mod packet;
mod phases;
mod reference;
mod run;
mod ssh;
#[cfg(test)]
mod tests;
mod workload;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use client::{
    Builtin, CaptureSpec, ClientSpec, Decode, ExtractSpec, IfMissing, OpSpec, RuleOutcome,
    RuleSpec, ValueType, OP_VARS,
};
pub use db::{
    cluster_vars, db_vars, node_names, DbSpec, NodeRef, ReadyProbe, ReadySpec, RoleSpec,
    StopSignal, DB_VARS,
};
pub use disk::{Corruption, DiskSpec};
pub use error::SpecError;
use error::{locate, parse_error};
pub use leader::{LeaderSpec, MemberChange, MembershipSpec, VIA_VARS};
pub use nemesis::{NemesisSpec, ScheduledFault};
pub use packet::{Direction, PacketSpec};
pub use phases::PhaseSpec;
pub use reference::{markdown as reference_markdown, REFERENCE_PATH};
pub use run::{RunSettings, MAX_SECONDS};
pub use ssh::{read_nodes_file, SshSpec};
pub use workload::{named_workloads as workload_names, CheckerSpec, WorkloadKind, WorkloadSpec};

use crate::cluster::ssh::{SshHost, SshOptions};
use crate::cluster::{BackendKind, ClusterConfig};
use ssh::home;

/// The whole spec, as written (after defaults), with one workload: the `[workload]` table,
/// or the `[workload.NAME]` chosen with `--workload`.
pub type Spec = SpecOf<WorkloadSpec>;

/// A spec with several workloads, `[workload.NAME]` tables sharing everything else.
type SpecOfMany = SpecOf<BTreeMap<String, WorkloadSpec>>;

/// The whole spec, as written (after defaults). See the module docs for the shape, and
/// `workloads/SPEC.md` (generated from these types by `reference.rs`) for every key. `W`
/// is what `[workload]` holds: one workload, or several by name.
#[derive(Deserialize, Serialize, JsonSchema, Clone, Debug)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Spec")]
pub struct SpecOf<W> {
    /// The test's name: the directory its runs land in (one plain name: no `/`, `\`,
    /// leading dot or control character). Default: the file's stem.
    #[serde(default)]
    #[schemars(example = &"etcd-v3")]
    pub name: String,
    /// What the test is for, in a sentence; kept with the spec. Default: empty.
    #[serde(default)]
    #[schemars(example = &"etcd 3.4, v3 gateway: linearizable reads")]
    pub description: String,
    /// The cluster, the workers and the bound of each phase.
    #[serde(default)]
    pub run: RunSettings,
    /// How to start, probe and stop the store on a node.
    pub db: DbSpec,
    /// How each operation becomes an HTTP request, and how its answer is classified.
    pub client: ClientSpec,
    /// Which operations over which keys. Several workloads may share one spec's `[db]`,
    /// `[client]` and `[nemesis]`: then `[workload.NAME]` tables, each a whole `[workload]`
    /// (with its own `ops` where it maps an operation differently), and `faultline run
    /// SPEC --workload NAME` picks one (required when there are several).
    pub workload: W,
    /// The faults: random, or a script.
    #[serde(default)]
    pub nemesis: NemesisSpec,
    /// How the history is judged, when not as the workload would.
    #[serde(default)]
    pub checker: CheckerSpec,
    /// The hosts of the `ssh` backend and how to reach them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshSpec>,
    /// `[[phases]]`: the main phase as a sequence of phases (a warm-up, faults, a
    /// recovery), each with its own length, rate, operation mix and faults. Default: one
    /// phase of `run.time_limit_s` with the `[nemesis]` faults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<PhaseSpec>,
}

impl<W> SpecOf<W> {
    /// The same spec with `workload` in place of its `[workload]`.
    fn with_workload<V>(self, workload: V) -> SpecOf<V> {
        SpecOf {
            name: self.name,
            description: self.description,
            run: self.run,
            db: self.db,
            client: self.client,
            workload,
            nemesis: self.nemesis,
            checker: self.checker,
            ssh: self.ssh,
            phases: self.phases,
        }
    }
}

impl Spec {
    /// The main phase's length: the phases' sum, or `run.time_limit_s` without phases.
    pub fn main_s(&self) -> u64 {
        if self.phases.is_empty() {
            self.run.time_limit_s
        } else {
            self.phases.iter().map(|p| p.duration_s).sum()
        }
    }

    /// Whether any fault of the nemesis moves clocks.
    pub fn uses_clock_faults(&self) -> bool {
        let n = &self.nemesis;
        n.faults
            .iter()
            .chain(n.schedule.iter().map(|s| &s.fault))
            .chain(self.phases.iter().flat_map(|p| &p.nemesis))
            .any(|f| f.moves_clocks())
    }

    /// The cluster this spec asks for: `run.backend` with `run.nodes` nodes, or one node per
    /// `[ssh]` host.
    pub fn cluster_config(&self) -> Result<ClusterConfig, crate::cluster::Error> {
        let backend = self.run.backend;
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
    /// The names of the spec's `[workload.NAME]` tables; empty for a single `[workload]`.
    pub workloads: Vec<String>,
    /// Which of `workloads` `spec` holds.
    pub workload: Option<String>,
}

impl LoadedSpec {
    /// Reads, parses and validates a spec file.
    pub fn load(path: &Path) -> Result<LoadedSpec, SpecError> {
        LoadedSpec::load_workload(path, None)
    }

    /// Reads, parses and validates a spec file with its workload `workload` (one of its
    /// `[workload.NAME]` tables; `None` when it has one workload).
    pub fn load_workload(path: &Path, workload: Option<&str>) -> Result<LoadedSpec, SpecError> {
        let source = std::fs::read_to_string(path).map_err(|e| SpecError {
            file: path.to_path_buf(),
            line: None,
            key: None,
            message: format!("cannot read the spec: {e}"),
            hint: Some("give the path of a test spec, such as workloads/etcd-v3.toml".into()),
        })?;
        LoadedSpec::parse_workload(path, source, workload)
    }

    /// Parses and validates spec text; `path` names it in errors.
    pub fn parse(path: &Path, source: String) -> Result<LoadedSpec, SpecError> {
        LoadedSpec::parse_workload(path, source, None)
    }

    /// Parses and validates spec text with its workload `workload`; `path` names it in
    /// errors.
    pub fn parse_workload(
        path: &Path,
        source: String,
        workload: Option<&str>,
    ) -> Result<LoadedSpec, SpecError> {
        let (mut spec, workloads, workload) = match workload_names(&source) {
            None => {
                let spec: Spec =
                    toml::from_str(&source).map_err(|e| parse_error(path, &source, &e))?;
                if let Some(name) = workload {
                    return Err(flag_error(
                        path,
                        "--workload",
                        format!("there is no workload `{name}`: the spec has one [workload] table"),
                    ));
                }
                (spec, Vec::new(), None)
            }
            Some(names) => {
                let many: SpecOfMany =
                    toml::from_str(&source).map_err(|e| parse_error(path, &source, &e))?;
                let (spec, chosen) = workload::choose(path, &source, many, &names, workload)?;
                (spec, names, Some(chosen))
            }
        };
        // The workload's own operations take the place of the shared ones.
        let own = std::mem::take(&mut spec.workload.ops);
        spec.client.ops.extend(own);
        if let Some(checker) = spec.workload.checker.take() {
            spec.checker = checker;
        }
        if spec.name.is_empty() {
            spec.name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "test".into());
        }
        // The probes speak to the store as the client does unless told otherwise.
        let probes = std::iter::once(&mut spec.db.ready)
            .chain(spec.db.roles.values_mut().filter_map(|r| r.ready.as_mut()));
        for ready in probes.filter(|r| r.headers.is_none()) {
            ready.headers = Some(spec.client.headers.clone());
        }
        let mut loaded = LoadedSpec {
            path: path.to_path_buf(),
            source,
            spec,
            workloads,
            workload,
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
            if !self.spec.phases.is_empty() {
                return Err(flag_error(
                    &self.path,
                    "--time-limit",
                    "the spec's [[phases]] set the main phase's length".into(),
                ));
            }
            run.time_limit_s = t;
            flags.push(("run.time_limit_s", "--time-limit"));
        }
        if let Some(s) = o.seed {
            run.seed = Some(s);
        }
        if let Some(b) = &o.backend {
            run.backend = b.parse().map_err(|e: crate::cluster::Error| {
                flag_error(&self.path, "--backend", e.to_string())
            })?;
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
            next.spec.run.backend = BackendKind::Ssh;
        }
        if o.insecure_host_keys {
            next.spec
                .ssh
                .get_or_insert_with(SshSpec::default)
                .strict_host_key_checking = false;
        }
        next.follow_hosts();
        if let Some(faults) = &o.nemesis {
            next.spec.nemesis.faults = faults
                .iter()
                .map(|f| {
                    f.parse()
                        .map_err(|e: String| flag_error(&self.path, "--nemesis", e))
                })
                .collect::<Result<_, _>>()?;
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
        if self.spec.run.backend == BackendKind::Ssh {
            if let Some(ssh) = &self.spec.ssh {
                if !ssh.hosts.is_empty() {
                    self.spec.run.nodes = ssh.hosts.len();
                }
            }
        }
    }

    fn err(&self, key: &str, message: impl Into<String>, hint: Option<String>) -> SpecError {
        // In a spec of several workloads, `workload.keys` is written `workload.NAME.keys`.
        let key = match (&self.workload, key.strip_prefix("workload.")) {
            (Some(name), Some(rest)) => format!("workload.{name}.{rest}"),
            _ => key.to_string(),
        };
        let path: Vec<&str> = key.split('.').collect();
        SpecError {
            file: self.path.clone(),
            line: locate(&self.source, &path),
            key: Some(key.clone()),
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
        self.validate_ssh()?;
        self.validate_db()?;
        self.validate_leader()?;
        self.validate_client()?;
        self.validate_workload()?;
        self.validate_nemesis()?;
        self.validate_phases()
    }

    /// The name becomes a directory under `--out`: it must stay one plain directory name.
    pub(super) fn validate_name(&self) -> Result<(), SpecError> {
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
}

/// The longest spec name, in bytes (it becomes a directory name).
const MAX_NAME_LEN: usize = 100;

/// An error in a command-line value, named by its flag.
fn flag_error(file: &Path, flag: &str, message: String) -> SpecError {
    SpecError {
        file: file.to_path_buf(),
        line: None,
        key: Some(flag.to_string()),
        message: format!("{message} (given on the command line)"),
        hint: None,
    }
}
