//! The Matroska → fMP4 remux on whatever the segmenter makes of arbitrary
//! bytes: never panics, and every fragment passes the structural check.
//! See `mkvcast_fuzz::check_remux`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mkvcast_fuzz::check_remux(data);
});
