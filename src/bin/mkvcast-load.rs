//! `mkvcast-load`: opens many concurrent viewers on a live Matroska/WebM
//! HTTP stream and reports how many the server held, how fast they joined,
//! whether any stalled, and whether every byte they got was a valid stream.
//!
//! All viewers share one nonblocking mio event loop, so the generator itself
//! stays cheap at tens of thousands of connections: payload is read into one
//! shared buffer and discarded, and each viewer's validity check is a small
//! streaming state machine that skips block payloads by counting bytes.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use argh::FromArgs;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use mkvcast::ebml::{self, ElementHeader};
use mkvcast::matroska::{cluster, header, ids};
use slab::Slab;

/// Opens many concurrent HTTP viewers on a live mkvcast stream (loopback
/// only) and reports how many the server held.
#[derive(FromArgs)]
struct Args {
    /// stream URL: http://HOST[:PORT]/PATH with HOST 127.0.0.0/8, ::1 or localhost
    #[argh(positional)]
    url: String,
    /// viewers to open (default 100)
    #[argh(option, default = "100")]
    clients: usize,
    /// new connections per second during the ramp (default 200)
    #[argh(option, default = "200.0")]
    rate: f64,
    /// seconds to keep every viewer after the ramp (default 30, max 3600)
    #[argh(option, default = "30.0")]
    duration: f64,
    /// refuse to open more connections than this (default 20000)
    #[argh(option, default = "20000")]
    max_clients: usize,
    /// print the summary as one JSON object on stdout (text goes to stderr)
    #[argh(switch)]
    json: bool,
    /// the stream's cluster interval in ms, for stall detection (default:
    /// estimated from cluster timestamps, 1000 until known)
    #[argh(option)]
    cluster_interval_ms: Option<u64>,
    /// size of the shared read buffer in bytes (default 65536)
    #[argh(option, default = "65536")]
    read_buf: usize,
    /// exit 1 if any viewer stalled, failed, was dropped or got invalid data
    #[argh(switch)]
    strict: bool,
}

/// Longest duration accepted: a load run is a measurement, not a service.
const MAX_DURATION_S: f64 = 3600.0;
/// A gap longer than the cluster interval plus this counts as a stall.
const STALL_SLACK: Duration = Duration::from_secs(1);
/// Cap on a response header, so a broken server cannot grow memory.
const MAX_HEAD: usize = 16 * 1024;
/// Cap on the elements buffered whole (EBML header, Info, Tracks).
const MAX_SMALL: u64 = 64 * 1024;
/// Carry-over for a header split across reads; the largest thing parsed in
/// one piece is an element header plus a block header (< 24 bytes).
const MAX_CARRY: usize = 64;
/// Cluster timestamp gaps above this are discontinuities, not the interval.
const MAX_INTERVAL_MS: u64 = 30_000;
/// How often a progress line goes to stderr.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let args: Args = argh::from_env();
    match run(&args) {
        Ok(summary) => {
            if args.json {
                eprint!("{}", summary.text());
                println!("{}", summary.json());
            } else {
                print!("{}", summary.text());
            }
            if args.strict && !summary.clean() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("mkvcast-load: {e}");
            ExitCode::from(2)
        }
    }
}

/// A parsed `http://` URL: where to connect and what to send.
struct Target {
    addr: SocketAddr,
    /// The authority as given, for the Host header.
    host: String,
    path: String,
}

/// Parses the URL and refuses anything but loopback, so a load test can
/// never be pointed at someone else's server.
fn parse_url(url: &str) -> Result<Target, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("URL must start with http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("unclosed [ in URL host")?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port: u16 = match port {
        Some(p) => p.parse().map_err(|_| format!("bad port {p:?}"))?,
        None => 80,
    };
    let ip = if host.eq_ignore_ascii_case("localhost") {
        // Resolve through the hosts file, but only accept loopback answers.
        (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve localhost: {e}"))?
            .map(|a| a.ip())
            .find(IpAddr::is_loopback)
            .ok_or("localhost does not resolve to a loopback address")?
    } else {
        host.parse::<IpAddr>()
            .map_err(|_| format!("host {host:?} is not an IP address or localhost"))?
    };
    if !ip.is_loopback() {
        return Err(format!(
            "refusing non-loopback host {ip}: only 127.0.0.0/8, ::1 and localhost"
        ));
    }
    Ok(Target {
        addr: SocketAddr::new(ip, port),
        host: authority.to_string(),
        path: path.to_string(),
    })
}

/// Where the validator is in the stream. Containers are tracked by their
/// end offsets, so skipping a child needs no stack.
#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    EbmlHeader,
    Segment,
    /// Expecting a child of Segment.
    Level1,
    ClusterChild,
    GroupChild,
    /// Skipping this many payload bytes without looking at them.
    Skip(u64),
    /// Copying this many more bytes of a small element (by ID) into `small`.
    Collect(u32, u64),
    /// A known-size Segment ended; nothing more may follow.
    Ended,
    Failed,
}

/// Streaming structure check of one viewer's body: EBML header, Segment,
/// Tracks before the first Cluster, known-size Clusters with non-decreasing
/// Timestamps, blocks on known tracks, and a first Cluster that starts the
/// video track on a keyframe. Costs O(1) per skipped payload byte run.
struct Validator {
    state: State,
    /// Body bytes consumed so far (carry-over bytes not yet included).
    pos: u64,
    segment_end: Option<u64>,
    cluster_end: Option<u64>,
    group_end: Option<u64>,
    /// Bytes of a header split across reads.
    carry: Vec<u8>,
    /// A small element being collected (EBML header, Info, Tracks).
    small: Vec<u8>,
    timestamp_scale: u64,
    tracks: Vec<u64>,
    video_track: Option<u64>,
    /// The first video block of the first Cluster was checked.
    keyframe_checked: bool,
    cluster_timestamp: Option<u64>,
    last_cluster_timestamp: Option<u64>,
    /// Track of the current BlockGroup's Block, and whether it references
    /// another frame (no ReferenceBlock means keyframe).
    group_track: Option<u64>,
    group_has_reference: bool,
    /// Complete Clusters received.
    clusters: u64,
    /// Largest gap between consecutive Cluster timestamps, in ms.
    max_interval_ms: u64,
    error: Option<String>,
}

