//! `faultline check` as a user runs it: the built binary on history files, judged by its
//! verdict lines, its JSON and its exit code.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .expect("the faultline binary runs")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("faultline exits with a code")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes `text` to `name` in a fresh temporary directory.
fn history_file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// The corpus of other tools' histories is not part of the repository: tests on it run only
/// when `FAULTLINE_TESTDATA` names the testdata folder (the one holding `knossos/`).
const TESTDATA_VAR: &str = "FAULTLINE_TESTDATA";

/// Knossos's histories, in `$FAULTLINE_TESTDATA/knossos/<model>/<good|bad>/`; `None` when
/// the variable is unset, after saying on stderr that `test` did not run. A variable that is
/// set but names a folder without `knossos/` fails the test.
fn knossos_dir(test: &str) -> Option<PathBuf> {
    let Some(testdata) = std::env::var_os(TESTDATA_VAR) else {
        eprintln!(
            "skipped: {test} needs Knossos's histories; set {TESTDATA_VAR}=/path/to/testdata \
             (the folder holding knossos/)"
        );
        return None;
    };
    let dir = Path::new(&testdata).join("knossos");
    assert!(
        dir.is_dir(),
        "{TESTDATA_VAR} is set but {} is not a folder",
        dir.display()
    );
    Some(dir)
}

fn edn_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "edn"))
        .map(|p| p.to_str().unwrap().to_string())
        .collect();
    files.sort();
    files
}

#[test]
fn knossos_histories_get_their_known_verdicts() {
    let Some(root) = knossos_dir("knossos_histories_get_their_known_verdicts") else {
        return;
    };
    let mut checked = 0;
    let mut wrong = Vec::new();
    // The folder names the model; the testdata README gives each model's initial state:
    // faultline's defaults (null, absent) for cas-register and mutex, 0 for multi-register.
    // Knossos's own reading of cas-register (starts at 0, a read of nil matches anything)
    // must give the same verdicts.
    for (model, flags) in [
        ("cas-register", &[][..]),
        (
            "cas-register",
            &["--initial-value", "0", "--nil-read-matches-any"][..],
        ),
        ("multi-register", &["--initial-value", "0"][..]),
        ("mutex", &[][..]),
    ] {
        for (folder, verdict, exit) in [("good", "valid", 0), ("bad", "invalid", 1)] {
            let dir = root.join(model).join(folder);
            if !dir.exists() {
                continue;
            }
            let files = edn_files(&dir);
            let mut args = vec!["check", "--json", "--model", model];
            args.extend(flags);
            args.extend(files.iter().map(String::as_str));
            let out = faultline(&args);
            let report: Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("{model}/{folder}: not JSON ({e}): {}", stdout(&out)));
            let mut exit = exit;
            for h in report["histories"].as_array().unwrap() {
                checked += 1;
                // A history of nemesis events only (Knossos counts one as good) has nothing
                // to check, which faultline does not call a pass.
                let verdict = if h["ops"] == 0 { "unknown" } else { verdict };
                if verdict == "unknown" && exit == 0 {
                    exit = 2;
                }
                if h["verdict"] != verdict {
                    wrong.push(format!(
                        "{}: {} (expected {verdict}): {}",
                        h["path"], h["verdict"], h["result"]["summary"]
                    ));
                }
            }
            if code(&out) != exit {
                wrong.push(format!(
                    "{model}/{folder}: exit {} (expected {exit})",
                    code(&out)
                ));
            }
        }
    }
    assert!(
        checked >= 60,
        "only {checked} Knossos histories found under {}",
        root.display()
    );
    assert!(wrong.is_empty(), "wrong verdicts:\n{}", wrong.join("\n"));
}

