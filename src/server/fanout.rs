//! Input events to viewers: a new header starts waiting viewers (or ends
//! those of an incompatible stream), every completed cluster is queued to
//! every viewer (a refcount each) and kept in the ring for joiners.

use std::sync::Arc;
use std::time::Instant;

use super::client::Phase;
use super::respond::release_viewer;
use super::Server;
use crate::input::InputEvent;
use crate::matroska::cluster::LiveCluster;
use crate::matroska::header::StreamHeader;
use crate::publisher::HeaderChange;
use crate::segmenter::LiveBlock;
use crate::time::{Nanos, Ticks};

impl Server {
    /// Takes every event the input thread has sent.
    pub(super) fn drain_input(&mut self) {
        while let Some(ev) = self.stream.next_event() {
            log::trace!("input event: {ev:?}");
            self.input_event(ev);
        }
    }

    fn input_event(&mut self, ev: InputEvent) {
        let now = Instant::now();
        match ev {
            InputEvent::Header(h) => self.new_header(h, now),
            InputEvent::Restart => self.restart(),
            InputEvent::ClusterStart { timestamp, start } => self.cluster_start(timestamp, start),
            InputEvent::Block(b) => self.block(&b, now),
            InputEvent::ClusterEnd(c) => self.cluster_end(c, now),
            InputEvent::End(result) => {
                self.stream.end(result);
                for key in self.conn_keys() {
                    self.finish_conn(key, now);
                }
            }
        }
    }

    /// The same tracks started again: decoding state cannot carry over, so
    /// every viewer continues at the next keyframe.
    fn restart(&mut self) {
        log::info!("input restarted with the same tracks: clients continue at the next keyframe");
        for (_, c) in self.conns.iter_mut() {
            if c.viewer {
                if let Some(q) = c.queue_mut() {
                    q.require_keyframe();
                }
            }
        }
    }

    /// A served cluster begins: viewers following the previous one start
    /// this one afresh (from its first block on).
    fn cluster_start(&mut self, timestamp: Ticks, start: Nanos) {
        self.stream.publisher.open(timestamp, start);
        for (_, c) in self.conns.iter_mut() {
            if let Some(q) = c.queue_mut() {
                q.end_open();
            }
        }
    }

    /// A block of the open cluster: queued to every viewer that follows the
    /// cluster; a viewer between clusters gets the cluster's head and its
    /// blocks so far, and so does one waiting for a join point once the
    /// cluster is known to be one. Queuing is a refcount each; the writes
    /// are scheduled (see `flush`), so joiners and requests are not kept
    /// waiting behind thousands of writes.
    fn block(&mut self, b: &LiveBlock, now: Instant) {
        let Some(open) = self.stream.publisher.add_block(b) else {
            return;
        };
        let Some(last) = open.blocks().last() else {
            return;
        };
        for (key, c) in self.conns.iter_mut() {
            if !c.viewer || c.close_when_done {
                continue;
            }
            let Some(q) = c.queue_mut() else { continue };
            let queued = if q.in_open() {
                q.push_block(last, now)
            } else if !q.needs_join() || open.join() == Some(true) {
                q.push_open(open, now)
            } else {
                false
            };
            if queued {
                self.flushes.schedule(key, c, now);
            }
        }
    }

    /// The open cluster is complete: it goes to the ring for joiners. If
    /// none of it was forwarded (it had no block, or blocks are held until
    /// clusters complete), viewers get it whole now.
    fn cluster_end(&mut self, cluster: LiveCluster, now: Instant) {
        let forwarded = self.stream.publisher.complete(cluster.clone());
        for (key, c) in self.conns.iter_mut() {
            let viewer = c.viewer && !c.close_when_done;
            let Some(q) = c.queue_mut() else { continue };
            q.end_open();
            if viewer && !forwarded && q.push_cluster(&cluster, now) {
                self.flushes.schedule(key, c, now);
            }
        }
    }

    fn new_header(&mut self, h: Arc<StreamHeader>, now: Instant) {
        let change = self.stream.set_header(h.clone());
        log::info!(
            "stream header ready: {} ({}), {} bytes",
            h.describe_tracks(),
            h.content_type(),
            h.bytes.len()
        );
        if change == HeaderChange::Incompatible {
            log::warn!("the input changed tracks: current clients end after their queued data");
            self.end_viewers(now);
        }
        // Clients that came before the stream start now.
        let waiting: Vec<(usize, bool)> = self
            .conns
            .iter()
            .filter_map(|(k, c)| match c.phase {
                Phase::Waiting { head_only } => Some((k, head_only)),
                _ => None,
            })
            .collect();
        for (key, head_only) in waiting {
            self.start_response(key, head_only, now);
        }
        if !self.stream.announced {
            self.stream.announced = true;
            let url = &self.public_url;
            log::info!(
                "streaming {} ({}) on {url} — open it in a browser, or: ffplay {url}",
                self.config.input_name,
                h.describe_tracks()
            );
        }
    }

    /// Streaming viewers get the rest of their queue, then the connection
    /// closes; their slots are free for viewers of the new stream.
    fn end_viewers(&mut self, now: Instant) {
        let keys: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.viewer)
            .map(|(k, _)| k)
            .collect();
        for key in keys {
            if let Some(c) = self.conns.get_mut(key) {
                if matches!(c.phase, Phase::Sending(_)) {
                    c.close_when_done = true;
                    release_viewer(&mut self.slots, c);
                    self.after_write(key, now);
                }
            }
        }
    }
}
