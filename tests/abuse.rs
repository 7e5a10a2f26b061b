//! Abuse: 20 well-behaved viewers stream for 40 s while the server is hit
//! from every side at once: ~10,000 malformed (and some odd but valid)
//! requests, 500 slowloris connections, 500 connect-and-close, 200 viewers
//! that stop reading with a tiny receive window, and 200 that reset
//! mid-stream. The viewers must get a valid, continuous stream (no byte
//! skipped, no keyframe skip); every abusive connection must get its answer
//! or be closed within its timeout; memory, file descriptors and the log
//! must stay bounded.
//!
//! Runs in about 45 s on 2 cores; thread count stays under 40.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use mkvcast_testkit::process::Mkvcast;
use mkvcast_testkit::stream_check::StreamCheck;
use mkvcast_testkit::{fixture, Rng};

const REQUEST_TIMEOUT: Duration = Duration::from_millis(3000);
const STALL_TIMEOUT: Duration = Duration::from_millis(4000);
/// How long the good viewers stream.
const GOOD_FOR: Duration = Duration::from_secs(40);
const GOOD_CLIENTS: usize = 20;
/// Malformed requests sent (valid extras come on top).
const BAD_REQUESTS: usize = 10_000;
const REQUEST_THREADS: usize = 6;
/// The request threads spread their work over this much time.
const REQUEST_SPREAD: Duration = Duration::from_secs(24);
/// Most a cluster may start after the previous one ended (or before): frame
/// durations are estimated, so a little slack; a skipped cluster is ~1 s.
const MAX_GAP_NS: i64 = 200_000_000;
/// Peak server RSS allowed. Measured (x86_64, glibc, test profile): about
/// 3.1 MiB at rest, 3.2 MiB with the 20 viewers, 4.1-4.3 MiB peak during the
/// abuse. The bound leaves room for other allocators and builds, and still
/// catches per-connection leaks (11,000+ connections here: 3 KiB each
/// would break it).
const RSS_BOUND_KIB: u64 = 32 * 1024;
/// WARN/ERROR lines allowed in the whole log (identical warnings are
/// rate-limited to 5 per 10 s; this test makes ~11,000 bad requests).
const MAX_WARN_LINES: usize = 500;

const EBML_MAGIC: [u8; 4] = [0x1A, 0x45, 0xDF, 0xA3];

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

// ---------------------------------------------------------------------------
// Responses

