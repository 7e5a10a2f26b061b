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

/// Polls `read` (a browser's video state) until readyState ≥ 3
/// (HAVE_FUTURE_DATA); returns how long it took, or the last state as an
/// error once `within` has passed.
pub fn until_future_data<S: std::fmt::Debug>(
    mut read: impl FnMut() -> Result<S, String>,
    ready_state: impl Fn(&S) -> u32,
    within: std::time::Duration,
) -> Result<std::time::Duration, String> {
    let start = std::time::Instant::now();
    loop {
        let s = read()?;
        if ready_state(&s) >= 3 {
            return Ok(start.elapsed());
        }
        if start.elapsed() > within {
            return Err(format!("readyState < 3 after {within:?}: {s:?}"));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

pub mod chromium;
pub mod firefox;
pub mod push;
