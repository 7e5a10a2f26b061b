//! Pacing: publish each cluster when the wall clock reaches its media
//! time, as a player would, without bursting after a slow input.

use std::thread;
use std::time::{Duration, Instant};

use crate::time::Nanos;

/// A forward jump in media time larger than this re-anchors the clock
/// instead of pausing publication for that long.
const MAX_FORWARD_JUMP: Nanos = Nanos(5_000_000_000);
/// Lateness beyond which the clock re-anchors instead of bursting.
const LATE_TOLERANCE: Duration = Duration::from_millis(50);

/// Publishes clusters when the wall clock reaches their media time.
#[derive(Debug, Default)]
pub(super) struct Pacer {
    /// Wall-clock instant at which the media time `.1` was due.
    anchor: Option<(Instant, Nanos)>,
    last: Nanos,
}

impl Pacer {
    /// Waits until `media` is due.
    pub(super) fn wait(&mut self, media: Nanos) {
        let now = Instant::now();
        let (at, base) = match self.anchor {
            Some((at, base))
                if media >= base && media <= self.last.saturating_add(MAX_FORWARD_JUMP) =>
            {
                (at, base)
            }
            _ => {
                // First cluster, a step back, or a big jump: re-anchor.
                self.anchor = Some((now, media));
                (now, media)
            }
        };
        self.last = media;
        let due = at + media.saturating_sub(base).as_duration();
        if due > now {
            thread::sleep(due - now);
        } else if now - due > LATE_TOLERANCE {
            // The input is slower than real time: never burst to catch up.
            self.anchor = Some((now, media));
        }
    }
}
