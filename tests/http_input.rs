//! Pulled `http://` inputs against a scripted upstream on loopback (a
//! std listener on its own thread, bounded in connections and time): a
//! chunked body streams through, redirects are followed up to 5 and only
//! to `http://`, a stalled upstream is dropped and reconnected.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::demux;
use mkvcast::segmenter::{segment_all, Event};
use mkvcast_testkit::fixture;
use mkvcast_testkit::http::{get, head_end, Response};
use mkvcast_testkit::process::Mkvcast;
use mkvcast_testkit::stream_check::StreamCheck;

/// How the scripted upstream answers one request.
#[derive(Clone)]
enum Reply {
    /// A redirect status and its Location.
    Redirect(u16, String),
    /// A bare status without a body.
    Status(u16),
    /// 200 with these bytes, chunked, once the test says go.
    Chunked(Vec<u8>),
    /// 200 with Content-Length, once the test says go.
    Plain(Vec<u8>),
    /// 200, these bytes chunked, then nothing (the connection held open)
    /// until the test says go.
    Stall(Vec<u8>),
}

/// The scripted upstream: answers up to `conns` connections within a
/// minute, by path, and records each request head.
struct Upstream {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
    go: Sender<()>,
}

impl Upstream {
    fn start(conns: usize, route: impl Fn(&str, u16) -> Reply + Send + 'static) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (go, go_rx) = mpsc::channel();
        let seen = requests.clone();
        thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            for _ in 0..conns {
                let Some(mut s) = accept_until(&listener, deadline) else {
                    return;
                };
                let Some(head) = read_head(&mut s) else {
                    continue;
                };
                let path = head.split(' ').nth(1).unwrap_or("").to_string();
                seen.lock().unwrap().push(head);
                let _ = answer(&mut s, route(&path, port), &go_rx);
            }
        });
        Upstream { port, requests, go }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn paths(&self) -> Vec<String> {
        let requests = self.requests.lock().unwrap();
        let path = |r: &String| r.split(' ').nth(1).unwrap_or("").to_string();
        requests.iter().map(path).collect()
    }
}

fn accept_until(listener: &TcpListener, deadline: Instant) -> Option<TcpStream> {
    while Instant::now() < deadline {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                return Some(s);
            }
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
    None
}

fn read_head(s: &mut TcpStream) -> Option<String> {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut data = Vec::new();
    let mut buf = [0u8; 1024];
    while head_end(&data).is_none() && data.len() < 16 << 10 {
        let n = s.read(&mut buf).ok().filter(|&n| n > 0)?;
        data.extend_from_slice(&buf[..n]);
    }
    Some(String::from_utf8_lossy(&data).into_owned())
}

fn answer(s: &mut TcpStream, reply: Reply, go: &Receiver<()>) -> std::io::Result<()> {
    let wait_go = || go.recv_timeout(Duration::from_secs(30));
    match reply {
        Reply::Redirect(code, location) => write!(
            s,
            "HTTP/1.1 {code} Moved\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
        ),
        Reply::Status(code) => write!(s, "HTTP/1.1 {code} Nope\r\nContent-Length: 0\r\n\r\n"),
        Reply::Plain(body) => {
            write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )?;
            let _ = wait_go();
            s.write_all(&body)
        }
        Reply::Chunked(body) => {
            s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")?;
            let _ = wait_go();
            write_chunks(s, &body)?;
            s.write_all(b"0\r\n\r\n")
        }
        Reply::Stall(body) => {
            s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")?;
            write_chunks(s, &body)?;
            let _ = wait_go();
            Ok(())
        }
    }
}

/// `body` in chunks of uneven sizes (1 byte to 64 KiB), one with a chunk
/// extension, flushed one by one so they arrive apart.
fn write_chunks(s: &mut TcpStream, body: &[u8]) -> std::io::Result<()> {
    let sizes = [1usize, 4096, 777, 65536, 13, 30000];
    let mut at = 0;
    for (i, size) in sizes.iter().cycle().enumerate() {
        if at >= body.len() {
            break;
        }
        let chunk = &body[at..(at + size).min(body.len())];
        let ext = if i == 2 { ";name=value" } else { "" };
        write!(s, "{:x}{ext}\r\n", chunk.len())?;
        s.write_all(chunk)?;
        s.write_all(b"\r\n")?;
        s.flush()?;
        at += chunk.len();
    }
    Ok(())
}

/// The number of clusters mkvcast's segmenter finds in a whole stream.
fn fixture_clusters(bytes: &[u8]) -> u64 {
    let (events, _) = segment_all(bytes, 1 << 20).unwrap();
    let clusters = events.iter().filter(|e| matches!(e, Event::Cluster(_)));
    clusters.count() as u64
}

/// Starts a relay of `url`, connects a viewer, waits until it waits for
/// the stream, then lets the upstream send; returns what the viewer got
/// (the relay closes once the upstream is gone for good) and the relay.
fn relay_to_a_waiting_viewer(upstream: &Upstream, path: &str) -> (Response, Mkvcast) {
    let relay = Mkvcast::start(&[
        &upstream.url(path),
        "--no-pace",
        "--reconnect-timeout-ms",
        "1500",
    ]);
    let port = relay.port;
    let viewer = thread::spawn(move || get(port, Duration::from_secs(40)));
    assert!(
        relay.wait_log("waits for the stream", Duration::from_secs(10)),
        "{}",
        relay.log()
    );
    upstream.go.send(()).unwrap();
    (viewer.join().unwrap(), relay)
}

