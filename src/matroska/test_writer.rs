//! A small Matroska writer for unit tests: hand-built streams with exactly
//! the elements a test needs.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::ids;
use crate::ebml;

/// One element with a known size.
pub fn el(id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    ebml::write_id(&mut out, id);
    ebml::write_size(&mut out, body.len() as u64);
    out.extend_from_slice(body);
    out
}

/// One unsigned-integer element.
pub fn uint_el(id: u32, v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    ebml::write_uint_element(&mut out, id, v);
    out
}

/// An EBML header with this DocType.
pub fn ebml_header(doc_type: &str) -> Vec<u8> {
    el(ids::EBML, &el(ids::DOC_TYPE, doc_type.as_bytes()))
}

/// A Segment's ID with the unknown size, as live muxers write it.
pub fn segment_start() -> Vec<u8> {
    let mut out = Vec::new();
    ebml::write_id(&mut out, ids::SEGMENT);
    out.extend_from_slice(&ebml::UNKNOWN_SIZE_BYTES);
    out
}

/// Info with TimestampScale 1 ms.
pub fn info() -> Vec<u8> {
    el(ids::INFO, &uint_el(ids::TIMESTAMP_SCALE, 1_000_000))
}

/// One TrackEntry.
pub fn track(number: u64, track_type: u64, codec: &str) -> Vec<u8> {
    let body = [
        uint_el(ids::TRACK_NUMBER, number),
        uint_el(ids::TRACK_TYPE, track_type),
        el(ids::CODEC_ID, codec.as_bytes()),
    ]
    .concat();
    el(ids::TRACK_ENTRY, &body)
}

/// Tracks: VP8 video as track 1 and Opus audio as track 2.
pub fn av_tracks() -> Vec<u8> {
    el(
        ids::TRACKS,
        &[track(1, 1, "V_VP8"), track(2, 2, "A_OPUS")].concat(),
    )
}

/// Attachments holding one AttachedFile per `(name, data)`.
pub fn attachments(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, data) in files {
        let file = [
            el(ids::FILE_NAME, name.as_bytes()),
            el(ids::FILE_MIME_TYPE, b"application/octet-stream"),
            el(ids::FILE_DATA, data),
            uint_el(ids::FILE_UID, 7),
        ]
        .concat();
        body.extend_from_slice(&el(ids::ATTACHED_FILE, &file));
    }
    el(ids::ATTACHMENTS, &body)
}

/// A SimpleBlock: track, relative timestamp, keyframe flag, 3 payload bytes.
pub fn simple_block(track: u64, relative: i16, keyframe: bool) -> Vec<u8> {
    let mut b = Vec::new();
    ebml::write_size(&mut b, track);
    b.extend_from_slice(&relative.to_be_bytes());
    b.push(if keyframe { 0x80 } else { 0 });
    b.extend_from_slice(b"abc");
    el(ids::SIMPLE_BLOCK, &b)
}

/// A known-size Cluster: Timestamp, then `children`.
pub fn cluster(timestamp: u64, children: &[Vec<u8>]) -> Vec<u8> {
    let body = [vec![uint_el(ids::TIMESTAMP, timestamp)], children.to_vec()].concat();
    el(ids::CLUSTER, &body.concat())
}

/// A cluster of video track 1 starting with a keyframe, plus one audio
/// block on track 2.
pub fn av_cluster(timestamp: u64) -> Vec<u8> {
    cluster(
        timestamp,
        &[
            simple_block(1, 0, true),
            simple_block(2, 0, false),
            simple_block(1, 40, false),
        ],
    )
}

/// EBML header, Segment of unknown size, Info, Tracks: everything a live
/// stream needs before its first Cluster.
pub fn av_head() -> Vec<u8> {
    [ebml_header("webm"), segment_start(), info(), av_tracks()].concat()
}

/// The IDs of the level-1 elements of a live header (after its EBML header
/// and the Segment's ID and size).
pub fn level1_ids(header: &[u8]) -> Vec<u32> {
    let ebml_h = ebml::read_element_header(header).unwrap().unwrap();
    let mut pos = ebml_h.total_len().unwrap() as usize;
    let seg = ebml::read_element_header(&header[pos..]).unwrap().unwrap();
    assert_eq!(seg.id, ids::SEGMENT);
    pos += seg.header_len;
    let mut out = Vec::new();
    while pos < header.len() {
        let h = ebml::read_element_header(&header[pos..]).unwrap().unwrap();
        out.push(h.id);
        pos += h.total_len().unwrap() as usize;
    }
    out
}
