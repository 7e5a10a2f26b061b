//! Attachments in the live header. A small text attachment kept in the
//! header of an H.264 + AAC + SRT stream keeps Chromium at readyState 0 (its
//! demuxer goes on probing the attachment, whose codec it does not know,
//! and a live body never ends), while the same stream without it plays at
//! once. Fonts that ASS/SSA subtitles need must stay.
//!
//! The tools are optional: without them the tests print a note and pass,
//! unless `MKVCAST_REAL_CLIENTS=1` (see `tests/common/real.rs`).

mod common;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::thread::sleep;
use std::time::Duration;

use common::until_future_data;
use common::{chromium, firefox};
use mkvcast_testkit::fixture;
use mkvcast_testkit::http::get;
use mkvcast_testkit::process::Mkvcast;
use mkvcast_testkit::real::{require_tool, run_tool, TempFile};

/// How soon after a live join the video must have data to play.
const START_WITHIN: Duration = Duration::from_secs(3);

/// One browser at a time: two decoding at once on a 2-core machine would
/// make the 3 s bound flaky.
fn one_browser() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// mkvcast streaming `name` in a loop, joined 2 s in (a live join).
fn live(name: &str) -> Mkvcast {
    let srv = Mkvcast::start(&[&fixture(name).to_string_lossy(), "--loop"]);
    sleep(Duration::from_secs(2));
    srv
}

fn start_chromium() -> Option<chromium::Browser> {
    let browser = chromium::Browser::start();
    if browser.is_none() {
        assert!(
            !require_tool("chromium"),
            "chromium on PATH but not startable"
        );
    }
    browser
}

/// Joins `name` live in Chromium; time to readyState ≥ 3, or why not.
fn chromium_start(b: &mut chromium::Browser, name: &str) -> Result<Duration, String> {
    let srv = live(name);
    b.open_video(&srv.url())?;
    until_future_data(|| b.video_state(), |s| s.ready_state, START_WITHIN)
        .map_err(|e| format!("{name}: {e}\n{}", srv.log()))
}

#[test]
fn chromium_starts_a_live_srt_stream_with_an_attachment_within_3_s() {
    let _one = one_browser();
    let Some(mut b) = start_chromium() else {
        return;
    };
    // The same stream without the attachment: shows this browser and
    // machine can start it that fast, so a failure below is the attachment.
    let plain = chromium_start(&mut b, "h264_aac_srt.mkv").unwrap_or_else(|e| panic!("{e}"));
    eprintln!("h264_aac_srt.mkv: readyState >= 3 after {plain:?}");
    let took = chromium_start(&mut b, "h264_aac_srt_attach.mkv").unwrap_or_else(|e| panic!("{e}"));
    eprintln!("h264_aac_srt_attach.mkv: readyState >= 3 after {took:?}");
}

#[test]
fn chromium_starts_a_live_opus_srt_stream_with_an_attachment_within_3_s() {
    let _one = one_browser();
    let Some(mut b) = start_chromium() else {
        return;
    };
    let took = chromium_start(&mut b, "h264_opus_srt_attach.mkv").unwrap_or_else(|e| panic!("{e}"));
    eprintln!("h264_opus_srt_attach.mkv: readyState >= 3 after {took:?}");
}

/// Firefox does not start H.264 + AAC Matroska on an HTTP body that never
/// ends, from any server and with or without attachment (it plays once the
/// body ends), so its attachment case is the Opus twin of the SRT fixture.
#[test]
fn firefox_starts_a_live_opus_srt_stream_with_an_attachment_within_3_s() {
    let _one = one_browser();
    let Some(mut b) = firefox::Browser::start() else {
        return;
    };
    let srv = live("h264_opus_srt_attach.mkv");
    b.open_video(&srv.url()).expect("open_video");
    let took = until_future_data(|| b.video_state(), |s| s.ready_state, START_WITHIN)
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", srv.log(), b.log_tail(2000)));
    eprintln!("h264_opus_srt_attach.mkv in Firefox: readyState >= 3 after {took:?}");
}

/// `ffprobe -show_streams` output: one key=value map per `[STREAM]`.
fn ffprobe_streams(stdout: &[u8]) -> Vec<BTreeMap<String, String>> {
    let mut streams = Vec::new();
    let mut cur: Option<BTreeMap<String, String>> = None;
    for line in String::from_utf8_lossy(stdout).lines() {
        match line.trim() {
            "[STREAM]" => cur = Some(BTreeMap::new()),
            "[/STREAM]" => streams.extend(cur.take()),
            l => {
                if let (Some(s), Some((k, v))) = (cur.as_mut(), l.split_once('=')) {
                    s.insert(k.to_string(), v.to_string());
                }
            }
        }
    }
    streams
}

#[test]
fn live_ass_stream_keeps_its_font_attachment() {
    if !require_tool("ffprobe") {
        return;
    }
    // No --loop: the server ends the stream after the 6 s input, so the
    // capture of a client joining 2 s in is complete.
    let srv = Mkvcast::start(&[&fixture("ass_font.mkv").to_string_lossy()]);
    sleep(Duration::from_secs(2));
    let resp = get(srv.port, Duration::from_secs(20));
    assert_eq!(resp.status, 200, "{}", srv.log());
    assert!(resp.closed.is_some(), "the stream ended with the input");
    let file = TempFile::write("live-ass_font", "mkv", &resp.body);
    let probe = run_tool("ffprobe", &["-v", "error", "-show_streams"], file.path());
    assert!(probe.status.success(), "ffprobe exit {}", probe.status);
    let streams = ffprobe_streams(&probe.stdout);
    let kinds: Vec<(&str, &str)> = streams
        .iter()
        .map(|s| (s["codec_type"].as_str(), s["codec_name"].as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("video", "h264"),
            ("audio", "aac"),
            ("subtitle", "ass"),
            ("attachment", "ttf")
        ],
        "streams of the live capture:\n{}",
        String::from_utf8_lossy(&probe.stdout)
    );
    let font = &streams[3];
    assert_eq!(font["TAG:filename"], "DejaVuSansMono.ttf");
    assert_eq!(font["TAG:mimetype"], "application/x-truetype-font");
    // The whole font (343,140 bytes), not a cut-off header.
    assert_eq!(font["extradata_size"], "343140");
}
