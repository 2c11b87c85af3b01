//! What the lazy filesystem costs a store: `cargo bench --bench lazyfs` (as root).
//!
//! Starts the demo store (one replica, fsync before acknowledging) with its data directory on
//! a plain directory, then on a lazy filesystem (`faultline::cluster::lazyfs`), and drives it
//! with 4 clients writing unique values over keep-alive HTTP connections to loopback, 3 s a
//! round, three rounds each way, alternated. Prints each round's acknowledged writes per
//! second, the medians and their ratio. The lazy filesystem passes each fsync on to the
//! backing file, so the ratio is the cost of FUSE and of the model. The demo
//! binary comes from `$FAULTLINE_DEMO_BIN` or beside this bench's target directory
//! (`cargo build --release -p faultline-demo`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use faultline::cluster::lazyfs;

const CLIENTS: usize = 4;
const ROUND: Duration = Duration::from_secs(3);

fn main() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("the lazyfs bench needs root (a FUSE mount); skipped");
        return;
    }
    let demo = demo_binary();
    // Alternated rounds, medians: fsync latency on a shared disk swings from second to second.
    let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for round in 0..ROUNDS {
        for (way, lazy) in [false, true].into_iter().enumerate() {
            let port = 17_800 + (round * 2 + way) as u16;
            let rate = measure(&demo, lazy, port);
            println!(
                "round {}: data on a {}: {rate:.0} writes/s",
                round + 1,
                LABELS[way]
            );
            rates[way].push(rate);
        }
    }
    let [plain, lazy] = rates.map(median);
    println!(
        "demo store, fsync before ack, data on a {}: {plain:.0} writes/s (median)",
        LABELS[0]
    );
    println!(
        "demo store, fsync before ack, data on a {}: {lazy:.0} writes/s (median)",
        LABELS[1]
    );
    println!("lazy filesystem / plain: {:.2}", lazy / plain);
}

const ROUNDS: usize = 3;
const LABELS: [&str; 2] = ["plain directory", "lazy filesystem"];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One round: a fresh store on a fresh directory, mounted lazily or not.
fn measure(demo: &Path, lazy: bool, port: u16) -> f64 {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("data")).unwrap();
    if lazy {
        lazyfs::mount(tmp.path()).expect("mount");
    }
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut store = start(demo, &tmp.path().join("data"), addr);
    let rate = drive(addr);
    let _ = store.kill();
    let _ = store.wait();
    let (_, failed) = lazyfs::unmount_under(tmp.path());
    assert!(failed.is_empty(), "{failed:?}");
    rate
}

fn demo_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("FAULTLINE_DEMO_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let beside = profile_dir.join("faultline-demo");
    assert!(
        beside.is_file(),
        "{} missing: cargo build --release -p faultline-demo",
        beside.display()
    );
    beside
}

/// Starts one demo replica and waits (at most 10 s) until it is ready.
fn start(demo: &Path, data: &Path, addr: SocketAddr) -> Child {
    let mut child = Command::new(demo)
        .args(["--id", "n1", "--listen", &addr.to_string()])
        .arg("--peers")
        .arg(format!("n1={addr}"))
        .arg("--data-dir")
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut conn) = TcpStream::connect(addr) {
            if request(&mut conn, "GET", "/ready", "").is_ok_and(|s| s == 200) {
                return child;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the demo store at {addr} was not ready within 10 s");
}

/// Writes from `CLIENTS` threads for `ROUND`; returns acknowledged writes per second.
fn drive(addr: SocketAddr) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (stop, acked) = (stop.clone(), acked.clone());
            std::thread::spawn(move || {
                let mut conn = TcpStream::connect(addr).unwrap();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let body = format!("{{\"value\":{}}}", c as u64 * 1_000_000_000 + i);
                    if request(&mut conn, "PUT", &format!("/kv/k{c}"), &body)
                        .is_ok_and(|s| s == 200)
                    {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    i += 1;
                }
            })
        })
        .collect();
    let began = Instant::now();
    std::thread::sleep(ROUND);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    acked.load(Ordering::Relaxed) as f64 / began.elapsed().as_secs_f64()
}

/// One HTTP/1.1 request on a keep-alive connection; returns the status.
fn request(conn: &mut TcpStream, method: &str, path: &str, body: &str) -> std::io::Result<u16> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    // One write, and no Nagle: a request split over two segments waits for a delayed ACK.
    conn.set_nodelay(true)?;
    let text = format!(
        "{method} {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(text.as_bytes())?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut length = 0usize;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut rest = vec![0; length];
    reader.read_exact(&mut rest)?;
    Ok(status)
}
