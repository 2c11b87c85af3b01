//! The declarative HTTP client: each operation `f` of a spec's `[client.ops.F]` is a request
//! built from templates, and an ordered list of rules that classify the answer.
//!
//! ```text
//!  Invocation{f: cas, key: k3, value: [4, 7]}
//!     │  templates: path, query, headers, body  ({{key|base64}}, {{expected}}, {{new}})
//!     v
//!  POST http://10.44.0.3:2379/v3/kv/txn  ──►  200 {"header":{...}}      (no "succeeded")
//!     │  rules, first match wins:
//!     │    status=[200] equals{/succeeded=true}  -> ok
//!     │    status=[200] missing=[/succeeded]     -> fail   (etcd omits false fields)
//!     v    nothing matched / timeout / reset     -> info   (fail if the op has no side effects)
//!  Completion{fail, error: "cas did not match"}
//! ```
//!
//! The answer is never an error of the runner: garbage, a wrong status, an unparseable body,
//! a value of the wrong type are all data, classified here, in one place.

use faultline_checkers::model::FastMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::HeaderName;
use reqwest::Method;
use serde_json::Value;
use tokio::time::Instant;

use super::capture::Capture;
use super::pointer::{Found, Pointer, Pointers};
use super::template::{percent_encode, Scope, Template};
use super::wire::{self, Conn};
use super::{BoxFuture, Client, Completion, Invocation, Target};
use crate::spec::{
    Builtin, ClientSpec, Decode, ExtractSpec, IfMissing, OpSpec, RuleOutcome, ValueType, OP_VARS,
};

/// The values of an operation's template variables ([`OP_VARS`]) that are not the
/// invocation's own.
pub(crate) struct OpValues {
    key: Value,
    node: NodeValues,
}

/// A node's own template values (`node`, `ip`, `port`); the client makes them once per node.
pub(crate) struct NodeValues {
    node: Value,
    ip: Value,
    port: Value,
    /// What follows a request's path: the protocol and the `host` header.
    after_path: String,
}

impl NodeValues {
    fn of(target: &Target) -> NodeValues {
        NodeValues {
            node: Value::String(target.node.clone()),
            ip: Value::String(target.ip.clone()),
            port: Value::from(target.port),
            after_path: format!(" HTTP/1.1\r\nhost: {}:{}\r\n", target.ip, target.port),
        }
    }
}

static NULL: Value = Value::Null;

impl OpValues {
    pub(crate) fn new(inv: &Invocation, target: &Target) -> OpValues {
        OpValues {
            key: key_value(inv),
            node: NodeValues::of(target),
        }
    }

    /// Every variable of [`OP_VARS`], by name.
    pub(crate) fn scope<'a>(&'a self, inv: &'a Invocation) -> Scope<'a> {
        scope_of(&self.key, inv, &self.node)
    }
}

/// The key as a template's value: a string, or null for an op without one.
fn key_value(inv: &Invocation) -> Value {
    let mut key = Value::Null;
    set_key(&mut key, inv);
    key
}

thread_local! {
    /// The key as a template's value while a request is encoded, kept from one request to
    /// the next so that encoding one does not allocate a copy of its key.
    static KEY: std::cell::RefCell<Value> = const { std::cell::RefCell::new(Value::Null) };
}

/// Makes `key` the key of `inv` as a template's value, reusing the string `key` holds.
fn set_key(key: &mut Value, inv: &Invocation) {
    match (&inv.key, &mut *key) {
        (Some(k), Value::String(s)) => {
            s.clear();
            s.push_str(k);
        }
        (Some(k), _) => *key = Value::String(k.clone()),
        (None, _) => *key = Value::Null,
    }
}

/// The head's end, written into `buf`: `content-length` when there is a body or the
/// method takes one, then the empty line.
fn head_end(len: usize, takes_body: bool, buf: &mut [u8; 40]) -> &str {
    let mut n = 0;
    let mut put = |part: &[u8]| {
        buf[n..n + part.len()].copy_from_slice(part);
        n += part.len();
    };
    if len > 0 || takes_body {
        put(b"content-length: ");
        put(itoa::Buffer::new().format(len).as_bytes());
        put(b"\r\n");
    }
    put(b"\r\n");
    std::str::from_utf8(&buf[..n]).unwrap_or_default()
}