impl Validator {
    fn new() -> Self {
        Validator {
            state: State::EbmlHeader,
            pos: 0,
            segment_end: None,
            cluster_end: None,
            group_end: None,
            carry: Vec::new(),
            small: Vec::new(),
            timestamp_scale: ids::DEFAULT_TIMESTAMP_SCALE,
            tracks: Vec::new(),
            video_track: None,
            keyframe_checked: false,
            cluster_timestamp: None,
            last_cluster_timestamp: None,
            group_track: None,
            group_has_reference: false,
            clusters: 0,
            max_interval_ms: 0,
            error: None,
        }
    }

    /// Checks the next chunk of body bytes. After the first error the rest
    /// is ignored; the error is kept for the summary.
    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let used = match self.state {
                State::Failed => return,
                State::Ended => Err("data after the end of the Segment".to_string()),
                State::Skip(n) => {
                    let k = n.min(data.len() as u64);
                    self.state = State::Skip(n - k);
                    self.pos += k;
                    Ok(k as usize)
                }
                State::Collect(id, n) => {
                    let k = n.min(data.len() as u64);
                    self.small.extend_from_slice(&data[..k as usize]);
                    self.state = State::Collect(id, n - k);
                    self.pos += k;
                    Ok(k as usize)
                }
                _ => self.parse(data),
            };
            match used.and_then(|k| self.settle().map(|()| k)) {
                Ok(k) => data = &data[k..],
                Err(e) => {
                    self.error = Some(e);
                    self.state = State::Failed;
                    // Free what a failed viewer no longer needs.
                    self.carry = Vec::new();
                    self.small = Vec::new();
                    return;
                }
            }
        }
    }

    /// Runs [`Self::step`] on `data`, joined to any carried-over bytes;
    /// returns how many bytes of `data` were used (kept in carry or parsed).
    fn parse(&mut self, data: &[u8]) -> Result<usize, String> {
        if self.carry.is_empty() {
            return match self.step(data)? {
                Some(n) => {
                    self.pos += n as u64;
                    Ok(n)
                }
                None if data.len() < MAX_CARRY => {
                    self.carry.extend_from_slice(data);
                    Ok(data.len())
                }
                None => Err("element header too long".to_string()),
            };
        }
        let old = self.carry.len();
        let take = (MAX_CARRY - old).min(data.len());
        let mut joined = std::mem::take(&mut self.carry);
        joined.extend_from_slice(&data[..take]);
        let stepped = self.step(&joined);
        match stepped? {
            // `step` needs a length fixed by the first bytes, so what the
            // carry alone lacked ends inside `data`.
            Some(n) if n >= old => {
                joined.clear();
                self.carry = joined;
                self.pos += n as u64;
                Ok(n - old)
            }
            Some(_) => Err("internal: parse step shrank".to_string()),
            None if joined.len() < MAX_CARRY => {
                self.carry = joined;
                Ok(take)
            }
            None => Err("element header too long".to_string()),
        }
    }

    /// Reads one element header (plus, for a few elements, a little of
    /// their data) at the current position. `Ok(None)` means more bytes are
    /// needed, and then nothing has changed.
    fn step(&mut self, buf: &[u8]) -> Result<Option<usize>, String> {
        let h = match ebml::read_element_header(buf) {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(None),
            Err(e) => return Err(format!("bad element header: {e}")),
        };
        let hl = h.header_len;
        match self.state {
            State::EbmlHeader => {
                if h.id != ids::EBML {
                    return Err(format!(
                        "stream starts with {}, not an EBML header",
                        name(h.id)
                    ));
                }
                let size = self.child_size(&h, None, "EBML header")?;
                self.collect(ids::EBML, size, "EBML header")?;
            }
            State::Segment => {
                if h.id != ids::SEGMENT {
                    return Err(format!("expected Segment, got {}", name(h.id)));
                }
                self.segment_end = h.size.map(|s| self.pos + hl as u64 + s);
                self.state = State::Level1;
            }
            State::Level1 => {
                let size = self.child_size(&h, self.segment_end, "Segment")?;
                match h.id {
                    ids::CLUSTER => {
                        if self.tracks.is_empty() {
                            return Err("Cluster before Tracks".to_string());
                        }
                        self.cluster_end = Some(self.pos + hl as u64 + size);
                        self.cluster_timestamp = None;
                        self.state = State::ClusterChild;
                    }
                    ids::INFO => self.collect(h.id, size, "Info")?,
                    ids::TRACKS => self.collect(h.id, size, "Tracks")?,
                    ids::EBML | ids::SEGMENT => {
                        return Err(format!("{} inside the Segment", name(h.id)))
                    }
                    // SeekHead, Cues, Tags, Void, ...: not needed to play.
                    _ => self.state = State::Skip(size),
                }
            }
            State::ClusterChild => {
                let size = self.child_size(&h, self.cluster_end, "Cluster")?;
                match h.id {
                    ids::TIMESTAMP => {
                        if size > 8 {
                            return Err("Cluster Timestamp longer than 8 bytes".to_string());
                        }
                        let Some(value) = buf.get(hl..hl + size as usize) else {
                            return Ok(None);
                        };
                        let ts =
                            ebml::read_uint(value).map_err(|e| format!("bad Timestamp: {e}"))?;
                        self.cluster_timestamp(ts)?;
                        return Ok(Some(hl + value.len()));
                    }
                    ids::SIMPLE_BLOCK => {
                        let Some((track, flags, n)) = peek_block(&buf[hl..], size)? else {
                            return Ok(None);
                        };
                        self.check_block(track, flags & 0x80 != 0)?;
                        self.state = State::Skip(size - n as u64);
                        return Ok(Some(hl + n));
                    }
                    ids::BLOCK_GROUP => {
                        self.group_end = Some(self.pos + hl as u64 + size);
                        self.group_track = None;
                        self.group_has_reference = false;
                        self.state = State::GroupChild;
                    }
                    id if ids::is_cluster_child(id) => self.state = State::Skip(size),
                    id => return Err(format!("unexpected {} in a Cluster", name(id))),
                }
            }
            State::GroupChild => {
                let size = self.child_size(&h, self.group_end, "BlockGroup")?;
                match h.id {
                    ids::BLOCK => {
                        let Some((track, _, n)) = peek_block(&buf[hl..], size)? else {
                            return Ok(None);
                        };
                        self.group_track = Some(track);
                        self.state = State::Skip(size - n as u64);
                        return Ok(Some(hl + n));
                    }
                    ids::REFERENCE_BLOCK => {
                        self.group_has_reference = true;
                        self.state = State::Skip(size);
                    }
                    _ => self.state = State::Skip(size),
                }
            }
            // Bulk states never reach here.
            _ => return Err("internal: step in a bulk state".to_string()),
        }
        Ok(Some(hl))
    }

    /// The size of a child element, which must be known and end inside
    /// its parent (`parent_end`, when the parent's size is known).
    fn child_size(
        &self,
        h: &ElementHeader,
        parent_end: Option<u64>,
        parent: &str,
    ) -> Result<u64, String> {
        let size = h
            .size
            .ok_or_else(|| format!("{} of unknown size in {parent}", name(h.id)))?;
        let end = self
            .pos
            .saturating_add(h.header_len as u64)
            .saturating_add(size);
        match parent_end {
            Some(p) if end > p => Err(format!("{} runs past the end of its {parent}", name(h.id))),
            _ => Ok(size),
        }
    }

    fn collect(&mut self, id: u32, size: u64, what: &str) -> Result<(), String> {
        if size > MAX_SMALL {
            return Err(format!("{what} is {size} bytes (max {MAX_SMALL})"));
        }
        self.small.clear();
        self.state = State::Collect(id, size);
        Ok(())
    }

    /// Records a Cluster Timestamp: they must never go backwards, and their
    /// steps estimate the cluster interval for stall detection.
    fn cluster_timestamp(&mut self, ts: u64) -> Result<(), String> {
        if let Some(last) = self.last_cluster_timestamp {
            if ts < last {
                return Err("Cluster Timestamp went backwards".to_string());
            }
            let ms = u128::from(ts - last) * u128::from(self.timestamp_scale) / 1_000_000;
            let ms = u64::try_from(ms).unwrap_or(u64::MAX);
            if ms <= MAX_INTERVAL_MS {
                self.max_interval_ms = self.max_interval_ms.max(ms);
            }
        }
        self.cluster_timestamp = Some(ts);
        self.last_cluster_timestamp = Some(ts);
        Ok(())
    }

    /// Every block must belong to a declared track, and the first video
    /// block a viewer sees must be a keyframe, or its player shows garbage.
    fn check_block(&mut self, track: u64, keyframe: bool) -> Result<(), String> {
        if !self.tracks.contains(&track) {
            return Err(format!("block for undeclared track {track}"));
        }
        if self.clusters == 0 && !self.keyframe_checked && Some(track) == self.video_track {
            self.keyframe_checked = true;
            if !keyframe {
                return Err("first Cluster does not start with a video keyframe".to_string());
            }
        }
        Ok(())
    }

    /// Applies the transitions that consume no bytes: finished skips and
    /// collections, and containers whose end was reached. Run after every
    /// advance, so a Cluster counts the moment its last byte arrives.
    fn settle(&mut self) -> Result<(), String> {
        loop {
            let pos = Some(self.pos);
            match self.state {
                State::Skip(0) => self.state = self.container_state(),
                State::Collect(id, 0) => self.finish_small(id)?,
                State::GroupChild if pos == self.group_end => {
                    self.group_end = None;
                    let track = self.group_track.ok_or("BlockGroup without a Block")?;
                    self.check_block(track, !self.group_has_reference)?;
                    self.state = State::ClusterChild;
                }
                State::ClusterChild if pos == self.cluster_end => {
                    if self.cluster_timestamp.is_none() {
                        return Err("Cluster without a Timestamp".to_string());
                    }
                    if self.clusters == 0 && self.video_track.is_some() && !self.keyframe_checked {
                        return Err("first Cluster has no video block".to_string());
                    }
                    self.clusters += 1;
                    self.cluster_end = None;
                    self.state = State::Level1;
                }
                State::Level1 if self.segment_end.is_some() && pos == self.segment_end => {
                    self.state = State::Ended;
                }
                _ => return Ok(()),
            }
        }
    }

    /// The state for the next child of the innermost open container.
    fn container_state(&self) -> State {
        if self.group_end.is_some() {
            State::GroupChild
        } else if self.cluster_end.is_some() {
            State::ClusterChild
        } else {
            State::Level1
        }
    }

    /// Parses a fully collected EBML header, Info or Tracks element.
    fn finish_small(&mut self, id: u32) -> Result<(), String> {
        let data = std::mem::take(&mut self.small);
        match id {
            ids::EBML => {
                header::parse_doc_type(&data).map_err(|e| e.to_string())?;
                self.state = State::Segment;
                return Ok(());
            }
            ids::INFO => {
                for child in ebml::children(&data) {
                    let child = child.map_err(|e| format!("malformed Info: {e}"))?;
                    if child.header.id == ids::TIMESTAMP_SCALE {
                        let scale = ebml::read_uint(child.data)
                            .map_err(|e| format!("bad TimestampScale: {e}"))?;
                        if scale != 0 {
                            self.timestamp_scale = scale;
                        }
                    }
                }
            }
            _ => {
                let tracks = header::parse_tracks(&data).map_err(|e| e.to_string())?;
                if tracks.is_empty() {
                    return Err("Tracks has no TrackEntry".to_string());
                }
                self.video_track = tracks
                    .iter()
                    .find(|t| t.track_type == mkvcast::matroska::header::TrackType::Video)
                    .map(|t| t.number);
                self.tracks = tracks.iter().map(|t| t.number).collect();
            }
        }
        self.state = State::Level1;
        Ok(())
    }
}

