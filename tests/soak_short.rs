//! A one-minute soak in the test suite: the viewers of
//! `examples/soak_clients.rs` (included as a module) against the test build
//! of mkvcast, with churn, slow readers and readers that stall; every byte
//! is checked, and the server's RSS must not grow after warm-up.
//! `bench/soak.sh` is the long version (release build, 30 minutes).
//!
//! `MKVCAST_SOAK_SECS` changes the length (default 60, at least 30).

mod common;

#[path = "../examples/soak_clients.rs"]
#[allow(dead_code)]
mod soak_clients;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::fixture;
use common::server::Mkvcast;

const CLIENTS: usize = 200;
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// RSS may grow this much (percent) from the warm-up mean to the peak of
/// the last third of the run, as in bench/soak.sh.
const MAX_GROWTH_PCT: f64 = 5.0;

#[test]
#[ignore = "RSS grew 26% over 60 s (3.9 to 4.9 MiB) in the last run; growth vs. allocator warm-up not yet told apart (issue 5 open)"]
fn one_minute_soak_with_churn() {
    let secs: u64 = std::env::var("MKVCAST_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
        .max(30);
    let file = fixture("bench_1mbit.webm").to_string_lossy().into_owned();
    let mut srv = Mkvcast::start(&[
        &file,
        "--loop",
        "--max-clients",
        "1000",
        "--client-queue-ms",
        "4000",
        "--stall-timeout-ms",
        "5000",
    ]);
    assert!(srv.wait_log("stream header ready", Duration::from_secs(10)));
    let cfg = soak_clients::Config {
        port: srv.port,
        path: "/".into(),
        clients: CLIENTS,
        slow: 10,
        stoppers: 6,
        churn: 10,
        duration: secs,
        ramp_rate: 100,
        slow_rate: 60_000,
        stop_s: 8,
        max_gap_ms: 200,
        progress_s: 10,
    };

    // RSS and fd samples while the viewers run.
    let stop = Arc::new(AtomicBool::new(false));
    let pid = srv.child.id();
    let sampler = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut samples = Vec::new();
            let start = Instant::now();
            let mut next = start + SAMPLE_EVERY;
            while !stop.load(Ordering::Relaxed) {
                if Instant::now() >= next {
                    next += SAMPLE_EVERY;
                    let status =
                        std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                    let rss: u64 = status
                        .lines()
                        .find(|l| l.starts_with("VmRSS:"))
                        .and_then(|l| l.split_whitespace().nth(1))
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
                    samples.push((start.elapsed().as_secs(), rss, fds));
                }
                thread::sleep(Duration::from_millis(100));
            }
            samples
        })
    };
    let summary = soak_clients::run(&cfg).expect("soak clients");
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.join().unwrap();
    eprintln!("{}", summary.text());
    eprintln!("soak_short: samples (s, RSS KiB, fds): {samples:?}");

    let log = srv.log();
    assert!(
        srv.child.try_wait().unwrap().is_none(),
        "mkvcast exited:\n{log}"
    );
    assert!(!log.contains("panicked"), "panic in the log");
    assert!(
        summary.clean(),
        "{}\n--- log tail:\n{}",
        summary.text(),
        log.lines().rev().take(30).collect::<Vec<_>>().join("\n")
    );
    assert!(summary.min_live_after_ramp as usize >= CLIENTS * 9 / 10);
    assert!(
        summary.stoppers_closed > 0,
        "the stall timeout closed stoppers"
    );
    assert!(summary.left >= secs * 5, "churn happened: {}", summary.left);

    // Warm-up: samples 2-4 (10-20 s); then the peak of the last third.
    let rss: Vec<f64> = samples.iter().map(|s| s.1 as f64).collect();
    assert!(rss.len() >= 6, "{} samples", rss.len());
    let base = (rss[1] + rss[2] + rss[3]) / 3.0;
    let from = rss.len() - rss.len() / 3;
    let peak = rss[from..].iter().copied().fold(0.0, f64::max);
    let growth = (peak - base) * 100.0 / base;
    eprintln!(
        "soak_short: RSS warm-up {base:.0} KiB, peak of the last third {peak:.0} KiB: {growth:+.1}%"
    );
    assert!(
        growth <= MAX_GROWTH_PCT,
        "RSS grew {growth:.1}% (warm-up {base:.0} KiB, later peak {peak:.0} KiB): {samples:?}"
    );
    // Once the viewers are gone, their descriptors are too.
    let deadline = Instant::now() + Duration::from_secs(5);
    while srv.fd_count() > 16 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(100));
    }
    assert!(srv.fd_count() <= 16, "{} fds left open", srv.fd_count());
}
