//! Reading a Cluster as its children arrive: each complete child goes to
//! the split at once (and, with `forward_blocks`, out as a `Block` event),
//! and each served cluster is emitted once complete: when the next one
//! begins, or when the Cluster ends. A damaged one keeps the children it
//! completed, since they may be out already.

use bytes::{Buf, Bytes};

use super::resync::cluster_start_at;
use super::{ClusterScan, Event, Segmenter, State, KEYFRAME_WARN, MAX_CLUSTER_BYTES};
use crate::ebml::{self, Child, ElementHeader};
use crate::matroska::cluster::LiveCluster;
use crate::matroska::ids;
use crate::matroska::split::SplitEvent;
use crate::time::Nanos;

/// Where reading a Cluster's children got to.
enum Step {
    /// More input is needed.
    More,
    /// The child with this header at `scan.pos` is complete, up to `end`.
    Child { header: ElementHeader, end: usize },
    /// The children end at `len`: the Cluster is complete (`reusable`:
    /// exactly as its stored size says) or cut short by a level-1 element.
    End { len: usize, reusable: bool },
    /// The child at this offset is damaged.
    Damaged(usize),
    /// The child at this offset would take a Cluster of unknown size past
    /// [`MAX_CLUSTER_BYTES`].
    TooLong(usize),
}

impl From<SplitEvent> for Event {
    fn from(e: SplitEvent) -> Event {
        match e {
            SplitEvent::Start(timestamp) => Event::ClusterStart { timestamp },
            SplitEvent::Block(b) => Event::Block(b),
            SplitEvent::Cluster(c) => Event::Cluster(c),
        }
    }
}

impl Segmenter {
    /// Reads the children of the Cluster at `buf[0]` as they arrive.
    pub(super) fn read_cluster(&mut self, out: &mut Vec<Event>) -> bool {
        if !matches!(self.state, State::Cluster(_)) {
            return false;
        }
        let State::Cluster(mut scan) = std::mem::replace(&mut self.state, State::Level1) else {
            return false;
        };
        loop {
            match next_child(&scan, &self.buf) {
                Step::More => {
                    self.state = State::Cluster(scan);
                    return false;
                }
                Step::Child { header, end } => self.read_child(&mut scan, header, end, out),
                Step::End { len, reusable } => {
                    self.emit_cluster(scan, len, reusable, out);
                    return true;
                }
                Step::Damaged(pos) => {
                    self.cluster_damaged(scan, pos, out);
                    return true;
                }
                Step::TooLong(pos) => {
                    // Only an unknown-size cluster gets here (a known size
                    // over the cap is skipped by size).
                    log::warn!(
                        "cutting a cluster of unknown size at {MAX_CLUSTER_BYTES} bytes: keeping its complete blocks, resyncing after them"
                    );
                    self.keep_or_skip(scan, pos, out);
                    self.lose_sync();
                    return true;
                }
            }
        }
    }

    /// Hands the complete child at `scan.pos` to the split, and emits what
    /// that made: with `forward_blocks` the child itself (and a
    /// ClusterStart before it if it begins a served cluster), and the
    /// served cluster it completed, if any.
    fn read_child(
        &mut self,
        scan: &mut ClusterScan,
        header: ElementHeader,
        end: usize,
        out: &mut Vec<Event>,
    ) {
        let pos = scan.pos;
        let c = Child {
            header,
            offset: pos.saturating_sub(scan.header_len),
            data: self.buf.get(pos + header.header_len..end).unwrap_or(&[]),
        };
        // A Timestamp that does not parse stays in the split, which then
        // drops the Cluster at its end (nothing of it has gone out).
        let _ = scan.split.push(&c, &self.ctx);
        let from = out.len();
        let body = self.buf.get(scan.header_len..).unwrap_or(&[]);
        let forward = self.options.forward_blocks;
        scan.split
            .drain(body, &self.ctx, forward, |e| out.push(e.into()));
        for e in out.get(from..).unwrap_or(&[]) {
            if let Event::Cluster(s) = e {
                // Each one served before its Cluster ends is a split.
                self.stats.splits += 1;
                self.served(s);
            }
        }
        scan.pos = end;
    }

    /// Counts a served cluster about to be emitted.
    fn served(&mut self, s: &LiveCluster) {
        self.flush_skip_log("before a cluster");
        self.note_keyframe(s);
        self.stats.clusters += 1;
    }

    /// Emits the Cluster at `buf[..len]` (its valid children end at `len`).
    pub(super) fn emit_cluster(
        &mut self,
        scan: ClusterScan,
        len: usize,
        reusable: bool,
        out: &mut Vec<Event>,
    ) {
        let raw = self.buf.split_to(len).freeze();
        self.emit_split(scan, &raw, reusable, out);
    }

