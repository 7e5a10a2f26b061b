//! Timestamps across `--loop` points, per track, through the real binary.
//!
//! `gst_vp8_vorbis.webm` (GStreamer `webmmux streamable=true`) stores its
//! Vorbis frames without BlockDuration or DefaultDuration, and its last
//! audio frame ends after its last video frame: a pass that starts where
//! the video ended starts its audio before the previous audio frame ended.

use std::collections::HashMap;
use std::io::{Cursor, Write};
use std::process::Command;
use std::thread;
use std::time::Duration;

use matroska_demuxer::{Frame, MatroskaFile};
use mkvcast::matroska::header::StreamHeader;
use mkvcast::segmenter::{concat, segment_all, Event};
use mkvcast_testkit::fixture;
use mkvcast_testkit::http::{get, open_get, read_response};
use mkvcast_testkit::process::Mkvcast;
use mkvcast_testkit::real::require_tool;
use mkvcast_testkit::stream_check::StreamCheck;

const FIXTURE: &str = "gst_vp8_vorbis.webm";
/// The window of the largest-gap rule for frames without a duration.
const GAP_WINDOW_NS: u64 = 2_000_000_000;

/// What a demuxer reads from a stream: every frame and the track table.
struct Demuxed {
    /// Nanoseconds per timestamp tick.
    scale: u64,
    /// DefaultDuration by track number, in ns.
    default_ns: HashMap<u64, u64>,
    frames: Vec<Frame>,
}

impl Demuxed {
    /// Reads `bytes` up to its end or to the first error (a read cut off
    /// mid-cluster ends in one).
    fn read(bytes: &[u8]) -> Demuxed {
        let mut mkv = MatroskaFile::open(Cursor::new(bytes)).expect("a Matroska header");
        let scale = mkv.info().timestamp_scale().get();
        let default_ns = mkv
            .tracks()
            .iter()
            .filter_map(|t| Some((t.track_number().get(), t.default_duration()?.get())))
            .collect();
        let mut frames = Vec::new();
        let mut f = Frame::default();
        while let Ok(true) = mkv.next_frame(&mut f) {
            frames.push(f.clone());
        }
        Demuxed {
            scale,
            default_ns,
            frames,
        }
    }

    fn tracks(&self) -> Vec<u64> {
        let mut t: Vec<u64> = self.frames.iter().map(|f| f.track).collect();
        t.sort_unstable();
        t.dedup();
        t
    }

    /// Where `track`'s media ends after `frames`, in ns: its last frame
    /// plus that frame's BlockDuration, else the track's DefaultDuration,
    /// else the largest gap between its frames in the last 2 s.
    fn track_end(&self, frames: &[Frame], track: u64) -> Option<u64> {
        let times: Vec<u64> = frames
            .iter()
            .filter(|f| f.track == track)
            .map(|f| f.timestamp * self.scale)
            .collect();
        let last_frame = frames.iter().rev().find(|f| f.track == track)?;
        let last = last_frame.timestamp * self.scale;
        let duration = match (last_frame.duration, self.default_ns.get(&track)) {
            (Some(d), _) => d * self.scale,
            (None, Some(&d)) => d,
            (None, None) => times
                .windows(2)
                .filter(|w| w[0] + GAP_WINDOW_NS >= last)
                .map(|w| w[1] - w[0])
                .max()
                .unwrap_or(0),
        };
        Some(last + duration)
    }
}

/// Frames per track.
fn counts(frames: &[Frame]) -> HashMap<u64, usize> {
    let mut c = HashMap::new();
    for f in frames {
        *c.entry(f.track).or_insert(0) += 1;
    }
    c
}

/// One pass of the fixture as the server sends it (the segmenter's output,
/// which any demuxer reads).
fn one_pass() -> Demuxed {
    let data = std::fs::read(fixture(FIXTURE)).expect("the fixture");
    let (events, _) = segment_all(&data, 1 << 20).expect("segments");
    Demuxed::read(&concat(&events))
}

/// Reads about `passes` passes of a `--loop --no-pace` server. The input
/// outruns any reader; a queue of 10 min of media (some 7 MB) keeps this
/// one from being moved ahead while it reads, on a busy machine too.
fn read_looped(passes: usize) -> Demuxed {
    let srv = Mkvcast::start(&[
        &fixture(FIXTURE).to_string_lossy(),
        "--loop",
        "--no-pace",
        "--client-queue-ms",
        "600000",
    ]);
    let mut s = open_get(srv.port);
    let file_len = std::fs::metadata(fixture(FIXTURE)).map_or(0, |m| m.len() as usize);
    let resp = read_response(&mut s, Duration::from_secs(20), passes * file_len);
    assert_eq!(resp.status, 200, "{}", srv.log());
    Demuxed::read(&resp.body)
}

