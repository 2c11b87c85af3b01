//! The spec's reference, `workloads/SPEC.md`, generated from the spec's own types so that it
//! cannot drift from them.
//!
//! Every spec struct derives `schemars::JsonSchema`, which reads the same serde attributes
//! the loader obeys (renames, defaults, `deny_unknown_fields`) and keeps each field's doc
//! comment and its `#[schemars(example = ...)]`. [`markdown`] walks that schema, one section
//! per TOML table, one row per key: its type, its default (the value serde would fill in,
//! serialised, so a changed default changes the file), its meaning and an example.
//!
//! Two tests hold the file to the types: it must be byte for byte what [`markdown`] makes
//! now (a key added, renamed or removed changes it), and every key must have a meaning and
//! an example (so a key cannot be added undocumented). To rewrite the file after changing
//! a spec type:
//!
//! ```sh
//! FAULTLINE_WRITE_SPEC_REFERENCE=1 cargo test --release --lib spec::reference
//! ```
//!
//! Values that are not Rust enums of the spec (fault names, workloads, consistency models,
//! backends) are listed from the registries that define them, through the `schema_with`
//! functions below.

use schemars::{json_schema, Schema, SchemaGenerator};
use serde_json::{Map, Value};

use crate::cluster::BackendKind;
use crate::health::CrashPolicy;
use crate::nemesis::Fault;
use crate::workload::REGISTRY;
use faultline_checkers::elle::ConsistencyModel;

use super::Spec;

/// The reference's path in the source tree.
pub const REFERENCE_PATH: &str = "workloads/SPEC.md";

/// A string that is one of `names`.
fn one_of(names: impl IntoIterator<Item = String>) -> Schema {
    let names: Vec<String> = names.into_iter().collect();
    json_schema!({ "type": "string", "enum": names })
}

pub(super) fn backends(_: &mut SchemaGenerator) -> Schema {
    one_of([BackendKind::Local, BackendKind::Loopback, BackendKind::Ssh].map(|b| b.to_string()))
}

pub(super) fn crash_policies(_: &mut SchemaGenerator) -> Schema {
    one_of(
        [CrashPolicy::Finding, CrashPolicy::Note]
            .iter()
            .filter_map(|p| serde_json::to_value(p).ok())
            .filter_map(|v| v.as_str().map(str::to_string)),
    )
}

pub(super) fn workloads(_: &mut SchemaGenerator) -> Schema {
    one_of(REGISTRY.iter().map(|d| d.kind.name().to_string()))
}

pub(super) fn consistency_models(_: &mut SchemaGenerator) -> Schema {
    one_of(ConsistencyModel::ALL.iter().map(|m| m.name().to_string()))
}

pub(super) fn faults(_: &mut SchemaGenerator) -> Schema {
    one_of(Fault::names().into_iter().map(str::to_string))
}

pub(super) fn fault_list(g: &mut SchemaGenerator) -> Schema {
    let items = faults(g);
    json_schema!({ "type": "array", "items": items })
}

/// One TOML table of the reference.
struct Section {
    /// How the table is written: `[db.ready]`, `[[client.ops.<f>.rules]]`.
    header: String,
    about: String,
    rows: Vec<Row>,
}

/// One key of a table.
struct Row {
    key: String,
    kind: String,
    default: String,
    meaning: String,
    /// `key = value`, or where the table it opens is described.
    example: String,
}

/// The reference, as Markdown.
pub fn markdown() -> String {
    let root = schemars::schema_for!(Spec);
    let root = root.as_value();
    let defs = root
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let walker = Walker { defs };
    let mut sections = Vec::new();
    walker.table(
        root,
        "",
        "Top level".into(),
        TOP_ABOUT.into(),
        &mut sections,
    );
    render(&sections)
}

const TOP_ABOUT: &str = "Keys outside any table. `[db]`, `[client]` and `[workload]` are \
required; every other table may be left out.";

const PREAMBLE: &str = "# Test spec reference

Every table and key a test spec may hold, with its type, its default, what it means and an
example. `workloads/README.md` is the guide (how to write a spec for a store, what `ok`,
`fail` and `info` mean, the template variables); this file is the list.

This file is generated from the spec's types (`src/spec/`), and a test fails when it differs
from them: do not edit it by hand. After changing a spec type, rewrite it with

```sh
FAULTLINE_WRITE_SPEC_REFERENCE=1 cargo test --release --lib spec::reference
```

A key not listed here is an error (exit 3) naming the closest known key. \"required\" means
the key has no default; `<f>` stands for an operation's name (`read`, `write`, `cas`, `add`,
`txn`), `<name>` for any name.
";

/// A table a key opens.
struct Sub<'a> {
    schema: &'a Value,
    /// `table`, `array of tables` or `table of tables`.
    kind: &'static str,
    /// How it is written: `[db.ready]`.
    header: String,
    /// Its keys' path: `db.ready`.
    path: String,
}

struct Walker {
    defs: Map<String, Value>,
}

