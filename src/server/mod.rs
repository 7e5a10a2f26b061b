//! The event loop: one mio `Poll` accepts connections, reads requests and
//! writes every client's queue of shared segments without blocking. The
//! input thread hands over segments through a channel and a `Waker`.

pub mod client;
pub mod http;
pub mod status;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

use crate::matroska::header::StreamHeader;
use crate::publisher::{ClientQueue, HeaderChange, Publisher, QueueLimits};
use crate::source::{InputStats, SourceEvent};
use client::{Conn, Io, Phase};
use http::{Method, Parsed, Status};
use status::{ClientInfo, Counters, Snapshot};

const WAKER: Token = Token(usize::MAX);
const SIGNALS: Token = Token(usize::MAX - 1);
const ADMIN: Token = Token(usize::MAX - 2);
/// Listener `i` has token `LISTENER_BASE - i`.
const LISTENER_BASE: usize = usize::MAX - 3;
/// Clients written per turn of the loop after a cluster is published;
/// between turns the loop polls, so accepts and requests stay prompt.
const FLUSH_BATCH: usize = 32;
/// How often a summary line is logged.
const REPORT_EVERY: Duration = Duration::from_secs(60);
/// Window over which the input bitrate is measured.
const RATE_WINDOW: Duration = Duration::from_secs(10);
/// How often timeouts are checked while there are connections.
const TICK: Duration = Duration::from_millis(250);
/// How long a closing connection may linger for the peer's FIN.
const LINGER: Duration = Duration::from_secs(2);
/// Kernel send buffer per client (Linux doubles it). Without a cap, TCP
/// autotuning lets a client that stopped reading park megabytes in the
/// kernel, which hides the stall and costs memory per viewer; this holds
/// about two seconds of a 1 Mbit/s stream.
const SEND_BUFFER_BYTES: usize = 128 << 10;
/// Pause before accepting again after running out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(200);

/// Everything the server is told on the command line.
#[derive(Debug, Clone)]
pub struct Config {
    pub max_clients: usize,
    /// Connections still sending their request, capped apart from viewers.
    pub max_pending: usize,
    pub buffer_ms: u64,
    pub client_queue_ms: u64,
    pub client_queue_bytes: usize,
    pub request_timeout: Duration,
    pub stall_timeout: Duration,
    /// Time clients get to take their queued data after SIGTERM/SIGINT.
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

/// Why a connection ended, for the log.
#[derive(Debug, Clone, Copy)]
enum Reason {
    PeerClosed,
    Done,
    RequestTimeout,
    Stalled,
    Evicted,
    Rejected(Status),
    Shutdown,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::PeerClosed => write!(f, "client closed"),
            Reason::Done => write!(f, "stream ended"),
            Reason::RequestTimeout => write!(f, "request timeout"),
            Reason::Stalled => write!(f, "stalled (no write progress)"),
            Reason::Evicted => write!(f, "evicted (too many pending requests)"),
            Reason::Rejected(s) => write!(f, "answered {}", s.code()),
            Reason::Shutdown => write!(f, "server shutting down"),
        }
    }
}

/// The HTTP side of mkvcast.
pub struct Server {
    poll: Poll,
    listeners: Vec<TcpListener>,
    conns: Slab<Conn>,
    publisher: Publisher,
    source: Receiver<SourceEvent>,
    config: Config,
    limits: QueueLimits,
    /// Response head for the current stream's content type.
    head: Option<Bytes>,
    viewers: usize,
    pending: usize,
    /// Set when the input ended: how it ended.
    ended: Option<Result<(), String>>,
    shutting_down: bool,
    signals: Option<signal_hook_mio::v1_0::Signals>,
    accept_paused_until: Option<Instant>,
    scratch: Vec<u8>,
    /// Why an otherwise normal end should exit non-zero.
    failure: Option<String>,
    /// Kept so the eventfd outlives the input thread: if the last `Waker`
    /// dropped with it, its final wake-up would be lost with the fd.
    _waker: Arc<Waker>,
    admin: Option<TcpListener>,
    input_stats: Arc<InputStats>,
    counters: Counters,
    started: Instant,
    /// (time, input bytes) samples for the input bitrate.
    rate_samples: VecDeque<(Instant, u64)>,
    /// Time and bytes sent at the last summary line.
    last_report: (Instant, u64),
    /// Whether the "streaming … on http://…" line was printed.
    announced: bool,
    /// Where to tell people to point a player.
    public_url: String,
    drain_deadline: Option<Instant>,
    viewers_per_ip: HashMap<IpAddr, usize>,
    /// Clients with newly queued data, written a batch per loop turn.
    to_flush: VecDeque<usize>,
}

