//! Headless Firefox ESR (Marionette, `tests/common/firefox.rs`) plays the
//! live stream of the real binary: late joins, across the `--loop` point,
//! and for over a minute without a stall.
//!
//! Without `firefox-esr` the tests print a note and pass, unless
//! `MKVCAST_REAL_CLIENTS=1`.

mod common;

use std::net::TcpListener;
use std::sync::{Mutex, MutexGuard};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::firefox::{Browser, VideoState};
use mkvcast_testkit::fixture;
use mkvcast_testkit::process::Mkvcast;

/// One Firefox at a time: two decoding browsers on a 2-core machine would
/// make playback timing flaky.
fn one_browser() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// mkvcast streaming the fixture `name` in a loop (so it stays live).
fn serve(name: &str) -> Mkvcast {
    Mkvcast::start(&[&fixture(name).to_string_lossy(), "--loop"])
}

fn sleep_until(at: Instant) {
    sleep(at.saturating_duration_since(Instant::now()));
}

fn state(b: &mut Browser, srv: &Mkvcast) -> VideoState {
    b.video_state()
        .unwrap_or_else(|e| panic!("video_state: {e}\n{}", srv.log()))
}

/// Opens `srv`'s stream and waits until it plays; panics with both logs.
fn join(b: &mut Browser, srv: &Mkvcast, timeout: Duration) -> VideoState {
    b.open_video(&srv.url()).expect("open_video");
    b.wait_playing(timeout)
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", srv.log(), b.log_tail(2000)))
}

fn assert_healthy(s: &VideoState, what: &str) {
    assert_eq!(s.error, None, "{what}: media error: {s:?}");
    assert_eq!(s.play_error, None, "{what}: play() rejected: {s:?}");
    assert!(
        s.ready_state >= 2,
        "{what}: readyState {}: {s:?}",
        s.ready_state
    );
    assert!(!s.paused && !s.ended, "{what}: not playing: {s:?}");
}

/// `later` played on from `earlier`: time advanced by `min_secs`, and
/// frames were decoded and shown in between.
fn assert_advanced(earlier: &VideoState, later: &VideoState, min_secs: f64, what: &str) {
    let advanced = later.current_time - earlier.current_time;
    assert!(
        advanced >= min_secs,
        "{what}: currentTime went {} -> {} (< {min_secs} s): {later:?}",
        earlier.current_time,
        later.current_time
    );
    assert!(
        later.decoded_frames > earlier.decoded_frames && later.total_frames > earlier.total_frames,
        "{what}: no frames decoded: {earlier:?} -> {later:?}"
    );
}

#[test]
fn firefox_driver_runs_scripts_and_leaves_nothing_behind() {
    let _one = one_browser();
    let t0 = Instant::now();
    let Some(mut b) = Browser::start() else {
        return;
    };
    eprintln!("firefox up in {:?}", t0.elapsed());
    assert_eq!(b.eval("return 1 + 2").unwrap(), serde_json::json!(3));
    assert_eq!(
        b.eval("return Promise.resolve({a: [1, 'x']})").unwrap(),
        serde_json::json!({"a": [1, "x"]})
    );
    let err = b.eval("nope()").expect_err("a JS exception is an Err");
    assert!(err.contains("nope"), "{err}");
    b.navigate("data:text/html,<title>hello</title><p>x</p>")
        .expect("navigate");
    assert_eq!(b.eval("return document.title").unwrap(), "hello");

    // A source that refuses connections fails fast, as a media error.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    b.open_video(&format!("http://127.0.0.1:{dead}/")).unwrap();
    let err = b
        .wait_playing(Duration::from_secs(10))
        .expect_err("dead URL");
    assert!(err.contains("video failed: 4:"), "{err}");

    let (pgid, profile) = (b.process_group(), b.profile_dir());
    assert!(Browser::group_alive(pgid));
    let t_drop = Instant::now();
    drop(b);
    eprintln!("closed in {:?}; total {:?}", t_drop.elapsed(), t0.elapsed());
    assert!(
        !Browser::group_alive(pgid),
        "processes of group {pgid} left behind"
    );
    assert!(
        !profile.exists(),
        "profile {} left behind",
        profile.display()
    );
}

