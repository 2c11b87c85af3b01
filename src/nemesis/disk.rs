//! Disk faults: what a power loss or a failing disk does to a store's files, done while the
//! store is down.
//!
//! - `lose-unfsynced-writes`: the store's daemon is killed (SIGKILL), then its data
//!   directory, a lazy filesystem (`[db] lazyfs = true`, [`crate::cluster::lazyfs`]), drops
//!   every write that was not durable: files go back to their last fsynced content and
//!   length, names created, removed or renamed since their directory's last fsync are undone.
//! - `corrupt-file`: the daemon is killed, then one file of its data directory matching
//!   `[nemesis.disk] corrupt_glob`, drawn by the seed, has random bits flipped or its tail cut
//!   off (`corruption`), and is fsynced so that the damage is durable.
//!
//! The stop, `disk-restart`, starts the daemons again. A store that refuses to start on what
//! it finds exits on its own, and the health watcher records that as a `node-crash` with its
//! log lines. The start's value says, per node, exactly what changed:
//!
//! ```text
//! {"f":"lose-unfsynced-writes","value":{"n1":{"files":["n1/wal.jsonl"],"bytes":312,"names":[]}}}
//! {"f":"corrupt-file","value":{"n2":{"file":"n2/wal.jsonl","size":4096,"flipped":[[17,3]]}}}
//! {"f":"corrupt-file","value":{"n3":{"file":"n3/wal.jsonl","size":4096,"truncated_to":4051}}}
//! {"f":"disk-restart","value":["n1"]}
//! ```
//!
//! (`flipped` lists `[byte offset, bit]` pairs, bit 0 the least significant; a file is named
//! relative to the data directory; `null` for a node whose data directory had no matching
//! file.)

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::Rng;
use serde_json::{json, Map, Value};

use super::process::{on_each, select, targets_someone};
use super::{cannot_run, Aim, FaultEvent, Kind, Nemesis};
use crate::cluster::{lazyfs, BackendKind, Cluster, Error, Node, Result, Target};
use crate::spec::{Corruption, DiskSpec};

pub const KIND: Kind = Kind {
    name: "disk",
    starts: &["lose-unfsynced-writes", "corrupt-file"],
    stop: "disk-restart",
    moves_clocks: false,
};

/// `lose-unfsynced-writes`: random faults hit `[nemesis.disk] target`; a scripted step its
/// `target`.
pub const LOSE: Fault = Fault {
    name: "lose-unfsynced-writes",
    kind: &KIND,
    random: |spec| {
        Box::new(DiskNemesis::new(
            Damage::Lose,
            spec.disk.target.clone(),
            &spec.disk,
        ))
    },
    scripted: |step, spec| Box::new(DiskNemesis::new(Damage::Lose, step.target(), &spec.disk)),
};

/// `corrupt-file`: as `lose-unfsynced-writes`, damaging as `[nemesis.disk]` says.
pub const CORRUPT: Fault = Fault {
    name: "corrupt-file",
    kind: &KIND,
    random: |spec| {
        Box::new(DiskNemesis::new(
            Damage::Corrupt,
            spec.disk.target.clone(),
            &spec.disk,
        ))
    },
    scripted: |step, spec| Box::new(DiskNemesis::new(Damage::Corrupt, step.target(), &spec.disk)),
};

use super::Fault;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Damage {
    Lose,
    Corrupt,
}

/// Kills the daemons of its target's nodes, damages their data, and restarts them on stop.
pub struct DiskNemesis {
    damage: Damage,
    target: Target,
    disk: DiskSpec,
    /// The nodes whose daemons are down.
    hit: Vec<String>,
    /// The leader of the moment and the nodes other faults hold down.
    aim: Aim,
}

impl DiskNemesis {
    fn new(damage: Damage, target: Target, disk: &DiskSpec) -> DiskNemesis {
        DiskNemesis {
            damage,
            target,
            disk: disk.clone(),
            hit: Vec::new(),
            aim: Aim::default(),
        }
    }

    fn verb(&self) -> &'static str {
        match self.damage {
            Damage::Lose => KIND.starts[0],
            Damage::Corrupt => KIND.starts[1],
        }
    }

    /// Damages one node's data (its daemon is down) and says what changed.
    fn damage(&self, node: &Arc<dyn Node>, rng: &mut dyn rand::RngCore) -> Result<Value> {
        match self.damage {
            Damage::Lose => {
                let mount = lazyfs::of(node.dir()).ok_or_else(|| {
                    Error::Invalid(format!(
                        "{}: its data directory is not a lazy filesystem; set `lazyfs = true` in [db]",
                        node.name()
                    ))
                })?;
                let dropped = mount.lose_unsynced().map_err(|e| {
                    Error::io(format!("dropping {}'s unsynced writes", node.name()), e)
                })?;
                Ok(json!(dropped))
            }
            Damage::Corrupt => corrupt(&node.dir().join("data"), &self.disk, rng)
                .map_err(|e| Error::io(format!("corrupting a file of {}", node.name()), e)),
        }
    }
}

impl Nemesis for DiskNemesis {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    fn applicable(&self, cluster: &Cluster) -> bool {
        // The controller reaches the data directories through its own filesystem.
        cluster.kind() != BackendKind::Ssh && targets_someone(&self.target, cluster)
    }

