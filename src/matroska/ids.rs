//! Element IDs (RFC 9559), named as in the Matroska specification, with the
//! length marker bits kept as stored.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub const EBML: u32 = 0x1A45_DFA3;
pub const DOC_TYPE: u32 = 0x4282;

pub const SEGMENT: u32 = 0x1853_8067;

// Level 1, children of Segment.
pub const SEEK_HEAD: u32 = 0x114D_9B74;
pub const INFO: u32 = 0x1549_A966;
pub const TRACKS: u32 = 0x1654_AE6B;
pub const CHAPTERS: u32 = 0x1043_A770;
pub const ATTACHMENTS: u32 = 0x1941_A469;
pub const TAGS: u32 = 0x1254_C367;
pub const CUES: u32 = 0x1C53_BB6B;
pub const CLUSTER: u32 = 0x1F43_B675;

// Info.
pub const TIMESTAMP_SCALE: u32 = 0x002A_D7B1;
pub const DURATION: u32 = 0x4489;

// Tracks.
pub const TRACK_ENTRY: u32 = 0xAE;
pub const TRACK_NUMBER: u32 = 0xD7;
pub const TRACK_TYPE: u32 = 0x83;
pub const CODEC_ID: u32 = 0x86;
pub const DEFAULT_DURATION: u32 = 0x0023_E383;
pub const VIDEO: u32 = 0xE0;
pub const PIXEL_WIDTH: u32 = 0xB0;
pub const PIXEL_HEIGHT: u32 = 0xBA;
pub const AUDIO: u32 = 0xE1;
pub const SAMPLING_FREQUENCY: u32 = 0xB5;
pub const CHANNELS: u32 = 0x9F;

// Attachments.
pub const ATTACHED_FILE: u32 = 0x61A7;
pub const FILE_NAME: u32 = 0x466E;
pub const FILE_MIME_TYPE: u32 = 0x4660;
pub const FILE_DATA: u32 = 0x465C;
pub const FILE_UID: u32 = 0x46AE;

// SeekHead.
pub const SEEK: u32 = 0x4DBB;
pub const SEEK_ID: u32 = 0x53AB;
pub const SEEK_POSITION: u32 = 0x53AC;

// Cluster children.
pub const TIMESTAMP: u32 = 0xE7;
pub const SILENT_TRACKS: u32 = 0x5854;
pub const POSITION: u32 = 0xA7;
pub const PREV_SIZE: u32 = 0xAB;
pub const SIMPLE_BLOCK: u32 = 0xA3;
pub const BLOCK_GROUP: u32 = 0xA0;
pub const ENCRYPTED_BLOCK: u32 = 0xAF;

// BlockGroup children.
pub const BLOCK: u32 = 0xA1;
pub const BLOCK_DURATION: u32 = 0x9B;
pub const REFERENCE_BLOCK: u32 = 0xFB;

// Global elements, allowed anywhere.
pub const VOID: u32 = 0xEC;
pub const CRC32: u32 = 0xBF;

/// TrackType of a video track.
pub const TRACK_TYPE_VIDEO: u64 = 1;
/// TrackType of an audio track.
pub const TRACK_TYPE_AUDIO: u64 = 2;

/// Default TimestampScale: timestamps count milliseconds.
pub const DEFAULT_TIMESTAMP_SCALE: u64 = 1_000_000;

/// The specification's name of a level-1 element, for logs.
pub fn level1_name(id: u32) -> &'static str {
    match id {
        SEEK_HEAD => "SeekHead",
        INFO => "Info",
        TRACKS => "Tracks",
        CHAPTERS => "Chapters",
        ATTACHMENTS => "Attachments",
        TAGS => "Tags",
        CUES => "Cues",
        CLUSTER => "Cluster",
        _ => "element",
    }
}

/// Elements that can only be children of Segment (plus a new EBML header):
/// meeting one ends an unknown-size Cluster.
pub fn ends_cluster(id: u32) -> bool {
    matches!(
        id,
        SEEK_HEAD | INFO | TRACKS | CHAPTERS | ATTACHMENTS | TAGS | CUES | CLUSTER | EBML | SEGMENT
    )
}

/// Children a Cluster may hold; anything else inside one means damage.
pub fn is_cluster_child(id: u32) -> bool {
    matches!(
        id,
        TIMESTAMP
            | SILENT_TRACKS
            | POSITION
            | PREV_SIZE
            | SIMPLE_BLOCK
            | BLOCK_GROUP
            | ENCRYPTED_BLOCK
            | VOID
            | CRC32
    )
}
