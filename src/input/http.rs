//! The `http://` client of a pulled input, on ureq (no TLS, no content
//! decoding): one GET, redirects followed here so that each target passes
//! the same `http://`-only rule as the INPUT argument, and a 2xx body,
//! plain or chunked, handed on as a `Read` while it arrives.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{self, Read};
use std::time::Duration;

use ureq::config::Config;
use ureq::http::{header, Response, StatusCode};
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout, Transport,
};
use ureq::{Agent, Body, BodyReader};

use super::redirect::HttpUrl;
use super::InputError;

/// An `http://` upstream that sends nothing for this long is dropped and
/// reconnected.
const HTTP_STALL: Duration = Duration::from_secs(10);
/// Time allowed to connect to the upstream (all its addresses).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A response head larger than this is refused.
const MAX_HEAD: usize = 64 << 10;
/// Redirects followed before giving up: enough for a load balancer and a
/// moved stream, few enough that a loop ends at once.
pub(super) const MAX_REDIRECTS: usize = 5;

/// GETs an `http://` stream, following redirects, and returns its body.
pub(super) fn open_http(
    host: &str,
    port: u16,
    path: &str,
) -> Result<Box<dyn Read + Send>, InputError> {
    let agent = agent();
    let mut url = HttpUrl {
        host: host.to_string(),
        port,
        path: path.to_string(),
    };
    let start = url.text();
    for _ in 0..=MAX_REDIRECTS {
        let response = get(&agent, &url)?;
        match redirect_location(&response, &url)? {
            Some(location) => {
                let next = url.follow(&location)?;
                log::info!("input {}: redirected to {}", url.text(), next.text());
                url = next;
            }
            None => return body(response, &url),
        }
    }
    Err(InputError::Http(format!(
        "{start}: more than {MAX_REDIRECTS} redirects (the last to {})",
        url.text()
    )))
}

/// One agent per open, without a connection pool, and proxies from the
/// environment are ignored, as they always were.
fn agent() -> Agent {
    let config = Config::builder()
        .http_status_as_error(false)
        .max_redirects(0)
        // A redirect's connection may be closed by then (HTTP/1.0): open a
        // new one for each request.
        .max_idle_connections(0)
        .max_idle_connections_per_host(0)
        .proxy(None)
        .user_agent(concat!("mkvcast/", env!("CARGO_PKG_VERSION")))
        .accept("*/*")
        // A stream is read as it comes: never ask for it compressed.
        .accept_encoding("identity")
        .max_response_header_size(MAX_HEAD)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .build();
    let connector = DefaultConnector::new().chain(StallLimit);
    Agent::with_parts(config, connector, DefaultResolver::default())
}

fn get(agent: &Agent, url: &HttpUrl) -> Result<Response<Body>, InputError> {
    let text = url.text();
    agent.get(&text).call().map_err(|e| match e {
        ureq::Error::Io(e) => InputError::Open(format!("{}:{}", url.host, url.port), e),
        ureq::Error::Timeout(ureq::Timeout::Connect) => InputError::Open(
            format!("{}:{}", url.host, url.port),
            io::Error::new(io::ErrorKind::TimedOut, "connect timed out"),
        ),
        ureq::Error::Timeout(_) => InputError::Http(format!("{text}: {}", stalled())),
        e => InputError::Http(format!("{text}: {e}")),
    })
}

/// The `Location` of a redirect, `None` for a 2xx answer, an error for any
/// other status.
fn redirect_location(
    response: &Response<Body>,
    url: &HttpUrl,
) -> Result<Option<String>, InputError> {
    let status = response.status();
    if status.is_success() {
        return Ok(None);
    }
    let redirect = matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308);
    if !redirect {
        return Err(InputError::Http(format!(
            "{} answered {}",
            url.text(),
            status_text(status)
        )));
    }
    match response.headers().get(header::LOCATION).map(|v| v.to_str()) {
        Some(Ok(location)) => Ok(Some(location.to_string())),
        _ => Err(InputError::Http(format!(
            "{} answered {} without a usable Location",
            url.text(),
            status_text(status)
        ))),
    }
}

fn status_text(status: StatusCode) -> String {
    format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
    .trim_end()
    .to_string()
}

/// The body of a 2xx answer, unless it is encoded (we asked for identity;
/// a compressed stream cannot be segmented as it arrives).
fn body(response: Response<Body>, url: &HttpUrl) -> Result<Box<dyn Read + Send>, InputError> {
    let encoding = response
        .headers()
        .get(header::CONTENT_ENCODING)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string());
    if let Some(e) = encoding.filter(|e| !e.eq_ignore_ascii_case("identity")) {
        return Err(InputError::Http(format!(
            "{} sends Content-Encoding {e:?}, which cannot be streamed",
            url.text()
        )));
    }
    Ok(Box::new(StallReader(response.into_body().into_reader())))
}

/// What a stall is called: ureq names the phase whose deadline the capped
/// wait stood in for (often "global"), which would mislead.
fn stalled() -> String {
    format!("nothing received for {} s", HTTP_STALL.as_secs())
}

/// The body, with a stall reported as one.
struct StallReader(BodyReader<'static>);

impl Read for StallReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            let inner = e.get_ref().and_then(|x| x.downcast_ref::<ureq::Error>());
            if matches!(inner, Some(ureq::Error::Timeout(_))) {
                io::Error::new(io::ErrorKind::TimedOut, stalled())
            } else {
                e
            }
        })
    }
}

/// Caps every wait of a connection at [`HTTP_STALL`]: ureq's own timeouts
/// are deadlines for a whole phase (all of a body), so they cannot tell a
/// stalled live upstream from a long one. A wait that runs out fails the
/// read, and the input reconnects.
#[derive(Debug)]
struct StallLimit;

impl Connector<Box<dyn Transport>> for StallLimit {
    type Out = Stalling;

    fn connect(
        &self,
        _: &ConnectionDetails,
        chained: Option<Box<dyn Transport>>,
    ) -> Result<Option<Stalling>, ureq::Error> {
        Ok(chained.map(Stalling))
    }
}

/// A connection whose waits [`StallLimit`] caps.
#[derive(Debug)]
struct Stalling(Box<dyn Transport>);

/// `timeout`, or [`HTTP_STALL`] if that comes first (or there is none).
fn capped(timeout: NextTimeout) -> NextTimeout {
    NextTimeout {
        after: timeout.after.min(HTTP_STALL.into()),
        reason: timeout.reason,
    }
}

impl Transport for Stalling {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.0.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.0.transmit_output(amount, capped(timeout))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.0.await_input(capped(timeout))
    }

    fn is_open(&mut self) -> bool {
        self.0.is_open()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::Timeout;

    #[test]
    fn waits_are_capped_at_the_stall_limit() {
        let none = NextTimeout {
            after: ureq::unversioned::transport::time::Duration::NotHappening,
            reason: Timeout::RecvBody,
        };
        assert_eq!(*capped(none).after, HTTP_STALL);
        assert_eq!(capped(none).reason, Timeout::RecvBody);
        let short = NextTimeout {
            after: Duration::from_secs(2).into(),
            reason: Timeout::Connect,
        };
        assert_eq!(*capped(short).after, Duration::from_secs(2));
    }

    #[test]
    fn statuses_read_as_code_and_reason() {
        assert_eq!(status_text(StatusCode::NOT_FOUND), "404 Not Found");
        let odd = StatusCode::from_u16(599).map(status_text);
        assert_eq!(odd.ok().as_deref(), Some("599"));
    }
}
