//! Push ingest end to end with real encoders nobody here wrote: ffmpeg
//! (Icecast and HTTP PUT), GStreamer `shout2send` and
//! `souphttpclientsink`, and curl. A viewer connects before the push
//! starts, so it waits for the stream header and must get every frame
//! that was pushed: its capture is one clean stream, ffmpeg decodes it
//! with zero errors, with as many frames per stream as the fixture, and
//! ffprobe sees the same codecs and packet counts. Chromium plays an
//! ffmpeg push.
//!
//! What the clients sent (Debian 12: ffmpeg 5.1, GStreamer 1.22.0 with
//! libshout 2.4.6 and libsoup 3.2.3, curl 7.88; seen through a logging
//! proxy and a plain listener):
//!
//! - ffmpeg `icecast://`: one `PUT` with `Expect: 100-continue`,
//!   `Content-Type: audio/mpeg` (no `-content_type`), `Ice-Public: 0`,
//!   credentials at once, and no length and no chunks: the body runs
//!   until the connection closes.
//! - ffmpeg `-method PUT http://user:pw@`: a chunked `PUT` without
//!   credentials and with `Expect: 100-continue`; after the `401` it
//!   connects again and sends them, without `Expect` this time.
//! - libshout (`shout2send protocol=http`): `OPTIONS *` with `Upgrade:
//!   TLS/1.0` first; as mkvcast's `Allow` names `PUT`, it then sends, on
//!   the same connection, a `PUT` with `Content-Length: 0` and no
//!   credentials (a `401` closes it), then on a new connection the
//!   authorised `PUT` with `Expect: 100-continue` and no length, until
//!   close. It sends `SOURCE` (HTTP/1.0) only to a server whose `OPTIONS`
//!   answer does not allow `PUT`.
//! - `souphttpclientsink`: one `PUT` per buffer with `Content-Length`, the
//!   later ones with `Content-Range: bytes N-M/*`, each on a **new**
//!   connection (it never reads the response body, so libsoup does not
//!   reuse the connection, even after a `200` with `Content-Length: 0`).
//!   It sends credentials only after a `401`, and GStreamer 1.22 then
//!   re-sends the first buffer's request with `Content-Length: 0`: the
//!   first buffer (EBML header, Tracks) is lost, and every continuation
//!   after it is `416` (it never starts at 0). That is with credentials
//!   in the URL; with `user-id`/`user-pw` it never sends them at all
//!   (457 `PUT`s, each `401`). So with Debian's GStreamer it can only
//!   push to a mount with `auth = "none"` and `allow_from`, which is what
//!   is tested here.
//! - curl `-T file`: `Content-Length`, and `Expect: 100-continue` for a
//!   body over 1 MiB; `-H 'Expect:'` drops it; `-T -` from a pipe is
//!   chunked, with `Expect: 100-continue`.
//!
//! The tools are optional: without them the tests print a note and pass,
//! unless `MKVCAST_REAL_CLIENTS=1`.

mod common;

use std::thread::{self, sleep};
use std::time::Duration;

use common::chromium::Browser;
use common::push::{assert_whole_push, log_count, require_gst_elements, run_bounded, Viewer};
use mkvcast_testkit::fixture;
use mkvcast_testkit::http::raw_request;
use mkvcast_testkit::process::Mkvcast;
use mkvcast_testkit::real::{require_tool, require_tools, TempFile};

const PW: &str = "PW";

/// Short timers, so that a viewer's stream ends soon after the push: a
/// paused body-with-length stream is gone after 1 s without a
/// continuation, and viewers end 0.5 s later.
const TIMERS: [&str; 4] = [
    "--source-idle-timeout-ms",
    "1000",
    "--source-grace-ms",
    "500",
];

fn push_server() -> Mkvcast {
    let mut args = vec!["--ingest", "/cam", "--source-password", PW];
    args.extend(TIMERS);
    Mkvcast::start(&args)
}

fn path_of(name: &str) -> String {
    fixture(name).to_string_lossy().into_owned()
}

/// Asserts the encoder exited 0, with its stderr and the server log.
fn assert_pushed(who: &str, out: &std::process::Output, srv: &Mkvcast) {
    assert!(
        out.status.success(),
        "{who} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        srv.log()
    );
}

