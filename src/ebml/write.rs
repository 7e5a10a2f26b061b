//! EBML writers, for the elements the live stream rewrites (Segment of
//! unknown size, Info, Cluster sizes and Timestamps).

use super::MAX_SIZE_LEN;

/// Appends an element ID (its bytes as stored: the marker bits are part of
/// the ID value).
pub fn write_id(out: &mut Vec<u8>, id: u32) {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().position(|&b| b != 0).unwrap_or(3);
    out.extend_from_slice(bytes.get(skip..).unwrap_or(&[]));
}

/// Appends a known element size in the shortest vint that holds it (never
/// the all-ones form, which means unknown).
pub fn write_size(out: &mut Vec<u8>, size: u64) {
    let len = (1..=MAX_SIZE_LEN)
        .find(|&len| size < (1u64 << (7 * len)) - 1)
        .unwrap_or(MAX_SIZE_LEN);
    let marked = size | (1u64 << (7 * len));
    let bytes = marked.to_be_bytes();
    out.extend_from_slice(bytes.get(8 - len..).unwrap_or(&[]));
}

/// The 8-byte unknown-size marker, the form live muxers write and every
/// reader accepts.
pub const UNKNOWN_SIZE_BYTES: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

/// Appends a whole unsigned-integer element in its shortest form.
pub fn write_uint_element(out: &mut Vec<u8>, id: u32, value: u64) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().position(|&b| b != 0).unwrap_or(7);
    let payload = bytes.get(skip..).unwrap_or(&[]);
    write_id(out, id);
    write_size(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ebml::read_size;

    #[test]
    fn writers_round_trip() {
        for v in [0u64, 1, 126, 127, 128, 16382, 16383, 1 << 40, (1 << 56) - 2] {
            let mut out = Vec::new();
            write_size(&mut out, v);
            assert_eq!(read_size(&out), Ok(Some((Some(v), out.len()))), "{v}");
        }
        let mut out = Vec::new();
        write_id(&mut out, 0x1F43B675);
        write_id(&mut out, 0xE7);
        assert_eq!(out, [0x1F, 0x43, 0xB6, 0x75, 0xE7]);
        let mut out = Vec::new();
        write_uint_element(&mut out, 0xE7, 0);
        assert_eq!(out, [0xE7, 0x81, 0x00]);
        let mut out = Vec::new();
        write_uint_element(&mut out, 0x2AD7B1, 1_000_000);
        assert_eq!(out, [0x2A, 0xD7, 0xB1, 0x83, 0x0F, 0x42, 0x40]);
    }
}
