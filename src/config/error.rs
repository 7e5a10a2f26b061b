//! Configuration errors: each a single line that says where (file, TOML
//! line and column, mount, key) and what is wrong, since an operator reads
//! them in a log.

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::PathBuf;

use toml::de::{DeTable, DeValue};

use super::raw::TOP_LEVEL_KEYS;
use super::PathError;

/// Why a configuration (file or arguments) was rejected.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read.
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// An error in the named file.
    File {
        /// The file.
        file: PathBuf,
        /// The error in its text.
        error: Box<ConfigError>,
    },
    /// Malformed TOML, an unknown key or a value of the wrong type.
    Toml {
        /// 1-based line and column, when the TOML layer gives a position.
        at: Option<(usize, usize)>,
        /// The path of the `[[mount]]` it is in, if any and known.
        mount: Option<String>,
        /// The key it is at, if known.
        key: Option<String>,
        /// The TOML layer's message.
        message: String,
    },
    /// Well-formed but breaks a rule.
    Invalid {
        /// The path of the mount it is in (`None`: top level).
        mount: Option<String>,
        /// The key at fault.
        key: &'static str,
        /// What is wrong.
        problem: Problem,
    },
    /// A bad `--mount` or `--ingest` argument.
    Arg {
        /// The option (`--mount`).
        option: &'static str,
        /// The argument as given.
        arg: String,
        /// What is wrong.
        problem: Problem,
    },
}

/// A broken configuration rule; `Display` says which, in a few words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A bad mount path.
    Path(PathError),
    /// Neither `input` nor `push = true`.
    NoSource,
    /// Both `input` and `push = true`.
    BothSources,
    /// A push-only key on a pulled mount.
    PushOnly,
    /// `loop = true` on a mount whose input is not a file.
    LoopNeedsFile,
    /// A count that must be at least 1 is 0.
    Zero,
    /// More mounts than `max_mounts`.
    TooManyMounts {
        /// Mounts configured.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// No mount is configured.
    NoMounts,
    /// `default_mount` names a path no mount has.
    NoSuchMount(String),
    /// `auth = "none"` with an empty `allow_from`.
    OpenPush,
    /// `user`/`password` with `auth = "none"`.
    CredentialsWithoutAuth,
    /// An `allow_from` entry that is not `addr` or `addr/len`.
    BadCidr(String),
    /// A mount path configured twice.
    Duplicate,
    /// More than one mount reads stdin.
    StdinTwice,
    /// An input the input layer rejects (its message).
    BadInput(String),
    /// An empty string where a value is needed.
    Empty,
    /// A `--mount` argument without `=`.
    NoEquals,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Path(e) => write!(f, "{e}"),
            Problem::NoSource => write!(
                f,
                "needs `input` (a file, \"-\" or an http:// URL) or `push = true`"
            ),
            Problem::BothSources => write!(
                f,
                "`input` and `push = true` together: a mount is pulled or pushed, not both"
            ),
            Problem::PushOnly => write!(f, "only a push mount (push = true) takes this key"),
            Problem::LoopNeedsFile => write!(
                f,
                "only a file input can loop (stdin, URLs and encoders cannot start again)"
            ),
            Problem::Zero => write!(f, "must be at least 1"),
            Problem::TooManyMounts { count, max } => {
                write!(f, "{count} mounts configured, more than max_mounts = {max}")
            }
            Problem::NoMounts => write!(f, "no [[mount]] configured: nothing to serve"),
            Problem::NoSuchMount(p) => write!(f, "{p:?} is not the path of any mount"),
            Problem::OpenPush => write!(
                f,
                "auth = \"none\" needs a non-empty allow_from: otherwise anyone can publish"
            ),
            Problem::CredentialsWithoutAuth => {
                write!(f, "user/password given with auth = \"none\"")
            }
            Problem::BadCidr(s) => write!(f, "{s:?} is not an address or address/prefix-length"),
            Problem::Duplicate => write!(f, "this path is configured twice"),
            Problem::StdinTwice => write!(f, "stdin (\"-\") can feed one mount only"),
            Problem::BadInput(e) => write!(f, "{e}"),
            Problem::Empty => write!(f, "is empty"),
            Problem::NoEquals => write!(f, "expected PATH=INPUT"),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { file, error } => {
                write!(f, "cannot read {}: {error}", file.display())
            }
            ConfigError::File { file, error } => write!(f, "{}: {error}", file.display()),
            ConfigError::Toml {
                at,
                mount,
                key,
                message,
            } => {
                if let Some((line, column)) = at {
                    write!(f, "line {line}, column {column}: ")?;
                }
                where_(f, mount.as_deref(), key.as_deref())?;
                write!(f, "{message}")
            }
            ConfigError::Invalid {
                mount,
                key,
                problem,
            } => {
                where_(f, mount.as_deref(), Some(key))?;
                write!(f, "{problem}")
            }
            ConfigError::Arg {
                option,
                arg,
                problem,
            } => write!(f, "{option} {arg:?}: {problem}"),
        }
    }
}

