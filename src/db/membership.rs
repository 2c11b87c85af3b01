//! Membership changes as the spec's `[db.membership]` describes them: a node leaves the
//! cluster by the store's own command (asked of another member), its store is stopped and,
//! when the spec says so, its data wiped; it rejoins by another command, and its store
//! starts again as a joining member (`{{cluster_state}}` = `existing`).
//!
//! The member asked is the first other node, in cluster order, whose change succeeds: under
//! a concurrent partition some members cannot reach a quorum, and a change that one member
//! refuses may pass through another. Refused everywhere, the change is asked again every
//! 500 ms until `timeout_s` has passed.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{bounded_text, fresh_data, NodePlan};
use crate::client::template::{Scope, Template};
use crate::cluster::{Cluster, Error, Result};
use crate::spec::{db_vars, DbSpec, MemberChange, MembershipSpec, VIA_VARS};

/// The most of a change's answer kept for an error message.
const ANSWER_BYTES: usize = 4096;

/// The pause between two rounds of asking every member.
const ROUND_PAUSE: Duration = Duration::from_millis(500);

/// One change compiled: its command, or its request.
struct Change {
    command: Vec<Template>,
    method: String,
    path: Option<Template>,
    body: Option<Template>,
    status: Vec<u16>,
}

/// `[db.membership]`, ready to change the membership of a cluster's nodes.
pub struct Membership {
    spec: MembershipSpec,
    remove: Change,
    add: Change,
    plans: Vec<NodePlan>,
}

