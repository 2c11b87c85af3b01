//! One replica: its copy of the log and the map, and — on the primary — the sequencer that
//! orders operations and the replicators that ship the log to the followers.
//!
//! ```text
//!  client ──► any replica ──forward──► primary: sequencer ──► execute, append + fsync
//!                                                  │
//!                                  replicators ◄───┘ (one per follower, /internal/append)
//!                                       │ acks (matched length, round)
//!                                       ▼
//!                  linearizable: answer once a majority holds the entries
//!                  stale-reads:  answer at once; ship after --replication-lag-ms
//! ```
//!
//! The primary is fixed (the first of `--peers`) and its log is never rewritten: followers
//! hold a prefix of it. That is what makes the linearizable mode simple to trust. The
//! sequencer executes operations one batch at a time against the primary's map, so the map
//! order is the log order. A batch that cannot reach a majority within the commit timeout is
//! answered 503 — its entries stay in the primary's log and commit with a later batch, which
//! is exactly what "ambiguous" allows — and a read is only answered after a majority has
//! confirmed, in a round that began after the read arrived, that it holds everything the
//! read may have seen. After a failed round the primary runs an empty round before it
//! executes anything new, and while that fails it refuses operations untouched — a definite
//! failure, unlike the 503 of a logged batch. Everything an answer depends on is fsynced on
//! the primary first, so a primary that is killed and restarted recovers every value it ever
//! showed anyone.
//!
//! Batching (group commit) is what keeps this fast enough on one disk: every operation that
//! arrives while a batch is being made durable joins the next batch and shares its fsync and
//! its replication round.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch, Mutex};

use crate::config::{Config, Mode, Peer};
use crate::store::{Entry, MicroF, MicroOp, Op, Outcome, State};
use crate::wal::Wal;

/// At most this many operations share one fsync and replication round.
const MAX_BATCH: usize = 256;
/// At most this many entries travel in one replication request.
const MAX_SHIP: u64 = 1000;
/// How long the primary waits for a follower to answer one replication request.
const SHIP_TIMEOUT: Duration = Duration::from_millis(500);
/// How long a replicator waits before trying an unreachable follower again.
const RETRY_DELAY: Duration = Duration::from_millis(100);
/// How many queued operations the sequencer accepts before callers wait.
const QUEUE_LEN: usize = 4096;

/// The answer of the primary's pipeline to one operation.
#[derive(Debug)]
pub enum Reply {
    Done(Outcome),
    /// No majority confirmed the batch in time: the operation may or may not take effect.
    NoMajority,
    /// The primary knew it had no majority and did not execute the operation at all.
    Refused,
}

/// Replication request: entries `from..` of the primary's log.
#[derive(Serialize, Deserialize)]
pub struct AppendRequest {
    pub leader: String,
    pub from: u64,
    pub entries: Vec<Entry>,
}

/// Replication answer: how long the follower's log now is.
#[derive(Serialize, Deserialize)]
pub struct AppendResponse {
    pub len: u64,
}

struct Core {
    state: State,
    log: Vec<Entry>,
    wal: Wal,
}

/// What the primary knows of one follower.
#[derive(Clone, Copy, Default)]
struct Progress {
    /// The follower holds (on disk) the first `matched` entries.
    matched: u64,
    /// The last replication round the follower answered in.
    acked_round: u64,
}

struct Request {
    op: Op,
    reply: oneshot::Sender<Reply>,
}

pub struct Node {
    pub cfg: Config,
    core: Mutex<Core>,
    sequencer: Option<mpsc::Sender<Request>>,
    /// (round, log length) the replicators should make the followers acknowledge.
    trigger: watch::Sender<(u64, u64)>,
    progress: watch::Sender<Vec<Progress>>,
    pub http: reqwest::Client,
}

impl Node {
    /// Builds the replica from its recovered log and, on the primary, starts the sequencer and
    /// one replicator per follower.
    pub fn start(cfg: Config, wal: Wal, entries: Vec<Entry>) -> Arc<Node> {
        let mut state = State::default();
        for e in &entries {
            e.changes.iter().for_each(|c| state.apply(c));
        }
        let len = entries.len() as u64;
        let followers: Vec<Peer> = cfg.followers().cloned().collect();
        let (tx, rx) = mpsc::channel(QUEUE_LEN);
        let is_primary = cfg.is_primary();
        let node = Arc::new(Node {
            core: Mutex::new(Core {
                state,
                log: entries,
                wal,
            }),
            sequencer: is_primary.then_some(tx),
            trigger: watch::Sender::new((0, len)),
            progress: watch::Sender::new(vec![Progress::default(); followers.len()]),
            http: reqwest::Client::builder()
                .pool_idle_timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client with no TLS always builds"),
            cfg,
        });
        if is_primary {
            tokio::spawn(run_sequencer(node.clone(), rx));
            for (slot, peer) in followers.into_iter().enumerate() {
                tokio::spawn(replicate_to(node.clone(), slot, peer));
            }
        }
        node
    }

