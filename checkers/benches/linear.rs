//! Benchmark of the linearizability checker: prints figures, asserts verdicts.
//!
//! `cargo bench -p faultline-checkers --bench linear`
//!
//! 1. 102 Jepsen-etcd-like histories (one key, ~85 ops, 5 clients, values 0-4, 7-19 crashed
//!    writes and CAS), a third of them with an injected stale read. Targets: all 102 under
//!    100 ms of checking, none over 30 ms, every verdict as generated.
//! 2. 1,000,000 ops over 100 keys, 50 clients, half reads, values unique per key, 1% crashed:
//!    valid, then with one injected stale read. Targets: each under 5 s, peak memory under
//!    1 GB (VmHWM of this process, generation included).

use std::time::{Duration, Instant};

use faultline_checkers::gen;
use faultline_checkers::linear::{check_history, SearchOptions};
use faultline_checkers::model::{ModelKind, ModelOptions};
use faultline_checkers::{Budget, Verdict};

fn main() {
    let mut ok = etcd_like();
    if std::env::var("LIN_DEBUG").is_ok() {
        return;
    }
    ok &= large(false);
    ok &= large(true);
    println!("peak memory (VmHWM): {} MiB", peak_memory_kib() / 1024);
    if !ok {
        eprintln!("some verdict was wrong");
        std::process::exit(1);
    }
}

fn check(history: &faultline_checkers::History) -> (Verdict, Duration, String) {
    let start = Instant::now();
    let result = check_history(
        history,
        ModelKind::CasRegister,
        &ModelOptions::default(),
        &SearchOptions::default(),
        &Budget::default(),
    );
    (result.verdict, start.elapsed(), result.summary)
}

fn etcd_like() -> bool {
    let mut total = Duration::ZERO;
    let mut worst = (Duration::ZERO, 0);
    let mut right = 0;
    let (mut crashed, mut ops) = (0, 0);
    for seed in 0..102u64 {
        let violation = seed % 3 == 2;
        let config = gen::EtcdLike {
            violation,
            ..Default::default()
        };
        let g = gen::etcd_like(seed, &config);
        ops += g.history.ops.len();
        crashed += g
            .history
            .ops
            .iter()
            .filter(|op| op.outcome == faultline_checkers::Outcome::Info)
            .count();
        let (verdict, took, summary) = check(&g.history);
        if std::env::var("LIN_DEBUG").is_ok() && took > Duration::from_millis(3) {
            let r = check_history(
                &g.history,
                ModelKind::CasRegister,
                &ModelOptions::default(),
                &SearchOptions::default(),
                &Budget::default(),
            );
            eprintln!(
                "seed {seed} {:.1} ms {verdict}: {}",
                took.as_secs_f64() * 1e3,
                r.details["per_key"]
            );
        }
        let want = if violation {
            Verdict::Invalid
        } else {
            Verdict::Valid
        };
        if verdict == want {
            right += 1;
        } else {
            eprintln!("etcd-like seed {seed}: expected {want}, got {verdict}: {summary}");
        }
        total += took;
        worst = worst.max((took, seed));
    }
    println!(
        "etcd-like: 102 histories ({ops} ops, {crashed} crashed), {right}/102 verdicts right, \
         total {:.1} ms, worst {:.2} ms (seed {})",
        total.as_secs_f64() * 1e3,
        worst.0.as_secs_f64() * 1e3,
        worst.1
    );
    right == 102
}

fn large(stale_read: bool) -> bool {
    let config = gen::Large {
        stale_read,
        ..Default::default()
    };
    let start = Instant::now();
    let g = gen::large(7, &config);
    let generated = start.elapsed();
    let (verdict, took, summary) = check(&g.history);
    let want = if stale_read {
        Verdict::Invalid
    } else {
        Verdict::Valid
    };
    let n = g.history.ops.len();
    println!(
        "large{}: {n} ops, 100 keys, 50 clients: {verdict} in {:.2} s ({:.0} ops/s; generated in {:.1} s), peak so far {} MiB",
        if stale_read { " + stale read" } else { "" },
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        generated.as_secs_f64(),
        peak_memory_kib() / 1024
    );
    println!("  {summary}");
    verdict == want
}

/// The process's peak resident memory, from `/proc/self/status` (0 where there is none).
fn peak_memory_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse().ok())
        })
        .unwrap_or(0)
}
