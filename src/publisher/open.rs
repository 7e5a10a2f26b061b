//! The cluster being received: forwarded to live viewers block by block
//! as an unknown-size Cluster, and kept (as shared `Bytes`) until it is
//! complete, so a joiner can be given what it has so far.

use bytes::Bytes;

use crate::ebml::{write_id, write_uint_element, UNKNOWN_SIZE_BYTES};
use crate::matroska::ids;
use crate::segmenter::LiveBlock;
use crate::time::{Nanos, Ticks};

/// One block of the open cluster with its media time.
#[derive(Debug, Clone)]
pub struct OpenBlock {
    pub bytes: Bytes,
    pub media: Nanos,
}

/// The served cluster being received.
#[derive(Debug)]
pub struct OpenCluster {
    /// Cluster ID, unknown size, Timestamp: how it starts on the wire.
    head: Bytes,
    start: Nanos,
    blocks: Vec<OpenBlock>,
    bytes: usize,
    /// Whether a viewer that needs a keyframe may start here: known at
    /// once without a video track, else at the first video block.
    join: Option<bool>,
    /// Media time of the newest block.
    latest: Nanos,
}

impl OpenCluster {
    /// A cluster whose Timestamp is `timestamp` (`start` in ns), in a
    /// stream that has a video track or not.
    pub fn new(timestamp: Ticks, start: Nanos, has_video: bool) -> Self {
        let mut head = Vec::with_capacity(24);
        write_id(&mut head, ids::CLUSTER);
        head.extend_from_slice(&UNKNOWN_SIZE_BYTES);
        write_uint_element(&mut head, ids::TIMESTAMP, timestamp.0);
        OpenCluster {
            bytes: head.len(),
            head: Bytes::from(head),
            start,
            blocks: Vec::new(),
            join: (!has_video).then_some(true),
            latest: start,
        }
    }

    /// Adds a block; `media` is its time in ns.
    pub fn push(&mut self, block: &LiveBlock, media: Nanos) {
        if block.video && self.join.is_none() {
            self.join = Some(block.keyframe);
        }
        self.bytes += block.bytes.len();
        self.latest = self.latest.max(media);
        self.blocks.push(OpenBlock {
            bytes: block.bytes.clone(),
            media,
        });
    }

    /// The unknown-size Cluster ID and its Timestamp element.
    pub fn head(&self) -> &Bytes {
        &self.head
    }

    /// The blocks received so far, in order.
    pub fn blocks(&self) -> &[OpenBlock] {
        &self.blocks
    }

    /// A viewer needing a keyframe can start here (`None`: not known yet).
    pub fn join(&self) -> Option<bool> {
        self.join
    }

    /// Whether any block came yet (nothing is forwarded before one).
    pub fn started(&self) -> bool {
        !self.blocks.is_empty()
    }

    pub fn start(&self) -> Nanos {
        self.start
    }

    /// Media time of the newest block (the live edge).
    pub fn latest(&self) -> Nanos {
        self.latest
    }

    /// Bytes forwarded so far, head included.
    pub fn len(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(video: bool, keyframe: bool) -> LiveBlock {
        LiveBlock {
            bytes: Bytes::from_static(b"\xA3\x84\x81\x00\x00\x80"),
            track: Some(1),
            timestamp: Ticks(0),
            keyframe,
            video,
        }
    }

    #[test]
    fn head_is_an_unknown_size_cluster_with_its_timestamp() {
        let c = OpenCluster::new(Ticks(0x1234), Nanos(0), true);
        assert_eq!(
            &c.head()[..],
            &[
                0x1F, 0x43, 0xB6, 0x75, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xE7, 0x82,
                0x12, 0x34
            ]
        );
    }

    #[test]
    fn join_point_is_known_at_the_first_video_block() {
        let mut c = OpenCluster::new(Ticks(0), Nanos(0), true);
        assert_eq!(c.join(), None);
        c.push(&block(false, true), Nanos(1));
        assert_eq!(c.join(), None, "audio does not decide");
        c.push(&block(true, true), Nanos(2));
        assert_eq!(c.join(), Some(true));
        c.push(&block(true, false), Nanos(3));
        assert_eq!(c.join(), Some(true), "only the first video block decides");
        let mut c = OpenCluster::new(Ticks(0), Nanos(0), true);
        c.push(&block(true, false), Nanos(1));
        assert_eq!(c.join(), Some(false));
        assert_eq!(
            OpenCluster::new(Ticks(0), Nanos(0), false).join(),
            Some(true)
        );
        assert_eq!(c.latest(), Nanos(1));
    }
}
