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

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;
use serde_json::Value;
use tokio::net::TcpStream;

use super::capture::Capture;
use super::template::{percent_encode, Scope, Template};
use super::{BoxFuture, Client, Completion, Invocation, Target};
use crate::spec::{
    Builtin, ClientSpec, Decode, ExtractSpec, IfMissing, OpSpec, RuleOutcome, ValueType, OP_VARS,
};

/// The values of an operation's template variables ([`OP_VARS`]) that are not the
/// invocation's own.
pub(crate) struct OpValues {
    key: Value,
    expected: Value,
    new: Value,
    node: Value,
    ip: Value,
    port: Value,
}

impl OpValues {
    pub(crate) fn new(inv: &Invocation, target: &Target) -> OpValues {
        let (expected, new) = match &inv.value {
            Value::Array(a) if a.len() == 2 => (a[0].clone(), a[1].clone()),
            _ => (Value::Null, Value::Null),
        };
        OpValues {
            key: inv.key.clone().map(Value::String).unwrap_or(Value::Null),
            expected,
            new,
            node: Value::String(target.node.clone()),
            ip: Value::String(target.ip.clone()),
            port: Value::from(target.port),
        }
    }

    /// Every variable of [`OP_VARS`], by name.
    pub(crate) fn scope<'a>(&'a self, inv: &'a Invocation) -> Scope<'a> {
        let scope = Scope::new()
            .with("key", &self.key)
            .with("value", &inv.value)
            .with("expected", &self.expected)
            .with("new", &self.new)
            .with("node", &self.node)
            .with("ip", &self.ip)
            .with("port", &self.port);
        debug_assert!(scope.names().eq(OP_VARS));
        scope
    }
}

/// A client built from a spec's `[client]` table, for a fixed list of nodes.
///
/// It speaks HTTP/1.1 over connections of its own (hyper's connection-level client): an
/// operation takes an idle connection to its node, or opens one, and gives it back only
/// after a complete answer, so a connection never carries two operations and a connection
/// that broke is never reused. Nothing is retried: the one exception is a pooled connection
/// found closed *before* the request was written, which is replaced — the store never saw
/// that request.
pub struct HttpClient {
    targets: Vec<Target>,
    ops: HashMap<String, CompiledOp>,
    headers: Vec<(HeaderName, Template)>,
    timeout: Duration,
    connect_timeout: Duration,
    /// The longest answer read; a longer one is an op whose answer was lost.
    max_body_bytes: usize,
    /// What to keep of each answer (`[client] capture`); `None`, the default, keeps nothing.
    capture: Option<Capture>,
    idle: Vec<Mutex<Vec<Conn>>>,
}

type Conn = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

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
    builtin: Option<Builtin>,
}

#[derive(Debug)]
struct Rule {
    status: Vec<u16>,
    body_contains: Option<String>,
    missing: Vec<String>,
    present: Vec<String>,
    null: Vec<String>,
    equals: Vec<(String, Value)>,
    outcome: RuleOutcome,
    value: Option<ExtractSpec>,
    error: Option<String>,
}

