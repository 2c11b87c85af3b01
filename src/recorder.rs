//! The recorder: streams history events to `history.jsonl` as they happen.
//!
//! Workers and the nemesis hand events to the recorder through a channel; one writer thread
//! numbers them, writes one JSON object per line and flushes whenever the channel is empty.
//! Under light load every event is on disk (in the kernel's page cache) before the next one
//! arrives; under heavy load events are written in batches of up to [`BATCH`] lines, one
//! write call each. A crash of the controller therefore loses only events still in the
//! channel, never a line already written, and a torn last line is the worst case — which the
//! history reader accepts with a warning.
//!
//! The channel is also what makes line order the real-time order: an invocation is sent
//! before its request leaves, a completion after its answer arrived, and a channel delivers
//! in the order of sends. `index` is the position in that order; `time` (nanoseconds since
//! the start of the test, monotonic) is taken at the send.
//!
//! The recorder keeps the events in memory too, for the checker at the end, and live counts
//! for the progress line.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use faultline_checkers::{Event, EventType, Outcome, Process};
use serde_json::Value;

use crate::client::{Completion, Invocation};

/// Most lines written per flush.
pub const BATCH: usize = 1024;

/// Live counts, for the progress line.
#[derive(Debug, Default)]
pub struct Counters {
    pub invoked: AtomicU64,
    pub ok: AtomicU64,
    pub fail: AtomicU64,
    pub info: AtomicU64,
    /// Faults in force: name -> what it targets.
    pub faults: Mutex<BTreeMap<String, String>>,
}

impl Counters {
    pub fn completed(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
            + self.fail.load(Ordering::Relaxed)
            + self.info.load(Ordering::Relaxed)
    }
}

/// A handle to the recorder that workers and the nemesis clone and use from any thread.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Event>,
    start: Instant,
    counters: Arc<Counters>,
}

/// The writer side; [`Writer::finish`] closes the file and returns every event written.
pub struct Writer {
    handle: JoinHandle<std::io::Result<Vec<Event>>>,
}

/// Starts recording to `path` (created; an existing file is replaced). `start` is time zero.
pub fn create(path: &Path, start: Instant) -> std::io::Result<(Recorder, Writer)> {
    let file = File::create(path)?;
    let (tx, rx) = mpsc::channel::<Event>();
    let handle = std::thread::Builder::new()
        .name("recorder".into())
        .spawn(move || write_loop(file, rx))?;
    let recorder = Recorder {
        tx,
        start,
        counters: Arc::new(Counters::default()),
    };
    Ok((recorder, Writer { handle }))
}

fn write_loop(file: File, rx: mpsc::Receiver<Event>) -> std::io::Result<Vec<Event>> {
    let mut out = BufWriter::with_capacity(1 << 16, file);
    let mut events = Vec::new();
    let mut line = Vec::with_capacity(256);
    // Blocks until an event arrives; ends when every sender is gone.
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        let mut n = 0;
        while let Some(mut event) = next {
            event.index = events.len() as u64;
            line.clear();
            serde_json::to_writer(&mut line, &event).map_err(std::io::Error::other)?;
            line.push(b'\n');
            out.write_all(&line)?;
            events.push(event);
            n += 1;
            next = if n < BATCH { rx.try_recv().ok() } else { None };
        }
        out.flush()?;
    }
    out.flush()?;
    Ok(events)
}

impl Writer {
    /// Waits until every [`Recorder`] clone is dropped and the last line is written.
    pub fn finish(self) -> std::io::Result<Vec<Event>> {
        self.handle
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the recorder thread panicked")))
    }
}

impl Recorder {
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Nanoseconds since the start of the test.
    pub fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    fn send(&self, event: Event) {
        // The writer only goes away after every sender has; a failed send means it died on
        // an I/O error, which `finish` reports.
        let _ = self.tx.send(event);
    }

    /// Records an invocation; call it before the request leaves.
    pub fn invoke(&self, process: u64, op: &Invocation, node: &str) {
        self.counters.invoked.fetch_add(1, Ordering::Relaxed);
        self.send(Event {
            index: 0,
            time: Some(self.now_ns()),
            process: Process::Client(process),
            kind: EventType::Invoke,
            f: op.f.clone(),
            key: op.key.clone(),
            value: op.value.clone(),
            node: Some(node.to_string()),
            error: None,
        });
    }