impl Membership {
    /// The membership changes of `db.membership` for the nodes of `plans`; `None` when the
    /// spec has none.
    pub fn new(db: &DbSpec, plans: &[NodePlan]) -> anyhow::Result<Option<Membership>> {
        let Some(spec) = db.membership.clone() else {
            return Ok(None);
        };
        let mut vars = db_vars(db);
        vars.extend(VIA_VARS.iter().map(|v| v.to_string()));
        let vars: Vec<&str> = vars.iter().map(String::as_str).collect();
        let compile = |c: &MemberChange| -> anyhow::Result<Change> {
            let one = |t: &String| {
                Template::compile(t, &vars).map_err(|e| anyhow::anyhow!("[db.membership]: {e}"))
            };
            Ok(Change {
                command: c.command.iter().map(one).collect::<anyhow::Result<_>>()?,
                method: c.method.clone(),
                path: c.path.as_ref().map(one).transpose()?,
                body: c.body.as_ref().map(one).transpose()?,
                status: c.status.clone(),
            })
        };
        Ok(Some(Membership {
            remove: compile(&spec.remove)?,
            add: compile(&spec.add)?,
            plans: plans.to_vec(),
            spec,
        }))
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.spec.timeout_s)
    }

    fn plan(&self, node: &str) -> Result<&NodePlan> {
        self.plans
            .iter()
            .find(|p| p.node == node)
            .ok_or_else(|| Error::Invalid(format!("no node {node:?} in the cluster")))
    }

    /// Stops `node`'s store, removes the node from the cluster, and wipes its data when the
    /// spec says so. The store is stopped first: a member told it was removed may exit on
    /// its own, which would look like a crash, and stores let a dead member go (etcd's
    /// "downed member is safe to remove"). A removal that never succeeds restarts the store
    /// as it was.
    pub fn remove(&self, cluster: &Cluster, node: &str) -> Result<()> {
        let n = cluster.node(node)?;
        n.kill()?;
        if let Err(e) = self.change(cluster, node, &self.remove, "remove") {
            if let Err(again) = n.restart() {
                tracing::warn!("membership: {node} could not be restarted: {again}");
            }
            return Err(e);
        }
        if self.spec.wipe {
            fresh_data(n.as_ref(), self.plan(node)?, self.timeout())
                .map_err(|e| Error::command(format!("wiping {node}"), format!("{e:#}")))?;
        }
        Ok(())
    }

    /// Adds `node` back to the cluster, then starts its store as a joining member.
    pub fn add(&self, cluster: &Cluster, node: &str) -> Result<()> {
        self.change(cluster, node, &self.add, "add")?;
        let n = cluster.node(node)?;
        if n.is_alive() {
            n.kill()?;
        }
        n.spawn_daemon(&self.plan(node)?.rejoin)
    }

    /// Carries out `change` about `node`, asking each other node in turn until one succeeds,
    /// in rounds until `timeout_s` has passed: a store may refuse a change while its cluster
    /// is not yet whole again (etcd wants every member connected for 5 s before an add).
    fn change(&self, cluster: &Cluster, node: &str, change: &Change, what: &str) -> Result<()> {
        let deadline = Instant::now() + self.timeout();
        loop {
            match self.change_once(cluster, node, change, what) {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() + ROUND_PAUSE >= deadline => return Err(e),
                Err(e) => tracing::debug!("membership: {e}; trying again"),
            }
            std::thread::sleep(ROUND_PAUSE);
        }
    }

    /// One round of [`Membership::change`]: each other running node asked once.
    fn change_once(
        &self,
        cluster: &Cluster,
        node: &str,
        change: &Change,
        what: &str,
    ) -> Result<()> {
        let plan = self.plan(node)?;
        let mut refusals = Vec::new();
        for via in self.plans.iter().filter(|p| p.node != node) {
            let alive = cluster.node(&via.node).is_ok_and(|n| n.is_alive());
            if !alive {
                continue;
            }
            let via_node = Value::String(via.node.clone());
            let via_ip = Value::String(via.target.ip.clone());
            let scope = plan
                .scope()
                .with("via_node", &via_node)
                .with("via_ip", &via_ip);
            let result = if change.command.is_empty() {
                self.request(change, &scope, via)
            } else {
                self.command(cluster, change, &scope, via)
            };
            match result {
                Ok(()) => {
                    tracing::info!("membership: {what} {node} through {}", via.node);
                    return Ok(());
                }
                Err(e) => refusals.push(format!("{}: {e}", via.node)),
            }
        }
        Err(Error::command(
            format!("the membership change `{what} {node}`"),
            if refusals.is_empty() {
                "no other member runs".to_string()
            } else {
                refusals.join("; ")
            },
        ))
    }

    fn command(
        &self,
        cluster: &Cluster,
        change: &Change,
        scope: &Scope,
        via: &NodePlan,
    ) -> std::result::Result<(), String> {
        let argv: Vec<String> = change.command.iter().map(|t| t.render(scope)).collect();
        let out = cluster
            .node(&via.node)
            .and_then(|n| n.exec(&argv, self.timeout()))
            .map_err(|e| e.to_string())?;
        if out.success() {
            return Ok(());
        }
        // A tool's verdict is its last line (etcdctl's `Error: ...`, after its log lines).
        let said = last_line(&out.stderr)
            .or_else(|| last_line(&out.stdout))
            .unwrap_or("");
        let said: String = said.chars().take(300).collect();
        Err(format!("exit {:?}: {said}", out.code))
    }

    fn request(
        &self,
        change: &Change,
        scope: &Scope,
        via: &NodePlan,
    ) -> std::result::Result<(), String> {
        let path = change
            .path
            .as_ref()
            .map(|p| p.render(scope))
            .unwrap_or_default();
        let url = format!("http://{}:{}{path}", via.target.ip, via.target.port);
        let method =
            reqwest::Method::from_bytes(change.method.as_bytes()).map_err(|e| e.to_string())?;
        let mut request = reqwest::Client::builder()
            .no_proxy()
            .timeout(self.timeout())
            .build()
            .map_err(|e| e.to_string())?
            .request(method, url);
        if let Some(body) = &change.body {
            request = request.body(body.render(scope));
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let (status, body) = rt.block_on(async {
            let response = request.send().await.map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            Ok::<_, String>((status, bounded_text(response, ANSWER_BYTES).await))
        })?;
        if change.status.contains(&status) {
            return Ok(());
        }
        Err(format!("HTTP {status} {}", body.trim()))
    }
}

/// The last line of a tool's output that says something.
fn last_line(text: &str) -> Option<&str> {
    text.lines().rev().map(str::trim).find(|l| !l.is_empty())
}
