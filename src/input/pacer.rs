//! Pacing: release each block when the wall clock reaches its media time,
//! as a player would, without bursting after a slow input.

use std::thread;
use std::time::{Duration, Instant};

use crate::time::Nanos;

/// A forward jump in media time larger than this re-anchors the clock
/// instead of pausing publication for that long.
const MAX_FORWARD_JUMP: Nanos = Nanos(5_000_000_000);
/// Lateness beyond which the clock re-anchors instead of bursting.
const LATE_TOLERANCE: Duration = Duration::from_millis(50);

/// Where the pacer reads the time and waits: the wall clock when serving,
/// a fake one in the tests, so that they check release times exactly and
/// never sleep.
pub(super) trait Clock {
    /// The current instant.
    fn now(&self) -> Instant;
    /// Waits `d`.
    fn sleep(&mut self, d: Duration);
}

/// The real clock.
#[derive(Debug, Default)]
pub(super) struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&mut self, d: Duration) {
        thread::sleep(d);
    }
}

/// Releases media when the wall clock reaches its time.
#[derive(Debug, Default)]
pub(super) struct Pacer<C = WallClock> {
    clock: C,
    /// Wall-clock instant at which the media time `.1` was due.
    anchor: Option<(Instant, Nanos)>,
    /// The latest media time released.
    last: Nanos,
}

impl<C: Clock> Pacer<C> {
    /// A pacer reading `clock`; the first [`wait`](Self::wait) anchors it.
    pub(super) fn new(clock: C) -> Pacer<C> {
        Pacer {
            clock,
            anchor: None,
            last: Nanos::ZERO,
        }
    }

    /// Waits until `media` is due. A time before the latest one released
    /// (but after the anchor) counts as that one: it is due at once and is
    /// no lateness, since a step back is the media's, not the input's.
    pub(super) fn wait(&mut self, media: Nanos) {
        let now = self.clock.now();
        let (at, base, media) = match self.anchor {
            Some((at, base))
                if media >= base && media <= self.last.saturating_add(MAX_FORWARD_JUMP) =>
            {
                (at, base, media.max(self.last))
            }
            _ => {
                // First release, a step back before the anchor, or a big
                // jump: re-anchor.
                self.anchor = Some((now, media));
                (now, media, media)
            }
        };
        self.last = media;
        let due = at + media.saturating_sub(base).as_duration();
        if due > now {
            self.clock.sleep(due - now);
        } else if now - due > LATE_TOLERANCE {
            // The input is slower than real time: never burst to catch up.
            self.anchor = Some((now, media));
        }
    }

    /// The clock, for a test to move on (a slow read).
    #[cfg(test)]
    pub(super) fn clock(&self) -> &C {
        &self.clock
    }
}

/// A clock for tests: time moves only when the pacer sleeps or the test
/// says so; clones share one time.
#[cfg(test)]
#[derive(Debug, Clone)]
pub(super) struct FakeClock {
    start: Instant,
    elapsed: std::rc::Rc<std::cell::Cell<Duration>>,
}

#[cfg(test)]
impl FakeClock {
    pub(super) fn new() -> FakeClock {
        FakeClock {
            start: Instant::now(),
            elapsed: Default::default(),
        }
    }

    /// Time since the clock was made.
    pub(super) fn elapsed(&self) -> Duration {
        self.elapsed.get()
    }

    /// Moves time on by `d` (the input took that long).
    pub(super) fn advance(&self, d: Duration) {
        self.elapsed.set(self.elapsed.get() + d);
    }
}

#[cfg(test)]
impl Clock for FakeClock {
    fn now(&self) -> Instant {
        self.start + self.elapsed.get()
    }

    fn sleep(&mut self, d: Duration) {
        self.advance(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Nanos {
        Nanos::from_millis(v)
    }

    /// Waits for each media time (ms) in turn; returns when each was
    /// released, in ms of the fake clock.
    fn released(pacer: &mut Pacer<FakeClock>, media_ms: &[u64]) -> Vec<u128> {
        media_ms
            .iter()
            .map(|&m| {
                pacer.wait(ms(m));
                pacer.clock().elapsed().as_millis()
            })
            .collect()
    }

    #[test]
    fn media_is_released_at_its_time_from_the_first() {
        let mut p = Pacer::new(FakeClock::new());
        assert_eq!(released(&mut p, &[1000, 1040, 1080]), [0, 40, 80]);
    }

    #[test]
    fn a_forward_jump_over_5_s_re_anchors_and_a_smaller_one_waits() {
        let mut p = Pacer::new(FakeClock::new());
        assert_eq!(released(&mut p, &[0, 4000]), [0, 4000]);
        assert_eq!(released(&mut p, &[10_000, 10_040]), [4000, 4040]);
    }

    #[test]
    fn lateness_over_50_ms_re_anchors_instead_of_bursting() {
        let mut p = Pacer::new(FakeClock::new());
        p.wait(ms(0));
        // The input took 200 ms to bring the next 40 ms of media.
        p.clock().advance(Duration::from_millis(200));
        assert_eq!(released(&mut p, &[40, 80]), [200, 240]);
        // 20 ms late is within tolerance: the anchor holds.
        p.clock().advance(Duration::from_millis(60));
        assert_eq!(released(&mut p, &[120, 160]), [300, 320]);
    }

    #[test]
    fn a_step_back_is_due_at_once_without_re_anchoring() {
        let mut p = Pacer::new(FakeClock::new());
        let got = released(&mut p, &[1000, 1100, 1033, 1133]);
        assert_eq!(got, [0, 100, 100, 133]);
        // Before the anchor: the clock starts over there.
        assert_eq!(released(&mut p, &[0, 40]), [133, 173]);
    }
}
