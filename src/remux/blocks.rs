//! The blocks of a served cluster as frames: each (Simple)Block's track,
//! timestamp, keyframe flag and BlockDuration, and its laced frames as
//! `Bytes` slices of the cluster (no copy).
//!
//! The segmenter's own scan (`matroska::block`) reads only block headers;
//! the remux also needs frame boundaries, so lacing is read here.

use std::ops::Range;

use bytes::Bytes;

use crate::ebml;
use crate::matroska::cluster::{read_block_header, LiveCluster};
use crate::matroska::ids;

/// One block of a cluster with its frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Block {
    pub track: u64,
    /// Cluster Timestamp plus the block's relative one, in ticks (0 for a
    /// block that would start before 0).
    pub ticks: u64,
    /// A SimpleBlock with the keyframe flag, or a BlockGroup without a
    /// ReferenceBlock.
    pub keyframe: bool,
    /// BlockDuration, in ticks, for a BlockGroup that has one.
    pub duration: Option<u64>,
    /// The frames, in order: one unless laced.
    pub frames: Vec<Bytes>,
}

/// Every readable block of `cluster`, in stored order. Unreadable blocks
/// (bad lacing, short data) are left out; a malformed child ends the walk.
pub(crate) fn cluster_blocks(cluster: &LiveCluster, out: &mut Vec<Block>) {
    let bytes = &cluster.bytes;
    let Ok(Some(head)) = ebml::read_element_header(bytes) else {
        return;
    };
    let body = bytes.get(head.header_len..).unwrap_or(&[]);
    for child in ebml::children(body) {
        let Ok(child) = child else { return };
        let at = head.header_len + child.offset + child.header.header_len;
        let block = match child.header.id {
            ids::SIMPLE_BLOCK => read_block(bytes, at..at + child.data.len(), None, None),
            ids::BLOCK_GROUP => block_group(bytes, at, child.data),
            _ => None,
        };
        if let Some(mut b) = block {
            let ts = i128::from(cluster.timestamp.0) + i128::from(b.ticks as i16);
            b.ticks = u64::try_from(ts).unwrap_or(0);
            out.push(b);
        }
    }
}

/// A BlockGroup whose data starts at `at` in `bytes`: its Block, whether it
/// has a ReferenceBlock, and its BlockDuration.
fn block_group(bytes: &Bytes, at: usize, data: &[u8]) -> Option<Block> {
    let mut block = None;
    let mut referenced = false;
    let mut duration = None;
    for child in ebml::children(data) {
        let child = child.ok()?;
        let start = at + child.offset + child.header.header_len;
        match child.header.id {
            ids::BLOCK => block = Some(start..start + child.data.len()),
            ids::REFERENCE_BLOCK => referenced = true,
            ids::BLOCK_DURATION => duration = ebml::read_uint(child.data).ok(),
            _ => {}
        }
    }
    read_block(bytes, block?, Some(!referenced), duration)
}

/// A (Simple)Block's data at `span` of `bytes`. `ticks` holds the raw
/// relative timestamp (as `u16` bits) until the caller adds the cluster's.
fn read_block(
    bytes: &Bytes,
    span: Range<usize>,
    keyframe: Option<bool>,
    duration: Option<u64>,
) -> Option<Block> {
    let data = bytes.get(span.clone())?;
    let h = read_block_header(data)?;
    let payload = span.start + h.timestamp_offset + 3;
    let frames = lace_ranges(h.flags, bytes.get(payload..span.end)?)?
        .into_iter()
        .map(|r| bytes.slice(payload + r.start..payload + r.end))
        .collect();
    Some(Block {
        track: h.track,
        ticks: u64::from(h.relative_timestamp as u16),
        keyframe: keyframe.unwrap_or(h.flags & 0x80 != 0),
        duration,
        frames,
    })
}

