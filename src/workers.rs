//! The workers: tokio tasks that run the workload against the cluster.
//!
//! Worker `w` talks to node `w % nodes` only and starts as process `w`; when an operation
//! ends `info` its process may still be acting on the store, so the worker continues as
//! process `w + concurrency` (then `+ 2·concurrency`, ...). A global rate limit spaces
//! invocations evenly over all workers. After the main phase, the final reads read every
//! key from every node with one fresh process per node.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faultline_checkers::Outcome;

use crate::client::{Client, Invocation, Target};
use crate::recorder::Recorder;
use crate::workload::Generator;

/// One stretch of work for the workers: the whole main phase, or one of its phases.
#[derive(Clone, Debug)]
pub struct Stint {
    pub concurrency: usize,
    /// Total operations per second, 0 for unlimited.
    pub rate: f64,
    /// A weight per operation (`Generator::next_op_in`); `None`: the workload's own mix.
    pub mix: Option<Arc<BTreeMap<String, f64>>>,
    /// Worker `w` starts as process `first_process + w`: a later phase starts past every
    /// process id an earlier one used, so no process invokes again after an `info`.
    pub first_process: u64,
    pub length: Duration,
}

/// Starts `stint.concurrency` workers that run the workload for `stint.length`, paced to
/// `stint.rate` ops/s in all (0: unlimited). Each resolves to the first process id no worker
/// used. Public so that the controller benchmark measures exactly this loop.
pub fn spawn_workers(
    stint: &Stint,
    client: &Arc<dyn Client>,
    generator: &Arc<Mutex<Generator>>,
    rec: &Recorder,
    targets: &[Target],
) -> Vec<tokio::task::JoinHandle<u64>> {
    let concurrency = stint.concurrency as u64;
    let pacer = Arc::new(Pacer::new(stint.rate));
    let deadline = tokio::time::Instant::now() + stint.length;
    // One timer says when the stint is over; the workers read a flag instead of the clock.
    let over = Arc::new(AtomicBool::new(false));
    let timer = over.clone();
    tokio::spawn(async move {
        tokio::time::sleep_until(deadline).await;
        timer.store(true, Ordering::Relaxed);
    });
    (0..concurrency)
        .map(|w| {
            let (client, generator, rec, pacer, mix, over) = (
                client.clone(),
                generator.clone(),
                rec.clone(),
                pacer.clone(),
                stint.mix.clone(),
                over.clone(),
            );
            let node = (w as usize) % targets.len();
            let name = targets[node].node.clone();
            let first = stint.first_process + w;
            tokio::spawn(async move {
                let mut process = first;
                while !over.load(Ordering::Relaxed) {
                    if !pacer.wait(deadline).await {
                        break;
                    }
                    let Ok(op) = generator.lock().map(|mut g| g.next_op_in(mix.as_deref())) else {
                        break;
                    };
                    let Some(op) = op else {
                        // The mix kept none of the draws: give the turn up.
                        tokio::task::yield_now().await;
                        continue;
                    };
                    rec.invoke(process, &op, &name);
                    let c = client.invoke(node, &op).await;
                    let info = c.outcome == Outcome::Info;
                    rec.complete(process, &op, &c, &name);
                    if info {
                        process += concurrency;
                    }
                }
                process + concurrency
            })
        })
        .collect()
}

/// Spaces invocations evenly: the n-th starts no earlier than n / rate after the first.
struct Pacer {
    interval: Option<Duration>,
    start: tokio::time::Instant,
    issued: AtomicU64,
}

impl Pacer {
    fn new(rate: f64) -> Pacer {
        Pacer {
            interval: (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate)),
            start: tokio::time::Instant::now(),
            issued: AtomicU64::new(0),
        }
    }

    /// Waits for the next slot; false if it falls after `deadline`.
    async fn wait(&self, deadline: tokio::time::Instant) -> bool {
        let Some(interval) = self.interval else {
            return true;
        };
        let n = self.issued.fetch_add(1, Ordering::Relaxed);
        let at = self.start + interval.mul_f64(n as f64);
        if at >= deadline {
            return false;
        }
        tokio::time::sleep_until(at).await;
        true
    }
}

