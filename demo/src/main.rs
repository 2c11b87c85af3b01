//! faultline-demo: a small replicated HTTP key-value store that ships with faultline, so that
//! the first test a user runs needs nothing installed. It runs as N replicas, one of which
//! (the first of `--peers`) is the primary, in one of three modes:
//!
//! - `linearizable` — correct: every operation goes through the primary, which makes it
//!   durable and replicates it to a majority before answering, and refuses (503) when it
//!   cannot reach one. It may become unavailable under faults; it never lies.
//! - `stale-reads` — replicas answer reads from their own copy while the primary ships its
//!   log asynchronously, after `--replication-lag-ms`: a read on a follower can miss a write
//!   that was acknowledged before the read began.
//! - `lost-updates` — compare-and-set and transactions read, pause, then write in two steps:
//!   two concurrent ones can both succeed and one's update is lost.
//!
//! In every mode an acknowledged write survives a kill -9 of any replica: the primary
//! appends it to its write-ahead log and fsyncs before it answers.
//!
//! The modules: `config` (the command line), `store` (the map, operations and log entries),
//! `wal` (the log file), `node` (sequencer and replication), `http` (the API).

mod config;
mod http;
mod node;
mod store;
mod wal;

use std::process::ExitCode;

use clap::Parser;

use crate::config::Config;

fn main() -> ExitCode {
    let cfg = match Config::try_parse() {
        Ok(cfg) => cfg,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    if let Err(e) = cfg.validate() {
        eprintln!("faultline-demo: {e}");
        return ExitCode::from(3);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("faultline-demo: {e}");
            ExitCode::from(1)
        }
    }
}

async fn run(cfg: Config) -> Result<(), String> {
    let dir = cfg.data_dir.join(&cfg.id);
    let (wal, entries) =
        wal::Wal::open(&dir, cfg.durability).map_err(|e| format!("{}: {e}", dir.display()))?;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| format!("{}: cannot listen on {}: {e}", cfg.id, cfg.listen))?;
    eprintln!(
        "{}: serving {:?} on {}, primary {}, {} log entries recovered from {}",
        cfg.id,
        cfg.mode,
        cfg.listen,
        cfg.primary().id,
        entries.len(),
        wal.path().display()
    );
    let node = node::Node::start(cfg, wal, entries);
    http::serve(node, listener)
        .await
        .map_err(|e| format!("accept failed: {e}"))
}
