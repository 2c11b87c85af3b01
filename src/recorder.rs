//! The recorder: streams history events to `history.jsonl` as they happen.
//!
//! Workers and the nemesis encode each event as its line of `history.jsonl` and append it
//! to a shared buffer; one writer thread takes the whole buffer every [`FLUSH_INTERVAL`]
//! (10 ms) and writes it with one call. An event therefore reaches the file (the kernel's
//! page cache) within about 10 ms of happening, and a crash of the controller loses at most
//! those last milliseconds, never a line already written; a torn last line is the worst
//! case, which the history reader accepts with a warning. Senders never wake the writer:
//! under load one write call carries thousands of lines, and the hot path costs one line's
//! encoding and one uncontended lock per event, with no allocation: the line is encoded into
//! a buffer of the sending thread, straight from the invocation and the completion, and the
//! two shared buffers trade places at each write.
//!
//! The writer sleeps after every write, not only when it found nothing: it shares a core
//! with the workers, and each of its wake-ups is a switch away from them and back. When it
//! slept 1 ms and only when idle, it woke about 770 times a second under full load, and half
//! of its time went to those switches (`perf record -t <recorder>` during `cargo bench
//! --bench controller`).
//!
//! The buffer is also what makes line order the real-time order: an invocation is queued
//! before its request leaves, a completion after its answer arrived, and the buffer's lock
//! orders them. `index` is the position in that order; `time` (nanoseconds since the start
//! of the test, monotonic) is read under the same lock, so it never goes backwards. Both
//! are written under the lock, in front of the line encoded before it was taken.
//!
//! The recorder does not keep the events in memory: a long run would hold every one until
//! its end. The check at the end reads the history back ([`Recorded::history`]), from the
//! file, and from memory for whatever could not be written.
//!
//! A write that fails (a full disk) is said on stderr at once, naming the file; the file keeps
//! the prefix written so far and the writer keeps every later line in memory, so the run
//! still ends with a verdict over its whole history ([`Recorded::write_error`] tells the
//! runner that the file is incomplete).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use faultline_checkers::format::jsonl::{self, EventRef};
use faultline_checkers::format::FormatError;
use faultline_checkers::{Event, EventType, History, Outcome, Process};
use serde_json::Value;

use crate::client::{Completion, Invocation};

/// How long the writer sleeps between two looks at the buffer: about the most an event
/// waits in memory before it reaches the file.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(10);

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

/// The lines not yet written, and the index of the next event.
#[derive(Default)]
struct Queue {
    lines: Vec<u8>,
    next_index: u64,
}

/// What recorders and the writer share.
#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    counters: Arc<Counters>,
}

/// A handle to the recorder that workers and the nemesis clone and use from any thread.
#[derive(Clone)]
pub struct Recorder {
    shared: Arc<Shared>,
    /// Time zero on the monotonic clock, in nanoseconds ([`monotonic_ns`]).
    start_ns: u64,
}

/// The monotonic clock (the one `Instant` reads) in nanoseconds: read without `Instant`'s
/// checked arithmetic, since every event reads it.
fn monotonic_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or_default()
}

/// The writer side; [`Writer::finish`] closes the file and says what it holds.
pub struct Writer {
    handle: JoinHandle<Recorded>,
    path: PathBuf,
}

/// Where every event recorded is: the first `written` bytes of the file, then `unwritten`.
#[derive(Debug)]
pub struct Recorded {
    path: PathBuf,
    /// The bytes of the file that hold whole lines: the batches written before a failure.
    written: u64,
    /// The lines of the failed batch and of every batch after it.
    unwritten: Vec<u8>,
    /// How many events were recorded.
    pub event_count: u64,
    /// The first failed write, naming the file.
    pub write_error: Option<String>,
}

impl Recorded {
    /// Every event recorded, in order, read back from the file and memory.
    pub fn history(&self) -> Result<History, FormatError> {
        let name = self.path.display().to_string();
        jsonl::read_jsonl(std::io::BufReader::new(self.reader(&name)?), &name)
    }

    /// Every event recorded, as [`Event`]s (for tests and the benchmark).
    pub fn events(&self) -> Result<Vec<Event>, FormatError> {
        Ok(self.history()?.to_events())
    }