/// Chromium joins the push to `/cam` (while it waits or has just begun)
/// and plays it: `currentTime` advances by at least 1 s in 2 s.
fn chromium_plays(srv: &Mkvcast) {
    let Some(mut b) = Browser::start() else {
        assert!(
            !require_tool("chromium"),
            "chromium on PATH but not startable"
        );
        return;
    };
    let url = format!("http://127.0.0.1:{}/cam", srv.port);
    b.open_video(&url).unwrap();
    let s0 = b
        .wait_playing(Duration::from_secs(8))
        .unwrap_or_else(|e| panic!("Chromium: {e}\n{}", srv.log()));
    sleep(Duration::from_secs(2));
    let s1 = b.video_state().unwrap();
    eprintln!("chromium: {s0:?}\n2 s later: {s1:?}");
    assert!(
        s1.current_time >= s0.current_time + 1.0 && s1.error.is_none(),
        "Chromium did not play on: {s0:?} then {s1:?}"
    );
    assert_eq!((s1.video_width, s1.video_height), (320, 240));
}

#[test]
fn ffmpeg_icecast_push_without_content_type_reaches_a_viewer_and_chromium() {
    if !require_tools(&["ffmpeg", "ffprobe", "timeout"]) {
        return;
    }
    let srv = push_server();
    let viewer = Viewer::waiting(&srv, "/cam");
    let (src, port) = (path_of("vp8_vorbis.webm"), srv.port);
    let push = thread::spawn(move || {
        let url = format!("icecast://source:{PW}@127.0.0.1:{port}/cam");
        let args = ["-nostdin", "-v", "error", "-re", "-i", &src];
        let args = [&args[..], &["-c", "copy", "-f", "webm", &url]].concat();
        run_bounded("ffmpeg", &args, 40)
    });
    chromium_plays(&srv);
    assert_pushed("ffmpeg", &push.join().unwrap(), &srv);
    let cap = viewer.capture();
    assert_whole_push("ffmpeg-icecast", &cap, &fixture("vp8_vorbis.webm"), &srv);
    assert_eq!(log_count(&srv, "connected (Put, Lavf/"), 1, "{}", srv.log());
    assert_eq!(log_count(&srv, "(401)"), 0, "{}", srv.log());
}

#[test]
fn ffmpeg_http_put_is_challenged_then_pushes_chunked_with_credentials() {
    if !require_tools(&["ffmpeg", "ffprobe", "timeout"]) {
        return;
    }
    let srv = push_server();
    let viewer = Viewer::waiting(&srv, "/cam");
    let url = format!("http://source:{PW}@127.0.0.1:{}/cam", srv.port);
    let src = path_of("vp9_opus.webm");
    let args = ["-nostdin", "-v", "error", "-re", "-i", &src, "-c", "copy"];
    let args = [&args[..], &["-f", "webm", "-method", "PUT", &url]].concat();
    assert_pushed("ffmpeg", &run_bounded("ffmpeg", &args, 30), &srv);
    let cap = viewer.capture();
    assert_whole_push("ffmpeg-put", &cap, &fixture("vp9_opus.webm"), &srv);
    assert_eq!(log_count(&srv, "without credentials: challenged (401)"), 1);
    assert_eq!(log_count(&srv, "connected (Put, Lavf/"), 1, "{}", srv.log());
}

#[test]
fn ffmpeg_legacy_icecast_source_gets_its_200_and_pushes() {
    if !require_tools(&["ffmpeg", "ffprobe", "timeout"]) {
        return;
    }
    let srv = push_server();
    let viewer = Viewer::waiting(&srv, "/cam");
    // `-legacy_icecast 1`: Icecast's own SOURCE method, as old servers
    // took it. ffmpeg never reads the `HTTP/1.0 200 OK` that SOURCE gets
    // at once (libshout waits for it), so its close is a reset, and a
    // reset discards what the server had not read yet: pushed unpaced,
    // the tail of a whole file is lost that way (with Icecast too).
    // Paced, as an encoder sends, nothing is waiting when it closes.
    let url = format!("icecast://source:{PW}@127.0.0.1:{}/cam", srv.port);
    let src = path_of("vp9_opus.webm");
    let args = [
        "-nostdin", "-v", "error", "-re", "-i", &src, "-c", "copy", "-f", "webm",
    ];
    let args = [
        &args[..],
        &["-legacy_icecast", "1", "-content_type", "video/webm", &url],
    ]
    .concat();
    assert_pushed("ffmpeg", &run_bounded("ffmpeg", &args, 30), &srv);
    let cap = viewer.capture();
    assert_whole_push("ffmpeg-source", &cap, &fixture("vp9_opus.webm"), &srv);
    assert_eq!(
        log_count(&srv, "connected (Source, Lavf/"),
        1,
        "{}",
        srv.log()
    );
}

