//! A publisher that goes away: viewers of a push mount wait the grace
//! time (`--source-grace-ms`) for the next one. ffmpeg (not bit-exact, so
//! its second run writes other TrackUIDs) is killed mid-cluster and a new
//! ffmpeg comes within the grace time: the viewer's one capture across the
//! gap is valid, its timestamps strictly increase, and ffmpeg decodes all
//! of it with zero errors. When no publisher comes in time, the viewer's
//! connection ends cleanly.

use std::io::Write;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::thread::{self, sleep, JoinHandle};
use std::time::{Duration, Instant};

use mkvcast_testkit::http::read_response;
use mkvcast_testkit::process::Mkvcast;
use mkvcast_testkit::real::{require_tools, run_tool, TempFile};
use mkvcast_testkit::stream_check::StreamCheck;

const PASSWORD: &str = "grace-test-pw";

/// A viewer reading `/cam` until the server closes (or `limit` passes):
/// the body and whether the server closed it.
fn viewer(port: u16, limit: Duration) -> JoinHandle<(Vec<u8>, bool)> {
    thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"GET /cam HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let r = read_response(&mut s, limit, usize::MAX);
        (r.body, r.closed.is_some())
    })
}

/// `ffmpeg -re` pushing `seconds` of `fixture` to /cam, as an encoder does.
fn push(port: u16, fixture: &str, seconds: u32) -> Child {
    Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-re", "-t", &seconds.to_string()])
        .args(["-i", fixture, "-c", "copy", "-f", "webm"])
        .arg(format!("icecast://source:{PASSWORD}@127.0.0.1:{port}/cam"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ffmpeg")
}

/// Packet times per stream index, in decode order, from ffprobe.
fn packet_times(file: &TempFile) -> Vec<Vec<f64>> {
    let out = run_tool(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "packet=stream_index,dts_time",
            "-of",
            "csv=p=0",
        ],
        file.path(),
    );
    assert!(out.status.success(), "ffprobe failed");
    let mut per: Vec<Vec<f64>> = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut f = line.split(',');
        let (Some(i), Some(t)) = (f.next(), f.next()) else {
            continue;
        };
        let (Ok(i), Ok(t)) = (i.parse::<usize>(), t.parse::<f64>()) else {
            continue;
        };
        if per.len() <= i {
            per.resize(i + 1, Vec::new());
        }
        per[i].push(t);
    }
    per
}

fn server(grace_ms: u32) -> Mkvcast {
    let grace = grace_ms.to_string();
    Mkvcast::start_env(
        &["--ingest", "/cam", "--source-grace-ms", &grace],
        &[("MKVCAST_SOURCE_PASSWORD", PASSWORD)],
    )
}

#[test]
fn a_new_publisher_within_the_grace_time_continues_the_viewers_stream() {
    if !require_tools(&["ffmpeg", "ffprobe"]) {
        return;
    }
    let srv = server(4000);
    let watch = viewer(srv.port, Duration::from_secs(40));
    sleep(Duration::from_millis(300));
    // demo.webm has 2 s Clusters: killed 3.3 s in, ffmpeg is mid-cluster.
    let mut first = push(srv.port, "fixtures/demo.webm", 10);
    sleep(Duration::from_millis(3300));
    first.kill().unwrap();
    first.wait().unwrap();
    sleep(Duration::from_millis(1200));
    let mut second = push(srv.port, "fixtures/demo.webm", 5);
    let status = second.wait().unwrap();
    assert!(status.success(), "the second publisher failed: {status}");
    // No third publisher: the grace time runs out and the viewer ends.
    let (body, closed) = watch.join().unwrap();
    assert!(closed, "the viewer was not closed after the grace time");
    let mut check = StreamCheck::new(3_000_000_000, false);
    check.feed(&body);
    assert!(check.error.is_none(), "capture: {:?}", check.error);
    assert!(check.clusters >= 4, "{} clusters", check.clusters);
    let file = TempFile::write("grace", "webm", &body);
    let decoded = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(file.path())
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let errors = String::from_utf8_lossy(&decoded.stderr).into_owned();
    assert!(
        decoded.status.success() && errors.trim().is_empty(),
        "ffmpeg: {errors}"
    );
    let times = packet_times(&file);
    assert_eq!(times.len(), 2, "video and audio");
    for (i, t) in times.iter().enumerate() {
        assert!(
            t.windows(2).all(|w| w[1] > w[0]),
            "stream {i} times do not strictly increase"
        );
    }
    // Both publishers' media arrived: at least 3 s before and 4 s after.
    let span = times[0].last().unwrap() - times[0][0];
    assert!(span > 7.0, "video spans only {span:.1} s");
}

#[test]
fn without_a_publisher_in_time_viewers_end_cleanly() {
    if !require_tools(&["ffmpeg"]) {
        return;
    }
    let srv = server(1000);
    let watch = viewer(srv.port, Duration::from_secs(20));
    sleep(Duration::from_millis(300));
    let mut p = push(srv.port, "fixtures/vp9_opus.webm", 2);
    assert!(p.wait().unwrap().success());
    let ended = Instant::now();
    let (body, closed) = watch.join().unwrap();
    assert!(closed, "the viewer was not closed");
    let waited = ended.elapsed();
    assert!(
        waited < Duration::from_secs(6),
        "closed {waited:?} after the publisher"
    );
    let mut check = StreamCheck::new(3_000_000_000, false);
    check.feed(&body);
    assert!(
        check.error.is_none() && check.clusters >= 1,
        "{:?}",
        check.error
    );
    // A new publisher after that starts a new stream for new viewers.
    let late = viewer(srv.port, Duration::from_secs(15));
    sleep(Duration::from_millis(300));
    let mut p = push(srv.port, "fixtures/vp8_vorbis.webm", 2);
    assert!(p.wait().unwrap().success());
    let (body, _) = late.join().unwrap();
    let file = TempFile::write("grace_late", "webm", &body);
    let probe = run_tool(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
        ],
        file.path(),
    );
    let codecs = String::from_utf8_lossy(&probe.stdout).into_owned();
    assert_eq!(
        codecs.split_whitespace().collect::<Vec<_>>(),
        ["vp8", "vorbis"],
        "{codecs}"
    );
}
