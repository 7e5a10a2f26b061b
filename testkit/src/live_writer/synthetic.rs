//! A synthetic live stream: one VP8 track (number 1) of numbered frames at
//! a fixed rate, in Clusters of a fixed length, keyframes at a fixed
//! interval (the first frame of every Cluster, and optionally more inside).

use mkvcast::internals::ebml::{write_id, write_size, write_uint_element, UNKNOWN_SIZE_BYTES};
use mkvcast::internals::ids;

use super::Chunk;

/// Bytes at the start of every payload that [`payload_id`] reads back.
const ID_LEN: usize = 16;

/// What to write. Media time is in ms (TimestampScale 1 ms); frame `i` is
/// at `i * 1000 / fps` ms.
#[derive(Debug, Clone)]
pub struct Synthetic {
    /// Frames in the stream.
    pub frames: u64,
    pub fps: u64,
    /// Frames per Cluster (each Cluster starts with a keyframe).
    pub cluster_frames: u64,
    /// Frames from one keyframe to the next; a divisor of `cluster_frames`
    /// puts keyframes inside Clusters too.
    pub keyframe_frames: u64,
    /// Payload bytes of a keyframe and of any other frame (at least 16).
    pub key_bytes: usize,
    pub delta_bytes: usize,
    /// Clusters of unknown size (as live muxers write them), each written
    /// block by block; with `false`, each Cluster has its size and is one
    /// chunk, due at its last block.
    pub unknown_size: bool,
}

impl Default for Synthetic {
    /// 12 s of 30 fps video in 2 s Clusters of unknown size, a keyframe at
    /// the start of each, ~330 kbit/s.
    fn default() -> Self {
        Synthetic {
            frames: 360,
            fps: 30,
            cluster_frames: 60,
            keyframe_frames: 60,
            key_bytes: 6000,
            delta_bytes: 1200,
            unknown_size: true,
        }
    }
}

/// `(sequence number, media time in ms)` from a payload written by
/// [`Synthetic`], or `None` if it is too short.
pub fn payload_id(payload: &[u8]) -> Option<(u64, u64)> {
    let seq = u64::from_be_bytes(payload.get(..8)?.try_into().ok()?);
    let ms = u64::from_be_bytes(payload.get(8..ID_LEN)?.try_into().ok()?);
    Some((seq, ms))
}

fn element(id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 12);
    write_id(&mut out, id);
    write_size(&mut out, body.len() as u64);
    out.extend_from_slice(body);
    out
}

fn uint(id: u32, v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    write_uint_element(&mut out, id, v);
    out
}

/// The EBML header (DocType webm), a Segment of unknown size, Info and
/// Tracks with one VP8 track.
pub fn header() -> Vec<u8> {
    let ebml = [
        uint(0x4286, 1), // EBMLVersion
        uint(0x42F7, 1), // EBMLReadVersion
        uint(0x42F2, 4), // EBMLMaxIDLength
        uint(0x42F3, 8), // EBMLMaxSizeLength
        element(ids::DOC_TYPE, b"webm"),
        uint(0x4287, 4), // DocTypeVersion
        uint(0x4285, 2), // DocTypeReadVersion
    ]
    .concat();
    let info = [
        uint(ids::TIMESTAMP_SCALE, 1_000_000),
        element(0x4D80, b"mkvcast-testkit"), // MuxingApp
        element(0x5741, b"mkvcast-testkit"), // WritingApp
    ]
    .concat();
    let video = [uint(ids::PIXEL_WIDTH, 320), uint(ids::PIXEL_HEIGHT, 240)].concat();
    let entry = [
        uint(ids::TRACK_NUMBER, 1),
        uint(0x73C5, 1), // TrackUID
        uint(ids::TRACK_TYPE, ids::TRACK_TYPE_VIDEO),
        element(ids::CODEC_ID, b"V_VP8"),
        element(ids::VIDEO, &video),
    ]
    .concat();
    let mut out = element(ids::EBML, &ebml);
    write_id(&mut out, ids::SEGMENT);
    out.extend_from_slice(&UNKNOWN_SIZE_BYTES);
    out.extend(element(ids::INFO, &info));
    out.extend(element(ids::TRACKS, &element(ids::TRACK_ENTRY, &entry)));
    out
}

