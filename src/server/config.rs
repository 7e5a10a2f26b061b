//! What the server is told on the command line (or in the config file),
//! with the defaults a command line without options gets: process-wide
//! limits in [`Config`], per-stream ones in [`MountOptions`].

use std::time::Duration;

/// Limits and timeouts of the HTTP side, for the whole process.
#[derive(Debug, Clone)]
pub struct Config {
    /// Connections still sending their request (or idle between requests),
    /// capped apart from viewers.
    pub max_pending: usize,
    /// Viewers streaming at once across all mounts; more get 503.
    pub max_clients_total: usize,
    /// Time allowed to send a complete request, from its first byte.
    pub request_timeout: Duration,
    /// A kept-alive connection with no new request for this long closes.
    pub keepalive_timeout: Duration,
    /// A viewer taking no data for this long is closed.
    pub stall_timeout: Duration,
    /// Time clients get to take their queued data after a shutdown request.
    pub drain_timeout: Duration,
    /// Viewers allowed per remote address, over all mounts (`None`: no
    /// limit).
    pub max_clients_per_ip: Option<usize>,
    /// Ingest bytes held outside the rings (publishers' clusters being
    /// received), over all publishers.
    pub max_ingest_buffer_bytes: usize,
    /// Per-stream settings of the one-input form, and the defaults of
    /// mounts that do not say otherwise.
    pub mount: MountOptions,
}

/// Settings of one stream (mount). A reload applies them to connections
/// that come after it.
#[derive(Debug, Clone, PartialEq)]
pub struct MountOptions {
    /// Viewers of this mount streaming at once; more get 503.
    pub max_clients: usize,
    /// Media a joiner gets at least, in ms (from a keyframe).
    pub buffer_ms: u64,
    /// Bytes a joiner gets at least (from a keyframe): players need some
    /// tens of kilobytes before they start, more than a low-bitrate
    /// stream's few seconds.
    pub burst_bytes: usize,
    /// A viewer with new data is written no later than this after the
    /// data arrived, and no more often (zero: at once).
    pub flush: Duration,
    /// Media a slow viewer may have queued before it skips ahead, in ms.
    pub client_queue_ms: u64,
    /// Bytes a viewer may have queued before it skips ahead.
    pub client_queue_bytes: usize,
    /// A publisher that sends nothing for this long is closed.
    pub source_idle_timeout: Duration,
    /// After a publisher is gone, how long viewers wait for the next one.
    pub source_grace: Duration,
    /// How long a viewer waits for a first publisher (`None`: forever).
    pub source_wait: Option<Duration>,
    /// Keep Attachments of a pushed stream even when no subtitle track
    /// needs them.
    pub keep_attachments: bool,
    /// A name for the input, for logs and the status page.
    pub input_name: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_pending: 1024,
            max_clients_total: 1024,
            request_timeout: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(15),
            stall_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(5),
            max_clients_per_ip: None,
            max_ingest_buffer_bytes: 256 << 20,
            mount: MountOptions::default(),
        }
    }
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            max_clients: 16,
            buffer_ms: 3000,
            burst_bytes: 64 << 10,
            flush: Duration::from_millis(50),
            client_queue_ms: 10_000,
            client_queue_bytes: 32 << 20,
            source_idle_timeout: Duration::from_secs(10),
            source_grace: Duration::from_secs(10),
            source_wait: None,
            keep_attachments: false,
            input_name: String::new(),
        }
    }
}
