//! `raw_sender`: the least a live Matroska/WebM HTTP server can do per
//! viewer, as a yardstick for mkvcast's CPU and memory in
//! `bench/compare.sh`.
//!
//!     cargo run --release --example raw_sender -- \
//!         --listen 127.0.0.1:8090 --file fixtures/bench_1mbit.webm
//!
//! The file is segmented once (`segment_all`) into its stream header and
//! Cluster segments, which are published in a loop at the media's own pace,
//! with continuous timestamps (`Segment::with_timestamp`). Every published
//! Cluster is ONE shared buffer, written to every socket with plain
//! nonblocking `write`s of the whole remaining buffer (the same write sizes
//! as a cluster). A viewer's entire state is a position: which shared buffer
//! and how far into it. There is no per-viewer queue: the sender keeps only
//! the current Cluster and the one before it, and a viewer still inside an
//! older one (more than a whole Cluster behind) is dropped.
//!
//! Any request gets a `200` head followed by the stream header; the viewer
//! then starts on the newest Cluster (from its first byte) if it starts on
//! a video keyframe, or waits for the next one that does. No request
//! routing, no burst of older media, no timeouts, no logging per viewer.
//!
//! Two options exist for experiments on join latency, both off by default:
//! `--backlog N` (mio's listen backlog is 128; mkvcast listens with 4096,
//! its `LISTEN_BACKLOG`) and `--fanout-batch N` (hand a new Cluster to N
//! viewers at a time and poll for accepts and requests in between, instead
//! of to everyone at once).
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use argh::FromArgs;
use bytes::{Bytes, BytesMut};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use mkvcast::segmenter::{segment_all, Event, LiveCluster};
use slab::Slab;

/// Minimal live sender: one shared buffer per Cluster, written to every
/// viewer at the stream's pace (a lower bound for a real server's cost).
#[derive(FromArgs)]
struct Args {
    /// address to listen on, e.g. 127.0.0.1:8090
    #[argh(option)]
    listen: SocketAddr,
    /// the Matroska/WebM file to loop
    #[argh(option)]
    file: PathBuf,
    /// most viewers at once; more are closed at once (default 20000)
    #[argh(option, default = "20000")]
    max_clients: usize,
    /// SO_SNDBUF per viewer in bytes, as mkvcast sets it (default 131072;
    /// 0 leaves the kernel's autotuning)
    #[argh(option, default = "131072")]
    send_buffer: usize,
    /// seconds between status lines on stderr (default 10, 0 = none)
    #[argh(option, default = "10")]
    status_every: u64,
    /// listen backlog (default 0: mio's default, 128; mkvcast listens with
    /// 4096)
    #[argh(option, default = "0")]
    backlog: i32,
    /// experiment: hand a new Cluster to this many viewers at a time and
    /// poll (accepts, requests) in between, instead of to all at once
    /// (default 0: all at once)
    #[argh(option, default = "0")]
    fanout_batch: usize,
}

const LISTENER: Token = Token(usize::MAX);
/// Largest request head read before the viewer is closed.
const MAX_REQUEST: usize = 8 << 10;
/// Shared Clusters kept: the current one and the one before it.
const KEEP: usize = 2;
/// Pause before accepting again after an accept error (EMFILE...).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(200);
/// Later than this behind the schedule, the pacer re-anchors instead of
/// bursting to catch up.
const LATE_TOLERANCE: Duration = Duration::from_millis(500);

/// Where a viewer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pos {
    /// Still reading its request; this many bytes so far.
    Request(usize),
    /// Writing the shared 200 head + stream header, this far in.
    Head(usize),
    /// Writing shared Cluster `seq`, this far in (`seq` not yet published:
    /// caught up, waiting).
    Cluster(u64, usize),
}

struct Viewer {
    stream: TcpStream,
    pos: Pos,
    /// The request head so far (freed once it is complete).
    request: Vec<u8>,
    /// Edge-triggered readiness: the last write did not hit WouldBlock.
    writable: bool,
}

