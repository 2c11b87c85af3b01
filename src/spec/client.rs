//! `[client]`: the declarative HTTP client, one request and its rules per operation.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::db::default_get;
use super::{LoadedSpec, SpecError};
use crate::client::capture::MAX_CAPTURE_BYTES;
use crate::client::template::{Template, TemplateError};

/// The declarative HTTP client: settings shared by every request, and one table per
/// operation `f` saying how to carry it out.
#[derive(Deserialize, Serialize, JsonSchema, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// Per-request limit; past it the op is `info` (or `fail` for a read). Default 2000.
    #[serde(default = "default_timeout_ms")]
    #[schemars(example = 5000)]
    pub timeout_ms: u64,
    /// Limit on opening a connection. Default 500.
    #[serde(default = "default_connect_timeout_ms")]
    #[schemars(example = 1000)]
    pub connect_timeout_ms: u64,
    /// The longest answer body read, in bytes; a longer answer is recorded as lost (`info`,
    /// or `fail` for a read) and the rest of it is not read. Default 1048576 (1 MiB).
    #[serde(default = "default_max_body_bytes")]
    #[schemars(example = 65536)]
    pub max_body_bytes: usize,
    /// Headers sent with every request (templates, like an op's), and by default with the
    /// readiness probe.
    #[serde(default)]
    #[schemars(example = serde_json::json!({"content-type": "application/json"}))]
    pub headers: BTreeMap<String, String>,
    /// What to keep of each answer in the op's completion (`response` in `history.jsonl`).
    /// Default: nothing.
    #[serde(default)]
    pub capture: CaptureSpec,
    /// One table per operation `f` the workload issues, `[client.ops.read]`, ...
    pub ops: BTreeMap<String, OpSpec>,
}

/// `[client] capture = { status = true, headers = ["x-raft-term"], body_bytes = 512 }`: an
/// excerpt of every answer, recorded as the completion's `response`. Off (all defaults) it
/// costs nothing.
#[derive(Deserialize, Serialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CaptureSpec {
    /// Keep the HTTP status. Default false.
    #[serde(default)]
    #[schemars(example = true)]
    pub status: bool,
    /// Keep these response headers, when present (names, any case). Default none.
    #[serde(default)]
    #[schemars(example = ["x-raft-term"])]
    pub headers: Vec<String>,
    /// Keep the first this many bytes of the body (cut between characters), with the body's
    /// whole length. Default 0, at most 65536.
    #[serde(default)]
    #[schemars(example = 512)]
    pub body_bytes: usize,
}

impl CaptureSpec {
    /// Whether any part of an answer is kept.
    pub fn is_on(&self) -> bool {
        self.status || !self.headers.is_empty() || self.body_bytes > 0
    }
}

fn default_max_body_bytes() -> usize {
    1 << 20
}

/// The largest `client.max_body_bytes` a spec may set (1 GiB).
pub(super) const MAX_BODY_BYTES: usize = 1 << 30;

fn default_timeout_ms() -> u64 {
    2000
}
fn default_connect_timeout_ms() -> u64 {
    500
}

/// One operation as an HTTP request and the rules that classify its response.
///
/// Variables in `path`, `query`, `headers` and `body`: `key`, `value` (the invocation's
/// value), `expected` and `new` (a `cas`'s `[expected, new]`), `node`, `ip`, `port`.
#[derive(Deserialize, Serialize, JsonSchema, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct OpSpec {
    #[serde(default = "default_get")]
    /// The HTTP method. Default `GET`.
    #[schemars(example = &"PUT")]
    pub method: String,
    /// The path (a template), from `/`; the node's address and port come first.
    #[schemars(example = &"/kv/{{key}}")]
    pub path: String,
    #[serde(default)]
    /// Query parameters (templates), percent-encoded. Default none.
    #[schemars(example = serde_json::json!({"quorum": "true"}))]
    pub query: BTreeMap<String, String>,
    #[serde(default)]
    /// Headers of this op (templates), besides `[client] headers`. Default none.
    #[schemars(example = serde_json::json!({"x-request-key": "{{key}}"}))]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    /// The body (a template). Default: none.
    #[schemars(example = &"{\"value\":{{value|json}}}")]
    pub body: Option<String>,
    /// False for an op that changes nothing (a read): a timeout or an unrecognised answer is
    /// then `fail`, not `info`. Default: false for `read`, true for everything else.
    #[serde(default)]
    #[schemars(example = false)]
    pub side_effects: Option<bool>,
    /// Tried in order; the first that matches classifies the response. None matching: `info`
    /// (or `fail` without side effects).
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// An operation carried out by faultline's own code instead of one templated request,
    /// for protocols one request cannot express: `etcd-v3-list-append` (a `txn` of
    /// list-append micro-ops as a read of its keys, then a write guarded by their
    /// revisions, both sent to `path` on etcd's v3 JSON gateway), `etcd-v3-rw-register`
    /// (the same for rw-register transactions), `etcd-v3-bank` (the bank's `init`,
    /// `transfer` and `read`: a transfer reads both balances, then writes them guarded by
    /// their revisions) and `etcd-v3-counter` (`add` as a guarded read-modify-write, and
    /// `read`). `rules` and `body` do not apply to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"etcd-v3-list-append")]
    pub builtin: Option<Builtin>,
}

