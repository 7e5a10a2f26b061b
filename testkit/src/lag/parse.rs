//! An incremental reader of a live Matroska body that notes, for every
//! block, when its last byte arrived and its absolute media time. Unlike
//! [`crate::walk`] it accepts Clusters of unknown size (a Cluster of unknown
//! size ends at the next level-1 element or EBML header), which is what a
//! server forwarding blocks as they arrive sends for the Cluster still
//! being received.

use std::time::Instant;

use mkvcast::internals::ebml::{self, ElementHeader};
use mkvcast::internals::header::parse_tracks;
use mkvcast::internals::ids;
use mkvcast::matroska::header::TrackType;

/// Largest element read whole (EBML header, Info, Tracks, a block).
const MAX_WHOLE: u64 = 64 << 20;
/// Payload bytes kept per block, to identify it.
pub const HEAD_LEN: usize = 16;

/// One block as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub track: u64,
    /// Cluster Timestamp plus the block's relative timestamp, times the
    /// TimestampScale, in ns.
    pub media_ns: i64,
    /// SimpleBlock keyframe flag, or a BlockGroup without ReferenceBlock.
    pub keyframe: bool,
    /// Whether it belongs to the video track (the first one in Tracks).
    pub video: bool,
    /// When the read that completed it returned.
    pub arrival: Instant,
    /// The first [`HEAD_LEN`] payload bytes (fewer if shorter).
    pub head: Vec<u8>,
    /// Whether its Cluster had an unknown size.
    pub unknown_cluster: bool,
    /// Body offset just past the block.
    pub end: u64,
}

/// An open container: where it ends (`None`: unknown size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Segment(Option<u64>),
    Cluster(Option<u64>),
    Group(u64),
}

/// The Block of the BlockGroup being read.
#[derive(Debug, Default)]
struct Group {
    block: Option<(u64, i16, Vec<u8>)>,
    referenced: bool,
}

/// Feed it the body (after the HTTP head) as it arrives; it collects
/// [`Block`]s and counts Clusters. The first malformed element stops it
/// and is kept in `error`.
#[derive(Debug)]
pub struct BlockParser {
    buf: Vec<u8>,
    /// Bytes of `buf` already parsed (dropped at the end of each feed).
    start: usize,
    /// Body offset of `buf[start]`.
    pos: u64,
    skip: u64,
    open: Vec<Open>,
    scale: u64,
    video: Option<u64>,
    cluster_ts: Option<u64>,
    group: Group,
    pub blocks: Vec<Block>,
    /// EBML headers seen (a second one starts a new stream).
    pub headers: u64,
    /// Clusters seen with an unknown size, and with a known one.
    pub unknown_clusters: u64,
    pub known_clusters: u64,
    pub error: Option<String>,
}

impl Default for BlockParser {
    fn default() -> Self {
        Self::new()
    }
}

/// The outcome of one step: go on, or wait for more bytes.
type Step = Result<bool, String>;

impl BlockParser {
    pub fn new() -> Self {
        BlockParser {
            buf: Vec::new(),
            start: 0,
            pos: 0,
            skip: 0,
            open: Vec::new(),
            scale: ids::DEFAULT_TIMESTAMP_SCALE,
            video: None,
            cluster_ts: None,
            group: Group::default(),
            blocks: Vec::new(),
            headers: 0,
            unknown_clusters: 0,
            known_clusters: 0,
            error: None,
        }
    }

    /// Body bytes taken so far.
    pub fn offset(&self) -> u64 {
        self.pos + self.rest().len() as u64
    }

