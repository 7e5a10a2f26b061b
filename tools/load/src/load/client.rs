//! One viewer of the load mode: its socket, where it is in the exchange,
//! and what it measured.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::Poll;
use mkvcast_testkit::http::Chunked;
use mkvcast_testkit::walk::StreamWalk;
use slab::Slab;

use super::STALL_SLACK;
use crate::conn::{self, Got, Head};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    Connecting,
    /// Writing the request; this many bytes are out.
    Sending(usize),
    Head,
    Body,
    Closed,
}

/// What all viewers share: the requests (one per path), the read buffer and the totals
/// the stall threshold depends on.
pub struct Shared {
    pub requests: Vec<Vec<u8>>,
    pub read_buf: Vec<u8>,
    pub total_bytes: u64,
    /// From `--cluster-interval-ms`, when given.
    pub fixed_interval_ms: Option<u64>,
    /// Largest Cluster timestamp step any viewer saw.
    pub observed_interval_ms: u64,
    /// When the run started, and how many stalls began in each second
    /// since (where a server's stalls come from: the ramp, or later).
    pub start: Instant,
    pub stall_starts: Vec<u64>,
}

impl Shared {
    pub fn interval(&self) -> Duration {
        let ms = match (self.fixed_interval_ms, self.observed_interval_ms) {
            (Some(ms), _) => ms,
            (None, 0) => 1000,
            (None, ms) => ms,
        };
        Duration::from_millis(ms)
    }

    pub fn stall_threshold(&self) -> Duration {
        self.interval() + STALL_SLACK
    }

    /// A stall whose silence began at `since`.
    pub fn note_stall(&mut self, since: Instant) {
        let s = since.saturating_duration_since(self.start).as_secs() as usize;
        if s < 4 * 3600 {
            if self.stall_starts.len() <= s {
                self.stall_starts.resize(s + 1, 0);
            }
            self.stall_starts[s] += 1;
        }
    }
}

/// One viewer: its socket and what it measured.
pub struct Client {
    stream: Option<TcpStream>,
    /// Which of `Shared::requests` this viewer sends.
    pub path: usize,
    pub phase: Phase,
    started: Instant,
    head: Vec<u8>,
    chunked: Option<Chunked>,
    pub got_200: bool,
    pub refused: bool,
    /// Why the connection failed or was lost, if it was.
    pub failure: Option<String>,
    pub first_byte: Option<Duration>,
    pub first_cluster: Option<Duration>,
    bytes: u64,
    last_data: Instant,
    pub stalls: u32,
    pub max_gap: Duration,
    pub validator: StreamWalk,
}

impl Client {
    fn new(stream: Option<TcpStream>, started: Instant, path: usize) -> Self {
        Client {
            stream,
            path,
            phase: Phase::Connecting,
            started,
            head: Vec::new(),
            chunked: None,
            got_200: false,
            refused: false,
            failure: None,
            first_byte: None,
            first_cluster: None,
            bytes: 0,
            last_data: started,
            stalls: 0,
            max_gap: Duration::ZERO,
            validator: StreamWalk::new(),
        }
    }

    /// Starts one nonblocking connect. A failure to even start (EMFILE
    /// when the file limit is reached, for one) is recorded as a failed
    /// viewer.
    pub fn open(clients: &mut Slab<Client>, poll: &Poll, addr: SocketAddr, path: usize) {
        let entry = clients.vacant_entry();
        let started = Instant::now();
        let mut stream = match conn::connect(addr, None) {
            Ok(s) => s,
            Err(e) => {
                let mut c = Client::new(None, started, path);
                c.fail(format!("connect: {e}"));
                entry.insert(c);
                return;
            }
        };
        let mut client = match conn::register(poll.registry(), &mut stream, entry.key()) {
            Ok(()) => Client::new(Some(stream), started, path),
            Err(e) => {
                let mut c = Client::new(None, started, path);
                c.fail(format!("register: {e}"));
                c
            }
        };
        // Viewers only read after the request; no need to batch small writes.
        if let Some(s) = &client.stream {
            if let Err(e) = s.set_nodelay(true) {
                client.fail(format!("set_nodelay: {e}"));
            }
        }
        entry.insert(client);
    }

    /// Closes the socket, keeping the measurements.
    fn close(&mut self) {
        self.stream = None;
        self.head = Vec::new();
        self.phase = Phase::Closed;
    }

    fn fail(&mut self, why: impl Into<String>) {
        if self.failure.is_none() {
            self.failure = Some(why.into());
        }
        self.close();
    }

