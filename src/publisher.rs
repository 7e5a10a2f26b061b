//! The shared side of serving: the current stream header, a short ring
//! buffer of recent clusters for joiners, and each client's queue.
//!
//! Segments are `Bytes`: every client holds clones of the same memory, so a
//! cluster is stored once however many clients are behind on it. Nothing
//! here knows about sockets or HTTP.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use crate::matroska::header::StreamHeader;
use crate::segmenter::LiveCluster;
use crate::time::Nanos;

/// Hard cap on the ring buffer's bytes, whatever `--buffer-ms` says.
pub const MAX_BUFFER_BYTES: usize = 64 << 20;

/// How a new stream header relates to the one being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderChange {
    /// The first header: waiting clients can start.
    First,
    /// Same tracks (an encoder restart, a loop): clients continue at the
    /// next keyframe cluster.
    Compatible,
    /// Different tracks: current clients end after their queued data; new
    /// clients get the new header.
    Incompatible,
}

/// The current stream and its recent clusters.
#[derive(Debug)]
pub struct Publisher {
    header: Option<Arc<StreamHeader>>,
    ring: VecDeque<LiveCluster>,
    ring_bytes: usize,
    buffer: Nanos,
    max_bytes: usize,
    published: u64,
}

impl Publisher {
    /// `buffer_ms` of recent media is kept for joiners (at least the newest
    /// keyframe cluster, within `max_bytes`).
    pub fn new(buffer_ms: u64, max_bytes: usize) -> Self {
        Publisher {
            header: None,
            ring: VecDeque::new(),
            ring_bytes: 0,
            buffer: Nanos::from_millis(buffer_ms),
            max_bytes: max_bytes.min(MAX_BUFFER_BYTES),
            published: 0,
        }
    }

    pub fn header(&self) -> Option<&Arc<StreamHeader>> {
        self.header.as_ref()
    }

    /// Clusters published so far.
    pub fn published(&self) -> u64 {
        self.published
    }

    /// Media time and bytes held in the ring.
    pub fn buffered(&self) -> (Nanos, usize) {
        let span = match (self.ring.front(), self.ring.back()) {
            (Some(a), Some(b)) => b.end().saturating_sub(a.start),
            _ => Nanos::ZERO,
        };
        (span, self.ring_bytes)
    }

    /// Media time of the newest cluster's end.
    pub fn media_time(&self) -> Nanos {
        self.ring.back().map_or(Nanos::ZERO, LiveCluster::end)
    }

    /// Installs a new stream header.
    pub fn set_header(&mut self, header: Arc<StreamHeader>) -> HeaderChange {
        let change = match &self.header {
            None => HeaderChange::First,
            Some(old) if old.same_tracks(&header) => HeaderChange::Compatible,
            Some(_) => HeaderChange::Incompatible,
        };
        if change == HeaderChange::Incompatible {
            self.ring.clear();
            self.ring_bytes = 0;
        }
        self.header = Some(header);
        change
    }

    /// Adds a cluster to the ring and trims what joiners no longer need.
    pub fn publish(&mut self, segment: LiveCluster) {
        self.published += 1;
        self.ring_bytes += segment.len();
        self.ring.push_back(segment);
        self.trim();
    }

    /// Drops clusters older than the buffer time, but never the newest
    /// keyframe cluster or anything after it, unless over the byte cap.
    fn trim(&mut self) {
        let newest_end = self.media_time();
        let newest_key = self.ring.iter().rposition(|s| s.keyframe);
        let mut dropped = 0;
        while self.ring.len() > 1 {
            let Some(front) = self.ring.front() else {
                break;
            };
            let too_old = newest_end.saturating_sub(front.start) > self.buffer
                && newest_key.is_none_or(|k| dropped < k);
            let too_big = self.ring_bytes > self.max_bytes;
            if !(too_old || too_big) {
                break;
            }
            self.ring_bytes -= front.len();
            self.ring.pop_front();
            dropped += 1;
        }
    }

    /// What a joining client gets after the stream header: the buffered
    /// clusters from the oldest keyframe cluster on. Empty when the ring
    /// holds no keyframe yet (the client then waits for one).
    pub fn burst(&self) -> impl Iterator<Item = &LiveCluster> {
        let start = self
            .ring
            .iter()
            .position(|s| s.keyframe)
            .unwrap_or(self.ring.len());
        self.ring.iter().skip(start)
    }
}

/// Limits of one client's queue.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// Media time queued (from the oldest queued cluster to the newest).
    pub max_media: Nanos,
    pub max_bytes: usize,
}

/// What a client still has to be sent, as shared `Bytes` handles.
///
/// A client that falls behind past its limits finishes the cluster it is in
/// the middle of, drops the rest, and resumes at the next keyframe cluster,
/// so what it receives stays decodable.
#[derive(Debug)]
pub struct ClientQueue {
    entries: VecDeque<Entry>,
    /// Bytes of the front entry already written.
    offset: usize,
    bytes: usize,
    /// Skipping clusters until a keyframe cluster comes.
    need_keyframe: bool,
    /// Times this client lost queued clusters by falling behind.
    skips: u64,
    limits: QueueLimits,
}

#[derive(Debug)]
struct Entry {
    bytes: Bytes,
    /// Media start time of a cluster; `None` for headers.
    media_start: Option<Nanos>,
}

impl ClientQueue {
    pub fn new(limits: QueueLimits) -> Self {
        ClientQueue {
            entries: VecDeque::new(),
            offset: 0,
            bytes: 0,
            need_keyframe: true,
            skips: 0,
            limits,
        }
    }

    /// Queues raw bytes (response head, stream header) in order.
    pub fn push_bytes(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        self.bytes += bytes.len();
        self.entries.push_back(Entry {
            bytes,
            media_start: None,
        });
    }

