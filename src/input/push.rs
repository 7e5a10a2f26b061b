//! A pushed stream: bytes an encoder sends to an ingest mount, segmented
//! on the event loop as they arrive (the encoder is live, so nothing is
//! paced and nothing waits). One `PushInput` lives as long as its mount:
//! each publisher's bytes are one pass, and continuity carries over from
//! one publisher to the next, so viewers who stay see timestamps go on.

use std::sync::Arc;

use super::deliver::Delivery;
use super::pacer::WallClock;
use super::stats::InputStats;
use super::InputEvent;
use crate::segmenter::{Event, Segmenter, SegmenterError, SegmenterOptions};

/// The segmenter and timeline of one ingest mount.
pub struct PushInput {
    segmenter: Segmenter,
    delivery: Delivery<WallClock>,
    events: Vec<Event>,
    stats: Arc<InputStats>,
    options: SegmenterOptions,
}

impl PushInput {
    /// A mount's push input; `stats` counts the bytes of every publisher.
    pub fn new(options: SegmenterOptions, stats: Arc<InputStats>) -> Self {
        PushInput {
            segmenter: Segmenter::with_options(options),
            delivery: Delivery::new(None, false, stats.clone()),
            events: Vec::new(),
            stats,
            options,
        }
    }

    /// Segments the next body bytes of the current publisher; the events
    /// they complete are appended to `out`.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<InputEvent>) -> Result<(), SegmenterError> {
        self.stats.add_bytes(data.len());
        let fed = self.segmenter.feed(data, &mut self.events);
        self.deliver(out);
        fed
    }

    /// The current publisher is gone (its body ended or its connection
    /// dropped): what it completed goes out, a cluster it was sending
    /// ends with the blocks that arrived, and the next publisher starts a
    /// new pass (a header with the same tracks continues the timeline).
    pub fn end_publisher(&mut self, out: &mut Vec<InputEvent>) {
        if let Err(e) = self.segmenter.finish(&mut self.events) {
            log::debug!("push input ended: {e}");
        }
        self.deliver(out);
        self.delivery.end_pass(&mut |e| out.push(e));
        // A fresh segmenter: the next publisher may start anywhere.
        self.segmenter = Segmenter::with_options(self.options);
    }

    /// The current publisher is dropped for holding too much: the element
    /// and cluster it was sending are discarded, not delivered.
    pub fn abandon_publisher(&mut self) {
        self.delivery.abandon();
        self.segmenter = Segmenter::with_options(self.options);
    }

    /// Input bytes the segmenter holds (at most the element being read).
    pub fn buffered(&self) -> usize {
        self.segmenter.buffered()
    }

    /// Whether the stream has a header (a publisher sent one).
    pub fn has_header(&self) -> bool {
        self.delivery.continuity().stream_header().is_some()
    }

    fn deliver(&mut self, out: &mut Vec<InputEvent>) {
        self.delivery
            .deliver(self.events.drain(..), &mut |e| out.push(e));
    }
}
