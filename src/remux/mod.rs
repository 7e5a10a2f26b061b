//! Matroska → fragmented MP4 (CMAF) remux, sans IO: the stream header
//! becomes an initialization segment (`ftyp` + `moov`), and each run of
//! served clusters the caller cuts (a keyframe cluster and the clusters
//! after it) a media segment (`moof` + `mdat`). Nothing is transcoded:
//! H.264, H.265, AV1, VP9, AAC, Opus and FLAC tracks are carried; other
//! tracks (VP8, Vorbis, subtitles) are left out, and a header with nothing
//! left is an error.
//!
//! Boxes are mp4-atom's (pure Rust); only the 8-byte `mdat` header is
//! written here, so that sample data is copied once (see `fragment`).
//!
//! The last sample of a segment lasts until the next segment's first
//! decode time, so [`Fragmenter`] holds one segment back until the next
//! one's clusters arrive: exact durations, and `tfdt` of segment N+1 equal
//! to `tfdt` of N plus its durations, at the cost of one segment of delay
//! (a live edge that does not wait for the next keyframe would have to
//! guess the last duration, and then either leave a gap or overlap when
//! the guess is wrong). At the end of the stream, or at a discontinuity,
//! the held segment's last sample gets the codec's frame duration (or
//! DefaultDuration, or the gap before it).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod blocks;
mod entry;
mod fragment;
mod frames;
mod init;
mod timing;
mod track;

use bytes::Bytes;

use self::blocks::{cluster_blocks, Block};
use self::fragment::{media_segment, TrackRun};
use self::timing::{decode_times, TrackClock};
use self::track::{plan_tracks, Plan};
use crate::matroska::cluster::LiveCluster;
use crate::matroska::header::StreamHeader;
use crate::time::Nanos;

pub use self::entry::EntryError;
pub use self::frames::Family;
pub use self::track::SkippedTrack;

/// Why the remux cannot produce a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemuxError {
    /// No track of the header can be carried in MP4; each left-out track
    /// and why.
    NothingPlayable(Vec<SkippedTrack>),
    /// mp4-atom refused to encode a box (its message).
    Encode(String),
    /// A track's sample times in a segment do not fit trun's 32-bit
    /// durations and offsets (timestamps jump by days); the segment is
    /// dropped and the next one starts a new timeline.
    TimeRange {
        /// Matroska TrackNumber.
        track: u64,
    },
    /// A segment over 2 GiB (trun data offsets are 32-bit).
    TooLarge,
}

impl std::fmt::Display for RemuxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemuxError::NothingPlayable(skipped) => {
                write!(f, "no track can be carried in MP4")?;
                for s in skipped {
                    write!(f, "; {s}")?;
                }
                Ok(())
            }
            RemuxError::Encode(e) => write!(f, "MP4 box encoding failed: {e}"),
            RemuxError::TimeRange { track } => {
                write!(
                    f,
                    "track {track}: sample times jump too far for one segment"
                )
            }
            RemuxError::TooLarge => write!(f, "media segment over 2 GiB"),
        }
    }
}

impl std::error::Error for RemuxError {}

/// One carried track, as the init segment describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemuxTrack {
    /// Matroska TrackNumber.
    pub number: u64,
    /// MP4 track_ID.
    pub id: u32,
    /// Codec family.
    pub family: Family,
    /// Media units per second (`mdhd` timescale).
    pub timescale: u32,
}

/// A finished media segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSegment {
    /// `moof` + `mdat`, built once and shared.
    pub bytes: Bytes,
    /// `mfhd` sequence number: 1, 2, ... in push order.
    pub sequence: u32,
    /// Start of its first cluster.
    pub start: Nanos,
    /// Its decode-time span on the first carried track that has samples.
    pub duration: Nanos,
    /// The timeline restarted before it (first segment, after
    /// [`Fragmenter::discontinuity`] or a [`RemuxError::TimeRange`]).
    pub discontinuity: bool,
}

/// One sample as read from a block, before its decode time is known.
#[derive(Debug, Clone)]
struct Sample {
    /// Presentation time in media units.
    pts: u64,
    sync: bool,
    data: Bytes,
}

