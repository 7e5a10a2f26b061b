//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io::Cursor;
use std::path::PathBuf;

use matroska_demuxer::{Frame, MatroskaFile};

/// Deterministic xorshift, so failures reproduce.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Path of a bundled fixture.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// Every bundled Matroska/WebM fixture.
pub fn all_fixtures() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
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

/// One frame as an independent demuxer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemuxedFrame {
    pub track: u64,
    pub timestamp: u64,
    pub keyframe: Option<bool>,
    pub len: usize,
}

/// Reads every frame of `bytes` with the `matroska-demuxer` crate.
pub fn demux(bytes: &[u8]) -> Result<(Vec<DemuxedFrame>, u64), String> {
    let mut mkv = MatroskaFile::open(Cursor::new(bytes)).map_err(|e| format!("open: {e}"))?;
    let scale = mkv.info().timestamp_scale().get();
    let mut frames = Vec::new();
    let mut f = Frame::default();
    loop {
        match mkv.next_frame(&mut f) {
            Ok(true) => frames.push(DemuxedFrame {
                track: f.track,
                timestamp: f.timestamp,
                keyframe: f.is_keyframe,
                len: f.data.len(),
            }),
            Ok(false) => break,
            Err(e) => return Err(format!("frame {}: {e}", frames.len())),
        }
    }
    Ok((frames, scale))
}

pub mod chromium;
pub mod firefox;
pub mod real;
pub mod server;
