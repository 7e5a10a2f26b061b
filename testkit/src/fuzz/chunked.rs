//! The `chunked` target: the push-ingest body decoder on arbitrary bytes as
//! a chunked body, in chunkings the input picks.

use mkvcast::internals::body::{BodyDecoder, BodyError, Framing, MAX_TRAILER_BYTES};

use super::chunk_sizes;

/// What one decoding of a chunked body produced.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Body bytes handed out, in order.
    pub body: Vec<u8>,
    /// Input bytes used; `None` after an error, where the count depends
    /// on the chunking (a split input has used the pieces before it).
    pub used: Option<usize>,
    pub error: Option<BodyError>,
    pub done: bool,
    /// What `finish` said at the end (the peer closing there).
    pub finish: Result<(), BodyError>,
}

/// Decodes `input` as a chunked body in pieces whose sizes `next_size`
/// gives, until it is done, fails or the input ends. Checks after every
/// call: memory stays within the caps, all of a piece is used unless the
/// body is complete, and `received()` counts the bytes handed out.
pub fn run_chunked(input: &[u8], mut next_size: impl FnMut() -> usize) -> Decoded {
    let mut d = BodyDecoder::new(Framing::Chunked);
    let mut body = Vec::new();
    let (mut used, mut error, mut rest) = (0, None, input);
    while !rest.is_empty() && !d.is_done() {
        let n = next_size().clamp(1, rest.len());
        let (piece, tail) = rest.split_at(n);
        rest = tail;
        let r = d.decode(piece, |b| body.extend_from_slice(b));
        assert!(
            d.buffered() <= MAX_TRAILER_BYTES,
            "buffered {}",
            d.buffered()
        );
        assert_eq!(d.received(), body.len() as u64, "received() is the body");
        match r {
            Ok(k) => {
                assert!(k == n || (k < n && d.is_done()), "used {k} of {n}");
                used += k;
            }
            Err(e) => {
                assert_eq!(d.decode(b"0\r\n\r\n", |_| {}), Err(e), "errors stick");
                error = Some(e);
                break;
            }
        }
    }
    if d.is_done() {
        assert_eq!(
            d.decode(b"5\r\nhello\r\n", |_| {}),
            Ok(0),
            "done uses no more"
        );
        assert!(body.len() < used, "a chunked body is longer than its data");
    }
    Decoded {
        body,
        used: error.is_none().then_some(used),
        error,
        done: d.is_done(),
        finish: d.finish(),
    }
}

/// The `chunked` target: the first two bytes pick a chunking (as for the
/// segmenter, [`chunk_sizes`]), the rest is the body. Decoded whole, byte by
/// byte and in that chunking, it must give the same body, error, bytes
/// used, completion and `finish`, and none may panic or hold more than the
/// caps.
pub fn check_chunked(data: &[u8]) {
    let [a, b, input @ ..] = data else { return };
    let seed = u16::from_le_bytes([*a, *b]);
    let whole = run_chunked(input, || usize::MAX);
    let bytewise = run_chunked(input, || 1);
    assert_eq!(bytewise, whole, "byte by byte differs from whole");
    let chunked = run_chunked(input, chunk_sizes(seed));
    assert_eq!(
        chunked, whole,
        "output depends on the chunking (seed {seed:#06x})"
    );
    match (&whole.error, whole.done) {
        (Some(e), _) => assert_eq!(whole.finish, Err(*e)),
        (None, true) => assert_eq!(whole.finish, Ok(())),
        (None, false) => {
            assert_eq!(whole.used, Some(input.len()), "unfinished uses all");
            let received = whole.body.len() as u64;
            assert_eq!(whole.finish, Err(BodyError::Truncated { received }));
        }
    }
}
