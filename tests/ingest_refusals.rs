//! Push ingest refusals and two mounts, against the real binary: every
//! refused push gets its 4xx and a closed socket, and meanwhile the
//! viewers of another mount stream on, clean and continuous. Each viewer
//! gets only its own mount's stream (codecs and tracks), and a mount's
//! `max_clients` is its own.
//!
//! The server trusts 127.0.0.1 as a proxy, so requests carrying an
//! `X-Forwarded-For` count as coming from that address: the wrong-password
//! throttle (per address, 60 s) then blocks a made-up address, not the one
//! every other request of the test comes from.

mod ingest_support;

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use ingest_support::{
    ask, assert_clean, assert_refused, basic, connect, put_head, read_head, temp_file, Viewers, PW,
};
use mkvcast_testkit::http::read_response;
use mkvcast_testkit::live_writer::{write_paced, Synthetic, WriteLog};
use mkvcast_testkit::process::Mkvcast;
use mkvcast_testkit::{fixture, Rng};

const T: Duration = Duration::from_secs(5);
const FILM_CODECS: [&str; 2] = ["V_VP9", "A_OPUS"];

fn film_arg() -> String {
    format!("/film={}", fixture("vp9_opus.webm").display())
}

fn start_film_and_cam() -> Mkvcast {
    let film = film_arg();
    Mkvcast::start(&[
        "--mount",
        &film,
        "--loop",
        "--ingest",
        "/cam",
        "--source-password",
        PW,
        "--trusted-proxy",
        "127.0.0.1/32",
        // Short, so a refused publisher that wrongly started the grace
        // time would end the viewer waiting for /cam's first stream.
        "--source-grace-ms",
        "1000",
    ])
}

/// A publisher of `/cam`: the synthetic VP8 stream (12 s, paced in real
/// time) as a body that runs until close.
fn publish_cam(port: u16) -> thread::JoinHandle<std::io::Result<()>> {
    let mut s = connect(port);
    s.write_all(put_head("/cam", "").as_bytes()).unwrap();
    thread::spawn(move || write_paced(&mut s, &Synthetic::default().chunks(), &WriteLog::new()))
}

