//! Kept answers: a bounded excerpt of each store answer, recorded with the op's completion
//! in `history.jsonl` when a spec's `[client] capture` asks for it.
//!
//! ```text
//! {"index":7,"process":2,"type":"ok","f":"read","key":"k3","value":4,"node":"n3",
//!  "response":{"body":"{\"value\":4}","body_total_bytes":11,"headers":{"x-etcd-index":"41"},"status":200}}
//! ```
//!
//! A verdict says *which* op was wrong; the excerpt says what the store actually said —
//! the term, the index, the member that answered — without rerunning the test. It is
//! bounded (`body_bytes`, at most [`MAX_CAPTURE_BYTES`]) so that a store answering megabytes
//! cannot grow the history without bound, and cut only between characters, so the text
//! stays valid UTF-8. Off by default: the client then never builds an excerpt, and the
//! completion's `response` stays `None`.

use reqwest::header::HeaderName;
use serde_json::{Map, Value};

use crate::spec::CaptureSpec;

/// The longest body excerpt a spec may ask for, in bytes.
pub const MAX_CAPTURE_BYTES: usize = 64 * 1024;

/// `[client] capture`, compiled: what to keep of each answer.
#[derive(Debug, Clone)]
pub struct Capture {
    status: bool,
    headers: Vec<HeaderName>,
    body_bytes: usize,
}

impl Capture {
    /// The capture a spec asks for, or `None` when it keeps nothing (the default).
    pub fn from_spec(spec: &CaptureSpec) -> anyhow::Result<Option<Capture>> {
        if !spec.is_on() {
            return Ok(None);
        }
        let headers = spec
            .headers
            .iter()
            .map(|h| {
                HeaderName::from_bytes(h.as_bytes())
                    .map_err(|_| anyhow::anyhow!("`{h}` is not a valid header name"))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Some(Capture {
            status: spec.status,
            headers,
            body_bytes: spec.body_bytes.min(MAX_CAPTURE_BYTES),
        }))
    }

    /// The excerpt of one answer: `status`, the chosen `headers` that were present (several
    /// values of one header joined by `, `), the first `body_bytes` of the body and its
    /// whole length (`body_total_bytes`), so that a cut excerpt shows it was cut.
    /// `headers` are the answer's header lines, names lower-cased.
    pub fn excerpt(&self, status: u16, headers: &[(String, Vec<u8>)], body: &[u8]) -> Value {
        let mut out = Map::new();
        if self.status {
            out.insert("status".into(), Value::from(status));
        }
        if !self.headers.is_empty() {
            let mut kept = Map::new();
            for name in &self.headers {
                let values: Vec<String> = headers
                    .iter()
                    .filter(|(n, _)| n == name.as_str())
                    .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
                    .collect();
                if !values.is_empty() {
                    kept.insert(name.as_str().to_string(), Value::String(values.join(", ")));
                }
            }
            out.insert("headers".into(), Value::Object(kept));
        }
        if self.body_bytes > 0 {
            out.insert(
                "body".into(),
                Value::String(utf8_prefix(body, self.body_bytes)),
            );
            out.insert("body_total_bytes".into(), Value::from(body.len()));
        }
        Value::Object(out)
    }
}

/// The first `limit` bytes of `body` as text, never cutting a UTF-8 character in two (the
/// cut moves back to the character's first byte); bytes that are not UTF-8 become U+FFFD.
pub fn utf8_prefix(body: &[u8], limit: usize) -> String {
    let mut cut = limit.min(body.len());
    // A continuation byte (0b10xxxxxx) at the cut means a character straddles it; a
    // character has at most three of them, so bytes that are not UTF-8 move it no further.
    let floor = cut.saturating_sub(3);
    while cut > floor && cut < body.len() && body[cut] & 0xC0 == 0x80 {
        cut -= 1;
    }
    String::from_utf8_lossy(&body[..cut]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn capture(status: bool, headers: &[&str], body_bytes: usize) -> Option<Capture> {
        Capture::from_spec(&CaptureSpec {
            status,
            headers: headers.iter().map(|h| h.to_string()).collect(),
            body_bytes,
        })
        .unwrap()
    }

    #[test]
    fn capture_is_off_unless_the_spec_asks_for_something() {
        assert!(capture(false, &[], 0).is_none());
        assert!(capture(true, &[], 0).is_some());
        assert!(capture(false, &["x-raft-term"], 0).is_some());
        assert!(capture(false, &[], 1).is_some());
    }

    #[test]
    fn an_excerpt_keeps_the_status_the_chosen_headers_and_a_prefix_of_the_body() {
        let c = capture(true, &["X-Etcd-Index", "x-raft-term", "x-absent"], 4).unwrap();
        let headers: Vec<(String, Vec<u8>)> = [
            ("x-etcd-index", "12"),
            ("x-raft-term", "3"),
            ("x-raft-term", "4"),
            ("server", "not asked for"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
        .collect();
        assert_eq!(
            c.excerpt(503, &headers, b"{\"value\":1}"),
            json!({
                "status": 503,
                "headers": {"x-etcd-index": "12", "x-raft-term": "3, 4"},
                "body": "{\"va",
                "body_total_bytes": 11,
            })
        );
    }

    #[test]
    fn a_body_is_never_cut_inside_a_character() {
        // "é" is two bytes, "€" three: a cut at 2 lands inside "€".
        let body = "é€!".as_bytes();
        assert_eq!(utf8_prefix(body, 1), "");
        assert_eq!(utf8_prefix(body, 2), "é");
        assert_eq!(utf8_prefix(body, 4), "é");
        assert_eq!(utf8_prefix(body, 5), "é€");
        assert_eq!(utf8_prefix(body, 100), "é€!");
        assert_eq!(utf8_prefix(b"\xff\xfeab", 3), "\u{fffd}\u{fffd}a");
    }
}
