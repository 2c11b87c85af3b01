//! The clock of a `local` or `loopback` node: a fake one, through libfaketime.
//!
//! Every such node shares the controller's one clock, which no test may move. Instead the
//! store's own view of time is skewed: [`FakeClock::prepare`] starts the daemon with
//! `LD_PRELOAD` of `libfaketimeMT.so.1`, `FAKETIME_TIMESTAMP_FILE` pointing at
//! `<node dir>/faketime.rc` and `FAKETIME_NO_CACHE=1` (the file is read at every time call, so
//! a change applies at once, without restart; `FAKETIME_CACHE_DURATION` would trade that for
//! speed). `FAKETIME_DONT_FAKE_MONOTONIC=1` leaves monotonic clocks alone, as a real step of
//! the system clock does. The controller moves the clock by rewriting that file.
//!
//! **What libfaketime cannot reach.** It intercepts the C library's time calls. Programs that
//! read the clock without libc — every Go program, etcd among them, reads it through the vDSO
//! directly; statically linked binaries too — never see the fake time. [`FakeClock::prepare`]
//! and [`FakeClock::check`] refuse such stores with a message saying so, rather than report a
//! skew the store never saw; clock faults on them need the `ssh` backend and real hosts.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::clock::{unix_ns, ClockControl, ClockOffset};
use super::{process, BackendKind, Daemon, Error, Result};

/// The control file libfaketime reads, in each local node's directory.
pub const FAKETIME_FILE: &str = "faketime.rc";

/// Where the libfaketime library is looked for (multithreaded flavour first); the
/// `FAULTLINE_LIBFAKETIME` variable overrides.
const LIBFAKETIME_PATHS: [&str; 4] = [
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/faketime/libfaketimeMT.so.1",
    "/usr/local/lib/faketime/libfaketimeMT.so.1",
];

/// The libfaketime library, or an error saying how to install it.
pub fn libfaketime() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("FAULTLINE_LIBFAKETIME") {
        return Ok(PathBuf::from(p));
    }
    LIBFAKETIME_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| {
            Error::Invalid(
                "clock faults on local nodes need libfaketime, which is not installed; install \
                 it with `apt-get install -y libfaketime` (or set FAULTLINE_LIBFAKETIME)"
                    .into(),
            )
        })
}

/// How a node builds the command that runs `argv` on it.
type NodeCommand = Box<dyn Fn(&[String]) -> Command + Send + Sync>;

/// The fake clock of one node's daemon.
pub struct FakeClock {
    node: String,
    backend: BackendKind,
    /// The node's directory: the control file and the pidfile live there.
    dir: PathBuf,
    /// How the node runs a command (the `local` backend enters the node's namespace).
    command: NodeCommand,
}

impl FakeClock {
    pub(crate) fn new(
        node: &str,
        backend: BackendKind,
        dir: &Path,
        command: impl Fn(&[String]) -> Command + Send + Sync + 'static,
    ) -> FakeClock {
        FakeClock {
            node: node.to_string(),
            backend,
            dir: dir.to_path_buf(),
            command: Box::new(command),
        }
    }

    fn control(&self) -> PathBuf {
        self.dir.join(FAKETIME_FILE)
    }
}

impl ClockControl for FakeClock {
    fn usable(&self) -> bool {
        libfaketime().is_ok()
    }

    fn prepare(&self, daemon: &mut Daemon) -> Result<()> {
        let program = daemon
            .argv
            .first()
            .ok_or_else(|| Error::Invalid("a daemon needs a program to run".into()))?;
        if let Some(path) = find_program(program) {
            refuse_unreachable(&self.node, &path)?;
        }
        let control = self.control();
        write_offset(&control, 0)?;
        let lib = libfaketime()?;
        let preload = match daemon.env.get("LD_PRELOAD") {
            Some(other) if !other.is_empty() => format!("{}:{other}", lib.display()),
            _ => lib.display().to_string(),
        };
        daemon.env.extend(faketime_env(&preload, &control));
        Ok(())
    }

