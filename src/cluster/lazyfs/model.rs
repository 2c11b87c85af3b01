//! The durability model: what a crash keeps of a directory tree, and how to get back to it.
//!
//! Every write reaches the backing files at once, as the store's page cache would hold it;
//! what this model keeps in memory is what is needed to undo the writes that were never made
//! durable:
//!
//! - **data**: from a file's first change after its last `fsync`/`fdatasync` (or the mount),
//!   its durable length and, before each write, truncation or `fallocate` that touches
//!   bytes below that length, the old bytes there (an undo record). Appends past the durable
//!   length cost nothing: undoing them is a truncation. An `fsync` of the file forgets its
//!   records.
//! - **names**: from a directory's first change after its last `fsync` (creating, removing
//!   or renaming an entry), the durable list of its entries (name, inode, kind). An `fsync`
//!   of the directory forgets it.
//! - **inodes kept alive**: a file the model may need again (one it took undo records of, or
//!   one listed in a durable directory list) is hard-linked into `keep/`, under its inode
//!   number, so that removing or renaming it away does not lose it.
//!
//! [`Model::lose_unsynced`] is the crash: every file with records gets its durable length
//! back and its undo records applied newest first (so the oldest, durable, bytes win); every
//! directory with a durable list gets back exactly those entries (new names removed, removed
//! or renamed-away names linked back from `keep/`); then nothing is pending.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// What a crash dropped: the files whose content went back (those that still have a name),
/// the bytes that went with it (bytes past the durable length plus bytes overwritten below
/// it, in every file), and the names that were removed or brought back.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Dropped {
    pub files: Vec<String>,
    pub bytes: u64,
    pub names: Vec<String>,
}

/// An entry's kind, as far as the model restores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EntryKind {
    File,
    Dir,
    Other,
}

/// The durable state of one file whose data changed since its last `fsync`.
#[derive(Debug)]
struct FileUndo {
    durable_len: u64,
    /// `(offset, old bytes)`, oldest first.
    undo: Vec<(u64, Vec<u8>)>,
}

/// The durable entries of one directory whose names changed since its last `fsync`.
type DirUndo = BTreeMap<OsString, (u64, EntryKind)>;

/// The pending, undurable changes of one tree, by backing inode number.
#[derive(Debug)]
pub struct Model {
    /// Where files the model may need again are hard-linked, by inode number.
    keep: PathBuf,
    files: HashMap<u64, FileUndo>,
    dirs: HashMap<u64, DirUndo>,
}

impl Model {
    /// A model with nothing pending; `keep` must be on the same filesystem as the tree.
    pub fn new(keep: PathBuf) -> io::Result<Model> {
        fs::create_dir_all(&keep)?;
        Ok(Model {
            keep,
            files: HashMap::new(),
            dirs: HashMap::new(),
        })
    }

    /// Whether any change is not durable.
    pub fn is_pending(&self) -> bool {
        !self.files.is_empty() || !self.dirs.is_empty()
    }

    fn kept(&self, ino: u64) -> PathBuf {
        self.keep.join(ino.to_string())
    }

