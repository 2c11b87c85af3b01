//! list-append transactions on etcd v3, which has no lists and no transactions that read
//! and then write what they read: etcd's `Txn` is one atomic compare-then-act, whose actions
//! cannot depend on what it reads. A list-append transaction is therefore two requests to
//! the v3 JSON gateway's `/v3/kv/txn`, an optimistic transaction:
//!
//! 1. **read**: one `Txn` whose success branch ranges over every key the transaction
//!    touches — one linearizable read of all of them at a single revision. Each key holds
//!    its list as JSON text (`[1,2,4]`); an absent key is the empty list, with mod revision 0.
//! 2. **guarded write** (only if the transaction appends): a `Txn` comparing every touched
//!    key's mod revision with the one read (etcd compares an absent key as revision 0) and,
//!    if all are unchanged, putting each appended key's new list. Reads are filled in from
//!    step 1 plus the transaction's own earlier appends.
//!
//! If nothing changed between the two requests, the transaction took effect at the write's
//! revision, as if read and write were one: strictly serializable. Otherwise etcd answers
//! without `succeeded` (the gateway omits false fields) and nothing was written: a definite
//! `fail`. A lost or unrecognised answer to the read is `fail` (it changed nothing); to the
//! write, `info`.
//!
//! Elle's rw-register transactions (`["w", k, v]`, `["r", k, null]`) take the same two
//! steps ([`Shape::RwRegister`]): each key holds its register's value as JSON text, an
//! absent key reads `null`, and the guarded write puts each written key's last value.

use base64::Engine as _;
use serde_json::{json, Value};

use super::http::{CompiledOp, HttpClient, Lost};
use super::{Completion, Invocation, Target};

/// Which of Elle's transactions a key's value serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A list, appended to; absent is the empty list.
    ListAppend,
    /// A register, overwritten; absent is `null`.
    RwRegister,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::ListAppend => "list-append",
            Shape::RwRegister => "rw-register",
        }
    }

    fn absent(self) -> Value {
        match self {
            Shape::ListAppend => Value::Array(Vec::new()),
            Shape::RwRegister => Value::Null,
        }
    }
}