/// Without credentials: a challenge at once, though the announced body
/// never comes (nothing of it is waited for or read).
fn missing_password_is_challenged_before_the_body(port: u16) {
    let start = Instant::now();
    let r = ask(
        port,
        b"PUT /cam HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n",
        T,
    );
    assert_refused(&r, 401, "no credentials");
    assert_eq!(
        r.header("WWW-Authenticate").as_deref(),
        Some("Basic realm=\"mkvcast\"")
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

/// Ten wrong passwords from one address get 401; then that address gets
/// 429 with `Retry-After: 60`, even with the right password; other
/// addresses are not affected.
fn wrong_passwords_are_throttled_per_address(port: u16) {
    let from = |ip: &str, auth: &str| {
        let head = format!(
            "PUT /cam HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: {ip}\r\n{auth}Content-Length: 10\r\n\r\n"
        );
        ask(port, head.as_bytes(), T)
    };
    let wrong = basic("source", "nope");
    for i in 0..10 {
        let r = from("192.0.2.7", &wrong);
        assert_refused(&r, 401, &format!("wrong password {i}"));
        assert!(r.header("WWW-Authenticate").is_some());
    }
    for auth in [&wrong, &basic("source", PW)] {
        let r = from("192.0.2.7", auth);
        assert_refused(&r, 429, "after 10 wrong passwords");
        assert_eq!(r.header("Retry-After").as_deref(), Some("60"));
    }
    assert_refused(&from("192.0.2.8", &wrong), 401, "another address");
}

/// Push to a pulled mount, to no mount, and a body that is not Matroska.
fn wrong_targets_and_bodies(port: u16) {
    let body = |path: &str, len: usize| {
        let mut req = put_head(path, &format!("Content-Length: {len}\r\n")).into_bytes();
        let mut rng = Rng(7);
        // No 0x1A byte, so no EBML magic by chance.
        req.extend((0..len).map(|_| (rng.below(255) as u8).max(0x1B)));
        req
    };
    assert_refused(
        &ask(port, &body("/film", 10), T),
        403,
        "push to a pulled mount",
    );
    assert_refused(&ask(port, &body("/nope", 10), T), 404, "push to no mount");
    assert_refused(&ask(port, &body("/cam", 70_000), T), 415, "random bytes");
    let r = ask(
        port,
        b"GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        T,
    );
    assert_eq!(r.status, 404, "{}", r.head);
    let r = ask(
        port,
        b"OPTIONS * HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        T,
    );
    assert_eq!(r.status, 204, "{}", r.head);
    let allow = r.header("Allow").unwrap_or_default();
    for m in ["GET", "HEAD", "PUT", "SOURCE", "OPTIONS"] {
        assert!(allow.split(", ").any(|x| x == m), "Allow: {allow}");
    }
    assert_eq!(r.header("Upgrade"), None, "{}", r.head);
}

/// An empty authorised `PUT` (a probe) is answered 200 and does not make
/// the mount live: a viewer waiting for it still gets nothing. Then a
/// real publisher starts it, a second one is refused while the first is
/// live, and the waiting viewer gets `/cam`'s codecs only.
fn probe_publisher_and_busy(port: u16) {
    let waiting = Viewers::start(port, "/cam", 1);
    thread::sleep(Duration::from_millis(300));
    let r = ask(
        port,
        put_head("/cam", "Content-Length: 0\r\n").as_bytes(),
        T,
    );
    assert_eq!(r.status, 200, "probe: {}", r.head);
    let mut early = connect(port);
    early
        .write_all(b"GET /cam HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let nothing = read_response(&mut early, Duration::from_millis(1000), 0);
    assert_eq!(
        nothing.first_byte, None,
        "a viewer got {} after a probe",
        nothing.head
    );
    drop(early);

    let publisher = publish_cam(port);
    thread::sleep(Duration::from_millis(1500));
    let second = ask(
        port,
        put_head("/cam", "Content-Length: 100\r\n").as_bytes(),
        T,
    );
    assert_refused(&second, 409, "second publisher");
    let late = Viewers::start(port, "/cam", 1);
    thread::sleep(Duration::from_millis(2500));
    for seen in [waiting.finish(), late.finish()] {
        // Synthetic 2 s clusters: at least one complete by now.
        assert_clean(&seen, &["V_VP8"], 1);
    }
    publisher.join().unwrap().unwrap();
}

#[test]
fn refused_pushes_get_4xx_and_close_while_another_mount_streams() {
    let srv = start_film_and_cam();
    let film = Viewers::start(srv.port, "/film", 5);
    thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    missing_password_is_challenged_before_the_body(srv.port);
    wrong_passwords_are_throttled_per_address(srv.port);
    wrong_targets_and_bodies(srv.port);
    probe_publisher_and_busy(srv.port);
    // 127.0.0.1 itself was never throttled: its authorised probe works.
    let r = ask(
        srv.port,
        put_head("/cam", "Content-Length: 0\r\n").as_bytes(),
        T,
    );
    assert_eq!(r.status, 200, "{}", r.head);
    let seen = film.finish();
    // vp9_opus has 1 s clusters; the viewers ran for the whole test.
    let secs = start.elapsed().as_secs();
    assert_clean(&seen, &FILM_CODECS, secs.saturating_sub(1));
    let log = srv.log();
    assert!(log.contains("empty push"), "probe not logged:\n{log}");
}

/// Two pulled mounts with different codecs and limits, and a push mount.
fn two_mounts_config() -> std::path::PathBuf {
    let text = format!(
        "source_password = \"{PW}\"\n\
         [[mount]]\npath = \"/film\"\ninput = \"{}\"\nloop = true\nmax_clients = 8\n\
         [[mount]]\npath = \"/small\"\ninput = \"{}\"\nloop = true\nmax_clients = 2\n\
         [[mount]]\npath = \"/cam\"\npush = true\n",
        fixture("vp9_opus.webm").display(),
        fixture("vp8_vorbis.webm").display(),
    );
    temp_file("two_mounts.toml", &text)
}

#[test]
fn each_viewer_gets_its_own_mount_and_limits_are_per_mount() {
    let config = two_mounts_config();
    let srv = Mkvcast::start(&["--config", &config.to_string_lossy()]);
    let film = Viewers::start(srv.port, "/film", 3);
    let small = Viewers::start(srv.port, "/small", 2);
    thread::sleep(Duration::from_millis(1000));
    // /small is full: 503; /film (3 of 8) still admits.
    let full = ask(srv.port, b"GET /small HTTP/1.1\r\nHost: t\r\n\r\n", T);
    assert_refused(&full, 503, "third viewer of /small");
    let mut more = connect(srv.port);
    more.write_all(b"GET /film HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let head = read_head(&mut more, T);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let r = ask(
        srv.port,
        b"GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        T,
    );
    assert_eq!(r.status, 404, "{}", r.head);
    // The push mount has no publisher: a viewer waits, it is not 404.
    let mut cam = connect(srv.port);
    cam.write_all(b"GET /cam HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let waits = read_response(&mut cam, Duration::from_millis(500), 0);
    assert_eq!(waits.first_byte, None, "{}", waits.head);
    thread::sleep(Duration::from_millis(2500));
    assert_clean(&film.finish(), &FILM_CODECS, 3);
    assert_clean(&small.finish(), &["V_VP8", "A_VORBIS"], 3);
    let _ = std::fs::remove_file(config);
}
