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
mod credentials;
mod fanout;
mod flush;
mod http;
mod ingest;
mod listen;
mod mount;
mod negotiate;
mod page;
mod proxy;
mod registry;
mod reload;
mod request;
mod respond;
mod setup;
mod shutdown;
mod slots;
mod status;
mod stream;
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
use crate::input::InputEvent;
use client::Conn;
pub use config::{Config, MountOptions};
use flush::FlushQueue;
pub use ingest::IngestAuth;
pub use listen::{bind, poll_and_waker};
pub use proxy::{Cidr, TrustedProxies};
use registry::Registry;
pub use reload::{Control, Reconfigure};
pub use setup::{MountSetup, MountSource};
pub use shutdown::Shutdown;
use slots::ViewerSlots;
use status::Counters;
pub use stream::StreamInput;
use throttle::Throttle;

pub(crate) const WAKER: Token = Token(usize::MAX);
const ADMIN: Token = Token(usize::MAX - 1);
/// Listener `i` has token `LISTENER_BASE - i`.
const LISTENER_BASE: usize = usize::MAX - 2;
/// How often timeouts are checked while there are connections.
const TICK: Duration = Duration::from_millis(250);
/// Requests one kept-alive connection may make.
const MAX_REQUESTS_PER_CONN: u32 = 100;
/// Bytes read from a socket at a time (a publisher's read buffer).
const READ_BYTES: usize = 64 << 10;

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
    mounts: Registry,
    config: Config,
    slots: ViewerSlots,
    /// Addresses whose `X-Forwarded-For` is believed.
    trusted: TrustedProxies,
    /// Failed source logins per address.
    throttle: Throttle,
    /// Connections publishing now.
    publishers: usize,
    /// Ingest bytes held outside the rings, over all publishers.
    ingest_held: usize,
    /// Events of a pushed stream on their way to its viewers (kept for
    /// its capacity).
    ingest_events: Vec<InputEvent>,
    /// Mount changes from the caller (reloads).
    control: Control,
    control_rx: std::sync::mpsc::Receiver<Reconfigure>,
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
    /// The one-input form: a server on `poll` (whose waker is `waker`,
    /// the one the input thread and `shutdown` wake it with), serving
    /// `input` at every stream path.
    pub fn new(
        poll: Poll,
        waker: Arc<Waker>,
        listeners: Listeners,
        input: StreamInput,
        config: Config,
    ) -> io::Result<Self> {
        let mount = setup::single_mount(input, config.mount.clone());
        Server::build(poll, waker, listeners, Registry::single(mount), config)
    }

    /// A server of `mounts`, each at its own path; `default_mount` is what
    /// a media request to `/` gets when no mount is at `/`.
    pub fn with_mounts(
        poll: Poll,
        waker: Arc<Waker>,
        listeners: Listeners,
        mounts: Vec<MountSetup>,
        default_mount: Option<String>,
        config: Config,
    ) -> io::Result<Self> {
        let mut registry = Registry::with_default(default_mount);
        for m in mounts {
            registry.insert(m.into_mount());
        }
        Server::build(poll, waker, listeners, registry, config)
    }

    fn build(
        poll: Poll,
        waker: Arc<Waker>,
        listeners: Listeners,
        mounts: Registry,
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
        let now = Instant::now();
        let (control, control_rx) = reload::channel(waker.clone());
        Ok(Server {
            control,
            control_rx,
            poll,
            listeners,
            admin,
            conns: Slab::with_capacity(64),
            mounts,
            flushes: FlushQueue::new(),
            trusted: TrustedProxies::default(),
            throttle: Throttle::default(),
            publishers: 0,
            ingest_held: 0,
            ingest_events: Vec::new(),
            config,
            slots: ViewerSlots::default(),
            pending: 0,
            shutdown: None,
            shutting_down: false,
            drain_deadline: None,
            accept_paused_until: None,
            scratch: vec![0u8; READ_BYTES],
            _waker: waker,
            counters: Counters::default(),
            started: now,
            last_report: (now, 0),
            public_url,
        })
    }

    /// Believes `X-Forwarded-For` from these proxies (`--trusted-proxy`).
    pub fn set_trusted_proxies(&mut self, trusted: TrustedProxies) {
        self.trusted = trusted;
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
        match self.single_failure() {
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
            && !self.single_ended()
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
                self.drain_control();
                self.drain_input();
            }
            ADMIN => self.accept(None),
            Token(t) if t > LISTENER_BASE - self.listeners.len() && t <= LISTENER_BASE => {
                self.accept(Some(LISTENER_BASE - t))
            }
            Token(key) => self.conn_event(key, readable, writable),
        }
    }

    /// The input of the one-input form ended (or a shutdown came) and no
    /// client has data left. With mounts only a shutdown ends the loop.
    fn finished(&self) -> bool {
        (self.single_ended() || self.shutting_down) && self.conns.iter().all(|(_, c)| c.is_idle())
    }

    /// The one-input form's input ended.
    fn single_ended(&self) -> bool {
        self.mounts.is_single() && self.mounts.iter().all(|(_, m)| m.stream.is_ended())
    }

    /// Why the one-input form should exit non-zero, if it should.
    fn single_failure(&mut self) -> Option<crate::input::InputFailure> {
        if !self.mounts.is_single() {
            return None;
        }
        let key = self.mounts.keys().into_iter().next()?;
        self.mounts.get_mut(key)?.stream.take_failure()
    }
}