    fn reader(&self, name: &str) -> Result<impl Read + '_, FormatError> {
        let file: Box<dyn Read> = if self.written == 0 {
            Box::new(std::io::empty())
        } else {
            Box::new(File::open(&self.path).map_err(|e| FormatError::io(name, &e))?)
        };
        Ok(file.take(self.written).chain(&self.unwritten[..]))
    }
}

/// Starts recording to `path` (created; an existing file is replaced). `start` is time zero.
pub fn create(path: &Path, start: Instant) -> std::io::Result<(Recorder, Writer)> {
    let file = File::create(path)?;
    create_with(path, start, file)
}

/// [`create`] with the writer's end of `path` given: the file, or in tests a file that fails.
fn create_with(
    path: &Path,
    start: Instant,
    file: impl Write + Send + 'static,
) -> std::io::Result<(Recorder, Writer)> {
    let shared = Arc::new(Shared::default());
    let theirs = shared.clone();
    let path = path.to_path_buf();
    let writer_path = path.clone();
    let handle = std::thread::Builder::new()
        .name("recorder".into())
        .spawn(move || write_loop(file, writer_path, theirs))?;
    // `start` as a reading of the monotonic clock: now, less the time since `start`.
    let since = start.elapsed().as_nanos() as u64;
    let start_ns = monotonic_ns().saturating_sub(since);
    Ok((Recorder { shared, start_ns }, Writer { handle, path }))
}

/// Writes whatever is queued, then sleeps [`FLUSH_INTERVAL`]; ends once every
/// [`Recorder`] is gone and the queue is empty. Senders never wake this thread: a wake-up per
/// event would cost a system call per event on the hot path. After a failed write it only
/// keeps lines in memory.
fn write_loop(mut file: impl Write, path: PathBuf, shared: Arc<Shared>) -> Recorded {
    let mut batch: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut recorded = Recorded {
        path,
        written: 0,
        unwritten: Vec::new(),
        event_count: 0,
        write_error: None,
    };
    loop {
        // Checked before taking the batch, so nothing sent before the last drop is missed.
        let closed = Arc::strong_count(&shared) == 1;
        if let Ok(mut queue) = shared.queue.lock() {
            std::mem::swap(&mut queue.lines, &mut batch);
            recorded.event_count = queue.next_index;
        }
        if batch.is_empty() {
            if closed {
                break;
            }
            std::thread::sleep(FLUSH_INTERVAL);
            continue;
        }
        if recorded.write_error.is_some() {
            recorded.unwritten.extend_from_slice(&batch);
        } else if let Err(e) = file.write_all(&batch) {
            let why = format!(
                "cannot write {}: {e}; it keeps the events written so far, the rest are \
                 kept in memory for the check",
                recorded.path.display()
            );
            crate::errln!("faultline: error: {why}");
            recorded.write_error = Some(why);
            // The file may end in part of this batch (a torn last line, which the reader
            // accepts with a warning); the check reads the whole batch from memory.
            recorded.unwritten.extend_from_slice(&batch);
        } else {
            recorded.written += batch.len() as u64;
        }
        batch.clear();
        if !closed {
            // Lines keep coming: let them gather, so that each write carries many.
            std::thread::sleep(FLUSH_INTERVAL);
        }
    }
    recorded
}

impl Writer {
    /// Waits until every [`Recorder`] clone is dropped and the last line is written.
    pub fn finish(self) -> std::io::Result<Recorded> {
        self.handle.join().map_err(|_| {
            std::io::Error::other(format!(
                "the recorder thread of {} panicked",
                self.path.display()
            ))
        })
    }
}

thread_local! {
    /// Each sending thread's line, encoded before the queue's lock is taken.
    static LINE: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(256));
}

impl Recorder {
    pub fn counters(&self) -> &Arc<Counters> {
        &self.shared.counters
    }

    /// Nanoseconds since the start of the test.
    pub fn now_ns(&self) -> u64 {
        monotonic_ns().saturating_sub(self.start_ns)
    }

    /// Queues an event. The queue's order is the history's order: the lock serialises
    /// senders, so an event queued after another ended comes after it.
    fn send(&self, event: EventRef) {
        LINE.with_borrow_mut(|line| {
            line.clear();
            if let Err(e) = jsonl::encode_event_rest(line, &event) {
                // Only a value serde_json cannot write (never one it parsed or built).
                tracing::error!("cannot encode a history event: {e}");
                return;
            }
            if let Ok(mut queue) = self.shared.queue.lock() {
                let queue = &mut *queue;
                jsonl::encode_event_head(&mut queue.lines, queue.next_index, Some(self.now_ns()));
                queue.lines.extend_from_slice(line);
                queue.next_index += 1;
            }
        });
    }

