//! One block of a cluster still being received, as it is forwarded.

use bytes::Bytes;

use crate::time::Ticks;

/// A child of the open served cluster, as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveBlock {
    /// The element (SimpleBlock, BlockGroup or another kept child), its
    /// relative timestamp already based on the served cluster's Timestamp.
    pub bytes: Bytes,
    /// Track number; `None` for a kept child that is not a readable block.
    pub track: Option<u64>,
    /// Absolute timestamp (cluster Timestamp plus the relative one).
    pub timestamp: Ticks,
    /// A keyframe: SimpleBlock flag, or a BlockGroup without ReferenceBlock.
    pub keyframe: bool,
    /// Whether `track` is the stream's video track.
    pub video: bool,
}
