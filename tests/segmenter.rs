//! The segmenter against an independent Matroska reader (matroska-demuxer),
//! on every bundled fixture, whole, rechunked, damaged and truncated.

mod common;

use std::path::Path;

use common::{demux, DemuxedFrame};
use mkvcast::internals::cluster::read_block_header;
use mkvcast::internals::{ebml, ids};
use mkvcast::segmenter::{
    concat, prefetch_file, segment_all, Event, LiveCluster, Segmenter, SegmenterOptions,
    MAX_CLUSTER_BYTES,
};
use mkvcast_testkit::forwarded::{check_forwarded, forwarding, live_form, segment_with};
use mkvcast_testkit::{all_fixtures, fixture, Rng};

fn segments(events: &[Event]) -> Vec<&LiveCluster> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Cluster(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// The first block of `track` in a segment: (is keyframe, relative ts).
/// SimpleBlock: flag 0x80; BlockGroup: keyframe when it has no
/// ReferenceBlock.
fn first_block_of(seg: &LiveCluster, track: u64) -> Option<(bool, u64)> {
    let h = ebml::read_element_header(&seg.bytes).unwrap().unwrap();
    assert_eq!(h.id, ids::CLUSTER);
    assert_eq!(
        h.total_len(),
        Some(seg.bytes.len() as u64),
        "segment has a known, exact size"
    );
    for c in ebml::children(&seg.bytes[h.header_len..]) {
        let c = c.unwrap();
        match c.header.id {
            ids::SIMPLE_BLOCK => {
                let b = read_block_header(c.data).unwrap();
                if b.track == track {
                    return Some((b.flags & 0x80 != 0, abs(seg, b.relative_timestamp)));
                }
            }
            ids::BLOCK_GROUP => {
                let mut block = None;
                let mut referenced = false;
                for g in ebml::children(c.data) {
                    let g = g.unwrap();
                    match g.header.id {
                        ids::BLOCK => block = read_block_header(g.data),
                        ids::REFERENCE_BLOCK => referenced = true,
                        _ => {}
                    }
                }
                let b = block.unwrap();
                if b.track == track {
                    return Some((!referenced, abs(seg, b.relative_timestamp)));
                }
            }
            _ => {}
        }
    }
    None
}

fn abs(seg: &LiveCluster, relative: i16) -> u64 {
    (seg.timestamp.0 as i64 + i64::from(relative)) as u64
}

/// Checks the structure of one segment: Timestamp first, no stale
/// Position/PrevSize/CRC-32, timestamp fields consistent.
fn check_segment_structure(seg: &LiveCluster, scale: u64) {
    let h = ebml::read_element_header(&seg.bytes).unwrap().unwrap();
    let mut first = true;
    for c in ebml::children(&seg.bytes[h.header_len..]) {
        let c = c.unwrap();
        if first {
            assert_eq!(c.header.id, ids::TIMESTAMP, "Timestamp is the first child");
            assert_eq!(ebml::read_uint(c.data).unwrap(), seg.timestamp.0);
            first = false;
        }
        assert!(
            !matches!(c.header.id, ids::POSITION | ids::PREV_SIZE | ids::CRC32),
            "stale child {:X} kept",
            c.header.id
        );
    }
    assert_eq!(seg.start.0, seg.timestamp.0 * scale);
}

#[test]
fn every_fixture_survives_segmentation_frame_for_frame() {
    for path in all_fixtures() {
        let n = name(&path);
        let input = std::fs::read(&path).unwrap();
        let (orig, orig_scale) =
            demux(&input).unwrap_or_else(|e| panic!("{n}: original unreadable: {e}"));
        let (events, stats) = segment_all(&input, 1 << 20).unwrap();
        assert!(
            matches!(events.first(), Some(Event::Header(_))),
            "{n}: header first"
        );
        assert_eq!(stats.headers, 1, "{n}");
        assert_eq!(
            stats.bytes_skipped, 0,
            "{n}: nothing skipped in a clean file"
        );
        let out = concat(&events);
        let (got, scale) = demux(&out).unwrap_or_else(|e| panic!("{n}: output unreadable: {e}"));
        assert_eq!(scale, orig_scale, "{n}");
        assert!(!orig.is_empty(), "{n}");
        assert_eq!(got.len(), orig.len(), "{n}: frame count");
        assert_eq!(
            got, orig,
            "{n}: frames (track, timestamp, keyframe flag, size)"
        );

        let Event::Header(header) = &events[0] else {
            unreachable!()
        };
        let video = header.video_track();
        let segs = segments(&events);
        let mut last_ts = 0;
        for seg in &segs {
            check_segment_structure(seg, scale);
            assert!(
                seg.timestamp.0 >= last_ts,
                "{n}: cluster timestamps never go back"
            );
            last_ts = seg.timestamp.0;
            match video {
                Some(v) => match first_block_of(seg, v) {
                    Some((k, _)) => assert_eq!(
                        seg.keyframe, k,
                        "{n}: keyframe flag of cluster at {}",
                        seg.timestamp
                    ),
                    None => assert!(!seg.keyframe && !seg.has_video, "{n}"),
                },
                None => assert!(seg.keyframe, "{n}: audio-only clusters are all join points"),
            }
        }
        // Every video keyframe starts a segment: for SimpleBlock files the
        // demuxer's keyframe flags say where they are.
        if let Some(v) = video {
            let key_ts: Vec<u64> = orig
                .iter()
                .filter(|f| f.track == v && f.keyframe == Some(true))
                .map(|f| f.timestamp)
                .collect();
            if !key_ts.is_empty() {
                let seg_key_ts: Vec<u64> = segs
                    .iter()
                    .filter(|s| s.keyframe)
                    .map(|s| first_block_of(s, v).unwrap().1)
                    .collect();
                assert_eq!(
                    seg_key_ts, key_ts,
                    "{n}: one keyframe segment per video keyframe, at its time"
                );
            }
        }
    }
}

/// With blocks forwarded, a live viewer gets each served cluster as
/// unknown size + Timestamp + its blocks as they arrive: that form must
/// demux to the same frames as the known-size clusters, and the clusters
/// must be those made without forwarding.
#[test]
fn every_fixture_forwarded_as_blocks_demuxes_to_the_same_frames() {
    for path in all_fixtures() {
        let n = name(&path);
        let input = std::fs::read(&path).unwrap();
        let (plain, _) = segment_all(&input, 1 << 20).unwrap();
        for chunk in [4096, 1 << 20] {
            let (events, stats) = segment_with(&input, chunk, forwarding()).unwrap();
            assert_eq!(stats.bytes_skipped, 0, "{n}");
            check_forwarded(&events);
            let kept: Vec<&LiveCluster> = segments(&events);
            assert_eq!(kept, segments(&plain), "{n}: the same clusters");
            let (known, _) = demux(&concat(&events)).unwrap();
            let (live, _) = demux(&live_form(&events))
                .unwrap_or_else(|e| panic!("{n}: forwarded form unreadable: {e}"));
            assert!(!live.is_empty(), "{n}");
            assert_eq!(live, known, "{n}: frames of the forwarded form");
        }
    }
}

#[test]
fn header_is_live() {
    for path in all_fixtures() {
        let n = name(&path);
        let input = std::fs::read(&path).unwrap();
        let (events, _) = segment_all(&input, 1 << 20).unwrap();
        let Event::Header(h) = &events[0] else {
            panic!("{n}")
        };
        let hdr = &h.bytes;
        let ebml_h = ebml::read_element_header(hdr).unwrap().unwrap();
        assert_eq!(ebml_h.id, ids::EBML);
        let seg_at = ebml_h.total_len().unwrap() as usize;
        assert_eq!(
            &hdr[..seg_at],
            &input[..seg_at],
            "{n}: EBML header kept as is"
        );
        let seg = ebml::read_element_header(&hdr[seg_at..]).unwrap().unwrap();
        assert_eq!(seg.id, ids::SEGMENT);
        assert_eq!(seg.size, None, "{n}: Segment has unknown size");
        let mut level1 = Vec::new();
        let mut pos = seg_at + seg.header_len;
        while pos < hdr.len() {
            let e = ebml::read_element_header(&hdr[pos..]).unwrap().unwrap();
            let end = pos + e.total_len().unwrap() as usize;
            if e.id == ids::INFO {
                for c in ebml::children(&hdr[pos + e.header_len..end]) {
                    let id = c.unwrap().header.id;
                    assert!(
                        id != ids::DURATION && id != ids::CRC32,
                        "{n}: Info keeps {id:X}"
                    );
                }
            }
            level1.push(e.id);
            pos = end;
        }
        assert_eq!(pos, hdr.len());
        assert!(
            level1.contains(&ids::INFO) && level1.contains(&ids::TRACKS),
            "{n}"
        );
        for id in level1 {
            assert!(
                matches!(
                    id,
                    ids::INFO | ids::TRACKS | ids::CHAPTERS | ids::ATTACHMENTS | ids::TAGS
                ),
                "{n}: {id:X} must not be in a live header"
            );
        }
        let doc = if n.ends_with(".webm") {
            "webm"
        } else {
            "matroska"
        };
        assert_eq!(h.doc_type, doc, "{n}");
        let ct = h.content_type();
        match n.as_str() {
            // The audio-only fixtures.
            "opus_only.webm" | "vorbis_24k_laced.webm" | "opus_24k.webm" => {
                assert_eq!(ct, "audio/webm")
            }
            _ if doc == "webm" => assert_eq!(ct, "video/webm"),
            _ => assert_eq!(ct, "video/x-matroska"),
        }
        let first = [&hdr[..], &segments(&events)[0].bytes[..]].concat();
        let m = matroska_demuxer::MatroskaFile::open(std::io::Cursor::new(first)).unwrap();
        assert_eq!(
            m.info().duration(),
            None,
            "{n}: no Duration in a live stream"
        );
    }
}

#[test]
fn chunking_does_not_change_output() {
    for path in all_fixtures() {
        let n = name(&path);
        let input = std::fs::read(&path).unwrap();
        let (whole, _) = segment_all(&input, input.len()).unwrap();
        let whole_bytes = concat(&whole);
        let whole_cuts: Vec<usize> = segments(&whole).iter().map(|s| s.len()).collect();
        for chunk in [1, 7, 4096] {
            let (ev, _) = segment_all(&input, chunk).unwrap();
            assert_eq!(concat(&ev), whole_bytes, "{n}: chunk {chunk}");
            let cuts: Vec<usize> = segments(&ev).iter().map(|s| s.len()).collect();
            assert_eq!(cuts, whole_cuts, "{n}: chunk {chunk} segment boundaries");
        }
    }
}

#[test]
fn unknown_size_clusters_get_a_known_size() {
    let input = std::fs::read(fixture("gst_streamable.webm")).unwrap();
    // The fixture really has unknown-size clusters: 1F43B675 01FFFFFFFFFFFFFF.
    let marker = [
        0x1F, 0x43, 0xB6, 0x75, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    ];
    assert!(input.windows(marker.len()).any(|w| w == marker));
    let (events, _) = segment_all(&input, 4096).unwrap();
    let segs = segments(&events);
    assert!(segs.len() >= 3);
    for s in segs {
        let h = ebml::read_element_header(&s.bytes).unwrap().unwrap();
        assert_eq!(h.total_len(), Some(s.bytes.len() as u64));
    }
}

#[test]
fn crc32_is_removed_from_ffmpeg_matroska() {
    let input = std::fs::read(fixture("h264_flac.mkv")).unwrap();
    let (events, _) = segment_all(&input, 4096).unwrap();
    let out = concat(&events);
    // ffmpeg writes a CRC-32 (BF 84 + 4 bytes) first in Info and Clusters.
    let crc_in = input.windows(2).filter(|w| w == &[0xBF, 0x84]).count();
    assert!(
        crc_in >= 3,
        "fixture should carry CRC-32 elements, found {crc_in}"
    );
    for s in segments(&events) {
        check_segment_structure(s, 1_000_000);
    }
    assert!(demux(&out).is_ok());
}

#[test]
fn clusters_with_several_keyframes_are_split_at_each() {
    let input = std::fs::read(fixture("multi_keyframe.webm")).unwrap();
    let (events, stats) = segment_all(&input, 4096).unwrap();
    assert!(stats.splits >= 3, "{stats:?}");
    let segs = segments(&events);
    assert!(segs.iter().filter(|s| s.has_video).all(|s| s.keyframe));
}

#[test]
fn long_gop_clusters_start_mid_gop() {
    let input = std::fs::read(fixture("long_gop.webm")).unwrap();
    let (events, _) = segment_all(&input, 4096).unwrap();
    let segs = segments(&events);
    let keys = segs.iter().filter(|s| s.keyframe).count();
    assert!(
        keys >= 2 && keys * 2 < segs.len(),
        "{keys} of {}",
        segs.len()
    );
}

#[test]
fn second_ebml_header_is_a_new_stream() {
    let a = std::fs::read(fixture("vp8_vorbis.webm")).unwrap();
    let b = std::fs::read(fixture("opus_only.webm")).unwrap();
    let joined = [a.clone(), b.clone(), a.clone()].concat();
    let (events, stats) = segment_all(&joined, 1000).unwrap();
    let headers: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Header(h) => Some(h.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(headers.len(), 3, "{stats:?}");
    assert!(!headers[0].same_tracks(&headers[1]));
    assert!(headers[0].same_tracks(&headers[2]));
    let (sa, _) = segment_all(&a, 1000).unwrap();
    let (sb, _) = segment_all(&b, 1000).unwrap();
    assert_eq!(
        segments(&events).len(),
        2 * segments(&sa).len() + segments(&sb).len()
    );
    assert_eq!(stats.bytes_skipped, 0);
}

/// Found by fuzzing: a later stream whose header is unusable (a foreign
/// DocType, Tracks of unknown size) ended the whole input. It is skipped
/// instead; the stream before it is kept and a good stream after it plays.
#[test]
fn a_later_stream_with_a_bad_header_is_skipped() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    for case in [
        "later_stream_foreign_doctype",
        "later_stream_unknown_size_tracks",
    ] {
        // Two control bytes, then a good stream and its damaged copy.
        let file = std::fs::read(dir.join(case)).unwrap();
        let (good, bad) = file[2..].split_at((file.len() - 2) / 2);
        let (alone, _) = segment_all(good, 1 << 20).unwrap();
        let n = segments(&alone).len();
        assert!(n >= 3, "{case}");
        let input = [good, bad, good].concat();
        for chunk in [7, 4096] {
            let (events, stats) =
                segment_all(&input, chunk).unwrap_or_else(|e| panic!("{case}: {e}"));
            let headers = events
                .iter()
                .filter(|e| matches!(e, Event::Header(_)))
                .count();
            assert_eq!(headers, 2, "{case}: the good streams' headers");
            assert_eq!(segments(&events).len(), 2 * n, "{case}: {stats:?}");
            assert!(stats.bytes_skipped as usize >= bad.len() / 2, "{case}");
        }
    }
}

/// Media time of the first real Cluster at or after `from` in `input`.
fn first_cluster_after(input: &[u8], from: usize) -> Option<u64> {
    (from..input.len().saturating_sub(16)).find_map(|at| {
        let h = ebml::read_element_header(&input[at..]).ok()??;
        if h.id != ids::CLUSTER {
            return None;
        }
        let mut pos = at + h.header_len;
        loop {
            let c = ebml::read_element_header(&input[pos..]).ok()??;
            match c.id {
                ids::TIMESTAMP => {
                    return ebml::read_uint(
                        &input[pos + c.header_len..pos + c.header_len + c.size? as usize],
                    )
                    .ok()
                }
                ids::CRC32 | ids::VOID => pos += c.total_len()? as usize,
                _ => return None,
            }
        }
    })
}

/// Frames with timestamps at or after `t`, per track order.
fn frames_from(frames: &[DemuxedFrame], t: u64) -> Vec<DemuxedFrame> {
    frames
        .iter()
        .filter(|f| f.timestamp >= t)
        .cloned()
        .collect()
}

#[test]
fn damaged_middle_resyncs_and_keeps_what_follows() {
    for path in all_fixtures() {
        let n = name(&path);
        let input = std::fs::read(&path).unwrap();
        let (orig, _) = demux(&input).unwrap();
        for (fraction, len, fill) in [
            (0.4, 3000usize, 0u8),
            (0.55, 200, 0xA5),
            (0.7, 40_000, 0x1F),
        ] {
            let at = (input.len() as f64 * fraction) as usize;
            let end = (at + len).min(input.len());
            let mut bad = input.clone();
            for (i, b) in bad[at..end].iter_mut().enumerate() {
                *b = if fill == 0xA5 {
                    (i as u8).wrapping_mul(31) ^ fill
                } else {
                    fill
                };
            }
            let Some(after) = first_cluster_after(&input, end) else {
                continue;
            };
            for chunk in [1000, 65536] {
                let (events, stats) = segment_all(&bad, chunk).unwrap();
                let out = concat(&events);
                let (got, _) =
                    demux(&out).unwrap_or_else(|e| panic!("{n}: damaged output unreadable: {e}"));
                let _ = stats;
                // Allow a second of interleave around the first good cluster.
                let t = after + 1000;
                assert_eq!(
                    frames_from(&got, t),
                    frames_from(&orig, t),
                    "{n}: frames after the damage at {at}"
                );
            }
        }
    }
}

#[test]
fn truncated_input_ends_with_the_segments_it_completed() {
    for path in all_fixtures() {
        let n = name(&path);
        let input = std::fs::read(&path).unwrap();
        let (full, _) = segment_all(&input, 1 << 20).unwrap();
        let full_segs = segments(&full);
        for fraction in [0.1, 0.33, 0.5, 0.77, 0.999] {
            let cut = (input.len() as f64 * fraction) as usize;
            let (events, _) = segment_all(&input[..cut], 4096).unwrap();
            let segs = segments(&events);
            // All but the last exactly as from the whole input; the last
            // may be the cut cluster (known or unknown size), emitted with
            // the blocks it completed.
            let exact = segs.len().saturating_sub(1);
            assert!(segs.len() <= full_segs.len(), "{n}");
            for (a, b) in segs[..exact].iter().zip(&full_segs) {
                assert_eq!(a, b, "{n}: cut at {cut}");
            }
            if let Some(last) = segs.last() {
                let whole = full_segs[segs.len() - 1];
                assert_eq!(last.timestamp, whole.timestamp, "{n}: cut at {cut}");
                assert!(last.len() <= whole.len(), "{n}: cut at {cut}");
            }
            if !segs.is_empty() {
                demux(&concat(&events)).unwrap_or_else(|e| panic!("{n}: cut at {cut}: {e}"));
            }
        }
    }
}

#[test]
fn random_mutations_never_panic_and_stay_bounded() {
    let inputs: Vec<Vec<u8>> = all_fixtures()
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .filter(|d| d.len() < 600_000)
        .collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..3000 {
        let src = &inputs[round % inputs.len()];
        let mut data = src.clone();
        for _ in 0..1 + rng.below(8) {
            let at = rng.below(data.len());
            match rng.below(6) {
                0 => data[at] ^= 1 << rng.below(8),
                1 => data[at] = rng.next() as u8,
                2 => {
                    let end = (at + rng.below(64)).min(data.len());
                    data.drain(at..end);
                }
                3 => {
                    let junk: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
                    data.splice(at..at, junk);
                }
                4 => {
                    let end = (at + rng.below(4096)).min(data.len());
                    data[at..end].fill(0);
                }
                _ => data.truncate(at.max(1)),
            }
            if data.is_empty() {
                break;
            }
        }
        let chunk = 1 + rng.below(9000);
        let mut seg = Segmenter::new();
        let mut out = Vec::new();
        for c in data.chunks(chunk) {
            if seg.feed(c, &mut out).is_err() {
                break;
            }
            assert!(seg.buffered() <= MAX_CLUSTER_BYTES + chunk);
            out.clear();
        }
        let _ = seg.finish(&mut out);
    }
}

#[test]
fn oversized_clusters_are_skipped_without_buffering() {
    let input = std::fs::read(fixture("vp8_vorbis.webm")).unwrap();
    let (events, _) = segment_all(&input, 1 << 20).unwrap();
    let Event::Header(h) = &events[0] else {
        panic!()
    };
    let good: Vec<u8> = segments(&events)
        .iter()
        .flat_map(|s| s.bytes.to_vec())
        .collect();

    // A cluster of unknown size that never ends, then good clusters.
    let mut stream = h.bytes.to_vec();
    stream.extend_from_slice(&[
        0x1F, 0x43, 0xB6, 0x75, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    ]);
    stream.extend_from_slice(&[0xE7, 0x81, 0x00]);
    let block_len = 1 << 20;
    let mut seg = Segmenter::new();
    let mut out = Vec::new();
    seg.feed(&stream, &mut out).unwrap();
    // SimpleBlock with an 8-byte size field of 1 MiB.
    let block = [0xA3, 0x01, 0, 0, 0, 0, 0x10, 0, 0];
    let mut payload = vec![0u8; block_len];
    payload[..4].copy_from_slice(&[0x81, 0x00, 0x00, 0x80]);
    let blocks = MAX_CLUSTER_BYTES / block_len + 4;
    for _ in 0..blocks {
        seg.feed(&block, &mut out).unwrap();
        seg.feed(&payload, &mut out).unwrap();
        assert!(seg.buffered() <= MAX_CLUSTER_BYTES + block_len + 16);
    }
    // It is cut at the limit: the blocks that fit are served (its children
    // may have been forwarded already), each keyframe its own cluster, and
    // the rest is skipped.
    let fit = (MAX_CLUSTER_BYTES - 15) / (block_len + block.len());
    let cut = out.len();
    assert_eq!(segments(&out).len(), fit);
    assert!(segments(&out).iter().all(|s| s.len() < 2 * block_len));
    // A known-size cluster claiming 1 TiB is skipped by size, not buffered.
    let mut huge = vec![0x1F, 0x43, 0xB6, 0x75, 0x01, 0, 0, 0x01, 0, 0, 0, 0];
    huge.extend_from_slice(&[0xE7, 0x81, 0x00]);
    let mut seg2 = Segmenter::new();
    let mut out2 = Vec::new();
    seg2.feed(&h.bytes, &mut out2).unwrap();
    seg2.feed(&huge, &mut out2).unwrap();
    for _ in 0..8 {
        seg2.feed(&payload, &mut out2).unwrap();
        assert!(seg2.buffered() < 64, "skipped bytes are not buffered");
    }
    // After the oversized cluster, the good clusters still come through.
    seg.feed(&good, &mut out).unwrap();
    seg.finish(&mut out).unwrap();
    let n_good = segments(&events).len();
    let got = segments(&out[cut..]).len();
    assert!(
        got >= n_good - 1,
        "{got} of {n_good} good clusters after an oversized one"
    );
    let rest = (blocks - fit) * (block_len + block.len());
    assert_eq!(seg.stats().bytes_skipped, rest as u64);
}

#[test]
fn not_matroska_is_a_clear_error() {
    let junk: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let err = segment_all(&junk, 4096).unwrap_err();
    assert!(err.to_string().contains("not Matroska"), "{err}");
    let mut mp4 = vec![0, 0, 0, 0x20];
    mp4.extend_from_slice(b"ftypisom");
    mp4.resize(100_000, 0);
    assert!(segment_all(&mp4, 4096).is_err());
    let (events, _) = segment_all(&[], 4096).unwrap();
    assert!(events.is_empty());
}

/// The level-1 elements of a live header, after its EBML header and the
/// Segment's ID and size.
fn header_level1(h: &[u8]) -> Vec<(u32, Vec<u8>)> {
    let e = ebml::read_element_header(h).unwrap().unwrap();
    let mut pos = e.total_len().unwrap() as usize;
    pos += ebml::read_element_header(&h[pos..])
        .unwrap()
        .unwrap()
        .header_len;
    let mut out = Vec::new();
    while pos < h.len() {
        let c = ebml::read_element_header(&h[pos..]).unwrap().unwrap();
        let end = pos + c.total_len().unwrap() as usize;
        out.push((c.id, h[pos..end].to_vec()));
        pos = end;
    }
    out
}

/// Attachments stay in the live header only for ASS/SSA subtitles (the
/// fonts they name), or when asked for: one 78-byte text file attached to
/// an H.264 + AAC + SRT stream kept Chromium and Firefox at readyState 0.
#[test]
fn attachments_stay_in_the_live_header_only_for_ass_subtitles_or_when_kept() {
    let keep = SegmenterOptions {
        keep_attachments: true,
        ..SegmenterOptions::default()
    };
    for (name, options, kept) in [
        (
            "h264_aac_srt_attach.mkv",
            SegmenterOptions::default(),
            false,
        ),
        ("h264_aac_srt_attach.mkv", keep, true),
        ("ass_font.mkv", SegmenterOptions::default(), true),
    ] {
        let input = std::fs::read(fixture(name)).unwrap();
        let mut seg = Segmenter::with_options(options);
        let mut events = Vec::new();
        seg.feed(&input, &mut events).unwrap();
        seg.finish(&mut events).unwrap();
        let Event::Header(h) = &events[0] else {
            panic!("{name}: no header first")
        };
        let level1 = header_level1(&h.bytes);
        let ids: Vec<u32> = level1.iter().map(|e| e.0).collect();
        let original = level1_elements(&input);
        let att = original
            .iter()
            .find(|e| e.0 == ids::ATTACHMENTS)
            .unwrap_or_else(|| panic!("{name} has Attachments"));
        if kept {
            assert!(ids.contains(&ids::ATTACHMENTS), "{name}: {ids:X?}");
            assert!(level1.contains(att), "{name}: Attachments as stored");
            assert_eq!(h.dropped_attachments, None);
        } else {
            assert!(!ids.contains(&ids::ATTACHMENTS), "{name}: {ids:X?}");
            let dropped = h.dropped_attachments.unwrap();
            assert_eq!((dropped.files, dropped.bytes), (1, att.1.len()), "{name}");
        }
        assert!(ids.contains(&ids::TRACKS), "{name}");
    }
}

/// The level-1 elements of a file with a known-size Segment.
fn level1_elements(file: &[u8]) -> Vec<(u32, Vec<u8>)> {
    let e = ebml::read_element_header(file).unwrap().unwrap();
    let mut pos = e.total_len().unwrap() as usize;
    let seg = ebml::read_element_header(&file[pos..]).unwrap().unwrap();
    pos += seg.header_len;
    let end = pos + seg.size.unwrap() as usize;
    let mut out = Vec::new();
    while pos < end {
        let c = ebml::read_element_header(&file[pos..]).unwrap().unwrap();
        let next = pos + c.total_len().unwrap() as usize;
        out.push((c.id, file[pos..next].to_vec()));
        pos = next;
    }
    out
}

/// A file whose Tracks and Attachments come after its first Cluster
/// (mkvpropedit moved them; ffmpeg and mkvinfo find them through the
/// SeekHead). Read as a stream (a pipe) it has no Tracks in time, and that
/// stays a clear error; read ahead through its SeekHead, as the source does
/// for a regular file, it streams the very clusters of the file it was
/// made from.
#[test]
fn tracks_after_the_first_cluster_are_found_through_the_seekhead() {
    let path = fixture("seekhead/tracks_after_cluster.mkv");
    let input = std::fs::read(&path).unwrap();
    let err = segment_all(&input, 4096).unwrap_err();
    assert!(
        err.to_string()
            .contains("no Tracks element before the first Cluster"),
        "{err}"
    );

    let mut file = std::fs::File::open(&path).unwrap();
    let prefetched = prefetch_file(&mut file);
    assert_eq!(
        prefetched.ids(),
        [ids::INFO, ids::TRACKS, ids::TAGS, ids::ATTACHMENTS]
    );
    let mut seg = Segmenter::new();
    seg.preload(prefetched);
    let mut events = Vec::new();
    // From where prefetch_file left the file: its start.
    let mut buf = vec![0u8; 4096];
    loop {
        let n = std::io::Read::read(&mut file, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        seg.feed(&buf[..n], &mut events).unwrap();
    }
    seg.finish(&mut events).unwrap();
    let Event::Header(h) = &events[0] else {
        panic!("no header first")
    };
    let stored = level1_elements(&input);
    let tracks = stored.iter().find(|e| e.0 == ids::TRACKS).unwrap();
    assert_eq!(h.tracks_element.to_vec(), tracks.1);
    assert_eq!(h.describe_tracks(), "H.264 320x240 + AAC + text");
    let ids: Vec<u32> = header_level1(&h.bytes).iter().map(|e| e.0).collect();
    assert_eq!(
        ids,
        [ids::INFO, ids::TRACKS, ids::TAGS],
        "SRT: no Attachments"
    );
    assert_eq!(h.dropped_attachments.map(|d| d.files), Some(1));

    let original = std::fs::read(fixture("h264_aac_srt.mkv")).unwrap();
    let (want, _) = segment_all(&original, 4096).unwrap();
    let got: Vec<&[u8]> = segments(&events).iter().map(|s| &s.bytes[..]).collect();
    let want: Vec<&[u8]> = segments(&want).iter().map(|s| &s.bytes[..]).collect();
    assert_eq!(got.len(), 6);
    assert!(got == want, "clusters differ from h264_aac_srt.mkv's");
    assert_eq!(seg.stats().bytes_skipped, 0);
}
