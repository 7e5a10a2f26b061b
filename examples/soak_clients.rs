//! Soak-test viewers for mkvcast (loopback only): keeps `--clients` viewers
//! on a stream for a bounded time, with churn (`--churn` joins and leaves a
//! second) and a slice of slow readers and of readers that stop for longer
//! than the server's stall timeout. Every byte every viewer receives is
//! checked with mkvcast's own segmenter: clean Matroska, the first cluster
//! a keyframe, timestamps strictly increasing; for well-behaved viewers
//! also contiguous (no cluster skipped).
//!
//!   cargo run --release --example soak_clients -- --port 8080 --duration 60
//!
//! Prints a one-line JSON summary on stdout (progress on stderr) and exits 1
//! if any well-behaved viewer saw an invalid or discontinuous stream, was
//! refused or closed, or any viewer saw invalid Matroska. `bench/soak.sh`
//! runs it; `tests/soak_short.rs` includes this file as a module.

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

pub use mkvcast_testkit::stream_check::StreamCheck;
use mkvcast_testkit::Rng;

/// Keeps many viewers on a loopback mkvcast stream, with churn, slow readers
/// and stalling readers, and checks every byte they receive.
#[derive(argh::FromArgs, Debug, Clone)]
pub struct Config {
    /// port of the stream on 127.0.0.1
    #[argh(option)]
    pub port: u16,
    /// path to request (default /)
    #[argh(option, default = "String::from(\"/\")")]
    pub path: String,
    /// viewers kept connected (default 500)
    #[argh(option, default = "500")]
    pub clients: usize,
    /// how many of them read slower than the stream (default 25)
    #[argh(option, default = "25")]
    pub slow: usize,
    /// how many of them stop reading for --stop-s seconds (default 10)
    #[argh(option, default = "10")]
    pub stoppers: usize,
    /// joins and leaves per second once ramped up (default 10)
    #[argh(option, default = "10")]
    pub churn: u32,
    /// seconds to run, 1 to 86400 (default 60)
    #[argh(option, default = "60")]
    pub duration: u64,
    /// new connections per second while below --clients (default 100)
    #[argh(option, default = "100")]
    pub ramp_rate: u32,
    /// bytes per second a slow viewer reads (default 60000, about half the
    /// 1 Mbit/s bench stream)
    #[argh(option, default = "60000")]
    pub slow_rate: u64,
    /// seconds a stopper stops reading; make it longer than the server's
    /// --stall-timeout-ms (default 15)
    #[argh(option, default = "15")]
    pub stop_s: u64,
    /// a gap between a cluster's end and the next cluster's start larger
    /// than this (ms) is a skipped cluster (default 200)
    #[argh(option, default = "200")]
    pub max_gap_ms: i64,
    /// seconds between progress lines on stderr, 0 for none (default 10)
    #[argh(option, default = "10")]
    pub progress_s: u64,
}

#[allow(dead_code)]
fn main() -> std::process::ExitCode {
    let cfg: Config = argh::from_env();
    if !(1..=86_400).contains(&cfg.duration) {
        eprintln!("soak_clients: --duration must be 1..86400 s");
        return std::process::ExitCode::from(2);
    }
    let summary = match run(&cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("soak_clients: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    eprintln!("{}", summary.text());
    println!("{}", summary.json());
    if summary.clean() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(1)
    }
}

// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Good,
    Slow,
    Stopper,
}

struct Client {
    stream: TcpStream,
    kind: Kind,
    sent: bool,
    head: Vec<u8>,
    in_body: bool,
    check: StreamCheck,
    bytes: u64,
    opened: Instant,
    last_data: Instant,
    longest_silence: Duration,
    /// Slow viewers: bytes they may still read.
    budget: u64,
    /// Stoppers: when the current pause starts and ends.
    pause: (Instant, Instant),
}

enum Pumped {
    Open,
    Eof,
    Failed(String),
}

impl Pumped {
    /// How the client finishes, if it does.
    fn finish(self) -> Option<Finish> {
        match self {
            Pumped::Open => None,
            Pumped::Eof => Some(Finish::Eof),
            Pumped::Failed(e) => Some(Finish::Failed(e)),
        }
    }
}

