//! HTTP/1.1 on one connection, driven by the operation's own task: write the request, read
//! until one whole answer has arrived, hand the connection back.
//!
//! This is the client's hot path. A connection is a socket and two buffers, owned by whoever
//! holds it, so an exchange costs two system calls and no task switch; the answer's head is
//! parsed by `httparse`. Framing follows RFC 9112 §6: interim `1xx` answers are skipped, the
//! body is chunked, or `Content-Length` long, or (neither) runs to the end of the connection;
//! `HEAD`, `204` and `304` have none.
//!
//! A connection is reused only when the answer said nothing against it (`Connection: close`,
//! HTTP/1.0 without keep-alive, a body that ran to the close) and nothing followed the answer.
//! [`Conn::still_open`] tells, before a request is written, whether the store closed an idle
//! connection in the meantime: the request then goes on a new one, and the store never saw
//! it on the old one.

use std::io::ErrorKind;
use std::pin::Pin;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// The most header lines an answer may carry.
const MAX_HEADERS: usize = 100;

/// The longest head (status line and headers) an answer may have, in bytes.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// One open connection to a node.
pub(super) struct Conn {
    stream: TcpStream,
    /// The runtime whose reactor the socket is registered with; it is no use in another.
    runtime: tokio::runtime::Id,
    /// Bytes read and not yet consumed.
    read: Vec<u8>,
    /// The request being sent; kept between exchanges so that encoding allocates nothing.
    pub(super) out: String,
    /// The exchanges' timer, made on the first and kept armed between them (see
    /// [`Conn::exchange_by`]).
    timer: Option<Pin<Box<Sleep>>>,
}

