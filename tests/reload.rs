//! SIGHUP re-reads the config file: a mount added there is served, a
//! removed one ends (new requests get 404), and the viewers of a mount
//! that did not change stream on, on the same connection, without a gap.
//! A file that fails to parse is logged and ignored.

use std::io::Read;
use std::net::TcpStream;
use std::process::Command;
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

use mkvcast_testkit::http::read_response;
use mkvcast_testkit::process::Mkvcast;
use mkvcast_testkit::stream_check::StreamCheck;

fn write_config(path: &std::path::Path, mounts: &[(&str, &str)]) {
    let mut text = String::from("# written by tests/reload.rs\n");
    for (p, input) in mounts {
        text.push_str(&format!(
            "[[mount]]\npath = \"{p}\"\ninput = \"{input}\"\nloop = true\n\n"
        ));
    }
    std::fs::write(path, text).unwrap();
}

fn hup(srv: &Mkvcast) {
    let pid = srv.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
}

/// Status of a GET of `path` (the first bytes only).
fn status_of(port: u16, path: &str) -> u16 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    std::io::Write::write_all(&mut s, req.as_bytes()).unwrap();
    read_response(&mut s, Duration::from_secs(5), 4096).status
}

/// Waits (bounded) until GET `path` answers `want`.
fn until_status(port: u16, path: &str, want: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = status_of(port, path);
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "{path}: {got}, not {want}");
        sleep(Duration::from_millis(100));
    }
}

#[test]
fn sighup_adds_and_removes_mounts_without_touching_other_viewers() {
    let dir = std::env::temp_dir().join(format!("mkvcast-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("mounts.toml");
    write_config(
        &file,
        &[
            ("/keep", "fixtures/vp8_vorbis.webm"),
            ("/old", "fixtures/opus_only.webm"),
        ],
    );
    let srv = Mkvcast::start(&["--config", file.to_str().unwrap()]);
    until_status(srv.port, "/old", 200);
    // A viewer of /keep reads throughout.
    let mut viewer = open_get_path(srv.port, "/keep");
    let reader = thread::spawn(move || {
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        let deadline = Instant::now() + Duration::from_secs(9);
        viewer
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        while Instant::now() < deadline {
            match viewer.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
        out
    });
    sleep(Duration::from_secs(2));
    write_config(
        &file,
        &[
            ("/keep", "fixtures/vp8_vorbis.webm"),
            ("/new", "fixtures/vp9_opus.webm"),
        ],
    );
    hup(&srv);
    until_status(srv.port, "/new", 200);
    until_status(srv.port, "/old", 404);
    // A broken file is ignored: everything stays as it is.
    std::fs::write(&file, "[[mount]\npath = ").unwrap();
    hup(&srv);
    sleep(Duration::from_millis(500));
    assert_eq!(status_of(srv.port, "/new"), 200);
    assert_eq!(status_of(srv.port, "/keep"), 200);
    let out = reader.join().unwrap();
    let end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let mut check = StreamCheck::new(1_500_000_000, false);
    check.feed(&out[end + 4..]);
    assert!(check.error.is_none(), "/keep viewer: {:?}", check.error);
    // 9 s of reading, paced: most of it arrived, across both reloads.
    assert!(
        check.media_span() > Duration::from_secs(6),
        "{:?}",
        check.media_span()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn open_get_path(port: u16, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    std::io::Write::write_all(&mut s, req.as_bytes()).unwrap();
    s
}
