//! The application's errors: what makes `mkvcast` exit non-zero, each with
//! the one line it prints.

use std::fmt;
use std::io;

use crate::config::ConfigError;
use crate::input::{InputError, InputFailure};

/// Why the server could not start or stopped with a failure.
#[derive(Debug)]
pub enum Error {
    /// A bad command line or configuration.
    Usage(String),
    /// A socket could not be bound, or the poll could not be set up.
    Listen(io::Error),
    /// The event loop's poll failed.
    Poll(io::Error),
    /// The input could not be opened.
    Open(InputError),
    /// The input failed before any stream was served.
    Input(InputFailure),
    /// The configuration file (or a `--mount`/`--ingest`) is wrong.
    Config(ConfigError),
    /// A mount's input could not be opened at start.
    Mount(String, InputError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(s) => write!(f, "{s}"),
            Error::Open(e) => write!(f, "{e}"),
            Error::Input(e) => write!(f, "{e}"),
            Error::Listen(e) => write!(f, "{e}"),
            Error::Poll(e) => write!(f, "poll failed: {e}"),
            Error::Config(e) => write!(f, "{e}"),
            Error::Mount(path, e) => write!(f, "mount {path}: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Listen(e) | Error::Poll(e) => Some(e),
            Error::Open(e) | Error::Mount(_, e) => Some(e),
            Error::Input(e) => Some(e),
            Error::Config(e) => Some(e),
            Error::Usage(_) => None,
        }
    }
}
