//! The state machine on small hand-built streams: chunking, the order of
//! events, damage, oversized and truncated elements, and what is counted.

use super::*;
use crate::ebml;
use crate::matroska::header::HeaderError;
use crate::matroska::ids;
use crate::matroska::test_writer::*;
use crate::time::Ticks;

/// An event as comparable values: `('H', bytes, 0)`, `('C', bytes, ts)`,
/// and when forwarding `('S', [], ts)` and `('B', bytes, ts)`.
pub(super) fn shape(events: &[Event]) -> Vec<(char, Vec<u8>, u64)> {
    events
        .iter()
        .map(|e| match e {
            Event::Header(h) => ('H', h.bytes.to_vec(), 0),
            Event::ClusterStart { timestamp } => ('S', Vec::new(), timestamp.0),
            Event::Block(b) => ('B', b.bytes.to_vec(), b.timestamp.0),
            Event::Cluster(c) => ('C', c.bytes.to_vec(), c.timestamp.0),
        })
        .collect()
}

fn clusters(events: &[Event]) -> Vec<&LiveCluster> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Cluster(c) => Some(c),
            _ => None,
        })
        .collect()
}

/// The ID and a known size of a Cluster claiming `size` bytes of body.
fn cluster_head(size: u64) -> Vec<u8> {
    let mut out = Vec::new();
    ebml::write_id(&mut out, ids::CLUSTER);
    // The 8-byte form, whatever the size, as muxers that patch it write it.
    out.push(0x01);
    out.extend_from_slice(&size.to_be_bytes()[1..]);
    out
}

#[test]
fn header_then_clusters_in_input_order() {
    let head = av_head();
    let (c0, c1, c2) = (av_cluster(0), av_cluster(1000), av_cluster(2000));
    let input = [head.clone(), c0.clone(), c1.clone(), c2.clone()].concat();
    let (events, stats) = segment_all(&input, input.len()).unwrap();
    let shapes = shape(&events);
    // Info and Tracks are copied as they are (no Duration, no CRC-32).
    assert_eq!(
        shapes,
        [
            ('H', head, 0),
            ('C', c0, 0),
            ('C', c1, 1000),
            ('C', c2, 2000)
        ]
    );
    let Some(Event::Header(h)) = events.first() else {
        panic!("no header first")
    };
    assert_eq!(h.doc_type, "webm");
    assert_eq!(h.video_track(), Some(1));
    assert!(clusters(&events).iter().all(|c| c.keyframe && c.has_video));
    assert_eq!(
        stats,
        Stats {
            bytes_in: input.len() as u64,
            headers: 1,
            clusters: 3,
            splits: 0,
            bytes_skipped: 0,
            resyncs: 0,
        }
    );
}

/// A stream with every kind of event and damage, for chunking tests.
pub(super) fn busy_stream() -> Vec<u8> {
    let split_me = cluster(
        3000,
        &[
            simple_block(1, 0, true),
            simple_block(2, 5, false),
            simple_block(1, 500, true),
            simple_block(1, 540, false),
        ],
    );
    let mut unknown = Vec::new();
    ebml::write_id(&mut unknown, ids::CLUSTER);
    unknown.extend_from_slice(&ebml::UNKNOWN_SIZE_BYTES);
    unknown.extend_from_slice(&uint_el(ids::TIMESTAMP, 4000));
    unknown.extend_from_slice(&simple_block(1, 0, true));
    [
        av_head(),
        av_cluster(0),
        vec![0u8; 37],
        av_cluster(1000),
        split_me,
        unknown,
        av_head(),
        av_cluster(9000),
    ]
    .concat()
}

#[test]
fn one_byte_chunks_give_the_same_events_and_counts_as_whole_input() {
    let input = busy_stream();
    let (whole, whole_stats) = segment_all(&input, input.len()).unwrap();
    assert_eq!(
        whole_stats,
        Stats {
            bytes_in: input.len() as u64,
            headers: 2,
            clusters: 6,
            splits: 1,
            bytes_skipped: 37,
            resyncs: 1,
        }
    );
    let timestamps: Vec<u64> = clusters(&whole).iter().map(|c| c.timestamp.0).collect();
    assert_eq!(timestamps, [0, 1000, 3000, 3500, 4000, 9000]);
    for chunk in [1, 2, 7, 64] {
        let (events, stats) = segment_all(&input, chunk).unwrap();
        assert_eq!(shape(&events), shape(&whole), "chunk {chunk}");
        assert_eq!(stats, whole_stats, "chunk {chunk}");
    }
}

