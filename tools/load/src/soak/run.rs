//! A soak run in progress: the viewers, how they join, read, leave and are
//! counted.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::{Events, Poll};
use mkvcast_testkit::stream_check::StreamCheck;
use mkvcast_testkit::Rng;
use slab::Slab;

use super::client::{Client, Kind, Pumped};
use super::{Config, Finish, Summary, GOOD_SILENCE, SLOW_RCVBUF, TICK};
use crate::conn;

pub struct Run<'a> {
    cfg: &'a Config,
    poll: Poll,
    clients: Slab<Client>,
    summary: Summary,
    rng: Rng,
    request: Vec<u8>,
    addr: SocketAddr,
    /// The read buffer all viewers share.
    buf: Vec<u8>,
    /// Reached `--clients` once: churn starts.
    ramped: bool,
    /// Leaves (and joins) owed to `--churn`.
    churn_credit: f64,
}

impl<'a> Run<'a> {
    pub fn new(cfg: &'a Config) -> Result<Self, String> {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1;
        let summary = Summary {
            min_live_after_ramp: u64::MAX,
            ..Summary::default()
        };
        Ok(Run {
            cfg,
            poll: Poll::new().map_err(|e| e.to_string())?,
            clients: Slab::with_capacity(cfg.clients + 64),
            summary,
            rng: Rng(seed),
            request: format!(
                "GET {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUser-Agent: soak_clients\r\n\r\n",
                cfg.path, cfg.port
            )
            .into_bytes(),
            addr: SocketAddr::from(([127, 0, 0, 1], cfg.port)),
            buf: vec![0u8; 256 << 10],
            ramped: false,
            churn_credit: 0.0,
        })
    }

    pub fn poll(&mut self, events: &mut Events, timeout: Duration) -> Result<(), String> {
        self.poll
            .poll(events, Some(timeout))
            .map_err(|e| format!("poll: {e}"))
    }

    /// Connects, sends and (well-behaved viewers) reads on readiness.
    pub fn on_events(&mut self, events: &Events, now: Instant) {
        let mut done = Vec::new();
        for ev in events.iter() {
            let key = ev.token().0;
            if let Some(c) = self.clients.get_mut(key) {
                if let Some(how) = c.on_event(ev, &self.request, &mut self.buf, now) {
                    done.push((key, how));
                }
            }
        }
        self.finish_all(&mut done);
    }

    /// Once per [`TICK`]: slow viewers and stoppers read, silent viewers
    /// are checked, churn, and joins up to `--clients`.
    pub fn tick(&mut self, now: Instant) {
        self.read_slow(now);
        self.check_silent(now);
        self.churn(now);
        // Top up to the target (ramp, and replacing closed stoppers).
        let per_tick_joins = (self.cfg.ramp_rate as usize / 10).max(1);
        let missing = self.cfg.clients.saturating_sub(self.clients.len());
        for _ in 0..per_tick_joins.min(missing) {
            self.open(now);
        }
    }

    /// Slow viewers read their allowance; stoppers read unless paused.
    fn read_slow(&mut self, now: Instant) {
        let per_tick = self.cfg.slow_rate / 10;
        let mut done = Vec::new();
        for (key, c) in self.clients.iter_mut() {
            let limit = match c.kind {
                Kind::Good => continue,
                Kind::Slow => {
                    c.budget = (c.budget + per_tick).min(per_tick * 20);
                    c.budget
                }
                Kind::Stopper if now >= c.pause.0 && now < c.pause.1 => {
                    c.last_data = now;
                    continue;
                }
                Kind::Stopper => u64::MAX,
            };
            let before = c.bytes;
            let state = c.pump(&mut self.buf, limit, now);
            if c.kind == Kind::Slow {
                c.budget = c.budget.saturating_sub(c.bytes - before);
            }
            if let Some(how) = state.finish() {
                done.push((key, how));
            }
        }
        self.finish_all(&mut done);
    }

    /// Good viewers that went silent (edge-triggered: poll them too).
    fn check_silent(&mut self, now: Instant) {
        let silent: Vec<usize> = self
            .clients
            .iter()
            .filter(|(_, c)| c.kind == Kind::Good && now - c.last_data > GOOD_SILENCE)
            .map(|(k, _)| k)
            .collect();
        for key in silent {
            let c = &mut self.clients[key];
            match c.pump(&mut self.buf, u64::MAX, now) {
                Pumped::Open if now - c.last_data > GOOD_SILENCE * 2 => {
                    let s = now - c.last_data;
                    self.finish(key, Finish::Failed(format!("no data for {s:?}")));
                }
                Pumped::Open => {}
                Pumped::Eof => self.finish(key, Finish::Eof),
                Pumped::Failed(e) => self.finish(key, Finish::Failed(e)),
            }
        }
    }

    /// Once ramped up: leave `--churn` a second, join as many.
    fn churn(&mut self, now: Instant) {
        let live = self.clients.len();
        if !self.ramped {
            self.ramped = live >= self.cfg.clients;
            return;
        }
        let s = &mut self.summary;
        s.min_live_after_ramp = s.min_live_after_ramp.min(live as u64);
        self.churn_credit += f64::from(self.cfg.churn) * TICK.as_secs_f64();
        while self.churn_credit >= 1.0 && !self.clients.is_empty() {
            self.churn_credit -= 1.0;
            let keys: Vec<usize> = self.clients.iter().map(|(k, _)| k).collect();
            let key = keys[self.rng.below(keys.len())];
            self.finish(key, Finish::Leave);
            self.open(now);
        }
    }

