//! Brute-force throttle for source logins: after [`MAX_FAILURES`] wrong
//! credentials from one address within [`WINDOW`], that address is refused
//! (429, `Retry-After: 60`) for [`BLOCK`] without a credential check; and
//! the log says so at most once per address per [`LOG_EVERY`], with the
//! count of the lines it held back.
//!
//! An IPv4-mapped IPv6 address counts as its IPv4 address. Other IPv6
//! addresses count by their /64: one host usually holds a whole /64, so
//! counting single addresses would give an attacker 2^64 × 9 free tries.
//! The table is bounded ([`MAX_ENTRIES`] by default): when it is full, the
//! expired entries go first, then the least recently failing ones (those
//! not blocked before those that are), an eighth of the table at a time so
//! that a flood of new addresses costs amortised constant time each.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

/// Failures within [`WINDOW`] that start a block.
pub(crate) const MAX_FAILURES: usize = 10;
/// How far back failures are counted.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
/// How long a block lasts; what `Retry-After` says.
pub(crate) const BLOCK: Duration = Duration::from_secs(60);
/// At most one log line per address this often.
pub(crate) const LOG_EVERY: Duration = Duration::from_secs(10);
/// Addresses remembered at most, by default (some hundred kilobytes).
pub(crate) const MAX_ENTRIES: usize = 4096;

/// What the throttle counts by: an IPv4 address, or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    V4(Ipv4Addr),
    V6Net(u64),
}

impl Key {
    fn of(ip: IpAddr) -> Key {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Key::V4(v4),
            IpAddr::V6(v6) => Key::V6Net((u128::from(v6) >> 64) as u64),
        }
    }
}

#[derive(Debug)]
struct Entry {
    /// Failure times within the window, oldest first, at most
    /// `MAX_FAILURES` (cleared when a block starts).
    recent: VecDeque<Instant>,
    blocked_until: Option<Instant>,
    logged_at: Option<Instant>,
    /// Failures not logged since `logged_at`.
    suppressed: u32,
    /// The latest failure.
    last: Instant,
}

impl Entry {
    fn new(now: Instant) -> Entry {
        Entry {
            recent: VecDeque::with_capacity(MAX_FAILURES),
            blocked_until: None,
            logged_at: None,
            suppressed: 0,
            last: now,
        }
    }

    fn blocked(&self, now: Instant) -> bool {
        self.blocked_until.is_some_and(|until| now < until)
    }

    /// Nothing left to remember: no block, no failure in the window (and
    /// so no log line within `LOG_EVERY`, which is shorter).
    fn expired(&self, now: Instant) -> bool {
        !self.blocked(now) && now.saturating_duration_since(self.last) >= WINDOW
    }
}

/// What one failure leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub(crate) struct Failure {
    /// Log this failure now, saying this many earlier ones were not
    /// logged; `None`: do not log it.
    pub log: Option<u32>,
    /// This failure started a block (worth a log line of its own).
    pub blocked: bool,
}

/// Failed source logins per address; see the module docs.
#[derive(Debug)]
pub(crate) struct Throttle {
    entries: HashMap<Key, Entry>,
    cap: usize,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::with_capacity(MAX_ENTRIES)
    }
}

impl Throttle {
    /// A throttle remembering at most `cap` addresses (at least 1).
    pub(crate) fn with_capacity(cap: usize) -> Self {
        Throttle {
            entries: HashMap::new(),
            cap: cap.max(1),
        }
    }

    /// Whether `ip` is to get 429 now, without a credential check.
    pub(crate) fn blocked(&self, ip: IpAddr, now: Instant) -> bool {
        self.entries
            .get(&Key::of(ip))
            .is_some_and(|e| e.blocked(now))
    }

