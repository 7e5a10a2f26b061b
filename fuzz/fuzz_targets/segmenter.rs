//! The incremental segmenter on arbitrary bytes in a chunking picked by the
//! input's first two bytes: never panics, memory stays bounded, and the
//! output does not depend on the chunking. See
//! `mkvcast_fuzz::check_segmenter`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mkvcast_fuzz::check_segmenter(data);
});
