//! `[db.leader]` and `[db.membership]`: how to learn which node leads, and how a node leaves
//! the cluster and joins it again. Both are optional; the faults that aim at the leader and
//! the `membership` fault need them.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::db::{db_vars, default_get};
use super::{LoadedSpec, SpecError, OP_VARS};
use crate::client::template::Template;

/// The leader probe, asked of every node when a fault begins: an HTTP request to each node's
/// client port (`path`), or a command run on each node (`command`). What a node's answer
/// says:
///
/// - with `leader` and `id`: the node leads when the values at the two pointers are equal
///   (etcd: `/leader` and `/header/member_id`, compared as text);
/// - with `leader` and `equals`: the node leads when the value at `leader` equals it;
/// - with `leader` alone: the value names the leader (a node name, or text holding its
///   address);
/// - with neither (or a command): an answer with one of `status` (a command's exit 0)
///   means the node leads.
///
/// The node most answers point at leads; a tie goes to the first in cluster order.
#[derive(Deserialize, Serialize, JsonSchema, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct LeaderSpec {
    /// The HTTP method. Default `GET`.
    #[serde(default = "default_get")]
    #[schemars(example = &"POST")]
    pub method: String,
    /// The path on each node's client port (a template over the client's variables `node`,
    /// `ip`, `port`). Either this or `command`.
    #[serde(default)]
    #[schemars(example = &"/v3/maintenance/status")]
    pub path: Option<String>,
    /// Headers of the request (templates). Default: none.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"content-type": "application/json"}))]
    pub headers: BTreeMap<String, String>,
    /// The request's body (a template). Default: none.
    #[serde(default)]
    #[schemars(example = &"{}")]
    pub body: Option<String>,
    /// Instead of a request: a command run on each node (`[db]` templates, no shell); exit
    /// 0 means the node leads.
    #[serde(default)]
    #[schemars(example = ["kvctl", "is-leader", "--node", "{{node}}"])]
    pub command: Vec<String>,
    /// The statuses of an answer that counts; any other says nothing. Default `[200]`.
    #[serde(default = "default_status")]
    #[schemars(example = [200])]
    pub status: Vec<u16>,
    /// JSON pointer to what the node says of the leader.
    #[serde(default)]
    #[schemars(example = &"/leader")]
    pub leader: Option<String>,
    /// JSON pointer to the node's own id: it leads when its `leader` equals its `id`.
    #[serde(default)]
    #[schemars(example = &"/header/member_id")]
    pub id: Option<String>,
    /// The node leads when its `leader` equals this value.
    #[serde(default)]
    #[schemars(example = true, with = "Option<serde_json::Value>")]
    pub equals: Option<toml::Value>,
    /// The limit on each node's answer, milliseconds. Default 1000.
    #[serde(default = "default_timeout_ms")]
    #[schemars(example = 2000)]
    pub timeout_ms: u64,
    /// How long a fault that aims at the leader waits for one (during an election none may
    /// lead), asking every 200 ms; past it the fault is skipped, with a warning. Default 10.
    #[serde(default = "default_wait_s")]
    #[schemars(example = 5)]
    pub wait_s: f64,
}

/// `[db.membership]`: how a node leaves the cluster and joins it again, for the `membership`
/// fault. Each change is a command run on another member (tried in cluster order until one
/// succeeds), or an HTTP request to another member's client port.
///
/// Variables: the removed node's `[db]` variables (`node`, `ip`, `data_dir`, `NAME_port`,
/// ...), and `via_node` and `via_ip`, the member asked.
#[derive(Deserialize, Serialize, JsonSchema, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct MembershipSpec {
    /// Removes `{{node}}` from the cluster; its store is then stopped.
    pub remove: MemberChange,
    /// Adds `{{node}}` back; its store is then started with `{{cluster_state}}` =
    /// `existing`.
    pub add: MemberChange,
    /// Whether the node's data directory is emptied (and `[db] wipe` run) before it
    /// rejoins, as stores that give a re-added member a new identity require. Default true.
    #[serde(default = "default_true")]
    #[schemars(example = false)]
    pub wipe: bool,
    /// The limit on each change, seconds. Default 10.
    #[serde(default = "default_change_timeout_s")]
    #[schemars(example = 20)]
    pub timeout_s: u64,
}

/// One membership change: a command, or an HTTP request.
#[derive(Deserialize, Serialize, JsonSchema, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct MemberChange {
    /// The command, run on the member asked (templates, no shell; exit 0 is success).
    #[serde(default)]
    #[schemars(example = ["etcdctl", "--endpoints", "http://{{via_ip}}:{{client_port}}", "member", "remove", "{{node}}"])]
    pub command: Vec<String>,
    /// The HTTP method of a request. Default `POST`.
    #[serde(default = "default_post")]
    #[schemars(example = &"DELETE")]
    pub method: String,
    /// The path of a request to the member's client port (a template).
    #[serde(default)]
    #[schemars(example = &"/members/{{node}}")]
    pub path: Option<String>,
    /// The request's body (a template). Default: none.
    #[serde(default)]
    #[schemars(example = &"{\"peer\":\"http://{{ip}}:{{peer_port}}\"}")]
    pub body: Option<String>,
    /// The statuses that mean success. Default `[200]`.
    #[serde(default = "default_status")]
    #[schemars(example = [200, 204])]
    pub status: Vec<u16>,
}

