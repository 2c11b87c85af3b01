//! The controller's own ceiling: how many operations per second `faultline run`'s worker loop
//! drives with full recording (templates, rules, history.jsonl streamed to disk) against a
//! trivial HTTP server on loopback, next to what `wrk` gets from the same server with the
//! same number of connections. Target: at least 90 % of wrk.
//!
//! `cargo bench --bench controller` (options after `--`: `--connections C --seconds S
//! --rounds N`, and `--faultline-only`, one round of faultline alone for a profiler). Each
//! round runs faultline and wrk back to back, taking turns at going first, and the medians
//! of the rounds are compared, since a shared machine's load shifts from second to second.
//! The server runs on one thread pinned to the first CPU; the load generators (faultline's
//! runtime worker and recorder, or wrk) are pinned to the second, so the comparison is the
//! same on a small machine whatever the scheduler would do. Without `wrk` installed the
//! bench prints faultline's figure alone and says so.
//!
//! Each round also runs faultline with `[client] capture` on (status, one header, 512 bytes
//! of body kept in every completion), to state what keeping answers costs. Besides
//! throughput, each round states the load generator's CPU time per operation (its threads'
//! time on a core: `/proc/self/task/*/schedstat` for faultline, `getrusage` of the child for
//! wrk), which a busy machine inflates far less than it stretches wall time.
//!
//! Where an operation's time goes, in instructions per operation counted by callgrind on
//! `--faultline-only` (capture off; the kernel's share is not counted, and is the larger:
//! `perf` on the same round puts about half of the load generator's time in `sendto` alone,
//! which on loopback carries the server's side of the delivery and its wake-up):
//!
//! | step | first | then | `d56a08d` | `a8109ec` | now |
//! |---|---|---|---|---|---|
//! | HTTP exchange: hyper's connection task and channels / `client::wire`, tokio's I/O | ~20k | ~4.5k | ~3.2k | ~3.0k | ~3.0k |
//! | of which the answer's head (`httparse` and the framing headers) | | 1.7k | 1.4k | 1.4k | 1.4k |
//! | of which the op's timeout (tokio's timer wheel) | | | ~0.8k | ~0.2k | ~0.2k |
//! | request from templates (`encode`: path, host line, headers, body) | ~2.7k | 1.3k | 1.05k | 1.25k | 0.8k |
//! | rules: the answer's JSON read, pointers followed | 2.7k | 1.6k | 1.05k on average | 0.85k on average | 0.8k on average |
//! | recorder, worker side | 1.4k | 1.4k | 1.75k | 1.75k | 1.75–1.9k |
//! | recorder thread | 4.7k | 1.8k | 0.06k | 0.06k | 0.006k |
//! | generator (the next op, under its lock) | 0.5k | 0.7k | 0.4k | 0.37k | 0.37k |
//! | all, with malloc/free | ~35k | ~14.4k (12 allocations) | ~10.5–10.75k (7 allocations) | ~10.2–10.35k (5.7 allocations) | ~10.0k |
//!
//! "First" was counted on the hyper client (`9ad3013`) and on its first replacement; the JSON
//! pointers were then compiled once, the line encoder written by hand, and the host line
//! made once per node ("then"; its total counted again at `6bdbdee`). For `d56a08d`:
//! - the recorder no longer keeps events: the sending thread encodes each line straight from
//!   the invocation and the completion into a buffer the writer swaps out, so nothing is
//!   copied into an `Event`, memory does not grow with the run (the page faults and heap
//!   growth of the kept events went with it), and what an op allocated is freed by the
//!   thread that allocated it, from its own cache — malloc had cost ~170 instructions a
//!   call when every block came from fresh heap;
//! - the answer's head is parsed into uninitialised header slots (filling 100 of them first
//!   cost more than parsing a small head), and the body is parsed as JSON only when a rule
//!   looks inside it (a write whose rules read the status pays nothing);
//! - the op's future is smaller and is copied less: builtins' steps are boxed, and the
//!   timeout is raced in place instead of wrapping the exchange;
//! - the op is looked up by a word-at-a-time hash, the recorder reads the monotonic clock
//!   directly, and one timer ends a stint instead of a clock read per op.
//!
//! `a8109ec` (the rows' figures move by about 3 % from one callgrind run to the next):
//! - each pooled connection keeps one timer for all its exchanges and moves it only when it
//!   goes off (`wire::Conn::exchange_by`); a fresh timer per op had taken the runtime's timer
//!   lock and two updates of its wheel, to set it and to cancel it;
//! - the rules' pointers are followed in one pass over the answer (`client::pointer`), which
//!   keeps only the values they end at instead of building and freeing the whole tree: one
//!   map and one key fewer per object on the way. serde_json's parser still reads every
//!   byte, so a read's answer costs ~0.9k instead of ~2k.
//!
//! Now:
//! - the recorder's writer sleeps 10 ms after every write instead of 1 ms and only when it
//!   found nothing. It shares the workers' core, and had woken about 770 times a second, a
//!   switch away from the workers and back each time: its thread cost 0.63–0.69 µs of CPU
//!   per op, half of it in those switches (`perf record -t`), and now costs 0.12–0.15 µs
//!   (printed as `recorder`). No instruction count shows this: it is the kernel's work, and
//!   the largest single step since the hand-rolled exchange;
//! - the key and the body are encoded into the request without a string of their own each,
//!   and a template's scope is copied as one slice.
//!
//! Measured on the shared 2-core machine, three to five alternating rounds of 3 s, capture
//! off: the hyper client made 49,209 ops/s against wrk's 121,620 req/s (40 %); the
//! hand-rolled exchange 109,210 ops/s against 114,713 (95 %) on a quiet machine and 53,409
//! against 54,366 (98 %) under a load of about 3, at 8.7–10.7 µs of CPU per op against wrk's
//! 6.2–7.2 µs. Later, under CPU pressure from other work, medians of 53–70 % (single rounds
//! 32–95 %), at 8.8–12.4 µs of CPU per op against wrk's 6.6–8.5 µs. With the steps above:
//! see the README's benchmark section for the latest medians. The ratio swings with the
//! load: compare figures of one run only.
//!
//! Where the time goes now. Both load generators keep their core about 92 % busy, so the
//! ratio is the inverse ratio of their CPU per op. The server spends the same per answer for
//! both (6.2–7.3 µs, printed as `server`). System calls per op, counted with `perf stat -e
//! 'syscalls:sys_enter_*' --per-thread`: faultline's worker makes one `sendto`, one
//! `recvfrom` and 0.2–0.3 `epoll_wait`; wrk makes one `write`, one `read`, two `epoll_ctl`
//! and 0.37 `epoll_wait`. The kernel has most of both tools' time: by the user and system
//! ticks of their threads in `/proc`, wrk spends about 10 % of its time in user space and
//! faultline's worker 23–31 % (the ~10k instructions above, against wrk's parse of the
//! answer and its event loop); `perf record` on the worker puts 69 % of its samples in the
//! kernel, 8 % of them waking the server as a request arrives. This machine has no hardware
//! counters, so instructions cannot be turned into cycles here.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use faultline::client::http::HttpClient;
use faultline::client::{Client, Target};
use faultline::recorder;
use faultline::spec::LoadedSpec;
use faultline::workers::{spawn_workers, Stint};
use faultline::workload::Generator;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SPEC: &str = r#"
[db]
start = ["true"]
[db.ready]
path = "/"
[client]
timeout_ms = 2000
CAPTURE
[client.ops.read]
path = "/kv/{{key}}"
[[client.ops.read.rules]]
status = [200]
outcome = "ok"
value = { pointer = "/value", type = "int" }
[client.ops.write]
method = "PUT"
path = "/kv/{{key}}"
body = "{{value|json}}"
[[client.ops.write.rules]]
status = [200]
outcome = "ok"
[workload]
name = "register"
keys = 100
ops_per_key = 1000
"#;

