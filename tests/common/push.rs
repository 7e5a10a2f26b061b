//! What the push-ingest tests with real encoders share: a viewer that
//! captures a mount's whole stream, bounded runs of the encoders, and the
//! checks a capture must pass against the file that was pushed (clean
//! Matroska, zero decode errors, every frame, the same codecs).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use mkvcast_testkit::http::{read_response, Response};
use mkvcast_testkit::process::Mkvcast;
use mkvcast_testkit::real::{real_clients_required, TempFile};
use mkvcast_testkit::stream_check::StreamCheck;

/// A viewer reading a mount's stream on its own thread until the server
/// ends it.
pub struct Viewer(JoinHandle<Response>);

impl Viewer {
    /// GETs `path` and, once mkvcast logged that the viewer waits for a
    /// publisher, returns: a push started after this is seen from its
    /// first byte.
    pub fn waiting(srv: &Mkvcast, path: &str) -> Viewer {
        let v = Self::start(srv.port, path, Duration::from_secs(60));
        assert!(
            srv.wait_log("waits for the stream to start", Duration::from_secs(5)),
            "the viewer does not wait for a publisher:\n{}",
            srv.log()
        );
        v
    }

    /// GETs `path` and reads until the server closes, or `within`.
    pub fn start(port: u16, path: &str, within: Duration) -> Viewer {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\nUser-Agent: mkvcast-test\r\n\r\n");
        s.write_all(req.as_bytes()).expect("send GET");
        Viewer(thread::spawn(move || {
            read_response(&mut s, within, usize::MAX)
        }))
    }

    /// The whole capture; panics unless the server ended the stream.
    pub fn capture(self) -> Response {
        let r = self.0.join().expect("viewer thread");
        assert!(r.closed.is_some(), "the server never ended the stream");
        r
    }
}

/// Runs `cmd` under `timeout -k 2 SECS` and returns what it printed.
pub fn run_bounded(program: &str, args: &[&str], secs: u64) -> Output {
    Command::new("timeout")
        .args(["-k", "2", &secs.to_string(), program])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"))
}

/// Runs `program ARGS` bounded and panics with its stderr unless it
/// exited 0.
pub fn run_ok(program: &str, args: &[&str], secs: u64) -> Output {
    let out = run_bounded(program, args, secs);
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Whether the GStreamer elements exist; a missing one skips the test
/// (fails it with `MKVCAST_REAL_CLIENTS=1`).
pub fn require_gst_elements(names: &[&str]) -> bool {
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !run_bounded("gst-inspect-1.0", &[n], 20).status.success())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        !real_clients_required(),
        "GStreamer elements {missing:?} are missing, but MKVCAST_REAL_CLIENTS=1"
    );
    eprintln!("skipping: GStreamer elements {missing:?} are missing");
    false
}

/// Frames ffmpeg decodes per stream, and what it printed at `-v error`.
fn decoded(file: &Path) -> (BTreeMap<usize, usize>, String) {
    let f = file.to_string_lossy();
    let out = run_bounded(
        "ffmpeg",
        &[
            "-nostdin", "-v", "error", "-i", &f, "-map", "0", "-f", "framecrc", "-",
        ],
        60,
    );
    let mut counts = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if line.starts_with('#') {
            continue;
        }
        if let Some(Ok(stream)) = line.split(',').next().map(|s| s.trim().parse()) {
            *counts.entry(stream).or_insert(0) += 1;
        }
    }
    (counts, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// `codec:packets` of every stream, as ffprobe counts them.
fn streams(file: &Path) -> Vec<String> {
    let f = file.to_string_lossy();
    let args = [
        "-v",
        "error",
        "-count_packets",
        "-show_entries",
        "stream=codec_name,nb_read_packets",
        "-of",
        "csv=p=0",
        &f,
    ];
    let out = run_ok("ffprobe", &args, 30);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().replace(',', ":"))
        .filter(|l| !l.is_empty())
        .collect()
}

/// What a viewer's capture must be, for the fixture `source` pushed
/// whole: a clean stream (mkvcast's validator), zero ffmpeg decode
/// errors, as many decoded frames per stream as the source, and the same
/// codecs with the same packet counts (ffprobe).
pub fn assert_whole_push(case: &str, cap: &Response, source: &Path, srv: &Mkvcast) {
    assert_eq!(cap.status, 200, "{case}: {}\n{}", cap.head, srv.log());
    let mut check = StreamCheck::new(1_000_000_000, false);
    check.feed(&cap.body);
    assert_eq!(
        check.error, None,
        "{case}: the capture is not one clean stream"
    );
    let file = TempFile::write(case, "webm", &cap.body);
    let (got, errors) = decoded(file.path());
    assert_eq!(errors, "", "{case}: ffmpeg decode errors");
    let (want, source_errors) = decoded(source);
    assert_eq!(source_errors, "", "{case}: the fixture itself");
    assert_eq!(got, want, "{case}: decoded frames per stream");
    assert_eq!(
        streams(file.path()),
        streams(source),
        "{case}: codec:packets"
    );
    assert!(
        check.clusters >= 3,
        "{case}: {} clusters in {} bytes",
        check.clusters,
        cap.body.len()
    );
}

/// How many log lines contain `needle`.
pub fn log_count(srv: &Mkvcast, needle: &str) -> usize {
    srv.log().lines().filter(|l| l.contains(needle)).count()
}
