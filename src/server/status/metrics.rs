//! `/metrics`, for Prometheus to scrape.

use std::fmt::Write;

use super::Snapshot;

/// `GET /metrics`: Prometheus text exposition format 0.0.4.
pub fn metrics(s: &Snapshot) -> String {
    let k = s.counters;
    let mut o = String::with_capacity(2048);
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, f64)]| {
        let _ = writeln!(o, "# HELP {name} {help}");
        let _ = writeln!(o, "# TYPE {name} {kind}");
        for (labels, v) in samples {
            let _ = writeln!(o, "{name}{labels} {v}");
        }
    };
    metric(
        "mkvcast_clients",
        "gauge",
        "Viewers connected now.",
        &[("", s.clients.len() as f64)],
    );
    metric(
        "mkvcast_clients_total",
        "counter",
        "Viewers accepted since start.",
        &[("", k.clients_total as f64)],
    );
    metric(
        "mkvcast_clients_rejected_total",
        "counter",
        "Connections refused, by reason.",
        &[
            ("{reason=\"full\"}", k.rejected_full as f64),
            ("{reason=\"bad_request\"}", k.rejected_bad_request as f64),
            ("{reason=\"timeout\"}", k.rejected_timeout as f64),
        ],
    );
    metric(
        "mkvcast_bytes_sent_total",
        "counter",
        "Bytes sent to clients.",
        &[("", s.bytes_sent_total() as f64)],
    );
    metric(
        "mkvcast_clusters_published_total",
        "counter",
        "Clusters published by the input.",
        &[("", s.clusters_published as f64)],
    );
    metric(
        "mkvcast_keyframe_skips_total",
        "counter",
        "Times a slow client skipped ahead to the next keyframe.",
        &[("", s.keyframe_skips_total() as f64)],
    );
    metric(
        "mkvcast_slow_clients_closed_total",
        "counter",
        "Clients closed for making no progress.",
        &[("", k.slow_clients_closed as f64)],
    );
    metric(
        "mkvcast_input_bytes_total",
        "counter",
        "Bytes read from the input.",
        &[("", s.input_bytes as f64)],
    );
    metric(
        "mkvcast_input_reconnects_total",
        "counter",
        "Reconnections to an http:// input.",
        &[("", s.input_reconnects as f64)],
    );
    metric(
        "mkvcast_buffer_seconds",
        "gauge",
        "Media held in the join buffer.",
        &[("", s.buffered_s)],
    );
    metric(
        "mkvcast_media_time_seconds",
        "gauge",
        "Media time of the newest cluster.",
        &[("", s.media_time_s)],
    );
    o
}
