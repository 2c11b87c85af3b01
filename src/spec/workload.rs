//! `[workload]` and `[checker]`: which operations over which keys, and how they are judged.

use faultline_checkers::elle::ConsistencyModel;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;
use std::path::Path;

use super::error::{locate, suggest};
use super::{LoadedSpec, OpSpec, Spec, SpecError, SpecOfMany};
use crate::client::template::did_you_mean;
pub use crate::workload::WorkloadKind;

/// The workload: which operations, over which keys.
#[derive(Deserialize, Serialize, JsonSchema, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// `register` (read, write), `cas-register` (read, write, cas), `set` (add, and reads
    /// during the run and after the heal), `list-append` (txn: transactions of appends and reads), `rw-register` (txn:
    /// transactions of register reads and writes), `bank` (init, transfer, read), `counter`
    /// (add, read) or `unique-ids` (generate).
    #[schemars(example = &"cas-register", schema_with = "super::reference::workloads")]
    pub name: WorkloadKind,
    /// Keys in use at once (`bank`: the accounts; `counter`: the counters). Default 10.
    #[serde(default = "default_keys")]
    #[schemars(example = 5)]
    pub keys: usize,
    /// A key is retired after this many ops (for `list-append`: appends) and a fresh one
    /// takes its place, so each key's history stays small enough to check. Default 200.
    #[serde(default = "default_ops_per_key")]
    #[schemars(example = 300)]
    pub ops_per_key: u64,
    /// `list-append`: the most micro-ops in one transaction (each has 1 to this many).
    /// Default 4.
    #[serde(default = "default_max_txn_length")]
    #[schemars(example = 8)]
    pub max_txn_length: usize,
    /// Relative weights of the operations (for `list-append`, of the micro-ops: `r` by
    /// `read_weight`, `append` by `write_weight`). Defaults: read 2, write 1, cas 1.
    #[serde(default = "default_weight2")]
    #[schemars(example = 4)]
    pub read_weight: u32,
    /// See `read_weight`. Default 1.
    #[serde(default = "default_weight1")]
    #[schemars(example = 2)]
    pub write_weight: u32,
    /// See `read_weight` (`cas-register` only). Default 1.
    #[serde(default = "default_weight1")]
    #[schemars(example = 0)]
    pub cas_weight: u32,
    /// `bank`: every account's balance before the first transfer. Default 10.
    #[serde(default = "default_initial_balance")]
    #[schemars(example = 100)]
    pub initial_balance: i64,
    /// `bank`: the largest amount one transfer moves (each moves 1 to this). Default 5.
    #[serde(default = "default_max_transfer")]
    #[schemars(example = 20)]
    pub max_transfer: i64,
    /// Operations this workload maps differently from `[client.ops]`, by `f` (a set's
    /// `read` of a whole set beside a register's `read` of one value, in a spec of several
    /// workloads); each replaces `[client.ops.F]` when this workload runs. Default: none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(example = serde_json::json!({"read": {"method": "GET", "path": "/SMEMBERS/{{key}}"}}))]
    pub ops: BTreeMap<String, OpSpec>,
    /// How this workload's history is judged, in place of the spec's `[checker]` (a set
    /// checked with `set_linearizable` beside a register, in a spec of several workloads).
    /// Default: `[checker]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = serde_json::json!({"set_linearizable": true}))]
    pub checker: Option<CheckerSpec>,
}

/// The names of the `[workload.NAME]` tables of spec text, in the order written, when its
/// `[workload]` holds several workloads (every entry a table, and no `name`); `None` for a
/// single `[workload]` (or text that does not parse: serde then says what is wrong).
pub fn named_workloads(source: &str) -> Option<Vec<String>> {
    let doc = toml_edit::ImDocument::parse(source).ok()?;
    let table = doc.get("workload")?.as_table_like()?;
    let named = !table.is_empty()
        && !table.contains_key("name")
        && table.iter().all(|(_, item)| item.is_table_like());
    named.then(|| table.iter().map(|(k, _)| k.to_string()).collect())
}