/// An element's name for error messages.
fn name(id: u32) -> String {
    let known = match id {
        ids::EBML => "EBML header",
        ids::SEGMENT => "Segment",
        ids::CLUSTER => "Cluster",
        ids::TRACKS => "Tracks",
        ids::INFO => "Info",
        ids::SIMPLE_BLOCK => "SimpleBlock",
        ids::BLOCK_GROUP => "BlockGroup",
        ids::BLOCK => "Block",
        _ => return format!("element {id:#X}"),
    };
    known.to_string()
}

/// Reads a (Simple)Block's header from the start of its data: `(track,
/// flags, header length)`, or `None` until enough bytes are there.
fn peek_block(data: &[u8], size: u64) -> Result<Option<(u64, u8, usize)>, String> {
    let Some(&first) = data.first() else {
        return Ok(None);
    };
    let n = ebml::vint_len(first).map_err(|e| format!("bad block track number: {e}"))? + 3;
    if size < n as u64 {
        return Err("block shorter than its header".to_string());
    }
    let Some(head) = data.get(..n) else {
        return Ok(None);
    };
    let h = cluster::read_block_header(head).ok_or("unreadable block header")?;
    Ok(Some((h.track, h.flags, n)))
}

/// Decoder for `Transfer-Encoding: chunked` bodies, in case the server
/// frames its live stream that way rather than closing to delimit it.
#[derive(Debug, Clone, Copy)]
enum Chunked {
    /// Reading the hex chunk size; `ext` after a `;` extension starts.
    Size {
        value: u64,
        digits: u8,
        ext: bool,
    },
    Data(u64),
    /// The CRLF after a chunk's data: expecting `\r` (true) or `\n`.
    DataEnd(bool),
    /// The zero-size last chunk arrived: the stream ended.
    Done,
}

