//! Writing to connections: a viewer's stream (head, stream header, burst,
//! then live clusters), short responses, and closing.

use std::time::Instant;

use bytes::Bytes;

use super::client::{Conn, Io, Phase};
use super::http::{self, Status};
use super::slots::ViewerSlots;
use super::Server;
use crate::publisher::{ClientQueue, QueueLimits};

/// Clients written per turn of the loop after a cluster is published;
/// between turns the loop polls, so accepts and requests stay prompt.
const FLUSH_BATCH: usize = 32;

/// Why a connection ended, for the log.
#[derive(Debug, Clone, Copy)]
pub(super) enum Reason {
    PeerClosed,
    Done,
    RequestTimeout,
    Stalled,
    Evicted,
    Shutdown,
    KeepAliveIdle,
    SourceIdle,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::PeerClosed => write!(f, "client closed"),
            Reason::Done => write!(f, "stream ended"),
            Reason::RequestTimeout => write!(f, "request timeout"),
            Reason::Stalled => write!(f, "stalled (no write progress)"),
            Reason::Evicted => write!(f, "evicted (too many pending requests)"),
            Reason::Shutdown => write!(f, "server shutting down"),
            Reason::KeepAliveIdle => write!(f, "idle keep-alive connection"),
            Reason::SourceIdle => write!(f, "publisher sent nothing (--source-idle-timeout-ms)"),
        }
    }
}

impl Server {
    /// Readiness on a connection: read its request, or notice its close;
    /// write what it can take.
    pub(super) fn conn_event(&mut self, key: usize, readable: bool, writable: bool) {
        let now = Instant::now();
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        if writable {
            c.writable = true;
        }
        if readable {
            if matches!(c.phase, Phase::Request(_)) {
                self.read_request(key, now);
                return;
            }
            if matches!(c.phase, Phase::Publishing(_)) {
                self.read_publisher(key, now);
                return;
            }
            let io = if c.next_request.is_some() {
                c.read_ahead(&mut self.scratch)
            } else {
                c.drain_input(&mut self.scratch)
            };
            if io == Io::Closed {
                let reason = if matches!(c.phase, Phase::Closing) {
                    Reason::Done
                } else {
                    Reason::PeerClosed
                };
                self.close(key, reason);
                return;
            }
        }
        if writable {
            self.after_write(key, now);
        }
    }

