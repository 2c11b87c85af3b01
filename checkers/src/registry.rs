//! Checkers by name: what `faultline check --model NAME` and a test spec's checker list
//! accept.
//!
//! Two kinds of name share one namespace:
//!
//! - the sequential models of the linearizability checker (`register`, `cas-register`,
//!   `mutex`, `set`, `queue`, `multi-register`, `kv`): every operation must appear to take effect at one
//!   instant between its invocation and completion;
//! - whole-history checkers: Elle's `list-append` and `rw-register`, and `set-full`,
//!   `counter`, `bank`, `unique-ids`.
//!
//! `set` and `set-full` differ on purpose, as in Jepsen: `set` is the linearizable set model
//! (every read returns exactly the elements whose adds took effect before it, an exponential
//! search), `set-full` is Jepsen's set checker (each element judged alone: lost, stale,
//! never-read, unexpected; linear time and tolerant of concurrent reads).
//!
//! [`CHECKERS`] lists every name with a one-line description, for `--help`; [`build`] turns a
//! name and [`CheckerOptions`] into a [`Checker`], refusing options that do not apply.

use serde_json::Value;

use crate::bank::Bank;
use crate::counter::Counter;
use crate::elle::{ConsistencyModel, ListAppend, RwRegister};
use crate::linear::Linearizable;
use crate::model::{ModelKind, ModelOptions};
use crate::set::SetFull;
use crate::unique_ids::UniqueIds;
use crate::verdict::Checker;

/// A checker name and what it checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckerInfo {
    pub name: &'static str,
    pub description: &'static str,
}

/// Every name [`build`] accepts, in the order `--help` lists them.
pub const CHECKERS: &[CheckerInfo] = &[
    CheckerInfo {
        name: "register",
        description: "linearizable read/write register (read, write)",
    },
    CheckerInfo {
        name: "cas-register",
        description:
            "linearizable compare-and-set register (read, write, cas [old new]); the default",
    },
    CheckerInfo {
        name: "mutex",
        description: "linearizable lock (acquire, release), starting released",
    },
    CheckerInfo {
        name: "set",
        description: "linearizable set (add, read): every read is exactly the adds before it",
    },
    CheckerInfo {
        name: "queue",
        description: "linearizable FIFO queue (enqueue, dequeue); a dequeue of null means empty",
    },
    CheckerInfo {
        name: "multi-register",
        description: "linearizable map of registers read and written in one txn op",
    },
    CheckerInfo {
        name: "kv",
        description: "linearizable string key-value store (get, put, append), keys independent",
    },
    CheckerInfo {
        name: "list-append",
        description: "Elle: transactions appending to and reading lists; isolation anomalies",
    },
    CheckerInfo {
        name: "rw-register",
        description: "Elle: transactions reading and writing registers; isolation anomalies",
    },
    CheckerInfo {
        name: "set-full",
        description: "Jepsen's set checker: lost, stale, never-read and unexpected elements",
    },
    CheckerInfo {
        name: "counter",
        description: "counter (add, read): every read within the bounds of the adds around it",
    },
    CheckerInfo {
        name: "bank",
        description: "bank (transfer, read): every read conserves the total, no negative balance",
    },
    CheckerInfo {
        name: "unique-ids",
        description: "unique ids (generate): no id handed to two acknowledged requests",
    },
];

/// Options that change what a checker accepts. Defaults follow DESIGN.md: registers start
/// as `null` (absent), a read of `null` means absent, strict serializability for Elle,
/// totals inferred for `bank`, stale reads tolerated by `set-full`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckerOptions {
    /// The initial value: of every register for linearizable models, of the counter for
    /// `counter` (`null` = 0), the total or the initial balances for `bank`.
    pub initial: Value,
    /// Knossos's rule for linearizable models: an `ok` read of `null` matches any state.
    pub nil_read_matches_any: bool,
    /// For `list-append` and `rw-register`; `None` = strict serializable.
    pub consistency: Option<ConsistencyModel>,
    /// For `set-full`: stale reads make the history invalid.
    pub set_linearizable: bool,
    /// For `bank`: balances may go below zero.
    pub allow_negative: bool,
}

/// A name [`build`] does not know, or options that do not fit the checker.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RegistryError(pub String);

