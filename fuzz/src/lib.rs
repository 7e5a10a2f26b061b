//! The fuzz targets' checks live in the test kit
//! (`testkit/src/fuzz.rs`), so that `tests/fuzz_regressions.rs` replays the
//! corpus through the very same code on stable Rust without libFuzzer.
//! This crate only hands them to `fuzz_targets/`.

pub use mkvcast_testkit::fuzz::*;
