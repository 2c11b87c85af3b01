//! Who leads: the spec's `[db.leader]` probe, asked of every node when a fault begins.
//!
//! Each node answers for itself — an HTTP request to its client port, or a command run on
//! it — and its answer is a claim: "I lead", "n3 leads", or nothing (no answer, a status
//! not listed, a pointer missing). The node most claims point at leads; a tie goes to the
//! first in cluster order, and no claim at all means nobody leads now (an election under
//! way). etcd's `/v3/maintenance/status` is the model: every member names the leader's
//! member id (`leader`) beside its own (`header.member_id`), both as JSON strings, so the
//! leader is the member whose two are equal.
//!
//! The nemesis thread is no async runtime: each round of requests runs on a current-thread
//! runtime of its own, every request bounded by `timeout_ms`, all nodes at once.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::{bounded_text, NodePlan, NodeRequest};
use crate::client::http::OpValues;
use crate::client::template::{text, Template};
use crate::client::Invocation;
use crate::cluster::{Cluster, Error, Result};
use crate::spec::{db_vars, DbSpec, LeaderSpec, OP_VARS};

/// The most of a probe's answer read.
const ANSWER_BYTES: usize = 64 * 1024;

/// What one node's answer says.
#[derive(Clone, Debug, PartialEq)]
enum Claim {
    /// The node says it leads.
    Leads,
    /// The node names another node as the leader.
    Names(String),
    /// It said nothing about the leader, and why.
    Nothing(String),
}

/// `[db.leader]`, ready to ask every node of a cluster.
pub struct LeaderProbe {
    spec: LeaderSpec,
    equals: Option<Value>,
    /// Each node's plan (its address, its `[db]` variables), in cluster order.
    plans: Vec<NodePlan>,
    path: Option<Template>,
    request: NodeRequest,
    /// The command of each node, rendered.
    commands: Vec<Vec<String>>,
}

impl LeaderProbe {
    /// The probe of `db.leader` for the nodes of `plans`; `None` when the spec has none.
    pub fn new(db: &DbSpec, plans: &[NodePlan]) -> anyhow::Result<Option<LeaderProbe>> {
        let Some(spec) = db.leader.clone() else {
            return Ok(None);
        };
        let vars = db_vars(db);
        let vars: Vec<&str> = vars.iter().map(String::as_str).collect();
        let compile = |t: &str, vars: &[&str]| {
            Template::compile(t, vars).map_err(|e| anyhow::anyhow!("[db.leader]: {e}"))
        };
        let mut commands = Vec::new();
        for plan in plans {
            let scope = plan.scope();
            let argv = spec
                .command
                .iter()
                .map(|t| Ok(compile(t, &vars)?.render(&scope)))
                .collect::<anyhow::Result<Vec<String>>>()?;
            commands.push(argv);
        }
        let equals = spec.equals.as_ref().map(serde_json::to_value).transpose()?;
        Ok(Some(LeaderProbe {
            path: spec
                .path
                .as_deref()
                .map(|p| compile(p, &OP_VARS))
                .transpose()?,
            request: NodeRequest::compile(spec.headers.iter(), spec.body.as_deref())?,
            equals,
            commands,
            plans: plans.to_vec(),
            spec,
        }))
    }

    /// How long a fault that aims at the leader waits for one.
    pub fn wait(&self) -> Duration {
        Duration::from_secs_f64(self.spec.wait_s)
    }

    /// Asks every node; the node that leads, or `None` when no node claims to.
    pub fn ask(&self, cluster: &Cluster) -> Result<Option<String>> {
        let claims = if self.path.is_some() {
            self.ask_http()?
        } else {
            self.ask_commands(cluster)
        };
        let names: Vec<&str> = self.plans.iter().map(|p| p.node.as_str()).collect();
        let leader = tally(&names, &claims);
        tracing::debug!("leader probe: {claims:?} -> {leader:?}");
        Ok(leader)
    }

