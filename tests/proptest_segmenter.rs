//! Property tests: random valid Matroska/WebM streams, written by a small
//! test-side writer (independent of mkvcast's EBML writers), segmented
//! in a random chunking. The output must carry every frame of the input
//! (track, absolute timestamp, keyframe flag, size, order) as an
//! independent demuxer (`matroska-demuxer`) and our own block walk see it;
//! every segment must have a known size and a keyframe flag that matches
//! its first video block, and no video keyframe after it. Segmented again
//! with blocks forwarded as they arrive, the stream must give the same
//! clusters, forwarded blocks that make them up exactly, and a live form
//! (each cluster sent as unknown size + Timestamp + blocks) that demuxes
//! to the same frames.

mod common;

use common::{demux, DemuxedFrame};
use mkvcast::internals::cluster::read_block_header;
use mkvcast::internals::{ebml, ids};
use mkvcast::segmenter::{concat, segment_all, Event, LiveCluster};
use mkvcast_testkit::forwarded::{
    check_forwarded, forwarding, is_forwarded, live_form, segment_with,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// Test-side Matroska writer.

/// Element ID bytes as stored (marker bits included).
fn put_id(out: &mut Vec<u8>, id: u32) {
    let b = id.to_be_bytes();
    let skip = b.iter().position(|&x| x != 0).unwrap_or(3);
    out.extend_from_slice(&b[skip..]);
}

/// Unsigned vint in its shortest form that is not the all-ones (unknown)
/// marker: element sizes, track numbers, EBML lace sizes.
fn put_vint(out: &mut Vec<u8>, v: u64) {
    let len = (1..=8usize)
        .find(|&l| v < (1u64 << (7 * l)) - 1)
        .expect("value fits a vint");
    let marked = v | (1u64 << (7 * len));
    out.extend_from_slice(&marked.to_be_bytes()[8 - len..]);
}

/// Signed vint (EBML lacing size differences): value + bias, where the bias
/// is 2^(7n-1) - 1 for an n-byte field.
fn put_signed_vint(out: &mut Vec<u8>, v: i64) {
    let len = (1..=8usize)
        .find(|&l| v.unsigned_abs() < (1u64 << (7 * l - 1)))
        .expect("value fits a signed vint");
    let bias = (1i64 << (7 * len - 1)) - 1;
    let marked = ((v + bias) as u64) | (1u64 << (7 * len));
    out.extend_from_slice(&marked.to_be_bytes()[8 - len..]);
}

const UNKNOWN: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

fn el(out: &mut Vec<u8>, id: u32, body: &[u8]) {
    put_id(out, id);
    put_vint(out, body.len() as u64);
    out.extend_from_slice(body);
}

fn uint_el(out: &mut Vec<u8>, id: u32, v: u64) {
    let b = v.to_be_bytes();
    let skip = b.iter().position(|&x| x != 0).unwrap_or(7);
    el(out, id, &b[skip..]);
}

fn float_el(out: &mut Vec<u8>, id: u32, v: f64) {
    el(out, id, &v.to_be_bytes());
}

// IDs the crate does not name (EBML header, Info, Tracks details).
const EBML_VERSION: u32 = 0x4286;
const EBML_READ_VERSION: u32 = 0x42F7;
const EBML_MAX_ID_LENGTH: u32 = 0x42F2;
const EBML_MAX_SIZE_LENGTH: u32 = 0x42F3;
const DOC_TYPE_VERSION: u32 = 0x4287;
const DOC_TYPE_READ_VERSION: u32 = 0x4285;
const MUXING_APP: u32 = 0x4D80;
const WRITING_APP: u32 = 0x5741;
const TRACK_UID: u32 = 0x73C5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lacing {
    None,
    Xiph,
    Ebml,
    Fixed,
}

#[derive(Debug, Clone)]
struct BlockSpec {
    /// Index into the stream's tracks (taken modulo their number).
    track: usize,
    rel: i16,
    /// SimpleBlock: the keyframe flag. BlockGroup: no ReferenceBlock.
    keyframe: bool,
    group: bool,
    /// BlockGroup only.
    duration: Option<u64>,
    lacing: Lacing,
    /// Frame sizes: only the first for an unlaced block, all equal to the
    /// first for fixed lacing.
    sizes: Vec<usize>,
    fill: u8,
}

#[derive(Debug, Clone)]
struct ClusterSpec {
    gap: u64,
    unknown_size: bool,
    crc: bool,
    void_before_timestamp: Option<usize>,
    void_after_block: Option<(usize, usize)>,
    blocks: Vec<BlockSpec>,
}

#[derive(Debug, Clone)]
struct TrackSpec {
    video: bool,
    codec: usize,
    default_duration: Option<u64>,
}

#[derive(Debug, Clone)]
struct StreamSpec {
    webm: bool,
    segment_unknown_size: bool,
    scale: u64,
    duration: Option<f64>,
    track_base: u64,
    tracks: Vec<TrackSpec>,
    first_timestamp: u64,
    clusters: Vec<ClusterSpec>,
}

/// One block as the writer put it: for checking our own walk of the output.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ModelBlock {
    track: u64,
    timestamp: u64,
    keyframe: bool,
}