    /// Records a completion; call it after the answer arrived.
    pub fn complete(&self, process: u64, op: &Invocation, c: &Completion, node: &str) {
        let (kind, counter) = match c.outcome {
            Outcome::Ok => (EventType::Ok, &self.counters.ok),
            Outcome::Fail => (EventType::Fail, &self.counters.fail),
            Outcome::Info => (EventType::Info, &self.counters.info),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        // A failed or crashed op keeps its invocation's value, as readers expect.
        let value = if c.outcome == Outcome::Ok {
            c.value.clone()
        } else {
            op.value.clone()
        };
        self.send(Event {
            index: 0,
            time: Some(self.now_ns()),
            process: Process::Client(process),
            kind,
            f: op.f.clone(),
            key: op.key.clone(),
            value,
            node: Some(node.to_string()),
            error: c.error.clone().map(Value::String),
        });
    }

    /// Records a fault starting or stopping: a single `info` line by the `nemesis` process.
    /// `f` is one of the paired names (`start-partition`/`stop-partition`, `kill`/`restart`,
    /// `pause`/`resume`, `clock-bump`/`clock-reset`, `clock-strobe`).
    pub fn nemesis(&self, f: &str, value: Value) {
        if let Ok(mut faults) = self.counters.faults.lock() {
            match fault_of(f) {
                Some((name, true)) => {
                    faults.insert(name.to_string(), summarize(&value));
                }
                Some((name, false)) => {
                    faults.remove(name);
                }
                None => {}
            }
        }
        self.send(Event {
            index: 0,
            time: Some(self.now_ns()),
            process: Process::Nemesis,
            kind: EventType::Info,
            f: f.to_string(),
            key: None,
            value,
            node: None,
            error: None,
        });
    }
}

/// Nemesis events go straight into the history.
impl crate::nemesis::NemesisSink for Recorder {
    fn record(&self, f: &str, value: Value) {
        self.nemesis(f, value);
    }
}

/// The fault a nemesis `f` belongs to, and whether it starts it.
fn fault_of(f: &str) -> Option<(&'static str, bool)> {
    Some(match f {
        "start-partition" => ("partition", true),
        "stop-partition" => ("partition", false),
        "kill" => ("kill", true),
        "restart" => ("kill", false),
        "pause" => ("pause", true),
        "resume" => ("pause", false),
        "clock-bump" | "clock-strobe" => ("clock", true),
        "clock-reset" => ("clock", false),
        _ => return None,
    })
}

fn summarize(v: &Value) -> String {
    let mut s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    s.truncate(60);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_checkers::History;
    use serde_json::json;

    #[test]
    fn events_are_on_disk_in_order_before_the_run_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let (rec, writer) = create(&path, Instant::now()).unwrap();
        let op = Invocation {
            f: "write".into(),
            key: Some("k1".into()),
            value: json!(3),
        };
        rec.invoke(0, &op, "n1");
        rec.nemesis("start-partition", json!({"n1": ["n2"]}));
        rec.complete(0, &op, &Completion::info("timeout"), "n1");
        // Written while the recorder is still open: a crash now would keep these lines.
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        while std::fs::read_to_string(&path).unwrap().lines().count() < 3 {
            assert!(Instant::now() < deadline, "events were not flushed");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        drop(rec);
        let events = writer.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed: Vec<Event> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(parsed, events);
        assert_eq!(parsed[2].index, 2);
        assert_eq!(parsed[2].value, json!(3), "a crashed write keeps its value");
        let h = History::from_events(parsed).unwrap();
        assert_eq!(h.ops.len(), 1);
        assert_eq!(h.nemesis.len(), 1);
    }

    #[test]
    fn active_faults_follow_start_and_stop_events() {
        let dir = tempfile::tempdir().unwrap();
        let (rec, writer) = create(&dir.path().join("h.jsonl"), Instant::now()).unwrap();
        rec.nemesis("kill", json!(["n2"]));
        assert!(rec.counters().faults.lock().unwrap().contains_key("kill"));
        rec.nemesis("restart", json!(["n2"]));
        assert!(rec.counters().faults.lock().unwrap().is_empty());
        drop(rec);
        writer.finish().unwrap();
    }
}
