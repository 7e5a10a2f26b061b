//! The level-1 elements of a Segment: the EBML header and Segment start,
//! then each child of Segment handed to the reader of its kind, or passed
//! over (SeekHead, Cues, Void, header elements of a stream already started).

use bytes::Buf;

use super::resync::find;
use super::{
    ClusterScan, Event, Segmenter, SegmenterError, State, MAX_CLUSTER_BYTES, MAX_EBML_HEADER_BYTES,
    MAX_LEADING_GARBAGE, MAX_SKIP_BYTES,
};
use crate::ebml::{self, ElementHeader};
use crate::matroska::builder::HeaderBuilder;
use crate::matroska::header::HeaderError;
use crate::matroska::ids;
use crate::matroska::split::Splitter;

impl Segmenter {
    pub(super) fn header_at_start(&self) -> Result<Option<ElementHeader>, ebml::EbmlError> {
        ebml::read_element_header(&self.buf)
    }

    pub(super) fn read_ebml_header(&mut self) -> Result<bool, SegmenterError> {
        if self.buf.len() < 4 {
            return Ok(false);
        }
        if !self.buf.starts_with(&ids::EBML.to_be_bytes()) {
            if !self.seen_ebml {
                return self.skip_leading_garbage();
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
        let total = match h.total_len().and_then(|t| usize::try_from(t).ok()) {
            Some(t) if t as u64 <= MAX_EBML_HEADER_BYTES => t,
            _ => {
                self.lose_sync();
                return Ok(true);
            }
        };
        if self.buf.len() < total {
            return Ok(false);
        }
        let element = self.buf.split_to(total);
        self.use_preloaded = std::mem::replace(&mut self.input_start, false);
        match HeaderBuilder::new(&element, element.get(h.header_len..).unwrap_or(&[])) {
            Ok(mut b) => {
                b.keep_attachments(self.options.keep_attachments);
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

    /// At the very start: allows some garbage before the first EBML header
    /// (a pipe joined mid-write), then gives up.
    fn skip_leading_garbage(&mut self) -> Result<bool, SegmenterError> {
        let keep = match find(&self.buf, &ids::EBML.to_be_bytes()) {
            Some(at) => at,
            None => self.buf.len().saturating_sub(3),
        };
        self.skip_bytes(keep);
        if self.stats.bytes_skipped >= MAX_LEADING_GARBAGE {
            return Err(SegmenterError::NotMatroska);
        }
        Ok(self.buf.starts_with(&ids::EBML.to_be_bytes()))
    }

    pub(super) fn read_segment(&mut self) -> Result<bool, SegmenterError> {
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

    pub(super) fn read_level1(&mut self, out: &mut Vec<Event>) -> Result<bool, SegmenterError> {
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
            ids::CLUSTER => self.start_cluster(h, out),
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
            | ids::TAGS => {
                self.pass_over(h);
                Ok(true)
            }
            _ => {
                self.lose_sync();
                Ok(true)
            }
        }
    }

    /// A Cluster starts at `buf[0]`: the first one completes the stream
    /// header; one too large to hold is skipped by its size.
    fn start_cluster(
        &mut self,
        h: ElementHeader,
        out: &mut Vec<Event>,
    ) -> Result<bool, SegmenterError> {
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
                    log::warn!("skipping a cluster of {t} bytes (limit {MAX_CLUSTER_BYTES})");
                    self.state = State::Skip {
                        left: t,
                        counted: true,
                    };
                    return Ok(true);
                }
            },
            None => None,
        };
        self.state = State::Cluster(ClusterScan {
            header_len: h.header_len,
            end,
            pos: h.header_len,
            split: Splitter::default(),
        });
        Ok(true)
    }

    /// Skips a level-1 element that is not served by its size; after the
    /// first Cluster a huge size is more likely damage than data: resync.
    fn pass_over(&mut self, h: ElementHeader) {
        match h.total_len() {
            Some(t) if t <= MAX_SKIP_BYTES || self.builder.is_some() => {
                self.state = State::Skip {
                    left: t,
                    counted: false,
                };
            }
            _ => self.lose_sync(),
        }
    }
}