/// Finds the end of an HTTP response head in `data`.
fn head_end(data: &[u8]) -> Option<usize> {
    data.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

fn status_of(head: &[u8]) -> u16 {
    std::str::from_utf8(head)
        .ok()
        .and_then(|h| h.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------
// Good viewers

/// Printed with `{:?}`.
#[derive(Debug)]
#[allow(dead_code)]
struct GoodSummary {
    bytes: u64,
    clusters: u64,
    media: Duration,
    worst_gap_ms: i64,
    longest_silence: Duration,
}

/// Streams for `run_for`, validating every byte.
fn good_client(port: u16, run_for: Duration) -> Result<GoodSummary, String> {
    let mut s = TcpStream::connect_timeout(&addr(port), Duration::from_secs(5))
        .map_err(|e| format!("connect: {e}"))?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nUser-Agent: abuse-good\r\n\r\n")
        .map_err(|e| format!("send: {e}"))?;
    s.set_read_timeout(Some(Duration::from_millis(250)))
        .unwrap();
    let start = Instant::now();
    let mut last_data = start;
    let mut longest_silence = Duration::ZERO;
    let mut head = Vec::new();
    let mut in_body = false;
    let mut check = StreamCheck::new(MAX_GAP_NS, false);
    let mut bytes = 0u64;
    let mut buf = vec![0u8; 64 << 10];
    while start.elapsed() < run_for {
        match s.read(&mut buf) {
            Ok(0) => return Err(format!("server closed the stream after {bytes} bytes")),
            Ok(n) => {
                let now = Instant::now();
                longest_silence = longest_silence.max(now - last_data);
                last_data = now;
                let mut data = &buf[..n];
                if !in_body {
                    head.extend_from_slice(data);
                    let Some(end) = head_end(&head) else {
                        if head.len() > 16 << 10 {
                            return Err("no response head in 16 KiB".into());
                        }
                        continue;
                    };
                    let status = status_of(&head[..end]);
                    if status != 200 {
                        return Err(format!(
                            "status {status}: {}",
                            String::from_utf8_lossy(&head[..end])
                        ));
                    }
                    in_body = true;
                    let body = head.split_off(end);
                    bytes += body.len() as u64;
                    check.feed(&body);
                    data = &[];
                }
                bytes += data.len() as u64;
                check.feed(data);
                if let Some(e) = &check.error {
                    return Err(format!("invalid stream after {bytes} bytes: {e}"));
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(format!("read after {bytes} bytes: {e}")),
        }
    }
    longest_silence = longest_silence.max(last_data.elapsed());
    if let Some(e) = &check.error {
        return Err(format!("invalid stream: {e}"));
    }
    Ok(GoodSummary {
        bytes,
        clusters: check.clusters,
        media: check.media_span(),
        worst_gap_ms: check.worst_gap_ns / 1_000_000,
        longest_silence,
    })
}

// ---------------------------------------------------------------------------
// Malformed and odd requests

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// This status, a complete response, then the server closes.
    Status(u16),
    /// 200 and the start of a Matroska stream.
    Stream,
    /// 200, headers only, then close (HEAD).
    HeadOnly,
    /// Closed without any response (request cut short, then half-closed).
    NoResponse,
}

/// One request of the mix: what to send, what should come back, whether it
/// counts towards `BAD_REQUESTS`.
struct Case {
    kind: &'static str,
    bytes: Vec<u8>,
    expect: Expect,
    half_close: bool,
    bad: bool,
}

/// Printable characters that cannot start an HTTP method (not tchar).
const NON_TOKEN: &[u8] = b"()<>@,;:\\\"/[]?={}";

fn make_case(rng: &mut Rng, port: u16) -> Case {
    let case = |kind, bytes: Vec<u8>, expect, bad| Case {
        kind,
        bytes,
        expect,
        half_close: false,
        bad,
    };
    match rng.below(100) {
        // Random printable garbage with spaces, terminated like a request.
        0..=14 => {
            let mut b = vec![*rng.pick(NON_TOKEN)];
            for _ in 0..rng.below(300) {
                b.push(if rng.below(8) == 0 {
                    b' '
                } else {
                    0x21 + rng.below(94) as u8
                });
            }
            b.extend_from_slice(b"\r\n\r\n");
            case("garbage", b, Expect::Status(400), true)
        }
        // Binary, e.g. a stray TLS or SSH client.
        15..=27 => {
            let first: &[u8] = &[0x00, 0x01, 0x05, 0x16, 0x1b, 0x7f, 0x80, 0xfe, 0xff];
            let mut b = vec![*rng.pick(first)];
            for _ in 0..rng.below(2000) {
                b.push(rng.next() as u8);
            }
            case("binary", b, Expect::Status(400), true)
        }
        28..=30 => case(
            "tls-hello",
            b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\x00\x01\x02\x03".to_vec(),
            Expect::Status(400),
            true,
        ),
        // Methods other than GET and HEAD.
        31..=42 => {
            let m = *rng.pick(&[
                "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "BREW", "get", "Get",
                "SOURCE", "PROPFIND",
            ]);
            let b = format!("{m} / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
            case("method", b.into_bytes(), Expect::Status(400), true)
        }
        43..=44 => case(
            "connect",
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n".to_vec(),
            Expect::Status(400),
            true,
        ),
        45..=47 => case(
            "h2-preface",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
            Expect::Status(400),
            true,
        ),
        // One header line over the 8 KiB limit.
        48..=52 => {
            let mut b = b"GET / HTTP/1.1\r\nHost: t\r\nX-Long: ".to_vec();
            let len = 9_000 + rng.below(20_000);
            b.resize(b.len() + len, b'a');
            b.extend_from_slice(b"\r\n\r\n");
            case("long-header", b, Expect::Status(431), true)
        }
        // 100 KB of headers.
        53..=54 => {
            let mut b = b"GET / HTTP/1.1\r\nHost: t\r\n".to_vec();
            let mut i = 0;
            while b.len() < 100_000 {
                b.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "v".repeat(40)).as_bytes());
                i += 1;
            }
            b.extend_from_slice(b"\r\n");
            case("100k-headers", b, Expect::Status(431), true)
        }
        // A request line over the limit.
        55..=57 => {
            let b = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "p".repeat(9_000));
            case("long-uri", b.into_bytes(), Expect::Status(431), true)
        }
        // More headers than the parser takes, well under 8 KiB.
        58..=60 => {
            let mut b = b"GET / HTTP/1.1\r\n".to_vec();
            for i in 0..100 {
                b.extend_from_slice(format!("X{i}: y\r\n").as_bytes());
            }
            b.extend_from_slice(b"\r\n");
            case("many-headers", b, Expect::Status(431), true)
        }
        // The request cut short (no final CRLF), then a half-close: the
        // server sees the end of the input and just closes.
        61..=64 => {
            let b = *rng.pick(&[
                &b"GET / HTTP/1.1\r\nHost: t\r\n"[..],
                b"GET / HTTP/1.1",
                b"GET / HTTP/1.1\r\nHost: t",
                b"GET",
            ]);
            Case {
                half_close: true,
                ..case("truncated", b.to_vec(), Expect::NoResponse, true)
            }
        }
        // Line ends that are not CRLF/LF.
        65..=66 => case(
            "bare-cr",
            b"GET / HTTP/1.1\rHost: t\r\r".to_vec(),
            Expect::Status(400),
            true,
        ),
        // HTTP/0.9: no version.
        67..=72 => case("http0.9", b"GET /\r\n".to_vec(), Expect::Status(400), true),
        73..=74 => case(
            "bad-version",
            b"GET / HTTP/9.9\r\nHost: t\r\n\r\n".to_vec(),
            Expect::Status(400),
            true,
        ),
        75..=76 => case(
            "header-no-colon",
            b"GET / HTTP/1.1\r\nHost t\r\n\r\n".to_vec(),
            Expect::Status(400),
            true,
        ),
        77..=78 => case(
            "nul-in-header",
            b"GET / HTTP/1.1\r\nHost: t\r\nX-Nul: a\x00b\r\n\r\n".to_vec(),
            Expect::Status(400),
            true,
        ),
        79..=80 => case(
            "space-in-header-name",
            b"GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n".to_vec(),
            Expect::Status(400),
            true,
        ),
        81..=82 => case(
            "space-in-uri",
            b"GET /a b c HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
            Expect::Status(400),
            true,
        ),
        // Invalid percent-encoding: mkvcast serves every GET path.
        83..=87 => case(
            "bad-percent",
            b"GET /%zz HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
            Expect::Stream,
            true,
        ),
        // Valid: absolute-form target.
        88..=91 => {
            let b = format!(
                "GET http://127.0.0.1:{port}/live.webm?x=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
            );
            case("absolute-form", b.into_bytes(), Expect::Stream, false)
        }
        // Valid: a second request pipelined behind the first.
        92..=95 => case(
            "pipelined",
            b"GET / HTTP/1.1\r\nHost: t\r\n\r\nGET /again HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
            Expect::Stream,
            false,
        ),
        // Valid: bare LF line ends (RFC 9112 lets servers accept them).
        96..=97 => case(
            "lf-only",
            b"GET / HTTP/1.1\nHost: t\n\n".to_vec(),
            Expect::Stream,
            false,
        ),
        _ => case(
            "head",
            b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
            Expect::HeadOnly,
            false,
        ),
    }
}

/// Sends one case on a fresh connection and checks the answer.
fn probe(port: u16, case: &Case) -> Result<(), String> {
    let mut s = TcpStream::connect_timeout(&addr(port), Duration::from_secs(5))
        .map_err(|e| format!("connect: {e}"))?;
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // The server may answer (and stop reading) before a long request is
    // all sent; the answer is what counts.
    let write_err = s.write_all(&case.bytes).err();
    if case.half_close {
        let _ = s.shutdown(Shutdown::Write);
    }
    let deadline = Instant::now() + REQUEST_TIMEOUT + Duration::from_secs(2);
    let mut data = Vec::new();
    let mut buf = [0u8; 16 << 10];
    let mut closed = false;
    let mut reset = None;
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => {
                data.extend_from_slice(&buf[..n]);
                if case.expect == Expect::Stream {
                    if let Some(end) = head_end(&data) {
                        if data.len() >= end + 4 {
                            break;
                        }
                    }
                }
                if data.len() > 1 << 20 {
                    break;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => {
                closed = true;
                reset = Some(e);
                break;
            }
        }
    }
    let head_len = head_end(&data);
    let status = head_len.map_or(0, |e| status_of(&data[..e]));
    let what = || {
        format!(
            "{}: status {status}, {} bytes back, closed {closed}, reset {reset:?}, write error {write_err:?}: {:?}",
            case.kind,
            data.len(),
            String::from_utf8_lossy(&data[..data.len().min(200)])
        )
    };
    match case.expect {
        Expect::Status(code) => {
            let complete = head_len.is_some_and(|e| {
                let len: Option<usize> = std::str::from_utf8(&data[..e]).ok().and_then(|h| {
                    h.lines().find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                });
                len.is_some_and(|l| data.len() == e + l)
            });
            if status != code || !complete || !closed {
                return Err(format!(
                    "expected {code}, a complete response and a close; {}",
                    what()
                ));
            }
        }
        Expect::Stream => {
            let ok = status == 200
                && head_len.is_some_and(|e| data.get(e..e + 4) == Some(&EBML_MAGIC[..]))
                && std::str::from_utf8(&data[..head_len.unwrap_or(0)])
                    .is_ok_and(|h| h.contains("Content-Type: video/webm"));
            if !ok {
                return Err(format!("expected a 200 stream; {}", what()));
            }
        }
        Expect::HeadOnly => {
            if status != 200 || head_len != Some(data.len()) || !closed {
                return Err(format!("expected 200 head only, then close; {}", what()));
            }
        }
        Expect::NoResponse => {
            if !data.is_empty() || !closed {
                return Err(format!("expected a close without response; {}", what()));
            }
        }
    }
    Ok(())
}

#[derive(Debug, Default)]
struct RequestStats {
    bad: usize,
    valid: usize,
    by_kind: HashMap<&'static str, usize>,
    slowest: Duration,
}

/// Sends this thread's share of requests, paced over `REQUEST_SPREAD`.
fn request_flood(port: u16, seed: u64, bad_quota: usize) -> Result<RequestStats, String> {
    let mut rng = Rng(seed);
    let mut stats = RequestStats::default();
    let start = Instant::now();
    let mut errors = Vec::new();
    while stats.bad < bad_quota {
        // Pace: the i-th bad request not before i/quota of the spread.
        let due = REQUEST_SPREAD.mul_f64(stats.bad as f64 / bad_quota as f64);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            thread::sleep(wait);
        }
        let case = make_case(&mut rng, port);
        let t = Instant::now();
        if let Err(e) = probe(port, &case) {
            errors.push(e);
            if errors.len() >= 5 {
                break;
            }
        }
        stats.slowest = stats.slowest.max(t.elapsed());
        *stats.by_kind.entry(case.kind).or_default() += 1;
        if case.bad {
            stats.bad += 1;
        } else {
            stats.valid += 1;
        }
    }
    if !errors.is_empty() {
        return Err(format!(
            "{} wrong answers (after {} requests), first ones:\n  {}",
            errors.len(),
            stats.bad + stats.valid,
            errors.join("\n  ")
        ));
    }
    Ok(stats)
}

// ---------------------------------------------------------------------------
// Slowloris

/// Printed with `{:?}`.
#[derive(Debug)]
#[allow(dead_code)]
struct SlowStats {
    conns: usize,
    /// Connect to close, shortest and longest.
    min_life: Duration,
    max_life: Duration,
    answered: usize,
}

/// Opens `waves` × `per_wave` connections, `gap` apart, each sending one
/// more header byte every second; measures when the server closes them.
fn slowloris(port: u16, waves: usize, per_wave: usize, gap: Duration) -> Result<SlowStats, String> {
    use mio::net::TcpStream as MioStream;
    use mio::{Events, Interest, Poll, Token};

    struct Slow {
        stream: MioStream,
        opened: Instant,
        sent_prefix: bool,
        next_byte: Instant,
        closed: Option<Instant>,
        answered: bool,
    }

    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    let mut events = Events::with_capacity(1024);
    let mut conns: Vec<Slow> = Vec::new();
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    let total = waves * per_wave;
    let limit = REQUEST_TIMEOUT + Duration::from_secs(1);
    loop {
        let now = Instant::now();
        // Open the next wave when it is due.
        let due_waves = ((now - start).as_secs_f64() / gap.as_secs_f64()) as usize + 1;
        while conns.len() < total && conns.len() / per_wave < due_waves {
            let mut stream =
                MioStream::connect(addr(port)).map_err(|e| format!("slowloris connect: {e}"))?;
            let token = Token(conns.len());
            poll.registry()
                .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                .map_err(|e| e.to_string())?;
            conns.push(Slow {
                stream,
                opened: Instant::now(),
                sent_prefix: false,
                next_byte: Instant::now() + Duration::from_secs(1),
                closed: None,
                answered: false,
            });
        }
        let open = conns.iter().filter(|c| c.closed.is_none()).count();
        if conns.len() == total && open == 0 {
            break;
        }
        if conns
            .iter()
            .any(|c| c.closed.is_none() && now - c.opened > limit + Duration::from_secs(3))
        {
            break; // Give up on the stragglers; reported below.
        }
        poll.poll(&mut events, Some(Duration::from_millis(20)))
            .map_err(|e| e.to_string())?;
        for ev in events.iter() {
            let c = &mut conns[ev.token().0];
            if c.closed.is_some() {
                continue;
            }
            if ev.is_writable() && !c.sent_prefix {
                if c.stream.peer_addr().is_err() {
                    continue; // Not connected yet.
                }
                match c.stream.write(b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ") {
                    Ok(_) => c.sent_prefix = true,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => c.closed = Some(Instant::now()),
                }
            }
            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                loop {
                    match c.stream.read(&mut buf) {
                        Ok(0) => {
                            c.closed = Some(Instant::now());
                            break;
                        }
                        Ok(_) => c.answered = true,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == ErrorKind::NotConnected => break,
                        Err(_) => {
                            c.closed = Some(Instant::now());
                            break;
                        }
                    }
                }
            }
        }
        // One more byte a second, to every connection still open.
        let now = Instant::now();
        for c in conns.iter_mut() {
            if c.closed.is_none() && c.sent_prefix && now >= c.next_byte {
                c.next_byte += Duration::from_secs(1);
                match c.stream.write(b"a") {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => c.closed = Some(now),
                }
            }
        }
    }
    let lives: Vec<Duration> = conns
        .iter()
        .filter_map(|c| c.closed.map(|t| t - c.opened))
        .collect();
    let never_connected = conns.iter().filter(|c| !c.sent_prefix).count();
    let still_open = conns.iter().filter(|c| c.closed.is_none()).count();
    let stats = SlowStats {
        conns: conns.len(),
        min_life: lives.iter().copied().min().unwrap_or_default(),
        max_life: lives.iter().copied().max().unwrap_or_default(),
        answered: conns.iter().filter(|c| c.answered).count(),
    };
    if still_open > 0 || never_connected > 0 || stats.max_life > limit {
        return Err(format!(
            "slowloris: {still_open} of {total} still open after {:?}, {never_connected} never connected, {stats:?}",
            limit + Duration::from_secs(3)
        ));
    }
    if stats.min_life < REQUEST_TIMEOUT - Duration::from_millis(100) {
        return Err(format!(
            "slowloris: closed before the request timeout: {stats:?}"
        ));
    }
    Ok(stats)
}