impl Client {
    /// Reads up to `limit` bytes (or until the socket is empty).
    fn pump(&mut self, buf: &mut [u8], mut limit: u64, now: Instant) -> Pumped {
        while limit > 0 {
            let want = (buf.len() as u64).min(limit) as usize;
            match self.stream.read(&mut buf[..want]) {
                Ok(0) => return Pumped::Eof,
                Ok(n) => {
                    limit -= n as u64;
                    self.longest_silence = self.longest_silence.max(now - self.last_data);
                    self.last_data = now;
                    if let Err(e) = self.data(&buf[..n]) {
                        return Pumped::Failed(e);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::NotConnected => break,
                Err(e) if self.in_body => return Pumped::Failed(format!("read: {e}")),
                Err(e) => return Pumped::Failed(format!("before the response: {e}")),
            }
        }
        Pumped::Open
    }

    fn data(&mut self, mut data: &[u8]) -> Result<(), String> {
        if !self.in_body {
            self.head.extend_from_slice(data);
            let Some(end) = self.head.windows(4).position(|w| w == b"\r\n\r\n") else {
                if self.head.len() > 16 << 10 {
                    return Err("no response head in 16 KiB".into());
                }
                return Ok(());
            };
            let status = std::str::from_utf8(&self.head[..end])
                .ok()
                .and_then(|h| h.split_whitespace().nth(1))
                .unwrap_or("?")
                .to_string();
            if status != "200" {
                return Err(format!("HTTP status {status}"));
            }
            self.in_body = true;
            let body = self.head.split_off(end + 4);
            self.head = Vec::new();
            self.bytes += body.len() as u64;
            self.check.feed(&body);
            data = &[];
        }
        self.bytes += data.len() as u64;
        self.check.feed(data);
        match &self.check.error {
            Some(e) => Err(format!("invalid stream after {} bytes: {e}", self.bytes)),
            None => Ok(()),
        }
    }
}

/// What the run saw.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub seconds: f64,
    pub opened: u64,
    pub connect_errors: u64,
    /// Closed by us for churn.
    pub left: u64,
    /// Stoppers the server closed (expected: they stall).
    pub stoppers_closed: u64,
    /// Well-behaved or slow viewers the server closed or refused.
    pub unexpected_closes: u64,
    pub invalid_good: u64,
    pub invalid_other: u64,
    /// Well-behaved viewers that lost clusters.
    pub good_gaps: u64,
    /// Keyframe skips seen by slow viewers and stoppers (expected).
    pub slow_skips: u64,
    /// Well-behaved viewers that got no data for more than 5 s.
    pub good_stalls: u64,
    pub max_good_silence_ms: u64,
    pub bytes: u64,
    pub clusters: u64,
    pub live_at_end: u64,
    pub min_live_after_ramp: u64,
    /// First few problems, for the log.
    pub problems: Vec<String>,
}

impl Summary {
    pub fn clean(&self) -> bool {
        self.invalid_good == 0
            && self.invalid_other == 0
            && self.good_gaps == 0
            && self.unexpected_closes == 0
            && self.connect_errors == 0
            && self.good_stalls == 0
    }

    fn problem(&mut self, p: String) {
        if self.problems.len() < 10 {
            self.problems.push(p);
        }
    }

    pub fn text(&self) -> String {
        let mut s = format!(
            "soak_clients: {:.0} s, {} opened, {} left (churn), {} stoppers closed by the server, \
             {} unexpected closes, {} connect errors; invalid streams: {} good, {} slow/stopper; \
             {} good viewers lost clusters, {} keyframe skips by slow viewers; {} good stalls (max silence {} ms); \
             {:.1} MB in {} clusters; {} live at the end (min {} after ramp): {}",
            self.seconds,
            self.opened,
            self.left,
            self.stoppers_closed,
            self.unexpected_closes,
            self.connect_errors,
            self.invalid_good,
            self.invalid_other,
            self.good_gaps,
            self.slow_skips,
            self.good_stalls,
            self.max_good_silence_ms,
            self.bytes as f64 / 1e6,
            self.clusters,
            self.live_at_end,
            self.min_live_after_ramp,
            if self.clean() { "CLEAN" } else { "FAILED" }
        );
        for p in &self.problems {
            s.push_str("\n  ");
            s.push_str(p);
        }
        s
    }

