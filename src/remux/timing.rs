//! Decode times of one track's samples in one segment.
//!
//! Matroska stores presentation times in decode order. Within a segment
//! the i-th decode time is the i-th smallest presentation time, shifted so
//! that the first one continues the previous segment exactly (at stream
//! start: the first presentation time minus the reorder delay, the largest
//! amount by which a sample's sorted slot runs ahead of its own time, which
//! is the reorder depth × frame duration). A track without reordering thus
//! gets PTS as DTS. Each sample lasts until the next one's decode time; the
//! last one until the next segment's first decode time, when the caller
//! knows it, else a frame duration.

/// Where a track's decode timeline stands between segments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TrackClock {
    /// The decode time the track's next segment starts at; `None` before
    /// its first segment and after a discontinuity.
    pub end: Option<u64>,
}

/// One sample's timing in `trun`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SampleTime {
    pub duration: u32,
    /// PTS − DTS (trun version 1 is signed).
    pub cts: i32,
}

/// Why a segment's times cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutOfRange;

/// The decode time of the first sample and each sample's duration and
/// composition offset, for samples with presentation times `pts` (decode
/// order, media units). `next_pts` is the smallest presentation time of
/// the track's next segment, if known; `fallback` the duration the last
/// sample gets otherwise. Advances `clock` to this segment's end.
pub(crate) fn decode_times(
    clock: &mut TrackClock,
    pts: &[u64],
    next_pts: Option<u64>,
    fallback: u64,
) -> Result<(u64, Vec<SampleTime>), OutOfRange> {
    let mut sorted = pts.to_vec();
    sorted.sort_unstable();
    let (Some(&first), Some(&last)) = (sorted.first(), sorted.last()) else {
        return Ok((clock.end.unwrap_or(0), Vec::new()));
    };
    let start = match clock.end {
        Some(end) => end,
        None => {
            let delay = sorted
                .iter()
                .zip(pts)
                .map(|(s, p)| s.saturating_sub(*p))
                .max();
            first.saturating_sub(delay.unwrap_or(0))
        }
    };
    // DTS_i = sorted_i − shift, so DTS_0 = start.
    let shift = i128::from(first) - i128::from(start);
    let last_dts = i128::from(last) - shift;
    let end = match next_pts.map(|n| i128::from(n) - shift) {
        Some(end) if end > last_dts => end,
        _ => last_dts + i128::from(fallback.max(1)),
    };
    let mut times = Vec::with_capacity(pts.len());
    let mut dts = i128::from(start);
    for (i, &p) in pts.iter().enumerate() {
        let next = sorted.get(i + 1).map_or(end, |&s| i128::from(s) - shift);
        let duration = u32::try_from(next - dts).map_err(|_| OutOfRange)?;
        let cts = i32::try_from(i128::from(p) - dts).map_err(|_| OutOfRange)?;
        times.push(SampleTime { duration, cts });
        dts = next;
    }
    clock.end = Some(u64::try_from(end).map_err(|_| OutOfRange)?);
    Ok((start, times))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// I0 P3 B1 B2 | I4 P7 B5 B6 (frame 1 unit): decode times start one
    /// frame early (reorder depth 1), continue exactly, and PTS = DTS + cts.
    #[test]
    fn b_frames_reorder_and_continue() {
        let mut clock = TrackClock::default();
        let seg1 = [40, 70, 50, 60];
        let (base, t) = decode_times(&mut clock, &seg1, Some(80), 10).unwrap();
        assert_eq!(base, 30);
        assert_eq!(t.iter().map(|s| s.duration).collect::<Vec<_>>(), [10; 4]);
        assert_eq!(t.iter().map(|s| s.cts).collect::<Vec<_>>(), [10, 30, 0, 0]);
        let sum: u64 = t.iter().map(|s| u64::from(s.duration)).sum();
        assert_eq!(clock.end, Some(base + sum));
        let seg2 = [80, 110, 90, 100];
        let (base2, t2) = decode_times(&mut clock, &seg2, None, 10).unwrap();
        assert_eq!(base2, 70);
        let mut dts = base2 as i64;
        for (s, p) in t2.iter().zip(seg2) {
            assert_eq!(dts + i64::from(s.cts), p as i64);
            dts += i64::from(s.duration);
        }
        assert_eq!(clock.end, Some(110));
    }

    #[test]
    fn no_reordering_uses_pts_and_fallback() {
        let mut clock = TrackClock::default();
        let (base, t) = decode_times(&mut clock, &[960, 1920, 2880], None, 960).unwrap();
        assert_eq!(base, 960);
        assert!(t.iter().all(|s| s.cts == 0 && s.duration == 960));
        // The next segment starts where the fallback ended, even if its
        // first sample is later (a gap widens nothing before it).
        let (base, t) = decode_times(&mut clock, &[4000], Some(5000), 960).unwrap();
        assert_eq!((base, t[0].cts, t[0].duration), (3840, 160, 1000));
    }

    #[test]
    fn backwards_next_and_huge_gaps() {
        let mut clock = TrackClock::default();
        // A next segment that starts before this one ends: fallback.
        let (_, t) = decode_times(&mut clock, &[100, 200], Some(150), 7).unwrap();
        assert_eq!(t[1].duration, 7);
        let mut clock = TrackClock::default();
        let far = [0, u64::from(u32::MAX) + 10];
        assert_eq!(decode_times(&mut clock, &far, None, 1), Err(OutOfRange));
    }
}
