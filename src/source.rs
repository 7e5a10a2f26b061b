//! The input side: open a file, stdin or an `http://` URL, read it on its
//! own thread, segment it, keep timestamps continuous across loops and
//! encoder restarts, and publish each cluster when the wall clock reaches
//! its time, as a player would.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::matroska::header::StreamHeader;
use crate::segmenter::{prefetch_file, Event, LiveCluster, Segmenter};
use crate::time::{Nanos, Ticks};

/// Read size: large enough for few syscalls, small next to a cluster.
const READ_CHUNK: usize = 64 << 10;
/// A forward jump in media time larger than this re-anchors the clock
/// instead of pausing publication for that long.
const MAX_FORWARD_JUMP_NS: u64 = 5_000_000_000;
/// An `http://` upstream that sends nothing for this long is dropped and
/// reconnected.
const HTTP_STALL: Duration = Duration::from_secs(10);
/// Bounds of the reconnection back-off.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Lateness beyond which the clock re-anchors instead of bursting.
const LATE_TOLERANCE: Duration = Duration::from_millis(50);

/// Where the stream comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    File(PathBuf),
    Stdin,
    Http {
        host: String,
        port: u16,
        path: String,
    },
}

/// Why an input could not be opened or read.
#[derive(Debug)]
pub enum SourceError {
    Open(String, io::Error),
    UnsupportedUrl(String),
    Http(String),
    Read(io::Error),
    /// The input ended before a playable stream header was read.
    NoStream(String),
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceError::Open(what, e) => write!(f, "cannot open {what}: {e}"),
            SourceError::UnsupportedUrl(u) => write!(
                f,
                "unsupported input URL {u:?}: only http:// is built in (https:// needs a TLS library; put a TLS-terminating proxy in front)"
            ),
            SourceError::Http(e) => write!(f, "HTTP input: {e}"),
            SourceError::Read(e) => write!(f, "read error: {e}"),
            SourceError::NoStream(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SourceError {}

impl Input {
    /// Parses the INPUT argument: `-` is stdin, `http://…` a URL, anything
    /// else a file path.
    pub fn parse(arg: &str) -> Result<Input, SourceError> {
        if arg == "-" {
            return Ok(Input::Stdin);
        }
        let lower = arg.to_ascii_lowercase();
        if let Some(rest) = lower.strip_prefix("http://").map(|_| &arg[7..]) {
            let (authority, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            let (host, port) = match authority.rsplit_once(':') {
                Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => match p.parse::<u16>() {
                    Ok(p) => (h, p),
                    Err(_) if authority.starts_with('[') && authority.ends_with(']') => {
                        (authority, 80)
                    }
                    Err(_) => return Err(SourceError::Http(format!("bad port in {arg:?}"))),
                },
                _ => (authority, 80),
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if host.is_empty() {
                return Err(SourceError::Http(format!("no host in {arg:?}")));
            }
            return Ok(Input::Http {
                host: host.to_string(),
                port,
                path: path.to_string(),
            });
        }
        if lower.contains("://") {
            return Err(SourceError::UnsupportedUrl(arg.to_string()));
        }
        Ok(Input::File(PathBuf::from(arg)))
    }

    /// A short name for logs.
    pub fn name(&self) -> String {
        match self {
            Input::File(p) => p.display().to_string(),
            Input::Stdin => "stdin".into(),
            Input::Http { host, port, path } if host.contains(':') => {
                format!("http://[{host}]:{port}{path}")
            }
            Input::Http { host, port, path } => format!("http://{host}:{port}{path}"),
        }
    }

    /// Opens the input for reading.
    pub fn open(&self) -> Result<Reader, SourceError> {
        match self {
            Input::File(p) => {
                let f = std::fs::File::open(p)
                    .map_err(|e| SourceError::Open(p.display().to_string(), e))?;
                if f.metadata().map(|m| m.is_dir()).unwrap_or(false) {
                    return Err(SourceError::Open(
                        p.display().to_string(),
                        io::Error::new(io::ErrorKind::InvalidInput, "is a directory"),
                    ));
                }
                Ok(Reader::File(f))
            }
            Input::Stdin => Ok(Reader::Stream(Box::new(io::stdin()))),
            Input::Http { host, port, path } => open_http(host, *port, path).map(Reader::Stream),
        }
    }
}

/// An opened input. A file starts again by seeking, without a new file
/// descriptor, so `--loop` cannot fail at the loop point for want of one.
pub enum Reader {
    File(std::fs::File),
    Stream(Box<dyn Read + Send>),
}

impl Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Reader::File(f) => f.read(buf),
            Reader::Stream(r) => r.read(buf),
        }
    }
}

/// GETs an `http://` stream and returns its body reader.
fn open_http(host: &str, port: u16, path: &str) -> Result<Box<dyn Read + Send>, SourceError> {
    let name = format!("{host}:{port}");
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| SourceError::Open(name.clone(), e))?
        .collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    let mut stream = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, Duration::from_secs(10)) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let mut stream = stream.ok_or_else(|| SourceError::Open(name.clone(), last))?;
    stream
        .set_read_timeout(Some(HTTP_STALL))
        .map_err(SourceError::Read)?;
    let host_header = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: mkvcast/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    stream
        .write_all(req.as_bytes())
        .map_err(SourceError::Read)?;
    // Read until the end of the response head.
    let mut head = Vec::with_capacity(1024);
    let mut byte = [0u8; 1024];
    let body_start = loop {
        let n = stream.read(&mut byte).map_err(SourceError::Read)?;
        if n == 0 {
            return Err(SourceError::Http(format!(
                "{name} closed before sending a response"
            )));
        }
        head.extend_from_slice(&byte[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&head) {
            Ok(httparse::Status::Complete(len)) => {
                let code = resp.code.unwrap_or(0);
                if code != 200 {
                    return Err(SourceError::Http(format!(
                        "{name} answered {code} {}",
                        resp.reason.unwrap_or("")
                    )));
                }
                let chunked = resp.headers.iter().any(|h| {
                    h.name.eq_ignore_ascii_case("transfer-encoding")
                        && String::from_utf8_lossy(h.value)
                            .to_ascii_lowercase()
                            .contains("chunked")
                });
                if chunked {
                    return Err(SourceError::Http(format!(
                        "{name} sends chunked transfer encoding, which is not supported"
                    )));
                }
                break len;
            }
            Ok(httparse::Status::Partial) if head.len() < 64 << 10 => continue,
            Ok(httparse::Status::Partial) => {
                return Err(SourceError::Http("response head too large".into()))
            }
            Err(e) => {
                return Err(SourceError::Http(format!(
                    "malformed response from {name}: {e}"
                )))
            }
        }
    };
    let rest = head.split_off(body_start);
    Ok(Box::new(io::Cursor::new(rest).chain(stream)))
}

