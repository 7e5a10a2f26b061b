//! The `remux` target: arbitrary bytes segmented, whatever header and
//! clusters come out remuxed to fragmented MP4; never panics, and every
//! fragment passes the structural check.

use crate::fmp4::{check_fmp4, remux_stream};

/// Segments per second of input time the cut aims at (short, for many
/// segment boundaries from small inputs).
const SEGMENT_NS: u64 = 200_000_000;

/// The `remux` target. Panics (an assertion) only on a real bug.
pub fn check_remux(data: &[u8]) {
    let chunk = data.first().map_or(1, |&b| usize::from(b) * 7 + 1);
    let Ok(Some(remuxed)) = remux_stream(data, chunk, SEGMENT_NS) else {
        return;
    };
    let fragments = remuxed.fragments();
    if let Err(e) = check_fmp4(&remuxed.init, &fragments) {
        panic!("remux output fails the structural check: {e}");
    }
}
