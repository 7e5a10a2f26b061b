//! Turns a Matroska/WebM byte stream, fed in chunks of any size, into a
//! stream header and self-contained Cluster segments, and on request
//! (`forward_blocks`) each segment's blocks as they arrive, for viewers
//! that should not wait for a cluster's end.
//!
//! The parser keeps at most one level-1 element in memory (a Cluster, or a
//! header element), so memory is bounded by the largest Cluster, never by
//! the input length. Damage is skipped by scanning for the next Cluster
//! whose header and first child parse, and counted.
//!
//! The state machine is here; each state's reading is in its own file:
//! `level1` (EBML header, Segment, header elements), `cluster` (a Cluster's
//! children), `resync` (damage).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod cluster;
mod error;
#[cfg(test)]
mod forward_tests;
mod header;
mod level1;
mod options;
#[cfg(test)]
mod preload_tests;
mod resync;
mod seekhead;
mod stats;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};

use crate::matroska::builder::HeaderBuilder;
use crate::matroska::cluster::TrackContext;
use crate::matroska::header::StreamHeader;
use crate::matroska::split::Splitter;
use crate::time::{Nanos, Ticks};

pub use crate::matroska::cluster::LiveCluster;
pub use crate::matroska::live::LiveBlock;
pub use error::SegmenterError;
pub use options::SegmenterOptions;
pub use seekhead::{prefetch_file, prefetch_header, PrefetchError, PrefetchedHeader};
pub use stats::Stats;

/// Largest Cluster kept in memory; a larger one is skipped.
pub const MAX_CLUSTER_BYTES: usize = 64 << 20;
/// Largest stream header (attachments included).
pub const MAX_HEADER_BYTES: usize = 16 << 20;
/// Largest EBML header element accepted (it holds a few short fields).
const MAX_EBML_HEADER_BYTES: u64 = 4096;
/// Input without an EBML header in this many leading bytes is not Matroska.
const MAX_LEADING_GARBAGE: u64 = 64 << 10;
/// Level-1 elements after the first Cluster larger than this are not
/// skipped by size (a damaged size could swallow the stream): resync.
const MAX_SKIP_BYTES: u64 = 64 << 20;
/// Media time without a video keyframe after which a warning is logged.
const KEYFRAME_WARN: Nanos = Nanos(10_000_000_000);

/// What the segmenter produces, in input order.
///
/// With [`SegmenterOptions::forward_blocks`], each served cluster comes as
/// `ClusterStart`, then a `Block` per child as it completes in the input,
/// then the same cluster complete as `Cluster`, which holds exactly those
/// blocks after its Timestamp: a live viewer can be sent each frame as it
/// arrives and still get the cluster others get whole. Without it, only
/// `Header` and `Cluster` (the `Cluster` events are the same either way).
#[derive(Debug, Clone)]
pub enum Event {
    /// A stream header: the first one, or a new one after a second EBML
    /// header in the input (an encoder restarted, files concatenated).
    Header(Arc<StreamHeader>),
    /// A served cluster begins, with this Timestamp (only with
    /// `forward_blocks`; only once the input Cluster's Timestamp is read).
    ClusterStart {
        /// The served cluster's Timestamp, as its `Cluster` event will have.
        timestamp: Ticks,
    },
    /// The next child of the served cluster last begun (only with
    /// `forward_blocks`).
    Block(LiveBlock),
    /// One Cluster of the current stream.
    Cluster(LiveCluster),
}

#[derive(Debug)]
enum State {
    /// Expecting an EBML header (start of stream).
    EbmlHeader,
    /// Expecting the Segment element after an EBML header.
    Segment,
    /// Expecting a child of Segment.
    Level1,
    /// Dropping the rest of an element, `left` bytes. `counted`: the bytes
    /// are lost media (an oversized cluster) and go to `bytes_skipped` as
    /// they are consumed, never by the size the element claims.
    Skip { left: u64, counted: bool },
    /// Reading a Cluster that starts at `buf[0]`.
    Cluster(ClusterScan),
    /// Lost sync: scanning for a Cluster or EBML header.
    Resync,
}

/// Progress through a Cluster being read.
#[derive(Debug)]
struct ClusterScan {
    header_len: usize,
    /// Total length, for a known-size cluster.
    end: Option<usize>,
    /// Offset of the next child to read.
    pos: usize,
    /// The split of the children read so far.
    split: Splitter,
}

/// The incremental Matroska segmenter. Feed it bytes with [`feed`], collect
/// events, and call [`finish`] at the end of the input.
///
/// [`feed`]: Segmenter::feed
/// [`finish`]: Segmenter::finish
pub struct Segmenter {
    buf: BytesMut,
    state: State,
    builder: Option<HeaderBuilder>,
    header: Option<Arc<StreamHeader>>,
    ctx: TrackContext,
    stats: Stats,
    /// Bytes skipped since sync was lost, for one log line per episode.
    skipped_run: u64,
    /// Whether any EBML header was read (before that, input that does not
    /// start like Matroska is an error, not damage).
    seen_ebml: bool,
    /// The stream being read has an unusable header: its clusters are not
    /// ours to serve (other tracks, other codecs), so everything up to the
    /// next EBML header is skipped.
    orphaned: bool,
    /// Media time of the last video keyframe segment, and whether the
    /// missing-keyframe warning was given since.
    last_keyframe: Option<Nanos>,
    keyframe_warned: bool,
    scratch: Vec<LiveCluster>,
    options: SegmenterOptions,
    /// Header elements read ahead through the SeekHead (see [`preload`]).
    ///
    /// [`preload`]: Segmenter::preload
    preloaded: PrefetchedHeader,
    /// No EBML header read since the input (re)started: the next stream is
    /// the one the preloaded elements belong to.
    input_start: bool,
    /// The current stream is that one.
    use_preloaded: bool,
}

