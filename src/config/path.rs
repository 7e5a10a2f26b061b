//! Mount path rules. Request paths are matched against mount paths byte
//! for byte, with no percent-decoding or normalisation, so a mount path must
//! be spelled the one way a client sends it; and names the server generates
//! under a mount (manifests, segments, the time URL) must never be a mount.

use std::fmt;

/// Longest mount path accepted, in bytes.
pub const MAX_PATH_BYTES: usize = 256;

/// Last segments the server generates under a mount (DASH manifest, HLS
/// playlist, the clock URL players sync with); segment names start with
/// `~`. See [`is_reserved`].
const GENERATED_NAMES: [&str; 3] = ["manifest.mpd", "index.m3u8", "time"];

/// Why a mount path was rejected; `Display` is the one-line reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// Does not start with `/`.
    NotAbsolute,
    /// Longer than [`MAX_PATH_BYTES`] (the length).
    TooLong(usize),
    /// Holds a control character.
    Control(char),
    /// Holds a `%`-escape, which would never match (no decoding).
    Percent,
    /// Holds `?`: a query is not part of the path.
    Query,
    /// Holds `#`: clients never send a fragment.
    Fragment,
    /// Holds a character clients percent-escape (space, non-ASCII, ...).
    Escaped(char),
    /// Holds `//` (an empty segment).
    EmptySegment,
    /// Holds a `.` or `..` segment (clients resolve them away).
    DotSegment,
    /// Ends with `/` (and is not `/`).
    TrailingSlash,
    /// A segment is a name the server generates under mounts.
    Reserved(String),
    /// `/favicon.ico`, which browsers ask every server for.
    Favicon,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::NotAbsolute => write!(f, "a mount path starts with '/'"),
            PathError::TooLong(n) => {
                write!(f, "is {n} bytes long; the most is {MAX_PATH_BYTES}")
            }
            PathError::Control(c) => write!(f, "contains the control character {c:?}"),
            PathError::Percent => write!(
                f,
                "contains '%': paths are matched exactly, without percent-decoding; write the characters themselves"
            ),
            PathError::Query => write!(f, "contains '?': a mount path has no query"),
            PathError::Fragment => write!(f, "contains '#': clients never send a fragment"),
            PathError::Escaped(c) => write!(
                f,
                "contains {c:?}, which clients send percent-escaped, so no request would match; use letters, digits and - . _ ~ ! $ & ' ( ) * + , ; = : @"
            ),
            PathError::EmptySegment => write!(f, "contains '//' (an empty segment)"),
            PathError::DotSegment => write!(
                f,
                "has a '.' or '..' segment, which clients resolve before sending"
            ),
            PathError::TrailingSlash => write!(f, "ends with '/'; write it without"),
            PathError::Reserved(s) => write!(
                f,
                "has the segment {s:?}, a name the server generates under mounts (manifest.mpd, index.m3u8, time, ~...)"
            ),
            PathError::Favicon => write!(f, "/favicon.ico is not a mount path"),
        }
    }
}

impl std::error::Error for PathError {}

/// Checks a mount path against the rules (see the module doc); `/` itself
/// is a valid mount.
pub fn check_path(path: &str) -> Result<(), PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(PathError::TooLong(path.len()));
    }
    if let Some(c) = path.chars().find(|&c| !is_path_char(c)) {
        return Err(char_error(c));
    }
    if path == "/" {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err(PathError::TrailingSlash);
    }
    if path == "/favicon.ico" {
        return Err(PathError::Favicon);
    }
    for segment in path.split('/').skip(1) {
        if segment.is_empty() {
            return Err(PathError::EmptySegment);
        }
        if segment == "." || segment == ".." {
            return Err(PathError::DotSegment);
        }
        if is_generated(segment) {
            return Err(PathError::Reserved(segment.to_string()));
        }
    }
    Ok(())
}

/// Whether a request path (without its query) names something the server
/// generates under a mount rather than a stream: its last segment is
/// `manifest.mpd`, `index.m3u8` or `time`, or starts with `~` (segment
/// names). Mount paths have no such segment anywhere, so these never
/// collide with a mount.
pub fn is_reserved(path: &str) -> bool {
    path.rsplit('/').next().is_some_and(is_generated)
}

fn is_generated(segment: &str) -> bool {
    segment.starts_with('~') || GENERATED_NAMES.contains(&segment)
}

/// RFC 3986 `pchar` without `%` (escapes never match), plus `/`: what a
/// client sends unescaped in a path.
fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "/-._~!$&'()*+,;=:@".contains(c)
}

fn char_error(c: char) -> PathError {
    match c {
        '%' => PathError::Percent,
        '?' => PathError::Query,
        '#' => PathError::Fragment,
        c if c.is_control() => PathError::Control(c),
        c => PathError::Escaped(c),
    }
}