// ---------------------------------------------------------------------------
// Viewers that stop reading

#[derive(Debug)]
struct StalledStats {
    conns: usize,
    /// Client ports, to find each one's disconnect line in the log.
    ports: Vec<u16>,
    drained_bytes: u64,
}

/// Opens `n` viewers with a 4 KiB receive buffer that read the response
/// head and then nothing; after the stall timeout (and slack) checks that
/// the server has closed every one (reading what is left shows EOF).
fn stalled_readers(
    port: u16,
    n: usize,
    per_wave: usize,
    gap: Duration,
) -> Result<StalledStats, String> {
    let mut conns = Vec::new();
    let mut last_opened = Instant::now();
    for i in 0..n {
        if i > 0 && i % per_wave == 0 {
            thread::sleep(gap);
        }
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .map_err(|e| e.to_string())?;
        sock.set_recv_buffer_size(4096).map_err(|e| e.to_string())?;
        sock.connect_timeout(&addr(port).into(), Duration::from_secs(5))
            .map_err(|e| format!("stalled connect: {e}"))?;
        let mut s: TcpStream = sock.into();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nUser-Agent: abuse-stalled\r\n\r\n")
            .map_err(|e| format!("stalled send: {e}"))?;
        let mut head = Vec::new();
        let mut b = [0u8; 512];
        while head_end(&head).is_none() {
            match s.read(&mut b) {
                Ok(0) | Err(_) => return Err(format!("stalled reader {i}: no response head")),
                Ok(k) => head.extend_from_slice(&b[..k]),
            }
        }
        let end = head_end(&head).unwrap_or(head.len());
        let status = status_of(&head[..end]);
        if status != 200 {
            return Err(format!("stalled reader {i}: status {status}"));
        }
        last_opened = Instant::now();
        conns.push(s);
    }
    // Now they should all be closed by the server (after the stall timeout;
    // the orphaned socket still delivers what was in flight, then EOF).
    let check_at = last_opened + STALL_TIMEOUT + Duration::from_secs(3);
    if let Some(wait) = check_at.checked_duration_since(Instant::now()) {
        thread::sleep(wait);
    }
    let ports = conns
        .iter()
        .map(|s| s.local_addr().unwrap().port())
        .collect();
    let mut done = vec![false; conns.len()];
    let mut drained = 0u64;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = vec![0u8; 64 << 10];
    for s in &conns {
        s.set_nonblocking(true).unwrap();
    }
    while done.iter().any(|d| !d) && Instant::now() < deadline {
        for (s, d) in conns.iter_mut().zip(done.iter_mut()) {
            while !*d {
                match s.read(&mut buf) {
                    Ok(0) => *d = true,
                    Ok(k) => drained += k as u64,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => *d = true,
                }
            }
        }
        thread::sleep(Duration::from_millis(10));
    }
    let open = done.iter().filter(|d| !**d).count();
    if open > 0 {
        return Err(format!(
            "{open} of {n} stalled readers still open {:?} after they stalled (stall timeout {STALL_TIMEOUT:?})",
            STALL_TIMEOUT + Duration::from_secs(8)
        ));
    }
    Ok(StalledStats {
        conns: conns.len(),
        ports,
        drained_bytes: drained,
    })
}

