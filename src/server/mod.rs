//! The event loop: one mio `Poll` accepts connections, reads requests and
//! writes every viewer's queue of shared clusters without blocking, as in
//! mio's `tcp_server` example (a `Token` per connection, drain until
//! `WouldBlock`). The input thread hands over clusters through a channel
//! and a `Waker`; the caller stops the loop through a [`Shutdown`].
//!
//! The files split the loop by what it is doing: `accept`, `request`
//! (reading and routing a request), `respond` (queues, writes, closes),
//! `fanout` (input events to viewers), `timeouts`, `admin` (status pages).

mod accept;
mod admin;
pub(crate) mod body;
mod client;
mod config;
#[cfg_attr(not(test), allow(dead_code))]
mod credentials;
mod fanout;
mod flush;
mod http;
mod listen;
#[cfg_attr(not(test), allow(dead_code))]
mod negotiate;
#[cfg_attr(not(test), allow(dead_code))]
mod proxy;
mod request;
mod respond;
mod shutdown;
mod slots;
mod status;
mod stream;
#[cfg_attr(not(test), allow(dead_code))]
mod throttle;
mod timeouts;

#[cfg(test)]
mod tests;

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

use crate::error::Error;
use crate::publisher::QueueLimits;
use crate::time::Nanos;
use client::Conn;
pub use config::Config;
use flush::FlushQueue;
pub use listen::{bind, poll_and_waker};
pub use shutdown::Shutdown;
use slots::ViewerSlots;
use status::Counters;
use stream::Stream;
pub use stream::StreamInput;

pub(crate) const WAKER: Token = Token(usize::MAX);
const ADMIN: Token = Token(usize::MAX - 1);
/// Listener `i` has token `LISTENER_BASE - i`.
const LISTENER_BASE: usize = usize::MAX - 2;
/// How often timeouts are checked while there are connections.
const TICK: Duration = Duration::from_millis(250);

/// The listening sockets, bound by the caller (so a port in use is its
/// error, before any thread starts).
pub struct Listeners {
    /// Where viewers connect.
    pub stream: Vec<TcpListener>,
    /// Where the status page and metrics are served, if anywhere.
    pub admin: Option<TcpListener>,
}

/// The HTTP side of mkvcast.
pub struct Server {
    poll: Poll,
    listeners: Vec<TcpListener>,
    admin: Option<TcpListener>,
    conns: Slab<Conn>,
    stream: Stream,
    config: Config,
    limits: QueueLimits,
    slots: ViewerSlots,
    /// Connections still reading their request.
    pending: usize,
    /// The caller's trigger, from [`Server::run`].
    shutdown: Option<Shutdown>,
    shutting_down: bool,
    drain_deadline: Option<Instant>,
    accept_paused_until: Option<Instant>,
    scratch: Vec<u8>,
    /// Kept so the eventfd outlives the input thread: if the last `Waker`
    /// dropped with it, its final wake-up would be lost with the fd.
    _waker: Arc<Waker>,
    counters: Counters,
    started: Instant,
    /// Time and bytes sent at the last summary line.
    last_report: (Instant, u64),
    /// Where to tell people to point a player.
    public_url: String,
    /// Viewers with newly queued data, by when they are to be written.
    flushes: FlushQueue,
}

impl Server {
    /// A server on `poll` (whose waker is `waker`, the one the input thread
    /// and `shutdown` wake it with), serving `input`.
    pub fn new(
        poll: Poll,
        waker: Arc<Waker>,
        listeners: Listeners,
        input: StreamInput,
        config: Config,
    ) -> io::Result<Self> {
        let Listeners {
            stream: mut listeners,
            mut admin,
        } = listeners;
        if let Some(a) = admin.as_mut() {
            poll.registry().register(a, ADMIN, Interest::READABLE)?;
        }
        for (i, l) in listeners.iter_mut().enumerate() {
            poll.registry()
                .register(l, Token(LISTENER_BASE - i), Interest::READABLE)?;
        }
        let public_url = listeners
            .first()
            .and_then(|l| l.local_addr().ok())
            .map(listen::reachable_url)
            .unwrap_or_default();
        let limits = QueueLimits {
            max_media: Nanos::from_millis(config.client_queue_ms),
            max_bytes: config.client_queue_bytes,
        };
        let now = Instant::now();
        Ok(Server {
            poll,
            listeners,
            admin,
            conns: Slab::with_capacity(64),
            stream: Stream::new(input, config.buffer_ms, config.burst_bytes),
            flushes: FlushQueue::new(config.flush),
            limits,
            config,
            slots: ViewerSlots::default(),
            pending: 0,
            shutdown: None,
            shutting_down: false,
            drain_deadline: None,
            accept_paused_until: None,
            scratch: vec![0u8; 16 << 10],
            _waker: waker,
            counters: Counters::default(),
            started: now,
            last_report: (now, 0),
            public_url,
        })
    }

    /// The address of the first stream listener (useful with port 0).
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.listeners.first().and_then(|l| l.local_addr().ok())
    }

    /// Serves until the input has ended (or `shutdown` was triggered) and
    /// every viewer has its data. `shutdown` must wake this server's poll
    /// (made from the waker of [`poll_and_waker`]); the caller keeps clones
    /// to trigger, as mini-redis's `server::run(listener, shutdown)` takes
    /// its shutdown signal. `Err` carries the reason for a non-zero exit:
    /// the loop failed, or the input failed before any stream.
    pub fn run(mut self, shutdown: Shutdown) -> Result<(), Error> {
        self.shutdown = Some(shutdown);
        let mut events = Events::with_capacity(1024);
        let mut last_tick = Instant::now();
        loop {
            if let Err(e) = self.poll.poll(&mut events, self.poll_timeout()) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::Poll(e));
            }
            for event in events.iter() {
                self.dispatch(event.token(), event.is_readable(), event.is_writable());
            }
            let now = Instant::now();
            self.flush_some(now);
            if now.duration_since(last_tick) >= TICK {
                last_tick = now;
                self.tick(now);
            }
            if self.finished() {
                break;
            }
        }
        self.close_all(respond::Reason::Shutdown);
        match self.stream.take_failure() {
            Some(reason) => Err(Error::Input(reason)),
            None => Ok(()),
        }
    }

    /// Polls at once while writes are batched, sleeps while there is
    /// nothing to time out, and ticks otherwise.
    fn poll_timeout(&self) -> Option<Duration> {
        let now = Instant::now();
        if let Some(due) = self.flushes.next_due() {
            Some(due.saturating_duration_since(now).min(TICK))
        } else if self.conns.is_empty()
            && !self.stream.is_ended()
            && self.accept_paused_until.is_none()
        {
            None
        } else {
            Some(TICK)
        }
    }

    fn dispatch(&mut self, token: Token, readable: bool, writable: bool) {
        match token {
            WAKER => {
                let requested = self.shutdown.as_ref().is_some_and(Shutdown::is_requested);
                if requested && !self.shutting_down {
                    self.begin_shutdown();
                }
                self.drain_input();
            }
            ADMIN => self.accept(None),
            Token(t) if t > LISTENER_BASE - self.listeners.len() && t <= LISTENER_BASE => {
                self.accept(Some(LISTENER_BASE - t))
            }
            Token(key) => self.conn_event(key, readable, writable),
        }
    }

    /// The input ended (or a shutdown came) and no client has data left.
    fn finished(&self) -> bool {
        (self.stream.is_ended() || self.shutting_down)
            && self.conns.iter().all(|(_, c)| c.is_idle())
    }
}
