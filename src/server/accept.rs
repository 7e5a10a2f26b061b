//! Accepting connections: drain the listener until `WouldBlock`, register
//! each socket under its slab key, and back off when out of descriptors.

use std::io;
use std::time::{Duration, Instant};

use mio::{Interest, Token};

use super::client::{Conn, Phase};
use super::respond::Reason;
use super::Server;

/// Kernel send buffer per client (Linux doubles it). Without a cap, TCP
/// autotuning lets a client that stopped reading park megabytes in the
/// kernel, which hides the stall and costs memory per viewer; this holds
/// about two seconds of a 1 Mbit/s stream.
const SEND_BUFFER_BYTES: usize = 128 << 10;
/// Pause before accepting again after running out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(200);

impl Server {
    /// Accepts on stream listener `index`, or on the admin listener.
    pub(super) fn accept(&mut self, index: Option<usize>) {
        if self.accept_paused_until.is_some() {
            return;
        }
        loop {
            let listener = match index {
                Some(i) => self.listeners.get(i),
                None => self.admin.as_ref(),
            };
            let Some(listener) = listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, addr)) => self.register(stream, addr, index.is_none()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // EMFILE/ENFILE and the like: back off instead of spinning.
                    log::warn!(
                        "accept failed: {e}; pausing accepts for {} ms",
                        ACCEPT_BACKOFF.as_millis()
                    );
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_BACKOFF);
                    return;
                }
            }
        }
    }

    /// Takes a new connection into the slab, evicting the oldest pending
    /// request when too many are pending.
    fn register(
        &mut self,
        mut stream: mio::net::TcpStream,
        addr: std::net::SocketAddr,
        admin: bool,
    ) {
        let _ = socket2::SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER_BYTES);
        // Writes are coalesced already (see `flush`); Nagle's algorithm and
        // delayed ACKs would add tens of milliseconds to the small ones.
        let _ = stream.set_nodelay(true);
        if self.pending >= self.config.max_pending {
            self.evict_oldest_pending();
        }
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        let interest = Interest::READABLE | Interest::WRITABLE;
        if self
            .poll
            .registry()
            .register(&mut stream, Token(key), interest)
            .is_err()
        {
            return;
        }
        let mut conn = Conn::new(stream, addr, Instant::now());
        conn.admin = admin;
        entry.insert(conn);
        self.pending += 1;
        log::debug!("connection {key} from {addr}");
    }

    /// Accepts again after a back-off, once it has passed.
    pub(super) fn resume_accepting(&mut self, now: Instant) {
        if self.accept_paused_until.is_some_and(|t| now >= t) {
            self.accept_paused_until = None;
            for i in 0..self.listeners.len() {
                self.accept(Some(i));
            }
            self.accept(None);
        }
    }

    fn evict_oldest_pending(&mut self) {
        let oldest = self
            .conns
            .iter()
            .filter(|(_, c)| matches!(c.phase, Phase::Request(_)))
            // Idle kept-alive connections go first, then the oldest.
            .min_by_key(|(_, c)| (c.requests == 0 || c.request_started.is_some(), c.since))
            .map(|(k, _)| k);
        if let Some(key) = oldest {
            self.close(key, Reason::Evicted);
        }
    }

    /// Stops accepting on every listener (shutdown).
    pub(super) fn stop_accepting(&mut self) {
        for l in &mut self.listeners {
            let _ = self.poll.registry().deregister(l);
        }
        self.listeners.clear();
        if let Some(mut a) = self.admin.take() {
            let _ = self.poll.registry().deregister(&mut a);
        }
    }
}
