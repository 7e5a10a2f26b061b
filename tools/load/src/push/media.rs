//! The pusher's media: a file's header and Clusters, re-emitted lap after
//! lap with continuous timestamps, so one short fixture feeds a publisher
//! for as long as a run lasts without the server ever seeing time go back.

use mkvcast::internals::cluster::read_block_header;
use mkvcast::internals::ebml::{
    self, read_uint, write_id, write_size, write_uint_element, UNKNOWN_SIZE_BYTES,
};
use mkvcast::internals::ids;
use std::time::Duration;

/// The gap left between a lap's last block and the next lap's first:
/// about one video frame, so timestamps only go forward.
const LAP_GAP_NS: u64 = 40_000_000;

/// One Cluster of the file: its Timestamp, and its blocks as stored.
struct Cluster {
    timestamp: u64,
    blocks: Vec<u8>,
}

/// A file ready to push.
pub struct Media {
    /// EBML header, a Segment of unknown size (a live stream has no end),
    /// Info and Tracks as stored; SeekHead, Cues and the like are dropped
    /// since their positions would be wrong.
    pub header: Vec<u8>,
    clusters: Vec<Cluster>,
    /// ns per timestamp tick (TimestampScale).
    scale: u64,
    /// Timestamp ticks one lap adds: from the first Cluster to the last
    /// block, plus [`LAP_GAP_NS`].
    period: u64,
}

impl Media {
    /// Splits `file` (Clusters of known size) into header and Clusters.
    pub fn parse(file: &[u8]) -> Result<Self, String> {
        let mut header = Vec::new();
        let mut segment = None;
        for top in ebml::children(file) {
            let top = top.map_err(|e| format!("top level: {e}"))?;
            match top.header.id {
                ids::EBML => {
                    header.extend_from_slice(file.get(top.offset..top.end()).unwrap_or(&[]))
                }
                ids::SEGMENT => segment = Some(top.data),
                _ => {}
            }
        }
        let segment = segment.ok_or("no Segment")?;
        write_id(&mut header, ids::SEGMENT);
        header.extend_from_slice(&UNKNOWN_SIZE_BYTES);
        let (mut scale, mut clusters, mut last) = (ids::DEFAULT_TIMESTAMP_SCALE, Vec::new(), 0);
        for el in ebml::children(segment) {
            let el = el.map_err(|e| format!("in Segment: {e}"))?;
            let bytes = segment.get(el.offset..el.end()).unwrap_or(&[]);
            match el.header.id {
                ids::INFO => {
                    scale = timestamp_scale(el.data)?;
                    header.extend_from_slice(bytes);
                }
                ids::TRACKS => header.extend_from_slice(bytes),
                ids::CLUSTER => {
                    let (c, end) = read_cluster(el.data)?;
                    last = last.max(end);
                    clusters.push(c);
                }
                _ => {}
            }
        }
        let first = clusters.first().ok_or("no Cluster")?.timestamp;
        let period = last.saturating_sub(first) + LAP_GAP_NS.div_ceil(scale.max(1));
        Ok(Media {
            header,
            clusters,
            scale,
            period,
        })
    }

    pub fn clusters(&self) -> usize {
        self.clusters.len()
    }

    /// Cluster `i` of lap `lap`, with its Timestamp moved `lap` periods on.
    pub fn cluster(&self, i: usize, lap: u64) -> Vec<u8> {
        let Some(c) = self.clusters.get(i) else {
            return Vec::new();
        };
        let mut body = Vec::with_capacity(c.blocks.len() + 12);
        write_uint_element(&mut body, ids::TIMESTAMP, c.timestamp + lap * self.period);
        body.extend_from_slice(&c.blocks);
        let mut out = Vec::with_capacity(body.len() + 12);
        write_id(&mut out, ids::CLUSTER);
        write_size(&mut out, body.len() as u64);
        out.extend_from_slice(&body);
        out
    }

    /// When Cluster `i` of lap `lap` is due, after the first one.
    pub fn due(&self, i: usize, lap: u64) -> Duration {
        let first = self.clusters.first().map_or(0, |c| c.timestamp);
        let ts = self.clusters.get(i).map_or(first, |c| c.timestamp);
        Duration::from_nanos((ts - first + lap * self.period).saturating_mul(self.scale))
    }
}

fn timestamp_scale(info: &[u8]) -> Result<u64, String> {
    for c in ebml::children(info) {
        let c = c.map_err(|e| format!("in Info: {e}"))?;
        if c.header.id == ids::TIMESTAMP_SCALE {
            return read_uint(c.data).map_err(|e| e.to_string());
        }
    }
    Ok(ids::DEFAULT_TIMESTAMP_SCALE)
}

/// A Cluster's Timestamp and blocks (Void, CRC-32, Position and PrevSize
/// dropped), and the latest block time in it.
fn read_cluster(data: &[u8]) -> Result<(Cluster, u64), String> {
    let mut c = Cluster {
        timestamp: 0,
        blocks: Vec::new(),
    };
    let mut rel_max = 0i64;
    for el in ebml::children(data) {
        let el = el.map_err(|e| format!("in Cluster: {e}"))?;
        let block = match el.header.id {
            ids::TIMESTAMP => {
                c.timestamp = read_uint(el.data).map_err(|e| e.to_string())?;
                continue;
            }
            ids::SIMPLE_BLOCK => Some(el.data),
            ids::BLOCK_GROUP => ebml::children(el.data)
                .filter_map(Result::ok)
                .find(|g| g.header.id == ids::BLOCK)
                .map(|g| g.data),
            _ => continue,
        };
        if let Some(h) = block.and_then(read_block_header) {
            rel_max = rel_max.max(i64::from(h.relative_timestamp));
        }
        c.blocks
            .extend_from_slice(data.get(el.offset..el.end()).unwrap_or(&[]));
    }
    let end = c.timestamp + rel_max as u64;
    Ok((c, end))
}

#[cfg(test)]
mod tests {
    use super::Media;
    use mkvcast_testkit::walk::StreamWalk;
    use std::time::Duration;

    #[test]
    fn laps_continue_the_timestamps() {
        let file = std::fs::read(mkvcast_testkit::fixture("bench_1mbit.webm")).unwrap();
        let m = Media::parse(&file).unwrap();
        let n = m.clusters();
        assert_eq!(n, 14, "one 1 s Cluster per second of the 14 s fixture");
        // The lap is the file's span: 14 s of media, up to ~1 frame more.
        let lap = m.due(0, 1);
        assert!(lap > Duration::from_millis(13_900) && lap < Duration::from_millis(14_200));
        assert_eq!(m.due(3, 2), m.due(3, 0) + 2 * lap);
        let mut walk = StreamWalk::new();
        walk.feed(&m.header);
        for lap in 0..3 {
            for i in 0..n {
                walk.feed(&m.cluster(i, lap));
            }
        }
        assert_eq!(walk.error().map(ToString::to_string), None);
        assert_eq!(walk.clusters(), 3 * n as u64);
    }
}
