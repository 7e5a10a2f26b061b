//! Block forwarding: the cluster being received reaches live viewers
//! block by block, joiners get the ring and then the open cluster so far.

use std::time::Duration;

use super::*;

impl Harness {
    /// A cluster's start and its first `n` blocks, forwarded one by one.
    fn open_with(&self, c: &LiveCluster, video: Option<u64>, n: usize) {
        self.send(InputEvent::ClusterStart {
            timestamp: c.timestamp,
            start: c.start,
        });
        for b in blocks_of(c, video).into_iter().take(n) {
            self.send(InputEvent::Block(b));
        }
    }

    /// Blocks `from..to` of an open cluster.
    fn send_blocks(&self, c: &LiveCluster, video: Option<u64>, from: usize, to: usize) {
        for b in blocks_of(c, video).into_iter().take(to).skip(from) {
            self.send(InputEvent::Block(b));
        }
    }

    /// The rest of a cluster opened with [`open_with`], then its end.
    fn close_from(&self, c: &LiveCluster, video: Option<u64>, from: usize) {
        for b in blocks_of(c, video).into_iter().skip(from) {
            self.send(InputEvent::Block(b));
        }
        self.send(InputEvent::ClusterEnd(c.clone()));
    }
}

/// The blocks of a served cluster, as the segmenter forwards them.
fn blocks_of(c: &LiveCluster, video: Option<u64>) -> Vec<LiveBlock> {
    let head = crate::ebml::read_element_header(&c.bytes).unwrap().unwrap();
    crate::ebml::children(&c.bytes[head.header_len..])
        .map(Result::unwrap)
        .filter(|ch| ch.header.id == crate::matroska::ids::SIMPLE_BLOCK)
        .map(|ch| {
            let b = crate::matroska::block::read_block_header(ch.data).unwrap();
            let at = head.header_len + ch.offset;
            LiveBlock {
                bytes: c.bytes.slice(at..at + ch.header.header_len + ch.data.len()),
                track: Some(b.track),
                timestamp: Ticks(
                    c.timestamp
                        .0
                        .saturating_add_signed(b.relative_timestamp.into()),
                ),
                keyframe: b.flags & 0x80 != 0,
                video: Some(b.track) == video,
            }
        })
        .collect()
}

/// The unknown-size form of a cluster's start: ID, size, Timestamp.
fn open_head(c: &LiveCluster) -> Vec<u8> {
    let mut out = vec![
        0x1F, 0x43, 0xB6, 0x75, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    ];
    crate::ebml::write_uint_element(&mut out, crate::matroska::ids::TIMESTAMP, c.timestamp.0);
    out
}

/// Reads what has arrived within `wait`, without waiting for the close.
fn read_for(s: &mut TcpStream, wait: Duration) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let until = Instant::now() + wait;
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while Instant::now() < until {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    out
}

#[test]
fn blocks_reach_a_live_viewer_before_their_cluster_is_complete() {
    let (h, clusters) = fixture("vp8_vorbis.webm");
    let video = h.video_track();
    let mut srv = Harness::start(Config {
        mount: MountOptions {
            flush: Duration::ZERO,
            ..MountOptions::default()
        },
        ..Config::default()
    });
    srv.header(&h);
    srv.cluster(&clusters[0]);
    let mut viewer = srv.request("GET", "/");
    settle();
    let (_, burst) = split(&read_for(&mut viewer, Duration::from_millis(200)));
    assert_eq!(burst, expected(&h, &clusters[..1]));
    srv.open_with(&clusters[1], video, 3);
    let got = read_for(&mut viewer, Duration::from_millis(300));
    let mut want = open_head(&clusters[1]);
    for b in blocks_of(&clusters[1], video).iter().take(3) {
        want.extend_from_slice(&b.bytes);
    }
    assert_eq!(
        got, want,
        "an unknown-size cluster with its first three blocks"
    );
    srv.close_from(&clusters[1], video, 3);
    srv.open_with(&clusters[2], video, 1);
    let got = read_for(&mut viewer, Duration::from_millis(300));
    let rest: Vec<u8> = blocks_of(&clusters[1], video)[3..]
        .iter()
        .flat_map(|b| b.bytes.to_vec())
        .collect();
    let mut want = rest;
    want.extend_from_slice(&open_head(&clusters[2]));
    want.extend_from_slice(&blocks_of(&clusters[2], video)[0].bytes);
    assert_eq!(
        got, want,
        "the rest, then the next cluster (never the known-size copy)"
    );
    srv.close_from(&clusters[2], video, 1);
    srv.send(InputEvent::End(Ok(())));
    drop(viewer);
    assert!(srv.join().is_ok());
}

