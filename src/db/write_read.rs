//! `[db.ready] probe = "write-read"`: readiness proven with the workload's own operations.
//!
//! An HTTP probe only says that a node answers. A replica that answers but still serves an
//! old snapshot (it has not caught up with the log, or replicates late) passes it, and the
//! test then starts by "finding" stale reads that are only a slow start. So, once every node
//! passed the HTTP probe, this probe writes a unique value to a reserved key through the
//! spec's own client (the workload's write: `write`, `add`, or a `txn` of one `append`, with
//! a builtin op like any other) and reads that key on every node until each one returns it:
//!
//! ```text
//!   n1  write(faultline-ready-1, 4711) ok
//!   n1  read  → 4711  ✓
//!   n2  read  → null   read → null   read → 4711  ✓      (replication lag waited out)
//!   n3  read  → 4711  ✓
//! ```
//!
//! Everything shares the readiness deadline. A write that does not answer `ok` is tried
//! again on the next node, each attempt with a fresh key (`faultline-ready-2`, ...), so a
//! lost write that takes effect later cannot overwrite the one being read. The keys are
//! `faultline-ready-N`; workloads name theirs `k1`, `k2`, ..., so the two never meet. None
//! of these operations is recorded in the history: they are setup, not part of the test.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{kept_log, node_tail, NodePlan};
use crate::client::{Client, Completion, Invocation};
use crate::cluster::Cluster;
use faultline_checkers::Outcome;

/// The prefix of the probe's keys; workload keys are `k1`, `k2`, ...
pub const KEY_PREFIX: &str = "faultline-ready-";

/// The operations of a workload that write a value and read it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeOps {
    /// `write` then `read` (a register).
    WriteRead,
    /// `add` then `read` (a set: the read returns every element).
    AddRead,
    /// A `txn` of one `append`, then a `txn` of one `r` (list-append).
    Txn,
}

impl ProbeOps {
    /// The pair among a workload's operations `fs`, if it has one.
    pub fn of(fs: &[&str]) -> Option<ProbeOps> {
        let has = |f: &str| fs.contains(&f);
        if has("write") && has("read") {
            Some(ProbeOps::WriteRead)
        } else if has("add") && has("read") {
            Some(ProbeOps::AddRead)
        } else if has("txn") {
            Some(ProbeOps::Txn)
        } else {
            None
        }
    }

    fn write(self, key: &str, value: u64) -> Invocation {
        let (f, value) = match self {
            ProbeOps::WriteRead => ("write", json!(value)),
            ProbeOps::AddRead => ("add", json!(value)),
            ProbeOps::Txn => ("txn", json!([["append", key, value]])),
        };
        Invocation {
            f: f.into(),
            key: Some(key.to_string()),
            value,
        }
    }

    fn read(self, key: &str) -> Invocation {
        let (f, value) = match self {
            ProbeOps::Txn => ("txn", json!([["r", key, null]])),
            _ => ("read", Value::Null),
        };
        Invocation {
            f: f.into(),
            key: Some(key.to_string()),
            value,
        }
    }
}

/// Whether a read's value shows `value`: the value itself (a number, or its digits as a
/// string), or a list holding it, at any depth (a set's elements, a transaction's read).
fn shows(read: &Value, value: u64) -> bool {
    match read {
        Value::Number(n) => n.as_u64() == Some(value),
        Value::String(s) => s == &value.to_string(),
        Value::Array(items) => items.iter().any(|v| shows(v, value)),
        _ => false,
    }
}

/// A completion in a few words, for an error.
fn answered(c: &Completion) -> String {
    let outcome = match c.outcome {
        Outcome::Ok => "ok",
        Outcome::Fail => "fail",
        Outcome::Info => "info",
    };
    match (&c.outcome, &c.error) {
        (Outcome::Ok, _) => format!("ok {}", c.value),
        (_, Some(e)) => format!("{outcome}: {e}"),
        (_, None) => outcome.to_string(),
    }
}

/// A value no earlier run wrote, as far as a clock can tell: a stale copy cannot pass.
fn unique_value() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    // Small enough for any store's integers, and never 0.
    (nanos % 1_000_000_000) as u64 + 1
}

/// Writes a unique value on one node and waits until every node reads it back, or
/// `deadline`. Returns what was written where.
pub async fn await_replicated(
    cluster: &Cluster,
    plans: &[NodePlan],
    client: &dyn Client,
    ops: ProbeOps,
    deadline: Instant,
    interval: Duration,
) -> anyhow::Result<String> {
    let (key, value, writer) = write_once(cluster, plans, client, ops, deadline, interval).await?;
    let mut pending: Vec<usize> = (0..plans.len()).collect();
    let mut last: Vec<String> = vec!["nothing yet".into(); plans.len()];
    let read = ops.read(&key);
    loop {
        let mut still = Vec::new();
        for &i in &pending {
            alive(cluster, plans, i)?;
            let c = client.invoke(i, &read).await;
            if c.outcome == Outcome::Ok && shows(&c.value, value) {
                continue;
            }
            last[i] = answered(&c);
            still.push(i);
        }
        pending = still;
        if pending.is_empty() {
            return Ok(format!(
                "{value} written to {key} on {} was read back from every node",
                plans[writer].node
            ));
        }
        if Instant::now() >= deadline {
            let i = pending[0];
            let names: Vec<&str> = pending.iter().map(|&i| plans[i].node.as_str()).collect();
            anyhow::bail!(
                "{} never read back the value {value} written to {key} on {} (`[db.ready] \
                 probe = \"write-read\"`): {}'s last read answered {}. A replica that answers \
                 but serves an old copy is not ready: give it a longer `[db.ready] timeout_s` \
                 if it is only slow. Its log ({}) ends with:\n{}",
                names.join(", "),
                plans[writer].node,
                plans[i].node,
                last[i],
                kept_log(&plans[i].node),
                node_tail(cluster.nodes()[i].as_ref(), 15)
            );
        }
        tokio::time::sleep(interval).await;
    }
}

