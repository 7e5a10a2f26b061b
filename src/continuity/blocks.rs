//! A header-only walk over a served cluster: each block's track, time,
//! stored duration and frame count, without touching payloads.
//!
//! Continuity needs where each track ends, which a LiveCluster does not say
//! (its `duration` is the end of its latest frame over all tracks).

use crate::ebml;
use crate::matroska::cluster::{read_block_header, LiveCluster};
use crate::matroska::ids;
use crate::time::Ticks;

/// One block of a cluster, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockTiming {
    pub track: u64,
    /// The cluster's Timestamp plus the block's relative one (0 for a block
    /// that would start before 0).
    pub timestamp: Ticks,
    /// BlockDuration, for a BlockGroup that has one.
    pub block_duration: Option<Ticks>,
    /// Frames in the block: more than one when laced.
    pub frames: u32,
}

/// Appends the timing of every readable block of `cluster` to `out`, in
/// stored order. Unreadable blocks are left out; a malformed child ends the
/// walk (the segmenter already refused those, so neither happens for a
/// cluster it made).
pub fn block_timings(cluster: &LiveCluster, out: &mut Vec<BlockTiming>) {
    let Ok(Some(head)) = ebml::read_element_header(&cluster.bytes) else {
        return;
    };
    let body = cluster.bytes.get(head.header_len..).unwrap_or(&[]);
    for child in ebml::children(body) {
        let Ok(child) = child else { return };
        let timing = match child.header.id {
            ids::SIMPLE_BLOCK => block(cluster.timestamp, child.data, None),
            ids::BLOCK_GROUP => block_group(cluster.timestamp, child.data),
            _ => None,
        };
        out.extend(timing);
    }
}

/// A BlockGroup: its Block and BlockDuration.
fn block_group(cluster_ts: Ticks, data: &[u8]) -> Option<BlockTiming> {
    let mut block_data = None;
    let mut duration = None;
    for child in ebml::children(data) {
        let child = child.ok()?;
        match child.header.id {
            ids::BLOCK => block_data = Some(child.data),
            ids::BLOCK_DURATION => duration = ebml::read_uint(child.data).ok().map(Ticks),
            _ => {}
        }
    }
    block(cluster_ts, block_data?, duration)
}

/// A (Simple)Block's data: track, relative timestamp, flags, and with
/// lacing the frame count after them.
fn block(cluster_ts: Ticks, data: &[u8], duration: Option<Ticks>) -> Option<BlockTiming> {
    let h = read_block_header(data)?;
    let laced = h.flags & 0x06 != 0;
    let frames = if laced {
        u32::from(*data.get(h.timestamp_offset + 3)?) + 1
    } else {
        1
    };
    let ts = i128::from(cluster_ts.0) + i128::from(h.relative_timestamp);
    Some(BlockTiming {
        track: h.track,
        timestamp: Ticks(u64::try_from(ts).unwrap_or(0)),
        block_duration: duration,
        frames,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::continuity::test_stream::{Block, StreamBuilder, Track};

    #[test]
    fn reads_track_time_duration_and_lacing_of_each_block() {
        let mut s = StreamBuilder::new(&[Track::video(1, Some(40)), Track::audio(2, None)]);
        s.cluster(
            1000,
            &[
                Block::simple(1, 0),
                Block::laced(2, 5, 3),
                Block::grouped(2, 30, 21),
                Block::simple(2, -2),
            ],
        );
        let (_, clusters) = s.segment();
        let mut got = Vec::new();
        block_timings(&clusters[0], &mut got);
        let t = |track, ts, d: Option<u64>, frames| BlockTiming {
            track,
            timestamp: Ticks(ts),
            block_duration: d.map(Ticks),
            frames,
        };
        assert_eq!(
            got,
            [
                t(1, 1000, None, 1),
                t(2, 1005, None, 3),
                t(2, 1030, Some(21), 1),
                t(2, 998, None, 1),
            ]
        );
    }

    #[test]
    fn a_block_before_zero_starts_at_zero() {
        let mut s = StreamBuilder::new(&[Track::audio(1, None)]);
        s.cluster(3, &[Block::simple(1, -10), Block::simple(1, 7)]);
        let (_, clusters) = s.segment();
        let mut got = Vec::new();
        block_timings(&clusters[0], &mut got);
        let times: Vec<u64> = got.iter().map(|b| b.timestamp.0).collect();
        assert_eq!(times, [0, 10]);
    }
}
