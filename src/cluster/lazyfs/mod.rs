//! The lazy filesystem: a node's data directory as a FUSE passthrough that forgets, on a
//! simulated power loss, every write the store never made durable.
//!
//! A process kill keeps what the store wrote to the page cache, so a store that acknowledges
//! before `fsync` looks durable under `kill`. With `[db.lazyfs]`, each node's data directory
//! (`{{data_dir}}`, `<node dir>/data`) is mounted by the controller over a backing tree
//! (`<node dir>/lazyfs/data`); [`Mount::lose_unsynced`] then brings the tree back to what a
//! crash of the machine would have kept.
//!
//! What is modelled (POSIX as stores rely on it, see [`model`]):
//!
//! - a file's data and length are durable up to its last `fsync` or `fdatasync` (the two are
//!   the same here), or up to the last write through a descriptor opened `O_SYNC`/`O_DSYNC`;
//! - a directory's entries (created, removed, renamed files and directories) are durable up
//!   to its last `fsync`; an `fsync` of a file does not make its name durable;
//! - `truncate`/`ftruncate` and `fallocate` change data like writes do.
//!
//! What is not: the kernel's own writeback (what is pending stays pending until fsynced,
//! however old); the order in which a real disk would have written pending pages (everything
//! pending is dropped, never a part of it: no torn writes, no reordering); metadata other
//! than names and lengths (mode, owner, times stay as last set); directories that were removed
//! or renamed away come back empty, and a directory that no longer exists keeps its names;
//! hard links, symlinks, device nodes and extended attributes (the filesystem refuses to make
//! them: `ENOSYS`); memory-mapped writes are seen only when the kernel writes the pages back.
//! The controller keeps undo records in memory only for bytes overwritten below a file's
//! durable length; appended data lives in the backing file.
//!
//! Each mount is served by a thread of the controller (fuser's background session), not by a
//! child process: the nemesis reaches the model through a lock instead of a protocol, and the
//! mount ends with the controller. A SIGKILLed controller leaves a dead mount (`ENOTCONN`);
//! the kernel's mount table, which outlives it, is what [`unmount_under`] reads, so teardown
//! and `faultline clean` find every mount under a run's state directory and detach it.

mod fs;
pub mod model;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use model::Dropped;

use fs::{LazyFs, State};
use model::Model;

/// The live mounts of this process.
static MOUNTS: Mutex<Vec<Arc<Mount>>> = Mutex::new(Vec::new());

/// One node's data directory, mounted lazily.
pub struct Mount {
    /// Where the store sees its data.
    mountpoint: PathBuf,
    state: Arc<Mutex<State>>,
    session: Mutex<Option<fuser::BackgroundSession>>,
}

impl Mount {
    /// The crash: drops every write that is not durable. The store must be down.
    pub fn lose_unsynced(&self) -> io::Result<Dropped> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.lose_unsynced()
    }

    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }
}

/// Mounts a lazy filesystem on `<node_dir>/data` (which must exist and be empty), backed by
/// `<node_dir>/lazyfs/`. It stays mounted until [`unmount_under`] a directory holding it.
pub fn mount(node_dir: &Path) -> io::Result<Arc<Mount>> {
    let mountpoint = node_dir.join("data");
    let backing = node_dir.join("lazyfs");
    let root = backing.join("data");
    std::fs::create_dir_all(&root)?;
    let model = Model::new(backing.join("keep"))?;
    let state = Arc::new(Mutex::new(State::new(root, model)?));
    let options = [
        fuser::MountOption::FSName("faultline-lazyfs".into()),
        fuser::MountOption::Subtype("lazyfs".into()),
        fuser::MountOption::DefaultPermissions,
    ];
    let session =
        fuser::spawn_mount2(LazyFs(Arc::clone(&state)), &mountpoint, &options).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot mount the lazy filesystem on {}: {e} (it needs root and /dev/fuse)",
                    mountpoint.display()
                ),
            )
        })?;
    let mount = Arc::new(Mount {
        mountpoint,
        state,
        session: Mutex::new(Some(session)),
    });
    lock_mounts().push(Arc::clone(&mount));
    Ok(mount)
}

