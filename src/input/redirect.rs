//! Where a redirect of an `http://` input leads: its `Location` resolved
//! against the URL that answered (RFC 9110 §10.2.2 allows a relative
//! reference), and refused unless it is `http://` again, as the INPUT
//! argument would be.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::open::parse_http_url;
use super::{Input, InputError};

/// An `http://` URL split the way [`Input::Http`] holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HttpUrl {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl HttpUrl {
    /// The URL as text, for requests and messages.
    pub(super) fn text(&self) -> String {
        Input::Http {
            host: self.host.clone(),
            port: self.port,
            path: self.path.clone(),
        }
        .name()
    }

    /// Where `location` points from here. A scheme other than `http:`
    /// (`https:` above all) is refused with the same error as on the
    /// command line: following it would need the TLS we do not build in.
    pub(super) fn follow(&self, location: &str) -> Result<HttpUrl, InputError> {
        let location = location.trim();
        // A fragment is never sent in a request.
        let location = location.split_once('#').map_or(location, |(l, _)| l);
        if let Some(scheme) = scheme_of(location) {
            if !scheme.eq_ignore_ascii_case("http") {
                return Err(InputError::UnsupportedUrl(location.to_string()));
            }
            return http_url(location);
        }
        if location.starts_with("//") {
            return http_url(&format!("http:{location}"));
        }
        let path = if location.starts_with('/') {
            location.to_string()
        } else {
            self.relative_path(location)
        };
        Ok(HttpUrl {
            host: self.host.clone(),
            port: self.port,
            path,
        })
    }

    /// A reference without scheme, host or leading `/`, against this path:
    /// a query replaces the query, anything else the last segment.
    fn relative_path(&self, reference: &str) -> String {
        let base = self.path.split_once('?').map_or(&*self.path, |(p, _)| p);
        if reference.is_empty() {
            return self.path.clone();
        }
        if reference.starts_with('?') {
            return format!("{base}{reference}");
        }
        let dir = base.rfind('/').and_then(|i| base.get(..=i)).unwrap_or("/");
        format!("{dir}{reference}")
    }
}

/// The scheme of an absolute URI (RFC 3986 §3.1: a letter, then letters,
/// digits, `+`, `-` or `.`, then `:`), or `None` for a relative reference.
fn scheme_of(s: &str) -> Option<&str> {
    let end = s.find(':')?;
    let scheme = s.get(..end)?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    let valid = first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}

/// An absolute `http://` URL, split as [`Input::parse`] splits one.
fn http_url(url: &str) -> Result<HttpUrl, InputError> {
    match parse_http_url(url)? {
        Input::Http { host, port, path } => Ok(HttpUrl { host, port, path }),
        _ => Err(InputError::UnsupportedUrl(url.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> HttpUrl {
        HttpUrl {
            host: "origin".into(),
            port: 8000,
            path: "/live/a.webm?x=1".into(),
        }
    }

    fn to(location: &str) -> String {
        base().follow(location).unwrap().text()
    }

    #[test]
    fn absolute_and_relative_locations() {
        assert_eq!(to("http://edge:81/s"), "http://edge:81/s");
        assert_eq!(to("HTTP://edge/s"), "http://edge:80/s");
        assert_eq!(to("//edge:82/s?q"), "http://edge:82/s?q");
        assert_eq!(to("http://[::1]:9/s"), "http://[::1]:9/s");
        assert_eq!(to("/other"), "http://origin:8000/other");
        assert_eq!(to("b.webm"), "http://origin:8000/live/b.webm");
        assert_eq!(to("sub/b.webm#frag"), "http://origin:8000/live/sub/b.webm");
        assert_eq!(to("?y=2"), "http://origin:8000/live/a.webm?y=2");
        assert_eq!(to(" /padded "), "http://origin:8000/padded");
        assert_eq!(to(""), "http://origin:8000/live/a.webm?x=1");
    }

    #[test]
    fn other_schemes_are_refused_like_the_command_line() {
        for loc in ["https://edge/s", "HTTPS://edge/s", "ftp://edge/s", "rtmp:x"] {
            match base().follow(loc) {
                Err(e @ InputError::UnsupportedUrl(_)) => {
                    let msg = e.to_string();
                    assert!(msg.contains(loc), "{msg}");
                    assert!(msg.contains("only http:// is built in"), "{msg}");
                }
                other => panic!("{loc}: {other:?}"),
            }
        }
        // A colon after a slash is a path, not a scheme.
        assert_eq!(to("a/b:c"), "http://origin:8000/live/a/b:c");
        assert!(base().follow("http://:80/").is_err());
    }
}