/// What `[client] capture` keeps in the round with capture on: what a person chasing a bug
/// would ask for.
const CAPTURE: &str = r#"capture = { status = true, headers = ["x-raft-term"], body_bytes = 512 }"#;

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Raft-Term: 7\r\n\
    Content-Length: 11\r\n\r\n{\"value\":1}";

/// A keep-alive HTTP/1.1 server that answers every request with the same small JSON body.
fn serve() -> u16 {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = std_listener.local_addr().unwrap().port();
    std_listener.set_nonblocking(true).unwrap();
    let server = std::thread::Builder::new().name("bench-server".into());
    server
        .spawn(move || {
            pin_to_cpu(0);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                loop {
                    let Ok((mut conn, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = conn.set_nodelay(true);
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 16384];
                        let mut filled = 0;
                        loop {
                            let Ok(n) = conn.read(&mut buf[filled..]).await else {
                                return;
                            };
                            if n == 0 {
                                return;
                            }
                            filled += n;
                            // Answer each complete request (headers, then Content-Length bytes).
                            while let Some(end) = request_end(&buf[..filled]) {
                                if conn.write_all(RESPONSE).await.is_err() {
                                    return;
                                }
                                buf.copy_within(end..filled, 0);
                                filled -= end;
                            }
                            if filled == buf.len() {
                                return;
                            }
                        }
                    });
                }
            });
        })
        .unwrap();
    port
}

