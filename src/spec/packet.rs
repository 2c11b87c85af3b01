//! `[nemesis.packet]`: the parameters of the packet faults (`delay`, `loss`, `duplicate`,
//! `reorder`, `bandwidth`, and `packet`, which combines every effect the table sets).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{LoadedSpec, SpecError};
use crate::cluster::packet::Distribution;
use crate::cluster::{Target, Topology};

/// Which way of a link a packet fault slows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Packets both ways.
    #[default]
    Both,
    /// Packets the target nodes send (with a topology: the first component's).
    Out,
    /// Packets the target nodes receive (with a topology: the first component's).
    In,
}

/// Every key is optional: a named fault (`delay`, …) uses its own keys or their defaults;
/// `packet` uses exactly the effects whose keys are set.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PacketSpec {
    /// Mean added one-way delay, ms. Default for `delay`: 50.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(example = 100.0)]
    pub delay_ms: Option<f64>,
    /// Spread around the mean, ms (uniform: ± it; normal: its standard deviation). Default 10.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(example = 20.0)]
    pub jitter_ms: Option<f64>,
    /// `uniform` (default) or `normal`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"normal", with = "Option<String>")]
    pub distribution: Option<Distribution>,
    /// The probability that a packet is lost, 0 to 1. Default for `loss`: 0.1.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(example = 0.3)]
    pub loss: Option<f64>,
    /// The probability that a packet shares the previous one's fate (bursts), 0 to 1
    /// (exclusive). Default 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(example = 0.25)]
    pub loss_correlation: Option<f64>,
    /// The probability that a packet is sent twice. Default for `duplicate`: 0.05.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(example = 0.05)]
    pub duplicate: Option<f64>,
    /// The share of packets held back so that later ones overtake them. Default for
    /// `reorder`: 0.25.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(example = 0.25)]
    pub reorder: Option<f64>,
    /// How much longer a held-back packet waits, ms. Default 20.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(example = 20.0)]
    pub reorder_ms: Option<f64>,
    /// A rate limit, kilobits per second. Default for `bandwidth`: 1000.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(example = 1000)]
    pub rate_kbit: Option<u64>,
    /// Whose links: `all` (default), `one`, `minority`, `majority` or names (`n1,n3`): every
    /// link with a target node at one end.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"n1,n3", with = "Option<String>")]
    pub target: Option<Target>,
    /// Instead of `target`: the links a partition along this topology would cut.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"isolate-one", with = "Option<String>")]
    pub topology: Option<Topology>,
    /// `both` (default), `out` or `in`.
    #[schemars(example = &"out")]
    pub direction: Direction,
    /// Also the links between the shaped nodes and the clients. Default false.
    #[schemars(example = true)]
    pub clients: bool,
    /// The most packets a node holds at once; past it packets are dropped and counted.
    /// Default 4096.
    #[schemars(example = 8192)]
    pub max_held: usize,
}

impl Default for PacketSpec {
    fn default() -> PacketSpec {
        PacketSpec {
            delay_ms: None,
            jitter_ms: None,
            distribution: None,
            loss: None,
            loss_correlation: None,
            duplicate: None,
            reorder: None,
            reorder_ms: None,
            rate_kbit: None,
            target: None,
            topology: None,
            direction: Direction::Both,
            clients: false,
            max_held: 4096,
        }
    }
}

impl PacketSpec {
    /// Whether any effect's key is set (what `packet` needs).
    pub fn sets_an_effect(&self) -> bool {
        self.delay_ms.is_some()
            || self.loss.is_some()
            || self.duplicate.is_some()
            || self.reorder.is_some()
            || self.rate_kbit.is_some()
    }
}

