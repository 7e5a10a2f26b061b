//! EBML primitives and the pure Matroska parsers on arbitrary bytes: element
//! headers, vints, uint/float/string payloads, `ebml::children` walked
//! recursively, header element parsers and `segment_cluster`. Must never
//! panic; see `mkvcast_fuzz::check_ebml` for the invariants.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mkvcast_fuzz::check_ebml(data);
});
