//! The shim: a userspace netem on a netfilter queue, one thread per network namespace.
//!
//! The thread enters the namespace (`setns` changes only the calling thread's namespace),
//! binds queue 0 there, and loops: it takes every packet the kernel queued, draws its fate
//! ([`Fates`]), drops it or puts it in a heap keyed by release time, and gives the kernel an
//! accept verdict for every packet whose time has come. It asks the kernel for packet
//! metadata only (no payload copy). A held message keeps the receive buffer it came in alive
//! (at most a page, 8 KiB, shared by every message of one read), so the shim's memory is
//! bounded by `max_held` × 8 KiB: 32 MiB at the default cap, far less in practice.
//!
//! The queue socket is non-blocking and the loop sleeps at most [`TICK`] between rounds: the
//! `nfq` crate exposes no descriptor to poll, so a packet waits up to one tick before the
//! shim sees it. `cargo bench --bench packet` measures what that costs in accuracy and rate.
//!
//! Bounds: at most `max_held` packets held (past it a packet is dropped and counted as
//! overflow); at most [`BATCH`] packets taken per round, so releases are never starved; the
//! kernel's own queue is capped a little above `max_held`. Stopping releases every held
//! packet at once, then closes the queue.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nfq::{Message, Queue, Verdict};

use super::{Fate, Fates, Shape, ShimStats};
use crate::cluster::{Error, Result};

/// The longest the loop sleeps with nothing due.
pub const TICK: Duration = Duration::from_micros(250);
/// The most packets taken from the kernel in one round.
const BATCH: usize = 512;
/// The queue number every shim binds, in its own namespace (queues are per namespace).
pub const QUEUE: u16 = 0;
/// How long starting a shim may take.
const START_TIMEOUT: Duration = Duration::from_secs(5);

/// A running shim; stopping (or dropping) it releases every packet it holds.
pub struct Shim {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<ShimStats>>,
}

/// A packet waiting for its release time; ordered by (time, arrival) only.
struct Held {
    at: Instant,
    seq: u64,
    msg: Message,
}

impl PartialEq for Held {
    fn eq(&self, other: &Held) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Held) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Held) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl Shim {
    /// Starts a shim in the namespace whose handle is `netns` (`/run/netns/<name>`), and
    /// returns once its queue is bound.
    pub fn start(netns: &Path, shape: Shape, max_held: usize, seed: u64) -> Result<Shim> {
        let what = format!("starting the packet shim in {}", netns.display());
        let file = File::open(netns).map_err(|e| Error::io(what.clone(), e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let (ready, bound) = mpsc::channel::<std::result::Result<(), String>>();
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("packet-shim".into())
            .spawn(move || {
                let queue = match open_queue(&file, max_held) {
                    Ok(q) => q,
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return ShimStats::default();
                    }
                };
                drop(file);
                let _ = ready.send(Ok(()));
                run(queue, Fates::new(shape, seed), max_held, &flag)
            })
            .map_err(|e| Error::io(what.clone(), e))?;
        let mut shim = Shim {
            stop,
            handle: Some(handle),
        };
        match bound.recv_timeout(START_TIMEOUT) {
            Ok(Ok(())) => Ok(shim),
            Ok(Err(e)) => {
                shim.finish();
                Err(Error::command(what, e))
            }
            Err(_) => {
                shim.stop.store(true, Ordering::SeqCst);
                Err(Error::command(what, "the queue did not open in 5 s"))
            }
        }
    }

    /// Stops the shim: every held packet is released, the queue closed.
    pub fn stop(mut self) -> ShimStats {
        self.finish()
    }

    fn finish(&mut self) -> ShimStats {
        self.stop.store(true, Ordering::SeqCst);
        self.handle
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Drop for Shim {
    fn drop(&mut self) {
        self.finish();
    }
}

fn open_queue(netns: &File, max_held: usize) -> std::result::Result<Queue, String> {
    // SAFETY: setns on a valid descriptor; it moves only this thread into the namespace.
    if unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(format!("setns: {}", std::io::Error::last_os_error()));
    }
    let mut q = Queue::open().map_err(|e| format!("opening the netlink queue: {e}"))?;
    q.bind(QUEUE)
        .map_err(|e| format!("binding queue {QUEUE}: {e}"))?;
    q.set_copy_range(QUEUE, 0)
        .map_err(|e| format!("asking for metadata only: {e}"))?;
    let kernel_cap = (max_held + BATCH) as u32;
    q.set_queue_max_len(QUEUE, kernel_cap)
        .map_err(|e| format!("capping the queue: {e}"))?;
    q.set_nonblocking(true);
    Ok(q)
}

/// The shim's loop, until `stop` is set; returns what it saw.
fn run(mut q: Queue, mut fates: Fates, max_held: usize, stop: &AtomicBool) -> ShimStats {
    let mut held: BinaryHeap<Reverse<Held>> = BinaryHeap::new();
    let mut stats = ShimStats::default();
    let mut seq = 0u64;
    while !stop.load(Ordering::SeqCst) {
        for _ in 0..BATCH {
            let mut msg = match q.recv() {
                Ok(msg) => msg,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            stats.packets += 1;
            match fates.draw() {
                Fate::Drop => {
                    stats.lost += 1;
                    msg.set_verdict(Verdict::Drop);
                    let _ = q.verdict(msg);
                }
                Fate::Release(d) if d.is_zero() => {
                    let _ = q.verdict(msg);
                }
                Fate::Release(_) if held.len() >= max_held => {
                    stats.overflow += 1;
                    msg.set_verdict(Verdict::Drop);
                    let _ = q.verdict(msg);
                }
                Fate::Release(d) => {
                    seq += 1;
                    let at = Instant::now() + d;
                    held.push(Reverse(Held { at, seq, msg }));
                    stats.held_max = stats.held_max.max(held.len() as u64);
                }
            }
        }
        let now = Instant::now();
        while held.peek().is_some_and(|h| h.0.at <= now) {
            let Reverse(h) = held.pop().expect("peeked");
            let _ = q.verdict(h.msg);
        }
        let nap = held
            .peek()
            .map(|h| h.0.at.saturating_duration_since(now))
            .unwrap_or(TICK)
            .min(TICK);
        if !nap.is_zero() {
            std::thread::sleep(nap);
        }
    }
    // Release what is held, then whatever the kernel queued meanwhile, so nothing waits on a
    // closed queue (the kernel would drop it).
    while let Some(Reverse(h)) = held.pop() {
        let _ = q.verdict(h.msg);
    }
    for _ in 0..max_held + BATCH {
        match q.recv() {
            Ok(msg) => {
                let _ = q.verdict(msg);
            }
            Err(_) => break,
        }
    }
    stats
}
