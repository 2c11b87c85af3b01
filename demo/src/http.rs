//! The HTTP API (documented in demo/README.md): routes, request parsing, forwarding to the
//! primary, and the mapping from outcomes to status codes.
//!
//! The status code is the contract a test client relies on:
//! 2xx — it happened; 409 — a compare-and-set found another value, nothing happened;
//! 421 — refused because the primary is out of reach or has no majority, nothing happened;
//! other 4xx — the request was refused as malformed, nothing happened; 5xx — unknown: an
//! operation that changes data may or may not take effect (a read changes nothing, so for a
//! read any failure is definite).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::config::Mode;
use crate::node::{AppendRequest, AppendResponse, Node, Reply};
use crate::store::{self, Op, Outcome};

/// Marks a request a replica forwarded to the primary, so that it is never forwarded again.
const FORWARDED_BY: &str = "x-faultline-demo-forwarded-by";
/// Requests larger than this are refused (replication batches included).
const MAX_BODY_BYTES: usize = 16 << 20;

type Resp = Response<Full<Bytes>>;

pub async fn serve(node: Arc<Node>, listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let node = node.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(node.clone(), req));
            // A client that hangs up mid-request is its own business.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(node: Arc<Node>, req: Request<Incoming>) -> Result<Resp, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let forwarded = req.headers().contains_key(FORWARDED_BY);
    let body = match Limited::new(req.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return Ok(error(&node, StatusCode::BAD_REQUEST, &e.to_string())),
    };
    Ok(route(&node, &method, &path, forwarded, body).await)
}

async fn route(
    node: &Arc<Node>,
    method: &Method,
    path: &str,
    forwarded: bool,
    body: Bytes,
) -> Resp {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let op = match (method, segments.as_slice()) {
        (&Method::GET, ["health"]) => return health(node).await,
        (&Method::GET, ["primary"]) => return primary(node),
        (&Method::GET, ["ready"]) => Ok(Op::Barrier),
        (&Method::POST, ["internal", "append"]) => return append(node, &body).await,
        (&Method::GET, ["kv", key]) if !key.is_empty() => Ok(Op::Read {
            key: key.to_string(),
        }),
        (&Method::PUT | &Method::POST, ["kv", key]) if !key.is_empty() => parse_write(key, &body),
        (&Method::POST, ["cas", key]) if !key.is_empty() => parse_cas(key, &body),
        (&Method::PUT | &Method::POST, ["kv"]) => parse_put_all(&body),
        (&Method::POST, ["read"]) => parse_read_many(&body),
        (&Method::POST, ["transfer"]) => parse_transfer(&body),
        (&Method::POST, ["ids", key]) if !key.is_empty() => Ok(Op::NextId {
            key: key.to_string(),
        }),
        (&Method::POST, ["txn"]) => {
            parse_json(&body).and_then(|v| store::parse_txn(&v).map(|ops| Op::Txn { ops }))
        }
        _ => {
            return error(
                node,
                StatusCode::NOT_FOUND,
                &format!("no route for {method} {path}; see demo/README.md"),
            )
        }
    };
    match op {
        Ok(op) => client_op(node, op, method, path, forwarded, body).await,
        Err(e) => error(node, StatusCode::BAD_REQUEST, &e),
    }
}

/// Where an operation is served: read-only operations locally in stale-reads mode,
/// everything else by the primary.
async fn client_op(
    node: &Arc<Node>,
    op: Op,
    method: &Method,
    path: &str,
    forwarded: bool,
    body: Bytes,
) -> Resp {
    if node.cfg.mode == Mode::Crashes && !node.cfg.is_primary() {
        crash_under_load(node);
    }
    if node.cfg.mode == Mode::StaleReads && op.is_read_only() && op != Op::Barrier {
        let outcome = node.read_local(&op).await;
        return reply(node, Reply::Done(outcome));
    }
    if node.cfg.is_primary() {
        let r = node.submit(op).await;
        return reply(node, r);
    }
    if forwarded {
        return error(
            node,
            StatusCode::INTERNAL_SERVER_ERROR,
            "a request was forwarded to a replica that is not the primary: every replica \
             needs the same --peers",
        );
    }
    forward(node, method, path, body).await
}

/// The `crashes` mode's bug: a replica aborts once it has served `--crash-after` client
/// requests, as a store with a broken invariant check would.
fn crash_under_load(node: &Node) {
    static SERVED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let served = SERVED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    if served >= node.cfg.crash_after {
        eprintln!(
            "faultline-demo: fatal: replica {} found its applied index ahead of its log after \
             {served} requests; aborting",
            node.cfg.id
        );
        std::process::exit(70);
    }
}

/// Passes a request to the primary and its answer back unchanged. When the primary does not
/// answer, nobody knows whether it applied the operation: 503/504, never a definite failure.
async fn forward(node: &Node, method: &Method, path: &str, body: Bytes) -> Resp {
    let primary = node.cfg.primary();
    let url = format!("http://{}{}", primary.addr, path);
    let sent = node
        .http
        .request(method.clone(), url)
        .header(FORWARDED_BY, &node.cfg.id)
        .header("content-type", "application/json")
        .body(body)
        .timeout(node.cfg.forward_timeout())
        .send()
        .await;
    let failure = match sent {
        Ok(resp) => {
            let status = resp.status();
            match resp.bytes().await {
                Ok(bytes) => return raw(status, bytes),
                Err(e) => e,
            }
        }
        Err(e) => e,
    };
    if failure.is_connect() {
        // No connection, so no request: the primary never saw it.
        let body = json!({
            "error": "primary-unreachable",
            "detail": format!("cannot connect to primary {}: {failure}; nothing was done", primary.id),
            "node": node.cfg.id,
        });
        return json_response(StatusCode::MISDIRECTED_REQUEST, &body);
    }
    let (status, what) = if failure.is_timeout() {
        (StatusCode::GATEWAY_TIMEOUT, "timeout")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "primary-connection-lost")
    };
    let body = json!({
        "error": what,
        "detail": format!("primary {} did not answer: {failure}", primary.id),
        "node": node.cfg.id,
    });
    json_response(status, &body)
}

