//! A live input for mkvcast's stdin: Matroska written the way a live
//! encoder writes it, block by block at real-time spacing, so tests can see
//! how long the server takes to pass each block on.
//!
//! A stream is a list of [`Chunk`]s: the stream header (written at once),
//! then one chunk per block, each carrying the block's media time; a chunk
//! that starts a Cluster also carries the Cluster's ID, size and Timestamp.
//! [`write_paced`] writes chunk after chunk, each when the wall clock since
//! the first block reaches the block's media time, as an encoder does;
//! [`concat`] gives the same bytes at once (for clips and for reference
//! decodes). Two sources of chunks:
//!
//! - [`Synthetic`]: one VP8 track of numbered frames (payloads are not
//!   decodable VP8, but the stream is valid Matroska, and every payload
//!   carries its frame's sequence number and media time, see
//!   [`payload_id`]), in Clusters of unknown size;
//! - [`repack`]: a real fixture's blocks re-emitted in Clusters of unknown
//!   size, for players that must decode what they get.

mod repack;
mod synthetic;

pub use repack::repack;
pub use synthetic::{payload_id, Synthetic};

use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// One write of a live stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub bytes: Vec<u8>,
    /// Absolute media time of the block the chunk ends with, in ns; `None`
    /// for the stream header.
    pub media_ns: Option<u64>,
    /// Whether that block is a video keyframe.
    pub keyframe: bool,
    /// Whether that block belongs to the video track.
    pub video: bool,
}

/// One chunk as [`write_paced`] wrote it: when, and what it held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub media_ns: u64,
    pub keyframe: bool,
    pub video: bool,
    /// Just after `write_all` returned.
    pub at: Instant,
}

/// What [`write_paced`] has written so far, readable from another thread
/// while it runs (a test joins "now" and asks what the server can have).
#[derive(Debug, Clone, Default)]
pub struct WriteLog(Arc<Mutex<Vec<Written>>>);

impl WriteLog {
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&self, w: Written) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(w);
    }

    /// Every block written so far, in order.
    pub fn written(&self) -> Vec<Written> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The newest video keyframe whose write had finished by `at`.
    pub fn newest_keyframe_by(&self, at: Instant) -> Option<Written> {
        self.written()
            .into_iter()
            .rev()
            .find(|w| w.video && w.keyframe && w.at <= at)
    }
}

/// Writes `chunks` to `w` in real time: the header at once, every block
/// chunk when `media_ns - first block's media_ns` has passed since the
/// first block was written; flushes after each. Blocks whose time has
/// passed (late, or out of order) are written at once. Logs every block
/// chunk to `log` after writing it.
pub fn write_paced(w: &mut impl Write, chunks: &[Chunk], log: &WriteLog) -> io::Result<()> {
    let mut clock: Option<(Instant, u64)> = None;
    for c in chunks {
        if let Some(t) = c.media_ns {
            let (start, first) = *clock.get_or_insert((Instant::now(), t));
            let due = start + Duration::from_nanos(t.saturating_sub(first));
            sleep(due.saturating_duration_since(Instant::now()));
        }
        w.write_all(&c.bytes)?;
        w.flush()?;
        if let Some(media_ns) = c.media_ns {
            log.push(Written {
                media_ns,
                keyframe: c.keyframe,
                video: c.video,
                at: Instant::now(),
            });
        }
    }
    Ok(())
}

/// The whole stream at once.
pub fn concat(chunks: &[Chunk]) -> Vec<u8> {
    chunks
        .iter()
        .flat_map(|c| c.bytes.iter().copied())
        .collect()
}

/// Media time from the first block to the last, in ns.
pub fn span_ns(chunks: &[Chunk]) -> u64 {
    let times = || chunks.iter().filter_map(|c| c.media_ns);
    match (times().min(), times().max()) {
        (Some(a), Some(b)) => b - a,
        _ => 0,
    }
}
