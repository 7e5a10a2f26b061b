//! One soak viewer: well-behaved, slow or a stopper; its socket, its
//! stream check and its silences.

use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::TcpStream;
use mkvcast_testkit::stream_check::StreamCheck;

use super::Finish;
use crate::conn::{self, Got, Head};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Good,
    Slow,
    Stopper,
}

pub struct Client {
    pub stream: TcpStream,
    pub kind: Kind,
    /// Bytes of the request written.
    sent: usize,
    head: Vec<u8>,
    in_body: bool,
    pub check: StreamCheck,
    pub bytes: u64,
    pub opened: Instant,
    pub last_data: Instant,
    pub longest_silence: Duration,
    /// Slow viewers: bytes they may still read.
    pub budget: u64,
    /// Stoppers: when the current pause starts and ends.
    pub pause: (Instant, Instant),
}

/// Where a viewer is after reading.
pub enum Pumped {
    Open,
    Eof,
    Failed(String),
}

impl Pumped {
    /// How the client finishes, if it does.
    pub fn finish(self) -> Option<Finish> {
        match self {
            Pumped::Open => None,
            Pumped::Eof => Some(Finish::Eof),
            Pumped::Failed(e) => Some(Finish::Failed(e)),
        }
    }
}

impl Client {
    pub fn new(stream: TcpStream, kind: Kind, check: StreamCheck, now: Instant) -> Self {
        Client {
            stream,
            kind,
            sent: 0,
            head: Vec::new(),
            in_body: false,
            check,
            bytes: 0,
            opened: now,
            last_data: now,
            longest_silence: Duration::ZERO,
            budget: 0,
            pause: (now, now),
        }
    }

    /// Handles a readiness event: finishes the connect and sends the
    /// request, then (well-behaved viewers only: the others read on the
    /// tick) reads. How the client finishes, if it does.
    pub fn on_event(
        &mut self,
        ev: &Event,
        request: &[u8],
        buf: &mut [u8],
        now: Instant,
    ) -> Option<Finish> {
        if self.sent < request.len() && (ev.is_writable() || ev.is_error()) {
            match conn::connected(&self.stream) {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => return Some(Finish::Failed(format!("connect: {e}"))),
            }
            if let Err(e) = conn::send(&mut self.stream, request, &mut self.sent) {
                return Some(Finish::Failed(format!("send: {e}")));
            }
        }
        if self.kind == Kind::Good && (ev.is_readable() || ev.is_read_closed()) {
            return self.pump(buf, u64::MAX, now).finish();
        }
        None
    }

    /// Reads up to `limit` bytes (or until the socket is empty).
    pub fn pump(&mut self, buf: &mut [u8], mut limit: u64, now: Instant) -> Pumped {
        while limit > 0 {
            let want = (buf.len() as u64).min(limit) as usize;
            match conn::read(&mut self.stream, &mut buf[..want]) {
                Got::Eof => return Pumped::Eof,
                Got::Data(n) => {
                    limit -= n as u64;
                    self.longest_silence = self.longest_silence.max(now - self.last_data);
                    self.last_data = now;
                    if let Err(e) = self.data(&buf[..n]) {
                        return Pumped::Failed(e);
                    }
                }
                Got::Empty => break,
                Got::Failed(e) if self.in_body => return Pumped::Failed(format!("read: {e}")),
                Got::Failed(e) => return Pumped::Failed(format!("before the response: {e}")),
            }
        }
        Pumped::Open
    }

    fn data(&mut self, mut data: &[u8]) -> Result<(), String> {
        if !self.in_body {
            self.head.extend_from_slice(data);
            let len = match conn::parse_head(&self.head) {
                Head::Partial => return Ok(()),
                Head::TooLarge => return Err("no response head in 16 KiB".into()),
                Head::Bad(e) => return Err(format!("bad response: {e}")),
                Head::Complete {
                    status: 200, len, ..
                } => len,
                Head::Complete { status, .. } => return Err(format!("HTTP status {status}")),
            };
            self.in_body = true;
            let body = self.head.split_off(len);
            self.head = Vec::new();
            self.bytes += body.len() as u64;
            self.check.feed(&body);
            data = &[];
        }
        self.bytes += data.len() as u64;
        self.check.feed(data);
        match &self.check.error {
            Some(e) => Err(format!("invalid stream after {} bytes: {e}", self.bytes)),
            None => Ok(()),
        }
    }
}
