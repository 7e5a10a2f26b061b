//! The little HTTP the server speaks: parse one request head with
//! `httparse`, and build the few responses it sends.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bytes::Bytes;

use super::body::Framing;
use super::negotiate;

/// Largest request head accepted; larger gets 431.
pub const MAX_REQUEST_BYTES: usize = 8 << 10;
const MAX_HEADERS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    /// An encoder pushing a stream (ffmpeg, curl -T, GStreamer).
    Put,
    /// Icecast's own push method (libshout, ffmpeg `-legacy_icecast 1`).
    Source,
    Options,
}

/// What the server needs from a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// Path without scheme/authority (absolute-form URIs are reduced);
    /// `*` for `OPTIONS *`.
    pub path: String,
    pub user_agent: Option<String>,
    /// Bytes of the head; what follows in the buffer is the body's start.
    pub head_len: usize,
    /// HTTP/1.1 (or later) rather than 1.0.
    pub http11: bool,
    /// The client may send another request on this connection.
    pub keep_alive: bool,
    /// The `Authorization` header's value.
    pub authorization: Option<Vec<u8>>,
    /// `Expect: 100-continue`.
    pub expect_continue: bool,
    /// First byte offset of `Content-Range: bytes N-M/*`.
    pub range_start: Option<u64>,
    /// How the body is delimited.
    pub framing: Framing,
    /// The `Accept` headers ask for an HTML page.
    pub wants_html: bool,
    /// Every `X-Forwarded-For` value, in order.
    pub forwarded_for: Vec<Vec<u8>>,
}

/// Outcome of parsing the bytes received so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// The head is not complete yet.
    Partial,
    Complete(Request),
    /// Answer with this status and close.
    Reject(Status),
}

/// Statuses the server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    NoContent,
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    UnsupportedMediaType,
    RangeNotSatisfiable,
    TooManyRequests,
    HeaderTooLarge,
    NotImplemented,
    Unavailable,
}

impl Status {
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::NoContent => 204,
            Status::BadRequest => 400,
            Status::Unauthorized => 401,
            Status::Forbidden => 403,
            Status::NotFound => 404,
            Status::Conflict => 409,
            Status::UnsupportedMediaType => 415,
            Status::RangeNotSatisfiable => 416,
            Status::TooManyRequests => 429,
            Status::HeaderTooLarge => 431,
            Status::NotImplemented => 501,
            Status::Unavailable => 503,
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::NoContent => "No Content",
            Status::BadRequest => "Bad Request",
            Status::Unauthorized => "Unauthorized",
            Status::Forbidden => "Forbidden",
            Status::NotFound => "Not Found",
            Status::Conflict => "Conflict",
            Status::UnsupportedMediaType => "Unsupported Media Type",
            Status::RangeNotSatisfiable => "Range Not Satisfiable",
            Status::TooManyRequests => "Too Many Requests",
            Status::HeaderTooLarge => "Request Header Fields Too Large",
            Status::NotImplemented => "Not Implemented",
            Status::Unavailable => "Service Unavailable",
        }
    }

    /// Extra header lines this status always carries.
    fn extra_headers(self) -> &'static str {
        match self {
            Status::Unavailable => "Retry-After: 5\r\n",
            Status::TooManyRequests => "Retry-After: 60\r\n",
            Status::Unauthorized => "WWW-Authenticate: Basic realm=\"mkvcast\"\r\n",
            Status::NoContent => "Allow: GET, HEAD, PUT, SOURCE, OPTIONS\r\n",
            _ => "",
        }
    }
}

/// Parses a request head. GET, HEAD, PUT, SOURCE and OPTIONS parse; any
/// other method is a bad request.
pub fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Partial) if buf.len() >= MAX_REQUEST_BYTES => {
            Parsed::Reject(Status::HeaderTooLarge)
        }
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => Parsed::Reject(Status::HeaderTooLarge),
        Err(_) => Parsed::Reject(Status::BadRequest),
        Ok(httparse::Status::Complete(head_len)) => complete(&req, head_len),
    }
}