impl HttpClient {
    /// Builds the client; the spec has been validated, so templates compile.
    pub fn new(spec: &ClientSpec, targets: Vec<Target>) -> anyhow::Result<HttpClient> {
        let mut ops = HashMap::new();
        for (f, op) in &spec.ops {
            ops.insert(f.clone(), CompiledOp::compile(f, op)?);
        }
        Ok(HttpClient {
            idle: targets.iter().map(|_| Mutex::new(Vec::new())).collect(),
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
        match op.builtin {
            Some(Builtin::EtcdV3ListAppend) => {
                let shape = super::etcd::Shape::ListAppend;
                return super::etcd::txn(self, node, target, op, inv, shape).await;
            }
            Some(Builtin::EtcdV3RwRegister) => {
                let shape = super::etcd::Shape::RwRegister;
                return super::etcd::txn(self, node, target, op, inv, shape).await;
            }
            Some(Builtin::EtcdV3Bank) => {
                return super::etcd::bank(self, node, target, op, inv).await
            }
            Some(Builtin::EtcdV3Counter) => {
                return super::etcd::counter(self, node, target, op, inv).await
            }
            None => {}
        }
        let request = match self.request(op, target, inv) {
            Ok(r) => r,
            // Never sent: certainly not applied.
            Err(e) => return Completion::fail(format!("cannot build the request: {e}")),
        };
        match tokio::time::timeout(self.timeout, self.exchange(node, target, request)).await {
            Err(_) => op.lost(inv, "timeout"),
            // No connection, so the request was never written: nothing can have happened.
            Ok(Err(Lost::NotSent(e))) => Completion::fail(e),
            Ok(Err(Lost::Unknown(e))) => op.lost(inv, &e),
            Ok(Ok(answer)) => {
                let body = String::from_utf8_lossy(&answer.body);
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
        let mut request = self
            .request(op, target, &inv)
            .map_err(|e| Lost::NotSent(format!("cannot build the request: {e}")))?;
        *request.body_mut() = Full::new(Bytes::from(body));
        request.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        match tokio::time::timeout(self.timeout, self.exchange(node, target, request)).await {
            Err(_) => Err(Lost::Unknown("timeout".into())),
            Ok(Err(e)) => Err(e),
            Ok(Ok(Answer { status, body, .. })) => Ok((
                status,
                serde_json::from_slice(&body)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned())),
            )),
        }
    }

    /// Renders the op's templates into a request (origin-form URI, Host header).
    fn request(
        &self,
        op: &CompiledOp,
        target: &Target,
        inv: &Invocation,
    ) -> Result<hyper::Request<Full<Bytes>>, String> {
        let values = OpValues::new(inv, target);
        let vars = values.scope(inv);
        let mut uri = op.path.render(&vars);
        for (i, (k, t)) in op.query.iter().enumerate() {
            uri.push(if i == 0 { '?' } else { '&' });
            uri.push_str(&percent_encode(k));
            uri.push('=');
            uri.push_str(&percent_encode(&t.render(&vars)));
        }
        let mut builder = hyper::Request::builder()
            .method(op.method.clone())
            .uri(uri)
            .header(
                hyper::header::HOST,
                format!("{}:{}", target.ip, target.port),
            );
        for (name, t) in self.headers.iter().chain(&op.headers) {
            let value = HeaderValue::from_str(&t.render(&vars)).map_err(|e| e.to_string())?;
            builder = builder.header(name.clone(), value);
        }
        builder
            .body(Full::new(Bytes::from(op.body_text(&vars))))
            .map_err(|e| e.to_string())
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
        let request = self.request(op, target, inv)?;
        let mut text = format!(
            "{} http://{}:{}{}",
            request.method(),
            target.ip,
            target.port,
            request.uri()
        );
        if let Some(builtin) = op.builtin {
            let name = serde_json::to_value(builtin).unwrap_or_default();
            text.push_str(&format!(
                " (builtin {}: a range, then a guarded txn)",
                super::template::text(&name)
            ));
        }
        for (name, value) in request.headers() {
            if name != hyper::header::HOST {
                text.push_str(&format!("\n{name}: {}", value.to_str().unwrap_or("?")));
            }
        }
        let body = op.body_text(&OpValues::new(inv, target).scope(inv));
        if !body.is_empty() {
            text.push_str(&format!("\n{body}"));
        }
        Ok(text)
    }

    /// Sends one request on one connection and reads the whole answer.
    async fn exchange(
        &self,
        node: usize,
        target: &Target,
        request: hyper::Request<Full<Bytes>>,
    ) -> Result<Answer, Lost> {
        let pooled = self.idle[node].lock().ok().and_then(|mut idle| idle.pop());
        let connect = || async { self.connect(target).await.map_err(Lost::NotSent) };
        let mut conn = match pooled {
            Some(mut c) => match c.ready().await {
                Ok(()) => c,
                // Closed while idle (the store restarted): the request was not written yet.
                Err(_) => connect().await?,
            },
            None => connect().await?,
        };
        let unknown = |e: hyper::Error| Lost::Unknown(describe(&e));
        let response = conn.send_request(request).await.map_err(unknown)?;
        // Moving the headers out is free; only a capture ever reads them.
        let (parts, body) = response.into_parts();
        let status = parts.status.as_u16();
        // Bounded: a store that answers without end must not take the controller's memory.
        let body = http_body_util::Limited::new(body, self.max_body_bytes)
            .collect()
            .await
            .map_err(|e| match e.downcast_ref::<hyper::Error>() {
                Some(e) => Lost::Unknown(describe(e)),
                None if e.is::<http_body_util::LengthLimitError>() => Lost::Unknown(format!(
                    "the answer is longer than {} bytes (client.max_body_bytes)",
                    self.max_body_bytes
                )),
                None => Lost::Unknown(e.to_string()),
            })?
            .to_bytes();
        if let Ok(mut idle) = self.idle[node].lock() {
            idle.push(conn);
        }
        Ok(Answer {
            status,
            headers: parts.headers,
            body,
        })
    }

    async fn connect(&self, target: &Target) -> Result<Conn, String> {
        let addr = (target.ip.as_str(), target.port);
        let stream =
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                Err(_) => return Err("connect timeout".into()),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    return Err("connection refused".into())
                }
                Ok(Err(e)) => return Err(format!("cannot connect: {e}")),
                Ok(Ok(s)) => s,
            };
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| describe(&e))?;
        // Drives the connection until either side closes it; it ends with the connection.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }
}