/// The one-line descriptions of every checker, one per line, for `--help`.
pub fn help_text() -> String {
    let width = CHECKERS.iter().map(|c| c.name.len()).max().unwrap_or(0);
    CHECKERS
        .iter()
        .map(|c| format!("{:width$}  {}", c.name, c.description))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The checker called `name`, configured by `options`.
pub fn build(name: &str, options: &CheckerOptions) -> Result<Box<dyn Checker>, RegistryError> {
    if !CHECKERS.iter().any(|c| c.name == name) {
        let names: Vec<&str> = CHECKERS.iter().map(|c| c.name).collect();
        return Err(RegistryError(format!(
            "unknown model {name:?}; known: {}",
            names.join(", ")
        )));
    }
    let refuse = |what: &str| {
        Err(RegistryError(format!(
            "{what} does not apply to the {name} checker"
        )))
    };
    let is_elle = matches!(name, "list-append" | "rw-register");
    if options.consistency.is_some() && !is_elle {
        return refuse("--consistency-model");
    }
    let model = ModelKind::from_name(name);
    if options.nil_read_matches_any && !model.is_some_and(ModelKind::supports_nil_read_matches_any)
    {
        return refuse("--nil-read-matches-any");
    }
    if options.set_linearizable && name != "set-full" {
        return refuse("--set-linearizable");
    }
    if options.allow_negative && name != "bank" {
        return refuse("--allow-negative-balances");
    }
    if !options.initial.is_null() && (is_elle || matches!(name, "set-full" | "unique-ids")) {
        return refuse("--initial-value");
    }
    if let Some(model) = model {
        return Ok(Box::new(Linearizable {
            model,
            options: ModelOptions {
                initial: options.initial.clone(),
                nil_read_matches_any: options.nil_read_matches_any,
            },
        }));
    }
    let consistency = options
        .consistency
        .unwrap_or(ConsistencyModel::StrictSerializable);
    Ok(match name {
        "list-append" => Box::new(ListAppend { model: consistency }),
        "rw-register" => Box::new(RwRegister { model: consistency }),
        "set-full" => Box::new(SetFull {
            linearizable: options.set_linearizable,
        }),
        "counter" => Box::new(Counter {
            initial: match &options.initial {
                Value::Null => 0,
                v => v.as_i64().ok_or_else(|| {
                    RegistryError(format!(
                        "a counter's initial value must be an integer, not {v}"
                    ))
                })?,
            },
        }),
        "unique-ids" => Box::new(UniqueIds),
        "bank" => Box::new(
            Bank::from_initial(&options.initial, options.allow_negative).map_err(RegistryError)?,
        ),
        other => unreachable!("{other} is listed in CHECKERS but not built"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_every_listed_checker() {
        for info in CHECKERS {
            let checker = build(info.name, &CheckerOptions::default()).unwrap();
            let expected = if ModelKind::from_name(info.name).is_some() {
                "linearizable"
            } else {
                info.name
            };
            assert_eq!(checker.name(), expected);
        }
    }

    #[test]
    fn lists_every_linearizable_model() {
        for model in ModelKind::ALL {
            assert!(
                CHECKERS.iter().any(|c| c.name == model.name()),
                "{}",
                model.name()
            );
        }
    }

    #[test]
    fn refuses_an_unknown_name_and_lists_the_known_ones() {
        let err = build("cas-regster", &CheckerOptions::default())
            .err()
            .unwrap();
        assert!(err.0.contains("unknown model \"cas-regster\""));
        assert!(err.0.contains("cas-register"));
    }

    #[test]
    fn refuses_options_that_do_not_apply() {
        let opts = CheckerOptions {
            consistency: Some(ConsistencyModel::Serializable),
            ..CheckerOptions::default()
        };
        assert!(build("cas-register", &opts).is_err());
        assert!(build("list-append", &opts).is_ok());
        let opts = CheckerOptions {
            initial: serde_json::json!("x"),
            ..CheckerOptions::default()
        };
        assert!(build("counter", &opts).is_err());
        assert!(build("register", &opts).is_ok());
        let opts = CheckerOptions {
            nil_read_matches_any: true,
            ..CheckerOptions::default()
        };
        assert!(build("register", &opts).is_ok());
        assert!(
            build("queue", &opts).is_err(),
            "a dequeue of null means empty"
        );
    }

    #[test]
    fn help_text_names_every_checker_on_its_own_line() {
        let text = help_text();
        assert_eq!(text.lines().count(), CHECKERS.len());
        assert!(text
            .lines()
            .any(|l| l.starts_with("set-full") && l.contains("lost")));
    }
}
