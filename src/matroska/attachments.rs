//! Which Attachments a live header keeps.
//!
//! FFmpeg-based demuxers (Chromium's, Firefox's) expose each attached file
//! as a stream that never has packets, so a live input with one keeps them
//! probing (readyState 0). Attachments are kept only where a track needs
//! them: ASS/SSA subtitles name fonts that are usually attached.

use bytes::Bytes;

use super::ids;
use super::tracks::TrackEntry;
use crate::ebml;

/// Subtitle codecs that draw with fonts a file may attach (the `S_ASS` and
/// `S_SSA` forms are the deprecated IDs of the same formats).
const FONT_CODECS: [&str; 4] = ["S_TEXT/ASS", "S_TEXT/SSA", "S_ASS", "S_SSA"];

/// What a live header left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DroppedAttachments {
    /// AttachedFile elements in the dropped Attachments.
    pub files: usize,
    /// Bytes of the dropped Attachments elements.
    pub bytes: usize,
}

impl std::fmt::Display for DroppedAttachments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = if self.files == 1 { "" } else { "s" };
        write!(f, "{} attached file{s}, {} bytes", self.files, self.bytes)
    }
}

/// Whether a track draws text with fonts the file may attach.
pub fn needs_fonts(tracks: &[TrackEntry]) -> bool {
    tracks
        .iter()
        .any(|t| FONT_CODECS.contains(&t.codec_id.as_str()))
}

/// Whether a whole level-1 element is an Attachments element.
fn is_attachments(element: &[u8]) -> bool {
    matches!(ebml::read_id(element), Ok(Some((ids::ATTACHMENTS, _))))
}

/// The number of AttachedFile children of a whole Attachments element.
pub fn attached_files(element: &[u8]) -> usize {
    let Ok(Some(h)) = ebml::read_element_header(element) else {
        return 0;
    };
    ebml::children(element.get(h.header_len..).unwrap_or(&[]))
        .filter_map(Result::ok)
        .filter(|c| c.header.id == ids::ATTACHED_FILE)
        .count()
}

/// Removes the Attachments elements from `elements` (Chapters, Attachments,
/// Tags, whole) unless `keep` is set or a track needs fonts; returns what
/// was removed, if anything.
pub fn drop_unneeded(
    elements: &mut Vec<Bytes>,
    tracks: &[TrackEntry],
    keep: bool,
) -> Option<DroppedAttachments> {
    if keep || needs_fonts(tracks) {
        return None;
    }
    let mut dropped = DroppedAttachments::default();
    elements.retain(|e| {
        if !is_attachments(e) {
            return true;
        }
        dropped.files += attached_files(e);
        dropped.bytes += e.len();
        false
    });
    (dropped.bytes > 0).then_some(dropped)
}
