//! A streaming decoder for `Transfer-Encoding: chunked` bodies: the load
//! generator's viewers use it in case a server frames a live stream that
//! way, and [`super::Conn`] to find where a chunked response ends on a
//! keep-alive connection.

use std::fmt;

/// Why a chunked body could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkError {
    EmptySize,
    BadSize,
    SizeTooLong,
    MissingCrlf,
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChunkError::EmptySize => "empty chunk size",
            ChunkError::BadSize => "bad chunk size",
            ChunkError::SizeTooLong => "chunk size too long",
            ChunkError::MissingCrlf => "missing CRLF after chunk",
        })
    }
}

impl std::error::Error for ChunkError {}

/// Where the decoder is; feed it bytes in any split with
/// [`decode`](Self::decode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunked {
    /// Reading the hex chunk size; `ext` after a `;` extension starts.
    Size {
        value: u64,
        digits: u8,
        ext: bool,
    },
    Data(u64),
    /// The CRLF after a chunk's data: expecting `\r` (true) or `\n`.
    DataEnd(bool),
    /// After the zero-size last chunk: trailer lines until an empty one;
    /// `empty` while the current line has nothing but a CR yet.
    Trailers {
        empty: bool,
    },
    /// The message ended (the empty line after the trailers).
    Done,
}

impl Chunked {
    pub const START: Chunked = Chunked::Size {
        value: 0,
        digits: 0,
        ext: false,
    };

    /// The zero-size last chunk arrived: no more payload will follow.
    pub fn last_chunk_seen(&self) -> bool {
        matches!(self, Chunked::Trailers { .. } | Chunked::Done)
    }

    /// The whole message, trailers included, was decoded.
    pub fn is_done(&self) -> bool {
        *self == Chunked::Done
    }

    /// Decodes `data`, handing each run of payload to `out`. Returns how
    /// many bytes were used: all of them, unless the message ended inside
    /// `data` (what follows belongs to the next response).
    pub fn decode(
        &mut self,
        data: &[u8],
        out: &mut impl FnMut(&[u8]),
    ) -> Result<usize, ChunkError> {
        let mut at = 0;
        while let Some(&b) = data.get(at) {
            let mut used = 1;
            *self = match *self {
                Chunked::Size { value, digits, ext } => Self::size(b, value, digits, ext)?,
                Chunked::Data(n) => {
                    used = n.min((data.len() - at) as u64) as usize;
                    out(&data[at..at + used]);
                    if n == used as u64 {
                        Chunked::DataEnd(true)
                    } else {
                        Chunked::Data(n - used as u64)
                    }
                }
                Chunked::DataEnd(true) if b == b'\r' => Chunked::DataEnd(false),
                Chunked::DataEnd(_) if b == b'\n' => Chunked::START,
                Chunked::DataEnd(_) => return Err(ChunkError::MissingCrlf),
                Chunked::Trailers { empty } => match b {
                    b'\n' if empty => Chunked::Done,
                    b'\n' => Chunked::Trailers { empty: true },
                    b'\r' => Chunked::Trailers { empty },
                    _ => Chunked::Trailers { empty: false },
                },
                Chunked::Done => return Ok(at),
            };
            at += used;
        }
        Ok(at)
    }

    /// The next state after byte `b` of a chunk-size line.
    fn size(b: u8, value: u64, digits: u8, ext: bool) -> Result<Chunked, ChunkError> {
        Ok(match b {
            b'\n' if digits == 0 => return Err(ChunkError::EmptySize),
            b'\n' if value == 0 => Chunked::Trailers { empty: true },
            b'\n' => Chunked::Data(value),
            b'\r' => Chunked::Size { value, digits, ext },
            _ if ext => Chunked::Size { value, digits, ext },
            b';' => Chunked::Size {
                value,
                digits,
                ext: true,
            },
            _ => {
                let d = (b as char).to_digit(16).ok_or(ChunkError::BadSize)?;
                if digits >= 15 {
                    return Err(ChunkError::SizeTooLong);
                }
                Chunked::Size {
                    value: value << 4 | u64::from(d),
                    digits: digits + 1,
                    ext,
                }
            }
        })
    }
}
