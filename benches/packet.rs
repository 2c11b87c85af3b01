//! How faithful the packet faults are: `cargo bench --bench packet` (as root).
//!
//! Starts a 2-node `local` cluster (its namespaces `fl<run>-n1`, `fl<run>-n2`, removed at the
//! end, found by `faultline clean` otherwise), runs a UDP echo inside n2 and pings it from n1
//! with numbered datagrams, and shapes the link n1 → n2 only (one way), so that the round trip
//! carries the asked delay once. Prints, for each asked delay, the measured added delay
//! (round-trip quantiles minus the unshaped median), for each loss rate the share of pings
//! lost over 10,000, and the shim's packet-rate ceiling (datagrams per second through the
//! queue against the same flood unshaped), and the round trip once the faults are over.
//! Targets: the median within 10 % (or 1 ms) of the asked delay, the loss share within 2
//! points, and after the faults the unshaped median again (within 1 ms) with no loss.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use faultline::cluster::packet::{Delay, Distribution, Loss, PacketPlan, Shape};
use faultline::cluster::{BackendKind, Cluster, ClusterConfig};

const ECHO_PORT: u16 = 9000;
const SINK_PORT: u16 = 9001;

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("the packet bench needs root (network namespaces and iptables); skipped");
        return;
    }
    let cluster = Cluster::start(&ClusterConfig::new(BackendKind::Local, 2)).expect("2 nodes");
    let ns = |node: &str| format!("/run/netns/fl{}-{node}", cluster.run_id());
    let target: SocketAddr = (cluster.nodes()[1].address(), ECHO_PORT).into();
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let servers = serve(&ns("n2"), stop.clone(), received.clone());
    // A socket stays in the namespace it was made in; this thread stays in the host's, where
    // the cluster's own commands must run.
    let n1 = ns("n1");
    let socket = std::thread::spawn(move || {
        enter(&n1);
        UdpSocket::bind("0.0.0.0:0").expect("a socket in n1")
    })
    .join()
    .expect("opening the socket in n1");
    socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .expect("a read timeout");

    let base = ping(&socket, target, 2_000, Duration::from_micros(500));
    let base_median = quantile(&base.rtts_ms, 0.5);
    println!(
        "unshaped round trip: median {base_median:.3} ms over {} pings",
        base.sent
    );
    println!();
    println!("delay (one way, uniform jitter)   median   p10      p90      (added, ms; target: median within 10 % or 1 ms)");
    for (mean, jitter) in [(5.0, 1.0), (50.0, 5.0), (100.0, 10.0), (200.0, 20.0)] {
        let shape = Shape {
            delay: Some(Delay {
                mean_ms: mean,
                jitter_ms: jitter,
                distribution: Distribution::Uniform,
            }),
            ..Shape::default()
        };
        cluster.shape(&plan(shape)).expect("shaping n1 -> n2");
        let r = ping(&socket, target, 2_000, Duration::from_micros(1000));
        cluster.unshape().expect("unshaping");
        let q = |p| quantile(&r.rtts_ms, p) - base_median;
        let ok = (q(0.5) - mean).abs() <= (mean * 0.1).max(1.0);
        println!(
            "{:<33} {:>7.2}  {:>7.2}  {:>7.2}  {}",
            format!("{mean} ± {jitter} ms"),
            q(0.5),
            q(0.1),
            q(0.9),
            if ok { "ok" } else { "MISSED" }
        );
    }
    println!();
    println!("loss (one way)        lost share over 10,000 pings (target: within 2 points)");
    for p in [0.01, 0.10, 0.30, 0.50] {
        let shape = Shape {
            loss: Some(Loss {
                probability: p,
                correlation: 0.0,
            }),
            ..Shape::default()
        };
        cluster.shape(&plan(shape)).expect("shaping n1 -> n2");
        let r = ping(&socket, target, 10_000, Duration::from_micros(200));
        let stats = cluster.unshape().expect("unshaping");
        let lost = 1.0 - r.rtts_ms.len() as f64 / r.sent as f64;
        let counted: u64 = stats.values().map(|s| s.lost).sum();
        let ok = (lost - p).abs() <= 0.02;
        println!(
            "{:<21} {:>6.2} %  (the shim counted {counted} lost)  {}",
            format!("{} %", p * 100.0),
            lost * 100.0,
            if ok { "ok" } else { "MISSED" }
        );
    }
    let after = ping(&socket, target, 2_000, Duration::from_micros(500));
    let after_median = quantile(&after.rtts_ms, 0.5);
    let after_lost = after.sent - after.rtts_ms.len();
    let ok = (after_median - base_median).abs() <= 1.0 && after_lost <= after.sent / 1000;
    println!();
    println!(
        "after the faults: median {after_median:.3} ms (before: {base_median:.3} ms), {after_lost} \
         of {} pings lost  {}",
        after.sent,
        if ok { "ok" } else { "MISSED" }
    );
    println!();
    let sink: SocketAddr = (cluster.nodes()[1].address(), SINK_PORT).into();
    let plain = flood(&socket, sink, &received);
    let pass_all = Shape {
        loss: Some(Loss {
            probability: 0.0,
            correlation: 0.0,
        }),
        ..Shape::default()
    };
    cluster.shape(&plan(pass_all)).expect("shaping n1 -> n2");
    let shimmed = flood(&socket, sink, &received);
    let stats = cluster.unshape().expect("unshaping");
    let overflow: u64 = stats.values().map(|s| s.overflow).sum();
    println!("packet rate, 64-byte datagrams for 2 s: unshaped {plain:.0}/s, through the shim {shimmed:.0}/s (overflow {overflow})");
    stop.store(true, Ordering::SeqCst);
    for s in servers {
        let _ = s.join();
    }
    cluster.teardown().expect("tearing down");
}

