//! Push ingest, as Icecast's HTTP source protocol has it: encoders `PUT`
//! (or `SOURCE`) a live stream to a mount with HTTP Basic credentials,
//! and the body is segmented on the loop as it arrives.
//!
//! `admit` answers the request head (credentials, conflicts, `100
//! Continue`), `publish` reads the body into the mount's stream, and this
//! file holds what a push mount keeps between publishers: its timeline,
//! who is publishing, and since when nobody is.

mod admit;
mod publish;
mod timers;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::body::BodyDecoder;
use super::proxy::Cidr;
use crate::input::{InputStats, PushInput};
use crate::segmenter::SegmenterOptions;

/// Who may push to a mount.
pub enum IngestAuth {
    /// HTTP Basic with these credentials, from these networks (empty:
    /// any).
    Basic {
        /// The user name (Icecast's `source` unless the mount sets one).
        user: String,
        /// Compared in constant time; never logged or printed.
        password: String,
        /// Networks allowed to try (empty: any).
        allow_from: Vec<Cidr>,
    },
    /// No credentials; only from these networks.
    Open {
        /// Networks allowed to push.
        allow_from: Vec<Cidr>,
    },
}

impl std::fmt::Debug for IngestAuth {
    // Never prints the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IngestAuth::Basic {
                user, allow_from, ..
            } => write!(f, "Basic {{ user: {user:?}, allow_from: {allow_from:?} }}"),
            IngestAuth::Open { allow_from } => write!(f, "Open {{ allow_from: {allow_from:?} }}"),
        }
    }
}

/// Where a push mount is between publishers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Publisher {
    /// Nobody has published since the mount started (or since the last
    /// grace time ran out).
    None,
    /// Connection `key` is sending a body.
    Live(usize),
    /// A body with a length ended cleanly: the next `PUT` with a
    /// `Content-Range` at the byte where it ended continues the stream
    /// (GStreamer's `souphttpclientsink` sends one request per buffer).
    Paused { since: Instant },
    /// The publisher went away: viewers wait for the next one until the
    /// grace time runs out.
    Gone { since: Instant },
}

/// Counts shown on the status page and in the metrics.
#[derive(Debug, Default, Clone)]
pub struct IngestCounters {
    /// Publishers that started sending a stream.
    pub connects: u64,
    /// Requests without credentials, answered with a challenge.
    pub challenges: u64,
    /// Wrong credentials (or an address not allowed).
    pub refused_auth: u64,
    /// Another publisher was live (409).
    pub refused_busy: u64,
    /// The body was not Matroska/WebM (415).
    pub refused_media: u64,
    /// Addresses throttled after failed logins (429).
    pub refused_throttled: u64,
    /// A continuation at the wrong offset (416).
    pub refused_range: u64,
    /// Publishers closed for exceeding the ingest buffer share.
    pub closed_over_buffer: u64,
    /// Publishers closed for sending nothing (idle timeout).
    pub closed_idle: u64,
    /// A new publisher came while viewers waited for one.
    pub reconnects: u64,
}

/// What a push mount keeps from one publisher to the next.
pub struct Ingest {
    pub(super) input: PushInput,
    pub(super) auth: IngestAuth,
    pub(super) publisher: Publisher,
    /// Address of the latest publisher, for the status page.
    pub(super) peer: Option<SocketAddr>,
    /// Body bytes of the current publisher, for `Content-Range`.
    pub(super) received: u64,
    /// Bytes held outside the ring, as last counted.
    pub(super) held: usize,
    pub(super) counters: IngestCounters,
    options: SegmenterOptions,
    stats: Arc<InputStats>,
}

impl Ingest {
    pub fn new(auth: IngestAuth, options: SegmenterOptions, stats: Arc<InputStats>) -> Self {
        Ingest {
            input: PushInput::new(options, stats.clone()),
            auth,
            publisher: Publisher::None,
            peer: None,
            received: 0,
            held: 0,
            counters: IngestCounters::default(),
            options,
            stats,
        }
    }

