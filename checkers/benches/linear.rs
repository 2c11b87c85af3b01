//! Benchmark of the linearizability checker: prints figures, checks every verdict.
//!
//! `cargo bench -p faultline-checkers --bench linear` (set `LINEAR_BENCH_VERBOSE=1` to see
//! the slowest histories).
//!
//! 1. 102 Jepsen-etcd-like histories (one key, ~85 ops, 5 clients, values 0-4, 7-19 crashed
//!    writes and CAS), a third of them with an injected stale read. Targets: all 102 under
//!    100 ms of checking, none over 30 ms, every verdict as generated. Each history is
//!    checked three times; the figures are the first run's wall time, the best wall time, and
//!    the best CPU time of the checking thread (which a busy machine does not inflate).
//! 2. 1,000,000 ops over 100 keys, 50 clients, half reads, values unique per key, 1% crashed:
//!    valid, then with one injected stale read. Targets: each under 5 s, peak memory under
//!    1 GB (VmHWM of this process, generation of the history included).
//! 3. The same two histories as `faultline check --model cas-register FILE.jsonl` reads them:
//!    written to a temporary `.jsonl` file and checked by the streamed reader
//!    ([`stream::check_jsonl`], the code of `faultline check`). Each runs in a child process
//!    (this benchmark run again with `LINEAR_BENCH_STREAM=FILE`), so that its peak memory is
//!    its own, not that of this process's in-memory histories: the child reads its VmHWM
//!    from `/proc/self/status` at the end. (Not `ru_maxrss` from `wait4`: Linux counts in it
//!    the memory of the parent, which the child shares between spawn and exec.) The wall
//!    time is the child's own measure, from opening the file to the verdict. Targets: each
//!    under 1 s, under 300 MB, and the verdict and failing op of part 2.
//!
//! Exits 1 if a verdict is not the one the history was generated with.

use std::io::BufReader;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use faultline_checkers::format::jsonl::write_history;
use faultline_checkers::gen;
use faultline_checkers::linear::{check_history, stream, SearchOptions};
use faultline_checkers::model::{ModelKind, ModelOptions};
use faultline_checkers::{Budget, CheckResult, History, Outcome, Verdict};

/// Set in the child process of part 3 to the history it checks.
const STREAM_CHILD: &str = "LINEAR_BENCH_STREAM";

fn main() {
    if let Some(path) = std::env::var_os(STREAM_CHILD) {
        stream_child(Path::new(&path));
        return;
    }
    let mut right = etcd_like();
    right &= large(false);
    right &= large(true);
    println!("peak memory (VmHWM): {} MiB", peak_memory_kib() / 1024);
    plain();
    if !right {
        eprintln!("some verdict was not the one the history was generated with");
        std::process::exit(1);
    }
}

/// One check: its result, wall time and the checking thread's CPU time.
fn check(history: &History, threads: usize) -> (CheckResult, Duration, Duration) {
    check_with(history, threads, true)
}