/// Where each pass begins: at every copy of the file's first video frame.
fn pass_starts(got: &Demuxed, first: &Frame) -> Vec<usize> {
    got.frames
        .iter()
        .enumerate()
        .filter(|(_, f)| f.track == first.track && f.data == first.data)
        .map(|(i, _)| i)
        .collect()
}

#[test]
fn every_track_of_a_pass_starts_after_its_own_end_in_the_previous_pass() {
    let file = one_pass();
    let tracks = file.tracks();
    assert_eq!(tracks, [1, 2], "VP8 + Vorbis");
    assert!(
        file.frames
            .iter()
            .all(|f| f.track != 2 || f.duration.is_none())
            && !file.default_ns.contains_key(&2),
        "the Vorbis track gives no durations"
    );
    let got = read_looped(12);
    let scale = got.scale;

    // Per track, timestamps strictly increase over everything received
    // (a viewer moved ahead skips forward only).
    for &t in &tracks {
        let ts: Vec<u64> = got
            .frames
            .iter()
            .filter(|f| f.track == t)
            .map(|f| f.timestamp)
            .collect();
        if let Some(w) = ts.windows(2).find(|w| w[1] <= w[0]) {
            panic!("track {t}: timestamp {} after {}", w[1], w[0]);
        }
    }

    let starts = pass_starts(&got, &file.frames[0]);
    let mut checked = 0;
    for w in starts.windows(3) {
        let (prev, pass) = (&got.frames[w[0]..w[1]], &got.frames[w[1]..w[2]]);
        // Only where the viewer got both passes whole.
        if counts(prev) != counts(&file.frames) || counts(pass) != counts(&file.frames) {
            continue;
        }
        // One offset for the whole pass: every track moved alike.
        let offset = pass[0].timestamp - file.frames[0].timestamp;
        for (a, b) in pass.iter().zip(&file.frames) {
            assert_eq!(
                (a.track, a.timestamp),
                (b.track, b.timestamp + offset),
                "pass at frame {} moved by one offset",
                w[1]
            );
        }
        for &t in &tracks {
            let end = got.track_end(prev, t).expect("track in the pass");
            let first = pass.iter().find(|f| f.track == t).expect("track again");
            assert!(
                first.timestamp * scale >= end,
                "track {t}: pass at {} ns starts before the previous pass's end at {end} ns",
                first.timestamp * scale
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 2,
        "{checked} whole loop points among {} passes",
        starts.len()
    );
}

/// A packet as ffprobe reads it: stream, pts and duration (1 ms ticks;
/// Vorbis durations from ffmpeg's own parser), MD5 of its data.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Packet {
    stream: u32,
    pts: i64,
    duration: i64,
    hash: String,
}

/// `ffprobe` of `target` (a file, or a URL read for 12 s of media).
fn probe_packets(target: &str) -> Vec<Packet> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-read_intervals", "%+12", "-show_packets"])
        .args(["-show_data_hash", "MD5", "-of", "csv=p=0"])
        .args([
            "-show_entries",
            "packet=stream_index,pts,duration,data_hash",
        ])
        .arg(target)
        .output()
        .expect("running ffprobe");
    let text = String::from_utf8_lossy(&out.stdout);
    let packets: Vec<Packet> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some(Packet {
                stream: f.first()?.parse().ok()?,
                pts: f.get(1)?.parse().ok()?,
                duration: f.get(2)?.parse().ok()?,
                hash: f.get(3)?.to_string(),
            })
        })
        .collect();
    assert!(
        !packets.is_empty(),
        "ffprobe {target}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    packets
}

