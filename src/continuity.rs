//! Continuous output timestamps across input discontinuities: `--loop`
//! passes, `http://` reconnects, encoder restarts and backward jumps.
//!
//! The input's timeline starts over at each of these; clients must not see
//! that. Every cluster is moved by one offset for the whole stream (so
//! tracks stay in sync), chosen at each discontinuity so that the stream
//! goes on right after what was already sent.

use std::sync::Arc;

use crate::matroska::cluster::LiveCluster;
use crate::matroska::header::StreamHeader;
use crate::time::{Nanos, Ticks};

/// What a header from the input means for the clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderChange {
    /// The first header, or different tracks: a new stream starts over.
    New,
    /// The same tracks again (loop, reconnect, encoder restart): clients go
    /// on; the next cluster starts a new pass.
    SameTracks,
}

/// A cluster moved onto the output timeline.
#[derive(Debug, Clone)]
pub struct Placed {
    pub cluster: LiveCluster,
    /// The first cluster after a discontinuity: clients go on at the next
    /// keyframe.
    pub restarted: bool,
}

/// Keeps output timestamps continuous by shifting cluster timestamps.
#[derive(Debug, Default)]
pub struct Continuity {
    header: Option<Arc<StreamHeader>>,
    /// Shift applied to cluster timestamps, in ticks.
    offset: i128,
    /// Recompute the shift at the next cluster.
    rebase: bool,
    last_ts: Option<Ticks>,
    last_end: Nanos,
}

impl Continuity {
    pub fn new() -> Continuity {
        Continuity::default()
    }

    /// The header of the current stream, once there is one.
    pub fn stream_header(&self) -> Option<&Arc<StreamHeader>> {
        self.header.as_ref()
    }

    /// Takes a header from the input. Different tracks start everything
    /// over; the same tracks mark a discontinuity.
    pub fn header(&mut self, header: Arc<StreamHeader>) -> HeaderChange {
        if self.header.as_ref().is_some_and(|h| h.same_tracks(&header)) {
            self.rebase = true;
            self.header = Some(header);
            return HeaderChange::SameTracks;
        }
        *self = Continuity {
            header: Some(header),
            ..Default::default()
        };
        HeaderChange::New
    }

    /// Marks a discontinuity without a new header: the next cluster is
    /// placed after everything sent so far.
    pub fn restart(&mut self) {
        self.rebase = true;
    }

    /// Moves `cluster` onto the output timeline.
    pub fn place(&mut self, cluster: LiveCluster) -> Placed {
        let scale = self
            .header
            .as_ref()
            .map_or(1_000_000, |h| h.timestamp_scale)
            .max(1);
        let shifted = self.offset + i128::from(cluster.timestamp.0);
        let went_back = self
            .last_ts
            .is_some_and(|last| shifted <= i128::from(last.0));
        let restarted = self.rebase || went_back;
        if restarted {
            if let Some(last) = self.last_ts {
                // Continue right after the end of the last cluster.
                let next = i128::from(Ticks::ceil_from(self.last_end, scale).0);
                let next = next.max(i128::from(last.0) + 1);
                self.offset = next - i128::from(cluster.timestamp.0);
            }
            self.rebase = false;
        }
        let ts = u64::try_from(self.offset + i128::from(cluster.timestamp.0)).unwrap_or(0);
        let cluster = if ts == cluster.timestamp.0 {
            cluster
        } else {
            cluster.with_timestamp(Ticks(ts), scale)
        };
        self.last_ts = Some(cluster.timestamp);
        self.last_end = cluster.end();
        Placed { cluster, restarted }
    }

    /// Where the media sent so far ends, once a cluster was placed.
    pub fn end(&self) -> Option<Nanos> {
        self.last_ts.map(|_| self.last_end)
    }
}
