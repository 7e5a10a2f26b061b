//! Continuous output timestamps across input discontinuities: `--loop`
//! passes, `http://` reconnects, encoder restarts and backward jumps.
//!
//! The input's timeline starts over at each of these; clients must not see
//! that. Every cluster is moved by one offset for the whole stream, so
//! tracks stay in sync. At a discontinuity the offset is chosen so that
//! every track's first block starts at or after that track's own end
//! before it: with the end of the latest track only (say the video), the
//! last audio frame would still be playing when the next one starts, and
//! decoders and muxers see audio time go backwards.

mod blocks;
#[cfg(test)]
mod test_stream;
mod track_end;

use std::collections::HashMap;
use std::sync::Arc;

use crate::matroska::cluster::LiveCluster;
use crate::matroska::header::StreamHeader;
use crate::time::{Nanos, Ticks};

pub use blocks::{block_timings, BlockTiming};
pub use track_end::TrackEnds;

/// What a header from the input means for the clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderChange {
    /// The first header, or different tracks: a new stream starts over.
    New,
    /// The same tracks again (loop, reconnect, encoder restart): clients go
    /// on; the next cluster starts a new pass.
    SameTracks,
}

/// A cluster moved onto the output timeline.
#[derive(Debug, Clone)]
pub struct Placed {
    pub cluster: LiveCluster,
    /// The first cluster after a discontinuity: clients go on at the next
    /// keyframe.
    pub restarted: bool,
}

/// Keeps output timestamps continuous by shifting cluster timestamps.
#[derive(Debug, Default)]
pub struct Continuity {
    header: Option<Arc<StreamHeader>>,
    /// DefaultDuration of each track of the header; blocks of other track
    /// numbers are not followed.
    default_durations: HashMap<u64, Option<Nanos>>,
    ends: TrackEnds,
    /// Shift applied to cluster timestamps, in ticks.
    offset: i128,
    /// Choose the shift again at the next cluster.
    rebase: bool,
    last_ts: Option<Ticks>,
    /// End of the latest cluster placed.
    last_end: Nanos,
    /// Block timings of the cluster being placed (kept for its capacity).
    scratch: Vec<BlockTiming>,
}

impl Continuity {
    pub fn new() -> Continuity {
        Continuity::default()
    }

    /// The header of the current stream, once there is one.
    pub fn stream_header(&self) -> Option<&Arc<StreamHeader>> {
        self.header.as_ref()
    }

    /// Takes a header from the input. Different tracks start everything
    /// over; the same tracks mark a discontinuity.
    pub fn header(&mut self, header: Arc<StreamHeader>) -> HeaderChange {
        if self.header.as_ref().is_some_and(|h| h.same_tracks(&header)) {
            self.rebase = true;
            self.header = Some(header);
            return HeaderChange::SameTracks;
        }
        let default_durations = header
            .tracks
            .iter()
            .map(|t| (t.number, t.default_duration_ns.map(Nanos)))
            .collect();
        *self = Continuity {
            header: Some(header),
            default_durations,
            ..Default::default()
        };
        HeaderChange::New
    }

    /// Marks a discontinuity without a new header: the next cluster is
    /// placed after everything sent so far.
    // Only the tests call it so far; publisher reconnects (next) will.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn restart(&mut self) {
        self.rebase = true;
    }

    /// Moves `cluster` onto the output timeline.
    pub fn place(&mut self, cluster: LiveCluster) -> Placed {
        let scale = self.scale();
        let mut blocks = std::mem::take(&mut self.scratch);
        blocks.clear();
        block_timings(&cluster, &mut blocks);
        let went_back = self.last_ts.is_some_and(|last| {
            self.offset + i128::from(cluster.timestamp.0) <= i128::from(last.0)
        });
        let restarted = self.rebase || went_back;
        if restarted {
            if let Some(last) = self.last_ts {
                self.offset = self.offset_after(last, &cluster, &blocks, scale);
            }
            self.ends.new_pass();
            self.rebase = false;
        }
        let ts = shift(cluster.timestamp, self.offset);
        let cluster = if ts == cluster.timestamp {
            cluster
        } else {
            cluster.with_timestamp(ts, scale)
        };
        self.record(&blocks, scale);
        self.scratch = blocks;
        self.last_ts = Some(cluster.timestamp);
        self.last_end = self.last_end.max(cluster.end());
        Placed { cluster, restarted }
    }

    /// Where the media sent so far ends (its track that ends last), once a
    /// cluster was placed.
    pub fn end(&self) -> Option<Nanos> {
        self.last_ts
            .map(|_| self.ends.latest().unwrap_or(Nanos::ZERO).max(self.last_end))
    }

    /// Where each track's media sent so far ends.
    // Only the tests look at single tracks; the input side needs `end` alone.
    #[cfg(test)]
    pub fn track_ends(&self) -> &TrackEnds {
        &self.ends
    }

    fn scale(&self) -> u64 {
        self.header
            .as_ref()
            .map_or(1_000_000, |h| h.timestamp_scale)
            .max(1)
    }

    /// The shift that starts `cluster`, the first of a new pass, after the
    /// previous one: the cluster after `last`, and each track's first block
    /// at or after its own end. A track with no block in `cluster` counts
    /// as starting at the cluster's Timestamp (its blocks come in later
    /// clusters).
    fn offset_after(
        &self,
        last: Ticks,
        cluster: &LiveCluster,
        blocks: &[BlockTiming],
        scale: u64,
    ) -> i128 {
        let base = i128::from(cluster.timestamp.0);
        let mut offset = i128::from(last.0) + 1 - base;
        for (track, end) in self.ends.iter() {
            let first = blocks
                .iter()
                .filter(|b| b.track == track)
                .map(|b| i128::from(b.timestamp.0))
                .min()
                .unwrap_or(base);
            let end = i128::from(Ticks::ceil_from(end, scale).0);
            offset = offset.max(end - first);
        }
        offset
    }

    /// Notes where the blocks of a placed cluster end.
    fn record(&mut self, blocks: &[BlockTiming], scale: u64) {
        for b in blocks {
            let Some(&default) = self.default_durations.get(&b.track) else {
                continue;
            };
            let start = shift(b.timestamp, self.offset).to_nanos(scale);
            let duration = match b.block_duration {
                Some(d) => Some(d.to_nanos(scale)),
                None => default.map(|d| Nanos(d.0.saturating_mul(u64::from(b.frames)))),
            };
            self.ends.record(b.track, start, duration);
        }
    }
}

