//! Reading a request head and deciding what it gets: a status page on the
//! admin listener, 404, 503, or a viewer slot and the stream.

use std::io;
use std::time::Instant;

use super::client::Phase;
use super::http::{self, Method, Parsed, Request, Status};
use super::respond::Reason;
use super::slots::Refusal;
use super::Server;

/// What reading from a connection still in its request phase found.
enum Read {
    /// The head parsed (or was rejected) as far as it got.
    Parsed(Parsed),
    /// The peer closed or the socket failed.
    Closed,
}

impl Server {
    /// Reads what the socket has of the request head, then acts on it.
    pub(super) fn read_request(&mut self, key: usize, now: Instant) {
        match self.read_head(key) {
            None | Some(Read::Parsed(Parsed::Partial)) => {}
            Some(Read::Closed) => self.close(key, Reason::PeerClosed),
            Some(Read::Parsed(Parsed::Reject(status))) => self.reject(key, status, now),
            Some(Read::Parsed(Parsed::Complete(req))) => self.route(key, req, now),
        }
    }

    /// Drains the socket into the connection's request buffer (up to the
    /// head limit) and parses what it has.
    fn read_head(&mut self, key: usize) -> Option<Read> {
        let c = self.conns.get_mut(key)?;
        let Phase::Request(buf) = &mut c.phase else {
            return None;
        };
        loop {
            let room = http::MAX_REQUEST_BYTES
                .saturating_sub(buf.len())
                .min(self.scratch.len());
            if room == 0 {
                return Some(Read::Parsed(http::parse(buf)));
            }
            let scratch = self.scratch.get_mut(..room).unwrap_or(&mut []);
            match io::Read::read(&mut c.stream, scratch) {
                Ok(0) => return Some(Read::Closed),
                Ok(n) => buf.extend_from_slice(scratch.get(..n).unwrap_or(&[])),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Some(Read::Parsed(http::parse(buf)))
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Some(Read::Closed),
            }
        }
    }

    /// A complete request: the admin views, 404, 503, or the stream.
    fn route(&mut self, key: usize, req: Request, now: Instant) {
        self.pending -= 1;
        let head_only = req.method == Method::Head;
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        // No longer a pending request, whatever happens next.
        c.phase = Phase::Waiting { head_only };
        c.user_agent = req.user_agent.map(String::into_boxed_str);
        if c.admin {
            self.serve_admin(key, &req.path, head_only, now);
            return;
        }
        if req.path == "/favicon.ico" {
            self.respond(key, Status::NotFound, now);
            return;
        }
        if self.stream.is_ended() || self.shutting_down {
            self.respond(key, Status::Unavailable, now);
            return;
        }
        if !head_only && !self.admit_viewer(key, &req.path) {
            self.respond(key, Status::Unavailable, now);
            return;
        }
        if self.stream.header().is_some() {
            self.start_response(key, head_only, now);
        } else {
            log::info!("client {key} waits for the stream to start");
        }
    }

    /// Gives a GET a viewer slot, or says (and counts) why not.
    fn admit_viewer(&mut self, key: usize, path: &str) -> bool {
        let Some(c) = self.conns.get_mut(key) else {
            return false;
        };
        let ip = c.addr.ip();
        let taken = self
            .slots
            .take(ip, self.config.max_clients, self.config.max_clients_per_ip);
        match taken {
            Err(Refusal::PerIp(n)) => {
                log::warn!(
                    "client {ip} refused: {n} viewers from it already (--max-clients-per-ip)"
                );
            }
            Err(Refusal::Full(n)) => {
                log::warn!(
                    "client {} refused: {n} viewers already (--max-clients)",
                    c.addr
                );
            }
            Ok(()) => {
                self.counters.clients_total += 1;
                c.viewer = true;
                log::info!(
                    "client {key} {} connected: GET {path} ({})",
                    c.addr,
                    c.user_agent.as_deref().unwrap_or("no user agent")
                );
                return true;
            }
        }
        self.counters.rejected_full += 1;
        false
    }
}