    /// Writes what the socket takes; finishes the connection when its
    /// queue is done and it should close.
    pub(super) fn after_write(&mut self, key: usize, now: Instant) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        if c.flush(now) == Io::Closed {
            self.close(key, Reason::PeerClosed);
            return;
        }
        if c.next_request.is_some() && c.queue().is_some_and(ClientQueue::is_empty) {
            self.next_request(key, now);
            return;
        }
        if c.close_when_done && c.queue().is_some_and(ClientQueue::is_empty) {
            let _ = c.stream.shutdown(std::net::Shutdown::Write);
            c.phase = Phase::Closing;
            c.last_progress = now;
            if !release_viewer(&mut self.slots, c) {
                return;
            }
            log::info!(
                "client {key} {} finished: {} bytes in {:.1} s",
                c.addr,
                c.bytes_sent,
                now.duration_since(c.since).as_secs_f64()
            );
        }
    }

    /// Writes up to [`FLUSH_BATCH`] viewers whose scheduled write is due.
    pub(super) fn flush_some(&mut self, now: Instant) {
        let mut written = 0;
        while written < FLUSH_BATCH {
            let Some(key) = self.flushes.pop_due(now) else {
                return;
            };
            let Some(c) = self.conns.get_mut(key) else {
                continue;
            };
            if c.flush_due.is_none_or(|d| d > now) {
                continue; // stale: closed and reused, or rescheduled
            }
            c.flush_due = None;
            self.after_write(key, now);
            written += 1;
        }
    }

    /// Starts the 200 response: head, stream header, then the buffered
    /// clusters from the oldest keyframe on.
    pub(super) fn start_response(&mut self, key: usize, head_only: bool, now: Instant) {
        let Some(m) = self.conns.get(key).and_then(|c| c.mount) else {
            return;
        };
        let Some(mount) = self.mounts.get(m) else {
            return;
        };
        let stream = &mount.stream;
        let (Some(head), Some(header)) =
            (stream.response_head().cloned(), stream.header().cloned())
        else {
            return;
        };
        let mut q = ClientQueue::new(mount.limits());
        q.push_bytes(head, now);
        if !head_only {
            q.push_bytes(header.bytes.clone(), now);
            // No join point yet: the viewer waits for the first one.
            if let Some(burst) = stream.publisher.burst() {
                for c in burst.clusters {
                    q.push_cluster(c, now);
                }
                if let Some(open) = burst.open {
                    q.push_open(open, now);
                }
            }
        }
        let ended = stream.is_ended();
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        c.phase = Phase::Sending(Box::new(q));
        c.close_when_done = head_only || ended;
        self.after_write(key, now);
    }

    /// Sends a short response; then reads the next request on the same
    /// connection when `keep_alive` (starting with `rest`, bytes that came
    /// after this request), else closes.
    pub(super) fn send_short(
        &mut self,
        key: usize,
        status: Status,
        keep_alive: bool,
        rest: Vec<u8>,
        now: Instant,
    ) {
        self.send_response(
            key,
            http::short_response(status, keep_alive),
            keep_alive,
            rest,
            now,
        );
    }

    /// Queues one complete response; then the next request or the close.
    pub(super) fn send_response(
        &mut self,
        key: usize,
        response: Bytes,
        keep_alive: bool,
        rest: Vec<u8>,
        now: Instant,
    ) {
        if !keep_alive {
            return self.send_and_close(key, response, now);
        }
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        let mut q = ClientQueue::new(QueueLimits::default());
        q.push_bytes(response, now);
        c.phase = Phase::Sending(Box::new(q));
        c.next_request = Some(rest);
        self.after_write(key, now);
    }

    /// The response went out on a kept-alive connection: read the next
    /// request (it may be in the buffer already).
    fn next_request(&mut self, key: usize, now: Instant) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        let buf = c.next_request.take().unwrap_or_default();
        let started = !buf.is_empty();
        c.phase = Phase::Request(buf);
        c.since = now;
        c.request_started = started.then_some(now);
        c.last_progress = now;
        self.pending += 1;
        if started {
            self.parse_buffered(key, now);
        }
    }

    /// Answers a malformed request and closes.
    pub(super) fn reject(&mut self, key: usize, status: Status, now: Instant) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        log::warn!(
            "client {} sent a bad request: answered {}",
            c.addr,
            status.code()
        );
        // Still counted as pending unless routing took it already.
        if matches!(c.phase, Phase::Request(_)) {
            c.phase = Phase::Closing;
            self.pending -= 1;
        }
        self.counters.rejected_bad_request += 1;
        self.respond(key, status, now);
    }

    /// Sends a short error response, then closes.
    pub(super) fn respond(&mut self, key: usize, status: Status, now: Instant) {
        if let Some(c) = self.conns.get(key) {
            log::debug!("client {key} {}: answered {}", c.addr, status.code());
        }
        self.send_and_close(key, http::error_response(status), now);
    }

    /// Queues one complete response; the connection closes once it is sent.
    pub(super) fn send_and_close(&mut self, key: usize, response: Bytes, now: Instant) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        let mut q = ClientQueue::new(QueueLimits::default());
        q.push_bytes(response, now);
        c.phase = Phase::Sending(Box::new(q));
        c.next_request = None;
        c.close_when_done = true;
        self.after_write(key, now);
    }

    /// After the input ended: viewers close once their queue is written;
    /// those still waiting for a stream get nothing more.
    pub(super) fn finish_conn(&mut self, key: usize, now: Instant) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        match c.phase {
            Phase::Waiting { .. } => self.close(key, Reason::Done),
            Phase::Sending(_) => {
                c.close_when_done = true;
                self.after_write(key, now);
            }
            _ => {}
        }
    }

    pub(super) fn close(&mut self, key: usize, reason: Reason) {
        if !self.conns.contains(key) {
            return;
        }
        if let Some(m) = self.conns.get(key).and_then(|c| c.mount) {
            self.publisher_left(key, m, Instant::now());
            if let Some(mount) = self.mounts.get_mut(m) {
                mount.drop_viewer(key);
            }
        }
        let mut c = self.conns.remove(key);
        let _ = self.poll.registry().deregister(&mut c.stream);
        if matches!(c.phase, Phase::Request(_)) {
            self.pending -= 1;
        }
        self.counters.bytes_sent_closed += c.bytes_sent;
        self.counters.keyframe_skips_closed += c.queue().map_or(0, ClientQueue::skips);
        if release_viewer(&mut self.slots, &mut c) {
            log::info!(
                "client {key} {} disconnected: {reason}; sent {} bytes in {:.1} s",
                c.addr,
                c.bytes_sent,
                c.since.elapsed().as_secs_f64()
            );
        } else {
            log::debug!("connection {key} {} closed: {reason}", c.addr);
        }
    }

    /// Closes every connection.
    pub(super) fn close_all(&mut self, reason: Reason) {
        for key in self.conn_keys() {
            self.close(key, reason);
        }
    }

    pub(super) fn conn_keys(&self) -> Vec<usize> {
        self.conns.iter().map(|(k, _)| k).collect()
    }
}

/// Frees a connection's viewer slot; whether it had one.
pub(super) fn release_viewer(slots: &mut ViewerSlots, c: &mut Conn) -> bool {
    if !c.viewer {
        return false;
    }
    c.viewer = false;
    slots.release(c.addr.ip());
    true
}