    fn rest(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// The next bytes of the body, read at `at`.
    pub fn feed(&mut self, data: &[u8], at: Instant) {
        if self.error.is_some() {
            return;
        }
        self.buf.extend_from_slice(data);
        loop {
            match self.step(at) {
                Ok(true) => {}
                Ok(false) => {
                    self.buf.drain(..self.start);
                    self.start = 0;
                    return;
                }
                Err(e) => {
                    self.error = Some(format!("at byte {}: {e}", self.pos));
                    self.buf = Vec::new();
                    self.start = 0;
                    return;
                }
            }
        }
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.pos += n as u64;
    }

    fn step(&mut self, at: Instant) -> Step {
        if self.skip > 0 {
            let k = self.skip.min(self.rest().len() as u64);
            self.consume(k as usize);
            self.skip -= k;
            if self.skip > 0 {
                return Ok(false);
            }
        }
        if self.close_ended(at)? {
            return Ok(true);
        }
        let Some(h) = ebml::read_element_header(self.rest()).map_err(|e| e.to_string())? else {
            return Ok(false);
        };
        match self.open.last().copied() {
            None => self.top(&h),
            Some(Open::Segment(_)) => self.level1(&h),
            Some(Open::Cluster(end)) => self.cluster_child(&h, end.is_none(), at),
            Some(Open::Group(_)) => self.group_child(&h),
        }
    }

    /// Closes the innermost container if its known end is reached.
    fn close_ended(&mut self, at: Instant) -> Step {
        let end = match self.open.last() {
            Some(Open::Segment(Some(e)) | Open::Cluster(Some(e)) | Open::Group(e)) => *e,
            _ => return Ok(false),
        };
        if self.pos < end {
            return Ok(false);
        }
        if self.pos > end {
            return Err("element runs past its parent".into());
        }
        if self.open.pop() == Some(Open::Group(end)) {
            self.end_group(at)?;
        }
        Ok(true)
    }

    /// The whole element `h` if buffered: `Ok(None)` until it is.
    fn whole(&self, h: &ElementHeader) -> Result<Option<Vec<u8>>, String> {
        let size = h
            .size
            .ok_or_else(|| format!("{:X} of unknown size", h.id))?;
        if size > MAX_WHOLE {
            return Err(format!("{:X} of {size} bytes", h.id));
        }
        let end = h.header_len + size as usize;
        Ok(self.rest().get(h.header_len..end).map(<[u8]>::to_vec))
    }

    /// Consumes `h` whole, or skips its data, or waits.
    fn take(&mut self, h: &ElementHeader) -> Result<Option<Vec<u8>>, String> {
        let data = self.whole(h)?;
        if let Some(d) = &data {
            self.consume(h.header_len + d.len());
        }
        Ok(data)
    }

    fn skip_element(&mut self, h: &ElementHeader) -> Step {
        self.skip = h
            .size
            .ok_or_else(|| format!("{:X} of unknown size", h.id))?;
        self.consume(h.header_len);
        Ok(true)
    }

    fn top(&mut self, h: &ElementHeader) -> Step {
        match h.id {
            ids::EBML => match self.take(h)? {
                Some(_) => {
                    self.headers += 1;
                    Ok(true)
                }
                None => Ok(false),
            },
            ids::SEGMENT => {
                self.open.push(Open::Segment(
                    h.size.map(|s| self.pos + h.header_len as u64 + s),
                ));
                self.consume(h.header_len);
                Ok(true)
            }
            id => Err(format!("{id:X} where an EBML header or Segment belongs")),
        }
    }

    fn level1(&mut self, h: &ElementHeader) -> Step {
        match h.id {
            // A new stream inside a Segment of unknown size.
            ids::EBML => {
                self.open.clear();
                Ok(true)
            }
            ids::CLUSTER => {
                let end = h.size.map(|s| self.pos + h.header_len as u64 + s);
                if end.is_some() {
                    self.known_clusters += 1;
                } else {
                    self.unknown_clusters += 1;
                }
                self.open.push(Open::Cluster(end));
                self.cluster_ts = None;
                self.consume(h.header_len);
                Ok(true)
            }
            ids::INFO | ids::TRACKS => match self.take(h)? {
                Some(data) => self.header_element(h.id, &data).map(|()| true),
                None => Ok(false),
            },
            _ => self.skip_element(h),
        }
    }

    fn header_element(&mut self, id: u32, data: &[u8]) -> Result<(), String> {
        if id == ids::TRACKS {
            let tracks = parse_tracks(data).map_err(|e| e.to_string())?;
            self.video = tracks
                .iter()
                .find(|t| t.track_type == TrackType::Video)
                .map(|t| t.number);
            return Ok(());
        }
        for c in ebml::children(data) {
            let c = c.map_err(|e| e.to_string())?;
            if c.header.id == ids::TIMESTAMP_SCALE {
                self.scale = ebml::read_uint(c.data).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    fn cluster_child(&mut self, h: &ElementHeader, unknown: bool, at: Instant) -> Step {
        if unknown && ids::ends_cluster(h.id) {
            self.open.pop();
            return Ok(true);
        }
        match h.id {
            ids::TIMESTAMP => match self.take(h)? {
                Some(d) => {
                    self.cluster_ts = Some(ebml::read_uint(&d).map_err(|e| e.to_string())?);
                    Ok(true)
                }
                None => Ok(false),
            },
            ids::SIMPLE_BLOCK => match self.take(h)? {
                Some(d) => {
                    let (track, rel, head) = block_header(&d)?;
                    let key = d
                        .get(block_header_len(&d)? - 1)
                        .is_some_and(|f| f & 0x80 != 0);
                    self.push_block(track, rel, key, head, at)?;
                    Ok(true)
                }
                None => Ok(false),
            },
            ids::BLOCK_GROUP => {
                let size = h.size.ok_or("BlockGroup of unknown size")?;
                self.open
                    .push(Open::Group(self.pos + h.header_len as u64 + size));
                self.group = Group::default();
                self.consume(h.header_len);
                Ok(true)
            }
            _ => self.skip_element(h),
        }
    }

    fn group_child(&mut self, h: &ElementHeader) -> Step {
        match h.id {
            ids::BLOCK => match self.take(h)? {
                Some(d) => {
                    self.group.block = Some(block_header(&d)?);
                    Ok(true)
                }
                None => Ok(false),
            },
            ids::REFERENCE_BLOCK => {
                self.group.referenced = true;
                self.skip_element(h)
            }
            _ => self.skip_element(h),
        }
    }

    fn end_group(&mut self, at: Instant) -> Result<(), String> {
        let g = std::mem::take(&mut self.group);
        let (track, rel, head) = g.block.ok_or("BlockGroup without Block")?;
        self.push_block(track, rel, !g.referenced, head, at)
    }

    fn push_block(
        &mut self,
        track: u64,
        rel: i16,
        key: bool,
        head: Vec<u8>,
        at: Instant,
    ) -> Result<(), String> {
        let ts = self
            .cluster_ts
            .ok_or("block before the Cluster's Timestamp")?;
        let ticks = i128::from(ts) + i128::from(rel);
        let ns =
            i64::try_from(ticks * i128::from(self.scale)).map_err(|_| "media time overflows")?;
        let unknown = self.open.contains(&Open::Cluster(None));
        self.blocks.push(Block {
            track,
            media_ns: ns,
            keyframe: key,
            video: Some(track) == self.video,
            arrival: at,
            head,
            unknown_cluster: unknown,
            end: self.pos,
        });
        Ok(())
    }
}

/// Length of a (Simple)Block's header: track vint, timestamp, flags.
fn block_header_len(d: &[u8]) -> Result<usize, String> {
    let first = *d.first().ok_or("empty block")?;
    Ok(ebml::vint_len(first).map_err(|e| e.to_string())? + 3)
}

/// `(track, relative timestamp, first payload bytes)` of a (Simple)Block.
fn block_header(d: &[u8]) -> Result<(u64, i16, Vec<u8>), String> {
    let n = block_header_len(d)?;
    let head = d.get(..n).ok_or("short block")?;
    let (track, _) = ebml::read_size(head)
        .map_err(|e| e.to_string())?
        .ok_or("short block")?;
    let track = track.ok_or("block track of unknown size")?;
    let rel = i16::from_be_bytes([head[n - 3], head[n - 2]]);
    let payload = &d[n..];
    Ok((track, rel, payload[..payload.len().min(HEAD_LEN)].to_vec()))
}
