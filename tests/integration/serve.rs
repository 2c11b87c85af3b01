//! Integration tests: `faultline serve`. A reports root with runs of every kind (valid,
//! invalid with hostile values from the store, unknown, half-written, corrupt) is served by
//! the built binary; raw HTTP checks path escapes and the listing's speed, and Debian's
//! `chromium` driven over WebDriver (`chromium-driver`, through fantoccini) filters the list,
//! opens a report and steps the failure explorer.
//!
//! Every process a test starts (serve, chromedriver and the browser it starts) is in a
//! [`Spawned`] guard that kills its process group by id on drop, so a failing assertion
//! leaves nothing running. Everything listens on 127.0.0.1 and every wait is bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use faultline::report::{self, RunMeta};
use faultline_checkers::registry::{self, CheckerOptions};
use faultline_checkers::{Budget, History};

/// A value from a store that would be markup, an attribute end or a script if not escaped.
const HOSTILE: &str =
    "<script>document.title='pwned'</script>\"q'\nline2<img src=x onerror=alert(1)>";

/// A child process in its own process group, killed with the group when dropped.
struct Spawned {
    child: Child,
}

impl Spawned {
    fn start(cmd: &mut Command) -> Spawned {
        let child = cmd
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        Spawned { child }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // The group's id is the child's pid: this reaches the browser chromedriver started too.
        let pgid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

fn history(text: &str) -> History {
    faultline_checkers::format::jsonl::read_jsonl(text.as_bytes(), "history.jsonl").unwrap()
}

const STALE: &str = r#"{"process":0,"type":"invoke","f":"write","key":"k","value":1}
{"process":0,"type":"ok","f":"write","key":"k","value":1}
{"process":0,"type":"invoke","f":"write","key":"k","value":2}
{"process":0,"type":"ok","f":"write","key":"k","value":2}
{"process":1,"type":"invoke","f":"read","key":"k","value":null}
{"process":1,"type":"ok","f":"read","key":"k","value":1}
"#;

/// A finished run checked with the register model, its store named `store`.
fn write_run(root: &Path, spec: &str, stamp: &str, text: &str, store: &str) {
    let h = history(text);
    let checker = registry::build("register", &CheckerOptions::default()).unwrap();
    let result = if text.is_empty() {
        faultline_checkers::CheckResult::unknown("register", "the time budget ran out")
    } else {
        checker.check(&h, &Budget::default())
    };
    let meta = RunMeta {
        spec_name: spec.into(),
        store: store.into(),
        seed: Some(7),
        ..RunMeta::default()
    };
    report::write_outputs(&root.join(spec).join(stamp), &meta, &h, &[result]).unwrap();
}

/// valid, invalid (hostile store), unknown, half-written and corrupt runs.
fn fixture(root: &Path) {
    write_run(
        root,
        "reg",
        "20260101T000001.000Z",
        &STALE[..STALE.len() / 2 + 70],
        "ok-store",
    );
    write_run(root, "reg", "20260101T000002.000Z", STALE, HOSTILE);
    // A checker that could not decide.
    write_run(root, "empty", "20260101T000003.000Z", "", "s");
    let half = root.join("reg/20260101T000004.000Z");
    std::fs::create_dir_all(&half).unwrap();
    std::fs::write(half.join("history.jsonl"), &STALE[..STALE.len() - 30]).unwrap();
    let corrupt = root.join("reg/20260101T000005.000Z");
    std::fs::create_dir_all(&corrupt).unwrap();
    std::fs::write(corrupt.join("results.json"), "{\"format\":\"faultline-res").unwrap();
}

/// Starts `faultline serve ROOT --port 0` and returns it with its address.
fn serve(root: &Path) -> (Spawned, String) {
    let mut server = Spawned::start(
        Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["serve", "--port", "0"])
            .arg(root)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit()),
    );
    let stdout = server.child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("faultline serve printed its address within 20 s");
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    (server, addr)
}

/// A raw HTTP/1.0 GET, the path sent exactly as given (no client-side normalisation).
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    (status, out)
}

#[test]
fn paths_that_lead_out_of_the_reports_are_refused() {
    let root = tempfile::tempdir().unwrap();
    fixture(root.path());
    std::os::unix::fs::symlink("/etc", root.path().join("reg/evil")).unwrap();
    let (_server, addr) = serve(root.path());
    for path in [
        "/runs/../../../../etc/passwd",
        "/runs/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/runs/reg/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/runs/reg/evil/passwd",
        "/runs/%2Fetc%2Fpasswd",
    ] {
        let (status, body) = get(&addr, path);
        assert!(status == 403 || status == 404, "{path}: {status}");
        assert!(
            !body.contains("root:"),
            "{path} served a file outside the root"
        );
    }
    let (status, body) = get(&addr, "/runs/reg/20260101T000002.000Z/results.json");
    assert_eq!(status, 200, "a file inside is served");
    assert!(body.contains("faultline-results"));
}

#[test]
fn two_runs_of_a_spec_are_compared_side_by_side() {
    let root = tempfile::tempdir().unwrap();
    fixture(root.path());
    let (_server, addr) = serve(root.path());
    let (status, body) = get(
        &addr,
        "/compare?a=reg%2F20260101T000001.000Z&b=reg%2F20260101T000002.000Z",
    );
    assert_eq!(status, 200);
    let verdicts = body
        .split("<tr data-row=\"verdict\">")
        .nth(1)
        .and_then(|rest| rest.split("</tr>").next())
        .expect("a verdict row");
    assert!(
        verdicts.contains("valid") && verdicts.contains("invalid"),
        "{verdicts}"
    );
    assert!(body.contains("data-row=\"overall\"") && body.contains("data-row=\"all ops\""));
    // A run shown against one of another spec is refused, not garbled.
    let (status, _) = get(
        &addr,
        "/compare?a=reg%2F20260101T000001.000Z&b=empty%2F20260101T000003.000Z",
    );
    assert_eq!(status, 400);
}

