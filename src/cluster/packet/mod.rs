//! Packet faults: a bad network rather than a cut one — packets delayed, lost, duplicated,
//! reordered or squeezed through a narrow link, on chosen links between nodes.
//!
//! A [`PacketPlan`] says what to do ([`Shape`]: any mix of delay, loss, duplication,
//! reordering and a rate limit) and to which directed links (sender → receivers, plus
//! optionally the links between each node and the controller's clients). Only the packets of
//! those links are touched; every other packet of the node, and every packet of the machine,
//! passes as before.
//!
//! On the `local` backend ([`local`]) each sending node's namespace gets:
//!
//! ```text
//!  node n1's namespace                                              wire (veth eth0)
//!  ───────────────────────────────────────────────────────────────────────────────────►
//!  mangle OUTPUT → FAULTLINE-PKT-DUP: -d n2 statistic p → TEE (a copy to n2)   duplicate
//!  filter OUTPUT → FAULTLINE-PKT-OUT: -d n2 → NFQUEUE 0 --queue-bypass        delay, loss,
//!                      │                                                       reorder
//!                      └─► shim thread (setns into the namespace, netlink queue 0):
//!                          holds each packet until its release time (a heap, at most
//!                          `max_held`), drops the lost ones, lets the rest go
//!  eth0 root qdisc htb: u32 dst n2 → class 1:1 rate R                          bandwidth
//! ```
//!
//! The shim ([`shim::Shim`]) is a thread of the controller, not a process: it dies with the
//! controller, and `--queue-bypass` makes the kernel pass a queued link's packets untouched
//! when nobody listens, so a controller killed with SIGKILL leaves links that pass packets
//! untouched (a duplicate rule or a rate limit stays until `faultline clean` removes the
//! namespaces, and every rule and qdisc with them). The kernel keeps every
//! packet waiting for a verdict; the shim caps how many it holds and drops (and counts) the
//! packets past the cap, so a fault's memory stays bounded (see [`shim`]).
//!
//! Randomness: every choice (a packet's delay, whether it is lost, held back) comes from a
//! ChaCha8 stream seeded by the nemesis's seeded rng, so the draws repeat with the seed; which
//! packet meets which draw depends on the store's traffic, as it must.

pub(crate) mod local;
pub mod shim;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How a packet's delay is drawn around its mean.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    /// Uniform in mean ± jitter.
    #[default]
    Uniform,
    /// Normal with the jitter as standard deviation, cut at zero.
    Normal,
}

/// Added one-way delay.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Delay {
    pub mean_ms: f64,
    pub jitter_ms: f64,
    pub distribution: Distribution,
}

/// Packet loss: each packet is lost with `probability`; with `correlation` c, a packet
/// repeats the previous packet's fate with probability c (bursts of losses) and draws afresh
/// otherwise, which keeps the long-run loss share at `probability`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Loss {
    pub probability: f64,
    pub correlation: f64,
}

/// Reordering: a `share` of packets is held back `hold_ms` longer than the others, so later
/// packets overtake them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reorder {
    pub share: f64,
    pub hold_ms: f64,
}

/// What a packet fault does to each packet of its links. Several effects combine.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Shape {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<Delay>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<Loss>,
    /// The probability that a packet is sent twice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reorder: Option<Reorder>,
    /// A rate limit on each sending node's packets to its targets, kilobits per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_kbit: Option<u64>,
}

impl Shape {
    /// Whether packets must pass the userspace queue (delay, loss, reordering).
    pub fn needs_queue(&self) -> bool {
        self.delay.is_some() || self.loss.is_some() || self.reorder.is_some()
    }

    pub fn is_empty(&self) -> bool {
        !self.needs_queue() && self.duplicate.is_none() && self.rate_kbit.is_none()
    }
}

/// A packet fault to put in force: the shape, and the directed links it applies to.
#[derive(Clone, Debug, PartialEq)]
pub struct PacketPlan {
    pub shape: Shape,
    /// Sender → the nodes whose packets from it are shaped.
    pub links: BTreeMap<String, BTreeSet<String>>,
    /// Also the links between every node of `links` (either end) and the clients.
    pub clients: bool,
    /// The most packets one node's shim holds at once; past it a packet is dropped and
    /// counted.
    pub max_held: usize,
    /// Seeds every node's draws (each node mixes in its index).
    pub seed: u64,
}

impl PacketPlan {
    /// Every node that sends on a shaped link (the clients' links count for both ends).
    pub fn senders(&self) -> BTreeSet<String> {
        let mut nodes: BTreeSet<String> = self.links.keys().cloned().collect();
        if self.clients {
            nodes.extend(self.links.values().flatten().cloned());
        }
        nodes
    }
}

/// What one node's shim saw while a fault was in force.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ShimStats {
    /// Packets the shim received from the kernel.
    pub packets: u64,
    /// Packets dropped as lost.
    pub lost: u64,
    /// The most packets held at once.
    pub held_max: u64,
    /// Packets dropped because `max_held` were already held.
    pub overflow: u64,
    /// Copies sent by the duplicate rules (their iptables counters).
    pub duplicated: u64,
}

/// What happens to one packet.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fate {
    Drop,
    /// Released after this long (zero: at once).
    Release(Duration),
}

