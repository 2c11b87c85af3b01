//! Servers for the unit tests: stores that misbehave in ways a real store might.

use std::io::{Read, Write};
use std::thread::JoinHandle;

/// A server on 127.0.0.1 that answers each of `connections` requests with a chunked body
/// that goes on for as long as the client reads (64 MiB at the most), and its port.
pub(crate) fn endless_answers(connections: usize) -> (u16, JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        for _ in 0..connections {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
            for _ in 0..1024 {
                if s.write_all(chunk.as_bytes()).is_err() {
                    break;
                }
            }
        }
    });
    (port, server)
}

/// A key-value store on 127.0.0.1 as strict as some real ones: every request with a body
/// must say `Content-Type: application/json` (else 415), `POST /health` wants a JSON body
/// (else 400), `PUT /kv/K` stores its body, `GET /kv/K` answers `{"value": …}` or 404. Every
/// answer carries `X-Raft-Term: 7`. It serves until the returned flag is set (then one more
/// connection, to notice); each connection carries any number of requests.
pub(crate) fn strict_store() -> (u16, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let data: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let theirs = stop.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            if theirs.load(Ordering::Relaxed) {
                return;
            }
            let Ok(conn) = conn else { continue };
            let data = data.clone();
            std::thread::spawn(move || serve_strictly(conn, &data));
        }
    });
    (port, stop)
}

fn serve_strictly(
    mut conn: std::net::TcpStream,
    data: &std::sync::Mutex<std::collections::HashMap<String, String>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let header = |name: &str| {
            head.lines().skip(1).find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
        };
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + 4 + length {
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = String::from_utf8_lossy(&buf[head_end + 4..head_end + 4 + length]).to_string();
        buf.drain(..head_end + 4 + length);
        let mut words = head.split_whitespace();
        let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        let json = header("content-type").is_some_and(|t| t.starts_with("application/json"));
        let (status, answer) = if length > 0 && !json {
            (
                415,
                "{\"error\":\"say Content-Type: application/json\"}".to_string(),
            )
        } else if path == "/health" && method == "POST" && body.is_empty() {
            (
                400,
                "{\"error\":\"a health check needs a body\"}".to_string(),
            )
        } else if path == "/health" {
            (200, "{\"health\":\"true\"}".to_string())
        } else if let Some(key) = path.strip_prefix("/kv/") {
            let mut data = data.lock().unwrap();
            match method {
                "PUT" => {
                    data.insert(key.to_string(), body);
                    (204, String::new())
                }
                _ => match data.get(key) {
                    Some(v) => (200, format!("{{\"value\":{v}}}")),
                    None => (404, "{\"error\":\"not found\"}".to_string()),
                },
            }
        } else {
            (404, "{\"error\":\"no such path\"}".to_string())
        };
        let reply = format!(
            "HTTP/1.1 {status} X\r\nX-Raft-Term: 7\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if conn.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}
