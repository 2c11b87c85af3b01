//! Grudges, topologies and targets: who a partition cuts off, and which nodes a process fault
//! hits.
//!
//! A **grudge** maps each node to the set of nodes whose packets it drops (inbound). A
//! symmetric grudge cuts links both ways; an asymmetric one (as `majorities-ring` on an even
//! or small cluster) lets a node hear a peer that does not hear it. A grudge is written to the
//! history as it is: `{"n1":["n3","n4","n5"],"n2":["n3","n4","n5"],...}`.
//!
//! Named **topologies**, for nodes `n1..n5`:
//!
//! ```text
//! halves           n1 n2 | n3 n4 n5            (in the cluster's order; smaller half first)
//! random-halves    the same after a seeded shuffle
//! isolate-one      n4 | n1 n2 n3 n5            (a node drawn by the seeded rng)
//! majorities-ring  ring n3-n1-n5-n2-n4 (shuffled); each node hears itself and its ring
//!                  neighbours, a majority, and no two nodes hear the same majority
//! bridge           n1 n2 | n3 | n4 n5: n3 hears everyone, the halves do not hear each other
//! isolate-leader   n2 | n1 n3 n4 n5            (n2 led when the fault began)
//! leader-minority  n2 n5 | n1 n3 n4            (the leader and minority − 1 random others)
//! n1,n2|n3,n4,n5   explicit components; a node not named stays connected to every node
//! ```
//!
//! **Targets** of kill, pause, clock and packet faults: `one` (a random node), `minority`
//! (n − majority random nodes: 2 of 5, 1 of 3), `majority` (⌊n/2⌋+1 random nodes), `all`,
//! `leader`, `followers` (every node but the leader), `leader-and-one` (the leader and one
//! random follower), or a comma-separated list of node names. Every random choice takes the
//! caller's seeded rng, so a seed replays the same faults.
//!
//! The leader topologies and targets aim at the node that leads when the fault begins: the
//! schedule asks the store (`[db.leader]`) just before the start and hands the answer to
//! [`Topology::grudge_aimed`] and [`Target::select_aimed`]; without a leader they fail.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{Error, Result};

/// Node → the nodes whose packets it drops. Nodes with an empty set are left out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Grudge(BTreeMap<String, BTreeSet<String>>);

impl Grudge {
    /// The empty grudge: nobody drops anything.
    pub fn none() -> Grudge {
        Grudge::default()
    }

    /// A complete partition into `components`: each node drops every node of every other
    /// component. Nodes in no component are untouched.
    pub fn from_components(components: &[Vec<String>]) -> Grudge {
        let mut grudge = Grudge::none();
        for (i, component) in components.iter().enumerate() {
            for (j, other) in components.iter().enumerate() {
                if i == j {
                    continue;
                }
                for node in component {
                    for peer in other {
                        grudge.add(node, peer);
                    }
                }
            }
        }
        grudge
    }

    /// Makes `node` drop packets from `peer`.
    pub fn add(&mut self, node: &str, peer: &str) {
        if node != peer {
            self.0
                .entry(node.to_string())
                .or_default()
                .insert(peer.to_string());
        }
    }

    /// The nodes `node` drops.
    pub fn dropped_by(&self, node: &str) -> impl Iterator<Item = &str> {
        self.0.get(node).into_iter().flatten().map(String::as_str)
    }

    /// Whether `node` drops packets from `peer`.
    pub fn drops(&self, node: &str, peer: &str) -> bool {
        self.0.get(node).is_some_and(|s| s.contains(peer))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The grudge as the history's `value`: `{"n1":["n3","n4"],...}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a grudge is a map of strings")
    }