/// Draws each packet's fate from a [`Shape`]: a pure function of the seed and the order of
/// packets, so that it can be tested without a network.
pub struct Fates {
    shape: Shape,
    rng: ChaCha8Rng,
    last_lost: bool,
}

impl Fates {
    pub fn new(shape: Shape, seed: u64) -> Fates {
        use rand::SeedableRng;
        Fates {
            shape,
            rng: ChaCha8Rng::seed_from_u64(seed),
            last_lost: false,
        }
    }

    /// The next packet's fate.
    pub fn draw(&mut self) -> Fate {
        if let Some(loss) = &self.shape.loss {
            let lost = if loss.correlation > 0.0 && self.rng.gen::<f64>() < loss.correlation {
                self.last_lost
            } else {
                self.rng.gen::<f64>() < loss.probability
            };
            self.last_lost = lost;
            if lost {
                return Fate::Drop;
            }
        }
        let mut ms = match self.shape.delay.clone() {
            Some(d) => self.delay_ms(&d),
            None => 0.0,
        };
        if let Some((share, hold_ms)) = self.shape.reorder.as_ref().map(|r| (r.share, r.hold_ms)) {
            if self.rng.gen::<f64>() < share {
                ms += hold_ms;
            }
        }
        Fate::Release(Duration::from_secs_f64(ms.max(0.0) / 1000.0))
    }

    fn delay_ms(&mut self, d: &Delay) -> f64 {
        if d.jitter_ms <= 0.0 {
            return d.mean_ms;
        }
        match d.distribution {
            Distribution::Uniform => d.mean_ms + d.jitter_ms * (2.0 * self.rng.gen::<f64>() - 1.0),
            Distribution::Normal => {
                // Box–Muller: one standard normal from two uniforms.
                let u1: f64 = 1.0 - self.rng.gen::<f64>();
                let u2: f64 = self.rng.gen();
                let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                d.mean_ms + d.jitter_ms * z
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draws(shape: Shape, n: usize) -> Vec<Fate> {
        let mut fates = Fates::new(shape, 7);
        (0..n).map(|_| fates.draw()).collect()
    }

    fn lost_share(fates: &[Fate]) -> f64 {
        fates.iter().filter(|f| **f == Fate::Drop).count() as f64 / fates.len() as f64
    }

    #[test]
    fn loss_drops_about_the_asked_share_with_or_without_correlation() {
        for correlation in [0.0, 0.5, 0.9] {
            let shape = Shape {
                loss: Some(Loss {
                    probability: 0.1,
                    correlation,
                }),
                ..Shape::default()
            };
            let share = lost_share(&draws(shape, 100_000));
            assert!((share - 0.1).abs() < 0.01, "{correlation}: {share}");
        }
    }

    #[test]
    fn correlated_loss_comes_in_longer_bursts() {
        let bursts = |correlation| {
            let shape = Shape {
                loss: Some(Loss {
                    probability: 0.2,
                    correlation,
                }),
                ..Shape::default()
            };
            let f = draws(shape, 50_000);
            let runs = f
                .windows(2)
                .filter(|w| w[0] == Fate::Drop && w[1] != Fate::Drop)
                .count();
            f.iter().filter(|x| **x == Fate::Drop).count() as f64 / runs as f64
        };
        assert!(bursts(0.8) > 2.0 * bursts(0.0));
    }

    #[test]
    fn delays_centre_on_the_mean_within_the_jitter() {
        for distribution in [Distribution::Uniform, Distribution::Normal] {
            let shape = Shape {
                delay: Some(Delay {
                    mean_ms: 50.0,
                    jitter_ms: 10.0,
                    distribution,
                }),
                ..Shape::default()
            };
            let mut ms: Vec<f64> = draws(shape, 20_001)
                .into_iter()
                .map(|f| match f {
                    Fate::Release(d) => d.as_secs_f64() * 1000.0,
                    Fate::Drop => panic!("nothing is lost without loss"),
                })
                .collect();
            ms.sort_by(f64::total_cmp);
            let median = ms[ms.len() / 2];
            assert!((median - 50.0).abs() < 0.5, "{distribution:?}: {median}");
            if distribution == Distribution::Uniform {
                assert!(ms[0] >= 40.0 && ms[ms.len() - 1] <= 60.0);
            }
        }
    }

    #[test]
    fn reordering_holds_back_only_its_share() {
        let shape = Shape {
            reorder: Some(Reorder {
                share: 0.25,
                hold_ms: 20.0,
            }),
            ..Shape::default()
        };
        let f = draws(shape, 20_000);
        let held = f
            .iter()
            .filter(|x| **x == Fate::Release(Duration::from_millis(20)))
            .count() as f64
            / f.len() as f64;
        assert!((held - 0.25).abs() < 0.02, "{held}");
        assert!(f.contains(&Fate::Release(Duration::ZERO)));
    }

    #[test]
    fn the_clients_links_make_both_ends_senders() {
        let mut plan = PacketPlan {
            shape: Shape::default(),
            links: BTreeMap::from([("n1".into(), BTreeSet::from(["n2".into()]))]),
            clients: false,
            max_held: 10,
            seed: 0,
        };
        assert_eq!(plan.senders(), BTreeSet::from(["n1".to_string()]));
        plan.clients = true;
        assert_eq!(plan.senders().len(), 2);
    }
}