    pub async fn log_len(&self) -> u64 {
        self.core.lock().await.log.len() as u64
    }

    /// Serves a read-only operation from this replica's own copy (stale-reads mode).
    pub async fn read_local(&self, op: &Op) -> Outcome {
        debug_assert!(op.is_read_only());
        self.core.lock().await.state.execute(op).0
    }

    /// Runs an operation through the primary's pipeline. Only called on the primary.
    pub async fn submit(&self, op: Op) -> Reply {
        if self.cfg.mode == Mode::LostUpdates && !op.is_read_only() {
            match op {
                Op::Cas { key, expected, new } => return self.racy_cas(key, expected, new).await,
                Op::Txn { ops } => return self.racy_txn(ops).await,
                Op::Transfer { .. } => return self.racy_transfer(op).await,
                Op::NextId { key } => return self.racy_next_id(key).await,
                _ => {}
            }
        }
        self.sequence(op).await
    }

    async fn sequence(&self, op: Op) -> Reply {
        let Some(sequencer) = &self.sequencer else {
            unreachable!("only the primary sequences operations");
        };
        let (reply, rx) = oneshot::channel();
        if sequencer.send(Request { op, reply }).await.is_err() {
            return Reply::NoMajority;
        }
        rx.await.unwrap_or(Reply::NoMajority)
    }

    /// The lost-updates mode's compare-and-set: a read, a pause, then a blind write. Two of
    /// them racing on one key can both succeed.
    async fn racy_cas(&self, key: String, expected: Value, new: Value) -> Reply {
        let current = match self.sequence(Op::Read { key: key.clone() }).await {
            Reply::Done(Outcome::Done(v)) => v,
            other => return other,
        };
        if current != expected {
            return Reply::Done(Outcome::Mismatch { current });
        }
        tokio::time::sleep(Duration::from_millis(self.cfg.cas_window_ms)).await;
        self.sequence(Op::Write { key, value: new }).await
    }

    /// The lost-updates mode's transaction: read every key it touches, compute the result on
    /// a private copy, pause, then write the results back whole — overwriting whatever
    /// concurrent transactions appended in between.
    async fn racy_txn(&self, ops: Vec<MicroOp>) -> Reply {
        let mut keys: Vec<&MicroOp> = Vec::new();
        for m in &ops {
            if !keys.iter().any(|k| k.key == m.key) {
                keys.push(m);
            }
        }
        let reads = keys.iter().map(|m| MicroOp {
            f: MicroF::Read,
            value: Value::Null,
            ..(*m).clone()
        });
        let snapshot = match self
            .sequence(Op::Txn {
                ops: reads.collect(),
            })
            .await
        {
            Reply::Done(Outcome::Done(Value::Array(read))) => read,
            other => return other,
        };
        let mut scratch = State::default();
        for (m, read) in keys.iter().zip(&snapshot) {
            scratch.apply(&crate::store::Change::Put {
                key: m.key.clone(),
                value: read[2].clone(),
            });
        }
        let (outcome, _) = scratch.execute(&Op::Txn { ops: ops.clone() });
        let mut values: Vec<(String, Value)> = Vec::new();
        for m in ops.iter().filter(|m| m.f != MicroF::Read) {
            if !values.iter().any(|(k, _)| *k == m.key) {
                values.push((m.key.clone(), scratch.get(&m.key)));
            }
        }
        tokio::time::sleep(Duration::from_millis(self.cfg.cas_window_ms)).await;
        match self.sequence(Op::PutAll { values }).await {
            Reply::Done(_) => Reply::Done(outcome),
            other => other,
        }
    }

