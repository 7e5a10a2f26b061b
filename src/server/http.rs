//! The little HTTP the server speaks: parse one request head with
//! `httparse`, and build the few responses it sends.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bytes::Bytes;

/// Largest request head accepted; larger gets 431.
pub const MAX_REQUEST_BYTES: usize = 8 << 10;
const MAX_HEADERS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
}

/// What the server needs from a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// Path without scheme/authority (absolute-form URIs are reduced).
    pub path: String,
    pub user_agent: Option<String>,
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

/// Error statuses the server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    BadRequest,
    NotFound,
    HeaderTooLarge,
    Unavailable,
}

impl Status {
    pub fn code(self) -> u16 {
        match self {
            Status::BadRequest => 400,
            Status::NotFound => 404,
            Status::HeaderTooLarge => 431,
            Status::Unavailable => 503,
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Status::BadRequest => "Bad Request",
            Status::NotFound => "Not Found",
            Status::HeaderTooLarge => "Request Header Fields Too Large",
            Status::Unavailable => "Service Unavailable",
        }
    }
}

/// Parses a request head. Only GET and HEAD are served; any other method
/// is a bad request.
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
        Ok(httparse::Status::Complete(_)) => {
            let method = match req.method {
                Some("GET") => Method::Get,
                Some("HEAD") => Method::Head,
                _ => return Parsed::Reject(Status::BadRequest),
            };
            let target = req.path.unwrap_or("/");
            let path = origin_path(target);
            let user_agent = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("user-agent"))
                .map(|h| String::from_utf8_lossy(h.value).chars().take(200).collect());
            Parsed::Complete(Request {
                method,
                path,
                user_agent,
            })
        }
    }
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
/// connection closes.
pub fn stream_head(content_type: &str) -> Bytes {
    Bytes::from(format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nCache-Control: no-cache, no-store\r\n\
         Access-Control-Allow-Origin: *\r\nConnection: close\r\nServer: mkvcast/{}\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    ))
}

/// A complete `200 OK` response with a body (status pages).
pub fn ok_response(content_type: &str, body: String, head_only: bool) -> Bytes {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-cache\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if !head_only {
        out.push_str(&body);
    }
    Bytes::from(out)
}

/// A short complete error response.
pub fn error_response(status: Status) -> Bytes {
    let body = format!("{} {}\n", status.code(), status.reason());
    let retry = if status == Status::Unavailable {
        "Retry-After: 5\r\n"
    } else {
        ""
    };
    Bytes::from(format!(
        "HTTP/1.1 {} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{retry}Connection: close\r\n\r\n{body}",
        status.code(),
        status.reason(),
        body.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests() {
        let get = |p: &str| {
            Parsed::Complete(Request {
                method: Method::Get,
                path: p.into(),
                user_agent: None,
            })
        };
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), get("/"));
        assert_eq!(
            parse(b"GET http://h:8080/live?x=1 HTTP/1.1\r\n\r\n"),
            get("/live")
        );
        assert_eq!(parse(b"GET http://h HTTP/1.1\r\n\r\n"), get("/"));
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
    fn responses() {
        let r = error_response(Status::Unavailable);
        assert!(r.starts_with(b"HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(std::str::from_utf8(&r).unwrap().contains("Retry-After: 5"));
        let h = stream_head("video/webm");
        assert!(h.ends_with(b"\r\n\r\n"));
        assert!(!std::str::from_utf8(&h).unwrap().contains("Content-Length"));
    }
}