    fn count(&self, kind: Kind) -> usize {
        self.clients.iter().filter(|(_, c)| c.kind == kind).count()
    }

    /// Opens a viewer: slow ones first, then stoppers, then good ones.
    fn open(&mut self, now: Instant) {
        let kind = if self.count(Kind::Slow) < self.cfg.slow {
            Kind::Slow
        } else if self.count(Kind::Stopper) < self.cfg.stoppers {
            Kind::Stopper
        } else {
            Kind::Good
        };
        let small_window = (kind != Kind::Good).then_some(SLOW_RCVBUF);
        let mut stream = match conn::connect(self.addr, small_window) {
            Ok(s) => s,
            Err(e) => {
                self.summary.connect_errors += 1;
                self.summary.problem(format!("connect: {e}"));
                return;
            }
        };
        let entry = self.clients.vacant_entry();
        if let Err(e) = conn::register(self.poll.registry(), &mut stream, entry.key()) {
            self.summary.connect_errors += 1;
            self.summary.problem(format!("register: {e}"));
            return;
        }
        let max_gap_ns = self.cfg.max_gap_ms * 1_000_000;
        let mut c = Client::new(
            stream,
            kind,
            StreamCheck::new(max_gap_ns, kind != Kind::Good),
            now,
        );
        // Stoppers read for 5–20 s, then pause.
        let pause_at = now + Duration::from_millis(5_000 + self.rng.below(15_000) as u64);
        c.pause = (pause_at, pause_at + Duration::from_secs(self.cfg.stop_s));
        entry.insert(c);
        self.summary.opened += 1;
    }

    /// Finishes the clients in `done` that are still there.
    fn finish_all(&mut self, done: &mut Vec<(usize, Finish)>) {
        for (key, how) in done.drain(..) {
            if self.clients.contains(key) {
                self.finish(key, how);
            }
        }
    }

    /// Removes a client, adding its figures to the summary.
    fn finish(&mut self, key: usize, how: Finish) {
        let mut c = self.clients.remove(key);
        let _ = self.poll.registry().deregister(&mut c.stream);
        self.count_stream(key, &c);
        let stopped = c.kind == Kind::Stopper && Instant::now() > c.pause.0;
        let invalid = c.check.error.as_ref().map(|e| e.to_string());
        let s = &mut self.summary;
        match how {
            Finish::Leave => {
                s.left += 1;
                if let Some(e) = invalid {
                    s.invalid(c.kind, key, &e);
                }
                if self.rng.below(2) == 0 {
                    // Half of the leavers reset instead of closing.
                    let _ = socket2::SockRef::from(&c.stream).set_linger(Some(Duration::ZERO));
                }
            }
            Finish::Eof => match invalid {
                Some(e) => s.invalid(c.kind, key, &e),
                None if stopped => s.stoppers_closed += 1,
                None => {
                    s.unexpected_closes += 1;
                    s.problem(format!(
                        "{:?} viewer {key} closed by the server after {:.1} s, {} bytes",
                        c.kind,
                        c.opened.elapsed().as_secs_f64(),
                        c.bytes
                    ));
                }
            },
            Finish::Failed(e) if invalid.is_some() => s.invalid(c.kind, key, &e),
            // A reset after the server gave up on it.
            Finish::Failed(_) if stopped => s.stoppers_closed += 1,
            Finish::Failed(e) => {
                s.unexpected_closes += 1;
                s.problem(format!("{:?} viewer {key}: {e}", c.kind));
            }
            Finish::End => {
                if let Some(e) = invalid {
                    s.invalid(c.kind, key, &e);
                }
            }
        }
    }

    /// Adds what a finished viewer received and how continuous it was.
    fn count_stream(&mut self, key: usize, c: &Client) {
        let s = &mut self.summary;
        s.bytes += c.bytes;
        s.clusters += c.check.clusters;
        if c.kind != Kind::Good {
            s.slow_skips += c.check.gaps;
            return;
        }
        s.good_gaps += c.check.gaps;
        let silence = c.longest_silence.max(Instant::now() - c.last_data);
        s.max_good_silence_ms = s.max_good_silence_ms.max(silence.as_millis() as u64);
        if silence > GOOD_SILENCE {
            s.good_stalls += 1;
            s.problem(format!(
                "good viewer {key} got no data for {silence:?} ({} bytes)",
                c.bytes
            ));
        }
    }

    pub fn progress(&self, elapsed: Duration) {
        let s = &self.summary;
        eprintln!(
            "soak_clients: {:4.0} s: {} live ({} slow, {} stoppers), {} opened, {} left, {} stoppers closed, \
             {} unexpected closes, invalid {}/{}, good gaps {}, slow skips {}",
            elapsed.as_secs_f64(),
            self.clients.len(),
            self.count(Kind::Slow),
            self.count(Kind::Stopper),
            s.opened,
            s.left,
            s.stoppers_closed,
            s.unexpected_closes,
            s.invalid_good,
            s.invalid_other,
            s.good_gaps,
            s.slow_skips
        );
    }

    /// Ends the run: every viewer still there is counted.
    pub fn end(mut self, start: Instant) -> Summary {
        self.summary.live_at_end = self.clients.len() as u64;
        if self.summary.min_live_after_ramp == u64::MAX {
            self.summary.min_live_after_ramp = 0;
            let p = format!("never reached {} live viewers", self.cfg.clients);
            self.summary.problem(p);
        }
        let keys: Vec<usize> = self.clients.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.finish(key, Finish::End);
        }
        self.summary.seconds = start.elapsed().as_secs_f64();
        self.summary
    }
}
