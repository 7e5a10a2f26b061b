//! The command line's parts: its arguments, the listeners, the mounts it
//! names (or its config file names), and the signals.

pub mod args;
pub mod listen;
pub mod mounts;
pub mod signals;
