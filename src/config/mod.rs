//! Mount configuration: the `--config` TOML file, the `--mount` and
//! `--ingest` arguments, the mount path rules and what a reload changes.
//!
//! A mount is one stream at one path, pulled from an input or pushed by an
//! encoder. This module only describes mounts; the router serves them. A
//! setting left out of the file is `None` and means the command line's
//! value, so one set of defaults (the command line's) serves both.
//!
//! The file is the operator's, but request paths from the network reach
//! [`is_reserved`](crate::config::is_reserved), so nothing here may panic
//! on odd bytes.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod error;
mod path;
mod raw;
mod reload;
mod validate;

#[cfg(test)]
mod path_tests;
#[cfg(test)]
mod reload_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod validate_tests;

use std::path::Path;

pub use error::{ConfigError, Problem};
pub use path::{check_path, is_reserved, PathError, MAX_PATH_BYTES};
pub use reload::{diff, Reload};
pub use validate::validate;

/// The user name HTTP Basic expects from an encoder when a mount names
/// none: Icecast's, so encoders' defaults work.
pub const DEFAULT_SOURCE_USER: &str = "source";

/// Most mounts a file may configure unless it sets `max_mounts`.
pub const DEFAULT_MAX_MOUNTS: usize = 256;

/// Why `--config` cannot be combined with the other ways to name inputs.
pub const CONFIG_CONFLICT: &str =
    "--config cannot be combined with --mount, --ingest or an INPUT: the file lists every mount (add them as [[mount]] tables)";

/// One stream at one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// Where it is served; passes [`check_path`].
    pub path: String,
    /// Where its media comes from.
    pub source: SourceSpec,
    /// Who may push to it (push mounts only; `Basic` with no credentials,
    /// i.e. the global ones, on pull mounts).
    pub auth: Auth,
    /// Addresses allowed to push, as `addr` or `addr/len` text (push mounts
    /// only). With [`Auth::None`] only these may push (and the list is not
    /// empty); with `Basic`, a non-empty list also limits who may try.
    /// Checked for syntax here; the router parses them.
    pub allow_from: Vec<String>,
    /// Per-stream options that override the command line's.
    pub settings: MountSettings,
}

/// Where a mount's media comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// Read by the server: a file path, `-` for stdin or an `http://` URL,
    /// as given (see `Input::parse`).
    Pull(String),
    /// Sent by an encoder (Icecast-style `PUT`/`SOURCE`).
    Push,
}

/// How an encoder proves it may push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// HTTP Basic. `None` means the global value: user
    /// [`DEFAULT_SOURCE_USER`], password `--source-password` (or
    /// `source_password` in the file, or `MKVCAST_SOURCE_PASSWORD`).
    Basic {
        /// The user name, if the mount sets its own.
        user: Option<String>,
        /// The password, if the mount sets its own.
        password: Option<String>,
    },
    /// No credentials: only `allow_from` addresses may push.
    None,
}

impl Default for Auth {
    fn default() -> Auth {
        Auth::Basic {
            user: None,
            password: None,
        }
    }
}

/// Per-stream options, keyed in the file as the command line's options in
/// snake_case (`loop` for `--loop`). `None` = the command line's value (its
/// default when not given there).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MountSettings {
    /// `max_clients`: most viewers at once on this mount (not 0).
    pub max_clients: Option<usize>,
    /// `buffer_ms`: media a joiner gets at least.
    pub buffer_ms: Option<u64>,
    /// `burst_bytes`: bytes a joiner gets at least.
    pub burst_bytes: Option<usize>,
    /// `flush_ms`: longest wait before writing a viewer.
    pub flush_ms: Option<u64>,
    /// `no_pace`: publish as fast as read. Push mounts default to `true`
    /// (see [`MountSpec::no_pace`]).
    pub no_pace: Option<bool>,
    /// `loop`: start a file again at its end (file inputs only).
    pub looping: Option<bool>,
    /// `client_queue_ms`: when a slow viewer skips ahead.
    pub client_queue_ms: Option<u64>,
    /// `reconnect_timeout_ms`: how long an `http://` input keeps
    /// reconnecting.
    pub reconnect_timeout_ms: Option<u64>,
    /// `keep_attachments`: keep Attachments in the live stream.
    pub keep_attachments: Option<bool>,
    /// `source_idle_timeout_ms`: end a push source that sends nothing.
    pub source_idle_timeout_ms: Option<u64>,
    /// `source_grace_ms`: keep viewers this long after a source ends.
    pub source_grace_ms: Option<u64>,
    /// `source_wait_ms`: how long a viewer waits for a source to start.
    pub source_wait_ms: Option<u64>,
}