/// A segment's samples, per carried track (in plan order), held until the
/// next segment's first presentation times are known.
#[derive(Debug, Clone)]
struct Pending {
    samples: Vec<Vec<Sample>>,
    start: Nanos,
    discontinuity: bool,
}

/// Remuxes one stream: the init segment from its header, then media
/// segments from the runs of clusters pushed, each returned when the next
/// run arrives (see the module doc for why).
#[derive(Debug)]
pub struct Fragmenter {
    plans: Vec<Plan>,
    skipped: Vec<SkippedTrack>,
    init: Bytes,
    clocks: Vec<TrackClock>,
    pending: Option<Pending>,
    sequence: u32,
    restart: bool,
}

impl Fragmenter {
    /// The remux of a stream with `header`; an error when no track can be
    /// carried.
    pub fn new(header: &StreamHeader) -> Result<Fragmenter, RemuxError> {
        let (plans, skipped) = plan_tracks(header);
        if plans.is_empty() {
            return Err(RemuxError::NothingPlayable(skipped));
        }
        let init = init::init_segment(&plans)?;
        Ok(Fragmenter {
            clocks: vec![TrackClock::default(); plans.len()],
            plans,
            skipped,
            init,
            pending: None,
            sequence: 0,
            restart: true,
        })
    }

    /// The initialization segment (`ftyp` + `moov`).
    pub fn init_segment(&self) -> &Bytes {
        &self.init
    }

    /// The carried tracks, in `moov` order.
    pub fn tracks(&self) -> Vec<RemuxTrack> {
        self.plans
            .iter()
            .map(|p| RemuxTrack {
                number: p.number,
                id: p.id,
                family: p.family,
                timescale: p.timescale,
            })
            .collect()
    }

    /// The tracks left out, and why.
    pub fn skipped_tracks(&self) -> &[SkippedTrack] {
        &self.skipped
    }

    /// Takes the clusters of the next segment (the first should be a
    /// keyframe cluster) and returns the segment before it, now complete.
    /// Clusters without a sample of a carried track are ignored.
    pub fn push(&mut self, clusters: &[LiveCluster]) -> Result<Option<MediaSegment>, RemuxError> {
        let Some(next) = self.collect(clusters) else {
            return Ok(None);
        };
        match self.pending.replace(next) {
            Some(done) => self.finalise(done).map(Some),
            None => Ok(None),
        }
    }

    /// Completes the held segment with a guessed last duration and starts
    /// a new timeline: for a loop, a reconnect or a header change, where
    /// the next timestamps need not continue.
    pub fn discontinuity(&mut self) -> Result<Option<MediaSegment>, RemuxError> {
        let out = self.finish();
        self.clocks.fill(TrackClock::default());
        self.restart = true;
        out
    }

    /// Completes the held segment at the end of the stream.
    pub fn finish(&mut self) -> Result<Option<MediaSegment>, RemuxError> {
        match self.pending.take() {
            Some(done) => self.finalise(done).map(Some),
            None => Ok(None),
        }
    }

    /// The samples of `clusters` per carried track; `None` when there are
    /// none.
    fn collect(&mut self, clusters: &[LiveCluster]) -> Option<Pending> {
        let mut blocks = Vec::new();
        for c in clusters {
            cluster_blocks(c, &mut blocks);
        }
        let mut samples = vec![Vec::new(); self.plans.len()];
        for block in blocks {
            let Some(i) = self.plans.iter().position(|p| p.number == block.track) else {
                continue;
            };
            if let (Some(plan), Some(out)) = (self.plans.get(i), samples.get_mut(i)) {
                block_samples(plan, block, out);
            }
        }
        // A segment can only start decoding a video track at a sync
        // sample: frames before it (a keyframe cluster whose keyframe
        // block is unreadable) could not be shown.
        for (plan, s) in self.plans.iter().zip(samples.iter_mut()) {
            if plan.video {
                let first_sync = s.iter().position(|s| s.sync).unwrap_or(s.len());
                s.drain(..first_sync);
            }
        }
        if samples.iter().all(Vec::is_empty) {
            return None;
        }
        let discontinuity = std::mem::take(&mut self.restart);
        let start = clusters.first().map_or(Nanos(0), |c| c.start);
        Some(Pending {
            samples,
            start,
            discontinuity,
        })
    }