/// The spec of the workload `name` among `many`'s, `names` in the order written (the only
/// one, when `name` is `None`):
/// `[client.ops]` keeps the operations it issues, with its own `ops` in their place.
pub(super) fn choose(
    path: &Path,
    source: &str,
    mut many: SpecOfMany,
    names: &[String],
    name: Option<&str>,
) -> Result<(Spec, String), SpecError> {
    let located = |key: &str, message: String, hint: String| SpecError {
        file: path.to_path_buf(),
        line: locate(source, &key.split('.').collect::<Vec<_>>()),
        key: Some(key.to_string()),
        message,
        hint: Some(hint),
    };
    let chosen = match name {
        Some(name) if many.workload.contains_key(name) => name.to_string(),
        Some(name) => {
            let options: Vec<&str> = names.iter().map(String::as_str).collect();
            let mut e = super::flag_error(
                path,
                "--workload",
                format!("the spec has no workload `{name}`"),
            );
            e.hint = Some(suggest(name, &options));
            return Err(e);
        }
        None if names.len() == 1 => names[0].clone(),
        None => {
            return Err(located(
                "workload",
                format!(
                    "the spec has {} workloads ({}): a run needs one",
                    names.len(),
                    names.join(", ")
                ),
                format!(
                    "pick one with --workload NAME, e.g. --workload {}",
                    names[0]
                ),
            ))
        }
    };
    // An operation no workload issues is a typo, whichever workload runs.
    let issued = |f: &str| many.workload.values().any(|w| w.name.fs().contains(&f));
    if let Some(f) = many.client.ops.keys().find(|f| !issued(f)) {
        return Err(located(
            &format!("client.ops.{f}"),
            format!(
                "none of the spec's workloads ({}) issues `{f}`",
                names.join(", ")
            ),
            "remove it, or rename it to an operation a workload issues".into(),
        ));
    }
    let workload = many
        .workload
        .remove(&chosen)
        .expect("chosen among the names");
    let fs = workload.name.fs();
    many.client.ops.retain(|f, _| fs.contains(&f.as_str()));
    Ok((many.with_workload(workload), chosen))
}

fn default_initial_balance() -> i64 {
    10
}
fn default_max_transfer() -> i64 {
    5
}

fn default_keys() -> usize {
    10
}
fn default_ops_per_key() -> u64 {
    200
}
fn default_max_txn_length() -> usize {
    4
}
fn default_weight1() -> u32 {
    1
}
fn default_weight2() -> u32 {
    2
}

/// Checker settings. The checker follows from the workload (`register` and `cas-register`:
/// linearizability over that model; `set`: `set-full`; `list-append`: Elle's `list-append`,
/// strict serializability) unless `name` says otherwise.
#[derive(Deserialize, Serialize, JsonSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CheckerSpec {
    /// A checker by name (`faultline check --help` lists them).
    #[schemars(example = &"set-full")]
    pub name: Option<String>,
    /// Knossos's rule: an `ok` read of `null` observed nothing. Default false.
    #[schemars(example = true)]
    pub nil_read_matches_any: bool,
    /// For `list-append` and `rw-register`: the isolation level the history must meet
    /// (`read-committed`, `snapshot-isolation`, `serializable`, `strict-serializable`).
    /// Default `strict-serializable`.
    #[schemars(example = &"serializable", schema_with = "super::reference::consistency_models")]
    pub consistency_model: Option<ConsistencyModel>,
    /// For `set-full`: the store promises linearizable reads, so a stale read (an element
    /// missing from a read that began after the element was known present, and seen again
    /// later) makes the history invalid. Default false: stale reads are counted, not
    /// anomalies (the right choice for stores with eventually consistent reads).
    #[schemars(example = true)]
    pub set_linearizable: bool,
}

