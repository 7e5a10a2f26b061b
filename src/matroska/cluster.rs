//! Cluster scan and rewrite: find each block's track, timestamp and keyframe
//! flag, split a Cluster at every video keyframe that is not its first video
//! block, and drop children whose stored values would be wrong live.
//!
//! Only element headers and the first bytes of each block are read; payloads
//! are copied at most once, and not at all when a Cluster needs no change.

use std::collections::HashMap;
use std::ops::Range;

use bytes::{Bytes, BytesMut};

use super::ids;
use crate::ebml;
use crate::time::{Nanos, Ticks};

/// One Cluster as served: a self-contained element with a known size whose
/// first child is its Timestamp.
#[derive(Clone, PartialEq, Eq)]
pub struct LiveCluster {
    /// The whole Cluster element, stored once and shared by every client.
    pub bytes: Bytes,
    /// Cluster Timestamp.
    pub timestamp: Ticks,
    /// Cluster Timestamp in nanoseconds.
    pub start: Nanos,
    /// From the cluster's timestamp to the end of its last frame (frames
    /// without a known duration count from their start).
    pub duration: Nanos,
    /// The first block of the video track is a keyframe (always true for a
    /// stream without video): a client may start here.
    pub keyframe: bool,
    /// Whether the cluster has any block of the video track.
    pub has_video: bool,
    /// Where the Timestamp element sits in `bytes`, for cheap rewrites.
    timestamp_element: Range<usize>,
    /// Length of the Cluster's ID and size.
    header_len: usize,
}

impl std::fmt::Debug for LiveCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("len", &self.bytes.len())
            .field("timestamp", &self.timestamp)
            .field("duration", &self.duration)
            .field("keyframe", &self.keyframe)
            .field("has_video", &self.has_video)
            .finish()
    }
}

impl LiveCluster {
    /// Byte length of the Cluster.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// End of the cluster's media in nanoseconds.
    pub fn end(&self) -> Nanos {
        self.start.saturating_add(self.duration)
    }

    /// The same Cluster with another Timestamp (in ticks), for continuous
    /// timestamps across loops and encoder restarts. Block timestamps are
    /// relative to it, so nothing else changes.
    pub fn with_timestamp(&self, timestamp: Ticks, timestamp_scale: u64) -> LiveCluster {
        let mut ts = Vec::with_capacity(10);
        ebml::write_uint_element(&mut ts, ids::TIMESTAMP, timestamp.0);
        let before = self
            .bytes
            .get(self.header_len..self.timestamp_element.start)
            .unwrap_or(&[]);
        let after = self.bytes.get(self.timestamp_element.end..).unwrap_or(&[]);
        let body_len = before.len() + ts.len() + after.len();
        let mut out = Vec::with_capacity(body_len + 12);
        ebml::write_id(&mut out, ids::CLUSTER);
        ebml::write_size(&mut out, body_len as u64);
        let header_len = out.len();
        out.extend_from_slice(before);
        let ts_start = out.len();
        out.extend_from_slice(&ts);
        let ts_end = out.len();
        out.extend_from_slice(after);
        LiveCluster {
            bytes: Bytes::from(out),
            timestamp,
            start: timestamp.to_nanos(timestamp_scale),
            duration: self.duration,
            keyframe: self.keyframe,
            has_video: self.has_video,
            timestamp_element: ts_start..ts_end,
            header_len,
        }
    }
}

/// What the stream's tracks say about reading its clusters.
#[derive(Debug, Clone, Default)]
pub struct TrackContext {
    pub timestamp_scale: u64,
    pub video_track: Option<u64>,
    /// DefaultDuration per track number, in nanoseconds.
    pub default_durations: HashMap<u64, u64>,
}

/// Why a Cluster could not be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterError {
    /// No Timestamp child: its blocks cannot be placed in time.
    NoTimestamp,
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

/// The header of a SimpleBlock or Block: track, relative timestamp, flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHeader {
    pub track: u64,
    pub relative_timestamp: i16,
    pub flags: u8,
    /// Offset of the 16-bit timestamp within the block's data.
    pub timestamp_offset: usize,
}

