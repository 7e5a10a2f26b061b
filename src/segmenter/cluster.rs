//! Reading a Cluster as its children arrive, and handing it to the keyframe
//! split once complete; a damaged one keeps what parsed.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::resync::cluster_start_at;
use super::{Event, Segmenter, State, KEYFRAME_WARN, MAX_CLUSTER_BYTES};
use crate::ebml;
use crate::matroska::cluster::{self, LiveCluster};
use crate::matroska::ids;
use crate::time::Nanos;

impl Segmenter {
    /// Reads the children of the Cluster at `buf[0]` as they arrive.
    pub(super) fn read_cluster(&mut self, out: &mut Vec<Event>) -> bool {
        let State::Cluster(scan) = &self.state else {
            return false;
        };
        let (header_len, end, mut pos) = (scan.header_len, scan.end, scan.pos);
        loop {
            if Some(pos) == end {
                self.emit_cluster(header_len, pos, true, out);
                return true;
            }
            let rest = self.buf.get(pos..).unwrap_or(&[]);
            let child = match ebml::read_element_header(rest) {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(_) => {
                    self.cluster_damaged(header_len, pos, out);
                    return true;
                }
            };
            if ids::ends_cluster(child.id) {
                if end.is_some() {
                    log::warn!(
                        "cluster cut short by a new level-1 element: keeping its complete blocks"
                    );
                }
                self.emit_cluster(header_len, pos, false, out);
                return true;
            }
            let child_end = child
                .total_len()
                .and_then(|t| usize::try_from(t).ok())
                .and_then(|t| t.checked_add(pos));
            let child_end = match child_end {
                Some(e) if ids::is_cluster_child(child.id) && end.is_none_or(|end| e <= end) => e,
                _ => {
                    self.cluster_damaged(header_len, pos, out);
                    return true;
                }
            };
            if child_end > MAX_CLUSTER_BYTES {
                // Only an unknown-size cluster gets here (a known size over
                // the cap is skipped by size): drop it and look for the next.
                log::warn!(
                    "dropping a cluster of unknown size longer than {MAX_CLUSTER_BYTES} bytes"
                );
                self.skip_bytes(pos);
                self.lose_sync();
                return true;
            }
            if self.buf.len() < child_end {
                break;
            }
            pos = child_end;
        }
        if let State::Cluster(scan) = &mut self.state {
            scan.pos = pos;
        }
        false
    }

    /// Emits the Cluster at `buf[..len]` (its valid children end at `len`).
    pub(super) fn emit_cluster(
        &mut self,
        header_len: usize,
        len: usize,
        reusable: bool,
        out: &mut Vec<Event>,
    ) {
        let raw = self.buf.split_to(len).freeze();
        self.state = State::Level1;
        self.flush_skip_log("before a cluster");
        let mut segments = std::mem::take(&mut self.scratch);
        match cluster::split_cluster(
            &raw,
            header_len,
            header_len..len,
            reusable,
            &self.ctx,
            &mut segments,
        ) {
            Ok(()) => {
                self.stats.splits += segments.len().saturating_sub(1) as u64;
                for s in segments.drain(..) {
                    self.note_keyframe(&s);
                    self.stats.clusters += 1;
                    out.push(Event::Cluster(s));
                }
            }
            Err(e) => {
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

    /// A Cluster turned out damaged at `pos`: keep its complete children
    /// unless another Cluster starts inside it (then the damage is a
    /// truncated element and the embedded Cluster is the real one).
    pub(super) fn cluster_damaged(&mut self, header_len: usize, pos: usize, out: &mut Vec<Event>) {
        self.stats.resyncs += 1;
        // Only bytes before `pos` decide, so the outcome does not depend on
        // how the input was chunked.
        let damaged = self.buf.get(..pos).unwrap_or(&[]);
        let inner =
            (1..pos).find(|&at| cluster_start_at(damaged.get(at..).unwrap_or(&[])) == Some(true));
        match inner {
            Some(at) => {
                log::warn!("cluster damaged: another cluster starts inside it, {at} bytes in; resyncing there");
                self.skip_bytes(at);
                self.state = State::Level1;
            }
            None => {
                if pos > header_len {
                    self.emit_cluster(header_len, pos, false, out);
                } else {
                    self.skip_bytes(pos);
                }
                log::warn!("damaged data after a cluster: resyncing");
                self.state = State::Resync;
            }
        }
    }
}
