//! Input events to viewers: a new header starts waiting viewers (or ends
//! those of an incompatible stream), every completed cluster is queued to
//! every viewer (a refcount each) and kept in the ring for joiners.

use std::sync::Arc;
use std::time::Instant;

use super::client::{Conn, Phase};
use super::respond::release_viewer;
use super::Server;
use crate::input::{InputEvent, InputFailure};
use crate::matroska::cluster::LiveCluster;
use crate::matroska::header::StreamHeader;
use crate::publisher::HeaderChange;
use crate::segmenter::LiveBlock;
use crate::time::{Nanos, Ticks};

impl Server {
    /// Takes every event the input threads have sent.
    pub(super) fn drain_input(&mut self) {
        for m in self.mounts.keys() {
            while let Some(ev) = self.mounts.get_mut(m).and_then(|x| x.stream.next_event()) {
                log::trace!("input event: {ev:?}");
                self.input_event(m, ev);
            }
        }
    }

    /// Hands one event of mount `m`'s input to its viewers.
    pub(super) fn input_event(&mut self, m: usize, ev: InputEvent) {
        let now = Instant::now();
        match ev {
            InputEvent::Header(h) => self.new_header(m, h, now),
            InputEvent::Restart => self.restart(m),
            InputEvent::ClusterStart { timestamp, start } => {
                self.cluster_start(m, timestamp, start)
            }
            InputEvent::Block(b) => self.block(m, &b, now),
            InputEvent::ClusterEnd(c) => self.cluster_end(m, c, now),
            InputEvent::End(result) => self.input_ended(m, result, now),
        }
    }

    /// Mount `m`'s input ended: its viewers get what is queued, then the
    /// connection closes; new viewers get 503.
    fn input_ended(&mut self, m: usize, result: Result<(), InputFailure>, now: Instant) {
        let single = self.mounts.is_single();
        let Some(mount) = self.mounts.get_mut(m) else {
            return;
        };
        if !single {
            match &result {
                Ok(()) => log::info!(
                    "{}: input ended; new viewers get 503 until a reload",
                    mount.path
                ),
                Err(e) => log::warn!("{}: {e}; new viewers get 503 until a reload", mount.path),
            }
        }
        mount.stream.end(result);
        self.control.set_ended(&mount.path, true);
        for key in mount.viewers.clone() {
            self.finish_conn(key, now);
        }
    }

    /// The same tracks started again: decoding state cannot carry over, so
    /// every viewer continues at the next keyframe.
    fn restart(&mut self, m: usize) {
        let Some(mount) = self.mounts.get(m) else {
            return;
        };
        log::info!(
            "{}: input restarted with the same tracks: viewers continue at the next keyframe",
            mount.path
        );
        for &key in &mount.viewers {
            if let Some(q) = self.conns.get_mut(key).and_then(Conn::queue_mut) {
                q.require_keyframe();
            }
        }
    }

    /// A served cluster begins: viewers following the previous one start
    /// this one afresh (from its first block on).
    fn cluster_start(&mut self, m: usize, timestamp: Ticks, start: Nanos) {
        let Some(mount) = self.mounts.get_mut(m) else {
            return;
        };
        mount.stream.publisher.open(timestamp, start);
        for &key in &mount.viewers {
            if let Some(q) = self.conns.get_mut(key).and_then(Conn::queue_mut) {
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
    fn block(&mut self, m: usize, b: &LiveBlock, now: Instant) {
        let Some(mount) = self.mounts.get_mut(m) else {
            return;
        };
        let Some(open) = mount.stream.publisher.add_block(b) else {
            return;
        };
        let Some(last) = open.blocks().last() else {
            return;
        };
        for &key in &mount.viewers {
            let Some(c) = self.conns.get_mut(key) else {
                continue;
            };
            if c.close_when_done {
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
                self.flushes.schedule(key, c, mount.options.flush, now);
            }
        }
    }

    /// The open cluster is complete: it goes to the ring for joiners. If
    /// none of it was forwarded (it had no block, or blocks are held until
    /// clusters complete), viewers get it whole now.
    fn cluster_end(&mut self, m: usize, cluster: LiveCluster, now: Instant) {
        let Some(mount) = self.mounts.get_mut(m) else {
            return;
        };
        let forwarded = mount.stream.publisher.complete(cluster.clone());
        for &key in &mount.viewers {
            let Some(c) = self.conns.get_mut(key) else {
                continue;
            };
            let live = !c.close_when_done;
            let Some(q) = c.queue_mut() else { continue };
            q.end_open();
            if live && !forwarded && q.push_cluster(&cluster, now) {
                self.flushes.schedule(key, c, mount.options.flush, now);
            }
        }
    }

    fn new_header(&mut self, m: usize, h: Arc<StreamHeader>, now: Instant) {
        let Some(mount) = self.mounts.get_mut(m) else {
            return;
        };
        let change = mount.stream.set_header(h.clone());
        log::info!(
            "{}: stream header ready: {} ({}), {} bytes",
            mount.path,
            h.describe_tracks(),
            h.content_type(),
            h.bytes.len()
        );
        if change == HeaderChange::Incompatible {
            log::warn!(
                "{}: the input changed tracks: current viewers end after their queued data",
                mount.path
            );
            self.end_viewers(m, now);
        }
        // Viewers (and HEADs) that came before the stream start now.
        let waiting: Vec<(usize, bool)> = self
            .conns
            .iter()
            .filter(|(_, c)| c.mount == Some(m))
            .filter_map(|(k, c)| match c.phase {
                Phase::Waiting { head_only } => Some((k, head_only)),
                _ => None,
            })
            .collect();
        for (key, head_only) in waiting {
            self.start_response(key, head_only, now);
        }
        self.announce(m, &h);
    }

    /// Says once per mount where to watch it.
    fn announce(&mut self, m: usize, h: &StreamHeader) {
        let single = self.mounts.is_single();
        let Some(mount) = self.mounts.get_mut(m) else {
            return;
        };
        if mount.stream.announced {
            return;
        }
        mount.stream.announced = true;
        let url = format!(
            "{}{}",
            self.public_url.trim_end_matches('/'),
            if single { "/" } else { &mount.path }
        );
        log::info!(
            "streaming {} ({}) on {url} — open it in a browser, or: ffplay {url}",
            mount.options.input_name,
            h.describe_tracks()
        );
    }

    /// Streaming viewers of mount `m` get the rest of their queue, then
    /// the connection closes; they leave the mount, so their slots are
    /// free for viewers of what comes next.
    pub(super) fn end_viewers(&mut self, m: usize, now: Instant) {
        let Some(mount) = self.mounts.get_mut(m) else {
            return;
        };
        let keys = std::mem::take(&mut mount.viewers);
        for key in keys {
            let Some(c) = self.conns.get_mut(key) else {
                continue;
            };
            c.mount = None;
            release_viewer(&mut self.slots, c);
            match c.phase {
                Phase::Sending(_) => {
                    c.close_when_done = true;
                    self.after_write(key, now);
                }
                _ => self.close(key, super::respond::Reason::Done),
            }
        }
    }
}
