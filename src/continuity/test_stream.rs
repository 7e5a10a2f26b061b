//! Builds small Matroska streams for the continuity tests: a header with
//! chosen tracks, then clusters of blocks with chosen times and durations,
//! turned into LiveClusters by the segmenter itself.

use std::sync::Arc;

use crate::ebml;
use crate::matroska::header::StreamHeader;
use crate::matroska::ids;
use crate::segmenter::{segment_all, Event, LiveCluster};

/// A track of the test stream.
#[derive(Debug, Clone, Copy)]
pub struct Track {
    pub number: u64,
    pub video: bool,
    /// DefaultDuration in ms.
    pub default_ms: Option<u64>,
}

impl Track {
    pub fn video(number: u64, default_ms: Option<u64>) -> Track {
        Track {
            number,
            video: true,
            default_ms,
        }
    }

    pub fn audio(number: u64, default_ms: Option<u64>) -> Track {
        Track {
            number,
            video: false,
            default_ms,
        }
    }
}

/// A block of the test stream (1 ms ticks).
#[derive(Debug, Clone, Copy)]
pub struct Block {
    pub track: u64,
    pub relative: i16,
    /// BlockDuration in ticks: the block is then written in a BlockGroup.
    pub duration: Option<u64>,
    /// Frames laced into the block (Xiph lacing when more than one).
    pub frames: u8,
}

impl Block {
    pub fn simple(track: u64, relative: i16) -> Block {
        Block {
            track,
            relative,
            duration: None,
            frames: 1,
        }
    }

    pub fn grouped(track: u64, relative: i16, duration: u64) -> Block {
        Block {
            duration: Some(duration),
            ..Block::simple(track, relative)
        }
    }

    pub fn laced(track: u64, relative: i16, frames: u8) -> Block {
        Block {
            frames,
            ..Block::simple(track, relative)
        }
    }
}

fn element(out: &mut Vec<u8>, id: u32, body: &[u8]) {
    ebml::write_id(out, id);
    ebml::write_size(out, body.len() as u64);
    out.extend_from_slice(body);
}

/// Writes a stream: [`new`](Self::new) starts it with a header, then
/// clusters follow; [`restart`](Self::restart) writes the header again.
pub struct StreamBuilder {
    tracks: Vec<Track>,
    bytes: Vec<u8>,
}

impl StreamBuilder {
    pub fn new(tracks: &[Track]) -> StreamBuilder {
        let mut s = StreamBuilder {
            tracks: tracks.to_vec(),
            bytes: Vec::new(),
        };
        s.restart();
        s
    }

    /// The EBML header, Segment, Info and Tracks (as a looped file or a
    /// restarted encoder sends them again).
    pub fn restart(&mut self) {
        let mut ebml_body = Vec::new();
        element(&mut ebml_body, ids::DOC_TYPE, b"webm");
        element(&mut self.bytes, ids::EBML, &ebml_body);
        ebml::write_id(&mut self.bytes, ids::SEGMENT);
        self.bytes.extend_from_slice(&ebml::UNKNOWN_SIZE_BYTES);
        let mut info = Vec::new();
        ebml::write_uint_element(&mut info, ids::TIMESTAMP_SCALE, 1_000_000);
        element(&mut self.bytes, ids::INFO, &info);
        let mut tracks = Vec::new();
        for t in &self.tracks {
            let mut e = Vec::new();
            ebml::write_uint_element(&mut e, ids::TRACK_NUMBER, t.number);
            let kind = if t.video { 1 } else { 2 };
            ebml::write_uint_element(&mut e, ids::TRACK_TYPE, kind);
            let codec: &[u8] = if t.video { b"V_VP8" } else { b"A_VORBIS" };
            element(&mut e, ids::CODEC_ID, codec);
            if let Some(ms) = t.default_ms {
                ebml::write_uint_element(&mut e, ids::DEFAULT_DURATION, ms * 1_000_000);
            }
            element(&mut tracks, ids::TRACK_ENTRY, &e);
        }
        element(&mut self.bytes, ids::TRACKS, &tracks);
    }

    /// A cluster at `timestamp` ms. Its first video block is a keyframe,
    /// the others are not (so the segmenter keeps it whole).
    pub fn cluster(&mut self, timestamp: u64, blocks: &[Block]) {
        let mut body = Vec::new();
        ebml::write_uint_element(&mut body, ids::TIMESTAMP, timestamp);
        let mut seen_video = false;
        for b in blocks {
            let video = self.tracks.iter().any(|t| t.number == b.track && t.video);
            self.block(&mut body, b, video && !seen_video);
            seen_video |= video;
        }
        element(&mut self.bytes, ids::CLUSTER, &body);
    }

    fn block(&self, out: &mut Vec<u8>, b: &Block, key: bool) {
        let mut data = Vec::new();
        ebml::write_size(&mut data, b.track);
        data.extend_from_slice(&b.relative.to_be_bytes());
        let keyframe = if key { 0x80 } else { 0 };
        if b.frames > 1 {
            // Xiph lacing: count - 1, then each size but the last.
            data.push(keyframe | 0x02);
            data.push(b.frames - 1);
            data.extend(std::iter::repeat_n(3, usize::from(b.frames - 1)));
            data.extend(std::iter::repeat_n(0xAA, 3 * usize::from(b.frames)));
        } else {
            data.push(keyframe);
            data.extend_from_slice(b"abc");
        }
        match b.duration {
            None => element(out, ids::SIMPLE_BLOCK, &data),
            Some(d) => {
                let mut group = Vec::new();
                element(&mut group, ids::BLOCK, &data);
                ebml::write_uint_element(&mut group, ids::BLOCK_DURATION, d);
                if !key {
                    ebml::write_uint_element(&mut group, ids::REFERENCE_BLOCK, 1);
                }
                element(out, ids::BLOCK_GROUP, &group);
            }
        }
    }

    /// The stream through the segmenter: its headers and clusters, in order.
    pub fn events(&self) -> Vec<Event> {
        segment_all(&self.bytes, 1 << 20)
            .expect("a valid test stream")
            .0
    }

    /// The first header and every cluster.
    pub fn segment(&self) -> (Arc<StreamHeader>, Vec<LiveCluster>) {
        let mut header = None;
        let mut clusters = Vec::new();
        for e in self.events() {
            match e {
                Event::Header(h) => {
                    header.get_or_insert(h);
                }
                Event::Cluster(c) => clusters.push(c),
                Event::ClusterStart { .. } | Event::Block(_) => {}
            }
        }
        (header.expect("a header"), clusters)
    }
}
