//! The faultline controller as a library: the binary (`src/main.rs`) is a thin wrapper around
//! [`cli::main`], and integration tests drive the cluster layer through these modules directly.

pub mod cli;
pub mod client;
pub mod cluster;
pub mod cmd;
pub mod db;
pub mod exit;
pub mod health;
pub mod log;
pub mod nemesis;
pub mod out;
pub mod plan;
pub mod progress;
pub mod recorder;
pub mod report;
pub mod rundir;
pub mod runner;
pub mod spec;
#[cfg(test)]
mod testing;
pub mod workers;
pub mod workload;