/// The operations faultline carries out in its own code (see [`OpSpec::builtin`]).
#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Builtin {
    EtcdV3ListAppend,
    EtcdV3RwRegister,
    EtcdV3Bank,
    EtcdV3Counter,
}

impl Builtin {
    /// Its name in a spec.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::EtcdV3ListAppend => "etcd-v3-list-append",
            Builtin::EtcdV3RwRegister => "etcd-v3-rw-register",
            Builtin::EtcdV3Bank => "etcd-v3-bank",
            Builtin::EtcdV3Counter => "etcd-v3-counter",
        }
    }

    /// The operations it carries out.
    pub fn ops(self) -> &'static [&'static str] {
        match self {
            Builtin::EtcdV3ListAppend | Builtin::EtcdV3RwRegister => &["txn"],
            Builtin::EtcdV3Bank => &["init", "transfer", "read"],
            Builtin::EtcdV3Counter => &["add", "read"],
        }
    }
}

/// A response rule. Every condition given must hold.
#[derive(Deserialize, Serialize, JsonSchema, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Statuses that match; empty matches any.
    #[serde(default)]
    #[schemars(example = [200, 201])]
    pub status: Vec<u16>,
    /// The body must contain this text.
    #[serde(default)]
    #[schemars(example = &"\"errorCode\":100")]
    pub body_contains: Option<String>,
    /// JSON pointers that must be absent from the body (or the body is not JSON).
    #[serde(default)]
    #[schemars(example = ["/succeeded"])]
    pub missing: Vec<String>,
    /// JSON pointers that must be present in the body.
    #[serde(default)]
    #[schemars(example = ["/node"])]
    pub present: Vec<String>,
    /// JSON pointers whose value must be JSON `null` (present, and null): TOML has no null
    /// to write in `equals`.
    #[serde(default)]
    #[schemars(example = ["/value"])]
    pub null: Vec<String>,
    /// Pointer -> value that must be equal (`{ "/succeeded" = true }`).
    #[serde(default)]
    #[schemars(
        example = serde_json::json!({"/succeeded": true}),
        with = "BTreeMap<String, serde_json::Value>"
    )]
    pub equals: BTreeMap<String, toml::Value>,
    /// What a matching answer means: `ok` (it happened), `fail` (it certainly did not) or
    /// `info` (it may have).
    #[schemars(example = &"fail")]
    pub outcome: RuleOutcome,
    /// For `ok`: where the op's value comes from. Without it an `ok` keeps the invocation's
    /// value (writes) — for a read it is `null`.
    #[serde(default)]
    pub value: Option<ExtractSpec>,
    /// Text recorded as the op's `error` (for `fail` and `info`).
    #[serde(default)]
    #[schemars(example = &"compare failed")]
    pub error: Option<String>,
}

#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RuleOutcome {
    Ok,
    Fail,
    Info,
}

/// How to take an `ok` op's value out of the response body.
#[derive(Deserialize, Serialize, JsonSchema, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct ExtractSpec {
    /// JSON pointer into the body; `""` is the whole body.
    #[schemars(example = &"/kvs/0/value")]
    pub pointer: String,
    /// For a list: pointer applied to each element of the array found at `pointer`.
    #[serde(default)]
    #[schemars(example = &"/value")]
    pub each: Option<String>,
    /// `base64` to decode a string before typing it.
    #[serde(default)]
    #[schemars(example = &"base64")]
    pub decode: Option<Decode>,
    #[serde(rename = "type", default = "default_value_type")]
    /// The type the value is converted to: `int` (a number or a string of digits),
    /// `string`, `bool` or `json` (as found). Default `json`.
    #[schemars(example = &"int")]
    pub kind: ValueType,
    /// What a missing pointer means: `null` (ok, value null: the key is absent), `fail` or
    /// `info`. Default `null`.
    #[serde(default = "default_if_missing")]
    #[schemars(example = &"info")]
    pub if_missing: IfMissing,
}

fn default_value_type() -> ValueType {
    ValueType::Json
}
fn default_if_missing() -> IfMissing {
    IfMissing::Null
}

#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Decode {
    Base64,
}

/// The type a value is converted to. `int` accepts a JSON number or a string of digits
/// (etcd's gateway writes 64-bit numbers as strings).
#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    Int,
    String,
    Bool,
    Json,
}