impl Client for HttpClient {
    fn invoke<'a>(&'a self, node: usize, op: &'a Invocation) -> BoxFuture<'a, Completion> {
        Box::pin(self.perform(node, op))
    }
}

/// A whole answer to one request.
pub(super) struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
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

/// An error and its causes (reset, closed before a complete message, ...), on one line.
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
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
        let rules = op
            .rules
            .iter()
            .map(|r| Rule {
                status: r.status.clone(),
                body_contains: r.body_contains.clone(),
                missing: r.missing.clone(),
                present: r.present.clone(),
                null: r.null.clone(),
                equals: r
                    .equals
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::to_value(v).unwrap_or(Value::Null)))
                    .collect(),
                outcome: r.outcome,
                value: r.value.clone(),
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
            builtin: op.builtin,
        })
    }

    /// The body the op sends with `vars`; empty without a `body`.
    fn body_text(&self, vars: &Scope) -> String {
        self.body
            .as_ref()
            .map(|b| b.render(vars))
            .unwrap_or_default()
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
        let json: Option<Value> = serde_json::from_str(body).ok();
        for rule in &self.rules {
            if !rule.matches(status, body, json.as_ref()) {
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
                    Some(x) => self.extract(inv, x, json.as_ref()),
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

    fn extract(&self, inv: &Invocation, x: &ExtractSpec, json: Option<&Value>) -> Completion {
        let Some(json) = json else {
            return self.lost(inv, "the body is not JSON");
        };
        let Some(found) = json.pointer(&x.pointer) else {
            return match x.if_missing {
                IfMissing::Null => Completion::ok(Value::Null),
                IfMissing::Fail => Completion::fail(format!("no {} in the answer", x.pointer)),
                IfMissing::Info => Completion::info(format!("no {} in the answer", x.pointer)),
            };
        };
        let typed = match &x.each {
            None => convert(found, x),
            Some(each) => match found {
                Value::Array(items) => items
                    .iter()
                    .map(|item| match item.pointer(each) {
                        Some(v) => convert(v, x),
                        None => Err(format!("an element has no {each}")),
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array),
                Value::Null => Ok(Value::Array(Vec::new())),
                other => Err(format!("{} is not a list: {other}", x.pointer)),
            },
        };
        match typed {
            Ok(v) => Completion::ok(v),
            Err(e) => self.lost(inv, &format!("cannot read {}: {e}", x.pointer)),
        }
    }
}

impl Rule {
    fn matches(&self, status: u16, body: &str, json: Option<&Value>) -> bool {
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
        let Some(json) = json else {
            return false;
        };
        self.missing.iter().all(|p| json.pointer(p).is_none())
            && self.present.iter().all(|p| json.pointer(p).is_some())
            && self
                .null
                .iter()
                .all(|p| json.pointer(p) == Some(&Value::Null))
            && self.equals.iter().all(|(p, v)| json.pointer(p) == Some(v))
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