/// Every variable of [`OP_VARS`]: `key` (as [`key_value`] made it), the invocation's value
/// and, for a pair, its two halves (`expected`, `new`), and the node's own.
fn scope_of<'a>(key: &'a Value, inv: &'a Invocation, node: &'a NodeValues) -> Scope<'a> {
    let (expected, new) = match &inv.value {
        Value::Array(a) if a.len() == 2 => (&a[0], &a[1]),
        _ => (&NULL, &NULL),
    };
    let scope = Scope::of([
        ("key", key),
        ("value", &inv.value),
        ("expected", expected),
        ("new", new),
        ("node", &node.node),
        ("ip", &node.ip),
        ("port", &node.port),
    ]);
    debug_assert!(scope.names().eq(OP_VARS));
    scope
}

/// A client built from a spec's `[client]` table, for a fixed list of nodes.
///
/// It speaks HTTP/1.1 over connections of its own ([`wire`]): an operation takes an idle
/// connection to its node, or opens one, and gives it back only after a complete answer, so
/// a connection never carries two operations and a connection that broke is never reused.
/// Nothing is retried: the one exception is a pooled connection found closed *before* the
/// request was written, which is replaced — the store never saw that request.
pub struct HttpClient {
    targets: Vec<Target>,
    /// Each target's own template values.
    node_values: Vec<NodeValues>,
    /// By name, hashed a word at a time: the lookup is on every operation's path.
    ops: FastMap<String, CompiledOp>,
    headers: Vec<(HeaderName, Template)>,
    timeout: Duration,
    connect_timeout: Duration,
    /// The longest answer read; a longer one is an op whose answer was lost.
    max_body_bytes: usize,
    /// What to keep of each answer (`[client] capture`); `None`, the default, keeps nothing.
    capture: Option<Capture>,
    idle: Vec<Mutex<Vec<Conn>>>,
}

/// One `[client.ops.F]`, compiled.
#[derive(Debug)]
pub struct CompiledOp {
    method: Method,
    path: Template,
    query: Vec<(String, Template)>,
    headers: Vec<(HeaderName, Template)>,
    body: Option<Template>,
    side_effects: bool,
    rules: Vec<Rule>,
    /// Every pointer the rules follow, each once; a rule names one by its number.
    pointers: Pointers,
    builtin: Option<Builtin>,
}

#[derive(Debug)]
struct Rule {
    status: Vec<u16>,
    body_contains: Option<String>,
    missing: Vec<usize>,
    present: Vec<usize>,
    null: Vec<usize>,
    equals: Vec<(usize, Value)>,
    outcome: RuleOutcome,
    value: Option<Extract>,
    error: Option<String>,
}

/// A rule's `value`: the op's pointer it reads, and `each` split once.
#[derive(Debug)]
struct Extract {
    spec: ExtractSpec,
    at: usize,
    each: Option<Pointer>,
}

impl HttpClient {
    /// Builds the client; the spec has been validated, so templates compile.
    pub fn new(spec: &ClientSpec, targets: Vec<Target>) -> anyhow::Result<HttpClient> {
        let mut ops = FastMap::default();
        for (f, op) in &spec.ops {
            ops.insert(f.clone(), CompiledOp::compile(f, op)?);
        }
        Ok(HttpClient {
            idle: targets.iter().map(|_| Mutex::new(Vec::new())).collect(),
            node_values: targets.iter().map(NodeValues::of).collect(),
            targets,
            ops,
            headers: compile_headers(&spec.headers)?,
            timeout: Duration::from_millis(spec.timeout_ms),
            connect_timeout: Duration::from_millis(spec.connect_timeout_ms),
            max_body_bytes: spec.max_body_bytes,
            capture: Capture::from_spec(&spec.capture)?,
        })
    }