    pub fn json(&self) -> String {
        format!(
            "{{\"seconds\":{:.1},\"opened\":{},\"connect_errors\":{},\"left\":{},\"stoppers_closed\":{},\
             \"unexpected_closes\":{},\"invalid_good\":{},\"invalid_other\":{},\"good_gaps\":{},\
             \"slow_skips\":{},\"good_stalls\":{},\"max_good_silence_ms\":{},\"bytes\":{},\"clusters\":{},\
             \"live_at_end\":{},\"min_live_after_ramp\":{},\"clean\":{}}}",
            self.seconds,
            self.opened,
            self.connect_errors,
            self.left,
            self.stoppers_closed,
            self.unexpected_closes,
            self.invalid_good,
            self.invalid_other,
            self.good_gaps,
            self.slow_skips,
            self.good_stalls,
            self.max_good_silence_ms,
            self.bytes,
            self.clusters,
            self.live_at_end,
            self.min_live_after_ramp,
            self.clean()
        )
    }
}

const TICK: Duration = Duration::from_millis(100);
/// A well-behaved viewer without data this long is stalled (clusters of the
/// bench stream are 1 s).
const GOOD_SILENCE: Duration = Duration::from_secs(5);
/// Receive buffer of slow viewers and stoppers, so they really fall behind
/// instead of parking the stream in the kernel.
const SLOW_RCVBUF: usize = 16 << 10;

struct Run<'a> {
    cfg: &'a Config,
    poll: Poll,
    clients: Slab<Client>,
    summary: Summary,
    rng: Rng,
    request: Vec<u8>,
    addr: SocketAddr,
}

impl Run<'_> {
    fn count(&self, kind: Kind) -> usize {
        self.clients.iter().filter(|(_, c)| c.kind == kind).count()
    }

    fn open(&mut self, now: Instant) {
        let kind = if self.count(Kind::Slow) < self.cfg.slow {
            Kind::Slow
        } else if self.count(Kind::Stopper) < self.cfg.stoppers {
            Kind::Stopper
        } else {
            Kind::Good
        };
        let stream = match connect(self.addr, kind != Kind::Good) {
            Ok(s) => s,
            Err(e) => {
                self.summary.connect_errors += 1;
                self.summary.problem(format!("connect: {e}"));
                return;
            }
        };
        let entry = self.clients.vacant_entry();
        let mut stream = stream;
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            Token(entry.key()),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            self.summary.connect_errors += 1;
            self.summary.problem(format!("register: {e}"));
            return;
        }
        // Stoppers read for 5–20 s, then pause.
        let run = Duration::from_millis(5_000 + self.rng.below(15_000) as u64);
        let pause_at = now + run;
        entry.insert(Client {
            stream,
            kind,
            sent: false,
            head: Vec::new(),
            in_body: false,
            check: StreamCheck::new(self.cfg.max_gap_ms * 1_000_000, kind != Kind::Good),
            bytes: 0,
            opened: now,
            last_data: now,
            longest_silence: Duration::ZERO,
            budget: 0,
            pause: (pause_at, pause_at + Duration::from_secs(self.cfg.stop_s)),
        });
        self.summary.opened += 1;
    }

    /// Finishes the clients in `done` that are still there.
    fn finish_all(&mut self, done: &mut Vec<(usize, Finish)>) {
        for (key, how) in done.drain(..) {
            if self.clients.contains(key) {
                self.finish(key, how);
            }
        }
    }

    /// Removes a client, adding its figures to the summary.
    fn finish(&mut self, key: usize, how: Finish) {
        let mut c = self.clients.remove(key);
        let _ = self.poll.registry().deregister(&mut c.stream);
        let s = &mut self.summary;
        s.bytes += c.bytes;
        s.clusters += c.check.clusters;
        if c.kind == Kind::Good {
            s.good_gaps += c.check.gaps;
            let silence = c.longest_silence.max(Instant::now() - c.last_data);
            s.max_good_silence_ms = s.max_good_silence_ms.max(silence.as_millis() as u64);
            if silence > GOOD_SILENCE {
                s.good_stalls += 1;
                s.problem(format!(
                    "good viewer {key} got no data for {silence:?} ({} bytes)",
                    c.bytes
                ));
            }
        } else {
            s.slow_skips += c.check.gaps;
        }
        let invalid = |s: &mut Summary, kind: Kind, e: &str| {
            if kind == Kind::Good {
                s.invalid_good += 1;
            } else {
                s.invalid_other += 1;
            }
            s.problem(format!("{kind:?} viewer {key}: {e}"));
        };
        match how {
            Finish::Leave => {
                s.left += 1;
                if let Some(e) = &c.check.error {
                    invalid(s, c.kind, &e.to_string());
                }
                if self.rng.below(2) == 0 {
                    // Half of the leavers reset instead of closing.
                    let _ = socket2::SockRef::from(&c.stream).set_linger(Some(Duration::ZERO));
                }
            }
            Finish::Eof => {
                if let Some(e) = &c.check.error {
                    invalid(s, c.kind, &e.to_string());
                } else if c.kind == Kind::Stopper && Instant::now() > c.pause.0 {
                    s.stoppers_closed += 1;
                } else {
                    s.unexpected_closes += 1;
                    s.problem(format!(
                        "{:?} viewer {key} closed by the server after {:.1} s, {} bytes",
                        c.kind,
                        c.opened.elapsed().as_secs_f64(),
                        c.bytes
                    ));
                }
            }
            Finish::Failed(e) => {
                if c.check.error.is_some() {
                    invalid(s, c.kind, &e);
                } else if c.kind == Kind::Stopper && Instant::now() > c.pause.0 {
                    // A reset after the server gave up on it.
                    s.stoppers_closed += 1;
                } else {
                    s.unexpected_closes += 1;
                    s.problem(format!("{:?} viewer {key}: {e}", c.kind));
                }
            }
            Finish::End => {
                if let Some(e) = &c.check.error {
                    invalid(s, c.kind, &e.to_string());
                }
            }
        }
    }
}

