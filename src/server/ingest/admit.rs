//! Answering a push request's head: throttled addresses, unknown and
//! pulled mounts, credentials, a publisher already live, probes, and the
//! continuation of a stream sent one `PUT` at a time. Every answer but
//! acceptance closes the connection before any body is read.

use std::io::Write;
use std::net::IpAddr;
use std::time::Instant;

use super::super::body::{BodyDecoder, Framing};
use super::super::client::Phase;
use super::super::credentials::{self, Check};
use super::super::http::{self, Method, Request, Status};
use super::super::Server;
use super::{IngestAuth, IngestCounters, Publisher, Publishing, Sniff};

/// Why a push was refused, for the log and the counters.
enum Refusal {
    Throttled,
    NoMount,
    NotPush,
    Challenge,
    WrongCredentials,
    NotAllowed,
    Busy,
    BadOffset,
}

impl Server {
    /// A `PUT`/`SOURCE` head at `req.path` from `ip`: refuse it, answer a
    /// probe, or start reading its body into the mount.
    pub(in crate::server) fn push_request(
        &mut self,
        key: usize,
        req: Request,
        ip: IpAddr,
        rest: Vec<u8>,
        now: Instant,
    ) {
        let m = match self.check_push(&req, ip, now) {
            Ok(m) => m,
            Err(refusal) => return self.refuse_push(key, &req, ip, refusal, now),
        };
        if req.framing == Framing::Length(0) {
            // libshout's and others' empty probe: never makes a mount live.
            log::debug!("{}: empty push from {ip} (a probe): 200", req.path);
            let keep = req.keep_alive;
            return self.send_short(key, Status::Ok, keep, rest, now);
        }
        let continuation = match self.continuation(m, &req) {
            Ok(c) => c,
            Err(refusal) => return self.refuse_push(key, &req, ip, refusal, now),
        };
        self.start_publishing(key, m, &req, continuation, now);
        if !rest.is_empty() {
            self.publish_bytes(key, &rest, now);
        }
        // The head was read only up to the head limit, so the socket may
        // hold more of the body; readiness is edge-triggered, and a body
        // sent whole would never raise another edge: read it now.
        self.read_publisher(key, now);
    }

    /// Everything decided before any state changes: the mount key, or
    /// why not.
    fn check_push(&mut self, req: &Request, ip: IpAddr, now: Instant) -> Result<usize, Refusal> {
        if self.throttle.blocked(ip, now) {
            return Err(Refusal::Throttled);
        }
        let m = self.mounts.at(&req.path).ok_or(Refusal::NoMount)?;
        let ingest = self
            .mounts
            .get(m)
            .and_then(|x| x.ingest())
            .ok_or(Refusal::NotPush)?;
        match &ingest.auth {
            IngestAuth::Open { allow_from } if allow_from.iter().any(|c| c.contains(ip)) => Ok(m),
            IngestAuth::Open { .. } => Err(Refusal::NotAllowed),
            IngestAuth::Basic { allow_from, .. }
                if !allow_from.is_empty() && !allow_from.iter().any(|c| c.contains(ip)) =>
            {
                Err(Refusal::NotAllowed)
            }
            IngestAuth::Basic { user, password, .. } => {
                match credentials::check(req.authorization.as_deref(), user, password) {
                    Check::Ok => Ok(m),
                    Check::Missing => Err(Refusal::Challenge),
                    Check::Wrong => Err(Refusal::WrongCredentials),
                }
            }
        }
    }

    /// Whether `req` continues the paused stream of mount `m` (a
    /// `Content-Range` at the byte where the last body ended), or starts
    /// one; a busy mount or a wrong offset refuses it.
    fn continuation(&mut self, m: usize, req: &Request) -> Result<bool, Refusal> {
        let Some(ingest) = self.mounts.get(m).and_then(|x| x.ingest()) else {
            return Err(Refusal::NotPush);
        };
        match (ingest.publisher, req.range_start) {
            (Publisher::Live(_), _) => Err(Refusal::Busy),
            (Publisher::Paused { .. }, Some(n)) if n == ingest.received => Ok(true),
            (_, Some(n)) if n > 0 => Err(Refusal::BadOffset),
            _ => Ok(false),
        }
    }