/// The parts of a complete head the server acts on.
fn complete(req: &httparse::Request<'_, '_>, head_len: usize) -> Parsed {
    let method = match req.method {
        Some("GET") => Method::Get,
        Some("HEAD") => Method::Head,
        Some("PUT") => Method::Put,
        Some("SOURCE") => Method::Source,
        Some("OPTIONS") => Method::Options,
        _ => return Parsed::Reject(Status::BadRequest),
    };
    let framing = match Framing::from_headers(req.headers) {
        Ok(f) => f,
        Err(e) if e.status() == 501 => return Parsed::Reject(Status::NotImplemented),
        Err(_) => return Parsed::Reject(Status::BadRequest),
    };
    let target = req.path.unwrap_or("/");
    let path = if target == "*" {
        "*".to_string()
    } else {
        origin_path(target)
    };
    let http11 = req.version.unwrap_or(0) >= 1;
    let one = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    let all = |name: &str| -> Vec<Vec<u8>> {
        req.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.to_vec())
            .collect()
    };
    let accept = all("accept").join(&b","[..]);
    Parsed::Complete(Request {
        method,
        path,
        user_agent: one("user-agent")
            .map(|v| String::from_utf8_lossy(v).chars().take(200).collect()),
        head_len,
        http11,
        keep_alive: keep_alive(http11, one("connection")),
        authorization: one("authorization").map(<[u8]>::to_vec),
        expect_continue: one("expect").is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue")),
        range_start: one("content-range").and_then(range_start),
        framing,
        wants_html: negotiate::wants_html((!accept.is_empty()).then_some(&accept[..])),
        forwarded_for: all("x-forwarded-for"),
    })
}

/// Whether the connection may carry another request: HTTP/1.1 unless it
/// says `close`, HTTP/1.0 only if it says `keep-alive`.
fn keep_alive(http11: bool, connection: Option<&[u8]>) -> bool {
    let has = |token: &str| {
        connection.is_some_and(|v| {
            v.split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
        })
    };
    if http11 {
        !has("close")
    } else {
        has("keep-alive")
    }
}

/// `bytes N-M/*` (or `/LENGTH`): N.
fn range_start(v: &[u8]) -> Option<u64> {
    let v = std::str::from_utf8(v).ok()?.trim();
    let rest = v.strip_prefix("bytes")?.trim_start();
    let (n, _) = rest.split_once('-')?;
    n.trim().parse().ok()
}

/// Reduces an absolute-form target (`http://host/x`) to its path.
fn origin_path(target: &str) -> String {
    let lower_has_scheme = target
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("http://"))
        || target
            .get(..8)
            .is_some_and(|p| p.eq_ignore_ascii_case("https://"));
    let path = if lower_has_scheme {
        let after = target.split_once("://").map_or("", |(_, r)| r);
        after
            .find('/')
            .map_or("/", |i| after.get(i..).unwrap_or("/"))
    } else {
        target
    };
    path.split(['?', '#']).next().unwrap_or("/").to_string()
}

/// The head of a streaming response: no length, the body ends when the
/// connection closes. A stream URL answers browsers with a page, hence
/// `Vary: Accept`.
pub fn stream_head(content_type: &str) -> Bytes {
    Bytes::from(format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nCache-Control: no-cache, no-store\r\n\
         Vary: Accept\r\nAccess-Control-Allow-Origin: *\r\nConnection: close\r\nServer: mkvcast/{}\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    ))
}

/// A complete `200 OK` response with a body (status pages); `Vary:
/// Accept` for URLs that answer browsers with a page and players with
/// the stream.
pub fn ok_response(content_type: &str, body: &str, head_only: bool, keep_alive: bool) -> Bytes {
    page_response(content_type, body, head_only, keep_alive, false)
}

/// [`ok_response`], saying whether the answer depends on `Accept`.
pub fn page_response(
    content_type: &str,
    body: &str,
    head_only: bool,
    keep_alive: bool,
    vary: bool,
) -> Bytes {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let vary = if vary { "Vary: Accept\r\n" } else { "" };
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-cache\r\n{vary}Connection: {connection}\r\n\r\n",
        body.len()
    );
    if !head_only {
        out.push_str(body);
    }
    Bytes::from(out)
}

/// A short complete response with a one-line body (none for 204); the
/// connection stays open after it when `keep_alive`.
pub fn short_response(status: Status, keep_alive: bool) -> Bytes {
    let body = if status == Status::NoContent {
        String::new()
    } else {
        format!("{} {}\n", status.code(), status.reason())
    };
    let length = if status == Status::NoContent {
        String::new()
    } else {
        format!(
            "Content-Type: text/plain\r\nContent-Length: {}\r\n",
            body.len()
        )
    };
    let connection = if keep_alive { "keep-alive" } else { "close" };
    Bytes::from(format!(
        "HTTP/1.1 {} {}\r\n{length}{}Connection: {connection}\r\n\r\n{body}",
        status.code(),
        status.reason(),
        status.extra_headers(),
    ))
}

