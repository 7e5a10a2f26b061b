//! Keyframe split: cut a Cluster at every video keyframe that is not its
//! first video block, and drop children whose stored values would be wrong
//! live (Position, PrevSize, CRC-32, Void).
//!
//! Only element headers and the first bytes of each block are read; payloads
//! are copied at most once, and not at all when a Cluster needs no change.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::ops::Range;

use bytes::{Bytes, BytesMut};

use super::block::{apply_default_durations, scan_block, scan_block_group, Kept};
use super::cluster::LiveCluster;
use super::ids;
use crate::ebml;
use crate::time::{Nanos, Ticks};

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

/// What the scan of a cluster body found.
struct Scanned {
    timestamp: u64,
    /// The first Timestamp child's span within the body.
    timestamp_element: Range<usize>,
    kept: Vec<Kept>,
    /// A child is dropped or moved: the stored bytes cannot be served as is.
    dirty: bool,
}

/// One output cluster: the kept children from `first` on, rebased onto the
/// block at relative time `rebase`, under Timestamp `timestamp`.
#[derive(Debug, Clone, Copy)]
struct Piece {
    first: usize,
    rebase: i64,
    timestamp: u64,
}

/// Splits and cleans one complete Cluster.
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
    let mut scan = scan_children(data, ctx.timestamp_scale.max(1))?;
    apply_default_durations(&mut scan.kept, &ctx.default_durations);
    let pieces = split_points(&scan.kept, ctx, scan.timestamp);
    let whole = reusable && body.start == header_len && body.end == raw.len();
    if whole && !scan.dirty && pieces.len() == 1 {
        let ts = &scan.timestamp_element;
        out.push(finish_segment(
            raw.clone(),
            header_len,
            body.start + ts.start..body.start + ts.end,
            scan.timestamp,
            &scan.kept,
            0,
            ctx,
        ));
        return Ok(());
    }
    for (n, p) in pieces.iter().enumerate() {
        let last = pieces.get(n + 1).map_or(scan.kept.len(), |next| next.first);
        let slice = scan.kept.get(p.first..last).unwrap_or(&[]);
        out.push(build_piece(data, slice, p.timestamp, p.rebase, ctx));
    }
    Ok(())
}

/// Reads the children of a cluster body: its Timestamp, and the blocks and
/// other children it keeps.
fn scan_children(data: &[u8], scale: u64) -> Result<Scanned, ClusterError> {
    let mut timestamp = None;
    let mut timestamp_element = 0..0;
    let mut dirty = false;
    let mut kept = Vec::new();
    for c in ebml::children(data) {
        let c = c.map_err(ClusterError::Malformed)?;
        let span = c.offset..c.end();
        let data_offset = c.offset + c.header.header_len;
        match c.header.id {
            ids::TIMESTAMP if timestamp.is_none() => {
                // Served clusters start with their Timestamp: a client
                // parsing as bytes arrive can place each block at once.
                dirty |= !kept.is_empty();
                timestamp = Some(
                    ebml::read_uint(c.data)
                        .map_err(|e| ClusterError::Malformed(ebml::ChildError::Ebml(e)))?,
                );
                timestamp_element = span;
            }
            ids::SIMPLE_BLOCK => kept.push(match scan_block(span.clone(), data_offset, c.data) {
                Some(b) => Kept::Block(b),
                None => Kept::Other(span),
            }),
            ids::BLOCK_GROUP => kept.push(
                match scan_block_group(span.clone(), data_offset, c.data, scale) {
                    Some(b) => Kept::Block(b),
                    None => Kept::Other(span),
                },
            ),
            ids::SILENT_TRACKS | ids::ENCRYPTED_BLOCK => kept.push(Kept::Other(span)),
            // Position, PrevSize, CRC-32, Void, a second Timestamp: stale
            // or meaningless in the live stream, dropped.
            _ => dirty = true,
        }
    }
    Ok(Scanned {
        timestamp: timestamp.ok_or(ClusterError::NoTimestamp)?,
        timestamp_element,
        kept,
        dirty,
    })
}