// ---------------------------------------------------------------------------
// Viewers that reset mid-stream, and connect-and-close

fn resetters(port: u16, n: usize, every: Duration, seed: u64) -> Result<usize, String> {
    let mut rng = Rng(seed);
    let mut done = 0;
    for i in 0..n {
        thread::sleep(every);
        let mut s = TcpStream::connect_timeout(&addr(port), Duration::from_secs(5))
            .map_err(|e| format!("resetter connect: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nUser-Agent: abuse-reset\r\n\r\n")
            .map_err(|e| format!("resetter send: {e}"))?;
        // Within the burst a joiner gets at once (>= 1 s of media).
        let want = 1_000 + rng.below(120_000);
        let mut got = Vec::new();
        let mut buf = [0u8; 16 << 10];
        while got.len() < want {
            match s.read(&mut buf) {
                Ok(0) => return Err(format!("resetter {i}: closed after {} bytes", got.len())),
                Ok(k) => got.extend_from_slice(&buf[..k]),
                Err(e) => return Err(format!("resetter {i}: {e} after {} bytes", got.len())),
            }
        }
        let end = head_end(&got).ok_or(format!("resetter {i}: no head"))?;
        if status_of(&got[..end]) != 200 || got.get(end..end + 4) != Some(&EBML_MAGIC[..]) {
            return Err(format!("resetter {i}: not a 200 stream"));
        }
        // Close with RST, whatever is still in flight.
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .map_err(|e| e.to_string())?;
        drop(s);
        done += 1;
    }
    Ok(done)
}

fn connect_and_close(port: u16, n: usize, every: Duration) -> Result<usize, String> {
    for i in 0..n {
        thread::sleep(every);
        let s = TcpStream::connect_timeout(&addr(port), Duration::from_secs(5))
            .map_err(|e| format!("connect-and-close {i}: {e}"))?;
        if i % 2 == 1 {
            // Half of them with a reset instead of a FIN.
            let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
        }
        drop(s);
    }
    Ok(n)
}

// ---------------------------------------------------------------------------
// Log

/// Lines at WARN or ERROR level (`TIMESTAMP LEVEL message`).
fn warn_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| matches!(l.split_whitespace().nth(1), Some("WARN" | "ERROR")))
        .collect()
}

