//! The declarative HTTP client's tests: rules, values, lost answers and bounded bodies.

use super::*;
use crate::spec::{ClientSpec, LoadedSpec};
use faultline_checkers::Outcome;
use serde_json::json;

fn ops(toml_src: &str) -> FastMap<String, CompiledOp> {
    let spec: ClientSpec = toml::from_str(toml_src).unwrap();
    spec.ops
        .iter()
        .map(|(f, op)| (f.clone(), CompiledOp::compile(f, op).unwrap()))
        .collect()
}

fn inv(f: &str, value: Value) -> Invocation {
    Invocation {
        f: f.into(),
        key: Some("k1".into()),
        value,
    }
}

const ETCD_V3: &str = r#"
[ops.read]
method = "POST"
path = "/v3/kv/range"
body = '{"key":"{{key|base64}}"}'
[[ops.read.rules]]
status = [200]
outcome = "ok"
value = { pointer = "/kvs/0/value", decode = "base64", type = "int" }
[ops.cas]
method = "POST"
path = "/v3/kv/txn"
[[ops.cas.rules]]
status = [200]
equals = { "/succeeded" = true }
outcome = "ok"
[[ops.cas.rules]]
status = [200]
missing = ["/succeeded"]
outcome = "fail"
error = "cas did not match"
"#;

#[test]
fn a_read_takes_its_value_by_pointer_decoded_and_typed() {
    let ops = ops(ETCD_V3);
    let body = r#"{"header":{"revision":"7"},"kvs":[{"key":"azE=","value":"MTI="}],"count":"1"}"#;
    let c = ops["read"].classify(&inv("read", Value::Null), 200, body);
    assert_eq!(c, Completion::ok(json!(12)));
}

