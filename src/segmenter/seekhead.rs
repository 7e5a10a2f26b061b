//! Header elements a seekable file keeps after its first Cluster (Tracks,
//! Attachments, Info...), found through its SeekHead before streaming.
//!
//! A muxer may write Tracks or Attachments at the end and name their place
//! in the SeekHead; ffmpeg and mkvinfo seek there. A live reader cannot, so
//! for a regular file this reads them ahead, and
//! [`Segmenter::preload`](super::Segmenter::preload) uses them where the
//! stream has none of its own. The segmenter itself stays sans-IO.

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom};

use bytes::Bytes;

use super::{MAX_EBML_HEADER_BYTES, MAX_HEADER_BYTES};
use crate::ebml::{self, ElementHeader};
use crate::matroska::ids;

/// Largest SeekHead read (each Seek takes some 20 bytes).
const MAX_SEEK_HEAD_BYTES: u64 = 1 << 20;
/// Level-1 elements passed over looking for the SeekHead before giving up
/// (it normally comes first, perhaps after a Void).
const MAX_ELEMENTS_BEFORE_SEEK_HEAD: usize = 16;
/// The header elements a SeekHead may point to that the live header uses.
const HEADER_IDS: [u32; 5] = [
    ids::INFO,
    ids::TRACKS,
    ids::CHAPTERS,
    ids::ATTACHMENTS,
    ids::TAGS,
];

/// Whole header elements read from where a SeekHead says they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrefetchedHeader {
    /// Info and Tracks first, then the others in file order.
    pub(super) elements: Vec<Bytes>,
}

impl PrefetchedHeader {
    /// Whether nothing was read ahead.
    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    /// The IDs of the elements read, in the order they are used.
    pub fn ids(&self) -> Vec<u32> {
        self.elements
            .iter()
            .filter_map(|e| ebml::read_id(e).ok().flatten().map(|(id, _)| id))
            .collect()
    }
}

/// Why the elements a SeekHead names could not be read.
#[derive(Debug)]
pub enum PrefetchError {
    /// Reading or seeking the file failed.
    Io(io::Error),
    /// Info or Tracks would make the header exceed [`MAX_HEADER_BYTES`].
    TooLarge {
        /// The element's ID (Info or Tracks).
        id: u32,
        /// The element's whole length, in bytes.
        bytes: u64,
    },
}

impl fmt::Display for PrefetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrefetchError::Io(e) => write!(f, "reading the elements its SeekHead names: {e}"),
            PrefetchError::TooLarge { id, bytes } => write!(
                f,
                "the {} its SeekHead names takes {bytes} bytes, over the \
                 {MAX_HEADER_BYTES}-byte header limit",
                ids::level1_name(*id)
            ),
        }
    }
}

impl std::error::Error for PrefetchError {}

impl From<io::Error> for PrefetchError {
    fn from(e: io::Error) -> Self {
        PrefetchError::Io(e)
    }
}

/// Reads the EBML header, the Segment start and its SeekHead from the
/// reader's position, then every Info, Tracks, Chapters, Attachments and
/// Tags the SeekHead names, and seeks back. `None`: no SeekHead before the
/// first Cluster, or it names none of them (damage there is left to the
/// segmenter, which reports it as it streams).
pub fn prefetch_header<R: Read + Seek>(
    reader: &mut R,
) -> Result<Option<PrefetchedHeader>, PrefetchError> {
    let start = reader.stream_position()?;
    let result = read_named_elements(reader, start);
    reader.seek(SeekFrom::Start(start))?;
    result
}

/// [`prefetch_header`] for an opened input file: only a regular file is
/// read ahead (a FIFO cannot seek back), and a failure is logged and left
/// to the stream, which then reports what is missing.
pub fn prefetch_file(file: &mut std::fs::File) -> PrefetchedHeader {
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return PrefetchedHeader::default();
    }
    match prefetch_header(file) {
        Ok(Some(h)) => {
            let names: Vec<&str> = h.ids().into_iter().map(ids::level1_name).collect();
            log::debug!("read ahead through the SeekHead: {}", names.join(", "));
            h
        }
        Ok(None) => PrefetchedHeader::default(),
        Err(e) => {
            log::warn!("input: {e}; streaming without them");
            PrefetchedHeader::default()
        }
    }
}

fn read_named_elements<R: Read + Seek>(
    r: &mut R,
    start: u64,
) -> Result<Option<PrefetchedHeader>, PrefetchError> {
    let Some(ebml_h) = header_at(r, start)?.filter(|h| h.id == ids::EBML) else {
        return Ok(None);
    };
    let Some(seg_at) = ebml_h
        .total_len()
        .filter(|&t| t <= MAX_EBML_HEADER_BYTES)
        .and_then(|t| start.checked_add(t))
    else {
        return Ok(None);
    };
    let Some(seg) = header_at(r, seg_at)?.filter(|h| h.id == ids::SEGMENT) else {
        return Ok(None);
    };
    // SeekPosition counts from the first byte of the Segment's data.
    let data_start = seg_at + seg.header_len as u64;
    let Some(first) = find_seek_head(r, data_start)? else {
        return Ok(None);
    };
    let mut seeks = read_seek_head(r, first, data_start)?;
    // A SeekHead may name a second one (mkvmerge writes one at the end).
    let more = seeks.iter().find(|s| s.0 == ids::SEEK_HEAD && s.1 != first);
    if let Some(&(_, at)) = more {
        seeks.extend(read_seek_head(r, at, data_start)?);
    }
    seeks.retain(|s| HEADER_IDS.contains(&s.0));
    seeks.sort_by_key(|s| (!matches!(s.0, ids::INFO | ids::TRACKS), s.1));
    seeks.dedup();
    let elements = read_elements(r, &seeks)?;
    Ok((!elements.is_empty()).then_some(PrefetchedHeader { elements }))
}

