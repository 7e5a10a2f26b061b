//! File descriptors run out: mkvcast under `ulimit -n 64` gets 100
//! connections. It must keep running and streaming to the viewer it has,
//! back off accepting (a log line, no busy loop), and serve new clients once
//! connections close.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use mkvcast::segmenter::{segment_all, Event};
use mkvcast_testkit::fixture;
use mkvcast_testkit::process::Mkvcast;

/// mkvcast under `ulimit -n 64`, looping the 14 s bench fixture, with
/// room for far more clients than descriptors.
fn start_limited() -> Mkvcast {
    let file = fixture("bench_1mbit.webm").to_string_lossy().into_owned();
    Mkvcast::start_nofile(
        64,
        &[
            &file,
            "--loop",
            "--max-clients",
            "200",
            "--request-timeout-ms",
            "60000",
        ],
    )
}

fn clock_ticks_per_s() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A viewer that reads for `run_for` and returns the body.
fn viewer(port: u16, run_for: Duration) -> Result<Vec<u8>, String> {
    let mut s = TcpStream::connect(addr(port)).map_err(|e| e.to_string())?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_millis(250)))
        .unwrap();
    let start = Instant::now();
    let mut data = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut last = Instant::now();
    while start.elapsed() < run_for {
        match s.read(&mut buf) {
            Ok(0) => return Err(format!("closed after {} bytes", data.len())),
            Ok(n) => {
                data.extend_from_slice(&buf[..n]);
                last = Instant::now();
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if last.elapsed() > Duration::from_secs(4) {
                    return Err(format!("no data for 4 s after {} bytes", data.len()));
                }
            }
            Err(e) => return Err(format!("{e} after {} bytes", data.len())),
        }
    }
    let end = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no response head")?;
    if !data.starts_with(b"HTTP/1.1 200 ") {
        return Err(format!(
            "not 200: {}",
            String::from_utf8_lossy(&data[..end])
        ));
    }
    Ok(data.split_off(end + 4))
}

/// The body is clean Matroska, starts on a keyframe and no cluster is
/// missing. Returns the media time it covers.
fn check_continuous(body: &[u8]) -> Duration {
    let (events, stats) = segment_all(body, 1 << 16).unwrap();
    assert_eq!(stats.resyncs, 0, "clean Matroska");
    // The viewer stops reading at a moment of its own, which may fall
    // inside a cluster (or a block of one being forwarded): only the
    // unfinished element at the very end may be left over, never more than
    // a cluster's worth.
    let largest = events
        .iter()
        .filter_map(|e| match e {
            Event::Cluster(c) => Some(c.len() as u64),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    assert!(
        stats.bytes_skipped <= largest,
        "clean Matroska but for the cut-off end: {} bytes skipped",
        stats.bytes_skipped
    );
    assert!(matches!(events.first(), Some(Event::Header(_))));
    let segs: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Cluster(s) => Some(s),
            _ => None,
        })
        .collect();
    assert!(!segs.is_empty());
    assert!(segs[0].keyframe, "first cluster is a keyframe cluster");
    for w in segs.windows(2) {
        assert!(w[1].timestamp > w[0].timestamp);
        let gap = w[1].start.0 as i64 - w[0].end().0 as i64;
        assert!(gap.abs() < 200_000_000, "cluster missing: gap {gap} ns");
    }
    Duration::from_nanos(segs[segs.len() - 1].end().0 - segs[0].start.0)
}