enum Finish {
    /// Churn: we leave.
    Leave,
    /// The server closed.
    Eof,
    Failed(String),
    /// The run is over.
    End,
}

fn connect(addr: SocketAddr, small_window: bool) -> std::io::Result<TcpStream> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    if small_window {
        sock.set_recv_buffer_size(SLOW_RCVBUF)?;
    }
    sock.set_nonblocking(true)?;
    match sock.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(115) || e.kind() == ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(sock.into()))
}

/// Runs the viewers for `cfg.duration` seconds.
pub fn run(cfg: &Config) -> Result<Summary, String> {
    let poll = Poll::new().map_err(|e| e.to_string())?;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    let mut r = Run {
        cfg,
        poll,
        clients: Slab::with_capacity(cfg.clients + 64),
        summary: Summary::default(),
        rng: Rng(seed),
        request: format!(
            "GET {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUser-Agent: soak_clients\r\n\r\n",
            cfg.path, cfg.port
        )
        .into_bytes(),
        addr: SocketAddr::from(([127, 0, 0, 1], cfg.port)),
    };
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 256 << 10];
    let start = Instant::now();
    let end = start + Duration::from_secs(cfg.duration);
    let mut next_tick = start;
    let mut next_progress = start + Duration::from_secs(cfg.progress_s.max(1));
    let mut churn_credit = 0.0f64;
    let mut ramped = false;
    r.summary.min_live_after_ramp = u64::MAX;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let timeout = next_tick.saturating_duration_since(now).min(end - now);
        r.poll
            .poll(&mut events, Some(timeout))
            .map_err(|e| format!("poll: {e}"))?;
        let now = Instant::now();
        let mut done: Vec<(usize, Finish)> = Vec::new();
        for ev in events.iter() {
            let key = ev.token().0;
            let Some(c) = r.clients.get_mut(key) else {
                continue;
            };
            if !c.sent && (ev.is_writable() || ev.is_error()) {
                if let Some(e) = c.stream.take_error().ok().flatten() {
                    done.push((key, Finish::Failed(format!("connect: {e}"))));
                    continue;
                }
                if c.stream.peer_addr().is_err() {
                    continue;
                }
                // A short request always fits the empty send buffer.
                match c.stream.write(&r.request) {
                    Ok(n) if n == r.request.len() => c.sent = true,
                    Ok(_) => {
                        done.push((key, Finish::Failed("short request write".into())));
                        continue;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => {
                        done.push((key, Finish::Failed(format!("send: {e}"))));
                        continue;
                    }
                }
            }
            if c.kind == Kind::Good && (ev.is_readable() || ev.is_read_closed()) {
                if let Some(how) = c.pump(&mut buf, u64::MAX, now).finish() {
                    done.push((key, how));
                }
            }
        }
        r.finish_all(&mut done);
        if now < next_tick {
            continue;
        }
        next_tick += TICK;
        if next_tick < now {
            next_tick = now + TICK;
        }
        // Slow viewers read their allowance; stoppers read unless paused.
        let per_tick = cfg.slow_rate / 10;
        for (key, c) in r.clients.iter_mut() {
            let limit = match c.kind {
                Kind::Good => continue,
                Kind::Slow => {
                    c.budget = (c.budget + per_tick).min(per_tick * 20);
                    c.budget
                }
                Kind::Stopper if now >= c.pause.0 && now < c.pause.1 => {
                    c.last_data = now;
                    continue;
                }
                Kind::Stopper => u64::MAX,
            };
            let before = c.bytes;
            let state = c.pump(&mut buf, limit, now);
            if c.kind == Kind::Slow {
                c.budget = c.budget.saturating_sub(c.bytes - before);
            }
            if let Some(how) = state.finish() {
                done.push((key, how));
            }
        }
        r.finish_all(&mut done);
        // Good viewers that went silent (edge-triggered: poll them too).
        let silent: Vec<usize> = r
            .clients
            .iter()
            .filter(|(_, c)| c.kind == Kind::Good && now - c.last_data > GOOD_SILENCE)
            .map(|(k, _)| k)
            .collect();
        for key in silent {
            let c = &mut r.clients[key];
            match c.pump(&mut buf, u64::MAX, now) {
                Pumped::Open if now - c.last_data > GOOD_SILENCE * 2 => {
                    let s = now - c.last_data;
                    r.finish(key, Finish::Failed(format!("no data for {s:?}")));
                }
                Pumped::Open => {}
                Pumped::Eof => r.finish(key, Finish::Eof),
                Pumped::Failed(e) => r.finish(key, Finish::Failed(e)),
            }
        }
        // Churn once ramped up: leave `churn` a second, join as many.
        let live = r.clients.len();
        if ramped {
            r.summary.min_live_after_ramp = r.summary.min_live_after_ramp.min(live as u64);
            churn_credit += f64::from(cfg.churn) * TICK.as_secs_f64();
            while churn_credit >= 1.0 && !r.clients.is_empty() {
                churn_credit -= 1.0;
                let keys: Vec<usize> = r.clients.iter().map(|(k, _)| k).collect();
                let key = keys[r.rng.below(keys.len())];
                r.finish(key, Finish::Leave);
                r.open(now);
            }
        } else if live >= cfg.clients {
            ramped = true;
        }
        // Top up to the target (ramp, and replacing closed stoppers).
        let per_tick_joins = (cfg.ramp_rate as usize / 10).max(1);
        for _ in 0..per_tick_joins.min(cfg.clients.saturating_sub(r.clients.len())) {
            r.open(now);
        }
        if cfg.progress_s > 0 && now >= next_progress {
            next_progress += Duration::from_secs(cfg.progress_s);
            let s = &r.summary;
            eprintln!(
                "soak_clients: {:4.0} s: {} live ({} slow, {} stoppers), {} opened, {} left, {} stoppers closed, \
                 {} unexpected closes, invalid {}/{}, good gaps {}, slow skips {}",
                (now - start).as_secs_f64(),
                r.clients.len(),
                r.count(Kind::Slow),
                r.count(Kind::Stopper),
                s.opened,
                s.left,
                s.stoppers_closed,
                s.unexpected_closes,
                s.invalid_good,
                s.invalid_other,
                s.good_gaps,
                s.slow_skips
            );
        }
    }
    r.summary.live_at_end = r.clients.len() as u64;
    if r.summary.min_live_after_ramp == u64::MAX {
        r.summary.min_live_after_ramp = 0;
        r.summary
            .problem(format!("never reached {} live viewers", cfg.clients));
    }
    let keys: Vec<usize> = r.clients.iter().map(|(k, _)| k).collect();
    for key in keys {
        r.finish(key, Finish::End);
    }
    r.summary.seconds = start.elapsed().as_secs_f64();
    Ok(r.summary)
}
