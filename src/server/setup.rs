//! How a caller describes the mounts to serve, and how each becomes a
//! [`Mount`]: a pulled one takes its input thread's events, a pushed one
//! gets an ingest that segments on the loop.

use std::sync::Arc;

use super::config::MountOptions;
use super::ingest::{Ingest, IngestAuth};
use super::mount::{Mount, Source};
use super::stream::{Stream, StreamInput};
use crate::input::InputStats;
use crate::segmenter::SegmenterOptions;

/// A mount to serve, as the caller sets it up.
pub struct MountSetup {
    /// Where viewers find it: starts with `/` (checked by the caller, see
    /// [`config::check_path`](crate::config::check_path)).
    pub path: String,
    /// Its settings (the command line's unless the mount says otherwise).
    pub options: MountOptions,
    /// Where its stream comes from.
    pub source: MountSource,
}

/// Where a mount's stream comes from.
pub enum MountSource {
    /// The events of an input thread the caller started.
    Pulled(StreamInput),
    /// Encoders push to it, as to an Icecast mount.
    Push(IngestAuth),
}

impl MountSetup {
    pub(super) fn into_mount(self) -> Mount {
        let o = &self.options;
        match self.source {
            MountSource::Pulled(input) => {
                let stream = Stream::new(input, o.buffer_ms, o.burst_bytes);
                Mount::new(self.path, stream, self.options, Source::Pulled)
            }
            MountSource::Push(auth) => {
                let stats = Arc::new(InputStats::default());
                let name = format!("push to {}", self.path);
                let stream = Stream::pushed(name, stats.clone(), o.buffer_ms, o.burst_bytes);
                let seg = SegmenterOptions {
                    keep_attachments: o.keep_attachments,
                    forward_blocks: true,
                };
                let ingest = Ingest::new(auth, seg, stats);
                Mount::new(
                    self.path,
                    stream,
                    self.options,
                    Source::Push(Box::new(ingest)),
                )
            }
        }
    }
}

/// The one-input form's mount: every stream path, labelled `/`.
pub(super) fn single_mount(input: StreamInput, options: MountOptions) -> Mount {
    MountSetup {
        path: "/".into(),
        options,
        source: MountSource::Pulled(input),
    }
    .into_mount()
}
