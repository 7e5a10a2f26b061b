//! The admin views of a running server: `/status.json`, a small HTML
//! `/status` page, and Prometheus `/metrics`. They are rendered from a
//! [`Snapshot`] the event loop takes, so they cannot disturb streaming.

use std::fmt::Write;

use crate::matroska::header::StreamHeader;

/// Totals since the server started.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    pub clients_total: u64,
    pub rejected_full: u64,
    pub rejected_bad_request: u64,
    pub rejected_timeout: u64,
    /// Bytes sent to connections that are gone (live ones are added).
    pub bytes_sent_closed: u64,
    /// Keyframe skips of clients that are gone (live ones are added).
    pub keyframe_skips_closed: u64,
    pub slow_clients_closed: u64,
}

/// One viewer, as shown on the status page.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub id: usize,
    pub address: String,
    pub connected_since: String,
    pub connected_s: f64,
    pub bytes_sent: u64,
    pub queue_bytes: usize,
    pub keyframe_skips: u64,
    pub user_agent: String,
}

/// Everything the admin views show, taken at one moment.
#[derive(Debug)]
pub struct Snapshot<'a> {
    pub input: &'a str,
    pub header: Option<&'a StreamHeader>,
    pub input_state: &'static str,
    pub input_bytes: u64,
    pub input_reconnects: u64,
    pub input_kbps: f64,
    pub media_time_s: f64,
    pub buffered_s: f64,
    pub buffered_bytes: usize,
    pub clusters_published: u64,
    pub uptime_s: f64,
    pub clients: Vec<ClientInfo>,
    pub counters: &'a Counters,
}

impl Snapshot<'_> {
    fn bytes_sent_total(&self) -> u64 {
        self.counters.bytes_sent_closed + self.clients.iter().map(|c| c.bytes_sent).sum::<u64>()
    }

    fn keyframe_skips_total(&self) -> u64 {
        self.counters.keyframe_skips_closed
            + self.clients.iter().map(|c| c.keyframe_skips).sum::<u64>()
    }
}

/// JSON string literal with the escapes JSON requires.
fn js(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Finite number for JSON (NaN and infinities are not JSON).
fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{:.3}", x)
    } else {
        "0".into()
    }
}

/// `GET /status.json`.
pub fn json(s: &Snapshot) -> String {
    let mut o = String::with_capacity(512 + 256 * s.clients.len());
    let _ = write!(
        o,
        "{{\"version\":{},\"uptime_s\":{},",
        js(env!("CARGO_PKG_VERSION")),
        num(s.uptime_s)
    );
    let _ = write!(
        o,
        "\"stream\":{{\"input\":{},\"state\":{},",
        js(s.input),
        js(s.input_state)
    );
    match s.header {
        Some(h) => {
            let _ = write!(
                o,
                "\"doc_type\":{},\"content_type\":{},\"tracks\":[",
                js(&h.doc_type),
                js(h.content_type())
            );
            for (i, t) in h.tracks.iter().enumerate() {
                if i > 0 {
                    o.push(',');
                }
                let _ = write!(
                    o,
                    "{{\"number\":{},\"type\":{},\"codec\":{}",
                    t.number,
                    js(t.track_type.as_str()),
                    js(&t.codec_id)
                );
                if let (Some(w), Some(hh)) = (t.width, t.height) {
                    let _ = write!(o, ",\"width\":{w},\"height\":{hh}");
                }
                if let Some(ch) = t.channels {
                    let _ = write!(o, ",\"channels\":{ch}");
                }
                if let Some(f) = t.sampling_frequency {
                    let _ = write!(o, ",\"sampling_frequency\":{}", num(f));
                }
                o.push('}');
            }
            o.push_str("],");
        }
        None => o.push_str("\"doc_type\":null,\"content_type\":null,\"tracks\":[],"),
    }
    let _ = write!(
        o,
        "\"media_time_s\":{},\"input_kbps\":{},\"buffered_s\":{},\"buffered_bytes\":{},\"clusters_published\":{},\"input_bytes\":{},\"input_reconnects\":{}}},",
        num(s.media_time_s),
        num(s.input_kbps),
        num(s.buffered_s),
        s.buffered_bytes,
        s.clusters_published,
        s.input_bytes,
        s.input_reconnects
    );
    o.push_str("\"clients\":[");
    for (i, c) in s.clients.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        let _ = write!(
            o,
            "{{\"id\":{},\"address\":{},\"connected_since\":{},\"connected_s\":{},\"bytes_sent\":{},\"queue_bytes\":{},\"keyframe_skips\":{},\"user_agent\":{}}}",
            c.id,
            js(&c.address),
            js(&c.connected_since),
            num(c.connected_s),
            c.bytes_sent,
            c.queue_bytes,
            c.keyframe_skips,
            js(&c.user_agent)
        );
    }
    let k = s.counters;
    let _ = write!(
        o,
        "],\"totals\":{{\"clients_total\":{},\"rejected_full\":{},\"rejected_bad_request\":{},\"rejected_timeout\":{},\"bytes_sent\":{},\"keyframe_skips\":{},\"slow_clients_closed\":{}}}}}",
        k.clients_total,
        k.rejected_full,
        k.rejected_bad_request,
        k.rejected_timeout,
        s.bytes_sent_total(),
        s.keyframe_skips_total(),
        k.slow_clients_closed
    );
    o
}