    /// Hard-links the file at `path` (inode `ino`) into `keep/`, once.
    fn keep_alive(&self, ino: u64, path: &Path) -> io::Result<()> {
        match fs::hard_link(path, self.kept(ino)) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
            _ => Ok(()),
        }
    }

    /// Before `len` bytes at `offset` of `file` (inode `ino`, at `path`) change.
    pub fn before_write(
        &mut self,
        ino: u64,
        path: &Path,
        file: &File,
        offset: u64,
        len: u64,
    ) -> io::Result<()> {
        let durable_len = self.track(ino, path, file)?;
        let end = offset.saturating_add(len).min(durable_len);
        self.save(ino, offset, end)
    }

    /// Before `file` (inode `ino`, at `path`) is cut or extended to `new_len`.
    pub fn before_resize(
        &mut self,
        ino: u64,
        path: &Path,
        file: &File,
        new_len: u64,
    ) -> io::Result<()> {
        let durable_len = self.track(ino, path, file)?;
        // Bytes already cut off were saved by the cut that removed them.
        let end = durable_len.min(file.metadata()?.len());
        self.save(ino, new_len, end)
    }

    /// Starts tracking the file's data if it is not tracked yet; returns its durable length.
    fn track(&mut self, ino: u64, path: &Path, file: &File) -> io::Result<u64> {
        if let Some(undo) = self.files.get(&ino) {
            return Ok(undo.durable_len);
        }
        self.keep_alive(ino, path)?;
        let durable_len = file.metadata()?.len();
        self.files.insert(
            ino,
            FileUndo {
                durable_len,
                undo: Vec::new(),
            },
        );
        Ok(durable_len)
    }

    /// Saves the file's bytes in `[start, end)` as an undo record, read through its link in
    /// `keep/` (the store's own descriptor may be write-only).
    fn save(&mut self, ino: u64, start: u64, end: u64) -> io::Result<()> {
        if start >= end {
            return Ok(());
        }
        let file = File::open(self.kept(ino))?;
        let mut old = vec![0; usize::try_from(end - start).map_err(io::Error::other)?];
        let mut read = 0;
        while read < old.len() {
            match file.read_at(&mut old[read..], start + read as u64)? {
                0 => break,
                n => read += n,
            }
        }
        old.truncate(read);
        if let Some(undo) = self.files.get_mut(&ino) {
            undo.undo.push((start, old));
        }
        Ok(())
    }

    /// The file's data is durable (`fsync` or `fdatasync`, or a write through `O_SYNC`).
    pub fn synced_file(&mut self, ino: u64) {
        self.files.remove(&ino);
    }

    /// Before an entry of the directory `dir` (inode `ino`) is created, removed or renamed.
    pub fn before_name_change(&mut self, ino: u64, dir: &Path) -> io::Result<()> {
        if self.dirs.contains_key(&ino) {
            return Ok(());
        }
        let entries = list(dir)?;
        for (name, (entry_ino, kind)) in &entries {
            if *kind == EntryKind::File {
                self.keep_alive(*entry_ino, &dir.join(name))?;
            }
        }
        self.dirs.insert(ino, entries);
        Ok(())
    }

    /// The directory's entries are durable (`fsync` of the directory).
    pub fn synced_dir(&mut self, ino: u64) {
        self.dirs.remove(&ino);
    }

    /// The crash: drops every change that is not durable. `dir_path` finds a directory by
    /// inode number (a directory that no longer exists keeps what it has: see the module's
    /// limits in `mod.rs`). `root` names the paths reported.
    pub fn lose_unsynced(
        &mut self,
        root: &Path,
        dir_path: impl Fn(u64) -> Option<PathBuf>,
    ) -> io::Result<Dropped> {
        let mut dropped = Dropped::default();
        let mut files: Vec<(u64, FileUndo)> = self.files.drain().collect();
        files.sort_by_key(|(ino, _)| *ino);
        for (ino, undo) in files {
            let file = OpenOptions::new().write(true).open(self.kept(ino))?;
            let len = file.metadata()?.len();
            let overwritten: u64 = undo.undo.iter().map(|(_, old)| old.len() as u64).sum();
            let lost = len.saturating_sub(undo.durable_len) + overwritten;
            if lost == 0 && len == undo.durable_len {
                continue;
            }
            file.set_len(undo.durable_len)?;
            for (offset, old) in undo.undo.iter().rev() {
                file.write_all_at(old, *offset)?;
            }
            dropped.bytes += lost;
            dropped.files.push(format!("inode {ino}"));
        }
        // Outermost first: a new directory goes with everything in it.
        let mut dirs: Vec<(PathBuf, DirUndo)> = self
            .dirs
            .drain()
            .filter_map(|(ino, durable)| Some((dir_path(ino)?, durable)))
            .collect();
        dirs.sort_by(|a, b| a.0.cmp(&b.0));
        for (dir, durable) in dirs {
            if dir.is_dir() {
                self.restore_names(&dir, &durable, root, &mut dropped)?;
            }
        }
        self.name_files(root, &mut dropped);
        fs::remove_dir_all(&self.keep)?;
        fs::create_dir_all(&self.keep)?;
        Ok(dropped)
    }

    /// Gives `dir` back exactly its durable entries.
    fn restore_names(
        &self,
        dir: &Path,
        durable: &DirUndo,
        root: &Path,
        dropped: &mut Dropped,
    ) -> io::Result<()> {
        let now = list(dir)?;
        let shown = |name: &OsString| relative(root, &dir.join(name));
        for (name, entry) in &now {
            if durable.get(name) == Some(entry) {
                continue;
            }
            let path = dir.join(name);
            if entry.1 == EntryKind::Dir {
                fs::remove_dir_all(&path)?;
            } else {
                fs::remove_file(&path)?;
            }
            dropped.names.push(shown(name));
        }
        for (name, (ino, kind)) in durable {
            if now.get(name) == Some(&(*ino, *kind)) {
                continue;
            }
            let path = dir.join(name);
            match kind {
                EntryKind::File => fs::hard_link(self.kept(*ino), &path)?,
                EntryKind::Dir => fs::create_dir(&path)?,
                EntryKind::Other => continue,
            }
            dropped.names.push(shown(name));
        }
        Ok(())
    }

    /// Replaces the inode numbers in `dropped.files` by a path of each file, where it still
    /// has one in the tree.
    fn name_files(&self, root: &Path, dropped: &mut Dropped) {
        if dropped.files.is_empty() {
            return;
        }
        let mut paths = HashMap::new();
        walk(root, &mut |path, meta| {
            paths
                .entry(meta.ino())
                .or_insert_with(|| relative(root, path));
        });
        // A file that lost its name too is listed among the names.
        dropped.files = std::mem::take(&mut dropped.files)
            .into_iter()
            .filter_map(|file| {
                let ino = file.trim_start_matches("inode ").parse::<u64>().ok()?;
                paths.get(&ino).cloned()
            })
            .collect();
    }
}

