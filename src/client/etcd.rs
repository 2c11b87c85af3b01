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
//!
//! The `bank` and `counter` workloads' ops ([`bank`], [`counter`]) are the same read and
//! guarded write over numbers ([`Shape::Number`], absent is 0): a transfer reads both
//! balances and refuses an overdraft itself, an `add` puts the counter plus its increment.
//! All four share [`read_then_write`].

use base64::Engine as _;
use serde_json::{json, Value};

use super::http::{CompiledOp, HttpClient, Lost};
use super::{Completion, Invocation, Target};

/// What a key's value is, as a builtin op keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A list, appended to; absent is the empty list.
    ListAppend,
    /// A register, overwritten; absent is `null`.
    RwRegister,
    /// A number (an account's balance, a counter); absent is 0.
    Number,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::ListAppend => "list-append",
            Shape::RwRegister => "rw-register",
            Shape::Number => "number",
        }
    }

    fn absent(self) -> Value {
        match self {
            Shape::ListAppend => Value::Array(Vec::new()),
            Shape::RwRegister => Value::Null,
            Shape::Number => json!(0),
        }
    }
}

/// What an operation makes of the values it read, in the order of its keys.
enum Step {
    /// Done without writing: ok with this value.
    Done(Value),
    /// Put these keys' (by index) new values, guarded by the revisions read; ok with the value
    /// if the guard holds.
    Write {
        puts: Vec<(usize, Value)>,
        result: Value,
    },
    /// Refused by the operation's own rule (an overdraft): a definite fail, nothing written.
    Refuse(String),
}

