//! `[[phases]]`: the main phase as a sequence of phases — a warm-up without faults, faults,
//! a recovery — each with its own length, rate, operation mix and faults.
//!
//! Without `[[phases]]` the main phase is one stretch of `run.time_limit_s` at `run.rate`
//! with the `[nemesis]` faults. With them, the main phase lasts their sum (`time_limit_s` is
//! not used), each phase draws its own random faults from its `nemesis` list with the
//! `[nemesis]` table's timing, targets and topologies, and every fault still in force at a
//! phase's end is healed before the next begins.

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{LoadedSpec, SpecError, MAX_SECONDS};
use crate::nemesis::Fault;

/// One phase of the main phase.
#[derive(Deserialize, Serialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PhaseSpec {
    /// The phase's name, shown on the report's plots and recorded with its boundary events.
    #[schemars(example = &"warm-up")]
    pub name: String,
    /// How long the phase lasts, seconds.
    #[schemars(example = 10)]
    pub duration_s: u64,
    /// Total operations per second in this phase, 0 for unlimited. Default: `run.rate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = 200.0)]
    pub rate: Option<f64>,
    /// Faults drawn at random in this phase (names as in `[nemesis] faults`), with the
    /// `[nemesis]` table's interval, duration, targets and topologies. Default: none.
    #[serde(default)]
    #[schemars(example = ["partition"], schema_with = "super::reference::fault_list")]
    pub nemesis: Vec<Fault>,
    /// The operation mix: a weight per operation of the workload (`read`, `write`, ...).
    /// Each weight multiplies the workload's own odds of drawing that operation; an
    /// operation left out is not issued in this phase. Default: the workload's own mix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = phase_mix_example())]
    pub mix: Option<BTreeMap<String, f64>>,
}

fn phase_mix_example() -> BTreeMap<String, f64> {
    BTreeMap::from([("read".to_string(), 1.0), ("write".to_string(), 3.0)])
}

impl PhaseSpec {
    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.duration_s)
    }
}

impl LoadedSpec {
    pub(super) fn validate_phases(&self) -> Result<(), SpecError> {
        let phases = &self.spec.phases;
        if phases.is_empty() {
            return Ok(());
        }
        let n = &self.spec.nemesis;
        if !n.faults.is_empty() || !n.schedule.is_empty() {
            return Err(self.err(
                "nemesis.faults",
                "with [[phases]], each phase names its own faults",
                Some("move the faults into the phases' `nemesis` lists".into()),
            ));
        }
        let fs = self.spec.workload.name.descriptor().fs;
        let mut total_s: u64 = 0;
        for (i, p) in phases.iter().enumerate() {
            let at = format!("phase {} ({})", i + 1, p.name);
            if p.name.trim().is_empty() || phases[..i].iter().any(|q| q.name == p.name) {
                return Err(self.err(
                    "phases",
                    format!("{at}: every phase needs a name of its own"),
                    None,
                ));
            }
            if p.duration_s == 0 || p.duration_s > MAX_SECONDS {
                return Err(self.err(
                    "phases",
                    format!("{at}: duration_s must be 1 to {MAX_SECONDS} seconds"),
                    None,
                ));
            }
            total_s += p.duration_s;
            if p.rate.is_some_and(|r| !(r >= 0.0 && r.is_finite())) {
                return Err(self.err(
                    "phases",
                    format!("{at}: the rate must be a non-negative number"),
                    Some("0 means unlimited".into()),
                ));
            }
            if let Some(mix) = &p.mix {
                if let Some(f) = mix.keys().find(|f| !fs.contains(&f.as_str())) {
                    return Err(self.err(
                        "phases",
                        format!("{at}: the workload has no operation `{f}`"),
                        Some(format!("its operations: {}", fs.join(", "))),
                    ));
                }
                if mix.values().any(|w| !(*w >= 0.0 && w.is_finite()))
                    || !mix.values().any(|w| *w > 0.0)
                {
                    return Err(self.err(
                        "phases",
                        format!("{at}: mix weights must be non-negative, one above 0"),
                        None,
                    ));
                }
            }
        }
        if total_s > MAX_SECONDS {
            return Err(self.err(
                "phases",
                format!("the phases add up to {total_s} s, more than {MAX_SECONDS}"),
                None,
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::spec::Overrides;

    /// workloads/demo-counter.toml with `tail` in place of its `[nemesis]` table.
    fn counter_with(tail: &str) -> Result<LoadedSpec, SpecError> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads/demo-counter.toml");
        let source = std::fs::read_to_string(&path).unwrap();
        let head = &source[..source.find("[nemesis]").unwrap()];
        LoadedSpec::parse(&path, format!("{head}{tail}"))
    }

    const PHASES: &str = r#"
[[phases]]
name = "warm-up"
duration_s = 5
mix = { read = 1 }
[[phases]]
name = "faults"
duration_s = 10
rate = 200
nemesis = ["kill"]
"#;

    #[test]
    fn the_main_phase_lasts_the_sum_of_the_phases_and_each_keeps_its_own_settings() {
        let mut loaded = counter_with(PHASES).unwrap();
        assert_eq!(loaded.spec.main_s(), 15);
        assert_eq!(loaded.spec.phases[1].rate, Some(200.0));
        assert_eq!(loaded.spec.phases[1].nemesis[0].name(), "kill");
        let err = loaded
            .apply(&Overrides {
                time_limit_s: Some(3),
                ..Overrides::default()
            })
            .unwrap_err();
        assert!(err.to_string().contains("--time-limit"), "{err}");
    }

    #[test]
    fn a_mix_naming_an_operation_the_workload_lacks_is_refused_with_its_operations() {
        let err = counter_with(&PHASES.replace("read = 1", "write = 1"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("phase 1 (warm-up)") && err.contains("no operation `write`"));
        assert!(err.contains("add, read"), "{err}");
    }

    #[test]
    fn faults_outside_the_phases_or_a_nameless_phase_are_refused() {
        let err = counter_with(&format!("[nemesis]\nfaults = [\"kill\"]\n{PHASES}")).unwrap_err();
        assert!(err.to_string().contains("each phase names its own faults"));
        let err = counter_with(&PHASES.replace("\"faults\"", "\"warm-up\"")).unwrap_err();
        assert!(err.to_string().contains("a name of its own"));
    }
}
