//! The server in process: a `Server` on port 0 fed stream events directly,
//! with no binary, no input thread and no pacing, so each rule of the loop
//! can be checked in milliseconds and exactly.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mio::Waker;

use super::{bind, poll_and_waker, Config, Listeners, MountOptions, Server, Shutdown, StreamInput};
use crate::error::Error;
use crate::input::{InputError, InputEvent, InputFailure, InputStats};
use crate::matroska::cluster::LiveCluster;
use crate::matroska::header::StreamHeader;
use crate::segmenter::{segment_all, Event, LiveBlock};
use crate::test_fixtures::fixture;
use crate::time::Ticks;

/// A running in-process server and the sending end of its input.
struct Harness {
    addr: SocketAddr,
    events: Sender<InputEvent>,
    waker: Arc<Waker>,
    shutdown: Shutdown,
    thread: Option<JoinHandle<Result<(), Error>>>,
}

impl Harness {
    fn start(config: Config) -> Harness {
        let (poll, waker) = poll_and_waker().unwrap();
        let stream = bind(&["127.0.0.1:0".parse().unwrap()]).unwrap();
        let (tx, rx) = mpsc::channel();
        let input = StreamInput {
            events: rx,
            name: "test input".into(),
            stats: Arc::new(InputStats::default()),
        };
        let listeners = Listeners {
            stream,
            admin: None,
        };
        let server = Server::new(poll, waker.clone(), listeners, input, config).unwrap();
        let addr = server.local_addr().unwrap();
        let shutdown = Shutdown::new(waker.clone());
        let handle = shutdown.clone();
        let thread = Some(thread::spawn(move || server.run(handle)));
        Harness {
            addr,
            events: tx,
            waker,
            shutdown,
            thread,
        }
    }

    fn send(&self, ev: InputEvent) {
        self.events.send(ev).unwrap();
        self.waker.wake().unwrap();
    }

    fn header(&self, h: &Arc<StreamHeader>) {
        self.send(InputEvent::Header(h.clone()));
    }

    /// A whole cluster at once, as with `MKVCAST_HOLD_CLUSTERS=1`.
    fn cluster(&self, c: &LiveCluster) {
        self.send(InputEvent::ClusterStart {
            timestamp: c.timestamp,
            start: c.start,
        });
        self.send(InputEvent::ClusterEnd(c.clone()));
    }

    /// Connects and sends a request; the reply is read with [`read_all`].
    fn request(&self, method: &str, path: &str) -> TcpStream {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "{method} {path} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        s
    }

    /// Waits for `run` to return.
    fn join(&mut self) -> Result<(), Error> {
        self.thread.take().unwrap().join().unwrap()
    }
}

/// Reads until the server closes; panics after the read timeout.
fn read_all(mut s: TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .expect("server closes the connection");
    out
}

/// Splits a response into its head and body.
fn split(resp: &[u8]) -> (String, Vec<u8>) {
    let at = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    (
        String::from_utf8_lossy(&resp[..at]).into_owned(),
        resp[at + 4..].to_vec(),
    )
}

fn expected(h: &StreamHeader, clusters: &[LiveCluster]) -> Vec<u8> {
    let mut out = h.bytes.to_vec();
    for c in clusters {
        out.extend_from_slice(&c.bytes);
    }
    out
}

/// Gives the loop time to route a request just sent (a viewer counts from
/// then on); loopback and an idle loop need far less than this.
fn settle() {
    thread::sleep(Duration::from_millis(100));
}

#[test]
fn viewer_before_the_header_gets_every_cluster_then_the_close() {
    let (h, clusters) = fixture("vp8_vorbis.webm");
    let mut srv = Harness::start(Config::default());
    let viewer = srv.request("GET", "/live");
    settle();
    // Less media than --client-queue-ms: input arriving faster than real
    // time still trips the slow-viewer rule (the latency issue fixes it).
    let clusters = &clusters[..5];
    srv.header(&h);
    for c in clusters {
        srv.cluster(c);
    }
    srv.send(InputEvent::End(Ok(())));
    let resp = read_all(viewer);
    let (head, body) = split(&resp);
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("Content-Type: video/webm"), "{head}");
    assert_eq!(
        body,
        expected(&h, clusters),
        "header and every cluster, in order"
    );
    assert!(srv.join().is_ok());
}

#[test]
fn late_joiner_starts_at_a_keyframe_cluster_of_the_ring() {
    let (h, clusters) = fixture("long_gop.webm");
    let mut srv = Harness::start(Config {
        mount: MountOptions {
            buffer_ms: 1000,
            ..MountOptions::default()
        },
        ..Config::default()
    });
    srv.header(&h);
    for c in &clusters[..8] {
        srv.cluster(c);
    }
    settle();
    let viewer = srv.request("GET", "/");
    settle();
    srv.send(InputEvent::End(Ok(())));
    let resp = read_all(viewer);
    let (_, body) = split(&resp);
    let rest = body
        .strip_prefix(&h.bytes[..])
        .expect("stream header first");
    // The ring reaches back to the newest keyframe cluster before the
    // buffer time, and holds everything after it.
    let newest_key = clusters[..8].iter().rposition(|c| c.keyframe).unwrap();
    let first = clusters[..8]
        .iter()
        .position(|c| rest.starts_with(&c.bytes))
        .expect("starts with a published cluster");
    assert!(clusters[first].keyframe, "burst starts on a keyframe");
    assert!(first <= newest_key);
    assert_eq!(rest, &expected(&h, &clusters[first..8])[h.bytes.len()..]);
    assert!(srv.join().is_ok());
}

