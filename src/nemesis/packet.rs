//! Packet faults: a slow, lossy, duplicating, reordering or narrow network on chosen links,
//! instead of a cut one. Many bugs need messages that arrive late, twice or out of order
//! rather than not at all: a leader's lease that outlives a slow heartbeat, a replica that
//! serves reads while its log trails by a few hundred milliseconds, a retry that applies twice.
//!
//! Six faults of one kind `packet` (at most one in force; a new one replaces it), each started
//! with its own verb and all stopped by `stop-packet`:
//!
//! | fault | start verb | effect, from `[nemesis.packet]` |
//! |---|---|---|
//! | `delay` | `start-delay` | `delay_ms` ± `jitter_ms` (`distribution`) |
//! | `loss` | `start-loss` | `loss` probability, `loss_correlation` |
//! | `duplicate` | `start-duplicate` | `duplicate` probability |
//! | `reorder` | `start-reorder` | a `reorder` share held back `reorder_ms` longer |
//! | `bandwidth` | `start-bandwidth` | `rate_kbit` |
//! | `packet` | `start-packet` | every effect the table sets, combined |
//!
//! The links: every link with a `target` node at one end (default `all`), or the links a
//! partition along `topology` would cut; `direction` keeps one way only. Only packets between
//! nodes are touched unless `clients = true`. The event's `value` holds the links as sender →
//! receivers, the effects, and, at the stop, what each sending node counted (packets seen,
//! lost, most held at once, dropped past `max_held`, copies sent as duplicates):
//!
//! ```text
//! {"f":"start-delay","value":{"links":{"n1":["n2","n3"],...},"clients":false,
//!   "delay":{"mean_ms":50.0,"jitter_ms":10.0,"distribution":"uniform"},
//!   "summary":"delay 50±10 ms on 6 links"}}
//! {"f":"stop-packet","value":{...,"stats":{"n1":{"packets":812,"lost":0,"held_max":9,"overflow":0,"duplicated":0}}}}
//! ```
//!
//! The `local` backend shapes packets with its userspace shim ([`crate::cluster::packet`]);
//! `ssh` hosts with their kernel's netem qdisc where they have it (`cluster/ssh/netem.rs`:
//! their preflight says which lack it, and a test asking for packet faults then stops before
//! anything starts, naming them); `loopback` clusters refuse a test that asks for them.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::{cannot_run, Aim, Fault, FaultEvent, Kind, Nemesis};
use crate::cluster::packet::{Delay, Loss, PacketPlan, Reorder, Shape};
use crate::cluster::{Cluster, Result, Target, Topology};
use crate::spec::{Direction, PacketSpec};

const STOP: &str = "stop-packet";

pub const KIND: Kind = Kind {
    name: "packet",
    starts: &[
        "start-delay",
        "start-loss",
        "start-duplicate",
        "start-reorder",
        "start-bandwidth",
        "start-packet",
    ],
    stop: STOP,
    moves_clocks: false,
};

/// Which effects a fault takes from `[nemesis.packet]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    Delay,
    Loss,
    Duplicate,
    Reorder,
    Bandwidth,
    /// Every effect the table sets.
    Combined,
}

impl Effect {
    fn verb(self) -> &'static str {
        let i = match self {
            Effect::Delay => 0,
            Effect::Loss => 1,
            Effect::Duplicate => 2,
            Effect::Reorder => 3,
            Effect::Bandwidth => 4,
            Effect::Combined => 5,
        };
        KIND.starts[i]
    }

    /// The shape this fault asks of `p`: its own effect with defaults, or (combined) what `p`
    /// sets.
    fn shape(self, p: &PacketSpec) -> Shape {
        let all = self == Effect::Combined;
        let mut shape = Shape::default();
        if self == Effect::Delay || (all && p.delay_ms.is_some()) {
            shape.delay = Some(Delay {
                mean_ms: p.delay_ms.unwrap_or(50.0),
                jitter_ms: p.jitter_ms.unwrap_or(10.0),
                distribution: p.distribution.unwrap_or_default(),
            });
        }
        if self == Effect::Loss || (all && p.loss.is_some()) {
            shape.loss = Some(Loss {
                probability: p.loss.unwrap_or(0.1),
                correlation: p.loss_correlation.unwrap_or(0.0),
            });
        }
        if self == Effect::Duplicate || (all && p.duplicate.is_some()) {
            shape.duplicate = Some(p.duplicate.unwrap_or(0.05));
        }
        if self == Effect::Reorder || (all && p.reorder.is_some()) {
            shape.reorder = Some(Reorder {
                share: p.reorder.unwrap_or(0.25),
                hold_ms: p.reorder_ms.unwrap_or(20.0),
            });
        }
        if self == Effect::Bandwidth || (all && p.rate_kbit.is_some()) {
            shape.rate_kbit = Some(p.rate_kbit.unwrap_or(1000));
        }
        shape
    }
}

