//! Reading a JSON Lines history on several threads at once, for a sink whose lines can be
//! parsed apart from each other (a checker's own compact form).
//!
//! The caller's thread reads the input in chunks of whole lines, about [`CHUNK_BYTES`] each;
//! worker threads parse the chunks into the sink's records; one more thread hands the
//! records to the sink in line order, where the parts that need the whole history so far
//! (pairing an invocation with its completion) are done.
//!
//! ```text
//! caller thread          workers                      sink's thread
//! read chunk 0 ────────► worker 0: parse ──records 0──►┐
//! read chunk 1 ────────► worker 1: parse ──records 1──►├─► sink, chunk 0, 1, 2, ...
//! read chunk 2 ────────► worker 0: parse ──records 2──►┘
//! ```
//!
//! Chunk `i` goes to worker `i mod n` and its records are taken from that worker's queue, so
//! the order needs no sorting; every queue is bounded, so a few chunks at most are in memory
//! at once. The result, the warnings and the errors are those of
//! [`stream_into`](super::jsonl::stream_into): a line the sink's fast parser does not read
//! is handed, in its place in the order, to [`parse_event`](super::jsonl::parse_event),
//! which words the error or reads what the fast parser does not; lines longer than
//! [`MAX_LINE_BYTES`] and read errors are refused naming the line, as [`Lines`](super::Lines)
//! does.

use std::io::{BufRead, Read};
use std::sync::mpsc::{sync_channel, Receiver};

use super::jsonl::{read_slowly, trim_line};
use super::{line_too_long, FormatError, MAX_LINE_BYTES};
use crate::history::Event;
use crate::verdict::Budget;

/// About how many bytes of whole lines each chunk holds: thousands of lines, so that handing
/// a chunk from thread to thread costs little next to parsing it.
pub(crate) const CHUNK_BYTES: usize = 1 << 20;

/// Chunks waiting in each queue, to a worker and from it.
const QUEUED_CHUNKS: usize = 2;

/// Parsing threads at most, whatever [`Budget::threads`] says: reading is bound by the
/// sink's thread beyond a few.
const MAX_WORKERS: usize = 8;

/// A sink that takes a history's events as records parsed on other threads.
pub(crate) trait ChunkSink: Send {
    /// One event read the sink's own, fast way, on a worker.
    type Record: Send;
    /// What a worker keeps for a whole chunk beside its records (names it numbered, say).
    type Tables: Default + Send;

    /// The record of the event on `text` if the sink reads such lines its own, faster way
    /// (exactly as [`parse_event`](super::jsonl::parse_event) would); `None` leaves the line
    /// to `parse_event` and [`ChunkSink::push`], which word its errors.
    fn parse_fast(tables: &mut Self::Tables, text: &str) -> Option<Self::Record>;

    /// Called before the records of each chunk, with the tables its worker filled.
    fn start_chunk(&mut self, tables: Self::Tables);

    /// A record of the current chunk, from line `line`; `Err` is a message for that line.
    fn push_fast(&mut self, line: usize, record: Self::Record) -> Result<(), String>;

    /// An event read by [`parse_event`](super::jsonl::parse_event).
    fn push(&mut self, line: usize, event: Event) -> Result<(), String>;

    fn warn(&mut self, warning: String);
}

/// What the caller's thread hands a worker.
enum Work {
    /// Whole lines (the last one may lack its newline only at the end of the input).
    Chunk(Vec<u8>),
    /// Reading stopped with `error` at the line after the first `lines` lines from here:
    /// the error's line is filled in by the sink's thread, which counts the lines.
    Error { lines: usize, error: FormatError },
}

/// A line as a worker leaves it, numbered from 1 within its chunk.
enum Item<R> {
    Fast(usize, R),
    /// For [`read_slowly`], in its place.
    Slow {
        line: usize,
        text: Vec<u8>,
        complete: bool,
    },
    /// As [`Work::Error`].
    Error {
        lines: usize,
        error: FormatError,
    },
}

struct Parsed<S: ChunkSink> {
    tables: S::Tables,
    items: Vec<Item<S::Record>>,
    /// Lines in the chunk.
    lines: usize,
}