    /// The connection publishing now, if any.
    pub(super) fn live(&self) -> Option<usize> {
        match self.publisher {
            Publisher::Live(k) => Some(k),
            _ => None,
        }
    }

    /// Starts the timeline over (the grace time ran out): the next
    /// publisher's stream is a new one.
    pub(super) fn reset(&mut self) {
        self.input = PushInput::new(self.options, self.stats.clone());
        self.publisher = Publisher::None;
        self.received = 0;
    }
}

/// The body of a push being received on a connection.
#[derive(Debug)]
pub struct Publishing {
    /// Key of the mount it publishes to.
    pub mount: usize,
    pub decoder: BodyDecoder,
    /// Body bytes looked at for the EBML header so far (`None` once it
    /// was found, or for a continuation, which has no header).
    pub sniff: Option<Sniff>,
    /// When the last byte arrived.
    pub last_byte: Instant,
    /// Answer `200` when the body is complete (a `PUT` with a length or
    /// chunks), and then read the next request if `keep_alive`.
    pub answer_at_end: bool,
    pub keep_alive: bool,
}

/// Looking for the EBML magic in the first [`SNIFF_BYTES`] of a body.
#[derive(Debug, Default)]
pub struct Sniff {
    seen: usize,
    /// The last three bytes, so a magic split across reads is found.
    tail: [u8; 3],
}

/// A push whose first 64 KiB hold no EBML header is not Matroska/WebM.
pub(super) const SNIFF_BYTES: usize = 64 << 10;
const EBML_MAGIC: [u8; 4] = [0x1A, 0x45, 0xDF, 0xA3];

impl Sniff {
    /// Looks at the next body bytes: `Some(true)` once the magic is
    /// found, `Some(false)` once 64 KiB passed without it.
    pub(super) fn look(&mut self, data: &[u8]) -> Option<bool> {
        let room = SNIFF_BYTES.saturating_sub(self.seen);
        let data = data.get(..room.min(data.len())).unwrap_or(data);
        let mut window = self.tail.to_vec();
        window.extend_from_slice(data.get(..data.len().min(3)).unwrap_or(data));
        let found =
            window.windows(4).any(|w| w == EBML_MAGIC) || data.windows(4).any(|w| w == EBML_MAGIC);
        self.seen += data.len();
        if let Some(t) = data.len().checked_sub(3).and_then(|i| data.get(i..)) {
            self.tail.copy_from_slice(t);
        } else {
            let mut all = self.tail.to_vec();
            all.extend_from_slice(data);
            let n = all.len();
            self.tail
                .copy_from_slice(all.get(n - 3..).unwrap_or(&[0, 0, 0]));
        }
        if found {
            Some(true)
        } else if self.seen >= SNIFF_BYTES {
            Some(false)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let auth = IngestAuth::Basic {
            user: "source".into(),
            password: "hackme".into(),
            allow_from: Vec::new(),
        };
        let shown = format!("{auth:?}");
        assert!(
            !shown.contains("hackme") && shown.contains("source"),
            "{shown}"
        );
    }

    #[test]
    fn sniff_finds_the_magic_anywhere_in_the_first_64_kib_and_across_reads() {
        let mut body = vec![0u8; 1000];
        body.extend_from_slice(&EBML_MAGIC);
        for split in 0..body.len() {
            let mut s = Sniff::default();
            let (a, b) = body.split_at(split);
            let first = s.look(a);
            let r = if first == Some(true) {
                first
            } else {
                s.look(b)
            };
            assert_eq!(r, Some(true), "split at {split}");
        }
        let mut s = Sniff::default();
        assert_eq!(s.look(&vec![7u8; SNIFF_BYTES - 1]), None);
        assert_eq!(s.look(&[7u8; 10]), Some(false));
        let mut s = Sniff::default();
        let mut late = vec![7u8; SNIFF_BYTES];
        late.extend_from_slice(&EBML_MAGIC);
        assert_eq!(s.look(&late), Some(false));
    }
}
