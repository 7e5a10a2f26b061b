//! Delivery against hand-made event sequences (what a segmenter
//! forwarding blocks emits, or one that does not), on a fake clock.

use std::time::Duration;

use super::*;
use crate::continuity::test_stream::{live_blocks, Block as Frame, StreamBuilder, Track};
use crate::input::pacer::FakeClock;

/// What came out, compactly: timestamps in ticks (1 ms here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Got {
    Header,
    Restart,
    Start(u64),
    Block(u64),
    End(u64),
}

/// One read of the input: how long it took, then the events it completed.
struct Read {
    took: Duration,
    events: Vec<Event>,
}

fn read(events: Vec<Event>) -> Read {
    Read {
        took: Duration::ZERO,
        events,
    }
}

/// Delivers `reads` in turn, paced on a fake clock (with `read_ahead` as
/// for a regular file); returns each event with when it went out, in ms.
fn deliver(reads: Vec<Read>, read_ahead: bool) -> Vec<(u64, Got)> {
    let clock = FakeClock::new();
    let stats = Arc::new(InputStats::default());
    let mut d = Delivery::new(Some(Pacer::new(clock.clone())), read_ahead, stats.clone());
    let mut out = Vec::new();
    let mut emit = |e: InputEvent| {
        let got = match e {
            InputEvent::Header(_) => Got::Header,
            InputEvent::Restart => Got::Restart,
            InputEvent::ClusterStart { timestamp, start } => {
                assert_eq!(start, timestamp.to_nanos(1_000_000));
                Got::Start(timestamp.0)
            }
            InputEvent::Block(b) => Got::Block(b.timestamp.0),
            InputEvent::ClusterEnd(c) => Got::End(c.timestamp.0),
            InputEvent::End(_) => unreachable!("the runner sends End"),
        };
        out.push((clock.elapsed().as_millis() as u64, got));
    };
    for r in reads {
        clock.advance(r.took);
        d.deliver(r.events, &mut emit);
    }
    d.end_pass(&mut emit);
    out
}

fn video_track() -> [Track; 1] {
    [Track::video(1, Some(40))]
}

/// One video cluster at `ts` with blocks at these relative times.
fn video_stream(clusters: &[(u64, &[i16])]) -> StreamBuilder {
    let mut s = StreamBuilder::new(&video_track());
    for (ts, rel) in clusters {
        let blocks: Vec<Frame> = rel.iter().map(|&r| Frame::simple(1, r)).collect();
        s.cluster(*ts, &blocks);
    }
    s
}

/// Only the release times of blocks.
fn block_times(got: &[(u64, Got)]) -> Vec<u64> {
    got.iter()
        .filter(|(_, g)| matches!(g, Got::Block(_)))
        .map(|(t, _)| *t)
        .collect()
}

#[test]
fn b_frames_are_released_at_the_smallest_time_among_them_and_the_later_ones() {
    // Stored in decode order: I0 P100 B33 B66.
    let s = video_stream(&[(0, &[0, 100, 33, 66])]);
    let got = deliver(vec![read(s.live_events())], true);
    use Got::*;
    assert_eq!(
        got,
        [
            (0, Header),
            (0, Start(0)),
            (0, Block(0)),
            (33, Block(100)),
            (33, Block(33)),
            (66, Block(66)),
            (66, End(0)),
        ]
    );
}

#[test]
fn a_clusters_blocks_are_released_across_its_duration() {
    let frames: Vec<i16> = (0..25).map(|i| i * 40).collect();
    let s = video_stream(&[(0, &frames), (1000, &frames)]);
    let got = deliver(vec![read(s.live_events())], true);
    let expected: Vec<u64> = (0..50).map(|i| i * 40).collect();
    assert_eq!(block_times(&got), expected);
    // Each ClusterEnd right after its last block; the next cluster starts
    // with its first block, at its time.
    let at = |g| got.iter().find(|(_, x)| *x == g).map(|(t, _)| *t);
    assert_eq!(at(Got::End(0)), Some(960));
    assert_eq!(at(Got::Start(1000)), Some(1000));
    assert_eq!(at(Got::End(1000)), Some(1960));
}

#[test]
fn cluster_start_goes_out_with_the_first_block_not_before() {
    // Audio whose first block comes 30 ms into its cluster.
    let mut s = StreamBuilder::new(&[Track::audio(1, None)]);
    s.cluster(500, &[Frame::simple(1, 30), Frame::simple(1, 53)]);
    let got = deliver(vec![read(s.live_events())], true);
    use Got::*;
    assert_eq!(
        got,
        [
            (0, Header),
            (0, Start(500)),
            (0, Block(530)),
            (23, Block(553)),
            (23, End(500)),
        ]
    );
}