impl Synthetic {
    /// Media time of frame `i`, in ms.
    pub fn frame_ms(&self, i: u64) -> u64 {
        i * 1000 / self.fps
    }

    pub fn is_keyframe(&self, i: u64) -> bool {
        i % self.keyframe_frames == 0 || i % self.cluster_frames == 0
    }

    /// Media time from the first frame to the end of the last, in ms.
    pub fn duration_ms(&self) -> u64 {
        self.frame_ms(self.frames)
    }

    /// The SimpleBlock of frame `i` in a Cluster starting at `cluster_ms`.
    fn block(&self, i: u64, cluster_ms: u64) -> Vec<u8> {
        let key = self.is_keyframe(i);
        let len = if key {
            self.key_bytes
        } else {
            self.delta_bytes
        }
        .max(ID_LEN);
        let rel = i16::try_from(self.frame_ms(i) - cluster_ms).expect("Cluster under 32 s");
        let mut body = Vec::with_capacity(4 + len);
        body.push(0x81); // track 1
        body.extend_from_slice(&rel.to_be_bytes());
        body.push(if key { 0x80 } else { 0 });
        body.extend_from_slice(&i.to_be_bytes());
        body.extend_from_slice(&self.frame_ms(i).to_be_bytes());
        // Filler that differs per frame, so no two payloads are equal.
        body.extend((ID_LEN..len).map(|k| (i as usize + k) as u8));
        element(ids::SIMPLE_BLOCK, &body)
    }

    /// The Cluster ID, size (unknown) and Timestamp.
    fn cluster_start(cluster_ms: u64) -> Vec<u8> {
        let mut out = Vec::new();
        write_id(&mut out, ids::CLUSTER);
        out.extend_from_slice(&UNKNOWN_SIZE_BYTES);
        out.extend(uint(ids::TIMESTAMP, cluster_ms));
        out
    }

    /// The stream as chunks (see the module doc of `live_writer`).
    pub fn chunks(&self) -> Vec<Chunk> {
        assert!(self.fps > 0 && self.cluster_frames > 0 && self.keyframe_frames > 0);
        let mut out = vec![Chunk {
            bytes: header(),
            media_ns: None,
            keyframe: false,
            video: false,
        }];
        let mut cluster_ms = 0;
        for i in 0..self.frames {
            let mut bytes = Vec::new();
            if i % self.cluster_frames == 0 {
                cluster_ms = self.frame_ms(i);
                bytes = Self::cluster_start(cluster_ms);
            }
            bytes.extend(self.block(i, cluster_ms));
            out.push(Chunk {
                bytes,
                media_ns: Some(self.frame_ms(i) * 1_000_000),
                keyframe: self.is_keyframe(i),
                video: true,
            });
        }
        if !self.unknown_size {
            return with_known_sizes(out);
        }
        out
    }
}

/// Rewrites each Cluster's chunks (the first starts with the unknown-size
/// Cluster header) into one chunk of known size, due at its last block.
fn with_known_sizes(chunks: Vec<Chunk>) -> Vec<Chunk> {
    let open_len = 4 + UNKNOWN_SIZE_BYTES.len();
    let mut out: Vec<Chunk> = Vec::new();
    // The Cluster being gathered: its body and its latest chunk.
    let mut open: Option<(Vec<u8>, Chunk)> = None;
    let close = |out: &mut Vec<Chunk>, open: Option<(Vec<u8>, Chunk)>| {
        if let Some((body, mut last)) = open {
            last.bytes = element(ids::CLUSTER, &body);
            out.push(last);
        }
    };
    for c in chunks {
        if c.media_ns.is_none() {
            out.push(c);
        } else if c.bytes.starts_with(&[0x1F, 0x43, 0xB6, 0x75]) {
            close(&mut out, open.take());
            open = Some((c.bytes[open_len..].to_vec(), c));
        } else if let Some((body, last)) = open.as_mut() {
            body.extend_from_slice(&c.bytes);
            *last = c;
        }
    }
    close(&mut out, open);
    out
}