/// The core every builtin op shares: one linearizable read of `keys` at one revision, then,
/// if `decide` asks for it, a write of some of them guarded by every read key's mod
/// revision. A lost or unrecognised answer to the read is `fail`; to the write, `info`; a
/// failed guard, `fail`.
async fn read_then_write(
    client: &HttpClient,
    node: usize,
    target: &Target,
    op: &CompiledOp,
    keys: &[String],
    shape: Shape,
    decide: impl FnOnce(Vec<Value>) -> Step,
) -> Completion {
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
    let mut values = Vec::with_capacity(keys.len());
    let mut revisions = Vec::with_capacity(keys.len());
    for i in 0..keys.len() {
        match current(&read, i, shape) {
            Ok((value, revision)) => {
                values.push(value);
                revisions.push(revision);
            }
            Err(e) => return Completion::fail(format!("read: {e}")),
        }
    }
    let (puts, result) = match decide(values) {
        Step::Done(value) => return Completion::ok(value),
        Step::Refuse(why) => return Completion::fail(why),
        Step::Write { puts, result } => (puts, result),
    };
    let compare: Vec<Value> = keys
        .iter()
        .zip(&revisions)
        .map(|(k, rev)| {
            json!({"key": b64(k), "target": "MOD", "result": "EQUAL", "mod_revision": rev})
        })
        .collect();
    let puts: Vec<Value> = puts
        .iter()
        .map(|(i, value)| {
            json!({"request_put": {"key": b64(&keys[*i]), "value": b64(&value.to_string())}})
        })
        .collect();
    let body = json!({"compare": compare, "success": puts}).to_string();
    match client.post(node, target, op, body).await {
        Ok((200, answer)) if answer.get("succeeded") == Some(&Value::Bool(true)) => {
            Completion::ok(result)
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
    let mut keys: Vec<String> = Vec::new();
    for m in &micro {
        if !keys.contains(&m.key) {
            keys.push(m.key.clone());
        }
    }
    let index = |key: &str| keys.iter().position(|k| k == key).unwrap_or(0);
    let decide = |mut state: Vec<Value>| {
        let mut done = Vec::with_capacity(micro.len());
        let mut written = vec![false; state.len()];
        for m in &micro {
            let i = index(&m.key);
            match m.kind {
                Kind::Append => {
                    if let Value::Array(list) = &mut state[i] {
                        list.push(m.value.clone());
                    }
                    written[i] = true;
                    done.push(json!(["append", m.key, m.value]));
                }
                Kind::Write => {
                    state[i] = m.value.clone();
                    written[i] = true;
                    done.push(json!(["w", m.key, m.value]));
                }
                Kind::Read => done.push(json!(["r", m.key, state[i]])),
            }
        }
        if !written.contains(&true) {
            return Step::Done(Value::Array(done));
        }
        let puts = state
            .into_iter()
            .enumerate()
            .filter(|(i, _)| written[*i])
            .collect();
        Step::Write {
            puts,
            result: Value::Array(done),
        }
    };
    read_then_write(client, node, target, op, &keys, shape, decide).await
}

/// Carries out one op of the `bank` workload: `init` puts every opening balance (`{"a0":
/// 10, ...}`), `transfer` (`{"from", "to", "amount"}`) reads both balances and moves the
/// amount unless the source would go negative (then a definite fail, `insufficient funds`),
/// `read` (a list of accounts) returns the map of their balances at one revision. Each
/// account's key holds its balance as JSON text; an absent account reads 0.
pub async fn bank(
    client: &HttpClient,
    node: usize,
    target: &Target,
    op: &CompiledOp,
    inv: &Invocation,
) -> Completion {
    let v = &inv.value;
    match inv.f.as_str() {
        "init" => {
            let Some(balances) = v.as_object() else {
                return Completion::fail(format!("init: {v} is not a map of balances"));
            };
            let keys: Vec<String> = balances.keys().cloned().collect();
            let puts = balances.values().cloned().enumerate().collect();
            let decide = |_| Step::Write {
                puts,
                result: v.clone(),
            };
            read_then_write(client, node, target, op, &keys, Shape::Number, decide).await
        }
        "transfer" => {
            let (Some(from), Some(to), Some(amount)) = (
                v.get("from").and_then(Value::as_str),
                v.get("to").and_then(Value::as_str),
                v.get("amount").and_then(Value::as_i64),
            ) else {
                return Completion::fail(format!("transfer: {v} lacks from, to or amount"));
            };
            let keys = [from.to_string(), to.to_string()];
            let decide = |balances: Vec<Value>| {
                let (Some(a), Some(b)) = (balances[0].as_i64(), balances[1].as_i64()) else {
                    return Step::Refuse(format!("a balance is not a number: {balances:?}"));
                };
                if a < amount {
                    return Step::Refuse("insufficient funds".into());
                }
                Step::Write {
                    puts: vec![(0, json!(a - amount)), (1, json!(b + amount))],
                    result: v.clone(),
                }
            };
            read_then_write(client, node, target, op, &keys, Shape::Number, decide).await
        }
        "read" => {
            let Some(accounts) = v.as_array() else {
                return Completion::fail(format!("read: {v} is not a list of accounts"));
            };
            let keys: Vec<String> = accounts
                .iter()
                .map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_string))
                .collect();
            let decide = |balances: Vec<Value>| {
                Step::Done(Value::Object(keys.iter().cloned().zip(balances).collect()))
            };
            read_then_write(client, node, target, op, &keys, Shape::Number, decide).await
        }
        f => Completion::fail(format!("the bank builtin has no op {f:?}")),
    }
}