    /// Fails unless the running daemon reads this fake clock.
    fn check(&self) -> Result<()> {
        let name = &self.node;
        let control = self.control();
        let pid = daemon_pid(&self.dir).ok_or_else(|| {
            Error::Invalid(format!(
                "node {name}: no daemon runs, so there is no clock to skew"
            ))
        })?;
        let environ = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let wanted = format!("FAKETIME_TIMESTAMP_FILE={}", control.display());
        let faked = environ
            .split(|b| *b == 0)
            .any(|var| var == wanted.as_bytes());
        if !faked {
            // prepare refuses Go programs; one started without it gets the same word.
            if let Ok(exe) = fs::read_link(format!("/proc/{pid}/exe")) {
                refuse_unreachable(name, &exe)?;
            }
            return Err(Error::Invalid(format!(
                "node {name}: the daemon (pid {pid}) was not started under libfaketime, and \
                 nodes of the {} backend share the controller's clock, which faultline never \
                 sets; start the daemon through nemesis::clock::prepare_daemon (a spec with \
                 clock faults does)",
                self.backend
            )));
        }
        Ok(())
    }

    fn shift(&self, delta_ms: i64) -> Result<()> {
        let control = self.control();
        write_offset(&control, read_offset(&control)? + delta_ms)
    }

    fn strobe(&self, delta_ms: i64, period: Duration, flips: u32) -> Result<u32> {
        let control = self.control();
        let base = read_offset(&control)?;
        let mut steps = 0;
        for _ in 0..flips {
            write_offset(&control, base + delta_ms)?;
            std::thread::sleep(period);
            write_offset(&control, base)?;
            std::thread::sleep(period);
            steps += 2;
        }
        Ok(steps)
    }

    fn reset(&self) -> Result<()> {
        write_offset(&self.control(), 0)
    }

    /// `date` run on the node under the daemon's own libfaketime settings, so it reads what
    /// the daemon reads.
    fn measure(&self) -> Result<ClockOffset> {
        let lib = libfaketime()?;
        let mut argv = vec!["env".to_string()];
        argv.extend(
            faketime_env(&lib.display().to_string(), &self.control())
                .into_iter()
                .map(|(k, v)| format!("{k}={v}")),
        );
        argv.extend(["date".into(), "+%s%N".into()]);
        let mut cmd = (self.command)(&argv);
        cmd.current_dir(&self.dir);
        let before = unix_ns();
        let out = process::run(
            cmd,
            &format!("{:?} on node {}", argv, self.node),
            Duration::from_secs(5),
        )?;
        let after = unix_ns();
        let faked: i128 = out.stdout.trim().parse().map_err(|_| {
            Error::command(
                format!("reading the fake clock of node {}", self.node),
                format!("`date` printed {:?}: {}", out.stdout, out.stderr.trim()),
            )
        })?;
        Ok(ClockOffset {
            offset_ms: ((faked - (before + after) / 2) / 1_000_000) as i64,
            uncertainty_ms: ((after - before) / 2_000_000) as i64,
        })
    }
}

fn faketime_env(preload: &str, control: &Path) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("LD_PRELOAD".to_string(), preload.to_string()),
        (
            "FAKETIME_TIMESTAMP_FILE".into(),
            control.display().to_string(),
        ),
        ("FAKETIME_NO_CACHE".into(), "1".into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
    ])
}

/// Fails for a program that reads the clock without libc.
fn refuse_unreachable(node: &str, program: &Path) -> Result<()> {
    if is_go_binary(program) {
        return Err(Error::Invalid(format!(
            "node {node}: {} is a Go program, which reads the clock without the C library, so \
             libfaketime cannot skew its time; clock faults on this store need the ssh backend \
             (real hosts with their own clocks)",
            program.display()
        )));
    }
    Ok(())
}

/// Whether `path` is a Go executable: an ELF file with a section only the Go toolchain
/// writes (`.go.buildinfo` since Go 1.13, `.note.go.buildid`, `.gopclntab`). Reads the
/// section headers only, not the whole binary (a store's binary can be hundreds of MB).
fn is_go_binary(path: &Path) -> bool {
    elf_section_names(path).is_some_and(|names| {
        names
            .iter()
            .any(|n| n == ".go.buildinfo" || n == ".note.go.buildid" || n == ".gopclntab")
    })
}