/// Keeps the calling thread, and every thread and process it starts from now on, on one CPU
/// (the server on the first, the load generators on the second), so the scheduler never
/// puts the server and the load generator on one core while the other idles. Nothing
/// happens on a machine with a single CPU.
fn pin_to_cpu(cpu: usize) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        return;
    }
    // SAFETY: the set is a plain bit mask, initialised before use; 0 means this thread.
    unsafe {
        let mut set = std::mem::zeroed::<libc::cpu_set_t>();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn request_end(buf: &[u8]) -> Option<usize> {
    let head = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let headers = String::from_utf8_lossy(&buf[..head]).to_ascii_lowercase();
    let body: usize = headers
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    (buf.len() >= head + body).then_some(head + body)
}

/// What one round of a load generator did.
struct Round {
    ops_per_s: f64,
    /// CPU time of the load generator per operation, in microseconds: its threads' time on
    /// a core, which a busy machine does not inflate the way it stretches wall time.
    cpu_us_per_op: f64,
    /// The server's CPU time per operation in the same round, in microseconds: the same
    /// answers cost it more when the requests come less bunched (more wake-ups).
    server_us_per_op: f64,
    /// Of `cpu_us_per_op`, the recorder's writer thread (faultline only).
    recorder_us_per_op: f64,
    /// The history's size in bytes (faultline only).
    history_bytes: u64,
    /// Seconds to read the history back for the check, per million events (faultline only).
    read_back_s_per_m: f64,
}

/// Nanoseconds on a core so far of this process's threads whose name starts with `prefix`
/// (`/proc/self/task/*/schedstat`).
fn threads_cpu_ns(prefix: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|name| name.trim_end().starts_with(prefix))
        })
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// CPU time of the children waited for so far, in nanoseconds.
fn children_cpu_ns() -> u64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let ns = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1000;
    ns(usage.ru_utime) + ns(usage.ru_stime)
}

