use proptest::prelude::*;

use super::*;

fn header<'a>(name: &'a str, value: &'a str) -> httparse::Header<'a> {
    httparse::Header {
        name,
        value: value.as_bytes(),
    }
}

fn framing(headers: &[(&str, &str)]) -> Result<Framing, BodyError> {
    let h: Vec<_> = headers.iter().map(|(n, v)| header(n, v)).collect();
    Framing::from_headers(&h)
}

/// What decoding `input` in pieces of the given sizes gave: the body, the
/// bytes used (0 after an error: that count depends on the pieces), and
/// the error if one stopped it.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    body: Vec<u8>,
    used: usize,
    error: Option<BodyError>,
    done: bool,
}

fn run(framing: Framing, input: &[u8], sizes: &mut dyn Iterator<Item = usize>) -> Run {
    let mut d = BodyDecoder::new(framing);
    let mut body = Vec::new();
    let (mut used, mut error, mut rest) = (0, None, input);
    while !rest.is_empty() && !d.is_done() {
        let n = sizes.next().unwrap_or(usize::MAX).clamp(1, rest.len());
        let (piece, tail) = rest.split_at(n);
        match d.decode(piece, |b| body.extend_from_slice(b)) {
            Ok(k) => {
                used += k;
                assert!(k == n || d.is_done(), "used {k} of {n}, not done");
            }
            Err(e) => {
                (used, error) = (0, Some(e));
                break;
            }
        }
        assert!(d.buffered() <= MAX_TRAILER_BYTES);
        rest = tail;
    }
    assert_eq!(d.received(), body.len() as u64);
    let done = d.is_done();
    Run {
        body,
        used,
        error,
        done,
    }
}

fn whole(framing: Framing, input: &[u8]) -> Run {
    run(framing, input, &mut std::iter::empty())
}

/// Whole, byte by byte and split at every point: the same result.
fn every_split(framing: Framing, input: &[u8]) -> Run {
    let w = whole(framing, input);
    assert_eq!(
        run(framing, input, &mut std::iter::repeat(1)),
        w,
        "bytewise"
    );
    for at in 1..input.len() {
        let r = run(framing, input, &mut [at, usize::MAX].into_iter());
        assert_eq!(r, w, "split at {at}");
    }
    w
}

#[test]
fn framing_from_headers() {
    use Framing::*;
    assert_eq!(framing(&[("Content-Length", "42")]), Ok(Length(42)));
    assert_eq!(framing(&[("content-length", " 0 ")]), Ok(Length(0)));
    assert_eq!(framing(&[("Transfer-Encoding", "Chunked")]), Ok(Chunked));
    assert_eq!(framing(&[("Host", "x")]), Ok(UntilClose));
    assert_eq!(framing(&[]), Ok(UntilClose));
    let both = [("Content-Length", "5"), ("Transfer-Encoding", "chunked")];
    assert_eq!(framing(&both), Ok(Chunked));
    // Chunked wins even over a Content-Length that would be an error.
    let both = [("Transfer-Encoding", "chunked"), ("Content-Length", "x")];
    assert_eq!(framing(&both), Ok(Chunked));
    // Repeats of one value are that value; two values are ambiguous.
    assert_eq!(framing(&[("Content-Length", "7, 7")]), Ok(Length(7)));
    let twice = [("Content-Length", "7"), ("Content-Length", "7")];
    assert_eq!(framing(&twice), Ok(Length(7)));
    let max = u64::MAX.to_string();
    assert_eq!(framing(&[("Content-Length", &max)]), Ok(Length(u64::MAX)));
    for bad in [
        "",
        " ",
        "abc",
        "+5",
        "-1",
        "5 5",
        "0x10",
        "18446744073709551616",
    ] {
        let r = framing(&[("Content-Length", bad)]);
        assert_eq!(r, Err(BodyError::BadContentLength), "{bad:?}");
    }
    let two = [("Content-Length", "7"), ("Content-Length", "8")];
    assert_eq!(framing(&two), Err(BodyError::BadContentLength));
    for (te, err, status) in [
        ("gzip", BodyError::UnsupportedTransferCoding, 501),
        ("gzip, chunked", BodyError::UnsupportedTransferCoding, 501),
        ("chunked;q=1", BodyError::UnsupportedTransferCoding, 501),
        ("chunked, chunked", BodyError::BadTransferEncoding, 400),
        ("", BodyError::BadTransferEncoding, 400),
        (" , ", BodyError::BadTransferEncoding, 400),
    ] {
        let r = framing(&[("Transfer-Encoding", te)]);
        assert_eq!(r, Err(err), "{te:?}");
        assert_eq!(err.status(), status);
    }
    let split = [
        ("Transfer-Encoding", "chunked"),
        ("Transfer-Encoding", "chunked"),
    ];
    assert_eq!(framing(&split), Err(BodyError::BadTransferEncoding));
}

