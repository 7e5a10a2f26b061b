//! The input side: open a file, stdin or an `http://` URL, read it on its
//! own thread, segment it, keep timestamps continuous across loops and
//! encoder restarts, and publish each block when the wall clock reaches
//! its time, as a player would.

mod deliver;
mod http;
mod open;
mod pacer;
mod push;
mod redirect;
mod stats;

use std::io::{self, Read};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::matroska::header::StreamHeader;
use crate::segmenter::{prefetch_file, Event, LiveBlock, LiveCluster, Segmenter, SegmenterOptions};
use crate::time::{Nanos, Ticks};
use deliver::Delivery;
use pacer::{Pacer, WallClock};

pub use open::{Input, InputError, InputFailure, Reader};
pub use push::PushInput;
pub use stats::{InputState, InputStats};

/// Read size: large enough for few syscalls, small next to a cluster.
const READ_CHUNK: usize = 64 << 10;
/// Bounds of the reconnection back-off.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// What the input thread hands to the server, in order.
///
/// Clusters arrive as `ClusterStart`, any number of `Block`s, then
/// `ClusterEnd` with the completed cluster, which holds exactly those
/// blocks. When pacing, each block comes when its decode time is due and
/// `ClusterStart` comes with the first block (or, for a cluster without
/// any, with its `ClusterEnd`). With
/// [`forward_blocks`](InputOptions::forward_blocks) off there is no `Block`
/// and `ClusterStart` comes right before `ClusterEnd`, at the cluster's
/// start.
#[derive(Debug, Clone)]
pub enum InputEvent {
    /// The first header, or a header with different tracks.
    Header(Arc<StreamHeader>),
    /// The same tracks started again (loop, encoder restart): clients go on
    /// at the next keyframe cluster; timestamps stay continuous.
    Restart,
    /// A cluster begins: its Timestamp (after continuity shifts) is known.
    /// Preceded by `Restart` at the first cluster after a discontinuity.
    ClusterStart {
        /// Cluster Timestamp.
        timestamp: Ticks,
        /// The same in nanoseconds.
        start: Nanos,
    },
    /// One child of the open cluster, as it goes on the wire after the
    /// cluster's Timestamp: its bytes as the input had them (block times
    /// are relative to the cluster's), its `timestamp` shifted like the
    /// cluster's.
    Block(LiveBlock),
    /// The open cluster is complete: the self-contained cluster joiners get.
    ClusterEnd(LiveCluster),
    /// The input ended (when paced, after its media has played out); an
    /// error when it failed.
    End(Result<(), InputFailure>),
}

/// How the input is read.
#[derive(Debug, Clone, Copy)]
pub struct InputOptions {
    /// Publish at the media's own pace (off for inputs already live).
    pub pace: bool,
    /// Start a file again at its end, with continuous timestamps.
    pub looping: bool,
    /// For an `http://` input: how long to keep reconnecting without
    /// receiving a cluster before the input counts as ended.
    pub reconnect_timeout: Duration,
    /// Keep Attachments in the live header even when no subtitle track
    /// needs their fonts (see [`SegmenterOptions`]).
    pub keep_attachments: bool,
    /// Forward each cluster's blocks as they are read (and, when pacing,
    /// as they are due) instead of whole clusters: live viewers then wait
    /// for a frame, not a cluster.
    pub forward_blocks: bool,
}

/// Starts the input thread. `emit` receives every event in order; it must
/// not block for long (it hands events to the event loop).
pub fn spawn<F>(
    input: Input,
    reader: Reader,
    options: InputOptions,
    stats: Arc<InputStats>,
    mut emit: F,
) -> thread::JoinHandle<()>
where
    F: FnMut(InputEvent) + Send + 'static,
{
    thread::Builder::new()
        .name("input".into())
        .spawn(move || {
            let result = run(&input, reader, options, &stats, &mut emit);
            stats.set_state(InputState::Ended);
            // Logged (or printed as the exit reason) by the receiver, once.
            emit(InputEvent::End(result.map_err(|e| InputFailure {
                input: input.name(),
                error: Arc::new(e),
            })));
        })
        .expect("spawning the input thread")
}

/// Reads pass after pass (`--loop`, reconnects) until the input ends.
fn run<F: FnMut(InputEvent)>(
    input: &Input,
    mut reader: Reader,
    options: InputOptions,
    stats: &Arc<InputStats>,
    emit: &mut F,
) -> Result<(), InputError> {
    let mut segmenter = Segmenter::with_options(SegmenterOptions {
        keep_attachments: options.keep_attachments,
        forward_blocks: options.forward_blocks,
    });
    // A regular file may keep its Tracks after the first Cluster, found
    // through its SeekHead; pipes and URLs can only be read in order.
    if let Reader::File(f) = &mut reader {
        segmenter.preload(prefetch_file(f));
    }
    let pacer = options.pace.then(|| Pacer::new(WallClock));
    let mut runner = Runner {
        input,
        options,
        stats,
        emit,
        segmenter,
        delivery: Delivery::new(pacer, reader.is_regular_file(), stats.clone()),
        events: Vec::new(),
        buf: vec![0u8; READ_CHUNK],
    };
    let mut passes = 0u64;
    let mut last_cluster = Instant::now();
    loop {
        let clusters = runner.pass(&mut reader)?;
        passes += 1;
        runner.log_pass(passes);
        if clusters > 0 {
            last_cluster = Instant::now();
        }
        match runner.next_reader(reader, clusters, last_cluster)? {
            Some(next) => reader = next,
            None => break,
        }
    }
    // The input counts as ended when its media has played out.
    runner.delivery.wait_end();
    Ok(())
}

