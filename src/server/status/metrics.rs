//! `/metrics`, for Prometheus to scrape.
//!
//! The metrics are a table, so adding one is adding a row, and the names,
//! types and help texts (which dashboards depend on) are read in one place.
//! Process-wide totals have no `mount` label; every per-stream metric has
//! one sample per mount, labelled `mount="PATH"`, so a dashboard sums or
//! picks mounts itself.

use std::fmt::Write;

use super::{MountInfo, Snapshot};
use crate::server::ingest::IngestCounters;

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

/// Reads one process-wide sample's value from a snapshot.
type Value = fn(&Snapshot) -> f64;

/// Reads one mount's sample; `None` where the metric does not apply to
/// it (ingest counts of a pulled mount), so it has no sample.
type MountValue = fn(&MountInfo) -> Option<f64>;

/// Where a family's samples come from.
enum Samples {
    /// Process-wide: a label set (`""` for none) with its value each.
    Process(&'static [(&'static str, Value)]),
    /// One sample per mount for each entry: labels after `mount` (`""`
    /// for none, else `,name="value"` pairs) with the value.
    Mount(&'static [(&'static str, MountValue)]),
}

/// One metric family: its `# HELP`/`# TYPE` lines and its samples.
struct Family {
    name: &'static str,
    kind: Kind,
    help: &'static str,
    samples: Samples,
}

/// A push mount's counter, as a sample value.
fn ingest(m: &MountInfo, read: fn(&IngestCounters) -> u64) -> Option<f64> {
    m.ingest.map(|c| read(c) as f64)
}

/// Whether mount `m` is in `state`, as a 0/1 gauge.
fn in_state(m: &MountInfo, state: &str) -> Option<f64> {
    Some(if m.state == state { 1.0 } else { 0.0 })
}