/// The frames of a block payload (after its flags byte), as ranges of it:
/// Matroska lacing is none, Xiph, fixed-size or EBML (flag bits 0x06).
pub(crate) fn lace_ranges(flags: u8, data: &[u8]) -> Option<Vec<Range<usize>>> {
    let lacing = (flags >> 1) & 3;
    if lacing == 0 {
        return Some(std::iter::once(0..data.len()).collect());
    }
    let (&count, rest) = data.split_first()?;
    let frames = usize::from(count) + 1;
    let (mut sizes, mut at) = match lacing {
        1 => xiph_sizes(rest, frames - 1)?,
        3 => ebml_sizes(rest, frames - 1)?,
        _ => {
            let each = rest.len() / frames;
            (rest.len() % frames == 0).then_some(())?;
            (vec![each; frames - 1], 0)
        }
    };
    at += 1;
    let used: usize = sizes.iter().try_fold(at, |a, &s| a.checked_add(s))?;
    sizes.push(data.len().checked_sub(used)?);
    let mut out = Vec::with_capacity(frames);
    for s in sizes {
        out.push(at..at + s);
        at += s;
    }
    Some(out)
}

/// Xiph lacing: each of the first `n` sizes is a run of 255s and a last
/// byte below 255, summed. Returns the sizes and the bytes they took.
fn xiph_sizes(data: &[u8], n: usize) -> Option<(Vec<usize>, usize)> {
    let mut sizes = Vec::with_capacity(n);
    let mut at = 0;
    for _ in 0..n {
        let mut size = 0usize;
        loop {
            let b = *data.get(at)?;
            at += 1;
            size = size.checked_add(usize::from(b))?;
            if b != 255 {
                break;
            }
        }
        sizes.push(size);
    }
    Some((sizes, at))
}

/// EBML lacing: the first size a vint, each next one a signed vint
/// difference from the one before.
fn ebml_sizes(data: &[u8], n: usize) -> Option<(Vec<usize>, usize)> {
    let mut sizes: Vec<usize> = Vec::with_capacity(n);
    let mut at = 0;
    for i in 0..n {
        let rest = data.get(at..)?;
        let len = ebml::vint_len(*rest.first()?).ok()?;
        let raw = i64::try_from(vint_value(rest.get(..len)?)).ok()?;
        at += len;
        let size = match sizes.last() {
            Some(&prev) if i > 0 => {
                // Signed: subtract the bias 2^(7·len − 1) − 1.
                let bias = (1i64 << (7 * len - 1)) - 1;
                i64::try_from(prev).ok()?.checked_add(raw - bias)?
            }
            _ => raw,
        };
        sizes.push(usize::try_from(size).ok()?);
    }
    Some((sizes, at))
}

/// A vint's value with its length marker removed.
fn vint_value(bytes: &[u8]) -> u64 {
    let len = bytes.len();
    let mut v = 0u64;
    for (i, &b) in bytes.iter().enumerate() {
        let b = if i == 0 && len < 8 {
            b & (0xFF >> len)
        } else if i == 0 {
            0
        } else {
            b
        };
        v = (v << 8) | u64::from(b);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lacing_kinds_split_frames() {
        let lens = |flags, data: &[u8]| {
            lace_ranges(flags, data).map(|v| v.iter().map(|r| r.len()).collect::<Vec<_>>())
        };
        // No lacing: one frame of everything.
        assert_eq!(lens(0x80, &[1, 2, 3]), Some(vec![3]));
        // Xiph: 3 frames, sizes 256 (255+1) and 2, the last the rest (1).
        let mut xiph = vec![2, 255, 1, 2];
        xiph.extend([0u8; 259]);
        assert_eq!(lens(0x02, &xiph), Some(vec![256, 2, 1]));
        // Fixed: 2 frames of 3.
        assert_eq!(lens(0x04, &[1, 0, 0, 0, 0, 0, 0]), Some(vec![3, 3]));
        assert_eq!(lens(0x04, &[1, 0, 0, 0]), None, "not divisible");
        // EBML: first 4 (0x84), then +1 (0xC0 = 64 − 63), last the rest 2.
        let mut ebml = vec![2, 0x84, 0xC0];
        ebml.extend([0u8; 11]);
        assert_eq!(lens(0x06, &ebml), Some(vec![4, 5, 2]));
        assert_eq!(lens(0x06, &[1, 0x90, 0]), None, "sizes past the data");
    }
}
