//! `/status`, the page a person reads.

use std::fmt::Write;

use super::{ClientInfo, MountInfo, Snapshot};
use crate::server::ingest::IngestCounters;

/// Text safe inside HTML.
pub(crate) fn h(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A size a person can read at a glance: the page is not for exact counts.
fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.2} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// The document head: the page refreshes itself every 5 s, so a person can
/// leave it open, and it carries its own style, so it needs no other request.
const HEAD: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"5\">\
     <title>mkvcast status</title><style>\
     body{font:15px/1.4 system-ui,sans-serif;margin:2em;color:#222}\
     h1{font-size:1.4em}table{border-collapse:collapse;margin:.5em 0 1.5em}\
     td,th{border:1px solid #ccc;padding:.3em .7em;text-align:left}th{background:#f0f0f0}\
     td.n{text-align:right;font-variant-numeric:tabular-nums}.ok{color:#070}.warn{color:#a60}\
     </style></head><body>";

/// `GET /status`: a small page a person can read.
pub fn html(s: &Snapshot) -> String {
    let mut o = String::with_capacity(2048 + 1024 * s.mounts.len() + 300 * s.clients.len());
    o.push_str(HEAD);
    let _ = write!(
        o,
        "<h1>mkvcast {}</h1><p>Up {:.0} s, {} mounts.</p>",
        h(env!("CARGO_PKG_VERSION")),
        s.uptime_s,
        s.mounts.len()
    );
    for m in &s.mounts {
        mount_table(&mut o, m);
    }
    clients_table(&mut o, s);
    totals(&mut o, s);
    o
}

/// One mount's input and buffer, one (label, HTML) row each.
fn mount_rows(m: &MountInfo) -> Vec<(&'static str, String)> {
    // An ended input is the state an operator must notice.
    let state_class = if m.state == "live" { "ok" } else { "warn" };
    let mut rows = vec![
        ("Kind", h(m.kind)),
        (
            "Source",
            m.source.as_deref().map_or("no publisher yet".into(), h),
        ),
        (
            "State",
            format!(
                "<span class=\"{state_class}\">{}</span> (input {})",
                h(m.state),
                h(m.input_state)
            ),
        ),
        (
            "Format",
            m.header.map_or("waiting for the stream".into(), |hd| {
                format!("{} ({})", h(&hd.doc_type), h(hd.content_type()))
            }),
        ),
        (
            "Tracks",
            m.header
                .map_or(String::new(), |hd| h(&hd.describe_tracks())),
        ),
        ("Media time", format!("{:.1} s", m.media_time_s)),
        ("Input bitrate", format!("{:.0} kbit/s", m.input_kbps)),
        (
            "Buffered",
            format!(
                "{:.1} s, {}",
                m.buffered_s,
                human_bytes(m.buffered_bytes as u64)
            ),
        ),
        ("Clusters published", m.clusters_published.to_string()),
        ("Viewers", m.viewers.to_string()),
        ("Keyframe skips", m.keyframe_skips.to_string()),
    ];
    if let Some(c) = m.ingest {
        rows.push(("Publishers", ingest_counts(c)));
    }
    rows
}

/// A push mount's publisher counts, in one line.
fn ingest_counts(c: &IngestCounters) -> String {
    format!(
        "{} connects, {} reconnects, {} challenges; refused: {} credentials, {} busy, \
         {} not Matroska, {} throttled, {} bad offset; closed: {} over buffer, {} idle",
        c.connects,
        c.reconnects,
        c.challenges,
        c.refused_auth,
        c.refused_busy,
        c.refused_media,
        c.refused_throttled,
        c.refused_range,
        c.closed_over_buffer,
        c.closed_idle
    )
}

fn mount_table(o: &mut String, m: &MountInfo) {
    let _ = write!(o, "<h2>Mount {}</h2><table>", h(m.path));
    for (k, v) in mount_rows(m) {
        let _ = write!(o, "<tr><th>{k}</th><td>{v}</td></tr>");
    }
    o.push_str("</table>");
}

fn clients_table(o: &mut String, s: &Snapshot) {
    let _ = write!(
        o,
        "<h2>Clients ({})</h2><table id=\"clients\"><tr><th>ID</th><th>Mount</th>\
         <th>Address</th><th>Connected</th><th>Sent</th><th>Queued</th><th>Keyframe skips</th><th>User agent</th></tr>",
        s.clients.len()
    );
    for c in &s.clients {
        client_row(o, c);
    }
    if s.clients.is_empty() {
        o.push_str("<tr><td colspan=\"8\">no clients</td></tr>");
    }
    o.push_str("</table>");
}

fn client_row(o: &mut String, c: &ClientInfo) {
    let _ = write!(
        o,
        "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{:.0} s</td><td class=\"n\">{}</td>\
         <td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
        c.id,
        h(&c.mount),
        h(&c.address),
        c.connected_s,
        human_bytes(c.bytes_sent),
        human_bytes(c.queue_bytes as u64),
        c.keyframe_skips,
        h(&c.user_agent)
    );
}

/// Totals since start, and links to the machine-readable views.
fn totals(o: &mut String, s: &Snapshot) {
    let k = s.counters;
    let _ = write!(
        o,
        "<p>{} clients since start; refused: {} full, {} bad requests, {} timeouts; \
         {} slow clients closed; {} sent.</p><p><a href=\"/status.json\">JSON</a> · \
         <a href=\"/metrics\">Prometheus metrics</a></p></body></html>",
        k.clients_total,
        k.rejected_full,
        k.rejected_bad_request,
        k.rejected_timeout,
        k.slow_clients_closed,
        human_bytes(s.bytes_sent_total())
    );
}