#[test]
fn content_length_stops_at_its_end() {
    let r = every_split(Framing::Length(5), b"helloGET / HTTP/1.1\r\n");
    assert_eq!((&r.body[..], r.used, r.done), (&b"hello"[..], 5, true));
    // A probe: done before any byte, and uses none.
    let mut probe = BodyDecoder::new(Framing::Length(0));
    assert!(probe.is_done());
    assert_eq!(probe.decode(b"GET /", |_| panic!("no body")), Ok(0));
    assert_eq!(probe.finish(), Ok(()));
}

#[test]
fn until_close_takes_everything() {
    let mut d = BodyDecoder::new(Framing::UntilClose);
    let mut body = Vec::new();
    assert_eq!(d.decode(b"abc", |b| body.extend_from_slice(b)), Ok(3));
    assert_eq!(d.decode(b"de", |b| body.extend_from_slice(b)), Ok(2));
    assert_eq!(
        (&body[..], d.received(), d.is_done()),
        (&b"abcde"[..], 5, false)
    );
    assert_eq!(d.finish(), Ok(()));
}

const CHUNKED: &[u8] = b"5\r\nhello\r\n6;name=value\r\n world\r\nA ; x=\"a;b\"\r\n0123456789\r\n\
    0;last\r\nX-Foo: bar\r\nX-Bar: baz\r\n\r\n";

#[test]
fn chunked_extensions_and_trailers_are_discarded() {
    let mut input = CHUNKED.to_vec();
    input.extend_from_slice(b"PUT /next HTTP/1.1\r\n");
    let r = every_split(Framing::Chunked, &input);
    assert_eq!(r.error, None);
    assert_eq!(r.body, b"hello world0123456789");
    assert_eq!(r.used, CHUNKED.len(), "the next request is not used");
    assert!(r.done);
    let r = every_split(Framing::Chunked, b"3\r\nabc\r\n000\r\n\r\nX");
    assert_eq!((&r.body[..], r.used, r.done), (&b"abc"[..], 15, true));
}

#[test]
fn huge_chunk_sizes_are_errors() {
    // 2^64 (17 digits) and far more overflow; u64::MAX itself is a size.
    for line in ["10000000000000000\r\n", &format!("{}\r\n", "f".repeat(100))] {
        let r = every_split(Framing::Chunked, line.as_bytes());
        assert_eq!(r.error, Some(BodyError::BadChunkSize), "{line}");
    }
    let r = whole(Framing::Chunked, b"ffffffffffffffff\r\nabc");
    assert_eq!((&r.body[..], r.error), (&b"abc"[..], None));
}

#[test]
fn a_100k_size_line_is_refused_without_holding_it() {
    let mut line = b"5;".to_vec();
    line.resize(100 << 10, b'a');
    for piece in [1, 1000, usize::MAX] {
        let mut d = BodyDecoder::new(Framing::Chunked);
        let mut used = 0;
        let err = line.chunks(piece.min(line.len())).find_map(|p| {
            let r = d.decode(p, |_| panic!("no body"));
            assert!(d.buffered() < MAX_CHUNK_LINE);
            r.map(|n| used += n).err()
        });
        assert_eq!(err, Some(BodyError::ChunkLineTooLong), "pieces of {piece}");
        assert!(used < MAX_CHUNK_LINE, "used {used}");
        assert_eq!(d.buffered(), 0, "freed at the error");
    }
    // Exactly the limit, CRLF included, is still a line.
    let mut line = b"3;".to_vec();
    line.resize(MAX_CHUNK_LINE - 2, b'a');
    line.extend_from_slice(b"\r\nabc");
    assert_eq!(every_split(Framing::Chunked, &line).body, b"abc");
    line.insert(2, b'a');
    let r = whole(Framing::Chunked, &line);
    assert_eq!(r.error, Some(BodyError::ChunkLineTooLong));
}

#[test]
fn malformed_framing_is_an_error() {
    use BodyError::*;
    for (input, err) in [
        (&b"5\r\nhelloX\r\n0\r\n\r\n"[..], MissingCrlf),
        (b"5\r\nhello\n0\r\n\r\n", MissingCrlf),
        (b"5\r\nhello\r\r\n", MissingCrlf),
        (b"\r\n", BadChunkSize),
        (b";ext\r\n", BadChunkSize),
        (b" 5\r\n", BadChunkSize),
        (b"5\n", BadChunkSize),
        (b"5;a\nb\r\nhello", BadChunkSize),
        (b"5\rx\r\n", BadChunkSize),
        (b"g\r\n", BadChunkSize),
        (b"-5\r\n", BadChunkSize),
        (b"0\r\nnot a field\r\n\r\n", BadTrailers),
        (b"0\r\nX: y\n\r\n\r\n", BadTrailers),
        (b"0\r\n\r\r\n\r\n", BadTrailers),
    ] {
        let r = every_split(Framing::Chunked, input);
        assert_eq!(r.error, Some(err), "{:?}", String::from_utf8_lossy(input));
    }
    let r = whole(Framing::Chunked, b"2\r\nokX");
    assert_eq!((&r.body[..], r.error), (&b"ok"[..], Some(MissingCrlf)));
}

