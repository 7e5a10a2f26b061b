//! A Cluster as served live ([`LiveCluster`]): self-contained, a known
//! size, its Timestamp first. The scan that makes one lives in `split` and
//! `block`; their items are re-exported here for the crate.

use std::ops::Range;

use bytes::Bytes;

use super::ids;
use crate::ebml;
use crate::time::{Nanos, Ticks};

pub(crate) use super::block::read_block_header;
pub(crate) use super::split::TrackContext;

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
    pub(super) timestamp_element: Range<usize>,
    /// Length of the Cluster's ID and size.
    pub(super) header_len: usize,
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

    /// Whether [`len`](Self::len) is 0 (never, for a cluster the segmenter
    /// made).
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