#[test]
fn out_of_file_descriptors_backs_off_and_recovers() {
    let mut srv = start_limited();
    assert!(
        srv.wait_log("stream header ready", Duration::from_secs(10)),
        "{}",
        srv.log()
    );
    let port = srv.port;
    let fds_idle = srv.fd_count();
    // A viewer from before the crunch keeps streaming through it (the
    // fixture lasts 14 s; all of this stays within its first pass).
    let watcher = thread::spawn(move || viewer(port, Duration::from_secs(9)));
    thread::sleep(Duration::from_millis(500));

    // 100 idle connections: the server accepts until it has no fd left,
    // the rest wait in the listen backlog.
    let conns: Vec<TcpStream> = (0..100)
        .map(|i| TcpStream::connect(addr(port)).unwrap_or_else(|e| panic!("connect {i}: {e}")))
        .collect();
    assert!(
        srv.wait_log("accept failed", Duration::from_secs(3)),
        "no accept back-off logged:\n{}",
        srv.log()
    );
    assert!(srv.log().contains("pausing accepts"), "{}", srv.log());
    // Saturated: no busy loop while the backlog cannot be accepted.
    let hz = clock_ticks_per_s();
    let cpu_before = srv.cpu_ticks();
    let t = Instant::now();
    thread::sleep(Duration::from_secs(3));
    let cpu = (srv.cpu_ticks() - cpu_before) as f64 / hz;
    let wall = t.elapsed().as_secs_f64();
    let fds_full = srv.fd_count();
    assert!(srv.alive(), "mkvcast died out of fds:\n{}", srv.log());
    eprintln!(
        "emfile: fds idle {fds_idle}, saturated {fds_full}; CPU {cpu:.2} s over {wall:.1} s while saturated"
    );
    assert!(fds_full >= 60, "saturated at {fds_full} fds");
    assert!(
        cpu < 0.5,
        "{cpu:.2} s CPU in {wall:.1} s while out of fds: busy loop?"
    );

    // Closing them frees the fds: a new client is served.
    drop(conns);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut s = TcpStream::connect(addr(port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while got.windows(4).position(|w| w == b"\r\n\r\n").is_none() || got.len() < 200 {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let end = got.windows(4).position(|w| w == b"\r\n\r\n");
        if got.starts_with(b"HTTP/1.1 200 ")
            && end.is_some_and(|e| got.get(e + 4..e + 8) == Some(&[0x1A, 0x45, 0xDF, 0xA3][..]))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no stream for a new client after the fds were freed: {:?}\n{}",
            String::from_utf8_lossy(&got[..got.len().min(200)]),
            srv.log()
        );
        thread::sleep(Duration::from_millis(200));
    }
    let body = watcher
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("viewer: {e}\n{}", srv.log()));
    let media = check_continuous(&body);
    assert!(
        media > Duration::from_secs(7),
        "viewer got {media:?} of media"
    );
    let log = srv.log();
    let backoffs = log.lines().filter(|l| l.contains("accept failed")).count();
    eprintln!("emfile: {backoffs} accept-failed lines logged");
    assert!(
        backoffs <= 20,
        "accept warnings not rate-limited: {backoffs}"
    );
    assert!(!log.contains("panicked"), "{log}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while srv.fd_count() > fds_idle + 2 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(100));
    }
    assert!(srv.fd_count() <= fds_idle + 2, "fds not released");
    assert!(srv.alive());
}

/// With `--loop` the input starts again at every pass. Out of descriptors
/// at that moment, the stream must go on (the file is rewound, not opened
/// again; reopening failed with EMFILE and ended the whole server).
#[test]
fn out_of_file_descriptors_across_the_loop_point() {
    let mut srv = start_limited();
    assert!(srv.wait_log("stream header ready", Duration::from_secs(10)));
    let port = srv.port;
    let watcher = thread::spawn(move || viewer(port, Duration::from_secs(20)));
    thread::sleep(Duration::from_millis(500));
    let conns: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(addr(port)).unwrap())
        .collect();
    assert!(srv.wait_log("accept failed", Duration::from_secs(3)));
    // bench_1mbit.webm lasts 14 s: hold the crunch past the loop point.
    thread::sleep(Duration::from_secs(16));
    let alive = srv.alive();
    drop(conns);
    let result = watcher.join().unwrap();
    assert!(alive, "mkvcast exited:\n{}", srv.log());
    let body = result.unwrap_or_else(|e| panic!("viewer: {e}\n{}", srv.log()));
    check_continuous(&body);
}