impl Default for Segmenter {
    fn default() -> Self {
        Self::new()
    }
}

impl Segmenter {
    /// A segmenter with the default [`SegmenterOptions`].
    pub fn new() -> Self {
        Self::with_options(SegmenterOptions::default())
    }

    /// A segmenter making the operator's choices in `options`.
    pub fn with_options(options: SegmenterOptions) -> Self {
        Segmenter {
            buf: BytesMut::with_capacity(64 << 10),
            state: State::EbmlHeader,
            builder: None,
            header: None,
            ctx: TrackContext::default(),
            stats: Stats::default(),
            skipped_run: 0,
            seen_ebml: false,
            orphaned: false,
            last_keyframe: None,
            keyframe_warned: false,
            scratch: Vec::new(),
            options,
            preloaded: PrefetchedHeader::default(),
            input_start: true,
            use_preloaded: false,
        }
    }

    /// Header elements of the input read ahead by [`prefetch_header`] (a
    /// file whose Tracks or Attachments come after its first Cluster). At
    /// the first Cluster of the input's first stream, each kind of element
    /// that stream did not bring itself is taken from here; the stream's own
    /// win. They apply again after [`finish`] (a `--loop` pass over the same
    /// file), never to a later stream in the same pass (another file).
    ///
    /// [`finish`]: Segmenter::finish
    pub fn preload(&mut self, header: PrefetchedHeader) {
        self.preloaded = header;
    }

    /// What has been read, emitted and skipped so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The current stream header, once the first Cluster has been seen.
    pub fn header(&self) -> Option<&Arc<StreamHeader>> {
        self.header.as_ref()
    }

    /// Input bytes held in memory (at most one Cluster or header element).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Feeds the next chunk of input; events completed by it are appended
    /// to `out`.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<Event>) -> Result<(), SegmenterError> {
        self.stats.bytes_in += data.len() as u64;
        self.buf.extend_from_slice(data);
        self.run(out)
    }

    /// Ends the input: a Cluster still open is emitted with the children it
    /// completed; a truncated element is dropped.
    pub fn finish(&mut self, out: &mut Vec<Event>) -> Result<(), SegmenterError> {
        self.run(out)?;
        if !self.seen_ebml && self.stats.bytes_in > 0 {
            return Err(SegmenterError::NotMatroska);
        }
        // An unknown-size Cluster legitimately ends with the input. A
        // known-size one cut short is damaged, and keeps its complete
        // children like any damaged cluster: they may have been forwarded.
        if let State::Cluster(scan) = std::mem::replace(&mut self.state, State::EbmlHeader) {
            let pos = scan.pos;
            if pos > scan.header_len {
                self.emit_cluster(scan, pos, false, out);
            }
        }
        let left = self.buf.len() as u64;
        if left > 0 {
            log::warn!("input ended inside an element: dropped its last {left} bytes");
            self.stats.bytes_skipped += left;
            self.buf.clear();
        }
        self.state = State::EbmlHeader;
        self.input_start = true;
        Ok(())
    }

    fn run(&mut self, out: &mut Vec<Event>) -> Result<(), SegmenterError> {
        while self.step(out)? {}
        Ok(())
    }

    /// Makes one step of progress; `false` when more input is needed.
    fn step(&mut self, out: &mut Vec<Event>) -> Result<bool, SegmenterError> {
        match &mut self.state {
            State::EbmlHeader => self.read_ebml_header(),
            State::Segment => self.read_segment(),
            State::Level1 => self.read_level1(out),
            State::Skip { left, counted } => {
                let n = (*left).min(self.buf.len() as u64);
                *left -= n;
                let done = *left == 0;
                if *counted {
                    self.stats.bytes_skipped += n;
                }
                self.buf.advance(n as usize);
                if done {
                    self.state = State::Level1;
                }
                Ok(done)
            }
            State::Cluster(_) => Ok(self.read_cluster(out)),
            State::Resync => Ok(self.resync()),
        }
    }
}

/// Segments a whole in-memory input; for tests and tools.
pub fn segment_all(input: &[u8], chunk: usize) -> Result<(Vec<Event>, Stats), SegmenterError> {
    let mut s = Segmenter::new();
    let mut out = Vec::new();
    for c in input.chunks(chunk.max(1)) {
        s.feed(c, &mut out)?;
    }
    s.finish(&mut out)?;
    Ok((out, s.stats().clone()))
}

/// Concatenates a header and its segments into a playable byte stream
/// (forwarded blocks are left out: their `Cluster` events hold them).
pub fn concat(events: &[Event]) -> Bytes {
    let mut out = BytesMut::new();
    for e in events {
        match e {
            Event::Header(h) => out.extend_from_slice(&h.bytes),
            Event::Cluster(s) => out.extend_from_slice(&s.bytes),
            // The Cluster event repeats them.
            Event::ClusterStart { .. } | Event::Block(_) => {}
        }
    }
    out.freeze()
}