macro_rules! packet_fault {
    ($name:ident, $text:literal, $effect:expr) => {
        #[doc = concat!("`", $text, "`: see the module's table.")]
        pub const $name: Fault = Fault {
            name: $text,
            kind: &KIND,
            random: |spec| Box::new(PacketNemesis::new($effect, spec.packet.clone(), None)),
            scripted: |step, spec| {
                let links = match (&step.target, &step.topology) {
                    (Some(t), _) => Some(Links::Nodes(t.clone())),
                    (None, Some(t)) => Some(Links::Topology(t.clone())),
                    (None, None) => None,
                };
                Box::new(PacketNemesis::new($effect, spec.packet.clone(), links))
            },
        };
    };
}

packet_fault!(DELAY, "delay", Effect::Delay);
packet_fault!(LOSS, "loss", Effect::Loss);
packet_fault!(DUPLICATE, "duplicate", Effect::Duplicate);
packet_fault!(REORDER, "reorder", Effect::Reorder);
packet_fault!(BANDWIDTH, "bandwidth", Effect::Bandwidth);
packet_fault!(PACKET, "packet", Effect::Combined);

/// Whose links a fault shapes.
#[derive(Clone, Debug, PartialEq)]
enum Links {
    Nodes(Target),
    Topology(Topology),
}

/// Shapes packets on its links; undoes it on stop.
pub struct PacketNemesis {
    effect: Effect,
    spec: PacketSpec,
    links: Links,
    active: Option<Value>,
    /// The node that led when the schedule last aimed it.
    leader: Option<String>,
}

impl PacketNemesis {
    fn new(effect: Effect, spec: PacketSpec, links: Option<Links>) -> PacketNemesis {
        let links = links.unwrap_or_else(|| match (&spec.target, &spec.topology) {
            (None, Some(t)) => Links::Topology(t.clone()),
            (t, _) => Links::Nodes(t.clone().unwrap_or(Target::All)),
        });
        PacketNemesis {
            effect,
            spec,
            links,
            active: None,
            leader: None,
        }
    }
}

/// The directed links (sender → receivers) for `links` on `nodes`.
fn select(
    links: &Links,
    direction: Direction,
    nodes: &[String],
    leader: Option<&str>,
    rng: &mut dyn rand::RngCore,
) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // `from` sends to `to`; both ways unless one direction was asked.
    let mut add = |from: &str, to: &str| {
        out.entry(from.into()).or_default().insert(to.into());
        if direction == Direction::Both {
            out.entry(to.into()).or_default().insert(from.into());
        }
    };
    // x is on the targeted side, y on the other: `in` slows what x receives.
    let mut side = |x: &str, y: &str| match direction {
        Direction::In => add(y, x),
        _ => add(x, y),
    };
    match links {
        Links::Nodes(target) => {
            let chosen = target.select_aimed(nodes, leader, rng)?;
            for x in &chosen {
                for y in nodes.iter().filter(|y| *y != x) {
                    side(x, y);
                }
            }
        }
        Links::Topology(Topology::Explicit(components)) if direction != Direction::Both => {
            let first = &components[0];
            for x in first {
                for y in components[1..].iter().flatten() {
                    side(x, y);
                }
            }
        }
        Links::Topology(topology) => {
            let grudge = topology.grudge_aimed(nodes, leader, rng)?;
            for n in nodes {
                for p in grudge.dropped_by(n) {
                    side(p, n);
                }
            }
        }
    }
    Ok(out)
}

/// One line for the report's fault window: `delay 50±10 ms, loss 10 % on 6 links`.
fn summary(shape: &Shape, links: &BTreeMap<String, BTreeSet<String>>, clients: bool) -> String {
    let mut parts = Vec::new();
    if let Some(d) = &shape.delay {
        parts.push(format!("delay {}±{} ms", d.mean_ms, d.jitter_ms));
    }
    if let Some(l) = &shape.loss {
        parts.push(format!("loss {} %", l.probability * 100.0));
    }
    if let Some(p) = shape.duplicate {
        parts.push(format!("duplicate {} %", p * 100.0));
    }
    if let Some(r) = &shape.reorder {
        parts.push(format!("reorder {} % +{} ms", r.share * 100.0, r.hold_ms));
    }
    if let Some(k) = shape.rate_kbit {
        parts.push(format!("{k} kbit/s"));
    }
    let count: usize = links.values().map(BTreeSet::len).sum();
    let clients = if clients { " and the clients'" } else { "" };
    format!("{} on {count} links{clients}", parts.join(", "))
}

