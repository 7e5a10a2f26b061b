//! Changing the mounts of a running server (SIGHUP re-reading the config
//! file, in `main`): the caller opens new inputs and sends a
//! [`Reconfigure`] through a [`Control`]; the loop applies it between
//! events. A kept mount keeps its source and viewers; a replaced or
//! removed one ends its viewers after their queued data.

use std::collections::BTreeSet;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mio::Waker;

use super::config::MountOptions;
use super::respond::Reason;
use super::setup::MountSetup;
use super::Server;

/// What a reload changes.
#[derive(Default)]
pub struct Reconfigure {
    /// Mounts whose path and source stay: their new settings apply to
    /// connections from now on.
    pub keep: Vec<(String, MountOptions)>,
    /// Mounts whose source changed: the old one ends, this one starts.
    pub replace: Vec<MountSetup>,
    /// New mounts.
    pub add: Vec<MountSetup>,
    /// Paths of mounts that end.
    pub remove: Vec<String>,
    /// The mount a media request to `/` gets.
    pub default_mount: Option<String>,
}

/// The caller's handle for changing a running server's mounts.
#[derive(Clone)]
pub struct Control {
    tx: Sender<Reconfigure>,
    waker: Arc<Waker>,
    /// Paths of pulled mounts whose input ended (a reload restarts them).
    ended: Arc<Mutex<BTreeSet<String>>>,
}

impl Control {
    /// Hands `change` to the loop. Fails only once the server is gone.
    pub fn send(&self, change: Reconfigure) -> std::io::Result<()> {
        self.tx
            .send(change)
            .map_err(|_| std::io::Error::other("the server has stopped"))?;
        self.waker.wake()
    }

    /// Pulled mounts whose input has ended, by path.
    pub fn ended_mounts(&self) -> BTreeSet<String> {
        self.ended.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Records that the input of the mount at `path` ended (or, with
    /// `false`, that the path has a running input again).
    pub(super) fn set_ended(&self, path: &str, ended: bool) {
        if let Ok(mut s) = self.ended.lock() {
            if ended {
                s.insert(path.to_string());
            } else {
                s.remove(path);
            }
        }
    }
}

/// The loop's end of [`Control`].
pub(super) fn channel(waker: Arc<Waker>) -> (Control, Receiver<Reconfigure>) {
    let (tx, rx) = mpsc::channel();
    let ended = Arc::default();
    (Control { tx, waker, ended }, rx)
}

impl Server {
    /// A handle to change this server's mounts while it runs.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Applies every change the caller sent.
    pub(super) fn drain_control(&mut self) {
        while let Ok(change) = self.control_rx.try_recv() {
            self.reconfigure(change);
        }
    }

    fn reconfigure(&mut self, change: Reconfigure) {
        let now = Instant::now();
        for path in change
            .remove
            .iter()
            .chain(change.replace.iter().map(|m| &m.path))
        {
            if let Some(m) = self.mounts.at(path) {
                self.remove_mount(m, now);
            }
        }
        for (path, options) in change.keep {
            if let Some(mount) = self.mounts.at(&path).and_then(|m| self.mounts.get_mut(m)) {
                mount.set_options(options);
            }
        }
        for setup in change.replace.into_iter().chain(change.add) {
            log::info!("mount {} added", setup.path);
            self.control.set_ended(&setup.path, false);
            self.mounts.insert(setup.into_mount());
        }
        self.mounts.set_default(change.default_mount);
        self.drain_input();
    }

    /// Ends mount `m`: viewers get the rest of their queue, a publisher
    /// is closed, an input thread is told to stop.
    fn remove_mount(&mut self, m: usize, now: Instant) {
        self.end_viewers(m, now);
        let publisher = self
            .mounts
            .get(m)
            .and_then(|x| x.ingest())
            .and_then(|i| i.live());
        if let Some(key) = publisher {
            self.close(key, Reason::Done);
        }
        // HEADs waiting for the stream hold the key too: a later mount
        // may reuse it.
        let holders: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.mount == Some(m))
            .map(|(k, _)| k)
            .collect();
        for key in holders {
            self.close(key, Reason::Done);
        }
        if let Some(mount) = self.mounts.remove(m) {
            mount.stream.input_stats.request_stop();
            self.control.set_ended(&mount.path, false);
            log::info!("mount {} removed", mount.path);
        }
    }
}
