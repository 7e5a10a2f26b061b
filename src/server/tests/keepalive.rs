//! Keep-alive for short answers: a connection serves request after
//! request until the client asks to close, it idles past the keep-alive
//! timeout, or it has made 100 requests; HTTP/1.0 closes unless asked.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::*;

/// Sends `n` pipelined GETs of a 404 path; returns what came back and
/// whether the server closed the connection within `wait`.
fn pipelined(addr: SocketAddr, n: usize, last: &str, wait: Duration) -> (String, bool) {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = String::new();
    for i in 0..n {
        let close = if i + 1 == n { last } else { "" };
        req.push_str(&format!(
            "GET /favicon.ico HTTP/1.1\r\nHost: t\r\n{close}\r\n"
        ));
    }
    s.write_all(req.as_bytes()).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), false)
}

#[test]
fn idle_kept_alive_connections_close_after_the_keepalive_timeout() {
    let srv = Harness::start(Config {
        keepalive_timeout: Duration::from_millis(600),
        ..Config::default()
    });
    let started = Instant::now();
    let (got, closed) = pipelined(srv.addr, 3, "", Duration::from_secs(5));
    assert_eq!(got.matches("HTTP/1.1 404").count(), 3, "{got}");
    assert!(closed, "an idle connection stays open");
    let took = started.elapsed();
    // The tick is 250 ms: closed after 600 ms and before 600 + 2 ticks.
    assert!(
        took >= Duration::from_millis(600) && took < Duration::from_millis(1500),
        "{took:?}"
    );
}

#[test]
fn a_connection_makes_at_most_100_requests() {
    let srv = Harness::start(Config::default());
    let (got, closed) = pipelined(srv.addr, 105, "", Duration::from_secs(5));
    assert!(closed);
    assert_eq!(got.matches("HTTP/1.1 404").count(), 100, "{}", got.len());
    assert_eq!(got.matches("Connection: close").count(), 1);
}

#[test]
fn http_1_0_closes_unless_it_asks_for_keep_alive() {
    let srv = Harness::start(Config::default());
    let one = |req: &[u8]| {
        let mut s = TcpStream::connect(srv.addr).unwrap();
        s.write_all(req).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut out = Vec::new();
        let closed = s.read_to_end(&mut out).is_ok();
        (String::from_utf8_lossy(&out).into_owned(), closed)
    };
    let (got, closed) = one(b"GET /favicon.ico HTTP/1.0\r\n\r\n");
    assert!(closed && got.contains("Connection: close"), "{got}");
    let (got, closed) = one(b"GET /favicon.ico HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert!(!closed && got.contains("Connection: keep-alive"), "{got}");
}