/// Every video keyframe after the first video block starts a new cluster,
/// so that it is a join point. A split is skipped where a block's timestamp
/// would not fit the 16-bit relative field after rebasing, or the new
/// cluster's Timestamp would not fit a u64 (before 0, or past 2^64 - 1):
/// the media stays whole and in place, only that join point is lost.
fn split_points(kept: &[Kept], ctx: &TrackContext, timestamp: u64) -> Vec<Piece> {
    let mut pieces = vec![Piece {
        first: 0,
        rebase: 0,
        timestamp,
    }];
    let mut seen_video = false;
    for (i, k) in kept.iter().enumerate() {
        let Kept::Block(b) = k else { continue };
        if Some(b.track) != ctx.video_track {
            continue;
        }
        let rest = kept.get(i..).unwrap_or(&[]);
        let rebased = timestamp.checked_add_signed(b.relative);
        if let Some(new_ts) = rebased.filter(|_| seen_video && b.keyframe) {
            if fits_after_rebase(rest, b.relative) {
                pieces.push(Piece {
                    first: i,
                    rebase: b.relative,
                    timestamp: new_ts,
                });
            }
        }
        seen_video = true;
    }
    pieces
}

/// Whether every block from a split point on keeps a relative timestamp in
/// i16 range when rebased onto the keyframe at `base`.
fn fits_after_rebase(rest: &[Kept], base: i64) -> bool {
    rest.iter().all(|k| match k {
        Kept::Block(b) => i16::try_from(b.relative - base).is_ok(),
        Kept::Other(_) => true,
    })
}

/// Writes a new Cluster: ID, size, Timestamp, then the kept children with
/// their relative timestamps shifted by `-rebase`.
fn build_piece(
    data: &[u8],
    kept: &[Kept],
    timestamp: u64,
    rebase: i64,
    ctx: &TrackContext,
) -> LiveCluster {
    let mut ts = Vec::with_capacity(10);
    ebml::write_uint_element(&mut ts, ids::TIMESTAMP, timestamp);
    let children_len: usize = kept.iter().map(|k| k.span().len()).sum();
    let body_len = ts.len() + children_len;
    let mut head = Vec::with_capacity(12);
    ebml::write_id(&mut head, ids::CLUSTER);
    ebml::write_size(&mut head, body_len as u64);
    let header_len = head.len();
    let mut out = BytesMut::with_capacity(header_len + body_len);
    out.extend_from_slice(&head);
    out.extend_from_slice(&ts);
    for k in kept {
        let span = k.span();
        let start = out.len();
        out.extend_from_slice(data.get(span.clone()).unwrap_or(&[]));
        if let Kept::Block(b) = k {
            if rebase != 0 {
                // fits_after_rebase checked the range before splitting here.
                let rel = i16::try_from(b.relative - rebase)
                    .unwrap_or(0)
                    .to_be_bytes();
                let at = start + (b.timestamp_at - span.start);
                if let Some(dst) = out.get_mut(at..at + 2) {
                    dst.copy_from_slice(&rel);
                }
            }
        }
    }
    let ts_range = header_len..header_len + ts.len();
    finish_segment(
        out.freeze(),
        header_len,
        ts_range,
        timestamp,
        kept,
        rebase,
        ctx,
    )
}

fn finish_segment(
    bytes: Bytes,
    header_len: usize,
    timestamp_element: Range<usize>,
    timestamp: u64,
    kept: &[Kept],
    rebase: i64,
    ctx: &TrackContext,
) -> LiveCluster {
    let scale = ctx.timestamp_scale.max(1);
    let mut keyframe = ctx.video_track.is_none();
    let mut has_video = false;
    let mut end_ns: i128 = 0;
    for k in kept {
        let Kept::Block(b) = k else { continue };
        if Some(b.track) == ctx.video_track && !has_video {
            has_video = true;
            keyframe = b.keyframe;
        }
        let start = i128::from(b.relative - rebase) * i128::from(scale);
        end_ns = end_ns.max(start + i128::from(b.duration_ns.unwrap_or(0)));
    }
    let timestamp = Ticks(timestamp);
    LiveCluster {
        bytes,
        timestamp,
        start: timestamp.to_nanos(scale),
        duration: Nanos(u64::try_from(end_ns).unwrap_or(0)),
        keyframe,
        has_video,
        timestamp_element,
        header_len,
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
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
}
