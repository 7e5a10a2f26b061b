//! The live server, end to end over loopback: the real binary, a small
//! HTTP client, and matroska-demuxer reading what clients received.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::demux;
use mkvcast::internals::ebml;
use mkvcast::segmenter::{concat, segment_all, Event, LiveCluster};
use mkvcast::time::Ticks;
use mkvcast_testkit::http::{
    get, open_get, open_get_small_window, raw_request, read_response, Response,
};
use mkvcast_testkit::process::Mkvcast;
use mkvcast_testkit::{fixture, Rng};

fn fixture_path(name: &str) -> String {
    fixture(name).to_string_lossy().into_owned()
}

/// The live stream the segmenter makes of a fixture.
fn expected_stream(name: &str) -> (Vec<u8>, Vec<LiveCluster>) {
    let data = std::fs::read(fixture(name)).unwrap();
    let (events, _) = segment_all(&data, 1 << 20).unwrap();
    let segs = events
        .iter()
        .filter_map(|e| match e {
            Event::Cluster(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    (concat(&events).to_vec(), segs)
}

/// Header and clusters of a received body, read back with the segmenter.
fn received_segments(body: &[u8]) -> Vec<LiveCluster> {
    let (events, stats) = segment_all(body, 1 << 16).unwrap();
    assert_eq!(stats.bytes_skipped, 0, "received stream is clean Matroska");
    assert!(
        matches!(events.first(), Some(Event::Header(_))),
        "stream header first"
    );
    events
        .into_iter()
        .filter_map(|e| match e {
            Event::Cluster(s) => Some(s),
            _ => None,
        })
        .collect()
}

/// What a stream carries, whatever form its clusters take on the wire
/// (known size from the ring, unknown size while forwarded block by
/// block): the header, then each cluster's Timestamp and the children after
/// it, byte for byte.
fn content(body: &[u8]) -> (Vec<u8>, Vec<(Ticks, Vec<u8>)>) {
    let (events, _) = segment_all(body, 1 << 16).unwrap();
    let mut header = Vec::new();
    let mut clusters = Vec::new();
    for e in events {
        match e {
            Event::Header(h) => header.extend_from_slice(&h.bytes),
            Event::Cluster(c) => {
                let head = ebml::read_element_header(&c.bytes).unwrap().unwrap();
                let after_ts: Vec<u8> = ebml::children(&c.bytes[head.header_len..])
                    .map(Result::unwrap)
                    .skip(1)
                    .flat_map(|ch| {
                        let at = head.header_len + ch.offset;
                        c.bytes[at..at + ch.header.header_len + ch.data.len()].to_vec()
                    })
                    .collect();
                clusters.push((c.timestamp, after_ts));
            }
            _ => {}
        }
    }
    (header, clusters)
}

const LONG: Duration = Duration::from_secs(40);

#[test]
fn clients_present_from_the_start_get_every_byte_and_the_server_exits_0() {
    let (expected, _) = expected_stream("vp8_vorbis.webm");
    let mut srv = Mkvcast::start(&[&fixture_path("vp8_vorbis.webm")]);
    let port = srv.port;
    let readers: Vec<_> = (0..3)
        .map(|_| thread::spawn(move || get(port, LONG)))
        .collect();
    // A client sending garbage and one asking for a favicon do not disturb them.
    let bad = raw_request(port, b"\x16\x03\x01garbage\r\n\r\n", Duration::from_secs(5));
    assert_eq!(bad.status, 400);
    let fav = raw_request(
        port,
        b"GET /favicon.ico HTTP/1.1\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(fav.status, 404);
    for r in readers {
        let resp = r.join().unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("content-type").as_deref(), Some("video/webm"));
        assert!(resp.closed.is_some(), "server closed the stream at the end");
        assert!(
            content(&resp.body) == content(&expected),
            "received exactly header + every cluster"
        );
    }
    let status = srv
        .wait_exit(Duration::from_secs(10))
        .expect("exits after the input ends");
    assert!(status.success(), "{status}\n{}", srv.log());
}

#[test]
fn pacing_follows_media_time() {
    // vp8_vorbis.webm lasts 10.01 s.
    let srv = Mkvcast::start(&[&fixture_path("vp8_vorbis.webm")]);
    let resp = get(srv.port, LONG);
    let took = resp.closed.unwrap() - resp.first_byte.unwrap();
    assert!(
        (9.5..=10.5).contains(&took.as_secs_f64()),
        "first byte to close took {took:?}, expected 10 s ± 0.5 s"
    );
}

#[test]
fn late_joiner_starts_on_a_keyframe_cluster() {
    let (_, segs) = expected_stream("long_gop.webm");
    let srv = Mkvcast::start(&[&fixture_path("long_gop.webm"), "--buffer-ms", "1000"]);
    // Keyframes every 5 s, clusters every 1 s: at 7.5 s the ring's newest
    // keyframe cluster is the one at 5 s.
    thread::sleep(Duration::from_millis(7500));
    let resp = get(srv.port, LONG);
    assert_eq!(resp.status, 200);
    let got = received_segments(&resp.body);
    assert!(got[0].keyframe, "first cluster starts with a keyframe");
    assert!(
        got[0].timestamp.0 >= 4000,
        "joined late, at {}",
        got[0].timestamp
    );
    // From there on, every cluster of the input, in order.
    let at = segs
        .iter()
        .position(|s| s.timestamp == got[0].timestamp)
        .unwrap();
    assert_eq!(got.len(), segs.len() - at);
    for (a, b) in got.iter().zip(&segs[at..]) {
        assert_eq!(a.bytes, b.bytes);
    }
    // The independent demuxer agrees: first video frame is a keyframe.
    let (frames, _) = demux(&resp.body).unwrap();
    let first_video = frames.iter().find(|f| f.track == 1).unwrap();
    assert_eq!(first_video.keyframe, Some(true));
}

#[test]
fn max_clients_503_and_slots_free_at_once() {
    let srv = Mkvcast::start(&[&fixture_path("demo.webm"), "--max-clients", "16"]);
    let mut clients: Vec<TcpStream> = (0..16).map(|_| open_get(srv.port)).collect();
    for c in &mut clients {
        let r = read_response(c, Duration::from_millis(800), 10);
        assert_eq!(r.status, 200);
    }
    let full = raw_request(srv.port, b"GET / HTTP/1.1\r\n\r\n", Duration::from_secs(5));
    assert_eq!(full.status, 503, "17th client");
    assert!(full.header("retry-after").is_some());
    // HEAD does not take a slot, and answers headers only.
    let head = raw_request(srv.port, b"HEAD / HTTP/1.1\r\n\r\n", Duration::from_secs(5));
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type").as_deref(), Some("video/webm"));
    assert!(head.body.is_empty() && head.closed.is_some());
    // A closed viewer frees its slot immediately.
    drop(clients.pop());
    thread::sleep(Duration::from_millis(300));
    let mut again = open_get(srv.port);
    assert_eq!(
        read_response(&mut again, Duration::from_millis(800), 10).status,
        200
    );
}

#[test]
fn bad_methods_and_requests_get_4xx() {
    let srv = Mkvcast::start(&[&fixture_path("demo.webm")]);
    let t = Duration::from_secs(5);
    assert_eq!(
        raw_request(srv.port, b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", t).status,
        400
    );
    // The one-input form has no push mounts: push and OPTIONS are 400.
    for req in [
        &b"PUT / HTTP/1.1\r\n\r\n"[..],
        b"PUT /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        b"SOURCE / HTTP/1.0\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n",
    ] {
        let r = raw_request(srv.port, req, t);
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(req));
    }
    assert_eq!(raw_request(srv.port, b"GET /\r\n\r\n", t).status, 400);
    let mut huge = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
    huge.resize(20_000, b'a');
    assert_eq!(raw_request(srv.port, &huge, t).status, 431);
    // Absolute form and a Range header are fine: the same 200 stream.
    let mut s = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    s.write_all(b"GET http://127.0.0.1/live HTTP/1.1\r\nRange: bytes=0-\r\n\r\n")
        .unwrap();
    let r = read_response(&mut s, Duration::from_secs(1), 100);
    assert_eq!(r.status, 200);
}

#[test]
fn stalled_client_does_not_slow_others_and_is_closed() {
    let mut srv = Mkvcast::start(&[
        &fixture_path("bench_1mbit.webm"),
        "--loop",
        "--client-queue-ms",
        "2000",
        "--stall-timeout-ms",
        "3000",
    ]);
    let port = srv.port;
    // A client with a tiny receive window that never reads.
    let stalled = open_get_small_window(port);
    thread::sleep(Duration::from_millis(200));
    let rss_before = srv.rss_kib();
    let readers: Vec<_> = (0..2)
        .map(|_| thread::spawn(move || get(port, Duration::from_secs(12))))
        .collect();
    for r in readers {
        let resp = r.join().unwrap();
        assert_eq!(resp.status, 200);
        let got = received_segments(&resp.body);
        assert!(got.len() >= 10, "{} clusters in 12 s", got.len());
        assert!(got[0].keyframe);
        // Continuous: every cluster follows the previous one in time.
        for w in got.windows(2) {
            assert!(
                w[1].timestamp > w[0].timestamp,
                "timestamps strictly increase"
            );
            let gap = w[1].start.0 as i64 - w[0].end().0 as i64;
            assert!(gap.abs() < 200_000_000, "no cluster missing: gap {gap} ns");
        }
        demux(&resp.body).unwrap();
    }
    let rss_after = srv.rss_kib();
    assert!(
        rss_after < rss_before + 8 * 1024,
        "RSS grew from {rss_before} to {rss_after} KiB with a stalled client"
    );
    assert!(
        srv.wait_log("stalled", Duration::from_secs(5)),
        "{}",
        srv.log()
    );
    drop(stalled);
    srv.signal("TERM");
    let status = srv
        .wait_exit(Duration::from_secs(10))
        .expect("exits on SIGTERM");
    assert!(status.success());
}

/// Connects a viewer to a server reading stdin, waits until it is waiting
/// for the stream, then writes `data` to stdin and closes it; returns what
/// the viewer received.
fn pipe_to_a_waiting_viewer(srv: &mut Mkvcast, data: &[u8]) -> Response {
    let port = srv.port;
    let reader = thread::spawn(move || get(port, LONG));
    assert!(srv.wait_log("waits for the stream", Duration::from_secs(5)));
    let mut stdin = srv.child.stdin.take().unwrap();
    stdin.write_all(data).unwrap();
    drop(stdin);
    reader.join().unwrap()
}

#[test]
fn stdin_input_and_a_client_waiting_for_the_stream() {
    let data = std::fs::read(fixture("opus_only.webm")).unwrap();
    let (expected, _) = expected_stream("opus_only.webm");
    let mut srv = Mkvcast::start_piped(&["-"]);
    let resp = pipe_to_a_waiting_viewer(&mut srv, &data);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type").as_deref(), Some("audio/webm"));
    assert!(
        content(&resp.body) == content(&expected),
        "the whole stream from its first cluster"
    );
    assert!(srv.wait_exit(Duration::from_secs(10)).unwrap().success());
}

#[test]
fn http_input_relays_another_mkvcast() {
    let (expected, segs) = expected_stream("vp9_opus.webm");
    let mut upstream = Mkvcast::start(&[&fixture_path("vp9_opus.webm")]);
    let mut relay = Mkvcast::start(&[
        &upstream.url(),
        "--no-pace",
        "--reconnect-timeout-ms",
        "1500",
    ]);
    let resp = get(relay.port, LONG);
    assert_eq!(resp.status, 200);
    let got = received_segments(&resp.body);
    assert!(got[0].keyframe);
    // The relay joined its upstream a moment after it started, so it has
    // every cluster from the first: the same bytes.
    assert_eq!(got.len(), segs.len());
    assert!(content(&resp.body) == content(&expected));
    assert!(upstream
        .wait_exit(Duration::from_secs(10))
        .unwrap()
        .success());
    assert!(relay.wait_exit(Duration::from_secs(10)).unwrap().success());
}

#[test]
fn loop_keeps_cluster_timestamps_strictly_increasing() {
    // 10 s file, read for 14 s across the loop point.
    let srv = Mkvcast::start(&[&fixture_path("vp8_vorbis.webm"), "--loop"]);
    let resp = get(srv.port, Duration::from_secs(14));
    let got = received_segments(&resp.body);
    assert!(got.len() >= 13, "{} clusters", got.len());
    for w in got.windows(2) {
        assert!(
            w[1].timestamp > w[0].timestamp,
            "{} then {}",
            w[0].timestamp,
            w[1].timestamp
        );
        let gap = w[1].start.0 as i64 - w[0].end().0 as i64;
        // Frame durations are estimates: allow a little overlap.
        assert!(
            (-50_000_000..200_000_000).contains(&gap),
            "gap of {gap} ns across the loop"
        );
    }
    assert!(srv.log().contains("pass 1"));
    let (frames, _) = demux(&resp.body).unwrap();
    let video: Vec<u64> = frames
        .iter()
        .filter(|f| f.track == 1)
        .map(|f| f.timestamp)
        .collect();
    assert!(
        video.windows(2).all(|w| w[1] > w[0]),
        "video frame times increase across the loop"
    );
}

#[test]
fn bad_inputs_exit_non_zero_with_a_reason() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_mkvcast"))
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let missing = run(&["/nonexistent/file.webm"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot open"));
    let not_mkv = run(&[&fixture_path("README.md")]);
    assert!(!not_mkv.status.success());
    assert!(
        String::from_utf8_lossy(&not_mkv.stderr).contains("not Matroska"),
        "{}",
        String::from_utf8_lossy(&not_mkv.stderr)
    );
    let bad_arg = run(&["--max-clients", "many"]);
    assert!(!bad_arg.status.success());
    let https = run(&["https://127.0.0.1/x"]);
    assert!(String::from_utf8_lossy(&https.stderr).contains("https"));
    // A port in use.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let busy = std::process::Command::new(env!("CARGO_BIN_EXE_mkvcast"))
        .args([
            &fixture_path("demo.webm"),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .output()
        .unwrap();
    assert!(!busy.status.success());
    assert!(String::from_utf8_lossy(&busy.stderr).contains("cannot listen"));
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_mkvcast"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for opt in [
        "--listen",
        "--max-clients",
        "--buffer-ms",
        "--no-pace",
        "--loop",
        "--client-queue-ms",
        "--request-timeout-ms",
        "--stall-timeout-ms",
    ] {
        assert!(help.contains(opt), "--help explains {opt}");
    }
}

#[test]
fn slow_request_times_out() {
    let srv = Mkvcast::start(&[&fixture_path("demo.webm"), "--request-timeout-ms", "1000"]);
    let mut s = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    s.write_all(b"GET / HT").unwrap();
    let start = Instant::now();
    let r = read_response(&mut s, Duration::from_secs(5), 0);
    assert!(r.closed.is_some(), "closed");
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[test]
fn http_input_reconnects_to_a_restarted_upstream() {
    let upstream = Mkvcast::start(&[&fixture_path("bench_1mbit.webm"), "--loop"]);
    let port = upstream.port;
    let mut relay = Mkvcast::start(&[
        &upstream.url(),
        "--no-pace",
        "--reconnect-timeout-ms",
        "4000",
    ]);
    let relay_port = relay.port;
    let viewer = thread::spawn(move || get(relay_port, Duration::from_secs(40)));
    thread::sleep(Duration::from_secs(4));
    // The upstream dies, and comes back on the same port with the same stream.
    drop(upstream);
    thread::sleep(Duration::from_millis(1500));
    let upstream = Mkvcast::start_on(port, &[&fixture_path("bench_1mbit.webm"), "--loop"]);
    assert!(
        relay.wait_log("reconnected", Duration::from_secs(10)),
        "{}",
        relay.log()
    );
    thread::sleep(Duration::from_secs(4));
    // Gone for good: the relay gives up after --reconnect-timeout-ms, drains
    // and exits 0.
    drop(upstream);
    let status = relay
        .wait_exit(Duration::from_secs(20))
        .expect("relay ends after the timeout");
    assert!(status.success(), "{}", relay.log());
    let resp = viewer.join().unwrap();
    assert_eq!(resp.status, 200);
    let got = received_segments(&resp.body);
    assert!(got.len() >= 6, "{} clusters", got.len());
    assert!(got[0].keyframe);
    for w in got.windows(2) {
        assert!(
            w[1].timestamp > w[0].timestamp,
            "continuous timestamps across the reconnect"
        );
    }
    // The viewer went on after the reconnect: clusters came from both
    // upstream runs (the relay logged a restart with the same tracks).
    assert!(
        relay
            .log()
            .contains("viewers continue at the next keyframe"),
        "{}",
        relay.log()
    );
    demux(&resp.body).unwrap();
}

#[test]
fn new_tracks_close_current_clients_and_new_ones_get_the_new_header() {
    let a = std::fs::read(fixture("av1_opus.webm")).unwrap();
    let b = std::fs::read(fixture("opus_only.webm")).unwrap();
    let (expected_a, _) = expected_stream("av1_opus.webm");
    let mut srv = Mkvcast::start_piped(&["-"]);
    let port = srv.port;
    let first = thread::spawn(move || get(port, LONG));
    assert!(srv.wait_log("waits for the stream", Duration::from_secs(5)));
    let mut stdin = srv.child.stdin.take().unwrap();
    let writer = thread::spawn(move || {
        stdin.write_all(&a).unwrap();
        stdin.write_all(&b).unwrap();
    });
    // The first client gets all of the first stream, then a clean close.
    let resp = first.join().unwrap();
    assert_eq!(resp.header("content-type").as_deref(), Some("video/webm"));
    assert!(resp.closed.is_some());
    assert!(
        content(&resp.body) == content(&expected_a),
        "whole first stream, nothing of the second"
    );
    assert!(srv.wait_log("changed tracks", Duration::from_secs(5)));
    // A client arriving now gets the new stream.
    let second = get(port, LONG);
    assert_eq!(second.header("content-type").as_deref(), Some("audio/webm"));
    let got = received_segments(&second.body);
    assert!(!got.is_empty() && got[0].keyframe);
    writer.join().unwrap();
    assert!(srv.wait_exit(Duration::from_secs(15)).unwrap().success());
}

/// Runs mkvcast on `input` (a file path) with nobody watching; returns its
/// exit status and stderr.
fn run_on(input: &str) -> (std::process::ExitStatus, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mkvcast"))
        .args([input, "--listen", "127.0.0.1:0", "--admin-listen", "off"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn unusable_inputs_exit_non_zero_with_a_one_line_reason() {
    let dir = std::env::temp_dir().join(format!("mkvcast-bad-inputs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let random: Vec<u8> = (0..100_000).map(|_| rng.next() as u8).collect();
    // An MP4's first boxes: ftyp, free, then an mdat header.
    let mut mp4 = b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2\0\0\0\x08free".to_vec();
    mp4.extend_from_slice(b"\0\0\x10\x08mdat");
    mp4.resize(4096 + 16, 0);
    // Matroska whose header is cut before Tracks: nothing playable.
    let demo = std::fs::read(fixture("demo.webm")).unwrap();
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("empty.webm", Vec::new(), "is empty"),
        ("random.webm", random, "not Matroska"),
        ("movie.mp4", mp4, "not Matroska"),
        ("header_only.webm", demo[..40].to_vec(), "no playable"),
    ];
    for (name, bytes, reason) in cases {
        let path = dir.join(name);
        std::fs::write(&path, &bytes).unwrap();
        let path = path.to_string_lossy().into_owned();
        let (status, stderr) = run_on(&path);
        assert_eq!(status.code(), Some(1), "{name}: {stderr}");
        let last = stderr.lines().last().unwrap_or("");
        assert!(
            last.starts_with(&format!("mkvcast: input {path}: ")) && last.contains(reason),
            "{name}: the last line gives the input and why ({reason}): {stderr}"
        );
        // Said once, and nothing alarming besides.
        assert_eq!(stderr.matches(reason).count(), 1, "{name}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains(" ERROR "),
            "{name}: {stderr}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Corrupt and truncated Matroska still plays: the viewer gets what the
/// segmenter recovers (resync at the next Cluster), readable by
/// matroska-demuxer up to the end, and the server ends normally.
#[test]
fn damaged_and_truncated_inputs_are_served_as_far_as_they_go() {
    let input = std::fs::read(fixture("vp9_opus.webm")).unwrap();
    let (orig, _) = demux(&input).unwrap();
    let last_ts = orig.iter().map(|f| f.timestamp).max().unwrap();
    let mut damaged = input.clone();
    let at = input.len() * 45 / 100;
    for b in &mut damaged[at..at + 5000] {
        *b = 0x1F;
    }
    let truncated = input[..input.len() * 6 / 10].to_vec();
    for (what, bytes) in [("damaged", damaged), ("truncated", truncated)] {
        let (events, stats) = segment_all(&bytes, 1 << 20).unwrap();
        let expected = concat(&events);
        let mut srv = Mkvcast::start_piped(&["-", "--no-pace"]);
        let resp = pipe_to_a_waiting_viewer(&mut srv, &bytes);
        assert_eq!(resp.status, 200, "{what}");
        assert!(
            content(&resp.body) == content(&expected),
            "{what}: what the segmenter recovers"
        );
        let (got, _) = demux(&resp.body).unwrap_or_else(|e| panic!("{what}: unreadable: {e}"));
        assert_eq!(
            got.first().map(|f| f.timestamp),
            orig.first().map(|f| f.timestamp)
        );
        let got_last = got.iter().map(|f| f.timestamp).max().unwrap();
        if what == "damaged" {
            assert!(stats.bytes_skipped >= 5000, "{what}: {stats:?}");
            assert!(got.len() < orig.len() && got.len() > orig.len() * 8 / 10);
            assert_eq!(got_last, last_ts, "{what}: plays on to the end");
            assert!(srv.log().contains("skipped"), "{what}: the skip is logged");
        } else {
            assert!(
                got_last < last_ts && got.len() > orig.len() * 4 / 10,
                "{what}: {} of {} frames, last at {got_last} of {last_ts}",
                got.len(),
                orig.len()
            );
        }
        let status = srv.wait_exit(Duration::from_secs(10)).unwrap();
        assert!(status.success(), "{what}: {}", srv.log());
    }
}