/// `gst-launch-1.0 -e` remuxing the fixture `name` (VP8/VP9 + Vorbis/Opus
/// tracks `video_0`, `audio_0`) with `webmmux streamable=true` into
/// `sink`; `audio` is what the audio branch needs between its queue and
/// the muxer (`opusparse` for Opus).
fn gst_remux(name: &str, sink: &str, audio: &str) -> std::process::Output {
    let location = format!("location={}", path_of(name));
    let pipeline = format!(
        "! matroskademux name=d webmmux name=m streamable=true ! {sink} \
         d.video_0 ! queue ! m.video_0 d.audio_0 ! queue ! {audio} m.audio_0"
    );
    let mut args = vec!["-q", "-e", "filesrc", &location];
    args.extend(pipeline.split_whitespace());
    run_bounded("gst-launch-1.0", &args, 40)
}

#[test]
fn gstreamer_shout2send_pushes_webm_through_libshout() {
    if !require_tools(&[
        "gst-launch-1.0",
        "gst-inspect-1.0",
        "ffmpeg",
        "ffprobe",
        "timeout",
    ]) || !require_gst_elements(&["shout2send", "webmmux", "matroskademux"])
    {
        return;
    }
    let srv = push_server();
    let viewer = Viewer::waiting(&srv, "/cam");
    let sink = format!(
        "shout2send ip=127.0.0.1 port={} mount=/cam password={PW} protocol=http sync=true",
        srv.port
    );
    let out = gst_remux("gst_vp8_vorbis.webm", &sink, "");
    assert_pushed("shout2send", &out, &srv);
    let cap = viewer.capture();
    assert_whole_push("shout2send", &cap, &fixture("gst_vp8_vorbis.webm"), &srv);
    // libshout's probe without credentials, then the push.
    assert_eq!(log_count(&srv, "without credentials: challenged (401)"), 1);
    assert_eq!(
        log_count(&srv, "connected (Put, GStreamer"),
        1,
        "{}",
        srv.log()
    );
}

#[test]
fn gstreamer_souphttpclientsink_pushes_one_put_per_buffer_to_an_open_mount() {
    if !require_tools(&[
        "gst-launch-1.0",
        "gst-inspect-1.0",
        "ffmpeg",
        "ffprobe",
        "timeout",
    ]) || !require_gst_elements(&["souphttpclientsink", "webmmux", "opusparse"])
    {
        return;
    }
    // See the module doc: it cannot authenticate and keep its first buffer.
    let toml = "[[mount]]\npath = \"/cam\"\npush = true\nauth = \"none\"\n\
                allow_from = [\"127.0.0.1/32\"]\n";
    let config = TempFile::write("open-mount", "toml", toml.as_bytes());
    let mut args = vec!["--config", config.path().to_str().unwrap()];
    args.extend(TIMERS);
    let srv = Mkvcast::start(&args);
    let viewer = Viewer::waiting(&srv, "/cam");
    let sink = format!(
        "souphttpclientsink location=http://127.0.0.1:{}/cam",
        srv.port
    );
    let out = gst_remux("vp9_opus.webm", &sink, "opusparse !");
    assert_pushed("souphttpclientsink", &out, &srv);
    let cap = viewer.capture();
    assert_whole_push("souphttpclientsink", &cap, &fixture("vp9_opus.webm"), &srv);
    // Every PUT after the first continued the stream: one publisher, no
    // refusal, and the sink got a 2xx for each (else it fails).
    assert_eq!(
        log_count(&srv, "connected (Put, GStreamer souphttpclientsink"),
        1
    );
    assert_eq!(log_count(&srv, "refused"), 0, "{}", srv.log());
}