    /// Counts wrong credentials from `ip` at `now`.
    pub(crate) fn failed(&mut self, ip: IpAddr, now: Instant) -> Failure {
        let key = Key::of(ip);
        if !self.entries.contains_key(&key) && self.entries.len() >= self.cap {
            self.make_room(now);
        }
        let entry = self.entries.entry(key).or_insert_with(|| Entry::new(now));
        entry.last = now;
        while entry
            .recent
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= WINDOW)
        {
            entry.recent.pop_front();
        }
        entry.recent.push_back(now);
        let blocked = entry.recent.len() >= MAX_FAILURES;
        if blocked {
            entry.blocked_until = Some(now + BLOCK);
            entry.recent.clear();
        }
        let due = entry
            .logged_at
            .is_none_or(|t| now.saturating_duration_since(t) >= LOG_EVERY);
        let log = if due {
            entry.logged_at = Some(now);
            Some(std::mem::take(&mut entry.suppressed))
        } else {
            entry.suppressed = entry.suppressed.saturating_add(1);
            None
        };
        Failure { log, blocked }
    }

    /// Addresses remembered now (for the status page and tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Drops the expired entries, then the least recently failing ones
    /// (unblocked first) until an eighth of the table is free.
    fn make_room(&mut self, now: Instant) {
        self.entries.retain(|_, e| !e.expired(now));
        let target = self.cap - (self.cap / 8).max(1);
        let excess = self.entries.len().saturating_sub(target);
        if excess == 0 {
            return;
        }
        let mut ages: Vec<((bool, Instant), Key)> = self
            .entries
            .iter()
            .map(|(k, e)| ((e.blocked(now), e.last), *k))
            .collect();
        ages.select_nth_unstable_by_key(excess - 1, |a| a.0);
        for (_, key) in ages.iter().take(excess) {
            self.entries.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(t0: Instant, s: u64) -> Instant {
        t0 + Duration::from_secs(s)
    }

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn tenth_failure_within_a_minute_blocks_for_a_minute() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        let ip = v4("192.0.2.7");
        for i in 0..9 {
            let f = t.failed(ip, secs(t0, i * 5));
            assert!(!f.blocked, "failure {i}");
            assert!(!t.blocked(ip, secs(t0, i * 5)));
        }
        let f = t.failed(ip, secs(t0, 50));
        assert!(f.blocked);
        assert!(t.blocked(ip, secs(t0, 50)));
        assert!(t.blocked(ip, secs(t0, 109)));
        assert!(!t.blocked(ip, secs(t0, 110)));
        // Another address is not affected.
        assert!(!t.blocked(v4("192.0.2.8"), secs(t0, 60)));
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        let ip = v4("198.51.100.1");
        // Nine at 0..9 s, then nine at 60..69 s: never ten within 60 s.
        for s in (0..9).chain(60..69) {
            assert!(!t.failed(ip, secs(t0, s)).blocked, "at {s} s");
        }
        assert!(!t.blocked(ip, secs(t0, 69)));
        // The tenth within 60 s of the ninth-latest does block.
        assert!(t.failed(ip, secs(t0, 69)).blocked);
    }

    #[test]
    fn after_a_block_counting_starts_again() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        let ip = v4("203.0.113.9");
        for _ in 0..10 {
            let _ = t.failed(ip, t0);
        }
        assert!(t.blocked(ip, t0));
        for s in 60..69 {
            assert!(!t.failed(ip, secs(t0, s)).blocked);
        }
        assert!(t.failed(ip, secs(t0, 69)).blocked);
    }

    #[test]
    fn log_once_per_ten_seconds_with_the_suppressed_count() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        let ip = v4("192.0.2.1");
        let logs: Vec<Option<u32>> = [0, 1, 2, 9, 10, 11, 25]
            .iter()
            .map(|&s| t.failed(ip, secs(t0, s)).log)
            .collect();
        assert_eq!(
            logs,
            [Some(0), None, None, None, Some(3), None, Some(1)],
            "seconds 0, 1, 2, 9, 10, 11, 25"
        );
        // Each address has its own budget.
        assert_eq!(t.failed(v4("192.0.2.2"), secs(t0, 11)).log, Some(0));
    }

    #[test]
    fn mapped_ipv6_counts_as_its_ipv4() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        let mapped: IpAddr = "::ffff:192.0.2.5".parse().unwrap();
        for _ in 0..5 {
            let _ = t.failed(mapped, t0);
        }
        for _ in 0..5 {
            let _ = t.failed(v4("192.0.2.5"), t0);
        }
        assert_eq!(t.len(), 1);
        assert!(t.blocked(v4("192.0.2.5"), t0));
        assert!(t.blocked(mapped, t0));
    }

    #[test]
    fn ipv6_counts_by_slash_64() {
        let t0 = Instant::now();
        let mut t = Throttle::default();
        for i in 0..10u16 {
            let ip: IpAddr = format!("2001:db8:1:2:{i:x}::1").parse().unwrap();
            let _ = t.failed(ip, t0);
        }
        assert_eq!(t.len(), 1);
        assert!(t.blocked("2001:db8:1:2:ffff::".parse().unwrap(), t0));
        assert!(!t.blocked("2001:db8:1:3::1".parse().unwrap(), t0));
    }

    #[test]
    fn rotating_addresses_stay_within_the_cap() {
        let t0 = Instant::now();
        let mut t = Throttle::with_capacity(64);
        let blocked = v4("10.9.9.9");
        for _ in 0..10 {
            let _ = t.failed(blocked, t0);
        }
        for i in 0..10_000u32 {
            let ip = IpAddr::V6((u128::from(i) << 64 | 0x2001_0db8 << 96).into());
            let _ = t.failed(ip, t0 + Duration::from_millis(u64::from(i)));
            assert!(t.len() <= 64, "{} entries after {i}", t.len());
        }
        // Unblocked entries were evicted before the blocked one.
        assert!(t.blocked(blocked, secs(t0, 10)));
        // The newest address is remembered.
        let newest = IpAddr::V6((9_999u128 << 64 | 0x2001_0db8 << 96).into());
        assert_eq!(t.failed(newest, secs(t0, 11)).log, None);
    }

    #[test]
    fn expired_entries_are_pruned_first() {
        let t0 = Instant::now();
        let mut t = Throttle::with_capacity(8);
        for i in 0..8u8 {
            let _ = t.failed(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)), t0);
        }
        assert_eq!(t.len(), 8);
        let _ = t.failed(v4("10.0.1.0"), secs(t0, 60));
        assert_eq!(t.len(), 1);
    }
}
