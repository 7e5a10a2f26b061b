//! Element IDs (RFC 9559), named as in the Matroska specification, with the
//! length marker bits kept as stored.

/// EBML: the EBML header, first element of every stream.
pub const EBML: u32 = 0x1A45_DFA3;
/// DocType, in the EBML header: `webm` or `matroska`.
pub const DOC_TYPE: u32 = 0x4282;

/// Segment: the root element holding everything after the EBML header.
pub const SEGMENT: u32 = 0x1853_8067;

// Level 1, children of Segment.
/// SeekHead: where other level-1 elements are (never copied live).
pub const SEEK_HEAD: u32 = 0x114D_9B74;
/// Info: TimestampScale, Duration, muxer names.
pub const INFO: u32 = 0x1549_A966;
/// Tracks: one TrackEntry per track.
pub const TRACKS: u32 = 0x1654_AE6B;
/// Chapters.
pub const CHAPTERS: u32 = 0x1043_A770;
/// Attachments: attached files (fonts, cover art).
pub const ATTACHMENTS: u32 = 0x1941_A469;
/// Tags.
pub const TAGS: u32 = 0x1254_C367;
/// Cues: the seek index (never copied live).
pub const CUES: u32 = 0x1C53_BB6B;
/// Cluster: a timestamp and the blocks that follow it.
pub const CLUSTER: u32 = 0x1F43_B675;

// Info.
/// TimestampScale: nanoseconds per timestamp tick.
pub const TIMESTAMP_SCALE: u32 = 0x002A_D7B1;
/// Duration of the file (dropped from a live Info).
pub const DURATION: u32 = 0x4489;

// Tracks.
/// TrackEntry: one track.
pub const TRACK_ENTRY: u32 = 0xAE;
/// TrackNumber: the number blocks refer to the track by.
pub const TRACK_NUMBER: u32 = 0xD7;
/// TrackType: video, audio, subtitle...
pub const TRACK_TYPE: u32 = 0x83;
/// CodecID, e.g. `V_VP8`.
pub const CODEC_ID: u32 = 0x86;
/// CodecPrivate: the decoder's setup (e.g. Vorbis headers, avcC).
pub const CODEC_PRIVATE: u32 = 0x63A2;
/// DefaultDuration: nanoseconds per frame.
pub const DEFAULT_DURATION: u32 = 0x0023_E383;
/// Video: the video settings of a TrackEntry.
pub const VIDEO: u32 = 0xE0;
/// PixelWidth, in Video.
pub const PIXEL_WIDTH: u32 = 0xB0;
/// PixelHeight, in Video.
pub const PIXEL_HEIGHT: u32 = 0xBA;
/// Audio: the audio settings of a TrackEntry.
pub const AUDIO: u32 = 0xE1;
/// SamplingFrequency, in Audio.
pub const SAMPLING_FREQUENCY: u32 = 0xB5;
/// Channels, in Audio.
pub const CHANNELS: u32 = 0x9F;

// Attachments.
/// AttachedFile: one file in Attachments.
pub const ATTACHED_FILE: u32 = 0x61A7;
// AttachedFile children: only the tests write them (the server copies
// Attachments whole or drops them).
/// FileName, in AttachedFile.
#[cfg(test)]
pub const FILE_NAME: u32 = 0x466E;
/// FileMediaType (formerly FileMimeType), in AttachedFile.
#[cfg(test)]
pub const FILE_MIME_TYPE: u32 = 0x4660;
/// FileData, in AttachedFile.
#[cfg(test)]
pub const FILE_DATA: u32 = 0x465C;
/// FileUID, in AttachedFile.
#[cfg(test)]
pub const FILE_UID: u32 = 0x46AE;

// SeekHead.
/// Seek: one entry of the SeekHead.
pub const SEEK: u32 = 0x4DBB;
/// SeekID: the ID of the element a Seek points to.
pub const SEEK_ID: u32 = 0x53AB;
/// SeekPosition: its offset from the Segment data start.
pub const SEEK_POSITION: u32 = 0x53AC;

// Cluster children.
/// Timestamp of a Cluster, in ticks.
pub const TIMESTAMP: u32 = 0xE7;
/// SilentTracks.
pub const SILENT_TRACKS: u32 = 0x5854;
/// Position of the Cluster in the Segment (dropped live: it would be wrong).
pub const POSITION: u32 = 0xA7;
/// PrevSize: size of the previous Cluster (dropped live).
pub const PREV_SIZE: u32 = 0xAB;
/// SimpleBlock: a frame with its track, relative timestamp and flags.
pub const SIMPLE_BLOCK: u32 = 0xA3;
/// BlockGroup: a Block with its duration and references.
pub const BLOCK_GROUP: u32 = 0xA0;
/// EncryptedBlock (deprecated; copied as it is).
pub const ENCRYPTED_BLOCK: u32 = 0xAF;

// BlockGroup children.
/// Block, in a BlockGroup.
pub const BLOCK: u32 = 0xA1;
/// BlockDuration, in ticks.
pub const BLOCK_DURATION: u32 = 0x9B;
/// ReferenceBlock: present unless the Block is a keyframe.
pub const REFERENCE_BLOCK: u32 = 0xFB;

// Global elements, allowed anywhere.
/// Void: padding (dropped from rewritten elements).
pub const VOID: u32 = 0xEC;
/// CRC-32 of the parent's other children (dropped from rewritten elements).
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
