//! MP4 sample entries from Matroska TrackEntries, per the codec mappings:
//! the decoder configuration boxes are mp4-atom's, filled from
//! CodecPrivate (which for H.264, H.265 and AV1 is that box's body).

use mp4_atom::esds::{DecoderConfig, DecoderSpecific, EsDescriptor};
use mp4_atom::{
    Atom, Audio, Av01, Av1c, Avc1, Avcc, Codec, Dfla, Dops, Esds, Flac, FlacMetadataBlock, Hvc1,
    Hvcc, Mp4a, Opus, OpusChannelMapping, Visual, Vp09, VpcC,
};

use super::frames::Family;
use crate::matroska::header::TrackEntry;

/// Why a track has no MP4 sample entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryError {
    /// Neither audio nor video (subtitles, buttons...).
    NotAudioOrVideo,
    /// A codec the remux does not carry (VP8, Vorbis...).
    Codec,
    /// The codec needs CodecPrivate and the track has none.
    NoCodecPrivate,
    /// CodecPrivate does not parse as the codec's configuration.
    BadCodecPrivate(String),
    /// An audio track without a usable SamplingFrequency.
    NoSampleRate,
}

impl std::fmt::Display for EntryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EntryError::NotAudioOrVideo => write!(f, "neither audio nor video"),
            EntryError::Codec => write!(f, "codec not carried in MP4 by mkvcast"),
            EntryError::NoCodecPrivate => write!(f, "no CodecPrivate"),
            EntryError::BadCodecPrivate(e) => write!(f, "unusable CodecPrivate: {e}"),
            EntryError::NoSampleRate => write!(f, "no sampling frequency"),
        }
    }
}

/// The codec family and sample entry of `t`.
pub(crate) fn sample_entry(t: &TrackEntry) -> Result<(Family, Codec), EntryError> {
    let private = t.codec_private.as_deref();
    let need = || private.ok_or(EntryError::NoCodecPrivate);
    let bad = |e: mp4_atom::Error| EntryError::BadCodecPrivate(e.to_string());
    let visual = visual(t);
    Ok(match t.codec_id.as_str() {
        "V_MPEG4/ISO/AVC" => {
            let avcc = Avcc::decode_body(&mut need()?).map_err(bad)?;
            (
                Family::Avc,
                Avc1 {
                    visual,
                    avcc,
                    ..Default::default()
                }
                .into(),
            )
        }
        "V_MPEGH/ISO/HEVC" => {
            let hvcc = Hvcc::decode_body(&mut need()?).map_err(bad)?;
            (
                Family::Hevc,
                Hvc1 {
                    visual,
                    hvcc,
                    ..Default::default()
                }
                .into(),
            )
        }
        "V_AV1" => {
            let av1c = Av1c::decode_body(&mut need()?).map_err(bad)?;
            (
                Family::Av1,
                Av01 {
                    visual,
                    av1c,
                    ..Default::default()
                }
                .into(),
            )
        }
        "V_VP9" => {
            let vpcc = vp9_config(private.unwrap_or(&[]));
            (
                Family::Vp9,
                Vp09 {
                    visual,
                    vpcc,
                    ..Default::default()
                }
                .into(),
            )
        }
        "A_OPUS" => (Family::Opus, opus(t, need()?)?),
        "A_FLAC" => (Family::Flac, flac(t, need()?)?),
        id if id.starts_with("A_AAC") => (Family::Aac, aac(t)?),
        _ => return Err(EntryError::Codec),
    })
}

fn visual(t: &TrackEntry) -> Visual {
    let dim = |v: Option<u64>| v.map_or(0, |v| u16::try_from(v).unwrap_or(u16::MAX));
    Visual {
        width: dim(t.width),
        height: dim(t.height),
        ..Default::default()
    }
}

/// The AudioSampleEntry fields: the rate field is 16.16, so a rate above
/// 65535 Hz is written as 0 (the decoder config carries the real one).
fn audio(t: &TrackEntry, rate: u32) -> Audio {
    let channels = t.channels.unwrap_or(2);
    Audio {
        data_reference_index: 1,
        channel_count: u16::try_from(channels).unwrap_or(2),
        sample_size: 16,
        sample_rate: u16::try_from(rate).unwrap_or(0).into(),
    }
}