    async fn perform(&self, node: usize, inv: &Invocation) -> Completion {
        let Some(op) = self.ops.get(&inv.f) else {
            return Completion::fail(format!("the spec has no [client.ops.{}]", inv.f));
        };
        let Some(target) = self.targets.get(node) else {
            return Completion::fail(format!("no node {node}"));
        };
        // A builtin's steps are futures of their own, boxed: inline, their state would make
        // every operation's future several times larger, and it is moved on every call.
        match op.builtin {
            Some(Builtin::EtcdV3ListAppend) => {
                let shape = super::etcd::Shape::ListAppend;
                return Box::pin(super::etcd::txn(self, node, target, op, inv, shape)).await;
            }
            Some(Builtin::EtcdV3RwRegister) => {
                let shape = super::etcd::Shape::RwRegister;
                return Box::pin(super::etcd::txn(self, node, target, op, inv, shape)).await;
            }
            Some(Builtin::EtcdV3Bank) => {
                return Box::pin(super::etcd::bank(self, node, target, op, inv)).await
            }
            Some(Builtin::EtcdV3Counter) => {
                return Box::pin(super::etcd::counter(self, node, target, op, inv)).await
            }
            None => {}
        }
        let deadline = Instant::now() + self.timeout;
        match self.exchange(node, target, op, inv, None, deadline).await {
            // Not built, or no connection: the request was never written, so nothing can
            // have happened.
            Err(Lost::NotSent(e)) => Completion::fail(e),
            Err(Lost::Unknown(e)) => op.lost(inv, &e),
            Ok(answer) => {
                let body = match std::str::from_utf8(&answer.body) {
                    Ok(text) => std::borrow::Cow::Borrowed(text),
                    Err(_) => String::from_utf8_lossy(&answer.body),
                };
                let mut c = op.classify(inv, answer.status, &body);
                if let Some(capture) = &self.capture {
                    c.response =
                        Some(capture.excerpt(answer.status, &answer.headers, &answer.body));
                }
                c
            }
        }
    }

