//! Joins and catch-up under block forwarding (#11), over HTTP against the
//! real binary:
//!
//! - a viewer connected before a fast (`--no-pace`) input starts gets every
//!   frame: the whole input arrives in milliseconds, but the viewer is only
//!   moved ahead when its oldest unsent data is old by the wall clock too;
//! - the same for a clip of two frames (the end of the input must not lose
//!   the Cluster being received);
//! - a viewer that really reads at half the stream rate is still moved
//!   ahead, and its stream stays valid (skips only to keyframes);
//! - with `--buffer-ms 0 --burst-bytes 0` a joiner starts at the newest
//!   keyframe, also when it lies inside the Cluster still being received.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use common::{demux, DemuxedFrame};
use mkvcast::segmenter::{segment_all, Event};
use mkvcast_testkit::http::head_end;
use mkvcast_testkit::lag::LiveViewer;
use mkvcast_testkit::live_writer::{concat, payload_id, write_paced, Synthetic, WriteLog};
use mkvcast_testkit::process::Mkvcast;
use mkvcast_testkit::stream_check::StreamCheck;
use mkvcast_testkit::{fixture, Rng};

fn addr(srv: &Mkvcast) -> SocketAddr {
    ([127, 0, 0, 1], srv.port).into()
}

/// Starts `mkvcast - ARGS`, connects a viewer that reads at most `rate`
/// bytes/s, waits until the server says it waits for the stream, writes
/// `data` to stdin at once and closes it; returns what the viewer received
/// (the server closes after the input).
fn pipe_to_a_waiting_viewer(args: &[&str], rate: f64, data: &[u8]) -> (Vec<u8>, Mkvcast) {
    let mut srv = Mkvcast::start_piped(&[&["-"], args].concat());
    let port = srv.port;
    let reader = thread::spawn(move || read_at(port, rate, Duration::from_secs(30)));
    assert!(
        srv.wait_log("waits for the stream", Duration::from_secs(5)),
        "{}",
        srv.log()
    );
    let mut stdin = srv.child.stdin.take().unwrap();
    stdin.write_all(data).unwrap();
    drop(stdin);
    (reader.join().unwrap(), srv)
}

fn video(frames: &[DemuxedFrame], track: u64) -> Vec<&DemuxedFrame> {
    frames.iter().filter(|f| f.track == track).collect()
}

#[test]
fn a_viewer_waiting_before_a_fast_input_gets_every_frame() {
    let data = std::fs::read(fixture("demo.webm")).unwrap();
    let (want, _) = demux(&data).unwrap();
    assert_eq!(video(&want, 1).len(), 750, "demo.webm has 750 video frames");
    let t0 = Instant::now();
    // 1 MB/s, 20 times the stream's rate: the 30 s input takes the viewer
    // 1.5 s, while the server has all of it within milliseconds.
    let (body, mut srv) = pipe_to_a_waiting_viewer(&["--no-pace"], 1e6, &data);
    let (got, _) = demux(&body).unwrap_or_else(|e| panic!("{e}\n{}", srv.log()));
    eprintln!(
        "{} of 750 video frames, {} of {} frames in all, {:.1} s",
        video(&got, 1).len(),
        got.len(),
        want.len(),
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(video(&got, 1).len(), 750, "video frames received");
    assert!(got == want, "every frame, as in the file, in order");
    assert!(srv.wait_exit(Duration::from_secs(10)).unwrap().success());
}

#[test]
fn a_viewer_waiting_before_a_two_frame_clip_gets_both_frames() {
    for unknown_size in [true, false] {
        let clip = Synthetic {
            frames: 2,
            unknown_size,
            ..Synthetic::default()
        };
        let clip = concat(&clip.chunks());
        let (body, _srv) = pipe_to_a_waiting_viewer(&["--no-pace"], 1e6, &clip);
        let (frames, _) = demux(&body).unwrap();
        let mut p = mkvcast_testkit::lag::BlockParser::new();
        p.feed(&body, Instant::now());
        assert_eq!(p.error, None);
        let ids: Vec<_> = p.blocks.iter().map(|b| payload_id(&b.head)).collect();
        assert_eq!(
            ids,
            [Some((0, 0)), Some((1, 33))],
            "unknown-size Cluster: {unknown_size}; frames {frames:?}"
        );
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].keyframe, Some(true));
    }
}

