//! `mkvcast-load soak`: soak-test viewers for mkvcast (loopback only).
//! Keeps `--clients` viewers on a stream for a bounded time, with churn
//! (`--churn` joins and leaves a second) and a slice of slow readers and of
//! readers that stop for longer than the server's stall timeout. Every byte
//! every viewer receives is checked with mkvcast's own segmenter
//! (`mkvcast_testkit::stream_check`): clean Matroska, the first cluster a
//! keyframe, timestamps strictly increasing; for well-behaved viewers also
//! contiguous (no cluster skipped).
//!
//!   cargo run --release -p mkvcast-load -- soak --port 8080 --duration 60
//!
//! Prints a one-line JSON summary on stdout (progress on stderr) and exits 1
//! if any well-behaved viewer saw an invalid or discontinuous stream, was
//! refused or closed, or any viewer saw invalid Matroska. `bench/soak.sh`
//! and `tests/soak_short.rs` run it.

mod client;
mod run;
mod summary;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use mio::Events;

use run::Run;
use summary::Summary;

/// Keeps many viewers on a loopback mkvcast stream, with churn, slow readers
/// and stalling readers, and checks every byte they receive.
#[derive(argh::FromArgs, Debug, Clone)]
#[argh(subcommand, name = "soak")]
pub struct Config {
    /// port of the stream on 127.0.0.1
    #[argh(option)]
    pub port: u16,
    /// path to request (default /)
    #[argh(option, default = "String::from(\"/\")")]
    pub path: String,
    /// viewers kept connected (default 500)
    #[argh(option, default = "500")]
    pub clients: usize,
    /// how many of them read slower than the stream (default 25)
    #[argh(option, default = "25")]
    pub slow: usize,
    /// how many of them stop reading for --stop-s seconds (default 10)
    #[argh(option, default = "10")]
    pub stoppers: usize,
    /// joins and leaves per second once ramped up (default 10)
    #[argh(option, default = "10")]
    pub churn: u32,
    /// seconds to run, 1 to 86400 (default 60)
    #[argh(option, default = "60")]
    pub duration: u64,
    /// new connections per second while below --clients (default 100)
    #[argh(option, default = "100")]
    pub ramp_rate: u32,
    /// bytes per second a slow viewer reads (default 60000, about half the
    /// 1 Mbit/s bench stream)
    #[argh(option, default = "60000")]
    pub slow_rate: u64,
    /// seconds a stopper stops reading; make it longer than the server's
    /// --stall-timeout-ms (default 15)
    #[argh(option, default = "15")]
    pub stop_s: u64,
    /// a gap between a cluster's end and the next cluster's start larger
    /// than this (ms) is a skipped cluster (default 200)
    #[argh(option, default = "200")]
    pub max_gap_ms: i64,
    /// seconds between progress lines on stderr, 0 for none (default 10)
    #[argh(option, default = "10")]
    pub progress_s: u64,
}

/// Runs the mode: progress and the summary line on stderr, the JSON
/// summary on stdout; exit 1 if not clean, 2 for a bad command line.
pub fn main(cfg: &Config) -> ExitCode {
    if !(1..=86_400).contains(&cfg.duration) {
        eprintln!("soak_clients: --duration must be 1..86400 s");
        return ExitCode::from(2);
    }
    let summary = match run(cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("soak_clients: {e}");
            return ExitCode::from(2);
        }
    };
    eprintln!("{}", summary.text());
    println!("{}", summary.json());
    if summary.clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// How a viewer ends.
pub enum Finish {
    /// Churn: we leave.
    Leave,
    /// The server closed.
    Eof,
    Failed(String),
    /// The run is over.
    End,
}

/// How often slow viewers and stoppers read, and churn and joins happen.
const TICK: Duration = Duration::from_millis(100);
/// A well-behaved viewer without data this long is stalled (clusters of the
/// bench stream are 1 s).
const GOOD_SILENCE: Duration = Duration::from_secs(5);
/// Receive buffer of slow viewers and stoppers, so they really fall behind
/// instead of parking the stream in the kernel.
const SLOW_RCVBUF: usize = 16 << 10;

/// Runs the viewers for `cfg.duration` seconds.
pub fn run(cfg: &Config) -> Result<Summary, String> {
    let mut r = Run::new(cfg)?;
    let mut events = Events::with_capacity(1024);
    let start = Instant::now();
    let end = start + Duration::from_secs(cfg.duration);
    let mut next_tick = start;
    let mut next_progress = start + Duration::from_secs(cfg.progress_s.max(1));
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let timeout = next_tick.saturating_duration_since(now).min(end - now);
        r.poll(&mut events, timeout)?;
        let now = Instant::now();
        r.on_events(&events, now);
        if now < next_tick {
            continue;
        }
        next_tick += TICK;
        if next_tick < now {
            next_tick = now + TICK;
        }
        r.tick(now);
        if cfg.progress_s > 0 && now >= next_progress {
            next_progress += Duration::from_secs(cfg.progress_s);
            r.progress(now - start);
        }
    }
    Ok(r.end(start))
}
