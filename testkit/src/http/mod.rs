//! A small std-only HTTP client for tests against a loopback server: raw
//! requests and whole live streams read until the server closes (the free
//! functions here), and keep-alive connections that carry several
//! requests, with Content-Length and chunked bodies ([`Conn`]).

mod chunked;
mod keepalive;
#[cfg(test)]
mod tests;

pub use chunked::{ChunkError, Chunked};
pub use keepalive::{Conn, HttpError};

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// An HTTP response: a stream read until the server closed it (or a
/// timeout), or one framed response of a [`Conn`].
#[derive(Debug, Default)]
pub struct Response {
    pub status: u16,
    /// The status line and header lines, without the blank line.
    pub head: String,
    pub body: Vec<u8>,
    /// When the first byte arrived and when the connection closed.
    pub first_byte: Option<Instant>,
    pub closed: Option<Instant>,
}

impl Response {
    /// The first header called `name` (any case), trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }

    /// Fills `status` and `head` from the bytes of a head (before the
    /// blank line).
    fn set_head(&mut self, head: &[u8]) {
        self.head = String::from_utf8_lossy(head).into_owned();
        self.status = self
            .head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
    }
}

/// Where the head ends in `data`: the index of its blank line's `\r\n\r\n`.
pub fn head_end(data: &[u8]) -> Option<usize> {
    data.windows(4).position(|w| w == b"\r\n\r\n")
}

/// Sends `request` raw and reads the response until close or `timeout`.
pub fn raw_request(port: u16, request: &[u8], timeout: Duration) -> Response {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.write_all(request).unwrap();
    read_response(&mut s, timeout, usize::MAX)
}

/// GETs `/` and reads the whole stream (until the server closes).
pub fn get(port: u16, timeout: Duration) -> Response {
    raw_request(
        port,
        b"GET / HTTP/1.1\r\nHost: t\r\nUser-Agent: mkvcast-test\r\n\r\n",
        timeout,
    )
}

/// Reads a response: head, then body until close, `timeout`, or `max_body`
/// (a live stream has no end of its own).
pub fn read_response(s: &mut TcpStream, timeout: Duration, max_body: usize) -> Response {
    let deadline = Instant::now() + timeout;
    let mut data = Vec::new();
    let mut resp = Response::default();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        s.set_read_timeout(Some(left.min(Duration::from_millis(500))))
            .unwrap();
        match s.read(&mut buf) {
            Ok(0) => {
                resp.closed = Some(Instant::now());
                break;
            }
            Ok(n) => {
                resp.first_byte.get_or_insert_with(Instant::now);
                data.extend_from_slice(&buf[..n]);
                if data.len() >= max_body.saturating_add(4096) {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                resp.closed = Some(Instant::now());
                break;
            }
        }
    }
    if let Some(end) = head_end(&data) {
        resp.set_head(&data[..end]);
        resp.body = data[end + 4..].to_vec();
    }
    resp
}

/// Opens a GET connection and returns it without reading.
pub fn open_get(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    s
}

/// Opens a GET connection whose receive buffer is tiny, so that a client
/// that never reads really stalls instead of parking megabytes in the
/// kernel.
pub fn open_get_small_window(port: u16) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    sock.connect(&addr.into()).unwrap();
    let mut s: TcpStream = sock.into();
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    s
}

/// Closes both directions.
pub fn close(s: TcpStream) {
    let _ = s.shutdown(Shutdown::Both);
}