#[test]
fn fifty_runs_are_listed_in_under_a_second_and_half_written_ones_as_such() {
    let root = tempfile::tempdir().unwrap();
    write_run(root.path(), "reg", "20260101T000000.000Z", STALE, "s");
    let first = root.path().join("reg/20260101T000000.000Z");
    for i in 1..50 {
        let dir = root.path().join(format!("reg/20260101T0000{i:02}.500Z"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["results.json", "history.jsonl", "report.html"] {
            std::fs::copy(first.join(f), dir.join(f)).unwrap();
        }
    }
    let (_server, addr) = serve(root.path());
    let started = Instant::now();
    let (status, body) = get(&addr, "/");
    let elapsed = started.elapsed();
    assert_eq!(status, 200);
    assert_eq!(body.matches("<tr class=\"run\"").count(), 50);
    eprintln!("listing 50 runs took {elapsed:?} (first request, nothing cached)");
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    // A run appears as soon as its directory exists, in progress.
    std::fs::create_dir_all(root.path().join("reg/20260102T000000.000Z")).unwrap();
    let (_, body) = get(&addr, "/");
    assert!(body.contains("data-status=\"in-progress\""));
}

/// chromedriver on a free loopback port, or a failure saying what to install.
fn chromedriver() -> (Spawned, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let exe = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("chromedriver is missing: apt-get install -y chromium chromium-driver");
    let driver = Spawned::start(
        Command::new(exe)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen in 20 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (driver, port)
}

#[test]
fn a_browser_filters_runs_opens_a_report_and_steps_the_explorer() {
    let _heavy = crate::heavy();
    let root = tempfile::tempdir().unwrap();
    fixture(root.path());
    let (_server, addr) = serve(root.path());
    let (_driver, port) = chromedriver();
    let profile = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let session = browse(
        format!("http://{addr}/"),
        port,
        profile.path().to_path_buf(),
    );
    runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(180), session).await })
        .expect("the browser session finished within 180 s");
}

async fn browse(base: String, port: u16, profile: std::path::PathBuf) {
    use fantoccini::{ClientBuilder, Locator};
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({"binary": "/usr/bin/chromium", "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            format!("--user-data-dir={}", profile.display())]}),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let c = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a WebDriver session with chromium");
    let wait = Duration::from_secs(20);
    c.goto(&base).await.unwrap();
    let rows = c.find_all(Locator::Css("tr.run")).await.unwrap();
    assert_eq!(rows.len(), 5, "every run is listed");
    for status in ["valid", "invalid", "unknown", "in-progress", "corrupt"] {
        let css = format!("tr.run[data-status=\"{status}\"]");
        assert!(c.find(Locator::Css(&css)).await.is_ok(), "no {status} run");
    }
    // The hostile store name is text, whole, quotes and newline included.
    let store: serde_json::Value = c
        .execute(
            "return document.querySelector('tr[data-status=\"invalid\"] td.store').textContent",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(store, serde_json::json!(HOSTILE));
    assert_eq!(
        c.title().await.unwrap(),
        "Runs — faultline",
        "a value ran as script"
    );
    assert!(
        c.find(Locator::Css("td img")).await.is_err(),
        "a value became an element"
    );
    // Filter by verdict.
    c.find(Locator::Css("#filter-verdict option[value=\"invalid\"]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::Css("#filter-apply"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + wait;
    while !c
        .current_url()
        .await
        .unwrap()
        .as_str()
        .contains("verdict=invalid")
    {
        assert!(
            Instant::now() < deadline,
            "the filter did not load in {wait:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rows = c.find_all(Locator::Css("tr.run")).await.unwrap();
    assert_eq!(rows.len(), 1, "the filter keeps the invalid run only");
    // Open its report and step the explorer.
    c.find(Locator::Css("tr.run a.open"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let explorer = c
        .wait()
        .at_most(wait)
        .for_element(Locator::Css("#linear-diagram"))
        .await
        .unwrap();
    let step = |e: &fantoccini::elements::Element| {
        let e = e.clone();
        async move {
            e.attr("data-step")
                .await
                .unwrap()
                .unwrap()
                .parse::<usize>()
                .unwrap()
        }
    };
    let last = step(&explorer).await;
    assert!(last >= 2, "the explorer opens on the failure");
    let why = explorer
        .find(Locator::Css(".ex-why"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(why.contains("cannot place op"), "{why}");
    assert!(explorer.find(Locator::Css("g.op.failing")).await.is_ok());
    explorer
        .find(Locator::Css(".ex-back"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(step(&explorer).await, last - 1);
    let state = explorer
        .find(Locator::Css(".ex-state"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        state.contains("placed") && state.contains("state"),
        "{state}"
    );
    explorer
        .find(Locator::Css(".ex-first"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(step(&explorer).await, 0);
    explorer
        .find(Locator::Css(".ex-forward"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(step(&explorer).await, 1);
    assert!(explorer.find(Locator::Css("g.op.placed")).await.is_ok());
    c.close().await.unwrap();
}
