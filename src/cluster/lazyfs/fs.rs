//! The FUSE side of the lazy filesystem: a passthrough of every request to the backing
//! tree, telling the durability [`Model`] before anything changes and when something is
//! made durable.
//!
//! Inode numbers are the backing files' own (the backing root and inode 1 swap places, as
//! FUSE's root is 1), so a name linked back by a crash keeps its number. Attributes and
//! names are never cached by the kernel (zero TTLs): a crash changes the tree behind the
//! kernel's back, while the store is down.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    FileAttr, FileType, Filesystem, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
};

use super::model::Model;

const TTL: Duration = Duration::ZERO;
const ROOT: u64 = fuser::FUSE_ROOT_ID;

/// The tree's state, shared by the FUSE thread and the nemesis.
pub struct State {
    /// The backing tree's root.
    pub root: PathBuf,
    root_ino: u64,
    /// Where each inode the kernel knows was last seen, relative to `root`.
    paths: HashMap<u64, PathBuf>,
    handles: HashMap<u64, Handle>,
    next_fh: u64,
    pub model: Model,
}

struct Handle {
    file: File,
    /// Opened with `O_SYNC` or `O_DSYNC`: every write is durable when it returns.
    sync: bool,
}

impl State {
    pub fn new(root: PathBuf, model: Model) -> io::Result<State> {
        let root_ino = fs::metadata(&root)?.ino();
        Ok(State {
            root,
            root_ino,
            paths: HashMap::from([(ROOT, PathBuf::new())]),
            handles: HashMap::new(),
            next_fh: 1,
            model,
        })
    }

    /// FUSE's inode number of a backing one, and back.
    fn swap(&self, ino: u64) -> u64 {
        swap(self.root_ino, ino)
    }

    /// The crash: drops every write that is not durable ([`Model::lose_unsynced`]).
    pub fn lose_unsynced(&mut self) -> io::Result<super::Dropped> {
        let State {
            root,
            root_ino,
            paths,
            model,
            ..
        } = self;
        let dir_path = |ino: u64| paths.get(&swap(*root_ino, ino)).map(|rel| root.join(rel));
        model.lose_unsynced(root, dir_path)
    }

    fn path(&self, ino: u64) -> Result<PathBuf, i32> {
        self.paths
            .get(&ino)
            .map(|rel| self.root.join(rel))
            .ok_or(libc::ENOENT)
    }

    fn child(&self, parent: u64, name: &OsStr) -> Result<PathBuf, i32> {
        Ok(self.path(parent)?.join(name))
    }

    /// Stats `path`, remembers where its inode is, and returns its attributes.
    fn learn(&mut self, path: &Path) -> Result<FileAttr, i32> {
        let meta = fs::symlink_metadata(path).map_err(errno)?;
        let attr = self.attr(&meta);
        let rel = path.strip_prefix(&self.root).unwrap_or(path).to_path_buf();
        self.paths.insert(attr.ino, rel);
        Ok(attr)
    }

    fn attr(&self, meta: &fs::Metadata) -> FileAttr {
        let time = |secs: i64, nanos: i64| {
            UNIX_EPOCH + Duration::new(secs.max(0) as u64, nanos.clamp(0, 999_999_999) as u32)
        };
        let kind = if meta.is_dir() {
            FileType::Directory
        } else if meta.file_type().is_symlink() {
            FileType::Symlink
        } else {
            FileType::RegularFile
        };
        FileAttr {
            ino: self.swap(meta.ino()),
            size: meta.size(),
            blocks: meta.blocks(),
            atime: time(meta.atime(), meta.atime_nsec()),
            mtime: time(meta.mtime(), meta.mtime_nsec()),
            ctime: time(meta.ctime(), meta.ctime_nsec()),
            crtime: UNIX_EPOCH,
            kind,
            perm: (meta.mode() & 0o7777) as u16,
            nlink: meta.nlink() as u32,
            uid: meta.uid(),
            gid: meta.gid(),
            rdev: meta.rdev() as u32,
            blksize: meta.blksize() as u32,
            flags: 0,
        }
    }