    /// Sends `body` as JSON to the op's path (its method, query and headers) on one node and
    /// reads the answer as JSON, within the client's timeout: one step of a builtin op.
    pub(super) async fn post(
        &self,
        node: usize,
        target: &Target,
        op: &CompiledOp,
        body: String,
    ) -> Result<(u16, Value), Lost> {
        let inv = Invocation {
            f: String::new(),
            key: None,
            value: Value::Null,
        };
        let deadline = Instant::now() + self.timeout;
        match self
            .exchange(node, target, op, &inv, Some(&body), deadline)
            .await
        {
            Err(e) => Err(e),
            Ok(wire::Answer { status, body, .. }) => Ok((
                status,
                serde_json::from_slice(&body)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned())),
            )),
        }
    }

    /// Writes the request `inv` makes of `op` on `target` into `out` as HTTP/1.1: the
    /// rendered path and query, `host`, the client's and the op's headers, `content-length`
    /// and the body. `json_body` replaces the op's body (a builtin op's step), sent as
    /// `application/json`. A path or header value that cannot be sent is an error.
    fn encode(
        &self,
        op: &CompiledOp,
        node: usize,
        inv: &Invocation,
        json_body: Option<&str>,
        out: &mut String,
    ) -> Result<(), String> {
        KEY.with_borrow_mut(|key| {
            set_key(key, inv);
            self.encode_with(op, node, inv, key, json_body, out)
        })
    }

    /// [`HttpClient::encode`], with the key already a template's value.
    fn encode_with(
        &self,
        op: &CompiledOp,
        node: usize,
        inv: &Invocation,
        key: &Value,
        json_body: Option<&str>,
        out: &mut String,
    ) -> Result<(), String> {
        let node_values = &self.node_values[node];
        let vars = scope_of(key, inv, node_values);
        out.clear();
        out.push_str(op.method.as_str());
        out.push(' ');
        let path = out.len();
        op.path.render_into(&vars, out);
        for (i, (k, t)) in op.query.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(&percent_encode(k));
            out.push('=');
            out.push_str(&percent_encode(&t.render(&vars)));
        }
        wire::valid_target(&out[path..])?;
        out.push_str(&node_values.after_path);
        for (name, t) in self.headers.iter().chain(&op.headers) {
            let framing = name == reqwest::header::CONTENT_LENGTH
                || name == reqwest::header::TRANSFER_ENCODING
                || name == reqwest::header::HOST;
            if framing || (json_body.is_some() && name == reqwest::header::CONTENT_TYPE) {
                continue;
            }
            out.push_str(name.as_str());
            out.push_str(": ");
            let value = out.len();
            t.render_into(&vars, out);
            wire::valid_header_value(&out[value..])?;
            out.push_str("\r\n");
        }
        let takes_body = matches!(op.method, Method::POST | Method::PUT | Method::PATCH);
        if let Some(body) = json_body {
            out.push_str("content-type: application/json\r\n");
            out.push_str(head_end(body.len(), takes_body, &mut [0; 40]));
            out.push_str(body);
            return Ok(());
        }
        // The body is rendered where it goes and its length then put in front of it: no
        // string of its own per request.
        let start = out.len();
        if let Some(body) = &op.body {
            body.render_into(&vars, out);
        }
        out.insert_str(start, head_end(out.len() - start, takes_body, &mut [0; 40]));
        Ok(())
    }

    /// The request `inv` would send to node `node`, as text — `METHOD http://ip:port/path`,
    /// then each header and the body on lines of their own — without sending anything:
    /// what `faultline check-spec` prints. A builtin op says which builtin it runs.
    pub fn describe(&self, node: usize, inv: &Invocation) -> Result<String, String> {
        let op = self
            .ops
            .get(&inv.f)
            .ok_or_else(|| format!("the spec has no [client.ops.{}]", inv.f))?;
        let target = self.targets.get(node).ok_or("no such node")?;
        let mut request = String::new();
        self.encode(op, node, inv, None, &mut request)?;
        let (head, body) = request.split_once("\r\n\r\n").unwrap_or((&request, ""));
        let mut lines = head.split("\r\n");
        let first = lines.next().unwrap_or_default();
        let mut words = first.split(' ');
        let (method, path) = (
            words.next().unwrap_or_default(),
            words.next().unwrap_or_default(),
        );
        let mut text = format!("{method} http://{}:{}{path}", target.ip, target.port);
        if let Some(builtin) = op.builtin {
            let name = serde_json::to_value(builtin).unwrap_or_default();
            text.push_str(&format!(
                " (builtin {}: a range, then a guarded txn)",
                super::template::text(&name)
            ));
        }
        for line in lines {
            if !line.starts_with("host:") && !line.starts_with("content-length:") {
                text.push_str(&format!("\n{line}"));
            }
        }
        if !body.is_empty() {
            text.push_str(&format!("\n{body}"));
        }
        Ok(text)
    }

    /// Sends one request on one connection and reads the whole answer by `deadline` (else
    /// `timeout`): an idle connection to the node that is still open, else a new one.
    async fn exchange(
        &self,
        node: usize,
        target: &Target,
        op: &CompiledOp,
        inv: &Invocation,
        json_body: Option<&str>,
        deadline: Instant,
    ) -> Result<wire::Answer, Lost> {
        let pooled = loop {
            let Some(conn) = self.idle[node].lock().ok().and_then(|mut idle| idle.pop()) else {
                break None;
            };
            // Closed while idle (the store restarted): the request was not written yet.
            if conn.still_open() {
                break Some(conn);
            }
        };
        let built = |out: &mut String| {
            self.encode(op, node, inv, json_body, out)
                .map_err(|e| Lost::NotSent(format!("cannot build the request: {e}")))
        };
        let head = op.method == Method::HEAD;
        let keep_headers = self.capture.is_some();
        let (conn, answer, reusable) = match pooled {
            Some(mut conn) => {
                if let Err(e) = built(&mut conn.out) {
                    if let Ok(mut idle) = self.idle[node].lock() {
                        idle.push(conn);
                    }
                    return Err(e);
                }
                let (answer, reusable) = conn
                    .exchange_by(deadline, head, keep_headers, self.max_body_bytes)
                    .await
                    .map_err(Lost::Unknown)?;
                (conn, answer, reusable)
            }
            None => {
                let mut out = String::new();
                built(&mut out)?;
                // A new connection's time to connect counts against the deadline too.
                let opened = async {
                    let mut conn = Conn::open(&target.ip, target.port, self.connect_timeout)
                        .await
                        .map_err(Lost::NotSent)?;
                    conn.out = out;
                    let (answer, reusable) = conn
                        .exchange(head, keep_headers, self.max_body_bytes)
                        .await
                        .map_err(Lost::Unknown)?;
                    Ok((conn, answer, reusable))
                };
                tokio::time::timeout_at(deadline, opened)
                    .await
                    .map_err(|_| Lost::Unknown("timeout".into()))??
            }
        };
        // Back to the node's idle list only if the answer allows it.
        if reusable {
            if let Ok(mut idle) = self.idle[node].lock() {
                idle.push(conn);
            }
        }
        Ok(answer)
    }
}