/// A whole answer to one request.
pub(super) struct Answer {
    pub status: u16,
    /// The header lines, names lower-cased; kept only when asked for.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

/// How an answer's body is delimited.
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

impl Conn {
    /// Opens a connection within `timeout`; the error is the text an operation records.
    pub(super) async fn open(ip: &str, port: u16, timeout: Duration) -> Result<Conn, String> {
        let stream = match tokio::time::timeout(timeout, TcpStream::connect((ip, port))).await {
            Err(_) => return Err("connect timeout".into()),
            Ok(Err(e)) if e.kind() == ErrorKind::ConnectionRefused => {
                return Err("connection refused".into())
            }
            Ok(Err(e)) => return Err(format!("cannot connect: {e}")),
            Ok(Ok(s)) => s,
        };
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            runtime: tokio::runtime::Handle::current().id(),
            read: Vec::with_capacity(4096),
            out: String::with_capacity(512),
            timer: None,
        })
    }

    /// [`Conn::exchange`], given up at `deadline` with the error `timeout`.
    ///
    /// One timer serves all the connection's exchanges, and it is moved only when it goes
    /// off. Each exchange's deadline lies later than the one before, so a timer still set
    /// for an earlier deadline goes off first, and is then moved to this one; one set for a
    /// later deadline (none here: deadlines only grow) is moved back at once. Moving a timer
    /// takes the runtime's timer lock and two updates of its wheel; an exchange that ends
    /// well before its deadline, the usual case, now does neither.
    pub(super) async fn exchange_by(
        &mut self,
        deadline: Instant,
        head: bool,
        keep_headers: bool,
        max_body: usize,
    ) -> Result<(Answer, bool), String> {
        let mut timer = self
            .timer
            .take()
            .unwrap_or_else(|| Box::pin(tokio::time::sleep_until(deadline)));
        let done = tokio::select! {
            biased;
            done = self.exchange(head, keep_headers, max_body) => done,
            () = expiry(&mut timer, deadline) => Err("timeout".into()),
        };
        self.timer = Some(timer);
        done
    }

    /// Whether an idle connection can carry a request: the store has neither closed it nor
    /// sent anything unasked, and it belongs to the runtime now running. tokio asks the kernel
    /// (one `recv`) only when its reactor has seen the socket become readable since the last
    /// read came up short; otherwise the answer costs no system call.
    pub(super) fn still_open(&self) -> bool {
        let here = tokio::runtime::Handle::try_current().map(|h| h.id());
        if here.ok() != Some(self.runtime) {
            return false;
        }
        let mut probe = [0u8; 1];
        matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == ErrorKind::WouldBlock)
    }

    /// Writes `self.out` and reads one whole answer. `head` says the request was a `HEAD`
    /// (an answer without a body); `keep_headers` keeps the header lines; a body longer than
    /// `max_body` ends the exchange. Returns the answer and whether the connection can carry
    /// another request. Any error leaves the connection unusable.
    pub(super) async fn exchange(
        &mut self,
        head: bool,
        keep_headers: bool,
        max_body: usize,
    ) -> Result<(Answer, bool), String> {
        self.stream
            .write_all(self.out.as_bytes())
            .await
            .map_err(|e| io_text(&e))?;
        self.read.clear();
        loop {
            let Head {
                mut answer,
                framing,
                mut reusable,
                len: head_len,
            } = self.read_head(head, keep_headers).await?;
            if (100..200).contains(&answer.status) && answer.status != 101 {
                // An interim answer (100 Continue, 103 Early Hints): the real one follows.
                self.read.drain(..head_len);
                continue;
            }
            let mut pos = head_len;
            match framing {
                Framing::Length(n) => {
                    if n > max_body {
                        return Err(too_long(max_body));
                    }
                    self.fill_to(pos + n).await?;
                    answer.body.extend_from_slice(&self.read[pos..pos + n]);
                    pos += n;
                }
                Framing::Chunked => pos = self.read_chunked(pos, max_body, &mut answer).await?,
                Framing::UntilClose => {
                    reusable = false;
                    loop {
                        if self.read.len() - pos > max_body {
                            return Err(too_long(max_body));
                        }
                        if self.fill_more().await? == 0 {
                            break;
                        }
                    }
                    answer.body.extend_from_slice(&self.read[pos..]);
                    pos = self.read.len();
                }
            }
            // Bytes past the answer were never asked for: the connection is out of step.
            let reusable = reusable && pos == self.read.len();
            return Ok((answer, reusable));
        }
    }

    /// Reads until a whole head is buffered and parses it: the answer so far (status,
    /// headers), its framing, whether it allows reuse, and the head's length.
    async fn read_head(&mut self, head: bool, keep_headers: bool) -> Result<Head, String> {
        loop {
            // An empty buffer (the common case right after the request) holds no head yet.
            if !self.read.is_empty() {
                if let Some(parsed) = parse_head(&self.read, head, keep_headers)? {
                    return Ok(parsed);
                }
            }
            if self.read.len() > MAX_HEAD_BYTES {
                return Err(format!(
                    "the answer's head is longer than {MAX_HEAD_BYTES} bytes"
                ));
            }
            if self.fill_more().await? == 0 {
                return Err(if self.read.is_empty() {
                    "connection closed before an answer".into()
                } else {
                    "connection closed in the middle of the answer".into()
                });
            }
        }
    }

    /// Decodes a chunked body starting at `pos` into `answer.body`; the position after it.
    async fn read_chunked(
        &mut self,
        mut pos: usize,
        max_body: usize,
        answer: &mut Answer,
    ) -> Result<usize, String> {
        loop {
            let size = loop {
                match httparse::parse_chunk_size(&self.read[pos..]) {
                    Ok(httparse::Status::Complete((len, size))) => {
                        pos += len;
                        break size;
                    }
                    Ok(httparse::Status::Partial) => {
                        if self.read.len() - pos > MAX_HEAD_BYTES {
                            return Err("a chunk size line without end".into());
                        }
                        self.need_more().await?;
                    }
                    Err(_) => return Err("a bad chunk size in the answer".into()),
                }
            };
            if size == 0 {
                // Trailer lines, then the empty line that ends the message.
                loop {
                    match find_line_end(&self.read[pos..]) {
                        Some(end) => {
                            let empty = end == 0;
                            pos += end + 2;
                            if empty {
                                return Ok(pos);
                            }
                        }
                        None => self.need_more().await?,
                    }
                }
            }
            let size = usize::try_from(size).unwrap_or(usize::MAX);
            if answer.body.len().saturating_add(size) > max_body {
                return Err(too_long(max_body));
            }
            self.fill_to(pos + size + 2).await?;
            answer.body.extend_from_slice(&self.read[pos..pos + size]);
            if &self.read[pos + size..pos + size + 2] != b"\r\n" {
                return Err("a chunk without its line end".into());
            }
            pos += size + 2;
        }
    }

    /// Reads until at least `len` bytes are buffered.
    async fn fill_to(&mut self, len: usize) -> Result<(), String> {
        while self.read.len() < len {
            self.need_more().await?;
        }
        Ok(())
    }

    /// Reads more; the end of the connection is an error here.
    async fn need_more(&mut self) -> Result<(), String> {
        match self.fill_more().await? {
            0 => Err("connection closed in the middle of the answer".into()),
            _ => Ok(()),
        }
    }

    /// One read into the buffer's spare room: the bytes read, 0 at the end of the connection.
    async fn fill_more(&mut self) -> Result<usize, String> {
        if self.read.capacity() - self.read.len() < 2048 {
            self.read.reserve(self.read.capacity().max(4096));
        }
        self.stream
            .read_buf(&mut self.read)
            .await
            .map_err(|e| io_text(&e))
    }
}

