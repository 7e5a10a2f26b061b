//! The push-ingest request body decoder on arbitrary bytes as a chunked
//! body, whole, byte by byte and in a chunking picked by the input's first
//! two bytes: never panics, holds no more than its caps, and the body, the
//! error and the bytes used do not depend on the chunking. See
//! `mkvcast_fuzz::check_chunked`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mkvcast_fuzz::check_chunked(data);
});
