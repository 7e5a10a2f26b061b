//! Which Matroska tracks the remux carries, and how: the MP4 timescale
//! that represents the track's timestamps exactly, its sample entry, and
//! the frame duration laced frames are spread by.

use mp4_atom::Codec;

use super::entry::{sample_entry, EntryError};
use super::frames::{codec_frame_samples, Family};
use crate::matroska::header::{StreamHeader, TrackEntry, TrackType};

/// Nanoseconds per second.
const NS: u64 = 1_000_000_000;

/// A track of the stream the remux carries.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Matroska TrackNumber.
    pub number: u64,
    /// MP4 track_ID (1-based position among the carried tracks).
    pub id: u32,
    pub family: Family,
    pub video: bool,
    /// Media units per second.
    pub timescale: u32,
    /// Media units per Matroska tick: exact by the choice of timescale.
    pub per_tick: u64,
    /// DefaultDuration in media units (rounded), if the track has one.
    pub default_frame: Option<u64>,
    /// Audio sample rate the codec's frame durations count in.
    pub codec_rate: Option<u32>,
    /// Opus pre-skip in media units, for the edit list.
    pub pre_skip: Option<u64>,
    pub codec: Codec,
    pub width: u16,
    pub height: u16,
}

/// A track the remux leaves out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedTrack {
    /// Matroska TrackNumber.
    pub number: u64,
    /// Its CodecID.
    pub codec_id: String,
    /// Why it is left out.
    pub reason: EntryError,
}

impl std::fmt::Display for SkippedTrack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "track {} ({}): {}",
            self.number, self.codec_id, self.reason
        )
    }
}

/// The plans of every carried track, and the tracks left out.
pub(crate) fn plan_tracks(header: &StreamHeader) -> (Vec<Plan>, Vec<SkippedTrack>) {
    let mut plans = Vec::new();
    let mut skipped = Vec::new();
    for t in &header.tracks {
        let id = u32::try_from(plans.len() + 1).unwrap_or(u32::MAX);
        match plan(t, id, header.timestamp_scale) {
            Ok(p) => plans.push(p),
            Err(reason) => skipped.push(SkippedTrack {
                number: t.number,
                codec_id: t.codec_id.clone(),
                reason,
            }),
        }
    }
    (plans, skipped)
}

fn plan(t: &TrackEntry, id: u32, scale: u64) -> Result<Plan, EntryError> {
    let video = match t.track_type {
        TrackType::Video => true,
        TrackType::Audio => false,
        _ => return Err(EntryError::NotAudioOrVideo),
    };
    let (family, codec) = sample_entry(t)?;
    let rate = family.sample_rate(t);
    let (timescale, per_tick) = timescale(scale.max(1), if video { None } else { rate });
    let to_units = |ns: u64| -> u64 {
        let v = (u128::from(ns) * u128::from(timescale) + u128::from(NS / 2)) / u128::from(NS);
        u64::try_from(v).unwrap_or(u64::MAX)
    };
    let pre_skip = family
        .pre_skip(t)
        .map(|s| (u64::from(s) * u64::from(timescale) + 24_000) / 48_000);
    Ok(Plan {
        number: t.number,
        id,
        family,
        video,
        timescale,
        per_tick,
        default_frame: t.default_duration_ns.map(to_units).filter(|&d| d > 0),
        codec_rate: rate,
        pre_skip: pre_skip.filter(|&s| s > 0),
        codec,
        width: t.width.map_or(0, |w| u16::try_from(w).unwrap_or(u16::MAX)),
        height: t.height.map_or(0, |h| u16::try_from(h).unwrap_or(u16::MAX)),
    })
}

/// The track timescale and media units per tick. An audio track counts in
/// its sample rate when a tick is a whole number of samples (48 kHz with
/// 1 ms ticks: 48 per tick), which players expect (Opus in MP4 says
/// 48000); otherwise, and for video, the smallest timescale in which every
/// tick is a whole number of units: 10⁹ / gcd(TimestampScale, 10⁹) (1000
/// for the usual 1 ms). Either way every block timestamp is exact, so
/// decode times add up without rounding.
pub(crate) fn timescale(scale: u64, rate: Option<u32>) -> (u32, u64) {
    if let Some(rate) = rate.filter(|&r| r > 0) {
        let units = u128::from(scale) * u128::from(rate);
        if units % u128::from(NS) == 0 {
            if let Ok(per_tick) = u64::try_from(units / u128::from(NS)) {
                return (rate, per_tick);
            }
        }
    }
    let g = gcd(scale, NS);
    (u32::try_from(NS / g).unwrap_or(u32::MAX), scale / g)
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

impl Plan {
    /// The duration of one frame in media units, for spreading laced
    /// frames and for the last sample at the live edge: DefaultDuration,
    /// else the codec's own (AAC 1024 samples, Opus TOC, FLAC header).
    pub fn frame_duration(&self, frame: &[u8]) -> Option<u64> {
        self.default_frame.or_else(|| {
            let samples = codec_frame_samples(self.family, frame)?;
            let rate = u64::from(self.codec_rate?);
            Some((samples * u64::from(self.timescale) + rate / 2) / rate.max(1)).filter(|&d| d > 0)
        })
    }
}