#[test]
fn without_forwarded_blocks_each_cluster_goes_out_whole_at_its_start() {
    // A segmenter without forward_blocks (MKVCAST_HOLD_CLUSTERS=1, or one
    // that does not emit blocks yet): exactly the delivery of before.
    let frames: Vec<i16> = (0..25).map(|i| i * 40).collect();
    let s = video_stream(&[(0, &frames), (1000, &frames)]);
    for read_ahead in [true, false] {
        let got = deliver(vec![read(s.events())], read_ahead);
        use Got::*;
        assert_eq!(
            got,
            [
                (0, Header),
                (0, Start(0)),
                (0, End(0)),
                (1000, Start(1000)),
                (1000, End(1000)),
            ]
        );
    }
}

#[test]
fn a_pipe_releases_the_blocks_received_so_far() {
    let s = video_stream(&[(0, &[0, 100, 33, 66])]);
    let events = s.live_events();
    // The read ends after I0 P100: P100 goes out at its own time, the B
    // frames after it at once (never before a block already released).
    let (first, rest) = events.split_at(4);
    let reads = vec![read(first.to_vec()), read(rest.to_vec())];
    assert_eq!(block_times(&deliver(reads, false)), [0, 100, 100, 100]);
}

#[test]
fn a_slow_input_re_anchors_per_block_instead_of_bursting() {
    let frames: Vec<i16> = (0..4).map(|i| i * 40).collect();
    let s = video_stream(&[(0, &frames)]);
    let events = s.live_events();
    let (first, rest) = events.split_at(4);
    let reads = vec![
        read(first.to_vec()),
        // Blocks at 80 and 120 ms arrive at 160 ms, 80 ms late.
        Read {
            took: Duration::from_millis(120),
            events: rest.to_vec(),
        },
    ];
    assert_eq!(block_times(&deliver(reads, false)), [0, 40, 160, 200]);
}

#[test]
fn a_forward_jump_over_5_s_within_a_cluster_re_anchors_at_that_block() {
    let s = video_stream(&[(0, &[0, 40, 10_000, 10_040])]);
    let got = deliver(vec![read(s.live_events())], true);
    assert_eq!(block_times(&got), [0, 40, 40, 80]);
}

#[test]
fn a_restart_goes_out_right_before_the_next_pass_and_its_blocks_shift() {
    let mut s = video_stream(&[(0, &[0, 40])]);
    s.restart();
    s.cluster(0, &[Frame::simple(1, 0), Frame::simple(1, 40)]);
    let got = deliver(vec![read(s.live_events())], true);
    use Got::*;
    assert_eq!(
        got,
        [
            (0, Header),
            (0, Start(0)),
            (0, Block(0)),
            (40, Block(40)),
            (40, End(0)),
            // The second pass goes on after the first's last frame ends.
            (80, Restart),
            (80, Start(80)),
            (80, Block(80)),
            (120, Block(120)),
            (120, End(80)),
        ]
    );
}

#[test]
fn without_pacing_everything_goes_out_as_read_and_the_end_does_not_wait() {
    let s = video_stream(&[(0, &[0, 40]), (5000, &[0, 40])]);
    let clock = FakeClock::new();
    let stats = Arc::new(InputStats::default());
    let mut d = Delivery::<FakeClock>::new(None, false, stats.clone());
    let mut n = 0;
    let clusters = d.deliver(s.live_events(), &mut |_| n += 1);
    d.wait_end();
    assert_eq!((clusters, n, clock.elapsed()), (2, 9, Duration::ZERO));
    assert_eq!(d.continuity().end(), Some(Nanos::from_millis(5080)));
}

#[test]
fn the_end_waits_until_the_last_frame_has_played_out() {
    let s = video_stream(&[(0, &[0, 40])]);
    let clock = FakeClock::new();
    let stats = Arc::new(InputStats::default());
    let mut d = Delivery::new(Some(Pacer::new(clock.clone())), true, stats.clone());
    d.deliver(s.live_events(), &mut |_| {});
    assert_eq!(clock.elapsed(), Duration::from_millis(40));
    d.wait_end();
    assert_eq!(clock.elapsed(), Duration::from_millis(80));
}

#[test]
fn a_child_that_is_not_a_block_goes_out_with_its_neighbours() {
    let s = video_stream(&[(0, &[0, 40])]);
    let (_, clusters) = s.segment();
    let mut blocks = live_blocks(&clusters[0], Some(1));
    let mut other = blocks[0].clone();
    other.track = None;
    blocks.insert(1, other.clone());
    blocks.push(other);
    let times = decode_times(&blocks, 1_000_000);
    let ms = |v| Some(Nanos::from_millis(v));
    assert_eq!(times, [ms(0), ms(40), ms(40), None]);
    let mut events = vec![Event::ClusterStart {
        timestamp: Ticks(0),
    }];
    events.extend(blocks.into_iter().map(Event::Block));
    events.push(Event::Cluster(clusters[0].clone()));
    let got = deliver(vec![read(events)], true);
    assert_eq!(block_times(&got), [0, 40, 40, 40]);
}
