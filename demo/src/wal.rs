//! The write-ahead log: every node keeps its copy of the replicated log in
//! `<data-dir>/<node id>/wal.jsonl`, one [`Entry`] per line, and fsyncs it before it
//! acknowledges anything that depends on it (with `--durability async`, it does not: it
//! fsyncs at most once a second, and a power loss takes the rest). The log's name is made
//! durable when it is opened, by fsyncing its directory and that directory's parent.
//!
//! A kill can leave the last line half written. Nothing was acknowledged on the strength of
//! that line (the fsync had not returned), so recovery drops it and truncates the file back
//! to the last complete entry. Damage before the last line means the file is not ours to
//! repair, and the node refuses to start.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use std::time::{Duration, Instant};

use crate::config::Durability;
use crate::store::Entry;

/// With `--durability async`, the longest the log goes without an fsync while it is written.
const ASYNC_FSYNC_INTERVAL: Duration = Duration::from_secs(1);

pub struct Wal {
    file: File,
    path: PathBuf,
    durability: Durability,
    last_sync: Instant,
}

impl Wal {
    /// Opens (creating if needed) the log in `dir` and returns it with the entries it holds.
    pub fn open(dir: &Path, durability: Durability) -> io::Result<(Wal, Vec<Entry>)> {
        fs::create_dir_all(dir)?;
        let path = dir.join("wal.jsonl");
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)?;
        let (entries, good_len) = read_entries(&file, &path)?;
        let total_len = file.metadata()?.len();
        if good_len < total_len {
            eprintln!(
                "{}: dropping a torn last entry ({} bytes)",
                path.display(),
                total_len - good_len
            );
            file.set_len(good_len)?;
            file.sync_all()?;
        }
        file.seek(SeekFrom::End(0))?;
        // A new file's name, and a new directory's, are durable once their directory is.
        for d in [Some(dir), dir.parent()].into_iter().flatten() {
            File::open(d)?.sync_all()?;
        }
        let wal = Wal {
            file,
            path,
            durability,
            last_sync: Instant::now(),
        };
        Ok((wal, entries))
    }

    /// Appends `entries` and, with `fsync` durability, waits until they are on disk.
    pub fn append(&mut self, entries: &[Entry]) -> io::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(entries.len() * 64);
        for e in entries {
            serde_json::to_writer(&mut buf, e)?;
            buf.push(b'\n');
        }
        self.file.write_all(&buf)?;
        if self.durability == Durability::Async && self.last_sync.elapsed() < ASYNC_FSYNC_INTERVAL {
            return Ok(());
        }
        self.file.sync_data()?;
        self.last_sync = Instant::now();
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads every complete entry; returns them and the byte length they span.
fn read_entries(file: &File, path: &Path) -> io::Result<(Vec<Entry>, u64)> {
    let mut reader = BufReader::new(file);
    let mut entries = Vec::new();
    let mut good_len = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        let complete = line.last() == Some(&b'\n');
        match serde_json::from_slice::<Entry>(&line) {
            Ok(entry) if complete => {
                if entry.index != entries.len() as u64 {
                    return Err(corrupt(path, entries.len(), "entries out of order"));
                }
                entries.push(entry);
                good_len += n as u64;
            }
            // Only the last line may be torn; anything after it means real damage.
            _ => {
                let mut rest = Vec::new();
                reader.read_until(b'\n', &mut rest)?;
                if !rest.is_empty() {
                    return Err(corrupt(path, entries.len(), "unreadable entry"));
                }
                break;
            }
        }
    }
    Ok((entries, good_len))
}

fn corrupt(path: &Path, line: usize, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "{}:{}: {what}; the log is damaged before its last line, so this node will not \
             guess: remove the data directory to start it empty",
            path.display(),
            line + 1
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Change;
    use serde_json::json;

    fn entry(index: u64) -> Entry {
        Entry {
            index,
            changes: vec![Change::Put {
                key: "k".into(),
                value: json!(index),
            }],
        }
    }

    #[test]
    fn entries_survive_reopening_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, entries) = Wal::open(dir.path(), Durability::Fsync).unwrap();
        assert!(entries.is_empty());
        wal.append(&[entry(0), entry(1)]).unwrap();
        // A kill in the middle of a write leaves part of a line behind.
        wal.file.write_all(b"{\"index\":2,\"chan").unwrap();
        drop(wal);
        let (mut wal, entries) = Wal::open(dir.path(), Durability::Fsync).unwrap();
        assert_eq!(entries, vec![entry(0), entry(1)]);
        wal.append(&[entry(2)]).unwrap();
        drop(wal);
        let (_, entries) = Wal::open(dir.path(), Durability::Fsync).unwrap();
        assert_eq!(entries, vec![entry(0), entry(1), entry(2)]);
    }

    #[test]
    fn damage_before_the_last_line_refuses_to_start() {
        let dir = tempfile::tempdir().unwrap();
        let text = "{\"index\":0,\"changes\":[]}\ngarbage\n{\"index\":1,\"changes\":[]}\n";
        std::fs::write(dir.path().join("wal.jsonl"), text).unwrap();
        let err = Wal::open(dir.path(), Durability::Fsync)
            .err()
            .expect("damaged log must not open");
        assert!(err.to_string().contains("wal.jsonl:2"), "{err}");
    }
}