/// The state of the input thread between passes.
struct Runner<'a, F> {
    input: &'a Input,
    options: InputOptions,
    stats: &'a InputStats,
    emit: &'a mut F,
    segmenter: Segmenter,
    delivery: Delivery<WallClock>,
    events: Vec<Event>,
    buf: Vec<u8>,
}

impl<F: FnMut(InputEvent)> Runner<'_, F> {
    /// Reads `reader` to its end; returns the clusters delivered.
    fn pass(&mut self, reader: &mut Reader) -> Result<u64, InputError> {
        let mut clusters = 0;
        loop {
            if self.stats.stop_requested() {
                return Err(InputError::Stopped);
            }
            let n = self.read(reader)?;
            match n {
                Some(n) => self
                    .segmenter
                    .feed(self.buf.get(..n).unwrap_or(&[]), &mut self.events),
                None => self.segmenter.finish(&mut self.events),
            }
            .map_err(|e| InputError::NoStream(e.to_string()))?;
            clusters += self.delivery.deliver(self.events.drain(..), self.emit);
            if n.is_none() {
                self.delivery.end_pass(self.emit);
                return Ok(clusters);
            }
        }
    }

    /// The next bytes into `buf`: `None` when the input ended (or broke
    /// after it had played, which counts as an end).
    fn read(&mut self, reader: &mut Reader) -> Result<Option<usize>, InputError> {
        loop {
            match reader.read(&mut self.buf) {
                Ok(0) => return Ok(None),
                Ok(n) => {
                    self.stats.add_bytes(n);
                    return Ok(Some(n));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if self.segmenter.stats().clusters > 0 || self.is_http() => {
                    log::warn!("input {}: read error, ending: {e}", self.input.name());
                    return Ok(None);
                }
                Err(e) => return Err(InputError::Read(e)),
            }
        }
    }

    fn is_http(&self) -> bool {
        matches!(self.input, Input::Http { .. })
    }

    fn log_pass(&self, passes: u64) {
        let s = self.segmenter.stats();
        log::info!(
            "input {} ended (pass {passes}): {} bytes, {} clusters, {} bytes skipped",
            self.input.name(),
            s.bytes_in,
            s.clusters,
            s.bytes_skipped
        );
    }

    /// After a pass of `clusters` clusters: the reader of the next pass
    /// (reconnected, or rewound for `--loop`), or `None` at the end.
    fn next_reader(
        &self,
        reader: Reader,
        clusters: u64,
        last_cluster: Instant,
    ) -> Result<Option<Reader>, InputError> {
        let started = self.delivery.continuity().stream_header().is_some();
        if self.is_http() {
            let timeout = self.options.reconnect_timeout;
            return match reconnect(self.input, last_cluster, timeout, self.stats) {
                Some(r) => Ok(Some(r)),
                None if !started => Err(InputError::NoStream(
                    "gave no playable Matroska/WebM stream".into(),
                )),
                None => Ok(None),
            };
        }
        if clusters == 0 && !started {
            let bytes_in = self.segmenter.stats().bytes_in;
            return Err(InputError::NoStream(if bytes_in == 0 {
                "is empty (0 bytes read)".into()
            } else {
                "holds no playable Matroska/WebM stream".into()
            }));
        }
        if !(self.options.looping && clusters > 0) {
            return Ok(None);
        }
        reader.rewind(self.input).map(Some)
    }
}

/// Reconnects to an `http://` input with jittered exponential back-off,
/// until `timeout` has passed since the last cluster arrived.
fn reconnect(
    input: &Input,
    last_cluster: Instant,
    timeout: Duration,
    stats: &InputStats,
) -> Option<Reader> {
    let mut backoff = BACKOFF_MIN;
    loop {
        let waited = last_cluster.elapsed();
        if stats.stop_requested() {
            return None;
        }
        if waited >= timeout {
            log::warn!(
                "input {}: no usable stream for {:.0} s (--reconnect-timeout-ms): giving up",
                input.name(),
                waited.as_secs_f64()
            );
            return None;
        }
        stats.set_state(InputState::Reconnecting);
        let pause = jitter(backoff).min(timeout - waited);
        log::warn!(
            "input {}: lost; reconnecting in {} ms",
            input.name(),
            pause.as_millis()
        );
        thread::sleep(pause);
        match input.open() {
            Ok(r) => {
                stats.add_reconnect();
                stats.set_state(InputState::Reading);
                log::info!("input {}: reconnected", input.name());
                return Some(r);
            }
            Err(e) => log::warn!("input {}: {e}", input.name()),
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// `d` ± 20%, so that relays of one upstream do not reconnect in step.
fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    let factor = 0.8 + f64::from(nanos % 1000) / 1000.0 * 0.4;
    d.mul_f64(factor)
}