impl LoadedSpec {
    pub(super) fn validate_packet(&self) -> Result<(), SpecError> {
        let n = &self.spec.nemesis;
        let p = &n.packet;
        let key = |k: &str| format!("nemesis.packet.{k}");
        let probabilities = [
            ("loss", p.loss),
            ("loss_correlation", p.loss_correlation),
            ("duplicate", p.duplicate),
            ("reorder", p.reorder),
        ];
        for (name, value) in probabilities {
            if value.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
                return Err(self.err(&key(name), format!("{name} must be between 0 and 1"), None));
            }
        }
        if p.loss_correlation.is_some_and(|c| c >= 1.0) {
            let msg = "loss_correlation must be below 1 (at 1 the first fate repeats forever)";
            return Err(self.err(&key("loss_correlation"), msg, None));
        }
        let times = [
            ("delay_ms", p.delay_ms),
            ("jitter_ms", p.jitter_ms),
            ("reorder_ms", p.reorder_ms),
        ];
        for (name, value) in times {
            if value.is_some_and(|v| !(0.0..=60_000.0).contains(&v)) {
                return Err(self.err(&key(name), format!("{name} must be 0 to 60000"), None));
            }
        }
        if p.rate_kbit.is_some_and(|r| !(8..=10_000_000).contains(&r)) {
            return Err(self.err(&key("rate_kbit"), "rate_kbit must be 8 to 10000000", None));
        }
        if !(1..=65_536).contains(&p.max_held) {
            return Err(self.err(&key("max_held"), "max_held must be 1 to 65536", None));
        }
        if p.target.is_some() && p.topology.is_some() {
            let msg = "give either target or topology, not both";
            return Err(self.err(&key("topology"), msg, None));
        }
        let nodes: Vec<String> = (1..=self.spec.run.nodes).map(|i| format!("n{i}")).collect();
        if let Some(t) = &p.target {
            self.check_target(&key("target"), t, &nodes)?;
        }
        if let Some(t) = &p.topology {
            self.check_topology(&key("topology"), t, &nodes)?;
            if p.direction != Direction::Both && !matches!(t, Topology::Explicit(_)) {
                let msg = "a one-way packet fault along a topology needs explicit components \
                           (\"n1,n2|n3,n4,n5\": out is from the first)";
                return Err(self.err(&key("direction"), msg, None));
            }
        }
        let asks_packet = n.faults.contains(&crate::nemesis::PACKET)
            || n.schedule.iter().any(|s| s.fault == crate::nemesis::PACKET);
        if asks_packet && !p.sets_an_effect() {
            let msg =
                "the packet fault combines the effects [nemesis.packet] sets, and it sets none";
            let hint = "set delay_ms, loss, duplicate, reorder or rate_kbit".to_string();
            return Err(self.err("nemesis.packet", msg, Some(hint)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::LoadedSpec;

    fn with_nemesis(nemesis: &str) -> Result<LoadedSpec, String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let path = root.join("workloads/demo.toml");
        let source = std::fs::read_to_string(&path).unwrap();
        let head = &source[..source.find("[nemesis]").unwrap()];
        LoadedSpec::parse(&path, format!("{head}{nemesis}")).map_err(|e| e.to_string())
    }

    #[test]
    fn the_shipped_specs_load_with_their_packet_parameters() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads");
        for name in ["demo.toml", "etcd-v3.toml", "etcd-v2-fast-reads.toml"] {
            let spec = LoadedSpec::load(&root.join(name)).unwrap().spec;
            assert!(spec.nemesis.packet.sets_an_effect(), "{name}");
        }
    }

    #[test]
    fn out_of_range_packet_keys_are_refused_naming_the_key() {
        let err = with_nemesis("[nemesis]\nfaults = [\"loss\"]\n[nemesis.packet]\nloss = 1.5\n")
            .unwrap_err();
        assert!(err.contains("loss must be between 0 and 1"), "{err}");
        let err =
            with_nemesis("[nemesis.packet]\ntarget = \"n1\"\ntopology = \"halves\"\n").unwrap_err();
        assert!(err.contains("either target or topology"), "{err}");
        let err = with_nemesis("[nemesis.packet]\ntopology = \"halves\"\ndirection = \"out\"\n")
            .unwrap_err();
        assert!(err.contains("explicit components"), "{err}");
        let err = with_nemesis("[nemesis.packet]\ntarget = \"n9\"\n").unwrap_err();
        assert!(err.contains("n9"), "{err}");
    }

    #[test]
    fn the_combined_packet_fault_needs_an_effect_to_combine() {
        let err = with_nemesis("[nemesis]\nfaults = [\"packet\"]\n").unwrap_err();
        assert!(err.contains("sets none"), "{err}");
        let ok = with_nemesis("[nemesis]\nfaults = [\"packet\"]\n[nemesis.packet]\nloss = 0.2\n");
        assert!(ok.is_ok(), "{ok:?}");
    }
}
