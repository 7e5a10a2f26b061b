//! What the fuzz targets check, as plain functions of the input bytes.
//!
//! The libFuzzer targets in `fuzz/fuzz_targets/` call these (through
//! `fuzz/src/lib.rs`), and `tests/fuzz_regressions.rs` replays the saved
//! crash inputs and the minimised corpus through them in the normal test
//! suite, so CI checks exactly what the fuzzer checked without needing
//! libFuzzer or a nightly toolchain.

use bytes::Bytes;
use mkvcast::internals::cluster::{self, TrackContext};
use mkvcast::internals::ebml::{self, ChildError};
use mkvcast::internals::{header, ids};
use mkvcast::segmenter::LiveCluster;

mod chunked;
mod remux;
mod segmenter;

pub use chunked::{check_chunked, run_chunked, Decoded};
pub use remux::check_remux;
pub use segmenter::{
    check_segmenter, chunk_sizes, run_segmenter, run_segmenter_with, Out, Outcome,
};

/// Offsets at which the primitives are tried (each costs little).
const PRIMITIVE_OFFSETS: usize = 32;
/// Nesting depth and element count limits for the recursive children walk.
const MAX_DEPTH: usize = 6;
const MAX_VISITS: usize = 20_000;

/// The `ebml` target: EBML primitives and the pure Matroska parsers on
/// arbitrary bytes. Panics (an assertion) only on a real bug.
pub fn check_ebml(data: &[u8]) {
    for start in 0..data.len().min(PRIMITIVE_OFFSETS) {
        check_primitives_at(&data[start..]);
    }
    for n in 0..=data.len().min(9) {
        check_payloads(&data[..n]);
    }
    check_payloads(data);

    let mut visits = 0;
    walk_children(data, 0, &mut visits);

    // The header element parsers take a master element's data.
    let _ = header::parse_doc_type(data);
    check_info_rewrite(data);
    let _ = header::parse_tracks(data);
    if let Some(b) = cluster::read_block_header(data) {
        assert!(b.timestamp_offset + 3 <= data.len());
        assert!(b.timestamp_offset <= 8);
    }
    check_cluster_rewrite(data);
}

/// The live Info: exact size, and without Duration, CRC-32 or Void.
fn check_info_rewrite(data: &[u8]) {
    if let Ok((info, scale)) = header::rewrite_info(data) {
        assert!(scale > 0, "TimestampScale 0 must become the default");
        let h = ebml::read_element_header(&info)
            .expect("rewritten Info parses")
            .expect("rewritten Info is complete");
        assert_eq!(h.id, ids::INFO);
        assert_eq!(h.total_len(), Some(info.len() as u64), "Info size is exact");
        for c in ebml::children(&info[h.header_len..]) {
            let c = c.expect("rewritten Info children parse");
            assert!(
                !matches!(c.header.id, ids::DURATION | ids::CRC32 | ids::VOID),
                "rewritten Info keeps {:X}",
                c.header.id
            );
        }
    }
}

/// The cluster rewrite on the input as a Cluster body, with and without a
/// video track (so with and without splitting).
fn check_cluster_rewrite(data: &[u8]) {
    let scale = match data.first().map(|b| b % 3) {
        Some(0) => 1_000_000,
        Some(1) => 100_000,
        _ => 1_000,
    };
    let mut raw = Vec::with_capacity(data.len() + 12);
    ebml::write_id(&mut raw, ids::CLUSTER);
    ebml::write_size(&mut raw, data.len() as u64);
    let header_len = raw.len();
    raw.extend_from_slice(data);
    let raw = Bytes::from(raw);
    for video_track in [Some(1), None] {
        let ctx = TrackContext {
            timestamp_scale: scale,
            video_track,
            default_durations: [(1, 40_000_000), (2, 20_000_000)].into_iter().collect(),
        };
        for reusable in [true, false] {
            let mut out = Vec::new();
            if cluster::split_cluster(
                &raw,
                header_len,
                header_len..raw.len(),
                reusable,
                &ctx,
                &mut out,
            )
            .is_ok()
            {
                assert!(!out.is_empty(), "an accepted cluster gives a segment");
                for s in &out {
                    check_segment(s);
                }
            }
        }
    }
}

