//! What mkvcast's integration tests, its load tool (`tools/load`) and its
//! fuzz targets (`fuzz/`) share, so that each exists once:
//!
//! - [`rng`]: the one deterministic xorshift (tests, fuzz chunkings, soak);
//! - [`stream_check`]: a viewer's stream re-read with mkvcast's own
//!   segmenter (continuity, gaps), for tests and the soak;
//! - [`walk`]: an independent, cheap EBML walk of a viewer's stream, for
//!   the load generator's tens of thousands of viewers;
//! - [`http`]: an HTTP test client (whole streams, and keep-alive
//!   connections with Content-Length and chunked bodies);
//! - [`live_writer`]: a live input written block by block in real time
//!   (synthetic numbered frames, or a fixture repacked), for stdin;
//! - [`lag`]: the delivery-lag probe, a viewer that notes when each block
//!   arrives (Clusters of unknown size included) and the lag spread;
//! - [`process`]: starting the `mkvcast` binary and finding or building the
//!   workspace's other binaries;
//! - [`real`]: gating and running real external clients (ffmpeg, ...);
//! - [`fuzz`]: the checks the fuzz targets run, replayed by the test suite;
//! - [`fmp4`]: the fragmented MP4 structural checker and remux driver;
//! - [`forwarded`]: the invariants of blocks forwarded as they arrive, and
//!   the stream a live viewer then gets.
#![forbid(unsafe_code)]

pub mod fmp4;
pub mod forwarded;
pub mod fuzz;
pub mod http;
pub mod lag;
pub mod live_writer;
pub mod process;
pub mod real;
pub mod rng;
pub mod stream_check;
pub mod walk;

use std::path::PathBuf;

pub use rng::Rng;

/// The repository's `fixtures/` directory.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures"))
}

/// Path of a bundled fixture.
pub fn fixture(name: &str) -> PathBuf {
    fixtures_dir().join(name)
}

/// Every bundled Matroska/WebM fixture.
pub fn all_fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("webm" | "mkv")))
        .collect();
    v.sort();
    assert!(
        v.len() >= 10,
        "expected the bundled fixtures, found {}",
        v.len()
    );
    v
}
