//! The load generator's stream validator: a streaming structure check of
//! one viewer's body that skips block payloads by counting bytes, so that
//! `mkvcast-load load` can check every byte of tens of thousands of viewers
//! in one process.
//!
//! Deliberately independent of [`crate::stream_check`]: it uses only
//! mkvcast's EBML primitives and header element parsers, not the segmenter
//! that the server itself runs, so a segmenter bug cannot make the server
//! and its checker agree on a broken stream. It checks structure (EBML
//! header, Segment, Tracks before the first Cluster, Clusters (of known
//! size, or of unknown size ending at the next level-1 element) with
//! non-decreasing Timestamps, blocks on declared tracks, the first
//! video block a keyframe), not media-time continuity: that needs every
//! frame's duration, which is what `StreamCheck` parses for.

mod error;
mod step;
#[cfg(test)]
mod tests;

pub use error::WalkError;

use mkvcast::internals::ids;

/// Cap on the elements buffered whole (EBML header, Info, Tracks).
const MAX_SMALL: u64 = 64 * 1024;
/// Carry-over for a header split across reads; the largest thing parsed in
/// one piece is an element header plus a block header (< 24 bytes).
const MAX_CARRY: usize = 64;
/// Cluster timestamp gaps above this are discontinuities, not the interval.
const MAX_INTERVAL_MS: u64 = 30_000;

/// Where the walk is in the stream. Containers are tracked by their end
/// offsets, so skipping a child needs no stack.
#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    EbmlHeader,
    Segment,
    /// Expecting a child of Segment.
    Level1,
    ClusterChild,
    GroupChild,
    /// Skipping this many payload bytes without looking at them.
    Skip(u64),
    /// Copying this many more bytes of a small element (by ID) into `small`.
    Collect(u32, u64),
    /// A known-size Segment ended; nothing more may follow.
    Ended,
    Failed,
}

/// Streaming structure check of one viewer's body (see the module doc).
/// Costs O(1) per skipped payload byte run.
pub struct StreamWalk {
    state: State,
    /// Body bytes consumed so far (carry-over bytes not yet included).
    pos: u64,
    segment_end: Option<u64>,
    cluster_end: Option<u64>,
    /// In a Cluster of unknown size (live muxers, and mkvcast forwarding
    /// blocks as they arrive): it ends at the next level-1 element or
    /// EBML header.
    cluster_unknown: bool,
    group_end: Option<u64>,
    /// Bytes of a header split across reads.
    carry: Vec<u8>,
    /// A small element being collected (EBML header, Info, Tracks).
    small: Vec<u8>,
    timestamp_scale: u64,
    tracks: Vec<u64>,
    video_track: Option<u64>,
    /// The first video block of the first Cluster was checked.
    keyframe_checked: bool,
    cluster_timestamp: Option<u64>,
    last_cluster_timestamp: Option<u64>,
    /// Track of the current BlockGroup's Block, and whether it references
    /// another frame (no ReferenceBlock means keyframe).
    group_track: Option<u64>,
    group_has_reference: bool,
    /// Complete Clusters received.
    clusters: u64,
    /// Largest gap between consecutive Cluster timestamps, in ms.
    max_interval_ms: u64,
    error: Option<WalkError>,
}

impl Default for StreamWalk {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamWalk {
    pub fn new() -> Self {
        StreamWalk {
            state: State::EbmlHeader,
            pos: 0,
            segment_end: None,
            cluster_end: None,
            cluster_unknown: false,
            group_end: None,
            carry: Vec::new(),
            small: Vec::new(),
            timestamp_scale: ids::DEFAULT_TIMESTAMP_SCALE,
            tracks: Vec::new(),
            video_track: None,
            keyframe_checked: false,
            cluster_timestamp: None,
            last_cluster_timestamp: None,
            group_track: None,
            group_has_reference: false,
            clusters: 0,
            max_interval_ms: 0,
            error: None,
        }
    }

    /// The first problem found, if any.
    pub fn error(&self) -> Option<&WalkError> {
        self.error.as_ref()
    }

    /// Complete Clusters received.
    pub fn clusters(&self) -> u64 {
        self.clusters
    }

    /// Largest step between consecutive Cluster timestamps, in ms (steps
    /// over 30 s are discontinuities and not counted): an estimate of the
    /// cluster interval.
    pub fn max_interval_ms(&self) -> u64 {
        self.max_interval_ms
    }