/// The viewer received the fixture whole: one clean stream, every cluster
/// and every frame.
fn assert_whole_stream(resp: &Response, data: &[u8]) {
    assert_eq!(resp.status, 200);
    let mut check = StreamCheck::new(200_000_000, false);
    check.feed(&resp.body);
    assert_eq!(check.error, None);
    // The checker does not see the end of the body, which ends the last
    // cluster; the segmenter run to the end does.
    assert_eq!(fixture_clusters(&resp.body), fixture_clusters(data));
    let (got, _) = demux(&resp.body).unwrap();
    let (want, _) = demux(data).unwrap();
    assert_eq!(got.len(), want.len(), "every frame");
    assert!(got.iter().zip(&want).all(|(g, w)| g.len == w.len));
}

#[test]
fn a_chunked_body_streams_through() {
    let data = std::fs::read(fixture("vp9_opus.webm")).unwrap();
    let body = data.clone();
    let upstream = Upstream::start(1, move |_, _| Reply::Chunked(body.clone()));
    let (resp, mut relay) = relay_to_a_waiting_viewer(&upstream, "/live");
    assert_whole_stream(&resp, &data);
    let status = relay.wait_exit(Duration::from_secs(10)).unwrap();
    assert!(status.success(), "{}", relay.log());
    let requests = upstream.requests.lock().unwrap();
    let head = requests[0].to_ascii_lowercase();
    assert!(head.starts_with("get /live http/1.1\r\n"), "{head}");
    let ua = format!("user-agent: mkvcast/{}\r\n", env!("CARGO_PKG_VERSION"));
    assert!(head.contains(&ua), "{head}");
    assert!(head.contains("accept-encoding: identity\r\n"), "{head}");
    assert!(!head.contains("gzip"), "{head}");
}

#[test]
fn a_302_then_301_chain_is_followed() {
    let data = std::fs::read(fixture("opus_only.webm")).unwrap();
    let body = data.clone();
    let upstream = Upstream::start(3, move |path, port| match path {
        "/a" => Reply::Redirect(302, "/b?x=1".into()),
        "/b?x=1" => Reply::Redirect(301, format!("http://127.0.0.1:{port}/c")),
        "/c" => Reply::Plain(body.clone()),
        _ => Reply::Status(404),
    });
    let (resp, mut relay) = relay_to_a_waiting_viewer(&upstream, "/a");
    assert_whole_stream(&resp, &data);
    assert_eq!(upstream.paths(), ["/a", "/b?x=1", "/c"]);
    assert!(relay.log().contains("redirected to"), "{}", relay.log());
    let status = relay.wait_exit(Duration::from_secs(10)).unwrap();
    assert!(status.success(), "{}", relay.log());
}

/// Runs `mkvcast URL` to its exit; its stderr (it fails before listening).
fn run_failing(url: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mkvcast"))
        .args([url, "--listen", "127.0.0.1:0", "--admin-listen", "off"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stderr}");
    stderr
}

#[test]
fn more_than_five_redirects_fail_and_five_are_followed() {
    // /r0 → /r1 → … → /r6, which answers 404.
    let route = |path: &str, _| match path.strip_prefix("/r").map(str::parse::<u32>) {
        Some(Ok(n)) if n < 6 => Reply::Redirect(307, format!("/r{}", n + 1)),
        _ => Reply::Status(404),
    };
    let six = Upstream::start(6, route);
    let stderr = run_failing(&six.url("/r0"));
    assert!(stderr.contains("more than 5 redirects"), "{stderr}");
    assert_eq!(six.paths(), ["/r0", "/r1", "/r2", "/r3", "/r4", "/r5"]);
    // Five redirects are followed: the sixth request gets the 404.
    let five = Upstream::start(6, route);
    let stderr = run_failing(&five.url("/r1"));
    assert!(stderr.contains("/r6 answered 404 Not Found"), "{stderr}");
    assert_eq!(five.paths().len(), 6);
}

#[test]
fn a_redirect_to_https_is_refused_with_the_https_message() {
    let upstream = Upstream::start(1, |_, port| {
        Reply::Redirect(302, format!("https://127.0.0.1:{port}/secure"))
    });
    let stderr = run_failing(&upstream.url("/plain"));
    let target = format!("\"https://127.0.0.1:{}/secure\"", upstream.port);
    assert!(stderr.contains(&target), "{stderr}");
    assert!(stderr.contains("only http:// is built in"), "{stderr}");
    assert_eq!(upstream.paths(), ["/plain"]);
}

#[test]
fn a_stalled_upstream_is_dropped_after_10_s_and_reconnected() {
    let data = std::fs::read(fixture("vp9_opus.webm")).unwrap();
    // Half the file, then silence on an open connection; then refused.
    let half = data[..data.len() / 2].to_vec();
    let upstream = Upstream::start(1, move |_, _| Reply::Stall(half.clone()));
    let mut relay = Mkvcast::start(&[
        &upstream.url("/"),
        "--no-pace",
        // Long enough to try once more after the 10 s stall.
        "--reconnect-timeout-ms",
        "12000",
    ]);
    let started = Instant::now();
    assert!(
        relay.wait_log("lost; reconnecting", Duration::from_secs(20)),
        "{}",
        relay.log()
    );
    let stalled = started.elapsed();
    assert!(
        stalled >= Duration::from_secs(9),
        "dropped after {stalled:?}"
    );
    let log = relay.log();
    assert!(
        log.contains("read error, ending: nothing received for 10 s"),
        "{log}"
    );
    upstream.go.send(()).unwrap();
    let status = relay.wait_exit(Duration::from_secs(15)).unwrap();
    assert!(status.success(), "{}", relay.log());
}