/// `ts` moved by `offset` ticks, at 0 at the earliest.
fn shift(ts: Ticks, offset: i128) -> Ticks {
    Ticks(u64::try_from(i128::from(ts.0) + offset).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::test_stream::{Block, StreamBuilder, Track};
    use super::*;
    use crate::segmenter::Event;

    fn ms(v: u64) -> Nanos {
        Nanos::from_millis(v)
    }

    /// Video every 40 ms over 1 s, one block per frame.
    fn video(track: u64) -> Vec<Block> {
        (0..25).map(|i| Block::simple(track, i * 40)).collect()
    }

    /// Audio without durations every 23 ms from `from` to before 1 s.
    fn audio(track: u64, from: i16) -> Vec<Block> {
        (from..1000)
            .step_by(23)
            .map(|t| Block::simple(track, t))
            .collect()
    }

    /// Blocks of several tracks in time order, as a muxer interleaves them.
    fn interleave(tracks: &[Vec<Block>]) -> Vec<Block> {
        let mut all: Vec<Block> = tracks.concat();
        all.sort_by_key(|b| b.relative);
        all
    }

    /// `passes` copies of one cluster, each after the header again, as
    /// `--loop` reads them; returns what continuity makes of them.
    fn looped(tracks: &[Track], blocks: &[Block], passes: usize) -> (Continuity, Vec<Placed>) {
        let mut s = StreamBuilder::new(tracks);
        s.cluster(0, blocks);
        for _ in 1..passes {
            s.restart();
            s.cluster(0, blocks);
        }
        run(&s)
    }

    fn run(s: &StreamBuilder) -> (Continuity, Vec<Placed>) {
        let mut c = Continuity::new();
        let mut placed = Vec::new();
        for e in s.events() {
            match e {
                Event::Header(h) => drop(c.header(h)),
                Event::Cluster(cl) => placed.push(c.place(cl)),
                Event::ClusterStart { .. } | Event::Block(_) => {}
            }
        }
        (c, placed)
    }

    fn timestamps(placed: &[Placed]) -> Vec<(u64, bool)> {
        placed
            .iter()
            .map(|p| (p.cluster.timestamp.0, p.restarted))
            .collect()
    }

    /// The first block of `track` in a placed cluster, in ms.
    fn first_of(p: &Placed, track: u64) -> Option<u64> {
        let mut b = Vec::new();
        block_timings(&p.cluster, &mut b);
        b.iter()
            .filter(|b| b.track == track)
            .map(|b| b.timestamp.0)
            .min()
    }

    #[test]
    fn default_duration_ends_video_and_the_largest_gap_ends_audio() {
        let tracks = [Track::video(1, Some(40)), Track::audio(2, None)];
        let blocks = interleave(&[video(1), audio(2, 0)]);
        let (c, placed) = looped(&tracks, &blocks, 3);
        // Video ends at 960 + 40 = 1000, audio at 989 + 23 = 1012: the
        // next pass starts after the audio, not at the end of the video.
        assert_eq!(c.track_ends().end(1), Some(ms(2024 + 1000)));
        assert_eq!(c.track_ends().end(2), Some(ms(2024 + 1012)));
        assert_eq!(
            timestamps(&placed),
            [(0, false), (1012, true), (2024, true)]
        );
        for p in &placed[1..] {
            assert_eq!(first_of(p, 1), first_of(p, 2), "tracks stay in sync");
        }
        assert_eq!(c.end(), Some(ms(3036)));
    }

    #[test]
    fn block_duration_ends_a_track() {
        let tracks = [Track::video(1, Some(40)), Track::audio(2, None)];
        let mut audio: Vec<Block> = (0..33).map(|i| Block::grouped(2, i * 30, 30)).collect();
        // The last audio block lasts longer than the others.
        audio.push(Block::grouped(2, 990, 35));
        let (c, placed) = looped(&tracks, &interleave(&[video(1), audio]), 2);
        assert_eq!(timestamps(&placed), [(0, false), (1025, true)]);
        assert_eq!(c.track_ends().end(2), Some(ms(2050)));
    }

    #[test]
    fn default_duration_counts_every_laced_frame() {
        let tracks = [Track::video(1, Some(40)), Track::audio(2, Some(20))];
        let audio = vec![Block::simple(2, 0), Block::laced(2, 950, 4)];
        let (_, placed) = looped(&tracks, &interleave(&[video(1), audio]), 2);
        // 950 + 4 × 20 ms.
        assert_eq!(timestamps(&placed), [(0, false), (1030, true)]);
    }

    #[test]
    fn a_track_that_starts_later_in_its_pass_needs_less_shift() {
        let tracks = [Track::video(1, Some(40)), Track::audio(2, None)];
        // Audio from 30 to 996 ms: it ends at 1019, but the next pass's
        // audio starts 30 ms into the pass, so the video's end decides.
        let blocks = interleave(&[video(1), audio(2, 30)]);
        let (c, placed) = looped(&tracks, &blocks, 2);
        assert_eq!(timestamps(&placed), [(0, false), (1000, true)]);
        assert_eq!(first_of(&placed[1], 2), Some(1030));
        assert_eq!(c.track_ends().end(2), Some(ms(2019)));
    }

    #[test]
    fn a_track_missing_from_the_first_cluster_of_a_pass_counts_from_its_start() {
        let tracks = [Track::video(1, Some(40)), Track::audio(2, None)];
        let mut s = StreamBuilder::new(&tracks);
        s.cluster(0, &interleave(&[video(1), audio(2, 0)]));
        s.restart();
        // The new pass begins with video only; audio comes a cluster later.
        s.cluster(0, &video(1));
        s.cluster(1000, &interleave(&[video(1), audio(2, 0)]));
        let (_, placed) = run(&s);
        assert_eq!(
            timestamps(&placed),
            [(0, false), (1012, true), (2012, false)]
        );
    }

    #[test]
    fn a_backward_jump_without_a_header_goes_on_after_the_end() {
        let tracks = [Track::video(1, Some(40))];
        let mut s = StreamBuilder::new(&tracks);
        s.cluster(5000, &video(1));
        s.cluster(0, &video(1));
        // A block of a track the header does not have is not followed.
        s.cluster(1000, &[Block::simple(1, 0), Block::simple(9, 900)]);
        let (c, placed) = run(&s);
        assert_eq!(
            timestamps(&placed),
            [(5000, false), (6000, true), (7000, false)]
        );
        assert_eq!(c.track_ends().end(9), None);
        assert_eq!(c.track_ends().end(1), Some(ms(7040)));
    }

    #[test]
    fn a_restart_closes_a_forward_jump_too() {
        // A reconnect to a live upstream that went on meanwhile: the
        // stream goes on where it was, not 60 s later.
        let tracks = [Track::video(1, Some(40))];
        let mut s = StreamBuilder::new(&tracks);
        s.cluster(0, &video(1));
        let (mut c, _) = run(&s);
        c.restart();
        let mut later = StreamBuilder::new(&tracks);
        later.cluster(60_000, &video(1));
        let (_, clusters) = later.segment();
        let p = c.place(clusters[0].clone());
        assert_eq!((p.cluster.timestamp, p.restarted), (Ticks(1000), true));
        assert_eq!(p.cluster.start, ms(1000));
    }

    #[test]
    fn new_tracks_start_over() {
        let mut s = StreamBuilder::new(&[Track::video(1, Some(40))]);
        s.cluster(5000, &video(1));
        let (mut c, _) = run(&s);
        let mut other = StreamBuilder::new(&[Track::audio(1, None)]);
        other.cluster(0, &[Block::simple(1, 0)]);
        let (header, _) = other.segment();
        assert_eq!(c.header(header.clone()), HeaderChange::New);
        assert_eq!(c.header(header), HeaderChange::SameTracks);
        assert_eq!(c.end(), None);
        assert_eq!(c.track_ends().end(1), None);
    }
}
