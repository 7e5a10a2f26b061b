//! The segmenter's live output (header + clusters, as a client receives it)
//! checked with real tools on every bundled fixture:
//!
//! - `ffmpeg` decodes it with zero errors,
//! - `mkvinfo` parses it,
//! - `ffprobe` sees the same video packets and keyframe flags as in the
//!   original, and every segment marked `keyframe` starts (its first video
//!   block) on a packet ffprobe flags `K`;
//! - the forwarded form of a few (each cluster as a live viewer of a
//!   server forwarding blocks gets it: unknown size, Timestamp, blocks)
//!   decodes in `ffmpeg` without errors to the same frames, and `mkvinfo`
//!   parses it.
//!
//! The tools are optional: without them the tests print a note and pass,
//! unless `MKVCAST_REAL_CLIENTS=1` (see `mkvcast_testkit::real`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mkvcast::internals::cluster::read_block_header;
use mkvcast::internals::{ebml, ids};
use mkvcast::segmenter::{concat, prefetch_file, segment_all, Event, LiveCluster, Segmenter};
use mkvcast_testkit::forwarded::{check_forwarded, forwarding, live_form, segment_with};
use mkvcast_testkit::real::{require_tools, run_tool, TempFile};
use mkvcast_testkit::{all_fixtures, fixture};

/// Chunk size the fixtures are fed to the segmenter in.
const CHUNK: usize = 64 << 10;
/// Tolerance when matching a segment's start time to an ffprobe pts.
const PTS_TOLERANCE_US: i64 = 500;

/// One fixture and its segmented live stream, written to a temp file.
struct Case {
    name: String,
    original: PathBuf,
    events: Vec<Event>,
    out: TempFile,
}

impl Case {
    fn segments(&self) -> impl Iterator<Item = &LiveCluster> {
        self.events.iter().filter_map(|e| match e {
            Event::Cluster(s) => Some(s),
            _ => None,
        })
    }

