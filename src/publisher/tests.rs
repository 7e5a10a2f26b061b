//! The ring's burst rule and the queue's skip rule, on real fixtures.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::*;
use crate::test_fixtures::fixture;

fn limits(max_media_ms: u64) -> QueueLimits {
    QueueLimits {
        max_media: Nanos::from_millis(max_media_ms),
        max_bytes: 32 << 20,
    }
}

/// A block of the open cluster for `publisher`'s video track (or audio).
fn block(ts: Ticks, video: bool, keyframe: bool) -> LiveBlock {
    LiveBlock {
        bytes: Bytes::from_static(b"\xA3\x85\x81\x00\x00\x80\x00"),
        track: Some(if video { 1 } else { 2 }),
        timestamp: ts,
        keyframe,
        video,
    }
}

fn publish_all(p: &mut Publisher, clusters: &[LiveCluster]) {
    for c in clusters {
        p.open(c.timestamp, c.start);
        p.complete(c.clone());
    }
}

#[test]
fn burst_starts_on_a_keyframe_and_reaches_back_to_the_newest_one() {
    let (h, clusters) = fixture("long_gop.webm");
    let mut p = Publisher::new(1000, 0, MAX_BUFFER_BYTES);
    assert_eq!(p.set_header(h.clone()), HeaderChange::First);
    for c in clusters.iter().take(8) {
        publish_all(&mut p, std::slice::from_ref(c));
        let burst = p.burst().expect("the first cluster is a keyframe");
        assert!(burst.clusters[0].keyframe, "burst starts on a keyframe");
    }
    // Keyframes every 5 s, 1 s clusters: the burst reaches back to the
    // newest keyframe even though that is older than 1 s.
    let burst = p.burst().unwrap();
    let newest_key = clusters[..8].iter().rposition(|c| c.keyframe).unwrap();
    assert_eq!(burst.clusters[0].timestamp, clusters[newest_key].timestamp);
    assert_eq!(burst.clusters.len(), 8 - newest_key);
    assert_eq!(p.set_header(h), HeaderChange::Compatible);
}

#[test]
fn burst_bytes_reach_further_back_than_buffer_time() {
    let (h, clusters) = fixture("vp8_vorbis.webm");
    let total: usize = clusters.iter().map(LiveCluster::len).sum();
    // Every cluster is a keyframe cluster: by time alone 1 s is enough; the
    // byte rule asks for more than half the file.
    let mut p = Publisher::new(1000, total / 2, MAX_BUFFER_BYTES);
    p.set_header(h);
    publish_all(&mut p, &clusters);
    let burst = p.burst().unwrap();
    let bytes: usize = burst.clusters.iter().map(|c| c.len()).sum();
    assert!(bytes >= total / 2, "{bytes} < {}", total / 2);
    let without_first: usize = burst.clusters[1..].iter().map(|c| c.len()).sum();
    assert!(
        without_first < total / 2,
        "starts at the newest cluster that is enough"
    );
    let (_, held) = p.buffered();
    assert!(held >= total / 2, "the ring keeps what the burst needs");
}

#[test]
fn zero_buffer_and_burst_start_at_the_newest_keyframe_even_in_the_open_cluster() {
    let (h, clusters) = fixture("vp8_vorbis.webm");
    let mut p = Publisher::new(0, 0, MAX_BUFFER_BYTES);
    p.set_header(h);
    publish_all(&mut p, &clusters[..3]);
    let burst = p.burst().unwrap();
    assert_eq!(burst.clusters.len(), 1, "the newest keyframe cluster alone");
    assert!(burst.open.is_none());
    let next = clusters[3].timestamp;
    p.open(next, clusters[3].start);
    p.add_block(&block(next, false, false));
    let burst = p.burst().unwrap();
    assert_eq!(burst.clusters.len(), 1, "not known to be a join point yet");
    assert!(burst.open.is_some(), "the open cluster follows the burst");
    p.add_block(&block(next, true, true));
    let burst = p.burst().unwrap();
    assert!(
        burst.clusters.is_empty(),
        "starts inside the cluster being received"
    );
    assert_eq!(burst.open.map(|o| o.blocks().len()), Some(2));
}

#[test]
fn fast_input_is_not_a_slow_viewer() {
    let (_, clusters) = fixture("demo.webm");
    let mut q = ClientQueue::new(limits(10_000));
    let now = Instant::now();
    // 30 s of media queued at one instant: far more than 10 s of media,
    // but none of it has waited.
    for c in &clusters {
        assert!(q.push_cluster(c, now), "every cluster is queued");
    }
    assert_eq!(q.skips(), 0);
    assert_eq!(
        q.len(),
        clusters.iter().map(LiveCluster::len).sum::<usize>()
    );
}