/// Resolves at `deadline` on `timer`, which may be set for an earlier or a later one.
async fn expiry(timer: &mut Pin<Box<Sleep>>, deadline: Instant) {
    loop {
        if timer.is_elapsed() || timer.deadline() > deadline {
            timer.as_mut().reset(deadline);
        }
        timer.as_mut().await;
        if timer.deadline() >= deadline {
            return;
        }
    }
}

/// A parsed head: the answer without its body, how the body is delimited, whether the
/// answer allows the connection to be reused, and the head's length in bytes.
struct Head {
    answer: Answer,
    framing: Framing,
    reusable: bool,
    len: usize,
}

/// Parses the head at the start of `buf`; `None` while it is incomplete. Not async, so that
/// the header array never lives in the exchange's future.
fn parse_head(buf: &[u8], head: bool, keep_headers: bool) -> Result<Option<Head>, String> {
    // Left uninitialised: httparse writes only the headers it finds, and filling all of them
    // first cost more than parsing a small answer's head.
    let mut lines = [const { std::mem::MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut parsed,
        buf,
        &mut lines,
    ) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("the answer is not HTTP/1.1: {e}")),
    };
    let status = parsed.code.unwrap_or(0);
    let mut reusable = parsed.version == Some(1);
    let mut length = None;
    let mut chunked = false;
    let mut headers = Vec::new();
    for h in parsed.headers.iter() {
        let name = h.name;
        // Most headers are none of the three: their length says so without a comparison.
        let framing = matches!(name.len(), 10 | 14 | 17);
        if framing && name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| {
                    format!(
                        "bad Content-Length in the answer: {:?}",
                        String::from_utf8_lossy(h.value)
                    )
                })?;
            if length.is_some_and(|m| m != n) {
                return Err("two different Content-Length headers".into());
            }
            length = Some(n);
        } else if framing && name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = last_token(h.value).eq_ignore_ascii_case(b"chunked");
        } else if framing && name.eq_ignore_ascii_case("connection") {
            let value = String::from_utf8_lossy(h.value).to_ascii_lowercase();
            if value.split(',').any(|t| t.trim() == "close") {
                reusable = false;
            } else if value.split(',').any(|t| t.trim() == "keep-alive") {
                reusable = true;
            }
        }
        if keep_headers {
            headers.push((name.to_ascii_lowercase(), h.value.to_vec()));
        }
    }
    let framing = if head || status == 204 || status == 304 || status < 200 {
        Framing::Length(0)
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    let answer = Answer {
        status,
        headers,
        body: Vec::new(),
    };
    Ok(Some(Head {
        answer,
        framing,
        reusable,
        len,
    }))
}

fn too_long(max_body: usize) -> String {
    format!("the answer is longer than {max_body} bytes (client.max_body_bytes)")
}

/// An I/O error as an operation records it.
fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::ConnectionReset => "connection reset by the store".into(),
        ErrorKind::BrokenPipe => "connection closed by the store (broken pipe)".into(),
        _ => e.to_string(),
    }
}

/// The last comma-separated token of a header value, trimmed.
fn last_token(value: &[u8]) -> &[u8] {
    let last = value.rsplit(|&b| b == b',').next().unwrap_or(value);
    last.trim_ascii()
}

