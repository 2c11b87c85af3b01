//! The registry of faults: [`Fault::ALL`] is the one list of what a spec can name, and each
//! entry is declared by the file of its kind.
//!
//! Two levels, because a spec's names and the history's verbs do not map one to one:
//!
//! - a [`Kind`] is a family of faults that share a stop verb and a slot (at most one fault of
//!   a kind is in force; a new one replaces it): `partition`, `kill`, `pause`, `clock`. The
//!   recorder's count of faults in force, the report's fault windows and its plots group
//!   events by kind.
//! - a [`Fault`] is a name a spec may use (`[nemesis] faults`, a scripted step's `fault`,
//!   `--nemesis`), with how it is built from the spec. `clock` and `clock-strobe` are two
//!   faults of the one `clock` kind: both are undone by `clock-reset`.
//!
//! A [`Verb`] is the `f` of one nemesis event, and knows its kind. Verbs are declared by
//! their kind, so adding a kind touches no list but [`Fault::ALL`].

use std::sync::OnceLock;

use super::{clock, disk, kill, membership, packet, partition, pause, Nemesis};
use crate::spec::{NemesisSpec, ScheduledFault};

/// A family of faults with paired verbs, declared once by its file as a `const`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Kind {
    pub(super) name: &'static str,
    /// The `f` of each event that puts a fault of this kind in force.
    pub(super) starts: &'static [&'static str],
    /// The `f` of the event that ends it.
    pub(super) stop: &'static str,
    /// Whether its faults move clocks: then every daemon starts through its node's clock
    /// ([`super::clock::prepare_daemon`]) so that the move reaches the store.
    pub(super) moves_clocks: bool,
}

impl Kind {
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Its verbs: the starts, then the stop.
    pub fn verbs(&'static self) -> impl Iterator<Item = Verb> {
        let stop = std::iter::once(self.stop);
        self.starts
            .iter()
            .copied()
            .chain(stop)
            .map(move |name| Verb { name, kind: self })
    }

    /// Every registered kind, in the order of [`Fault::ALL`] (a kind is where its first
    /// fault is).
    pub fn all() -> impl Iterator<Item = &'static Kind> {
        Fault::ALL
            .iter()
            .enumerate()
            .filter(|(i, f)| Fault::ALL[..*i].iter().all(|g| g.kind != f.kind))
            .map(|(_, f)| f.kind)
    }

    /// The kind's place in the registry; the final heal ends faults in this order, so that
    /// a run's last events do not depend on when each fault began.
    pub fn rank(&self) -> usize {
        Fault::ALL
            .iter()
            .position(|f| f.kind == self)
            .unwrap_or(usize::MAX)
    }
}

/// Every `f` a nemesis event can have: one or more start verbs and one stop verb per kind.
/// The history, the recorder's live count of faults in force, the progress line, the
/// report's fault windows and the plots all read nemesis events through this type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Verb {
    name: &'static str,
    kind: &'static Kind,
}

impl Verb {
    /// Every verb of every registered kind.
    pub fn all() -> impl Iterator<Item = Verb> {
        Kind::all().flat_map(Kind::verbs)
    }

    /// The `f` written to the history.
    pub fn name(self) -> &'static str {
        self.name
    }

    /// The verb a history's `f` names, if it is one of ours.
    pub fn parse(f: &str) -> Option<Verb> {
        Verb::all().find(|v| v.name == f)
    }

    /// The kind of fault the verb starts or stops.
    pub fn kind(self) -> &'static Kind {
        self.kind
    }

    /// Whether the verb puts a fault in force (else it ends one).
    pub fn starts(self) -> bool {
        self.name != self.kind.stop
    }
}

/// A fault a spec can ask for by name, declared as a `const` by the file of its kind, which
/// says how the schedules build its [`Nemesis`] from the spec.
#[derive(Clone, Copy)]
pub struct Fault {
    pub(super) name: &'static str,
    pub(super) kind: &'static Kind,
    /// The nemesis the random schedule draws from, configured by `[nemesis]`.
    pub(super) random: fn(&NemesisSpec) -> Box<dyn Nemesis>,
    /// The nemesis of one scripted step, configured by the step (its defaults, then
    /// `[nemesis]`).
    pub(super) scripted: fn(&ScheduledFault, &NemesisSpec) -> Box<dyn Nemesis>,
}