/// `mount "/cam": `key`: `, the parts that are known. Paths print quoted
/// and escaped: a bad one may hold control characters.
fn where_(f: &mut fmt::Formatter<'_>, mount: Option<&str>, key: Option<&str>) -> fmt::Result {
    if let Some(m) = mount {
        write!(f, "mount {m:?}: ")?;
    }
    if let Some(k) = key {
        write!(f, "`{k}`: ")?;
    }
    Ok(())
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read { error, .. } => Some(error),
            ConfigError::File { error, .. } => Some(&**error),
            _ => None,
        }
    }
}

impl ConfigError {
    /// Turns a TOML error into one line, with the position, mount and key
    /// found from its span (toml's own `Display` is a multi-line snippet).
    pub(super) fn from_toml(text: &str, error: &toml::de::Error) -> ConfigError {
        let span = error.span();
        let (mount, key) = span
            .as_ref()
            .map_or((None, None), |s| locate(text, s.start));
        let mut message = error.message().trim_end().replace('\n', "; ");
        let misplaced = key.as_deref().is_some_and(|k| TOP_LEVEL_KEYS.contains(&k));
        if mount.is_some() && misplaced && message.starts_with("unknown field") {
            message.push_str(" (a top-level key: write it before the first [[mount]])");
        }
        ConfigError::Toml {
            at: span.and_then(|s| line_column(text, s.start)),
            mount,
            key,
            message,
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, at: usize) -> Option<(usize, usize)> {
    let before = text.get(..at)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..)?.chars().count() + 1;
    Some((before.matches('\n').count() + 1, column))
}

/// The `[[mount]]` (by its path) and the key a byte offset falls in, from a
/// spanned parse of the text (which parsed as TOML, or there would be no
/// key errors to place).
fn locate(text: &str, at: usize) -> (Option<String>, Option<String>) {
    let Ok(doc) = DeTable::parse(text) else {
        return (None, None);
    };
    for (key, value) in doc.get_ref().iter() {
        let name = key.get_ref().as_ref();
        if let (true, DeValue::Array(mounts)) = (name == "mount", value.get_ref()) {
            for m in mounts.iter() {
                let DeValue::Table(table) = m.get_ref() else {
                    continue;
                };
                let key = key_at(table, at);
                if key.is_some() || within(&m.span(), at) {
                    let path = table
                        .iter()
                        .find(|(k, _)| k.get_ref().as_ref() == "path")
                        .and_then(|(_, v)| v.get_ref().as_str().map(str::to_string));
                    return (path, key);
                }
            }
        }
        if within(&key.span(), at) || within(&value.span(), at) {
            return (None, Some(name.to_string()));
        }
    }
    (None, None)
}

/// The key of `table` whose name or value holds the offset.
fn key_at(table: &DeTable<'_>, at: usize) -> Option<String> {
    table
        .iter()
        .find(|(k, v)| within(&k.span(), at) || within(&v.span(), at))
        .map(|(k, _)| k.get_ref().to_string())
}

fn within(span: &Range<usize>, at: usize) -> bool {
    span.contains(&at) || (span.is_empty() && span.start == at)
}
