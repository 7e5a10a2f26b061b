//! Losing and regaining sync: scanning damaged input for the next Cluster
//! (or EBML header) that parses, and counting what was passed over.

use bytes::Buf;

use super::{Segmenter, State, MAX_EBML_HEADER_BYTES};
use crate::ebml;
use crate::matroska::ids;

impl Segmenter {
    pub(super) fn lose_sync(&mut self) {
        if !matches!(self.state, State::Resync) {
            self.stats.resyncs += 1;
        }
        self.state = State::Resync;
    }

    /// Scans for the next Cluster (or EBML header) that parses.
    pub(super) fn resync(&mut self) -> bool {
        let mut at = 0;
        while at < self.buf.len() {
            let rest = self.buf.get(at..).unwrap_or(&[]);
            let candidate = if starts_like(rest, ids::CLUSTER) {
                if !self.orphaned && (self.header.is_some() || self.builder.is_some()) {
                    cluster_start_at(rest)
                } else {
                    Some(false)
                }
            } else if starts_like(rest, ids::EBML) {
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

    pub(super) fn skip_bytes(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.advance(n);
        self.stats.bytes_skipped += n as u64;
        self.skipped_run += n as u64;
    }

    pub(super) fn flush_skip_log(&mut self, context: &str) {
        if self.skipped_run > 0 {
            log::warn!(
                "skipped {} bytes of damaged or unknown input {context}",
                self.skipped_run
            );
            self.skipped_run = 0;
        }
    }
}

/// Whether `b` starts with the 4-byte ID `id`, or is a shorter prefix of it
/// (more bytes will tell).
fn starts_like(b: &[u8], id: u32) -> bool {
    b.iter().zip(id.to_be_bytes()).all(|(x, y)| *x == y)
}

/// Position of `needle` in `hay`.
pub(super) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Whether a real Cluster starts at `b[0]`: its ID, a size that parses,
/// then a Timestamp child (a CRC-32 or Void may come first). `None` when
/// more bytes are needed to tell.
pub(super) fn cluster_start_at(b: &[u8]) -> Option<bool> {
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
pub(super) fn ebml_header_at(b: &[u8]) -> Option<bool> {
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
    Some(crate::matroska::builder::parse_doc_type(data).is_ok())
}