/// Creates the poll and the waker the input thread uses to wake it.
pub fn poll_and_waker() -> io::Result<(Poll, Arc<Waker>)> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    Ok((poll, waker))
}

/// Backlog of pending connections per listener: thousands of players may
/// (re)connect within a second, and an overflowing backlog makes their TCP
/// retry after one to seven seconds. The kernel caps it at `somaxconn`.
const LISTEN_BACKLOG: i32 = 4096;

/// Binds every listen address.
pub fn bind(addrs: &[SocketAddr]) -> io::Result<Vec<TcpListener>> {
    addrs
        .iter()
        .map(|a| {
            listen(*a).map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {a}: {e}")))
        })
        .collect()
}

fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(TcpListener::from_std(socket.into()))
}

impl Server {
    pub fn new(
        poll: Poll,
        waker: Arc<Waker>,
        mut listeners: Vec<TcpListener>,
        mut admin: Option<TcpListener>,
        source: Receiver<SourceEvent>,
        input_stats: Arc<InputStats>,
        config: Config,
    ) -> io::Result<Self> {
        if let Some(a) = admin.as_mut() {
            poll.registry().register(a, ADMIN, Interest::READABLE)?;
        }
        let public_url = listeners
            .first()
            .and_then(|l| l.local_addr().ok())
            .map(reachable_url)
            .unwrap_or_default();
        for (i, l) in listeners.iter_mut().enumerate() {
            poll.registry()
                .register(l, Token(LISTENER_BASE - i), Interest::READABLE)?;
        }
        let mut signals = signal_hook_mio::v1_0::Signals::new([
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
        ])?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        let limits = QueueLimits {
            max_media: crate::time::Nanos::from_millis(config.client_queue_ms),
            max_bytes: config.client_queue_bytes,
        };
        Ok(Server {
            poll,
            listeners,
            conns: Slab::with_capacity(64),
            publisher: Publisher::new(config.buffer_ms, crate::publisher::MAX_BUFFER_BYTES),
            source,
            limits,
            config,
            head: None,
            viewers: 0,
            pending: 0,
            ended: None,
            shutting_down: false,
            signals: Some(signals),
            accept_paused_until: None,
            scratch: vec![0u8; 16 << 10],
            failure: None,
            _waker: waker,
            admin,
            input_stats,
            counters: Counters::default(),
            started: Instant::now(),
            rate_samples: VecDeque::new(),
            last_report: (Instant::now(), 0),
            announced: false,
            public_url,
            drain_deadline: None,
            viewers_per_ip: HashMap::new(),
            to_flush: VecDeque::new(),
        })
    }

    /// Serves until the input has ended and every client has its data.
    /// `Err` carries the one-line reason for a non-zero exit.
    pub fn run(mut self) -> Result<(), String> {
        let mut events = Events::with_capacity(1024);
        let mut last_tick = Instant::now();
        loop {
            let timeout = if !self.to_flush.is_empty() {
                Some(Duration::ZERO)
            } else if self.conns.is_empty()
                && self.ended.is_none()
                && self.accept_paused_until.is_none()
            {
                None
            } else {
                Some(TICK)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(format!("poll failed: {e}"));
            }
            for event in events.iter() {
                match event.token() {
                    WAKER => self.drain_source(),
                    SIGNALS => self.handle_signals(),
                    ADMIN => self.accept(None),
                    Token(t) if t > LISTENER_BASE - self.listeners.len() && t <= LISTENER_BASE => {
                        self.accept(Some(LISTENER_BASE - t))
                    }
                    Token(key) => self.conn_event(key, event.is_readable(), event.is_writable()),
                }
            }
            let now = Instant::now();
            self.flush_some(now);
            if now.duration_since(last_tick) >= TICK {
                last_tick = now;
                self.tick(now);
            }
            if self.finished() {
                break;
            }
        }
        for key in self.conns.iter().map(|(k, _)| k).collect::<Vec<_>>() {
            self.close(key, Reason::Shutdown);
        }
        match (self.ended.take(), self.failure.take()) {
            (_, Some(f)) => Err(f),
            (Some(Err(e)), _) if self.publisher.header().is_none() => Err(e),
            _ => Ok(()),
        }
    }

