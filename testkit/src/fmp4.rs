//! Fragmented MP4 (CMAF) checks for the remux: a structural checker of an
//! init segment and its media segments (with mp4-atom's decoder), a
//! driver that remuxes a whole Matroska input the way a live server would
//! cut it, and the comparison of the samples with the source's frames as
//! matroska-demuxer reads them.

use std::collections::HashMap;

use bytes::Bytes;
use mkvcast::remux::{Fragmenter, MediaSegment, RemuxTrack};
use mkvcast::segmenter::{segment_all, Event, LiveCluster};
use mp4_atom::{Decode, Ftyp, Moof, Moov, TrunEntry};

/// A sample of a track as the fragments describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Decode time, in the track's timescale.
    pub dts: u64,
    /// Presentation time: decode time plus composition offset.
    pub pts: i128,
    pub duration: u32,
    pub size: u32,
    pub sync: bool,
    /// Index of the media segment it is in.
    pub segment: usize,
}

/// One track of the init segment and its samples over every segment.
#[derive(Debug, Clone)]
pub struct Track {
    pub id: u32,
    pub timescale: u32,
    pub video: bool,
    pub samples: Vec<Sample>,
}

/// A media segment to check, and whether a new timeline starts there
/// (then its `tfdt` need not continue the segment before).
#[derive(Debug, Clone, Copy)]
pub struct Fragment<'a> {
    pub bytes: &'a [u8],
    pub discontinuity: bool,
}

/// Checks `init` and `segments`: ftyp + moov with a trex per trak; each
/// segment exactly moof + mdat, mfhd sequence numbers increasing, every
/// traf of a known track with tfdt, sample data inside the mdat and
/// covering it, each video traf starting with a sync sample, and per track
/// `tfdt(N+1) == tfdt(N) + Σ durations(N)` (except at a discontinuity).
pub fn check_fmp4(init: &[u8], segments: &[Fragment<'_>]) -> Result<Vec<Track>, String> {
    let mut buf = init;
    Ftyp::decode(&mut buf).map_err(|e| format!("init ftyp: {e}"))?;
    let moov = Moov::decode(&mut buf).map_err(|e| format!("init moov: {e}"))?;
    if !buf.is_empty() {
        return Err(format!("{} bytes after moov", buf.len()));
    }
    let trex = moov.mvex.as_ref().map_or(0, |m| m.trex.len());
    if trex != moov.trak.len() || moov.trak.is_empty() {
        return Err(format!("{} trak, {trex} trex", moov.trak.len()));
    }
    let mut tracks: Vec<Track> = moov
        .trak
        .iter()
        .map(|t| Track {
            id: t.tkhd.track_id,
            timescale: t.mdia.mdhd.timescale,
            video: t.mdia.hdlr.handler == b"vide".into(),
            samples: Vec::new(),
        })
        .collect();
    let mut ends: HashMap<u32, u64> = HashMap::new();
    let mut last_sequence = None;
    for (n, f) in segments.iter().enumerate() {
        if f.discontinuity {
            ends.clear();
        }
        let seq = check_segment(n, f.bytes, &mut tracks, &mut ends)
            .map_err(|e| format!("segment {n}: {e}"))?;
        if last_sequence.is_some_and(|l| seq <= l) {
            return Err(format!(
                "segment {n}: sequence {seq} after {last_sequence:?}"
            ));
        }
        last_sequence = Some(seq);
    }
    Ok(tracks)
}

/// One segment; returns its sequence number.
fn check_segment(
    n: usize,
    bytes: &[u8],
    tracks: &mut [Track],
    ends: &mut HashMap<u32, u64>,
) -> Result<u32, String> {
    let mut buf = bytes;
    let moof = Moof::decode(&mut buf).map_err(|e| format!("moof: {e}"))?;
    let moof_len = bytes.len() - buf.len();
    let (&[a, b, c, d], rest) = buf.split_first_chunk::<4>().ok_or("no mdat")?;
    let mdat_len = u32::from_be_bytes([a, b, c, d]) as usize;
    if rest.get(..4) != Some(b"mdat") || mdat_len != buf.len() {
        return Err(format!(
            "not one mdat to the end ({mdat_len} of {})",
            buf.len()
        ));
    }
    let mut covered = 0usize;
    for traf in &moof.traf {
        let id = traf.tfhd.track_id;
        let track = tracks
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or(format!("traf of unknown track {id}"))?;
        let tfdt = traf.tfdt.as_ref().ok_or("no tfdt")?.base_media_decode_time;
        if let Some(&end) = ends.get(&id) {
            if end != tfdt {
                return Err(format!(
                    "track {id}: tfdt {tfdt}, previous segment ended at {end}"
                ));
            }
        }
        let mut dts = tfdt;
        for trun in &traf.trun {
            let offset = trun.data_offset.ok_or("trun without data_offset")?;
            let mut at = usize::try_from(offset).map_err(|_| "negative data_offset")?;
            if at < moof_len + 8 {
                return Err(format!("data_offset {at} before the mdat payload"));
            }
            for e in trun.samples.iter() {
                let s = sample(track, e, dts, n)?;
                at += s.size as usize;
                covered += s.size as usize;
                dts += u64::from(s.duration);
                track.samples.push(s);
            }
            if at > bytes.len() {
                return Err(format!("track {id}: samples run past the mdat"));
            }
        }
        ends.insert(id, dts);
    }
    if covered + 8 != mdat_len {
        return Err(format!(
            "samples cover {covered} of {} mdat bytes",
            mdat_len - 8
        ));
    }
    Ok(moof.mfhd.sequence_number)
}

fn sample(track: &Track, e: TrunEntry, dts: u64, segment: usize) -> Result<Sample, String> {
    let flags = e.flags.ok_or("sample without flags")?;
    let sync = flags & 0x0001_0000 == 0;
    let first = track.samples.last().is_none_or(|s| s.segment != segment);
    if track.video && first && !sync {
        return Err(format!(
            "track {}: segment starts with a non-sync sample",
            track.id
        ));
    }
    Ok(Sample {
        dts,
        pts: i128::from(dts) + i128::from(e.cts.unwrap_or(0)),
        duration: e.duration.ok_or("sample without duration")?,
        size: e.size.ok_or("sample without size")?,
        sync,
        segment,
    })
}

/// What [`remux_stream`] produced.
#[derive(Debug, Clone)]
pub struct Remuxed {
    pub init: Bytes,
    pub tracks: Vec<RemuxTrack>,
    pub segments: Vec<MediaSegment>,
    /// Segments the remux refused (each restarts the timeline).
    pub errors: usize,
}

impl Remuxed {
    /// The segments as [`Fragment`]s for [`check_fmp4`].
    pub fn fragments(&self) -> Vec<Fragment<'_>> {
        self.segments
            .iter()
            .map(|s| Fragment {
                bytes: &s.bytes,
                discontinuity: s.discontinuity,
            })
            .collect()
    }

    /// Init and segments concatenated: a playable fragmented MP4 file.
    pub fn file(&self) -> Vec<u8> {
        let mut out = self.init.to_vec();
        for s in &self.segments {
            out.extend_from_slice(&s.bytes);
        }
        out
    }
}