#[test]
fn firefox_plays_a_late_join() {
    let _one = one_browser();
    let Some(mut b) = Browser::start() else {
        return;
    };
    // demo.webm: 2 s keyframe clusters; join 4 s in.
    let srv = serve("demo.webm");
    sleep_until(Instant::now() + Duration::from_secs(4));
    let first = join(&mut b, &srv, Duration::from_secs(15));
    eprintln!("playing: {first:?}");
    let t0 = state(&mut b, &srv);
    sleep(Duration::from_secs(3));
    let t1 = state(&mut b, &srv);
    eprintln!("3 s later: {t1:?}");
    assert_healthy(&t1, "3 s after playing");
    assert_advanced(&t0, &t1, 2.0, "late join");
    assert_eq!((t1.video_width, t1.video_height), (640, 360), "{t1:?}");
}

#[test]
fn firefox_plays_across_the_loop_point() {
    let _one = one_browser();
    let Some(mut b) = Browser::start() else {
        return;
    };
    // vp8_vorbis.webm lasts 10 s: the input starts again at 10 s.
    let srv = serve("vp8_vorbis.webm");
    let started = Instant::now();
    sleep_until(started + Duration::from_secs(6));
    let joined = Instant::now();
    join(&mut b, &srv, Duration::from_secs(8));
    let mut samples = Vec::new();
    for secs in [2, 5, 9] {
        sleep_until(joined + Duration::from_secs(secs));
        let s = state(&mut b, &srv);
        let input = started.elapsed().as_secs_f64();
        eprintln!("join+{secs} s (input at {input:.1} s): {s:?}");
        assert_healthy(&s, &format!("join+{secs} s"));
        samples.push(s);
    }
    assert!(
        srv.log().contains("pass 1"),
        "the input looped:\n{}",
        srv.log()
    );
    assert_advanced(&samples[0], &samples[1], 2.0, "join+2 -> join+5 s");
    assert_advanced(&samples[1], &samples[2], 3.0, "join+5 -> join+9 s");
    assert_advanced(&samples[0], &samples[2], 5.0, "across the loop point");
}

/// Samples `currentTime` every 250 ms for `secs`; returns the first and
/// last states and the longest time `currentTime` did not move.
fn watch(b: &mut Browser, srv: &Mkvcast, secs: u64) -> (VideoState, VideoState, Duration) {
    let start = Instant::now();
    let first = state(b, srv);
    let (mut last, mut moved_at, mut stall) = (first.clone(), Instant::now(), Duration::ZERO);
    while start.elapsed() < Duration::from_secs(secs) {
        sleep(Duration::from_millis(250));
        let s = state(b, srv);
        assert_eq!(
            s.error,
            None,
            "media error at +{:?}: {s:?}",
            start.elapsed()
        );
        if s.current_time > last.current_time {
            moved_at = Instant::now();
        } else if moved_at.elapsed() > stall {
            stall = moved_at.elapsed();
            eprintln!(
                "+{:.1} s: stalled {stall:?} at {s:?}",
                start.elapsed().as_secs_f64()
            );
        }
        last = s;
    }
    (first, last, stall)
}

/// A progressive live WebM has been seen to freeze in Firefox after about
/// a minute with other servers: watch one for 75 s, across seven loops.
#[test]
fn firefox_plays_a_looped_stream_for_75_s_without_stalling() {
    let _one = one_browser();
    let Some(mut b) = Browser::start() else {
        return;
    };
    let srv = serve("vp8_vorbis.webm");
    join(&mut b, &srv, Duration::from_secs(10));
    let (first, last, stall) = watch(&mut b, &srv, 75);
    eprintln!("first {first:?}\nlast {last:?}\nlongest stall {stall:?}");
    assert_healthy(&last, "after 75 s");
    assert_advanced(&first, &last, 60.0, "75 s of watching");
    assert!(
        stall <= Duration::from_secs(2),
        "currentTime stood still for {stall:?}"
    );
    // 25 fps; allow for frames dropped on a busy machine.
    let shown = last.total_frames - first.total_frames;
    assert!(
        shown >= 20 * 60,
        "only {shown} frames shown: {first:?} -> {last:?}"
    );
}
