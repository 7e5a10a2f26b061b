//! A keep-alive HTTP/1.1 connection for tests: several requests on one
//! connection (also pipelined), each response framed by its
//! Content-Length, chunked encoding, or the server's close.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::{head_end, ChunkError, Chunked, Response};

/// Cap on a response head, so a broken server cannot grow memory.
const MAX_HEAD: usize = 64 << 10;

/// Why a response could not be read.
#[derive(Debug)]
pub enum HttpError {
    Io(io::Error),
    /// Nothing (more) arrived within the connection's timeout.
    Timeout {
        during: &'static str,
    },
    /// The server closed the connection before the response was complete.
    Closed {
        during: &'static str,
        bytes: usize,
    },
    HeadTooLarge,
    BadContentLength(String),
    Chunked(ChunkError),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Io(e) => write!(f, "i/o: {e}"),
            HttpError::Timeout { during } => write!(f, "timed out reading the {during}"),
            HttpError::Closed { during, bytes } => {
                write!(f, "closed by the server in the {during} ({bytes} bytes)")
            }
            HttpError::HeadTooLarge => write!(f, "response head over {MAX_HEAD} bytes"),
            HttpError::BadContentLength(v) => write!(f, "bad Content-Length {v:?}"),
            HttpError::Chunked(e) => write!(f, "chunked body: {e}"),
        }
    }
}

impl std::error::Error for HttpError {}

impl From<io::Error> for HttpError {
    fn from(e: io::Error) -> Self {
        HttpError::Io(e)
    }
}

/// How a response's body ends (RFC 9112, 6.3).
enum Framing {
    None,
    Length(usize),
    Chunked,
    UntilClose,
}

/// One client connection to `127.0.0.1:PORT` that carries several
/// requests. For an endless live stream use [`super::read_response`]
/// instead: a close-delimited body is read to its end here.
pub struct Conn {
    stream: TcpStream,
    /// Bytes received past the last response (the next one's start).
    pending: Vec<u8>,
    timeout: Duration,
}

impl Conn {
    /// Connects; reads time out after 5 s without progress.
    pub fn open(port: u16) -> Result<Conn, HttpError> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        Ok(Conn {
            stream,
            pending: Vec::new(),
            timeout: Duration::from_secs(5),
        })
    }

    /// How long a response may take to arrive completely.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The socket (for options, or to shut it down).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Sends raw bytes: a request, several pipelined ones, or a part.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), HttpError> {
        Ok(self.stream.write_all(bytes)?)
    }

    /// `GET path` and its response.
    pub fn get(&mut self, path: &str) -> Result<Response, HttpError> {
        self.request("GET", path, &[])
    }

    /// Sends `METHOD path HTTP/1.1` with `Host: t` and `headers`, and reads
    /// the response (a HEAD response has no body).
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response, HttpError> {
        let mut req =
            format!("{method} {path} HTTP/1.1\r\nHost: t\r\nUser-Agent: mkvcast-test\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        self.send(req.as_bytes())?;
        self.read_response(method.eq_ignore_ascii_case("HEAD"))
    }

    /// Reads the next response; `head_only` for the answer to a HEAD. A
    /// close-delimited body sets [`Response::closed`]; after it the
    /// connection is done.
    pub fn read_response(&mut self, head_only: bool) -> Result<Response, HttpError> {
        let deadline = Instant::now() + self.timeout;
        let mut resp = Response::default();
        if !self.pending.is_empty() {
            resp.first_byte = Some(Instant::now());
        }
        let end = loop {
            if let Some(end) = head_end(&self.pending) {
                break end;
            }
            if self.pending.len() > MAX_HEAD {
                return Err(HttpError::HeadTooLarge);
            }
            self.fill(deadline, &mut resp, "head")?;
        };
        resp.set_head(&self.pending[..end]);
        self.pending.drain(..end + 4);
        let framing = framing(&resp, head_only)?;
        resp.body = match framing {
            Framing::None => Vec::new(),
            Framing::Length(n) => self.body_of_length(n, deadline, &mut resp)?,
            Framing::Chunked => self.chunked_body(deadline, &mut resp)?,
            Framing::UntilClose => self.body_until_close(deadline, &mut resp)?,
        };
        Ok(resp)
    }

    /// Whether the server closes the connection within `wait` without
    /// sending anything more.
    pub fn closed_by_server(&mut self, wait: Duration) -> bool {
        let mut resp = Response::default();
        match self.fill(Instant::now() + wait, &mut resp, "next response") {
            Err(HttpError::Closed { .. }) => true,
            Err(HttpError::Io(e)) => e.kind() == io::ErrorKind::ConnectionReset,
            _ => false,
        }
    }

    fn body_of_length(
        &mut self,
        n: usize,
        deadline: Instant,
        resp: &mut Response,
    ) -> Result<Vec<u8>, HttpError> {
        while self.pending.len() < n {
            self.fill(deadline, resp, "body")?;
        }
        Ok(self.pending.drain(..n).collect())
    }

    fn chunked_body(
        &mut self,
        deadline: Instant,
        resp: &mut Response,
    ) -> Result<Vec<u8>, HttpError> {
        let mut body = Vec::new();
        let mut decoder = Chunked::START;
        loop {
            let used = decoder
                .decode(&self.pending, &mut |d| body.extend_from_slice(d))
                .map_err(HttpError::Chunked)?;
            self.pending.drain(..used);
            if decoder.is_done() {
                return Ok(body);
            }
            self.fill(deadline, resp, "chunked body")?;
        }
    }

    fn body_until_close(
        &mut self,
        deadline: Instant,
        resp: &mut Response,
    ) -> Result<Vec<u8>, HttpError> {
        loop {
            match self.fill(deadline, resp, "body") {
                Ok(()) => {}
                Err(HttpError::Closed { .. }) => {
                    resp.closed = Some(Instant::now());
                    return Ok(std::mem::take(&mut self.pending));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads what arrives next into `pending`; a close is
    /// [`HttpError::Closed`].
    fn fill(
        &mut self,
        deadline: Instant,
        resp: &mut Response,
        during: &'static str,
    ) -> Result<(), HttpError> {
        let mut buf = [0u8; 16 << 10];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(HttpError::Timeout { during });
            }
            self.stream.set_read_timeout(Some(left))?;
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    let bytes = self.pending.len();
                    return Err(HttpError::Closed { during, bytes });
                }
                Ok(n) => {
                    resp.first_byte.get_or_insert_with(Instant::now);
                    self.pending.extend_from_slice(&buf[..n]);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// How the body of `resp` ends.
fn framing(resp: &Response, head_only: bool) -> Result<Framing, HttpError> {
    if head_only || matches!(resp.status, 100..=199 | 204 | 304) {
        return Ok(Framing::None);
    }
    let chunked = resp.header("transfer-encoding").is_some_and(|v| {
        v.rsplit(',')
            .next()
            .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"))
    });
    if chunked {
        return Ok(Framing::Chunked);
    }
    match resp.header("content-length") {
        Some(v) => v
            .parse()
            .map(Framing::Length)
            .map_err(|_| HttpError::BadContentLength(v)),
        None => Ok(Framing::UntilClose),
    }
}