    /// Fails naming the first node the grudge mentions that is not in `nodes`.
    pub fn check_nodes(&self, nodes: &[String]) -> Result<()> {
        for (node, peers) in &self.0 {
            for name in std::iter::once(node).chain(peers) {
                if !nodes.contains(name) {
                    return Err(Error::Invalid(format!(
                        "the partition names node {name:?}, which is not in the cluster (nodes: {})",
                        nodes.join(", ")
                    )));
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for Grudge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(n, peers)| {
                format!(
                    "{n} drops {}",
                    peers.iter().cloned().collect::<Vec<_>>().join(",")
                )
            })
            .collect();
        if parts.is_empty() {
            f.write_str("no partition")
        } else {
            f.write_str(&parts.join("; "))
        }
    }
}

/// A way to cut a cluster, turned into a concrete [`Grudge`] by [`Topology::grudge`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Topology {
    Halves,
    RandomHalves,
    IsolateOne,
    MajoritiesRing,
    Bridge,
    /// The leader alone, the rest together.
    IsolateLeader,
    /// The leader with a minority (minority − 1 random followers), the rest together.
    LeaderMinority,
    /// Components as written: `n1,n2|n3,n4,n5`.
    Explicit(Vec<Vec<String>>),
}

impl Topology {
    /// The names `FromStr` accepts besides explicit components.
    pub const NAMES: [&'static str; 7] = [
        "halves",
        "random-halves",
        "isolate-one",
        "majorities-ring",
        "bridge",
        "isolate-leader",
        "leader-minority",
    ];

    /// Whether the topology is drawn around the node that leads.
    pub fn needs_leader(&self) -> bool {
        matches!(self, Topology::IsolateLeader | Topology::LeaderMinority)
    }

    /// The grudge this topology means for `nodes` (in cluster order), drawing any random
    /// choice from `rng`. Fails for an explicit topology naming unknown nodes, or when the
    /// cluster is too small to cut (fewer than 2 nodes; `bridge` needs 3), and for a leader
    /// topology ([`Topology::grudge_aimed`] is the one that knows the leader).
    pub fn grudge<R: Rng + ?Sized>(&self, nodes: &[String], rng: &mut R) -> Result<Grudge> {
        self.grudge_aimed(nodes, None, rng)
    }

    /// [`Topology::grudge`] with the node that leads now, for `isolate-leader` and
    /// `leader-minority`.
    pub fn grudge_aimed<R: Rng + ?Sized>(
        &self,
        nodes: &[String],
        leader: Option<&str>,
        rng: &mut R,
    ) -> Result<Grudge> {
        let n = nodes.len();
        let min = if *self == Topology::Bridge { 3 } else { 2 };
        if n < min && !matches!(self, Topology::Explicit(_)) {
            return Err(Error::Invalid(format!(
                "the {self} partition needs at least {min} nodes, the cluster has {n}"
            )));
        }
        Ok(match self {
            Topology::Halves => halves(nodes),
            Topology::RandomHalves => halves(&shuffled(nodes, rng)),
            Topology::IsolateOne => {
                let lone = rng.gen_range(0..n);
                let rest: Vec<String> = nodes
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != lone)
                    .map(|(_, s)| s.clone())
                    .collect();
                Grudge::from_components(&[vec![nodes[lone].clone()], rest])
            }
            Topology::MajoritiesRing => majorities_ring(&shuffled(nodes, rng)),
            Topology::Bridge => bridge(nodes),
            Topology::IsolateLeader | Topology::LeaderMinority => {
                let leader = known_leader(self, nodes, leader)?;
                let size = if *self == Topology::IsolateLeader {
                    1
                } else {
                    (n - (n / 2 + 1)).max(1)
                };
                let side = with_leader(nodes, leader, size - 1, rng);
                let rest: Vec<String> = nodes
                    .iter()
                    .filter(|x| !side.contains(x))
                    .cloned()
                    .collect();
                Grudge::from_components(&[side, rest])
            }
            Topology::Explicit(components) => {
                let grudge = Grudge::from_components(components);
                let named: Vec<&String> = components.iter().flatten().collect();
                if let Some(unknown) = named.iter().find(|s| !nodes.contains(s)) {
                    return Err(Error::Invalid(format!(
                        "partition {self} names node {unknown:?}, which is not in the cluster \
                         (nodes: {})",
                        nodes.join(", ")
                    )));
                }
                grudge
            }
        })
    }
}