impl Walker {
    /// A `$ref` followed to its definition.
    fn resolve<'a>(&'a self, s: &'a Value) -> &'a Value {
        s.get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/$defs/"))
            .and_then(|name| self.defs.get(name))
            .unwrap_or(s)
    }

    /// An `Option<T>`'s schema without its `null`, resolved.
    fn inner<'a>(&'a self, s: &'a Value) -> &'a Value {
        let s = self.resolve(s);
        if let Some(Value::Array(any)) = s.get("anyOf") {
            let some: Vec<&Value> = any.iter().filter(|v| !is_null(v)).collect();
            if let [one] = some[..] {
                return self.resolve(one);
            }
        }
        s
    }

    /// The table a key opens, if it opens one: its schema and how it is written.
    fn subtable<'a>(&'a self, s: &'a Value, path: &str) -> Option<Sub<'a>> {
        let s = self.inner(s);
        match s.get("type").and_then(Value::as_str) {
            Some("object") if s.get("properties").is_some() => Some(Sub {
                schema: s,
                kind: "table",
                header: format!("[{path}]"),
                path: path.to_string(),
            }),
            Some("object") => {
                let values = self.inner(s.get("additionalProperties")?);
                values.get("properties")?;
                let path = format!("{path}.<name>");
                let path = if path == "client.ops.<name>" {
                    "client.ops.<f>".to_string()
                } else {
                    path
                };
                Some(Sub {
                    schema: values,
                    kind: "table of tables",
                    header: format!("[{path}]"),
                    path,
                })
            }
            Some("array") => {
                let items = self.inner(s.get("items")?);
                items.get("properties")?;
                Some(Sub {
                    schema: items,
                    kind: "array of tables",
                    header: format!("[[{path}]]"),
                    path: path.to_string(),
                })
            }
            _ => None,
        }
    }

    fn table(&self, s: &Value, path: &str, header: String, about: String, out: &mut Vec<Section>) {
        let required: Vec<&str> = s
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut rows = Vec::new();
        let mut children = Vec::new();
        let empty = Map::new();
        let properties = s
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        for (key, prop) in properties {
            let full = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            let meaning = text(prop.get("description"));
            let default = match prop.get("default") {
                Some(v) => toml_inline(v),
                None if required.contains(&key.as_str()) => "required".into(),
                None => "none".into(),
            };
            if let Some(sub) = self.subtable(prop, &full) {
                rows.push(Row {
                    key: key.clone(),
                    kind: sub.kind.into(),
                    default: if default == "required" {
                        default
                    } else {
                        "see its table".into()
                    },
                    meaning,
                    example: format!("see `{}`", sub.header),
                });
                children.push(sub);
                continue;
            }
            let example = prop
                .get("examples")
                .and_then(Value::as_array)
                .and_then(|e| e.first())
                .map(|e| format!("`{key} = {}`", toml_inline(e)))
                .unwrap_or_default();
            rows.push(Row {
                key: key.clone(),
                kind: self.kind(prop),
                default,
                meaning,
                example,
            });
        }
        out.push(Section {
            header,
            about,
            rows,
        });
        for sub in children {
            let about = text(sub.schema.get("description"));
            self.table(sub.schema, &sub.path, sub.header, about, out);
        }
    }

    /// A value's type, in words.
    fn kind(&self, s: &Value) -> String {
        let s = self.resolve(s);
        if let Some(Value::Array(values)) = s.get("enum") {
            return values
                .iter()
                .map(toml_inline)
                .collect::<Vec<_>>()
                .join(" or ");
        }
        if let Some(c) = s.get("const") {
            return toml_inline(c);
        }
        if let Some(Value::Array(variants)) = s.get("oneOf").or_else(|| s.get("anyOf")) {
            return variants
                .iter()
                .filter(|v| !is_null(v))
                .map(|v| self.kind(v))
                .collect::<Vec<_>>()
                .join(" or ");
        }
        let kind = match s.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .unwrap_or("none"),
            _ => return "any".into(),
        };
        match kind {
            "array" => match s.get("items") {
                Some(items) => format!("array of {}", self.kind(items)),
                None => "array".into(),
            },
            "object" => match s.get("additionalProperties") {
                Some(Value::Bool(false)) | None => "table".into(),
                Some(values) => format!("table of {}", self.kind(values)),
            },
            "boolean" => "bool".into(),
            other => other.into(),
        }
    }
}

fn is_null(s: &Value) -> bool {
    s.get("type").and_then(Value::as_str) == Some("null")
}

fn text(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or_default().to_string()
}

/// A value as it would be written in TOML, on one line.
fn toml_inline(v: &Value) -> String {
    match v {
        Value::Null => "none".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.contains('"') && !s.contains(['\'', '\n']) => format!("'{s}'"),
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(toml_inline).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) if map.is_empty() => "{}".into(),
        Value::Object(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{} = {}", toml_key(k), toml_inline(v)))
                .collect();
            format!("{{ {} }}", entries.join(", "))
        }
    }
}