    fn ask_commands(&self, cluster: &Cluster) -> Vec<Claim> {
        let timeout = Duration::from_millis(self.spec.timeout_ms);
        crate::cluster::on_all(&self.plans, |plan| {
            let i = self.plans.iter().position(|p| p.node == plan.node);
            let argv = &self.commands[i.expect("a plan of the list")];
            match cluster.node(&plan.node).and_then(|n| n.exec(argv, timeout)) {
                Ok(out) if out.success() => Claim::Leads,
                Ok(out) => Claim::Nothing(format!("exit {:?}", out.code)),
                Err(e) => Claim::Nothing(e.to_string()),
            }
        })
    }

    fn ask_http(&self) -> Result<Vec<Claim>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("starting the leader probe's runtime", e))?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(self.spec.timeout_ms))
            .build()
            .map_err(|e| Error::command("the leader probe", e.to_string()))?;
        let method = reqwest::Method::from_bytes(self.spec.method.as_bytes())
            .map_err(|e| Error::Invalid(format!("[db.leader] method: {e}")))?;
        let path = self.path.as_ref().expect("an HTTP probe has a path");
        let inv = Invocation {
            f: "leader".into(),
            key: None,
            value: Value::Null,
        };
        // Every node at once: the requests own what they send, so each is a task of its own.
        let tasks: Vec<_> = self
            .plans
            .iter()
            .map(|plan| {
                let t = &plan.target;
                let values = OpValues::new(&inv, t);
                let path = path.render(&values.scope(&inv));
                let url = format!("http://{}:{}{path}", t.ip, t.port);
                let request = self.request.build(&http, method.clone(), &url, t);
                rt.spawn(async move {
                    let response = request.map_err(|e| e.to_string())?.send().await;
                    let response = response.map_err(|e| e.to_string())?;
                    let status = response.status().as_u16();
                    Ok::<_, String>((status, bounded_text(response, ANSWER_BYTES).await))
                })
            })
            .collect();
        let answers = rt.block_on(async {
            let mut answers = Vec::with_capacity(tasks.len());
            for task in tasks {
                answers.push(task.await.unwrap_or_else(|e| Err(e.to_string())));
            }
            answers
        });
        Ok(answers
            .into_iter()
            .map(|answer| match answer {
                Ok((status, body)) => self.claim(status, &body),
                Err(e) => Claim::Nothing(e),
            })
            .collect())
    }

    /// What one answer says, by the spec's rules (see `[db.leader]`).
    fn claim(&self, status: u16, body: &str) -> Claim {
        if !self.spec.status.contains(&status) {
            return Claim::Nothing(format!("HTTP {status}"));
        }
        let Some(pointer) = &self.spec.leader else {
            return Claim::Leads;
        };
        let Ok(json) = serde_json::from_str::<Value>(body) else {
            return Claim::Nothing("the answer is not JSON".into());
        };
        let Some(said) = json.pointer(pointer) else {
            return Claim::Nothing(format!("no {pointer} in the answer"));
        };
        if let Some(id) = &self.spec.id {
            // etcd writes 64-bit ids as strings; compare what they say, not their JSON type.
            return match json.pointer(id) {
                Some(own) if text(own) == text(said) && !text(said).is_empty() => Claim::Leads,
                Some(_) => Claim::Nothing("another member leads".into()),
                None => Claim::Nothing(format!("no {id} in the answer")),
            };
        }
        if let Some(expected) = &self.equals {
            return if said == expected {
                Claim::Leads
            } else {
                Claim::Nothing("it does not lead".into())
            };
        }
        match self.node_named(&text(said)) {
            Some(node) => Claim::Names(node),
            None => Claim::Nothing(format!("{said} names no node")),
        }
    }

    /// The node a text names: its name, or its address (not followed by another digit,
    /// so `10.0.0.2` is not found in `10.0.0.23`).
    fn node_named(&self, said: &str) -> Option<String> {
        let said = said.trim();
        if let Some(p) = self.plans.iter().find(|p| p.node == said) {
            return Some(p.node.clone());
        }
        self.plans
            .iter()
            .find(|p| {
                said.match_indices(&p.target.ip).any(|(at, ip)| {
                    !said[at + ip.len()..].starts_with(|c: char| c.is_ascii_digit())
                        && !said[..at].ends_with(|c: char| c.is_ascii_digit())
                })
            })
            .map(|p| p.node.clone())
    }
}