/// `curl -sS -v -u source:PW -T UPLOAD EXTRA.. URL` (through `bash`, for
/// `-T -` from a pipe); returns curl's verbose trace.
fn curl_push(srv: &Mkvcast, upload: &str, extra: &[&str], pipe_from: Option<&str>) -> String {
    let url = format!("http://127.0.0.1:{}/cam", srv.port);
    let creds = format!("source:{PW}");
    let mut curl = vec!["curl", "-sS", "-v", "-u", &creds, "-T", upload];
    curl.extend(extra);
    curl.push(&url);
    let script = match pipe_from {
        Some(_) => "f=$1; shift; cat \"$f\" | \"$@\"",
        None => "shift; \"$@\"",
    };
    let mut args = vec!["-c", script, "bash", pipe_from.unwrap_or("-")];
    args.extend(curl);
    let out = run_bounded("bash", &args, 30);
    assert_pushed("curl", &out, srv);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn curl_pushes_a_file_over_1_mib_with_expect_100_continue() {
    if !require_tools(&["curl", "ffmpeg", "ffprobe", "timeout"]) {
        return;
    }
    let srv = push_server();
    let viewer = Viewer::waiting(&srv, "/cam");
    let src = path_of("demo.webm");
    let size = std::fs::metadata(&src).unwrap().len();
    assert!(size > 1 << 20, "demo.webm is {size} bytes");
    let trace = curl_push(&srv, &src, &[], None);
    for line in [
        format!("> Content-Length: {size}"),
        "> Expect: 100-continue".into(),
        "< HTTP/1.1 100 Continue".into(),
        "< HTTP/1.1 200 OK".into(),
    ] {
        assert!(trace.contains(&line), "no {line:?} in:\n{trace}");
    }
    // Unpaced, the whole file arrives at once: the viewer still gets all.
    assert_whole_push(
        "curl-expect",
        &viewer.capture(),
        &fixture("demo.webm"),
        &srv,
    );
}

#[test]
fn curl_pushes_a_file_without_expect() {
    if !require_tools(&["curl", "ffmpeg", "ffprobe", "timeout"]) {
        return;
    }
    let srv = push_server();
    let viewer = Viewer::waiting(&srv, "/cam");
    let trace = curl_push(&srv, &path_of("vp9_opus.webm"), &["-H", "Expect:"], None);
    assert!(trace.contains("< HTTP/1.1 200 OK"), "{trace}");
    assert!(!trace.contains("100 Continue"), "{trace}");
    assert_whole_push(
        "curl-no-expect",
        &viewer.capture(),
        &fixture("vp9_opus.webm"),
        &srv,
    );
}

#[test]
fn curl_pushes_a_pipe_chunked() {
    if !require_tools(&["curl", "bash", "ffmpeg", "ffprobe", "timeout"]) {
        return;
    }
    let srv = push_server();
    let viewer = Viewer::waiting(&srv, "/cam");
    let src = path_of("vp9_opus.webm");
    let trace = curl_push(&srv, "-", &[], Some(&src));
    assert!(trace.contains("> Transfer-Encoding: chunked"), "{trace}");
    assert!(trace.contains("< HTTP/1.1 200 OK"), "{trace}");
    assert_whole_push(
        "curl-chunked",
        &viewer.capture(),
        &fixture("vp9_opus.webm"),
        &srv,
    );
}

/// What `souphttpclientsink` does to a mount with credentials (module
/// doc): continuations of a stream that never began, each `416`. They
/// must not end viewers waiting for a first publisher (they did: each
/// refusal started a grace time), so the next real push reaches them.
#[test]
fn stray_continuations_leave_waiting_viewers_for_the_next_push() {
    if !require_tools(&["curl", "ffmpeg", "ffprobe", "timeout"]) {
        return;
    }
    let srv = push_server();
    let viewer = Viewer::waiting(&srv, "/cam");
    for start in [867u64, 8340] {
        let req = format!(
            "PUT /cam HTTP/1.1\r\nHost: t\r\nAuthorization: Basic c291cmNlOlBX\r\n\
             Content-Length: 4\r\nContent-Range: bytes {start}-{}/*\r\n\r\nabcd",
            start + 3
        );
        let r = raw_request(srv.port, req.as_bytes(), Duration::from_secs(5));
        assert_eq!(r.status, 416, "{}", r.head);
    }
    // Longer than the grace time (0.5 s).
    sleep(Duration::from_millis(1500));
    curl_push(&srv, &path_of("vp9_opus.webm"), &[], None);
    assert_whole_push(
        "after-416",
        &viewer.capture(),
        &fixture("vp9_opus.webm"),
        &srv,
    );
}
