//! Each mode's promise, checked against real replicas: separate `faultline-demo` processes on
//! 127.0.0.1, killed with SIGKILL and paused with SIGSTOP. Every process a test starts is
//! killed by the cluster guard's `Drop`, also when the test fails.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A cluster of replicas on loopback ports, all of them killed on drop.
struct Cluster {
    dir: tempfile::TempDir,
    ids: Vec<String>,
    addrs: Vec<SocketAddr>,
    args: Vec<String>,
    children: Vec<Option<Child>>,
    http: reqwest::Client,
}

impl Cluster {
    /// Starts `n` replicas in `mode` with extra flags, and waits until the cluster answers.
    async fn start(n: usize, mode: &str, extra: &[&str]) -> Cluster {
        // Hold every probe socket until all ports are chosen, so no two replicas share one.
        let probes: Vec<TcpListener> = (0..n)
            .map(|_| TcpListener::bind("127.0.0.1:0").expect("a free loopback port"))
            .collect();
        let addrs: Vec<SocketAddr> = probes.iter().map(|l| l.local_addr().unwrap()).collect();
        drop(probes);
        let ids: Vec<String> = (1..=n).map(|i| format!("n{i}")).collect();
        let peers: Vec<String> = ids
            .iter()
            .zip(&addrs)
            .map(|(id, a)| format!("{id}={a}"))
            .collect();
        let mut args = vec![
            "--peers".to_string(),
            peers.join(","),
            "--mode".to_string(),
            mode.to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut cluster = Cluster {
            dir: tempfile::tempdir().expect("a temporary directory"),
            ids,
            addrs,
            args,
            children: (0..n).map(|_| None).collect(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap(),
        };
        for i in 0..n {
            cluster.spawn(i);
        }
        for i in 0..n {
            cluster.wait_listening(i).await;
        }
        cluster
    }

    fn spawn(&mut self, i: usize) {
        assert!(
            self.children[i].is_none(),
            "{} is already running",
            self.ids[i]
        );
        let log = std::fs::File::create(self.dir.path().join(format!("{}.log", self.ids[i])))
            .expect("a log file");
        let child = Command::new(env!("CARGO_BIN_EXE_faultline-demo"))
            .args(["--id", &self.ids[i], "--listen", &self.addrs[i].to_string()])
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("faultline-demo starts");
        self.children[i] = Some(child);
    }

    /// SIGKILL, then reap.
    fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.children[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn signal(&self, i: usize, signal: &str) {
        let pid = self.children[i].as_ref().expect("running").id();
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} {pid}");
    }

    async fn restart(&mut self, i: usize) {
        self.spawn(i);
        self.wait_listening(i).await;
    }

    async fn wait_listening(&self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(resp) = self.http.get(self.url(i, "/health")).send().await {
                if resp.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} did not come up: {}",
                self.ids[i],
                self.log(i)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{}.log", self.ids[i])))
            .unwrap_or_default()
    }

    fn url(&self, i: usize, path: &str) -> String {
        format!("http://{}{path}", self.addrs[i])
    }

    /// Sends a request to replica `i`; returns the status and the JSON body.
    async fn call(&self, i: usize, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, self.url(i, path));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("the replica answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("a JSON body"))
    }

    async fn write(&self, i: usize, key: &str, value: Value) -> u16 {
        self.call(
            i,
            "PUT",
            &format!("/kv/{key}"),
            Some(json!({ "value": value })),
        )
        .await
        .0
    }

    async fn read(&self, i: usize, key: &str) -> (u16, Value) {
        let (status, body) = self.call(i, "GET", &format!("/kv/{key}"), None).await;
        (status, body["value"].clone())
    }

    async fn cas(&self, i: usize, key: &str, expected: Value, new: Value) -> (u16, Value) {
        let body = json!({ "expected": expected, "new": new });
        self.call(i, "POST", &format!("/cas/{key}"), Some(body))
            .await
    }

    /// Waits until the whole cluster can commit again (bounded).
    async fn wait_ready(&self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.call(i, "GET", "/ready", None).await.0 != 200 {
            assert!(
                Instant::now() < deadline,
                "the cluster did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.children.len() {
            self.kill(i);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linearizable_keeps_acknowledged_writes_across_kill_and_restart() {
    let mut c = Cluster::start(3, "linearizable", &[]).await;
    c.wait_ready(1).await;
    for k in 0..20 {
        assert_eq!(c.write(k % 3, &format!("k{k}"), json!(k * 10)).await, 200);
    }
    let txn = json!([["append", "list", 1], ["append", "list", 2]]);
    assert_eq!(c.call(2, "POST", "/txn", Some(txn)).await.0, 200);

    // Every replica dies at once, the primary included: only the disks remain.
    for i in 0..3 {
        c.kill(i);
    }
    for i in 0..3 {
        c.restart(i).await;
    }
    c.wait_ready(2).await;
    for k in 0..20 {
        assert_eq!(
            c.read(k % 3, &format!("k{k}")).await,
            (200, json!(k * 10)),
            "k{k}"
        );
    }
    let (status, body) = c
        .call(1, "POST", "/txn", Some(json!([["r", "list", null]])))
        .await;
    assert_eq!(
        (status, body["value"].clone()),
        (200, json!([["r", "list", [1, 2]]]))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mode_keeps_acknowledged_writes_across_a_kill_of_the_primary() {
    for mode in ["stale-reads", "lost-updates", "linearizable"] {
        let mut c = Cluster::start(3, mode, &[]).await;
        c.wait_ready(1).await;
        for v in 0..10 {
            assert_eq!(c.write(1 + v % 2, "w", json!(v)).await, 200, "{mode}");
        }
        c.kill(0);
        c.restart(0).await;
        c.wait_ready(0).await;
        // The primary holds the truth in every mode; a follower may lag in stale-reads.
        assert_eq!(c.read(0, "w").await, (200, json!(9)), "{mode}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linearizable_refuses_writes_and_reads_when_the_majority_is_down() {
    let mut c = Cluster::start(3, "linearizable", &["--commit-timeout-ms", "300"]).await;
    c.wait_ready(0).await;
    assert_eq!(c.write(0, "x", json!(1)).await, 200);
    c.kill(1);
    c.kill(2);

    // The first write finds out: it is in the primary's log but not on a majority, so its
    // fate is unknown (503).
    let started = Instant::now();
    let (status, body) = c.call(0, "PUT", "/kv/x", Some(json!({"value": 2}))).await;
    assert_eq!(
        status, 503,
        "a write without a majority must not succeed: {body}"
    );
    assert_eq!(body["error"], "no-majority");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    // From then on the primary knows, and refuses before doing anything (421, definite).
    let (status, body) = c.call(0, "GET", "/kv/x", None).await;
    assert_eq!(
        status, 421,
        "a read without a majority must be refused: {body}"
    );
    assert_eq!(c.cas(0, "x", json!(1), json!(3)).await.0, 421);
    assert_eq!(c.write(0, "x", json!(3)).await, 421);

    // One follower back makes a majority again; the refused write was ambiguous, so either
    // value may be there, but nothing else.
    c.restart(1).await;
    c.wait_ready(1).await;
    let (status, value) = c.read(1, "x").await;
    assert_eq!(status, 200);
    assert!(
        value == json!(1) || value == json!(2),
        "read {value}; 3 was refused"
    );
    assert_eq!(c.write(1, "x", json!(4)).await, 200);
    assert_eq!(c.read(0, "x").await, (200, json!(4)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_refuses_definitely_while_the_primary_is_down() {
    let mut c = Cluster::start(3, "linearizable", &[]).await;
    c.wait_ready(1).await;
    assert_eq!(c.write(1, "p", json!(1)).await, 200);
    c.kill(0);
    let (status, body) = c.call(1, "PUT", "/kv/p", Some(json!({"value": 2}))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (421, Some("primary-unreachable"))
    );
    assert_eq!(c.read(2, "p").await.0, 421);
    c.restart(0).await;
    c.wait_ready(2).await;
    assert_eq!(
        c.read(2, "p").await,
        (200, json!(1)),
        "the refused write did nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linearizable_never_serves_a_stale_read_after_an_acknowledged_write() {
    let c = Cluster::start(5, "linearizable", &[]).await;
    c.wait_ready(0).await;
    // A paused follower must neither block commits nor be read from.
    c.signal(4, "-STOP");
    let mut last = None;
    for v in 0..60 {
        let writer = v % 5;
        let reader = (v + 1 + v / 5) % 5;
        if writer == 4 || reader == 4 {
            continue;
        }
        assert_eq!(c.write(writer, "r", json!(v)).await, 200, "write {v}");
        assert_eq!(
            c.read(reader, "r").await,
            (200, json!(v)),
            "read after write {v}"
        );
        last = Some(v);
    }
    c.signal(4, "-CONT");
    // The paused follower catches up and serves the latest value too.
    assert_eq!(c.read(4, "r").await, (200, json!(last.unwrap())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_reads_serves_an_old_value_from_a_lagging_replica() {
    let c = Cluster::start(3, "stale-reads", &["--replication-lag-ms", "1500"]).await;
    c.wait_ready(1).await;
    assert_eq!(c.write(1, "s", json!(1)).await, 200);
    // The write was acknowledged; a read that starts now on a follower misses it.
    assert_eq!(c.read(2, "s").await, (200, Value::Null));
    assert_eq!(c.read(0, "s").await, (200, json!(1)), "the primary has it");
    // Replication is late, not lost: the follower gets it within a few lag periods.
    let deadline = Instant::now() + Duration::from_secs(8);
    while c.read(2, "s").await.1 != json!(1) {
        assert!(Instant::now() < deadline, "the follower never caught up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Two compare-and-sets from the same expected value, issued together through two replicas.
async fn race_two_cas(c: &Cluster) -> [u16; 2] {
    assert_eq!(c.write(0, "c", json!(0)).await, 200);
    let (a, b) = tokio::join!(
        c.cas(1, "c", json!(0), json!(1)),
        c.cas(2, "c", json!(0), json!(2))
    );
    [a.0, b.0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_updates_loses_an_update_under_two_concurrent_cas() {
    let c = Cluster::start(3, "lost-updates", &["--cas-window-ms", "300"]).await;
    c.wait_ready(0).await;
    assert_eq!(
        race_two_cas(&c).await,
        [200, 200],
        "both CAS from 0 succeeded"
    );
    let (_, value) = c.read(0, "c").await;
    assert!(value == json!(1) || value == json!(2), "read {value}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linearizable_lets_exactly_one_of_two_concurrent_cas_succeed() {
    let c = Cluster::start(3, "linearizable", &[]).await;
    c.wait_ready(0).await;
    let mut statuses = race_two_cas(&c).await;
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_updates_loses_an_append_under_two_concurrent_transactions() {
    let c = Cluster::start(3, "lost-updates", &["--cas-window-ms", "300"]).await;
    c.wait_ready(0).await;
    let (a, b) = tokio::join!(
        c.call(1, "POST", "/txn", Some(json!([["append", 7, 1]]))),
        c.call(2, "POST", "/txn", Some(json!([["append", 7, 2]])))
    );
    assert_eq!((a.0, b.0), (200, 200));
    let (_, body) = c
        .call(0, "POST", "/txn", Some(json!([["r", 7, null]])))
        .await;
    let list = body["value"][0][2].as_array().expect("a list").len();
    assert_eq!(
        list, 1,
        "one of the two acknowledged appends is gone: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_say_which_failures_are_definite() {
    let c = Cluster::start(3, "linearizable", &[]).await;
    c.wait_ready(0).await;
    assert_eq!(c.write(1, "d", json!(5)).await, 200);
    let (status, body) = c.cas(2, "d", json!(4), json!(6)).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("mismatch")));
    assert_eq!(body["value"], json!(5), "a mismatch says what it found");
    let (status, body) = c
        .call(1, "POST", "/txn", Some(json!([["incr", "d", 1]])))
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = c.call(1, "PUT", "/kv/d", Some(json!({"nope": 1}))).await;
    assert_eq!(status, 400);
    assert_eq!(
        c.read(2, "d").await,
        (200, json!(5)),
        "refused requests changed nothing"
    );
}
