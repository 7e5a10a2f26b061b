//! The stream's tracks: what serving needs from each TrackEntry (number,
//! type, codec and its private data, picture size, audio format,
//! DefaultDuration).

use bytes::Bytes;

use super::header::HeaderError;
use super::ids;
use crate::ebml::{self, ChildError};

/// TrackType, as the Matroska specification numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackType {
    /// 1: video.
    Video,
    /// 2: audio.
    Audio,
    /// 3: a mix of video and audio in one track.
    Complex,
    /// 0x10: an overlay logo.
    Logo,
    /// 0x11: subtitles.
    Subtitle,
    /// 0x12: menu buttons.
    Buttons,
    /// 0x20: control codes.
    Control,
    /// 0x21: timed metadata.
    Metadata,
    /// A value the specification does not define (0 when absent).
    Other(u64),
}

impl TrackType {
    /// The type a stored TrackType value names.
    pub fn from_u64(v: u64) -> TrackType {
        match v {
            1 => TrackType::Video,
            2 => TrackType::Audio,
            3 => TrackType::Complex,
            0x10 => TrackType::Logo,
            0x11 => TrackType::Subtitle,
            0x12 => TrackType::Buttons,
            0x20 => TrackType::Control,
            0x21 => TrackType::Metadata,
            other => TrackType::Other(other),
        }
    }

    /// The value as stored in the stream.
    pub fn to_u64(self) -> u64 {
        match self {
            TrackType::Video => 1,
            TrackType::Audio => 2,
            TrackType::Complex => 3,
            TrackType::Logo => 0x10,
            TrackType::Subtitle => 0x11,
            TrackType::Buttons => 0x12,
            TrackType::Control => 0x20,
            TrackType::Metadata => 0x21,
            TrackType::Other(v) => v,
        }
    }

    /// A lower-case word for status pages.
    pub fn as_str(self) -> &'static str {
        match self {
            TrackType::Video => "video",
            TrackType::Audio => "audio",
            TrackType::Subtitle => "subtitle",
            _ => "other",
        }
    }
}

/// A track of the stream: the fields of its TrackEntry that serving needs.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackEntry {
    /// TrackNumber: what the track's blocks name it by.
    pub number: u64,
    /// TrackType.
    pub track_type: TrackType,
    /// CodecID, e.g. `V_VP9` or `A_OPUS`.
    pub codec_id: String,
    /// CodecPrivate: what the decoder is set up with (Vorbis headers,
    /// avcC, OpusHead...). A copy: the header is parsed once per stream.
    pub codec_private: Option<Bytes>,
    /// Video PixelWidth.
    pub width: Option<u64>,
    /// Video PixelHeight.
    pub height: Option<u64>,
    /// Audio Channels.
    pub channels: Option<u64>,
    /// Audio SamplingFrequency, in Hz.
    pub sampling_frequency: Option<f64>,
    /// DefaultDuration of one frame in nanoseconds, if the muxer wrote it.
    pub default_duration_ns: Option<u64>,
}

impl TrackEntry {
    /// Whether a player set up for `self` decodes `other` as it is: the
    /// same TrackNumber, TrackType, CodecID, CodecPrivate, picture size,
    /// sampling frequency and channels. TrackUID, Name, Language and the
    /// like may differ (muxers draw new TrackUIDs on every start).
    pub fn same_decoding_setup(&self, other: &TrackEntry) -> bool {
        self.number == other.number
            && self.track_type == other.track_type
            && self.codec_id == other.codec_id
            && self.codec_private == other.codec_private
            && self.width == other.width
            && self.height == other.height
            && self.sampling_frequency.map(f64::to_bits)
                == other.sampling_frequency.map(f64::to_bits)
            && self.channels == other.channels
    }

    /// A short human description, e.g. `VP8 640x360` or `Vorbis 2ch`.
    pub fn describe(&self) -> String {
        let codec = match self.codec_id.as_str() {
            "V_VP8" => "VP8",
            "V_VP9" => "VP9",
            "V_AV1" => "AV1",
            "V_MPEG4/ISO/AVC" => "H.264",
            "V_MPEGH/ISO/HEVC" => "H.265",
            "A_OPUS" => "Opus",
            "A_VORBIS" => "Vorbis",
            "A_FLAC" => "FLAC",
            "S_TEXT/UTF8" => "text",
            "S_TEXT/WEBVTT" => "WebVTT",
            other if other.starts_with("A_AAC") => "AAC",
            other => other,
        };
        match (self.width, self.height, self.channels) {
            (Some(w), Some(h), _) => format!("{codec} {w}x{h}"),
            (_, _, Some(ch)) => format!("{codec} {ch}ch"),
            _ => codec.to_string(),
        }
    }
}