impl Nemesis for PacketNemesis {
    fn kind(&self) -> &'static Kind {
        &KIND
    }

    fn applicable(&self, cluster: &Cluster) -> bool {
        cluster.supports_packet_faults() && cluster.nodes().len() >= 2
    }

    fn check(&self, cluster: &Cluster) -> Result<()> {
        let shape = self.effect.shape(&self.spec);
        if let Some(refusal) = cluster.packet_fault_refusal(&shape, self.spec.clients) {
            return Err(cannot_run(&KIND, cluster, &format!("; {refusal}")));
        }
        if !self.applicable(cluster) {
            return Err(cannot_run(
                &KIND,
                cluster,
                "; packet faults need at least 2 nodes",
            ));
        }
        Ok(())
    }

    fn is_active(&self) -> bool {
        self.active.is_some()
    }

    fn aims_at_leader(&self) -> bool {
        match &self.links {
            Links::Nodes(t) => t.needs_leader(),
            Links::Topology(t) => t.needs_leader(),
        }
    }

    fn aim(&mut self, aim: &Aim) {
        self.leader = aim.leader.clone();
    }

    fn start(&mut self, cluster: &Cluster, rng: &mut dyn rand::RngCore) -> Result<FaultEvent> {
        let nodes = cluster.node_names();
        let leader = self.leader.as_deref();
        let links = select(&self.links, self.spec.direction, &nodes, leader, rng)?;
        let shape = self.effect.shape(&self.spec);
        let plan = PacketPlan {
            shape: shape.clone(),
            links,
            clients: self.spec.clients,
            max_held: self.spec.max_held,
            seed: rng.next_u64(),
        };
        let mut value = serde_json::to_value(&shape).expect("a shape is plain data");
        value["links"] = json!(plan.links);
        value["clients"] = json!(plan.clients);
        value["summary"] = json!(summary(&shape, &plan.links, plan.clients));
        // Active before it is applied: a half-applied fault is still stopped.
        self.active = Some(value.clone());
        cluster.shape(&plan)?;
        Ok(FaultEvent {
            f: self.effect.verb(),
            value,
            note: None,
        })
    }

    fn stop(&mut self, cluster: &Cluster) -> Result<Option<FaultEvent>> {
        let Some(mut value) = self.active.take() else {
            return Ok(None);
        };
        let stats = match cluster.unshape() {
            Ok(stats) => stats,
            Err(e) => {
                self.active = Some(value);
                return Err(e);
            }
        };
        let overflow: u64 = stats.values().map(|s| s.overflow).sum();
        value["stats"] = json!(stats);
        let note = (overflow > 0).then(|| {
            format!(
                "{overflow} packets dropped past the cap of {} held per node",
                self.spec.max_held
            )
        });
        Ok(Some(FaultEvent {
            f: STOP,
            value,
            note,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn nodes(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    fn links(l: Links, d: Direction) -> Vec<(String, String)> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let map = select(&l, d, &nodes(5), None, &mut rng).unwrap();
        map.into_iter()
            .flat_map(|(a, bs)| bs.into_iter().map(move |b| (a.clone(), b)))
            .collect()
    }

    #[test]
    fn all_links_means_every_ordered_pair_of_nodes() {
        assert_eq!(links(Links::Nodes(Target::All), Direction::Both).len(), 20);
    }

    #[test]
    fn a_target_node_is_slowed_both_ways_or_only_the_way_asked() {
        let one: Target = "n2".parse().unwrap();
        let both = links(Links::Nodes(one.clone()), Direction::Both);
        assert_eq!(both.len(), 8);
        let out = links(Links::Nodes(one.clone()), Direction::Out);
        assert!(
            out.len() == 4 && out.iter().all(|(a, _)| a == "n2"),
            "{out:?}"
        );
        let inbound = links(Links::Nodes(one), Direction::In);
        assert!(inbound.len() == 4 && inbound.iter().all(|(_, b)| b == "n2"));
    }

    #[test]
    fn a_topology_slows_exactly_the_links_its_partition_would_cut() {
        let halves: Topology = "n1,n2|n3,n4,n5".parse().unwrap();
        let both = links(Links::Topology(halves.clone()), Direction::Both);
        assert_eq!(both.len(), 12);
        assert!(!both.contains(&("n1".into(), "n2".into())));
        let out = links(Links::Topology(halves), Direction::Out);
        assert_eq!(out.len(), 6);
        assert!(out.iter().all(|(a, _)| a == "n1" || a == "n2"));
    }

    #[test]
    fn a_named_fault_uses_its_own_effect_and_the_combined_one_what_is_set() {
        let spec = PacketSpec {
            delay_ms: Some(200.0),
            loss: Some(0.3),
            ..PacketSpec::default()
        };
        let delay = Effect::Delay.shape(&spec);
        assert_eq!(delay.delay.as_ref().unwrap().mean_ms, 200.0);
        assert!(delay.loss.is_none());
        let both = Effect::Combined.shape(&spec);
        assert!(both.delay.is_some() && both.loss.is_some() && both.duplicate.is_none());
        let bw = Effect::Bandwidth.shape(&PacketSpec::default());
        assert_eq!(bw.rate_kbit, Some(1000));
    }

    #[test]
    fn the_summary_names_each_effect_and_the_link_count() {
        let spec = PacketSpec {
            delay_ms: Some(50.0),
            loss: Some(0.1),
            ..PacketSpec::default()
        };
        let l = links(Links::Nodes(Target::All), Direction::Both);
        let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in l {
            map.entry(a).or_default().insert(b);
        }
        let s = summary(&Effect::Combined.shape(&spec), &map, false);
        assert_eq!(s, "delay 50±10 ms, loss 10 % on 20 links");
    }
}