/// Text safe inside HTML.
fn h(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.2} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// `GET /status`: a small page a person can read, refreshed every 5 s.
pub fn html(s: &Snapshot) -> String {
    let mut o = String::with_capacity(2048 + 300 * s.clients.len());
    o.push_str(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"5\">\
         <title>mkvcast status</title><style>\
         body{font:15px/1.4 system-ui,sans-serif;margin:2em;color:#222}\
         h1{font-size:1.4em}table{border-collapse:collapse;margin:.5em 0 1.5em}\
         td,th{border:1px solid #ccc;padding:.3em .7em;text-align:left}th{background:#f0f0f0}\
         td.n{text-align:right;font-variant-numeric:tabular-nums}.ok{color:#070}.warn{color:#a60}\
         </style></head><body>",
    );
    let _ = write!(
        o,
        "<h1>mkvcast {}</h1><h2>Stream</h2><table>",
        h(env!("CARGO_PKG_VERSION"))
    );
    let state_class = if s.input_state == "ended" {
        "warn"
    } else {
        "ok"
    };
    let rows: Vec<(&str, String)> = vec![
        ("Input", h(s.input)),
        (
            "State",
            format!("<span class=\"{state_class}\">{}</span>", h(s.input_state)),
        ),
        (
            "Format",
            s.header.map_or("waiting for the stream".into(), |hd| {
                format!("{} ({})", h(&hd.doc_type), h(hd.content_type()))
            }),
        ),
        (
            "Tracks",
            s.header
                .map_or(String::new(), |hd| h(&hd.describe_tracks())),
        ),
        ("Media time", format!("{:.1} s", s.media_time_s)),
        ("Input bitrate", format!("{:.0} kbit/s", s.input_kbps)),
        (
            "Buffered",
            format!(
                "{:.1} s, {}",
                s.buffered_s,
                human_bytes(s.buffered_bytes as u64)
            ),
        ),
        ("Clusters published", s.clusters_published.to_string()),
        ("Uptime", format!("{:.0} s", s.uptime_s)),
    ];
    for (k, v) in rows {
        let _ = write!(o, "<tr><th>{k}</th><td>{v}</td></tr>");
    }
    let _ = write!(
        o,
        "</table><h2>Clients ({})</h2><table><tr><th>ID</th><th>Address</th><th>Connected</th>\
         <th>Sent</th><th>Queued</th><th>Keyframe skips</th><th>User agent</th></tr>",
        s.clients.len()
    );
    for c in &s.clients {
        let _ = write!(
            o,
            "<tr><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{:.0} s</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            c.id,
            h(&c.address),
            c.connected_s,
            human_bytes(c.bytes_sent),
            human_bytes(c.queue_bytes as u64),
            c.keyframe_skips,
            h(&c.user_agent)
        );
    }
    if s.clients.is_empty() {
        o.push_str("<tr><td colspan=\"7\">no clients</td></tr>");
    }
    let k = s.counters;
    let _ = write!(
        o,
        "</table><p>{} clients since start; refused: {} full, {} bad requests, {} timeouts; \
         {} slow clients closed; {} sent.</p><p><a href=\"/status.json\">JSON</a> · \
         <a href=\"/metrics\">Prometheus metrics</a></p></body></html>",
        k.clients_total,
        k.rejected_full,
        k.rejected_bad_request,
        k.rejected_timeout,
        k.slow_clients_closed,
        human_bytes(s.bytes_sent_total())
    );
    o
}

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

#[cfg(test)]
mod tests;
