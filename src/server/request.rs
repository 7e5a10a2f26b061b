//! Reading a request head and deciding what it gets: a status page on the
//! admin listener, 404, 503, or a viewer slot and the stream.

use std::io;
use std::time::Instant;

use super::client::Phase;
use super::http::{self, Method, Parsed, Request, Status};
use super::respond::Reason;
use super::slots::Refusal;
use super::Server;
use super::MAX_REQUESTS_PER_CONN;

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

    /// Acts on a request already in the buffer (pipelined after the last).
    pub(super) fn parse_buffered(&mut self, key: usize, now: Instant) {
        let parsed = match self.conns.get(key).map(|c| &c.phase) {
            Some(Phase::Request(buf)) => http::parse(buf),
            _ => return,
        };
        match parsed {
            Parsed::Partial => {}
            Parsed::Reject(status) => self.reject(key, status, now),
            Parsed::Complete(req) => self.route(key, req, now),
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
                Ok(n) => {
                    buf.extend_from_slice(scratch.get(..n).unwrap_or(&[]));
                    c.request_started.get_or_insert_with(Instant::now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Some(Read::Parsed(http::parse(buf)))
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Some(Read::Closed),
            }
        }
    }

    /// A complete request: the admin views, ingest, pages, 404, 503, or
    /// a viewer of a mount.
    fn route(&mut self, key: usize, req: Request, now: Instant) {
        self.pending -= 1;
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        // No longer a pending request, whatever happens next.
        let rest = match std::mem::replace(&mut c.phase, Phase::Closing) {
            Phase::Request(buf) => buf.get(req.head_len..).unwrap_or(&[]).to_vec(),
            _ => Vec::new(),
        };
        c.requests += 1;
        c.user_agent = req.user_agent.clone().map(String::into_boxed_str);
        let refs: Vec<&[u8]> = req.forwarded_for.iter().map(Vec::as_slice).collect();
        c.client_ip = self.trusted.client_ip(c.addr.ip(), &refs);
        let ip = c.client_ip;
        let admin = c.admin;
        if admin {
            c.phase = Phase::Waiting { head_only: true };
            let keep = self.may_keep_alive(key, &req);
            self.serve_admin(key, &req.path, req.method == Method::Head, keep, rest, now);
            return;
        }
        match req.method {
            _ if self.mounts.is_single() && !matches!(req.method, Method::Get | Method::Head) => {
                // Not `reject`: that counts the request off `pending`
                // again, which underflowed (a panic) for any PUT here.
                log::warn!(
                    "client {ip} sent {:?} to the one-input form: answered 400",
                    req.method
                );
                self.counters.rejected_bad_request += 1;
                self.respond(key, Status::BadRequest, now);
            }
            Method::Options => {
                let keep = self.may_keep_alive(key, &req);
                self.send_short(key, Status::NoContent, keep, rest, now);
            }
            Method::Put | Method::Source => self.push_request(key, req, ip, rest, now),
            Method::Get | Method::Head => self.get_request(key, &req, rest, now),
        }
    }

    /// A GET or HEAD: a page, 404, 503, or the stream of a mount.
    fn get_request(&mut self, key: usize, req: &Request, rest: Vec<u8>, now: Instant) {
        let head_only = req.method == Method::Head;
        let keep = self.may_keep_alive(key, req);
        if req.path == "/favicon.ico" || crate::config::is_reserved(&req.path) {
            return self.send_short(key, Status::NotFound, keep, rest, now);
        }
        if req.wants_html
            && (self.mounts.is_single() || req.path == "/" || self.mounts.at(&req.path).is_some())
        {
            return self.serve_page(key, &req.path, head_only, keep, rest, now);
        }
        let Some(m) = self.mounts.find(&req.path) else {
            return self.send_short(key, Status::NotFound, keep, rest, now);
        };
        let ended = self.mounts.get(m).is_none_or(|x| x.stream.is_ended());
        if ended || self.shutting_down {
            self.respond(key, Status::Unavailable, now);
            return;
        }
        if head_only {
            // HEAD takes no viewer slot: it gets the response head only.
            if let Some(c) = self.conns.get_mut(key) {
                c.mount = Some(m);
            }
        } else if !self.admit_viewer(key, m, &req.path) {
            self.respond(key, Status::Unavailable, now);
            return;
        }
        if let Some(c) = self.conns.get_mut(key) {
            c.phase = Phase::Waiting { head_only };
        }
        if self
            .mounts
            .get(m)
            .is_some_and(|x| x.stream.header().is_some())
        {
            self.start_response(key, head_only, now);
        } else {
            log::info!("client {key} waits for the stream to start");
        }
    }

    /// Whether the connection may take another request after this one.
    fn may_keep_alive(&self, key: usize, req: &Request) -> bool {
        req.keep_alive
            && !self.shutting_down
            && self
                .conns
                .get(key)
                .is_some_and(|c| c.requests < MAX_REQUESTS_PER_CONN)
    }

    /// Gives a GET of mount `m` a viewer slot, or says (and counts) why
    /// not. HEAD takes none.
    fn admit_viewer(&mut self, key: usize, m: usize, path: &str) -> bool {
        let (Some(c), Some(mount)) = (self.conns.get_mut(key), self.mounts.get_mut(m)) else {
            return false;
        };
        let ip = c.client_ip;
        if mount.viewers.len() >= mount.options.max_clients {
            log::warn!(
                "client {ip} refused: {} viewers of {} already (max_clients)",
                mount.viewers.len(),
                mount.path
            );
            self.counters.rejected_full += 1;
            return false;
        }
        let taken = self.slots.take(
            ip,
            self.config.max_clients_total,
            self.config.max_clients_per_ip,
        );
        match taken {
            Err(Refusal::PerIp(n)) => {
                log::warn!(
                    "client {ip} refused: {n} viewers from it already (--max-clients-per-ip)"
                );
            }
            Err(Refusal::Full(n)) => {
                log::warn!("client {ip} refused: {n} viewers already (--max-clients-total)");
            }
            Ok(()) => {
                self.counters.clients_total += 1;
                c.viewer = true;
                c.mount = Some(m);
                mount.viewers.push(key);
                log::info!(
                    "client {key} {ip} connected: GET {path} ({})",
                    c.user_agent.as_deref().unwrap_or("no user agent")
                );
                return true;
            }
        }
        self.counters.rejected_full += 1;
        false
    }
}