    /// Advances the connection as far as the socket allows (mio is
    /// edge-triggered: every readiness is drained until WouldBlock).
    pub fn on_ready(&mut self, shared: &mut Shared) {
        let Some(stream) = &mut self.stream else {
            return;
        };
        if self.phase == Phase::Connecting {
            match conn::connected(stream) {
                Ok(true) => self.phase = Phase::Sending(0),
                Ok(false) => return,
                Err(e) => return self.fail(format!("connect: {e}")),
            }
        }
        if let Phase::Sending(mut done) = self.phase {
            let request = shared.requests.get(self.path).map_or(&[][..], |r| &r[..]);
            match conn::send(stream, request, &mut done) {
                Ok(true) => self.phase = Phase::Head,
                Ok(false) => {
                    self.phase = Phase::Sending(done);
                    return;
                }
                Err(e) => return self.fail(format!("write: {e}")),
            }
        }
        self.read_all(shared);
    }

    /// Reads until the socket is empty or the viewer is done.
    fn read_all(&mut self, shared: &mut Shared) {
        while matches!(self.phase, Phase::Head | Phase::Body) {
            let Some(stream) = &mut self.stream else {
                return;
            };
            match conn::read(stream, &mut shared.read_buf) {
                Got::Data(n) => {
                    // Move the buffer out to lend it next to `shared`.
                    let buf = std::mem::take(&mut shared.read_buf);
                    self.on_data(&buf[..n], shared);
                    shared.read_buf = buf;
                }
                Got::Empty => return,
                Got::Eof if self.phase == Phase::Head => {
                    return self.fail("closed before a response")
                }
                Got::Eof => return self.fail("closed by server"),
                Got::Failed(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    return self.fail("reset by server")
                }
                Got::Failed(e) => return self.fail(format!("read: {e}")),
            }
        }
    }

    fn on_data(&mut self, data: &[u8], shared: &mut Shared) {
        let now = Instant::now();
        self.first_byte.get_or_insert(now - self.started);
        if self.phase != Phase::Head {
            return self.on_body(data, now, shared);
        }
        self.head.extend_from_slice(data);
        let (chunked, len) = match conn::parse_head(&self.head) {
            Head::Partial => return,
            Head::TooLarge => return self.fail("response header too large"),
            Head::Bad(e) => return self.fail(format!("bad response: {e}")),
            Head::Complete {
                status: 200,
                chunked,
                len,
            } => (chunked, len),
            Head::Complete { status: 503, .. } => {
                self.refused = true;
                return self.close();
            }
            Head::Complete { status, .. } => return self.fail(format!("HTTP status {status}")),
        };
        self.got_200 = true;
        self.chunked = chunked.then_some(Chunked::START);
        self.phase = Phase::Body;
        self.last_data = now;
        let head = std::mem::take(&mut self.head);
        if head.len() > len {
            self.on_body(&head[len..], now, shared);
        }
    }

    fn on_body(&mut self, data: &[u8], now: Instant, shared: &mut Shared) {
        let gap = now - self.last_data;
        if gap > shared.stall_threshold() {
            self.stalls += 1;
            shared.note_stall(self.last_data);
        }
        self.max_gap = self.max_gap.max(gap);
        self.last_data = now;
        self.bytes += data.len() as u64;
        shared.total_bytes += data.len() as u64;
        let v = &mut self.validator;
        match &mut self.chunked {
            None => v.feed(data),
            Some(c) => {
                if let Err(e) = c.decode(data, &mut |d| v.feed(d)) {
                    return self.fail(format!("chunked encoding: {e}"));
                }
                if c.last_chunk_seen() {
                    return self.fail("stream ended (last chunk)");
                }
            }
        }
        if self.first_cluster.is_none() && v.clusters() > 0 {
            self.first_cluster = Some(now - self.started);
        }
        shared.observed_interval_ms = shared.observed_interval_ms.max(v.max_interval_ms());
    }

    /// Counts a final stall for a viewer still waiting at the end.
    pub fn finish(&mut self, now: Instant, threshold: Duration, shared: &mut Shared) {
        if self.phase == Phase::Body {
            let gap = now - self.last_data;
            if gap > threshold {
                self.stalls += 1;
                shared.note_stall(self.last_data);
            }
            self.max_gap = self.max_gap.max(gap);
        } else if matches!(
            self.phase,
            Phase::Connecting | Phase::Sending(_) | Phase::Head
        ) {
            self.fail("no response before the end");
        }
        self.close();
    }
}