    /// The lost-updates mode's transfer: read both balances, pause, then write both back —
    /// a concurrent transfer touching either account in between is undone, and the total
    /// is no longer what it was.
    async fn racy_transfer(&self, op: Op) -> Reply {
        let Op::Transfer { from, to, .. } = &op else {
            unreachable!("racy_transfer is only called with a transfer");
        };
        let keys = vec![from.clone(), to.clone()];
        let read = match self.sequence(Op::ReadMany { keys }).await {
            Reply::Done(Outcome::Done(read)) => read,
            other => return other,
        };
        let mut scratch = State::default();
        for k in [from, to] {
            let value = read.get(k.as_str()).cloned().unwrap_or(Value::Null);
            scratch.apply(&crate::store::Change::Put {
                key: k.clone(),
                value,
            });
        }
        let (outcome, _) = scratch.execute(&op);
        if let Outcome::Mismatch { .. } = outcome {
            return Reply::Done(outcome);
        }
        let values = vec![
            (from.clone(), scratch.get(from)),
            (to.clone(), scratch.get(to)),
        ];
        tokio::time::sleep(Duration::from_millis(self.cfg.cas_window_ms)).await;
        match self.sequence(Op::PutAll { values }).await {
            Reply::Done(_) => Reply::Done(outcome),
            other => other,
        }
    }

    /// The lost-updates mode's id: read the counter, pause, write it plus one — two
    /// concurrent calls both return the same id.
    async fn racy_next_id(&self, key: String) -> Reply {
        let current = match self.sequence(Op::Read { key: key.clone() }).await {
            Reply::Done(Outcome::Done(v)) => v.as_i64().unwrap_or(0),
            other => return other,
        };
        let id = Value::from(current.wrapping_add(1));
        tokio::time::sleep(Duration::from_millis(self.cfg.cas_window_ms)).await;
        match self
            .sequence(Op::Write {
                key,
                value: id.clone(),
            })
            .await
        {
            Reply::Done(_) => Reply::Done(Outcome::Done(id)),
            other => other,
        }
    }

    /// Appends entries shipped by the primary; returns this replica's log length.
    pub async fn accept_append(&self, req: AppendRequest) -> Result<u64, String> {
        if req.leader != self.cfg.primary().id {
            return Err(format!(
                "{} believes {} is the primary, not {}: every replica needs the same --peers",
                self.cfg.id,
                self.cfg.primary().id,
                req.leader
            ));
        }
        let mut core = self.core.lock().await;
        let have = core.log.len() as u64;
        if req.from <= have {
            let skip = ((have - req.from) as usize).min(req.entries.len());
            let new = &req.entries[skip..];
            if let Some(first) = new.first() {
                if first.index != have {
                    return Err(format!("entry {} does not follow {have}", first.index));
                }
                durably(&mut core.wal, new);
                for e in new {
                    e.changes.iter().for_each(|c| core.state.apply(c));
                }
                core.log.extend_from_slice(new);
            }
        }
        Ok(core.log.len() as u64)
    }

    /// Waits until a majority (this primary included) holds the first `len` entries and has
    /// answered in a round that began now.
    async fn await_majority(&self, len: u64) -> bool {
        let needed = self.cfg.majority() - 1;
        let mut round = 0;
        self.trigger.send_modify(|t| {
            t.0 += 1;
            t.1 = len;
            round = t.0;
        });
        if needed == 0 {
            return true;
        }
        let mut rx = self.progress.subscribe();
        let confirmed = rx.wait_for(|p| {
            p.iter()
                .filter(|f| f.matched >= len && f.acked_round >= round)
                .count()
                >= needed
        });
        let in_time = matches!(
            tokio::time::timeout(self.cfg.commit_timeout(), confirmed).await,
            Ok(Ok(_))
        );
        in_time
    }

    async fn entries(&self, from: u64, to: u64) -> Vec<Entry> {
        let core = self.core.lock().await;
        let to = to.min(from + MAX_SHIP).min(core.log.len() as u64);
        core.log[from.min(to) as usize..to as usize].to_vec()
    }
}

/// Writes entries to the log and waits for the disk. A replica that cannot write its log can
/// no longer keep its promises, so it stops: clients see a dropped connection, which they
/// must treat as ambiguous.
fn durably(wal: &mut Wal, entries: &[Entry]) {
    if let Err(e) = tokio::task::block_in_place(|| wal.append(entries)) {
        eprintln!("cannot write {}: {e}; stopping", wal.path().display());
        std::process::exit(70);
    }
}