/// A written stream and what is in it.
struct Written {
    bytes: Vec<u8>,
    frames: Vec<DemuxedFrame>,
    blocks: Vec<ModelBlock>,
    video_track: Option<u64>,
}

const VIDEO_CODECS: [&str; 4] = ["V_VP8", "V_VP9", "V_AV1", "V_MPEG4/ISO/AVC"];
const AUDIO_CODECS: [&str; 4] = ["A_OPUS", "A_VORBIS", "A_FLAC", "A_AAC"];

fn write_block(b: &BlockSpec, track: u64, rel: i16) -> (Vec<u8>, Vec<usize>) {
    let sizes: Vec<usize> = match b.lacing {
        Lacing::None => vec![b.sizes[0]],
        Lacing::Fixed => vec![b.sizes[0]; b.sizes.len()],
        Lacing::Xiph | Lacing::Ebml => b.sizes.clone(),
    };
    let mut out = Vec::new();
    put_vint(&mut out, track);
    out.extend_from_slice(&rel.to_be_bytes());
    let lace_bits = match b.lacing {
        Lacing::None => 0,
        Lacing::Xiph => 0x02,
        Lacing::Fixed => 0x04,
        Lacing::Ebml => 0x06,
    };
    let key_bit = if !b.group && b.keyframe { 0x80 } else { 0 };
    out.push(key_bit | lace_bits);
    if b.lacing != Lacing::None {
        out.push((sizes.len() - 1) as u8);
        let head = &sizes[..sizes.len() - 1];
        match b.lacing {
            Lacing::Xiph => {
                for &s in head {
                    out.extend(std::iter::repeat_n(255u8, s / 255));
                    out.push((s % 255) as u8);
                }
            }
            Lacing::Ebml => {
                put_vint(&mut out, head[0] as u64);
                for w in head.windows(2) {
                    put_signed_vint(&mut out, w[1] as i64 - w[0] as i64);
                }
            }
            _ => {}
        }
    }
    for (i, &s) in sizes.iter().enumerate() {
        out.extend(std::iter::repeat_n(b.fill.wrapping_add(i as u8), s));
    }
    (out, sizes)
}

