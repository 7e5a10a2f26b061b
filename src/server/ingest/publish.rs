//! Reading a publisher's body into its mount: drain the socket, take the
//! body out of its framing, check the first 64 KiB is Matroska, segment
//! it, and hand the events to the mount's viewers. A publisher that ends,
//! drops, idles or holds too much is gone; viewers then wait for the next.

use std::io::{self, Read};
use std::time::Instant;

use super::super::client::Phase;
use super::super::http::Status;
use super::super::respond::Reason;
use super::super::Server;
use super::Publisher;

/// What reading a publisher's bytes ended with.
enum Outcome {
    /// More body to come.
    More,
    /// The body is complete; these bytes after it start the next request.
    Complete(Vec<u8>),
    /// Stop: answer this (if anything) and close.
    Fail(Option<Status>, String),
}

impl Server {
    /// The publisher's socket is readable: reads until `WouldBlock`.
    pub(in crate::server) fn read_publisher(&mut self, key: usize, now: Instant) {
        let mut scratch = std::mem::take(&mut self.scratch);
        while let Some(c) = self.conns.get_mut(key) {
            if !matches!(c.phase, Phase::Publishing(_)) {
                break;
            }
            match c.stream.read(&mut scratch) {
                Ok(0) => {
                    self.publisher_eof(key, now);
                    break;
                }
                Ok(n) => {
                    c.bytes_read += n as u64;
                    self.publish_bytes(key, scratch.get(..n).unwrap_or(&[]), now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.close(key, Reason::PeerClosed);
                    break;
                }
            }
        }
        self.scratch = scratch;
    }

    /// Feeds body bytes of publisher `key` to its mount.
    pub(in crate::server) fn publish_bytes(&mut self, key: usize, data: &[u8], now: Instant) {
        let Some(m) = self.publishing_mount(key) else {
            return;
        };
        let outcome = self.decode_into_mount(key, m, data, now);
        let mut events = std::mem::take(&mut self.ingest_events);
        for ev in events.drain(..) {
            self.input_event(m, ev);
        }
        self.ingest_events = events;
        let outcome = match outcome {
            Outcome::More => self.check_buffer(m),
            other => other,
        };
        self.after_body(key, m, outcome, now);
    }

    fn publishing_mount(&self, key: usize) -> Option<usize> {
        match &self.conns.get(key)?.phase {
            Phase::Publishing(p) => Some(p.mount),
            _ => None,
        }
    }

    /// Decodes `data` and segments the body bytes into mount `m`; the
    /// events land in `ingest_events`.
    fn decode_into_mount(&mut self, key: usize, m: usize, data: &[u8], now: Instant) -> Outcome {
        let (Some(c), Some(mount)) = (self.conns.get_mut(key), self.mounts.get_mut(m)) else {
            return Outcome::Fail(None, "gone".into());
        };
        let Phase::Publishing(p) = &mut c.phase else {
            return Outcome::More;
        };
        let Some(ingest) = mount.ingest_mut() else {
            return Outcome::Fail(None, "not a push mount".into());
        };
        p.last_byte = now;
        let events = &mut self.ingest_events;
        let (mut not_media, mut seg_error) = (false, None);
        let sniff = &mut p.sniff;
        let used = p.decoder.decode(data, |body| {
            if let Some(s) = sniff {
                match s.look(body) {
                    Some(true) => *sniff = None,
                    Some(false) => not_media = true,
                    None => {}
                }
            }
            ingest.received += body.len() as u64;
            if let Err(e) = ingest.input.feed(body, events) {
                seg_error.get_or_insert(e);
            }
        });
        match used {
            Err(e) => Outcome::Fail(Some(Status::BadRequest), format!("bad body framing: {e}")),
            Ok(_) if not_media => Outcome::Fail(
                Some(Status::UnsupportedMediaType),
                "no EBML header in the first 64 KiB: not Matroska/WebM".into(),
            ),
            Ok(_) if seg_error.is_some() => Outcome::Fail(
                Some(Status::UnsupportedMediaType),
                seg_error.map_or(String::new(), |e| e.to_string()),
            ),
            Ok(n) if p.decoder.is_done() => {
                Outcome::Complete(data.get(n..).unwrap_or(&[]).to_vec())
            }
            Ok(_) => Outcome::More,
        }
    }

    /// Closes the publisher of mount `m` if it holds more than its share
    /// of `--max-ingest-buffer-bytes`.
    fn check_buffer(&mut self, m: usize) -> Outcome {
        let Some(mount) = self.mounts.get_mut(m) else {
            return Outcome::More;
        };
        let open = mount.stream.publisher.open_bytes();
        let Some(ingest) = mount.ingest_mut() else {
            return Outcome::More;
        };
        let held = ingest.input.buffered() + open;
        self.ingest_held = self.ingest_held - ingest.held.min(self.ingest_held) + held;
        ingest.held = held;
        let publishers = self.publishers.max(1);
        let share = self.config.max_ingest_buffer_bytes / publishers;
        if held > share && self.ingest_held > self.config.max_ingest_buffer_bytes / 2 {
            ingest.counters.closed_over_buffer += 1;
            // What it held is dropped, not kept through the grace time:
            // the cap is on memory, and a cut cluster is no use to joiners.
            ingest.input.abandon_publisher();
            self.ingest_held = self.ingest_held.saturating_sub(held);
            ingest.held = 0;
            mount.stream.publisher.drop_open();
            return Outcome::Fail(
                None,
                format!(
                    "holds {held} bytes of a cluster, over its share ({share} bytes) of --max-ingest-buffer-bytes"
                ),
            );
        }
        Outcome::More
    }

    /// Acts on what a read of the body found.
    fn after_body(&mut self, key: usize, m: usize, outcome: Outcome, now: Instant) {
        match outcome {
            Outcome::More => {}
            Outcome::Complete(rest) => self.body_complete(key, m, rest, now),
            Outcome::Fail(status, why) => {
                let (path, peer) = self.names(key, m);
                log::warn!("{path}: publisher {peer} closed: {why}");
                if status == Some(Status::UnsupportedMediaType) {
                    if let Some(i) = self.mounts.get_mut(m).and_then(|x| x.ingest_mut()) {
                        i.counters.refused_media += 1;
                    }
                }
                self.publisher_left(key, m, now);
                match status {
                    Some(s) => self.respond(key, s, now),
                    None => self.close(key, Reason::Done),
                }
            }
        }
    }

    /// A body with a length (or chunks) is complete: `200`, the stream
    /// pauses until a continuation or the idle timeout, and a kept-alive
    /// connection reads its next request.
    fn body_complete(&mut self, key: usize, m: usize, rest: Vec<u8>, now: Instant) {
        let Some(Phase::Publishing(p)) = self.conns.get(key).map(|c| &c.phase) else {
            return;
        };
        let (answer, keep) = (p.answer_at_end, p.keep_alive);
        if let Some(i) = self.mounts.get_mut(m).and_then(|x| x.ingest_mut()) {
            i.publisher = Publisher::Paused { since: now };
        }
        self.publishers = self.publishers.saturating_sub(1);
        if let Some(c) = self.conns.get_mut(key) {
            c.mount = None;
        }
        if answer {
            self.send_short(key, Status::Ok, keep, rest, now);
        } else {
            // `SOURCE` had its answer at the start.
            self.close(key, Reason::Done);
        }
    }

    /// The peer closed its side: for a body that runs until close, that
    /// is its end; for one with a length or chunks, it was cut short.
    fn publisher_eof(&mut self, key: usize, now: Instant) {
        let Some(m) = self.publishing_mount(key) else {
            return;
        };
        let (path, peer) = self.names(key, m);
        if let Some(Phase::Publishing(p)) = self.conns.get(key).map(|c| &c.phase) {
            match p.decoder.finish() {
                Ok(()) => log::info!("{path}: publisher {peer} ended its stream"),
                Err(e) => log::warn!("{path}: publisher {peer} closed early: {e}"),
            }
        }
        self.publisher_left(key, m, now);
        self.close(key, Reason::PeerClosed);
    }

    /// Connection `key` no longer publishes to mount `m`: what it sent
    /// goes out, and viewers wait for the next publisher.
    pub(in crate::server) fn publisher_left(&mut self, key: usize, m: usize, now: Instant) {
        let Some(ingest) = self.mounts.get_mut(m).and_then(|x| x.ingest_mut()) else {
            return;
        };
        if ingest.publisher != Publisher::Live(key) {
            return;
        }
        self.publishers = self.publishers.saturating_sub(1);
        self.end_publisher(m, now);
        if let Some(c) = self.conns.get_mut(key) {
            c.mount = None;
        }
    }

    /// Ends the current publisher's stream on mount `m`: its last
    /// cluster goes out as far as it arrived; viewers wait for the next
    /// publisher (the grace time).
    pub(in crate::server) fn end_publisher(&mut self, m: usize, now: Instant) {
        let Some(mount) = self.mounts.get_mut(m) else {
            return;
        };
        let path = mount.path.clone();
        let grace = mount.options.source_grace;
        let Some(ingest) = mount.ingest_mut() else {
            return;
        };
        let mut events = std::mem::take(&mut self.ingest_events);
        ingest.input.end_publisher(&mut events);
        self.ingest_held = self.ingest_held.saturating_sub(ingest.held);
        ingest.held = 0;
        // One that never sent a stream header (refused as not Matroska,
        // or dropped at once) started nothing: viewers still wait for a
        // first publisher, under `source_wait`, not the grace time.
        let started = ingest.input.has_header();
        ingest.publisher = if started {
            Publisher::Gone { since: now }
        } else {
            Publisher::None
        };
        for ev in events.drain(..) {
            self.input_event(m, ev);
        }
        self.ingest_events = events;
        if started {
            log::info!(
                "{path}: publisher gone; viewers wait up to {} ms for the next",
                grace.as_millis()
            );
        } else {
            log::info!("{path}: publisher gone before a stream header; viewers wait for one");
        }
    }

    fn names(&self, key: usize, m: usize) -> (String, String) {
        (
            self.mounts.get(m).map_or(String::new(), |x| x.path.clone()),
            self.conns
                .get(key)
                .map_or(String::new(), |c| c.addr.to_string()),
        )
    }
}