/// The section names of a 64-bit little-endian ELF file; `None` for anything else.
fn elf_section_names(path: &Path) -> Option<Vec<String>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = fs::File::open(path).ok()?;
    let mut at = |offset: u64, len: usize| -> Option<Vec<u8>> {
        let mut buf = vec![0; len];
        f.seek(SeekFrom::Start(offset)).ok()?;
        f.read_exact(&mut buf).ok()?;
        Some(buf)
    };
    let header = at(0, 64)?;
    // Magic, 64-bit class, little-endian data.
    if header[..4] != *b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return None;
    }
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    let (shoff, shentsize) = (u64_at(&header, 0x28), u16_at(&header, 0x3a));
    let (shnum, shstrndx) = (u16_at(&header, 0x3c), u16_at(&header, 0x3e));
    if shentsize < 64 || shnum == 0 || shnum > 4096 || shstrndx >= shnum {
        return None;
    }
    let table = at(shoff, shentsize * shnum)?;
    let entry = |i: usize| &table[i * shentsize..i * shentsize + 64];
    let strtab = entry(shstrndx);
    let (str_off, str_len) = (u64_at(strtab, 0x18), u64_at(strtab, 0x20));
    if str_len > 1 << 20 {
        return None;
    }
    let strings = at(str_off, str_len as usize)?;
    Some(
        (0..shnum)
            .filter_map(|i| {
                let name_at = u32::from_le_bytes(entry(i)[..4].try_into().unwrap()) as usize;
                let rest = strings.get(name_at..)?;
                let end = rest.iter().position(|b| *b == 0)?;
                Some(String::from_utf8_lossy(&rest[..end]).into_owned())
            })
            .collect(),
    )
}

fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Writes libfaketime's relative offset (`+1.500` seconds) atomically: the daemon reads the
/// file at every time call and must never see it half-written.
fn write_offset(control: &Path, offset_ms: i64) -> Result<()> {
    let sign = if offset_ms < 0 { '-' } else { '+' };
    let abs = offset_ms.unsigned_abs();
    let text = format!("{sign}{}.{:03}\n", abs / 1000, abs % 1000);
    let tmp = control.with_extension("rc.tmp");
    fs::write(&tmp, text).map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
    fs::rename(&tmp, control).map_err(|e| Error::io(format!("writing {}", control.display()), e))
}

fn read_offset(control: &Path) -> Result<i64> {
    let text = fs::read_to_string(control)
        .map_err(|e| Error::io(format!("reading {}", control.display()), e))?;
    let t = text.trim();
    let (sign, rest) = match t.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, t.trim_start_matches('+')),
    };
    let (s, ms) = rest.split_once('.').unwrap_or((rest, "0"));
    let s: i64 = s.parse().unwrap_or(0);
    let ms: i64 = format!("{ms:0<3}")[..3].parse().unwrap_or(0);
    Ok(sign * (s * 1000 + ms))
}

fn daemon_pid(node_dir: &Path) -> Option<i32> {
    // The pidfile the local backends write: `pid start_ticks`.
    let text = fs::read_to_string(node_dir.join("daemon.pid")).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_control_file_round_trips_signed_milliseconds() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(FAKETIME_FILE);
        for ms in [0, 1500, -1500, 7, -999, 86_400_000] {
            write_offset(&file, ms).unwrap();
            assert_eq!(read_offset(&file).unwrap(), ms);
        }
        write_offset(&file, -1500).unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "-1.500\n");
    }

    #[test]
    fn etcd_is_recognised_as_out_of_libfaketimes_reach() {
        let etcd = find_program("etcd").expect("etcd is installed (apt-get install etcd-server)");
        let e = refuse_unreachable("n1", &etcd).unwrap_err().to_string();
        assert!(e.contains("Go program") && e.contains("ssh backend"), "{e}");
        assert!(refuse_unreachable("n1", Path::new("/bin/sh")).is_ok());
    }
}