/// The node most claims point at (a tie: the first in cluster order); `None` without any.
fn tally(names: &[&str], claims: &[Claim]) -> Option<String> {
    let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
    for (name, claim) in names.iter().zip(claims) {
        match claim {
            Claim::Leads => *votes.entry(name).or_default() += 1,
            Claim::Names(other) => {
                if let Some(n) = names.iter().find(|n| **n == other.as_str()) {
                    *votes.entry(n).or_default() += 1;
                }
            }
            Claim::Nothing(_) => {}
        }
    }
    let most = votes.values().copied().max()?;
    names
        .iter()
        .find(|n| votes.get(*n) == Some(&most))
        .map(|n| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A probe of `toml` (a `[db.leader]` table) over no nodes, to read answers with.
    fn probe(toml: &str) -> LeaderProbe {
        let spec: LeaderSpec = toml::from_str(toml).unwrap();
        LeaderProbe {
            equals: spec
                .equals
                .as_ref()
                .map(|v| serde_json::to_value(v).unwrap()),
            plans: Vec::new(),
            path: None,
            request: NodeRequest::compile(std::iter::empty(), None).unwrap(),
            commands: Vec::new(),
            spec,
        }
    }

    #[test]
    fn an_etcd_member_leads_when_the_leader_it_names_is_its_own_id() {
        let etcd = probe(
            "path = \"/v3/maintenance/status\"\nleader = \"/leader\"\nid = \"/header/member_id\"",
        );
        // The v3 gateway writes 64-bit ids as strings.
        let leader =
            r#"{"header":{"member_id":"1234567890123456789"},"leader":"1234567890123456789"}"#;
        let follower = r#"{"header":{"member_id":"42"},"leader":"1234567890123456789"}"#;
        assert_eq!(etcd.claim(200, leader), Claim::Leads);
        assert!(matches!(etcd.claim(200, follower), Claim::Nothing(_)));
        // No leader yet: etcd omits the zero field.
        assert!(matches!(
            etcd.claim(200, r#"{"header":{"member_id":"42"}}"#),
            Claim::Nothing(_)
        ));
        assert!(matches!(etcd.claim(503, leader), Claim::Nothing(_)));
    }

    #[test]
    fn a_replica_leads_when_its_answer_equals_the_value_asked_for() {
        let demo = probe("path = \"/primary\"\nleader = \"/is_primary\"\nequals = true");
        assert_eq!(demo.claim(200, r#"{"is_primary":true}"#), Claim::Leads);
        assert!(matches!(
            demo.claim(200, r#"{"is_primary":false}"#),
            Claim::Nothing(_)
        ));
        assert!(matches!(demo.claim(200, "not json"), Claim::Nothing(_)));
        let any_ok = probe("path = \"/leader-only\"");
        assert_eq!(any_ok.claim(200, ""), Claim::Leads);
        assert!(matches!(any_ok.claim(404, ""), Claim::Nothing(_)));
    }

    #[test]
    fn the_node_most_claims_point_at_leads_and_a_tie_goes_to_the_first() {
        let names = ["n1", "n2", "n3"];
        let named = |n: &str| Claim::Names(n.into());
        let none = || Claim::Nothing("no answer".into());
        assert_eq!(
            tally(&names, &[none(), Claim::Leads, none()]),
            Some("n2".into())
        );
        assert_eq!(
            tally(&names, &[named("n3"), named("n3"), Claim::Leads]),
            Some("n3".into())
        );
        // A stale leader still claiming beside a new one: one claim each, the first wins.
        assert_eq!(
            tally(&names, &[Claim::Leads, none(), Claim::Leads]),
            Some("n1".into())
        );
        assert_eq!(tally(&names, &[none(), none(), none()]), None);
        assert_eq!(tally(&names, &[named("n9"), none(), none()]), None);
    }
}