    /// Tells the model that `parent`'s entries are about to change.
    fn name_change(&mut self, parent: u64) -> Result<PathBuf, i32> {
        let dir = self.path(parent)?;
        let ino = self.swap(parent);
        self.model.before_name_change(ino, &dir).map_err(errno)?;
        Ok(dir)
    }

    fn handle(&self, fh: u64) -> Result<&Handle, i32> {
        self.handles.get(&fh).ok_or(libc::EBADF)
    }

    fn add_handle(&mut self, file: File, flags: i32) -> u64 {
        let fh = self.next_fh;
        self.next_fh += 1;
        let sync = flags & (libc::O_SYNC | libc::O_DSYNC) != 0;
        self.handles.insert(fh, Handle { file, sync });
        fh
    }

    fn setattr(&mut self, ino: u64, fh: Option<u64>, change: AttrChange) -> Result<FileAttr, i32> {
        let path = self.path(ino)?;
        if let Some(size) = change.size {
            let opened;
            let file = match fh.and_then(|fh| self.handles.get(&fh)) {
                Some(handle) => &handle.file,
                None => {
                    opened = OpenOptions::new().write(true).open(&path).map_err(errno)?;
                    &opened
                }
            };
            let backing = self.swap(ino);
            self.model
                .before_resize(backing, &path, file, size)
                .map_err(errno)?;
            file.set_len(size).map_err(errno)?;
        }
        if let Some(mode) = change.mode {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(errno)?;
        }
        if change.uid.is_some() || change.gid.is_some() {
            std::os::unix::fs::lchown(&path, change.uid, change.gid).map_err(errno)?;
        }
        if change.atime.is_some() || change.mtime.is_some() {
            let file = File::open(&path).map_err(errno)?;
            let mut times = fs::FileTimes::new();
            if let Some(t) = change.atime {
                times = times.set_accessed(system_time(t));
            }
            if let Some(t) = change.mtime {
                times = times.set_modified(system_time(t));
            }
            file.set_times(times).map_err(errno)?;
        }
        self.learn(&path)
    }

    fn rename(&mut self, from: (u64, &OsStr), to: (u64, &OsStr), flags: u32) -> Result<(), i32> {
        if flags != 0 {
            return Err(libc::EINVAL);
        }
        let old = self.name_change(from.0)?.join(from.1);
        let new = self.name_change(to.0)?.join(to.1);
        fs::rename(&old, &new).map_err(errno)?;
        let old_rel = old.strip_prefix(&self.root).unwrap_or(&old).to_path_buf();
        let new_rel = new.strip_prefix(&self.root).unwrap_or(&new).to_path_buf();
        // A renamed directory moves every path under it.
        for rel in self.paths.values_mut() {
            if let Ok(rest) = rel.strip_prefix(&old_rel) {
                *rel = new_rel.join(rest);
            }
        }
        self.learn(&new).map(drop)
    }

    fn write(&mut self, ino: u64, fh: u64, offset: u64, data: &[u8]) -> Result<u32, i32> {
        let path = self.path(ino)?;
        let backing = self.swap(ino);
        let handle = self.handles.get(&fh).ok_or(libc::EBADF)?;
        self.model
            .before_write(backing, &path, &handle.file, offset, data.len() as u64)
            .map_err(errno)?;
        handle.file.write_all_at(data, offset).map_err(errno)?;
        if handle.sync {
            self.model.synced_file(backing);
        }
        Ok(data.len() as u32)
    }

    fn fallocate(
        &mut self,
        ino: u64,
        fh: u64,
        offset: u64,
        len: u64,
        mode: i32,
    ) -> Result<(), i32> {
        let path = self.path(ino)?;
        let backing = self.swap(ino);
        let file = &self.handles.get(&fh).ok_or(libc::EBADF)?.file;
        self.model
            .before_write(backing, &path, file, offset, len)
            .map_err(errno)?;
        // SAFETY: a plain system call on a descriptor this state owns.
        let rc = unsafe { libc::fallocate(file.as_raw_fd(), mode, offset as i64, len as i64) };
        if rc != 0 {
            return Err(errno(io::Error::last_os_error()));
        }
        Ok(())
    }
}