/// A live encoder that has sent two frames and then pauses (stdin stays
/// open, the Cluster of unknown size is not complete): a waiting viewer
/// must still get both frames at once.
#[test]
fn a_waiting_viewer_gets_two_frames_of_an_open_cluster_while_the_input_pauses() {
    let clip = Synthetic {
        frames: 2,
        ..Synthetic::default()
    };
    let mut srv = Mkvcast::start_piped(&["-", "--no-pace"]);
    let mut v = LiveViewer::connect(addr(&srv), "/").expect("connect");
    assert!(srv.wait_log("waits for the stream", Duration::from_secs(5)));
    let mut stdin = srv.child.stdin.take().unwrap();
    stdin.write_all(&concat(&clip.chunks())).unwrap();
    let written = Instant::now();
    let both = v.read_until(Duration::from_secs(1), |p| p.blocks.len() >= 2);
    let ids: Vec<_> = v
        .parser
        .blocks
        .iter()
        .map(|b| payload_id(&b.head))
        .collect();
    assert!(
        both,
        "after 1 s of a paused input the viewer has {ids:?} (status {:?})\n{}",
        v.status(),
        srv.log()
    );
    assert_eq!(ids, [Some((0, 0)), Some((1, 33))]);
    let took = v.parser.blocks[1].arrival - written;
    eprintln!("both frames {} ms after the write", took.as_millis());
    drop(stdin);
}

/// Bytes per second of a fixture's Clusters over their media time.
fn stream_rate(name: &str) -> f64 {
    let data = std::fs::read(fixture(name)).unwrap();
    let (events, _) = segment_all(&data, 1 << 20).unwrap();
    let segs: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Cluster(s) => Some(s),
            _ => None,
        })
        .collect();
    let bytes: usize = segs.iter().map(|s| s.len()).sum();
    let span = segs.last().unwrap().end().0 - segs[0].start.0;
    bytes as f64 / (span as f64 / 1e9)
}

/// A viewer with a small receive buffer that reads at most `rate` bytes/s
/// until the server closes or `time` has passed; returns the body.
fn read_at(port: u16, rate: f64, time: Duration) -> Vec<u8> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(16 << 10).unwrap();
    let to: SocketAddr = ([127, 0, 0, 1], port).into();
    sock.connect(&to.into()).unwrap();
    let mut s: TcpStream = sock.into();
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let start = Instant::now();
    let mut data = Vec::new();
    let mut buf = [0u8; 2048];
    while start.elapsed() < time {
        // Never ahead of `rate`: sleep off any credit first.
        let due = start + Duration::from_secs_f64(data.len() as f64 / rate);
        thread::sleep(due.saturating_duration_since(Instant::now()));
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    let start = &data[..data.len().min(16)];
    let end = head_end(&data).unwrap_or_else(|| {
        panic!(
            "no HTTP response head: {} bytes starting {start:02X?}",
            data.len()
        )
    });
    assert!(data.starts_with(b"HTTP/1.1 200"), "{:?}", &data[..end]);
    data.split_off(end + 4)
}

#[test]
fn a_viewer_reading_at_half_the_rate_is_moved_ahead_and_stays_valid() {
    let name = "bench_1mbit.webm";
    let rate = stream_rate(name) / 2.0;
    let srv = Mkvcast::start(&[
        &fixture(name).to_string_lossy(),
        "--loop",
        "--client-queue-ms",
        "2000",
    ]);
    let body = read_at(srv.port, rate, Duration::from_secs(16));
    let mut check = StreamCheck::new(200_000_000, true);
    check.feed(&body);
    eprintln!(
        "read {} bytes at {rate:.0} B/s: {} clusters, {} skips ahead, worst gap {} ms",
        body.len(),
        check.clusters,
        check.gaps,
        check.worst_gap_ns / 1_000_000
    );
    assert_eq!(check.error, None, "{}", srv.log());
    assert!(check.gaps >= 1, "never moved ahead\n{}", srv.log());
    // 16 s at half the rate is 8 s of media (8 Clusters); with the skips
    // ahead, the Clusters received span well over that.
    assert!(check.clusters >= 6, "{} clusters", check.clusters);
    assert!(
        check.media_span() > Duration::from_secs(10),
        "{:?}",
        check.media_span()
    );
}

/// One join of the zero-burst test: the keyframe it must start at.
struct Join {
    /// Media time of the newest keyframe written before the connect.
    before_ms: u64,
    /// The next keyframe's, if it was written within one frame of the
    /// connect (then the server may have had it first: a race, not a bug).
    racing_ms: Option<u64>,
    first_ms: u64,
    first_keyframe: bool,
    /// Sequence numbers of the blocks received in its first 300 ms.
    seqs: Vec<u64>,
}

impl Join {
    /// It started at the newest keyframe (or the one racing the connect)
    /// and went on frame after frame.
    fn check(&self, round: u64, srv: &Mkvcast) {
        assert!(
            self.first_keyframe,
            "join {round}: first block at {} ms is no keyframe",
            self.first_ms
        );
        assert!(
            self.first_ms == self.before_ms || Some(self.first_ms) == self.racing_ms,
            "join {round}: started at {} ms, the newest keyframe was {} ms\n{}",
            self.first_ms,
            self.before_ms,
            srv.log()
        );
        let first = self.seqs[0];
        let want: Vec<u64> = (first..first + self.seqs.len() as u64).collect();
        assert_eq!(
            self.seqs, want,
            "join {round}: frames continue from the keyframe"
        );
    }
}

