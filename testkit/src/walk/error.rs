//! What [`super::StreamWalk`] reports. The messages are the load
//! generator's failure reasons, counted by text in its summary.

use std::fmt;

use mkvcast::internals::ids;

/// The first problem found in a viewer's stream. Errors of mkvcast's
/// parsers are kept as their message: the summary counts reasons by text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalkError {
    BadElementHeader(String),
    /// The stream starts with this element instead of an EBML header.
    NotEbml(u32),
    /// This element where the Segment should start.
    NotSegment(u32),
    ClusterBeforeTracks,
    /// An EBML header or Segment inside the Segment.
    Nested(u32),
    LongTimestamp,
    BadTimestamp(String),
    UnexpectedInCluster(u32),
    UnknownSize {
        id: u32,
        parent: &'static str,
    },
    PastParent {
        id: u32,
        parent: &'static str,
    },
    /// An element buffered whole is larger than the cap.
    TooLarge {
        what: &'static str,
        size: u64,
        max: u64,
    },
    Backwards,
    UndeclaredTrack(u64),
    NoKeyframe,
    GroupWithoutBlock,
    NoTimestamp,
    NoVideoBlock,
    /// The EBML header or Tracks did not parse (the parser's message).
    Header(String),
    BadInfo(String),
    BadScale(String),
    NoTrackEntry,
    BadBlockTrack(String),
    ShortBlock,
    UnreadableBlock,
    AfterEnd,
    HeaderTooLong,
    /// A bug in the walk itself.
    Internal(&'static str),
}

impl fmt::Display for WalkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use WalkError as E;
        match self {
            E::BadElementHeader(e) => write!(f, "bad element header: {e}"),
            E::NotEbml(id) => write!(f, "stream starts with {}, not an EBML header", name(*id)),
            E::NotSegment(id) => write!(f, "expected Segment, got {}", name(*id)),
            E::ClusterBeforeTracks => f.write_str("Cluster before Tracks"),
            E::Nested(id) => write!(f, "{} inside the Segment", name(*id)),
            E::LongTimestamp => f.write_str("Cluster Timestamp longer than 8 bytes"),
            E::BadTimestamp(e) => write!(f, "bad Timestamp: {e}"),
            E::UnexpectedInCluster(id) => write!(f, "unexpected {} in a Cluster", name(*id)),
            E::UnknownSize { id, parent } => {
                write!(f, "{} of unknown size in {parent}", name(*id))
            }
            E::PastParent { id, parent } => {
                write!(f, "{} runs past the end of its {parent}", name(*id))
            }
            E::TooLarge { what, size, max } => write!(f, "{what} is {size} bytes (max {max})"),
            E::Backwards => f.write_str("Cluster Timestamp went backwards"),
            E::UndeclaredTrack(t) => write!(f, "block for undeclared track {t}"),
            E::NoKeyframe => f.write_str("first Cluster does not start with a video keyframe"),
            E::GroupWithoutBlock => f.write_str("BlockGroup without a Block"),
            E::NoTimestamp => f.write_str("Cluster without a Timestamp"),
            E::NoVideoBlock => f.write_str("first Cluster has no video block"),
            E::Header(e) => f.write_str(e),
            E::BadInfo(e) => write!(f, "malformed Info: {e}"),
            E::BadScale(e) => write!(f, "bad TimestampScale: {e}"),
            E::NoTrackEntry => f.write_str("Tracks has no TrackEntry"),
            E::BadBlockTrack(e) => write!(f, "bad block track number: {e}"),
            E::ShortBlock => f.write_str("block shorter than its header"),
            E::UnreadableBlock => f.write_str("unreadable block header"),
            E::AfterEnd => f.write_str("data after the end of the Segment"),
            E::HeaderTooLong => f.write_str("element header too long"),
            E::Internal(what) => write!(f, "internal: {what}"),
        }
    }
}

impl std::error::Error for WalkError {}

/// An element's name for error messages.
fn name(id: u32) -> String {
    let known = match id {
        ids::EBML => "EBML header",
        ids::SEGMENT => "Segment",
        ids::CLUSTER => "Cluster",
        ids::TRACKS => "Tracks",
        ids::INFO => "Info",
        ids::SIMPLE_BLOCK => "SimpleBlock",
        ids::BLOCK_GROUP => "BlockGroup",
        ids::BLOCK => "Block",
        _ => return format!("element {id:#X}"),
    };
    known.to_string()
}