    /// Emits the served clusters of `raw`, a Cluster whose children `scan`
    /// has read, or drops it (and counts it skipped) if it has none.
    fn emit_split(&mut self, scan: ClusterScan, raw: &Bytes, reusable: bool, out: &mut Vec<Event>) {
        let len = raw.len();
        let mut segments = std::mem::take(&mut self.scratch);
        let body = scan.header_len..len;
        match scan.split.finish(
            raw,
            scan.header_len,
            body,
            reusable,
            &self.ctx,
            &mut segments,
        ) {
            Ok(()) => {
                self.stats.splits += segments.len().saturating_sub(1) as u64;
                for s in segments.drain(..) {
                    self.served(&s);
                    out.push(Event::Cluster(s));
                }
            }
            Err(e) => {
                self.flush_skip_log("before a cluster");
                log::warn!("dropping a cluster of {len} bytes: {e}");
                self.stats.bytes_skipped += len as u64;
            }
        }
        self.scratch = segments;
    }

    pub(super) fn note_keyframe(&mut self, s: &LiveCluster) {
        if self.ctx.video_track.is_none() || !s.has_video {
            return;
        }
        if s.keyframe {
            self.last_keyframe = Some(s.start);
            self.keyframe_warned = false;
            return;
        }
        let since = s
            .start
            .saturating_sub(self.last_keyframe.unwrap_or(Nanos::ZERO));
        if since > KEYFRAME_WARN && !self.keyframe_warned {
            self.keyframe_warned = true;
            log::warn!(
                "no video keyframe for {:.1} s of media: new clients cannot start until one arrives",
                since.as_secs_f64()
            );
        }
    }

    /// A Cluster turned out damaged at `pos`: keep its complete children,
    /// then resync; where another Cluster starts inside it (the damage is
    /// a truncated element, the embedded Cluster is the real one), read on
    /// from there.
    fn cluster_damaged(&mut self, scan: ClusterScan, pos: usize, out: &mut Vec<Event>) {
        self.stats.resyncs += 1;
        // Only bytes before `pos` decide, so the outcome does not depend on
        // how the input was chunked.
        let damaged = self.buf.get(..pos).unwrap_or(&[]);
        let inner =
            (1..pos).find(|&at| cluster_start_at(damaged.get(at..).unwrap_or(&[])) == Some(true));
        let Some(at) = inner else {
            self.keep_or_skip(scan, pos, out);
            log::warn!("damaged data after a cluster: resyncing");
            self.state = State::Resync;
            return;
        };
        log::warn!(
            "cluster damaged: another cluster starts inside it, {at} bytes in; resyncing there"
        );
        if scan.split.started() {
            // Its children may be out already, so they are served as in
            // any damaged cluster; the inner one is then read again from
            // its start.
            let raw = Bytes::copy_from_slice(damaged);
            self.buf.advance(at);
            self.emit_split(scan, &raw, false, out);
        } else {
            self.skip_bytes(at);
        }
        self.state = State::Level1;
    }

    /// Emits the complete children of a Cluster cut at `pos`, if any.
    fn keep_or_skip(&mut self, scan: ClusterScan, pos: usize, out: &mut Vec<Event>) {
        if pos > scan.header_len {
            self.emit_cluster(scan, pos, false, out);
        } else {
            self.skip_bytes(pos);
        }
    }
}

/// The next step through the children of the Cluster in `scan`, from
/// what `buf` holds of it.
fn next_child(scan: &ClusterScan, buf: &[u8]) -> Step {
    let (pos, end) = (scan.pos, scan.end);
    if Some(pos) == end {
        return Step::End {
            len: pos,
            reusable: true,
        };
    }
    let child = match ebml::read_element_header(buf.get(pos..).unwrap_or(&[])) {
        Ok(Some(h)) => h,
        Ok(None) => return Step::More,
        Err(_) => return Step::Damaged(pos),
    };
    if ids::ends_cluster(child.id) {
        if end.is_some() {
            log::warn!("cluster cut short by a new level-1 element: keeping its complete blocks");
        }
        return Step::End {
            len: pos,
            reusable: false,
        };
    }
    let child_end = child
        .total_len()
        .and_then(|t| usize::try_from(t).ok())
        .and_then(|t| t.checked_add(pos));
    match child_end {
        Some(e) if ids::is_cluster_child(child.id) && end.is_none_or(|end| e <= end) => {
            if e > MAX_CLUSTER_BYTES {
                Step::TooLong(pos)
            } else if buf.len() < e {
                Step::More
            } else {
                Step::Child {
                    header: child,
                    end: e,
                }
            }
        }
        _ => Step::Damaged(pos),
    }
}
