//! Keyframe split: cut a Cluster at every video keyframe that is not the
//! first video block of its piece, and where a block's relative timestamp
//! no longer fits after rebasing; drop children whose stored values would
//! be wrong live (Position, PrevSize, CRC-32, Void).
//!
//! The split is decided child by child as the Cluster is read
//! ([`Splitter`]), from what came before only: the same decisions place
//! the blocks handed out early ([`Splitter::forward`]) and build the
//! complete served clusters ([`Splitter::finish`]), so the two cannot
//! disagree. Only element headers and the first bytes of each block are
//! read; payloads are copied at most once per output, and a Cluster that
//! needs no change is served as stored.

use std::collections::HashMap;
use std::ops::Range;

use bytes::Bytes;

use super::block::{scan_block, scan_block_group, BlockInfo, Kept};
use super::cluster::LiveCluster;
use super::ids;
use super::live::LiveBlock;
use super::piece::{build_piece, finish_segment, live_block, Piece};
use crate::ebml::{self, Child};
use crate::time::Ticks;

/// What the stream's tracks say about reading its clusters.
#[derive(Debug, Clone, Default)]
pub struct TrackContext {
    /// Nanoseconds per timestamp tick (Info TimestampScale).
    pub timestamp_scale: u64,
    /// The track whose keyframes clusters are split at, if any.
    pub video_track: Option<u64>,
    /// DefaultDuration per track number, in nanoseconds.
    pub default_durations: HashMap<u64, u64>,
}

/// Why a Cluster could not be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterError {
    /// No Timestamp child: its blocks cannot be placed in time.
    NoTimestamp,
    /// A child does not parse or runs past the Cluster's end.
    Malformed(ebml::ChildError),
}

impl std::fmt::Display for ClusterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClusterError::NoTimestamp => write!(f, "cluster has no Timestamp"),
            ClusterError::Malformed(e) => write!(f, "malformed cluster: {e}"),
        }
    }
}

impl std::error::Error for ClusterError {}

/// What [`Splitter::drain`] hands out as a Cluster is read, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SplitEvent {
    /// A served cluster begins, with this Timestamp.
    Start(Ticks),
    /// The next child of the served cluster last begun.
    Block(LiveBlock),
    /// The served cluster last begun is complete: the next one began.
    Cluster(LiveCluster),
}

/// Splits and cleans one complete Cluster, as [`Splitter`] does while one
/// is read: a video keyframe that is not the first video block of its
/// served cluster starts a new one (if its timestamp fits a u64), and so
/// does a block whose relative timestamp no longer fits 16 bits after
/// rebasing.
///
/// `raw` is the Cluster as stored, `header_len` the length of its ID and
/// size, and `body` the range of `raw` holding its complete, valid children.
/// `reusable` says the stored size field is right for `body` (a known-size
/// cluster read whole), so an unchanged cluster is served without a copy.
pub fn split_cluster(
    raw: &Bytes,
    header_len: usize,
    body: Range<usize>,
    reusable: bool,
    ctx: &TrackContext,
    out: &mut Vec<LiveCluster>,
) -> Result<(), ClusterError> {
    let data = raw.get(body.clone()).unwrap_or(&[]);
    let mut splitter = Splitter::default();
    for c in ebml::children(data) {
        splitter.push(&c.map_err(ClusterError::Malformed)?, ctx)?;
    }
    splitter.finish(raw, header_len, body, reusable, ctx, out)
}

/// The split of one Cluster, made child by child as its children complete.
///
/// Children before the Timestamp are held (their place in time is not
/// known yet); from the Timestamp on, each is placed in a served cluster
/// as it comes, with no lookahead, which is what lets a live server send it
/// on at once, and a served cluster out as soon as the next one begins.
#[derive(Debug, Default)]
pub(crate) struct Splitter {
    /// The Cluster's Timestamp, once its first Timestamp child is read.
    timestamp: Option<u64>,
    /// That child's span within the body.
    timestamp_element: Range<usize>,
    /// Every kept child, in order; the first `placed` are in `pieces`.
    kept: Vec<Kept>,
    pieces: Vec<Piece>,
    placed: usize,
    /// The last piece has a block of the video track already.
    seen_video: bool,
    /// A child is dropped or moved: the stored bytes cannot be served as is.
    dirty: bool,
    /// The Timestamp does not parse: nothing of the Cluster is served.
    error: Option<ClusterError>,
    /// How far [`drain`](Self::drain) got: pieces begun (all but the last
    /// of them complete and handed out), children handed out.
    announced: usize,
    handed: usize,
}

