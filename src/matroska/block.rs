//! Block header scan: the track, relative timestamp and keyframe flag of a
//! SimpleBlock or BlockGroup, read from its first bytes only.

use std::ops::Range;

use super::ids;
use crate::ebml;

/// The header of a SimpleBlock or Block: track, relative timestamp, flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHeader {
    /// Track number of the block.
    pub track: u64,
    /// Timestamp relative to the Cluster's, in ticks.
    pub relative_timestamp: i16,
    /// The flags byte (keyframe, lacing, ...).
    pub flags: u8,
    /// Offset of the 16-bit timestamp within the block's data.
    pub timestamp_offset: usize,
}

/// Reads the block header at the start of a (Simple)Block's data; `None`
/// when the data is too short or the track number is invalid.
pub fn read_block_header(data: &[u8]) -> Option<BlockHeader> {
    let (track, len) = ebml::read_size(data).ok()??;
    let &[hi, lo, flags] = data.get(len..len.checked_add(3)?)? else {
        return None;
    };
    Some(BlockHeader {
        track: track?,
        relative_timestamp: i16::from_be_bytes([hi, lo]),
        flags,
        timestamp_offset: len,
    })
}

/// One block child of a cluster, as the scan found it.
#[derive(Debug, Clone)]
pub(super) struct BlockInfo {
    /// The child's span within the cluster's body.
    pub span: Range<usize>,
    /// Offset of the block's 16-bit relative timestamp within the body.
    pub timestamp_at: usize,
    pub track: u64,
    pub relative: i64,
    pub keyframe: bool,
    pub duration_ns: Option<u64>,
}

/// A child that is kept in the output.
#[derive(Debug, Clone)]
pub(super) enum Kept {
    Block(BlockInfo),
    /// SilentTracks, EncryptedBlock or an unreadable block: copied as is.
    Other(Range<usize>),
}

impl Kept {
    pub fn span(&self) -> &Range<usize> {
        match self {
            Kept::Block(b) => &b.span,
            Kept::Other(r) => r,
        }
    }
}

/// Reads a SimpleBlock (or the Block of a BlockGroup) whose data starts at
/// `data_offset` in the cluster body.
pub(super) fn scan_block(
    span: Range<usize>,
    data_offset: usize,
    block_data: &[u8],
) -> Option<BlockInfo> {
    let h = read_block_header(block_data)?;
    Some(BlockInfo {
        span,
        timestamp_at: data_offset.checked_add(h.timestamp_offset)?,
        track: h.track,
        relative: i64::from(h.relative_timestamp),
        keyframe: h.flags & 0x80 != 0,
        duration_ns: None,
    })
}

/// Reads a BlockGroup: its Block header, BlockDuration, and whether it
/// references other frames (no ReferenceBlock means keyframe).
pub(super) fn scan_block_group(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_header_fields_and_short_input() {
        // Track 2 (1-byte vint), relative -2, keyframe flag.
        let h = read_block_header(&[0x82, 0xFF, 0xFE, 0x80, 1, 2]).unwrap();
        assert_eq!(
            h,
            BlockHeader {
                track: 2,
                relative_timestamp: -2,
                flags: 0x80,
                timestamp_offset: 1
            }
        );
        // Track 300 takes a 2-byte vint.
        let h = read_block_header(&[0x41, 0x2C, 0x00, 0x21, 0x00]).unwrap();
        assert_eq!(
            (h.track, h.relative_timestamp, h.timestamp_offset),
            (300, 33, 2)
        );
        assert_eq!(
            read_block_header(&[0x81, 0x00, 0x00]),
            None,
            "no flags byte"
        );
        assert_eq!(read_block_header(&[0x00, 0, 0, 0]), None, "bad vint");
        assert_eq!(
            read_block_header(&[0xFF, 0, 0, 0]),
            None,
            "unknown-size track"
        );
    }
}
