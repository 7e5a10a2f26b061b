//! Collecting the stream header: the header elements of a Segment (Info,
//! Tracks, Chapters, Attachments, Tags) until its first Cluster, and what
//! an unusable one means.

use std::sync::Arc;

use super::{Event, Segmenter, SegmenterError, State, MAX_HEADER_BYTES};
use crate::ebml::{self, ElementHeader};
use crate::matroska::builder::HeaderBuilder;
use crate::matroska::cluster::TrackContext;
use crate::matroska::header::{HeaderError, StreamHeader};
use crate::matroska::ids;

impl Segmenter {
    /// Buffers Info, Tracks, Chapters, Attachments or Tags for the header.
    pub(super) fn read_header_element(&mut self, h: ElementHeader) -> Result<bool, SegmenterError> {
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
        let new_size = (builder.size() as u64).saturating_add(total);
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
            self.state = State::Skip {
                left: total,
                counted: false,
            };
            return Ok(true);
        }
        let total = total as usize;
        if self.buf.len() < total {
            return Ok(false);
        }
        let element = self.buf.split_to(total).freeze();
        match builder.add_element(element) {
            Ok(()) => Ok(true),
            Err(e) => self.header_failed(e),
        }
    }

    /// A header element of a new stream is unusable: fatal for the first
    /// stream (nothing can be served), skipped with its clusters for a later
    /// one.
    pub(super) fn header_failed(&mut self, e: HeaderError) -> Result<bool, SegmenterError> {
        if self.header.is_none() {
            return Err(e.into());
        }
        log::warn!("ignoring a new stream: {e}; skipping to the next stream header");
        self.builder = None;
        self.orphaned = true;
        self.lose_sync();
        Ok(true)
    }

    pub(super) fn start_stream(
        &mut self,
        mut builder: HeaderBuilder,
        out: &mut Vec<Event>,
    ) -> Result<(), HeaderError> {
        if self.use_preloaded {
            self.add_preloaded(&mut builder)?;
        }
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
        self.log_dropped_attachments(&header);
        self.header = Some(header.clone());
        out.push(Event::Header(header));
        Ok(())
    }

    /// One line per input, not one per `--loop` pass: said again only when
    /// the tracks or the attachments change.
    fn log_dropped_attachments(&self, header: &StreamHeader) {
        let Some(dropped) = header.dropped_attachments else {
            return;
        };
        let said = self.header.as_ref().is_some_and(|h| {
            h.same_tracks(header) && h.dropped_attachments == header.dropped_attachments
        });
        if !said {
            log::info!(
                "live header: dropped Attachments ({dropped}): no S_TEXT/ASS or S_TEXT/SSA \
                 track needs fonts, and FFmpeg-based players (Chromium, Firefox) wait for \
                 packets of attachment streams that never come; --keep-attachments keeps them"
            );
        }
    }

    /// Adds each preloaded element whose kind the stream did not bring
    /// before its first Cluster.
    fn add_preloaded(&self, builder: &mut HeaderBuilder) -> Result<(), HeaderError> {
        for element in &self.preloaded.elements {
            let Ok(Some((id, _))) = ebml::read_id(element) else {
                continue;
            };
            if builder.has(id) {
                continue;
            }
            if builder.size().saturating_add(element.len()) > MAX_HEADER_BYTES {
                log::warn!(
                    "leaving out the {}-byte {} found through the SeekHead: header would exceed {MAX_HEADER_BYTES} bytes",
                    element.len(),
                    ids::level1_name(id)
                );
                continue;
            }
            builder.add_element(element.clone())?;
            // Said once, not again on every `--loop` pass.
            let level = if self.stats.headers == 0 {
                log::Level::Info
            } else {
                log::Level::Debug
            };
            log::log!(
                level,
                "{} ({} bytes) comes after the first Cluster: using it as found through the SeekHead",
                ids::level1_name(id),
                element.len()
            );
        }
        Ok(())
    }
}
