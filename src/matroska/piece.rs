//! Writing what the split decided: a served cluster (one piece of an input
//! Cluster) and each of its children as a [`LiveBlock`], with one writer for
//! a child's bytes so that the two can never differ.

use std::ops::Range;

use bytes::{Bytes, BytesMut};

use super::block::Kept;
use super::cluster::LiveCluster;
use super::ids;
use super::live::LiveBlock;
use super::split::TrackContext;
use crate::ebml;
use crate::time::{Nanos, Ticks};

/// One served cluster: the kept children from `first` on, rebased onto the
/// block at relative time `rebase`, under Timestamp `timestamp`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Piece {
    pub first: usize,
    pub rebase: i64,
    pub timestamp: u64,
}

/// Appends a kept child of the cluster body `data` as it goes inside its
/// served cluster: copied, its relative timestamp shifted by `-rebase`.
fn write_child(out: &mut BytesMut, data: &[u8], k: &Kept, rebase: i64) {
    let span = k.span();
    let start = out.len();
    out.extend_from_slice(data.get(span.clone()).unwrap_or(&[]));
    let Kept::Block(b) = k else { return };
    if rebase == 0 {
        return;
    }
    // The split rule puts a block in a piece only where this fits.
    let rel = i16::try_from(b.relative - rebase)
        .unwrap_or(0)
        .to_be_bytes();
    let at = start + (b.timestamp_at - span.start);
    if let Some(dst) = out.get_mut(at..at + 2) {
        dst.copy_from_slice(&rel);
    }
}

/// The child `k` of the cluster body `data`, handed out on its own as the
/// served cluster `piece` will hold it.
pub(super) fn live_block(data: &[u8], k: &Kept, piece: &Piece, ctx: &TrackContext) -> LiveBlock {
    let mut bytes = BytesMut::with_capacity(k.span().len());
    write_child(&mut bytes, data, k, piece.rebase);
    let bytes = bytes.freeze();
    match k {
        Kept::Block(b) => LiveBlock {
            bytes,
            track: Some(b.track),
            timestamp: Ticks(
                piece
                    .timestamp
                    .saturating_add_signed(b.relative - piece.rebase),
            ),
            keyframe: b.keyframe,
            video: Some(b.track) == ctx.video_track,
        },
        Kept::Other(_) => LiveBlock {
            bytes,
            track: None,
            timestamp: Ticks(piece.timestamp),
            keyframe: false,
            video: false,
        },
    }
}

/// Writes a new Cluster: ID, size, Timestamp, then the kept children with
/// their relative timestamps shifted by `-rebase`.
pub(super) fn build_piece(
    data: &[u8],
    kept: &[Kept],
    piece: &Piece,
    ctx: &TrackContext,
) -> LiveCluster {
    let mut ts = Vec::with_capacity(10);
    ebml::write_uint_element(&mut ts, ids::TIMESTAMP, piece.timestamp);
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
        write_child(&mut out, data, k, piece.rebase);
    }
    let ts_range = header_len..header_len + ts.len();
    finish_segment(out.freeze(), header_len, ts_range, piece, kept, ctx)
}

/// The LiveCluster of `bytes`, holding `kept` as served in `piece`.
pub(super) fn finish_segment(
    bytes: Bytes,
    header_len: usize,
    timestamp_element: Range<usize>,
    piece: &Piece,
    kept: &[Kept],
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
        let start = i128::from(b.relative - piece.rebase) * i128::from(scale);
        end_ns = end_ns.max(start + i128::from(b.duration_ns.unwrap_or(0)));
    }
    let timestamp = Ticks(piece.timestamp);
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
