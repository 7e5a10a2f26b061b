//! mkvcast: a live HTTP streaming server for Matroska/WebM.
//!
//! The data path: [`input`] reads and paces the input (a file, stdin or an
//! `http://` URL), [`segmenter`] cuts it into a stream header and served
//! clusters (with the private `ebml` reader and [`matroska`]), the private
//! `continuity` keeps timestamps going across loops and reconnects, the
//! private `publisher` keeps the recent clusters and queues them per
//! viewer, and [`server`] writes them to HTTP clients from one event loop.
//!
//! The public API is what `src/main.rs` and an embedding program use: the
//! server, its input, the segmenter and the types they hand out. The
//! parsers underneath are private; the project's own tests, fuzz targets
//! and tools reach the few they check the stream with through the hidden
//! `internals` module.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// House rule: functions stay under 60 lines (the threshold is in
// clippy.toml); CI denies the warnings.
#![warn(clippy::too_many_lines)]

/// Mount configuration: the `--config` file, `--mount`/`--ingest`, path
/// rules and what a reload changes.
pub mod config;
mod continuity;
mod ebml;
pub mod error;
pub mod input;
pub mod logging;
pub mod matroska;
mod publisher;
/// Matroska → fragmented MP4 (CMAF) remux: init and media segments from
/// the stream header and served clusters, for segmented (HLS) output.
pub mod remux;
pub mod segmenter;
pub mod server;
pub mod time;

#[cfg(test)]
mod test_fixtures;

/// For mkvcast's own tests, fuzz targets and tools only (`tests/`,
/// `testkit/`, `fuzz/`, `tools/`): the EBML primitives, element IDs and
/// element parsers they build and check streams with, and the request body
/// decoder they fuzz. Not part of the
/// public API: hidden from the docs, and it changes with the parsers, with
/// no stability promise.
#[doc(hidden)]
pub mod internals {
    /// EBML primitives: vints, element headers, payload readers, writers.
    pub mod ebml {
        pub use crate::ebml::{
            children, read_element_header, read_float, read_id, read_size, read_string, read_uint,
            vint_len, write_id, write_size, write_uint_element, Child, ChildError, ElementHeader,
            MAX_ID_LEN, MAX_SIZE_LEN, UNKNOWN_SIZE_BYTES,
        };
    }

    /// Matroska element IDs, as stored (length marker bits kept).
    pub mod ids {
        pub use crate::matroska::ids::{
            ends_cluster, is_cluster_child, ATTACHMENTS, AUDIO, BLOCK, BLOCK_DURATION, BLOCK_GROUP,
            CHANNELS, CHAPTERS, CLUSTER, CODEC_ID, CODEC_PRIVATE, CRC32, DEFAULT_DURATION,
            DEFAULT_TIMESTAMP_SCALE, DOC_TYPE, DURATION, EBML, INFO, PIXEL_HEIGHT, PIXEL_WIDTH,
            POSITION, PREV_SIZE, REFERENCE_BLOCK, SAMPLING_FREQUENCY, SEGMENT, SIMPLE_BLOCK, TAGS,
            TIMESTAMP, TIMESTAMP_SCALE, TRACKS, TRACK_ENTRY, TRACK_NUMBER, TRACK_TYPE,
            TRACK_TYPE_AUDIO, TRACK_TYPE_VIDEO, VIDEO, VOID,
        };
    }

    /// The Cluster scan: block headers and the keyframe split.
    pub mod cluster {
        pub use crate::matroska::block::read_block_header;
        pub use crate::matroska::split::{split_cluster, TrackContext};
    }

    /// The header element parsers: EBML header DocType, Info, Tracks.
    pub mod header {
        pub use crate::matroska::builder::{parse_doc_type, rewrite_info};
        pub use crate::matroska::tracks::parse_tracks;
    }

    /// The push-ingest request body decoder (length, chunked, until close).
    pub mod body {
        pub use crate::server::body::{
            BodyDecoder, BodyError, Framing, MAX_CHUNK_LINE, MAX_TRAILER_BYTES,
        };
    }
}
