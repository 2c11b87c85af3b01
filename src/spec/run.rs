//! `[run]`: the cluster size, the workers, the length of each phase, the backend.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::client::MAX_BODY_BYTES;
use super::{LoadedSpec, SpecError};
use crate::cluster::BackendKind;

/// How big the test is and how long each phase may take. `nodes`, `concurrency`, `rate`,
/// `time_limit_s`, `seed` and `backend` each have a command-line flag that overrides them.
#[derive(Deserialize, Serialize, JsonSchema, Clone, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct RunSettings {
    /// Cluster size. Default 5.
    #[schemars(example = 3)]
    pub nodes: usize,
    /// Concurrent client workers. Default 10.
    #[schemars(example = 20)]
    pub concurrency: usize,
    /// Total operations per second over all workers; 0 means unlimited. Default 0.
    #[schemars(example = 200)]
    pub rate: f64,
    /// Length of the main phase in seconds. Default 60.
    #[schemars(example = 300)]
    pub time_limit_s: u64,
    /// The seed of every random choice. Default: drawn at random and printed.
    #[schemars(example = 42)]
    pub seed: Option<u64>,
    /// Node backend: `local` (network namespaces, needs root), `loopback` (plain processes on
    /// 127.a.b.N, no root, no partitions) or `ssh` (real hosts, see `[ssh]`). Default `local`.
    #[schemars(example = &"loopback", schema_with = "super::reference::backends")]
    pub backend: BackendKind,
    /// Limit on setup (start and readiness of every node), seconds. Default 60.
    #[schemars(example = 120)]
    pub setup_timeout_s: u64,
    /// Quiet period after the final heal, before final reads, seconds. Default 5.
    #[schemars(example = 10)]
    pub quiet_s: u64,
    /// Limit on the final reads, seconds. Default 15.
    #[schemars(example = 30)]
    pub final_reads_timeout_s: u64,
    /// Limit on teardown, seconds. Default 30.
    #[schemars(example = 60)]
    pub teardown_timeout_s: u64,
    /// Limit on the checker, seconds; past it the verdict is unknown. Default 120.
    #[schemars(example = 600)]
    pub check_timeout_s: u64,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            nodes: 5,
            concurrency: 10,
            rate: 0.0,
            time_limit_s: 60,
            seed: None,
            backend: BackendKind::Local,
            setup_timeout_s: 60,
            quiet_s: 5,
            final_reads_timeout_s: 15,
            teardown_timeout_s: 30,
            check_timeout_s: 120,
        }
    }
}

/// The longest duration any setting may ask for: one week, in seconds. Every phase bound is
/// added up into one total, which must not overflow.
pub const MAX_SECONDS: u64 = 7 * 24 * 3600;

impl LoadedSpec {
    /// Durations and ports within what the runner can represent and a person can mean.
    pub(super) fn validate_ranges(&self) -> Result<(), SpecError> {
        let (r, c, db, n) = (
            &self.spec.run,
            &self.spec.client,
            &self.spec.db,
            &self.spec.nemesis,
        );
        let seconds = [
            ("run.time_limit_s", r.time_limit_s),
            ("run.setup_timeout_s", r.setup_timeout_s),
            ("run.quiet_s", r.quiet_s),
            ("run.final_reads_timeout_s", r.final_reads_timeout_s),
            ("run.teardown_timeout_s", r.teardown_timeout_s),
            ("run.check_timeout_s", r.check_timeout_s),
            ("db.ready.timeout_s", db.ready.timeout_s),
        ];
        let millis = [
            ("client.timeout_ms", c.timeout_ms),
            ("client.connect_timeout_ms", c.connect_timeout_ms),
            ("db.ready.interval_ms", db.ready.interval_ms),
            ("nemesis.clock_period_ms", n.clock_period_ms),
            ("nemesis.clock_delta_ms", n.clock_delta_ms.unsigned_abs()),
        ];
        let fractional = [
            ("nemesis.interval_s", n.interval_s),
            ("nemesis.duration_s", n.duration_s),
        ]
        .into_iter()
        .chain(n.schedule.iter().flat_map(|step| {
            [
                ("nemesis.schedule", step.at_s),
                ("nemesis.schedule", step.duration_s),
            ]
        }));
        let too_long = seconds
            .into_iter()
            .find(|(_, v)| *v > MAX_SECONDS)
            .map(|(key, v)| (key, v.to_string()))
            .or_else(|| {
                millis
                    .into_iter()
                    .find(|(_, v)| *v > MAX_SECONDS * 1000)
                    .map(|(key, v)| (key, v.to_string()))
            })
            .or_else(|| {
                fractional
                    .into_iter()
                    .find(|(_, v)| !v.is_finite() || *v > MAX_SECONDS as f64)
                    .map(|(key, v)| (key, v.to_string()))
            });
        if let Some((key, value)) = too_long {
            return Err(self.err(
                key,
                format!("{value} is out of range"),
                Some(format!(
                    "durations are at most {MAX_SECONDS} seconds (one week)"
                )),
            ));
        }
        if c.max_body_bytes == 0 || c.max_body_bytes > MAX_BODY_BYTES {
            return Err(self.err(
                "client.max_body_bytes",
                format!("{} is out of range", c.max_body_bytes),
                Some(format!("use 1 to {MAX_BODY_BYTES} bytes")),
            ));
        }
        if let Some((port, _)) = db.ports.iter().find(|(_, p)| **p == 0) {
            return Err(self.err(
                &format!("db.ports.{port}"),
                "port 0 is not a port a client can reach",
                Some("use the store's real port, 1 to 65535".into()),
            ));
        }
        Ok(())
    }
}
