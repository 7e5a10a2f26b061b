//! Why the segmenter cannot go on: the input is not Matroska, or its
//! first stream header is unusable.

use super::MAX_HEADER_BYTES;
use crate::matroska::header::HeaderError;

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