impl Client for HttpClient {
    fn invoke<'a>(&'a self, node: usize, op: &'a Invocation) -> BoxFuture<'a, Completion> {
        Box::pin(self.perform(node, op))
    }
}

/// Why an exchange brought no answer.
#[derive(Debug)]
pub enum Lost {
    /// No connection could be opened (refused, unreachable, connect timeout): the request
    /// was never written, so the operation certainly did not happen.
    NotSent(String),
    /// The request may have been written (reset, closed mid-answer): nobody knows.
    Unknown(String),
}

fn compile_headers(
    headers: &std::collections::BTreeMap<String, String>,
) -> anyhow::Result<Vec<(HeaderName, Template)>> {
    headers
        .iter()
        .map(|(k, v)| {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| anyhow::anyhow!("`{k}` is not a valid header name"))?;
            Ok((name, Template::compile(v, &OP_VARS)?))
        })
        .collect()
}

impl CompiledOp {
    /// Compiles one op; `f` decides the side-effects default.
    pub fn compile(f: &str, op: &OpSpec) -> anyhow::Result<CompiledOp> {
        let mut pointers = Pointers::default();
        let rules = op
            .rules
            .iter()
            .map(|r| Rule {
                status: r.status.clone(),
                body_contains: r.body_contains.clone(),
                missing: r.missing.iter().map(|p| pointers.add(p)).collect(),
                present: r.present.iter().map(|p| pointers.add(p)).collect(),
                null: r.null.iter().map(|p| pointers.add(p)).collect(),
                equals: r
                    .equals
                    .iter()
                    .map(|(k, v)| {
                        let v = serde_json::to_value(v).unwrap_or(Value::Null);
                        (pointers.add(k), v)
                    })
                    .collect(),
                outcome: r.outcome,
                value: r.value.as_ref().map(|x| Extract {
                    spec: x.clone(),
                    at: pointers.add(&x.pointer),
                    each: x.each.as_deref().map(Pointer::new),
                }),
                error: r.error.clone(),
            })
            .collect();
        Ok(CompiledOp {
            method: Method::from_bytes(op.method.as_bytes())?,
            path: Template::compile(&op.path, &OP_VARS)?,
            query: op
                .query
                .iter()
                .map(|(k, v)| Ok((k.clone(), Template::compile(v, &OP_VARS)?)))
                .collect::<anyhow::Result<_>>()?,
            headers: compile_headers(&op.headers)?,
            body: op
                .body
                .as_deref()
                .map(|b| Template::compile(b, &OP_VARS))
                .transpose()?,
            side_effects: op.side_effects.unwrap_or(f != "read"),
            rules,
            pointers,
            builtin: op.builtin,
        })
    }

    /// The answer was lost after the request may have been sent (timeout, reset, garbage):
    /// `fail` if the op changes nothing, else `info`.
    fn lost(&self, inv: &Invocation, why: &str) -> Completion {
        if self.changes_something(inv) {
            Completion::info(why)
        } else {
            Completion::fail(why)
        }
    }

    /// Whether this invocation may change the store: the op's `side_effects`, except that a
    /// transaction whose micro-ops are all reads (`["r", k, null]`) changes nothing.
    fn changes_something(&self, inv: &Invocation) -> bool {
        if !self.side_effects {
            return false;
        }
        match (&*inv.f, &inv.value) {
            ("txn", Value::Array(micro)) => !micro.iter().all(|m| m[0] == "r"),
            _ => true,
        }
    }

    /// Classifies an answer by the first matching rule.
    pub fn classify(&self, inv: &Invocation, status: u16, body: &str) -> Completion {
        // Read when the first rule that looks inside the body is reached: an op whose rules
        // read only the status (most writes) never pays for it. One pass finds what every
        // pointer of the op points at.
        let found = std::cell::OnceCell::new();
        let parsed = || found.get_or_init(|| self.pointers.resolve(body)).as_ref();
        for rule in &self.rules {
            if !rule.matches(status, body, parsed) {
                continue;
            }
            let error = || {
                rule.error
                    .clone()
                    .unwrap_or_else(|| format!("HTTP {status}"))
            };
            return match rule.outcome {
                RuleOutcome::Fail => Completion::fail(error()),
                RuleOutcome::Info => Completion::info(error()),
                RuleOutcome::Ok => match &rule.value {
                    None if self.side_effects => Completion::ok(inv.value.clone()),
                    None => Completion::ok(Value::Null),
                    Some(x) => self.extract(inv, x, parsed()),
                },
            };
        }
        let mut excerpt: String = body.chars().take(120).collect();
        if excerpt.len() < body.len() {
            excerpt.push('…');
        }
        self.lost(
            inv,
            &format!("unrecognised answer: HTTP {status} {}", excerpt.trim()),
        )
    }

