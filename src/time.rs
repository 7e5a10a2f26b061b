//! The two time units of a Matroska stream, kept apart by type.
//!
//! Block and Cluster timestamps are counted in TimestampScale ticks (1 ms by
//! default, any number of nanoseconds in general); durations from the
//! header and everything the wall clock is compared with are nanoseconds.
//! Mixing the two is the classic bug of a Matroska reader, so neither is a
//! bare `u64` where it crosses a module boundary (as in Symphonia's reader).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fmt;
use std::time::Duration;

/// A timestamp in TimestampScale ticks, as stored in the stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticks(pub u64);

/// A time or duration in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nanos(pub u64);

impl Ticks {
    /// This many ticks of `scale` nanoseconds each (saturating: a stream
    /// cannot hold a time past `u64::MAX` ns, some 584 years).
    pub fn to_nanos(self, scale: u64) -> Nanos {
        Nanos(self.0.saturating_mul(scale))
    }

    /// The first tick at or after `ns` (rounding up, so that a timestamp
    /// derived from an end time never lands before it).
    pub fn ceil_from(ns: Nanos, scale: u64) -> Ticks {
        let scale = scale.max(1);
        Ticks(ns.0 / scale + u64::from(!ns.0.is_multiple_of(scale)))
    }
}

impl Nanos {
    /// No time at all.
    pub const ZERO: Nanos = Nanos(0);

    /// `ms` milliseconds (saturating).
    pub fn from_millis(ms: u64) -> Nanos {
        Nanos(ms.saturating_mul(1_000_000))
    }

    /// The sum, at most `u64::MAX` ns.
    pub fn saturating_add(self, other: Nanos) -> Nanos {
        Nanos(self.0.saturating_add(other.0))
    }

    /// The difference, at least zero.
    pub fn saturating_sub(self, other: Nanos) -> Nanos {
        Nanos(self.0.saturating_sub(other.0))
    }

    /// In seconds, for logs and status pages.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// As a [`Duration`], to compare with the wall clock.
    pub fn as_duration(self) -> Duration {
        Duration::from_nanos(self.0)
    }
}

impl fmt::Display for Ticks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ticks", self.0)
    }
}

impl fmt::Display for Nanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3} s", self.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(Ticks(1500).to_nanos(1_000_000), Nanos(1_500_000_000));
        assert_eq!(Ticks(u64::MAX).to_nanos(2), Nanos(u64::MAX));
        assert_eq!(Ticks::ceil_from(Nanos(1_000_001), 1_000_000), Ticks(2));
        assert_eq!(Ticks::ceil_from(Nanos(2_000_000), 1_000_000), Ticks(2));
        assert_eq!(Ticks::ceil_from(Nanos(5), 0), Ticks(5));
        assert_eq!(Nanos::from_millis(3), Nanos(3_000_000));
        assert_eq!(Nanos(5).saturating_sub(Nanos(7)), Nanos::ZERO);
    }
}
