//! Turns a Matroska/WebM byte stream, fed in chunks of any size, into a
//! stream header and self-contained Cluster segments.
//!
//! The parser keeps at most one level-1 element in memory (a Cluster, or a
//! header element), so memory is bounded by the largest Cluster, never by
//! the input length. Damage is skipped by scanning for the next Cluster
//! whose header and first child parse, and counted.

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};

use crate::ebml::{self, ElementHeader};
use crate::matroska::cluster::{self, TrackContext};
use crate::matroska::header::{HeaderBuilder, HeaderError, StreamHeader};
use crate::matroska::ids;
use crate::time::Nanos;

pub use crate::matroska::cluster::LiveCluster;

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
#[derive(Debug, Clone)]
pub enum Event {
    /// A stream header: the first one, or a new one after a second EBML
    /// header in the input (an encoder restarted, files concatenated).
    Header(Arc<StreamHeader>),
    /// One Cluster of the current stream.
    Cluster(LiveCluster),
}

/// Input the segmenter cannot continue from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmenterError {
    /// No EBML header where the stream should start.
    NotMatroska,
    /// The header elements are unusable.
    Header(HeaderError),
    /// Info + Tracks exceed [`MAX_HEADER_BYTES`].
    HeaderTooLarge(u64),
}

impl std::fmt::Display for SegmenterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SegmenterError::NotMatroska => {
                write!(f, "not Matroska/WebM (no EBML header at its start)")
            }
            SegmenterError::Header(e) => write!(f, "unusable stream header: {e}"),
            SegmenterError::HeaderTooLarge(n) => {
                write!(
                    f,
                    "stream header of {n} bytes exceeds the {MAX_HEADER_BYTES}-byte limit"
                )
            }
        }
    }
}

impl std::error::Error for SegmenterError {}

impl From<HeaderError> for SegmenterError {
    fn from(e: HeaderError) -> Self {
        SegmenterError::Header(e)
    }
}

/// Counters of what was read, emitted and skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub bytes_in: u64,
    pub headers: u64,
    pub clusters: u64,
    /// Clusters split at a keyframe (each split adds one segment).
    pub splits: u64,
    /// Bytes passed over while resynchronising or dropping damaged or
    /// oversized clusters.
    pub bytes_skipped: u64,
    /// Times the parser lost sync and scanned for the next Cluster.
    pub resyncs: u64,
}

#[derive(Debug)]
enum State {
    /// Expecting an EBML header (start of stream).
    EbmlHeader,
    /// Expecting the Segment element after an EBML header.
    Segment,
    /// Expecting a child of Segment.
    Level1,
    /// Dropping the rest of an element.
    Skip(u64),
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
}

impl Default for Segmenter {
    fn default() -> Self {
        Self::new()
    }
}

