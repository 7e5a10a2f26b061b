//! Request bodies for push ingest (`PUT`/`SOURCE` from ffmpeg, curl,
//! GStreamer, libshout): which framing the head announces, and a sans-IO
//! decoder that turns the bytes after the head into body bytes for the
//! segmenter, in any chunking. Body bytes are handed out as slices of the
//! input (no copy); only a partial chunk-size line or trailer section is
//! held, and both are capped, so a hostile publisher cannot grow memory.
//!
//! Framing follows RFC 9112: `Transfer-Encoding: chunked` overrides
//! `Content-Length` (§6.3), chunk extensions and trailer fields are read
//! and discarded (§7.1), and the chunk-size line is parsed by `httparse`.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod chunked;
#[cfg(test)]
mod tests;

use std::fmt;

/// Longest chunk-size line held, extensions and CRLF included: real
/// encoders send `1000\r\n`; a longer line is an error, not a buffer.
pub const MAX_CHUNK_LINE: usize = 4 << 10;
/// Longest trailer section held (it is discarded, but checked as fields).
pub const MAX_TRAILER_BYTES: usize = 8 << 10;

/// How the body of a request is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length`: exactly this many bytes (0: a probe, no body).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither header: the body ends when the peer closes.
    UntilClose,
}

impl Framing {
    /// From the request's headers: chunked wins over `Content-Length`
    /// (which is then not even parsed); neither means until close. A bad
    /// `Content-Length` or a transfer coding other than `chunked` is an
    /// error ([`BodyError::status`] gives 400 or 501).
    ///
    /// RFC 9112 §6.1 leaves two checks to the caller, who has the request
    /// line: `Transfer-Encoding` in an HTTP/1.0 request is faulty framing,
    /// and a request with both headers ought to close the connection after
    /// its response (a smuggling attempt is likely).
    pub fn from_headers(headers: &[httparse::Header<'_>]) -> Result<Framing, BodyError> {
        let named = |name: &'static str| {
            headers
                .iter()
                .filter(move |h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
        };
        if named("transfer-encoding").next().is_some() {
            return transfer_coding(named("transfer-encoding"));
        }
        let mut length = None;
        for value in named("content-length") {
            let mut any = false;
            for item in list_items(value) {
                let n = parse_length(item)?;
                // RFC 9110 §8.6: repeats of one value may be taken as it.
                if length.is_some_and(|l| l != n) {
                    return Err(BodyError::BadContentLength);
                }
                length = Some(n);
                any = true;
            }
            if !any {
                return Err(BodyError::BadContentLength);
            }
        }
        Ok(length.map_or(Framing::UntilClose, Framing::Length))
    }
}

/// The transfer codings of every `Transfer-Encoding` header: exactly one
/// `chunked` is the only one supported (RFC 9112 §6.1: it must be last
/// and not applied twice; any other coding is not implemented).
fn transfer_coding<'a>(values: impl Iterator<Item = &'a [u8]>) -> Result<Framing, BodyError> {
    let mut chunked = 0;
    for value in values {
        for coding in list_items(value) {
            if !coding.eq_ignore_ascii_case(b"chunked") {
                return Err(BodyError::UnsupportedTransferCoding);
            }
            chunked += 1;
        }
    }
    match chunked {
        1 => Ok(Framing::Chunked),
        _ => Err(BodyError::BadTransferEncoding),
    }
}

/// The non-empty elements of a comma-separated header list (RFC 9110
/// §5.6.1), optional whitespace trimmed.
fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|s| !s.is_empty())
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// `1*DIGIT` (no sign, which `u64::from_str` would take), within `u64`.
fn parse_length(s: &[u8]) -> Result<u64, BodyError> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return Err(BodyError::BadContentLength);
    }
    s.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
            .ok_or(BodyError::BadContentLength)
    })
}

/// Why a body could not be framed or decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// `Content-Length` is not a number, too large, empty or ambiguous.
    BadContentLength,
    /// `Transfer-Encoding` is empty or applies `chunked` twice.
    BadTransferEncoding,
    /// A transfer coding other than `chunked` (gzip, ...).
    UnsupportedTransferCoding,
    /// A chunk-size line that is not hex digits, extensions and CRLF, or a
    /// size over 64 bits.
    BadChunkSize,
    /// A chunk-size line longer than [`MAX_CHUNK_LINE`].
    ChunkLineTooLong,
    /// Chunk data not followed by CRLF.
    MissingCrlf,
    /// A trailer section longer than [`MAX_TRAILER_BYTES`].
    TrailersTooLong,
    /// A trailer section that is not header fields ending in an empty line.
    BadTrailers,
    /// The peer closed before the end of the body.
    Truncated {
        /// Body bytes received before the close.
        received: u64,
    },
}