/// What every viewer shares.
struct Shared {
    /// `200` head + stream header, one buffer.
    head: Bytes,
    /// The last `KEEP` Clusters: (sequence number, bytes, starts on a
    /// video keyframe).
    ring: VecDeque<(u64, Bytes, bool)>,
    /// Sequence number of the next Cluster to publish.
    next_seq: u64,
    /// Newest published Cluster a joiner may start on.
    join_seq: Option<u64>,
}

impl Shared {
    fn cluster(&self, seq: u64) -> Option<&Bytes> {
        let (first, _, _) = self.ring.front()?;
        let i = seq.checked_sub(*first)?;
        self.ring.get(i as usize).map(|(_, b, _)| b)
    }

    fn oldest(&self) -> u64 {
        self.ring.front().map_or(self.next_seq, |(s, _, _)| *s)
    }
}

/// Why a viewer is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gone {
    Closed,
    Behind,
}

impl Viewer {
    /// Writes whatever the socket takes, moving from buffer to buffer.
    fn pump(&mut self, shared: &Shared) -> Result<(), Gone> {
        while self.writable {
            let (buf, off) = match self.pos {
                Pos::Request(_) => return Ok(()),
                Pos::Head(off) if off >= shared.head.len() => {
                    // Start on the newest keyframe Cluster, or wait for the next.
                    self.pos = Pos::Cluster(shared.join_seq.unwrap_or(shared.next_seq), 0);
                    continue;
                }
                Pos::Head(off) => (&shared.head, off),
                Pos::Cluster(seq, _) if seq >= shared.next_seq => return Ok(()),
                Pos::Cluster(seq, off) => match shared.cluster(seq) {
                    None => return Err(Gone::Behind),
                    Some(b) if off >= b.len() => {
                        self.pos = Pos::Cluster(seq + 1, 0);
                        continue;
                    }
                    Some(b) => (b, off),
                },
            };
            match self.stream.write(&buf[off..]) {
                Ok(0) => return Err(Gone::Closed),
                Ok(n) => {
                    self.pos = match self.pos {
                        Pos::Head(o) => Pos::Head(o + n),
                        Pos::Cluster(s, o) => Pos::Cluster(s, o + n),
                        p => p,
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Gone::Closed),
            }
        }
        Ok(())
    }

    /// Reads the request until its head is complete, then starts the
    /// response; afterwards drains (and ignores) input, noticing a close.
    fn on_readable(&mut self, scratch: &mut [u8]) -> Result<bool, Gone> {
        let mut started = false;
        loop {
            match self.stream.read(scratch) {
                Ok(0) => return Err(Gone::Closed),
                Ok(n) => {
                    if let Pos::Request(have) = self.pos {
                        self.request.extend_from_slice(&scratch[..n]);
                        let mut headers = [httparse::EMPTY_HEADER; 32];
                        match httparse::Request::new(&mut headers).parse(&self.request) {
                            Ok(httparse::Status::Complete(_)) => {
                                self.request = Vec::new();
                                self.pos = Pos::Head(0);
                                started = true;
                            }
                            Ok(httparse::Status::Partial) if have + n < MAX_REQUEST => {
                                self.pos = Pos::Request(have + n)
                            }
                            _ => return Err(Gone::Closed),
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(started),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Gone::Closed),
            }
        }
    }
}

/// The file's header and Clusters, and how long one pass lasts.
struct Media {
    header: Bytes,
    content_type: &'static str,
    scale: u64,
    segments: Vec<LiveCluster>,
    /// One pass in TimestampScale ticks: first Cluster to the end of the
    /// last frame.
    loop_ticks: u64,
}

fn load(path: &PathBuf) -> Result<Media, String> {
    let file = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (events, _) =
        segment_all(&file, 64 << 10).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut header = None;
    let mut segments = Vec::new();
    for e in events {
        match e {
            // Only the first stream of the file is looped.
            Event::Header(h) if header.is_none() => header = Some(h),
            Event::Header(_) => break,
            Event::Cluster(s) => segments.push(s),
            Event::ClusterStart { .. } | Event::Block(_) => {}
        }
    }
    let header = header.ok_or("no stream header in the file")?;
    if !segments.iter().any(|s| s.keyframe) {
        return Err("no Cluster starts on a video keyframe".into());
    }
    let scale = header.timestamp_scale.max(1);
    let first = segments
        .first()
        .ok_or("no Clusters in the file")?
        .timestamp
        .0;
    let end_ns = segments.iter().map(|s| s.end().0).max().unwrap_or(0);
    let last_ts = segments.iter().map(|s| s.timestamp.0).max().unwrap_or(0);
    let loop_ticks = end_ns.div_ceil(scale).max(last_ts + 1) - first;
    Ok(Media {
        header: header.bytes.clone(),
        content_type: header.content_type(),
        scale,
        segments,
        loop_ticks,
    })
}

fn main() {
    let args: Args = argh::from_env();
    if let Err(e) = run(&args) {
        eprintln!("raw_sender: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let media = load(&args.file)?;
    let mut head = BytesMut::new();
    head.extend_from_slice(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nCache-Control: no-cache\r\n\
             Connection: close\r\n\r\n",
            media.content_type
        )
        .as_bytes(),
    );
    head.extend_from_slice(&media.header);
    let mut shared = Shared {
        head: head.freeze(),
        ring: VecDeque::with_capacity(KEEP + 1),
        next_seq: 0,
        join_seq: None,
    };

    let mut poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
    let mut listener =
        listen(args).map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .map_err(|e| format!("register: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!(
        "raw_sender: listening on http://{local}/ ({} clusters per pass, {} bytes of header)",
        media.segments.len(),
        media.header.len()
    );

    let mut viewers: Slab<Viewer> = Slab::with_capacity(1024);
    let mut events = Events::with_capacity(1024);
    let mut scratch = vec![0u8; 16 << 10];
    let mut gone: Vec<usize> = Vec::new();
    let mut dropped_behind = 0u64;
    let mut accept_paused_until: Option<Instant> = None;
    // Next slab key of a fan-out in progress (with --fanout-batch).
    let mut fanout: Option<usize> = None;

    // Pacing: Cluster `i` of pass `k` is due at anchor + its media time.
    let first_ts = media.segments[0].timestamp.0;
    let mut anchor = Instant::now();
    let mut base_ns = first_ts.saturating_mul(media.scale);
    let mut index = 0usize;
    let mut pass = 0u64;
    let due_of = |index: usize, pass: u64, anchor: Instant, base_ns: u64| {
        let s = &media.segments[index];
        let ts = s.timestamp.0 + pass * media.loop_ticks;
        let ns = ts.saturating_mul(media.scale).saturating_sub(base_ns);
        (anchor + Duration::from_nanos(ns), ts)
    };
    let status_every = Duration::from_secs(args.status_every);
    let mut next_status = Instant::now() + status_every;

    loop {
        let now = Instant::now();
        // Publish every Cluster that is due.
        loop {
            let (due, ts) = due_of(index, pass, anchor, base_ns);
            if due > now {
                break;
            }
            if now - due > LATE_TOLERANCE {
                // Never burst to catch up: restart the schedule here.
                anchor = now;
                base_ns = ts.saturating_mul(media.scale);
            }
            let seg = &media.segments[index];
            let bytes = if ts == seg.timestamp.0 {
                seg.bytes.clone()
            } else {
                seg.with_timestamp(mkvcast::time::Ticks(ts), media.scale)
                    .bytes
            };
            let seq = shared.next_seq;
            shared.ring.push_back((seq, bytes, seg.keyframe));
            while shared.ring.len() > KEEP {
                shared.ring.pop_front();
            }
            shared.next_seq += 1;
            if seg.keyframe {
                shared.join_seq = Some(seq);
            } else if shared.join_seq.is_some_and(|j| j < shared.oldest()) {
                shared.join_seq = None;
            }
            index += 1;
            if index == media.segments.len() {
                index = 0;
                pass += 1;
            }
            // Hand the new buffer to everyone who is caught up.
            fanout = Some(0);
        }
        if let Some(from) = fanout {
            let batch = match args.fanout_batch {
                0 => usize::MAX,
                n => n,
            };
            let mut key = from;
            let mut visited = 0;
            while key < viewers.capacity() && visited < batch {
                if let Some(v) = viewers.get_mut(key) {
                    visited += 1;
                    match fan_out_to(v, &shared) {
                        Ok(()) => {}
                        Err(Gone::Behind) => {
                            dropped_behind += 1;
                            gone.push(key);
                        }
                        Err(Gone::Closed) => gone.push(key),
                    }
                }
                key += 1;
            }
            fanout = (key < viewers.capacity()).then_some(key);
            for key in gone.drain(..) {
                let mut v = viewers.remove(key);
                let _ = poll.registry().deregister(&mut v.stream);
            }
        }
        if accept_paused_until.is_some_and(|t| now >= t) {
            accept_paused_until = None;
            accept(
                &mut listener,
                &mut viewers,
                &poll,
                args,
                &mut accept_paused_until,
            );
        }
        if args.status_every > 0 && now >= next_status {
            next_status += status_every;
            eprintln!(
                "raw_sender: {} viewers, {dropped_behind} dropped for falling behind, cluster {}",
                viewers.len(),
                shared.next_seq
            );
        }

        let (due, _) = due_of(index, pass, anchor, base_ns);
        let mut wake = due;
        if let Some(t) = accept_paused_until {
            wake = wake.min(t);
        }
        if args.status_every > 0 {
            wake = wake.min(next_status);
        }
        let timeout = match fanout {
            Some(_) => Duration::ZERO,
            None => wake.saturating_duration_since(Instant::now()),
        };
        match poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("poll: {e}")),
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                if accept_paused_until.is_none() {
                    accept(
                        &mut listener,
                        &mut viewers,
                        &poll,
                        args,
                        &mut accept_paused_until,
                    );
                }
                continue;
            }
            let key = event.token().0;
            let Some(v) = viewers.get_mut(key) else {
                continue;
            };
            if event.is_writable() {
                v.writable = true;
            }
            let mut result = Ok(());
            if event.is_readable() || event.is_read_closed() {
                result = v.on_readable(&mut scratch).map(|_| ());
            }
            if result.is_ok() {
                result = v.pump(&shared);
            }
            if result.is_err() {
                let mut v = viewers.remove(key);
                let _ = poll.registry().deregister(&mut v.stream);
            }
        }
    }
}

/// After a new Cluster: drops a viewer still in a Cluster that is no
/// longer kept (more than a whole Cluster behind), else writes what it can.
fn fan_out_to(v: &mut Viewer, shared: &Shared) -> Result<(), Gone> {
    if let Pos::Cluster(s, _) = v.pos {
        if s < shared.oldest() {
            return Err(Gone::Behind);
        }
    }
    v.pump(shared)
}

/// The listening socket: mio's (backlog 128) unless `--backlog` is given.
fn listen(args: &Args) -> io::Result<TcpListener> {
    if args.backlog <= 0 {
        return TcpListener::bind(args.listen);
    }
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(args.listen),
        socket2::Type::STREAM,
        None,
    )?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&args.listen.into())?;
    socket.listen(args.backlog)?;
    Ok(TcpListener::from_std(socket.into()))
}

fn accept(
    listener: &mut TcpListener,
    viewers: &mut Slab<Viewer>,
    poll: &Poll,
    args: &Args,
    paused: &mut Option<Instant>,
) {
    loop {
        match listener.accept() {
            Ok((mut stream, _)) => {
                if viewers.len() >= args.max_clients {
                    continue; // dropped: closed at once
                }
                if args.send_buffer > 0 {
                    let _ = socket2::SockRef::from(&stream).set_send_buffer_size(args.send_buffer);
                }
                let entry = viewers.vacant_entry();
                if poll
                    .registry()
                    .register(
                        &mut stream,
                        Token(entry.key()),
                        Interest::READABLE | Interest::WRITABLE,
                    )
                    .is_err()
                {
                    continue;
                }
                entry.insert(Viewer {
                    stream,
                    pos: Pos::Request(0),
                    request: Vec::new(),
                    writable: true,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                eprintln!("raw_sender: accept failed: {e}; pausing accepts");
                *paused = Some(Instant::now() + ACCEPT_BACKOFF);
                return;
            }
        }
    }
}
