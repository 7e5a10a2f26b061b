//! What the INPUT argument names, how it is opened, and why that can fail.

use std::fmt;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::Arc;

use super::http::open_http;

/// Where the stream comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A file (or a FIFO) at this path.
    File(PathBuf),
    /// Standard input (`-`).
    Stdin,
    /// An `http://` URL, fetched with one GET and reconnected when it ends.
    Http {
        /// Host name or IP address (IPv6 without brackets).
        host: String,
        /// TCP port (80 when the URL has none).
        port: u16,
        /// Path and query, starting with `/`.
        path: String,
    },
}

/// Why an input could not be opened or read.
#[derive(Debug)]
pub enum InputError {
    /// The named file or host could not be opened or connected to.
    Open(String, io::Error),
    /// A URL of a scheme other than `http://`.
    UnsupportedUrl(String),
    /// A bad `http://` URL, or a response that is not a usable stream.
    Http(String),
    /// Reading the opened input failed.
    Read(io::Error),
    /// The input ended before a playable stream header was read.
    NoStream(String),
    /// The input thread went away without saying how the input ended.
    Stopped,
}

/// A failed input, named for the one line that reports it. The error is
/// shared so that events carrying it stay cheap to clone.
#[derive(Debug, Clone)]
pub struct InputFailure {
    /// The input as the log names it.
    pub input: String,
    /// What went wrong.
    pub error: Arc<InputError>,
}

impl fmt::Display for InputFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "input {}: {}", self.input, self.error)
    }
}

impl std::error::Error for InputFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.error)
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::Open(what, e) => write!(f, "cannot open {what}: {e}"),
            InputError::UnsupportedUrl(u) => write!(
                f,
                "unsupported input URL {u:?}: only http:// is built in (https:// needs a TLS library; put a TLS-terminating proxy in front)"
            ),
            InputError::Http(e) => write!(f, "HTTP input: {e}"),
            InputError::Read(e) => write!(f, "read error: {e}"),
            InputError::NoStream(e) => write!(f, "{e}"),
            InputError::Stopped => write!(f, "the input thread stopped"),
        }
    }
}

impl std::error::Error for InputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InputError::Open(_, e) | InputError::Read(e) => Some(e),
            _ => None,
        }
    }
}

impl Input {
    /// Parses the INPUT argument: `-` is stdin, `http://…` a URL, anything
    /// else a file path.
    pub fn parse(arg: &str) -> Result<Input, InputError> {
        if arg == "-" {
            return Ok(Input::Stdin);
        }
        if has_http_scheme(arg) {
            return parse_http_url(arg);
        }
        if arg.to_ascii_lowercase().contains("://") {
            return Err(InputError::UnsupportedUrl(arg.to_string()));
        }
        Ok(Input::File(PathBuf::from(arg)))
    }

    /// A short name for logs.
    pub fn name(&self) -> String {
        match self {
            Input::File(p) => p.display().to_string(),
            Input::Stdin => "stdin".into(),
            Input::Http { host, port, path } if host.contains(':') => {
                format!("http://[{host}]:{port}{path}")
            }
            Input::Http { host, port, path } => format!("http://{host}:{port}{path}"),
        }
    }

    /// Opens the input for reading.
    pub fn open(&self) -> Result<Reader, InputError> {
        match self {
            Input::File(p) => {
                let f = std::fs::File::open(p)
                    .map_err(|e| InputError::Open(p.display().to_string(), e))?;
                if f.metadata().map(|m| m.is_dir()).unwrap_or(false) {
                    return Err(InputError::Open(
                        p.display().to_string(),
                        io::Error::new(io::ErrorKind::InvalidInput, "is a directory"),
                    ));
                }
                Ok(Reader::File(f))
            }
            Input::Stdin => Ok(Reader::Stream(Box::new(io::stdin()))),
            Input::Http { host, port, path } => open_http(host, *port, path).map(Reader::Stream),
        }
    }
}

/// Whether `s` starts with `http://`, in any case.
fn has_http_scheme(s: &str) -> bool {
    s.get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("http://"))
}

/// Splits an `http://` URL (the scheme in any case) into an [`Input::Http`].
pub(super) fn parse_http_url(url: &str) -> Result<Input, InputError> {
    match url.get(7..) {
        Some(rest) if has_http_scheme(url) => parse_http(url, rest),
        _ => Err(InputError::Http(format!("not an http:// URL: {url:?}"))),
    }
}

/// The part of an `http://` URL after the scheme: host, optional port
/// (IPv6 hosts in brackets), path.
fn parse_http(arg: &str, rest: &str) -> Result<Input, InputError> {
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => match p.parse::<u16>() {
            Ok(p) => (h, p),
            Err(_) if authority.starts_with('[') && authority.ends_with(']') => (authority, 80),
            Err(_) => return Err(InputError::Http(format!("bad port in {arg:?}"))),
        },
        _ => (authority, 80),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(InputError::Http(format!("no host in {arg:?}")));
    }
    Ok(Input::Http {
        host: host.to_string(),
        port,
        path: path.to_string(),
    })
}

/// An opened input. A file starts again by seeking, without a new file
/// descriptor, so `--loop` cannot fail at the loop point for want of one.
pub enum Reader {
    /// An opened file: seekable, so it can loop and be read ahead.
    File(std::fs::File),
    /// Anything else (stdin, an HTTP body): read once, reopened to loop.
    Stream(Box<dyn Read + Send>),
}

impl Reader {
    /// Whether this is a regular file, whose reads never wait for data (a
    /// FIFO opened by path is a `File` too, but may).
    pub(super) fn is_regular_file(&self) -> bool {
        match self {
            Reader::File(f) => f.metadata().is_ok_and(|m| m.is_file()),
            Reader::Stream(_) => false,
        }
    }

    /// The same input from its start again, for the next `--loop` pass.
    pub(super) fn rewind(self, input: &Input) -> Result<Reader, InputError> {
        match self {
            Reader::File(mut f) => {
                io::Seek::seek(&mut f, io::SeekFrom::Start(0)).map_err(InputError::Read)?;
                Ok(Reader::File(f))
            }
            Reader::Stream(_) => input.open(),
        }
    }
}

impl Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Reader::File(f) => f.read(buf),
            Reader::Stream(r) => r.read(buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_inputs() {
        assert_eq!(Input::parse("-").unwrap(), Input::Stdin);
        assert_eq!(
            Input::parse("a.webm").unwrap(),
            Input::File("a.webm".into())
        );
        assert_eq!(
            Input::parse("http://127.0.0.1:8080/live").unwrap(),
            Input::Http {
                host: "127.0.0.1".into(),
                port: 8080,
                path: "/live".into()
            }
        );
        assert_eq!(
            Input::parse("http://example").unwrap(),
            Input::Http {
                host: "example".into(),
                port: 80,
                path: "/".into()
            }
        );
        assert_eq!(
            Input::parse("http://[::1]:9000/x").unwrap(),
            Input::Http {
                host: "::1".into(),
                port: 9000,
                path: "/x".into()
            }
        );
        assert!(matches!(
            Input::parse("https://x/"),
            Err(InputError::UnsupportedUrl(_))
        ));
        assert!(Input::parse("http://h:notaport/").is_err());
    }
}
