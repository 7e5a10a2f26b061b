//! The caller's way to stop a running server, as mini-redis passes a
//! shutdown future into `server::run`: the library never installs signal
//! handlers or exits the process; `main` does, and pulls this trigger.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use mio::Waker;

/// A flag plus the event loop's waker. Cloned freely; any clone stops the
/// server: it stops accepting, gives viewers the drain timeout to take what
/// is queued, then returns from [`Server::run`](super::Server::run).
#[derive(Debug, Clone)]
pub struct Shutdown {
    requested: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl Shutdown {
    /// A trigger for the loop that owns `waker`.
    pub fn new(waker: Arc<Waker>) -> Self {
        Shutdown {
            requested: Arc::new(AtomicBool::new(false)),
            waker,
        }
    }

    /// Asks the server to drain and stop; returns whether it had already
    /// been asked (so a caller can treat a second request as "now").
    pub fn trigger(&self) -> io::Result<bool> {
        let already = self.requested.swap(true, Ordering::SeqCst);
        self.waker.wake()?;
        Ok(already)
    }

    /// Whether a shutdown was asked for.
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }
}
