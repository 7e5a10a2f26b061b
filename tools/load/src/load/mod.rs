//! `mkvcast-load load`: opens many concurrent viewers on a live
//! Matroska/WebM HTTP stream and reports how many the server held, how
//! fast they joined, whether any stalled, and whether every byte they got
//! was a valid stream.
//!
//! Payload is read into one shared buffer and discarded, and each viewer's
//! validity check is `mkvcast_testkit::walk`, a small streaming state
//! machine that skips block payloads by counting bytes.

mod client;
mod summary;

use std::io;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use argh::FromArgs;
use mio::{Events, Poll};
use slab::Slab;

use crate::url::{parse_url, Target};
use client::{Client, Phase, Shared};
use summary::{Summary, Window};

/// Opens many concurrent HTTP viewers on a live mkvcast stream (loopback
/// only) and reports how many the server held.
#[derive(FromArgs)]
#[argh(subcommand, name = "load")]
pub struct Args {
    /// stream URL: http://HOST[:PORT]/PATH with HOST 127.0.0.0/8, ::1 or
    /// localhost; a `{i}` in it is replaced by 0..--paths, viewer k taking
    /// path k % --paths (many mounts from one loop)
    #[argh(positional)]
    url: String,
    /// how many URLs the `{i}` pattern gives (default 1; needs `{i}` above 1)
    #[argh(option, default = "1")]
    paths: usize,
    /// viewers to open (default 100)
    #[argh(option, default = "100")]
    clients: usize,
    /// new connections per second during the ramp (default 200)
    #[argh(option, default = "200.0")]
    rate: f64,
    /// seconds to keep every viewer after the ramp (default 30, max 3600)
    #[argh(option, default = "30.0")]
    duration: f64,
    /// refuse to open more connections than this (default 20000)
    #[argh(option, default = "20000")]
    max_clients: usize,
    /// print the summary as one JSON object on stdout (text goes to stderr)
    #[argh(switch)]
    json: bool,
    /// the stream's cluster interval in ms, for stall detection (default:
    /// estimated from cluster timestamps, 1000 until known)
    #[argh(option)]
    cluster_interval_ms: Option<u64>,
    /// size of the shared read buffer in bytes (default 65536)
    #[argh(option, default = "65536")]
    read_buf: usize,
    /// exit 1 if any viewer stalled, failed, was dropped or got invalid data
    #[argh(switch)]
    strict: bool,
}

/// Most URLs one `{i}` pattern may give.
const MAX_PATHS: usize = 10_000;
/// Longest duration accepted: a load run is a measurement, not a service.
const MAX_DURATION_S: f64 = 3600.0;
/// A gap longer than the cluster interval plus this counts as a stall.
const STALL_SLACK: Duration = Duration::from_secs(1);
/// How often a progress line goes to stderr.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Runs the mode: the summary on stdout (or JSON there and the text on
/// stderr); exit 1 for problems under `--strict`, 2 for a bad command line.
pub fn main(args: &Args) -> ExitCode {
    match run(args) {
        Ok(summary) => {
            if args.json {
                eprint!("{}", summary.text());
                println!("{}", summary.json());
            } else {
                print!("{}", summary.text());
            }
            if args.strict && !summary.clean() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("mkvcast-load: {e}");
            ExitCode::from(2)
        }
    }
}

/// Checks the options; the targets to connect to, one per path.
fn check(args: &Args) -> Result<Vec<Target>, String> {
    let targets = expand_url(&args.url, args.paths)?;
    if args.clients == 0 || args.clients > args.max_clients {
        return Err(format!(
            "--clients must be 1..={} (--max-clients)",
            args.max_clients
        ));
    }
    if !(args.rate > 0.0 && args.rate.is_finite()) {
        return Err("--rate must be positive".to_string());
    }
    if !(0.0..=MAX_DURATION_S).contains(&args.duration) {
        return Err(format!("--duration must be 0..={MAX_DURATION_S} seconds"));
    }
    if args.read_buf == 0 || args.read_buf > 16 << 20 {
        return Err("--read-buf must be 1..=16777216".to_string());
    }
    Ok(targets)
}

/// The URLs of a `{i}` pattern (`{i}` = 0..n), or the one URL when it has
/// none and n is 1.
pub fn expand_url(url: &str, n: usize) -> Result<Vec<Target>, String> {
    if !(1..=MAX_PATHS).contains(&n) {
        return Err(format!("--paths must be 1..={MAX_PATHS}"));
    }
    if n > 1 && !url.contains("{i}") {
        return Err("--paths above 1 needs {i} in the URL".to_string());
    }
    (0..n)
        .map(|i| parse_url(&url.replace("{i}", &i.to_string())))
        .collect()
}

