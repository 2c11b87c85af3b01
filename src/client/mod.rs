//! Clients: how an abstract operation (`read k3`, `cas k3 [4, 7]`) becomes a request to one
//! node, and how the answer becomes `ok`, `fail` or `info`.
//!
//! The classification is the client's whole job and its whole risk. `ok` means the operation
//! happened; `fail` means it certainly did not; `info` means we cannot know — it may take
//! effect later, or never. Calling an ambiguous answer `fail` makes a correct store look
//! broken (a write the checker believes absent shows up in a read), so anything not
//! recognised is `info`. Only an operation without side effects (a read) may be `fail` when
//! its answer is lost, since then it changed nothing.
//!
//! A client never retries and never fails over to another node inside one operation: a
//! hidden retry can apply a write twice or mask the very unavailability a test measures.
//! Each process talks to one node, recorded as `node` in the history.
//!
//! [`http::HttpClient`] is the declarative client built from a spec's `[client]`; stores that
//! templates cannot express implement [`Client`] in Rust, and an operation that takes more
//! than one request is a builtin op of the declarative client ([`etcd`]: list-append
//! and rw-register transactions on etcd v3).

pub mod capture;
pub mod etcd;
pub mod http;
mod pointer;
pub mod template;
mod wire;

use std::future::Future;
use std::pin::Pin;

use faultline_checkers::Outcome;
use serde_json::Value;

/// One operation to perform.
#[derive(Clone, Debug, PartialEq)]
pub struct Invocation {
    pub f: String,
    pub key: Option<String>,
    /// `write`: the value; `cas`: `[expected, new]`; `add`: the element; `read`: null.
    pub value: Value,
}

/// How an operation ended, as the client judged it.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    pub outcome: Outcome,
    /// For `ok`: the value (a read's result; a write's own value).
    pub value: Value,
    /// For `fail`/`info`: why, as a short text.
    pub error: Option<String>,
    /// An excerpt of the store's answer, when `[client] capture` asks for one (see
    /// [`http::Capture`]); `None` otherwise, which costs nothing.
    pub response: Option<Value>,
}

impl Completion {
    pub fn ok(value: Value) -> Completion {
        Completion {
            outcome: Outcome::Ok,
            value,
            error: None,
            response: None,
        }
    }

    pub fn fail(error: impl Into<String>) -> Completion {
        Completion {
            outcome: Outcome::Fail,
            value: Value::Null,
            error: Some(bounded(error.into())),
            response: None,
        }
    }

    pub fn info(error: impl Into<String>) -> Completion {
        Completion {
            outcome: Outcome::Info,
            value: Value::Null,
            error: Some(bounded(error.into())),
            response: None,
        }
    }
}

/// The longest `error` text kept in the history, in bytes: the reason is for a person, and a
/// store's answer quoted in it must not grow the history without bound.
pub const MAX_ERROR_BYTES: usize = 1000;

fn bounded(mut error: String) -> String {
    if error.len() <= MAX_ERROR_BYTES {
        return error;
    }
    let total = error.len();
    let mut cut = MAX_ERROR_BYTES;
    while !error.is_char_boundary(cut) {
        cut -= 1;
    }
    error.truncate(cut);
    error.push_str(&format!("… ({total} bytes in all)"));
    error
}

/// Where a node's client port is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub node: String,
    pub ip: String,
    pub port: u16,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A client for one store.
///
/// Contract: `invoke` performs `op` once against `nodes[node]` (as given to the client when it
/// was built) and never returns a Rust error: a store's error, garbage, a timeout or a dropped
/// connection is a [`Completion`] (`fail` only when the op certainly did not happen). It
/// never retries and never talks to another node. It must be safe to call concurrently.
pub trait Client: Send + Sync {
    fn invoke<'a>(&'a self, node: usize, op: &'a Invocation) -> BoxFuture<'a, Completion>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_quoting_a_huge_answer_is_cut_with_its_size() {
        let huge = "é".repeat(1_000_000);
        let c = Completion::info(huge);
        let error = c.error.unwrap();
        assert!(error.len() < MAX_ERROR_BYTES + 40, "{}", error.len());
        assert!(error.ends_with("(2000000 bytes in all)"), "{error}");
        assert_eq!(Completion::fail("short").error.as_deref(), Some("short"));
    }
}
