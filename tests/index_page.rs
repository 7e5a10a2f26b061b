//! The page people get who open the server in a browser: at `/` with
//! mounts, an index with a `<video>` per mount that plays it. Headless
//! Chromium navigates there; over the DevTools protocol the test reads
//! that every mount is listed with its `<video>`, and that the first one
//! plays (its `currentTime` advances at least 2 s over 3 s, no error).
//! Player-style requests of the same URLs still get the stream.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::thread::sleep;
use std::time::Duration;

use common::chromium;
use mkvcast_testkit::http::read_response;
use mkvcast_testkit::process::Mkvcast;
use mkvcast_testkit::real::require_tool;

fn server() -> Mkvcast {
    Mkvcast::start_env(
        &[
            "--mount",
            "/a=fixtures/vp8_vorbis.webm",
            "--mount",
            "/b/live=fixtures/vp9_opus.webm",
            "--ingest",
            "/cam",
            "--loop",
        ],
        &[("MKVCAST_SOURCE_PASSWORD", "pw")],
    )
}

#[test]
fn chromium_navigating_to_the_root_gets_an_index_whose_first_video_plays() {
    let Some(mut b) = chromium::Browser::start() else {
        assert!(
            !require_tool("chromium"),
            "chromium on PATH but not startable"
        );
        return;
    };
    let srv = server();
    b.navigate(&format!("http://127.0.0.1:{}/", srv.port))
        .unwrap();
    let mounts = b
        .eval("[...document.querySelectorAll('video')].map(v => v.dataset.mount).join(' ')")
        .unwrap();
    assert_eq!(mounts.as_str(), Some("/a /b/live /cam"), "{mounts}");
    let text = b.eval("document.body.innerText").unwrap();
    for m in ["/a", "/b/live", "/cam"] {
        assert!(text.as_str().unwrap().contains(m), "{m} not listed: {text}");
    }
    let first = "document.querySelector('video')";
    b.eval(&format!("{first}.play().catch(() => 0)")).unwrap();
    sleep(Duration::from_secs(2));
    let t0 = b
        .eval(&format!("{first}.currentTime"))
        .unwrap()
        .as_f64()
        .unwrap();
    sleep(Duration::from_secs(3));
    let t1 = b
        .eval(&format!("{first}.currentTime"))
        .unwrap()
        .as_f64()
        .unwrap();
    let error = b
        .eval(&format!("{first}.error && {first}.error.message"))
        .unwrap();
    assert!(error.is_null(), "video error: {error}");
    assert!(t1 - t0 >= 2.0, "currentTime went from {t0} to {t1}");
}

#[test]
fn browsers_get_pages_and_players_get_the_stream_at_the_same_urls() {
    let srv = server();
    let t = Duration::from_secs(5);
    let ask = |path: &str, accept: Option<&str>| {
        let accept = accept.map_or(String::new(), |a| format!("Accept: {a}\r\n"));
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{accept}Connection: close\r\n\r\n");
        let mut s = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        // A stream has no end: 8 KiB of it are enough.
        read_response(&mut s, t, 8 << 10)
    };
    let nav = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let page = ask("/", Some(nav));
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(page.header("vary").as_deref(), Some("Accept"));
    let player = ask("/a", Some(nav));
    let body = String::from_utf8_lossy(&player.body).into_owned();
    assert!(
        body.contains("src=\"/a\"") && !body.contains("/b/live"),
        "{body}"
    );
    // ffplay/mpv/curl (*/*), GStreamer (no Accept), Firefox's <video>.
    for accept in [
        Some("*/*"),
        None,
        Some("video/webm,video/ogg,video/*;q=0.9,*/*;q=0.5"),
    ] {
        let r = ask("/a", accept);
        assert_eq!(r.status, 200, "{accept:?}");
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("video/webm"),
            "{accept:?}"
        );
    }
    // A media request to / with no mount there and no default_mount: 404.
    assert_eq!(ask("/", Some("*/*")).status, 404);
    assert_eq!(ask("/nope", Some("*/*")).status, 404);
}

#[test]
fn a_media_request_to_the_root_gets_default_mount() {
    let dir = std::env::temp_dir().join(format!("mkvcast-default-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("mounts.toml");
    std::fs::write(
        &file,
        "default_mount = \"/b\"\n[[mount]]\npath = \"/a\"\ninput = \"fixtures/vp8_vorbis.webm\"\n\
         [[mount]]\npath = \"/b\"\ninput = \"fixtures/opus_only.webm\"\n",
    )
    .unwrap();
    let srv = Mkvcast::start(&["--config", file.to_str().unwrap()]);
    let mut s = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n")
        .unwrap();
    let r = read_response(&mut s, Duration::from_secs(5), 8 << 10);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("audio/webm"),
        "/b is audio only"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
