//! The parts of a chunked body that are not data: chunk-size lines and the
//! trailer section. Each is used straight from the input when it arrives
//! whole and held (capped) only when it is split across reads. Where one
//! ends is found by the first LF (a line) or the first empty line (the
//! trailers), so the result never depends on how the input was split.

use super::{BodyDecoder, BodyError, State, MAX_CHUNK_LINE, MAX_TRAILER_BYTES};

/// Trailer fields checked (their count is capped by the section's size too).
const MAX_TRAILERS: usize = 64;
const CRLF_CRLF: u32 = u32::from_be_bytes(*b"\r\n\r\n");
const CRLF: u32 = u32::from_be_bytes([0, 0, b'\r', b'\n']);

impl BodyDecoder {
    /// Reads (part of) a chunk-size line from non-empty `rest`.
    pub(super) fn size_line(&mut self, rest: &[u8]) -> Result<usize, BodyError> {
        let room = MAX_CHUNK_LINE - self.held.len();
        let window = rest.get(..room.min(rest.len())).unwrap_or_default();
        let Some(lf) = window.iter().position(|&b| b == b'\n') else {
            if window.len() == room {
                return Err(BodyError::ChunkLineTooLong);
            }
            self.held.extend_from_slice(rest);
            return Ok(rest.len());
        };
        let used = lf + 1;
        let part = window.get(..used).unwrap_or_default();
        let size = if self.held.is_empty() {
            parse_size_line(part)?
        } else {
            self.held.extend_from_slice(part);
            let size = parse_size_line(&self.held);
            self.held.clear();
            size?
        };
        self.state = match size {
            0 => State::Trailers { last4: 0, len: 0 },
            n => State::Data(n),
        };
        Ok(used)
    }

    /// Reads (part of) the trailer section from non-empty `rest`, given its
    /// newest four bytes and its length so far.
    pub(super) fn trailers(
        &mut self,
        rest: &[u8],
        mut last4: u32,
        mut len: usize,
    ) -> Result<usize, BodyError> {
        for (i, &b) in rest.iter().enumerate() {
            len += 1;
            if len > MAX_TRAILER_BYTES {
                return Err(BodyError::TrailersTooLong);
            }
            last4 = last4 << 8 | u32::from(b);
            // No trailers: a bare CRLF; else fields up to an empty line.
            if (len == 2 && last4 == CRLF) || last4 == CRLF_CRLF {
                let part = rest.get(..=i).unwrap_or_default();
                let ok = if self.held.is_empty() {
                    trailer_section_ok(part)
                } else {
                    self.held.extend_from_slice(part);
                    let ok = trailer_section_ok(&self.held);
                    self.held = Vec::new();
                    ok
                };
                if !ok {
                    return Err(BodyError::BadTrailers);
                }
                self.state = State::Done;
                return Ok(i + 1);
            }
        }
        self.held.extend_from_slice(rest);
        self.state = State::Trailers { last4, len };
        Ok(rest.len())
    }
}

/// A whole chunk-size line, up to its first LF: `httparse` parses it (size,
/// extensions skipped, CRLF); an extension holding a bare LF leaves it
/// Partial, which is an error here.
fn parse_size_line(line: &[u8]) -> Result<u64, BodyError> {
    // httparse reads a line with no digits ("\r\n", ";x\r\n") as size 0;
    // RFC 9112 §7.1 needs at least one.
    if !line.first().is_some_and(u8::is_ascii_hexdigit) {
        return Err(BodyError::BadChunkSize);
    }
    match httparse::parse_chunk_size(line) {
        Ok(httparse::Status::Complete((n, size))) if n == line.len() => Ok(size),
        _ => Err(BodyError::BadChunkSize),
    }
}

/// Whether `section` (ending in an empty line) is exactly header fields and
/// that empty line, as `httparse` reads them.
fn trailer_section_ok(section: &[u8]) -> bool {
    let mut fields = [httparse::EMPTY_HEADER; MAX_TRAILERS];
    matches!(
        httparse::parse_headers(section, &mut fields),
        Ok(httparse::Status::Complete((n, _))) if n == section.len()
    )
}
