//! Speed and memory of the list-append checker on a large generated history.
//!
//! `cargo bench -p faultline-checkers --bench elle [-- TXNS]` generates a strictly
//! serializable list-append history (default 1,000,000 transactions, 50 clients, 1-4
//! micro-operations, about 20 appends per key as keys rotate, 3% failed and 2% crashed),
//! checks it under strict serializability, and prints the time, the throughput and the
//! peak resident memory of the whole process (`VmHWM`, history included). Target: under
//! 10 s and 4 GB on a 2-core machine. It then plants one stale read and checks again, to
//! show the cost of finding and explaining a cycle at that size, and checks an
//! rw-register history of the same shape.

use std::time::Instant;

use faultline_checkers::elle::gen::{self, GenConfig, Inject};
use faultline_checkers::elle::{ConsistencyModel, ListAppend, RwRegister};
use faultline_checkers::{Budget, Checker, Verdict};

fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// CPU seconds this process has used (user + system), from `/proc/self/stat`; on a shared
/// machine it says what the check costs when wall time is inflated by other load.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn main() {
    let txns: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let config = GenConfig {
        seed: 42,
        txns,
        clients: 50,
        max_mops: 4,
        active_keys: 10,
        appends_per_key: 20,
        ..GenConfig::default()
    };
    let started = Instant::now();
    let mut history = gen::list_append(&config);
    println!(
        "generated {txns} transactions ({} events) in {:.2} s",
        history.event_count,
        started.elapsed().as_secs_f64()
    );
    if let Some(mib) = peak_memory_mib() {
        println!("peak memory with the history loaded: {mib:.0} MiB");
    }
    let checker = ListAppend {
        model: ConsistencyModel::StrictSerializable,
    };
    let budget = Budget::default();
    let started = Instant::now();
    let cpu_before = cpu_seconds();
    let result = checker.check(&history, &budget);
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds().zip(cpu_before).map(|(a, b)| a - b);
    assert_eq!(result.verdict, Verdict::Valid, "{}", result.summary);
    println!(
        "list-append, strict-serializable, {} threads: {} in {secs:.2} s = {:.0} txns/s",
        budget.threads,
        result.verdict,
        txns as f64 / secs
    );
    if let Some(cpu) = cpu {
        println!("  CPU time {cpu:.2} s (user + system, all threads)");
    }
    println!("  {}", result.details["stats"]);
    if let Some(mib) = peak_memory_mib() {
        println!("peak memory (VmHWM, history included): {mib:.0} MiB");
    }
    let op = gen::inject(&mut history, Inject::StaleRead, 1).expect("a place for a stale read");
    let started = Instant::now();
    let result = checker.check(&history, &budget);
    assert_eq!(result.verdict, Verdict::Invalid, "{}", result.summary);
    println!(
        "with a stale read planted at op {op}: {} ({}) in {:.2} s",
        result.verdict,
        result.summary,
        started.elapsed().as_secs_f64()
    );
    drop(history);
    let history = gen::rw_register(&config);
    let checker = RwRegister {
        model: ConsistencyModel::StrictSerializable,
    };
    let started = Instant::now();
    let cpu_before = cpu_seconds();
    let result = checker.check(&history, &budget);
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(result.verdict, Verdict::Valid, "{}", result.summary);
    println!(
        "rw-register, same shape: {} in {secs:.2} s = {:.0} txns/s, CPU {:.2} s",
        result.verdict,
        txns as f64 / secs,
        cpu_seconds().zip(cpu_before).map_or(0.0, |(a, b)| a - b)
    );
    if let Some(mib) = peak_memory_mib() {
        println!("peak memory at the end: {mib:.0} MiB");
    }
}
