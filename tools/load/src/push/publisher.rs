//! One publisher of the push mode: a `PUT` with a chunked body, one chunk
//! per Cluster sent when the Cluster's time has come, written without
//! blocking from the shared mio loop.

use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::Registry;

use super::media::Media;
use crate::conn::{self, Got, Head};
use crate::url::Target;

/// Most bytes queued for a server that does not read: past this, the
/// publisher counts as cut (the server stopped taking its stream).
const MAX_QUEUED: usize = 8 << 20;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum State {
    /// Not opened yet (publishers start spread over a second).
    Waiting,
    Connecting,
    Streaming,
    /// The last chunk is queued; done once it is written.
    Ending,
    Done,
    Failed,
}

pub struct Publisher {
    pub target: Target,
    pub start_at: Instant,
    stream: Option<TcpStream>,
    pub state: State,
    out: Vec<u8>,
    written: usize,
    /// When the first Cluster went out: the clock of the media.
    clock: Option<Instant>,
    next: usize,
    pub lap: u64,
    pub bytes: u64,
    pub clusters: u64,
    response: Vec<u8>,
    /// Refused: the server answered with an error status.
    pub refused: bool,
    pub error: Option<String>,
}

impl Publisher {
    pub fn new(target: Target, start_at: Instant) -> Self {
        Publisher {
            target,
            start_at,
            stream: None,
            state: State::Waiting,
            out: Vec::new(),
            written: 0,
            clock: None,
            next: 0,
            lap: 0,
            bytes: 0,
            clusters: 0,
            response: Vec::new(),
            refused: false,
            error: None,
        }
    }

    fn fail(&mut self, why: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(why.into());
        }
        self.stream = None;
        self.state = State::Failed;
    }

    /// Starts the connect and queues the request head and stream header.
    pub fn open(&mut self, registry: &Registry, key: usize, auth: &str, media: &Media) {
        let mut stream = match conn::connect(self.target.addr, None) {
            Ok(s) => s,
            Err(e) => return self.fail(format!("connect: {e}")),
        };
        if let Err(e) = conn::register(registry, &mut stream, key) {
            return self.fail(format!("register: {e}"));
        }
        let head = format!(
            "PUT {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: mkvcast-load push\r\n\
             Authorization: Basic {auth}\r\nContent-Type: video/webm\r\n\
             Transfer-Encoding: chunked\r\n\r\n",
            self.target.path, self.target.host
        );
        self.out = head.into_bytes();
        push_chunk(&mut self.out, &media.header);
        self.stream = Some(stream);
        self.state = State::Connecting;
    }

    /// Queues the Clusters that are due (and the last chunk after `end`),
    /// writes what the socket takes; when to call again.
    pub fn tick(&mut self, media: &Media, now: Instant, end: Instant) -> Option<Instant> {
        if self.state != State::Streaming {
            return None;
        }
        let clock = *self.clock.get_or_insert(now);
        while clock + media.due(self.next, self.lap) <= now && now < end {
            let cluster = media.cluster(self.next, self.lap);
            push_chunk(&mut self.out, &cluster);
            self.clusters += 1;
            self.next += 1;
            if self.next == media.clusters() {
                self.next = 0;
                self.lap += 1;
            }
        }
        if now >= end {
            self.out.extend_from_slice(b"0\r\n\r\n");
            self.state = State::Ending;
        }
        self.flush();
        (self.state == State::Streaming).then(|| clock + media.due(self.next, self.lap))
    }

    /// Advances on a readiness event: the connect, writes, responses.
    pub fn on_ready(&mut self, media: &Media, now: Instant, end: Instant) {
        let Some(stream) = &self.stream else {
            return;
        };
        if self.state == State::Connecting {
            match conn::connected(stream) {
                Ok(true) => self.state = State::Streaming,
                Ok(false) => return,
                Err(e) => return self.fail(format!("connect: {e}")),
            }
            self.tick(media, now, end);
        }
        self.flush();
        self.read_responses();
    }

    /// Writes the queue until the socket is full.
    fn flush(&mut self) {
        let Some(stream) = &mut self.stream else {
            return;
        };
        let mut done = self.written;
        let result = conn::send(stream, &self.out, &mut done);
        self.bytes += (done - self.written) as u64;
        self.written = done;
        match result {
            Ok(true) => {
                self.out.clear();
                self.written = 0;
                if self.state == State::Ending {
                    self.stream = None;
                    self.state = State::Done;
                }
            }
            Ok(false) if self.out.len() - self.written > MAX_QUEUED => {
                self.fail(format!("server not reading ({MAX_QUEUED} bytes queued)"))
            }
            Ok(false) => {}
            Err(e) => self.fail(format!("write: {e}")),
        }
    }

    /// Any response before the end is a refusal (or `100 Continue`, skipped);
    /// a close is a cut.
    fn read_responses(&mut self) {
        let mut buf = [0u8; 4096];
        loop {
            let Some(stream) = &mut self.stream else {
                return;
            };
            match conn::read(stream, &mut buf) {
                Got::Data(n) => self.response.extend_from_slice(buf.get(..n).unwrap_or(&[])),
                Got::Empty => return,
                Got::Eof => return self.fail("closed by server"),
                Got::Failed(e) => return self.fail(format!("read: {e}")),
            }
            match conn::parse_head(&self.response) {
                Head::Partial => {}
                Head::Complete {
                    status: 100, len, ..
                } => {
                    self.response.drain(..len);
                }
                Head::Complete { status, .. } => {
                    self.refused = true;
                    return self.fail(format!("HTTP status {status}"));
                }
                Head::TooLarge => return self.fail("response header too large"),
                Head::Bad(e) => return self.fail(format!("bad response: {e}")),
            }
        }
    }

    /// The media time queued so far, from the first Cluster (for the report).
    pub fn media_time(&self, media: &Media) -> Duration {
        media.due(self.next, self.lap)
    }
}

/// Appends `data` as one chunk of a chunked body.
fn push_chunk(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}