    fn check(&self, cluster: &Cluster) -> Result<()> {
        if cluster.kind() == BackendKind::Ssh {
            return Err(cannot_run(
                &KIND,
                cluster,
                "; disk faults need the `local` or `loopback` backend",
            ));
        }
        if !self.applicable(cluster) {
            return Err(cannot_run(&KIND, cluster, ""));
        }
        Ok(())
    }

    fn is_active(&self) -> bool {
        !self.hit.is_empty()
    }

    fn aims_at_leader(&self) -> bool {
        self.target.needs_leader()
    }

    fn aim(&mut self, aim: &Aim) {
        self.aim = aim.clone();
    }

    fn downed(&self) -> Vec<String> {
        self.hit.clone()
    }

    fn start(&mut self, cluster: &Cluster, rng: &mut dyn rand::RngCore) -> Result<FaultEvent> {
        let names = select(&self.target, &self.aim, cluster, rng)?;
        let mut changed = Map::new();
        for name in &names {
            let node = cluster.node(name)?;
            // Recorded before the act: if a later node fails, stop still restarts this one.
            self.hit.push(name.clone());
            node.kill()?;
            changed.insert(name.clone(), self.damage(node, rng)?);
        }
        Ok(FaultEvent {
            f: self.verb(),
            value: Value::Object(changed),
            note: None,
        })
    }

    fn stop(&mut self, cluster: &Cluster) -> Result<Option<FaultEvent>> {
        if self.hit.is_empty() {
            return Ok(None);
        }
        let names = std::mem::take(&mut self.hit);
        on_each(cluster, &names, |node| node.restart())?;
        Ok(Some(FaultEvent {
            f: KIND.stop,
            value: json!(names),
            note: None,
        }))
    }
}

/// Damages one file of `data_dir` matching the spec's glob, drawn by `rng`, and fsyncs it;
/// returns what changed, or `null` when no non-empty file matches.
fn corrupt(
    data_dir: &Path,
    disk: &DiskSpec,
    rng: &mut dyn rand::RngCore,
) -> std::io::Result<Value> {
    let glob = globset::Glob::new(&disk.corrupt_glob)
        .map_err(std::io::Error::other)?
        .compile_matcher();
    let mut files: Vec<PathBuf> = Vec::new();
    lazyfs::model::walk(data_dir, &mut |path, meta| {
        let rel = path.strip_prefix(data_dir).unwrap_or(path);
        if meta.is_file() && meta.len() > 0 && glob.is_match(rel) {
            files.push(rel.to_path_buf());
        }
    });
    files.sort();
    if files.is_empty() {
        return Ok(Value::Null);
    }
    let rel = files.swap_remove(rng.gen_range(0..files.len()));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(data_dir.join(&rel))?;
    let size = file.metadata()?.len();
    let mut what = json!({"file": rel.display().to_string(), "size": size});
    match disk.corruption {
        Corruption::Bitflip => {
            let mut flipped = Vec::new();
            for _ in 0..disk.flips {
                let (offset, bit) = (rng.gen_range(0..size), rng.gen_range(0..8u8));
                flip(&file, offset, bit)?;
                flipped.push(json!([offset, bit]));
            }
            what["flipped"] = Value::Array(flipped);
        }
        Corruption::Truncate => {
            let cut = rng.gen_range(1..=disk.truncate_bytes.min(size));
            file.set_len(size - cut)?;
            what["truncated_to"] = json!(size - cut);
        }
    }
    // Media damage survives a later loss of unsynced writes.
    file.sync_all()?;
    Ok(what)
}

fn flip(file: &File, offset: u64, bit: u8) -> std::io::Result<()> {
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, offset)?;
    byte[0] ^= 1 << bit;
    file.write_all_at(&byte, offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn corrupt_file_changes_exactly_the_bits_it_reports() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("n1")).unwrap();
        let original = vec![0u8; 256];
        std::fs::write(tmp.path().join("n1/wal.jsonl"), &original).unwrap();
        std::fs::write(tmp.path().join("n1/other"), b"left alone").unwrap();
        let disk = DiskSpec {
            corrupt_glob: "**/*.jsonl".into(),
            flips: 5,
            ..DiskSpec::default()
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let what = corrupt(tmp.path(), &disk, &mut rng).unwrap();
        assert_eq!(what["file"], "n1/wal.jsonl");
        let mut expected = original.clone();
        for pair in what["flipped"].as_array().unwrap() {
            let (offset, bit) = (pair[0].as_u64().unwrap(), pair[1].as_u64().unwrap());
            expected[offset as usize] ^= 1 << bit;
        }
        assert_eq!(
            std::fs::read(tmp.path().join("n1/wal.jsonl")).unwrap(),
            expected
        );
        assert_eq!(
            std::fs::read(tmp.path().join("n1/other")).unwrap(),
            b"left alone"
        );

        let cut = DiskSpec {
            corruption: Corruption::Truncate,
            ..disk
        };
        let what = corrupt(tmp.path(), &cut, &mut rng).unwrap();
        let len = std::fs::metadata(tmp.path().join("n1/wal.jsonl"))
            .unwrap()
            .len();
        assert_eq!(what["truncated_to"], len);
        assert!((256 - 64..256).contains(&len), "{len}");
        let none = DiskSpec {
            corrupt_glob: "*.db".into(),
            ..DiskSpec::default()
        };
        assert_eq!(corrupt(tmp.path(), &none, &mut rng).unwrap(), Value::Null);
    }
}
