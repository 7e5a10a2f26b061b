//! What the input thread reports to the server, through atomics so that
//! status pages never wait for it.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

/// What the input is doing, for status pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum InputState {
    /// Reading and segmenting input.
    Reading = 0,
    /// Waiting for the wall clock to reach the next block's time.
    Paced = 1,
    /// The input ended or failed; nothing more will come.
    Ended = 2,
    /// An `http://` input dropped; waiting to connect again.
    Reconnecting = 3,
}

impl InputState {
    /// A lower-case word for status pages and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            InputState::Reading => "reading",
            InputState::Paced => "paced",
            InputState::Ended => "ended",
            InputState::Reconnecting => "reconnecting",
        }
    }
}

/// Counters the input thread updates and the server reads.
#[derive(Debug, Default)]
pub struct InputStats {
    bytes: AtomicU64,
    state: AtomicU8,
    reconnects: AtomicU64,
    /// Set by the server when the stream's mount is gone: the input
    /// thread stops at its next read.
    stop: AtomicBool,
}

impl InputStats {
    /// Bytes read from the input, over every loop and reconnection.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Times an `http://` input was connected again after it dropped.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    /// What the input is doing now.
    pub fn state(&self) -> InputState {
        match self.state.load(Ordering::Relaxed) {
            0 => InputState::Reading,
            1 => InputState::Paced,
            3 => InputState::Reconnecting,
            _ => InputState::Ended,
        }
    }

    pub(super) fn set_state(&self, s: InputState) {
        self.state.store(s as u8, Ordering::Relaxed);
    }

    pub(super) fn add_bytes(&self, n: usize) {
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Asks the input thread to stop (its mount was removed).
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Whether the input thread is to stop.
    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    pub(super) fn add_reconnect(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
    }
}