    fn extract(&self, inv: &Invocation, extract: &Extract, json: Option<&Found>) -> Completion {
        let Some(json) = json else {
            return self.lost(inv, "the body is not JSON");
        };
        let x = &extract.spec;
        let Some(found) = json.get(extract.at) else {
            return match x.if_missing {
                IfMissing::Null => Completion::ok(Value::Null),
                IfMissing::Fail => Completion::fail(format!("no {} in the answer", x.pointer)),
                IfMissing::Info => Completion::info(format!("no {} in the answer", x.pointer)),
            };
        };
        let typed = match (&extract.each, &x.each) {
            (Some(each), Some(text)) => match found {
                Value::Array(items) => items
                    .iter()
                    .map(|item| match each.find(item) {
                        Some(v) => convert(v, x),
                        None => Err(format!("an element has no {text}")),
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array),
                Value::Null => Ok(Value::Array(Vec::new())),
                other => Err(format!("{} is not a list: {other}", x.pointer)),
            },
            _ => convert(found, x),
        };
        match typed {
            Ok(v) => Completion::ok(v),
            Err(e) => self.lost(inv, &format!("cannot read {}: {e}", x.pointer)),
        }
    }
}

impl Rule {
    /// Whether the answer matches; `json` reads the body (once) if a test needs it.
    fn matches<'j>(
        &self,
        status: u16,
        body: &str,
        json: impl FnOnce() -> Option<&'j Found>,
    ) -> bool {
        if !self.status.is_empty() && !self.status.contains(&status) {
            return false;
        }
        if let Some(text) = &self.body_contains {
            if !body.contains(text.as_str()) {
                return false;
            }
        }
        let needs_json = !self.missing.is_empty()
            || !self.present.is_empty()
            || !self.null.is_empty()
            || !self.equals.is_empty();
        if !needs_json {
            return true;
        }
        // Garbage matches no rule that looks inside the body.
        let Some(json) = json() else {
            return false;
        };
        self.missing.iter().all(|&p| json.get(p).is_none())
            && self.present.iter().all(|&p| json.get(p).is_some())
            && self.null.iter().all(|&p| json.get(p) == Some(&Value::Null))
            && self.equals.iter().all(|(p, v)| json.get(*p) == Some(v))
    }
}

/// Decodes and types one extracted value. A JSON `null` is null whatever the type: a store
/// that answers `{"value": null}` for an absent key has read nothing, which is an ok read of
/// null, as a missing pointer is.
fn convert(v: &Value, x: &ExtractSpec) -> Result<Value, String> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let decoded;
    let v = match x.decode {
        None => v,
        Some(Decode::Base64) => {
            let Value::String(s) = v else {
                return Err(format!("expected base64 text, found {v}"));
            };
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| format!("bad base64 {s:?}: {e}"))?;
            decoded = Value::String(
                String::from_utf8(bytes).map_err(|_| "decoded bytes are not UTF-8".to_string())?,
            );
            &decoded
        }
    };
    match (x.kind, v) {
        (ValueType::Int, Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(v.clone()),
        (ValueType::Int, Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("{s:?} is not an integer")),
        (ValueType::String, Value::String(_)) => Ok(v.clone()),
        (ValueType::String, Value::Number(n)) => Ok(Value::String(n.to_string())),
        (ValueType::Bool, Value::Bool(_)) => Ok(v.clone()),
        (ValueType::Bool, Value::String(s)) if s == "true" || s == "false" => {
            Ok(Value::Bool(s == "true"))
        }
        (ValueType::Json, Value::String(s)) if x.decode.is_some() => {
            Ok(serde_json::from_str(s).unwrap_or_else(|_| v.clone()))
        }
        (ValueType::Json, _) => Ok(v.clone()),
        (kind, other) => Err(format!("expected {kind:?}, found {other}").to_lowercase()),
    }
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