    /// The input ended (or a signal came) and no client has data left.
    fn finished(&self) -> bool {
        (self.ended.is_some() || self.shutting_down)
            && self
                .conns
                .iter()
                .all(|(_, c)| matches!(c.phase, Phase::Request(_) | Phase::Closing))
    }

    /// SIGTERM/SIGINT: stop accepting and let clients take what is queued
    /// for up to the drain timeout; a second one exits at once. SIGHUP is
    /// ignored (there is no configuration to reload).
    fn handle_signals(&mut self) {
        let Some(signals) = self.signals.as_mut() else {
            return;
        };
        let got: Vec<i32> = signals.pending().collect();
        for sig in got {
            if sig == signal_hook::consts::SIGHUP {
                log::info!("SIGHUP ignored: mkvcast has no configuration to reload");
                continue;
            }
            if self.shutting_down {
                log::warn!("second signal: exiting now");
                std::process::exit(0);
            }
            log::info!(
                "signal {sig}: not accepting new clients; clients get up to {} ms to take their queued data",
                self.config.drain_timeout.as_millis()
            );
            self.shutting_down = true;
            let now = Instant::now();
            self.drain_deadline = Some(now + self.config.drain_timeout);
            self.stop_accepting();
            let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
            for key in keys {
                match self.conns.get(key).map(|c| &c.phase) {
                    Some(Phase::Sending(_)) => self.finish_conn(key, now),
                    Some(Phase::Closing) => {}
                    _ => self.close(key, Reason::Shutdown),
                }
            }
        }
    }

    fn stop_accepting(&mut self) {
        for l in &mut self.listeners {
            let _ = self.poll.registry().deregister(l);
        }
        self.listeners.clear();
        if let Some(mut a) = self.admin.take() {
            let _ = self.poll.registry().deregister(&mut a);
        }
    }

