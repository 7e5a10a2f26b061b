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
            // Blocks are served with their completed cluster for now.
            InputEvent::ClusterStart { .. } | InputEvent::Block(_) => {}
            InputEvent::ClusterEnd(s) => self.publish(s),
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

    /// Queues a cluster everywhere now (cheap: a refcount each), but writes
    /// in batches between polls, so that joiners and requests are not kept
    /// waiting behind thousands of writes.
    fn publish(&mut self, s: LiveCluster) {
        for (key, c) in self.conns.iter_mut() {
            if !c.viewer || c.close_when_done {
                continue;
            }
            let Some(q) = c.queue_mut() else { continue };
            if q.push_cluster(&s) && c.writable {
                self.to_flush.push_back(key);
            }
        }
        self.stream.publisher.publish(s);
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