#[derive(Deserialize, Serialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum IfMissing {
    Null,
    Fail,
    Info,
}

/// The variables of `[client.ops]` templates, in render order.
pub const OP_VARS: [&str; 7] = ["key", "value", "expected", "new", "node", "ip", "port"];

impl LoadedSpec {
    fn validate_capture(&self) -> Result<(), SpecError> {
        let c = &self.spec.client.capture;
        for h in &c.headers {
            if reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err() {
                return Err(self.err(
                    "client.capture.headers",
                    format!("{h:?} is not a header name"),
                    Some("e.g. headers = [\"x-etcd-index\", \"x-raft-term\"]".into()),
                ));
            }
        }
        if c.body_bytes > MAX_CAPTURE_BYTES {
            return Err(self.err(
                "client.capture.body_bytes",
                format!(
                    "{} bytes of every answer is more than the {MAX_CAPTURE_BYTES} kept at most",
                    c.body_bytes
                ),
                Some("an excerpt is for a person to read: 512 is plenty for most stores".into()),
            ));
        }
        Ok(())
    }

    pub(super) fn template_err(&self, key: &str, e: TemplateError) -> SpecError {
        self.err(key, e.message, e.hint)
    }

    pub(super) fn validate_client(&self) -> Result<(), SpecError> {
        let c = &self.spec.client;
        if c.timeout_ms == 0 {
            return Err(self.err("client.timeout_ms", "a zero timeout fails every op", None));
        }
        for (k, t) in &c.headers {
            Template::compile(t, &OP_VARS)
                .map_err(|e| self.template_err(&format!("client.headers.{k}"), e))?;
        }
        self.validate_capture()?;
        for (f, op) in &c.ops {
            let base = format!("client.ops.{f}");
            if reqwest::Method::from_bytes(op.method.as_bytes()).is_err() {
                return Err(self.err(
                    &format!("{base}.method"),
                    format!("`{}` is not an HTTP method", op.method),
                    None,
                ));
            }
            if op.builtin.is_some() && (!op.rules.is_empty() || op.body.is_some()) {
                return Err(self.err(
                    &format!("{base}.builtin"),
                    "a builtin op classifies its answers itself: `rules` and `body` do not apply",
                    Some("remove `rules` and `body` from this op".into()),
                ));
            }
            if let Some(builtin) = op.builtin.filter(|b| !b.ops().contains(&f.as_str())) {
                return Err(self.err(
                    &format!("{base}.builtin"),
                    format!(
                        "`{}` carries out {}, not `{f}`",
                        builtin.name(),
                        builtin
                            .ops()
                            .iter()
                            .map(|o| format!("`{o}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Some(format!(
                        "use it in [client.ops.{}] with the {} workload",
                        builtin.ops()[0],
                        builtin.name().trim_start_matches("etcd-v3-")
                    )),
                ));
            }
            if !op.path.starts_with('/') {
                return Err(self.err(
                    &format!("{base}.path"),
                    format!("the path {:?} does not start with `/`", op.path),
                    Some("the node's address and port come first; write only the path, e.g. \"/v3/kv/range\"".into()),
                ));
            }
            let mut templates: Vec<(String, &String)> = vec![(format!("{base}.path"), &op.path)];
            templates.extend(
                op.query
                    .iter()
                    .map(|(k, v)| (format!("{base}.query.{k}"), v)),
            );
            templates.extend(
                op.headers
                    .iter()
                    .map(|(k, v)| (format!("{base}.headers.{k}"), v)),
            );
            templates.extend(op.body.iter().map(|b| (format!("{base}.body"), b)));
            for (key, t) in templates {
                Template::compile(t, &OP_VARS).map_err(|e| self.template_err(&key, e))?;
            }
            for (i, rule) in op.rules.iter().enumerate() {
                let key = format!("{base}.rules");
                let pointers = rule
                    .missing
                    .iter()
                    .chain(&rule.present)
                    .chain(&rule.null)
                    .chain(rule.equals.keys())
                    .chain(rule.value.iter().map(|v| &v.pointer))
                    .chain(rule.value.iter().filter_map(|v| v.each.as_ref()));
                for p in pointers {
                    if !p.is_empty() && !p.starts_with('/') {
                        return Err(self.err(
                            &key,
                            format!("rule {}: {p:?} is not a JSON pointer", i + 1),
                            Some(format!("JSON pointers start with `/`: \"/{p}\"")),
                        ));
                    }
                }
                if rule.value.is_some() && rule.outcome != RuleOutcome::Ok {
                    return Err(self.err(
                        &key,
                        format!("rule {}: only an `ok` rule takes a value", i + 1),
                        Some("remove `value`, or make the outcome \"ok\"".into()),
                    ));
                }
            }
        }
        Ok(())
    }
}