fn rate_of(t: &TrackEntry) -> Result<u32, EntryError> {
    Family::Aac.sample_rate(t).ok_or(EntryError::NoSampleRate)
}

/// `Opus` with `dOps`: the OpusHead of CodecPrivate without its magic, as
/// version 0 with big-endian fields (mp4-atom writes them so).
fn opus(t: &TrackEntry, head: &[u8]) -> Result<Codec, EntryError> {
    let bad = || EntryError::BadCodecPrivate("not an OpusHead".into());
    let body = head.strip_prefix(b"OpusHead").ok_or_else(bad)?;
    let (&[_version, channels, s0, s1, r0, r1, r2, r3, g0, g1, family], rest) =
        body.split_first_chunk::<11>().ok_or_else(bad)?;
    let channel_mapping = match family {
        0 => None,
        family => {
            let (&[stream_count, coupled_count], map) =
                rest.split_first_chunk::<2>().ok_or_else(bad)?;
            let map = map.get(..usize::from(channels)).ok_or_else(bad)?;
            Some(OpusChannelMapping {
                family,
                stream_count,
                coupled_count,
                channel_mapping: map.to_vec(),
            })
        }
    };
    let dops = Dops {
        output_channel_count: channels,
        pre_skip: u16::from_le_bytes([s0, s1]),
        input_sample_rate: u32::from_le_bytes([r0, r1, r2, r3]),
        output_gain: i16::from_le_bytes([g0, g1]),
        channel_mapping,
    };
    let mut audio = audio(t, 48_000);
    audio.channel_count = u16::from(channels);
    Ok(Opus {
        audio,
        dops,
        btrt: None,
    }
    .into())
}

/// `fLaC` with `dfLa`: CodecPrivate's metadata blocks after the `fLaC`
/// marker; only STREAMINFO is kept (the others are not needed to decode).
fn flac(t: &TrackEntry, private: &[u8]) -> Result<Codec, EntryError> {
    let blocks = private
        .strip_prefix(b"fLaC")
        .ok_or_else(|| EntryError::BadCodecPrivate("no fLaC marker".into()))?;
    // dfLa's body: a full box header (version 0, no flags), then the blocks.
    let body = [&[0u8; 4][..], blocks].concat();
    let dfla = Dfla::decode_body(&mut body.as_slice())
        .map_err(|e| EntryError::BadCodecPrivate(e.to_string()))?;
    let Some(info @ FlacMetadataBlock::StreamInfo { .. }) = dfla.blocks.into_iter().next() else {
        return Err(EntryError::BadCodecPrivate("no STREAMINFO first".into()));
    };
    let dfla = Dfla { blocks: vec![info] };
    Ok(Flac {
        audio: audio(t, rate_of(t)?),
        dfla,
    }
    .into())
}

/// `mp4a` with `esds`: the AudioSpecificConfig is CodecPrivate, or built
/// from the CodecID profile, the rate and the channels when there is none.
fn aac(t: &TrackEntry) -> Result<Codec, EntryError> {
    let rate = rate_of(t)?;
    let raw = match t.codec_private.as_deref() {
        Some(p) if p.len() >= 2 => p.to_vec(),
        _ => audio_specific_config(&t.codec_id, rate, t.channels.unwrap_or(2)),
    };
    let (b0, b1) = (
        raw.first().copied().unwrap_or(0),
        raw.get(1).copied().unwrap_or(0),
    );
    let dec_specific = DecoderSpecific {
        profile: b0 >> 3,
        freq_index: ((b0 & 7) << 1) | (b1 >> 7),
        chan_conf: (b1 >> 3) & 0xF,
        raw,
    };
    let es_desc = EsDescriptor {
        es_id: 0,
        dec_config: DecoderConfig {
            object_type_indication: 0x40,
            stream_type: 5,
            dec_specific: Some(dec_specific),
            ..Default::default()
        },
        ..Default::default()
    };
    let esds = Esds { es_desc };
    Ok(Mp4a {
        audio: audio(t, rate),
        esds,
        btrt: None,
        taic: None,
    }
    .into())
}

