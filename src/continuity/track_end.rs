//! Where each track's media ends: its latest block plus that block's
//! duration, or, for a track whose blocks carry none (GStreamer's Vorbis,
//! many live encoders), plus the largest gap between its recent blocks.

use std::collections::{HashMap, VecDeque};

use crate::time::Nanos;

/// How far back from a track's latest block its gaps are measured: long
/// enough to see a full audio or video frame, short enough to forget a
/// pause or a reconnect long ago.
pub const GAP_WINDOW: Nanos = Nanos(2_000_000_000);
/// Most block starts kept per track for the gap rule (a bound for inputs
/// with very many tiny blocks).
const MAX_RECENT: usize = 4096;

/// The end bookkeeping of one track.
#[derive(Debug, Clone, Default)]
struct TrackEnd {
    /// Latest end of a block with a known duration, or start of any block.
    known_end: Nanos,
    /// Latest start of a block without a known duration.
    undurated: Option<Nanos>,
    /// Starts of the track's blocks in the last [`GAP_WINDOW`], sorted
    /// (blocks arrive in decode order, which B-frames make unsorted).
    recent: VecDeque<Nanos>,
}

impl TrackEnd {
    fn record(&mut self, start: Nanos, duration: Option<Nanos>) {
        match duration {
            Some(d) => self.known_end = self.known_end.max(start.saturating_add(d)),
            None => {
                self.known_end = self.known_end.max(start);
                self.undurated = self.undurated.max(Some(start));
            }
        }
        let at = self.recent.partition_point(|&s| s <= start);
        self.recent.insert(at, start);
        let newest = self.recent.back().copied().unwrap_or(start);
        while self
            .recent
            .front()
            .is_some_and(|&s| s.saturating_add(GAP_WINDOW) < newest)
            || self.recent.len() > MAX_RECENT
        {
            self.recent.pop_front();
        }
    }

    /// Keeps the end estimated so far as a floor and forgets the gaps.
    fn new_pass(&mut self) {
        self.known_end = self.end();
        self.undurated = None;
        self.recent.clear();
    }

    fn largest_recent_gap(&self) -> Nanos {
        let gaps = self.recent.iter().zip(self.recent.iter().skip(1));
        gaps.map(|(a, b)| b.saturating_sub(*a))
            .max()
            .unwrap_or(Nanos::ZERO)
    }

    fn end(&self) -> Nanos {
        let estimated = self
            .undurated
            .map_or(Nanos::ZERO, |s| s.saturating_add(self.largest_recent_gap()));
        self.known_end.max(estimated)
    }
}

/// Per track, where the media sent so far ends.
#[derive(Debug, Clone, Default)]
pub struct TrackEnds {
    tracks: HashMap<u64, TrackEnd>,
}

impl TrackEnds {
    /// Notes a block of `track` starting at `start`, lasting `duration`
    /// when its BlockDuration or the track's DefaultDuration says so.
    pub fn record(&mut self, track: u64, start: Nanos, duration: Option<Nanos>) {
        self.tracks
            .entry(track)
            .or_default()
            .record(start, duration);
    }

    /// Starts a new pass: gaps are measured within one pass, never across
    /// the jump between two.
    pub fn new_pass(&mut self) {
        self.tracks.values_mut().for_each(TrackEnd::new_pass);
    }

    /// Where `track` ends, if it had a block.
    // Only the tests ask about one track (through `Continuity::track_ends`).
    #[cfg(test)]
    pub fn end(&self, track: u64) -> Option<Nanos> {
        self.tracks.get(&track).map(TrackEnd::end)
    }

    /// Every track that had a block, with its end.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Nanos)> + '_ {
        self.tracks.iter().map(|(&t, e)| (t, e.end()))
    }

    /// The end of the track that ends last.
    pub fn latest(&self) -> Option<Nanos> {
        self.iter().map(|(_, end)| end).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Nanos {
        Nanos::from_millis(v)
    }

    #[test]
    fn a_known_duration_ends_the_track() {
        let mut e = TrackEnds::default();
        for i in 0..25 {
            e.record(1, ms(40 * i), Some(ms(40)));
        }
        assert_eq!(e.end(1), Some(ms(1000)));
        assert_eq!(e.end(2), None);
        // A block with a long duration ends later than the latest start.
        e.record(3, ms(100), Some(ms(5000)));
        e.record(3, ms(200), Some(ms(10)));
        assert_eq!(e.end(3), Some(ms(5100)));
        assert_eq!(e.latest(), Some(ms(5100)));
    }

    #[test]
    fn without_durations_the_largest_recent_gap_ends_the_track() {
        let mut e = TrackEnds::default();
        // A pause long ago (outside the last 2 s) does not count...
        e.record(2, ms(0), None);
        e.record(2, ms(700), None);
        let mut t = 700;
        for i in 0..140 {
            // ...the 23/24 ms rhythm of Vorbis at 44.1 kHz does.
            t += if i % 2 == 0 { 23 } else { 24 };
            e.record(2, ms(t), None);
        }
        assert_eq!(e.end(2), Some(ms(t + 24)));
    }

    #[test]
    fn blocks_out_of_order_count_by_their_times() {
        // B-frames: decode order 0, 120, 40, 80; no durations.
        let mut e = TrackEnds::default();
        for t in [0, 120, 40, 80] {
            e.record(1, ms(t), None);
        }
        assert_eq!(e.end(1), Some(ms(160)));
    }

    #[test]
    fn a_single_block_without_duration_ends_where_it_starts() {
        let mut e = TrackEnds::default();
        e.record(3, ms(1500), None);
        assert_eq!(e.end(3), Some(ms(1500)));
    }

    #[test]
    fn gaps_count_within_a_pass() {
        let mut e = TrackEnds::default();
        for t in [0, 20, 40] {
            e.record(2, ms(t), None);
        }
        e.new_pass();
        // 60 ms after the last block of the previous pass: not a gap of
        // this pass.
        e.record(2, ms(100), None);
        // Until this pass has a gap, the previous pass's end holds.
        assert_eq!(e.end(2), Some(ms(100)));
        e.new_pass();
        assert_eq!(e.end(2), Some(ms(100)));
        for t in [110, 120] {
            e.record(2, ms(t), None);
        }
        assert_eq!(e.end(2), Some(ms(130)));
    }

    #[test]
    fn the_window_is_bounded() {
        let mut e = TrackEnd::default();
        for i in 0..3 * MAX_RECENT as u64 {
            e.record(Nanos(i), None);
        }
        assert_eq!(e.recent.len(), MAX_RECENT);
        assert_eq!(e.end(), Nanos(3 * MAX_RECENT as u64));
    }
}
