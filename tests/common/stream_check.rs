//! A validator for a live stream as a viewer receives it, checked with
//! mkvcast's own segmenter. One copy, so that `tests/abuse.rs` and
//! `examples/soak_clients.rs` (and with it `tests/soak_short.rs`) agree on
//! what a valid stream is. Each loads it with `#[path]`; it is not in
//! `mod common`, which would load it twice into `soak_short`.

// Each user reads a different part (gaps, media span, ...).
#![allow(dead_code)]

use std::time::Duration;

use mkvcast::segmenter::{Event, Segmenter};

/// Checks a stream as it arrives: clean Matroska (no byte skipped), one
/// header before any cluster, the first cluster a keyframe, cluster
/// timestamps strictly increasing. A cluster starting more than
/// `max_gap_ns` from the previous one's end is a skip: an error, or with
/// `allow_skips` (slow viewers that the server moves ahead) counted in
/// [`gaps`](Self::gaps) and an error only unless it resumes forward on a
/// keyframe. The first problem is kept in [`error`](Self::error).
pub struct StreamCheck {
    segmenter: Segmenter,
    events: Vec<Event>,
    headers: u32,
    pub clusters: u64,
    first_ns: Option<u64>,
    /// Previous cluster: timestamp in ticks, end in ns.
    prev: Option<(u64, u64)>,
    last_end_ns: u64,
    /// Largest distance (signed) between a cluster and the previous one's end.
    pub worst_gap_ns: i64,
    max_gap_ns: i64,
    allow_skips: bool,
    /// Gaps larger than `max_gap_ns` (clusters skipped).
    pub gaps: u64,
    pub error: Option<String>,
}

impl StreamCheck {
    pub fn new(max_gap_ns: i64, allow_skips: bool) -> Self {
        StreamCheck {
            segmenter: Segmenter::new(),
            events: Vec::new(),
            headers: 0,
            clusters: 0,
            first_ns: None,
            prev: None,
            last_end_ns: 0,
            worst_gap_ns: 0,
            max_gap_ns,
            allow_skips,
            gaps: 0,
            error: None,
        }
    }

    fn fail(&mut self, why: String) {
        if self.error.is_none() {
            self.error = Some(why);
        }
    }

    /// Checks the next bytes of the body.
    pub fn feed(&mut self, data: &[u8]) {
        if self.error.is_some() {
            return;
        }
        let mut events = std::mem::take(&mut self.events);
        if let Err(e) = self.segmenter.feed(data, &mut events) {
            self.fail(format!("not Matroska: {e}"));
            return;
        }
        for ev in events.drain(..) {
            match ev {
                Event::Header(_) => {
                    self.headers += 1;
                    if self.headers > 1 || self.clusters > 0 {
                        self.fail(format!(
                            "a second stream header after {} clusters",
                            self.clusters
                        ));
                    }
                }
                Event::Cluster(s) => {
                    if self.headers == 0 {
                        self.fail("a cluster before the stream header".into());
                    }
                    if self.clusters == 0 && !s.keyframe {
                        self.fail(format!(
                            "first cluster (t={}) is not a keyframe cluster",
                            s.timestamp
                        ));
                    }
                    if let Some((prev_ts, prev_end)) = self.prev {
                        if s.timestamp.0 <= prev_ts {
                            self.fail(format!(
                                "cluster timestamp {} after {prev_ts}: not increasing",
                                s.timestamp
                            ));
                        }
                        let gap = s.start.0 as i64 - prev_end as i64;
                        if gap.abs() > self.worst_gap_ns.abs() {
                            self.worst_gap_ns = gap;
                        }
                        if gap.abs() > self.max_gap_ns {
                            self.gaps += 1;
                            if !self.allow_skips {
                                self.fail(format!(
                                    "gap of {} ms before cluster {} (t={}): clusters skipped",
                                    gap / 1_000_000,
                                    self.clusters,
                                    s.timestamp
                                ));
                            } else if !s.keyframe || gap < 0 {
                                self.fail(format!(
                                    "after a skip, resumed at t={} (keyframe {}, gap {} ms)",
                                    s.timestamp,
                                    s.keyframe,
                                    gap / 1_000_000
                                ));
                            }
                        }
                    }
                    self.first_ns.get_or_insert(s.start.0);
                    self.prev = Some((s.timestamp.0, s.end().0));
                    self.last_end_ns = s.end().0;
                    self.clusters += 1;
                }
            }
        }
        self.events = events;
        let skipped = self.segmenter.stats().bytes_skipped;
        if skipped != 0 {
            self.fail(format!("{skipped} bytes skipped: not clean Matroska"));
        }
    }

    /// Media time from the first cluster's start to the last one's end.
    pub fn media_span(&self) -> Duration {
        Duration::from_nanos(self.last_end_ns.saturating_sub(self.first_ns.unwrap_or(0)))
    }
}
