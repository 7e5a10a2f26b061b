//! One HTTP connection: reading its request, then writing its queue of
//! shared segments with nonblocking vectored writes.

use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

use mio::net::TcpStream;

use super::ingest::Publishing;
use crate::publisher::ClientQueue;

/// Most slices handed to one `writev`.
const MAX_IOV: usize = 64;
/// A viewer that sends more than this after its request is misbehaving.
pub const MAX_EXTRA_INPUT: u64 = 1 << 20;

/// Where a connection is in its life.
#[derive(Debug)]
pub enum Phase {
    /// Receiving the request head (at most `MAX_REQUEST_BYTES`).
    Request(Vec<u8>),
    /// A viewer (or HEAD) arrived before the stream header: it waits.
    Waiting { head_only: bool },
    /// Writing a queue: a viewer's stream, or a short response.
    Sending(Box<ClientQueue>),
    /// Everything written and the write side shut: waiting for the peer to
    /// close, so the last bytes are not lost to a reset.
    Closing,
    /// An encoder sending a stream to a mount.
    Publishing(Box<Publishing>),
}

/// One accepted connection.
#[derive(Debug)]
pub struct Conn {
    pub stream: TcpStream,
    pub addr: SocketAddr,
    pub phase: Phase,
    /// Takes one of the `--max-clients-total` viewer slots.
    pub viewer: bool,
    /// The mount this connection watches (or publishes to).
    pub mount: Option<usize>,
    /// After the queue is written, read another request (keep-alive),
    /// starting with these bytes received after the last one.
    pub next_request: Option<Vec<u8>>,
    /// When the first byte of the request being read arrived (a kept-alive
    /// connection waits idle before that).
    pub request_started: Option<Instant>,
    /// Requests answered on this connection.
    pub requests: u32,
    /// The address the request came from, through trusted proxies.
    pub client_ip: std::net::IpAddr,
    /// Close once the queue is written (short responses, end of input).
    pub close_when_done: bool,
    pub since: Instant,
    /// Last time a write made progress or there was nothing to write.
    pub last_progress: Instant,
    pub bytes_sent: u64,
    pub bytes_read: u64,
    /// Whether the socket accepted all we gave it last time (edge-triggered
    /// readiness: after `WouldBlock` wait for a writable event).
    pub writable: bool,
    pub user_agent: Option<Box<str>>,
    /// Accepted on the admin listener: status pages, never a stream.
    pub admin: bool,
    /// When a write of newly queued data is scheduled (see `flush`).
    pub flush_due: Option<Instant>,
    /// When a write last sent something.
    pub last_write: Option<Instant>,
}

/// What a write or read attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Io {
    /// Made what progress it could; the connection lives on.
    Open,
    /// The peer closed or the socket failed.
    Closed,
}

impl Conn {
    pub fn new(stream: TcpStream, addr: SocketAddr, now: Instant) -> Self {
        Conn {
            stream,
            addr,
            phase: Phase::Request(Vec::new()),
            viewer: false,
            mount: None,
            next_request: None,
            requests: 0,
            request_started: None,
            client_ip: addr.ip(),
            close_when_done: false,
            since: now,
            last_progress: now,
            bytes_sent: 0,
            bytes_read: 0,
            writable: true,
            user_agent: None,
            admin: false,
            flush_due: None,
            last_write: None,
        }
    }

    /// Nothing left to send: still reading a request, or closing.
    pub fn is_idle(&self) -> bool {
        matches!(self.phase, Phase::Request(_) | Phase::Closing)
    }

    pub fn queue(&self) -> Option<&ClientQueue> {
        match &self.phase {
            Phase::Sending(q) => Some(q),
            _ => None,
        }
    }

    pub fn queue_mut(&mut self) -> Option<&mut ClientQueue> {
        match &mut self.phase {
            Phase::Sending(q) => Some(q),
            _ => None,
        }
    }

    /// Writes as much of the queue as the socket takes.
    pub fn flush(&mut self, now: Instant) -> Io {
        let Phase::Sending(queue) = &mut self.phase else {
            return Io::Open;
        };
        while self.writable && !queue.is_empty() {
            let mut parts: [&[u8]; MAX_IOV] = [&[]; MAX_IOV];
            let n = queue.fill(&mut parts);
            let mut iov: [IoSlice<'_>; MAX_IOV] = [IoSlice::new(&[]); MAX_IOV];
            for (slot, part) in iov.iter_mut().zip(parts.iter().take(n)) {
                *slot = IoSlice::new(part);
            }
            match self.stream.write_vectored(iov.get(..n).unwrap_or(&[])) {
                Ok(0) => return Io::Closed,
                Ok(written) => {
                    queue.consume(written);
                    self.bytes_sent += written as u64;
                    self.last_progress = now;
                    self.last_write = Some(now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Io::Closed,
            }
        }
        if queue.is_empty() {
            self.last_progress = now;
        }
        Io::Open
    }

    /// Reads what a kept-alive client sends while its response is still
    /// being written: the start of its next request, kept (up to the head
    /// limit) for when the response is done.
    pub fn read_ahead(&mut self, scratch: &mut [u8]) -> Io {
        let Some(next) = self.next_request.as_mut() else {
            return Io::Open;
        };
        loop {
            let room = super::http::MAX_REQUEST_BYTES.saturating_sub(next.len());
            if room == 0 {
                return Io::Open;
            }
            let buf = scratch
                .get_mut(..room.min(scratch.len()))
                .unwrap_or(&mut []);
            match self.stream.read(buf) {
                Ok(0) => return Io::Closed,
                Ok(n) => next.extend_from_slice(buf.get(..n).unwrap_or(&[])),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Io::Open,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Io::Closed,
            }
        }
    }

    /// Reads and discards what the peer sends after its request (or after
    /// our response), noticing when it closes.
    pub fn drain_input(&mut self, scratch: &mut [u8]) -> Io {
        loop {
            match self.stream.read(scratch) {
                Ok(0) => return Io::Closed,
                Ok(n) => {
                    self.bytes_read += n as u64;
                    if self.bytes_read > MAX_EXTRA_INPUT {
                        return Io::Closed;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Io::Open,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Io::Closed,
            }
        }
    }
}