    fn drain_source(&mut self) {
        loop {
            match self.source.try_recv() {
                Ok(ev) => {
                    log::trace!("source event: {ev:?}");
                    self.source_event(ev)
                }
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    if self.ended.is_none() {
                        self.source_event(SourceEvent::End(Err("input thread stopped".into())));
                    }
                    return;
                }
            }
        }
    }

    fn source_event(&mut self, ev: SourceEvent) {
        let now = Instant::now();
        match ev {
            SourceEvent::Header(h) => self.new_header(h, now),
            SourceEvent::Restart => {
                log::info!(
                    "input restarted with the same tracks: clients continue at the next keyframe"
                );
                for (_, c) in self.conns.iter_mut() {
                    if c.viewer {
                        if let Some(q) = c.queue_mut() {
                            q.require_keyframe();
                        }
                    }
                }
            }
            // Blocks are served with their completed cluster for now.
            SourceEvent::ClusterStart { .. } | SourceEvent::Block(_) => {}
            SourceEvent::ClusterEnd(s) => {
                // Queue it everywhere now (cheap: a refcount each), but write
                // in batches between polls, so that joiners and requests are
                // not kept waiting behind thousands of writes.
                for (key, c) in self.conns.iter_mut() {
                    if !c.viewer || c.close_when_done {
                        continue;
                    }
                    let Some(q) = c.queue_mut() else { continue };
                    if q.push_cluster(&s) && c.writable {
                        self.to_flush.push_back(key);
                    }
                }
                self.publisher.publish(s);
            }
            SourceEvent::End(result) => {
                match &result {
                    Ok(()) => log::info!("input ended: sending what is queued, then closing"),
                    // Nothing was served: the caller reports it as the exit
                    // reason, in one line.
                    Err(e) if self.publisher.header().is_none() => self.failure = Some(e.clone()),
                    Err(e) => log::warn!("{e}; sending what is queued, then closing"),
                }
                self.ended = Some(result);
                let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
                for key in keys {
                    self.finish_conn(key, now);
                }
            }
        }
    }

    /// Writes the queues of up to [`FLUSH_BATCH`] clients that got new data.
    fn flush_some(&mut self, now: Instant) {
        for _ in 0..FLUSH_BATCH {
            let Some(key) = self.to_flush.pop_front() else {
                return;
            };
            self.after_write(key, now);
        }
    }

    /// After the input ended: viewers close once their queue is written;
    /// those still waiting for a stream get nothing more.
    fn finish_conn(&mut self, key: usize, now: Instant) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        match c.phase {
            Phase::Waiting { .. } => self.close(key, Reason::Done),
            Phase::Sending(_) => {
                c.close_when_done = true;
                self.after_write(key, now);
            }
            _ => {}
        }
    }

    fn new_header(&mut self, h: Arc<StreamHeader>, now: Instant) {
        let change = self.publisher.set_header(h.clone());
        self.head = Some(http::stream_head(h.content_type()));
        log::info!(
            "stream header ready: {} ({}), {} bytes",
            h.describe_tracks(),
            h.content_type(),
            h.bytes.len()
        );
        if change == HeaderChange::Incompatible {
            log::warn!("the input changed tracks: current clients end after their queued data");
            let keys: Vec<usize> = self
                .conns
                .iter()
                .filter(|(_, c)| c.viewer)
                .map(|(k, _)| k)
                .collect();
            for key in keys {
                if let Some(c) = self.conns.get_mut(key) {
                    if matches!(c.phase, Phase::Sending(_)) {
                        c.close_when_done = true;
                        release_viewer(&mut self.viewers, &mut self.viewers_per_ip, c);
                        self.after_write(key, now);
                    }
                }
            }
        }
        // Clients that came before the stream start now.
        let waiting: Vec<(usize, bool)> = self
            .conns
            .iter()
            .filter_map(|(k, c)| match c.phase {
                Phase::Waiting { head_only } => Some((k, head_only)),
                _ => None,
            })
            .collect();
        for (key, head_only) in waiting {
            self.start_response(key, head_only, now);
        }
        if !self.announced {
            self.announced = true;
            let url = &self.public_url;
            log::info!(
                "streaming {} ({}) on {url} — open it in a browser, or: ffplay {url}",
                self.config.input_name,
                h.describe_tracks()
            );
        }
    }

    /// Accepts on stream listener `index`, or on the admin listener.
    fn accept(&mut self, index: Option<usize>) {
        if self.accept_paused_until.is_some() {
            return;
        }
        loop {
            let listener = match index {
                Some(i) => self.listeners.get(i),
                None => self.admin.as_ref(),
            };
            let Some(listener) = listener else {
                return;
            };
            match listener.accept() {
                Ok((mut stream, addr)) => {
                    let _ = socket2::SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER_BYTES);
                    if self.pending >= self.config.max_pending {
                        self.evict_oldest_pending();
                    }
                    let entry = self.conns.vacant_entry();
                    let key = entry.key();
                    if self
                        .poll
                        .registry()
                        .register(
                            &mut stream,
                            Token(key),
                            Interest::READABLE | Interest::WRITABLE,
                        )
                        .is_err()
                    {
                        continue;
                    }
                    let mut conn = Conn::new(stream, addr, Instant::now());
                    conn.admin = index.is_none();
                    entry.insert(conn);
                    self.pending += 1;
                    log::debug!("connection {key} from {addr}");
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // EMFILE/ENFILE and the like: back off instead of spinning.
                    log::warn!(
                        "accept failed: {e}; pausing accepts for {} ms",
                        ACCEPT_BACKOFF.as_millis()
                    );
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_BACKOFF);
                    return;
                }
            }
        }
    }

    fn evict_oldest_pending(&mut self) {
        let oldest = self
            .conns
            .iter()
            .filter(|(_, c)| matches!(c.phase, Phase::Request(_)))
            .min_by_key(|(_, c)| c.since)
            .map(|(k, _)| k);
        if let Some(key) = oldest {
            self.close(key, Reason::Evicted);
        }
    }

    fn conn_event(&mut self, key: usize, readable: bool, writable: bool) {
        let now = Instant::now();
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        if writable {
            c.writable = true;
        }
        if readable {
            match &mut c.phase {
                Phase::Request(_) => {
                    self.read_request(key, now);
                    return;
                }
                _ => {
                    if c.drain_input(&mut self.scratch) == Io::Closed {
                        let reason = if matches!(c.phase, Phase::Closing) {
                            Reason::Done
                        } else {
                            Reason::PeerClosed
                        };
                        self.close(key, reason);
                        return;
                    }
                }
            }
        }
        if writable {
            self.after_write(key, now);
        }
    }

    /// Writes what the socket takes; finishes the connection when its
    /// queue is done and it should close.
    fn after_write(&mut self, key: usize, now: Instant) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        if c.flush(now) == Io::Closed {
            self.close(key, Reason::PeerClosed);
            return;
        }
        if c.close_when_done && c.queue().is_some_and(ClientQueue::is_empty) {
            let _ = c.stream.shutdown(std::net::Shutdown::Write);
            c.phase = Phase::Closing;
            c.last_progress = now;
            let was_viewer = c.viewer;
            release_viewer(&mut self.viewers, &mut self.viewers_per_ip, c);
            if !was_viewer {
                return;
            }
            log::info!(
                "client {key} {} finished: {} bytes in {:.1} s",
                c.addr,
                c.bytes_sent,
                now.duration_since(c.since).as_secs_f64()
            );
        }
    }

    fn read_request(&mut self, key: usize, now: Instant) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        let Phase::Request(buf) = &mut c.phase else {
            return;
        };
        let parsed = loop {
            let room = http::MAX_REQUEST_BYTES
                .saturating_sub(buf.len())
                .min(self.scratch.len());
            if room == 0 {
                break http::parse(buf);
            }
            let scratch = self.scratch.get_mut(..room).unwrap_or(&mut []);
            match io::Read::read(&mut c.stream, scratch) {
                Ok(0) => {
                    self.close(key, Reason::PeerClosed);
                    return;
                }
                Ok(n) => buf.extend_from_slice(scratch.get(..n).unwrap_or(&[])),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break http::parse(buf),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.close(key, Reason::PeerClosed);
                    return;
                }
            }
        };
        match parsed {
            Parsed::Partial => {}
            Parsed::Reject(status) => self.reject(key, status, now),
            Parsed::Complete(req) => {
                self.pending -= 1;
                let head_only = req.method == Method::Head;
                let c = &mut self.conns[key];
                // No longer a pending request, whatever happens next.
                c.phase = Phase::Waiting { head_only };
                c.user_agent = req.user_agent.map(String::into_boxed_str);
                if c.admin {
                    self.serve_admin(key, &req.path, head_only, now);
                    return;
                }
                if req.path == "/favicon.ico" {
                    self.respond(key, Status::NotFound, now);
                    return;
                }
                if self.ended.is_some() || self.shutting_down {
                    self.respond(key, Status::Unavailable, now);
                    return;
                }
                if !head_only {
                    let ip = self.conns[key].addr.ip();
                    let per_ip = self.viewers_per_ip.get(&ip).copied().unwrap_or(0);
                    if self.config.max_clients_per_ip.is_some_and(|m| per_ip >= m) {
                        log::warn!("client {ip} refused: {per_ip} viewers from it already (--max-clients-per-ip)");
                        self.counters.rejected_full += 1;
                        self.respond(key, Status::Unavailable, now);
                        return;
                    }
                    if self.viewers >= self.config.max_clients {
                        self.counters.rejected_full += 1;
                        log::warn!(
                            "client {} refused: {} viewers already (--max-clients)",
                            self.conns[key].addr,
                            self.viewers
                        );
                        self.respond(key, Status::Unavailable, now);
                        return;
                    }
                    self.viewers += 1;
                    *self.viewers_per_ip.entry(ip).or_insert(0) += 1;
                    self.counters.clients_total += 1;
                    let c = &mut self.conns[key];
                    c.viewer = true;
                    log::info!(
                        "client {key} {} connected: GET {} ({})",
                        c.addr,
                        req.path,
                        c.user_agent.as_deref().unwrap_or("no user agent")
                    );
                }
                if self.publisher.header().is_some() {
                    self.start_response(key, head_only, now);
                } else {
                    log::info!("client {key} waits for the stream to start");
                }
            }
        }
    }

    /// Starts the 200 response: head, stream header, then the buffered
    /// clusters from the oldest keyframe on.
    fn start_response(&mut self, key: usize, head_only: bool, now: Instant) {
        let (Some(head), Some(header)) = (self.head.clone(), self.publisher.header().cloned())
        else {
            return;
        };
        let mut q = ClientQueue::new(self.limits);
        q.push_bytes(head);
        if !head_only {
            q.push_bytes(header.bytes.clone());
            for s in self.publisher.burst() {
                q.push_cluster(s);
            }
        }
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        c.phase = Phase::Sending(Box::new(q));
        c.close_when_done = head_only || self.ended.is_some();
        self.after_write(key, now);
    }

    /// Sends a short error response, then closes.
    fn reject(&mut self, key: usize, status: Status, now: Instant) {
        if let Some(c) = self.conns.get(key) {
            log::warn!(
                "client {} sent a bad request: answered {}",
                c.addr,
                status.code()
            );
        }
        self.pending -= 1;
        self.counters.rejected_bad_request += 1;
        self.respond(key, status, now);
    }

    /// Sends a short error response, then closes.
    fn respond(&mut self, key: usize, status: Status, now: Instant) {
        if let Some(c) = self.conns.get(key) {
            log::debug!("client {key} {}: {}", c.addr, Reason::Rejected(status));
        }
        self.send_and_close(key, http::error_response(status), now);
    }

    /// Queues one complete response; the connection closes once it is sent.
    fn send_and_close(&mut self, key: usize, response: Bytes, now: Instant) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        let mut q = ClientQueue::new(self.limits);
        q.push_bytes(response);
        c.phase = Phase::Sending(Box::new(q));
        c.close_when_done = true;
        self.after_write(key, now);
    }

    /// Timeouts: slow requests, stalled viewers, lingering closes; and
    /// resuming accepts after a back-off.
    fn tick(&mut self, now: Instant) {
        self.sample_rates(now);
        if self.drain_deadline.is_some_and(|d| now >= d) {
            self.drain_deadline = None;
            let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
            for key in keys {
                self.close(key, Reason::Shutdown);
            }
        }
        if self.accept_paused_until.is_some_and(|t| now >= t) {
            self.accept_paused_until = None;
            for i in 0..self.listeners.len() {
                self.accept(Some(i));
            }
            self.accept(None);
        }
        let mut expired = Vec::new();
        for (key, c) in self.conns.iter() {
            let reason = match &c.phase {
                Phase::Request(_) if now.duration_since(c.since) > self.config.request_timeout => {
                    Some(Reason::RequestTimeout)
                }
                Phase::Sending(q)
                    if !q.is_empty()
                        && now.duration_since(c.last_progress) > self.config.stall_timeout =>
                {
                    Some(Reason::Stalled)
                }
                Phase::Closing if now.duration_since(c.last_progress) > LINGER => {
                    Some(Reason::Done)
                }
                _ => None,
            };
            if let Some(r) = reason {
                expired.push((key, r));
            }
        }
        for (key, reason) in expired {
            match reason {
                Reason::RequestTimeout => self.counters.rejected_timeout += 1,
                Reason::Stalled => self.counters.slow_clients_closed += 1,
                _ => {}
            }
            self.close(key, reason);
        }
    }

    fn close(&mut self, key: usize, reason: Reason) {
        if !self.conns.contains(key) {
            return;
        }
        let mut c = self.conns.remove(key);
        let _ = self.poll.registry().deregister(&mut c.stream);
        if matches!(c.phase, Phase::Request(_)) {
            self.pending -= 1;
        }
        self.counters.bytes_sent_closed += c.bytes_sent;
        self.counters.keyframe_skips_closed += c.queue().map_or(0, ClientQueue::skips);
        if c.viewer {
            release_viewer(&mut self.viewers, &mut self.viewers_per_ip, &mut c);
            log::info!(
                "client {key} {} disconnected: {reason}; sent {} bytes in {:.1} s",
                c.addr,
                c.bytes_sent,
                c.since.elapsed().as_secs_f64()
            );
        } else {
            log::debug!("connection {key} {} closed: {reason}", c.addr);
        }
    }
}