/// The leader a leader topology or target was given, checked to be one of `nodes`.
fn known_leader<'a>(
    what: &dyn fmt::Display,
    nodes: &[String],
    leader: Option<&'a str>,
) -> Result<&'a str> {
    let leader = leader.ok_or_else(|| {
        Error::Invalid(format!(
            "{what} aims at the leader, and no node was known to lead (a store needs \
             [db.leader] for it)"
        ))
    })?;
    if !nodes.iter().any(|x| x == leader) {
        return Err(Error::Invalid(format!(
            "{what}: the leader {leader:?} is not among the nodes ({})",
            nodes.join(", ")
        )));
    }
    Ok(leader)
}

/// `leader` and `others` random other nodes, in cluster order.
fn with_leader<R: Rng + ?Sized>(
    nodes: &[String],
    leader: &str,
    others: usize,
    rng: &mut R,
) -> Vec<String> {
    let followers: Vec<&String> = nodes.iter().filter(|x| *x != leader).collect();
    let chosen: BTreeSet<&String> = followers.choose_multiple(rng, others).copied().collect();
    nodes
        .iter()
        .filter(|x| *x == leader || chosen.contains(x))
        .cloned()
        .collect()
}

fn shuffled<R: Rng + ?Sized>(nodes: &[String], rng: &mut R) -> Vec<String> {
    let mut v = nodes.to_vec();
    v.shuffle(rng);
    v
}

fn halves(nodes: &[String]) -> Grudge {
    let (a, b) = nodes.split_at(nodes.len() / 2);
    Grudge::from_components(&[a.to_vec(), b.to_vec()])
}

/// Two halves and a middle node that both halves hear and that hears both.
fn bridge(nodes: &[String]) -> Grudge {
    let half = nodes.len() / 2;
    let (a, rest) = nodes.split_at(half);
    let b = &rest[1..];
    let mut grudge = Grudge::none();
    for x in a {
        for y in b {
            grudge.add(x, y);
            grudge.add(y, x);
        }
    }
    grudge
}

/// Each node hears a window of `majority` consecutive ring members around itself (one more
/// on the right when the window cannot be centred), so every node sees a majority and no two
/// nodes see the same one.
fn majorities_ring(ring: &[String]) -> Grudge {
    let n = ring.len();
    let majority = n / 2 + 1;
    let left = (majority - 1) / 2;
    let right = majority - 1 - left;
    let mut grudge = Grudge::none();
    for (i, node) in ring.iter().enumerate() {
        let visible: BTreeSet<usize> = (0..=left)
            .map(|d| (i + n - d) % n)
            .chain((0..=right).map(|d| (i + d) % n))
            .collect();
        for (j, peer) in ring.iter().enumerate() {
            if !visible.contains(&j) {
                grudge.add(node, peer);
            }
        }
    }
    grudge
}

impl FromStr for Topology {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        Ok(match s {
            "halves" => Topology::Halves,
            "random-halves" => Topology::RandomHalves,
            "isolate-one" => Topology::IsolateOne,
            "majorities-ring" => Topology::MajoritiesRing,
            "bridge" => Topology::Bridge,
            "isolate-leader" => Topology::IsolateLeader,
            "leader-minority" => Topology::LeaderMinority,
            _ if s.contains('|') => Topology::Explicit(parse_components(s)?),
            _ => {
                return Err(Error::Invalid(format!(
                    "unknown partition {s:?}; expected one of {} or components such as \
                     \"n1,n2|n3,n4,n5\"",
                    Topology::NAMES.join(", ")
                )))
            }
        })
    }
}

fn parse_components(s: &str) -> Result<Vec<Vec<String>>> {
    let mut seen = BTreeSet::new();
    let mut components = Vec::new();
    for part in s.split('|') {
        let names: Vec<String> = part
            .split(',')
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect();
        if names.is_empty() {
            return Err(Error::Invalid(format!(
                "partition {s:?} has an empty component"
            )));
        }
        for name in &names {
            if !seen.insert(name.clone()) {
                return Err(Error::Invalid(format!(
                    "partition {s:?} names node {name:?} twice"
                )));
            }
        }
        components.push(names);
    }
    Ok(components)
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topology::Halves => f.write_str("halves"),
            Topology::RandomHalves => f.write_str("random-halves"),
            Topology::IsolateOne => f.write_str("isolate-one"),
            Topology::MajoritiesRing => f.write_str("majorities-ring"),
            Topology::Bridge => f.write_str("bridge"),
            Topology::IsolateLeader => f.write_str("isolate-leader"),
            Topology::LeaderMinority => f.write_str("leader-minority"),
            Topology::Explicit(c) => {
                let parts: Vec<String> = c.iter().map(|p| p.join(",")).collect();
                f.write_str(&parts.join("|"))
            }
        }
    }
}