/// vints, IDs, sizes and element headers at the start of `b`.
fn check_primitives_at(b: &[u8]) {
    let Some(&first) = b.first() else { return };
    let vlen = ebml::vint_len(first);
    match vlen {
        Ok(n) => assert!((1..=8).contains(&n) && first != 0),
        Err(_) => assert_eq!(first, 0),
    }
    match ebml::read_size(b) {
        Ok(Some((value, len))) => {
            assert_eq!(Ok(len), vlen);
            assert!(len <= b.len());
            if let Some(v) = value {
                assert!(v < (1u64 << (7 * len)) - 1, "all-ones is unknown");
                let mut enc = Vec::new();
                ebml::write_size(&mut enc, v);
                assert!(enc.len() <= len, "shortest form is not longer");
                assert_eq!(ebml::read_size(&enc), Ok(Some((Some(v), enc.len()))));
            }
        }
        Ok(None) => assert!(b.len() < vlen.unwrap_or(usize::MAX)),
        Err(_) => assert!(vlen.is_err()),
    }
    match ebml::read_id(b) {
        Ok(Some((id, len))) => {
            assert!((1..=ebml::MAX_ID_LEN).contains(&len) && len <= b.len());
            let mut enc = Vec::new();
            ebml::write_id(&mut enc, id);
            assert_eq!(&enc[..], &b[..len], "ID round trip");
        }
        Ok(None) => assert!(b.len() < ebml::MAX_ID_LEN),
        Err(_) => {}
    }
    if let Ok(Some(h)) = ebml::read_element_header(b) {
        assert!(h.header_len >= 2 && h.header_len <= ebml::MAX_ID_LEN + ebml::MAX_SIZE_LEN);
        assert!(h.header_len <= b.len());
        if let (Some(size), Some(total)) = (h.size, h.total_len()) {
            assert_eq!(total, size + h.header_len as u64);
        }
    }
}

/// The typed payload readers on `d`.
fn check_payloads(d: &[u8]) {
    match ebml::read_uint(d) {
        Ok(_) => assert!(d.len() <= 8),
        Err(_) => assert!(d.len() > 8),
    }
    match ebml::read_float(d) {
        Ok(_) => assert!(matches!(d.len(), 0 | 4 | 8)),
        Err(_) => assert!(!matches!(d.len(), 0 | 4 | 8)),
    }
    if let Ok(s) = ebml::read_string(d) {
        assert!(s.len() <= d.len());
    }
}

/// Walks `data` as a master element's data, recursively; every child must
/// lie exactly inside its parent, one after another, and an error ends the
/// iteration.
fn walk_children(data: &[u8], depth: usize, visits: &mut usize) {
    let mut it = ebml::children(data);
    let mut expected_offset = 0;
    while let Some(item) = it.next() {
        *visits += 1;
        if *visits > MAX_VISITS {
            return;
        }
        match item {
            Ok(c) => {
                assert_eq!(c.offset, expected_offset, "children are contiguous");
                let data_start = c.offset + c.header.header_len;
                assert!(c.end() <= data.len(), "child inside its parent");
                assert_eq!(c.header.size, Some(c.data.len() as u64));
                assert_eq!(&data[data_start..c.end()], c.data);
                assert!(c.end() > c.offset, "progress");
                expected_offset = c.end();
                check_payloads(c.data);
                if depth < MAX_DEPTH && !c.data.is_empty() {
                    walk_children(c.data, depth + 1, visits);
                }
            }
            Err(e) => {
                assert!(matches!(
                    e,
                    ChildError::Ebml(_) | ChildError::Overrun | ChildError::UnknownSize
                ));
                assert!(it.next().is_none(), "iteration stops after an error");
                return;
            }
        }
    }
    assert_eq!(
        expected_offset,
        data.len(),
        "iteration ends at the parent's end"
    );
}

/// A served Cluster: a known size that is exactly its length, children that
/// all parse, and exactly one Timestamp, first, holding the segment's
/// timestamp.
pub fn check_segment(s: &LiveCluster) {
    let h = ebml::read_element_header(&s.bytes)
        .expect("segment header parses")
        .expect("segment header complete");
    assert_eq!(h.id, ids::CLUSTER);
    assert_eq!(
        h.total_len(),
        Some(s.bytes.len() as u64),
        "segment has a known size equal to its length"
    );
    let mut timestamps = Vec::new();
    for (n, c) in ebml::children(&s.bytes[h.header_len..]).enumerate() {
        let c = c.expect("segment children parse");
        if n == 0 {
            assert_eq!(c.header.id, ids::TIMESTAMP, "Timestamp is the first child");
        }
        assert!(
            ids::is_cluster_child(c.header.id),
            "segment child {:X}",
            c.header.id
        );
        if c.header.id == ids::TIMESTAMP {
            timestamps.push(ebml::read_uint(c.data).expect("Timestamp is a uint"));
        }
    }
    assert_eq!(timestamps, [s.timestamp.0], "one Timestamp, the segment's");
}
