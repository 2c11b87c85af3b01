//! The streaming path of the linearizability checker (`linear::stream::check_jsonl`,
//! straight into the per-key form) against the `History` path: the same result, to the
//! word, on the golden histories, on generated ones valid and invalid, and the same errors
//! and warnings on damaged files; the same nemesis events, nodes and last time, which the
//! faults in force are found from.

use std::path::Path;

use faultline_checkers::format::{jsonl, FormatError};
use faultline_checkers::gen::{self, EtcdLike, Large};
use faultline_checkers::history::NemesisEvent;
use faultline_checkers::linear::{check_history, stream, Linearizable, SearchOptions};
use faultline_checkers::model::{ModelKind, ModelOptions};
use faultline_checkers::verdict::unknown_function;
use faultline_checkers::{fill_op_refs, Budget, CheckResult, History, Verdict};

/// What one way of checking says of a history besides its result.
#[derive(Debug, PartialEq)]
struct Said {
    ops: usize,
    events: usize,
    warnings: Vec<String>,
    nemesis: Vec<NemesisEvent>,
    /// The nodes that served ops, sorted.
    nodes: Vec<String>,
    last_time_ns: Option<u64>,
}

type Checked = Result<(CheckResult, Said), FormatError>;

/// The `History` path as `faultline check` runs it: read, refuse an unknown `f`, check,
/// fill the anomalies' ops.
fn via_history(text: &str, model: ModelKind, options: &ModelOptions) -> Checked {
    let history = jsonl::read_jsonl(text.as_bytes(), "h.jsonl")?;
    let checker = Linearizable {
        model,
        options: options.clone(),
    };
    if let Some(e) = unknown_function(&checker, &history) {
        return Err(FormatError::at("h.jsonl", e.line, e.message));
    }
    let budget = Budget::default();
    let mut result = check_history(&history, model, options, &SearchOptions::default(), &budget);
    fill_op_refs(std::slice::from_mut(&mut result), &history);
    let nodes: std::collections::BTreeSet<String> =
        history.ops.iter().filter_map(|o| o.node.clone()).collect();
    let times = history
        .ops
        .iter()
        .flat_map(|o| [o.invoke_time, o.complete_time]);
    let last_time_ns = times
        .chain(history.nemesis.iter().map(|n| n.event.time))
        .max()
        .flatten();
    let History {
        ops,
        event_count,
        warnings,
        nemesis,
    } = history;
    let said = Said {
        ops: ops.len(),
        events: event_count,
        warnings,
        nemesis,
        nodes: nodes.into_iter().collect(),
        last_time_ns,
    };
    Ok((result, said))
}

fn streamed(text: &str, model: ModelKind, options: &ModelOptions) -> Checked {
    let budget = Budget::default();
    let mut nemesis = Vec::new();
    let mut on_nemesis = |n| nemesis.push(n);
    let (result, summary) = stream::check_jsonl(
        text.as_bytes(),
        "h.jsonl",
        model,
        options,
        &budget,
        &mut on_nemesis,
    )?;
    let said = Said {
        ops: summary.ops,
        events: summary.events,
        warnings: summary.warnings,
        nemesis,
        nodes: summary.nodes,
        last_time_ns: summary.last_time_ns,
    };
    Ok((result, said))
}

fn assert_same(text: &str, model: ModelKind, options: &ModelOptions, what: &str) {
    let want = via_history(text, model, options);
    let got = streamed(text, model, options);
    assert_eq!(got, want, "{what} under {}", model.name());
}

fn text_of(history: &History) -> String {
    let mut out = Vec::new();
    jsonl::write_history(history, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn golden_histories_get_the_same_result_streamed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".jsonl") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for model in ModelKind::ALL {
            assert_same(&text, model, &ModelOptions::default(), &name);
        }
        checked += 1;
    }
    assert!(checked >= 5, "golden histories are missing");
}

#[test]
fn generated_histories_valid_and_invalid_get_the_same_result_streamed() {
    for seed in 0..4 {
        for violation in [false, true] {
            let config = EtcdLike {
                ops: 200,
                clients: 5,
                values: 5,
                crashed_min: 0,
                crashed_max: 8,
                violation,
            };
            let text = text_of(&gen::etcd_like(seed, &config).history);
            let options = ModelOptions::default();
            assert_same(
                &text,
                ModelKind::CasRegister,
                &options,
                "an etcd-like history",
            );
            let knossos = ModelOptions {
                initial: serde_json::json!(0),
                nil_read_matches_any: true,
            };
            assert_same(
                &text,
                ModelKind::CasRegister,
                &knossos,
                "with Knossos's options",
            );
        }
        for stale_read in [false, true] {
            let config = Large {
                ops: 20_000,
                keys: 10,
                stale_read,
                ..Large::default()
            };
            let text = text_of(&gen::large(seed, &config).history);
            let (result, _) = streamed(&text, ModelKind::CasRegister, &Default::default()).unwrap();
            assert_eq!(
                result.verdict == Verdict::Invalid,
                stale_read,
                "{}",
                result.summary
            );
            assert_same(
                &text,
                ModelKind::CasRegister,
                &Default::default(),
                "a large history",
            );
        }
    }
}