#[test]
fn damage_between_clusters_is_one_resync_counting_exactly_the_bytes_passed() {
    let garbage: Vec<u8> = (0..200u32).map(|i| (i % 7) as u8).collect();
    let input = [
        av_head(),
        av_cluster(0),
        garbage,
        av_cluster(1000),
        av_cluster(2000),
    ]
    .concat();
    let (events, stats) = segment_all(&input, 3).unwrap();
    let timestamps: Vec<u64> = clusters(&events).iter().map(|c| c.timestamp.0).collect();
    assert_eq!(timestamps, [0, 1000, 2000]);
    assert_eq!((stats.resyncs, stats.bytes_skipped), (1, 200));
}

#[test]
fn an_open_unknown_size_cluster_is_emitted_at_finish_with_a_known_size() {
    let mut input = av_head();
    ebml::write_id(&mut input, ids::CLUSTER);
    input.extend_from_slice(&ebml::UNKNOWN_SIZE_BYTES);
    let body = [uint_el(ids::TIMESTAMP, 70), simple_block(1, 0, true)].concat();
    input.extend_from_slice(&body);
    let (events, stats) = segment_all(&input, 1).unwrap();
    let got = clusters(&events);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].bytes.to_vec(), el(ids::CLUSTER, &body));
    assert_eq!(got[0].timestamp, Ticks(70));
    assert_eq!(stats.bytes_skipped, 0);
}

/// A known-size cluster cut short by the end of the input is damaged, and
/// keeps its complete children like any damaged cluster (with
/// `forward_blocks` they are out already); only the cut child is dropped.
#[test]
fn a_truncated_known_size_cluster_keeps_its_complete_children() {
    let last = av_cluster(1000);
    let cut = &last[..last.len() - 2];
    let input = [av_head(), av_cluster(0), cut.to_vec()].concat();
    let (events, stats) = segment_all(&input, 5).unwrap();
    let got = clusters(&events);
    assert_eq!(got.len(), 2);
    let kept = [
        uint_el(ids::TIMESTAMP, 1000),
        simple_block(1, 0, true),
        simple_block(2, 0, false),
    ]
    .concat();
    assert_eq!(got[1].bytes.to_vec(), el(ids::CLUSTER, &kept));
    let lost = simple_block(1, 40, false).len() - 2;
    assert_eq!(stats.bytes_skipped, lost as u64);
    // Cut inside its Timestamp: nothing to serve, all of it skipped.
    let input = [av_head(), av_cluster(0), last[..7].to_vec()].concat();
    let (events, stats) = segment_all(&input, 5).unwrap();
    assert_eq!(clusters(&events).len(), 1);
    assert_eq!(stats.bytes_skipped, 7);
}

#[test]
fn a_cluster_before_any_tracks_is_a_clear_error() {
    let input = [ebml_header("webm"), segment_start(), info(), av_cluster(0)].concat();
    let err = segment_all(&input, input.len()).unwrap_err();
    assert_eq!(err, SegmenterError::Header(HeaderError::NoTracks));
    assert!(err.to_string().contains("no Tracks"), "{err}");
}

#[test]
fn an_oversized_cluster_is_skipped_by_size_and_what_follows_is_kept() {
    let big = MAX_CLUSTER_BYTES as u64 + 1;
    let mut seg = Segmenter::new();
    let mut out = Vec::new();
    seg.feed(&[av_head(), av_cluster(0)].concat(), &mut out)
        .unwrap();
    let head = cluster_head(big);
    seg.feed(&head, &mut out).unwrap();
    let chunk = vec![0u8; 1 << 20];
    let mut left = big;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        seg.feed(&chunk[..n], &mut out).unwrap();
        left -= n as u64;
        assert!(seg.buffered() <= chunk.len(), "skipped bytes are not held");
    }
    seg.feed(&av_cluster(5000), &mut out).unwrap();
    seg.finish(&mut out).unwrap();
    let timestamps: Vec<u64> = clusters(&out).iter().map(|c| c.timestamp.0).collect();
    assert_eq!(timestamps, [0, 5000]);
    assert_eq!(seg.stats().bytes_skipped, head.len() as u64 + big);
    assert_eq!(seg.stats().resyncs, 0);
}