impl Segmenter {
    pub fn new() -> Self {
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
        }
    }

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

    /// Ends the input: a Cluster of unknown size still open is emitted with
    /// the children it completed; a truncated element is dropped.
    pub fn finish(&mut self, out: &mut Vec<Event>) -> Result<(), SegmenterError> {
        self.run(out)?;
        if !self.seen_ebml && self.stats.bytes_in > 0 {
            return Err(SegmenterError::NotMatroska);
        }
        // An unknown-size Cluster legitimately ends with the input; a
        // known-size one cut short is incomplete and dropped below.
        if let State::Cluster(ClusterScan {
            header_len,
            end: None,
            pos,
        }) = self.state
        {
            if pos > header_len {
                self.emit_cluster(header_len, pos, false, out);
            }
        }
        let left = self.buf.len() as u64;
        if left > 0 {
            log::warn!("input ended inside an element: dropped its last {left} bytes");
            self.stats.bytes_skipped += left;
            self.buf.clear();
        }
        self.state = State::EbmlHeader;
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
            State::Skip(remaining) => {
                let n = (*remaining).min(self.buf.len() as u64);
                self.buf.advance(n as usize);
                *remaining -= n;
                if *remaining == 0 {
                    self.state = State::Level1;
                    return Ok(true);
                }
                Ok(false)
            }
            State::Cluster(_) => Ok(self.read_cluster(out)),
            State::Resync => Ok(self.resync()),
        }
    }

    fn header_at_start(&self) -> Result<Option<ElementHeader>, ebml::EbmlError> {
        ebml::read_element_header(&self.buf)
    }

    fn read_ebml_header(&mut self) -> Result<bool, SegmenterError> {
        if self.buf.len() < 4 {
            return Ok(false);
        }
        if !self.buf.starts_with(&ids::EBML.to_be_bytes()) {
            if !self.seen_ebml {
                // At the very start: allow some garbage before the first
                // EBML header (a pipe joined mid-write), then give up.
                let keep = match find(&self.buf, &ids::EBML.to_be_bytes()) {
                    Some(at) => at,
                    None => self.buf.len().saturating_sub(3),
                };
                self.skip_bytes(keep);
                if self.stats.bytes_skipped >= MAX_LEADING_GARBAGE {
                    return Err(SegmenterError::NotMatroska);
                }
                return Ok(self.buf.starts_with(&ids::EBML.to_be_bytes()));
            }
            self.lose_sync();
            return Ok(true);
        }
        let h = match self.header_at_start() {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(false),
            Err(_) => {
                self.lose_sync();
                return Ok(true);
            }
        };
        let total = match h.total_len() {
            Some(t) if t <= MAX_EBML_HEADER_BYTES => t as usize,
            _ => {
                self.lose_sync();
                return Ok(true);
            }
        };
        if self.buf.len() < total {
            return Ok(false);
        }
        let element = self.buf.split_to(total);
        match HeaderBuilder::new(&element, element.get(h.header_len..).unwrap_or(&[])) {
            Ok(b) => {
                self.flush_skip_log("before the EBML header");
                self.seen_ebml = true;
                self.orphaned = false;
                self.builder = Some(b);
                self.state = State::Segment;
                Ok(true)
            }
            Err(e @ HeaderError::UnsupportedDocType(_)) => self.header_failed(e),
            Err(e) => {
                log::warn!("ignoring a malformed EBML header: {e}");
                self.stats.bytes_skipped += total as u64;
                self.state = State::Resync;
                self.stats.resyncs += 1;
                Ok(true)
            }
        }
    }

    fn read_segment(&mut self) -> Result<bool, SegmenterError> {
        match self.header_at_start() {
            Ok(None) => Ok(false),
            Ok(Some(h)) if h.id == ids::SEGMENT => {
                self.buf.advance(h.header_len);
                self.state = State::Level1;
                Ok(true)
            }
            _ => {
                self.lose_sync();
                Ok(true)
            }
        }
    }

    fn read_level1(&mut self, out: &mut Vec<Event>) -> Result<bool, SegmenterError> {
        let h = match self.header_at_start() {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(false),
            Err(_) => {
                self.lose_sync();
                return Ok(true);
            }
        };
        match h.id {
            ids::EBML => {
                self.state = State::EbmlHeader;
                Ok(true)
            }
            ids::CLUSTER => {
                if let Some(builder) = self.builder.take() {
                    if let Err(e) = self.start_stream(builder, out) {
                        return self.header_failed(e);
                    }
                }
                if self.header.is_none() {
                    // Clusters without a header cannot be served.
                    self.lose_sync();
                    return Ok(true);
                }
                let end = match h.total_len() {
                    Some(t) => match usize::try_from(t) {
                        Ok(t) if t <= MAX_CLUSTER_BYTES => Some(t),
                        _ => {
                            log::warn!(
                                "skipping a cluster of {t} bytes (limit {MAX_CLUSTER_BYTES})"
                            );
                            self.stats.bytes_skipped += t;
                            self.state = State::Skip(t);
                            return Ok(true);
                        }
                    },
                    None => None,
                };
                self.state = State::Cluster(ClusterScan {
                    header_len: h.header_len,
                    end,
                    pos: h.header_len,
                });
                Ok(true)
            }
            ids::INFO | ids::TRACKS | ids::CHAPTERS | ids::ATTACHMENTS | ids::TAGS
                if self.builder.is_some() =>
            {
                self.read_header_element(h)
            }
            ids::SEGMENT => {
                self.buf.advance(h.header_len);
                Ok(true)
            }
            ids::SEEK_HEAD
            | ids::CUES
            | ids::VOID
            | ids::CRC32
            | ids::INFO
            | ids::TRACKS
            | ids::CHAPTERS
            | ids::ATTACHMENTS
            | ids::TAGS => match h.total_len() {
                Some(t) if t <= MAX_SKIP_BYTES || self.builder.is_some() => {
                    self.state = State::Skip(t);
                    Ok(true)
                }
                _ => {
                    self.lose_sync();
                    Ok(true)
                }
            },
            _ => {
                self.lose_sync();
                Ok(true)
            }
        }
    }

    /// Buffers Info, Tracks, Chapters, Attachments or Tags for the header.
    fn read_header_element(&mut self, h: ElementHeader) -> Result<bool, SegmenterError> {
        let Some(builder) = self.builder.as_mut() else {
            return Ok(false);
        };
        let total = match h.total_len() {
            Some(t) => t,
            None => {
                let e = HeaderError::Element("header element", ebml::ChildError::UnknownSize);
                return self.header_failed(e);
            }
        };
        let new_size = builder.size() as u64 + total;
        if new_size > MAX_HEADER_BYTES as u64 {
            if matches!(h.id, ids::INFO | ids::TRACKS) {
                if self.header.is_none() {
                    return Err(SegmenterError::HeaderTooLarge(new_size));
                }
                log::warn!(
                    "ignoring a new stream header of {new_size} bytes (limit {MAX_HEADER_BYTES})"
                );
                self.builder = None;
                self.lose_sync();
                return Ok(true);
            }
            log::warn!("dropping a {total}-byte header element (ID {:X}): header would exceed {MAX_HEADER_BYTES} bytes", h.id);
            self.state = State::Skip(total);
            return Ok(true);
        }
        let total = total as usize;
        if self.buf.len() < total {
            return Ok(false);
        }
        let element = self.buf.split_to(total).freeze();
        let data = element.get(h.header_len..).unwrap_or(&[]);
        let result = match h.id {
            ids::INFO => builder.set_info(data),
            ids::TRACKS => builder.set_tracks(element.clone(), data),
            _ => {
                builder.add_other(element.clone());
                Ok(())
            }
        };
        match result {
            Ok(()) => Ok(true),
            Err(e) => self.header_failed(e),
        }
    }

    /// A header element of a new stream is unusable: fatal for the first
    /// stream (nothing can be served), skipped with its clusters for a later
    /// one.
    fn header_failed(&mut self, e: HeaderError) -> Result<bool, SegmenterError> {
        if self.header.is_none() {
            return Err(e.into());
        }
        log::warn!("ignoring a new stream: {e}; skipping to the next stream header");
        self.builder = None;
        self.orphaned = true;
        self.lose_sync();
        Ok(true)
    }

    fn start_stream(
        &mut self,
        builder: HeaderBuilder,
        out: &mut Vec<Event>,
    ) -> Result<(), HeaderError> {
        let header = Arc::new(builder.finish()?);
        self.ctx = TrackContext {
            timestamp_scale: header.timestamp_scale,
            video_track: header.video_track(),
            default_durations: header
                .tracks
                .iter()
                .filter_map(|t| Some((t.number, t.default_duration_ns?)))
                .collect(),
        };
        self.last_keyframe = None;
        self.keyframe_warned = false;
        self.stats.headers += 1;
        log::debug!(
            "stream header: {} bytes, DocType {}, tracks {}",
            header.bytes.len(),
            header.doc_type,
            header.describe_tracks()
        );
        self.header = Some(header.clone());
        out.push(Event::Header(header));
        Ok(())
    }

    /// Reads the children of the Cluster at `buf[0]` as they arrive.
    fn read_cluster(&mut self, out: &mut Vec<Event>) -> bool {
        let State::Cluster(scan) = &self.state else {
            return false;
        };
        let (header_len, end, mut pos) = (scan.header_len, scan.end, scan.pos);
        loop {
            if Some(pos) == end {
                self.emit_cluster(header_len, pos, true, out);
                return true;
            }
            let rest = self.buf.get(pos..).unwrap_or(&[]);
            let child = match ebml::read_element_header(rest) {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(_) => {
                    self.cluster_damaged(header_len, pos, out);
                    return true;
                }
            };
            if ids::ends_cluster(child.id) {
                if end.is_some() {
                    log::warn!(
                        "cluster cut short by a new level-1 element: keeping its complete blocks"
                    );
                }
                self.emit_cluster(header_len, pos, false, out);
                return true;
            }
            let child_end = child
                .total_len()
                .and_then(|t| usize::try_from(t).ok())
                .and_then(|t| t.checked_add(pos));
            let child_end = match child_end {
                Some(e) if ids::is_cluster_child(child.id) && end.is_none_or(|end| e <= end) => e,
                _ => {
                    self.cluster_damaged(header_len, pos, out);
                    return true;
                }
            };
            if child_end > MAX_CLUSTER_BYTES {
                // Only an unknown-size cluster gets here (a known size over
                // the cap is skipped by size): drop it and look for the next.
                log::warn!(
                    "dropping a cluster of unknown size longer than {MAX_CLUSTER_BYTES} bytes"
                );
                self.skip_bytes(pos);
                self.lose_sync();
                return true;
            }
            if self.buf.len() < child_end {
                break;
            }
            pos = child_end;
        }
        if let State::Cluster(scan) = &mut self.state {
            scan.pos = pos;
        }
        false
    }

    /// Emits the Cluster at `buf[..len]` (its valid children end at `len`).
    fn emit_cluster(
        &mut self,
        header_len: usize,
        len: usize,
        reusable: bool,
        out: &mut Vec<Event>,
    ) {
        let raw = self.buf.split_to(len).freeze();
        self.state = State::Level1;
        self.flush_skip_log("before a cluster");
        let mut segments = std::mem::take(&mut self.scratch);
        match cluster::split_cluster(
            &raw,
            header_len,
            header_len..len,
            reusable,
            &self.ctx,
            &mut segments,
        ) {
            Ok(()) => {
                self.stats.splits += segments.len().saturating_sub(1) as u64;
                for s in segments.drain(..) {
                    self.note_keyframe(&s);
                    self.stats.clusters += 1;
                    out.push(Event::Cluster(s));
                }
            }
            Err(e) => {
                log::warn!("dropping a cluster of {len} bytes: {e}");
                self.stats.bytes_skipped += len as u64;
            }
        }
        self.scratch = segments;
    }

    fn note_keyframe(&mut self, s: &LiveCluster) {
        if self.ctx.video_track.is_none() || !s.has_video {
            return;
        }
        if s.keyframe {
            self.last_keyframe = Some(s.start);
            self.keyframe_warned = false;
            return;
        }
        let since = s
            .start
            .saturating_sub(self.last_keyframe.unwrap_or(Nanos::ZERO));
        if since > KEYFRAME_WARN && !self.keyframe_warned {
            self.keyframe_warned = true;
            log::warn!(
                "no video keyframe for {:.1} s of media: new clients cannot start until one arrives",
                since.as_secs_f64()
            );
        }
    }

    /// A Cluster turned out damaged at `pos`: keep its complete children
    /// unless another Cluster starts inside it (then the damage is a
    /// truncated element and the embedded Cluster is the real one).
    fn cluster_damaged(&mut self, header_len: usize, pos: usize, out: &mut Vec<Event>) {
        self.stats.resyncs += 1;
        // Only bytes before `pos` decide, so the outcome does not depend on
        // how the input was chunked.
        let damaged = self.buf.get(..pos).unwrap_or(&[]);
        let inner =
            (1..pos).find(|&at| cluster_start_at(damaged.get(at..).unwrap_or(&[])) == Some(true));
        match inner {
            Some(at) => {
                log::warn!("cluster damaged: another cluster starts inside it, {at} bytes in; resyncing there");
                self.skip_bytes(at);
                self.state = State::Level1;
            }
            None => {
                if pos > header_len {
                    self.emit_cluster(header_len, pos, false, out);
                } else {
                    self.skip_bytes(pos);
                }
                log::warn!("damaged data after a cluster: resyncing");
                self.state = State::Resync;
            }
        }
    }

    fn lose_sync(&mut self) {
        if !matches!(self.state, State::Resync) {
            self.stats.resyncs += 1;
        }
        self.state = State::Resync;
    }

    /// Scans for the next Cluster (or EBML header) that parses.
    fn resync(&mut self) -> bool {
        let mut at = 0;
        while at < self.buf.len() {
            let rest = self.buf.get(at..).unwrap_or(&[]);
            let candidate = if rest.starts_with(&ids::CLUSTER.to_be_bytes()[..rest.len().min(4)]) {
                if !self.orphaned && (self.header.is_some() || self.builder.is_some()) {
                    cluster_start_at(rest)
                } else {
                    Some(false)
                }
            } else if rest.starts_with(&ids::EBML.to_be_bytes()[..rest.len().min(4)]) {
                ebml_header_at(rest)
            } else {
                Some(false)
            };
            match candidate {
                Some(true) => {
                    self.skip_bytes(at);
                    self.flush_skip_log("while resynchronising");
                    self.state = if self.buf.starts_with(&ids::EBML.to_be_bytes()) {
                        State::EbmlHeader
                    } else {
                        State::Level1
                    };
                    return true;
                }
                // Not enough bytes to decide: wait for more.
                None => break,
                Some(false) => at += 1,
            }
        }
        self.skip_bytes(at);
        false
    }

    fn skip_bytes(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.advance(n);
        self.stats.bytes_skipped += n as u64;
        self.skipped_run += n as u64;
    }

    fn flush_skip_log(&mut self, context: &str) {
        if self.skipped_run > 0 {
            log::warn!(
                "skipped {} bytes of damaged or unknown input {context}",
                self.skipped_run
            );
            self.skipped_run = 0;
        }
    }
}

