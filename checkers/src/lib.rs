//! faultline's checkers: histories, their formats, sequential models, and the checkers that
//! prove or refute a consistency model over a history.
//!
//! This crate is pure and synchronous: no network, no async runtime, and the clock only to
//! bound a search. It can be used alone, the way Knossos, Porcupine and Elle are.
//!
//! - [`history`]: events, paired operations, the in-memory [`History`].
//! - [`verdict`]: [`Verdict`], [`CheckResult`], [`Budget`] and the [`Checker`] trait.
//! - [`model`]: sequential models (register, cas-register, mutex, set, queue,
//!   multi-register) as
//!   pure step functions.
//! - [`linear`]: the linearizability checker (WGL search, crashed-op reductions, keys in
//!   parallel).
//! - [`gen`]: seeded synthetic histories for tests and benchmarks.
//! - [`format`]: reading and writing histories (JSON Lines, Jepsen EDN and `history.txt`).
//! - [`registry`]: every checker by name, as `faultline check --model` knows them.
//! - [`set`], [`counter`], [`bank`], [`unique_ids`]: Jepsen's set-full, counter, bank and
//!   unique-ids checkers.

pub mod elle;
pub mod format;
pub mod gen;
pub mod history;
pub mod linear;
pub mod model;
pub mod verdict;

pub mod bank;
pub mod counter;
pub mod registry;
pub mod set;
pub mod unique_ids;

pub use history::{Event, EventType, History, HistoryBuilder, HistoryError, Op, Outcome, Process};
pub use verdict::{fill_op_refs, Anomaly, Budget, CheckResult, Checker, OpRef, Verdict};