/// The live mount on `<node_dir>/data`, if there is one.
pub fn of(node_dir: &Path) -> Option<Arc<Mount>> {
    let mountpoint = node_dir.join("data");
    lock_mounts()
        .iter()
        .find(|m| m.mountpoint == mountpoint)
        .cloned()
}

fn lock_mounts() -> std::sync::MutexGuard<'static, Vec<Arc<Mount>>> {
    MOUNTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Unmounts every lazy filesystem under `dir`: this process's own (ending their threads),
/// then whatever the kernel's mount table still lists there, detached (`umount -l`), such as
/// the dead mount of a SIGKILLed controller. Returns what was unmounted and what could not be.
pub fn unmount_under(dir: &Path) -> (Vec<String>, Vec<String>) {
    let mine: Vec<Arc<Mount>> = {
        let mut mounts = lock_mounts();
        let (under, rest) = mounts
            .drain(..)
            .partition(|m| m.mountpoint.starts_with(dir));
        *mounts = rest;
        under
    };
    let mut removed = Vec::new();
    for mount in mine {
        let session = mount
            .session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        // Dropping the session unmounts (detached) and lets its thread end.
        drop(session);
        removed.push(format!("lazy filesystem {}", mount.mountpoint.display()));
    }
    let mut failed = Vec::new();
    for point in kernel_mounts_under(dir) {
        match detach(&point) {
            Ok(()) => removed.push(format!("mount {}", point.display())),
            Err(e) => failed.push(format!("mount {}: {e}", point.display())),
        }
    }
    (removed, failed)
}

/// `umount -l`: the mount leaves the tree at once, whatever still uses it.
fn detach(point: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(point.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: a system call on a NUL-terminated path this function owns.
    match unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// The mount points under `dir` in this process's mount table, deepest first.
fn kernel_mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(table) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut points: Vec<PathBuf> = table
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape(p)))
        .filter(|p| p.starts_with(dir) && p != dir)
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    points.dedup();
    points
}

/// A mountinfo field with its octal escapes (`\040` for a space) decoded.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::io::Write;

    #[test]
    fn through_the_mount_only_fsynced_data_and_names_survive_a_crash() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let mount = mount(tmp.path()).unwrap();
        let durable = data.join("durable");
        let mut file = std::fs::File::create(&durable).unwrap();
        file.write_all(b"synced\n").unwrap();
        file.sync_data().unwrap();
        std::fs::File::open(&data).unwrap().sync_all().unwrap();
        file.write_all(b"not synced\n").unwrap();
        drop(file);
        std::fs::create_dir(data.join("sub")).unwrap();
        std::fs::write(data.join("sub/new"), b"gone").unwrap();
        let dropped = mount.lose_unsynced().unwrap();
        let after = std::fs::read(&durable);
        let left: Vec<_> = std::fs::read_dir(&data)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        let (unmounted, failed) = unmount_under(tmp.path());
        assert_eq!(after.unwrap(), b"synced\n");
        assert_eq!(left, ["durable"]);
        assert_eq!(dropped.files, ["durable"]);
        assert_eq!(
            dropped.bytes,
            11 + 4,
            "the unsynced line and the vanished file"
        );
        assert_eq!(dropped.names, ["sub"]);
        assert_eq!(unmounted.len(), 1, "{unmounted:?}");
        assert!(failed.is_empty(), "{failed:?}");
        assert!(kernel_mounts_under(tmp.path()).is_empty());
    }

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape(r"/tmp/a\040b"), "/tmp/a b");
        assert_eq!(unescape(r"/tmp/plain"), "/tmp/plain");
    }
}
