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