    /// Makes connection `key` the publisher of mount `m` and sends the
    /// interim answer its client waits for.
    fn start_publishing(&mut self, key: usize, m: usize, req: &Request, cont: bool, now: Instant) {
        let Some(addr) = self.conns.get(key).map(|c| c.addr) else {
            return;
        };
        if !cont {
            self.publisher_replaced(m, now);
        }
        let (Some(c), Some(ingest)) = (
            self.conns.get_mut(key),
            self.mounts.get_mut(m).and_then(|x| x.ingest_mut()),
        ) else {
            return;
        };
        if !cont {
            ingest.counters.connects += 1;
            ingest.received = 0;
            log::info!(
                "{}: publisher {addr} connected ({:?}, {})",
                req.path,
                req.method,
                req.user_agent.as_deref().unwrap_or("no user agent")
            );
        }
        ingest.publisher = Publisher::Live(key);
        ingest.peer = Some(addr);
        self.publishers += 1;
        let interim: &[u8] = match req.method {
            Method::Source => http::SOURCE_OK,
            _ if req.expect_continue => http::CONTINUE,
            _ => b"",
        };
        // A fresh socket takes a few bytes; one that does not is a client
        // that reads nothing, and the idle timeout ends it.
        let _ = c.stream.write(interim);
        c.mount = Some(m);
        c.phase = Phase::Publishing(Box::new(Publishing {
            mount: m,
            decoder: BodyDecoder::new(req.framing),
            sniff: (!cont).then(Sniff::default),
            last_byte: now,
            answer_at_end: req.method == Method::Put && req.framing != Framing::UntilClose,
            keep_alive: req.keep_alive,
        }));
    }

    /// A new publisher (not a continuation) comes to mount `m`: a paused
    /// one's stream ends there, and viewers waiting count a reconnect.
    fn publisher_replaced(&mut self, m: usize, now: Instant) {
        let Some(ingest) = self.mounts.get_mut(m).and_then(|x| x.ingest_mut()) else {
            return;
        };
        match ingest.publisher {
            Publisher::Paused { .. } => {
                ingest.counters.reconnects += 1;
                self.end_publisher(m, now);
            }
            Publisher::Gone { .. } => ingest.counters.reconnects += 1,
            _ => {}
        }
    }

    /// A continuation at the wrong offset ends the paused stream of mount
    /// `m`, if there is one. With no publisher there is nothing to end:
    /// ending it anyway would start a grace time for viewers waiting for a
    /// first publisher (and every stray continuation would restart it);
    /// souphttpclientsink sends one per buffer once its first PUT is lost.
    fn end_paused(&mut self, m: Option<usize>, now: Instant) {
        let paused = m
            .and_then(|m| self.mounts.get(m))
            .and_then(|x| x.ingest())
            .is_some_and(|i| matches!(i.publisher, Publisher::Paused { .. }));
        if let (Some(m), true) = (m, paused) {
            self.end_publisher(m, now);
        }
    }

    /// Answers a refused push, counts and logs it, and closes.
    fn refuse_push(&mut self, key: usize, req: &Request, ip: IpAddr, r: Refusal, now: Instant) {
        let path = &req.path;
        let m = self.mounts.at(path);
        if let Some(c) = m
            .and_then(|m| self.mounts.get_mut(m))
            .and_then(|x| x.ingest_mut())
            .map(|i| &mut i.counters)
        {
            count(c, &r);
        }
        let (status, why) = match r {
            Refusal::Throttled => (Status::TooManyRequests, None),
            Refusal::NoMount => (Status::NotFound, None),
            Refusal::NotPush => (Status::Forbidden, Some("it is not an ingest mount")),
            Refusal::Challenge => {
                log::debug!("push to {path} from {ip} without credentials: challenged (401)");
                (Status::Unauthorized, None)
            }
            Refusal::WrongCredentials => {
                self.wrong_credentials(path, ip, now);
                (Status::Unauthorized, None)
            }
            Refusal::NotAllowed => (Status::Forbidden, Some("address not in allow_from")),
            Refusal::Busy => (Status::Conflict, Some("another publisher is live")),
            Refusal::BadOffset => {
                self.end_paused(m, now);
                let why = "Content-Range does not continue the stream";
                (Status::RangeNotSatisfiable, Some(why))
            }
        };
        if let Some(why) = why {
            log::warn!(
                "push to {path} from {ip} refused: {why} ({})",
                status.code()
            );
        }
        self.respond(key, status, now);
    }

    /// Counts a failed login against `ip`, logs it (rate-limited), and
    /// says when the address is blocked.
    fn wrong_credentials(&mut self, path: &str, ip: IpAddr, now: Instant) {
        let failure = self.throttle.failed(ip, now);
        if let Some(held_back) = failure.log {
            let more = match held_back {
                0 => String::new(),
                n => format!(" ({n} more not logged)"),
            };
            log::warn!("push to {path} from {ip} refused: wrong credentials (401){more}");
        }
        if failure.blocked {
            log::warn!("source logins from {ip} blocked for 60 s after repeated failures (429)");
        }
    }
}

/// Counts a refusal on the mount it was for.
fn count(c: &mut IngestCounters, r: &Refusal) {
    match r {
        Refusal::Throttled => c.refused_throttled += 1,
        Refusal::Challenge => c.challenges += 1,
        Refusal::WrongCredentials | Refusal::NotAllowed => c.refused_auth += 1,
        Refusal::Busy => c.refused_busy += 1,
        Refusal::BadOffset => c.refused_range += 1,
        Refusal::NoMount | Refusal::NotPush => {}
    }
}