#[test]
fn a_viewer_behind_by_the_wall_clock_resumes_at_the_next_keyframe() {
    let (_, clusters) = fixture("long_gop.webm");
    let mut q = ClientQueue::new(limits(2_500));
    let t0 = Instant::now();
    q.push_bytes(Bytes::from_static(b"HTTP/1.1 200 OK\r\n\r\n"), t0);
    let mut queued = Vec::new();
    for c in &clusters {
        // Published in real time; the viewer writes one byte a cluster.
        let now = t0 + Duration::from_nanos(c.start.0);
        if q.push_cluster(c, now) {
            queued.push(c.timestamp);
        }
        q.consume(1);
    }
    assert!(q.skips() >= 1, "moved ahead");
    for w in queued.windows(2) {
        let at = |t| clusters.iter().position(|c| c.timestamp == t).unwrap();
        if at(w[1]) > at(w[0]) + 1 {
            assert!(
                clusters[at(w[1])].keyframe,
                "resumed at {} off a keyframe",
                w[1]
            );
        }
    }
}

#[test]
fn over_the_byte_cap_skips_at_once() {
    let (_, clusters) = fixture("demo.webm");
    let cap = clusters[0].len() + clusters[1].len();
    let mut q = ClientQueue::new(QueueLimits {
        max_media: Nanos::from_millis(600_000),
        max_bytes: cap,
    });
    let now = Instant::now();
    assert!(q.push_cluster(&clusters[0], now));
    assert!(q.push_cluster(&clusters[1], now));
    q.consume(1);
    // The next one does not fit: the backlog goes, except the cluster
    // being written, and a keyframe cluster starts again.
    assert!(q.push_cluster(&clusters[2], now));
    assert_eq!(q.skips(), 1);
    assert_eq!(q.len(), clusters[0].len() - 1 + clusters[2].len());
}

#[test]
fn a_viewer_follows_the_open_cluster_block_by_block() {
    let (h, clusters) = fixture("vp8_vorbis.webm");
    let mut p = Publisher::new(3000, 0, MAX_BUFFER_BYTES);
    p.set_header(h);
    let mut q = ClientQueue::new(limits(10_000));
    let now = Instant::now();
    let ts = clusters[0].timestamp;
    p.open(ts, clusters[0].start);
    let open = p.add_block(&block(ts, false, false)).unwrap();
    assert!(q.needs_join());
    assert_eq!(
        open.join(),
        None,
        "no video block yet: not a join point yet"
    );
    let open = p.add_block(&block(ts, true, true)).unwrap();
    assert_eq!(open.join(), Some(true));
    assert!(q.push_open(open, now));
    assert_eq!(q.len(), open.len(), "head and both blocks");
    let open = p.add_block(&block(ts, true, false)).unwrap();
    let last = open.blocks().last().unwrap().clone();
    assert!(q.push_block(&last, now));
    assert_eq!(q.len(), open.len());
    assert!(p.complete(clusters[0].clone()), "it was forwarded");
    q.end_open();
    assert!(
        !q.push_block(&last, now),
        "a closed cluster takes no blocks"
    );
}

#[test]
fn queue_slices_and_consume() {
    let mut q = ClientQueue::new(QueueLimits {
        max_media: Nanos(u64::MAX),
        max_bytes: usize::MAX,
    });
    let now = Instant::now();
    q.push_bytes(Bytes::from_static(b"abc"), now);
    q.push_bytes(Bytes::from_static(b"defg"), now);
    assert_eq!(q.len(), 7);
    q.consume(2);
    let mut v: [&[u8]; 8] = [&[]; 8];
    let n = q.fill(&mut v);
    assert_eq!(&v[..n], &[&b"c"[..], &b"defg"[..]]);
    q.consume(3);
    assert_eq!(q.len(), 2);
    q.consume(2);
    assert!(q.is_empty());
}

#[test]
fn a_skip_keeps_the_response_head_and_the_stream_header() {
    let (h, clusters) = fixture("demo.webm");
    let mut q = ClientQueue::new(limits(1_000));
    let t0 = Instant::now();
    q.push_bytes(Bytes::from_static(b"HTTP/1.1 200 OK\r\n\r\n"), t0);
    q.push_bytes(h.bytes.clone(), t0);
    for c in &clusters[..3] {
        assert!(q.push_cluster(c, t0));
    }
    // Nothing written for 5 s, 6 s of media queued: behind. Only the head
    // and the header stay, then the next keyframe cluster.
    let later = t0 + Duration::from_secs(5);
    assert!(q.push_cluster(&clusters[3], later));
    assert_eq!(q.skips(), 1);
    assert_eq!(q.len(), 19 + h.bytes.len() + clusters[3].len());
}
