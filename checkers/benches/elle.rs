//! Speed and memory of the transactional checkers on large generated histories, each
//! figure with the peak memory of the process that produced it.
//!
//! `cargo bench -p faultline-checkers --bench elle [-- TXNS]` writes three JSON Lines
//! histories to a temporary directory (default 1,000,000 transactions of the shape
//! [`gen::bench_config`]: 50 clients, 1–4 micro-operations, 10 keys in use at a time, about
//! 20 appends per key, 3% failed, 2% crashed): strictly serializable list-append, the same
//! with one planted stale read (a G-single cycle), and rw-register. Each file is then
//! checked in a fresh child process, so that each peak (`VmHWM`) is that check's alone,
//! two ways side by side:
//!
//! - `history`: read into a [`History`](faultline_checkers::History) (what `faultline check`
//!   does today), then [`Checker::check`];
//! - `stream`: [`ListAppend::check_jsonl`] / [`RwRegister::check_jsonl`], straight into the
//!   compact form.
//!
//! When a release `faultline` binary is found (`$FAULTLINE_BIN`, else
//! `target/release/faultline`), it is also timed on each file under `/usr/bin/time -v`.
//! `ELLE_BENCH_THREADS=1` limits the checks to one worker thread. Targets for the stream path: ≤ 5 s and ≤ 1.5 GB for a million transactions, the same
//! verdicts. Every verdict is checked; the bench exits 1 on a wrong one.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use faultline_checkers::elle::gen::{self, Inject};
use faultline_checkers::elle::{ConsistencyModel, ListAppend, RwRegister};
use faultline_checkers::format::{self, jsonl, ReadOptions};
use faultline_checkers::{Budget, CheckResult, Checker, History, Verdict};

const MODEL: ConsistencyModel = ConsistencyModel::StrictSerializable;

fn peak_memory_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// In the child: checks `file` one way and prints `verdict seconds peak_mib summary`.
fn child(mode: &str, model: &str, file: &Path) {
    let mut budget = Budget::default();
    if let Some(threads) = std::env::var("ELLE_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
    {
        budget.threads = threads;
    }
    let started = Instant::now();
    let open = || BufReader::with_capacity(1 << 16, File::open(file).expect("the history"));
    let name = file.display().to_string();
    let result: CheckResult = match (mode, model) {
        ("history", _) => {
            let history = format::read_path(file, &ReadOptions::default()).expect("readable");
            let result = checker(model).check(&history, &budget);
            // Freeing a million nested values is part of what the check costs.
            drop(history);
            result
        }
        ("stream", "list-append") => {
            let checker = ListAppend { model: MODEL };
            checker
                .check_jsonl(open(), &name, &budget, &mut |_| {})
                .expect("readable")
                .0
        }
        ("stream", _) => {
            let checker = RwRegister { model: MODEL };
            checker
                .check_jsonl(open(), &name, &budget, &mut |_| {})
                .expect("readable")
                .0
        }
        _ => panic!("unknown mode {mode}"),
    };
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} {secs:.2} {:.0} {}",
        result.verdict,
        peak_memory_mib(),
        result.summary
    );
}

fn checker(model: &str) -> Box<dyn Checker> {
    match model {
        "list-append" => Box::new(ListAppend { model: MODEL }),
        _ => Box::new(RwRegister { model: MODEL }),
    }
}

/// One way of checking one file, in a child process: (verdict, seconds, peak MiB, summary).
fn measure(mode: &str, model: &str, file: &Path) -> (String, f64, f64, String) {
    let exe = std::env::current_exe().expect("this bench's path");
    let out = Command::new(exe)
        .args(["--child", mode, model])
        .arg(file)
        .output()
        .expect("the child runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text.trim().splitn(4, ' ');
    let mut next = || fields.next().unwrap_or("").to_string();
    let (verdict, secs, mib, summary) = (next(), next(), next(), next());
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    }
    (
        verdict,
        secs.parse().unwrap_or(f64::NAN),
        mib.parse().unwrap_or(f64::NAN),
        summary,
    )
}

/// The release `faultline check` on `file` under `/usr/bin/time -v`: (first line of its
/// output, wall seconds, peak MiB).
fn faultline_check(bin: &Path, model: &str, file: &Path) -> Option<(String, f64, f64)> {
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(bin)
        .args(["check", "--model", model])
        .arg(file)
        .output()
        .ok()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let field = |name: &str| {
        stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()))
    };
    let wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss):")?;
    let secs = wall
        .split(':')
        .try_fold(0.0, |acc, part| part.parse::<f64>().map(|v| acc * 60.0 + v))
        .ok()?;
    let kib: f64 = field("Maximum resident set size (kbytes):")?.parse().ok()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    Some((stdout.lines().next()?.to_string(), secs, kib / 1024.0))
}

fn write(path: &Path, history: &History) {
    let file = File::create(path).expect("a file in the temporary directory");
    jsonl::write_history(history, file).expect("the history is written");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, mode, model, file, ..] = args.as_slice() {
        if flag == "--child" {
            return child(mode, model, Path::new(file));
        }
    }
    let txns: usize = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(format!("faultline-bench-elle-{txns}"));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let config = gen::bench_config(txns);
    let started = Instant::now();
    let mut history = gen::list_append(&config);
    let files: [(PathBuf, &str, Verdict); 3] = [
        (dir.join("list-append.jsonl"), "list-append", Verdict::Valid),
        (
            dir.join("list-append-g-single.jsonl"),
            "list-append",
            Verdict::Invalid,
        ),
        (dir.join("rw-register.jsonl"), "rw-register", Verdict::Valid),
    ];
    write(&files[0].0, &history);
    let planted = gen::inject(&mut history, Inject::StaleRead, 1).expect("a stale read");
    write(&files[1].0, &history);
    drop(history);
    write(&files[2].0, &gen::rw_register(&config));
    println!(
        "{txns} transactions per history ({} clients, 1-{} micro-ops, {} active keys, {}% \
         failed, {}% crashed; stale read planted at op {planted}), written to {} in {:.1} s",
        config.clients,
        config.max_mops,
        config.active_keys,
        config.fail_rate * 100.0,
        config.crash_rate * 100.0,
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    let bin = std::env::var_os("FAULTLINE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/faultline")
        });
    let mut right = true;
    for (file, model, want) in &files {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        println!("{name} ({model}, expected {want}):");
        for mode in ["history", "stream"] {
            let (verdict, secs, mib, summary) = measure(mode, model, file);
            right &= verdict == want.as_str();
            println!("  {mode:8} {verdict:8} {secs:6.2} s  peak {mib:6.0} MiB  {summary}");
        }
        if let Some((line, secs, mib)) = bin
            .exists()
            .then(|| faultline_check(&bin, model, file))
            .flatten()
        {
            println!("  faultline check: {secs:6.2} s  peak {mib:6.0} MiB  {line}");
        }
    }
    if !right {
        eprintln!("some verdict was not the one the history was generated with");
        std::process::exit(1);
    }
}
