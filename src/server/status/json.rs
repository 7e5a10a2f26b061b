//! `/status.json`, for scripts and dashboards.
//!
//! The document is a set of borrowing structs serialized by `serde_json`, so
//! the key order and nesting read off the struct definitions and escaping is
//! serde_json's job. `status_json_schema_is_stable` pins the result.

use serde::{Serialize, Serializer};

use super::{ClientInfo, MountInfo, Snapshot};
use crate::matroska::header::{StreamHeader, TrackEntry};
use crate::server::ingest::IngestCounters;

/// `GET /status.json`.
pub fn json(s: &Snapshot) -> String {
    serde_json::to_string(&Status::new(s))
        .expect("structs with string keys and finite numbers always serialize")
}

/// A float as JSON. NaN and infinities are not JSON (serde_json writes
/// `null`), and consumers expect a number, so they become 0; the rest keep
/// three decimals, as much as a status view needs.
#[derive(Clone, Copy)]
struct Num(f64);

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let x = self.0;
        let rounded = (x * 1000.0).round() / 1000.0;
        let value = match (x.is_finite(), rounded.is_finite()) {
            (false, _) => 0.0,
            (true, true) => rounded,
            // Too large to scale: it has no decimals to round anyway.
            (true, false) => x,
        };
        ser.serialize_f64(value)
    }
}

#[derive(Serialize)]
struct Status<'a> {
    version: &'static str,
    uptime_s: Num,
    mounts: Vec<Mount<'a>>,
    clients: Vec<Client<'a>>,
    totals: Totals,
}

impl<'a> Status<'a> {
    fn new(s: &'a Snapshot) -> Self {
        Status {
            version: env!("CARGO_PKG_VERSION"),
            uptime_s: Num(s.uptime_s),
            mounts: s.mounts.iter().map(Mount::new).collect(),
            clients: s.clients.iter().map(Client::new).collect(),
            totals: Totals::new(s),
        }
    }
}

/// One mount: its input and its buffer. Every mount has the same keys:
/// before the stream header arrives the format keys are `null` and there
/// are no tracks; `source` is `null` until a push mount's first publisher,
/// and `ingest` is `null` for a pulled mount.
#[derive(Serialize)]
struct Mount<'a> {
    path: &'a str,
    kind: &'static str,
    source: Option<&'a str>,
    state: &'static str,
    input_state: &'static str,
    doc_type: Option<&'a str>,
    content_type: Option<&'static str>,
    tracks: Vec<Track<'a>>,
    media_time_s: Num,
    input_kbps: Num,
    buffered_s: Num,
    buffered_bytes: usize,
    clusters_published: u64,
    input_bytes: u64,
    input_reconnects: u64,
    viewers: usize,
    keyframe_skips: u64,
    ingest: Option<Ingest>,
}

impl<'a> Mount<'a> {
    fn new(m: &'a MountInfo) -> Self {
        let header = m.header;
        Mount {
            path: m.path,
            kind: m.kind,
            source: m.source.as_deref(),
            state: m.state,
            input_state: m.input_state,
            doc_type: header.map(|h| h.doc_type.as_str()),
            content_type: header.map(StreamHeader::content_type),
            tracks: header.map_or(Vec::new(), |h| h.tracks.iter().map(Track::new).collect()),
            media_time_s: Num(m.media_time_s),
            input_kbps: Num(m.input_kbps),
            buffered_s: Num(m.buffered_s),
            buffered_bytes: m.buffered_bytes,
            clusters_published: m.clusters_published,
            input_bytes: m.input_bytes,
            input_reconnects: m.input_reconnects,
            viewers: m.viewers,
            keyframe_skips: m.keyframe_skips,
            ingest: m.ingest.map(Ingest::new),
        }
    }
}

/// A push mount's publisher counts since start.
#[derive(Serialize)]
struct Ingest {
    connects: u64,
    challenges: u64,
    refusals: Refusals,
    closed_over_buffer: u64,
    closed_idle: u64,
    reconnects: u64,
}

/// Pushes refused, by reason.
#[derive(Serialize)]
struct Refusals {
    auth: u64,
    busy: u64,
    media: u64,
    throttled: u64,
    range: u64,
}

impl Ingest {
    fn new(c: &IngestCounters) -> Self {
        Ingest {
            connects: c.connects,
            challenges: c.challenges,
            refusals: Refusals {
                auth: c.refused_auth,
                busy: c.refused_busy,
                media: c.refused_media,
                throttled: c.refused_throttled,
                range: c.refused_range,
            },
            closed_over_buffer: c.closed_over_buffer,
            closed_idle: c.closed_idle,
            reconnects: c.reconnects,
        }
    }
}

/// One track; the keys a track does not have are left out.
#[derive(Serialize)]
struct Track<'a> {
    number: u64,
    #[serde(rename = "type")]
    kind: &'static str,
    codec: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    width: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    height: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    channels: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sampling_frequency: Option<Num>,
}

impl<'a> Track<'a> {
    fn new(t: &'a TrackEntry) -> Self {
        // A size is only shown whole.
        let (width, height) = t.width.zip(t.height).unzip();
        Track {
            number: t.number,
            kind: t.track_type.as_str(),
            codec: &t.codec_id,
            width,
            height,
            channels: t.channels,
            sampling_frequency: t.sampling_frequency.map(Num),
        }
    }
}

#[derive(Serialize)]
struct Client<'a> {
    id: usize,
    address: &'a str,
    connected_since: &'a str,
    connected_s: Num,
    bytes_sent: u64,
    queue_bytes: usize,
    keyframe_skips: u64,
    user_agent: &'a str,
    /// The mount's path (empty once it left it).
    mount: &'a str,
}

impl<'a> Client<'a> {
    fn new(c: &'a ClientInfo) -> Self {
        Client {
            id: c.id,
            address: &c.address,
            connected_since: &c.connected_since,
            connected_s: Num(c.connected_s),
            bytes_sent: c.bytes_sent,
            queue_bytes: c.queue_bytes,
            keyframe_skips: c.keyframe_skips,
            user_agent: &c.user_agent,
            mount: &c.mount,
        }
    }
}

/// Totals since start, live clients included.
#[derive(Serialize)]
struct Totals {
    clients_total: u64,
    rejected_full: u64,
    rejected_bad_request: u64,
    rejected_timeout: u64,
    bytes_sent: u64,
    keyframe_skips: u64,
    slow_clients_closed: u64,
}

impl Totals {
    fn new(s: &Snapshot) -> Self {
        let k = s.counters;
        Totals {
            clients_total: k.clients_total,
            rejected_full: k.rejected_full,
            rejected_bad_request: k.rejected_bad_request,
            rejected_timeout: k.rejected_timeout,
            bytes_sent: s.bytes_sent_total(),
            keyframe_skips: s.keyframe_skips_total(),
            slow_clients_closed: k.slow_clients_closed,
        }
    }
}