fn toml_key(k: &str) -> String {
    let bare = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        k.to_string()
    } else {
        serde_json::to_string(k).unwrap_or_default()
    }
}

/// Text for one cell of a Markdown table: one line, pipes escaped.
fn cell(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn render(sections: &[Section]) -> String {
    let mut out = String::from(PREAMBLE);
    for s in sections {
        if s.header.starts_with('[') {
            out.push_str(&format!("\n## `{}`\n\n", s.header));
        } else {
            out.push_str(&format!("\n## {}\n\n", s.header));
        }
        if !s.about.is_empty() {
            out.push_str(s.about.trim());
            out.push_str("\n\n");
        }
        out.push_str("| key | type | default | meaning | example |\n|---|---|---|---|---|\n");
        for r in &s.rows {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                r.key,
                cell(&r.kind),
                code(&r.default),
                cell(&r.meaning),
                cell(&r.example)
            ));
        }
    }
    out
}

/// A default as code, or the words that stand for it.
fn code(default: &str) -> String {
    match default {
        "required" | "none" | "see its table" => default.into(),
        d => format!("`{}`", cell(d)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(REFERENCE_PATH)
    }

    #[test]
    fn the_committed_spec_reference_is_what_the_spec_types_generate() {
        let now = markdown();
        if std::env::var_os("FAULTLINE_WRITE_SPEC_REFERENCE").is_some() {
            std::fs::write(committed(), &now).unwrap();
        }
        let file = std::fs::read_to_string(committed()).unwrap_or_default();
        if file != now {
            let line = file
                .lines()
                .zip(now.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| file.lines().count().min(now.lines().count()));
            panic!(
                "{REFERENCE_PATH} differs from the spec's types from line {}: committed {:?}, \
                 generated {:?}. Rewrite it with FAULTLINE_WRITE_SPEC_REFERENCE=1 cargo test \
                 --release --lib spec::reference",
                line + 1,
                file.lines().nth(line),
                now.lines().nth(line)
            );
        }
    }

    /// Every table's rows, walked from `root`.
    fn sections(root: &Schema) -> Vec<Section> {
        let defs = root
            .get("$defs")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut sections = Vec::new();
        let (header, about) = ("Top level".to_string(), String::new());
        Walker { defs }.table(root.as_value(), "", header, about, &mut sections);
        sections
    }

    /// The keys of `root` without a doc comment or an example, one line each.
    fn undocumented(root: &Schema) -> Vec<String> {
        let mut missing = Vec::new();
        for s in sections(root) {
            for r in &s.rows {
                if r.meaning.trim().is_empty() {
                    missing.push(format!("{} {}: no doc comment", s.header, r.key));
                }
                // A key that opens a table points at it; every other needs an example.
                if r.example.is_empty() {
                    missing.push(format!(
                        "{} {}: no #[schemars(example = ...)]",
                        s.header, r.key
                    ));
                }
            }
        }
        missing
    }

    #[test]
    fn every_spec_key_has_a_meaning_and_every_value_an_example() {
        let root = schemars::schema_for!(Spec);
        let missing = undocumented(&root);
        assert!(
            missing.is_empty(),
            "undocumented spec keys:\n{}",
            missing.join("\n")
        );
        let keys: usize = sections(&root).iter().map(|s| s.rows.len()).sum();
        assert!(keys > 80, "the walk found only {keys} keys");
    }

    #[test]
    fn a_key_added_without_a_doc_comment_or_an_example_is_reported() {
        #[derive(schemars::JsonSchema)]
        #[allow(dead_code)]
        struct Table {
            /// Documented, with an example.
            #[schemars(example = 1)]
            done: u32,
            /// Documented only.
            no_example: u32,
            #[schemars(example = 2)]
            no_doc: u32,
            /// A table of its own, undocumented inside.
            inner: Inner,
        }
        #[derive(schemars::JsonSchema)]
        #[allow(dead_code)]
        struct Inner {
            bare: bool,
        }
        let missing = undocumented(&schemars::schema_for!(Table));
        assert_eq!(
            missing,
            [
                "Top level no_doc: no doc comment",
                "Top level no_example: no #[schemars(example = ...)]",
                "[inner] bare: no doc comment",
                "[inner] bare: no #[schemars(example = ...)]",
            ]
            .map(String::from)
            .to_vec(),
            "sections are listed parent first"
        );
    }

    #[test]
    fn the_reference_names_keys_found_only_in_code_before_it() {
        let md = markdown();
        for needle in [
            "## `[db.ready]`",
            "| `method` |",
            "| `probe` |",
            "## `[client]`",
            "| `connect_timeout_ms` |",
            "## `[client.capture]`",
            "| `crashes` | \"finding\" or \"note\" |",
            "## `[[client.ops.<f>.rules]]`",
            "| `backend` | \"local\" or \"loopback\" or \"ssh\" |",
        ] {
            assert!(md.contains(needle), "{needle:?} missing from:\n{md}");
        }
    }
}