impl BodyError {
    /// The response status for an error found in the head: 501 for a
    /// coding we do not implement, 400 for everything else.
    pub fn status(self) -> u16 {
        match self {
            BodyError::UnsupportedTransferCoding => 501,
            _ => 400,
        }
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::BadContentLength => f.write_str("bad Content-Length"),
            BodyError::BadTransferEncoding => f.write_str("bad Transfer-Encoding"),
            BodyError::UnsupportedTransferCoding => {
                f.write_str("unsupported transfer coding (only chunked)")
            }
            BodyError::BadChunkSize => f.write_str("bad chunk-size line"),
            BodyError::ChunkLineTooLong => {
                write!(f, "chunk-size line over {MAX_CHUNK_LINE} bytes")
            }
            BodyError::MissingCrlf => f.write_str("chunk data not followed by CRLF"),
            BodyError::TrailersTooLong => write!(f, "trailers over {MAX_TRAILER_BYTES} bytes"),
            BodyError::BadTrailers => f.write_str("bad trailer section"),
            BodyError::Truncated { received } => {
                write!(f, "body cut short after {received} bytes")
            }
        }
    }
}

impl std::error::Error for BodyError {}

/// Where the decoder is in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// `Content-Length`: this many bytes still to come (never 0).
    Length(u64),
    UntilClose,
    /// In a chunk-size line; a partial one is in `held`.
    SizeLine,
    /// In a chunk's data, this many bytes still to come (never 0).
    Data(u64),
    /// The CRLF after chunk data; `true` once its CR is read.
    DataEnd(bool),
    /// After the last chunk, in the trailer section (a partial one is in
    /// `held`): its newest four bytes, and its length so far.
    Trailers {
        last4: u32,
        len: usize,
    },
    Done,
    /// Decoding stopped at this error; every later call returns it.
    Failed(BodyError),
}

/// Decodes one request body, sans IO: the caller hands in whatever the
/// socket gave and gets body bytes back through a closure.
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    state: State,
    received: u64,
    /// A partial chunk-size line or trailer section (capped).
    held: Vec<u8>,
}

impl BodyDecoder {
    /// A decoder for a body framed as `framing`.
    pub fn new(framing: Framing) -> Self {
        let state = match framing {
            Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::SizeLine,
            Framing::UntilClose => State::UntilClose,
        };
        BodyDecoder {
            state,
            received: 0,
            held: Vec::new(),
        }
    }

    /// Decodes `input` (any chunking), handing each run of body bytes to
    /// `sink` as a slice of `input`. Returns how many bytes of `input` were
    /// used: all of them until the body is complete, fewer once it is (the
    /// rest belongs to the next request on a kept-alive connection).
    pub fn decode(
        &mut self,
        input: &[u8],
        mut sink: impl FnMut(&[u8]),
    ) -> Result<usize, BodyError> {
        if let State::Failed(e) = self.state {
            return Err(e);
        }
        let mut used = 0;
        // Every step uses at least one byte, so this ends.
        while let Some(rest) = input.get(used..).filter(|r| !r.is_empty()) {
            if self.state == State::Done {
                break;
            }
            match self.step(rest, &mut sink) {
                Ok(n) => used += n,
                Err(e) => {
                    self.state = State::Failed(e);
                    self.held = Vec::new();
                    return Err(e);
                }
            }
        }
        Ok(used)
    }

    /// One step on non-empty `rest`: the bytes it used.
    fn step(&mut self, rest: &[u8], sink: &mut impl FnMut(&[u8])) -> Result<usize, BodyError> {
        match self.state {
            State::Length(left) => {
                let n = self.hand_out(rest, left, sink);
                self.state = match left - n as u64 {
                    0 => State::Done,
                    left => State::Length(left),
                };
                Ok(n)
            }
            State::UntilClose => Ok(self.hand_out(rest, u64::MAX, sink)),
            State::SizeLine => self.size_line(rest),
            State::Data(left) => {
                let n = self.hand_out(rest, left, sink);
                self.state = match left - n as u64 {
                    0 => State::DataEnd(false),
                    left => State::Data(left),
                };
                Ok(n)
            }
            State::DataEnd(cr) => {
                self.state = match (cr, rest.first()) {
                    (false, Some(b'\r')) => State::DataEnd(true),
                    (true, Some(b'\n')) => State::SizeLine,
                    _ => return Err(BodyError::MissingCrlf),
                };
                Ok(1)
            }
            State::Trailers { last4, len } => self.trailers(rest, last4, len),
            State::Done | State::Failed(_) => Ok(0),
        }
    }

    /// Hands the first `min(left, rest.len())` bytes of `rest` to `sink`.
    fn hand_out(&mut self, rest: &[u8], left: u64, sink: &mut impl FnMut(&[u8])) -> usize {
        let n = usize::try_from(left).map_or(rest.len(), |l| l.min(rest.len()));
        let data = rest.get(..n).unwrap_or_default();
        sink(data);
        self.received += n as u64;
        n
    }

    /// Whether the body is complete: its length reached, or its last chunk
    /// and trailers read. Never for a body that ends at the close.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Body bytes handed out so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Bytes held between calls (a partial chunk-size line or trailer
    /// section): at most [`MAX_TRAILER_BYTES`].
    pub fn buffered(&self) -> usize {
        self.held.len()
    }

    /// The peer closed: that is the end of an until-close body; for the
    /// others it is an error (truncated) unless the body was complete.
    pub fn finish(&self) -> Result<(), BodyError> {
        match self.state {
            State::UntilClose | State::Done => Ok(()),
            State::Failed(e) => Err(e),
            _ => Err(BodyError::Truncated {
                received: self.received,
            }),
        }
    }
}