    /// Whether a Segment of known size ended exactly.
    pub fn ended(&self) -> bool {
        self.state == State::Ended
    }

    /// Checks the next chunk of body bytes. After the first error the rest
    /// is ignored; the error is kept for the summary.
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let used = match self.state {
                State::Failed => return,
                State::Ended => Err(WalkError::AfterEnd),
                State::Skip(n) => {
                    let k = n.min(data.len() as u64);
                    self.state = State::Skip(n - k);
                    self.pos += k;
                    Ok(k as usize)
                }
                State::Collect(id, n) => {
                    let k = n.min(data.len() as u64);
                    self.small.extend_from_slice(&data[..k as usize]);
                    self.state = State::Collect(id, n - k);
                    self.pos += k;
                    Ok(k as usize)
                }
                _ => self.parse(data),
            };
            match used.and_then(|k| self.settle().map(|()| k)) {
                Ok(k) => data = &data[k..],
                Err(e) => {
                    self.error = Some(e);
                    self.state = State::Failed;
                    // Free what a failed viewer no longer needs.
                    self.carry = Vec::new();
                    self.small = Vec::new();
                    return;
                }
            }
        }
    }

    /// Runs [`Self::step`] on `data`, joined to any carried-over bytes;
    /// returns how many bytes of `data` were used (kept in carry or parsed).
    fn parse(&mut self, data: &[u8]) -> Result<usize, WalkError> {
        if self.carry.is_empty() {
            return match self.step(data)? {
                Some(n) => {
                    self.pos += n as u64;
                    Ok(n)
                }
                None if data.len() < MAX_CARRY => {
                    self.carry.extend_from_slice(data);
                    Ok(data.len())
                }
                None => Err(WalkError::HeaderTooLong),
            };
        }
        let old = self.carry.len();
        let take = (MAX_CARRY - old).min(data.len());
        let mut joined = std::mem::take(&mut self.carry);
        joined.extend_from_slice(&data[..take]);
        let stepped = self.step(&joined);
        match stepped? {
            // `step` needs a length fixed by the first bytes, so what the
            // carry alone lacked ends inside `data`.
            Some(n) if n >= old => {
                joined.clear();
                self.carry = joined;
                self.pos += n as u64;
                Ok(n - old)
            }
            Some(_) => Err(WalkError::Internal("parse step shrank")),
            None if joined.len() < MAX_CARRY => {
                self.carry = joined;
                Ok(take)
            }
            None => Err(WalkError::HeaderTooLong),
        }
    }

    /// Applies the transitions that consume no bytes: finished skips and
    /// collections, and containers whose end was reached. Run after every
    /// advance, so a Cluster counts the moment its last byte arrives.
    fn settle(&mut self) -> Result<(), WalkError> {
        loop {
            let pos = Some(self.pos);
            match self.state {
                State::Skip(0) => self.state = self.container_state(),
                State::Collect(id, 0) => self.finish_small(id)?,
                State::GroupChild if pos == self.group_end => {
                    self.group_end = None;
                    let track = self.group_track.ok_or(WalkError::GroupWithoutBlock)?;
                    self.check_block(track, !self.group_has_reference)?;
                    self.state = State::ClusterChild;
                }
                State::ClusterChild if pos == self.cluster_end => self.end_cluster()?,
                State::Level1 if self.segment_end.is_some() && pos == self.segment_end => {
                    self.state = State::Ended;
                }
                _ => return Ok(()),
            }
        }
    }

    /// A Cluster's last byte arrived: it counts if it was whole.
    fn end_cluster(&mut self) -> Result<(), WalkError> {
        if self.cluster_timestamp.is_none() {
            return Err(WalkError::NoTimestamp);
        }
        if self.clusters == 0 && self.video_track.is_some() && !self.keyframe_checked {
            return Err(WalkError::NoVideoBlock);
        }
        self.clusters += 1;
        self.cluster_end = None;
        self.cluster_unknown = false;
        self.state = State::Level1;
        Ok(())
    }

    /// The state for the next child of the innermost open container.
    fn container_state(&self) -> State {
        if self.group_end.is_some() {
            State::GroupChild
        } else if self.cluster_end.is_some() || self.cluster_unknown {
            State::ClusterChild
        } else {
            State::Level1
        }
    }
}