/// Which nodes a kill, pause, clock or packet fault hits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    One,
    Minority,
    Majority,
    All,
    /// The node that leads when the fault begins.
    Leader,
    /// Every node but the leader.
    Followers,
    /// The leader and one random follower.
    LeaderAndOne,
    Nodes(Vec<String>),
}

impl Target {
    /// Whether the target is drawn around the node that leads.
    pub fn needs_leader(&self) -> bool {
        matches!(
            self,
            Target::Leader | Target::Followers | Target::LeaderAndOne
        )
    }

    /// The nodes hit, in cluster order, drawing random ones from `rng`. May be empty (the
    /// minority of a 1-node cluster); names not in `nodes` are an error, and so is a leader
    /// target ([`Target::select_aimed`] is the one that knows the leader).
    pub fn select<R: Rng + ?Sized>(&self, nodes: &[String], rng: &mut R) -> Result<Vec<String>> {
        self.select_aimed(nodes, None, rng)
    }

    /// [`Target::select`] with the node that leads now, for `leader`, `followers` and
    /// `leader-and-one`.
    pub fn select_aimed<R: Rng + ?Sized>(
        &self,
        nodes: &[String],
        leader: Option<&str>,
        rng: &mut R,
    ) -> Result<Vec<String>> {
        let n = nodes.len();
        let majority = n / 2 + 1;
        let count = match self {
            Target::One => n.min(1),
            Target::Minority => n - majority.min(n),
            Target::Majority => majority.min(n),
            Target::All => n,
            Target::Leader => return Ok(vec![known_leader(self, nodes, leader)?.to_string()]),
            Target::LeaderAndOne => {
                return Ok(with_leader(
                    nodes,
                    known_leader(self, nodes, leader)?,
                    1,
                    rng,
                ))
            }
            Target::Followers => {
                let leader = known_leader(self, nodes, leader)?;
                return Ok(nodes.iter().filter(|x| *x != leader).cloned().collect());
            }
            Target::Nodes(names) => {
                if let Some(unknown) = names.iter().find(|s| !nodes.contains(s)) {
                    return Err(Error::Invalid(format!(
                        "target names node {unknown:?}, which is not in the cluster (nodes: {})",
                        nodes.join(", ")
                    )));
                }
                return Ok(nodes
                    .iter()
                    .filter(|s| names.contains(s))
                    .cloned()
                    .collect());
            }
        };
        let chosen: BTreeSet<&String> = nodes.choose_multiple(rng, count).collect();
        Ok(nodes
            .iter()
            .filter(|s| chosen.contains(s))
            .cloned()
            .collect())
    }
}

impl FromStr for Target {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        Ok(match s {
            "one" => Target::One,
            "minority" => Target::Minority,
            "majority" => Target::Majority,
            "all" => Target::All,
            "leader" => Target::Leader,
            "followers" => Target::Followers,
            "leader-and-one" => Target::LeaderAndOne,
            "" => {
                return Err(Error::Invalid(
                    "empty fault target; expected one, minority, majority, all, leader, \
                     followers, leader-and-one or node names"
                        .into(),
                ))
            }
            _ => Target::Nodes(s.split(',').map(|n| n.trim().to_string()).collect()),
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::One => f.write_str("one"),
            Target::Minority => f.write_str("minority"),
            Target::Majority => f.write_str("majority"),
            Target::All => f.write_str("all"),
            Target::Leader => f.write_str("leader"),
            Target::Followers => f.write_str("followers"),
            Target::LeaderAndOne => f.write_str("leader-and-one"),
            Target::Nodes(names) => f.write_str(&names.join(",")),
        }
    }
}

