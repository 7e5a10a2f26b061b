//! EBML primitives (RFC 8794): variable-size integers, element IDs and sizes,
//! and the typed payload reads Matroska needs.
//!
//! Every reader takes a byte slice that may be incomplete (input arrives in
//! arbitrary chunks), so "not enough bytes yet" is `Ok(None)`, distinct from
//! malformed bytes, which are a typed [`EbmlError`]. Nothing here panics on
//! untrusted input.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod children;
mod write;

use std::fmt;

pub use children::{children, Child, ChildError};
pub use write::{write_id, write_size, write_uint_element, UNKNOWN_SIZE_BYTES};

/// An element's size field when all its value bits are ones: "unknown size",
/// used by live muxers for Segment and Cluster. The readers return it as a
/// plain `None`; only the tests name it.
#[cfg(test)]
pub const UNKNOWN_SIZE: Option<u64> = None;

/// Longest element ID Matroska allows (EBMLMaxIDLength default).
pub const MAX_ID_LEN: usize = 4;
/// Longest size field (EBMLMaxSizeLength default).
pub const MAX_SIZE_LEN: usize = 8;

/// Why bytes are not valid EBML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EbmlError {
    /// A vint's first byte is `0x00`: its length would exceed 8 bytes.
    InvalidVintLength,
    /// An element ID longer than 4 bytes, or an ID whose value bits are all
    /// zeros or all ones (reserved).
    InvalidId,
    /// An unsigned integer payload longer than 8 bytes.
    UintTooLong(u64),
    /// A float payload that is not 0, 4 or 8 bytes.
    BadFloatSize(u64),
    /// A string payload that is not UTF-8.
    BadString,
}

impl fmt::Display for EbmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EbmlError::InvalidVintLength => write!(f, "variable-size integer longer than 8 bytes"),
            EbmlError::InvalidId => write!(f, "invalid element ID"),
            EbmlError::UintTooLong(n) => write!(f, "unsigned integer of {n} bytes (max 8)"),
            EbmlError::BadFloatSize(n) => write!(f, "float of {n} bytes (must be 0, 4 or 8)"),
            EbmlError::BadString => write!(f, "string is not valid UTF-8"),
        }
    }
}

impl std::error::Error for EbmlError {}

/// Length in bytes of the vint whose first byte is `first`, from its leading
/// zero bits.
pub fn vint_len(first: u8) -> Result<usize, EbmlError> {
    if first == 0 {
        Err(EbmlError::InvalidVintLength)
    } else {
        Ok(first.leading_zeros() as usize + 1)
    }
}

/// Reads an element size: `(value, length)` where `value` is `None` for the
/// all-ones unknown-size marker of any width.
pub fn read_size(buf: &[u8]) -> Result<Option<(Option<u64>, usize)>, EbmlError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let len = vint_len(first)?;
    let Some(bytes) = buf.get(..len) else {
        return Ok(None);
    };
    // Drop the length marker bit from the first byte.
    let mask = if len == 8 { 0 } else { 0xFFu8 >> len };
    let mut value = u64::from(first & mask);
    for &b in bytes.iter().skip(1) {
        value = (value << 8) | u64::from(b);
    }
    let all_ones = (1u64 << (7 * len)) - 1;
    Ok(Some((
        if value == all_ones { None } else { Some(value) },
        len,
    )))
}

/// Reads an element ID, keeping its length marker bits (the Matroska
/// convention: Cluster is `0x1F43B675`).
pub fn read_id(buf: &[u8]) -> Result<Option<(u32, usize)>, EbmlError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let len = vint_len(first).map_err(|_| EbmlError::InvalidId)?;
    if len > MAX_ID_LEN {
        return Err(EbmlError::InvalidId);
    }
    let Some(bytes) = buf.get(..len) else {
        return Ok(None);
    };
    let id = bytes.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
    // Value bits all zeros or all ones are reserved.
    let value_bits = 7 * len as u32;
    let value = id & ((1u32 << value_bits) - 1);
    if value == 0 || value == (1u32 << value_bits) - 1 {
        return Err(EbmlError::InvalidId);
    }
    Ok(Some((id, len)))
}

/// An element's ID and size, as read from the start of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElementHeader {
    /// The element ID, marker bits kept (see [`read_id`]).
    pub id: u32,
    /// `None` is unknown size.
    pub size: Option<u64>,
    /// Bytes taken by ID and size together.
    pub header_len: usize,
}

impl ElementHeader {
    /// Total element length (header + data) if the size is known and fits.
    pub fn total_len(&self) -> Option<u64> {
        self.size
            .and_then(|s| s.checked_add(self.header_len as u64))
    }
}

/// Reads an element header (ID then size).
pub fn read_element_header(buf: &[u8]) -> Result<Option<ElementHeader>, EbmlError> {
    let Some((id, id_len)) = read_id(buf)? else {
        return Ok(None);
    };
    let Some((size, size_len)) = read_size(buf.get(id_len..).unwrap_or(&[]))? else {
        return Ok(None);
    };
    Ok(Some(ElementHeader {
        id,
        size,
        header_len: id_len + size_len,
    }))
}

