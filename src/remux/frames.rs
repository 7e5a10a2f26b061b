//! Codec facts the remux needs from frames: how many audio samples one
//! frame holds (AAC, Opus TOC, FLAC frame header), for laced frames and
//! for the last sample of a segment at the live edge.

use crate::matroska::header::TrackEntry;

/// The codecs the remux carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// H.264 (`avc1`).
    Avc,
    /// H.265 (`hvc1`).
    Hevc,
    /// AV1 (`av01`).
    Av1,
    /// VP9 (`vp09`).
    Vp9,
    /// AAC (`mp4a`).
    Aac,
    /// Opus (`Opus`).
    Opus,
    /// FLAC (`fLaC`).
    Flac,
}

impl Family {
    /// The rate a frame's sample count is in: Opus always counts at 48 kHz.
    pub(crate) fn sample_rate(self, t: &TrackEntry) -> Option<u32> {
        match self {
            Family::Opus => Some(48_000),
            Family::Aac | Family::Flac => t
                .sampling_frequency
                .filter(|f| f.is_finite() && *f >= 1.0 && *f <= f64::from(u32::MAX))
                .map(|f| f.round() as u32),
            _ => None,
        }
    }

    /// Opus pre-skip (48 kHz samples) from the OpusHead in CodecPrivate.
    pub(crate) fn pre_skip(self, t: &TrackEntry) -> Option<u16> {
        if self != Family::Opus {
            return None;
        }
        let head = t.codec_private.as_ref()?;
        let b = head.get(10..12)?;
        Some(u16::from_le_bytes([*b.first()?, *b.get(1)?]))
    }
}

/// Audio samples in one frame of `family`, where the codec says so.
pub(crate) fn codec_frame_samples(family: Family, frame: &[u8]) -> Option<u64> {
    match family {
        Family::Aac => Some(1024),
        Family::Opus => opus_samples(frame),
        Family::Flac => flac_block_size(frame),
        _ => None,
    }
}

/// An Opus packet's duration in 48 kHz samples, from its TOC byte (RFC
/// 6716 §3.1: configuration → frame size, code → frame count).
pub(crate) fn opus_samples(packet: &[u8]) -> Option<u64> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    // SILK 10/20/40/60 ms, hybrid 10/20 ms, CELT 2.5/5/10/20 ms.
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880]
            .get(usize::from(config % 4))
            .copied()?,
        12..=15 => 480 << (config % 2),
        _ => 120 << (config % 4),
    };
    let count = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => u64::from(*packet.get(1)? & 0x3F),
    };
    Some(frame * count).filter(|&s| s > 0)
}

/// A FLAC frame's block size from its header (FLAC format: sync code
/// 0xFFF8/9, then the block size code in the high nibble of byte 2; codes
/// 6 and 7 put the size − 1 after the UTF-8-coded frame number).
pub(crate) fn flac_block_size(frame: &[u8]) -> Option<u64> {
    let (&[a, b, c, _], rest) = frame.split_first_chunk::<4>()?;
    if a != 0xFF || b & 0xFE != 0xF8 {
        return None;
    }
    match c >> 4 {
        1 => Some(192),
        n @ 2..=5 => Some(576 << (n - 2)),
        n @ 8..=15 => Some(256 << (n - 8)),
        n @ (6 | 7) => {
            let number_len = (rest.first()?.leading_ones() as usize).max(1);
            let after = rest.get(number_len..)?;
            let size = if n == 6 {
                u64::from(*after.first()?)
            } else {
                u64::from(u16::from_be_bytes([*after.first()?, *after.get(1)?]))
            };
            Some(size + 1)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opus_toc_durations() {
        // Config 31 (CELT 20 ms), one frame: 960 samples.
        assert_eq!(opus_samples(&[31 << 3]), Some(960));
        // Config 1 (SILK 20 ms), two frames (code 1): 1920.
        assert_eq!(opus_samples(&[(1 << 3) | 1]), Some(1920));
        // Config 16 (CELT 2.5 ms), code 3 with 4 frames: 480.
        assert_eq!(opus_samples(&[(16 << 3) | 3, 4]), Some(480));
        // Config 13 (hybrid 20 ms): 960.
        assert_eq!(opus_samples(&[13 << 3]), Some(960));
        assert_eq!(opus_samples(&[]), None);
        assert_eq!(opus_samples(&[3, 0]), None, "code 3 with no frames");
    }

    #[test]
    fn flac_block_sizes() {
        assert_eq!(flac_block_size(&[0xFF, 0xF8, 0xC9, 0x08, 0x00]), Some(4096));
        assert_eq!(flac_block_size(&[0xFF, 0xF8, 0x19, 0x08, 0x00]), Some(192));
        // Code 7: 16-bit size − 1 after a 1-byte frame number.
        assert_eq!(
            flac_block_size(&[0xFF, 0xF8, 0x79, 0x08, 0x05, 0x03, 0xFF]),
            Some(1024)
        );
        // Code 6 after a 2-byte UTF-8 frame number.
        assert_eq!(
            flac_block_size(&[0xFF, 0xF9, 0x69, 0x08, 0xC2, 0x80, 0x7F]),
            Some(128)
        );
        assert_eq!(flac_block_size(&[0xFF, 0xF8, 0x09, 0x08]), None, "reserved");
        assert_eq!(flac_block_size(&[0x12, 0xF8, 0xC9, 0x08]), None, "no sync");
    }
}