/// A seed that differs per run, printed so a failure can be replayed.
fn time_seed() -> u64 {
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    let seed = t.as_nanos() as u64 | 1;
    eprintln!("seed {seed}");
    seed
}

/// Connects at `at` and reads the first blocks.
fn join_at(srv: &Mkvcast, log: &WriteLog, at: Instant) -> Join {
    thread::sleep(at.saturating_duration_since(Instant::now()));
    let connect = Instant::now();
    let before = log
        .newest_keyframe_by(connect)
        .expect("a keyframe was written");
    let mut v = LiveViewer::connect(addr(srv), "/").expect("connect");
    let got = v.read_until(Duration::from_secs(3), |p| !p.blocks.is_empty());
    assert!(
        got,
        "no block within 3 s: {:?}\n{}",
        v.parser.error,
        srv.log()
    );
    let first = v.parser.blocks[0].clone();
    let until = first.arrival + Duration::from_millis(300);
    v.read_until(Duration::from_millis(400), |p| {
        p.blocks.last().is_some_and(|b| b.arrival > until)
    });
    assert_eq!(v.parser.error, None);
    let (_, first_ms) = payload_id(&first.head).expect("a numbered frame");
    assert_eq!(
        first.media_ns as u64,
        first_ms * 1_000_000,
        "block time = payload's"
    );
    let racing = log
        .written()
        .into_iter()
        .find(|w| w.keyframe && w.media_ns > before.media_ns)
        .filter(|w| w.at <= connect + Duration::from_millis(34));
    Join {
        before_ms: before.media_ns / 1_000_000,
        racing_ms: racing.map(|w| w.media_ns / 1_000_000),
        first_ms,
        first_keyframe: first.keyframe,
        seqs: v
            .parser
            .blocks
            .iter()
            .map(|b| payload_id(&b.head).unwrap().0)
            .collect(),
    }
}

#[test]
fn with_no_burst_a_joiner_starts_at_the_newest_keyframe_even_inside_the_open_cluster() {
    // 9 s of 30 fps in 2 s unknown-size Clusters, a keyframe every 0.5 s:
    // the server's keyframe split makes join points inside the open Cluster.
    let s = Synthetic {
        frames: 270,
        keyframe_frames: 15,
        ..Synthetic::default()
    };
    let mut srv =
        Mkvcast::start_piped(&["-", "--no-pace", "--buffer-ms", "0", "--burst-bytes", "0"]);
    let log = WriteLog::new();
    let mut stdin = srv.child.stdin.take().unwrap();
    let (chunks, wlog) = (s.chunks(), log.clone());
    let writer = thread::spawn(move || write_paced(&mut stdin, &chunks, &wlog));
    let mut rng = Rng(time_seed());
    while log.written().is_empty() {
        thread::sleep(Duration::from_millis(5));
    }
    let start = log.written()[0].at;
    let frame = |n: u64| Duration::from_millis(n * 1000 / 30);
    let mut mid_cluster = 0;
    for round in 0..4u64 {
        // A keyframe that is not a Cluster's first (GOPs 1-3 of each 4),
        // joined 2 to 12 frames after it, so the next one is 3+ frames off.
        let gop = 4 * round + 1 + rng.below(3) as u64;
        let at = start + frame(gop * 15 + 2 + rng.below(11) as u64);
        let j = join_at(&srv, &log, at);
        eprintln!(
            "join {round}: newest keyframe {} ms (racing: {:?}), first block {} ms, keyframe {}",
            j.before_ms, j.racing_ms, j.first_ms, j.first_keyframe
        );
        j.check(round, &srv);
        mid_cluster += u32::from(!j.first_ms.is_multiple_of(2000));
    }
    assert!(
        mid_cluster >= 2,
        "only {mid_cluster} joins inside a Cluster"
    );
    writer.join().unwrap().unwrap();
}

/// A join burst spanning more than `--client-queue-ms` (a 64 KiB burst of
/// a low-bitrate stream is ~20 s; the default queue is 10 s) must still
/// reach the joiner behind its response head and stream header. Today the
/// queue's overflow rule drops everything queued, head and header too, and
/// the joiner gets Clusters without them (curl: "Received HTTP/0.9").
#[test]
fn a_burst_longer_than_the_client_queue_still_starts_with_the_head() {
    let srv = Mkvcast::start(&[
        &fixture("vp8_vorbis.webm").to_string_lossy(),
        "--loop",
        "--buffer-ms",
        "4000",
        "--client-queue-ms",
        "2000",
    ]);
    thread::sleep(Duration::from_secs(5));
    let body = read_at(srv.port, 1e7, Duration::from_secs(3));
    let mut check = StreamCheck::new(200_000_000, true);
    check.feed(&body);
    assert_eq!(check.error, None, "{}", srv.log());
    // 1 s Clusters: what the burst kept plus 3 s of live stream.
    assert!(check.clusters >= 3, "{} clusters", check.clusters);
}
