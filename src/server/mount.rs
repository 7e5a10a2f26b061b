//! One mount point: a stream at a path, where its data comes from (an
//! input thread, or encoders pushing to it), its settings, and the
//! connections that watch it. The server holds mounts in a
//! [`Registry`](super::registry::Registry) keyed by path.

use super::config::MountOptions;
use super::ingest::Ingest;
use super::stream::Stream;
use crate::publisher::QueueLimits;
use crate::time::Nanos;

/// Where a mount's stream comes from.
pub(super) enum Source {
    /// Read on an input thread (a file, stdin or an `http://` URL).
    Pulled,
    /// Pushed by encoders, segmented on the loop.
    Push(Box<Ingest>),
}

/// What a mount is doing, for the status page and for new viewers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MountState {
    /// Data is coming in.
    Live,
    /// No publisher yet, or the last one is gone and viewers wait for the
    /// next (within the grace time).
    Waiting,
    /// The input ended: new viewers get 503 until a reload restarts it.
    Ended,
}

impl MountState {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            MountState::Live => "live",
            MountState::Waiting => "waiting",
            MountState::Ended => "ended",
        }
    }
}

/// A stream at a path and everything that belongs to it.
pub(super) struct Mount {
    /// Where viewers find it (`/` in the one-input form).
    pub path: String,
    pub stream: Stream,
    pub options: MountOptions,
    pub source: Source,
    /// Connections that watch this mount (waiting or streaming); each
    /// takes one of its `max_clients` slots.
    pub viewers: Vec<usize>,
}

impl Mount {
    pub(super) fn new(path: String, stream: Stream, options: MountOptions, source: Source) -> Self {
        Mount {
            path,
            stream,
            options,
            source,
            viewers: Vec::new(),
        }
    }

    pub(super) fn state(&self) -> MountState {
        if self.stream.is_ended() {
            return MountState::Ended;
        }
        match &self.source {
            Source::Pulled if self.stream.header().is_some() => MountState::Live,
            Source::Pulled => MountState::Waiting,
            Source::Push(i) if i.live().is_some() => MountState::Live,
            Source::Push(_) => MountState::Waiting,
        }
    }

    pub(super) fn ingest(&self) -> Option<&Ingest> {
        match &self.source {
            Source::Push(i) => Some(i),
            Source::Pulled => None,
        }
    }

    pub(super) fn ingest_mut(&mut self) -> Option<&mut Ingest> {
        match &mut self.source {
            Source::Push(i) => Some(i),
            Source::Pulled => None,
        }
    }

    /// Queue limits of this mount's viewers.
    pub(super) fn limits(&self) -> QueueLimits {
        QueueLimits {
            max_media: Nanos::from_millis(self.options.client_queue_ms),
            max_bytes: self.options.client_queue_bytes,
        }
    }

    /// Forgets connection `key` as a viewer; whether it was one.
    pub(super) fn drop_viewer(&mut self, key: usize) -> bool {
        match self.viewers.iter().position(|&k| k == key) {
            Some(i) => {
                self.viewers.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// A push mount starts over: the next publisher's stream is a new
    /// one, with its own header.
    pub(super) fn reset_stream(&mut self) {
        let Source::Push(ingest) = &mut self.source else {
            return;
        };
        ingest.reset();
        self.stream = Stream::pushed(
            self.stream.name().to_string(),
            self.stream.input_stats.clone(),
            self.options.buffer_ms,
            self.options.burst_bytes,
        );
    }

    /// New settings from a reload: they apply to viewers that come after.
    pub(super) fn set_options(&mut self, options: MountOptions) {
        self.stream
            .publisher
            .set_burst(options.buffer_ms, options.burst_bytes);
        self.options = options;
    }
}