impl Fault {
    /// The registry: every fault a spec can name, in the order `--help` lists them. Adding a
    /// kind of fault adds its line here (see ARCHITECTURE.md).
    pub const ALL: &'static [Fault] = &[
        partition::PARTITION,
        kill::KILL,
        pause::PAUSE,
        clock::BUMP,
        clock::STROBE,
        packet::DELAY,
        packet::LOSS,
        packet::DUPLICATE,
        packet::REORDER,
        packet::BANDWIDTH,
        packet::PACKET,
        membership::MEMBERSHIP,
        disk::LOSE,
        disk::CORRUPT,
    ];

    pub fn name(self) -> &'static str {
        self.name
    }

    pub fn names() -> Vec<&'static str> {
        Fault::ALL.iter().map(|f| f.name).collect()
    }

    pub fn kind(self) -> &'static Kind {
        self.kind
    }

    /// Whether the fault moves clocks.
    pub fn moves_clocks(self) -> bool {
        self.kind.moves_clocks
    }

    /// The nemesis of the random schedule for this fault.
    pub fn random(self, spec: &NemesisSpec) -> Box<dyn Nemesis> {
        (self.random)(spec)
    }

    /// The nemesis of the scripted `step` (whose `fault` is this one).
    pub fn scripted(self, step: &ScheduledFault, spec: &NemesisSpec) -> Box<dyn Nemesis> {
        (self.scripted)(step, spec)
    }
}

// Identity is the name: two faults of one name are the same registry entry.
impl PartialEq for Fault {
    fn eq(&self, other: &Fault) -> bool {
        self.name == other.name
    }
}

impl Eq for Fault {}

impl std::hash::Hash for Fault {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl std::fmt::Debug for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fault({})", self.name)
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl std::str::FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Fault, String> {
        Fault::ALL
            .iter()
            .copied()
            .find(|f| f.name == s)
            .ok_or_else(|| {
                let names = Fault::names();
                match crate::client::template::did_you_mean(s, names.iter().copied()) {
                    Some(close) => format!(
                        "unknown fault `{s}`: did you mean `{close}`? (one of: {})",
                        names.join(", ")
                    ),
                    None => format!("unknown fault `{s}` (one of: {})", names.join(", ")),
                }
            })
    }
}

impl serde::Serialize for Fault {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name)
    }
}

impl<'de> serde::Deserialize<'de> for Fault {
    /// An unknown name is serde's "unknown variant" error, which the spec loader turns into
    /// a located error with a did-you-mean.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Fault, D::Error> {
        static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
        let text = String::deserialize(d)?;
        text.parse().map_err(|_: String| {
            serde::de::Error::unknown_variant(&text, NAMES.get_or_init(Fault::names))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_fault_name_and_every_verb_is_registered_once() {
        let names = Fault::names();
        assert_eq!(names.len(), names.iter().collect::<HashSet<_>>().len());
        let verbs: Vec<&str> = Verb::all().map(Verb::name).collect();
        assert_eq!(verbs.len(), verbs.iter().collect::<HashSet<_>>().len());
        assert!(
            Kind::all().all(|k| !k.starts.is_empty()),
            "every kind has a start verb"
        );
        // The final heal ends faults in this order; new kinds come after.
        let kinds: Vec<&str> = Kind::all().map(Kind::name).collect();
        assert_eq!(kinds[..4], ["partition", "kill", "pause", "clock"]);
    }

    #[test]
    fn each_verb_parses_back_to_its_kind_and_says_whether_it_starts() {
        let expected = [
            ("start-partition", "partition", true),
            ("stop-partition", "partition", false),
            ("kill", "kill", true),
            ("restart", "kill", false),
            ("pause", "pause", true),
            ("resume", "pause", false),
            ("clock-bump", "clock", true),
            ("clock-strobe", "clock", true),
            ("clock-reset", "clock", false),
        ];
        // The verbs of the histories already written: a new kind adds verbs, never changes these.
        let all: Vec<(&str, &str, bool)> = Verb::all()
            .map(|v| (v.name(), v.kind().name(), v.starts()))
            .collect();
        assert_eq!(all[..expected.len()], expected);
        for (f, kind, starts) in expected {
            let v = Verb::parse(f).unwrap();
            assert_eq!((v.kind().name(), v.starts()), (kind, starts));
        }
        assert_eq!(Verb::parse("write"), None);
    }

    #[test]
    fn every_fault_builds_an_idle_nemesis_of_its_own_kind_for_either_schedule() {
        let spec = NemesisSpec::default();
        for fault in Fault::ALL {
            let step: ScheduledFault =
                toml::from_str(&format!("at_s = 1\nfault = \"{fault}\"\nduration_s = 2")).unwrap();
            for nemesis in [fault.random(&spec), fault.scripted(&step, &spec)] {
                assert_eq!(nemesis.kind(), fault.kind(), "{fault}");
                assert!(!nemesis.is_active(), "{fault} is in force before it starts");
            }
        }
    }

    #[test]
    fn a_fault_reads_and_writes_as_its_spec_name() {
        for fault in Fault::ALL {
            assert_eq!(fault.name().parse::<Fault>().unwrap(), *fault);
            let toml = toml::to_string(&std::collections::BTreeMap::from([("f", fault)]));
            assert_eq!(toml.unwrap().trim(), format!("f = \"{fault}\""));
        }
        let err = "partiton".parse::<Fault>().unwrap_err();
        assert!(err.contains("did you mean `partition`?"), "{err}");
        assert!(clock::STROBE.moves_clocks() && !kill::KILL.moves_clocks());
    }
}