fn write_stream(spec: &StreamSpec) -> Written {
    let mut ebml_body = Vec::new();
    uint_el(&mut ebml_body, EBML_VERSION, 1);
    uint_el(&mut ebml_body, EBML_READ_VERSION, 1);
    uint_el(&mut ebml_body, EBML_MAX_ID_LENGTH, 4);
    uint_el(&mut ebml_body, EBML_MAX_SIZE_LENGTH, 8);
    el(
        &mut ebml_body,
        ids::DOC_TYPE,
        if spec.webm { b"webm" } else { b"matroska" },
    );
    uint_el(
        &mut ebml_body,
        DOC_TYPE_VERSION,
        if spec.webm { 2 } else { 4 },
    );
    uint_el(&mut ebml_body, DOC_TYPE_READ_VERSION, 2);
    let mut bytes = Vec::new();
    el(&mut bytes, ids::EBML, &ebml_body);

    let mut seg = Vec::new();
    let mut info = Vec::new();
    uint_el(&mut info, ids::TIMESTAMP_SCALE, spec.scale);
    if let Some(d) = spec.duration {
        float_el(&mut info, ids::DURATION, d);
    }
    el(&mut info, MUXING_APP, b"proptest");
    el(&mut info, WRITING_APP, b"proptest");
    el(&mut seg, ids::INFO, &info);

    let numbers: Vec<u64> = (0..spec.tracks.len() as u64)
        .map(|i| spec.track_base + i)
        .collect();
    let mut tracks = Vec::new();
    for (t, &number) in spec.tracks.iter().zip(&numbers) {
        let mut e = Vec::new();
        uint_el(&mut e, ids::TRACK_NUMBER, number);
        uint_el(&mut e, TRACK_UID, 1000 + number);
        uint_el(
            &mut e,
            ids::TRACK_TYPE,
            if t.video {
                ids::TRACK_TYPE_VIDEO
            } else {
                ids::TRACK_TYPE_AUDIO
            },
        );
        let codec = if t.video {
            VIDEO_CODECS[t.codec % 4]
        } else {
            AUDIO_CODECS[t.codec % 4]
        };
        el(&mut e, ids::CODEC_ID, codec.as_bytes());
        if let Some(d) = t.default_duration {
            uint_el(&mut e, ids::DEFAULT_DURATION, d);
        }
        let mut sub = Vec::new();
        if t.video {
            uint_el(&mut sub, ids::PIXEL_WIDTH, 320);
            uint_el(&mut sub, ids::PIXEL_HEIGHT, 240);
            el(&mut e, ids::VIDEO, &sub);
        } else {
            float_el(&mut sub, ids::SAMPLING_FREQUENCY, 48_000.0);
            uint_el(&mut sub, ids::CHANNELS, 2);
            el(&mut e, ids::AUDIO, &sub);
        }
        el(&mut tracks, ids::TRACK_ENTRY, &e);
    }
    el(&mut seg, ids::TRACKS, &tracks);
    let video_track = spec
        .tracks
        .iter()
        .zip(&numbers)
        .find(|(t, _)| t.video)
        .map(|(_, &n)| n);

    let mut frames = Vec::new();
    let mut blocks = Vec::new();
    let mut ts = spec.first_timestamp;
    for c in &spec.clusters {
        ts += c.gap;
        let mut body = Vec::new();
        if c.crc {
            el(&mut body, ids::CRC32, &[0xDE, 0xAD, 0xBE, 0xEF]);
        }
        if let Some(n) = c.void_before_timestamp {
            el(&mut body, ids::VOID, &vec![0; n]);
        }
        uint_el(&mut body, ids::TIMESTAMP, ts);
        for (i, b) in c.blocks.iter().enumerate() {
            let track = numbers[b.track % numbers.len()];
            // Keep absolute timestamps non-negative, and avoid -32768,
            // which matroska-demuxer cannot read (see segment_blocks).
            let rel = i64::from(b.rel).max(-(ts as i64)).max(-32767) as i16;
            let (block, sizes) = write_block(b, track, rel);
            let abs = (ts as i64 + i64::from(rel)) as u64;
            if b.group {
                let mut g = Vec::new();
                el(&mut g, ids::BLOCK, &block);
                if let Some(d) = b.duration {
                    uint_el(&mut g, ids::BLOCK_DURATION, d);
                }
                if !b.keyframe {
                    // ReferenceBlock is signed: -1 tick (one byte, 0xFF).
                    el(&mut g, ids::REFERENCE_BLOCK, &[0xFF]);
                }
                el(&mut body, ids::BLOCK_GROUP, &g);
            } else {
                el(&mut body, ids::SIMPLE_BLOCK, &block);
            }
            for s in sizes {
                frames.push(DemuxedFrame {
                    track,
                    timestamp: abs,
                    keyframe: (!b.group).then_some(b.keyframe),
                    len: s,
                });
            }
            blocks.push(ModelBlock {
                track,
                timestamp: abs,
                keyframe: b.keyframe,
            });
            if let Some((after, n)) = c.void_after_block {
                if after % c.blocks.len() == i {
                    el(&mut body, ids::VOID, &vec![0; n]);
                }
            }
        }
        if c.unknown_size {
            put_id(&mut seg, ids::CLUSTER);
            seg.extend_from_slice(&UNKNOWN);
            seg.extend_from_slice(&body);
        } else {
            el(&mut seg, ids::CLUSTER, &body);
        }
    }

    put_id(&mut bytes, ids::SEGMENT);
    if spec.segment_unknown_size {
        bytes.extend_from_slice(&UNKNOWN);
    } else {
        put_vint(&mut bytes, seg.len() as u64);
    }
    bytes.extend_from_slice(&seg);
    Written {
        bytes,
        frames,
        blocks,
        video_track,
    }
}