#[test]
fn viewers_beyond_max_clients_get_503_with_retry_after() {
    let (h, clusters) = fixture("vp8_vorbis.webm");
    let mut srv = Harness::start(Config {
        mount: MountOptions {
            max_clients: 1,
            ..MountOptions::default()
        },
        ..Config::default()
    });
    srv.header(&h);
    srv.cluster(&clusters[0]);
    let first = srv.request("GET", "/");
    settle();
    let refused = read_all(srv.request("GET", "/"));
    let (head, _) = split(&refused);
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    assert!(head.contains("Retry-After:"), "{head}");
    // HEAD takes no viewer slot.
    let head_only = read_all(srv.request("HEAD", "/"));
    let (head, body) = split(&head_only);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body.is_empty());
    srv.send(InputEvent::End(Ok(())));
    let (_, body) = split(&read_all(first));
    assert_eq!(body, expected(&h, &clusters[..1]));
    assert!(srv.join().is_ok());
}

#[test]
fn shutdown_handle_drains_viewers_and_returns() {
    let (h, clusters) = fixture("vp8_vorbis.webm");
    let mut srv = Harness::start(Config {
        drain_timeout: Duration::from_secs(2),
        ..Config::default()
    });
    srv.header(&h);
    srv.cluster(&clusters[0]);
    let viewer = srv.request("GET", "/");
    settle();
    let asked = Instant::now();
    assert!(!srv.shutdown.trigger().unwrap(), "first request");
    let (_, body) = split(&read_all(viewer));
    assert_eq!(
        body,
        expected(&h, &clusters[..1]),
        "queued data is delivered"
    );
    assert!(srv.join().is_ok());
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "no wait for the drain timeout"
    );
    assert!(srv.shutdown.trigger().unwrap(), "a second request says so");
    // New connections are refused once the listener is gone.
    assert!(TcpStream::connect(srv.addr).is_err());
}

#[test]
fn input_failing_before_any_header_is_the_exit_reason() {
    let mut srv = Harness::start(Config::default());
    let viewer = srv.request("GET", "/");
    settle();
    srv.send(InputEvent::End(Err(InputFailure {
        input: "x.webm".into(),
        error: Arc::new(InputError::NoStream(
            "holds no playable Matroska/WebM stream".into(),
        )),
    })));
    assert!(read_all(viewer).is_empty(), "a waiting viewer is closed");
    match srv.join() {
        Err(Error::Input(e)) => assert_eq!(
            e.to_string(),
            "input x.webm: holds no playable Matroska/WebM stream"
        ),
        other => panic!("expected the input error, got {other:?}"),
    }
}

#[test]
fn restart_resumes_viewers_at_the_next_keyframe_cluster() {
    let (h, clusters) = fixture("long_gop.webm");
    let mut srv = Harness::start(Config::default());
    srv.header(&h);
    srv.cluster(&clusters[0]);
    let viewer = srv.request("GET", "/");
    settle();
    srv.send(InputEvent::Restart);
    let next_key = 1 + clusters[1..].iter().position(|c| c.keyframe).unwrap();
    assert!(
        next_key > 1,
        "the fixture has clusters that are not keyframes"
    );
    for c in &clusters[1..=next_key] {
        srv.cluster(c);
    }
    srv.send(InputEvent::End(Ok(())));
    let (_, body) = split(&read_all(viewer));
    let mut want = expected(&h, &clusters[..1]);
    want.extend_from_slice(&clusters[next_key].bytes);
    assert_eq!(
        body, want,
        "clusters between the restart and a keyframe are skipped"
    );
    assert!(srv.join().is_ok());
}

#[test]
fn a_header_with_other_tracks_ends_current_viewers() {
    let (h1, c1) = fixture("vp8_vorbis.webm");
    let (h2, c2) = fixture("opus_only.webm");
    let mut srv = Harness::start(Config::default());
    srv.header(&h1);
    srv.cluster(&c1[0]);
    let old = srv.request("GET", "/");
    settle();
    srv.header(&h2);
    srv.cluster(&c2[0]);
    let (_, body) = split(&read_all(old));
    assert_eq!(body, expected(&h1, &c1[..1]), "the old stream only");
    let new = srv.request("GET", "/");
    settle();
    srv.send(InputEvent::End(Ok(())));
    let (head, body) = split(&read_all(new));
    assert!(head.contains("Content-Type: audio/webm"), "{head}");
    assert_eq!(body, expected(&h2, &c2[..1]));
    assert!(srv.join().is_ok());
}

#[test]
fn malformed_requests_get_400_and_favicon_404() {
    let (h, clusters) = fixture("vp8_vorbis.webm");
    let mut srv = Harness::start(Config::default());
    srv.header(&h);
    srv.cluster(&clusters[0]);
    let (head, _) = split(&read_all(srv.request("POST", "/")));
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    let mut garbage = TcpStream::connect(srv.addr).unwrap();
    garbage.write_all(b"\x00\x01\x02 nonsense\r\n\r\n").unwrap();
    let (head, _) = split(&read_all(garbage));
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    // A 404 keeps the connection for the next request (pipelined here),
    // until one asks to close.
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(
        b"GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\nGET /a/manifest.mpd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let all = String::from_utf8_lossy(&read_all(s)).into_owned();
    assert_eq!(
        all.matches("HTTP/1.1 404 Not Found\r\n").count(),
        2,
        "{all}"
    );
    assert!(
        all.contains("Connection: keep-alive\r\n") && all.ends_with("404 Not Found\n"),
        "{all}"
    );
    srv.send(InputEvent::End(Ok(())));
    assert!(srv.join().is_ok());
}

mod keepalive;
mod live;
