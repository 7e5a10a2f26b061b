//! When a viewer with newly queued data is written: no later than the
//! flush interval after its oldest unwritten data arrived, and no more
//! often than once per interval. Forwarding blocks one by one would
//! otherwise cost a write call per block per viewer (80 blocks a second is
//! 80 writes); at `--flush-ms 0` every block is written at once.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use super::client::Conn;

/// Viewers due for a write, soonest first.
#[derive(Debug)]
pub(super) struct FlushQueue {
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
}

impl FlushQueue {
    pub(super) fn new() -> Self {
        FlushQueue {
            heap: BinaryHeap::new(),
        }
    }

    /// Data was queued for `conn` (slab key `key`): schedule its write
    /// `interval` after its last one, unless one is scheduled already or
    /// the socket is full (a writable event then writes it).
    pub(super) fn schedule(
        &mut self,
        key: usize,
        conn: &mut Conn,
        interval: Duration,
        now: Instant,
    ) {
        if conn.flush_due.is_some() || !conn.writable {
            return;
        }
        let due = match conn.last_write {
            Some(w) if !interval.is_zero() => now.max(w + interval),
            _ => now,
        };
        conn.flush_due = Some(due);
        self.heap.push(Reverse((due, key)));
    }

    /// When the next write is due.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// The key of a connection whose write is due by `now`. Entries of
    /// connections closed since (or reused keys) are the caller's to skip:
    /// it checks the connection's own `flush_due`.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<usize> {
        match self.heap.peek() {
            Some(Reverse((t, _))) if *t <= now => self.heap.pop().map(|Reverse((_, k))| k),
            _ => None,
        }
    }
}