/// Carries out one op of the `counter` workload: `add` reads the counter at the op's key and
/// puts it plus the op's value, guarded by the revision read (a concurrent add makes it a
/// definite fail, not a lost increment); `read` returns it. Absent is 0.
pub async fn counter(
    client: &HttpClient,
    node: usize,
    target: &Target,
    op: &CompiledOp,
    inv: &Invocation,
) -> Completion {
    let Some(key) = inv.key.clone() else {
        return Completion::fail(format!("{}: the op has no key", inv.f));
    };
    let keys = [key];
    match inv.f.as_str() {
        "add" => {
            let Some(delta) = inv.value.as_i64() else {
                return Completion::fail(format!("add: {} is not an integer", inv.value));
            };
            let decide = |values: Vec<Value>| match values[0].as_i64() {
                Some(n) => Step::Write {
                    puts: vec![(0, json!(n + delta))],
                    result: inv.value.clone(),
                },
                None => Step::Refuse(format!("the counter holds {}, not a number", values[0])),
            };
            read_then_write(client, node, target, op, &keys, Shape::Number, decide).await
        }
        "read" => {
            let decide = |mut values: Vec<Value>| Step::Done(values.remove(0));
            read_then_write(client, node, target, op, &keys, Shape::Number, decide).await
        }
        f => Completion::fail(format!("the counter builtin has no op {f:?}")),
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
                (_, Shape::Number) => {
                    return Err(format!("{m}: not a transaction of lists or registers"))
                }
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
        (Ok(number @ Value::Number(_)), Shape::Number) => Ok((number, revision)),
        _ => Err(format!(
            "the value {text:?} is not a JSON {}",
            match shape {
                Shape::ListAppend => "list",
                Shape::RwRegister => "value",
                Shape::Number => "number",
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
        run_op(port, builtin, "txn", None, txn)
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

    fn run_op(port: u16, builtin: &str, f: &str, key: Option<&str>, value: Value) -> Completion {
        let spec: crate::spec::ClientSpec = toml::from_str(&format!(
            "[ops.{f}]\nmethod = \"POST\"\npath = \"/v3/kv/txn\"\nbuiltin = \"{builtin}\""
        ))
        .unwrap();
        let target = Target {
            node: "n1".into(),
            ip: "127.0.0.1".into(),
            port,
        };
        let client = HttpClient::new(&spec, vec![target]).unwrap();
        let inv = Invocation {
            f: f.into(),
            key: key.map(str::to_string),
            value,
        };
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(crate::client::Client::invoke(&client, 0, &inv))
    }

    /// a0 holds 7 at revision 4; a1 is absent.
    const READ_A0_7_A1_ABSENT: &str = r#"{"header":{"revision":"9"},"succeeded":true,"responses":[{"response_range":{"kvs":[{"key":"YTA=","mod_revision":"4","value":"Nw=="}],"count":"1"}},{"response_range":{"header":{}}}]}"#;

    #[test]
    fn a_transfer_moves_the_amount_guarded_by_both_balances_revisions() {
        let (port, server) = gateway(vec![
            READ_A0_7_A1_ABSENT,
            r#"{"header":{},"succeeded":true}"#,
        ]);
        let transfer = json!({"from": "a0", "to": "a1", "amount": 3});
        let c = run_op(port, "etcd-v3-bank", "transfer", None, transfer.clone());
        assert_eq!(c, Completion::ok(transfer));
        let bodies = server.join().unwrap();
        let write: Value = serde_json::from_str(&bodies[1]).unwrap();
        assert_eq!(
            write["compare"],
            json!([
                {"key": b64("a0"), "target": "MOD", "result": "EQUAL", "mod_revision": "4"},
                {"key": b64("a1"), "target": "MOD", "result": "EQUAL", "mod_revision": "0"}
            ])
        );
        assert_eq!(
            write["success"],
            json!([
                {"request_put": {"key": b64("a0"), "value": b64("4")}},
                {"request_put": {"key": b64("a1"), "value": b64("3")}}
            ])
        );
    }

    #[test]
    fn an_overdraft_is_refused_without_a_write_and_a_read_maps_every_account() {
        let (port, server) = gateway(vec![READ_A0_7_A1_ABSENT]);
        let c = run_op(
            port,
            "etcd-v3-bank",
            "transfer",
            None,
            json!({"from": "a0", "to": "a1", "amount": 8}),
        );
        assert_eq!(c.outcome, faultline_checkers::Outcome::Fail, "{c:?}");
        assert_eq!(c.error.as_deref(), Some("insufficient funds"));
        assert_eq!(server.join().unwrap().len(), 1, "nothing was written");
        let (port, server) = gateway(vec![READ_A0_7_A1_ABSENT]);
        let c = run_op(port, "etcd-v3-bank", "read", None, json!(["a0", "a1"]));
        assert_eq!(c, Completion::ok(json!({"a0": 7, "a1": 0})));
        server.join().unwrap();
    }

    #[test]
    fn an_add_puts_the_counter_plus_its_increment_and_a_conflict_fails() {
        let (port, server) = gateway(vec![
            READ_A0_7_A1_ABSENT,
            r#"{"header":{},"succeeded":true}"#,
        ]);
        let c = run_op(port, "etcd-v3-counter", "add", Some("a0"), json!(5));
        assert_eq!(c, Completion::ok(json!(5)));
        let write: Value = serde_json::from_str(&server.join().unwrap()[1]).unwrap();
        assert_eq!(
            write["success"],
            json!([{"request_put": {"key": b64("a0"), "value": b64("12")}}])
        );
        let (port, server) = gateway(vec![READ_A0_7_A1_ABSENT, r#"{"header":{"revision":"10"}}"#]);
        let c = run_op(port, "etcd-v3-counter", "add", Some("a0"), json!(5));
        assert_eq!(c.error.as_deref(), Some("a key changed after it was read"));
        server.join().unwrap();
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