#[test]
fn trailers_are_bounded() {
    let mut input = b"0\r\nX: ".to_vec();
    input.resize(MAX_TRAILER_BYTES + 100, b'a');
    input.extend_from_slice(b"\r\n\r\n");
    let r = run(Framing::Chunked, &input, &mut std::iter::repeat(100));
    assert_eq!(r.error, Some(BodyError::TrailersTooLong));
    // Just under the cap is fine.
    let mut input = b"0\r\nX: ".to_vec();
    input.resize(3 + MAX_TRAILER_BYTES - 4, b'a');
    input.extend_from_slice(b"\r\n\r\n");
    assert!(run(Framing::Chunked, &input, &mut std::iter::repeat(7)).done);
}

#[test]
fn an_error_sticks_and_finish_reports_truncation() {
    let mut d = BodyDecoder::new(Framing::Chunked);
    assert_eq!(d.decode(b"zz\r\n", |_| {}), Err(BodyError::BadChunkSize));
    assert_eq!(
        d.decode(b"5\r\nhello", |_| {}),
        Err(BodyError::BadChunkSize)
    );
    assert_eq!(d.finish(), Err(BodyError::BadChunkSize));

    let truncated = |framing, input: &[u8]| {
        let mut d = BodyDecoder::new(framing);
        assert_eq!(d.decode(input, |_| {}), Ok(input.len()));
        d.finish()
    };
    let cut = |received| Err(BodyError::Truncated { received });
    assert_eq!(truncated(Framing::Length(10), b"hello"), cut(5));
    assert_eq!(truncated(Framing::Chunked, b""), cut(0));
    assert_eq!(truncated(Framing::Chunked, b"5\r\nhel"), cut(3));
    assert_eq!(truncated(Framing::Chunked, b"5\r\nhello\r"), cut(5));
    assert_eq!(
        truncated(Framing::Chunked, b"5\r\nhello\r\n0\r\nX: y\r\n"),
        cut(5)
    );
    let mut d = BodyDecoder::new(Framing::Chunked);
    assert_eq!(d.decode(CHUNKED, |_| {}), Ok(CHUNKED.len()));
    assert_eq!(d.finish(), Ok(()));
    assert_eq!(d.decode(b"more", |_| panic!("done")), Ok(0));
}

#[test]
fn errors_display_on_one_line() {
    use BodyError::*;
    for e in [
        BadContentLength,
        BadTransferEncoding,
        UnsupportedTransferCoding,
        BadChunkSize,
        ChunkLineTooLong,
        MissingCrlf,
        TrailersTooLong,
        BadTrailers,
        Truncated { received: 7 },
    ] {
        let s = e.to_string();
        assert!(!s.is_empty() && !s.contains('\n'), "{s:?}");
    }
    assert_eq!(
        Truncated { received: 7 }.to_string(),
        "body cut short after 7 bytes"
    );
}

/// A chunk: its size, how it is written, and its extension.
fn chunk() -> impl Strategy<Value = (usize, bool, usize, String)> {
    let ext = prop_oneof![
        Just(String::new()),
        "[a-z]{1,8}".prop_map(|n| format!(";{n}")),
        ("[a-z]{1,8}", "[a-z0-9]{0,8}").prop_map(|(n, v)| format!(" ;{n}={v}")),
        "[ -~]{0,20}".prop_map(|q| format!(";q=\"{}\"", q.replace(['"', '\\'], ""))),
    ];
    (1..300usize, any::<bool>(), 0..3usize, ext)
}

/// `body` in chunks of the given sizes (cycled), with extensions and
/// trailers, then `next` (a following request).
fn encode(body: &[u8], chunks: &[(usize, bool, usize, String)], trailers: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    for (size, upper, zeros, ext) in chunks.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (data, tail) = rest.split_at((*size).min(rest.len()));
        let hex = format!("{:0zeros$x}", data.len(), zeros = zeros + 1);
        let hex = if *upper { hex.to_uppercase() } else { hex };
        out.extend_from_slice(format!("{hex}{ext}\r\n").as_bytes());
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
        rest = tail;
    }
    out.extend_from_slice(b"0;end\r\n");
    if trailers {
        out.extend_from_slice(b"X-Checksum: abc\r\nX-Other:\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

proptest! {
    #[test]
    fn random_chunked_bodies_decode_back(
        body in proptest::collection::vec(any::<u8>(), 0..2000),
        chunks in proptest::collection::vec(chunk(), 1..8),
        trailers in any::<bool>(),
        pieces in proptest::collection::vec(1..64usize, 1..16),
    ) {
        let encoded = encode(&body, &chunks, trailers);
        let mut input = encoded.clone();
        input.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        let r = run(Framing::Chunked, &input, &mut pieces.iter().copied().cycle());
        prop_assert_eq!(r.error, None);
        prop_assert_eq!(r.body, body);
        prop_assert_eq!(r.used, encoded.len());
        prop_assert!(r.done);
    }
}