/// Reads the block header at the start of a (Simple)Block's data; `None`
/// when the data is too short or the track number is invalid.
pub fn read_block_header(data: &[u8]) -> Option<BlockHeader> {
    let (track, len) = ebml::read_size(data).ok()??;
    let ts = data.get(len..len + 2)?;
    let flags = *data.get(len + 2)?;
    Some(BlockHeader {
        track: track?,
        relative_timestamp: i16::from_be_bytes([ts[0], ts[1]]),
        flags,
        timestamp_offset: len,
    })
}

/// One block child of a cluster, as the scan found it.
#[derive(Debug, Clone)]
struct BlockInfo {
    /// The child's span within the cluster's body.
    span: Range<usize>,
    /// Offset of the block's 16-bit relative timestamp within the body.
    timestamp_at: usize,
    track: u64,
    relative: i64,
    keyframe: bool,
    duration_ns: Option<u64>,
}

/// A child that is kept in the output.
#[derive(Debug, Clone)]
enum Kept {
    Block(BlockInfo),
    /// SilentTracks, EncryptedBlock or an unreadable block: copied as is.
    Other(Range<usize>),
}

impl Kept {
    fn span(&self) -> &Range<usize> {
        match self {
            Kept::Block(b) => &b.span,
            Kept::Other(r) => r,
        }
    }
}

fn scan_block(span: Range<usize>, data_offset: usize, block_data: &[u8]) -> Option<BlockInfo> {
    let h = read_block_header(block_data)?;
    Some(BlockInfo {
        span,
        timestamp_at: data_offset + h.timestamp_offset,
        track: h.track,
        relative: i64::from(h.relative_timestamp),
        keyframe: h.flags & 0x80 != 0,
        duration_ns: None,
    })
}

/// Reads a BlockGroup: its Block header, BlockDuration, and whether it
/// references other frames (no ReferenceBlock means keyframe).
fn scan_block_group(
    span: Range<usize>,
    data_offset: usize,
    data: &[u8],
    scale: u64,
) -> Option<BlockInfo> {
    let mut block = None;
    let mut has_reference = false;
    let mut duration = None;
    for c in ebml::children(data) {
        let c = c.ok()?;
        let at = data_offset + c.offset + c.header.header_len;
        match c.header.id {
            ids::BLOCK => block = scan_block(span.clone(), at, c.data),
            ids::REFERENCE_BLOCK => has_reference = true,
            ids::BLOCK_DURATION => duration = ebml::read_uint(c.data).ok(),
            _ => {}
        }
    }
    let mut block = block?;
    block.keyframe = !has_reference;
    block.duration_ns = duration.map(|d| d.saturating_mul(scale));
    Some(block)
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
    let scale = ctx.timestamp_scale.max(1);
    let mut timestamp = None;
    let mut timestamp_element = 0..0;
    let mut dirty = !reusable || body.start != header_len || body.end != raw.len();
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
    let timestamp = timestamp.ok_or(ClusterError::NoTimestamp)?;
    for k in &mut kept {
        if let Kept::Block(b) = k {
            if b.duration_ns.is_none() {
                b.duration_ns = ctx.default_durations.get(&b.track).copied();
            }
        }
    }

    // Every video keyframe after the first video block starts a new cluster,
    // so that it is a join point. A split is skipped where a block's
    // timestamp would not fit the 16-bit relative field after rebasing.
    let mut pieces: Vec<(usize, i64)> = vec![(0, 0)];
    let mut seen_video = false;
    for (i, k) in kept.iter().enumerate() {
        let Kept::Block(b) = k else { continue };
        if Some(b.track) != ctx.video_track {
            continue;
        }
        if seen_video && b.keyframe && fits_after_rebase(&kept[i..], b.relative) {
            pieces.push((i, b.relative));
        }
        seen_video = true;
    }

    if !dirty && pieces.len() == 1 {
        out.push(finish_segment(
            raw.clone(),
            header_len,
            body.start + timestamp_element.start..body.start + timestamp_element.end,
            timestamp,
            &kept,
            0,
            ctx,
        ));
        return Ok(());
    }
    for (n, &(first, rebase)) in pieces.iter().enumerate() {
        let last = pieces.get(n + 1).map_or(kept.len(), |p| p.0);
        let slice = kept.get(first..last).unwrap_or(&[]);
        let new_ts = (timestamp as i64).saturating_add(rebase).max(0) as u64;
        out.push(build_piece(data, slice, new_ts, rebase, ctx));
    }
    Ok(())
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
}
