//! The delivery-lag probe: one viewer that notes when every block arrives
//! and what media time it carries, so a test (or `mkvcast-load lag`) can
//! say how long a server takes to pass blocks on ([`stats`] has the
//! measure and the exact definition of the join burst it leaves out).
//!
//! ```ignore
//! let mut v = LiveViewer::connect(addr, "/")?;
//! v.read_for(Duration::from_secs(10));
//! let report = lag_report(&v.parser.blocks, DEFAULT_BURST_WINDOW);
//! ```

mod parse;
mod stats;
#[cfg(test)]
mod tests;

pub use parse::{Block, BlockParser, HEAD_LEN};
pub use stats::{lag_report, live_blocks, LagReport, DEFAULT_BURST_WINDOW};

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::http::head_end;

/// Longest response head accepted.
const MAX_HEAD: usize = 64 << 10;
/// Longest single wait in a read, so deadlines are checked.
const POLL: Duration = Duration::from_millis(50);

/// One viewer of a live stream, read on the caller's thread.
pub struct LiveViewer {
    stream: TcpStream,
    /// When the connection was opened.
    pub connected: Instant,
    /// The response head (status line and headers), once received.
    pub head: Option<String>,
    /// When the first body byte arrived.
    pub first_byte: Option<Instant>,
    pub parser: BlockParser,
    /// The body as received, if kept ([`LiveViewer::keep_body`]).
    pub body: Option<Vec<u8>>,
    /// Whether the server closed the connection (or reset it).
    pub closed: bool,
    pending: Vec<u8>,
}

impl LiveViewer {
    /// Connects and sends `GET path`.
    pub fn connect(addr: SocketAddr, path: &str) -> io::Result<LiveViewer> {
        let connected = Instant::now();
        let mut stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        let req =
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: mkvcast-lag-probe\r\n\r\n");
        stream.write_all(req.as_bytes())?;
        Ok(LiveViewer {
            stream,
            connected,
            head: None,
            first_byte: None,
            parser: BlockParser::new(),
            body: None,
            closed: false,
            pending: Vec::new(),
        })
    }

    /// Keep a copy of the body from now on (for captures).
    pub fn keep_body(mut self) -> Self {
        self.body.get_or_insert_with(Vec::new);
        self
    }

    /// The HTTP status, once the head arrived.
    pub fn status(&self) -> Option<u16> {
        self.head
            .as_deref()?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    /// Reads until the server closes or `timeout` passes.
    pub fn read_for(&mut self, timeout: Duration) {
        self.read_until(timeout, |_| false);
    }

    /// Reads until `done(parser)` holds, the server closes, or `timeout`
    /// passes; returns whether `done` held.
    pub fn read_until(&mut self, timeout: Duration, done: impl Fn(&BlockParser) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 64 << 10];
        while !self.closed {
            if done(&self.parser) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let _ = self.stream.set_read_timeout(Some(left.min(POLL)));
            match self.stream.read(&mut buf) {
                Ok(0) => self.closed = true,
                Ok(n) => self.take(&buf[..n], Instant::now()),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => self.closed = true,
            }
        }
        done(&self.parser)
    }

    /// Bytes of one read, arrived at `at`: the head first, then the body.
    fn take(&mut self, data: &[u8], at: Instant) {
        if self.head.is_some() {
            return self.body_bytes(data, at);
        }
        self.pending.extend_from_slice(data);
        let Some(end) = head_end(&self.pending) else {
            if self.pending.len() > MAX_HEAD {
                self.parser.error = Some("response head over 64 KiB".into());
                self.closed = true;
            }
            return;
        };
        let pending = std::mem::take(&mut self.pending);
        self.head = Some(String::from_utf8_lossy(&pending[..end]).into_owned());
        if pending.len() > end + 4 {
            self.body_bytes(&pending[end + 4..], at);
        }
    }

    fn body_bytes(&mut self, data: &[u8], at: Instant) {
        self.first_byte.get_or_insert(at);
        if let Some(b) = self.body.as_mut() {
            b.extend_from_slice(data);
        }
        self.parser.feed(data, at);
    }
}

/// Whether `body` holds a Cluster of unknown size: its ID followed by the
/// 8-byte all-ones size, the form live muxers (and mkvcast) write.
pub fn has_unknown_size_cluster(body: &[u8]) -> bool {
    const MARK: [u8; 12] = [
        0x1F, 0x43, 0xB6, 0x75, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    ];
    body.windows(MARK.len()).any(|w| w == MARK)
}