impl Chunked {
    const START: Chunked = Chunked::Size {
        value: 0,
        digits: 0,
        ext: false,
    };

    /// Decodes `data`, handing each run of payload to `out`.
    fn decode(&mut self, mut data: &[u8], out: &mut impl FnMut(&[u8])) -> Result<(), &'static str> {
        while let Some(&b) = data.first() {
            let mut used = 1;
            *self = match *self {
                Chunked::Size { value, digits, ext } => match b {
                    b'\n' if digits == 0 => return Err("empty chunk size"),
                    b'\n' if value == 0 => Chunked::Done,
                    b'\n' => Chunked::Data(value),
                    b'\r' => *self,
                    _ if ext => *self,
                    b';' => Chunked::Size {
                        value,
                        digits,
                        ext: true,
                    },
                    _ => {
                        let d = (b as char).to_digit(16).ok_or("bad chunk size")?;
                        if digits >= 15 {
                            return Err("chunk size too long");
                        }
                        Chunked::Size {
                            value: value << 4 | u64::from(d),
                            digits: digits + 1,
                            ext,
                        }
                    }
                },
                Chunked::Data(n) => {
                    used = n.min(data.len() as u64) as usize;
                    out(&data[..used]);
                    if n == used as u64 {
                        Chunked::DataEnd(true)
                    } else {
                        Chunked::Data(n - used as u64)
                    }
                }
                Chunked::DataEnd(true) if b == b'\r' => Chunked::DataEnd(false),
                Chunked::DataEnd(_) if b == b'\n' => Chunked::START,
                Chunked::DataEnd(_) => return Err("missing CRLF after chunk"),
                // Trailers after the last chunk do not matter.
                Chunked::Done => return Ok(()),
            };
            data = &data[used..];
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Connecting,
    /// Writing the request; this many bytes are out.
    Sending(usize),
    Head,
    Body,
    Closed,
}

/// One viewer: its socket and what it measured.
struct Client {
    stream: Option<TcpStream>,
    phase: Phase,
    started: Instant,
    head: Vec<u8>,
    chunked: Option<Chunked>,
    got_200: bool,
    refused: bool,
    /// Why the connection failed or was lost, if it was.
    failure: Option<String>,
    first_byte: Option<Duration>,
    first_cluster: Option<Duration>,
    bytes: u64,
    last_data: Instant,
    stalls: u32,
    max_gap: Duration,
    validator: Validator,
}

/// What all viewers share: the request, the read buffer and the totals
/// the stall threshold depends on.
struct Shared {
    request: Vec<u8>,
    read_buf: Vec<u8>,
    total_bytes: u64,
    /// From `--cluster-interval-ms`, when given.
    fixed_interval_ms: Option<u64>,
    /// Largest Cluster timestamp step any viewer saw.
    observed_interval_ms: u64,
}

impl Shared {
    fn interval(&self) -> Duration {
        let ms = match (self.fixed_interval_ms, self.observed_interval_ms) {
            (Some(ms), _) => ms,
            (None, 0) => 1000,
            (None, ms) => ms,
        };
        Duration::from_millis(ms)
    }

