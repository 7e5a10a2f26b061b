//! `/metrics`, for Prometheus to scrape.
//!
//! The metrics are a table, so adding one is adding a row, and the names,
//! types and help texts (which dashboards depend on) are read in one place.

use std::fmt::Write;

use super::Snapshot;

/// How Prometheus should treat a metric's samples.
#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// Reads one sample's value from a snapshot.
type Value = fn(&Snapshot) -> f64;

/// One metric family: its `# HELP`/`# TYPE` lines and its samples, each a
/// label set (`""` for none) with the value to show.
struct Family {
    name: &'static str,
    kind: Kind,
    help: &'static str,
    samples: &'static [(&'static str, Value)],
}

const FAMILIES: &[Family] = &[
    Family {
        name: "mkvcast_clients",
        kind: Kind::Gauge,
        help: "Viewers connected now.",
        samples: &[("", |s| s.clients.len() as f64)],
    },
    Family {
        name: "mkvcast_clients_total",
        kind: Kind::Counter,
        help: "Viewers accepted since start.",
        samples: &[("", |s| s.counters.clients_total as f64)],
    },
    Family {
        name: "mkvcast_clients_rejected_total",
        kind: Kind::Counter,
        help: "Connections refused, by reason.",
        samples: &[
            ("{reason=\"full\"}", |s| s.counters.rejected_full as f64),
            ("{reason=\"bad_request\"}", |s| {
                s.counters.rejected_bad_request as f64
            }),
            ("{reason=\"timeout\"}", |s| {
                s.counters.rejected_timeout as f64
            }),
        ],
    },
    Family {
        name: "mkvcast_bytes_sent_total",
        kind: Kind::Counter,
        help: "Bytes sent to clients.",
        samples: &[("", |s| s.bytes_sent_total() as f64)],
    },
    Family {
        name: "mkvcast_clusters_published_total",
        kind: Kind::Counter,
        help: "Clusters published by the input.",
        samples: &[("", |s| s.clusters_published as f64)],
    },
    Family {
        name: "mkvcast_keyframe_skips_total",
        kind: Kind::Counter,
        help: "Times a slow client skipped ahead to the next keyframe.",
        samples: &[("", |s| s.keyframe_skips_total() as f64)],
    },
    Family {
        name: "mkvcast_slow_clients_closed_total",
        kind: Kind::Counter,
        help: "Clients closed for making no progress.",
        samples: &[("", |s| s.counters.slow_clients_closed as f64)],
    },
    Family {
        name: "mkvcast_input_bytes_total",
        kind: Kind::Counter,
        help: "Bytes read from the input.",
        samples: &[("", |s| s.input_bytes as f64)],
    },
    Family {
        name: "mkvcast_input_reconnects_total",
        kind: Kind::Counter,
        help: "Reconnections to an http:// input.",
        samples: &[("", |s| s.input_reconnects as f64)],
    },
    Family {
        name: "mkvcast_buffer_seconds",
        kind: Kind::Gauge,
        help: "Media held in the join buffer.",
        samples: &[("", |s| s.buffered_s)],
    },
    Family {
        name: "mkvcast_media_time_seconds",
        kind: Kind::Gauge,
        help: "Media time of the newest cluster.",
        samples: &[("", |s| s.media_time_s)],
    },
];

/// `GET /metrics`: Prometheus text exposition format 0.0.4.
pub fn metrics(s: &Snapshot) -> String {
    let mut o = String::with_capacity(2048);
    for f in FAMILIES {
        let _ = writeln!(o, "# HELP {} {}", f.name, f.help);
        let _ = writeln!(o, "# TYPE {} {}", f.name, f.kind.as_str());
        for (labels, value) in f.samples {
            let _ = writeln!(o, "{}{labels} {}", f.name, value(s));
        }
    }
    o
}