/// One round of the worker loop; `capture` keeps an excerpt of every answer in the history.
fn faultline_round(
    port: u16,
    connections: usize,
    seconds: u64,
    dir: &Path,
    capture: bool,
) -> Round {
    let source = SPEC.replace("CAPTURE", if capture { CAPTURE } else { "" });
    let spec = LoadedSpec::parse(Path::new("bench.toml"), source)
        .unwrap()
        .spec;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-worker")
        .enable_all()
        .build()
        .unwrap();
    let target = Target {
        node: "n1".into(),
        ip: "127.0.0.1".into(),
        port,
    };
    let client: Arc<dyn Client> =
        Arc::new(HttpClient::new(&spec.client, vec![target.clone()]).unwrap());
    let generator = Arc::new(Mutex::new(Generator::new(&spec.workload, 1)));
    let path = dir.join("history.jsonl");
    let recorder_before = threads_cpu_ns("recorder");
    let cpu_before = threads_cpu_ns("bench-worker") + recorder_before;
    let server_before = threads_cpu_ns("bench-server");
    let start = Instant::now();
    let (rec, writer) = recorder::create(&path, start).unwrap();
    let counters = rec.counters().clone();
    rt.block_on(async {
        let stint = Stint {
            concurrency: connections,
            rate: 0.0,
            mix: None,
            first_process: 0,
            length: Duration::from_secs(seconds),
        };
        let workers = spawn_workers(&stint, &client, &generator, &rec, &[target]);
        for w in workers {
            let _ = w.await;
        }
    });
    let elapsed = start.elapsed().as_secs_f64();
    let server_ns = threads_cpu_ns("bench-server") - server_before;
    drop(rec);
    // The recorder thread's time is read while it still exists: just before it ends.
    let recorder_ns = threads_cpu_ns("recorder");
    let cpu_ns = threads_cpu_ns("bench-worker") + recorder_ns - cpu_before;
    let recorded = writer.finish().unwrap();
    let read_back = Instant::now();
    let history = recorded.history().unwrap();
    let read_back_s = read_back.elapsed().as_secs_f64();
    assert_eq!(history.event_count as u64, recorded.event_count);
    drop(history);
    let events = recorded.events().unwrap();
    let ok = counters.ok.load(std::sync::atomic::Ordering::Relaxed);
    let completed = counters.completed();
    assert_eq!(events.len() as u64, completed * 2, "every op is recorded");
    assert_eq!(recorded.event_count, completed * 2);
    assert_eq!(ok, completed, "the trivial server answers every op ok");
    let kept = events.iter().filter(|e| e.response.is_some()).count() as u64;
    assert_eq!(
        kept,
        if capture { completed } else { 0 },
        "capture keeps every answer, or none"
    );
    Round {
        ops_per_s: completed as f64 / elapsed,
        cpu_us_per_op: cpu_ns as f64 / 1000.0 / completed as f64,
        recorder_us_per_op: (recorder_ns - recorder_before) as f64 / 1000.0 / completed as f64,
        server_us_per_op: server_ns as f64 / 1000.0 / completed as f64,
        history_bytes: std::fs::metadata(&path).unwrap().len(),
        read_back_s_per_m: read_back_s / recorded.event_count as f64 * 1e6,
    }
}