/// Reads a JSON Lines history into `sink`, parsing on [`Budget::threads`] threads:
/// `Ok(false)` when `budget` ran out before the end. See the module's doc.
pub(crate) fn stream_chunks<S: ChunkSink>(
    reader: impl BufRead,
    name: &str,
    budget: &Budget,
    sink: &mut S,
) -> Result<bool, FormatError> {
    let workers = budget.threads.clamp(1, MAX_WORKERS);
    std::thread::scope(|scope| {
        let mut to_workers = Vec::with_capacity(workers);
        let mut from_workers = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (work_tx, work_rx) = sync_channel::<Work>(QUEUED_CHUNKS);
            let (done_tx, done_rx) = sync_channel::<Parsed<S>>(QUEUED_CHUNKS);
            scope.spawn(move || {
                for work in work_rx {
                    // The sink's thread stopped (an error, the budget): so do we.
                    if done_tx.send(parse_chunk::<S>(name, work)).is_err() {
                        break;
                    }
                }
            });
            to_workers.push(work_tx);
            from_workers.push(done_rx);
        }
        let handing = scope.spawn(move || hand_over(from_workers, name, budget, sink));
        let mut next = 0;
        read_chunks(reader, name, |work| {
            let queue = &to_workers[next % workers];
            next += 1;
            queue.send(work).is_ok()
        });
        // Closing the queues is how the workers, then the sink's thread, learn of the end.
        drop(to_workers);
        handing
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Reads `reader` into chunks of whole lines and passes each to `send`, until the end, a
/// read error or a line over [`MAX_LINE_BYTES`] (both passed on as [`Work::Error`]), or
/// until `send` returns false.
fn read_chunks(mut reader: impl BufRead, name: &str, mut send: impl FnMut(Work) -> bool) {
    let mut bytes: Vec<u8> = Vec::with_capacity(CHUNK_BYTES);
    let mut target = CHUNK_BYTES;
    loop {
        let want = target.saturating_sub(bytes.len());
        let end = match (&mut reader).take(want as u64).read_to_end(&mut bytes) {
            Ok(got) => got < want,
            Err(e) => {
                let lines = memchr::memchr_iter(b'\n', &bytes).count();
                let error = FormatError::io(name, &e);
                send(Work::Error { lines, error });
                return;
            }
        };
        let cut = match memchr::memrchr(b'\n', &bytes) {
            _ if end => bytes.len(),
            Some(i) => i + 1,
            // One line so far, and longer than a chunk: read on, within the limit.
            None if bytes.len() > MAX_LINE_BYTES => {
                send(Work::Error {
                    lines: 0,
                    error: line_too_long(name, 0),
                });
                return;
            }
            None => {
                target = bytes.len() + CHUNK_BYTES;
                continue;
            }
        };
        let rest = bytes[cut..].to_vec();
        bytes.truncate(cut);
        if !bytes.is_empty() && !send(Work::Chunk(bytes)) {
            return;
        }
        if end {
            return;
        }
        bytes = Vec::with_capacity(CHUNK_BYTES.max(rest.len() * 2));
        bytes.extend_from_slice(&rest);
        target = CHUNK_BYTES.max(rest.len() + CHUNK_BYTES / 2);
    }
}

/// A worker's part: the chunk's lines, each read the sink's fast way where it can be.
fn parse_chunk<S: ChunkSink>(name: &str, work: Work) -> Parsed<S> {
    let mut parsed = Parsed::<S> {
        tables: S::Tables::default(),
        items: Vec::new(),
        lines: 0,
    };
    let bytes = match work {
        Work::Chunk(bytes) => bytes,
        Work::Error { lines, error } => {
            parsed.items.push(Item::Error { lines, error });
            return parsed;
        }
    };
    parsed.items.reserve(bytes.len() / 64);
    // Checked once for the chunk rather than string by string; a chunk with a byte that is
    // not UTF-8 is checked line by line, and such a line is left to `parse_event`, whose
    // error names it.
    let whole = std::str::from_utf8(&bytes).ok();
    let mut start = 0;
    while start < bytes.len() {
        let (buf, complete) = match memchr::memchr(b'\n', &bytes[start..]) {
            Some(i) => (&bytes[start..start + i], true),
            None => (&bytes[start..], false),
        };
        let line_start = start;
        start += buf.len() + 1;
        parsed.lines += 1;
        let line = parsed.lines;
        if buf.len() > MAX_LINE_BYTES {
            let error = line_too_long(name, 0);
            parsed.items.push(Item::Error {
                lines: line - 1,
                error,
            });
            break;
        }
        let text = trim_line(buf);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        // serde_json checks that the strings of a line it reads are UTF-8, and any other
        // byte outside ASCII is not JSON: a line read the fast way needs no other check.
        let as_str = match whole {
            Some(whole) => whole.get(line_start..line_start + text.len()),
            None => std::str::from_utf8(text).ok(),
        };
        let item = match as_str.and_then(|line| S::parse_fast(&mut parsed.tables, line)) {
            Some(record) => Item::Fast(line, record),
            None => Item::Slow {
                line,
                text: text.to_vec(),
                complete,
            },
        };
        parsed.items.push(item);
    }
    parsed
}

/// The sink's thread: the workers' records, chunk by chunk in input order, into `sink`.
fn hand_over<S: ChunkSink>(
    from_workers: Vec<Receiver<Parsed<S>>>,
    name: &str,
    budget: &Budget,
    sink: &mut S,
) -> Result<bool, FormatError> {
    let at = |line: usize| move |message: String| FormatError::at(name, line, message);
    let (mut events, mut lines_before, mut chunk) = (0usize, 0usize, 0usize);
    loop {
        // A closed queue where chunk `chunk` would be: there is no such chunk.
        let Ok(parsed) = from_workers[chunk % from_workers.len()].recv() else {
            return Ok(true);
        };
        if chunk > 0 && budget.expired() {
            return Ok(false);
        }
        sink.start_chunk(parsed.tables);
        for item in parsed.items {
            match item {
                Item::Fast(line, record) => {
                    let line = lines_before + line;
                    sink.push_fast(line, record).map_err(at(line))?;
                    events += 1;
                }
                Item::Slow {
                    line,
                    text,
                    complete,
                } => match read_slowly(name, lines_before + line, &text, complete, events)? {
                    Ok(event) => {
                        let line = lines_before + line;
                        events += 1;
                        sink.push(line, event).map_err(at(line))?;
                    }
                    Err(torn) => {
                        sink.warn(torn);
                        return Ok(true);
                    }
                },
                Item::Error { lines, error } => {
                    let line = lines_before + lines + 1;
                    return Err(FormatError {
                        line: Some(line),
                        ..error
                    });
                }
            }
        }
        lines_before += parsed.lines;
        chunk += 1;
    }
}