impl LoadedSpec {
    pub(super) fn validate_workload(&self) -> Result<(), SpecError> {
        let w = &self.spec.workload;
        for f in w.name.fs() {
            if !self.spec.client.ops.contains_key(*f) {
                return Err(self.err(
                    "client.ops",
                    format!(
                        "the `{}` workload issues `{f}`, but there is no [client.ops.{f}]",
                        w.name.name()
                    ),
                    Some(
                        match did_you_mean(f, self.spec.client.ops.keys().map(String::as_str)) {
                            Some(s) => format!("rename [client.ops.{s}] to [client.ops.{f}]"),
                            None => format!("add a [client.ops.{f}] table saying how to `{f}`"),
                        },
                    ),
                ));
            }
        }
        if let Some(extra) = self
            .spec
            .client
            .ops
            .keys()
            .find(|f| !w.name.fs().contains(&f.as_str()))
        {
            return Err(self.err(
                &format!("client.ops.{extra}"),
                format!("the `{}` workload never issues `{extra}`", w.name.name()),
                Some(match did_you_mean(extra, w.name.fs().iter().copied()) {
                    Some(s) => format!("did you mean [client.ops.{s}]?"),
                    None => format!("it issues: {}", w.name.fs().join(", ")),
                }),
            ));
        }
        if let Some(name) = &self.spec.checker.name {
            let names: Vec<&str> = faultline_checkers::registry::CHECKERS
                .iter()
                .map(|c| c.name)
                .collect();
            if !names.contains(&name.as_str()) {
                return Err(self.err(
                    "checker.name",
                    format!("unknown checker `{name}`"),
                    Some(suggest(name, &names)),
                ));
            }
        }
        let checker = self
            .spec
            .checker
            .name
            .clone()
            .unwrap_or_else(|| w.name.default_checker().to_string());
        if self.spec.checker.set_linearizable && checker != "set-full" {
            return Err(self.err(
                "checker.set_linearizable",
                format!("the `{checker}` checker has no stale reads to judge"),
                Some("only the set workload's set-full checker takes it; remove it".into()),
            ));
        }
        if self.spec.checker.consistency_model.is_some()
            && !matches!(checker.as_str(), "list-append" | "rw-register")
        {
            return Err(self.err(
                "checker.consistency_model",
                format!("the `{checker}` checker takes no consistency model"),
                Some("only list-append and rw-register check isolation levels".into()),
            ));
        }
        if w.keys == 0 {
            return Err(self.err("workload.keys", "at least one key is needed", None));
        }
        if w.ops_per_key < 2 {
            return Err(self.err(
                "workload.ops_per_key",
                "a key needs at least 2 ops to say anything",
                None,
            ));
        }
        if w.max_txn_length == 0 {
            return Err(self.err(
                "workload.max_txn_length",
                "a transaction needs at least one micro-op",
                None,
            ));
        }
        let weighs_reads_and_writes = matches!(
            w.name,
            WorkloadKind::RwRegister | WorkloadKind::Bank | WorkloadKind::Counter
        );
        if weighs_reads_and_writes && w.read_weight + w.write_weight == 0 {
            return Err(self.err(
                "workload.read_weight",
                format!(
                    "the `{}` workload draws by `read_weight` and `write_weight`, both zero",
                    w.name.name()
                ),
                Some("give one of them a positive weight".into()),
            ));
        }
        if w.name == WorkloadKind::RwRegister && w.write_weight == 0 {
            return Err(self.err(
                "workload.write_weight",
                "an rw-register workload that never writes reads only nulls",
                Some("give `write_weight` (writes) a positive weight".into()),
            ));
        }
        if w.name == WorkloadKind::ListAppend && w.write_weight == 0 {
            return Err(self.err(
                "workload.write_weight",
                "a list-append workload that never appends reads only empty lists",
                Some("give `write_weight` (appends) a positive weight".into()),
            ));
        }
        if w.name == WorkloadKind::Bank && w.keys < 2 {
            return Err(self.err(
                "workload.keys",
                "a bank needs at least two accounts to transfer between",
                Some("set `keys` (the number of accounts) to 2 or more".into()),
            ));
        }
        if w.name == WorkloadKind::Bank && (w.max_transfer < 1 || w.initial_balance < 0) {
            return Err(self.err(
                "workload.max_transfer",
                "a bank needs `max_transfer` of at least 1 and a non-negative `initial_balance`",
                None,
            ));
        }
        if w.read_weight + w.write_weight + w.cas_weight == 0 {
            return Err(self.err(
                "workload.read_weight",
                "all operation weights are zero",
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

    /// A register and a set sharing one `[db]` and `[client]`; the set maps `read` its own
    /// way and checks stale reads.
    const TWO: &str = r#"
[db]
start = ["kvd"]
[db.ready]
path = "/"
[client.ops.read]
path = "/get/{{key}}"
[client.ops.write]
path = "/set/{{key}}/{{value}}"
[client.ops.add]
path = "/sadd/{{key}}/{{value}}"
[workload.reg]
name = "register"
[workload.members]
name = "set"
keys = 3
[workload.members.ops.read]
path = "/smembers/{{key}}"
[workload.members.checker]
set_linearizable = true
"#;

    fn load(src: &str, workload: Option<&str>) -> Result<LoadedSpec, SpecError> {
        LoadedSpec::parse_workload(Path::new("t.toml"), src.to_string(), workload)
    }

    #[test]
    fn each_workload_of_a_spec_runs_with_its_own_operations_and_checker() {
        let reg = load(TWO, Some("reg")).unwrap();
        assert_eq!(reg.workloads, ["reg", "members"]);
        assert_eq!(reg.spec.workload.name, WorkloadKind::Register);
        let ops: Vec<&String> = reg.spec.client.ops.keys().collect();
        assert_eq!(ops, ["read", "write"], "add belongs to the set");
        assert_eq!(reg.spec.client.ops["read"].path, "/get/{{key}}");
        assert!(!reg.spec.checker.set_linearizable);

        let set = load(TWO, Some("members")).unwrap();
        assert_eq!(set.spec.workload.keys, 3);
        assert_eq!(set.spec.client.ops["read"].path, "/smembers/{{key}}");
        assert!(set.spec.client.ops.contains_key("add"));
        assert!(set.spec.checker.set_linearizable);
        // What a run stores replays as one plain [workload].
        let stored = toml::to_string(&set.spec).unwrap();
        let replayed = LoadedSpec::parse(Path::new("spec.toml"), stored).unwrap();
        assert_eq!(replayed.spec.client.ops["read"].path, "/smembers/{{key}}");
        assert!(replayed.workloads.is_empty());
    }

    #[test]
    fn a_spec_of_several_workloads_runs_none_without_being_told_which() {
        let e = load(TWO, None).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("workload"));
        assert!(e.message.contains("2 workloads (reg, members)"), "{e}");
        assert!(e.hint.as_deref().unwrap().contains("--workload"), "{e}");
        let e = load(TWO, Some("member")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("--workload"));
        assert!(e.hint.as_deref().unwrap().contains("`members`"), "{e}");
        let e = load(super::super::tests::MINIMAL, Some("reg")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("--workload"), "{e}");
    }

    #[test]
    fn an_error_in_one_workload_names_its_own_table_and_line() {
        let src = TWO.replace("keys = 3", "keys = 0");
        let e = load(&src, Some("members")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("workload.members.keys"));
        let line = src.lines().position(|l| l == "keys = 0").unwrap() + 1;
        assert_eq!(e.line, Some(line), "{e}");
        let typo = TWO.replace("[client.ops.add]", "[client.ops.ad]");
        let e = load(&typo, Some("reg")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("client.ops.ad"), "{e}");
    }
}