/// Where the first `\r\n` starts.
fn find_line_end(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

/// Whether `text` can be a request target: origin-form, visible ASCII only.
pub(super) fn valid_target(text: &str) -> Result<(), String> {
    if !text.starts_with('/') {
        return Err(format!("the path {text:?} does not start with /"));
    }
    match text.bytes().find(|b| !(0x21..0x7f).contains(b)) {
        Some(b) => Err(format!(
            "the path {text:?} holds {:?}, which a URL cannot (use the `url` filter)",
            b as char
        )),
        None => Ok(()),
    }
}

/// Whether `text` can be a header value: visible ASCII, spaces and tabs.
pub(super) fn valid_header_value(text: &str) -> Result<(), String> {
    match text
        .bytes()
        .find(|&b| !(b == b'\t' || (0x20..0x7f).contains(&b)))
    {
        Some(b) => Err(format!(
            "the header value {text:?} holds {:?}, which a header cannot",
            b as char
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A server that reads one request per answer in `answers` on one connection and sends
    /// the answer's bytes as they are; it ends after the last.
    fn serve(answers: Vec<&'static [u8]>) -> (u16, std::thread::JoinHandle<()>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            for answer in answers {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                s.write_all(answer).unwrap();
            }
        });
        (port, server)
    }

    fn exchanges(
        answers: Vec<&'static [u8]>,
        max_body: usize,
    ) -> Vec<Result<(u16, String, bool), String>> {
        let n = answers.len();
        let (port, server) = serve(answers);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let out = rt.block_on(async {
            let mut conn = Conn::open("127.0.0.1", port, Duration::from_secs(1))
                .await
                .unwrap();
            let mut out = Vec::new();
            for _ in 0..n {
                conn.out = "GET / HTTP/1.1\r\nhost: x\r\n\r\n".to_string();
                let r = conn
                    .exchange(false, true, max_body)
                    .await
                    .map(|(a, reusable)| {
                        (
                            a.status,
                            String::from_utf8_lossy(&a.body).into_owned(),
                            reusable,
                        )
                    });
                let failed = r.is_err();
                out.push(r);
                if failed {
                    break;
                }
            }
            out
        });
        server.join().unwrap();
        out
    }

    #[test]
    fn bodies_by_length_by_chunks_and_to_the_close_are_read_whole() {
        let got = exchanges(
            vec![
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nTrailer: t\r\n\r\n",
                b"HTTP/1.1 204 No Content\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
            ],
            1000,
        );
        let got: Vec<_> = got.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            got,
            [
                (200, "hello".to_string(), true),
                (201, "abcde".to_string(), true),
                (204, String::new(), true),
                (200, "until the end".to_string(), false),
            ]
        );
    }

    #[test]
    fn garbage_a_cut_answer_and_a_long_body_are_errors() {
        let got = exchanges(vec![b"SMTP ready\r\n\r\n"], 1000);
        assert!(got[0].as_ref().unwrap_err().contains("not HTTP"), "{got:?}");
        let got = exchanges(
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhal"],
            1000,
        );
        assert!(
            got[0]
                .as_ref()
                .unwrap_err()
                .contains("middle of the answer"),
            "{got:?}"
        );
        let got = exchanges(
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n123456789"],
            4,
        );
        assert!(
            got[0]
                .as_ref()
                .unwrap_err()
                .contains("client.max_body_bytes"),
            "{got:?}"
        );
        let got = exchanges(vec![b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"], 4);
        assert!(
            got[0].as_ref().unwrap_err().contains("Content-Length"),
            "{got:?}"
        );
    }

    #[test]
    fn an_answer_followed_by_bytes_nobody_asked_for_ends_the_connection() {
        let got = exchanges(
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n"],
            1000,
        );
        assert_eq!(got[0].as_ref().unwrap(), &(200, "ok".to_string(), false));
    }

    #[test]
    fn an_idle_connection_the_store_closed_is_seen_closed() {
        let (port, server) = serve(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut conn = Conn::open("127.0.0.1", port, Duration::from_secs(1))
                .await
                .unwrap();
            conn.out = "GET / HTTP/1.1\r\nhost: x\r\n\r\n".to_string();
            let (_, reusable) = conn.exchange(false, false, 10).await.unwrap();
            assert!(reusable);
            server.join().unwrap();
            // The server thread ended, so its socket is closed; give the FIN a moment.
            let mut open = true;
            for _ in 0..100 {
                open = conn.still_open();
                if !open {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(!open, "a closed connection looked open");
        });
    }

    #[test]
    fn targets_and_header_values_are_checked() {
        assert!(valid_target("/kv/k1?x=1").is_ok());
        assert!(valid_target("/kv/a b").unwrap_err().contains("url"));
        assert!(valid_target("kv").is_err());
        assert!(valid_header_value("Bearer x\ty").is_ok());
        assert!(valid_header_value("a\r\nInjected: 1").is_err());
    }
}