/// Reads the track list from the Tracks element's data.
pub fn parse_tracks(tracks_data: &[u8]) -> Result<Vec<TrackEntry>, HeaderError> {
    let mut tracks = Vec::new();
    for entry in ebml::children(tracks_data) {
        let entry = entry.map_err(malformed)?;
        if entry.header.id == ids::TRACK_ENTRY {
            tracks.push(parse_track_entry(entry.data)?);
        }
    }
    Ok(tracks)
}

fn malformed(e: ChildError) -> HeaderError {
    HeaderError::Element("Tracks", e)
}

fn uint(what: &'static str, data: &[u8]) -> Result<u64, HeaderError> {
    ebml::read_uint(data).map_err(|e| HeaderError::BadValue(what, e))
}

/// Reads one TrackEntry's data.
fn parse_track_entry(data: &[u8]) -> Result<TrackEntry, HeaderError> {
    let mut t = TrackEntry {
        number: 0,
        track_type: TrackType::Other(0),
        codec_id: String::new(),
        codec_private: None,
        width: None,
        height: None,
        channels: None,
        sampling_frequency: None,
        default_duration_ns: None,
    };
    for c in ebml::children(data) {
        let c = c.map_err(malformed)?;
        match c.header.id {
            ids::TRACK_NUMBER => t.number = uint("TrackNumber", c.data)?,
            ids::TRACK_TYPE => t.track_type = TrackType::from_u64(uint("TrackType", c.data)?),
            ids::CODEC_ID => {
                t.codec_id = ebml::read_string(c.data)
                    .map_err(|e| HeaderError::BadValue("CodecID", e))?
                    .to_string()
            }
            ids::CODEC_PRIVATE => t.codec_private = Some(Bytes::copy_from_slice(c.data)),
            ids::DEFAULT_DURATION => t.default_duration_ns = Some(uint("DefaultDuration", c.data)?),
            ids::VIDEO => parse_video(c.data, &mut t)?,
            ids::AUDIO => parse_audio(c.data, &mut t)?,
            _ => {}
        }
    }
    Ok(t)
}

/// Reads the Video master's picture size.
fn parse_video(data: &[u8], t: &mut TrackEntry) -> Result<(), HeaderError> {
    for v in ebml::children(data) {
        let v = v.map_err(malformed)?;
        match v.header.id {
            ids::PIXEL_WIDTH => t.width = Some(uint("PixelWidth", v.data)?),
            ids::PIXEL_HEIGHT => t.height = Some(uint("PixelHeight", v.data)?),
            _ => {}
        }
    }
    Ok(())
}

/// Reads the Audio master's channels and sampling frequency.
fn parse_audio(data: &[u8], t: &mut TrackEntry) -> Result<(), HeaderError> {
    for a in ebml::children(data) {
        let a = a.map_err(malformed)?;
        match a.header.id {
            ids::CHANNELS => t.channels = Some(uint("Channels", a.data)?),
            ids::SAMPLING_FREQUENCY => {
                t.sampling_frequency = Some(
                    ebml::read_float(a.data)
                        .map_err(|e| HeaderError::BadValue("SamplingFrequency", e))?,
                )
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe() {
        let t = TrackEntry {
            number: 1,
            track_type: TrackType::Video,
            codec_id: "V_VP8".into(),
            codec_private: None,
            width: Some(640),
            height: Some(360),
            channels: None,
            sampling_frequency: None,
            default_duration_ns: None,
        };
        assert_eq!(t.describe(), "VP8 640x360");
        let a = TrackEntry {
            track_type: TrackType::Audio,
            codec_id: "A_VORBIS".into(),
            width: None,
            height: None,
            channels: Some(2),
            ..t.clone()
        };
        assert_eq!(a.describe(), "Vorbis 2ch");
        let h = TrackEntry {
            codec_id: "V_MPEG4/ISO/AVC".into(),
            ..t
        };
        assert_eq!(h.describe(), "H.264 640x360");
    }
}
