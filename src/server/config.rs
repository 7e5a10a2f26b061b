//! What the server is told on the command line, with the defaults a
//! command line without options gets.

use std::time::Duration;

/// Limits and timeouts of the HTTP side.
#[derive(Debug, Clone)]
pub struct Config {
    /// Viewers streaming at once; more get 503.
    pub max_clients: usize,
    /// Connections still sending their request, capped apart from viewers.
    pub max_pending: usize,
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
    /// Time allowed to send a complete request.
    pub request_timeout: Duration,
    /// A viewer taking no data for this long is closed.
    pub stall_timeout: Duration,
    /// Time clients get to take their queued data after a shutdown request.
    pub drain_timeout: Duration,
    /// Viewers allowed per remote address (`None`: no limit).
    pub max_clients_per_ip: Option<usize>,
    /// A name for the input, for logs and the status page.
    pub input_name: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_clients: 16,
            max_pending: 1024,
            buffer_ms: 3000,
            burst_bytes: 64 << 10,
            flush: Duration::from_millis(50),
            client_queue_ms: 10_000,
            client_queue_bytes: 32 << 20,
            request_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(5),
            max_clients_per_ip: None,
            input_name: String::new(),
        }
    }
}
