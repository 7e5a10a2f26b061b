//! What the clock decides: slow requests, stalled viewers and lingering
//! closes end; the drain after a shutdown request runs out; accepts resume
//! after a back-off.

use std::time::{Duration, Instant};

use super::client::Phase;
use super::respond::Reason;
use super::Server;

/// How long a closing connection may linger for the peer's FIN.
const LINGER: Duration = Duration::from_secs(2);

impl Server {
    /// Runs every [`TICK`](super::TICK) while there are connections.
    pub(super) fn tick(&mut self, now: Instant) {
        self.sample_rates(now);
        if self.drain_deadline.is_some_and(|d| now >= d) {
            self.drain_deadline = None;
            self.close_all(Reason::Shutdown);
        }
        self.resume_accepting(now);
        self.ingest_timers(now);
        for (key, reason) in self.expired(now) {
            match reason {
                Reason::RequestTimeout => self.counters.rejected_timeout += 1,
                Reason::Stalled => self.counters.slow_clients_closed += 1,
                _ => {}
            }
            self.close(key, reason);
        }
    }

    /// Connections whose time is up, and why.
    fn expired(&self, now: Instant) -> Vec<(usize, Reason)> {
        let mut out = Vec::new();
        for (key, c) in self.conns.iter() {
            let reason = match &c.phase {
                Phase::Request(_) => self.request_expired(c, now),
                Phase::Sending(q)
                    if !q.is_empty()
                        && now.duration_since(c.last_progress) > self.config.stall_timeout =>
                {
                    Some(Reason::Stalled)
                }
                Phase::Closing if now.duration_since(c.last_progress) > LINGER => {
                    Some(Reason::Done)
                }
                _ => None,
            };
            if let Some(r) = reason {
                out.push((key, r));
            }
        }
        out
    }

    /// Whether a connection reading a request is out of time: a request
    /// within the request timeout from its first byte (a new connection's
    /// first from the connect, if it sends nothing), and an idle
    /// kept-alive one after the keep-alive timeout.
    fn request_expired(&self, c: &super::client::Conn, now: Instant) -> Option<Reason> {
        let timeout = self.config.request_timeout;
        let (from, limit, reason) = match (c.request_started, c.requests) {
            (Some(first_byte), _) => (first_byte, timeout, Reason::RequestTimeout),
            (None, 0) => (c.since, timeout, Reason::RequestTimeout),
            (None, _) => (
                c.since,
                self.config.keepalive_timeout,
                Reason::KeepAliveIdle,
            ),
        };
        (now.duration_since(from) > limit).then_some(reason)
    }

    /// A shutdown was asked for: stop accepting and let viewers take what
    /// is queued for up to the drain timeout.
    pub(super) fn begin_shutdown(&mut self) {
        log::info!(
            "shutting down: not accepting new clients; clients get up to {} ms to take their queued data",
            self.config.drain_timeout.as_millis()
        );
        self.shutting_down = true;
        let now = Instant::now();
        self.drain_deadline = Some(now + self.config.drain_timeout);
        self.stop_accepting();
        for key in self.conn_keys() {
            match self.conns.get(key).map(|c| &c.phase) {
                Some(Phase::Sending(_)) => self.finish_conn(key, now),
                Some(Phase::Closing) => {}
                _ => self.close(key, Reason::Shutdown),
            }
        }
    }
}