fn reply(node: &Node, r: Reply) -> Resp {
    match r {
        Reply::Done(Outcome::Done(value)) => json_response(
            StatusCode::OK,
            &json!({"value": value, "node": node.cfg.id}),
        ),
        Reply::Done(Outcome::Mismatch { current }) => json_response(
            StatusCode::CONFLICT,
            &json!({"error": "mismatch", "value": current, "node": node.cfg.id}),
        ),
        Reply::Refused => json_response(
            StatusCode::MISDIRECTED_REQUEST,
            &json!({
                "error": "unavailable",
                "detail": "the primary cannot reach a majority; nothing was done",
                "node": node.cfg.id,
            }),
        ),
        Reply::NoMajority => json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({
                "error": "no-majority",
                "detail": "the primary could not reach a majority in time; the operation may still take effect",
                "node": node.cfg.id,
            }),
        ),
    }
}

async fn health(node: &Node) -> Resp {
    let role = if node.cfg.is_primary() {
        "primary"
    } else {
        "follower"
    };
    let mode = match node.cfg.mode {
        Mode::Linearizable => "linearizable",
        Mode::StaleReads => "stale-reads",
        Mode::LostUpdates => "lost-updates",
        Mode::Crashes => "crashes",
    };
    json_response(
        StatusCode::OK,
        &json!({
            "node": node.cfg.id,
            "role": role,
            "primary": node.cfg.primary().id,
            "mode": mode,
            "log_len": node.log_len().await,
        }),
    )
}

/// Whether this replica is the primary: the answer a leader probe asks for. The primary is
/// fixed, so the answer never changes while the replica serves.
fn primary(node: &Node) -> Resp {
    json_response(
        StatusCode::OK,
        &json!({
            "node": node.cfg.id,
            "primary": node.cfg.primary().id,
            "is_primary": node.cfg.is_primary(),
        }),
    )
}

async fn append(node: &Node, body: &Bytes) -> Resp {
    let req: AppendRequest = match serde_json::from_slice(body) {
        Ok(req) => req,
        Err(e) => return error(node, StatusCode::BAD_REQUEST, &format!("bad append: {e}")),
    };
    match node.accept_append(req).await {
        Ok(len) => json_response(StatusCode::OK, &json!(AppendResponse { len })),
        Err(e) => error(node, StatusCode::CONFLICT, &e),
    }
}

fn parse_json(body: &Bytes) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, String> {
    v.get(name)
        .ok_or_else(|| format!("the body needs a `{name}` field"))
}

fn parse_write(key: &str, body: &Bytes) -> Result<Op, String> {
    let v = parse_json(body)?;
    Ok(Op::Write {
        key: key.to_string(),
        value: field(&v, "value")?.clone(),
    })
}

/// `{"expected": e, "new": n}`, or `{"value": [e, n]}` as the history writes a CAS.
fn parse_cas(key: &str, body: &Bytes) -> Result<Op, String> {
    let v = parse_json(body)?;
    let (expected, new) = match v.get("value").and_then(Value::as_array) {
        Some(pair) if pair.len() == 2 => (pair[0].clone(), pair[1].clone()),
        _ => (field(&v, "expected")?.clone(), field(&v, "new")?.clone()),
    };
    Ok(Op::Cas {
        key: key.to_string(),
        expected,
        new,
    })
}

/// `{"values": {k: v, ...}}`, or `{"value": {...}}` as the history writes it.
fn parse_put_all(body: &Bytes) -> Result<Op, String> {
    let v = parse_json(body)?;
    let map = v
        .get("values")
        .or_else(|| v.get("value"))
        .and_then(Value::as_object)
        .ok_or("expected {\"values\": {key: value, ...}}")?;
    Ok(Op::PutAll {
        values: map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    })
}

/// `["a", "b"]` or `{"keys": [...]}`: the keys to read, as strings or numbers.
fn parse_read_many(body: &Bytes) -> Result<Op, String> {
    let v = parse_json(body)?;
    let list = match &v {
        Value::Array(list) => list,
        other => other
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("expected a list of keys, or {\"keys\": [...]}")?,
    };
    let keys = list.iter().map(store::key_of).collect::<Result<_, _>>()?;
    Ok(Op::ReadMany { keys })
}

/// `{"from": a, "to": b, "amount": n}`, or the same under `"value"`.
fn parse_transfer(body: &Bytes) -> Result<Op, String> {
    let v = parse_json(body)?;
    let t = v.get("value").filter(|t| t.is_object()).unwrap_or(&v);
    let amount = field(t, "amount")?
        .as_i64()
        .filter(|a| *a >= 0)
        .ok_or("`amount` must be a non-negative integer")?;
    Ok(Op::Transfer {
        from: store::key_of(field(t, "from")?)?,
        to: store::key_of(field(t, "to")?)?,
        amount,
    })
}

fn error(node: &Node, status: StatusCode, message: &str) -> Resp {
    json_response(status, &json!({"error": message, "node": node.cfg.id}))
}

fn json_response(status: StatusCode, body: &Value) -> Resp {
    raw(status, Bytes::from(body.to_string()))
}

fn raw(status: StatusCode, body: Bytes) -> Resp {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}