#[test]
fn damaged_and_odd_files_get_the_same_errors_and_warnings_streamed() {
    let write = |p: u64, kind: &str, v: &str| {
        format!(r#"{{"process":{p},"type":"{kind}","f":"write","key":"a","value":{v}}}"#)
    };
    let cases = [
        // A completion without an invocation.
        format!("{}\n", write(0, "ok", "1")),
        // A completion for another key.
        format!(
            "{}\n{}\n",
            write(0, "invoke", "1"),
            r#"{"process":0,"type":"ok","f":"write","key":"b","value":1}"#
        ),
        // A process with two ops in flight.
        format!("{}\n{}\n", write(0, "invoke", "1"), write(0, "invoke", "2")),
        // A torn last line.
        format!(
            "{}\n{}\n{{\"process\":1,\"ty",
            write(0, "invoke", "1"),
            write(0, "ok", "1")
        ),
        // A completion whose f differs; numeric keys; integers beyond 64 bits; a node.
        concat!(
            r#"{"process":0,"type":"invoke","f":"write","key":7,"value":123456789012345678901}"#,
            "\n",
            r#"{"process":0,"type":"ok","f":"put","key":7,"value":null,"node":"n1"}"#,
            "\n",
            r#"{"process":1,"type":"invoke","f":"read","key":7,"value":null,"time":5}"#,
            "\n",
            r#"{"process":1,"type":"ok","f":"read","key":7,"value":123456789012345678902}"#,
            "\n",
            r#"{"process":"nemesis","type":"info","f":"start-partition","value":null}"#,
            "\n",
        )
        .to_string(),
        // An f the model does not know, after a line that is fine.
        format!(
            "{}\n{}\n",
            write(0, "invoke", "1"),
            r#"{"process":1,"type":"invoke","f":"enqueue","key":"a","value":1}"#
        ),
        // Not JSON.
        "{\"process\":0,\n".to_string(),
    ];
    for text in &cases {
        for model in [ModelKind::CasRegister, ModelKind::Queue] {
            assert_same(text, model, &ModelOptions::default(), text);
        }
    }
}

#[test]
fn a_stale_read_during_a_partition_is_placed_and_the_nemesis_handed_on_as_read() {
    // Nemesis values of every shape (a grudge, a list, null: the last one a line the fast
    // reader could take), a node named by the invocation only, another replaced by the
    // completion's, and a time on the nemesis line later than any op's.
    let text = concat!(
        r#"{"process":0,"type":"invoke","f":"write","value":1,"time":1000000000,"node":"n1"}"#,
        "\n",
        r#"{"process":0,"type":"ok","f":"write","value":1,"time":1100000000,"node":"n1"}"#,
        "\n",
        r#"{"process":"nemesis","type":"info","f":"start-partition","value":{"n3":["n1","n2"]},"time":2000000000}"#,
        "\n",
        r#"{"process":1,"type":"invoke","f":"read","value":null,"time":2500000000,"node":"n4"}"#,
        "\n",
        r#"{"process":1,"type":"ok","f":"read","value":0,"time":2600000000,"node":"n3"}"#,
        "\n",
        r#"{"process":"nemesis","type":"info","f":"kill","value":["n2"],"time":2700000000}"#,
        "\n",
        r#"{"process":"nemesis","type":"info","f":"stop-partition","value":null,"time":4000000000,"error":"slow"}"#,
        "\n",
        r#"{"process":2,"type":"invoke","f":"read","value":null,"time":4500000000,"node":"n2"}"#,
        "\n",
        r#"{"process":"nemesis","type":"info","f":"start-kill","value":"n5","time":9000000000}"#,
        "\n",
    );
    let options = ModelOptions::default();
    let (result, said) = streamed(text, ModelKind::Register, &options).unwrap();
    assert_eq!(result.verdict, Verdict::Invalid, "{}", result.summary);
    let op = &result.anomalies[0].ops[0];
    assert_eq!(
        (op.line, op.node.as_deref(), op.start_ns, op.end_ns),
        (
            Some(4),
            Some("n3"),
            Some(2_500_000_000),
            Some(2_600_000_000)
        )
    );
    let fs: Vec<&str> = said.nemesis.iter().map(|n| n.event.f.as_str()).collect();
    assert_eq!(
        fs,
        ["start-partition", "kill", "stop-partition", "start-kill"]
    );
    assert_eq!(said.nemesis[2].pos, 6);
    assert_eq!(said.nodes, ["n1", "n2", "n3"]);
    assert_eq!(said.last_time_ns, Some(9_000_000_000));
    assert_same(text, ModelKind::Register, &options, "a partitioned history");
}

#[test]
fn damage_megabytes_into_a_file_is_named_at_its_line_streamed() {
    let config = Large {
        ops: 30_000,
        keys: 10,
        ..Large::default()
    };
    let text = text_of(&gen::large(3, &config).history);
    assert!(text.len() > 4 << 20, "the history spans several chunks");
    let lines: Vec<&str> = text.lines().collect();
    let with = |at: usize, line: &str| {
        let mut damaged = lines.clone();
        damaged[at] = line;
        damaged.join("\n") + "\n"
    };
    let late = lines.len() - 7;
    let cases = [
        // Not JSON, past the first chunks.
        with(late, "{\"process\":3,"),
        // A field of the wrong type.
        with(
            late,
            r#"{"process":-1,"type":"invoke","f":"read","key":"k1"}"#,
        ),
        // A blank line where an invocation was: its completion has none.
        with(late - 1, ""),
        // A name outside ASCII, which the serde reader takes.
        with(
            late - 2,
            &lines[late - 2].replace("\"key\":\"k", "\"key\":\"\u{e4}"),
        ),
        // A torn last line after many chunks.
        format!("{}{{\"process\":1,\"ty", lines.join("\n") + "\n"),
    ];
    for text in &cases {
        assert_same(text, ModelKind::CasRegister, &Default::default(), "damaged");
    }
    let err = streamed(&cases[0], ModelKind::CasRegister, &Default::default()).unwrap_err();
    assert_eq!(err.line, Some(late + 1), "{err}");
    let (_, said) = streamed(&cases[4], ModelKind::CasRegister, &Default::default()).unwrap();
    assert_eq!(said.warnings.len(), 1, "{:?}", said.warnings);
}

#[test]
fn nemesis_lines_across_many_chunks_reach_the_caller_in_order_streamed() {
    let config = Large {
        ops: 30_000,
        keys: 10,
        ..Large::default()
    };
    let text = text_of(&gen::large(5, &config).history);
    assert!(text.len() > 4 << 20, "the history spans several chunks");
    // A fault every 997 lines, in the shapes the scanner would read (a null value, a
    // string) and one it would not (a map), each with a time.
    let shapes = [
        r#"{"process":"nemesis","type":"info","f":"start-partition","value":{"n1":["n2"]},"time":TIME}"#,
        r#"{"process":"nemesis","type":"info","f":"kill","value":"n3","time":TIME}"#,
        r#"{"process":"nemesis","type":"info","f":"stop-partition","value":null,"time":TIME}"#,
    ];
    let mut with_faults = String::new();
    for (i, line) in text.lines().enumerate() {
        if i % 997 == 500 {
            let time = (i as u64 * 1_000).to_string();
            with_faults.push_str(&shapes[i % shapes.len()].replace("TIME", &time));
            with_faults.push('\n');
        }
        with_faults.push_str(line);
        with_faults.push('\n');
    }
    let options = ModelOptions::default();
    let (_, said) = streamed(&with_faults, ModelKind::CasRegister, &options).unwrap();
    assert!(
        said.nemesis.len() > 50,
        "{} nemesis events",
        said.nemesis.len()
    );
    assert_same(
        &with_faults,
        ModelKind::CasRegister,
        &options,
        "faults among 60k lines",
    );
}

#[test]
fn a_line_over_the_limit_is_refused_with_its_number_streamed() {
    let first = r#"{"process":0,"type":"invoke","f":"read","key":"a"}"#;
    let long = format!(
        r#"{{"process":1,"type":"invoke","f":"read","key":"{}"}}"#,
        "a".repeat(9 << 20)
    );
    for text in [
        format!("{first}\n{long}\n"),
        format!("{first}\n{}\n{long}", first.replace(":0,", ":2,")),
    ] {
        let err = streamed(&text, ModelKind::CasRegister, &Default::default()).unwrap_err();
        let want = via_history(&text, ModelKind::CasRegister, &Default::default()).unwrap_err();
        assert_eq!(err, want);
        assert!(err.message.contains("longer than"), "{err}");
    }
}
