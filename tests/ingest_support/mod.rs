//! What the push-ingest refusal and abuse tests share: viewers of a pulled
//! mount that validate every byte while the other mount is attacked, raw
//! `PUT` heads with credentials, reading an answer up to the close, and a
//! config file in a temporary directory.
#![allow(dead_code)] // each test crate uses its own part of it

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use base64::Engine;
use mkvcast::segmenter::{Event, Segmenter};
use mkvcast_testkit::http::{head_end, read_response, Response};
use mkvcast_testkit::stream_check::StreamCheck;

/// The source password every test server gets.
pub const PW: &str = "PW";
/// Most a cluster may start after the previous one ended: frame durations
/// are estimated, so a little slack; a skipped cluster is ~1 s.
const MAX_GAP_NS: i64 = 200_000_000;

/// `Authorization: Basic` for `user:password`.
pub fn basic(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Authorization: Basic {token}\r\n")
}

/// A `PUT` head for `path` with the right credentials and `extra` header
/// lines (each ending in CRLF).
pub fn put_head(path: &str, extra: &str) -> String {
    format!(
        "PUT {path} HTTP/1.1\r\nHost: t\r\nUser-Agent: ingest-test\r\n{}{extra}\r\n",
        basic("source", PW)
    )
}

pub fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_nodelay(true).unwrap();
    s
}

/// Sends `request` and reads the answer until the server closes (or
/// `timeout`).
pub fn ask(port: u16, request: &[u8], timeout: Duration) -> Response {
    let mut s = connect(port);
    s.write_all(request).unwrap();
    read_response(&mut s, timeout, usize::MAX)
}

/// Asserts the answer has `status` and that the server closed the
/// connection after it.
pub fn assert_refused(r: &Response, status: u16, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.head);
    assert!(r.closed.is_some(), "{what}: connection not closed");
}

/// Reads a response head only (up to the blank line), for connections
/// that stay open after it.
pub fn read_head(s: &mut TcpStream, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    let mut data = Vec::new();
    let mut byte = [0u8; 1];
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    while head_end(&data).is_none() && Instant::now() < deadline {
        match s.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => data.push(byte[0]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&data).into_owned()
}

/// Writes `path` under a fresh temporary directory with `text`.
pub fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mkvcast-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// What one viewer saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub status: u16,
    pub bytes: u64,
    pub clusters: u64,
    /// CodecIDs of the stream header, in track order.
    pub codecs: Vec<String>,
    /// The first problem: a read error, an early close, invalid Matroska.
    pub error: Option<String>,
    /// Longest time without a byte once the body started.
    pub longest_silence: Duration,
    /// How long before the stop the last byte came.
    pub last_data_age: Duration,
}

/// Viewers reading one mount until [`finish`](Self::finish).
pub struct Viewers {
    stop: Arc<AtomicBool>,
    handles: Vec<JoinHandle<Seen>>,
}

impl Viewers {
    pub fn start(port: u16, path: &str, n: usize) -> Viewers {
        let stop = Arc::new(AtomicBool::new(false));
        let handles = (0..n)
            .map(|_| {
                let (stop, path) = (stop.clone(), path.to_string());
                thread::spawn(move || view(port, &path, &stop))
            })
            .collect();
        Viewers { stop, handles }
    }

    /// Stops the viewers and returns what each saw.
    pub fn finish(self) -> Vec<Seen> {
        self.stop.store(true, Ordering::SeqCst);
        self.handles
            .into_iter()
            .map(|h| h.join().expect("viewer thread"))
            .collect()
    }
}

/// Asserts every viewer got a 200, `codecs`, a valid continuous stream of
/// at least `min_clusters`, and was still receiving when stopped.
pub fn assert_clean(seen: &[Seen], codecs: &[&str], min_clusters: u64) {
    for (i, s) in seen.iter().enumerate() {
        assert_eq!(s.status, 200, "viewer {i}: {s:?}");
        assert_eq!(s.error, None, "viewer {i}: {s:?}");
        assert_eq!(s.codecs, codecs, "viewer {i}: {s:?}");
        assert!(s.clusters >= min_clusters, "viewer {i}: {s:?}");
        // The film is paced: a cluster a second, written as its blocks
        // come; a silence of seconds is a stalled viewer.
        assert!(
            s.longest_silence < Duration::from_millis(2500),
            "viewer {i}: {s:?}"
        );
        assert!(
            s.last_data_age < Duration::from_millis(1500),
            "viewer {i} stopped receiving: {s:?}"
        );
    }
}