    fn stall_threshold(&self) -> Duration {
        self.interval() + STALL_SLACK
    }
}

impl Client {
    fn new(stream: Option<TcpStream>, started: Instant) -> Self {
        Client {
            stream,
            phase: Phase::Connecting,
            started,
            head: Vec::new(),
            chunked: None,
            got_200: false,
            refused: false,
            failure: None,
            first_byte: None,
            first_cluster: None,
            bytes: 0,
            last_data: started,
            stalls: 0,
            max_gap: Duration::ZERO,
            validator: Validator::new(),
        }
    }

    /// Closes the socket, keeping the measurements.
    fn close(&mut self) {
        self.stream = None;
        self.head = Vec::new();
        self.phase = Phase::Closed;
    }

    fn fail(&mut self, why: impl Into<String>) {
        if self.failure.is_none() {
            self.failure = Some(why.into());
        }
        self.close();
    }

    /// Advances the connection as far as the socket allows (mio is
    /// edge-triggered: every readiness is drained until WouldBlock).
    fn on_ready(&mut self, shared: &mut Shared) {
        if self.phase == Phase::Connecting {
            let Some(stream) = &self.stream else { return };
            match (stream.take_error(), stream.peer_addr()) {
                (Ok(Some(e)) | Err(e), _) => return self.fail(format!("connect: {e}")),
                (_, Err(e)) if e.kind() == io::ErrorKind::NotConnected => return,
                (_, Err(e)) => return self.fail(format!("connect: {e}")),
                (_, Ok(_)) => self.phase = Phase::Sending(0),
            }
        }
        while let Phase::Sending(done) = self.phase {
            let Some(stream) = &mut self.stream else {
                return;
            };
            match stream.write(&shared.request[done..]) {
                Ok(n) if done + n == shared.request.len() => self.phase = Phase::Head,
                Ok(n) => self.phase = Phase::Sending(done + n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.fail(format!("write: {e}")),
            }
        }
        while matches!(self.phase, Phase::Head | Phase::Body) {
            let Some(stream) = &mut self.stream else {
                return;
            };
            match stream.read(&mut shared.read_buf) {
                Ok(0) if self.phase == Phase::Head => return self.fail("closed before a response"),
                Ok(0) => return self.fail("closed by server"),
                Ok(n) => {
                    // Move the buffer out to lend it next to `shared`.
                    let buf = std::mem::take(&mut shared.read_buf);
                    self.on_data(&buf[..n], shared);
                    shared.read_buf = buf;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return self.fail("reset by server")
                }
                Err(e) => return self.fail(format!("read: {e}")),
            }
        }
    }

    fn on_data(&mut self, data: &[u8], shared: &mut Shared) {
        let now = Instant::now();
        self.first_byte.get_or_insert(now - self.started);
        if self.phase == Phase::Head {
            self.head.extend_from_slice(data);
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            let len = match response.parse(&self.head) {
                Ok(httparse::Status::Complete(len)) => len,
                Ok(httparse::Status::Partial) if self.head.len() < MAX_HEAD => return,
                Ok(httparse::Status::Partial) => return self.fail("response header too large"),
                Err(e) => return self.fail(format!("bad response: {e}")),
            };
            let chunked = response.headers.iter().any(|h| {
                h.name.eq_ignore_ascii_case("transfer-encoding")
                    && String::from_utf8_lossy(h.value)
                        .to_ascii_lowercase()
                        .contains("chunked")
            });
            match response.code {
                Some(200) => {}
                Some(503) => {
                    self.refused = true;
                    return self.close();
                }
                code => return self.fail(format!("HTTP status {}", code.unwrap_or(0))),
            }
            self.got_200 = true;
            self.chunked = chunked.then_some(Chunked::START);
            self.phase = Phase::Body;
            self.last_data = now;
            let head = std::mem::take(&mut self.head);
            if head.len() > len {
                self.on_body(&head[len..], now, shared);
            }
            return;
        }
        self.on_body(data, now, shared);
    }

    fn on_body(&mut self, data: &[u8], now: Instant, shared: &mut Shared) {
        let gap = now - self.last_data;
        if gap > shared.stall_threshold() {
            self.stalls += 1;
        }
        self.max_gap = self.max_gap.max(gap);
        self.last_data = now;
        self.bytes += data.len() as u64;
        shared.total_bytes += data.len() as u64;
        let v = &mut self.validator;
        match &mut self.chunked {
            None => v.feed(data),
            Some(c) => {
                if let Err(e) = c.decode(data, &mut |d| v.feed(d)) {
                    return self.fail(format!("chunked encoding: {e}"));
                }
                if matches!(c, Chunked::Done) {
                    return self.fail("stream ended (last chunk)");
                }
            }
        }
        if self.first_cluster.is_none() && v.clusters > 0 {
            self.first_cluster = Some(now - self.started);
        }
        shared.observed_interval_ms = shared.observed_interval_ms.max(v.max_interval_ms);
    }

    /// Counts a final stall for a viewer still waiting at the end.
    fn finish(&mut self, now: Instant, threshold: Duration) {
        if self.phase == Phase::Body {
            let gap = now - self.last_data;
            if gap > threshold {
                self.stalls += 1;
            }
            self.max_gap = self.max_gap.max(gap);
        } else if matches!(
            self.phase,
            Phase::Connecting | Phase::Sending(_) | Phase::Head
        ) {
            self.fail("no response before the end");
        }
        self.close();
    }
}

/// Opens viewers at the ramp rate, runs them for the duration, and
/// returns the summary.
fn run(args: &Args) -> Result<Summary, String> {
    let target = parse_url(&args.url)?;
    if args.clients == 0 || args.clients > args.max_clients {
        return Err(format!(
            "--clients must be 1..={} (--max-clients)",
            args.max_clients
        ));
    }
    if !(args.rate > 0.0 && args.rate.is_finite()) {
        return Err("--rate must be positive".to_string());
    }
    if !(0.0..=MAX_DURATION_S).contains(&args.duration) {
        return Err(format!("--duration must be 0..={MAX_DURATION_S} seconds"));
    }
    if args.read_buf == 0 || args.read_buf > 16 << 20 {
        return Err("--read-buf must be 1..=16777216".to_string());
    }
    let duration = Duration::from_secs_f64(args.duration);
    let mut shared = Shared {
        request: format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: mkvcast-load\r\nAccept: */*\r\n\r\n",
            target.path, target.host
        )
        .into_bytes(),
        read_buf: vec![0; args.read_buf],
        total_bytes: 0,
        fixed_interval_ms: args.cluster_interval_ms,
        observed_interval_ms: 0,
    };
    let mut poll = Poll::new().map_err(|e| format!("cannot create poll: {e}"))?;
    let mut events = Events::with_capacity(1024);
    let mut clients: Slab<Client> = Slab::with_capacity(args.clients);

    let start = Instant::now();
    // Set when the last viewer was opened: the measurement window starts.
    let mut window: Option<(Instant, u64)> = None;
    let mut next_progress = start + PROGRESS_EVERY;
    loop {
        let now = Instant::now();
        if clients.len() < args.clients {
            let due = ((now - start).as_secs_f64() * args.rate) as usize + 1;
            while clients.len() < due.min(args.clients) {
                open_client(&mut clients, &poll, target.addr);
            }
            if clients.len() == args.clients {
                window = Some((Instant::now(), shared.total_bytes));
            }
        }
        let wake = match window {
            Some((opened, _)) if now >= opened + duration => break,
            Some((opened, _)) => opened + duration,
            None => start + Duration::from_secs_f64(clients.len() as f64 / args.rate),
        };
        if now >= next_progress {
            next_progress += PROGRESS_EVERY;
            let live = clients
                .iter()
                .filter(|(_, c)| c.phase == Phase::Body)
                .count();
            eprintln!(
                "mkvcast-load: {:5.1} s, {} opened, {live} streaming, {:.1} MB received",
                (now - start).as_secs_f64(),
                clients.len(),
                shared.total_bytes as f64 / 1e6
            );
        }
        let timeout = wake.min(next_progress).saturating_duration_since(now);
        match poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("poll: {e}")),
        }
        for event in events.iter() {
            if let Some(client) = clients.get_mut(event.token().0) {
                client.on_ready(&mut shared);
            }
        }
    }
    let end = Instant::now();
    let (opened, window_start_bytes) = window.unwrap_or((end, 0));
    let threshold = shared.stall_threshold();
    for (_, client) in clients.iter_mut() {
        client.finish(end, threshold);
    }
    Ok(Summary::new(
        args,
        &clients,
        &shared,
        opened - start,
        end - opened,
        shared.total_bytes - window_start_bytes,
    ))
}

/// Starts one nonblocking connect. A failure to even start (EMFILE when
/// the file limit is reached, for one) is recorded as a failed viewer.
fn open_client(clients: &mut Slab<Client>, poll: &Poll, addr: SocketAddr) {
    let entry = clients.vacant_entry();
    let started = Instant::now();
    let mut stream = match TcpStream::connect(addr) {
        Ok(s) => s,
        Err(e) => {
            let mut c = Client::new(None, started);
            c.fail(format!("connect: {e}"));
            entry.insert(c);
            return;
        }
    };
    let interest = Interest::READABLE | Interest::WRITABLE;
    let mut client = match poll
        .registry()
        .register(&mut stream, Token(entry.key()), interest)
    {
        Ok(()) => Client::new(Some(stream), started),
        Err(e) => {
            let mut c = Client::new(None, started);
            c.fail(format!("register: {e}"));
            c
        }
    };
    // Viewers only read after the request; no need to batch small writes.
    if let Some(s) = &client.stream {
        if let Err(e) = s.set_nodelay(true) {
            client.fail(format!("set_nodelay: {e}"));
        }
    }
    entry.insert(client);
}

/// Join-time percentiles in milliseconds.
struct Percentiles {
    p50: f64,
    p99: f64,
    max: f64,
}

impl Percentiles {
    fn of(mut v: Vec<Duration>) -> Option<Self> {
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        // Nearest rank: the smallest value with at least p% at or below it.
        let rank = |p: f64| v[((p / 100.0 * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        Some(Percentiles {
            p50: ms(rank(50.0)),
            p99: ms(rank(99.0)),
            max: ms(*v.last()?),
        })
    }
}

/// The results of a run, ready to print.
struct Summary {
    url: String,
    attempted: usize,
    connected: usize,
    refused: usize,
    /// Never got a 200: connect error, other status, no response.
    failed: usize,
    /// Got a 200, then lost the stream before the end.
    dropped: usize,
    failure_reasons: BTreeMap<String, usize>,
    first_byte: Option<Percentiles>,
    first_cluster: Option<Percentiles>,
    total_bytes: u64,
    window_bytes: u64,
    ramp: Duration,
    window: Duration,
    stalls: u64,
    stalled_clients: usize,
    max_gap: Duration,
    interval: Duration,
    interval_estimated: bool,
    invalid: usize,
    invalid_reasons: BTreeMap<String, usize>,
    clusters_min: u64,
    clusters_avg: f64,
}

impl Summary {
    fn new(
        args: &Args,
        clients: &Slab<Client>,
        shared: &Shared,
        ramp: Duration,
        window: Duration,
        window_bytes: u64,
    ) -> Self {
        let all = || clients.iter().map(|(_, c)| c);
        let connected: Vec<&Client> = all().filter(|c| c.got_200).collect();
        let mut failure_reasons = BTreeMap::new();
        let mut invalid_reasons = BTreeMap::new();
        for c in all() {
            if let Some(f) = &c.failure {
                *failure_reasons.entry(f.clone()).or_default() += 1;
            }
            if let Some(e) = &c.validator.error {
                *invalid_reasons.entry(e.clone()).or_default() += 1;
            }
        }
        let clusters: Vec<u64> = connected.iter().map(|c| c.validator.clusters).collect();
        Summary {
            url: args.url.clone(),
            attempted: clients.len(),
            connected: connected.len(),
            refused: all().filter(|c| c.refused).count(),
            failed: all().filter(|c| !c.got_200 && c.failure.is_some()).count(),
            dropped: connected.iter().filter(|c| c.failure.is_some()).count(),
            failure_reasons,
            first_byte: Percentiles::of(all().filter_map(|c| c.first_byte).collect()),
            first_cluster: Percentiles::of(all().filter_map(|c| c.first_cluster).collect()),
            total_bytes: shared.total_bytes,
            window_bytes,
            ramp,
            window,
            stalls: all().map(|c| u64::from(c.stalls)).sum(),
            stalled_clients: all().filter(|c| c.stalls > 0).count(),
            max_gap: all().map(|c| c.max_gap).max().unwrap_or_default(),
            interval: shared.interval(),
            interval_estimated: shared.fixed_interval_ms.is_none()
                && shared.observed_interval_ms > 0,
            invalid: all().filter(|c| c.validator.error.is_some()).count(),
            invalid_reasons,
            clusters_min: clusters.iter().copied().min().unwrap_or(0),
            clusters_avg: clusters.iter().sum::<u64>() as f64 / clusters.len().max(1) as f64,
        }
    }

    /// No stall, failure, drop or invalid data (refusals are the server's
    /// declared limit, not an error).
    fn clean(&self) -> bool {
        self.stalls == 0 && self.failed == 0 && self.dropped == 0 && self.invalid == 0
    }

    fn mbit_per_s(&self) -> f64 {
        let secs = self.window.as_secs_f64();
        if secs > 0.0 {
            self.window_bytes as f64 * 8.0 / secs / 1e6
        } else {
            0.0
        }
    }

    fn text(&self) -> String {
        let pct = |p: &Option<Percentiles>| match p {
            Some(p) => format!("p50 {:.1}, p99 {:.1}, max {:.1} ms", p.p50, p.p99, p.max),
            None => "none".to_string(),
        };
        let reasons = |m: &BTreeMap<String, usize>| {
            top(m)
                .iter()
                .map(|(r, n)| format!("  {n} x {r}\n"))
                .collect::<String>()
        };
        format!(
            "mkvcast-load {url}\n\
             viewers:       {att} attempted, {con} connected (200), {refu} refused (503), {fail} failed, {drop} dropped\n\
             {fr}\
             first byte:    {fb}\n\
             first cluster: {fc}\n\
             received:      {mb:.1} MB total, {rate:.1} Mbit/s over the {win:.1} s window (ramp {ramp:.1} s)\n\
             stalls:        {st} in {stc} viewers (longest gap {gap} ms, threshold {thr} ms, cluster interval {iv} ms {how})\n\
             invalid:       {inv} viewers\n\
             {ir}\
             clusters:      min {cmin}, avg {cavg:.1} per connected viewer\n\
             result:        {ok}\n",
            url = self.url,
            att = self.attempted,
            con = self.connected,
            refu = self.refused,
            fail = self.failed,
            drop = self.dropped,
            fr = reasons(&self.failure_reasons),
            fb = pct(&self.first_byte),
            fc = pct(&self.first_cluster),
            mb = self.total_bytes as f64 / 1e6,
            rate = self.mbit_per_s(),
            win = self.window.as_secs_f64(),
            ramp = self.ramp.as_secs_f64(),
            st = self.stalls,
            stc = self.stalled_clients,
            gap = self.max_gap.as_millis(),
            thr = (self.interval + STALL_SLACK).as_millis(),
            iv = self.interval.as_millis(),
            how = if self.interval_estimated { "estimated" } else { "assumed" },
            inv = self.invalid,
            ir = reasons(&self.invalid_reasons),
            cmin = self.clusters_min,
            cavg = self.clusters_avg,
            ok = if self.clean() { "clean" } else { "PROBLEMS" },
        )
    }

    fn json(&self) -> String {
        let pct = |p: &Option<Percentiles>| match p {
            Some(p) => format!(
                "{{\"p50\":{:.3},\"p99\":{:.3},\"max\":{:.3}}}",
                p.p50, p.p99, p.max
            ),
            None => "null".to_string(),
        };
        let reasons = |m: &BTreeMap<String, usize>| {
            let items: Vec<String> = top(m)
                .iter()
                .map(|(r, n)| format!("{}:{n}", json_string(r)))
                .collect();
            format!("{{{}}}", items.join(","))
        };
        format!(
            "{{\"url\":{},\"attempted\":{},\"connected\":{},\"refused\":{},\"failed\":{},\"dropped\":{},\
             \"failure_reasons\":{},\"first_byte_ms\":{},\"first_cluster_ms\":{},\"total_bytes\":{},\
             \"window_bytes\":{},\"mbit_per_s\":{:.3},\"ramp_s\":{:.3},\"duration_s\":{:.3},\"stalls\":{},\
             \"stalled_clients\":{},\"max_gap_ms\":{},\"cluster_interval_ms\":{},\"invalid\":{},\
             \"invalid_reasons\":{},\"clusters_min\":{},\"clusters_avg\":{:.2},\"clean\":{}}}",
            json_string(&self.url),
            self.attempted,
            self.connected,
            self.refused,
            self.failed,
            self.dropped,
            reasons(&self.failure_reasons),
            pct(&self.first_byte),
            pct(&self.first_cluster),
            self.total_bytes,
            self.window_bytes,
            self.mbit_per_s(),
            self.ramp.as_secs_f64(),
            self.window.as_secs_f64(),
            self.stalls,
            self.stalled_clients,
            self.max_gap.as_millis(),
            self.interval.as_millis(),
            self.invalid,
            reasons(&self.invalid_reasons),
            self.clusters_min,
            self.clusters_avg,
            self.clean(),
        )
    }
}

/// The five most frequent reasons, most frequent first.
fn top(reasons: &BTreeMap<String, usize>) -> Vec<(&String, usize)> {
    let mut v: Vec<(&String, usize)> = reasons.iter().map(|(r, &n)| (r, n)).collect();
    v.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
    v.truncate(5);
    v
}

/// A JSON string literal (the only escaping the summary needs).
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn validate(data: &[u8], chunk: usize) -> Validator {
        let mut v = Validator::new();
        data.chunks(chunk).for_each(|c| v.feed(c));
        v
    }

    #[test]
    fn accepts_fixtures_in_any_chunking() {
        for (name, clusters) in [
            ("bench_1mbit.webm", 14),
            ("vp8_vorbis.webm", 10),
            ("opus_only.webm", 3),
            ("mkvmerge_blockgroups.mkv", 5),
            ("h264_flac.mkv", 5),
            ("long_gop.webm", 13),
        ] {
            let data = fixture(name);
            for chunk in [1, 3, 4096, data.len()] {
                let v = validate(&data, chunk);
                assert_eq!(v.error, None, "{name} in {chunk}-byte chunks");
                assert_eq!((v.clusters, v.state), (clusters, State::Ended), "{name}");
            }
        }
    }

    #[test]
    fn rejects_damage() {
        let data = fixture("vp8_vorbis.webm");
        assert!(validate(&data[1..], 4096).error.is_some());
        let mut extra = data.clone();
        extra.push(0xEC);
        assert!(validate(&extra, 4096).error.is_some());
        // Clear the keyframe flag of the first video block of the first
        // Cluster (the one after its header and Timestamp, and audio blocks).
        let cluster = data
            .windows(4)
            .position(|w| w == [0x1F, 0x43, 0xB6, 0x75])
            .unwrap();
        let ts = cluster + 4 + ebml::vint_len(data[cluster + 4]).unwrap();
        let mut block = ts + 2 + usize::from(data[ts + 1] & 0x7F);
        loop {
            assert_eq!(data[block], ids::SIMPLE_BLOCK as u8);
            let (size, size_len) = ebml::read_size(&data[block + 1..]).unwrap().unwrap();
            let body = block + 1 + size_len;
            if cluster::read_block_header(&data[body..]).unwrap().track == 1 {
                break;
            }
            block = body + size.unwrap() as usize;
        }
        let mut nokey = data.clone();
        let size_len = ebml::vint_len(data[block + 1]).unwrap();
        nokey[block + 1 + size_len + 3] &= 0x7F;
        let err = validate(&nokey, 4096).error.unwrap();
        assert!(err.contains("keyframe"), "{err}");
        // Random damage must be reported or ignored, never panic.
        let mut seed = 1u64;
        for _ in 0..500 {
            let mut bad = data.clone();
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let at = (seed >> 33) as usize % bad.len();
            bad[at] ^= (seed >> 8) as u8 | 1;
            validate(&bad, 1 + (seed >> 20) as usize % 300);
        }
    }

    #[test]
    fn decodes_chunked() {
        let mut got = Vec::new();
        let mut c = Chunked::START;
        let body = b"3;x=y\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n";
        for b in body.chunks(2) {
            c.decode(b, &mut |d| got.extend_from_slice(d)).unwrap();
        }
        assert_eq!(got, b"abc0123456789");
        assert!(matches!(c, Chunked::Done));
        let mut c = Chunked::START;
        assert!(c.decode(b"zz\r\n", &mut |_| {}).is_err());
    }

    #[test]
    fn only_loopback_urls() {
        let t = parse_url("http://127.0.0.1:8080/live").unwrap();
        assert_eq!(
            (t.addr.to_string(), t.path.as_str()),
            ("127.0.0.1:8080".into(), "/live")
        );
        assert_eq!(
            parse_url("http://[::1]:9/").unwrap().addr.to_string(),
            "[::1]:9"
        );
        assert_eq!(parse_url("http://127.9.9.9").unwrap().path, "/");
        for bad in [
            "http://10.0.0.1/",
            "http://example.com/",
            "https://127.0.0.1/",
            "http://127.0.0.1:x/",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
