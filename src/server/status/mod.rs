//! The admin views of a running server: `/status.json`, a small HTML
//! `/status` page, and Prometheus `/metrics`. They are rendered from a
//! [`Snapshot`] the event loop takes, so they cannot disturb streaming.

mod html;
mod json;
mod metrics;

pub(crate) use html::h;
pub use html::html;
pub use json::json;
pub use metrics::metrics;

use super::ingest::IngestCounters;
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
    /// The mount it watches (empty once it left it).
    pub mount: String,
}

/// One mount, as the admin views show it.
#[derive(Debug)]
pub struct MountInfo<'a> {
    /// Where viewers find it (`/` in the one-input form).
    pub path: &'a str,
    /// `pull` or `push`.
    pub kind: &'static str,
    /// The input's name, or the latest publisher's address (`None` for a
    /// push mount nobody has published to yet).
    pub source: Option<String>,
    /// `live`, `waiting` or `ended`.
    pub state: &'static str,
    pub header: Option<&'a StreamHeader>,
    pub input_state: &'static str,
    pub input_bytes: u64,
    pub input_reconnects: u64,
    pub input_kbps: f64,
    pub media_time_s: f64,
    pub buffered_s: f64,
    pub buffered_bytes: usize,
    pub clusters_published: u64,
    /// Viewers watching now (waiting ones included).
    pub viewers: usize,
    /// Keyframe skips of its current viewers.
    pub keyframe_skips: u64,
    /// Publisher counts of a push mount.
    pub ingest: Option<&'a IngestCounters>,
}

/// Everything the admin views show, taken at one moment.
#[derive(Debug)]
pub struct Snapshot<'a> {
    pub uptime_s: f64,
    pub clients: Vec<ClientInfo>,
    pub counters: &'a Counters,
    /// Every mount, by path.
    pub mounts: Vec<MountInfo<'a>>,
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

#[cfg(test)]
mod tests;