    /// Records an invocation; call it before the request leaves.
    pub fn invoke(&self, process: u64, op: &Invocation, node: &str) {
        self.shared.counters.invoked.fetch_add(1, Ordering::Relaxed);
        self.send(EventRef {
            process: Process::Client(process),
            kind: EventType::Invoke,
            f: &op.f,
            key: op.key.as_deref(),
            value: &op.value,
            node: Some(node),
            error: None,
            response: None,
        });
    }

    /// Records a completion; call it after the answer arrived.
    pub fn complete(&self, process: u64, op: &Invocation, c: &Completion, node: &str) {
        let (kind, counter) = match c.outcome {
            Outcome::Ok => (EventType::Ok, &self.shared.counters.ok),
            Outcome::Fail => (EventType::Fail, &self.shared.counters.fail),
            Outcome::Info => (EventType::Info, &self.shared.counters.info),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        // A failed or crashed op keeps its invocation's value, as readers expect.
        let value = if c.outcome == Outcome::Ok {
            &c.value
        } else {
            &op.value
        };
        let error = c.error.as_deref().map(|e| Value::String(e.to_string()));
        self.send(EventRef {
            process: Process::Client(process),
            kind,
            f: &op.f,
            key: op.key.as_deref(),
            value,
            node: Some(node),
            error: error.as_ref(),
            response: c.response.as_ref(),
        });
    }

    /// Records a fault starting or stopping: a single `info` line by the `nemesis` process.
    /// `f` is one of the paired names (`start-partition`/`stop-partition`, `kill`/`restart`,
    /// `pause`/`resume`, `clock-bump`/`clock-reset`, `clock-strobe`).
    pub fn nemesis(&self, f: &str, value: Value) {
        self.nemesis_event(f, value, None, None);
    }

    /// A store process that exited on its own ([`crate::health`]): an event of the nemesis
    /// process naming `node`, counted in the progress line.
    pub fn crash(&self, node: &str, value: Value) {
        if let Ok(mut faults) = self.shared.counters.faults.lock() {
            let crashed = faults.entry("crashed".to_string()).or_default();
            if !crashed.is_empty() {
                crashed.push(',');
            }
            crashed.push_str(node);
        }
        self.nemesis_event(crate::health::CRASH, value, Some(node), None);
    }

    /// A nemesis event with the node it concerns and what did not go as asked.
    pub fn nemesis_event(&self, f: &str, value: Value, node: Option<&str>, error: Option<&str>) {
        if let Ok(mut faults) = self.shared.counters.faults.lock() {
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
        let error = error.map(|e| Value::String(e.to_string()));
        self.send(EventRef {
            process: Process::Nemesis,
            kind: EventType::Info,
            f,
            key: None,
            value: &value,
            node,
            error: error.as_ref(),
            response: None,
        });
    }
}

impl crate::nemesis::NemesisSink for Recorder {
    fn record(&self, f: &str, value: Value) {
        self.nemesis(f, value);
    }

    fn record_with_note(&self, f: &str, value: Value, note: &str) {
        self.nemesis_event(f, value, None, Some(note));
    }

    fn record_aimed(&self, f: &str, value: Value, leader: Option<&str>, note: Option<&str>) {
        self.nemesis_event(f, value, leader, note);
    }
}

/// The fault a nemesis `f` belongs to, and whether it starts it.
fn fault_of(f: &str) -> Option<(&'static str, bool)> {
    crate::nemesis::Verb::parse(f).map(|v| (v.kind().name(), v.starts()))
}

/// The longest description of one fault on the progress line, in characters.
const FAULT_SUMMARY_CHARS: usize = 60;

/// A fault's value for the progress line: whole items (`n1`, `n2 -> n3,n4`) while they fit,
/// then `…` and how many were left out — never an item cut in half, which would name a node
/// that does not exist.
fn summarize(v: &Value) -> String {
    // A fault that words itself (a packet fault's `summary`) is shown in its own words.
    if let Some(summary) = v.get("summary").and_then(Value::as_str) {
        return summary.to_string();
    }
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    };
    let items: Vec<String> = match v {
        Value::Array(a) => a.iter().map(text).collect(),
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| format!("{k} -> {}", text(v)))
            .collect(),
        other => vec![text(other)],
    };
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        let sep = if i == 0 { "" } else { " " };
        if i > 0 && out.chars().count() + sep.len() + item.chars().count() > FAULT_SUMMARY_CHARS {
            out.push_str(&format!(" … (+{} more)", items.len() - i));
            break;
        }
        out.push_str(sep);
        out.push_str(item);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_checkers::History;
    use serde_json::json;