/// A run in progress.
struct Run<'a> {
    args: &'a Args,
    targets: Vec<Target>,
    duration: Duration,
    shared: Shared,
    poll: Poll,
    clients: Slab<Client>,
    start: Instant,
    /// Set when the last viewer was opened: the measurement window starts
    /// (and the bytes received until then).
    window: Option<(Instant, u64)>,
    next_progress: Instant,
}

/// Opens viewers at the ramp rate, runs them for the duration, and
/// returns the summary.
fn run(args: &Args) -> Result<Summary, String> {
    let targets = check(args)?;
    let mut r = Run::new(args, targets)?;
    let mut events = Events::with_capacity(1024);
    while let Some(timeout) = r.turn(Instant::now()) {
        match r.poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("poll: {e}")),
        }
        for event in events.iter() {
            if let Some(client) = r.clients.get_mut(event.token().0) {
                client.on_ready(&mut r.shared);
            }
        }
    }
    Ok(r.finish())
}

impl<'a> Run<'a> {
    fn new(args: &'a Args, targets: Vec<Target>) -> Result<Self, String> {
        let shared = Shared {
            requests: (targets.iter())
                .map(|t| {
                    format!(
                        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: mkvcast-load\r\nAccept: */*\r\n\r\n",
                        t.path, t.host
                    )
                    .into_bytes()
                })
                .collect(),
            read_buf: vec![0; args.read_buf],
            total_bytes: 0,
            fixed_interval_ms: args.cluster_interval_ms,
            observed_interval_ms: 0,
            start: Instant::now(),
            stall_starts: Vec::new(),
        };
        let start = shared.start;
        Ok(Run {
            args,
            targets,
            duration: Duration::from_secs_f64(args.duration),
            shared,
            poll: Poll::new().map_err(|e| format!("cannot create poll: {e}"))?,
            clients: Slab::with_capacity(args.clients),
            start,
            window: None,
            next_progress: start + PROGRESS_EVERY,
        })
    }

    /// Opens the viewers that are due and reports progress; how long to
    /// poll, or `None` when the window is over.
    fn turn(&mut self, now: Instant) -> Option<Duration> {
        let args = self.args;
        if self.clients.len() < args.clients {
            let due = ((now - self.start).as_secs_f64() * args.rate) as usize + 1;
            while self.clients.len() < due.min(args.clients) {
                let path = self.clients.len() % self.targets.len();
                let addr = self.targets.get(path).map(|t| t.addr);
                if let Some(addr) = addr {
                    Client::open(&mut self.clients, &self.poll, addr, path);
                }
            }
            if self.clients.len() == args.clients {
                self.window = Some((Instant::now(), self.shared.total_bytes));
            }
        }
        let wake = match self.window {
            Some((opened, _)) if now >= opened + self.duration => return None,
            Some((opened, _)) => opened + self.duration,
            None => self.start + Duration::from_secs_f64(self.clients.len() as f64 / args.rate),
        };
        if now >= self.next_progress {
            self.next_progress += PROGRESS_EVERY;
            self.progress(now);
        }
        Some(wake.min(self.next_progress).saturating_duration_since(now))
    }

    fn progress(&self, now: Instant) {
        let live = self
            .clients
            .iter()
            .filter(|(_, c)| c.phase == Phase::Body)
            .count();
        eprintln!(
            "mkvcast-load: {:5.1} s, {} opened, {live} streaming, {:.1} MB received",
            (now - self.start).as_secs_f64(),
            self.clients.len(),
            self.shared.total_bytes as f64 / 1e6
        );
    }

    /// Ends every viewer (a last stall check) and sums up.
    fn finish(mut self) -> Summary {
        let end = Instant::now();
        let (opened, window_start_bytes) = self.window.unwrap_or((end, 0));
        let threshold = self.shared.stall_threshold();
        for (_, client) in self.clients.iter_mut() {
            client.finish(end, threshold, &mut self.shared);
        }
        let window = Window {
            ramp: opened - self.start,
            window: end - opened,
            bytes: self.shared.total_bytes - window_start_bytes,
        };
        Summary::new(self.args, &self.clients, &self.shared, window)
    }
}

#[cfg(test)]
mod tests {
    use super::expand_url;

    #[test]
    fn a_pattern_gives_one_url_per_path() {
        let t = expand_url("http://127.0.0.1:9/m{i}", 3).unwrap();
        let paths: Vec<&str> = t.iter().map(|t| t.path.as_str()).collect();
        assert_eq!(paths, ["/m0", "/m1", "/m2"]);
        assert_eq!(
            expand_url("http://127.0.0.1:9/live", 1).unwrap()[0].path,
            "/live"
        );
        assert!(expand_url("http://127.0.0.1:9/live", 2).is_err());
        assert!(expand_url("http://127.0.0.1:9/m{i}", 0).is_err());
        assert!(expand_url("http://10.0.0.1/m{i}", 2).is_err());
    }
}
