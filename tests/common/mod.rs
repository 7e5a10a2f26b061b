//! Test-only glue that the other crates do not need: an independent
//! demuxer's view of a stream and the browser driver. What the tests share
//! with the load tool and the fuzz targets (fixtures, RNG, HTTP client,
//! process runner, validators) is in `mkvcast_testkit`.
#![allow(dead_code)]

use std::io::Cursor;

use matroska_demuxer::{Frame, MatroskaFile};

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