/// Frees a connection's viewer slot (and its per-address count).
fn release_viewer(viewers: &mut usize, per_ip: &mut HashMap<IpAddr, usize>, c: &mut Conn) {
    if !c.viewer {
        return;
    }
    c.viewer = false;
    *viewers -= 1;
    let ip = c.addr.ip();
    if let Some(n) = per_ip.get_mut(&ip) {
        *n -= 1;
        if *n == 0 {
            per_ip.remove(&ip);
        }
    }
}

/// A URL people can open for a listen address: the unspecified address
/// (0.0.0.0 or ::) is not reachable, loopback is.
fn reachable_url(addr: SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => format!("http://127.0.0.1:{}/", addr.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => format!("http://127.0.0.1:{}/", addr.port()),
        IpAddr::V6(ip) => format!("http://[{ip}]:{}/", addr.port()),
        IpAddr::V4(ip) => format!("http://{ip}:{}/", addr.port()),
    }
}

impl Server {
    /// Answers `/status`, `/status.json` and `/metrics` on the admin
    /// listener; anything else there is 404.
    fn serve_admin(&mut self, key: usize, path: &str, head_only: bool, now: Instant) {
        let (body, content_type) = match path {
            "/status.json" => (status::json(&self.snapshot(now)), "application/json"),
            "/status" | "/" => (
                status::html(&self.snapshot(now)),
                "text/html; charset=utf-8",
            ),
            "/metrics" => (
                status::metrics(&self.snapshot(now)),
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            _ => {
                self.respond(key, Status::NotFound, now);
                return;
            }
        };
        let response = http::ok_response(content_type, body, head_only);
        self.send_and_close(key, response, now);
    }

    fn snapshot(&self, now: Instant) -> Snapshot<'_> {
        let wall = SystemTime::now();
        let clients = self
            .conns
            .iter()
            .filter(|(_, c)| c.viewer)
            .map(|(id, c)| {
                let age = now.duration_since(c.since);
                ClientInfo {
                    id,
                    address: c.addr.to_string(),
                    connected_since: crate::logging::utc(wall - age),
                    connected_s: age.as_secs_f64(),
                    bytes_sent: c.bytes_sent,
                    queue_bytes: c.queue().map_or(0, ClientQueue::len),
                    keyframe_skips: c.queue().map_or(0, ClientQueue::skips),
                    user_agent: c.user_agent.as_deref().unwrap_or("").to_string(),
                }
            })
            .collect();
        let (buffered_ns, buffered_bytes) = self.publisher.buffered();
        Snapshot {
            input: &self.config.input_name,
            header: self.publisher.header().map(|h| &**h),
            input_state: self.input_stats.state().as_str(),
            input_bytes: self.input_stats.bytes(),
            input_reconnects: self.input_stats.reconnects(),
            input_kbps: self.input_kbps(),
            media_time_s: self.publisher.media_time().as_secs_f64(),
            buffered_s: buffered_ns.as_secs_f64(),
            buffered_bytes,
            clusters_published: self.publisher.published(),
            uptime_s: now.duration_since(self.started).as_secs_f64(),
            clients,
            counters: &self.counters,
        }
    }