/// Reads the elements at `seeks`, Info and Tracks first, within the header
/// limit: Info or Tracks over it is an error, another element is left out.
fn read_elements<R: Read + Seek>(
    r: &mut R,
    seeks: &[(u32, u64)],
) -> Result<Vec<Bytes>, PrefetchError> {
    let mut elements = Vec::new();
    let mut budget = MAX_HEADER_BYTES as u64;
    for &(id, at) in seeks {
        let Some(h) = header_at(r, at)? else { continue };
        let Some(total) = h.total_len().filter(|_| h.id == id) else {
            let name = ids::level1_name(id);
            log::warn!("input: the SeekHead names a {name} at byte {at}, but it is not there");
            continue;
        };
        if total > budget {
            if matches!(id, ids::INFO | ids::TRACKS) {
                return Err(PrefetchError::TooLarge { id, bytes: total });
            }
            let name = ids::level1_name(id);
            log::warn!("input: leaving out the {total}-byte {name} the SeekHead names: the header would exceed {MAX_HEADER_BYTES} bytes");
            continue;
        }
        budget -= total;
        elements.push(read_whole(r, at, total)?);
    }
    Ok(elements)
}

/// The position of the SeekHead among the first level-1 elements from
/// `at`, before any Cluster.
fn find_seek_head<R: Read + Seek>(r: &mut R, mut at: u64) -> io::Result<Option<u64>> {
    for _ in 0..MAX_ELEMENTS_BEFORE_SEEK_HEAD {
        let Some(h) = header_at(r, at)? else {
            return Ok(None);
        };
        match (h.id, h.total_len()) {
            (ids::SEEK_HEAD, _) => return Ok(Some(at)),
            (ids::CLUSTER, _) | (_, None) => return Ok(None),
            (_, Some(total)) => match at.checked_add(total) {
                Some(next) => at = next,
                None => return Ok(None),
            },
        }
    }
    Ok(None)
}

/// The `(SeekID, absolute position)` pairs of the SeekHead at `at`.
fn read_seek_head<R: Read + Seek>(
    r: &mut R,
    at: u64,
    data_start: u64,
) -> io::Result<Vec<(u32, u64)>> {
    let Some(h) = header_at(r, at)?.filter(|h| h.id == ids::SEEK_HEAD) else {
        return Ok(Vec::new());
    };
    let Some(total) = h.total_len().filter(|&t| t <= MAX_SEEK_HEAD_BYTES) else {
        return Ok(Vec::new());
    };
    let element = read_whole(r, at, total)?;
    let data = element.get(h.header_len..).unwrap_or(&[]);
    Ok(ebml::children(data)
        .map_while(Result::ok)
        .filter(|c| c.header.id == ids::SEEK)
        .filter_map(|seek| {
            let (id, pos) = read_seek(seek.data)?;
            Some((id, data_start.checked_add(pos)?))
        })
        .collect())
}

/// SeekID (the element ID as stored) and SeekPosition of one Seek.
fn read_seek(data: &[u8]) -> Option<(u32, u64)> {
    let mut id = None;
    let mut pos = None;
    for c in ebml::children(data).map_while(Result::ok) {
        match c.header.id {
            ids::SEEK_ID if (1..=4).contains(&c.data.len()) => {
                id = Some(c.data.iter().fold(0u32, |a, &b| (a << 8) | u32::from(b)));
            }
            ids::SEEK_POSITION => pos = ebml::read_uint(c.data).ok(),
            _ => {}
        }
    }
    Some((id?, pos?))
}

/// The element header at `at`; `None` at the end of the input or where no
/// valid header is.
fn header_at<R: Read + Seek>(r: &mut R, at: u64) -> io::Result<Option<ElementHeader>> {
    r.seek(SeekFrom::Start(at))?;
    let mut buf = [0u8; ebml::MAX_ID_LEN + ebml::MAX_SIZE_LEN];
    let mut n = 0;
    while let Some(rest) = buf.get_mut(n..).filter(|b| !b.is_empty()) {
        match r.read(rest) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(ebml::read_element_header(buf.get(..n).unwrap_or(&[])).unwrap_or(None))
}

/// The `len` bytes at `at` (`len` is bounded by the callers' limits).
fn read_whole<R: Read + Seek>(r: &mut R, at: u64, len: u64) -> io::Result<Bytes> {
    let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    r.seek(SeekFrom::Start(at))?;
    let mut out = vec![0u8; len];
    r.read_exact(&mut out)?;
    Ok(Bytes::from(out))
}
