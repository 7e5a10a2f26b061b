//! How the segmenter builds the live stream, where a choice is the
//! operator's.

/// Choices for [`Segmenter::with_options`](super::Segmenter::with_options);
/// the default is what [`Segmenter::new`](super::Segmenter::new) does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SegmenterOptions {
    /// Keep the input's Attachments in the live header even when no
    /// S_TEXT/ASS or S_TEXT/SSA track needs fonts (by default they are
    /// dropped, since FFmpeg-based players wait forever for packets of an
    /// attachment stream).
    pub keep_attachments: bool,
    /// Hand out each served cluster's children as they complete in the
    /// input ([`Event::ClusterStart`](super::Event::ClusterStart), then
    /// [`Event::Block`](super::Event::Block)s) before the complete
    /// [`Event::Cluster`](super::Event::Cluster), so that a live server
    /// need not wait for a cluster's end (seconds, for a long cluster)
    /// before sending its first frame. Off by default: `Header` and
    /// `Cluster` only.
    pub forward_blocks: bool,
}