    /// Decode times for `done` (continuing into the held segment, if
    /// any) and its bytes.
    fn finalise(&mut self, done: Pending) -> Result<MediaSegment, RemuxError> {
        let mut runs = Vec::with_capacity(self.plans.len());
        let mut duration = None;
        for (i, (plan, samples)) in self.plans.iter().zip(&done.samples).enumerate() {
            let next_pts = self
                .pending
                .as_ref()
                .and_then(|p| p.samples.get(i))
                .and_then(|s| s.iter().map(|s| s.pts).min());
            let Some(clock) = self.clocks.get_mut(i) else {
                continue;
            };
            let run = track_run(plan, clock, samples, next_pts);
            let Ok(run) = run else {
                self.clocks.fill(TrackClock::default());
                if let Some(p) = self.pending.as_mut() {
                    p.discontinuity = true;
                }
                return Err(RemuxError::TimeRange { track: plan.number });
            };
            if duration.is_none() && !run.frames.is_empty() {
                let units = clock.end.unwrap_or(run.base).saturating_sub(run.base);
                duration = Some(to_nanos(units, plan.timescale));
            }
            runs.push(run);
        }
        self.sequence = self.sequence.wrapping_add(1);
        Ok(MediaSegment {
            bytes: media_segment(self.sequence, &runs)?,
            sequence: self.sequence,
            start: done.start,
            duration: duration.unwrap_or_default(),
            discontinuity: done.discontinuity,
        })
    }
}

/// The run of one track: its decode times and frames.
fn track_run(
    plan: &Plan,
    clock: &mut TrackClock,
    samples: &[Sample],
    next_pts: Option<u64>,
) -> Result<TrackRun, timing::OutOfRange> {
    let pts: Vec<u64> = samples.iter().map(|s| s.pts).collect();
    let fallback = samples
        .last()
        .and_then(|s| plan.frame_duration(&s.data))
        .or_else(|| last_gap(&pts))
        .unwrap_or(plan.per_tick);
    let (base, times) = if samples.is_empty() {
        (0, Vec::new())
    } else {
        decode_times(clock, &pts, next_pts, fallback)?
    };
    Ok(TrackRun {
        id: plan.id,
        base,
        times,
        sync: samples.iter().map(|s| s.sync).collect(),
        frames: samples.iter().map(|s| s.data.clone()).collect(),
        with_cts: plan.video,
    })
}

/// The gap between the two latest presentation times, as a guess for the
/// duration of the last sample.
fn last_gap(pts: &[u64]) -> Option<u64> {
    let mut sorted = pts.to_vec();
    sorted.sort_unstable();
    match sorted.as_slice() {
        [.., a, b] if b > a => Some(b - a),
        _ => None,
    }
}

/// A block's frames as samples. Laced frames are spread by DefaultDuration,
/// else the codec's frame duration, else BlockDuration split evenly; a
/// laced frame's time is rounded to the media unit (exact for audio whose
/// timescale is its sample rate).
fn block_samples(plan: &Plan, block: Block, out: &mut Vec<Sample>) {
    let n = u64::try_from(block.frames.len()).unwrap_or(1).max(1);
    let even = block.duration.map(|d| d.saturating_mul(plan.per_tick) / n);
    let mut pts = block.ticks.saturating_mul(plan.per_tick);
    for (k, data) in block.frames.into_iter().enumerate() {
        let step = plan.frame_duration(&data).or(even).unwrap_or(0);
        let sync = !plan.video || (block.keyframe && k == 0);
        out.push(Sample { pts, sync, data });
        pts = pts.saturating_add(step);
    }
}

fn to_nanos(units: u64, timescale: u32) -> Nanos {
    let ns = u128::from(units) * 1_000_000_000 / u128::from(timescale.max(1));
    Nanos(u64::try_from(ns).unwrap_or(u64::MAX))
}
