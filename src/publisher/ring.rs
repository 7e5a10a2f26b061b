//! The ring of completed clusters kept for joiners, and where a joiner's
//! burst starts: the newest keyframe cluster from which both the buffer
//! time and the burst bytes reach the live edge.

use std::collections::VecDeque;

use super::open::OpenCluster;
use crate::segmenter::LiveCluster;
use crate::time::Nanos;

/// Where a joiner starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BurstStart {
    /// At this index of the ring; everything after it follows.
    Ring(usize),
    /// At the cluster being received.
    Open,
}

/// Completed clusters, oldest first.
#[derive(Debug)]
pub struct Ring {
    clusters: VecDeque<LiveCluster>,
    bytes: usize,
    /// Media a joiner gets at least (`--buffer-ms`).
    buffer: Nanos,
    /// Bytes a joiner gets at least (`--burst-bytes`).
    burst_bytes: usize,
    /// Cap on the ring's bytes, whatever the two above ask.
    max_bytes: usize,
}

impl Ring {
    pub fn new(buffer: Nanos, burst_bytes: usize, max_bytes: usize) -> Self {
        Ring {
            clusters: VecDeque::new(),
            bytes: 0,
            buffer,
            burst_bytes,
            max_bytes,
        }
    }

    /// Changes what joiners get at least.
    pub fn set_burst(&mut self, buffer: Nanos, burst_bytes: usize) {
        self.buffer = buffer;
        self.burst_bytes = burst_bytes;
    }

    pub fn clear(&mut self) {
        self.clusters.clear();
        self.bytes = 0;
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn front(&self) -> Option<&LiveCluster> {
        self.clusters.front()
    }

    pub fn back(&self) -> Option<&LiveCluster> {
        self.clusters.back()
    }

    /// The clusters from `index` on.
    pub fn from(&self, index: usize) -> impl Iterator<Item = &LiveCluster> {
        self.clusters.iter().skip(index)
    }

    /// Adds a completed cluster, then drops what no joiner can need.
    pub fn push(&mut self, cluster: LiveCluster, open: Option<&OpenCluster>) {
        self.bytes += cluster.len();
        self.clusters.push_back(cluster);
        self.trim(open);
    }

    /// The newest keyframe cluster K (the open one included) such that the
    /// media from K to the live edge is at least the buffer time and its
    /// bytes at least the burst bytes; failing that, the oldest keyframe
    /// cluster there is. `None`: no join point at all yet.
    pub fn burst_start(&self, open: Option<&OpenCluster>) -> Option<BurstStart> {
        let open = open.filter(|o| o.started());
        let edge = open.map_or_else(
            || self.back().map_or(Nanos::ZERO, LiveCluster::end),
            |o| o.latest(),
        );
        let mut bytes = open.map_or(0, OpenCluster::len);
        let enough = |start: Nanos, bytes: usize| {
            edge.saturating_sub(start) >= self.buffer && bytes >= self.burst_bytes
        };
        let open_joins = open.is_some_and(|o| o.join() == Some(true));
        if open_joins && open.is_some_and(|o| enough(o.start(), bytes)) {
            return Some(BurstStart::Open);
        }
        let mut oldest_key = None;
        for (i, c) in self.clusters.iter().enumerate().rev() {
            bytes += c.len();
            if c.keyframe {
                if enough(c.start, bytes) {
                    return Some(BurstStart::Ring(i));
                }
                oldest_key = Some(i);
            }
        }
        match oldest_key {
            Some(i) => Some(BurstStart::Ring(i)),
            None if open_joins => Some(BurstStart::Open),
            None => None,
        }
    }

    /// Drops the clusters before where a joiner would start (they can never
    /// be a joiner's again: the start only moves forward), or, with no
    /// keyframe in the ring, those older than the buffer time; and the
    /// oldest ones while over the byte cap.
    fn trim(&mut self, open: Option<&OpenCluster>) {
        let keep_from = match self.burst_start(open) {
            Some(BurstStart::Ring(i)) => i,
            Some(BurstStart::Open) => self.clusters.len(),
            None => self.too_old_count(open),
        };
        for _ in 0..keep_from {
            self.pop_front();
        }
        while self.bytes > self.max_bytes && self.clusters.len() > 1 {
            self.pop_front();
        }
    }

    /// Clusters at the front whose start is more than the buffer time
    /// behind the newest, keeping the newest one.
    fn too_old_count(&self, open: Option<&OpenCluster>) -> usize {
        let newest = open.filter(|o| o.started()).map_or_else(
            || self.back().map_or(Nanos::ZERO, LiveCluster::end),
            |o| o.latest(),
        );
        let old = self
            .clusters
            .iter()
            .take_while(|c| newest.saturating_sub(c.start) > self.buffer)
            .count();
        old.min(self.clusters.len().saturating_sub(1))
    }

    fn pop_front(&mut self) {
        if let Some(c) = self.clusters.pop_front() {
            self.bytes -= c.len();
        }
    }
}