// ---------------------------------------------------------------------------
// Strategies.

fn lacing() -> impl Strategy<Value = Lacing> {
    prop_oneof![
        6 => Just(Lacing::None),
        1 => Just(Lacing::Xiph),
        1 => Just(Lacing::Ebml),
        1 => Just(Lacing::Fixed),
    ]
}

prop_compose! {
    fn block()(
        track in 0usize..3,
        rel in prop_oneof![8 => 0i16..400, 2 => any::<i16>()],
        keyframe in prop::bool::weighted(0.3),
        group in prop::bool::weighted(0.3),
        duration in prop::option::of(0u64..5000),
        lacing in lacing(),
        sizes in prop::collection::vec(0usize..300, 2..=8),
        fill in any::<u8>(),
    ) -> BlockSpec {
        BlockSpec { track, rel, keyframe, group, duration, lacing, sizes, fill }
    }
}

prop_compose! {
    fn cluster()(
        gap in 0u64..3000,
        unknown_size in any::<bool>(),
        crc in prop::bool::weighted(0.2),
        void_before_timestamp in prop::option::weighted(0.15, 0usize..=40),
        void_after_block in prop::option::weighted(0.15, (0usize..30, 0usize..200)),
        blocks in prop::collection::vec(block(), 1..=30),
    ) -> ClusterSpec {
        ClusterSpec { gap, unknown_size, crc, void_before_timestamp, void_after_block, blocks }
    }
}

prop_compose! {
    fn track()(
        video in any::<bool>(),
        codec in 0usize..4,
        default_duration in prop::option::weighted(0.3, 1_000_000u64..50_000_000),
    ) -> TrackSpec {
        TrackSpec { video, codec, default_duration }
    }
}

prop_compose! {
    fn stream()(
        webm in any::<bool>(),
        segment_unknown_size in any::<bool>(),
        scale in prop::sample::select(vec![1_000_000u64, 100_000, 1_000]),
        duration in prop::option::of(1.0f64..1e7),
        track_base in prop::sample::select(vec![1u64, 126, 300]),
        tracks in prop::collection::vec(track(), 1..=3),
        first_timestamp in 0u64..100_000,
        clusters in prop::collection::vec(cluster(), 1..=20),
    ) -> StreamSpec {
        StreamSpec {
            webm, segment_unknown_size, scale, duration, track_base, tracks,
            first_timestamp, clusters,
        }
    }
}

fn chunk_size() -> impl Strategy<Value = usize> {
    prop_oneof![1usize..64, 64usize..8192, Just(usize::MAX)]
}

// ---------------------------------------------------------------------------
// Reading the output back with our own walk.

