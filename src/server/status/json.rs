//! `/status.json`, for scripts and dashboards.

use std::fmt::Write;

use super::Snapshot;

/// JSON string literal with the escapes JSON requires.
pub(super) fn js(s: &str) -> String {
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
pub(super) fn num(x: f64) -> String {
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