/// A fault on the link n1 → n2 alone.
fn plan(shape: Shape) -> PacketPlan {
    PacketPlan {
        shape,
        links: BTreeMap::from([("n1".to_string(), BTreeSet::from(["n2".to_string()]))]),
        clients: false,
        max_held: 4096,
        seed: 42,
    }
}

/// Moves this thread into the namespace at `path`.
fn enter(path: &str) {
    let f = File::open(path).expect("the namespace handle");
    // SAFETY: setns on a valid descriptor; only this thread moves.
    assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
}

/// An echo on ECHO_PORT and a counting sink on SINK_PORT inside `ns`, until `stop`.
fn serve(
    ns: &str,
    stop: Arc<AtomicBool>,
    received: Arc<AtomicU64>,
) -> Vec<std::thread::JoinHandle<()>> {
    let mut handles = Vec::new();
    for port in [ECHO_PORT, SINK_PORT] {
        let (ns, stop, received) = (ns.to_string(), stop.clone(), received.clone());
        handles.push(std::thread::spawn(move || {
            enter(&ns);
            let s = UdpSocket::bind(("0.0.0.0", port)).expect("a server socket");
            s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            let mut buf = [0u8; 2048];
            while !stop.load(Ordering::SeqCst) {
                if let Ok((n, from)) = s.recv_from(&mut buf) {
                    if port == ECHO_PORT {
                        let _ = s.send_to(&buf[..n], from);
                    } else {
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    handles
}

struct Pings {
    sent: usize,
    rtts_ms: Vec<f64>,
}

/// Sends `count` numbered pings `gap` apart while collecting echoes, then waits up to 1 s
/// for stragglers.
fn ping(socket: &UdpSocket, target: SocketAddr, count: usize, gap: Duration) -> Pings {
    let mut sent_at: Vec<Option<Instant>> = vec![None; count];
    let mut rtts = Vec::with_capacity(count);
    let mut buf = [0u8; 64];
    socket.set_nonblocking(true).expect("a non-blocking socket");
    let began = Instant::now();
    let mut next = 0usize;
    let mut last_sent = began;
    let hard_end = began + gap * count as u32 + Duration::from_secs(30);
    loop {
        let now = Instant::now();
        if next < count && now >= began + gap * next as u32 {
            buf[..8].copy_from_slice(&(next as u64).to_be_bytes());
            if socket.send_to(&buf, target).is_ok() {
                sent_at[next] = Some(now);
            }
            next += 1;
            last_sent = now;
        }
        while let Ok((n, _)) = socket.recv_from(&mut buf) {
            if n >= 8 {
                let seq = u64::from_be_bytes(buf[..8].try_into().expect("8 bytes")) as usize;
                if let Some(t) = sent_at.get_mut(seq).and_then(Option::take) {
                    rtts.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
        }
        let done = next == count && (now > last_sent + Duration::from_secs(1));
        if done || now > hard_end {
            break;
        }
        std::thread::sleep(Duration::from_micros(50));
    }
    socket.set_nonblocking(false).expect("a blocking socket");
    Pings {
        sent: count,
        rtts_ms: rtts,
    }
}

/// Datagrams per second that reach the sink during a 2 s flood.
fn flood(socket: &UdpSocket, sink: SocketAddr, received: &AtomicU64) -> f64 {
    let before = received.load(Ordering::Relaxed);
    let buf = [0u8; 64];
    let began = Instant::now();
    while began.elapsed() < Duration::from_secs(2) {
        for _ in 0..64 {
            let _ = socket.send_to(&buf, sink);
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    (received.load(Ordering::Relaxed) - before) as f64 / 2.0
}

fn quantile(samples: &[f64], q: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}