/// `path` relative to `root`, as text.
fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Calls `f` on every entry under `dir`, depth first, without following symlinks.
pub(crate) fn walk(dir: &Path, f: &mut dyn FnMut(&Path, &fs::Metadata)) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        f(&path, &meta);
        if meta.is_dir() {
            walk(&path, f);
        }
    }
}

/// A directory's entries: name, inode, kind.
fn list(dir: &Path) -> io::Result<DirUndo> {
    let mut entries = DirUndo::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let meta = fs::symlink_metadata(entry.path())?;
        let kind = if meta.is_file() {
            EntryKind::File
        } else if meta.is_dir() {
            EntryKind::Dir
        } else {
            EntryKind::Other
        };
        entries.insert(entry.file_name(), (meta.ino(), kind));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn ino(path: &Path) -> u64 {
        fs::metadata(path).unwrap().ino()
    }

    fn setup() -> (tempfile::TempDir, PathBuf, Model) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("data");
        fs::create_dir(&root).unwrap();
        let model = Model::new(tmp.path().join("keep")).unwrap();
        (tmp, root, model)
    }

    fn write(model: &mut Model, path: &Path, offset: u64, data: &[u8]) {
        let file = OpenOptions::new()
            .write(true)
            .read(true)
            .open(path)
            .unwrap();
        model
            .before_write(ino(path), path, &file, offset, data.len() as u64)
            .unwrap();
        file.write_all_at(data, offset).unwrap();
    }

    fn crash(model: &mut Model, root: &Path) -> Dropped {
        let root_ino = ino(root);
        let owned = root.to_path_buf();
        model
            .lose_unsynced(root, |i| (i == root_ino).then(|| owned.clone()))
            .unwrap()
    }

    #[test]
    fn a_crash_brings_a_file_back_to_its_last_fsynced_content_and_length() {
        let (_tmp, root, mut model) = setup();
        let path = root.join("log");
        fs::File::create(&path)
            .unwrap()
            .write_all(b"durable")
            .unwrap();
        write(&mut model, &path, 0, b"DUR");
        write(&mut model, &path, 7, b"+appended");
        write(&mut model, &path, 1, b"xx");
        let dropped = crash(&mut model, &root);
        assert_eq!(fs::read(&path).unwrap(), b"durable");
        assert_eq!(dropped.files, ["log"]);
        assert_eq!(dropped.bytes, 9 + 3 + 2);
        assert!(dropped.names.is_empty() && !model.is_pending());
    }

    #[test]
    fn an_fsynced_write_survives_the_crash_and_a_later_one_does_not() {
        let (_tmp, root, mut model) = setup();
        let path = root.join("log");
        fs::write(&path, b"").unwrap();
        write(&mut model, &path, 0, b"one\n");
        model.synced_file(ino(&path));
        write(&mut model, &path, 4, b"two\n");
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        model.before_resize(ino(&path), &path, &file, 2).unwrap();
        file.set_len(2).unwrap();
        crash(&mut model, &root);
        assert_eq!(fs::read(&path).unwrap(), b"one\n");
    }

    #[test]
    fn a_name_is_durable_only_once_its_directory_is_fsynced() {
        let (_tmp, root, mut model) = setup();
        let old = root.join("old");
        fs::write(&old, b"kept").unwrap();
        let root_ino = ino(&root);
        model.before_name_change(root_ino, &root).unwrap();
        fs::write(root.join("new"), b"fsynced data, unsynced name").unwrap();
        model.synced_file(ino(&root.join("new")));
        fs::rename(&old, root.join("renamed")).unwrap();
        let dropped = crash(&mut model, &root);
        assert_eq!(fs::read(&old).unwrap(), b"kept");
        assert!(!root.join("new").exists() && !root.join("renamed").exists());
        assert_eq!(dropped.names, ["new", "renamed", "old"]);

        model.before_name_change(root_ino, &root).unwrap();
        fs::remove_file(&old).unwrap();
        model.synced_dir(root_ino);
        crash(&mut model, &root);
        assert!(!old.exists(), "a durable removal stays removed");
    }
}