impl Splitter {
    /// Reads the next complete child of the Cluster body (`c.offset` is
    /// its place in the body). An error is kept: the Cluster is then
    /// dropped by [`finish`](Self::finish), and nothing of it forwarded.
    pub fn push(&mut self, c: &Child<'_>, ctx: &TrackContext) -> Result<(), ClusterError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let span = c.offset..c.end();
        let data_offset = c.offset + c.header.header_len;
        let scale = ctx.timestamp_scale.max(1);
        let block = match c.header.id {
            ids::TIMESTAMP if self.timestamp.is_none() => return self.set_timestamp(c, ctx),
            ids::SIMPLE_BLOCK => scan_block(span.clone(), data_offset, c.data),
            ids::BLOCK_GROUP => scan_block_group(span.clone(), data_offset, c.data, scale),
            ids::SILENT_TRACKS | ids::ENCRYPTED_BLOCK => None,
            // Position, PrevSize, CRC-32, Void, a second Timestamp: stale
            // or meaningless in the live stream, dropped.
            _ => {
                self.dirty = true;
                return Ok(());
            }
        };
        self.kept.push(match block {
            Some(mut b) => {
                if b.duration_ns.is_none() {
                    b.duration_ns = ctx.default_durations.get(&b.track).copied();
                }
                Kept::Block(b)
            }
            None => Kept::Other(span),
        });
        self.place(ctx);
        Ok(())
    }

