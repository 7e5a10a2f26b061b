//! One viewer's queue: what it still has to be sent, as shared `Bytes`.
//!
//! A viewer that falls behind finishes the element it is writing (a whole
//! known-size cluster from the burst, or the current block of the cluster
//! being received), drops the rest and resumes at the next join point, so
//! what it receives stays decodable. Falling behind is judged by the wall
//! clock, not by what arrived: input that comes faster than real time
//! (`--no-pace`, a burst after a reconnect) is queued whole, up to the
//! byte cap.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::open::{OpenBlock, OpenCluster};
use crate::segmenter::LiveCluster;
use crate::time::Nanos;

/// Limits of one viewer's queue.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// A viewer is behind when its oldest unsent data was queued longer ago
    /// than this (wall clock) and its queue spans more media than this.
    pub max_media: Nanos,
    /// A viewer is behind when its queue would hold more than this.
    pub max_bytes: usize,
}

impl Default for QueueLimits {
    /// For short responses, which never skip.
    fn default() -> Self {
        QueueLimits {
            max_media: Nanos::from_millis(10_000),
            max_bytes: 32 << 20,
        }
    }
}

#[derive(Debug)]
struct Entry {
    bytes: Bytes,
    /// Media start of a cluster or block; `None` for heads and headers.
    media: Option<Nanos>,
    queued_at: Instant,
}

/// What a viewer still has to be sent.
#[derive(Debug)]
pub struct ClientQueue {
    entries: VecDeque<Entry>,
    /// Bytes of the front entry already written.
    offset: usize,
    bytes: usize,
    /// Media time of the newest queued cluster end or block.
    newest_media: Nanos,
    /// When the front entry was queued, kept here so that fanning a block
    /// out to thousands of viewers does not touch each queue's front entry
    /// (a cache miss per viewer per block at 15,000 viewers).
    front_since: Option<Instant>,
    /// Waiting for a join point (a keyframe cluster, or a stream restart).
    need_join: bool,
    /// Following the cluster being received block by block.
    in_open: bool,
    /// Times this viewer lost queued media by falling behind.
    skips: u64,
    limits: QueueLimits,
}

impl ClientQueue {
    pub fn new(limits: QueueLimits) -> Self {
        ClientQueue {
            entries: VecDeque::new(),
            offset: 0,
            bytes: 0,
            newest_media: Nanos::ZERO,
            front_since: None,
            need_join: true,
            in_open: false,
            skips: 0,
            limits,
        }
    }

    /// Queues raw bytes (response head, stream header) in order.
    pub fn push_bytes(&mut self, bytes: Bytes, now: Instant) {
        self.push(bytes, None, now);
    }

    fn push(&mut self, bytes: Bytes, media: Option<Nanos>, now: Instant) {
        if bytes.is_empty() {
            return;
        }
        self.bytes += bytes.len();
        self.front_since.get_or_insert(now);
        self.entries.push_back(Entry {
            bytes,
            media,
            queued_at: now,
        });
    }

    /// Queues a completed cluster (a joiner's burst, or the whole cluster
    /// when it was not forwarded block by block). Returns whether it was.
    pub fn push_cluster(&mut self, c: &LiveCluster, now: Instant) -> bool {
        if self.need_join && !c.keyframe {
            return false;
        }
        if self.behind(now, c.len(), c.end()) {
            self.drop_backlog();
            if !c.keyframe {
                return false;
            }
        }
        self.need_join = false;
        self.newest_media = self.newest_media.max(c.end());
        self.push(c.bytes.clone(), Some(c.start), now);
        true
    }

    /// Starts the viewer on the cluster being received: its head and every
    /// block so far. For a viewer that needs a join point, the caller makes
    /// sure the cluster is one.
    pub fn push_open(&mut self, open: &OpenCluster, now: Instant) -> bool {
        if self.behind(now, open.len(), open.latest()) {
            self.drop_backlog();
        }
        self.need_join = false;
        self.in_open = true;
        self.newest_media = self.newest_media.max(open.latest());
        self.push(open.head().clone(), Some(open.start()), now);
        for b in open.blocks() {
            self.push(b.bytes.clone(), Some(b.media), now);
        }
        true
    }

