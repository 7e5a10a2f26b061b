//! The Matroska → fMP4 remux on real fixtures: every fragment passes the
//! structural check, samples match the source's frames (matroska-demuxer),
//! and ffmpeg/ffprobe decode the result with the source's packet times.

use mkvcast::remux::{Family, Fragmenter};
use mkvcast::segmenter::{segment_all, Event};
use mkvcast_testkit::fixture;
use mkvcast_testkit::fmp4::{
    check_fmp4, compare_with_source, remux_stream, source_frames, Remuxed,
};
use mkvcast_testkit::real::{require_tools, run_tool, TempFile};

const SEGMENT_NS: u64 = 2_000_000_000;

fn remux(name: &str) -> (Vec<u8>, Remuxed) {
    let data = std::fs::read(fixture(name)).unwrap();
    let r = remux_stream(&data, 4096, SEGMENT_NS)
        .unwrap()
        .expect("something to carry");
    assert_eq!(r.errors, 0, "{name}: no segment refused");
    (data, r)
}

/// Structure and source match; returns the checked tracks.
fn check(name: &str, families: &[Family]) -> Remuxed {
    let (data, r) = remux(name);
    let got: Vec<Family> = r.tracks.iter().map(|t| t.family).collect();
    assert_eq!(got, families, "{name}: carried tracks");
    assert!(
        r.segments.len() >= 2,
        "{name}: {} segments",
        r.segments.len()
    );
    let checked = check_fmp4(&r.init, &r.fragments()).unwrap_or_else(|e| panic!("{name}: {e}"));
    compare_with_source(&r.tracks, &checked, &source_frames(&data))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let seqs: Vec<u32> = r.segments.iter().map(|s| s.sequence).collect();
    assert_eq!(seqs, (1..=r.segments.len() as u32).collect::<Vec<_>>());
    r
}

#[test]
fn h264_with_b_frames_and_aac_remux_exactly() {
    let r = check("h264_aac_srt.mkv", &[Family::Avc, Family::Aac]);
    // B-frames: some composition offset differs from the first.
    let checked = check_fmp4(&r.init, &r.fragments()).unwrap();
    let video = checked.iter().find(|t| t.video).unwrap();
    assert_eq!(video.timescale, 1000);
    assert!(
        video.samples.iter().any(|s| s.pts != i128::from(s.dts)),
        "reordered"
    );
    assert!(
        video.samples.windows(2).all(|w| w[1].dts > w[0].dts),
        "DTS increase"
    );
}

#[test]
fn opus_tracks_remux_exactly() {
    let r = check("opus_only.webm", &[Family::Opus]);
    assert_eq!(r.tracks[0].timescale, 48_000);
    check("h264_opus_srt_attach.mkv", &[Family::Avc, Family::Opus]);
}

#[test]
fn flac_remuxes_exactly() {
    check("h264_flac.mkv", &[Family::Avc, Family::Flac]);
}

#[test]
fn nothing_playable_says_why() {
    let data = std::fs::read(fixture("vp8_vorbis.webm")).unwrap();
    let (events, _) = segment_all(&data, 4096).unwrap();
    let Some(Event::Header(h)) = events.first() else {
        panic!("header first")
    };
    let err = Fragmenter::new(h).unwrap_err().to_string();
    assert!(err.contains("V_VP8") && err.contains("A_VORBIS"), "{err}");
}

/// `ffprobe -show_entries packet=pts_time` of one stream of `file`, in
/// seconds, sorted.
fn packet_times(file: &std::path::Path, stream: &str) -> Vec<f64> {
    let args = [
        "-v",
        "error",
        "-select_streams",
        stream,
        "-show_entries",
        "packet=pts_time",
        "-of",
        "csv=p=0",
    ];
    let out = run_tool("ffprobe", &args, file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim_end_matches(',').parse().ok())
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

/// ffmpeg decodes the remux without an error, with as many packets as the
/// source and the same times (within 2 ms: ffmpeg's Matroska reader puts
/// laced AAC frames on the 1 ms time base, the remux at 1024 samples each
/// in a 48 kHz timescale; block times themselves are exact, which
/// `compare_with_source` checks). `absolute`:
/// also the same first time; ffmpeg moves a video track whose first
/// composition offsets are negative (B-frames from time 0, see the
/// module doc of `mkvcast::remux`) later by the most negative one, so for
/// video the times are compared relative to the first.
fn ffmpeg_reads(name: &str, streams: &[(&str, bool)]) {
    let (data, r) = remux(name);
    let mp4 = TempFile::write("remux", "mp4", &r.file());
    let source = TempFile::write("source", "mkv", &data);
    let decode = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(mp4.path())
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let errors = String::from_utf8_lossy(&decode.stderr);
    assert!(
        decode.status.success() && errors.trim().is_empty(),
        "{name}: ffmpeg: {errors}"
    );
    for &(s, absolute) in streams {
        let got = packet_times(mp4.path(), s);
        let want = packet_times(source.path(), s);
        assert_eq!(got.len(), want.len(), "{name} stream {s}: packet count");
        assert!(got.len() > 100, "{name} stream {s}: {} packets", got.len());
        let (g0, w0) = if absolute {
            (0.0, 0.0)
        } else {
            (got[0], want[0])
        };
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                ((g - g0) - (w - w0)).abs() <= 0.0021,
                "{name} stream {s} packet {i}: {g} vs {w}"
            );
        }
    }
}

#[test]
fn ffmpeg_decodes_h264_aac_with_source_times() {
    if require_tools(&["ffmpeg", "ffprobe"]) {
        ffmpeg_reads("h264_aac_srt.mkv", &[("v:0", false), ("a:0", true)]);
    }
}

#[test]
fn ffmpeg_decodes_opus_with_source_times() {
    if require_tools(&["ffmpeg", "ffprobe"]) {
        ffmpeg_reads("opus_only.webm", &[("a:0", true)]);
    }
}
