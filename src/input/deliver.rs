//! From segmenter events to input events: timestamps moved onto the output
//! timeline by continuity, and, when pacing, each block released when the
//! wall clock reaches its decode time, so that live viewers get frames as
//! a player would use them rather than a whole cluster at its start.

use std::sync::Arc;

use super::pacer::{Clock, Pacer};
use super::stats::{InputState, InputStats};
use super::InputEvent;
use crate::continuity::{Continuity, HeaderChange, Started};
use crate::matroska::header::StreamHeader;
use crate::segmenter::{Event, LiveBlock, LiveCluster};
use crate::time::{Nanos, Ticks};

/// Hands segmenter events on as input events, shifted and paced.
pub(super) struct Delivery<C> {
    continuity: Continuity,
    /// `None` when not pacing.
    pacer: Option<Pacer<C>>,
    /// Hold a cluster's blocks until it is complete before releasing the
    /// first: for a regular file, whose reads never wait, this costs no
    /// latency and makes every block's decode-time estimate exact.
    read_ahead: bool,
    stats: Arc<InputStats>,
    /// The served cluster being delivered.
    open: Option<Open>,
}

/// A served cluster between its start and its end.
struct Open {
    started: Started,
    /// Restart (if any) and ClusterStart have gone out.
    announced: bool,
    /// Blocks received (shifted) and not yet released, in order.
    pending: Vec<LiveBlock>,
    /// Release time of the latest block released: estimates of later
    /// blocks never go before it.
    floor: Option<Nanos>,
}

impl<C: Clock> Delivery<C> {
    /// A delivery pacing with `pacer` (none: as fast as the input goes),
    /// holding whole clusters before release when `read_ahead`.
    pub(super) fn new(pacer: Option<Pacer<C>>, read_ahead: bool, stats: Arc<InputStats>) -> Self {
        Delivery {
            continuity: Continuity::new(),
            pacer,
            read_ahead,
            stats,
            open: None,
        }
    }

    /// The timeline so far: the stream's header and where its media ends.
    pub(super) fn continuity(&self) -> &Continuity {
        &self.continuity
    }

    /// Hands on `events` in order (when pacing, each at its time); returns
    /// the clusters completed. Without read-ahead, the blocks received are
    /// all released before returning, so that the next read can wait.
    pub(super) fn deliver<E>(
        &mut self,
        events: impl IntoIterator<Item = Event>,
        emit: &mut E,
    ) -> u64
    where
        E: FnMut(InputEvent),
    {
        let mut clusters = 0;
        for e in events {
            match e {
                Event::Header(h) => self.header(h, emit),
                Event::ClusterStart { timestamp } => self.cluster_start(timestamp, emit),
                Event::Block(b) => self.block(b),
                Event::Cluster(c) => {
                    self.cluster_end(c, emit);
                    clusters += 1;
                }
            }
        }
        if !self.read_ahead {
            self.release_pending(emit);
        }
        clusters
    }

    /// The input (or one pass of it) ended: a cluster still open will not
    /// be completed; what it had is released.
    pub(super) fn end_pass<E: FnMut(InputEvent)>(&mut self, emit: &mut E) {
        if self.open.is_some() {
            log::warn!("input: a cluster was started but never completed");
            self.release_pending(emit);
            self.open = None;
        }
    }

    /// Drops the open cluster's unreleased blocks (a publisher closed for
    /// holding too much): what went out stays, the rest is not sent.
    pub(super) fn abandon(&mut self) {
        self.open = None;
    }

    /// When pacing, waits until the media sent so far has played out: the
    /// input counts as ended then.
    pub(super) fn wait_end(&mut self) {
        if let Some(end) = self.continuity.end() {
            self.wait(end);
        }
    }

    fn header<E: FnMut(InputEvent)>(&mut self, h: Arc<StreamHeader>, emit: &mut E) {
        self.end_pass(emit);
        if self.continuity.header(h.clone()) == HeaderChange::New {
            log::info!(
                "stream: {} ({}, {} header bytes)",
                h.describe_tracks(),
                h.doc_type,
                h.bytes.len()
            );
            emit(InputEvent::Header(h));
        }
    }

    fn cluster_start<E: FnMut(InputEvent)>(&mut self, timestamp: Ticks, emit: &mut E) {
        self.end_pass(emit);
        self.open = Some(Open {
            started: self.continuity.cluster_start(timestamp),
            announced: false,
            pending: Vec::new(),
            floor: None,
        });
    }

    fn block(&mut self, b: LiveBlock) {
        match &mut self.open {
            Some(open) => open.pending.push(self.continuity.block(b)),
            None => log::warn!("input: a block outside any cluster, dropped"),
        }
    }

    /// The open cluster is complete (or, from a segmenter that does not
    /// forward blocks, starts and ends at once): its remaining blocks go
    /// out, then the cluster. A cluster without blocks goes out at its
    /// start, as a whole.
    fn cluster_end<E: FnMut(InputEvent)>(&mut self, c: LiveCluster, emit: &mut E) {
        if self.open.is_none() {
            self.cluster_start(c.timestamp, emit);
        }
        self.release_pending(emit);
        let c = self.continuity.cluster_end(c);
        let Some(open) = self.open.take() else {
            return;
        };
        if !open.announced {
            self.wait(open.started.start);
            announce(&open.started, emit);
        }
        emit(InputEvent::ClusterEnd(c));
    }

    /// Releases every pending block of the open cluster, each when its
    /// decode time is due: the smallest timestamp among it and the blocks
    /// after it (of those received), never before the block released last.
    fn release_pending<E: FnMut(InputEvent)>(&mut self, emit: &mut E) {
        let Some(mut open) = self.open.take() else {
            return;
        };
        let scale = self.continuity.timestamp_scale();
        let due = decode_times(&open.pending, scale);
        for (b, due) in open.pending.drain(..).zip(due) {
            let floor = open.floor.unwrap_or(open.started.start);
            let at = due.map_or(floor, |d| open.floor.map_or(d, |f| d.max(f)));
            self.wait(at);
            open.floor = Some(at);
            if !open.announced {
                announce(&open.started, emit);
                open.announced = true;
            }
            emit(InputEvent::Block(b));
        }
        self.open = Some(open);
    }

    fn wait(&mut self, media: Nanos) {
        if let Some(pacer) = &mut self.pacer {
            self.stats.set_state(InputState::Paced);
            pacer.wait(media);
            self.stats.set_state(InputState::Reading);
        }
    }
}

/// Restart (at the first cluster after a discontinuity), then ClusterStart.
fn announce<E: FnMut(InputEvent)>(started: &Started, emit: &mut E) {
    if started.restarted {
        emit(InputEvent::Restart);
    }
    emit(InputEvent::ClusterStart {
        timestamp: started.timestamp,
        start: started.start,
    });
}

/// For each block, the smallest timestamp among it and the blocks after
/// it: with B-frames (stored in decode order) a frame must reach the
/// decoder before any later-stored frame is shown, and for frames in
/// presentation order it is the frame's own time. `None` where no readable
/// block follows (a child that is not a block, at the end).
fn decode_times(blocks: &[LiveBlock], scale: u64) -> Vec<Option<Nanos>> {
    let mut out = vec![None; blocks.len()];
    let mut min: Option<Nanos> = None;
    for (b, slot) in blocks.iter().zip(out.iter_mut()).rev() {
        if b.track.is_some() {
            let t = b.timestamp.to_nanos(scale);
            min = Some(min.map_or(t, |m| m.min(t)));
        }
        *slot = min;
    }
    out
}

#[cfg(test)]
#[path = "deliver_tests.rs"]
mod tests;
