//! One child of a served cluster handed out as soon as it is read
//! ([`LiveBlock`]), so that a live viewer gets each frame without waiting
//! for the rest of its cluster.

use bytes::Bytes;

use crate::time::Ticks;

/// One child of a served cluster, as it goes on the wire after that
/// cluster's Timestamp.
///
/// A viewer sent `[Cluster ID, unknown size, Timestamp, LiveBlock bytes…]`
/// decodes the same frames as one sent the complete cluster, because the
/// complete cluster holds exactly these bytes after its Timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveBlock {
    /// The child element as it goes on the wire inside the served cluster:
    /// a SimpleBlock or BlockGroup (relative timestamp already rebased onto
    /// the served cluster's Timestamp), or another kept child copied as is.
    pub bytes: Bytes,
    /// Track number; `None` for a kept child that is not a readable block.
    pub track: Option<u64>,
    /// Absolute timestamp (served cluster Timestamp + relative); for a
    /// non-block child, the cluster's Timestamp. A block placed before 0 or
    /// past the end of a u64 (legal Matroska, absurd media) is clamped
    /// there, so that the field stays a plain tick count.
    pub timestamp: Ticks,
    /// SimpleBlock keyframe flag, or a BlockGroup without ReferenceBlock.
    pub keyframe: bool,
    /// Whether `track` is the stream's video track.
    pub video: bool,
}
