//! Low-bitrate live starts (#11): browsers need some tens of kilobytes
//! before they start a progressive stream, and a time-only join burst of a
//! ~24 kbit/s audio stream holds a few (3 s ≈ 9 KB), so a joiner waited
//! for the live stream to bring the rest. With `--burst-bytes` (default
//! 64 KiB) the burst reaches back far enough in bytes too.
//!
//! Chromium and Firefox must reach readyState ≥ 3 (HAVE_FUTURE_DATA)
//! within 3 s of joining `vorbis_24k_laced.webm` (mkvmerge, Xiph-laced
//! Vorbis, ~1.5 s Clusters) and `opus_24k.webm` (ffmpeg, Opus, 5 s
//! Clusters), streamed with `--loop` and the default burst, joined after
//! the server has run for 22 s: the burst can only reach back as far as
//! the server has streamed, and 64 KiB of a 24 kbit/s stream is ~20 s.
//!
//! Measured on today's server (3 s time-only burst, ~10-15 KB): 6.0-6.5 s
//! to readyState 3 in both browsers for both files; with a burst of ~64 KB
//! (`--buffer-ms 20000 --client-queue-ms 60000`, joined at 21 s) all four
//! start within 3 s; with ~11 s of burst, Opus still takes 3.03-3.08 s.
//!
//! The browsers are optional: without them the tests print a note and pass,
//! unless `MKVCAST_REAL_CLIENTS=1`.

mod common;

use std::sync::{Mutex, MutexGuard};
use std::thread::sleep;
use std::time::Duration;

use common::until_future_data;
use common::{chromium, firefox};
use mkvcast_testkit::fixture;
use mkvcast_testkit::process::Mkvcast;
use mkvcast_testkit::real::require_tool;

/// How soon after a live join the stream must have data to play.
const START_WITHIN: Duration = Duration::from_secs(3);

/// How long the server streams before the browser joins (see the module
/// doc).
const JOIN_AFTER: Duration = Duration::from_secs(22);
/// How long to keep polling past [`START_WITHIN`], to report how late a
/// slow start was.
const POLL_FOR: Duration = Duration::from_secs(10);

/// One browser at a time: two decoding at once on a 2-core machine would
/// make the 3 s bound flaky.
fn one_browser() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// mkvcast streaming `name` in a loop, with the default burst, joined once
/// it has run for [`JOIN_AFTER`].
fn live(name: &str) -> Mkvcast {
    let srv = Mkvcast::start(&[&fixture(name).to_string_lossy(), "--loop"]);
    sleep(JOIN_AFTER);
    srv
}

fn chromium_start(name: &str) {
    let _one = one_browser();
    let Some(mut b) = chromium::Browser::start() else {
        assert!(
            !require_tool("chromium"),
            "chromium on PATH but not startable"
        );
        return;
    };
    let srv = live(name);
    b.open_video(&srv.url()).unwrap();
    let took = until_future_data(|| b.video_state(), |s| s.ready_state, POLL_FOR)
        .unwrap_or_else(|e| panic!("{name} in Chromium: {e}\n{}", srv.log()));
    eprintln!("{name} in Chromium: readyState >= 3 after {took:?}");
    assert!(
        took <= START_WITHIN,
        "{name} in Chromium: readyState >= 3 only {took:?} after the join"
    );
}

fn firefox_start(name: &str) {
    let _one = one_browser();
    let Some(mut b) = firefox::Browser::start() else {
        return;
    };
    let srv = live(name);
    b.open_video(&srv.url()).unwrap();
    let took =
        until_future_data(|| b.video_state(), |s| s.ready_state, POLL_FOR).unwrap_or_else(|e| {
            panic!(
                "{name} in Firefox: {e}\n{}\n{}",
                srv.log(),
                b.log_tail(2000)
            )
        });
    eprintln!("{name} in Firefox: readyState >= 3 after {took:?}");
    assert!(
        took <= START_WITHIN,
        "{name} in Firefox: readyState >= 3 only {took:?} after the join"
    );
}

#[test]
fn chromium_starts_laced_vorbis_at_24_kbit_s_within_3_s() {
    chromium_start("vorbis_24k_laced.webm");
}

#[test]
fn chromium_starts_opus_at_24_kbit_s_within_3_s() {
    chromium_start("opus_24k.webm");
}

#[test]
fn firefox_starts_laced_vorbis_at_24_kbit_s_within_3_s() {
    firefox_start("vorbis_24k_laced.webm");
}

#[test]
fn firefox_starts_opus_at_24_kbit_s_within_3_s() {
    firefox_start("opus_24k.webm");
}