/// Serde through the text form a spec writes (`"minority"`, `"n1,n2|n3"`): a spec holds
/// these typed, and an unparseable one is a located spec error.
macro_rules! serde_as_text {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(
                d: D,
            ) -> std::result::Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
serde_as_text!(Topology);
serde_as_text!(Target);

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn nodes(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    fn rng(seed: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(seed)
    }

    /// The nodes `node` still hears, itself included.
    fn hears(grudge: &Grudge, node: &str, all: &[String]) -> BTreeSet<String> {
        all.iter()
            .filter(|p| !grudge.drops(node, p))
            .cloned()
            .collect()
    }

    #[test]
    fn halves_puts_the_smaller_half_first_and_cuts_both_ways() {
        let g = Topology::Halves.grudge(&nodes(5), &mut rng(0)).unwrap();
        assert_eq!(
            g.to_json(),
            serde_json::json!({
                "n1": ["n3", "n4", "n5"], "n2": ["n3", "n4", "n5"],
                "n3": ["n1", "n2"], "n4": ["n1", "n2"], "n5": ["n1", "n2"],
            })
        );
    }

    #[test]
    fn random_halves_depend_on_the_seed_only() {
        let all = nodes(5);
        let a = Topology::RandomHalves.grudge(&all, &mut rng(3)).unwrap();
        assert_eq!(a, Topology::RandomHalves.grudge(&all, &mut rng(3)).unwrap());
        let distinct: BTreeSet<String> = (0..20)
            .map(|s| {
                Topology::RandomHalves
                    .grudge(&all, &mut rng(s))
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert!(distinct.len() > 1, "different seeds cut differently");
        for seed in 0..20 {
            let g = Topology::RandomHalves.grudge(&all, &mut rng(seed)).unwrap();
            let sides: BTreeSet<usize> = all.iter().map(|n| hears(&g, n, &all).len()).collect();
            assert_eq!(sides, BTreeSet::from([2, 3]));
        }
    }

    #[test]
    fn isolate_one_cuts_a_single_node_from_all_others() {
        let all = nodes(5);
        let g = Topology::IsolateOne.grudge(&all, &mut rng(9)).unwrap();
        let lone: Vec<&String> = all
            .iter()
            .filter(|n| hears(&g, n, &all).len() == 1)
            .collect();
        assert_eq!(lone.len(), 1);
        for n in &all {
            if n != lone[0] {
                assert_eq!(hears(&g, n, &all).len(), 4);
            }
        }
    }

    #[test]
    fn in_a_majorities_ring_every_node_hears_a_different_majority() {
        for n in 3..=9 {
            let all = nodes(n);
            let g = Topology::MajoritiesRing
                .grudge(&all, &mut rng(n as u64))
                .unwrap();
            let views: Vec<BTreeSet<String>> = all.iter().map(|x| hears(&g, x, &all)).collect();
            for view in &views {
                assert!(
                    view.len() > n / 2,
                    "{n} nodes: a view {view:?} is no majority"
                );
            }
            let distinct: BTreeSet<&BTreeSet<String>> = views.iter().collect();
            assert_eq!(distinct.len(), n, "{n} nodes: two nodes share a view");
        }
    }

    #[test]
    fn a_majorities_ring_of_five_is_symmetric() {
        let all = nodes(5);
        let g = Topology::MajoritiesRing.grudge(&all, &mut rng(1)).unwrap();
        for a in &all {
            for b in &all {
                assert_eq!(g.drops(a, b), g.drops(b, a), "{a} and {b}");
            }
        }
    }

    #[test]
    fn a_bridge_node_hears_both_halves_that_do_not_hear_each_other() {
        let all = nodes(5);
        let g = Topology::Bridge.grudge(&all, &mut rng(0)).unwrap();
        assert_eq!(hears(&g, "n3", &all).len(), 5);
        assert!(g.drops("n1", "n4") && g.drops("n5", "n2"));
        assert!(!g.drops("n1", "n3") && !g.drops("n3", "n1") && !g.drops("n4", "n3"));
        assert!(Topology::Bridge.grudge(&nodes(2), &mut rng(0)).is_err());
    }

    #[test]
    fn explicit_components_parse_and_leave_unnamed_nodes_connected() {
        let t: Topology = "n1,n2 | n3,n4".parse().unwrap();
        assert_eq!(t.to_string(), "n1,n2|n3,n4");
        let all = nodes(5);
        let g = t.grudge(&all, &mut rng(0)).unwrap();
        assert!(g.drops("n1", "n3") && g.drops("n4", "n2"));
        assert!(!g.drops("n1", "n2"));
        assert_eq!(hears(&g, "n5", &all).len(), 5);
        assert!(!all.iter().any(|n| g.drops(n, "n5")));
    }

    #[test]
    fn bad_partitions_are_rejected_with_the_culprit_named() {
        let err = |s: &str| s.parse::<Topology>().unwrap_err().to_string();
        assert!(err("halfs").contains("unknown partition \"halfs\""));
        assert!(err("n1,n2|n2").contains("names node \"n2\" twice"));
        assert!(err("n1||n2").contains("empty component"));
        let t: Topology = "n1|n9".parse().unwrap();
        let e = t.grudge(&nodes(3), &mut rng(0)).unwrap_err().to_string();
        assert!(e.contains("\"n9\"") && e.contains("n1, n2, n3"), "{e}");
    }

    #[test]
    fn targets_pick_the_sizes_their_names_promise() {
        let all = nodes(5);
        let size = |t: Target| t.select(&all, &mut rng(4)).unwrap().len();
        assert_eq!(size(Target::One), 1);
        assert_eq!(size(Target::Minority), 2);
        assert_eq!(size(Target::Majority), 3);
        assert_eq!(size(Target::All), 5);
        let named: Target = "n4,n2".parse().unwrap();
        assert_eq!(named.select(&all, &mut rng(0)).unwrap(), vec!["n2", "n4"]);
        assert!("n7"
            .parse::<Target>()
            .unwrap()
            .select(&all, &mut rng(0))
            .is_err());
        assert!(Target::Minority
            .select(&nodes(1), &mut rng(0))
            .unwrap()
            .is_empty());
        assert_eq!("majority".parse::<Target>().unwrap(), Target::Majority);
    }

    #[test]
    fn leader_targets_and_topologies_aim_at_the_leader_they_are_given() {
        let all = nodes(5);
        let aimed = |t: Target, seed| t.select_aimed(&all, Some("n3"), &mut rng(seed)).unwrap();
        assert_eq!(aimed(Target::Leader, 0), ["n3"]);
        assert_eq!(aimed(Target::Followers, 0), ["n1", "n2", "n4", "n5"]);
        for seed in 0..10 {
            let two = aimed(Target::LeaderAndOne, seed);
            assert!(two.len() == 2 && two.contains(&"n3".to_string()), "{two:?}");
        }
        let g = Topology::IsolateLeader
            .grudge_aimed(&all, Some("n3"), &mut rng(1))
            .unwrap();
        assert_eq!(hears(&g, "n3", &all), BTreeSet::from(["n3".to_string()]));
        assert_eq!(hears(&g, "n1", &all).len(), 4);
        for seed in 0..10 {
            let g = Topology::LeaderMinority
                .grudge_aimed(&all, Some("n3"), &mut rng(seed))
                .unwrap();
            assert_eq!(
                hears(&g, "n3", &all).len(),
                2,
                "the leader and one follower"
            );
            let minority = hears(&g, "n3", &all);
            let rest: Vec<&String> = all.iter().filter(|x| !minority.contains(*x)).collect();
            assert!(rest.iter().all(|x| hears(&g, x, &all).len() == 3));
        }
    }

    #[test]
    fn a_leader_target_without_a_leader_is_an_error_naming_it() {
        let all = nodes(3);
        let e = Target::Leader.select(&all, &mut rng(0)).unwrap_err();
        assert!(e.to_string().contains("leader") && e.to_string().contains("[db.leader]"));
        assert!(Topology::IsolateLeader.grudge(&all, &mut rng(0)).is_err());
        let stranger = Target::Followers.select_aimed(&all, Some("n9"), &mut rng(0));
        assert!(stranger.unwrap_err().to_string().contains("\"n9\""));
        for name in ["leader", "followers", "leader-and-one"] {
            let t: Target = name.parse().unwrap();
            assert!(t.needs_leader() && t.to_string() == name);
        }
        for name in ["isolate-leader", "leader-minority"] {
            let t: Topology = name.parse().unwrap();
            assert!(t.needs_leader() && t.to_string() == name);
        }
    }
}