/// Bug: the declared size of an oversized cluster was counted as skipped
/// when skipping began, so a cluster claiming 1 TiB in a short input made
/// `bytes_skipped` exceed `bytes_in`.
#[test]
fn bytes_skipped_counts_only_bytes_read_of_an_oversized_cluster() {
    let mut seg = Segmenter::new();
    let mut out = Vec::new();
    seg.feed(&av_head(), &mut out).unwrap();
    seg.feed(&av_cluster(0), &mut out).unwrap();
    let head = cluster_head(1 << 40);
    seg.feed(&head, &mut out).unwrap();
    seg.feed(&[0u8; 1000], &mut out).unwrap();
    seg.finish(&mut out).unwrap();
    let stats = seg.stats();
    assert_eq!(stats.bytes_skipped, head.len() as u64 + 1000);
    assert!(stats.bytes_skipped <= stats.bytes_in);
}

/// Bug: with `--loop`, each pass over a file whose cluster claims a huge
/// size added that size again, and a few hundred passes overflowed the
/// counter (a panic in debug builds, a wrap in release).
#[test]
fn looping_over_an_oversized_cluster_keeps_bytes_skipped_within_bytes_in() {
    let mut pass = [av_head(), av_cluster(0)].concat();
    let head = cluster_head((1 << 56) - 2);
    pass.extend_from_slice(&head);
    pass.extend_from_slice(&[0u8; 10]);
    let mut seg = Segmenter::new();
    let mut out = Vec::new();
    for _ in 0..300 {
        seg.feed(&pass, &mut out).unwrap();
        seg.finish(&mut out).unwrap();
    }
    let stats = seg.stats();
    assert_eq!(stats.bytes_in, 300 * pass.len() as u64);
    assert_eq!(stats.bytes_skipped, 300 * (head.len() as u64 + 10));
    assert_eq!((stats.headers, stats.clusters), (300, 300));
}

/// EBML header, Segment, Info, Tracks with a subtitle track of `codec`,
/// Attachments with one file, a cluster.
fn stream_with_attachment(codec: &str) -> Vec<u8> {
    let tracks = el(
        ids::TRACKS,
        &[track(1, 1, "V_VP8"), track(3, 0x11, codec)].concat(),
    );
    [
        ebml_header("matroska"),
        segment_start(),
        info(),
        tracks,
        attachments(&[("note.txt", &[b'n'; 78])]),
        av_cluster(0),
    ]
    .concat()
}

fn header_ids(seg: &mut Segmenter, input: &[u8]) -> Vec<u32> {
    let mut out = Vec::new();
    seg.feed(input, &mut out).unwrap();
    seg.finish(&mut out).unwrap();
    let Some(Event::Header(h)) = out.first() else {
        panic!("no header first")
    };
    level1_ids(&h.bytes)
}

#[test]
fn attachments_reach_the_live_header_only_for_ass_or_when_kept() {
    let srt = stream_with_attachment("S_TEXT/UTF8");
    let ass = stream_with_attachment("S_TEXT/ASS");
    let keep = SegmenterOptions {
        keep_attachments: true,
        ..SegmenterOptions::default()
    };
    let with = vec![ids::INFO, ids::TRACKS, ids::ATTACHMENTS];
    assert_eq!(header_ids(&mut Segmenter::new(), &srt), with[..2]);
    assert_eq!(header_ids(&mut Segmenter::with_options(keep), &srt), with);
    assert_eq!(header_ids(&mut Segmenter::new(), &ass), with);
    assert_eq!(
        SegmenterOptions::default(),
        SegmenterOptions {
            keep_attachments: false,
            forward_blocks: false,
        }
    );
}