    /// Queues a cluster, applying the keyframe and overflow rules. Returns
    /// `false` if it was not queued.
    pub fn push_cluster(&mut self, segment: &LiveCluster) -> bool {
        if self.need_keyframe && !segment.keyframe {
            return false;
        }
        if self.over_limits_with(segment) {
            self.drop_backlog();
            if !segment.keyframe {
                return false;
            }
        }
        self.need_keyframe = false;
        self.bytes += segment.len();
        self.entries.push_back(Entry {
            bytes: segment.bytes.clone(),
            media_start: Some(segment.start),
        });
        true
    }

    fn over_limits_with(&self, segment: &LiveCluster) -> bool {
        let oldest = self.entries.iter().find_map(|e| e.media_start);
        let span = oldest.map_or(Nanos::ZERO, |t| segment.end().saturating_sub(t));
        span > self.limits.max_media || self.bytes + segment.len() > self.limits.max_bytes
    }

    /// Drops every queued cluster except the one being written, and skips
    /// to the next keyframe cluster.
    fn drop_backlog(&mut self) {
        let keep = usize::from(self.offset > 0);
        let dropped: usize = self.entries.iter().skip(keep).map(|e| e.bytes.len()).sum();
        self.entries.truncate(keep);
        self.bytes -= dropped;
        self.need_keyframe = true;
        self.skips += 1;
    }

    /// The next thing written must start a keyframe cluster (after an
    /// encoder restart or loop, when decoding state cannot carry over).
    pub fn require_keyframe(&mut self) {
        self.need_keyframe = true;
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segmenter::{segment_all, Event};
    use crate::time::Ticks;

    fn fixture_segments(name: &str) -> (Arc<StreamHeader>, Vec<LiveCluster>) {
        let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let data = std::fs::read(path).unwrap();
        let (events, _) = segment_all(&data, 1 << 20).unwrap();
        let mut header = None;
        let mut segs = Vec::new();
        for e in events {
            match e {
                Event::Header(h) => header = Some(h),
                Event::Cluster(s) => segs.push(s),
                Event::ClusterStart { .. } | Event::Block(_) => {}
            }
        }
        (header.unwrap(), segs)
    }

    #[test]
    fn ring_keeps_newest_keyframe_and_buffer_time() {
        let (h, segs) = fixture_segments("long_gop.webm");
        let mut p = Publisher::new(1000, MAX_BUFFER_BYTES);
        assert_eq!(p.set_header(h.clone()), HeaderChange::First);
        for s in segs.iter().take(8) {
            p.publish(s.clone());
            let burst: Vec<&LiveCluster> = p.burst().collect();
            assert!(
                burst.first().is_some_and(|s| s.keyframe),
                "burst starts on a keyframe"
            );
        }
        // Keyframes every 5 s, 1 s clusters: the ring reaches back to the
        // newest keyframe even though that is older than 1 s.
        let burst: Vec<&LiveCluster> = p.burst().collect();
        assert!(burst.len() >= 3);
        assert_eq!(p.set_header(h), HeaderChange::Compatible);
    }

    #[test]
    fn ring_trims_to_buffer_time() {
        let (h, segs) = fixture_segments("vp8_vorbis.webm");
        let mut p = Publisher::new(3000, MAX_BUFFER_BYTES);
        p.set_header(h);
        for s in &segs {
            p.publish(s.clone());
        }
        let (span, bytes) = p.buffered();
        assert!(span <= Nanos(4_100_000_000), "{span}");
        assert!(bytes > 0);
        assert!(p.burst().count() >= 2);
    }

    #[test]
    fn queue_overflow_resumes_at_next_keyframe() {
        let (_, segs) = fixture_segments("long_gop.webm");
        let limits = QueueLimits {
            max_media: Nanos(2_500_000_000),
            max_bytes: 1 << 30,
        };
        let mut q = ClientQueue::new(limits);
        q.push_bytes(Bytes::from_static(b"HTTP/1.1 200 OK\r\n\r\n"));
        let mut queued = Vec::new();
        for s in &segs {
            if q.push_cluster(s) {
                queued.push(s.timestamp);
            }
            // Write a little of the front, as a slow client would.
            if q.len() > 10 {
                q.consume(1);
            }
        }
        assert!(q.skips() >= 1);
        assert!(segs[0].keyframe);
        // Nothing non-keyframe is queued right after a skip: every cluster
        // that follows a gap is a keyframe cluster.
        let key_ts: Vec<Ticks> = segs
            .iter()
            .filter(|s| s.keyframe)
            .map(|s| s.timestamp)
            .collect();
        for w in queued.windows(2) {
            let gap = segs.iter().position(|s| s.timestamp == w[1]).unwrap()
                - segs.iter().position(|s| s.timestamp == w[0]).unwrap();
            if gap > 1 {
                assert!(
                    key_ts.contains(&w[1]),
                    "resumed at {} which is not a keyframe",
                    w[1]
                );
            }
        }
    }

    #[test]
    fn queue_slices_and_consume() {
        let mut q = ClientQueue::new(QueueLimits {
            max_media: Nanos(u64::MAX),
            max_bytes: usize::MAX,
        });
        q.push_bytes(Bytes::from_static(b"abc"));
        q.push_bytes(Bytes::from_static(b"defg"));
        assert_eq!(q.len(), 7);
        q.consume(2);
        let mut v: [&[u8]; 8] = [&[]; 8];
        let n = q.fill(&mut v);
        assert_eq!(&v[..n], &[&b"c"[..], &b"defg"[..]]);
        q.consume(3);
        assert_eq!(q.len(), 2);
        q.consume(2);
        assert!(q.is_empty());
    }
}