/// Reads a big-endian unsigned integer payload (0–8 bytes; empty is 0).
pub fn read_uint(data: &[u8]) -> Result<u64, EbmlError> {
    if data.len() > 8 {
        return Err(EbmlError::UintTooLong(data.len() as u64));
    }
    Ok(data.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

/// Reads a float payload (0, 4 or 8 bytes; empty is 0.0).
pub fn read_float(data: &[u8]) -> Result<f64, EbmlError> {
    match data.len() {
        0 => Ok(0.0),
        4 => Ok(f64::from(f32::from_bits(read_uint(data)? as u32))),
        8 => Ok(f64::from_bits(read_uint(data)?)),
        n => Err(EbmlError::BadFloatSize(n as u64)),
    }
}

/// Reads a string payload; trailing NUL padding is allowed by EBML and cut.
pub fn read_string(data: &[u8]) -> Result<&str, EbmlError> {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    std::str::from_utf8(data.get(..end).unwrap_or(&[])).map_err(|_| EbmlError::BadString)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_every_width_and_unknown_marker() {
        for len in 1..=8usize {
            // All ones at this width: unknown.
            let mut b = vec![0xFFu8; len];
            b[0] = if len == 8 {
                0x01
            } else {
                (0xFFu8 >> len) | (0x80 >> (len - 1))
            };
            assert_eq!(read_size(&b), Ok(Some((None, len))), "width {len}");
            // Value 5 at this width.
            let mut b = vec![0u8; len];
            b[0] = 0x80 >> (len - 1);
            b[len - 1] |= 5;
            assert_eq!(read_size(&b), Ok(Some((Some(5), len))), "width {len}");
            // Largest known value at this width: all ones minus one.
            let mut b = vec![0xFFu8; len];
            b[0] = if len == 8 {
                0x01
            } else {
                (0xFFu8 >> len) | (0x80 >> (len - 1))
            };
            b[len - 1] = 0xFE;
            let max = (1u64 << (7 * len)) - 2;
            assert_eq!(read_size(&b), Ok(Some((Some(max), len))));
        }
        assert_eq!(read_size(&[0x7F, 0xFF]), Ok(Some((None, 2))));
        assert_eq!(read_size(&[0x3F, 0xFF, 0xFF]), Ok(Some((None, 3))));
        assert_eq!(read_size(&UNKNOWN_SIZE_BYTES), Ok(Some((None, 8))));
    }

    #[test]
    fn size_incomplete_and_invalid() {
        assert_eq!(read_size(&[]), Ok(None));
        assert_eq!(read_size(&[0x40]), Ok(None));
        assert_eq!(read_size(&[0x01, 0, 0]), Ok(None));
        assert_eq!(read_size(&[0x00, 1, 2]), Err(EbmlError::InvalidVintLength));
    }

    #[test]
    fn ids() {
        assert_eq!(
            read_id(&[0x1F, 0x43, 0xB6, 0x75]),
            Ok(Some((0x1F43B675, 4)))
        );
        assert_eq!(read_id(&[0xA3, 0x00]), Ok(Some((0xA3, 1))));
        assert_eq!(read_id(&[0x42, 0x82]), Ok(Some((0x4282, 2))));
        assert_eq!(read_id(&[0x2A, 0xD7]), Ok(None));
        assert_eq!(read_id(&[0x08, 1, 2, 3, 4]), Err(EbmlError::InvalidId));
        assert_eq!(read_id(&[0x00]), Err(EbmlError::InvalidId));
        assert_eq!(read_id(&[0xFF]), Err(EbmlError::InvalidId));
        assert_eq!(read_id(&[0x80]), Err(EbmlError::InvalidId));
    }

    #[test]
    fn element_header() {
        let h = read_element_header(&[
            0x1F, 0x43, 0xB6, 0x75, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ])
        .unwrap()
        .unwrap();
        assert_eq!(h.id, 0x1F43B675);
        assert_eq!(h.size, UNKNOWN_SIZE);
        assert_eq!(h.header_len, 12);
        assert_eq!(h.total_len(), None);
        let h = read_element_header(&[0xE7, 0x81, 0x00]).unwrap().unwrap();
        assert_eq!(
            (h.id, h.size, h.header_len, h.total_len()),
            (0xE7, Some(1), 2, Some(3))
        );
        assert_eq!(read_element_header(&[0xE7]), Ok(None));
        assert_eq!(
            read_element_header(&[0xE7, 0x00]),
            Err(EbmlError::InvalidVintLength)
        );
    }

    #[test]
    fn payloads() {
        assert_eq!(read_uint(&[]), Ok(0));
        assert_eq!(read_uint(&[0x0F, 0x42, 0x40]), Ok(1_000_000));
        assert_eq!(read_uint(&[0; 9]), Err(EbmlError::UintTooLong(9)));
        assert_eq!(read_float(&[]), Ok(0.0));
        assert_eq!(read_float(&1.5f32.to_be_bytes()), Ok(1.5));
        assert_eq!(read_float(&2.25f64.to_be_bytes()), Ok(2.25));
        assert_eq!(read_float(&[0; 3]), Err(EbmlError::BadFloatSize(3)));
        assert_eq!(read_string(b"webm"), Ok("webm"));
        assert_eq!(read_string(b"webm\0\0"), Ok("webm"));
        assert_eq!(read_string(&[0xFF, 0xFE]), Err(EbmlError::BadString));
    }
}