/// Position of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Whether a real Cluster starts at `b[0]`: its ID, a size that parses,
/// then a Timestamp child (a CRC-32 or Void may come first). `None` when
/// more bytes are needed to tell.
fn cluster_start_at(b: &[u8]) -> Option<bool> {
    let h = match ebml::read_element_header(b) {
        Ok(Some(h)) => h,
        Ok(None) => return None,
        Err(_) => return Some(false),
    };
    if h.id != ids::CLUSTER {
        return Some(false);
    }
    let mut pos = h.header_len;
    for _ in 0..3 {
        let c = match ebml::read_element_header(b.get(pos..).unwrap_or(&[])) {
            Ok(Some(c)) => c,
            Ok(None) => return None,
            Err(_) => return Some(false),
        };
        match (c.id, c.size) {
            (ids::TIMESTAMP, Some(1..=8)) => return Some(true),
            (ids::CRC32, Some(4)) | (ids::VOID, Some(0..=64)) => {
                pos += c.header_len + c.size.unwrap_or(0) as usize
            }
            _ => return Some(false),
        }
    }
    Some(false)
}

/// Whether an EBML header with a DocType Matroska serves starts at `b[0]`.
fn ebml_header_at(b: &[u8]) -> Option<bool> {
    let h = match ebml::read_element_header(b) {
        Ok(Some(h)) => h,
        Ok(None) => return None,
        Err(_) => return Some(false),
    };
    let total = match h.total_len() {
        Some(t) if h.id == ids::EBML && t <= MAX_EBML_HEADER_BYTES => t as usize,
        _ => return Some(false),
    };
    let data = b.get(h.header_len..total)?;
    Some(crate::matroska::header::parse_doc_type(data).is_ok())
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

/// Concatenates a header and its segments into a playable byte stream.
pub fn concat(events: &[Event]) -> Bytes {
    let mut out = BytesMut::new();
    for e in events {
        match e {
            Event::Header(h) => out.extend_from_slice(&h.bytes),
            Event::Cluster(s) => out.extend_from_slice(&s.bytes),
        }
    }
    out.freeze()
}
