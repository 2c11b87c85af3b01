//! faultline's one integration-test binary: it drives the built `faultline` executable and
//! real components (network namespaces, iptables, etcd, Chromium).

mod check_cli;
mod check_spec;
mod cluster;
mod demo_cli;
mod disk;
mod leader;
mod packet;
mod phases;
mod ready;
mod redis;
mod repeat_cli;
mod report;
mod run;
mod serve;
mod set_reads;
mod ssh;
mod sweep;
mod workloads;

use std::sync::{Mutex, MutexGuard};

/// Tests that start clusters or browsers take this lock, so that on a 2-core machine they
/// do not starve each other of CPU and time out.
pub fn heavy() -> MutexGuard<'static, ()> {
    static HEAVY: Mutex<()> = Mutex::new(());
    HEAVY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
