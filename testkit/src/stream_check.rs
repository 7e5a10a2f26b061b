//! A validator for a live stream as a viewer receives it, re-read with
//! mkvcast's own segmenter. The tests (`tests/abuse.rs`) and the soak
//! (`mkvcast-load soak`, with it `tests/soak_short.rs`) use this one, so
//! they agree on what a valid, continuous stream is.
//!
//! Why two validators ([`crate::walk`] is the other): this one parses every
//! frame, so it knows when each cluster ends in media time and can tell a
//! skipped cluster from a continuous stream; that costs a full parse per
//! viewer, fine for hundreds. The load generator's walk skips payloads
//! unread to keep up with tens of thousands of viewers, and does not use
//! the segmenter, so it is an independent second opinion on what the
//! server (which does use it) sends.

use std::fmt;
use std::time::Duration;

use mkvcast::segmenter::{Event, Segmenter};

/// The first problem [`StreamCheck`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckError {
    /// The segmenter rejected the bytes (its message).
    NotMatroska(String),
    /// A stream header after the first one or after a cluster.
    SecondHeader {
        clusters: u64,
    },
    ClusterBeforeHeader,
    /// The first cluster (this timestamp) does not start on a keyframe.
    FirstNotKeyframe {
        timestamp: u64,
    },
    /// Cluster timestamps must strictly increase.
    NotIncreasing {
        timestamp: u64,
        previous: u64,
    },
    /// A gap before cluster number `cluster` where none is allowed.
    Skipped {
        gap_ms: i64,
        cluster: u64,
        timestamp: u64,
    },
    /// After an allowed skip, the stream did not resume forward on a
    /// keyframe.
    BadResume {
        timestamp: u64,
        keyframe: bool,
        gap_ms: i64,
    },
    /// The segmenter skipped this many bytes: the stream was not clean.
    BytesSkipped(u64),
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::NotMatroska(e) => write!(f, "not Matroska: {e}"),
            CheckError::SecondHeader { clusters } => {
                write!(f, "a second stream header after {clusters} clusters")
            }
            CheckError::ClusterBeforeHeader => f.write_str("a cluster before the stream header"),
            CheckError::FirstNotKeyframe { timestamp } => {
                write!(f, "first cluster (t={timestamp}) is not a keyframe cluster")
            }
            CheckError::NotIncreasing {
                timestamp,
                previous,
            } => write!(
                f,
                "cluster timestamp {timestamp} after {previous}: not increasing"
            ),
            CheckError::Skipped {
                gap_ms,
                cluster,
                timestamp,
            } => write!(
                f,
                "gap of {gap_ms} ms before cluster {cluster} (t={timestamp}): clusters skipped"
            ),
            CheckError::BadResume {
                timestamp,
                keyframe,
                gap_ms,
            } => write!(
                f,
                "after a skip, resumed at t={timestamp} (keyframe {keyframe}, gap {gap_ms} ms)"
            ),
            CheckError::BytesSkipped(n) => write!(f, "{n} bytes skipped: not clean Matroska"),
        }
    }
}

impl std::error::Error for CheckError {}

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
    pub error: Option<CheckError>,
}

/// What [`StreamCheck`] needs of a cluster.
struct Seen {
    timestamp: u64,
    timestamp_ns: u64,
    end_ns: u64,
    keyframe: bool,
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

    fn fail(&mut self, why: CheckError) {
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
            self.fail(CheckError::NotMatroska(e.to_string()));
            return;
        }
        for ev in events.drain(..) {
            match ev {
                Event::Header(_) => {
                    self.headers += 1;
                    if self.headers > 1 || self.clusters > 0 {
                        self.fail(CheckError::SecondHeader {
                            clusters: self.clusters,
                        });
                    }
                }
                Event::Cluster(s) => self.cluster(Seen {
                    timestamp: s.timestamp.0,
                    timestamp_ns: s.start.0,
                    end_ns: s.end().0,
                    keyframe: s.keyframe,
                }),
                // Only with forward_blocks, which this checker leaves off.
                Event::ClusterStart { .. } | Event::Block(_) => {}
            }
        }
        self.events = events;
        let skipped = self.segmenter.stats().bytes_skipped;
        if skipped != 0 {
            self.fail(CheckError::BytesSkipped(skipped));
        }
    }

    fn cluster(&mut self, s: Seen) {
        if self.headers == 0 {
            self.fail(CheckError::ClusterBeforeHeader);
        }
        if self.clusters == 0 && !s.keyframe {
            self.fail(CheckError::FirstNotKeyframe {
                timestamp: s.timestamp,
            });
        }
        if let Some((prev_ts, prev_end)) = self.prev {
            if s.timestamp <= prev_ts {
                self.fail(CheckError::NotIncreasing {
                    timestamp: s.timestamp,
                    previous: prev_ts,
                });
            }
            self.gap(s.timestamp_ns as i64 - prev_end as i64, &s);
        }
        self.first_ns.get_or_insert(s.timestamp_ns);
        self.prev = Some((s.timestamp, s.end_ns));
        self.last_end_ns = s.end_ns;
        self.clusters += 1;
    }

    /// Judges the distance between a cluster's start and the previous one's
    /// end.
    fn gap(&mut self, gap: i64, s: &Seen) {
        if gap.abs() > self.worst_gap_ns.abs() {
            self.worst_gap_ns = gap;
        }
        if gap.abs() <= self.max_gap_ns {
            return;
        }
        self.gaps += 1;
        if !self.allow_skips {
            self.fail(CheckError::Skipped {
                gap_ms: gap / 1_000_000,
                cluster: self.clusters,
                timestamp: s.timestamp,
            });
        } else if !s.keyframe || gap < 0 {
            self.fail(CheckError::BadResume {
                timestamp: s.timestamp,
                keyframe: s.keyframe,
                gap_ms: gap / 1_000_000,
            });
        }
    }

    /// Media time from the first cluster's start to the last one's end.
    pub fn media_span(&self) -> Duration {
        Duration::from_nanos(self.last_end_ns.saturating_sub(self.first_ns.unwrap_or(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixture_is_one_clean_stream() {
        let data = std::fs::read(crate::fixture("vp8_vorbis.webm")).unwrap();
        let mut c = StreamCheck::new(200_000_000, false);
        data.chunks(777).for_each(|d| c.feed(d));
        assert_eq!(c.error, None);
        assert!(c.clusters >= 10, "{} clusters", c.clusters);
        assert!(c.media_span() > Duration::from_secs(5));
        let mut twice = StreamCheck::new(200_000_000, false);
        twice.feed(&data);
        twice.feed(&data);
        assert!(twice.error.is_some());
    }
}