fn check_with(
    history: &History,
    threads: usize,
    reductions: bool,
) -> (CheckResult, Duration, Duration) {
    let budget = Budget {
        threads,
        // The plain search gets a budget, so the comparison ends in reasonable time.
        deadline: (!reductions).then(|| Instant::now() + Duration::from_secs(2)),
        memory_bytes: if reductions { 1 << 30 } else { 256 << 20 },
    };
    let (start, cpu_start) = (Instant::now(), thread_cpu());
    let result = check_history(
        history,
        ModelKind::CasRegister,
        &ModelOptions::default(),
        &SearchOptions { reductions },
        &budget,
    );
    (result, start.elapsed(), thread_cpu() - cpu_start)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The 102 etcd-like histories, each with its seed and the verdict it was generated with
/// (every third one has an injected stale read).
fn etcd_corpus() -> impl Iterator<Item = (u64, gen::Generated, Verdict)> {
    (0..102u64).map(|seed| {
        let violation = seed % 3 == 2;
        let config = gen::EtcdLike {
            violation,
            ..Default::default()
        };
        let want = if violation {
            Verdict::Invalid
        } else {
            Verdict::Valid
        };
        (seed, gen::etcd_like(seed, &config), want)
    })
}

fn etcd_like() -> bool {
    let verbose = std::env::var_os("LINEAR_BENCH_VERBOSE").is_some();
    let (mut first, mut wall, mut cpu) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let (mut worst_first, mut worst_wall, mut worst_cpu) = (
        (Duration::ZERO, 0),
        (Duration::ZERO, 0),
        (Duration::ZERO, 0),
    );
    let (mut right, mut ops, mut crashed, mut invalid) = (0, 0, 0, 0);
    for (seed, g, want) in etcd_corpus() {
        ops += g.history.ops.len();
        crashed += g
            .history
            .ops
            .iter()
            .filter(|op| op.outcome == Outcome::Info)
            .count();
        invalid += usize::from(want == Verdict::Invalid);
        let runs: Vec<_> = (0..3).map(|_| check(&g.history, 1)).collect();
        let best_wall = runs.iter().map(|r| r.1).min().unwrap_or_default();
        let best_cpu = runs.iter().map(|r| r.2).min().unwrap_or_default();
        let result = &runs[0].0;
        if result.verdict == want {
            right += 1;
        } else {
            eprintln!(
                "etcd-like seed {seed}: expected {want}, got {}: {}",
                result.verdict, result.summary
            );
        }
        if verbose && best_cpu > Duration::from_millis(2) {
            eprintln!(
                "seed {seed}: {:.2} ms cpu, {}: {}",
                ms(best_cpu),
                result.verdict,
                result.details["per_key"]
            );
        }
        first += runs[0].1;
        wall += best_wall;
        cpu += best_cpu;
        worst_first = worst_first.max((runs[0].1, seed));
        worst_wall = worst_wall.max((best_wall, seed));
        worst_cpu = worst_cpu.max((best_cpu, seed));
    }
    println!(
        "etcd-like: 102 histories ({ops} ops, {crashed} crashed, {invalid} with a stale read), {right}/102 verdicts right"
    );
    println!(
        "  first run wall: total {:.1} ms, worst {:.2} ms (seed {})",
        ms(first),
        ms(worst_first.0),
        worst_first.1
    );
    println!(
        "  best of 3 wall: total {:.1} ms, worst {:.2} ms (seed {})",
        ms(wall),
        ms(worst_wall.0),
        worst_wall.1
    );
    println!(
        "  best of 3 cpu:  total {:.1} ms, worst {:.2} ms (seed {})",
        ms(cpu),
        ms(worst_cpu.0),
        worst_cpu.1
    );
    right == 102
}

/// The same 102 histories through the plain WGL search (reductions and subsumption off,
/// 2 s and 256 MiB per history), for comparison. Runs last: its memo would dominate the
/// peak memory figure.
fn plain() {
    let (mut cpu, mut worst, mut right, mut unknown) = (Duration::ZERO, (Duration::ZERO, 0), 0, 0);
    for (seed, g, want) in etcd_corpus() {
        let (result, _, took) = check_with(&g.history, 1, false);
        right += usize::from(result.verdict == want);
        unknown += usize::from(result.verdict == Verdict::Unknown);
        cpu += took;
        worst = worst.max((took, seed));
    }
    println!(
        "for comparison, the plain WGL search on the etcd-like histories: cpu total {:.1} ms, \
         worst {:.2} ms (seed {}), {right}/102 right, {unknown} over budget (2 s, 256 MiB)",
        ms(cpu),
        ms(worst.0),
        worst.1
    );
}

fn large(stale_read: bool) -> bool {
    let config = gen::Large {
        stale_read,
        ..Default::default()
    };
    let start = Instant::now();
    let g = gen::large(7, &config);
    let generated = start.elapsed();
    let resident_before = status_kib("VmRSS:");
    let (result, took, _) = check(&g.history, Budget::default().threads);
    let want = if stale_read {
        Verdict::Invalid
    } else {
        Verdict::Valid
    };
    let n = g.history.ops.len();
    println!(
        "large{}: {n} ops, {} keys, {} clients, {} crashed: {} in {:.2} s wall ({:.0} ops/s; history generated in {:.1} s); peak memory so far {} MiB",
        if stale_read { " + stale read" } else { "" },
        config.keys,
        config.clients,
        result.details["crashed"],
        result.verdict,
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        generated.as_secs_f64(),
        peak_memory_kib() / 1024
    );
    println!(
        "  resident before the check (the history itself): {} MiB",
        resident_before / 1024
    );
    println!("  {}", result.summary);
    if let (Some(op), true) = (g.injected, stale_read) {
        println!(
            "  injected stale read: op {op}; reported failing op: {}",
            result.details["failing_op"]
        );
    }
    let streamed = streamed(&g.history, stale_read, &result);
    result.verdict == want && streamed
}

/// Part 3 for one history: written to a file, checked by a child process. Whether the child
/// gave the in-memory check's verdict and failing op.
fn streamed(history: &History, stale_read: bool, in_memory: &CheckResult) -> bool {
    let path = std::env::temp_dir().join(format!(
        "faultline-linear-bench-{}-{}.jsonl",
        std::process::id(),
        if stale_read { "stale" } else { "valid" }
    ));
    let write = std::fs::File::create(&path).and_then(|file| write_history(history, file));
    if let Err(e) = write {
        eprintln!("{}: {e}", path.display());
        return false;
    }
    let file_mib = std::fs::metadata(&path).map_or(0, |m| m.len() >> 20);
    let child = run_child(&path);
    let _ = std::fs::remove_file(&path);
    let stdout = match child {
        Ok(done) => done,
        Err(e) => {
            eprintln!("the streamed check's child process: {e}");
            return false;
        }
    };
    // The child's line: verdict, failing op (or -), wall time in ms, peak memory in KiB.
    let fields: Vec<&str> = stdout.split_whitespace().collect();
    let [verdict, failing_op, wall_ms, peak_kib] = fields[..] else {
        eprintln!("the streamed check's child printed {stdout:?}");
        return false;
    };
    println!(
        "  streamed from a {file_mib} MiB .jsonl file (as `faultline check`): {verdict} in {wall_ms} ms wall, \
         peak memory {} MiB (the child's VmHWM), failing op {failing_op}",
        peak_kib.parse::<u64>().unwrap_or(0) / 1024
    );
    let want_op = in_memory
        .details
        .get("failing_op")
        .map_or("-".to_string(), |op| op.to_string());
    verdict == in_memory.verdict.to_string() && failing_op == want_op
}

/// Runs this benchmark again as the streamed check of `path`: its output.
fn run_child(path: &Path) -> std::io::Result<String> {
    let out = Command::new(std::env::current_exe()?)
        .env(STREAM_CHILD, path)
        .stderr(std::process::Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "it ended with {}",
            out.status
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The child of [`run_child`]: checks `path` as `faultline check --model cas-register`
/// does and prints the verdict, the failing op (or `-`), the wall time in ms and its peak
/// memory in KiB.
fn stream_child(path: &Path) {
    let start = Instant::now();
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = BufReader::with_capacity(1 << 16, file);
    let name = path.display().to_string();
    let budget = Budget::default();
    let options = ModelOptions::default();
    let model = ModelKind::CasRegister;
    let (result, _) = stream::check_jsonl(reader, &name, model, &options, &budget, &mut |_| {})
        .unwrap_or_else(|e| panic!("{e}"));
    let took = start.elapsed();
    let failing_op = result
        .details
        .get("failing_op")
        .map_or("-".to_string(), |op| op.to_string());
    println!(
        "{} {failing_op} {} {}",
        result.verdict,
        took.as_millis(),
        peak_memory_kib()
    );
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The process's peak resident memory, from `/proc/self/status` (0 where there is none).
fn peak_memory_kib() -> u64 {
    status_kib("VmHWM:")
}

/// A `kB` figure of `/proc/self/status`.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse().ok())
        })
        .unwrap_or(0)
}