/// Blocks of a segment: (track, absolute timestamp, keyframe), in order,
/// and whether any has the relative timestamp -32768 (valid Matroska, but
/// matroska-demuxer 0.8.1 overflows on it: `i16::abs` in its
/// `parse_timestamp`). Also checks the segment's own framing: known exact
/// size, Timestamp first and equal to the segment's.
fn segment_blocks(seg: &LiveCluster) -> Result<(Vec<ModelBlock>, bool), TestCaseError> {
    let h = ebml::read_element_header(&seg.bytes)
        .ok()
        .flatten()
        .ok_or_else(|| TestCaseError::fail("segment header unreadable"))?;
    prop_assert_eq!(h.id, ids::CLUSTER);
    prop_assert_eq!(
        h.total_len(),
        Some(seg.bytes.len() as u64),
        "segment has a known size equal to its length"
    );
    let mut out = Vec::new();
    let mut has_i16_min = false;
    let mut first = true;
    for c in ebml::children(&seg.bytes[h.header_len..]) {
        let c = c.map_err(|e| TestCaseError::fail(format!("segment child: {e}")))?;
        if first {
            prop_assert_eq!(c.header.id, ids::TIMESTAMP, "Timestamp first");
            prop_assert_eq!(ebml::read_uint(c.data).ok(), Some(seg.timestamp.0));
            first = false;
        }
        let (block, keyframe) = match c.header.id {
            ids::SIMPLE_BLOCK => {
                let b = read_block_header(c.data);
                (b, b.is_some_and(|b| b.flags & 0x80 != 0))
            }
            ids::BLOCK_GROUP => {
                let mut block = None;
                let mut referenced = false;
                for g in ebml::children(c.data) {
                    let g = g.map_err(|e| TestCaseError::fail(format!("group child: {e}")))?;
                    match g.header.id {
                        ids::BLOCK => block = read_block_header(g.data),
                        ids::REFERENCE_BLOCK => referenced = true,
                        _ => {}
                    }
                }
                (block, !referenced)
            }
            _ => continue,
        };
        let b = block.ok_or_else(|| TestCaseError::fail("block header unreadable"))?;
        has_i16_min |= b.relative_timestamp == i16::MIN;
        out.push(ModelBlock {
            track: b.track,
            timestamp: (seg.timestamp.0 as i64 + i64::from(b.relative_timestamp)) as u64,
            keyframe,
        });
    }
    Ok((out, has_i16_min))
}

fn check(spec: &StreamSpec, chunk: usize) -> Result<(), TestCaseError> {
    let w = write_stream(spec);
    let (orig, orig_scale) =
        demux(&w.bytes).map_err(|e| TestCaseError::fail(format!("input unreadable: {e}")))?;
    prop_assert_eq!(orig_scale, spec.scale);
    prop_assert_eq!(&orig, &w.frames, "the writer wrote what it meant to");

    let (events, stats) =
        segment_all(&w.bytes, chunk).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(stats.bytes_skipped, 0, "nothing skipped in a valid stream");
    prop_assert_eq!(stats.resyncs, 0);
    prop_assert!(matches!(events.first(), Some(Event::Header(_))));
    let mut segs = Vec::new();
    for e in &events[1..] {
        match e {
            Event::Cluster(s) => segs.push(s),
            Event::Header(_) => prop_assert!(false, "a second header"),
            _ => prop_assert!(false, "a forwarded event without forward_blocks"),
        }
    }
    let Some(Event::Header(header)) = events.first() else {
        unreachable!()
    };
    prop_assert_eq!(header.video_track(), w.video_track);
    prop_assert_eq!(header.timestamp_scale, spec.scale);

    let mut blocks = Vec::new();
    let mut demuxable = true;
    for seg in &segs {
        let (b, has_i16_min) = segment_blocks(seg)?;
        demuxable &= !has_i16_min;
        let first_video = b.iter().find(|b| Some(b.track) == w.video_track);
        match (w.video_track, first_video) {
            (None, _) => prop_assert!(seg.keyframe, "no video: every segment is a join point"),
            (Some(_), Some(v)) => {
                prop_assert!(seg.has_video);
                prop_assert_eq!(seg.keyframe, v.keyframe, "segment at {}", seg.timestamp);
            }
            (Some(_), None) => prop_assert!(!seg.keyframe && !seg.has_video),
        }
        // Every video keyframe after the first video block was a split (its
        // timestamp, never before 0 here, always fits a u64).
        let later_keys = b
            .iter()
            .filter(|b| Some(b.track) == w.video_track)
            .skip(1)
            .filter(|b| b.keyframe)
            .count();
        prop_assert_eq!(
            later_keys,
            0,
            "unsplit keyframe in segment at {}",
            seg.timestamp
        );
        blocks.extend(b);
    }
    prop_assert_eq!(
        &blocks,
        &w.blocks,
        "every block's track, time and keyframe flag"
    );

    // A keyframe split can rebase a block to exactly -32768, which the
    // independent demuxer cannot read; our own walk above covered it.
    if demuxable {
        let out = concat(&events);
        let (got, scale) =
            demux(&out).map_err(|e| TestCaseError::fail(format!("output unreadable: {e}")))?;
        prop_assert_eq!(scale, spec.scale);
        prop_assert_eq!(&got, &orig, "every frame, in order, as in the input");
    }
    check_forwarding(&w.bytes, chunk, &events, demuxable.then_some(&orig))
}