#[test]
fn a_joiner_gets_the_ring_then_the_open_cluster_so_far_then_live_blocks() {
    let (h, clusters) = fixture("vp8_vorbis.webm");
    let video = h.video_track();
    let mut srv = Harness::start(Config {
        mount: MountOptions {
            buffer_ms: 1000,
            burst_bytes: 0,
            ..MountOptions::default()
        },
        ..Config::default()
    });
    srv.header(&h);
    for c in &clusters[..3] {
        srv.cluster(c);
    }
    srv.open_with(&clusters[3], video, 5);
    settle();
    let viewer = srv.request("GET", "/");
    settle();
    srv.close_from(&clusters[3], video, 5);
    for c in &clusters[4..6] {
        srv.open_with(c, video, usize::MAX);
        srv.close_from(c, video, usize::MAX);
    }
    srv.send(InputEvent::End(Ok(())));
    let (_, body) = split(&read_all(viewer));
    // Re-segmented, the stream is the ring's newest keyframe cluster within
    // 1 s of the edge, then clusters 3 to 5, each whole.
    let (events, stats) = segment_all(&body, 4096).unwrap();
    assert_eq!(stats.bytes_skipped, 0);
    let got: Vec<Ticks> = events
        .iter()
        .filter_map(|e| match e {
            Event::Cluster(c) => Some(c.timestamp),
            _ => None,
        })
        .collect();
    let want: Vec<Ticks> = clusters[2..6].iter().map(|c| c.timestamp).collect();
    assert_eq!(got, want);
    assert!(srv.join().is_ok());
}

#[test]
fn a_viewer_that_needs_a_keyframe_waits_for_the_open_clusters_first_video_block() {
    let (h, clusters) = fixture("long_gop.webm");
    let video = h.video_track();
    let key = clusters.iter().skip(1).position(|c| c.keyframe).unwrap() + 1;
    let mut srv = Harness::start(Config {
        mount: MountOptions {
            flush: Duration::ZERO,
            ..MountOptions::default()
        },
        ..Config::default()
    });
    srv.header(&h);
    let mut viewer = srv.request("GET", "/");
    settle();
    // A cluster that is not a join point: the waiting viewer gets nothing
    // of it; the next keyframe cluster it gets from its start.
    srv.open_with(&clusters[key - 1], video, usize::MAX);
    srv.close_from(&clusters[key - 1], video, usize::MAX);
    // Blocks before the first video block are held back until it shows
    // whether the cluster is a join point.
    let blocks = blocks_of(&clusters[key], video);
    let first_video = blocks.iter().position(|b| b.video).unwrap();
    srv.open_with(&clusters[key], video, first_video);
    let (_, body) = split(&read_for(&mut viewer, Duration::from_millis(300)));
    assert_eq!(
        body,
        &h.bytes[..],
        "nothing of a cluster not yet known to be a join point"
    );
    srv.send_blocks(&clusters[key], video, first_video, first_video + 1);
    let got = read_for(&mut viewer, Duration::from_millis(300));
    let mut want = open_head(&clusters[key]);
    for b in &blocks[..=first_video] {
        want.extend_from_slice(&b.bytes);
    }
    assert!(clusters[key].keyframe && !clusters[key - 1].keyframe);
    assert_eq!(
        got, want,
        "the cluster from its start once its keyframe came"
    );
    srv.close_from(&clusters[key], video, first_video + 1);
    srv.send(InputEvent::End(Ok(())));
    drop(viewer);
    assert!(srv.join().is_ok());
}

#[test]
fn a_viewer_before_fast_input_gets_every_cluster() {
    let (h, clusters) = fixture("demo.webm");
    let video = h.video_track();
    let mut srv = Harness::start(Config::default());
    let viewer = srv.request("GET", "/");
    settle();
    // 30 s of media at once: three times --client-queue-ms, none of it late.
    srv.header(&h);
    for c in &clusters {
        srv.open_with(c, video, usize::MAX);
        srv.close_from(c, video, usize::MAX);
    }
    srv.send(InputEvent::End(Ok(())));
    let (_, body) = split(&read_all(viewer));
    let (events, _) = segment_all(&body, 1 << 16).unwrap();
    let got = events
        .iter()
        .filter(|e| matches!(e, Event::Cluster(_)))
        .count();
    assert_eq!(got, clusters.len(), "no cluster skipped");
    assert!(srv.join().is_ok());
}