/// Carries out one `txn` of the given shape (see the module docs).
pub async fn txn(
    client: &HttpClient,
    node: usize,
    target: &Target,
    op: &CompiledOp,
    inv: &Invocation,
    shape: Shape,
) -> Completion {
    let micro = match parse(&inv.value, shape) {
        Ok(m) => m,
        Err(e) => return Completion::fail(format!("not a {} transaction: {e}", shape.name())),
    };
    let mut keys: Vec<&str> = Vec::new();
    for m in &micro {
        if !keys.contains(&m.key.as_str()) {
            keys.push(&m.key);
        }
    }
    let ranges: Vec<Value> = keys
        .iter()
        .map(|k| json!({"request_range": {"key": b64(k)}}))
        .collect();
    let body = json!({"success": ranges}).to_string();
    let read = match client.post(node, target, op, body).await {
        Ok((200, answer)) => answer,
        Ok((status, answer)) => {
            return Completion::fail(format!("read: unrecognised answer: HTTP {status} {answer}"))
        }
        Err(Lost::NotSent(e) | Lost::Unknown(e)) => return Completion::fail(format!("read: {e}")),
    };
    let mut state: Vec<(Value, String)> = Vec::with_capacity(keys.len());
    for i in 0..keys.len() {
        match current(&read, i, shape) {
            Ok(s) => state.push(s),
            Err(e) => return Completion::fail(format!("read: {e}")),
        }
    }
    let revisions: Vec<String> = state.iter().map(|(_, rev)| rev.clone()).collect();
    let mut done = Vec::with_capacity(micro.len());
    let mut appended = vec![false; keys.len()];
    for m in &micro {
        let i = keys.iter().position(|k| *k == m.key).unwrap_or(0);
        match m.kind {
            Kind::Append => {
                if let Value::Array(list) = &mut state[i].0 {
                    list.push(m.value.clone());
                }
                appended[i] = true;
                done.push(json!(["append", m.key, m.value]));
            }
            Kind::Write => {
                state[i].0 = m.value.clone();
                appended[i] = true;
                done.push(json!(["w", m.key, m.value]));
            }
            Kind::Read => done.push(json!(["r", m.key, state[i].0])),
        }
    }
    if !appended.contains(&true) {
        return Completion::ok(Value::Array(done));
    }
    let compare: Vec<Value> = keys
        .iter()
        .zip(&revisions)
        .map(|(k, rev)| {
            json!({"key": b64(k), "target": "MOD", "result": "EQUAL", "mod_revision": rev})
        })
        .collect();
    let puts: Vec<Value> = keys
        .iter()
        .zip(&state)
        .zip(&appended)
        .filter(|(_, &a)| a)
        .map(|((k, (value, _)), _)| {
            json!({"request_put": {"key": b64(k), "value": b64(&value.to_string())}})
        })
        .collect();
    let body = json!({"compare": compare, "success": puts}).to_string();
    match client.post(node, target, op, body).await {
        Ok((200, answer)) if answer.get("succeeded") == Some(&Value::Bool(true)) => {
            Completion::ok(Value::Array(done))
        }
        Ok((200, answer)) if answer.get("succeeded").is_none() && answer.is_object() => {
            Completion::fail("a key changed after it was read")
        }
        Ok((status, answer)) => Completion::info(format!(
            "write: unrecognised answer: HTTP {status} {answer}"
        )),
        Err(Lost::NotSent(e)) => Completion::fail(format!("write: {e}")),
        Err(Lost::Unknown(e)) => Completion::info(format!("write: {e}")),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Read,
    Append,
    Write,
}

#[derive(Debug)]
struct MicroOp {
    kind: Kind,
    key: String,
    value: Value,
}

fn parse(value: &Value, shape: Shape) -> Result<Vec<MicroOp>, String> {
    let Value::Array(items) = value else {
        return Err(format!("{value} is not a list of micro-ops"));
    };
    items
        .iter()
        .map(|m| {
            let (f, key) = (m.get(0).and_then(Value::as_str), m.get(1));
            let key = match key {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => return Err(format!("{m}: the key must be a string or a number")),
            };
            let kind = match (f, shape) {
                (Some("append"), Shape::ListAppend) => Kind::Append,
                (Some("w"), Shape::RwRegister) => Kind::Write,
                (Some("r"), _) => Kind::Read,
                (_, Shape::ListAppend) => {
                    return Err(format!("{m}: only append and r are supported"))
                }
                (_, Shape::RwRegister) => return Err(format!("{m}: only w and r are supported")),
            };
            let value = match kind {
                Kind::Read => Value::Null,
                _ => m.get(2).cloned().unwrap_or(Value::Null),
            };
            Ok(MicroOp { kind, key, value })
        })
        .collect()
}

/// The value (a list, or a register's value) at the `i`-th range of a read's answer and its
/// mod revision (`"0"`: absent).
fn current(answer: &Value, i: usize, shape: Shape) -> Result<(Value, String), String> {
    let range = answer
        .pointer(&format!("/responses/{i}/response_range"))
        .ok_or_else(|| format!("no range {i} in the answer {answer}"))?;
    let Some(kv) = range.pointer("/kvs/0") else {
        return Ok((shape.absent(), "0".into()));
    };
    let revision = match kv.get("mod_revision") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(format!("no mod_revision in {kv}")),
    };
    let text = match kv.get("value") {
        // The gateway omits an empty value.
        None => String::new(),
        Some(Value::String(s)) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| format!("bad base64 {s:?}: {e}"))?;
            String::from_utf8(bytes).map_err(|_| "a value is not UTF-8".to_string())?
        }
        Some(other) => return Err(format!("the value {other} is not base64 text")),
    };
    if text.is_empty() {
        return Ok((shape.absent(), revision));
    }
    match (serde_json::from_str(&text), shape) {
        (Ok(list @ Value::Array(_)), Shape::ListAppend) => Ok((list, revision)),
        (Ok(value), Shape::RwRegister) => Ok((value, revision)),
        _ => Err(format!(
            "the value {text:?} is not a JSON {}",
            match shape {
                Shape::ListAppend => "list",
                Shape::RwRegister => "value",
            }
        )),
    }
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_answer_gives_each_keys_list_and_revision_and_absent_keys_are_empty() {
        let answer = json!({
            "succeeded": true,
            "responses": [
                {"response_range": {"kvs": [{"key": b64("k1"), "mod_revision": "7", "value": b64("[1,2]")}], "count": "1"}},
                {"response_range": {"header": {}}}
            ]
        });
        let la = Shape::ListAppend;
        assert_eq!(
            current(&answer, 0, la).unwrap(),
            (json!([1, 2]), "7".into())
        );
        assert_eq!(current(&answer, 1, la).unwrap(), (json!([]), "0".into()));
        assert!(current(&answer, 2, la).is_err());
        let rw = Shape::RwRegister;
        assert_eq!(current(&answer, 1, rw).unwrap(), (Value::Null, "0".into()));
    }

    /// A stand-in for etcd's gateway that answers each request with the next of `answers`
    /// and hands back the request bodies it received.
    fn gateway(answers: Vec<&'static str>) -> (u16, std::thread::JoinHandle<Vec<String>>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let mut bodies = Vec::new();
            let (mut s, _) = listener.accept().unwrap();
            for answer in answers {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // Headers, then a body of Content-Length bytes.
                let body = loop {
                    let n = s.read(&mut buf).unwrap();
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len: usize = head
                            .lines()
                            .find_map(|l| {
                                l.to_lowercase()
                                    .strip_prefix("content-length: ")
                                    .map(|v| v.trim().parse().unwrap())
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            break body.to_string();
                        }
                    }
                };
                bodies.push(body);
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                    answer.len()
                );
                s.write_all(reply.as_bytes()).unwrap();
            }
            bodies
        });
        (port, server)
    }

    fn run_txn(port: u16, txn: Value) -> Completion {
        run_builtin(port, txn, "etcd-v3-list-append")
    }

    fn run_builtin(port: u16, txn: Value, builtin: &str) -> Completion {
        let spec: crate::spec::ClientSpec = toml::from_str(&format!(
            "[ops.txn]\nmethod = \"POST\"\npath = \"/v3/kv/txn\"\nbuiltin = \"{builtin}\""
        ))
        .unwrap();
        let target = Target {
            node: "n1".into(),
            ip: "127.0.0.1".into(),
            port,
        };
        let client = HttpClient::new(&spec, vec![target]).unwrap();
        let inv = Invocation {
            f: "txn".into(),
            key: None,
            value: txn,
        };
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(crate::client::Client::invoke(&client, 0, &inv))
    }

    const READ_K1_AT_7: &str = r#"{"header":{"revision":"9"},"succeeded":true,"responses":[{"response_range":{"kvs":[{"key":"azE=","mod_revision":"7","value":"WzFd"}],"count":"1"}},{"response_range":{"header":{}}}]}"#;

    #[test]
    fn a_transaction_reads_then_writes_guarded_by_the_revisions_it_read() {
        let (port, server) = gateway(vec![READ_K1_AT_7, r#"{"header":{},"succeeded":true}"#]);
        let c = run_txn(
            port,
            json!([
                ["r", "k1", null],
                ["append", "k1", 2],
                ["r", "k2", null],
                ["r", "k1", null]
            ]),
        );
        assert_eq!(
            c,
            Completion::ok(json!([
                ["r", "k1", [1]],
                ["append", "k1", 2],
                ["r", "k2", []],
                ["r", "k1", [1, 2]]
            ]))
        );
        let bodies = server.join().unwrap();
        let write: Value = serde_json::from_str(&bodies[1]).unwrap();
        assert_eq!(
            write["compare"],
            json!([
                {"key": b64("k1"), "target": "MOD", "result": "EQUAL", "mod_revision": "7"},
                {"key": b64("k2"), "target": "MOD", "result": "EQUAL", "mod_revision": "0"}
            ])
        );
        assert_eq!(
            write["success"],
            json!([{"request_put": {"key": b64("k1"), "value": b64("[1,2]")}}]),
            "only appended keys are written"
        );
    }

    const READ_K1_IS_5_AT_7: &str = r#"{"header":{"revision":"9"},"succeeded":true,"responses":[{"response_range":{"kvs":[{"key":"azE=","mod_revision":"7","value":"NQ=="}],"count":"1"}},{"response_range":{"header":{}}}]}"#;

    #[test]
    fn a_register_transaction_reads_values_and_puts_each_written_keys_last_value() {
        let (port, server) = gateway(vec![READ_K1_IS_5_AT_7, r#"{"header":{},"succeeded":true}"#]);
        let c = run_builtin(
            port,
            json!([
                ["r", "k1", null],
                ["r", "k2", null],
                ["w", "k2", 3],
                ["w", "k2", 4],
                ["r", "k2", null]
            ]),
            "etcd-v3-rw-register",
        );
        assert_eq!(
            c,
            Completion::ok(json!([
                ["r", "k1", 5],
                ["r", "k2", null],
                ["w", "k2", 3],
                ["w", "k2", 4],
                ["r", "k2", 4]
            ]))
        );
        let bodies = server.join().unwrap();
        let write: Value = serde_json::from_str(&bodies[1]).unwrap();
        assert_eq!(write["compare"].as_array().unwrap().len(), 2);
        assert_eq!(
            write["success"],
            json!([{"request_put": {"key": b64("k2"), "value": b64("4")}}]),
            "only written keys are put, with their last value"
        );
    }

    #[test]
    fn a_failed_guard_is_a_definite_failure() {
        // The gateway omits `succeeded` when the compare failed.
        let (port, server) = gateway(vec![READ_K1_AT_7, r#"{"header":{"revision":"10"}}"#]);
        let c = run_txn(port, json!([["append", "k1", 2], ["r", "k2", null]]));
        assert_eq!(c.outcome, faultline_checkers::Outcome::Fail, "{c:?}");
        assert_eq!(c.error.as_deref(), Some("a key changed after it was read"));
        server.join().unwrap();
    }

    #[test]
    fn a_read_only_transaction_is_one_request() {
        let (port, server) = gateway(vec![READ_K1_AT_7]);
        let c = run_txn(port, json!([["r", "k1", null], ["r", "k2", null]]));
        assert_eq!(
            c,
            Completion::ok(json!([["r", "k1", [1]], ["r", "k2", []]]))
        );
        assert_eq!(server.join().unwrap().len(), 1);
    }

    #[test]
    fn each_shape_takes_only_its_own_micro_ops() {
        let la = Shape::ListAppend;
        let m = parse(&json!([["append", "k1", 3], ["r", 2, null]]), la).unwrap();
        assert_eq!((m[0].kind, m[1].kind), (Kind::Append, Kind::Read));
        assert_eq!(m[1].key, "2");
        assert!(parse(&json!([["w", "k1", 3]]), la).is_err());
        assert!(parse(&json!({"k": 1}), la).is_err());
        let rw = Shape::RwRegister;
        let m = parse(&json!([["w", "k1", 3], ["r", "k1", null]]), rw).unwrap();
        assert_eq!((m[0].kind, m[1].kind), (Kind::Write, Kind::Read));
        assert!(parse(&json!([["append", "k1", 3]]), rw).is_err());
    }
}