/// The attributes a `setattr` asks to change.
struct AttrChange {
    size: Option<u64>,
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
    atime: Option<TimeOrNow>,
    mtime: Option<TimeOrNow>,
}

/// FUSE's root is inode 1: the backing root and backing inode 1 swap numbers (the map is its
/// own inverse).
fn swap(root_ino: u64, ino: u64) -> u64 {
    if ino == root_ino {
        ROOT
    } else if ino == ROOT {
        root_ino
    } else {
        ino
    }
}

fn system_time(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}

fn errno(e: io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

/// The filesystem fuser serves: every request locks the shared [`State`].
pub struct LazyFs(pub Arc<Mutex<State>>);

impl LazyFs {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held leaves a state as good as any: keep serving.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Replies with `r`: the value through `$send`, an error as its errno.
macro_rules! answer {
    ($r:expr, $reply:ident, $ok:pat => $send:expr) => {
        match $r {
            Ok($ok) => $send,
            Err(e) => $reply.error(e),
        }
    };
}

impl Filesystem for LazyFs {
    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let mut s = self.state();
        let r = s.child(parent, name).and_then(|p| s.learn(&p));
        answer!(r, reply, a => reply.entry(&TTL, &a, 0));
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        let mut s = self.state();
        let r = s.path(ino).and_then(|p| s.learn(&p));
        answer!(r, reply, a => reply.attr(&TTL, &a));
    }

    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        let change = AttrChange {
            size,
            mode,
            uid,
            gid,
            atime,
            mtime,
        };
        let r = self.state().setattr(ino, fh, change);
        answer!(r, reply, a => reply.attr(&TTL, &a));
    }

    fn mkdir(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let mut s = self.state();
        let r = s.name_change(parent).and_then(|dir| {
            let path = dir.join(name);
            fs::DirBuilder::new()
                .mode(mode & !umask)
                .create(&path)
                .map_err(errno)?;
            s.learn(&path)
        });
        answer!(r, reply, a => reply.entry(&TTL, &a, 0));
    }

    fn unlink(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let mut s = self.state();
        let r = s
            .name_change(parent)
            .and_then(|dir| fs::remove_file(dir.join(name)).map_err(errno));
        answer!(r, reply, () => reply.ok());
    }

    fn rmdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let mut s = self.state();
        let r = s
            .name_change(parent)
            .and_then(|dir| fs::remove_dir(dir.join(name)).map_err(errno));
        answer!(r, reply, () => reply.ok());
    }

    fn rename(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        let r = self
            .state()
            .rename((parent, name), (newparent, newname), flags);
        answer!(r, reply, () => reply.ok());
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, flags: i32, reply: ReplyOpen) {
        let mut s = self.state();
        let r = s.path(ino).and_then(|path| {
            let file = open_options(flags).open(path).map_err(errno)?;
            Ok(s.add_handle(file, flags))
        });
        answer!(r, reply, fh => reply.opened(fh, 0));
    }

    fn create(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut s = self.state();
        let r = s.name_change(parent).and_then(|dir| {
            let path = dir.join(name);
            let file = open_options(flags)
                .create(true)
                .mode(mode & !umask)
                .open(&path)
                .map_err(errno)?;
            let attr = s.learn(&path)?;
            Ok((attr, s.add_handle(file, flags)))
        });
        answer!(r, reply, (a, fh) => reply.created(&TTL, &a, 0, fh, 0));
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        let s = self.state();
        let r = s.handle(fh).and_then(|h| {
            let mut buf = vec![0; size as usize];
            let mut read = 0;
            while read < buf.len() {
                match h
                    .file
                    .read_at(&mut buf[read..], offset as u64 + read as u64)
                {
                    Ok(0) => break,
                    Ok(n) => read += n,
                    Err(e) => return Err(errno(e)),
                }
            }
            buf.truncate(read);
            Ok(buf)
        });
        answer!(r, reply, data => reply.data(&data));
    }

    fn write(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        let r = self.state().write(ino, fh, offset as u64, data);
        answer!(r, reply, n => reply.written(n));
    }

    fn release(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        _flags: i32,
        _lock_owner: Option<u64>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.state().handles.remove(&fh);
        reply.ok();
    }

    fn fsync(&mut self, _req: &Request<'_>, ino: u64, fh: u64, _data: bool, reply: ReplyEmpty) {
        let mut s = self.state();
        let backing = s.swap(ino);
        // The backing file is synced too, so that an fsync costs the store what it would on
        // the disk, and its timing under test stays its own.
        let r = s.handle(fh).and_then(|h| h.file.sync_data().map_err(errno));
        if r.is_ok() {
            s.model.synced_file(backing);
        }
        answer!(r, reply, () => reply.ok());
    }

    fn readdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        mut reply: ReplyDirectory,
    ) {
        let s = self.state();
        let entries = s.path(ino).and_then(|dir| {
            let mut entries = vec![
                (ino, FileType::Directory, ".".into()),
                (ino, FileType::Directory, "..".into()),
            ];
            for entry in fs::read_dir(dir).map_err(errno)?.flatten() {
                let Ok(meta) = entry.metadata() else { continue };
                let kind = s.attr(&meta).kind;
                entries.push((s.swap(meta.ino()), kind, entry.file_name()));
            }
            Ok(entries)
        });
        match entries {
            Ok(entries) => {
                let start = usize::try_from(offset).unwrap_or(0);
                for (i, (ino, kind, name)) in entries.into_iter().enumerate().skip(start) {
                    if reply.add(ino, i as i64 + 1, kind, name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }

    fn fsyncdir(&mut self, _req: &Request<'_>, ino: u64, _fh: u64, _data: bool, reply: ReplyEmpty) {
        let mut s = self.state();
        let backing = s.swap(ino);
        let r = s
            .path(ino)
            .and_then(|dir| File::open(dir).and_then(|d| d.sync_all()).map_err(errno));
        if r.is_ok() {
            s.model.synced_dir(backing);
        }
        answer!(r, reply, () => reply.ok());
    }

    fn statfs(&mut self, _req: &Request<'_>, _ino: u64, reply: ReplyStatfs) {
        let root = self.state().root.clone();
        match nix::sys::statvfs::statvfs(&root) {
            Ok(st) => reply.statfs(
                st.blocks(),
                st.blocks_free(),
                st.blocks_available(),
                st.files(),
                st.files_free(),
                st.block_size() as u32,
                st.name_max() as u32,
                st.fragment_size() as u32,
            ),
            Err(e) => reply.error(e as i32),
        }
    }

    fn fallocate(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        fh: u64,
        offset: i64,
        length: i64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let r = self
            .state()
            .fallocate(ino, fh, offset as u64, length as u64, mode);
        answer!(r, reply, () => reply.ok());
    }
}

/// How to open a backing file for the kernel's `flags`: its access mode, without the flags
/// the kernel has already acted on (appends arrive with their offset; `O_TRUNC` as a
/// `setattr`) or that would bypass the model (`O_DIRECT`).
fn open_options(flags: i32) -> OpenOptions {
    let mut options = OpenOptions::new();
    match flags & libc::O_ACCMODE {
        libc::O_WRONLY => options.write(true),
        libc::O_RDWR => options.read(true).write(true),
        _ => options.read(true),
    };
    let dropped = libc::O_APPEND
        | libc::O_TRUNC
        | libc::O_DIRECT
        | libc::O_CREAT
        | libc::O_EXCL
        | libc::O_ACCMODE
        | libc::O_SYNC
        | libc::O_DSYNC;
    options.custom_flags(flags & !dropped);
    if flags & libc::O_EXCL != 0 {
        options.create_new(true);
    }
    options
}