fn wrk_round(port: u16, connections: usize, seconds: u64) -> Option<Round> {
    let cpu_before = children_cpu_ns();
    let server_before = threads_cpu_ns("bench-server");
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            &format!("http://127.0.0.1:{port}/kv/k1"),
        ])
        .output()
        .ok()?;
    let cpu_ns = children_cpu_ns() - cpu_before;
    let server_ns = threads_cpu_ns("bench-server") - server_before;
    let text = String::from_utf8_lossy(&out.stdout);
    let ops_per_s: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())?;
    let requests = ops_per_s * seconds as f64;
    Some(Round {
        ops_per_s,
        cpu_us_per_op: cpu_ns as f64 / 1000.0 / requests,
        server_us_per_op: server_ns as f64 / 1000.0 / requests,
        recorder_us_per_op: 0.0,
        history_bytes: 0,
        read_back_s_per_m: 0.0,
    })
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let connections = arg("--connections", 10) as usize;
    let seconds = arg("--seconds", 3);
    let rounds = arg("--rounds", 7).max(1);
    let port = serve();
    // The runtime's worker, the recorder and wrk all start from this thread.
    pin_to_cpu(1);
    let dir = tempfile::tempdir().unwrap();
    println!(
        "controller benchmark: {connections} connections, {rounds} alternating rounds of {seconds} s, \
         trivial server on 127.0.0.1:{port}"
    );
    if std::env::args().any(|a| a == "--faultline-only") {
        // One round of faultline alone, for a profiler (perf, callgrind) to look at.
        let r = faultline_round(port, connections, seconds, dir.path(), false);
        println!(
            "faultline only: {:.0} ops/s, {:.2} µs cpu/op (the server {:.2}), history read back \
             at {:.2} s per million events",
            r.ops_per_s, r.cpu_us_per_op, r.server_us_per_op, r.read_back_s_per_m
        );
        return;
    }
    let (mut ours, mut kept, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
    let mb = |bytes: u64| bytes as f64 / 1e6;
    for round in 1..=rounds {
        // The two compared runs are next to each other, and take turns going first, so that
        // a slow spell of the host falls on both alike as often as it can.
        let (off, wrk) = if round % 2 == 1 {
            let off = faultline_round(port, connections, seconds, dir.path(), false);
            (off, wrk_round(port, connections, seconds))
        } else {
            let wrk = wrk_round(port, connections, seconds);
            (
                faultline_round(port, connections, seconds, dir.path(), false),
                wrk,
            )
        };
        let on = faultline_round(port, connections, seconds, dir.path(), true);
        println!(
            "  round {round}: faultline {:>6.0} ops/s {:>5.2} µs cpu/op (recorder {:.2}, server {:.2}, \
             {:.0} MB of history) | with capture {:>6.0} ops/s {:>5.2} µs cpu/op ({:.0} MB) | wrk {}",
            off.ops_per_s,
            off.cpu_us_per_op,
            off.recorder_us_per_op,
            off.server_us_per_op,
            mb(off.history_bytes),
            on.ops_per_s,
            on.cpu_us_per_op,
            mb(on.history_bytes),
            wrk.as_ref()
                .map(|w| format!(
                    "{:>6.0} req/s {:>5.2} µs cpu/req (server {:.2})",
                    w.ops_per_s, w.cpu_us_per_op, w.server_us_per_op
                ))
                .unwrap_or_else(|| "-".into())
        );
        ours.push(off);
        kept.push(on);
        theirs.extend(wrk);
    }
    let rate = |rounds: &[Round]| median(rounds.iter().map(|r| r.ops_per_s).collect());
    let cpu = |rounds: &[Round]| median(rounds.iter().map(|r| r.cpu_us_per_op).collect());
    let server = |rounds: &[Round]| median(rounds.iter().map(|r| r.server_us_per_op).collect());
    let wrk = (!theirs.is_empty()).then(|| (rate(&theirs), cpu(&theirs)));
    let of_wrk = |x: f64| {
        wrk.map(|(w, _)| format!("  {:>3.0} % of wrk", 100.0 * x / w))
            .unwrap_or_default()
    };
    println!("medians ({CAPTURE}):");
    let (off, on) = (rate(&ours), rate(&kept));
    println!(
        "  faultline, capture off  {off:>8.0} ops/s{}  {:>5.2} µs cpu/op  (server {:.2})",
        of_wrk(off),
        cpu(&ours),
        server(&ours)
    );
    println!(
        "  faultline, capture on   {on:>8.0} ops/s{}  {:>5.2} µs cpu/op  ({:.0} % of capture off)",
        of_wrk(on),
        cpu(&kept),
        100.0 * on / off
    );
    let read_back = median(ours.iter().map(|r| r.read_back_s_per_m).collect());
    println!(
        "  the history read back for the check (after the run): {read_back:.2} s per million events"
    );
    match wrk {
        Some((w, c)) => {
            println!(
                "  wrk -t1 -c{connections:<12} {w:>8.0} req/s            {c:>5.2} µs cpu/req  \
                 (server {:.2}; target: faultline at least 90 %)",
                server(&theirs)
            );
            // Each round's own ratio: a stall of the host that hits one tool's turn moves
            // one of these, where it can move a median of rates more.
            let ratios = ours
                .iter()
                .zip(&theirs)
                .map(|(o, w)| o.ops_per_s / w.ops_per_s);
            println!(
                "  faultline over wrk, round by round: {}; median {:.0} %",
                ratios
                    .clone()
                    .map(|r| format!("{:.0} %", 100.0 * r))
                    .collect::<Vec<_>>()
                    .join(", "),
                100.0 * median(ratios.collect())
            );
        }
        None => println!("wrk is not installed (apt-get install wrk): no comparison"),
    }
}
