use mkvcast::internals::{cluster, ebml, ids};

use super::StreamWalk;
use crate::Rng;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(crate::fixture(name)).unwrap()
}

fn walk(data: &[u8], chunk: usize) -> StreamWalk {
    let mut v = StreamWalk::new();
    data.chunks(chunk).for_each(|c| v.feed(c));
    v
}

#[test]
fn accepts_fixtures_in_any_chunking() {
    for (name, clusters) in [
        ("bench_1mbit.webm", 14),
        ("vp8_vorbis.webm", 10),
        ("opus_only.webm", 3),
        ("mkvmerge_blockgroups.mkv", 5),
        ("h264_flac.mkv", 5),
        ("long_gop.webm", 13),
    ] {
        let data = fixture(name);
        for chunk in [1, 3, 4096, data.len()] {
            let v = walk(&data, chunk);
            assert_eq!(v.error(), None, "{name} in {chunk}-byte chunks");
            assert_eq!((v.clusters(), v.ended()), (clusters, true), "{name}");
        }
    }
}

/// Offset of the first video block of the first Cluster (after its header
/// and Timestamp, and any audio blocks).
fn first_video_block(data: &[u8]) -> usize {
    let cluster = data
        .windows(4)
        .position(|w| w == [0x1F, 0x43, 0xB6, 0x75])
        .unwrap();
    let ts = cluster + 4 + ebml::vint_len(data[cluster + 4]).unwrap();
    let mut block = ts + 2 + usize::from(data[ts + 1] & 0x7F);
    loop {
        assert_eq!(data[block], ids::SIMPLE_BLOCK as u8);
        let (size, size_len) = ebml::read_size(&data[block + 1..]).unwrap().unwrap();
        let body = block + 1 + size_len;
        if cluster::read_block_header(&data[body..]).unwrap().track == 1 {
            return block;
        }
        block = body + size.unwrap() as usize;
    }
}

#[test]
fn rejects_damage() {
    let data = fixture("vp8_vorbis.webm");
    assert!(walk(&data[1..], 4096).error().is_some());
    let mut extra = data.clone();
    extra.push(0xEC);
    assert!(walk(&extra, 4096).error().is_some());
    // Clear the keyframe flag of the first video block of the first Cluster.
    let block = first_video_block(&data);
    let mut nokey = data.clone();
    let size_len = ebml::vint_len(data[block + 1]).unwrap();
    nokey[block + 1 + size_len + 3] &= 0x7F;
    let err = walk(&nokey, 4096).error().unwrap().to_string();
    assert!(err.contains("keyframe"), "{err}");
    // Random damage must be reported or ignored, never panic.
    let mut rng = Rng(1);
    for _ in 0..500 {
        let mut bad = data.clone();
        let at = rng.below(bad.len());
        bad[at] ^= rng.next() as u8 | 1;
        walk(&bad, 1 + rng.below(300));
    }
}

/// Clusters of unknown size, as a live muxer writes them and mkvcast
/// forwards them block by block: each ends at the next Cluster.
#[test]
fn accepts_unknown_size_clusters() {
    let chunks = crate::live_writer::repack(&fixture("bench_1mbit.webm"), None).unwrap();
    let data = crate::live_writer::concat(&chunks);
    assert!(crate::lag::has_unknown_size_cluster(&data));
    for chunk in [1, 3, 4096, data.len()] {
        let v = walk(&data, chunk);
        assert_eq!(v.error(), None, "{chunk}-byte chunks");
        // The last Cluster is still open: nothing after it ended it.
        assert_eq!(v.clusters(), 13, "{chunk}-byte chunks");
    }
}
