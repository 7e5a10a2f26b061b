use std::time::Instant;

use super::*;
use crate::live_writer::{concat, payload_id, repack, Synthetic};
use crate::Rng;

/// Feeds `data` in random pieces of 1..=max bytes.
fn parse_chunked(data: &[u8], seed: u64, max: usize) -> BlockParser {
    let mut p = BlockParser::new();
    let mut rng = Rng(seed);
    let mut rest = data;
    while !rest.is_empty() {
        let n = (1 + rng.below(max)).min(rest.len());
        p.feed(&rest[..n], Instant::now());
        rest = &rest[n..];
    }
    p
}

#[test]
fn synthetic_stream_reads_back_block_for_block() {
    let s = Synthetic {
        frames: 130,
        keyframe_frames: 15,
        ..Synthetic::default()
    };
    let data = concat(&s.chunks());
    for (seed, max) in [(1, 1), (2, 7), (3, 5000), (4, 1 << 20)] {
        let p = parse_chunked(&data, seed, max);
        assert_eq!(p.error, None);
        assert_eq!((p.headers, p.unknown_clusters, p.known_clusters), (1, 3, 0));
        assert_eq!(p.blocks.len(), 130);
        for (i, b) in p.blocks.iter().enumerate() {
            let i = i as u64;
            assert_eq!(payload_id(&b.head), Some((i, s.frame_ms(i))));
            assert_eq!(b.media_ns, s.frame_ms(i) as i64 * 1_000_000);
            assert_eq!(b.keyframe, i % 15 == 0, "frame {i}");
            assert!(b.video && b.unknown_cluster && b.track == 1);
        }
        assert_eq!(p.blocks.last().unwrap().end, data.len() as u64);
    }
    assert!(has_unknown_size_cluster(&data));
}

#[test]
fn known_size_clusters_read_the_same() {
    let s = Synthetic {
        frames: 125,
        unknown_size: false,
        ..Synthetic::default()
    };
    let chunks = s.chunks();
    // Header, then one chunk per Cluster, due at its last frame.
    assert_eq!(chunks.len(), 1 + 3);
    assert_eq!(chunks[3].media_ns, Some(s.frame_ms(124) * 1_000_000));
    let data = concat(&chunks);
    assert!(!has_unknown_size_cluster(&data));
    let p = parse_chunked(&data, 9, 300);
    assert_eq!(p.error, None);
    assert_eq!((p.unknown_clusters, p.known_clusters), (0, 3));
    let seqs: Vec<u64> = p
        .blocks
        .iter()
        .map(|b| payload_id(&b.head).unwrap().0)
        .collect();
    assert_eq!(seqs, (0..125).collect::<Vec<_>>());
    assert!(p.blocks.iter().all(|b| !b.unknown_cluster));
}

/// A fixture with BlockGroups and laced audio reads the same whole and
/// repacked into unknown-size Clusters; the repacked bytes keep every block.
#[test]
fn repacked_fixture_keeps_every_block() {
    for name in ["demo.webm", "mkvmerge_blockgroups.mkv"] {
        let file = std::fs::read(crate::fixture(name)).unwrap();
        let whole = parse_chunked(&file, 5, 1 << 16);
        assert_eq!(whole.error, None, "{name}");
        assert!(whole.known_clusters > 0 && whole.unknown_clusters == 0);
        let chunks = repack(&file, None).unwrap();
        let again = parse_chunked(&concat(&chunks), 6, 4096);
        assert_eq!(again.error, None, "{name}");
        assert_eq!(again.unknown_clusters, whole.known_clusters, "{name}");
        let key = |p: &BlockParser| -> Vec<(u64, i64, bool, Vec<u8>)> {
            let b = p.blocks.iter();
            b.map(|b| (b.track, b.media_ns, b.keyframe, b.head.clone()))
                .collect()
        };
        assert_eq!(key(&again), key(&whole), "{name}");
        // One chunk per block after the header, each due at its block.
        assert_eq!(chunks.len(), 1 + whole.blocks.len());
        let due: Vec<i64> = chunks[1..]
            .iter()
            .map(|c| c.media_ns.unwrap() as i64)
            .collect();
        let media: Vec<i64> = whole.blocks.iter().map(|b| b.media_ns).collect();
        assert_eq!(due, media, "{name}");
    }
    let file = std::fs::read(crate::fixture("demo.webm")).unwrap();
    let first_6_s = repack(&file, Some(6000)).unwrap();
    let p = parse_chunked(&concat(&first_6_s), 7, 1 << 20);
    assert_eq!(p.unknown_clusters, 3);
    assert_eq!(p.blocks.iter().filter(|b| b.video).count(), 150);
}

#[test]
fn damage_is_reported_not_skipped() {
    let mut data = concat(&Synthetic::default().chunks());
    // A byte that is no element ID (0x00) where a block would start.
    let at = data.len() / 2;
    let p0 = parse_chunked(&data[..at], 1, 1 << 20);
    let cut = p0.blocks.last().unwrap().end as usize;
    data[cut] = 0;
    let p = parse_chunked(&data, 1, 1 << 20);
    assert!(p.error.is_some());
    assert_eq!(p.blocks.len(), p0.blocks.len());
}

/// What the server's own segmenter makes of the synthetic stream: one
/// segment per keyframe (it cuts Clusters at every keyframe), nothing
/// skipped; and mkvinfo reads it (when installed).
#[test]
fn synthetic_stream_is_valid_matroska() {
    use mkvcast::segmenter::{segment_all, Event};
    let s = Synthetic {
        frames: 240,
        keyframe_frames: 15,
        ..Synthetic::default()
    };
    let data = concat(&s.chunks());
    let (events, stats) = segment_all(&data, 1000).unwrap();
    assert_eq!(stats.bytes_skipped, 0);
    let segs: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Cluster(c) => Some((c.timestamp.0, c.keyframe)),
            _ => None,
        })
        .collect();
    let want: Vec<(u64, bool)> = (0..16).map(|k| (s.frame_ms(k * 15), true)).collect();
    assert_eq!(segs, want);
    if !crate::real::require_tool("mkvinfo") {
        return;
    }
    let file = crate::real::TempFile::write("synthetic", "webm", &data);
    let out = crate::real::run_tool("mkvinfo", &["-v"], file.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "mkvinfo: {text}");
    assert_eq!(text.matches("+ Simple block").count(), 240, "{text}");
    let clusters = text.lines().filter(|l| l.starts_with("|+ Cluster"));
    assert_eq!(clusters.count(), 4, "{text}");
}