/// Process-wide keys of the file, read at start only (a reload that changes
/// one is named in [`Reload::globals_changed`]). `None` or empty = the
/// command line's value.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Globals {
    /// `source_password`: the password of basic-auth push mounts that set
    /// none.
    pub source_password: Option<String>,
    /// `max_clients_total`: most viewers at once over all mounts.
    pub max_clients_total: Option<usize>,
    /// `max_ingest_buffer_bytes`: most bytes buffered per push source.
    pub max_ingest_buffer_bytes: Option<usize>,
    /// `max_clients_per_ip`: most viewers from one address.
    pub max_clients_per_ip: Option<usize>,
    /// `listen`: stream listener addresses.
    pub listen: Vec<String>,
    /// `admin_listen`: the status page's address, or `off`.
    pub admin_listen: Option<String>,
    /// `trusted_proxy`: proxies whose forwarded-for headers are believed.
    pub trusted_proxy: Vec<String>,
    /// `keepalive_timeout_ms`: idle time allowed between requests.
    pub keepalive_timeout_ms: Option<u64>,
    /// `request_timeout_ms`: time allowed to send a request.
    pub request_timeout_ms: Option<u64>,
    /// `stall_timeout_ms`: close a client that takes no data this long.
    pub stall_timeout_ms: Option<u64>,
    /// `drain_timeout_ms`: time clients get on shutdown.
    pub drain_timeout_ms: Option<u64>,
}

/// A parsed and validated configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileConfig {
    /// The mounts, in file order; paths are unique.
    pub mounts: Vec<MountSpec>,
    /// The mount a media request to `/` gets when no mount is at `/`;
    /// names a configured mount. Applies again on reload (routing only).
    pub default_mount: Option<String>,
    /// Most mounts allowed (the file's count is checked against it).
    pub max_mounts: usize,
    /// Process-wide keys, read at start only.
    pub globals: Globals,
}

impl MountSpec {
    /// A pulled mount with the command line's settings.
    pub fn pull(path: &str, input: &str) -> MountSpec {
        MountSpec::new(path, SourceSpec::Pull(input.to_string()))
    }

    /// A push mount with the global credentials and the command line's
    /// settings.
    pub fn push(path: &str) -> MountSpec {
        MountSpec::new(path, SourceSpec::Push)
    }

    fn new(path: &str, source: SourceSpec) -> MountSpec {
        MountSpec {
            path: path.to_string(),
            source,
            auth: Auth::default(),
            allow_from: Vec::new(),
            settings: MountSettings::default(),
        }
    }

    /// Whether to publish unpaced, given the command line's `--no-pace`: the
    /// mount's own setting, else `true` for a push mount (an encoder is
    /// live already; pacing it again would only add delay), else the
    /// command line's.
    pub fn no_pace(&self, command_line: bool) -> bool {
        self.settings
            .no_pace
            .unwrap_or(command_line || self.source == SourceSpec::Push)
    }
}

/// Parses and validates a configuration file's text. Errors name the TOML
/// line and column when the TOML layer gives them, the mount and the key.
pub fn parse(text: &str) -> Result<FileConfig, ConfigError> {
    let cfg = raw::parse(text)?;
    validate(&cfg)?;
    Ok(cfg)
}

/// Reads and parses a configuration file; errors name the file.
pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        file: path.to_path_buf(),
        error,
    })?;
    parse(&text).map_err(|e| ConfigError::File {
        file: path.to_path_buf(),
        error: Box::new(e),
    })
}

/// Splits a `--mount PATH=INPUT` argument at its first `=` (a URL's query
/// keeps its own) and checks the path and that the input is not empty.
pub fn mount_arg(arg: &str) -> Result<(String, String), ConfigError> {
    let bad = |problem| ConfigError::Arg {
        option: "--mount",
        arg: arg.to_string(),
        problem,
    };
    let (path, input) = arg.split_once('=').ok_or_else(|| bad(Problem::NoEquals))?;
    check_path(path).map_err(|e| bad(Problem::Path(e)))?;
    if input.is_empty() {
        return Err(bad(Problem::Empty));
    }
    Ok((path.to_string(), input.to_string()))
}

/// Checks an `--ingest PATH` argument's path.
pub fn ingest_arg(arg: &str) -> Result<String, ConfigError> {
    check_path(arg).map_err(|e| ConfigError::Arg {
        option: "--ingest",
        arg: arg.to_string(),
        problem: Problem::Path(e),
    })?;
    Ok(arg.to_string())
}

/// Paths of the push mounts that use HTTP Basic and have no password from
/// anywhere: neither their own nor the global one (`global_password`, from
/// the command line or the environment, else the file's
/// `source_password`). The caller makes these a start-up error: there is
/// no default password.
pub fn missing_passwords(cfg: &FileConfig, global_password: Option<&str>) -> Vec<String> {
    let global = global_password
        .or(cfg.globals.source_password.as_deref())
        .is_some_and(|p| !p.is_empty());
    cfg.mounts
        .iter()
        .filter(|m| m.source == SourceSpec::Push)
        .filter(|m| match &m.auth {
            Auth::Basic { password, .. } => password.is_none() && !global,
            Auth::None => false,
        })
        .map(|m| m.path.clone())
        .collect()
}