/// Runs the workload's setup operations in order, as process 0 on the first node, before
/// any worker or fault starts. Each must complete `ok`: a `fail` is tried again (nothing
/// happened) up to [`SETUP_ATTEMPTS`] times, a second apart; an `info` may still take effect
/// in the middle of the test, so it ends the run, as does running out of `limit`.
pub async fn setup(
    client: &Arc<dyn Client>,
    rec: &Recorder,
    targets: &[Target],
    ops: Vec<Invocation>,
    limit: Duration,
) -> anyhow::Result<()> {
    if ops.is_empty() {
        return Ok(());
    }
    let name = targets[0].node.clone();
    let all = async {
        for op in &ops {
            for attempt in 1..=SETUP_ATTEMPTS {
                rec.invoke(0, op, &name);
                let c = client.invoke(0, op).await;
                rec.complete(0, op, &c, &name);
                let error = c.error.clone().unwrap_or_default();
                match c.outcome {
                    Outcome::Ok => break,
                    Outcome::Fail if attempt < SETUP_ATTEMPTS => {
                        tracing::info!("setup: `{}` failed ({error}); trying again", op.f);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    outcome => anyhow::bail!(
                        "setup: the workload's `{}` on {name} ended {outcome:?} ({error}); the \
                         store must accept it before the test can start (see history.jsonl)",
                        op.f
                    ),
                }
            }
        }
        Ok(())
    };
    tokio::time::timeout(limit, all).await.map_err(|_| {
        anyhow::anyhow!("setup: the workload's setup did not finish within {limit:?}")
    })?
}

/// How many times a setup operation that certainly failed is tried.
const SETUP_ATTEMPTS: u32 = 5;

/// Reads every key from every node, one fresh process per node, within `limit`.
pub async fn final_reads(
    client: &Arc<dyn Client>,
    rec: &Recorder,
    targets: &[Target],
    reads: Vec<Invocation>,
    first_process: u64,
    limit: Duration,
) -> bool {
    let reads = Arc::new(reads);
    let stride = targets.len() as u64;
    let tasks: Vec<_> = targets
        .iter()
        .enumerate()
        .map(|(node, t)| {
            let (client, rec, reads, name) =
                (client.clone(), rec.clone(), reads.clone(), t.node.clone());
            tokio::spawn(async move {
                let mut process = first_process + node as u64;
                for op in reads.iter() {
                    rec.invoke(process, op, &name);
                    let c = client.invoke(node, op).await;
                    rec.complete(process, op, &c, &name);
                    if c.outcome == Outcome::Info {
                        process += stride;
                    }
                }
            })
        })
        .collect();
    let all = async {
        for t in tasks {
            let _ = t.await;
        }
    };
    tokio::time::timeout(limit, all).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{BoxFuture, Completion};

    /// Answers each invocation with the next of its scripted completions.
    struct Scripted(Mutex<Vec<Completion>>);

    impl Client for Scripted {
        fn invoke<'a>(&'a self, _: usize, _: &'a Invocation) -> BoxFuture<'a, Completion> {
            let next = self.0.lock().unwrap().remove(0);
            Box::pin(async move { next })
        }
    }

    /// Runs one setup op against `answers`; its result and the history's events.
    fn setup_with(answers: Vec<Completion>) -> (anyhow::Result<()>, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let (rec, writer) =
            crate::recorder::create(&dir.path().join("h.jsonl"), std::time::Instant::now())
                .unwrap();
        let client: Arc<dyn Client> = Arc::new(Scripted(Mutex::new(answers)));
        let targets = [Target {
            node: "n1".into(),
            ip: "127.0.0.1".into(),
            port: 1,
        }];
        let init = Invocation {
            f: "init".into(),
            key: None,
            value: serde_json::json!({"a0": 10}),
        };
        let result = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(setup(
                &client,
                &rec,
                &targets,
                vec![init],
                Duration::from_secs(60),
            ));
        drop(rec);
        let recorded = writer.finish().unwrap();
        let kinds = recorded
            .events()
            .unwrap()
            .iter()
            .map(|e| format!("{:?}", e.kind).to_lowercase())
            .collect();
        (result, kinds)
    }

    #[test]
    fn a_setup_op_that_failed_is_tried_again_and_every_attempt_is_recorded() {
        let (result, kinds) = setup_with(vec![
            Completion::fail("unavailable"),
            Completion::ok(serde_json::Value::Null),
        ]);
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(kinds, ["invoke", "fail", "invoke", "ok"]);
    }

    #[test]
    fn a_setup_op_that_may_have_happened_ends_the_run() {
        let (result, kinds) = setup_with(vec![Completion::info("timeout")]);
        let error = result.unwrap_err().to_string();
        assert!(
            error.contains("`init`") && error.contains("Info"),
            "{error}"
        );
        assert_eq!(kinds, ["invoke", "info"]);
    }

    #[test]
    fn the_pacer_spaces_invocations_by_the_rate() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let pacer = Pacer::new(100.0);
            let start = pacer.start;
            let deadline = start + Duration::from_millis(95);
            let mut issued = 0;
            while pacer.wait(deadline).await {
                issued += 1;
            }
            // Slots at 0, 10, ..., 90 ms: ten fit before the deadline, none early.
            assert_eq!(issued, 10);
            assert!(start.elapsed() >= Duration::from_millis(90));
        });
    }
}