/// What the input is doing, for status pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum InputState {
    Reading = 0,
    /// Waiting for the wall clock to reach the next cluster's time.
    Paced = 1,
    Ended = 2,
    Reconnecting = 3,
}

impl InputState {
    pub fn as_str(self) -> &'static str {
        match self {
            InputState::Reading => "reading",
            InputState::Paced => "paced",
            InputState::Ended => "ended",
            InputState::Reconnecting => "reconnecting",
        }
    }
}

/// Counters the input thread updates and the server reads.
#[derive(Debug, Default)]
pub struct InputStats {
    bytes: AtomicU64,
    state: AtomicU8,
    reconnects: AtomicU64,
}

impl InputStats {
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    pub fn state(&self) -> InputState {
        match self.state.load(Ordering::Relaxed) {
            0 => InputState::Reading,
            1 => InputState::Paced,
            3 => InputState::Reconnecting,
            _ => InputState::Ended,
        }
    }

    fn set_state(&self, s: InputState) {
        self.state.store(s as u8, Ordering::Relaxed);
    }

    fn add_bytes(&self, n: usize) {
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// What the input thread hands to the server, in order.
///
/// Clusters arrive as `ClusterStart`, any number of `Block`s, then
/// `ClusterEnd` with the completed cluster. Today every cluster is delivered
/// whole (no `Block` events between start and end); forwarding blocks as
/// they arrive changes what is sent between the two, not this interface.
#[derive(Debug, Clone)]
pub enum SourceEvent {
    /// The first header, or a header with different tracks.
    Header(Arc<StreamHeader>),
    /// The same tracks started again (loop, encoder restart): clients go on
    /// at the next keyframe cluster; timestamps stay continuous.
    Restart,
    /// A cluster begins: its Timestamp (after continuity shifts) is known.
    ClusterStart {
        /// Cluster Timestamp.
        timestamp: Ticks,
        /// The same in nanoseconds.
        start: Nanos,
    },
    /// One block (a SimpleBlock or BlockGroup element) of the open cluster.
    Block(bytes::Bytes),
    /// The open cluster is complete: the self-contained cluster joiners get.
    ClusterEnd(LiveCluster),
    /// The input ended (after the last cluster's time has passed when
    /// paced); an error when it failed.
    End(Result<(), String>),
}

/// How the input is read.
#[derive(Debug, Clone, Copy)]
pub struct SourceOptions {
    /// Publish at the media's own pace (off for inputs already live).
    pub pace: bool,
    /// Start a file again at its end, with continuous timestamps.
    pub looping: bool,
    /// For an `http://` input: how long to keep reconnecting without
    /// receiving a cluster before the input counts as ended.
    pub reconnect_timeout: Duration,
}

/// Keeps cluster timestamps strictly increasing across loops, encoder
/// restarts and backward jumps, by shifting them.
#[derive(Debug, Default)]
struct Continuity {
    header: Option<Arc<StreamHeader>>,
    /// Shift applied to cluster timestamps, in ticks.
    offset: i128,
    /// Recompute the shift at the next cluster.
    rebase: bool,
    last_ts: Option<u64>,
    last_end_ns: u64,
}

impl Continuity {
    /// A header from the segmenter: `None` when it continues the current
    /// stream (same tracks), so clients simply go on.
    fn header(&mut self, header: Arc<StreamHeader>) -> Option<SourceEvent> {
        if self.header.as_ref().is_some_and(|h| h.same_tracks(&header)) {
            self.rebase = true;
            self.header = Some(header);
            return None;
        }
        // A different stream starts over: clients of the old one are closed.
        *self = Continuity {
            header: Some(header.clone()),
            ..Default::default()
        };
        Some(SourceEvent::Header(header))
    }

    fn segment(&mut self, seg: LiveCluster) -> (LiveCluster, bool) {
        let scale = self
            .header
            .as_ref()
            .map_or(1_000_000, |h| h.timestamp_scale)
            .max(1);
        let shifted = self.offset + i128::from(seg.timestamp.0);
        let went_back = self.last_ts.is_some_and(|last| shifted <= i128::from(last));
        let restarted = self.rebase || went_back;
        if restarted {
            if let Some(last) = self.last_ts {
                // Continue right after the end of the last cluster.
                let next =
                    (i128::from(self.last_end_ns) + i128::from(scale) - 1) / i128::from(scale);
                let next = next.max(i128::from(last) + 1);
                self.offset = next - i128::from(seg.timestamp.0);
            }
            self.rebase = false;
        }
        let ts = u64::try_from(self.offset + i128::from(seg.timestamp.0)).unwrap_or(0);
        let out = if ts == seg.timestamp.0 {
            seg
        } else {
            seg.with_timestamp(Ticks(ts), scale)
        };
        self.last_ts = Some(out.timestamp.0);
        self.last_end_ns = out.end().0;
        (out, restarted)
    }
}

/// Publishes clusters when the wall clock reaches their media time.
#[derive(Debug, Default)]
struct Pacer {
    anchor: Option<(Instant, u64)>,
    last_ns: u64,
}

impl Pacer {
    /// Waits until `media_ns` is due.
    fn wait(&mut self, media_ns: u64) {
        let now = Instant::now();
        let (at, base) = match self.anchor {
            Some((at, base))
                if media_ns >= base
                    && media_ns <= self.last_ns.saturating_add(MAX_FORWARD_JUMP_NS) =>
            {
                (at, base)
            }
            _ => {
                // First cluster, a step back, or a big jump: re-anchor.
                self.anchor = Some((now, media_ns));
                (now, media_ns)
            }
        };
        self.last_ns = media_ns;
        let due = at + Duration::from_nanos(media_ns - base);
        if due > now {
            thread::sleep(due - now);
        } else if now - due > LATE_TOLERANCE {
            // The input is slower than real time: never burst to catch up.
            self.anchor = Some((now, media_ns));
        }
    }
}

/// Starts the input thread. `emit` receives every event in order; it must
/// not block for long (it hands events to the event loop).
pub fn spawn<F>(
    input: Input,
    reader: Reader,
    options: SourceOptions,
    stats: Arc<InputStats>,
    mut emit: F,
) -> thread::JoinHandle<()>
where
    F: FnMut(SourceEvent) + Send + 'static,
{
    thread::Builder::new()
        .name("input".into())
        .spawn(move || {
            let result = run(&input, reader, options, &stats, &mut emit);
            stats.set_state(InputState::Ended);
            // Logged (or printed as the exit reason) by the receiver, once.
            emit(SourceEvent::End(
                result.map_err(|e| format!("input {}: {e}", input.name())),
            ));
        })
        .expect("spawning the input thread")
}

fn run<F: FnMut(SourceEvent)>(
    input: &Input,
    mut reader: Reader,
    options: SourceOptions,
    stats: &InputStats,
    emit: &mut F,
) -> Result<(), SourceError> {
    let mut segmenter = Segmenter::new();
    if let Reader::File(f) = &mut reader {
        segmenter.preload(prefetch_file(f));
    }
    let mut continuity = Continuity::default();
    let mut pacer = Pacer::default();
    let mut events = Vec::new();
    let mut buf = vec![0u8; READ_CHUNK];
    let mut passes = 0u64;
    let mut last_cluster = Instant::now();
    loop {
        let mut segments_this_pass = 0u64;
        loop {
            // `None`: the input ended (or broke after it had played).
            let n = match reader.read(&mut buf) {
                Ok(0) => None,
                Ok(n) => {
                    stats.add_bytes(n);
                    Some(n)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if segmenter.stats().clusters > 0 || matches!(input, Input::Http { .. }) => {
                    log::warn!("input {}: read error, ending: {e}", input.name());
                    None
                }
                Err(e) => return Err(SourceError::Read(e)),
            };
            match n {
                Some(n) => segmenter.feed(buf.get(..n).unwrap_or(&[]), &mut events),
                None => segmenter.finish(&mut events),
            }
            .map_err(|e| SourceError::NoStream(e.to_string()))?;
            segments_this_pass += deliver(
                &mut events,
                &mut continuity,
                &mut pacer,
                options,
                stats,
                emit,
            );
            if n.is_none() {
                break;
            }
        }
        passes += 1;
        let seg_stats = segmenter.stats();
        log::info!(
            "input {} ended (pass {passes}): {} bytes, {} clusters, {} bytes skipped",
            input.name(),
            seg_stats.bytes_in,
            seg_stats.clusters,
            seg_stats.bytes_skipped
        );
        if segments_this_pass > 0 {
            last_cluster = Instant::now();
        }
        if segments_this_pass == 0
            && continuity.header.is_none()
            && !matches!(input, Input::Http { .. })
        {
            return Err(SourceError::NoStream(if seg_stats.bytes_in == 0 {
                "is empty (0 bytes read)".into()
            } else {
                "holds no playable Matroska/WebM stream".into()
            }));
        }
        if let Input::Http { .. } = input {
            match reconnect(input, last_cluster, options.reconnect_timeout, stats) {
                Some(r) => {
                    reader = r;
                    continue;
                }
                None if continuity.header.is_none() => {
                    return Err(SourceError::NoStream(
                        "gave no playable Matroska/WebM stream".into(),
                    ))
                }
                None => break,
            }
        }
        if !(options.looping && segments_this_pass > 0) {
            break;
        }
        reader = match reader {
            Reader::File(mut f) => {
                io::Seek::seek(&mut f, io::SeekFrom::Start(0)).map_err(SourceError::Read)?;
                Reader::File(f)
            }
            Reader::Stream(_) => input.open()?,
        };
    }
    // The input counts as ended when the last cluster's time has passed.
    if options.pace && continuity.last_ts.is_some() {
        stats.set_state(InputState::Paced);
        pacer.wait(continuity.last_end_ns);
    }
    Ok(())
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
                stats.reconnects.fetch_add(1, Ordering::Relaxed);
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

/// Passes segmenter events on, paced; returns the clusters delivered.
fn deliver<F: FnMut(SourceEvent)>(
    events: &mut Vec<Event>,
    continuity: &mut Continuity,
    pacer: &mut Pacer,
    options: SourceOptions,
    stats: &InputStats,
    emit: &mut F,
) -> u64 {
    let mut n = 0;
    for e in events.drain(..) {
        match e {
            Event::Header(h) => {
                if let Some(ev) = continuity.header(h.clone()) {
                    log::info!(
                        "stream: {} ({}, {} header bytes)",
                        h.describe_tracks(),
                        h.doc_type,
                        h.bytes.len()
                    );
                    emit(ev);
                }
            }
            Event::Cluster(s) => {
                let (s, restarted) = continuity.segment(s);
                if options.pace {
                    stats.set_state(InputState::Paced);
                    pacer.wait(s.start.0);
                    stats.set_state(InputState::Reading);
                }
                if restarted {
                    emit(SourceEvent::Restart);
                }
                emit(SourceEvent::ClusterStart {
                    timestamp: s.timestamp,
                    start: s.start,
                });
                emit(SourceEvent::ClusterEnd(s));
                n += 1;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_inputs() {
        assert_eq!(Input::parse("-").unwrap(), Input::Stdin);
        assert_eq!(
            Input::parse("a.webm").unwrap(),
            Input::File("a.webm".into())
        );
        assert_eq!(
            Input::parse("http://127.0.0.1:8080/live").unwrap(),
            Input::Http {
                host: "127.0.0.1".into(),
                port: 8080,
                path: "/live".into()
            }
        );
        assert_eq!(
            Input::parse("http://example").unwrap(),
            Input::Http {
                host: "example".into(),
                port: 80,
                path: "/".into()
            }
        );
        assert_eq!(
            Input::parse("http://[::1]:9000/x").unwrap(),
            Input::Http {
                host: "::1".into(),
                port: 9000,
                path: "/x".into()
            }
        );
        assert!(matches!(
            Input::parse("https://x/"),
            Err(SourceError::UnsupportedUrl(_))
        ));
        assert!(Input::parse("http://h:notaport/").is_err());
    }
}
