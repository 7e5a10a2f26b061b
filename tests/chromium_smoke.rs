//! Smoke test of the headless-Chromium helper: a plain WebM file served as
//! an endless-looking HTTP body (no Content-Length) must play in Chromium.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::chromium::Browser;

/// Serves `body` to every connection: 200, video/webm, no Content-Length,
/// `Connection: close`; Range requests are ignored.
fn serve(body: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    let body: &'static [u8] = body.leak();
    thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            thread::spawn(move || respond(conn, body));
        }
    });
    port
}

fn respond(mut conn: TcpStream, body: &[u8]) {
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
    conn.set_write_timeout(Some(Duration::from_secs(30))).ok();
    // Read the request head (ignored beyond that).
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let hdr = "HTTP/1.1 200 OK\r\nContent-Type: video/webm\r\nConnection: close\r\n\r\n";
    if conn.write_all(hdr.as_bytes()).is_err() {
        return;
    }
    for chunk in body.chunks(64 * 1024) {
        if conn.write_all(chunk).is_err() {
            return; // the browser went away
        }
    }
}

#[test]
fn demo_webm_plays_in_chromium() {
    let t0 = Instant::now();
    let Some(mut browser) = Browser::start() else {
        if std::env::var("MKVCAST_REAL_CLIENTS").as_deref() == Ok("1") {
            panic!("MKVCAST_REAL_CLIENTS=1 but Chromium is not installed");
        }
        eprintln!("skipping: Chromium not installed");
        return;
    };
    eprintln!(
        "chromium up in {:?} (devtools port {})",
        t0.elapsed(),
        browser.port()
    );

    let body = std::fs::read(mkvcast_testkit::fixture("demo.webm")).expect("fixtures/demo.webm");
    let port = serve(body);
    let url = format!("http://127.0.0.1:{port}/demo.webm");
    browser.open_video(&url).expect("open_video");

    let first = browser
        .wait_playing(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", browser.log_tail(2000)));
    eprintln!("playing after {:?}: {first:?}", t0.elapsed());
    thread::sleep(Duration::from_secs(3));
    let second = browser.video_state().expect("video_state");
    eprintln!("3 s later: {second:?}");

    assert_eq!(second.error, None, "media error");
    assert_eq!(second.play_error, None, "play() rejected");
    assert!(second.ready_state >= 2, "readyState {}", second.ready_state);
    assert!(
        second.current_time - first.current_time >= 2.0,
        "currentTime went {} -> {}",
        first.current_time,
        second.current_time
    );
    assert!(second.video_width > 0, "no video dimensions");
    assert!(
        second.total_frames > first.total_frames,
        "no frames decoded"
    );

    let png = browser.screenshot().expect("screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "not a PNG ({} bytes)",
        png.len()
    );
    assert_eq!(browser.eval("1 + 2").unwrap(), serde_json::json!(3));
    assert_eq!(
        browser.eval("Promise.resolve({a: [1, 'x']})").unwrap(),
        serde_json::json!({"a": [1, "x"]})
    );
    assert!(
        browser.eval("nope()").is_err(),
        "JS exception must be an Err"
    );

    // navigate() waits for the new document.
    browser
        .navigate("data:text/html,<title>hello</title><p>x</p>")
        .expect("navigate");
    assert_eq!(
        browser.eval("document.title").unwrap(),
        serde_json::json!("hello")
    );

    // A failing source is reported as an error, quickly.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    browser
        .open_video(&format!("http://127.0.0.1:{dead}/nothing.webm"))
        .unwrap();
    let err = browser
        .wait_playing(Duration::from_secs(5))
        .expect_err("dead URL must fail");
    assert!(err.contains("video failed"), "{err}");

    let t_drop = Instant::now();
    drop(browser);
    eprintln!(
        "browser closed in {:?}; total {:?}",
        t_drop.elapsed(),
        t0.elapsed()
    );
}
