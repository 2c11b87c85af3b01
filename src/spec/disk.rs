//! `[nemesis.disk]`: the parameters of the disk faults (`lose-unfsynced-writes`, which needs
//! `[db] lazyfs = true`, and `corrupt-file`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{LoadedSpec, SpecError};
use crate::cluster::Target;

/// How `corrupt-file` damages a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Corruption {
    /// Flip `flips` random bits, anywhere in the file.
    #[default]
    Bitflip,
    /// Cut a random number of bytes, 1 to `truncate_bytes`, off the end.
    Truncate,
}

/// Every key has a default.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DiskSpec {
    /// Which nodes a disk fault hits: `one`, `minority`, `majority`, `all` or names
    /// (`n1,n3`). Default `majority`.
    #[schemars(example = &"all", with = "String")]
    pub target: Target,
    /// Which files of a node's data directory `corrupt-file` may damage: a glob relative to
    /// it (`**` crosses directories). One matching file per node is drawn by the seed.
    /// Default `**/*`.
    #[schemars(example = &"**/*.wal")]
    pub corrupt_glob: String,
    /// `bitflip` (the default) or `truncate`.
    #[schemars(example = &"truncate")]
    pub corruption: Corruption,
    /// How many bits a `bitflip` flips. Default 8.
    #[schemars(example = 1)]
    pub flips: u32,
    /// The most bytes a `truncate` cuts off. Default 64.
    #[schemars(example = 4096)]
    pub truncate_bytes: u64,
}

impl Default for DiskSpec {
    fn default() -> Self {
        DiskSpec {
            target: Target::Majority,
            corrupt_glob: "**/*".into(),
            corruption: Corruption::Bitflip,
            flips: 8,
            truncate_bytes: 64,
        }
    }
}

impl LoadedSpec {
    pub(super) fn validate_disk(&self) -> Result<(), SpecError> {
        let d = &self.spec.nemesis.disk;
        let nodes: Vec<String> = (1..=self.spec.run.nodes).map(|i| format!("n{i}")).collect();
        self.check_target("nemesis.disk.target", &d.target, &nodes)?;
        if let Err(e) = globset::Glob::new(&d.corrupt_glob) {
            return Err(self.err("nemesis.disk.corrupt_glob", e.to_string(), None));
        }
        if d.flips == 0 || d.truncate_bytes == 0 {
            return Err(self.err(
                "nemesis.disk.flips",
                "flips and truncate_bytes must be positive",
                None,
            ));
        }
        let loses = self
            .spec
            .nemesis
            .faults
            .iter()
            .map(|f| f.name())
            .chain(self.spec.nemesis.schedule.iter().map(|s| s.fault.name()));
        if !self.spec.db.lazyfs && loses.into_iter().any(|f| f == "lose-unfsynced-writes") {
            return Err(self.err(
                "db.lazyfs",
                "lose-unfsynced-writes needs the data directory on the lazy filesystem",
                Some("set `lazyfs = true` in [db]".into()),
            ));
        }
        if self.spec.db.lazyfs && self.spec.run.backend == crate::cluster::BackendKind::Ssh {
            return Err(self.err(
                "db.lazyfs",
                "the lazy filesystem is mounted by the controller, so it needs the `local` or `loopback` backend",
                None,
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::LoadedSpec;

    fn load(file: &str, edit: impl Fn(String) -> String) -> Result<LoadedSpec, String> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("workloads")
            .join(file);
        let source = std::fs::read_to_string(&path).unwrap();
        LoadedSpec::parse(&path, edit(source)).map_err(|e| e.to_string())
    }

    #[test]
    fn the_shipped_disk_specs_load_with_their_lazy_filesystems() {
        for file in ["demo-disk.toml", "etcd-v3-disk.toml"] {
            let spec = load(file, |s| s).unwrap().spec;
            assert!(spec.db.lazyfs, "{file}");
        }
    }

    #[test]
    fn losing_unsynced_writes_without_a_lazy_filesystem_is_refused_naming_the_key() {
        let err = load("demo-disk.toml", |s| s.replace("lazyfs = true", "")).unwrap_err();
        assert!(
            err.contains("db.lazyfs") && err.contains("lazyfs = true"),
            "{err}"
        );
        let err = load("demo-disk.toml", |s| {
            s + "\n[nemesis.disk]\ncorrupt_glob = \"[\"\n"
        })
        .unwrap_err();
        assert!(err.contains("nemesis.disk.corrupt_glob"), "{err}");
    }
}