#[test]
fn an_invalid_knossos_history_explains_itself_in_the_verdict_line() {
    let Some(root) = knossos_dir("an_invalid_knossos_history_explains_itself") else {
        return;
    };
    let file = root.join("cas-register/bad/bad-analysis.edn");
    let out = faultline(&["check", file.to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(code(&out), 1, "{text}");
    assert!(text.contains("bad-analysis.edn: invalid"), "{text}");
    // The read of 2 invoked on line 17 cannot be placed: the explanation points at it.
    assert!(
        text.contains("line 17"),
        "the explanation does not name the op's line:\n{text}"
    );
    assert!(text.trim_end().ends_with("(exit 1)"), "{text}");
}

const WRITE: &str = r#"{"process":0,"type":"invoke","f":"add","value":1}"#;
const WRITE_OK: &str = r#"{"process":0,"type":"ok","f":"add","value":1}"#;
const READ: &str = r#"{"process":1,"type":"invoke","f":"read","value":null}"#;

#[test]
fn malformed_json_is_an_error_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = history_file(
        &dir,
        "bad.jsonl",
        &format!("{WRITE}\n{{\"process\":0,\n{WRITE_OK}\n"),
    );
    let out = faultline(&["check", "--model", "counter", &bad]);
    let text = stdout(&out);
    assert_eq!(code(&out), 3, "{text}");
    assert!(
        text.contains("bad.jsonl: error: line 2: not valid JSON"),
        "{text}"
    );
}

#[test]
fn an_unknown_type_is_an_error_naming_the_value_and_the_choices() {
    let dir = tempfile::tempdir().unwrap();
    let bad = history_file(
        &dir,
        "h.jsonl",
        &format!(
            "{WRITE}\n{}\n",
            r#"{"process":0,"type":"okay","f":"add","value":1}"#
        ),
    );
    let out = faultline(&["check", "--model", "counter", &bad]);
    assert_eq!(code(&out), 3);
    assert!(
        stdout(&out).contains(
            "h.jsonl: error: line 2: unknown type \"okay\" (expected invoke, ok, fail or info)"
        ),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_completion_without_an_invocation_is_an_error_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = history_file(&dir, "h.jsonl", &format!("{READ}\n{WRITE_OK}\n"));
    let out = faultline(&["check", "--model", "counter", &bad]);
    assert_eq!(code(&out), 3);
    assert!(
        stdout(&out).contains("error: line 2: `ok` completion of `add` by process 0"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn two_invocations_in_flight_on_one_process_are_an_error_with_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = history_file(&dir, "h.jsonl", &format!("{WRITE}\n{READ}\n{WRITE}\n"));
    let out = faultline(&["check", "--model", "counter", &bad]);
    assert_eq!(code(&out), 3);
    assert!(
        stdout(&out).contains("error: line 3: process 0 invokes"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_torn_last_line_is_a_warning_and_the_prefix_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let read_ok = r#"{"process":1,"type":"ok","f":"read","value":0}"#;
    // The read of 0 after an acknowledged add of 1 is out of bounds: the prefix is judged.
    let torn = history_file(
        &dir,
        "torn.jsonl",
        &format!("{WRITE}\n{WRITE_OK}\n{READ}\n{read_ok}\n{{\"process\":2,\"type\":\"inv"),
    );
    let out = faultline(&["check", "--model", "counter", &torn]);
    let text = stdout(&out);
    assert_eq!(code(&out), 1, "{text}");
    assert!(text.contains("torn.jsonl: invalid (2 ops"), "{text}");
    assert!(
        text.contains("warning: line 5: torn last line ignored"),
        "{text}"
    );
}

#[test]
fn every_history_is_checked_and_the_most_serious_code_wins() {
    let dir = tempfile::tempdir().unwrap();
    let good = history_file(&dir, "good.jsonl", &format!("{WRITE}\n{WRITE_OK}\n"));
    let unreadable = history_file(&dir, "unreadable.jsonl", "{\"process\":0\n\n");
    let invalid = history_file(
        &dir,
        "invalid.jsonl",
        &format!(
            "{WRITE}\n{WRITE_OK}\n{READ}\n{}\n",
            r#"{"process":1,"type":"ok","f":"read","value":7}"#
        ),
    );
    let out = faultline(&["check", "--model", "counter", &good, &unreadable]);
    assert_eq!(code(&out), 3, "{}", stdout(&out));
    let out = faultline(&["check", "--model", "counter", &unreadable, &invalid, &good]);
    let text = stdout(&out);
    assert_eq!(code(&out), 1, "{text}");
    assert!(text.contains("good.jsonl: valid"), "{text}");
    assert!(text.contains("invalid.jsonl: invalid"), "{text}");
    assert!(text.contains("unreadable.jsonl: error: line 1"), "{text}");
    assert!(
        text.contains("3 histories: 1 valid, 1 invalid, 0 unknown, 1 unreadable (exit 1)"),
        "{text}"
    );
}

#[test]
fn a_history_on_standard_input_is_read_in_the_format_its_content_shows() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["check", "--model", "counter", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"; Jepsen EDN\n[{:process 0, :type :invoke, :f :add, :value 2}\n {:process 0, :type :ok, :f :add, :value 2}]\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(stdout(&out).contains("-: valid (1 ops"), "{}", stdout(&out));
}

#[test]
fn a_run_directory_stands_for_its_history() {
    let dir = tempfile::tempdir().unwrap();
    history_file(&dir, "history.jsonl", &format!("{WRITE}\n{WRITE_OK}\n"));
    let out = faultline(&["check", "--model", "counter", dir.path().to_str().unwrap()]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("history.jsonl: valid (1 ops"),
        "{}",
        stdout(&out)
    );
    let empty = tempfile::tempdir().unwrap();
    let out = faultline(&["check", empty.path().to_str().unwrap()]);
    assert_eq!(code(&out), 3);
    assert!(
        stdout(&out).contains("a directory without history.jsonl"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn jepsen_history_txt_and_log_lines_are_imported() {
    let dir = tempfile::tempdir().unwrap();
    let txt = history_file(
        &dir,
        "jepsen.log",
        "2017-03-10 11:27:13,123 INFO jepsen.core - Running test\n\
         INFO  jepsen.util - 0\t:invoke\t:add\t1\n\
         INFO  jepsen.util - 0\t:ok\t:add\t1\n\
         INFO  jepsen.util - :nemesis\t:info\t:start\t\"Cut off [:n1]\"\n\
         INFO  jepsen.util - 1 :invoke :add 5\n\
         INFO  jepsen.util - 1 :info :add 5 :timeout\n\
         INFO  jepsen.util - 2\t:invoke\t:read\tnil\n\
         INFO  jepsen.util - 2\t:ok\t:read\t6\n",
    );
    let out = faultline(&["check", "--json", "--model", "counter", &txt]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let h = &report["histories"][0];
    assert_eq!(code(&out), 0, "{h}");
    assert_eq!(h["ops"], 3);
    assert_eq!(
        h["warnings"][0],
        "skipped 1 line(s) that hold no op (the first is line 1)"
    );
    // Forced to text lines, an EDN file's first line is no op: nothing is read.
    let edn = history_file(
        &dir,
        "h.edn",
        "[{:process 0, :type :invoke, :f :add, :value 1}]",
    );
    let out = faultline(&[
        "check",
        "--json",
        "--model",
        "counter",
        "--format",
        "jepsen-txt",
        &edn,
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["histories"][0]["ops"], 0);
}

#[test]
fn jepsen_key_tuples_are_detected_and_the_flags_override_the_guess() {
    let dir = tempfile::tempdir().unwrap();
    // Two counters, keys 1 and 2: each read is right for its own key only.
    let edn = history_file(
        &dir,
        "independent.edn",
        "[{:process 0, :type :invoke, :f :add, :value [1 5]}\n \
         {:process 0, :type :ok, :f :add, :value [1 5]}\n \
         {:process 1, :type :invoke, :f :add, :value [2 7]}\n \
         {:process 1, :type :ok, :f :add, :value [2 7]}\n \
         {:process 2, :type :invoke, :f :read, :value [1 nil]}\n \
         {:process 2, :type :ok, :f :read, :value [1 5]}]",
    );
    let out = faultline(&["check", "--model", "counter", &edn]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    // Read as plain values, an add of [1 5] is no number: the counter cannot judge it.
    let out = faultline(&["check", "--model", "counter", "--no-independent", &edn]);
    assert_eq!(code(&out), 2, "{}", stdout(&out));
    assert!(stdout(&out).contains("not an integer"), "{}", stdout(&out));
    let plain = history_file(
        &dir,
        "plain.edn",
        "[{:process 0, :type :invoke, :f :add, :value 5}]",
    );
    let out = faultline(&["check", "--model", "counter", "--independent", &plain]);
    assert_eq!(code(&out), 3, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("not a [key value] tuple"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_history_exported_as_edn_checks_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let read_ok = r#"{"process":1,"type":"ok","f":"read","value":3}"#;
    let jsonl = history_file(
        &dir,
        "h.jsonl",
        &format!("{WRITE}\n{WRITE_OK}\n{READ}\n{read_ok}\n"),
    );
    let edn = dir.path().join("h.edn");
    let edn = edn.to_str().unwrap();
    let out = faultline(&["check", "--model", "counter", "--export-edn", edn, &jsonl]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let text = std::fs::read_to_string(edn).unwrap();
    assert!(
        text.starts_with("[{:type :invoke, :f :add, :value 1, :process 0, :index 0}"),
        "{text}"
    );
    let again = faultline(&["check", "--model", "counter", edn]);
    assert_eq!(code(&again), 1, "{}", stdout(&again));
    assert!(stdout(&again).contains("returned 3, but the adds around it allow only 1..=1"));
    let two = faultline(&["check", "--export-edn", edn, &jsonl, &jsonl]);
    assert_eq!(code(&two), 3);
}

#[test]
fn malformed_edn_is_an_error_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let bad = history_file(
        &dir,
        "history.edn",
        "[{:process 0, :type :invoke, :f :add, :value 1}\n {:process 0, :type :ok, :f :add, :value 1]",
    );
    let out = faultline(&["check", "--model", "counter", &bad]);
    assert_eq!(code(&out), 3);
    assert!(
        stdout(&out).contains("history.edn: error: line 2, column 43:"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn usage_errors_exit_3_not_2() {
    assert_eq!(code(&faultline(&["check"])), 3);
    assert_eq!(
        code(&faultline(&[
            "check",
            "--model",
            "no-such-model",
            "h.jsonl"
        ])),
        3
    );
    let out = faultline(&["check", "--consistency-model", "serializable", "h.jsonl"]);
    assert_eq!(code(&out), 3);
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not apply"));
    assert_eq!(
        code(&faultline(&["check", "--time-limit", "-1", "h.jsonl"])),
        3
    );
}

#[test]
fn help_lists_every_model_with_its_description() {
    let out = faultline(&["check", "--help"]);
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    for name in [
        "cas-register",
        "multi-register",
        "list-append",
        "set-full",
        "counter",
        "bank",
    ] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(name)),
            "{name} missing:\n{text}"
        );
    }
    assert!(text.contains("--nil-read-matches-any"));
}

#[test]
fn a_reader_that_closes_the_pipe_early_does_not_change_the_exit_code() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let bad = history_file(
        &dir,
        "stale.jsonl",
        &[
            r#"{"process":0,"type":"invoke","f":"write","value":1}"#,
            r#"{"process":0,"type":"ok","f":"write","value":1}"#,
            r#"{"process":1,"type":"invoke","f":"read","value":null}"#,
            r#"{"process":1,"type":"ok","f":"read","value":2}"#,
            "",
        ]
        .join("\n"),
    );
    // Far more verdict lines than a pipe buffers (64 KiB), so writes hit the closed pipe.
    let mut args = vec!["check".to_string()];
    args.extend(vec![bad; 2_000]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 1, "stderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Runs faultline with `stdin`, failing the test if it has not ended within `limit`.
fn faultline_within(args: &[&str], stdin: std::process::Stdio, limit_secs: u64) -> Output {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed().as_secs() >= limit_secs {
            let _ = child.kill();
            let _ = child.wait();
            panic!("faultline {args:?} still runs after {limit_secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn an_endless_file_is_refused_naming_the_overlong_line_within_seconds() {
    use std::process::Stdio;
    for format in [None, Some("jsonl"), Some("edn"), Some("jepsen-txt")] {
        let mut args = vec!["check"];
        if let Some(f) = format {
            args.extend(["--format", f]);
        }
        for stdin in [false, true] {
            let mut args = args.clone();
            args.push(if stdin { "-" } else { "/dev/zero" });
            let input = match stdin {
                true => Stdio::from(std::fs::File::open("/dev/zero").unwrap()),
                false => Stdio::null(),
            };
            let out = faultline_within(&args, input, 30);
            let text = stdout(&out);
            assert_eq!(code(&out), 3, "{args:?}: {text}");
            assert!(
                text.contains("error: line 1: the line is longer than"),
                "{args:?}: {text}"
            );
        }
    }
}

#[test]
fn files_that_are_not_histories_are_refused_naming_the_first_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let passwd = history_file(
        &dir,
        "passwd",
        "root:x:0:0:root:/root:/bin/bash\nbin:x:1:1::/:\n",
    );
    let log = history_file(
        &dir,
        "server.log",
        "2024-05-01 12:00:00 INFO starting\n2024-05-01 12:00:01 WARN slow disk\n",
    );
    for file in [&passwd, &log] {
        let out = faultline(&["check", file]);
        let text = stdout(&out);
        assert_eq!(code(&out), 3, "{text}");
        assert!(text.contains("error: line 1: not a Jepsen op"), "{text}");
    }
}

#[test]
fn a_history_without_a_single_operation_is_unknown_not_valid() {
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let empty = history_file(&dir, "empty.jsonl", "");
    let nemesis_only = history_file(
        &dir,
        "nemesis.jsonl",
        "{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"kill\",\"value\":[\"n1\"]}\n",
    );
    let empty_edn = history_file(&dir, "empty.edn", "[]\n");
    for file in [&empty, &nemesis_only, &empty_edn] {
        let out = faultline(&["check", file]);
        let text = stdout(&out);
        assert_eq!(code(&out), 2, "{text}");
        assert!(text.contains("unknown (0 ops"), "{text}");
        assert!(text.contains("no operation to check"), "{text}");
    }
    let out = faultline_within(&["check", "-"], Stdio::null(), 30);
    assert_eq!(code(&out), 2, "{}", stdout(&out));
}

#[test]
fn an_operation_the_model_does_not_know_is_an_error_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = history_file(
        &dir,
        "h.jsonl",
        &format!(
            "{}\n{}\n{}\n{}\n",
            r#"{"process":0,"type":"invoke","f":"write","value":1}"#,
            r#"{"process":0,"type":"ok","f":"write","value":1}"#,
            r#"{"process":0,"type":"invoke","f":"frobnicate","value":1}"#,
            r#"{"process":0,"type":"ok","f":"frobnicate","value":1}"#,
        ),
    );
    let out = faultline(&["check", "--model", "register", &file]);
    let text = stdout(&out);
    assert_eq!(code(&out), 3, "{text}");
    assert!(
        text.contains("h.jsonl: error: line 3: `frobnicate`"),
        "{text}"
    );
}

#[test]
fn a_deep_run_of_edn_discards_is_refused_without_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let deep = format!("{}1\n", "#_".repeat(30_000));
    let edn = history_file(&dir, "deep.edn", &deep);
    let guessed = history_file(&dir, "deep", &deep);
    let txt = history_file(&dir, "deep.txt", &format!("0\t:invoke\t:read\t{deep}"));
    for file in [&edn, &guessed, &txt] {
        let out = faultline(&["check", file]);
        assert_eq!(code(&out), 3, "{}", stdout(&out));
        assert!(stdout(&out).contains(": error: line "), "{}", stdout(&out));
    }
}

#[test]
fn big_integers_in_json_lines_get_the_verdict_they_get_in_edn() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = history_file(
        &dir,
        "big.jsonl",
        &[
            r#"{"process":0,"type":"invoke","f":"write","value":100000000000000000000}"#,
            r#"{"process":0,"type":"ok","f":"write","value":100000000000000000000}"#,
            r#"{"process":1,"type":"invoke","f":"read","value":null}"#,
            r#"{"process":1,"type":"ok","f":"read","value":100000000000000000001}"#,
            "",
        ]
        .join("\n"),
    );
    let edn = history_file(
        &dir,
        "big.edn",
        "[{:process 0, :type :invoke, :f :write, :value 100000000000000000000}\n\
         {:process 0, :type :ok, :f :write, :value 100000000000000000000}\n\
         {:process 1, :type :invoke, :f :read, :value nil}\n\
         {:process 1, :type :ok, :f :read, :value 100000000000000000001}]\n",
    );
    for file in [&jsonl, &edn] {
        let out = faultline(&["check", "--model", "register", file]);
        assert_eq!(code(&out), 1, "{}", stdout(&out));
    }
}

#[test]
fn a_time_limit_beyond_a_week_is_a_usage_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let ok = history_file(&dir, "ok.jsonl", &format!("{WRITE}\n{WRITE_OK}\n"));
    let out = faultline(&["check", "--time-limit", "1e20", &ok]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 3, "{stderr}");
    assert!(stderr.contains("--time-limit"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The streamed path (plain `check`) and the `History` path (forced by `--export-edn`)
/// give one list-append history the same verdict, counts, anomalies and warnings.
#[test]
fn a_list_append_history_gets_the_same_verdict_streamed_or_read_whole() {
    use faultline_checkers::elle::gen::{self, GenConfig, Inject};
    let dir = tempfile::tempdir().unwrap();
    let mut history = gen::list_append(&GenConfig::default());
    gen::inject(&mut history, Inject::LostAppend, 7).expect("the anomaly can be planted");
    let path = dir.path().join("history.jsonl");
    let file = std::fs::File::create(&path).unwrap();
    faultline_checkers::format::jsonl::write_history(&history, file).unwrap();
    let path = path.to_str().unwrap();
    let edn = dir.path().join("history.edn");
    let args = ["check", "--json", "--model", "list-append", path];
    let streamed = faultline(&args);
    let whole = faultline(&[&args[..], &["--export-edn", edn.to_str().unwrap()]].concat());
    let strip = |out: &Output| {
        let mut v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let h = &mut v["histories"][0];
        h["elapsed_ms"] = Value::Null;
        h["result"]["duration_ms"] = Value::Null;
        v
    };
    let (streamed_json, whole_json) = (strip(&streamed), strip(&whole));
    assert_eq!(code(&streamed), 1, "{}", stdout(&streamed));
    assert_eq!(streamed_json["histories"][0]["ops"], history.ops.len());
    let anomalies = &streamed_json["histories"][0]["result"]["anomalies"];
    assert!(anomalies.to_string().contains("lost-append"), "{anomalies}");
    // Each anomaly's ops are placed (process, line, time), as the whole history places them.
    assert!(anomalies[0]["ops"][0]["start_s"].is_number(), "{anomalies}");
    assert_eq!(streamed_json, whole_json);
}

/// A stale read while n3 was cut off, and a read after the heal that fails too (register).
const PARTITIONED_REGISTER: &str = concat!(
    r#"{"process":0,"type":"invoke","f":"write","value":1,"time":1000000000,"node":"n1"}"#,
    "\n",
    r#"{"process":0,"type":"ok","f":"write","value":1,"time":1100000000,"node":"n1"}"#,
    "\n",
    r#"{"process":"nemesis","type":"info","f":"start-partition","value":{"n3":["n1","n2"],"n1":["n3"],"n2":["n3"]},"time":2000000000}"#,
    "\n",
    r#"{"process":1,"type":"invoke","f":"read","value":null,"time":2500000000,"node":"n3"}"#,
    "\n",
    r#"{"process":1,"type":"ok","f":"read","value":0,"time":2600000000,"node":"n3"}"#,
    "\n",
    r#"{"process":"nemesis","type":"info","f":"stop-partition","value":null,"time":4000000000}"#,
    "\n",
    r#"{"process":2,"type":"invoke","f":"read","value":null,"time":4500000000,"node":"n2"}"#,
    "\n",
    r#"{"process":2,"type":"ok","f":"read","value":0,"time":4600000000,"node":"n2"}"#,
    "\n",
);

/// Two transactions that each read the other's append (G1c), the second served by n3
/// while n1 was killed and before the kill was healed; a third, after, reads nothing new.
const KILLED_LIST_APPEND: &str = concat!(
    r#"{"process":0,"type":"invoke","f":"txn","value":[["append","x",1],["r","y",null]],"time":1000000000,"node":"n2"}"#,
    "\n",
    r#"{"process":"nemesis","type":"info","f":"kill","value":["n1"],"time":1500000000}"#,
    "\n",
    r#"{"process":1,"type":"invoke","f":"txn","value":[["append","y",2],["r","x",null]],"time":1600000000,"node":"n3"}"#,
    "\n",
    r#"{"process":0,"type":"ok","f":"txn","value":[["append","x",1],["r","y",[2]]],"time":1700000000}"#,
    "\n",
    r#"{"process":1,"type":"ok","f":"txn","value":[["append","y",2],["r","x",[1]]],"time":1800000000}"#,
    "\n",
    r#"{"process":"nemesis","type":"info","f":"restart","value":["n1"],"time":3000000000}"#,
    "\n",
    r#"{"process":2,"type":"invoke","f":"txn","value":[["r","x",null]],"time":3500000000,"node":"n1"}"#,
    "\n",
    r#"{"process":2,"type":"ok","f":"txn","value":[["r","x",[1]]],"time":3600000000}"#,
    "\n",
);

/// The check's text and JSON output, streamed (plain `check`) and over the whole history
/// (`--report` needs it), with the times that differ from run to run left out.
fn streamed_and_whole(model: &str, path: &str, report: &Path) -> [(String, Value); 2] {
    let report = report.to_str().unwrap();
    let run = |extra: &[&str]| {
        let text = faultline(&[&["check", "--model", model, path], extra].concat());
        let json = faultline(&[&["check", "--json", "--model", model, path], extra].concat());
        assert_eq!(code(&text), 1, "{}", stdout(&text));
        // The verdict line's `(N ops, T ms)`: the time is the run's own.
        let text: String = stdout(&text)
            .lines()
            .map(|l| match l.split_once(" ms): ") {
                Some((head, tail)) => format!("{} {tail}", head.rsplit_once(", ").unwrap().0),
                None => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        let mut json: Value = serde_json::from_slice(&json.stdout).unwrap();
        json["histories"][0]["elapsed_ms"] = Value::Null;
        json["histories"][0]["result"]["duration_ms"] = Value::Null;
        (text, json)
    };
    [run(&[]), run(&["--report", report])]
}

#[test]
fn the_streamed_check_names_the_faults_in_force_as_the_whole_history_does() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "register",
            PARTITIONED_REGISTER,
            "nonlinearizable at op 1 (process 1) on n3 at 2.500 s, during partition n1,n2 | n3",
            vec![vec!["partition n1,n2 | n3"]],
        ),
        (
            "list-append",
            KILLED_LIST_APPEND,
            "at op 0 (process 0) on n2 at 1.000 s, during kill n1; \
             op 1 (process 1) on n3 at 1.600 s, during kill n1",
            vec![vec!["kill n1"], vec!["kill n1"]],
        ),
    ];
    for (model, text, placed, faults) in cases {
        let path = history_file(&dir, &format!("{model}.jsonl"), text);
        let report = dir.path().join(format!("{model}-report"));
        let [streamed, whole] = streamed_and_whole(model, &path, &report);
        assert!(streamed.0.contains(placed), "{model}: {}", streamed.0);
        let ops = &streamed.1["histories"][0]["result"]["anomalies"][0]["ops"];
        let named: Vec<Vec<&str>> = ops
            .as_array()
            .unwrap()
            .iter()
            .map(|op| {
                let faults = op["faults"].as_array().unwrap();
                faults.iter().map(|f| f.as_str().unwrap()).collect()
            })
            .collect();
        assert_eq!(named, faults, "{model}: {ops}");
        assert_eq!(streamed, whole, "{model}");
    }
}