/// ffmpeg and ffprobe reading 12 s of a paced `--loop` stream, across two
/// loop points: stream copy sees no backward dts, and at each loop point
/// every stream's first packet starts at or after the end of its previous
/// packet, as ffmpeg's own parsers measure it.
///
/// Not checked: decoding the audio across a loop point. The decoder goes
/// on from the previous pass's last Vorbis block, so the first packet of a
/// pass decodes to 576 samples (13 ms) instead of 128 (3 ms) and overlaps
/// the next packet of the same pass; no shift can change that (re-encoding
/// then reports non-monotonic dts, before and after the fix).
#[test]
fn ffmpeg_sees_each_stream_go_on_after_its_own_end_at_loop_points() {
    if !require_tool("ffmpeg") || !require_tool("ffprobe") {
        return;
    }
    let file = probe_packets(&fixture(FIXTURE).to_string_lossy());
    let srv = Mkvcast::start(&[&fixture(FIXTURE).to_string_lossy(), "--loop"]);
    let mut copy = Command::new("ffmpeg");
    copy.args(["-nostdin", "-v", "error", "-t", "12", "-i", &srv.url()])
        .args(["-c", "copy", "-f", "null", "-"]);
    let copy = thread::spawn(move || copy.output().expect("running ffmpeg"));
    let got = probe_packets(&srv.url());
    let copy = copy.join().unwrap();
    let err = String::from_utf8_lossy(&copy.stderr);
    assert!(copy.status.success(), "ffmpeg -c copy: {err}");
    assert!(
        !err.contains("non monotonically increasing dts"),
        "ffmpeg -c copy: {err}"
    );

    for stream in [0, 1] {
        let first = file.iter().find(|p| p.stream == stream).expect("stream");
        let packets: Vec<&Packet> = got.iter().filter(|p| p.stream == stream).collect();
        let mut loop_points = 0;
        for w in packets.windows(2) {
            let (prev, p) = (w[0], w[1]);
            assert!(p.pts > prev.pts, "stream {stream}: {p:?} after {prev:?}");
            if p.hash == first.hash {
                assert!(
                    p.pts >= prev.pts + prev.duration,
                    "stream {stream}: the pass starts at {} before the previous packet ends at {}",
                    p.pts,
                    prev.pts + prev.duration
                );
                loop_points += 1;
            }
        }
        assert!(
            loop_points >= 2,
            "stream {stream}: {loop_points} loop points"
        );
    }
}

/// `ffmpeg -c copy -f webm` of a fixture, as an encoder restarted on the
/// same source would send it.
fn ffmpeg_remux(name: &str) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "error",
            "-i",
            &fixture(name).to_string_lossy(),
        ])
        .args(["-c", "copy", "-f", "webm", "pipe:1"])
        .output()
        .expect("running ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn stream_header(bytes: &[u8]) -> StreamHeader {
    let (events, _) = segment_all(bytes, 1 << 16).unwrap();
    let header = events.into_iter().find_map(|e| match e {
        Event::Header(h) => Some(h),
        _ => None,
    });
    (*header.expect("a stream header")).clone()
}

/// Without `-fflags +bitexact` ffmpeg draws new TrackUIDs on every run:
/// two runs of one remux differ in their Tracks bytes but are the same
/// tracks, so viewers of the first go on into the second.
#[test]
fn two_ffmpeg_runs_of_one_file_are_the_same_tracks() {
    if !require_tool("ffmpeg") {
        return;
    }
    let (a, b) = (ffmpeg_remux("vp9_opus.webm"), ffmpeg_remux("vp9_opus.webm"));
    let (ha, hb) = (stream_header(&a), stream_header(&b));
    assert_ne!(ha.tracks_element, hb.tracks_element, "random TrackUIDs");
    assert_eq!(ha.tracks.len(), 2);
    assert!(ha.tracks[1].codec_private.is_some(), "OpusHead");
    assert!(ha.same_tracks(&hb));

    let mut srv = Mkvcast::start_piped(&["-", "--no-pace"]);
    let port = srv.port;
    let viewer = thread::spawn(move || get(port, Duration::from_secs(30)));
    assert!(srv.wait_log("waits for the stream", Duration::from_secs(5)));
    let mut stdin = srv.child.stdin.take().unwrap();
    stdin.write_all(&[a.clone(), b].concat()).unwrap();
    drop(stdin);
    let resp = viewer.join().unwrap();
    assert!(srv.wait_exit(Duration::from_secs(10)).unwrap().success());
    let log = srv.log();
    assert!(log.contains("restarted with the same tracks"), "{log}");
    assert!(!log.contains("changed tracks"), "{log}");
    // One stream to the viewer: one header, both runs' frames.
    let mut check = StreamCheck::new(200_000_000, false);
    check.feed(&resp.body);
    assert_eq!(check.error, None);
    let one_run = Demuxed::read(&a).frames.len();
    assert_eq!(Demuxed::read(&resp.body).frames.len(), 2 * one_run);
}
