//! The shared side of serving: the current stream header, the ring of
//! recent clusters for joiners, the cluster being received, and each
//! viewer's queue.
//!
//! Everything is `Bytes`: every viewer holds clones of the same memory, so
//! a cluster is stored once however many viewers are behind on it (the
//! open cluster's blocks are the live viewers' copy; the completed cluster
//! the ring's). Nothing here knows about sockets or HTTP.

mod open;
mod queue;
mod ring;

use std::sync::Arc;

use crate::matroska::header::StreamHeader;
use crate::segmenter::LiveBlock;
use crate::segmenter::LiveCluster;
use crate::time::{Nanos, Ticks};
pub use open::OpenCluster;
pub use queue::{ClientQueue, QueueLimits};
use ring::{BurstStart, Ring};

/// Hard cap on the ring buffer's bytes, whatever `--buffer-ms` says.
pub const MAX_BUFFER_BYTES: usize = 64 << 20;

/// How a new stream header relates to the one being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderChange {
    /// The first header: waiting clients can start.
    First,
    /// Same tracks (an encoder restart, a loop): clients continue at the
    /// next keyframe cluster.
    Compatible,
    /// Different tracks: current clients end after their queued data; new
    /// clients get the new header.
    Incompatible,
}

/// What a joiner gets after the stream header.
#[derive(Debug)]
pub struct Burst<'a> {
    /// Completed clusters, from a keyframe cluster on.
    pub clusters: Vec<&'a LiveCluster>,
    /// The cluster being received, if it has blocks yet.
    pub open: Option<&'a OpenCluster>,
}

/// The current stream, its recent clusters and the one being received.
#[derive(Debug)]
pub struct Publisher {
    header: Option<Arc<StreamHeader>>,
    ring: Ring,
    open: Option<OpenCluster>,
    published: u64,
}

impl Publisher {
    /// `buffer_ms` of recent media and `burst_bytes` are what a joiner gets
    /// at least (from a keyframe, within `max_bytes`).
    pub fn new(buffer_ms: u64, burst_bytes: usize, max_bytes: usize) -> Self {
        Publisher {
            header: None,
            ring: Ring::new(
                Nanos::from_millis(buffer_ms),
                burst_bytes,
                max_bytes.min(MAX_BUFFER_BYTES),
            ),
            open: None,
            published: 0,
        }
    }

    pub fn header(&self) -> Option<&Arc<StreamHeader>> {
        self.header.as_ref()
    }

    /// Clusters that began going out so far (the open one included).
    pub fn published(&self) -> u64 {
        self.published
    }

    /// Media time and bytes held for joiners (the open cluster included).
    pub fn buffered(&self) -> (Nanos, usize) {
        let first = self
            .ring
            .front()
            .map(|c| c.start)
            .or(self.open.as_ref().map(OpenCluster::start));
        let span = first.map_or(Nanos::ZERO, |f| self.media_time().saturating_sub(f));
        let open = self.open.as_ref().map_or(0, OpenCluster::len);
        (span, self.ring.bytes() + open)
    }

    /// Media time of the live edge: the newest block received.
    pub fn media_time(&self) -> Nanos {
        match self.open.as_ref().filter(|o| o.started()) {
            Some(o) => o.latest(),
            None => self.ring.back().map_or(Nanos::ZERO, LiveCluster::end),
        }
    }

    /// New join rules (a reload): joiners from now on get them.
    pub fn set_burst(&mut self, buffer_ms: u64, burst_bytes: usize) {
        self.ring
            .set_burst(Nanos::from_millis(buffer_ms), burst_bytes);
    }

    /// Forgets the cluster being received (its publisher was dropped):
    /// it never joins the ring.
    pub fn drop_open(&mut self) {
        self.open = None;
    }

    /// Bytes of the cluster being received (not in the ring yet).
    pub fn open_bytes(&self) -> usize {
        self.open.as_ref().map_or(0, OpenCluster::len)
    }

    /// Installs a new stream header.
    pub fn set_header(&mut self, header: Arc<StreamHeader>) -> HeaderChange {
        let change = match &self.header {
            None => HeaderChange::First,
            Some(old) if old.same_tracks(&header) => HeaderChange::Compatible,
            Some(_) => HeaderChange::Incompatible,
        };
        if change == HeaderChange::Incompatible {
            self.ring.clear();
        }
        self.open = None;
        self.header = Some(header);
        change
    }

    /// A served cluster begins.
    pub fn open(&mut self, timestamp: Ticks, start: Nanos) -> &OpenCluster {
        self.published += 1;
        let has_video = self
            .header
            .as_ref()
            .is_some_and(|h| h.video_track().is_some());
        self.open
            .insert(OpenCluster::new(timestamp, start, has_video))
    }

    /// A block of the open cluster arrived; `None` if no cluster is open.
    pub fn add_block(&mut self, block: &LiveBlock) -> Option<&OpenCluster> {
        let scale = self.header.as_ref().map_or(1, |h| h.timestamp_scale);
        let open = self.open.as_mut()?;
        open.push(block, block.timestamp.to_nanos(scale));
        Some(open)
    }

    /// The open cluster is complete: it joins the ring. Returns whether
    /// any of it was forwarded block by block (if not, live viewers still
    /// need the completed cluster).
    pub fn complete(&mut self, cluster: LiveCluster) -> bool {
        let forwarded = self.open.take().is_some_and(|o| o.started());
        self.ring.push(cluster, None);
        forwarded
    }

    /// What a joiner gets now, or `None` while there is no join point.
    pub fn burst(&self) -> Option<Burst<'_>> {
        let open = self.open.as_ref().filter(|o| o.started());
        match self.ring.burst_start(open)? {
            BurstStart::Open => Some(Burst {
                clusters: Vec::new(),
                open,
            }),
            BurstStart::Ring(i) => Some(Burst {
                clusters: self.ring.from(i).collect(),
                open,
            }),
        }
    }
}

#[cfg(test)]
mod tests;
