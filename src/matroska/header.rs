//! The live stream header: what every client receives before its first
//! Cluster, rebuilt from the input's EBML header and level-1 elements (the
//! rebuilding is in `builder`).

use bytes::Bytes;

use crate::ebml::{ChildError, EbmlError};

pub use super::attachments::DroppedAttachments;
pub use super::tracks::{TrackEntry, TrackType};

/// The header every client receives first, stored once and shared.
#[derive(Debug, Clone)]
pub struct StreamHeader {
    /// EBML header + Segment (unknown size) + Info + Tracks + optional
    /// Chapters/Attachments/Tags, ready to send.
    pub bytes: Bytes,
    /// DocType from the EBML header: `webm` or `matroska`.
    pub doc_type: String,
    /// Nanoseconds per timestamp tick (Info TimestampScale).
    pub timestamp_scale: u64,
    /// The TrackEntry elements of Tracks, in stream order.
    pub tracks: Vec<TrackEntry>,
    /// The Tracks element as read, to tell a restarted encoder sending the
    /// same tracks from a different stream.
    pub tracks_element: Bytes,
    /// Attachments of the input left out of `bytes` because no track needs
    /// their fonts (see [`SegmenterOptions::keep_attachments`]).
    ///
    /// [`SegmenterOptions::keep_attachments`]: crate::segmenter::SegmenterOptions::keep_attachments
    pub dropped_attachments: Option<DroppedAttachments>,
}

impl StreamHeader {
    /// Number of the video track clients must start on a keyframe of: the
    /// first track whose TrackType is exactly 1.
    pub fn video_track(&self) -> Option<u64> {
        self.tracks
            .iter()
            .find(|t| t.track_type == TrackType::Video)
            .map(|t| t.number)
    }

    /// HTTP Content-Type for this stream.
    pub fn content_type(&self) -> &'static str {
        match (self.doc_type.as_str(), self.video_track().is_some()) {
            ("webm", true) => "video/webm",
            ("webm", false) => "audio/webm",
            (_, true) => "video/x-matroska",
            (_, false) => "audio/x-matroska",
        }
    }

    /// Whether clients of `self` can simply continue with a stream that
    /// has header `other` (same tracks and time base).
    pub fn same_tracks(&self, other: &StreamHeader) -> bool {
        self.timestamp_scale == other.timestamp_scale && self.tracks_element == other.tracks_element
    }

    /// e.g. `VP8 640x360 + Vorbis 2ch`.
    pub fn describe_tracks(&self) -> String {
        let parts: Vec<String> = self.tracks.iter().map(TrackEntry::describe).collect();
        parts.join(" + ")
    }
}

/// Why a header element could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// The named element (EBML header, Info, Tracks...) does not parse
    /// as EBML children.
    Element(&'static str, ChildError),
    /// The named field holds a value of the wrong form.
    BadValue(&'static str, EbmlError),
    /// DocType is neither `webm` nor `matroska`.
    UnsupportedDocType(String),
    /// A Cluster came before any Tracks: nothing says what it holds.
    NoTracks,
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::Element(what, e) => write!(f, "malformed {what}: {e}"),
            HeaderError::BadValue(what, e) => write!(f, "bad {what}: {e}"),
            HeaderError::UnsupportedDocType(d) => {
                write!(f, "DocType {d:?} is neither \"webm\" nor \"matroska\"")
            }
            HeaderError::NoTracks => write!(f, "no Tracks element before the first Cluster"),
        }
    }
}

impl std::error::Error for HeaderError {}