/// One viewer: GET `path`, then validate every body byte until `stop`.
fn view(port: u16, path: &str, stop: &AtomicBool) -> Seen {
    let mut seen = Seen::default();
    let mut s = connect(port);
    let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\nUser-Agent: ingest-viewer\r\n\r\n");
    if let Err(e) = s.write_all(req.as_bytes()) {
        seen.error = Some(format!("send: {e}"));
        return seen;
    }
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut body = Body::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut last_data = Instant::now();
    while !stop.load(Ordering::SeqCst) && seen.error.is_none() {
        match s.read(&mut buf) {
            Ok(0) => seen.error = Some(format!("closed after {} bytes", seen.bytes)),
            Ok(n) => {
                let now = Instant::now();
                if seen.status != 0 {
                    seen.longest_silence = seen.longest_silence.max(now - last_data);
                }
                last_data = now;
                body.feed(&buf[..n], &mut seen);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => seen.error = Some(format!("read after {} bytes: {e}", seen.bytes)),
        }
    }
    seen.last_data_age = last_data.elapsed();
    seen
}

/// A viewer's response as it arrives: the head, then the body through the
/// stream checker and (until its header) a segmenter for the codecs.
struct Body {
    head: Vec<u8>,
    check: StreamCheck,
    header: Option<Segmenter>,
}

impl Body {
    fn new() -> Body {
        Body {
            head: Vec::new(),
            check: StreamCheck::new(MAX_GAP_NS, false),
            header: Some(Segmenter::new()),
        }
    }

    fn feed(&mut self, data: &[u8], seen: &mut Seen) {
        if seen.status == 0 {
            self.head.extend_from_slice(data);
            let Some(end) = head_end(&self.head) else {
                return;
            };
            let head = String::from_utf8_lossy(&self.head[..end]).into_owned();
            seen.status = head
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            if seen.status != 200 {
                seen.error = Some(format!("answered {head}"));
                return;
            }
            let rest = self.head.split_off(end + 4);
            return self.body(&rest, seen);
        }
        self.body(data, seen);
    }

    fn body(&mut self, data: &[u8], seen: &mut Seen) {
        seen.bytes += data.len() as u64;
        self.check.feed(data);
        seen.clusters = self.check.clusters;
        if let Some(e) = &self.check.error {
            seen.error = Some(format!("invalid stream after {} bytes: {e}", seen.bytes));
        }
        self.codecs(data, seen);
    }

    fn codecs(&mut self, data: &[u8], seen: &mut Seen) {
        let Some(seg) = &mut self.header else {
            return;
        };
        let mut events = Vec::new();
        let _ = seg.feed(data, &mut events);
        for ev in events {
            if let Event::Header(h) = ev {
                seen.codecs = h.tracks.iter().map(|t| t.codec_id.clone()).collect();
                self.header = None;
                return;
            }
        }
    }
}

/// An answer read off a connection that may also have been reset.
#[derive(Debug, Default)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    /// The server closed (end of stream or a reset) within the timeout.
    pub closed: bool,
}

/// Reads what the server sends until it closes or `timeout`: a reset
/// after the answer counts as closed, keeping the status read before it.
pub fn answer(s: &mut TcpStream, timeout: Duration) -> Answer {
    let deadline = Instant::now() + timeout;
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let mut a = Answer::default();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => {
                a.closed = true;
                break;
            }
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => {
                a.closed = true;
                break;
            }
        }
    }
    if let Some(end) = head_end(&data) {
        a.head = String::from_utf8_lossy(&data[..end]).into_owned();
        a.status = a
            .head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
    }
    a
}
