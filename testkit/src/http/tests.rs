use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use super::{get, ChunkError, Chunked, Conn, HttpError};

/// A one-connection server: for each request head it receives, writes the
/// next canned answer; closes after the last one.
fn serve(answers: Vec<&'static [u8]>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        for answer in answers {
            while super::head_end(&got).is_none() {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    return;
                }
                got.extend_from_slice(&buf[..n]);
            }
            let end = super::head_end(&got).unwrap();
            got.drain(..end + 4);
            // In pieces, so that framing is not an accident of one read.
            for piece in answer.chunks(7) {
                s.write_all(piece).unwrap();
                s.flush().unwrap();
            }
        }
    });
    port
}

#[test]
fn keep_alive_reads_each_framing_in_turn() {
    let port = serve(vec![
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;x=1\r\ndefg\r\n0\r\nX-T: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nthe rest",
    ]);
    let mut c = Conn::open(port).unwrap();
    let r = c.get("/a").unwrap();
    assert_eq!((r.status, &r.body[..]), (200, &b"hello"[..]));
    assert_eq!(r.header("content-length").as_deref(), Some("5"));
    let r = c.get("/b").unwrap();
    assert_eq!(&r.body[..], b"abcdefg");
    let r = c.request("HEAD", "/a", &[]).unwrap();
    assert_eq!((r.status, r.body.len()), (200, 0));
    assert_eq!(c.get("/c").unwrap().status, 204);
    assert_eq!(c.get("/d").unwrap().status, 404);
    let r = c.get("/e").unwrap();
    assert_eq!((&r.body[..], r.closed.is_some()), (&b"the rest"[..], true));
}

#[test]
fn pipelined_requests_get_their_own_responses() {
    let port = serve(vec![
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n22",
    ]);
    let mut c = Conn::open(port).unwrap();
    c.send(b"GET /1 HTTP/1.1\r\nHost: t\r\n\r\nGET /2 HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(c.read_response(false).unwrap().body, b"1");
    assert_eq!(c.read_response(false).unwrap().body, b"22");
    assert!(c.closed_by_server(Duration::from_secs(2)));
}

#[test]
fn truncated_and_silent_responses_are_errors() {
    let port = serve(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"]);
    let mut c = Conn::open(port).unwrap();
    let e = c.get("/").unwrap_err();
    assert!(matches!(e, HttpError::Closed { during: "body", .. }), "{e}");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut c = Conn::open(port).unwrap();
    c.set_timeout(Duration::from_millis(200));
    let e = c.get("/").unwrap_err();
    assert!(matches!(e, HttpError::Timeout { during: "head" }), "{e}");
}

#[test]
fn a_stream_is_read_until_close() {
    let port = serve(vec![
        b"HTTP/1.1 200 OK\r\nContent-Type: video/webm\r\n\r\nbytes",
    ]);
    let r = get(port, Duration::from_secs(5));
    assert_eq!((r.status, &r.body[..]), (200, &b"bytes"[..]));
    assert_eq!(r.header("Content-Type").as_deref(), Some("video/webm"));
    assert!(r.closed.is_some());
}

#[test]
fn decodes_chunked_in_any_split() {
    let body = b"3;x=y\r\nabc\r\nA\r\n0123456789\r\n0\r\nT: v\r\n\r\nNEXT";
    for split in [1, 2, 5, body.len()] {
        let mut got = Vec::new();
        let mut c = Chunked::START;
        let mut used = 0;
        for b in body.chunks(split) {
            used += c.decode(b, &mut |d| got.extend_from_slice(d)).unwrap();
            if c.is_done() {
                break;
            }
        }
        assert_eq!(got, b"abc0123456789");
        assert!(c.is_done() && c.last_chunk_seen());
        assert_eq!(&body[used..], b"NEXT", "split {split}");
    }
    let mut c = Chunked::START;
    c.decode(b"0\r\n", &mut |_| {}).unwrap();
    assert!(c.last_chunk_seen() && !c.is_done());
    let mut c = Chunked::START;
    assert_eq!(c.decode(b"zz\r\n", &mut |_| {}), Err(ChunkError::BadSize));
    let mut c = Chunked::START;
    assert_eq!(
        c.decode(b"1\r\nab", &mut |_| {}),
        Err(ChunkError::MissingCrlf)
    );
}