    #[test]
    fn a_full_disk_keeps_every_event_in_memory_and_names_the_file() {
        // Every write to /dev/full fails with "No space left on device".
        let (rec, writer) = create(Path::new("/dev/full"), Instant::now()).unwrap();
        let op = Invocation {
            f: "write".into(),
            key: Some("k1".into()),
            value: json!(3),
        };
        for process in 0..2000 {
            rec.invoke(process, &op, "n1");
            rec.complete(process, &op, &Completion::ok(json!(3)), "n1");
        }
        drop(rec);
        let recorded = writer.finish().unwrap();
        assert_eq!(recorded.event_count, 4000);
        assert_eq!(
            recorded.events().unwrap().len(),
            4000,
            "no event may be lost"
        );
        assert_eq!(recorded.history().unwrap().ops.len(), 2000);
        let error = recorded.write_error.expect("the failed write is reported");
        assert!(error.contains("/dev/full"), "{error}");
        assert!(error.contains("No space left"), "{error}");
    }

    /// A file that takes `room` bytes, then fails as a full disk does: the write that
    /// crosses the limit lands its first part and fails.
    struct Filling {
        file: File,
        room: usize,
    }

    impl Write for Filling {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.room == 0 {
                return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            self.file.write(&buf[..n])
        }

        fn flush(&mut self) -> std::io::Result<()> {
            self.file.flush()
        }
    }

    #[test]
    fn a_disk_that_fills_in_the_middle_of_a_batch_loses_no_event() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let file = Filling {
            file: File::create(&path).unwrap(),
            room: 300,
        };
        let (rec, writer) = create_with(&path, Instant::now(), file).unwrap();
        let op = Invocation {
            f: "write".into(),
            key: Some("k1".into()),
            value: json!(3),
        };
        // A first batch that fits, written before the next is queued.
        rec.invoke(0, &op, "n1");
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        while std::fs::metadata(&path).unwrap().len() == 0 {
            assert!(Instant::now() < deadline, "the first batch was not written");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        for process in 0..100 {
            rec.complete(process, &op, &Completion::ok(json!(3)), "n1");
            rec.invoke(process + 1, &op, "n1");
        }
        drop(rec);
        let recorded = writer.finish().unwrap();
        let on_disk = std::fs::read(&path).unwrap();
        assert_eq!(on_disk.len(), 300, "the file ends in a torn line");
        assert!(recorded.write_error.is_some());
        // The lines as read back, before any reader renumbers them: each index once, in order.
        let mut bytes = Vec::new();
        recorded
            .reader("history.jsonl")
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        let indices: Vec<u64> = bytes
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| jsonl::parse_event(line).unwrap().index)
            .collect();
        assert_eq!(
            indices,
            (0..201).collect::<Vec<u64>>(),
            "no event lost or doubled"
        );
        let history = recorded.history().unwrap();
        assert_eq!(history.event_count, 201);
        assert_eq!(history.ops.len(), 101);
    }

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
        let events = writer.finish().unwrap().events().unwrap();
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
    fn a_long_fault_is_summarised_by_whole_items_and_a_count() {
        assert_eq!(summarize(&json!(["n1", "n2"])), "n1 n2");
        let grudge: serde_json::Map<String, Value> = (1..=9)
            .map(|i| (format!("n{i}"), json!(["n10", "n11", "n12"])))
            .collect();
        let line = summarize(&Value::Object(grudge));
        assert!(
            line.starts_with("n1 -> n10,n11,n12 n2 -> n10,n11,n12"),
            "{line}"
        );
        assert!(line.ends_with(" … (+6 more)"), "{line}");
        assert!(line.chars().count() <= FAULT_SUMMARY_CHARS + 20, "{line}");
        let packet = json!({"links": {"n1": ["n2"]}, "summary": "delay 50±10 ms on 2 links"});
        assert_eq!(summarize(&packet), "delay 50±10 ms on 2 links");
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