/// ISO 14496-3 sampling frequency indices.
const AAC_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// An AudioSpecificConfig: 5-bit object type (from the Matroska CodecID:
/// MAIN 1, LC 2, SSR 3, LTP 4; SBR streams as LC, whose decoders find the
/// SBR themselves), 4-bit rate index (or 15 and the 24-bit rate), 4-bit
/// channel configuration.
pub(crate) fn audio_specific_config(codec_id: &str, rate: u32, channels: u64) -> Vec<u8> {
    let object: u64 = match codec_id.rsplit('/').find(|p| *p != "SBR") {
        Some("MAIN") => 1,
        Some("SSR") => 3,
        Some("LTP") => 4,
        _ => 2,
    };
    let (index, explicit) = match AAC_RATES.iter().position(|&r| r == rate) {
        Some(i) => (i as u64, None),
        None => (15, Some(u64::from(rate) & 0xFF_FFFF)),
    };
    let chan = match channels {
        1..=6 => channels,
        8 => 7,
        _ => 0,
    };
    let (mut bits, mut len) = ((object << 4) | index, 9u32);
    if let Some(r) = explicit {
        (bits, len) = ((bits << 24) | r, len + 24);
    }
    (bits, len) = ((bits << 4) | chan, len + 4);
    let pad = (8 - len % 8) % 8;
    let total = (len + pad) / 8;
    let bits = bits << pad;
    (0..total).rev().map(|i| (bits >> (8 * i)) as u8).collect()
}

/// `vpcC` from the VP9 CodecPrivate features (ID 1 profile, 2 level, 3 bit
/// depth, 4 chroma subsampling; each ID, length 1, value), with 8-bit 4:2:0
/// and BT.709-unspecified colour when absent.
fn vp9_config(private: &[u8]) -> VpcC {
    let mut c = VpcC {
        profile: 0,
        level: 10,
        bit_depth: 8,
        chroma_subsampling: 1,
        video_full_range_flag: false,
        color_primaries: 2,
        transfer_characteristics: 2,
        matrix_coefficients: 2,
        codec_initialization_data: Vec::new(),
    };
    let mut rest = private;
    while let Some((&[id, len], tail)) = rest.split_first_chunk::<2>() {
        let Some((value, next)) = tail.split_at_checked(usize::from(len)) else {
            break;
        };
        if let &[v] = value {
            match id {
                1 => c.profile = v,
                2 => c.level = v,
                3 => c.bit_depth = v,
                4 => c.chroma_subsampling = v,
                _ => {}
            }
        }
        rest = next;
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_specific_config_bits() {
        // LC (2), 48 kHz (3), stereo: 00010 0011 0010 000 = 0x11 0x90.
        assert_eq!(
            audio_specific_config("A_AAC/MPEG4/LC", 48000, 2),
            [0x11, 0x90]
        );
        // MAIN (1), 44.1 kHz (4), mono: 00001 0100 0001 000 = 0x0A 0x08.
        assert_eq!(
            audio_specific_config("A_AAC/MPEG2/MAIN", 44100, 1),
            [0x0A, 0x08]
        );
        // SBR is written as LC.
        assert_eq!(
            audio_specific_config("A_AAC/MPEG4/LC/SBR", 24000, 2),
            [0x13, 0x10]
        );
        // 50 kHz: escape index 15 and 24 bits of rate; 5+4+24+4 = 37 bits.
        let asc = audio_specific_config("A_AAC", 50000, 2);
        assert_eq!(asc.len(), 5);
        assert_eq!(asc[0] >> 3, 2);
        assert_eq!(((asc[0] & 7) << 1) | (asc[1] >> 7), 15);
    }

    #[test]
    fn vp9_features_read() {
        let c = vp9_config(&[1, 1, 2, 2, 1, 31, 3, 1, 10, 9, 1, 0]);
        assert_eq!((c.profile, c.level, c.bit_depth), (2, 31, 10));
        assert_eq!(vp9_config(&[1, 1]).profile, 0, "truncated feature ignored");
    }
}