/// A short complete error response, after which the connection closes.
pub fn error_response(status: Status) -> Bytes {
    short_response(status, false)
}

/// The interim answer to `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What Icecast answers an accepted `SOURCE` at once, before any body;
/// libshout waits for it.
pub const SOURCE_OK: &[u8] = b"HTTP/1.0 200 OK\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(buf: &[u8]) -> Request {
        match parse(buf) {
            Parsed::Complete(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn requests() {
        let path = |buf: &[u8]| {
            let r = complete(buf);
            assert_eq!(r.method, Method::Get);
            r.path
        };
        assert_eq!(path(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "/");
        assert_eq!(
            path(b"GET http://h:8080/live?x=1 HTTP/1.1\r\n\r\n"),
            "/live"
        );
        assert_eq!(path(b"GET http://h HTTP/1.1\r\n\r\n"), "/");
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n"), Parsed::Partial);
        assert_eq!(
            parse(b"POST / HTTP/1.1\r\n\r\n"),
            Parsed::Reject(Status::BadRequest)
        );
        assert_eq!(
            parse(b"\x00\x01\x02garbage\r\n\r\n"),
            Parsed::Reject(Status::BadRequest)
        );
        assert_eq!(parse(b"GET /\r\n\r\n"), Parsed::Reject(Status::BadRequest));
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_REQUEST_BYTES + 10, b'a');
        assert_eq!(parse(&big), Parsed::Reject(Status::HeaderTooLarge));
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..100 {
            many.extend_from_slice(format!("X{i}: y\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(parse(&many), Parsed::Reject(Status::HeaderTooLarge));
        match parse(b"HEAD /x HTTP/1.0\r\nUser-Agent: test/1\r\n\r\n") {
            Parsed::Complete(r) => {
                assert_eq!(r.method, Method::Head);
                assert_eq!(r.user_agent.as_deref(), Some("test/1"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn push_heads() {
        // ffmpeg's icecast:// head (recorded from ffmpeg 5.1), then body bytes.
        let head = b"PUT /cam HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\
            User-Agent: Lavf/59.27.100\r\nAccept: */*\r\nExpect: 100-continue\r\n\
            Connection: close\r\nHost: 127.0.0.1:8080\r\nIcy-MetaData: 1\r\n\
            Authorization: Basic c291cmNlOnB3\r\nContent-Type: video/webm\r\n\r\n\x1a\x45";
        let r = complete(head);
        assert_eq!(r.method, Method::Put);
        assert_eq!(r.head_len, head.len() - 2);
        assert_eq!(
            r.framing,
            Framing::Chunked,
            "chunked wins over Content-Length"
        );
        assert!(r.expect_continue && !r.keep_alive && r.http11 && !r.wants_html);
        assert_eq!(r.authorization.as_deref(), Some(&b"Basic c291cmNlOnB3"[..]));
        let r = complete(b"SOURCE /cam HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(
            (r.method, r.framing, r.keep_alive),
            (Method::Source, Framing::Length(0), false)
        );
        let r = complete(
            b"PUT /x HTTP/1.1\r\nContent-Length: 5\r\nContent-Range: bytes 100-104/*\r\n\r\n",
        );
        assert_eq!((r.range_start, r.keep_alive), (Some(100), true));
        let r = complete(b"PUT /x HTTP/1.1\r\n\r\n");
        assert_eq!(r.framing, Framing::UntilClose);
        let r = complete(b"OPTIONS * HTTP/1.1\r\n\r\n");
        assert_eq!((r.method, r.path.as_str()), (Method::Options, "*"));
        let r = complete(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nAccept: text/html\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n");
        assert!(r.keep_alive && !r.http11 && r.wants_html);
        assert_eq!(
            r.forwarded_for,
            vec![b"1.2.3.4".to_vec(), b"10.0.0.1".to_vec()]
        );
        assert_eq!(
            parse(b"PUT /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
            Parsed::Reject(Status::NotImplemented)
        );
    }

    #[test]
    fn responses() {
        let r = error_response(Status::Unavailable);
        assert!(r.starts_with(b"HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(std::str::from_utf8(&r).unwrap().contains("Retry-After: 5"));
        let h = stream_head("video/webm");
        assert!(h.ends_with(b"\r\n\r\n"));
        assert!(!std::str::from_utf8(&h).unwrap().contains("Content-Length"));
    }
}