/// From "client N 127.0.0.1:PORT disconnected: REASON; sent B bytes in S s":
/// client port → every (reason, seconds connected) logged for it (ports
/// are reused by later connections).
fn disconnects(log: &str) -> HashMap<u16, Vec<(String, f64)>> {
    let mut out: HashMap<u16, Vec<(String, f64)>> = HashMap::new();
    for line in log.lines() {
        let Some((before, after)) = line.split_once(" disconnected: ") else {
            continue;
        };
        let Some(port) = before
            .rsplit_once("127.0.0.1:")
            .and_then(|(_, p)| p.trim().parse::<u16>().ok())
        else {
            continue;
        };
        let reason = after.split(';').next().unwrap_or("").to_string();
        let secs = after
            .rsplit_once(" in ")
            .and_then(|(_, s)| s.trim_end_matches(" s").trim().parse::<f64>().ok())
            .unwrap_or(f64::NAN);
        out.entry(port).or_default().push((reason, secs));
    }
    out
}

// ---------------------------------------------------------------------------

#[test]
fn abuse_does_not_disturb_good_viewers() {
    let file = fixture("bench_1mbit.webm").to_string_lossy().into_owned();
    let mut srv = Mkvcast::start(&[
        &file,
        "--loop",
        "--max-clients",
        "1000",
        "--request-timeout-ms",
        &REQUEST_TIMEOUT.as_millis().to_string(),
        "--stall-timeout-ms",
        &STALL_TIMEOUT.as_millis().to_string(),
        "--client-queue-ms",
        "3000",
    ]);
    let port = srv.port;
    assert!(
        srv.wait_log("stream header ready", Duration::from_secs(10)),
        "{}",
        srv.log()
    );
    let rss_start = srv.rss_kib();
    let t0 = Instant::now();

    let good: Vec<_> = (0..GOOD_CLIENTS)
        .map(|_| thread::spawn(move || good_client(port, GOOD_FOR)))
        .collect();
    thread::sleep(Duration::from_millis(1500));
    let fd_base = srv.fd_count();
    let rss_base = srv.rss_kib();

    // The abuse, all at once.
    let flood: Vec<_> = (0..REQUEST_THREADS)
        .map(|i| {
            let quota =
                BAD_REQUESTS / REQUEST_THREADS + usize::from(i < BAD_REQUESTS % REQUEST_THREADS);
            thread::spawn(move || {
                request_flood(port, 0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1), quota)
            })
        })
        .collect();
    let slow = thread::spawn(move || slowloris(port, 5, 100, Duration::from_secs(5)));
    let stalled = thread::spawn(move || stalled_readers(port, 200, 50, Duration::from_secs(3)));
    let resets = thread::spawn(move || resetters(port, 200, Duration::from_millis(100), 7));
    let churn = thread::spawn(move || connect_and_close(port, 500, Duration::from_millis(40)));

    // Watch the server while it lasts.
    let mut rss_max = rss_base;
    let mut fd_max = fd_base;
    let all_done =
        |f: &[thread::JoinHandle<Result<RequestStats, String>>]| f.iter().all(|h| h.is_finished());
    while !(all_done(&flood)
        && slow.is_finished()
        && stalled.is_finished()
        && resets.is_finished()
        && churn.is_finished())
    {
        assert!(
            srv.child.try_wait().unwrap().is_none(),
            "mkvcast exited under abuse:\n{}",
            tail(&srv.log(), 40)
        );
        rss_max = rss_max.max(srv.rss_kib());
        fd_max = fd_max.max(srv.fd_count());
        assert!(t0.elapsed() < Duration::from_secs(80), "abuse threads hang");
        thread::sleep(Duration::from_millis(200));
    }
    let abuse_took = t0.elapsed();

    let mut failures = Vec::new();
    let mut totals = RequestStats::default();
    for h in flood {
        match h.join().unwrap() {
            Ok(s) => {
                totals.bad += s.bad;
                totals.valid += s.valid;
                totals.slowest = totals.slowest.max(s.slowest);
                for (k, v) in s.by_kind {
                    *totals.by_kind.entry(k).or_default() += v;
                }
            }
            Err(e) => failures.push(e),
        }
    }
    let slow = slow.join().unwrap();
    let stalled = stalled.join().unwrap();
    let resets = resets.join().unwrap();
    let churn = churn.join().unwrap();

    // Every abusive connection is gone: the fd count returns to what the 20
    // good viewers need (closing connections linger up to 2 s for a FIN).
    let slack = 4;
    let settle_start = Instant::now();
    let fd_deadline = settle_start + Duration::from_secs(6);
    let mut fd_after = srv.fd_count();
    while fd_after > fd_base + slack && Instant::now() < fd_deadline {
        thread::sleep(Duration::from_millis(100));
        fd_after = srv.fd_count();
    }
    let fd_settled_after = settle_start.elapsed();

    let good: Vec<_> = good.into_iter().map(|h| h.join().unwrap()).collect();
    rss_max = rss_max.max(srv.rss_kib());
    let log = srv.log();

    eprintln!(
        "abuse: {} bad + {} valid requests ({:?}), slowest answer {:?}",
        totals.bad, totals.valid, totals.by_kind, totals.slowest
    );
    eprintln!("abuse: slowloris {slow:?}");
    eprintln!(
        "abuse: stalled {:?}",
        stalled
            .as_ref()
            .map(|s| (s.conns, s.drained_bytes))
            .map_err(|e| e.as_str())
    );
    eprintln!("abuse: resetters {resets:?}, connect-and-close {churn:?}");
    eprintln!(
        "abuse: RSS start {rss_start} KiB, with viewers {rss_base} KiB, max {rss_max} KiB (bound {RSS_BOUND_KIB}); \
         fds base {fd_base}, max {fd_max}, after {fd_after}; abuse took {abuse_took:?}, fds back to base {fd_settled_after:?} later"
    );
    for (i, g) in good.iter().enumerate() {
        match g {
            Ok(s) => eprintln!("abuse: good viewer {i}: {s:?}"),
            Err(e) => failures.push(format!("good viewer {i}: {e}")),
        }
    }
    for g in good.iter().flatten() {
        if g.clusters < 30 || g.media < GOOD_FOR - Duration::from_secs(8) {
            failures.push(format!("a good viewer got too little: {g:?}"));
        }
        if g.longest_silence > Duration::from_secs(4) {
            failures.push(format!("a good viewer waited for data: {g:?}"));
        }
    }
    if totals.bad < BAD_REQUESTS {
        failures.push(format!("only {} bad requests made", totals.bad));
    }
    for r in [
        slow.as_ref().err(),
        resets.as_ref().err(),
        churn.as_ref().err(),
    ]
    .into_iter()
    .flatten()
    {
        failures.push(r.clone());
    }
    match &stalled {
        Err(e) => failures.push(e.clone()),
        Ok(st) => {
            // The server's own account: each was closed as stalled, within
            // the stall timeout (plus a tick and scheduling slack) of its
            // connection; data stops at once since the window is tiny.
            let seen = disconnects(&log);
            let limit = (STALL_TIMEOUT + Duration::from_secs(3)).as_secs_f64();
            let mut worst = 0f64;
            for p in &st.ports {
                let stalled = seen.get(p).and_then(|v| {
                    v.iter()
                        .filter(|(reason, _)| reason.starts_with("stalled"))
                        .map(|(_, secs)| *secs)
                        .reduce(f64::max)
                });
                match stalled {
                    Some(secs) if secs <= limit => worst = worst.max(secs),
                    _ => {
                        failures.push(format!(
                            "stalled reader on port {p}: server says {:?} (want stalled within {limit} s)",
                            seen.get(p)
                        ));
                        break;
                    }
                }
            }
            // And nobody else was taken for stalled.
            let all_stalled = seen
                .values()
                .flatten()
                .filter(|(reason, _)| reason.starts_with("stalled"))
                .count();
            if all_stalled != st.conns {
                failures.push(format!(
                    "{all_stalled} viewers closed as stalled, {} stalled readers",
                    st.conns
                ));
            }
            eprintln!("abuse: stalled readers closed by the server after at most {worst:.1} s");
        }
    }
    if fd_after > fd_base + slack {
        failures.push(format!(
            "fd count {fd_after} did not return to {fd_base} + {slack} within 6 s of the abuse ending"
        ));
    }
    if rss_max > RSS_BOUND_KIB {
        failures.push(format!("RSS reached {rss_max} KiB (bound {RSS_BOUND_KIB})"));
    }
    if log.contains("panicked") {
        failures.push("a panic in the log".into());
    }
    let warns = warn_lines(&log);
    eprintln!(
        "abuse: {} WARN/ERROR lines in {} log lines",
        warns.len(),
        log.lines().count()
    );
    for w in warns.iter().take(20) {
        eprintln!("abuse:   {w}");
    }
    if warns.len() >= MAX_WARN_LINES {
        failures.push(format!(
            "{} WARN/ERROR lines (max {MAX_WARN_LINES}); first:\n{}",
            warns.len(),
            warns[..20].join("\n")
        ));
    }
    assert!(
        srv.child.try_wait().unwrap().is_none(),
        "mkvcast exited:\n{}",
        tail(&log, 40)
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}\n--- log tail:\n{}",
        failures.len(),
        failures.join("\n"),
        tail(&log, 30)
    );
}

fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