#[test]
fn a_read_of_an_absent_key_is_ok_with_null() {
    let ops = ops(ETCD_V3);
    let c = ops["read"].classify(&inv("read", Value::Null), 200, r#"{"header":{}}"#);
    assert_eq!(c, Completion::ok(Value::Null));
}

#[test]
fn a_json_null_at_the_pointer_is_an_ok_read_of_null_whatever_the_type() {
    let ops = ops(ETCD_V3);
    let c = ops["read"].classify(
        &inv("read", Value::Null),
        200,
        r#"{"kvs":[{"value":null}]}"#,
    );
    assert_eq!(c, Completion::ok(Value::Null));
}

#[test]
fn a_rule_can_ask_for_a_null_and_a_value_is_not_one() {
    let ops = ops(r#"
[ops.read]
method = "GET"
path = "/{{key}}"
[[ops.read.rules]]
status = [200]
null = ["/GET"]
outcome = "ok"
[[ops.read.rules]]
status = [200]
outcome = "ok"
value = { pointer = "/GET", type = "int" }
[[ops.read.rules]]
outcome = "fail"
error = "no rule"
"#);
    let absent = ops["read"].classify(&inv("read", Value::Null), 200, r#"{"GET":null}"#);
    assert_eq!(absent, Completion::ok(Value::Null));
    let present = ops["read"].classify(&inv("read", Value::Null), 200, r#"{"GET":"12"}"#);
    assert_eq!(present, Completion::ok(json!(12)));
    // A missing pointer is not a null: the first rule does not match, the second reads null.
    let missing = ops["read"].classify(&inv("read", Value::Null), 200, r#"{}"#);
    assert_eq!(missing, Completion::ok(Value::Null));
}

#[test]
fn a_cas_whose_succeeded_field_is_omitted_fails() {
    let ops = ops(ETCD_V3);
    let ok = ops["cas"].classify(&inv("cas", json!([1, 2])), 200, r#"{"succeeded":true}"#);
    assert_eq!(ok, Completion::ok(json!([1, 2])));
    let failed = ops["cas"].classify(&inv("cas", json!([1, 2])), 200, r#"{"header":{}}"#);
    assert_eq!(failed.outcome, Outcome::Fail);
    assert_eq!(failed.error.as_deref(), Some("cas did not match"));
}

#[test]
fn an_unrecognised_answer_is_info_for_a_write_and_fail_for_a_read() {
    let ops = ops(ETCD_V3);
    let cas = ops["cas"].classify(
        &inv("cas", json!([1, 2])),
        503,
        "etcdserver: request timed out",
    );
    assert_eq!(cas.outcome, Outcome::Info);
    assert!(cas.error.unwrap().contains("503"));
    let read = ops["read"].classify(&inv("read", Value::Null), 500, "<html>");
    assert_eq!(read.outcome, Outcome::Fail);
}

#[test]
fn garbage_in_a_value_is_data_not_an_error() {
    let ops = ops(ETCD_V3);
    let c = ops["read"].classify(
        &inv("read", Value::Null),
        200,
        r#"{"kvs":[{"value":"!!"}]}"#,
    );
    assert_eq!(c.outcome, Outcome::Fail);
    assert!(c.error.unwrap().contains("base64"));
    let c = ops["cas"].classify(&inv("cas", json!([1, 2])), 200, "not json at all");
    assert_eq!(c.outcome, Outcome::Info);
}

#[test]
fn a_list_is_read_element_by_element() {
    let ops = ops(r#"
[ops.read]
path = "/set"
[[ops.read.rules]]
status = [200]
outcome = "ok"
value = { pointer = "/kvs", each = "/value", decode = "base64", type = "int" }
"#);
    let c = ops["read"].classify(
        &inv("read", Value::Null),
        200,
        r#"{"kvs":[{"value":"MQ=="},{"value":"Mg=="}]}"#,
    );
    assert_eq!(c, Completion::ok(json!([1, 2])));
}

/// A client for one node at 127.0.0.1:`port` with a `write` and a `txn` op.
fn client_for(port: u16) -> HttpClient {
    let spec: ClientSpec = toml::from_str(
        r#"
timeout_ms = 1000
[ops.write]
method = "PUT"
path = "/kv/{{key}}"
[[ops.write.rules]]
status = [200]
outcome = "ok"
[ops.txn]
method = "POST"
path = "/txn"
body = "{{value|json}}"
[[ops.txn.rules]]
status = [200]
outcome = "ok"
value = { pointer = "/value" }
"#,
    )
    .unwrap();
    let target = Target {
        node: "n1".into(),
        ip: "127.0.0.1".into(),
        port,
    };
    HttpClient::new(&spec, vec![target]).unwrap()
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn a_refused_connection_is_a_definite_failure_even_for_a_write() {
    // A port that was just free: nothing listens there, so the connection is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = client_for(port);
    let c = block_on(client.perform(0, &inv("write", json!(3))));
    assert_eq!(c.outcome, Outcome::Fail, "{c:?}");
    assert_eq!(c.error.as_deref(), Some("connection refused"));
}

/// A server on 127.0.0.1 that takes `connections` connections one after the other, reads
/// each request and never answers: it hangs up at once, or with `hold`, once the client has
/// hung up or `hold` has passed.
fn answerless_server(
    connections: usize,
    hold: Option<Duration>,
) -> (u16, std::thread::JoinHandle<()>) {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        for _ in 0..connections {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            if let Some(hold) = hold {
                s.set_read_timeout(Some(hold)).unwrap();
                let _ = s.read(&mut buf);
            }
        }
    });
    (port, server)
}

#[test]
fn a_connection_dropped_after_the_request_is_info_for_a_write_and_fail_for_reads_only() {
    let (port, server) = answerless_server(3, None);
    let client = client_for(port);
    let write = block_on(client.perform(0, &inv("write", json!(3))));
    assert_eq!(write.outcome, Outcome::Info, "{write:?}");
    let appending = Invocation {
        f: "txn".into(),
        key: None,
        value: json!([["r", "k1", null], ["append", "k1", 4]]),
    };
    let c = block_on(client.perform(0, &appending));
    assert_eq!(
        c.outcome,
        Outcome::Info,
        "an append may have happened: {c:?}"
    );
    let reading = Invocation {
        f: "txn".into(),
        key: None,
        value: json!([["r", "k1", null], ["r", "k2", null]]),
    };
    let c = block_on(client.perform(0, &reading));
    assert_eq!(c.outcome, Outcome::Fail, "reads change nothing: {c:?}");
    server.join().unwrap();
}

#[test]
fn an_answer_that_never_comes_times_out_as_info_for_a_write_and_fail_for_a_read() {
    // A client that never timed out would see a hang-up after 10 s instead.
    let (port, server) = answerless_server(2, Some(Duration::from_secs(10)));
    let client = client_for(port);
    let started = std::time::Instant::now();
    let write = block_on(client.perform(0, &inv("write", json!(3))));
    let waited = started.elapsed();
    assert_eq!(write.outcome, Outcome::Info, "{write:?}");
    assert_eq!(write.error.as_deref(), Some("timeout"));
    assert!(
        waited >= Duration::from_millis(1000) && waited < Duration::from_secs(10),
        "the client's timeout_ms is 1000; it waited {waited:?}"
    );
    let reading = Invocation {
        f: "txn".into(),
        key: None,
        value: json!([["r", "k1", null]]),
    };
    let read = block_on(client.perform(0, &reading));
    assert_eq!(
        read.outcome,
        Outcome::Fail,
        "a read changes nothing: {read:?}"
    );
    assert_eq!(read.error.as_deref(), Some("timeout"));
    server.join().unwrap();
}

#[test]
fn a_reused_connection_times_out_at_its_own_operations_deadline() {
    // One connection: two answers, then a request that is never answered.
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        for _ in 0..2 {
            let _ = s.read(&mut buf);
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
        }
        let _ = s.read(&mut buf);
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.read(&mut buf);
    });
    let client = client_for(port);
    let waited = block_on(async {
        // The first op opens the connection; the second arms its timer for 1 s later.
        for _ in 0..2 {
            let c = client.perform(0, &inv("write", json!(1))).await;
            assert_eq!(c.outcome, Outcome::Ok, "{c:?}");
        }
        // That timer goes off 0.6 s into the third op, which must wait its own full second.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let started = std::time::Instant::now();
        let c = client.perform(0, &inv("write", json!(2))).await;
        assert_eq!(
            (c.outcome, c.error.as_deref()),
            (Outcome::Info, Some("timeout"))
        );
        started.elapsed()
    });
    assert!(
        waited >= Duration::from_millis(1000) && waited < Duration::from_secs(5),
        "the client's timeout_ms is 1000; the op waited {waited:?}"
    );
    server.join().unwrap();
}

#[test]
fn an_answer_that_never_ends_is_cut_at_the_limit_and_recorded_as_lost() {
    let (port, server) = crate::testing::endless_answers(2);
    let client = client_for(port);
    let write = block_on(client.perform(0, &inv("write", json!(3))));
    assert_eq!(write.outcome, Outcome::Info, "{write:?}");
    let error = write.error.unwrap();
    assert!(error.contains("client.max_body_bytes"), "{error}");
    let reading = Invocation {
        f: "txn".into(),
        key: None,
        value: json!([["r", "k1", null]]),
    };
    let read = block_on(client.perform(0, &reading));
    assert_eq!(read.outcome, Outcome::Fail, "{read:?}");
    server.join().unwrap();
}

#[test]
fn a_transaction_reads_its_completed_micro_ops_from_the_answer() {
    let ops = ops(r#"
[ops.txn]
method = "POST"
path = "/txn"
body = "{{value|json}}"
[[ops.txn.rules]]
status = [200]
outcome = "ok"
value = { pointer = "/value" }
"#);
    let invoked = Invocation {
        f: "txn".into(),
        key: None,
        value: json!([["append", "k1", 4], ["r", "k1", null]]),
    };
    let c = ops["txn"].classify(
        &invoked,
        200,
        r#"{"node":"n1","value":[["append","k1",4],["r","k1",[1,4]]]}"#,
    );
    assert_eq!(
        c,
        Completion::ok(json!([["append", "k1", 4], ["r", "k1", [1, 4]]]))
    );
}

#[test]
fn the_spec_loader_and_the_client_agree_on_variables() {
    // Every variable the loader accepts is one the client renders.
    let src = r#"
[db]
start = ["x"]
[db.ready]
path = "/"
[client.ops.read]
path = "/{{key}}/{{value}}/{{expected}}/{{new}}/{{node}}/{{ip}}/{{port}}"
[client.ops.write]
path = "/"
[workload]
name = "register"
"#;
    let s = LoadedSpec::parse(std::path::Path::new("t.toml"), src.into()).unwrap();
    let op = CompiledOp::compile("read", &s.spec.client.ops["read"]).unwrap();
    let inv = Invocation {
        f: "read".into(),
        key: Some("k".into()),
        value: json!([2, 3]),
    };
    let target = Target {
        node: "n1".into(),
        ip: "ip".into(),
        port: 80,
    };
    let values = OpValues::new(&inv, &target);
    assert_eq!(op.path.render(&values.scope(&inv)), "/k/[2,3]/2/3/n1/ip/80");
}

/// A client of [`crate::testing::strict_store`] on 127.0.0.1:`port`, keeping `capture`.
fn strict_client(port: u16, capture: &str) -> HttpClient {
    let spec: ClientSpec = toml::from_str(&format!(
        r#"
timeout_ms = 1000
headers = {{ "content-type" = "application/json" }}
{capture}
[ops.write]
method = "PUT"
path = "/kv/{{{{key}}}}"
body = "{{{{value|json}}}}"
[[ops.write.rules]]
status = [204]
outcome = "ok"
[ops.read]
path = "/kv/{{{{key}}}}"
[[ops.read.rules]]
status = [200]
outcome = "ok"
value = {{ pointer = "/value" }}
"#
    ))
    .unwrap();
    let target = Target {
        node: "n1".into(),
        ip: "127.0.0.1".into(),
        port,
    };
    HttpClient::new(&spec, vec![target]).unwrap()
}

#[test]
fn a_kept_answer_holds_its_status_chosen_headers_and_a_cut_body() {
    let (port, stop) = crate::testing::strict_store();
    let client = strict_client(
        port,
        r#"capture = { status = true, headers = ["X-Raft-Term", "x-etcd-index"], body_bytes = 5 }"#,
    );
    let write = block_on(client.perform(0, &inv("write", json!(31))));
    assert_eq!(write.outcome, Outcome::Ok, "{write:?}");
    assert_eq!(
        write.response,
        Some(
            json!({"status": 204, "headers": {"x-raft-term": "7"}, "body": "", "body_total_bytes": 0})
        )
    );
    let read = block_on(client.perform(0, &inv("read", Value::Null)));
    assert_eq!(read.value, json!(31));
    assert_eq!(
        read.response,
        Some(
            json!({"status": 200, "headers": {"x-raft-term": "7"}, "body": "{\"val", "body_total_bytes": 12})
        )
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
}

#[test]
fn without_capture_a_completion_keeps_no_answer() {
    let (port, stop) = crate::testing::strict_store();
    let client = strict_client(port, "");
    let write = block_on(client.perform(0, &inv("write", json!(2))));
    assert_eq!((write.outcome, write.response), (Outcome::Ok, None));
    let read = block_on(client.perform(0, &inv("read", Value::Null)));
    assert_eq!(read.outcome, Outcome::Ok, "{read:?}");
    assert_eq!(read.response, None);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
}

#[test]
fn a_request_is_encoded_whole_with_its_key_body_and_length_from_one_op_to_the_next() {
    let client = client_for(9);
    let encode = |f: &str, key: Option<&str>, value: Value| {
        let inv = Invocation {
            f: f.into(),
            key: key.map(String::from),
            value,
        };
        let mut out = String::from("left over from the request before");
        client
            .encode(&client.ops[f], 0, &inv, None, &mut out)
            .unwrap();
        out
    };
    let head = " HTTP/1.1\r\nhost: 127.0.0.1:9\r\n";
    assert_eq!(
        encode(
            "txn",
            Some("a long key, longer than the next"),
            json!([1, "x"])
        ),
        format!("POST /txn{head}content-length: 7\r\n\r\n[1,\"x\"]")
    );
    // The key kept from the request before is replaced, not appended to.
    assert_eq!(
        encode("write", Some("k2"), json!(3)),
        format!("PUT /kv/k2{head}content-length: 0\r\n\r\n")
    );
    assert_eq!(
        encode("write", None, json!(3)),
        format!("PUT /kv/{head}content-length: 0\r\n\r\n")
    );
    let big = "é".repeat(600);
    assert_eq!(
        encode("txn", Some("k3"), json!(big)),
        format!("POST /txn{head}content-length: 1202\r\n\r\n\"{big}\"")
    );
    // A builtin's step sends its own JSON body.
    let inv = inv("txn", json!(null));
    let mut out = String::new();
    client
        .encode(&client.ops["txn"], 0, &inv, Some("{}"), &mut out)
        .unwrap();
    assert_eq!(
        out,
        format!("POST /txn{head}content-type: application/json\r\ncontent-length: 2\r\n\r\n{{}}")
    );
}