/// The stream segmented with blocks forwarded: the same headers and
/// clusters as `plain` (segmented without), runs of forwarded blocks that
/// make up each cluster exactly, and, unless a block has the relative
/// timestamp the demuxer cannot read, a live form with the frames `orig`.
fn check_forwarding(
    input: &[u8],
    chunk: usize,
    plain: &[Event],
    orig: Option<&Vec<DemuxedFrame>>,
) -> Result<(), TestCaseError> {
    let (events, _) =
        segment_with(input, chunk, forwarding()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    check_forwarded(&events);
    let kept: Vec<&Event> = events.iter().filter(|e| !is_forwarded(e)).collect();
    prop_assert_eq!(kept.len(), plain.len());
    for (a, b) in kept.iter().zip(plain) {
        match (a, b) {
            (Event::Header(a), Event::Header(b)) => prop_assert_eq!(&a.bytes, &b.bytes),
            (Event::Cluster(a), Event::Cluster(b)) => prop_assert_eq!(a, b),
            _ => prop_assert!(false, "events differ with forward_blocks: {a:?} / {b:?}"),
        }
    }
    if let Some(orig) = orig {
        let (got, _) = demux(&live_form(&events))
            .map_err(|e| TestCaseError::fail(format!("live form unreadable: {e}")))?;
        prop_assert_eq!(&got, orig, "the live form's frames");
    }
    Ok(())
}

proptest! {
    #[test]
    fn random_valid_streams_survive_segmentation(spec in stream(), chunk in chunk_size()) {
        check(&spec, chunk)?;
    }
}

/// The writer itself: lacing encodings the demuxer reads back frame for
/// frame (a fixed case, so a writer bug shows here first).
#[test]
fn writer_lacing_round_trips() {
    let spec = StreamSpec {
        webm: true,
        segment_unknown_size: false,
        scale: 1_000_000,
        duration: Some(10.0),
        track_base: 126,
        tracks: vec![
            TrackSpec {
                video: true,
                codec: 0,
                default_duration: None,
            },
            TrackSpec {
                video: false,
                codec: 0,
                default_duration: Some(20_000_000),
            },
        ],
        first_timestamp: 5,
        clusters: vec![ClusterSpec {
            gap: 0,
            unknown_size: true,
            crc: true,
            void_before_timestamp: Some(3),
            void_after_block: Some((1, 10)),
            blocks: [Lacing::None, Lacing::Xiph, Lacing::Ebml, Lacing::Fixed]
                .into_iter()
                .enumerate()
                .map(|(i, lacing)| BlockSpec {
                    track: i,
                    rel: i as i16 * 10 - 10,
                    keyframe: i != 2,
                    group: i == 2,
                    duration: Some(7),
                    lacing,
                    sizes: vec![0, 255, 300, 1, 510],
                    fill: i as u8,
                })
                .collect(),
        }],
    };
    check(&spec, 7).unwrap();
}