    /// Input bitrate over the last [`RATE_WINDOW`].
    fn input_kbps(&self) -> f64 {
        match (self.rate_samples.front(), self.rate_samples.back()) {
            (Some(a), Some(b)) if b.0 > a.0 => {
                (b.1 - a.1) as f64 * 8.0 / 1000.0 / (b.0 - a.0).as_secs_f64()
            }
            _ => 0.0,
        }
    }

    /// Records input progress, and logs a summary line every minute.
    fn sample_rates(&mut self, now: Instant) {
        self.rate_samples.push_back((now, self.input_stats.bytes()));
        while self
            .rate_samples
            .front()
            .is_some_and(|s| now.duration_since(s.0) > RATE_WINDOW)
        {
            self.rate_samples.pop_front();
        }
        let elapsed = now.duration_since(self.last_report.0);
        if elapsed >= REPORT_EVERY {
            let sent = self.counters.bytes_sent_closed
                + self.conns.iter().map(|(_, c)| c.bytes_sent).sum::<u64>();
            let out_mbps = (sent - self.last_report.1) as f64 * 8.0 / 1e6 / elapsed.as_secs_f64();
            log::info!(
                "{} clients, out {out_mbps:.2} Mbit/s, in {:.0} kbit/s, media time {:.1} s",
                self.viewers,
                self.input_kbps(),
                self.publisher.media_time().as_secs_f64()
            );
            self.last_report = (now, sent);
        }
    }
}