/// Segments `data` (first header only) and remuxes its clusters, cut as a
/// live server would: a segment starts at a keyframe cluster at least
/// `segment_ns` after the segment's start. `Ok(None)` when there is no
/// header or nothing to carry; `Err` only for a segmenter error.
pub fn remux_stream(data: &[u8], chunk: usize, segment_ns: u64) -> Result<Option<Remuxed>, String> {
    let (events, _) = segment_all(data, chunk).map_err(|e| e.to_string())?;
    let mut clusters: Vec<&LiveCluster> = Vec::new();
    let mut header = None;
    for e in &events {
        match e {
            Event::Header(h) if header.is_none() => header = Some(h.clone()),
            Event::Header(_) => break,
            Event::Cluster(c) => clusters.push(c),
            _ => {}
        }
    }
    let Some(header) = header else {
        return Ok(None);
    };
    let Ok(mut fragmenter) = Fragmenter::new(&header) else {
        return Ok(None);
    };
    let mut out = Remuxed {
        init: fragmenter.init_segment().clone(),
        tracks: fragmenter.tracks(),
        segments: Vec::new(),
        errors: 0,
    };
    let keep = |r: Result<Option<MediaSegment>, _>, out: &mut Remuxed| match r {
        Ok(s) => out.segments.extend(s),
        Err(_) => out.errors += 1,
    };
    let mut current: Vec<LiveCluster> = Vec::new();
    for c in clusters.into_iter().skip_while(|c| !c.keyframe) {
        let due = current
            .first()
            .is_some_and(|f| c.start.0.saturating_sub(f.start.0) >= segment_ns);
        if c.keyframe && due {
            keep(fragmenter.push(&current), &mut out);
            current.clear();
        }
        current.push(c.clone());
    }
    keep(fragmenter.push(&current), &mut out);
    keep(fragmenter.finish(), &mut out);
    Ok(Some(out))
}

/// A source frame as matroska-demuxer reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceFrame {
    /// Timestamp in nanoseconds.
    pub ns: u64,
    pub size: usize,
}

/// The frames of every track of a Matroska file, by TrackNumber.
pub fn source_frames(data: &[u8]) -> HashMap<u64, Vec<SourceFrame>> {
    let mut mkv =
        matroska_demuxer::MatroskaFile::open(std::io::Cursor::new(data)).expect("source parses");
    let scale = mkv.info().timestamp_scale().get();
    let mut out: HashMap<u64, Vec<SourceFrame>> = HashMap::new();
    let mut frame = matroska_demuxer::Frame::default();
    while mkv.next_frame(&mut frame).expect("source frame") {
        out.entry(frame.track).or_default().push(SourceFrame {
            ns: frame.timestamp * scale,
            size: frame.data.len(),
        });
    }
    out
}

/// Compares the checked samples with the source: per carried track the
/// same sample count and sizes in order, and each presentation time equal
/// to the source frame's (laced frames, which the demuxer gives their
/// block's time, are only checked to be later than their block's).
pub fn compare_with_source(
    remuxed: &[RemuxTrack],
    checked: &[Track],
    source: &HashMap<u64, Vec<SourceFrame>>,
) -> Result<(), String> {
    for r in remuxed {
        let track = checked
            .iter()
            .find(|t| t.id == r.id)
            .ok_or("track missing")?;
        let frames = source.get(&r.number).map_or(&[][..], Vec::as_slice);
        if frames.len() != track.samples.len() {
            return Err(format!(
                "track {}: {} samples, source has {}",
                r.number,
                track.samples.len(),
                frames.len()
            ));
        }
        let mut previous = None;
        for (i, (s, f)) in track.samples.iter().zip(frames).enumerate() {
            if s.size as usize != f.size {
                return Err(format!(
                    "track {} sample {i}: size {} != {}",
                    r.number, s.size, f.size
                ));
            }
            let pts_ns = s.pts * 1_000_000_000 / i128::from(track.timescale);
            let laced = previous == Some(f.ns);
            if (!laced && pts_ns != i128::from(f.ns)) || (laced && pts_ns < i128::from(f.ns)) {
                return Err(format!(
                    "track {} sample {i}: pts {pts_ns} ns, source {} ns",
                    r.number, f.ns
                ));
            }
            previous = Some(f.ns);
        }
    }
    Ok(())
}