fn default_status() -> Vec<u16> {
    vec![200]
}
fn default_timeout_ms() -> u64 {
    1000
}
fn default_wait_s() -> f64 {
    10.0
}
fn default_true() -> bool {
    true
}
fn default_change_timeout_s() -> u64 {
    10
}
fn default_post() -> String {
    "POST".into()
}

/// The variables of `[db.membership]` besides the removed node's `[db]` ones.
pub const VIA_VARS: [&str; 2] = ["via_node", "via_ip"];

impl LoadedSpec {
    pub(super) fn validate_leader(&self) -> Result<(), SpecError> {
        let db = &self.spec.db;
        let vars = db_vars(db);
        let mut vars: Vec<&str> = vars.iter().map(String::as_str).collect();
        if let Some(l) = &db.leader {
            let key = "db.leader";
            if l.path.is_some() != l.command.is_empty() {
                return Err(self.err(
                    key,
                    "give either `path` (an HTTP probe) or `command`",
                    Some("etcd: path = \"/v3/maintenance/status\"".into()),
                ));
            }
            self.check_method("db.leader.method", &l.method)?;
            let http = l.path.iter().chain(l.headers.values()).chain(&l.body);
            for t in http {
                Template::compile(t, &OP_VARS).map_err(|e| self.template_err(key, e))?;
            }
            for t in &l.command {
                Template::compile(t, &vars).map_err(|e| self.template_err(key, e))?;
            }
            if (l.id.is_some() || l.equals.is_some()) && l.leader.is_none() {
                return Err(self.err(
                    key,
                    "`id` and `equals` compare the value at `leader`, which is not given",
                    Some("add leader = \"/leader\" (a JSON pointer)".into()),
                ));
            }
            if l.timeout_ms == 0 || !(l.wait_s >= 0.0 && l.wait_s <= 3600.0) {
                return Err(self.err(key, "timeout_ms must be positive, wait_s 0..3600", None));
            }
        }
        if let Some(m) = &db.membership {
            vars.extend(VIA_VARS);
            for (key, change) in [
                ("db.membership.remove", &m.remove),
                ("db.membership.add", &m.add),
            ] {
                if change.path.is_some() != change.command.is_empty() {
                    return Err(self.err(key, "give either `command` or `path`", None));
                }
                self.check_method(key, &change.method)?;
                let all = change
                    .command
                    .iter()
                    .chain(&change.path)
                    .chain(&change.body);
                for t in all {
                    Template::compile(t, &vars).map_err(|e| self.template_err(key, e))?;
                }
            }
        }
        self.validate_aims()
    }

    fn check_method(&self, key: &str, method: &str) -> Result<(), SpecError> {
        if reqwest::Method::from_bytes(method.as_bytes()).is_err() {
            return Err(self.err(key, format!("`{method}` is not an HTTP method"), None));
        }
        Ok(())
    }

    /// A fault that aims at the leader needs the probe; a membership change its commands.
    fn validate_aims(&self) -> Result<(), SpecError> {
        let n = &self.spec.nemesis;
        let db = &self.spec.db;
        if db.membership.is_none() {
            let named = n.faults.iter().chain(n.schedule.iter().map(|s| &s.fault));
            if named
                .into_iter()
                .any(|f| *f == crate::nemesis::membership::MEMBERSHIP)
            {
                return Err(self.err(
                    "nemesis.faults",
                    "the membership fault needs [db.membership], which the spec lacks",
                    Some("add [db.membership] with `remove` and `add` commands".into()),
                ));
            }
        }
        if db.leader.is_some() {
            return Ok(());
        }
        let targets = [
            ("nemesis.kill_target", Some(&n.kill_target)),
            ("nemesis.pause_target", Some(&n.pause_target)),
            ("nemesis.clock_target", Some(&n.clock_target)),
            ("nemesis.membership_target", Some(&n.membership_target)),
            ("nemesis.packet.target", n.packet.target.as_ref()),
        ]
        .into_iter()
        .chain(
            n.schedule
                .iter()
                .map(|s| ("nemesis.schedule", s.target.as_ref())),
        );
        let topologies = n
            .topologies
            .iter()
            .map(|t| ("nemesis.topologies", Some(t)))
            .chain([("nemesis.packet.topology", n.packet.topology.as_ref())])
            .chain(
                n.schedule
                    .iter()
                    .map(|s| ("nemesis.schedule", s.topology.as_ref())),
            );
        let aimed =
            targets
                .filter_map(|(k, t)| t.filter(|t| t.needs_leader()).map(|t| (k, t.to_string())))
                .chain(topologies.filter_map(|(k, t)| {
                    t.filter(|t| t.needs_leader()).map(|t| (k, t.to_string()))
                }))
                .next();
        match aimed {
            Some((key, what)) => Err(self.err(
                key,
                format!("`{what}` aims at the leader, and the spec has no [db.leader] probe"),
                Some(
                    "add [db.leader] saying how a node tells whether it leads (see \
                     workloads/README.md), or pick a target that does not aim"
                        .into(),
                ),
            )),
            None => Ok(()),
        }
    }
}