/// Writes a unique value until one write is `ok`, each attempt on the next node with a
/// fresh key. Returns the key, the value and the node that took it.
async fn write_once(
    cluster: &Cluster,
    plans: &[NodePlan],
    client: &dyn Client,
    ops: ProbeOps,
    deadline: Instant,
    interval: Duration,
) -> anyhow::Result<(String, u64, usize)> {
    let mut last = Vec::new();
    // Bounded by the deadline; the count only bounds the error's list of answers.
    for attempt in 1u64.. {
        let i = (attempt as usize - 1) % plans.len();
        alive(cluster, plans, i)?;
        let key = format!("{KEY_PREFIX}{attempt}");
        let value = unique_value();
        let c = client.invoke(i, &ops.write(&key, value)).await;
        if c.outcome == Outcome::Ok {
            return Ok((key, value, i));
        }
        if last.len() < plans.len() {
            last.push(format!("{}: {}", plans[i].node, answered(&c)));
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(interval).await;
    }
    anyhow::bail!(
        "no node took the readiness write (`[db.ready] probe = \"write-read\"`) in time; \
         the answers: {}. Check `[client.ops.{}]` against the store, or give it a longer \
         `[db.ready] timeout_s`",
        last.join("; "),
        ops.write("", 0).f
    )
}

fn alive(cluster: &Cluster, plans: &[NodePlan], i: usize) -> anyhow::Result<()> {
    let node = &cluster.nodes()[i];
    if node.is_alive() {
        return Ok(());
    }
    anyhow::bail!(
        "{}: the store's process exited during setup; last lines of its log ({}):\n{}",
        plans[i].node,
        kept_log(&plans[i].node),
        node_tail(node.as_ref(), 15)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_sets_and_list_append_each_have_a_write_and_a_read_for_the_probe() {
        use crate::workload::WorkloadKind::*;
        let expected = [
            (Register, ProbeOps::WriteRead),
            (CasRegister, ProbeOps::WriteRead),
            (Set, ProbeOps::AddRead),
            (ListAppend, ProbeOps::Txn),
        ];
        for (kind, ops) in expected {
            assert_eq!(ProbeOps::of(kind.fs()), Some(ops), "{}", kind.name());
        }
        assert_eq!(ProbeOps::of(&["transfer", "cas"]), None);
    }

    #[test]
    fn a_read_shows_the_probe_value_as_a_number_digits_an_element_or_a_txn_read() {
        assert!(shows(&json!(4711), 4711));
        assert!(shows(&json!("4711"), 4711));
        assert!(shows(&json!([1, 4711]), 4711));
        assert!(shows(&json!([["r", "faultline-ready-1", [4711]]]), 4711));
        assert!(!shows(&Value::Null, 4711));
        assert!(!shows(&json!(4712), 4711));
        assert!(!shows(&json!([["r", "faultline-ready-1", null]]), 4711));
    }

    #[test]
    fn the_probe_keys_are_never_workload_keys() {
        for d in crate::workload::REGISTRY {
            let src = format!("name = \"{}\"\nkeys = 3\nops_per_key = 2", d.kind.name());
            let spec: crate::spec::WorkloadSpec = toml::from_str(&src).unwrap();
            let mut generator = crate::workload::Generator::new(&spec, 7);
            let mut ops: Vec<Invocation> = (0..200).map(|_| generator.next_op()).collect();
            ops.extend(generator.final_reads());
            // A transaction names its keys inside its micro-ops, a transfer in its value:
            // every string an op carries may be a key.
            fn strings(v: &Value, out: &mut Vec<String>) {
                match v {
                    Value::String(s) => out.push(s.clone()),
                    Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
                    Value::Object(o) => o.values().for_each(|x| strings(x, out)),
                    _ => {}
                }
            }
            let mut keys: Vec<String> = Vec::new();
            for op in ops {
                keys.extend(op.key);
                strings(&op.value, &mut keys);
            }
            keys.dedup();
            // `unique-ids` asks the store for ids and names no key at all.
            if d.kind.name() == "unique-ids" {
                assert!(keys.iter().all(|k| !k.starts_with(KEY_PREFIX)));
                continue;
            }
            assert!(!keys.is_empty(), "{}: no keys seen", d.kind.name());
            for k in keys {
                assert!(!k.starts_with(KEY_PREFIX), "{}: {k}", d.kind.name());
            }
        }
    }
}