    fn set_timestamp(&mut self, c: &Child<'_>, ctx: &TrackContext) -> Result<(), ClusterError> {
        // Served clusters start with their Timestamp: a client parsing as
        // bytes arrive can place each block at once.
        self.dirty |= !self.kept.is_empty();
        match ebml::read_uint(c.data) {
            Ok(timestamp) => {
                self.timestamp = Some(timestamp);
                self.timestamp_element = c.offset..c.end();
                self.pieces.push(Piece {
                    first: 0,
                    rebase: 0,
                    timestamp,
                });
                self.place(ctx);
                Ok(())
            }
            Err(e) => {
                let e = ClusterError::Malformed(ebml::ChildError::Ebml(e));
                self.error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Places every kept child not placed yet, once the Timestamp is known.
    fn place(&mut self, ctx: &TrackContext) {
        let Some(timestamp) = self.timestamp else {
            return;
        };
        while let Some(k) = self.kept.get(self.placed) {
            if let (Kept::Block(b), Some(current)) = (k, self.pieces.last()) {
                let video = Some(b.track) == ctx.video_track;
                let keyframe_split = video && b.keyframe && self.seen_video;
                if let Some(p) = split_at(b, self.placed, keyframe_split, timestamp, current) {
                    self.pieces.push(p);
                    self.seen_video = false;
                }
                self.seen_video |= video;
            }
            self.placed += 1;
        }
    }

    /// Whether a served cluster was begun: only then may anything of this
    /// Cluster have been forwarded, or be served.
    pub fn started(&self) -> bool {
        !self.pieces.is_empty()
    }

    /// Hands out, in order, what the children pushed since the last call
    /// made: with `forward`, each served cluster begun and each child
    /// placed; always, each served cluster completed by the next one's
    /// beginning. `data` is the Cluster body read so far.
    pub fn drain(
        &mut self,
        data: &[u8],
        ctx: &TrackContext,
        forward: bool,
        mut emit: impl FnMut(SplitEvent),
    ) {
        loop {
            let next = self.pieces.get(self.announced);
            if let Some(p) = next.filter(|p| p.first <= self.handed) {
                let timestamp = Ticks(p.timestamp);
                let done = self.announced.checked_sub(1);
                if let Some(c) = done.and_then(|n| self.build(n, data, ctx)) {
                    emit(SplitEvent::Cluster(c));
                }
                if forward {
                    emit(SplitEvent::Start(timestamp));
                }
                self.announced += 1;
                continue;
            }
            if self.handed >= self.placed {
                return;
            }
            let current = self
                .announced
                .checked_sub(1)
                .and_then(|n| self.pieces.get(n));
            if let (true, Some(k), Some(p)) = (forward, self.kept.get(self.handed), current) {
                emit(SplitEvent::Block(live_block(data, k, p, ctx)));
            }
            self.handed += 1;
        }
    }

    /// Writes piece `n` of the body `data`.
    fn build(&self, n: usize, data: &[u8], ctx: &TrackContext) -> Option<LiveCluster> {
        let p = self.pieces.get(n)?;
        let last = self
            .pieces
            .get(n + 1)
            .map_or(self.kept.len(), |next| next.first);
        let slice = self.kept.get(p.first..last).unwrap_or(&[]);
        Some(build_piece(data, slice, p, ctx))
    }

    /// The served clusters of the complete Cluster `raw` (see
    /// [`split_cluster`] for the arguments) not handed out by
    /// [`drain`](Self::drain) yet, exactly as placed.
    pub fn finish(
        self,
        raw: &Bytes,
        header_len: usize,
        body: Range<usize>,
        reusable: bool,
        ctx: &TrackContext,
        out: &mut Vec<LiveCluster>,
    ) -> Result<(), ClusterError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.timestamp.is_none() {
            return Err(ClusterError::NoTimestamp);
        }
        let data = raw.get(body.clone()).unwrap_or(&[]);
        let whole = reusable && body.start == header_len && body.end == raw.len();
        if let ([piece], true, false) = (self.pieces.as_slice(), whole, self.dirty) {
            let ts = &self.timestamp_element;
            let ts = body.start + ts.start..body.start + ts.end;
            out.push(finish_segment(
                raw.clone(),
                header_len,
                ts,
                piece,
                &self.kept,
                ctx,
            ));
            return Ok(());
        }
        let first = self.announced.saturating_sub(1);
        out.extend((first..self.pieces.len()).filter_map(|n| self.build(n, data, ctx)));
        Ok(())
    }
}

/// The split rule for block `b`, the `index`th kept child, in the served
/// cluster `current` of a Cluster at `timestamp`. It sees only what came
/// before, so a live splitter can apply it as each block arrives:
///
/// - a video keyframe that is not the first video block of `current`
///   (`keyframe_split`) starts a served cluster at its own timestamp, so
///   that it is a join point, unless that timestamp would not fit a u64
///   (before 0 or past 2^64 - 1);
/// - otherwise a block whose timestamp relative to `current` does not fit
///   the 16-bit field starts one at its own timestamp (not a join point
///   unless it is a video keyframe), or, where that would not fit a u64,
///   at the Cluster's own Timestamp, where every block of it fits.
fn split_at(
    b: &BlockInfo,
    index: usize,
    keyframe_split: bool,
    timestamp: u64,
    current: &Piece,
) -> Option<Piece> {
    let own = timestamp
        .checked_add_signed(b.relative)
        .map(|timestamp| Piece {
            first: index,
            rebase: b.relative,
            timestamp,
        });
    if keyframe_split && own.is_some() {
        return own;
    }
    if i16::try_from(b.relative - current.rebase).is_ok() {
        return None;
    }
    Some(own.unwrap_or(Piece {
        first: index,
        rebase: 0,
        timestamp,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(out: &mut Vec<u8>, id: u32, body: &[u8]) {
        ebml::write_id(out, id);
        ebml::write_size(out, body.len() as u64);
        out.extend_from_slice(body);
    }

    /// A SimpleBlock on track 1: relative timestamp, flags, 3 payload bytes.
    fn simple_block(out: &mut Vec<u8>, relative: i16, keyframe: bool) {
        let mut b = vec![0x81];
        b.extend_from_slice(&relative.to_be_bytes());
        b.push(if keyframe { 0x80 } else { 0 });
        b.extend_from_slice(b"abc");
        element(out, ids::SIMPLE_BLOCK, &b);
    }

    fn ctx() -> TrackContext {
        TrackContext {
            timestamp_scale: 1_000_000,
            video_track: Some(1),
            default_durations: HashMap::new(),
        }
    }

    /// Wraps `body` in a known-size Cluster and segments it as read whole.
    fn segment(body: &[u8]) -> (Bytes, Vec<LiveCluster>) {
        let mut raw = Vec::new();
        ebml::write_id(&mut raw, ids::CLUSTER);
        ebml::write_size(&mut raw, body.len() as u64);
        let header_len = raw.len();
        raw.extend_from_slice(body);
        let raw = Bytes::from(raw);
        let mut out = Vec::new();
        let whole = header_len..raw.len();
        split_cluster(&raw, header_len, whole, true, &ctx(), &mut out).unwrap();
        (raw, out)
    }

    fn child_ids(seg: &LiveCluster) -> Vec<u32> {
        let h = ebml::read_element_header(&seg.bytes).unwrap().unwrap();
        ebml::children(&seg.bytes[h.header_len..])
            .map(|c| c.unwrap().header.id)
            .collect()
    }

    #[test]
    fn a_clean_cluster_is_served_without_a_copy() {
        let mut body = Vec::new();
        ebml::write_uint_element(&mut body, ids::TIMESTAMP, 1000);
        simple_block(&mut body, 0, true);
        simple_block(&mut body, 33, false);
        let (raw, out) = segment(&body);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].bytes.as_ptr(), raw.as_ptr(), "shared, not copied");
        assert_eq!(out[0].timestamp, Ticks(1000));
        assert!(out[0].keyframe);
    }

    /// Found by fuzzing: a block before the Timestamp was served as stored,
    /// so the served Cluster did not start with its Timestamp.
    #[test]
    fn timestamp_after_a_block_is_moved_first() {
        let mut body = Vec::new();
        simple_block(&mut body, 0, true);
        ebml::write_uint_element(&mut body, ids::TIMESTAMP, 1000);
        simple_block(&mut body, 33, false);
        let (raw, out) = segment(&body);
        assert_eq!(out.len(), 1);
        let seg = &out[0];
        assert_eq!(
            child_ids(seg),
            [ids::TIMESTAMP, ids::SIMPLE_BLOCK, ids::SIMPLE_BLOCK]
        );
        assert_eq!(seg.timestamp, Ticks(1000));
        assert!(seg.keyframe);
        assert_eq!(seg.duration.0, 33_000_000);
        // Both blocks kept their bytes and relative timestamps.
        assert_eq!(seg.len(), raw.len());
        // The Timestamp range is right: a rewrite keeps it first.
        let moved = seg.with_timestamp(Ticks(5000), 1_000_000);
        assert_eq!(
            child_ids(&moved),
            [ids::TIMESTAMP, ids::SIMPLE_BLOCK, ids::SIMPLE_BLOCK]
        );
        assert_eq!(moved.start.0, 5_000_000_000);
    }

    /// Relative timestamps of the blocks of a served cluster.
    fn relatives(seg: &LiveCluster) -> Vec<i16> {
        let h = ebml::read_element_header(&seg.bytes).unwrap().unwrap();
        ebml::children(&seg.bytes[h.header_len..])
            .map(|c| c.unwrap())
            .filter(|c| c.header.id == ids::SIMPLE_BLOCK)
            .map(|c| {
                crate::matroska::block::read_block_header(c.data)
                    .unwrap()
                    .relative_timestamp
            })
            .collect()
    }

    /// Bug: a cluster Timestamp of 2^63 or more went through `as i64` when
    /// the cluster was split, came out negative and was clamped to 0.
    #[test]
    fn a_timestamp_past_i64_keeps_its_value_when_split() {
        let base = 1u64 << 63;
        let mut body = Vec::new();
        ebml::write_uint_element(&mut body, ids::TIMESTAMP, base);
        simple_block(&mut body, 0, true);
        simple_block(&mut body, 33, false);
        simple_block(&mut body, 500, true);
        simple_block(&mut body, 533, false);
        let (_, out) = segment(&body);
        let got: Vec<(Ticks, bool, Vec<i16>)> = out
            .iter()
            .map(|s| (s.timestamp, s.keyframe, relatives(s)))
            .collect();
        assert_eq!(
            got,
            [
                (Ticks(base), true, vec![0, 33]),
                (Ticks(base + 500), true, vec![0, 33]),
            ]
        );
        for s in &out {
            assert_eq!(child_ids(s)[0], ids::TIMESTAMP);
        }
    }

    /// Where the rebased Timestamp would not fit a u64 (past its end, or
    /// before 0), the split is not made, as where a block's relative
    /// timestamp would not fit: the cluster is served whole, unchanged.
    #[test]
    fn a_split_whose_timestamp_would_not_fit_is_not_made() {
        for (timestamp, keyframe_at) in [(u64::MAX - 100, 500i16), (10, -20)] {
            let mut body = Vec::new();
            ebml::write_uint_element(&mut body, ids::TIMESTAMP, timestamp);
            simple_block(&mut body, 0, true);
            simple_block(&mut body, keyframe_at, true);
            simple_block(&mut body, keyframe_at + 33, false);
            let (raw, out) = segment(&body);
            assert_eq!(out.len(), 1, "timestamp {timestamp}");
            assert_eq!(out[0].bytes, raw, "served as stored");
            assert_eq!(out[0].timestamp, Ticks(timestamp));
            assert_eq!(relatives(&out[0]), [0, keyframe_at, keyframe_at + 33]);
        }
    }

    /// The rule needs no lookahead: past a keyframe split, a block whose
    /// relative timestamp no longer fits 16 bits starts a served cluster at
    /// its own timestamp, or at the Cluster's where that would not fit a
    /// u64 (the rule before #11 skipped the keyframe split instead).
    #[test]
    fn a_block_that_no_longer_fits_starts_a_new_cluster() {
        let audio = |out: &mut Vec<u8>, relative: i16| {
            let mut b = vec![0x82];
            b.extend_from_slice(&relative.to_be_bytes());
            b.extend_from_slice(&[0, b'x']);
            element(out, ids::SIMPLE_BLOCK, &b);
        };
        // (Timestamp, keyframe, relative timestamps) of each served cluster.
        type Served = Vec<(u64, bool, Vec<i16>)>;
        let cases: [(u64, i16, i16, Served); 2] = [
            // -20000 is -40000 from the keyframe at 20000: at its own
            // 10000; then 20040 is 40040 from there: at its own 50040.
            (
                30_000,
                20_000,
                -20_000,
                vec![
                    (30_000, true, vec![0]),
                    (50_000, true, vec![0]),
                    (10_000, false, vec![0]),
                    (50_040, false, vec![0]),
                ],
            ),
            // 10 - 5000 is before 0: at the Cluster's own 10, where the
            // last block fits too.
            (
                10,
                30_000,
                -5_000,
                vec![
                    (10, true, vec![0]),
                    (30_010, true, vec![0]),
                    (10, false, vec![-5_000, 30_040]),
                ],
            ),
        ];
        for (timestamp, key, late, want) in cases {
            let mut body = Vec::new();
            ebml::write_uint_element(&mut body, ids::TIMESTAMP, timestamp);
            simple_block(&mut body, 0, true);
            simple_block(&mut body, key, true);
            audio(&mut body, late);
            simple_block(&mut body, key + 40, false);
            let (_, out) = segment(&body);
            let got: Served = out
                .iter()
                .map(|s| (s.timestamp.0, s.keyframe, relatives(s)))
                .collect();
            assert_eq!(got, want, "Cluster at {timestamp}");
        }
    }
}
