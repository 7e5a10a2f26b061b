//! A minimal `http://` client for the input: one GET, a 200 answer with a
//! plain (not chunked) body that is read until the upstream closes.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::InputError;

/// An `http://` upstream that sends nothing for this long is dropped and
/// reconnected.
const HTTP_STALL: Duration = Duration::from_secs(10);
/// Time allowed to connect to each address of the upstream.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A response head larger than this is refused.
const MAX_HEAD: usize = 64 << 10;

/// GETs an `http://` stream and returns its body reader.
pub(super) fn open_http(
    host: &str,
    port: u16,
    path: &str,
) -> Result<Box<dyn Read + Send>, InputError> {
    let name = format!("{host}:{port}");
    let mut stream = connect(host, port, &name)?;
    send_request(&mut stream, host, port, path)?;
    let (mut head, body_start) = read_head(&mut stream, &name)?;
    let rest = head.split_off(body_start);
    Ok(Box::new(io::Cursor::new(rest).chain(stream)))
}

/// Connects to the first address of `host` that answers.
fn connect(host: &str, port: u16, name: &str) -> Result<TcpStream, InputError> {
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| InputError::Open(name.to_string(), e))?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
    for a in addrs {
        match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
            Ok(s) => {
                s.set_read_timeout(Some(HTTP_STALL))
                    .map_err(InputError::Read)?;
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(InputError::Open(name.to_string(), last))
}

fn send_request(
    stream: &mut TcpStream,
    host: &str,
    port: u16,
    path: &str,
) -> Result<(), InputError> {
    let host_header = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: mkvcast/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    stream.write_all(req.as_bytes()).map_err(InputError::Read)
}

/// Reads until the end of the response head and checks it; returns what
/// was read and where the body starts in it.
fn read_head(stream: &mut TcpStream, name: &str) -> Result<(Vec<u8>, usize), InputError> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).map_err(InputError::Read)?;
        if n == 0 {
            return Err(InputError::Http(format!(
                "{name} closed before sending a response"
            )));
        }
        head.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&head) {
            Ok(httparse::Status::Complete(len)) => {
                check_head(&resp, name)?;
                return Ok((head, len));
            }
            Ok(httparse::Status::Partial) if head.len() < MAX_HEAD => continue,
            Ok(httparse::Status::Partial) => {
                return Err(InputError::Http("response head too large".into()))
            }
            Err(e) => {
                return Err(InputError::Http(format!(
                    "malformed response from {name}: {e}"
                )))
            }
        }
    }
}

/// Accepts a 200 answer whose body is the stream itself.
fn check_head(resp: &httparse::Response<'_, '_>, name: &str) -> Result<(), InputError> {
    let code = resp.code.unwrap_or(0);
    if code != 200 {
        return Err(InputError::Http(format!(
            "{name} answered {code} {}",
            resp.reason.unwrap_or("")
        )));
    }
    let chunked = resp.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("transfer-encoding")
            && String::from_utf8_lossy(h.value)
                .to_ascii_lowercase()
                .contains("chunked")
    });
    if chunked {
        return Err(InputError::Http(format!(
            "{name} sends chunked transfer encoding, which is not supported"
        )));
    }
    Ok(())
}
