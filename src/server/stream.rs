//! One stream as the server holds it: the input's events, the publisher
//! (header and ring), the response head for its content type, how the
//! input ended, and its input statistics. The connections that watch it
//! live in the server; a registry of these, keyed by mount path, is how
//! several streams will share one loop.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::http;
use crate::input::{InputError, InputEvent, InputFailure, InputStats};
use crate::matroska::header::StreamHeader;
use crate::publisher::{HeaderChange, Publisher, MAX_BUFFER_BYTES};

/// Window over which the input bitrate is measured.
const RATE_WINDOW: Duration = Duration::from_secs(10);

/// The input side of a stream, as its caller hands it to the server.
pub struct StreamInput {
    /// Events from the input thread, in order.
    pub events: Receiver<InputEvent>,
    /// The input's name, as errors about it say.
    pub name: String,
    /// Counters the input thread keeps.
    pub stats: Arc<InputStats>,
}

/// A stream and everything the server knows about it.
pub struct Stream {
    /// A pulled input's events; pushed streams are fed on the loop.
    events: Option<Receiver<InputEvent>>,
    pub(super) publisher: Publisher,
    /// Response head for the current header's content type.
    head: Option<Bytes>,
    /// Set when the input ended: how it ended.
    ended: Option<Result<(), InputFailure>>,
    /// Why an otherwise normal end should exit non-zero.
    failure: Option<InputFailure>,
    /// The input's name, for errors the server reports for it.
    name: String,
    pub(super) input_stats: Arc<InputStats>,
    /// (time, input bytes) samples for the input bitrate.
    rate_samples: VecDeque<(Instant, u64)>,
    /// Whether the "streaming … on http://…" line was printed.
    pub(super) announced: bool,
}

impl Stream {
    pub fn new(input: StreamInput, buffer_ms: u64, burst_bytes: usize) -> Self {
        let mut s = Stream::pushed(input.name, input.stats, buffer_ms, burst_bytes);
        s.events = Some(input.events);
        s
    }

    /// A stream whose events the loop makes itself (an ingest mount).
    pub fn pushed(
        name: String,
        stats: Arc<InputStats>,
        buffer_ms: u64,
        burst_bytes: usize,
    ) -> Self {
        Stream {
            events: None,
            publisher: Publisher::new(buffer_ms, burst_bytes, MAX_BUFFER_BYTES),
            head: None,
            ended: None,
            failure: None,
            name,
            input_stats: stats,
            rate_samples: VecDeque::new(),
            announced: false,
        }
    }

    /// The next event from the input; `End` with an error once if the input
    /// thread went away without saying how it ended.
    pub fn next_event(&mut self) -> Option<InputEvent> {
        match self.events.as_ref()?.try_recv() {
            Ok(ev) => Some(ev),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) if self.ended.is_none() => {
                Some(InputEvent::End(Err(InputFailure {
                    input: self.name.clone(),
                    error: Arc::new(InputError::Stopped),
                })))
            }
            Err(TryRecvError::Disconnected) => None,
        }
    }

    /// The input's name, as errors about it say.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn header(&self) -> Option<&Arc<StreamHeader>> {
        self.publisher.header()
    }

    /// The head of a stream response, once the header is known.
    pub fn response_head(&self) -> Option<&Bytes> {
        self.head.as_ref()
    }

    /// Installs a new header and the response head for its content type.
    pub fn set_header(&mut self, h: Arc<StreamHeader>) -> HeaderChange {
        self.head = Some(http::stream_head(h.content_type()));
        self.publisher.set_header(h)
    }

    pub fn is_ended(&self) -> bool {
        self.ended.is_some()
    }

    /// Records how the input ended. An error before any header is the
    /// process's failure (nothing was served); later it is only logged.
    pub fn end(&mut self, result: Result<(), InputFailure>) {
        match &result {
            Ok(()) => log::info!("input ended: sending what is queued, then closing"),
            Err(e) if self.header().is_none() => self.failure = Some(e.clone()),
            Err(e) => log::warn!("{e}; sending what is queued, then closing"),
        }
        self.ended = Some(result);
    }

    /// Why the stream failed, if it did: the one-line exit reason.
    pub fn take_failure(&mut self) -> Option<InputFailure> {
        match (self.failure.take(), self.ended.take()) {
            (Some(f), _) => Some(f),
            (None, Some(Err(e))) if self.header().is_none() => Some(e),
            _ => None,
        }
    }

    /// Records input progress for the bitrate.
    pub fn sample_rate(&mut self, now: Instant) {
        self.rate_samples.push_back((now, self.input_stats.bytes()));
        while self
            .rate_samples
            .front()
            .is_some_and(|s| now.duration_since(s.0) > RATE_WINDOW)
        {
            self.rate_samples.pop_front();
        }
    }

    /// Input bitrate over the last [`RATE_WINDOW`].
    pub fn input_kbps(&self) -> f64 {
        match (self.rate_samples.front(), self.rate_samples.back()) {
            (Some(a), Some(b)) if b.0 > a.0 => {
                (b.1 - a.1) as f64 * 8.0 / 1000.0 / (b.0 - a.0).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}