const FAMILIES: &[Family] = &[
    Family {
        name: "mkvcast_clients",
        kind: Kind::Gauge,
        help: "Viewers connected now.",
        samples: Samples::Process(&[("", |s| s.clients.len() as f64)]),
    },
    Family {
        name: "mkvcast_clients_total",
        kind: Kind::Counter,
        help: "Viewers accepted since start.",
        samples: Samples::Process(&[("", |s| s.counters.clients_total as f64)]),
    },
    Family {
        name: "mkvcast_clients_rejected_total",
        kind: Kind::Counter,
        help: "Connections refused, by reason.",
        samples: Samples::Process(&[
            ("{reason=\"full\"}", |s| s.counters.rejected_full as f64),
            ("{reason=\"bad_request\"}", |s| {
                s.counters.rejected_bad_request as f64
            }),
            ("{reason=\"timeout\"}", |s| {
                s.counters.rejected_timeout as f64
            }),
        ]),
    },
    Family {
        name: "mkvcast_bytes_sent_total",
        kind: Kind::Counter,
        help: "Bytes sent to clients.",
        samples: Samples::Process(&[("", |s| s.bytes_sent_total() as f64)]),
    },
    Family {
        name: "mkvcast_clusters_published_total",
        kind: Kind::Counter,
        help: "Clusters published by the input.",
        samples: Samples::Mount(&[("", |m| Some(m.clusters_published as f64))]),
    },
    Family {
        name: "mkvcast_keyframe_skips_total",
        kind: Kind::Counter,
        help: "Times a slow client skipped ahead to the next keyframe.",
        samples: Samples::Process(&[("", |s| s.keyframe_skips_total() as f64)]),
    },
    Family {
        name: "mkvcast_slow_clients_closed_total",
        kind: Kind::Counter,
        help: "Clients closed for making no progress.",
        samples: Samples::Process(&[("", |s| s.counters.slow_clients_closed as f64)]),
    },
    Family {
        name: "mkvcast_input_bytes_total",
        kind: Kind::Counter,
        help: "Bytes read from the input.",
        samples: Samples::Mount(&[("", |m| Some(m.input_bytes as f64))]),
    },
    Family {
        name: "mkvcast_input_reconnects_total",
        kind: Kind::Counter,
        help: "Reconnections to an http:// input.",
        samples: Samples::Mount(&[("", |m| Some(m.input_reconnects as f64))]),
    },
    Family {
        name: "mkvcast_buffer_seconds",
        kind: Kind::Gauge,
        help: "Media held in the join buffer.",
        samples: Samples::Mount(&[("", |m| Some(m.buffered_s))]),
    },
    Family {
        name: "mkvcast_media_time_seconds",
        kind: Kind::Gauge,
        help: "Media time of the newest cluster.",
        samples: Samples::Mount(&[("", |m| Some(m.media_time_s))]),
    },
    Family {
        name: "mkvcast_buffer_bytes",
        kind: Kind::Gauge,
        help: "Bytes held in the join buffer.",
        samples: Samples::Mount(&[("", |m| Some(m.buffered_bytes as f64))]),
    },
    Family {
        name: "mkvcast_mount_viewers",
        kind: Kind::Gauge,
        help: "Viewers of the mount now, waiting ones included.",
        samples: Samples::Mount(&[("", |m| Some(m.viewers as f64))]),
    },
    Family {
        name: "mkvcast_mount_keyframe_skips",
        kind: Kind::Gauge,
        help: "Keyframe skips of the mount's current viewers.",
        samples: Samples::Mount(&[("", |m| Some(m.keyframe_skips as f64))]),
    },
    Family {
        name: "mkvcast_mount_state",
        kind: Kind::Gauge,
        help: "1 for the state the mount is in (live, waiting, ended), else 0.",
        samples: Samples::Mount(&[
            (",state=\"live\"", |m| in_state(m, "live")),
            (",state=\"waiting\"", |m| in_state(m, "waiting")),
            (",state=\"ended\"", |m| in_state(m, "ended")),
        ]),
    },
    Family {
        name: "mkvcast_source_connects_total",
        kind: Kind::Counter,
        help: "Publishers that started a stream on a push mount.",
        samples: Samples::Mount(&[("", |m| ingest(m, |c| c.connects))]),
    },
    Family {
        name: "mkvcast_source_challenges_total",
        kind: Kind::Counter,
        help: "Pushes without credentials, answered with a challenge (401).",
        samples: Samples::Mount(&[("", |m| ingest(m, |c| c.challenges))]),
    },
    Family {
        name: "mkvcast_source_refusals_total",
        kind: Kind::Counter,
        help: "Pushes refused, by reason.",
        samples: Samples::Mount(&[
            (",reason=\"auth\"", |m| ingest(m, |c| c.refused_auth)),
            (",reason=\"busy\"", |m| ingest(m, |c| c.refused_busy)),
            (",reason=\"media\"", |m| ingest(m, |c| c.refused_media)),
            (",reason=\"throttled\"", |m| {
                ingest(m, |c| c.refused_throttled)
            }),
            (",reason=\"range\"", |m| ingest(m, |c| c.refused_range)),
        ]),
    },
    Family {
        name: "mkvcast_source_closed_total",
        kind: Kind::Counter,
        help: "Publishers closed by the server, by reason.",
        samples: Samples::Mount(&[
            (",reason=\"over_buffer\"", |m| {
                ingest(m, |c| c.closed_over_buffer)
            }),
            (",reason=\"idle\"", |m| ingest(m, |c| c.closed_idle)),
        ]),
    },
    Family {
        name: "mkvcast_source_reconnects_total",
        kind: Kind::Counter,
        help: "New publishers that came while viewers waited for one.",
        samples: Samples::Mount(&[("", |m| ingest(m, |c| c.reconnects))]),
    },
];

/// `GET /metrics`: Prometheus text exposition format 0.0.4.
pub fn metrics(s: &Snapshot) -> String {
    let mut o = String::with_capacity(4096 + 2048 * s.mounts.len());
    for f in FAMILIES {
        let _ = writeln!(o, "# HELP {} {}", f.name, f.help);
        let _ = writeln!(o, "# TYPE {} {}", f.name, f.kind.as_str());
        match &f.samples {
            Samples::Process(samples) => {
                for (labels, value) in *samples {
                    let _ = writeln!(o, "{}{labels} {}", f.name, number(value(s)));
                }
            }
            Samples::Mount(samples) => mount_samples(&mut o, f.name, samples, &s.mounts),
        }
    }
    o
}

/// Each mount's samples of one family, `mount` label first.
fn mount_samples(o: &mut String, name: &str, samples: &[(&str, MountValue)], mounts: &[MountInfo]) {
    for m in mounts {
        let path = label_value(m.path);
        for (labels, value) in samples {
            if let Some(v) = value(m) {
                let _ = writeln!(o, "{name}{{mount=\"{path}\"{labels}}} {}", number(v));
            }
        }
    }
}

/// A label value as the text format quotes it: `\\`, `\"` and line
/// feeds escaped (a mount path is the operator's string).
fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A sample value as the text format spells it: Rust writes infinities
/// as `inf`, the format wants `+Inf`/`-Inf`.
fn number(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}