    /// (video track number, TimestampScale) from the stream header.
    fn video_and_scale(&self) -> (Option<u64>, u64) {
        let h = self
            .events
            .iter()
            .find_map(|e| match e {
                Event::Header(h) => Some(h),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{}: no stream header", self.name));
        (h.video_track(), h.timestamp_scale)
    }
}

fn cases() -> Vec<Case> {
    all_fixtures()
        .into_iter()
        .map(|original| {
            let name = original.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&original).unwrap();
            let (events, stats) =
                segment_all(&bytes, CHUNK).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(stats.headers, 1, "{name}: one stream header");
            assert!(stats.clusters > 0, "{name}: no segments");
            assert_eq!(stats.bytes_skipped, 0, "{name}: bytes skipped: {stats:?}");
            let live = concat(&events);
            let (stem, ext) = name.rsplit_once('.').unwrap_or((&name, "mkv"));
            let out = TempFile::write(stem, ext, &live);
            Case {
                name,
                original,
                events,
                out,
            }
        })
        .collect()
}

/// Runs `check` on every case in parallel and fails with every problem.
fn for_each_case(check: impl Fn(&Case) -> Result<(), String> + Sync) {
    let cases = cases();
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .iter()
            .map(|c| {
                let check = &check;
                s.spawn(move || check(c).map_err(|e| format!("{}: {e}", c.name)))
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| match h.join() {
                Ok(r) => r.err(),
                Err(p) => Some(
                    p.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "check panicked".into()),
                ),
            })
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn stderr_lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// `ffmpeg -v error -i FILE -f null -`: exit status and error lines.
fn ffmpeg_decode(file: &Path) -> (bool, Vec<String>) {
    let o = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-v", "error", "-i"])
        .arg(file)
        .args(["-f", "null", "-"])
        .output()
        .expect("running ffmpeg");
    (o.status.success(), stderr_lines(&o))
}

#[test]
fn ffmpeg_decodes_the_live_stream_without_errors() {
    if !require_tools(&["ffmpeg"]) {
        return;
    }
    for_each_case(|c| {
        let (ok, errors) = ffmpeg_decode(c.out.path());
        if !ok {
            return Err(format!(
                "ffmpeg failed on the live stream:\n  {}",
                errors.join("\n  ")
            ));
        }
        if errors.is_empty() {
            return Ok(());
        }
        // Tolerate only what ffmpeg already says about the original.
        let (_, original_errors) = ffmpeg_decode(&c.original);
        if errors.len() > original_errors.len() {
            return Err(format!(
                "ffmpeg reports {} error line(s) on the live stream, {} on the original:\n  {}",
                errors.len(),
                original_errors.len(),
                errors.join("\n  ")
            ));
        }
        Ok(())
    });
}

/// `mkvinfo FILE` succeeds, finds a Segment and a Cluster, and reports no
/// problem it recovered from.
fn mkvinfo_reads(file: &Path) -> Result<(), String> {
    let o = run_tool("mkvinfo", &[], file);
    let stdout = String::from_utf8_lossy(&o.stdout);
    if !o.status.success() {
        return Err(format!(
            "mkvinfo exited with {}:\n{}\n{}",
            o.status,
            stdout.lines().rev().take(10).collect::<Vec<_>>().join("\n"),
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    for want in ["Segment", "Cluster"] {
        if !stdout.contains(want) {
            return Err(format!(
                "mkvinfo output does not mention {want:?}:\n{stdout}"
            ));
        }
    }
    // mkvinfo reports problems it recovers from as warnings/errors.
    let stderr = String::from_utf8_lossy(&o.stderr);
    let complaints: Vec<&str> = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|l| l.starts_with("Error:") || l.starts_with("Warning:"))
        .collect();
    if !complaints.is_empty() {
        return Err(format!("mkvinfo complains:\n  {}", complaints.join("\n  ")));
    }
    Ok(())
}

#[test]
fn mkvinfo_parses_the_live_stream() {
    if !require_tools(&["mkvinfo"]) {
        return;
    }
    for_each_case(|c| mkvinfo_reads(c.out.path()));
}

/// Fixtures whose forwarded form the real clients read: splits at
/// keyframes mid-cluster, BlockGroups, CRC-32 and Void dropped (rebuilt
/// clusters), unknown-size input clusters, long GOPs, AV1.
const FORWARDED: [&str; 6] = [
    "multi_keyframe.webm",
    "mkvmerge_blockgroups.mkv",
    "h264_flac.mkv",
    "gst_streamable.webm",
    "long_gop.webm",
    "av1_opus.webm",
];

/// The known-size live stream of a fixture and its forwarded form (each
/// served cluster as unknown size + Timestamp + its forwarded blocks),
/// both written to temp files.
fn forwarded_case(name: &str) -> (TempFile, TempFile) {
    let bytes = std::fs::read(fixture(name)).unwrap();
    let (events, stats) = segment_with(&bytes, CHUNK, forwarding()).unwrap();
    assert_eq!(stats.bytes_skipped, 0, "{name}: {stats:?}");
    check_forwarded(&events);
    let (stem, ext) = name.rsplit_once('.').unwrap();
    let known = TempFile::write(stem, ext, &concat(&events));
    let live = TempFile::write(&format!("{stem}-forwarded"), ext, &live_form(&events));
    (known, live)
}

/// ffmpeg decodes the forwarded form without an error, to as many frames
/// per stream as the known-size live stream; mkvinfo reads it.
#[test]
fn the_forwarded_form_decodes_to_the_same_frames_and_mkvinfo_reads_it() {
    if !require_tools(&["ffmpeg", "ffprobe", "mkvinfo"]) {
        return;
    }
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = FORWARDED
            .iter()
            .map(|&name| {
                s.spawn(move || {
                    let (known, live) = forwarded_case(name);
                    let (ok, errors) = ffmpeg_decode(live.path());
                    if !ok || !errors.is_empty() {
                        return Err(format!("{name}: ffmpeg: {errors:?}"));
                    }
                    let (want, got) = (
                        ffprobe_frame_counts(known.path()),
                        ffprobe_frame_counts(live.path()),
                    );
                    if got != want {
                        return Err(format!("{name}: frames {got:?}, known-size {want:?}"));
                    }
                    mkvinfo_reads(live.path()).map_err(|e| format!("{name}: {e}"))
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().unwrap().err())
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// One video packet as ffprobe reports it: pts in microseconds, keyframe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Packet {
    pts_us: Option<i64>,
    key: bool,
}

/// The video packets of `file`, in file order.
fn ffprobe_video_packets(file: &Path) -> Result<Vec<Packet>, String> {
    let o = run_tool(
        "ffprobe",
        &[
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_packets",
            "-show_entries",
            "packet=pts_time,flags",
            "-of",
            "csv=nokey=0",
        ],
        file,
    );
    let errors = stderr_lines(&o);
    if !o.status.success() || !errors.is_empty() {
        return Err(format!(
            "ffprobe on {} ({}):\n  {}",
            file.display(),
            o.status,
            errors.join("\n  ")
        ));
    }
    let mut packets = Vec::new();
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let Some(fields) = line.strip_prefix("packet,") else {
            continue;
        };
        let mut p = Packet {
            pts_us: None,
            key: false,
        };
        for kv in fields.split(',') {
            match kv.split_once('=') {
                Some(("pts_time", v)) => {
                    p.pts_us = v.parse::<f64>().ok().map(|s| (s * 1e6).round() as i64)
                }
                Some(("flags", v)) => p.key = v.contains('K'),
                _ => {}
            }
        }
        packets.push(p);
    }
    Ok(packets)
}

/// Absolute time (µs) and keyframe flag of the first block of `track` in
/// a segment.
fn first_video_block(
    seg: &LiveCluster,
    track: u64,
    scale: u64,
) -> Result<Option<(i64, bool)>, String> {
    let h = ebml::read_element_header(&seg.bytes)
        .map_err(|e| format!("segment header: {e}"))?
        .ok_or("segment too short")?;
    let body = seg.bytes.get(h.header_len..).ok_or("segment too short")?;
    let abs_us =
        |rel: i16| ((seg.timestamp.0 as i128 + i128::from(rel)) * i128::from(scale) / 1000) as i64;
    for c in ebml::children(body) {
        let c = c.map_err(|e| format!("segment child: {e}"))?;
        let (block, key) = match c.header.id {
            ids::SIMPLE_BLOCK => {
                let Some(b) = read_block_header(c.data) else {
                    continue;
                };
                (b, b.flags & 0x80 != 0)
            }
            ids::BLOCK_GROUP => {
                let mut block = None;
                let mut referenced = false;
                for g in ebml::children(c.data) {
                    let g = g.map_err(|e| format!("block group child: {e}"))?;
                    match g.header.id {
                        ids::BLOCK => block = read_block_header(g.data),
                        ids::REFERENCE_BLOCK => referenced = true,
                        _ => {}
                    }
                }
                let Some(b) = block else { continue };
                (b, !referenced)
            }
            _ => continue,
        };
        if block.track == track {
            return Ok(Some((abs_us(block.relative_timestamp), key)));
        }
    }
    Ok(None)
}

#[test]
fn ffprobe_sees_the_same_video_packets_and_keyframes() {
    if !require_tools(&["ffprobe"]) {
        return;
    }
    for_each_case(|c| {
        let (video, scale) = c.video_and_scale();
        let Some(video) = video else {
            // Audio only: every segment is a join point.
            return match c.segments().all(|s| s.keyframe && !s.has_video) {
                true => Ok(()),
                false => Err("audio-only stream has a segment not marked keyframe".into()),
            };
        };
        let original = ffprobe_video_packets(&c.original)?;
        let live = ffprobe_video_packets(c.out.path())?;
        if original.is_empty() {
            return Err("ffprobe sees no video packets in the original".into());
        }
        if live.len() != original.len() {
            return Err(format!(
                "{} video packets in the live stream, {} in the original",
                live.len(),
                original.len()
            ));
        }
        let keys = |p: &[Packet]| p.iter().filter(|p| p.key).count();
        if keys(&live) != keys(&original) {
            return Err(format!(
                "{} keyframes in the live stream, {} in the original",
                keys(&live),
                keys(&original)
            ));
        }
        // B-frames make pts non-monotonic: compare as sorted lists.
        let (mut a, mut b) = (original.clone(), live.clone());
        a.sort();
        b.sort();
        if let Some(i) = (0..a.len()).find(|&i| a[i] != b[i]) {
            return Err(format!(
                "video packet {i} (by pts) differs: original {:?}, live {:?}",
                a[i], b[i]
            ));
        }

        // Every segment starts on a keyframe exactly when it says so, and
        // every keyframe starts a segment (clients can join at each).
        let key_pts: Vec<i64> = live
            .iter()
            .filter(|p| p.key)
            .filter_map(|p| p.pts_us)
            .collect();
        let near_key = |t: i64| key_pts.iter().any(|&k| (k - t).abs() <= PTS_TOLERANCE_US);
        let mut keyframe_segments = 0;
        for (i, seg) in c.segments().enumerate() {
            let Some((t, block_key)) = first_video_block(seg, video, scale)? else {
                if seg.has_video {
                    return Err(format!(
                        "segment {i} has_video but no block of track {video}"
                    ));
                }
                continue;
            };
            if !seg.has_video {
                return Err(format!(
                    "segment {i} has a video block but has_video is false"
                ));
            }
            if seg.keyframe != block_key {
                return Err(format!(
                    "segment {i}: keyframe={} but its first video block's flag says {block_key}",
                    seg.keyframe
                ));
            }
            if seg.keyframe {
                keyframe_segments += 1;
                if !near_key(t) {
                    return Err(format!(
                        "segment {i} is marked keyframe but starts at {:.6} s, where ffprobe reports no K packet",
                        t as f64 / 1e6
                    ));
                }
            } else if near_key(t) {
                return Err(format!(
                    "segment {i} is not marked keyframe but starts at {:.6} s, a K packet for ffprobe",
                    t as f64 / 1e6
                ));
            }
        }
        if keyframe_segments != key_pts.len() {
            return Err(format!(
                "{keyframe_segments} segments start on a keyframe, but ffprobe reports {} keyframes",
                key_pts.len()
            ));
        }
        Ok(())
    });
}

/// `codec_type:codec_name` of every stream ffprobe finds in `file`.
fn ffprobe_streams(file: &Path) -> Result<Vec<String>, String> {
    let o = run_tool(
        "ffprobe",
        &[
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name",
            "-of",
            "csv=p=0",
        ],
        file,
    );
    if !o.status.success() {
        return Err(format!("ffprobe failed: {}", stderr_lines(&o).join("; ")));
    }
    Ok(String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            let (name, kind) = l.split_once(',').unwrap_or((l, ""));
            format!("{kind}:{name}")
        })
        .collect())
}

/// An FFmpeg-based reader sees the attached text file as a stream that has
/// no packets (what kept Chromium and Firefox probing a live stream); the
/// live header drops it, and keeps the font an ASS track needs.
#[test]
fn ffprobe_sees_an_attachment_stream_only_where_fonts_are_needed() {
    if !require_tools(&["ffprobe"]) {
        return;
    }
    let expect = [
        (
            "h264_aac_srt_attach.mkv",
            vec!["video:h264", "audio:aac", "subtitle:subrip"],
        ),
        (
            "ass_font.mkv",
            vec!["video:h264", "audio:aac", "subtitle:ass", "attachment:ttf"],
        ),
    ];
    for (name, want) in expect {
        let input = std::fs::read(fixture(name)).unwrap();
        let original = ffprobe_streams(&fixture(name)).unwrap();
        assert_eq!(original.len(), 4, "{name}: {original:?}");
        assert!(
            original[3].starts_with("attachment:"),
            "{name}: {original:?}"
        );
        let (events, _) = segment_all(&input, CHUNK).unwrap();
        let out = TempFile::write("attach", "mkv", &concat(&events));
        assert_eq!(ffprobe_streams(out.path()).unwrap(), want, "{name}");
    }
}

/// `codec_type,frames` for each stream, from decoding every frame.
fn ffprobe_frame_counts(file: &Path) -> Vec<String> {
    let o = run_tool(
        "ffprobe",
        &[
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_type,nb_read_frames",
            "-of",
            "csv=p=0",
        ],
        file,
    );
    assert!(o.status.success(), "ffprobe: {:?}", stderr_lines(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// The live stream of a regular file whose Tracks and Attachments come
/// after its Clusters, read ahead through the SeekHead as the source does.
fn live_stream_of_file(path: &Path) -> Vec<u8> {
    let mut file = std::fs::File::open(path).unwrap();
    let mut seg = Segmenter::new();
    seg.preload(prefetch_file(&mut file));
    let mut input = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut input).unwrap();
    let mut events = Vec::new();
    for chunk in input.chunks(CHUNK) {
        seg.feed(chunk, &mut events).unwrap();
    }
    seg.finish(&mut events).unwrap();
    concat(&events).to_vec()
}

/// ffprobe and mkvinfo read a file whose Tracks and Attachments come after
/// its Clusters (they follow its SeekHead), and its live stream plays:
/// ffmpeg decodes it without an error, to the same frames.
#[test]
fn tracks_after_the_clusters_the_tools_read_it_and_its_live_stream_plays() {
    if !require_tools(&["ffmpeg", "ffprobe", "mkvinfo"]) {
        return;
    }
    let original = fixture("seekhead/tracks_after_cluster.mkv");
    let frames = ffprobe_frame_counts(&original);
    assert_eq!(
        frames,
        ["video,150", "audio,283", "subtitle,4", "attachment,N/A"]
    );
    let info = run_tool("mkvinfo", &["-v"], &original);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(info.status.success(), "mkvinfo: {text}");
    for codec in ["V_MPEG4/ISO/AVC", "A_AAC", "S_TEXT/UTF8"] {
        assert!(text.contains(codec), "mkvinfo finds no {codec}");
    }

    let live = TempFile::write("tracks-after", "mkv", &live_stream_of_file(&original));
    let (ok, errors) = ffmpeg_decode(live.path());
    assert!(ok && errors.is_empty(), "ffmpeg: {errors:?}");
    // The attachment is left out (SRT needs no fonts); every frame is there.
    assert_eq!(ffprobe_frame_counts(live.path()), frames[..3]);
    let o = run_tool("mkvinfo", &[], live.path());
    assert!(o.status.success(), "mkvinfo on the live stream failed");
    assert!(String::from_utf8_lossy(&o.stdout).contains("S_TEXT/UTF8"));
}