/// The primary's sequencer: takes every queued operation as one batch, executes the batch in
/// order, makes it durable, replicates it (linearizable and lost-updates modes wait for a
/// majority), and answers.
async fn run_sequencer(node: Arc<Node>, mut rx: mpsc::Receiver<Request>) {
    let needs_majority = node.cfg.mode != Mode::StaleReads;
    // Whether the last round reached a majority. After one that did not, the next batch is
    // only executed once an empty round succeeds; until then operations are refused before
    // they touch anything, which a client can count as a definite failure.
    let mut healthy = false;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(req) => batch.push(req),
                Err(_) => break,
            }
        }
        if needs_majority && !healthy {
            let len = node.log_len().await;
            healthy = node.await_majority(len).await;
            if !healthy {
                for req in batch {
                    let _ = req.reply.send(Reply::Refused);
                }
                continue;
            }
        }
        let mut outcomes = Vec::with_capacity(batch.len());
        let len = {
            let mut core = node.core.lock().await;
            let mut entries = Vec::new();
            for req in &batch {
                let (outcome, changes) = core.state.execute(&req.op);
                if !changes.is_empty() {
                    let index = (core.log.len() + entries.len()) as u64;
                    entries.push(Entry { index, changes });
                }
                outcomes.push(outcome);
            }
            durably(&mut core.wal, &entries);
            core.log.extend(entries);
            core.log.len() as u64
        };
        let committed = match node.cfg.mode {
            Mode::StaleReads => {
                node.trigger.send_modify(|t| t.1 = len);
                true
            }
            Mode::Linearizable | Mode::LostUpdates | Mode::Crashes => {
                node.await_majority(len).await
            }
        };
        healthy = committed;
        for (req, outcome) in batch.into_iter().zip(outcomes) {
            let reply = if committed {
                Reply::Done(outcome)
            } else {
                Reply::NoMajority
            };
            // The caller may have gone (its client timed out); the outcome stands regardless.
            let _ = req.reply.send(reply);
        }
    }
}

/// Ships the primary's log to one follower, forever. In stale-reads mode it first lets the
/// entries age by the replication lag.
async fn replicate_to(node: Arc<Node>, slot: usize, peer: Peer) {
    let mut trigger = node.trigger.subscribe();
    let lag = (node.cfg.mode == Mode::StaleReads)
        .then(|| Duration::from_millis(node.cfg.replication_lag_ms));
    // Unknown until the follower first answers; the first request is an empty probe.
    let mut matched: Option<u64> = None;
    let mut acked_round = 0;
    let mut reachable = true;
    loop {
        let (round, len) = *trigger.borrow_and_update();
        let behind = !matches!(matched, Some(m) if m >= len) || acked_round < round;
        if !behind {
            if trigger.changed().await.is_err() {
                return;
            }
            continue;
        }
        if let (Some(lag), Some(_)) = (lag, matched) {
            tokio::time::sleep(lag).await;
        }
        let from = matched.unwrap_or(len);
        let entries = node.entries(from, len).await;
        let sent_to = from + entries.len() as u64;
        match ship(&node, &peer, from, entries).await {
            Ok(their_len) => {
                if !reachable {
                    eprintln!("{}: {} is reachable again", node.cfg.id, peer.id);
                    reachable = true;
                }
                let m = their_len.min(len);
                if m >= sent_to {
                    acked_round = acked_round.max(round);
                }
                matched = Some(m);
                node.progress.send_modify(|p| {
                    p[slot] = Progress {
                        matched: m,
                        acked_round,
                    }
                });
            }
            Err(e) => {
                if reachable {
                    eprintln!("{}: cannot replicate to {}: {e}", node.cfg.id, peer.id);
                    reachable = false;
                }
                tokio::time::sleep(RETRY_DELAY).await;
            }
        }
    }
}

async fn ship(node: &Node, peer: &Peer, from: u64, entries: Vec<Entry>) -> Result<u64, String> {
    let req = AppendRequest {
        leader: node.cfg.id.clone(),
        from,
        entries,
    };
    let resp = node
        .http
        .post(format!("http://{}/internal/append", peer.addr))
        .json(&req)
        .timeout(SHIP_TIMEOUT)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    if !status.is_success() {
        let text = resp.text().await.unwrap_or_default();
        return Err(format!("{status}: {text}"));
    }
    let answer: AppendResponse = resp.json().await.map_err(|e| e.to_string())?;
    Ok(answer.len)
}
