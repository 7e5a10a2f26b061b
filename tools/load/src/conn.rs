//! The connection pump both modes drive from their mio loop: a
//! nonblocking connect, the request write, reads until the socket is
//! empty, and the response head. Each mode words its own failures; what is
//! shared is how a socket is driven and how its results are told apart.

use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

/// Cap on a response head, so a broken server cannot grow memory.
pub const MAX_HEAD: usize = 16 * 1024;

/// Starts a nonblocking connect. `recv_buf` sets the receive buffer before
/// connecting, so the small window is announced from the handshake on
/// (soak's slow readers really fall behind instead of parking the stream
/// in the kernel).
pub fn connect(addr: SocketAddr, recv_buf: Option<usize>) -> io::Result<TcpStream> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    if let Some(n) = recv_buf {
        sock.set_recv_buffer_size(n)?;
    }
    sock.set_nonblocking(true)?;
    match sock.connect(&addr.into()) {
        Ok(()) => {}
        // EINPROGRESS: the handshake goes on; readiness reports the end.
        Err(e) if e.raw_os_error() == Some(115) || e.kind() == ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(sock.into()))
}

/// Registers a viewer's socket for both directions (mio is
/// edge-triggered: it reports the connect, then every new batch of data).
pub fn register(registry: &Registry, stream: &mut TcpStream, key: usize) -> io::Result<()> {
    registry.register(stream, Token(key), Interest::READABLE | Interest::WRITABLE)
}

/// Whether a nonblocking connect finished: `Ok(true)` connected,
/// `Ok(false)` still under way, `Err` failed.
pub fn connected(stream: &TcpStream) -> io::Result<bool> {
    match (stream.take_error(), stream.peer_addr()) {
        (Ok(Some(e)) | Err(e), _) => Err(e),
        (_, Err(e)) if e.kind() == ErrorKind::NotConnected => Ok(false),
        (_, Err(e)) => Err(e),
        (_, Ok(_)) => Ok(true),
    }
}

/// Writes what the socket takes of `request[*done..]`; `Ok(true)` once
/// all of it is out, `Ok(false)` when the socket is full.
pub fn send(stream: &mut TcpStream, request: &[u8], done: &mut usize) -> io::Result<bool> {
    while *done < request.len() {
        match stream.write(&request[*done..]) {
            Ok(n) => *done += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// One read's outcome.
pub enum Got {
    Data(usize),
    /// The server closed its side.
    Eof,
    /// Nothing more for now (wait for the next readiness event).
    Empty,
    Failed(io::Error),
}

/// Reads once into `buf`, retrying on EINTR. A socket whose connect is
/// still under way reads as [`Got::Empty`].
pub fn read(stream: &mut TcpStream, buf: &mut [u8]) -> Got {
    loop {
        return match stream.read(buf) {
            Ok(0) => Got::Eof,
            Ok(n) => Got::Data(n),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::NotConnected) => {
                Got::Empty
            }
            Err(e) => Got::Failed(e),
        };
    }
}

/// A response head, as far as it has arrived.
pub enum Head {
    Partial,
    /// [`MAX_HEAD`] bytes and still no end.
    TooLarge,
    Bad(httparse::Error),
    Complete {
        status: u16,
        /// `Transfer-Encoding: chunked`.
        chunked: bool,
        /// Bytes of the head; the body starts after them.
        len: usize,
    },
}

/// Parses the response head at the start of `buf`.
pub fn parse_head(buf: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => return Head::Partial,
        Ok(httparse::Status::Partial) => return Head::TooLarge,
        Err(e) => return Head::Bad(e),
    };
    let chunked = response.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("transfer-encoding")
            && String::from_utf8_lossy(h.value)
                .to_ascii_lowercase()
                .contains("chunked")
    });
    Head::Complete {
        status: response.code.unwrap_or(0),
        chunked,
        len,
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_head, Head};

    #[test]
    fn heads() {
        let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nbody";
        assert!(matches!(
            parse_head(head),
            Head::Complete {
                status: 200,
                chunked: true,
                len: 47
            }
        ));
        assert!(matches!(parse_head(&head[..20]), Head::Partial));
        assert!(matches!(parse_head(b"HTTP/1.1 2x\r\n\r\n"), Head::Bad(_)));
        assert!(matches!(parse_head(&[b'a'; 20000]), Head::Bad(_)));
        let mut long = b"HTTP/1.1 200 OK\r\n".to_vec();
        long.resize(super::MAX_HEAD, b'x');
        assert!(matches!(parse_head(&long), Head::TooLarge));
    }
}