    /// Queues the next block of the cluster the viewer follows; a viewer
    /// found behind drops its backlog instead and waits for a join point.
    pub fn push_block(&mut self, b: &OpenBlock, now: Instant) -> bool {
        if !self.in_open {
            return false;
        }
        if self.behind(now, b.bytes.len(), b.media) {
            self.drop_backlog();
            return false;
        }
        self.newest_media = self.newest_media.max(b.media);
        self.push(b.bytes.clone(), Some(b.media), now);
        true
    }

    /// Whether the viewer is behind once `add` more bytes up to media time
    /// `add_end` are queued: over the byte cap, or its oldest unsent data
    /// waited past the limit by the wall clock while the queue spans more
    /// media than it.
    fn behind(&self, now: Instant, add: usize, add_end: Nanos) -> bool {
        if self.bytes - self.offset + add > self.limits.max_bytes {
            return true;
        }
        let Some(since) = self.front_since else {
            return false;
        };
        let limit = Duration::from_nanos(self.limits.max_media.0);
        if now.saturating_duration_since(since) <= limit {
            return false;
        }
        let oldest = self.entries.iter().find_map(|e| e.media);
        let newest = self.newest_media.max(add_end);
        oldest.is_some_and(|o| newest.saturating_sub(o) > self.limits.max_media)
    }

    /// Drops the queued media except the element being written, and waits
    /// for the next join point. The response head and the stream header
    /// (entries without media) always stay: without them nothing after is
    /// a stream.
    fn drop_backlog(&mut self) {
        let writing = self.offset > 0;
        let mut index = 0;
        let mut dropped = 0;
        self.entries.retain(|e| {
            let keep = e.media.is_none() || (index == 0 && writing);
            index += 1;
            if !keep {
                dropped += e.bytes.len();
            }
            keep
        });
        self.bytes -= dropped;
        self.front_since = self.entries.front().map(|e| e.queued_at);
        self.need_join = true;
        self.in_open = false;
        self.skips += 1;
    }

    /// The cluster being received is over: the next one starts afresh.
    pub fn end_open(&mut self) {
        self.in_open = false;
    }

    /// Whether the viewer follows the cluster being received.
    pub fn in_open(&self) -> bool {
        self.in_open
    }

    /// Whether the viewer waits for a join point.
    pub fn needs_join(&self) -> bool {
        self.need_join
    }

    /// The next thing written must start at a join point (after an encoder
    /// restart or loop, when decoding state cannot carry over).
    pub fn require_keyframe(&mut self) {
        self.need_join = true;
        self.in_open = false;
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes still to write.
    pub fn len(&self) -> usize {
        self.bytes - self.offset
    }

    pub fn skips(&self) -> u64 {
        self.skips
    }

    /// Fills `out` with the unwritten bytes, in order, for a vectored
    /// write; returns how many slots it filled.
    pub fn fill<'a>(&'a self, out: &mut [&'a [u8]]) -> usize {
        let mut n = 0;
        for (slot, (i, e)) in out.iter_mut().zip(self.entries.iter().enumerate()) {
            let start = if i == 0 { self.offset } else { 0 };
            *slot = e.bytes.get(start..).unwrap_or(&[]);
            n += 1;
        }
        n
    }

    /// Marks `n` bytes as written.
    pub fn consume(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.entries.front() else {
                break;
            };
            let left = front.bytes.len() - self.offset;
            if n < left {
                self.offset += n;
                return;
            }
            n -= left;
            self.bytes -= front.bytes.len();
            self.offset = 0;
            self.entries.pop_front();
            self.front_since = self.entries.front().map(|e| e.queued_at);
        }
    }
}
