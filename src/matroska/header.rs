//! The live stream header: what every client receives before its first
//! Cluster, rebuilt from the input's EBML header and level-1 elements.
//!
//! A live output has no file length and no seek positions, so the Segment
//! gets the unknown size, Info loses Duration, and SeekHead/Cues/Void are
//! never copied. Rewritten elements lose their CRC-32, which would be wrong.

use bytes::Bytes;

use super::ids;
use crate::ebml::{self, ChildError};

/// TrackType, as the Matroska specification numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackType {
    Video,
    Audio,
    Complex,
    Logo,
    Subtitle,
    Buttons,
    Control,
    Metadata,
    /// A value the specification does not define (0 when absent).
    Other(u64),
}

impl TrackType {
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
    pub number: u64,
    pub track_type: TrackType,
    pub codec_id: String,
    pub width: Option<u64>,
    pub height: Option<u64>,
    pub channels: Option<u64>,
    pub sampling_frequency: Option<f64>,
    /// DefaultDuration of one frame in nanoseconds, if the muxer wrote it.
    pub default_duration_ns: Option<u64>,
}

impl TrackEntry {
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

/// The header every client receives first, stored once and shared.
#[derive(Debug, Clone)]
pub struct StreamHeader {
    /// EBML header + Segment (unknown size) + Info + Tracks + optional
    /// Chapters/Attachments/Tags, ready to send.
    pub bytes: Bytes,
    /// DocType from the EBML header: `webm` or `matroska`.
    pub doc_type: String,
    /// Nanoseconds per timestamp tick (Info TimestampScale).
    pub timestamp_scale: u64,
    pub tracks: Vec<TrackEntry>,
    /// The Tracks element as read, to tell a restarted encoder sending the
    /// same tracks from a different stream.
    pub tracks_element: Bytes,
}

impl StreamHeader {
    /// Number of the video track clients must start on a keyframe of: the
    /// first track whose TrackType is exactly 1.
    pub fn video_track(&self) -> Option<u64> {
        self.tracks
            .iter()
            .find(|t| t.track_type == TrackType::Video)
            .map(|t| t.number)
    }

    /// HTTP Content-Type for this stream.
    pub fn content_type(&self) -> &'static str {
        match (self.doc_type.as_str(), self.video_track().is_some()) {
            ("webm", true) => "video/webm",
            ("webm", false) => "audio/webm",
            (_, true) => "video/x-matroska",
            (_, false) => "audio/x-matroska",
        }
    }

    /// Whether clients of `self` can simply continue with a stream that
    /// has header `other` (same tracks and time base).
    pub fn same_tracks(&self, other: &StreamHeader) -> bool {
        self.timestamp_scale == other.timestamp_scale && self.tracks_element == other.tracks_element
    }

    /// e.g. `VP8 640x360 + Vorbis 2ch`.
    pub fn describe_tracks(&self) -> String {
        let parts: Vec<String> = self.tracks.iter().map(TrackEntry::describe).collect();
        parts.join(" + ")
    }
}

/// Why a header element could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    Element(&'static str, ChildError),
    BadValue(&'static str, ebml::EbmlError),
    UnsupportedDocType(String),
    NoTracks,
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::Element(what, e) => write!(f, "malformed {what}: {e}"),
            HeaderError::BadValue(what, e) => write!(f, "bad {what}: {e}"),
            HeaderError::UnsupportedDocType(d) => {
                write!(f, "DocType {d:?} is neither \"webm\" nor \"matroska\"")
            }
            HeaderError::NoTracks => write!(f, "no Tracks element before the first Cluster"),
        }
    }
}

impl std::error::Error for HeaderError {}

/// Reads DocType from the EBML header's data (default `matroska`).
pub fn parse_doc_type(ebml_data: &[u8]) -> Result<String, HeaderError> {
    let mut doc_type = String::from("matroska");
    for child in ebml::children(ebml_data) {
        let child = child.map_err(|e| HeaderError::Element("EBML header", e))?;
        if child.header.id == ids::DOC_TYPE {
            doc_type = ebml::read_string(child.data)
                .map_err(|e| HeaderError::BadValue("DocType", e))?
                .to_string();
        }
    }
    match doc_type.as_str() {
        "webm" | "matroska" => Ok(doc_type),
        _ => Err(HeaderError::UnsupportedDocType(doc_type)),
    }
}

/// Appends `id` with `data` as one element with a known size.
fn push_element(out: &mut Vec<u8>, id: u32, data: &[u8]) {
    ebml::write_id(out, id);
    ebml::write_size(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// Rewrites Info for a live output (no Duration, no CRC-32) and returns it
/// with the TimestampScale it declares.
pub fn rewrite_info(info_data: &[u8]) -> Result<(Vec<u8>, u64), HeaderError> {
    let mut scale = ids::DEFAULT_TIMESTAMP_SCALE;
    let mut body = Vec::with_capacity(info_data.len());
    for child in ebml::children(info_data) {
        let child = child.map_err(|e| HeaderError::Element("Info", e))?;
        match child.header.id {
            ids::DURATION | ids::CRC32 | ids::VOID => continue,
            ids::TIMESTAMP_SCALE => {
                scale = ebml::read_uint(child.data)
                    .map_err(|e| HeaderError::BadValue("TimestampScale", e))?;
                if scale == 0 {
                    scale = ids::DEFAULT_TIMESTAMP_SCALE;
                }
            }
            _ => {}
        }
        if let Some(bytes) = info_data.get(child.offset..child.end()) {
            body.extend_from_slice(bytes);
        }
    }
    let mut out = Vec::with_capacity(body.len() + 12);
    push_element(&mut out, ids::INFO, &body);
    Ok((out, scale))
}

/// Reads the track list from the Tracks element's data.
pub fn parse_tracks(tracks_data: &[u8]) -> Result<Vec<TrackEntry>, HeaderError> {
    let err = |e| HeaderError::Element("Tracks", e);
    let uint = |what, data| ebml::read_uint(data).map_err(|e| HeaderError::BadValue(what, e));
    let mut tracks = Vec::new();
    for entry in ebml::children(tracks_data) {
        let entry = entry.map_err(err)?;
        if entry.header.id != ids::TRACK_ENTRY {
            continue;
        }
        let mut t = TrackEntry {
            number: 0,
            track_type: TrackType::Other(0),
            codec_id: String::new(),
            width: None,
            height: None,
            channels: None,
            sampling_frequency: None,
            default_duration_ns: None,
        };
        for c in ebml::children(entry.data) {
            let c = c.map_err(err)?;
            match c.header.id {
                ids::TRACK_NUMBER => t.number = uint("TrackNumber", c.data)?,
                ids::TRACK_TYPE => t.track_type = TrackType::from_u64(uint("TrackType", c.data)?),
                ids::CODEC_ID => {
                    t.codec_id = ebml::read_string(c.data)
                        .map_err(|e| HeaderError::BadValue("CodecID", e))?
                        .to_string()
                }
                ids::DEFAULT_DURATION => {
                    t.default_duration_ns = Some(uint("DefaultDuration", c.data)?)
                }
                ids::VIDEO => {
                    for v in ebml::children(c.data) {
                        let v = v.map_err(err)?;
                        match v.header.id {
                            ids::PIXEL_WIDTH => t.width = Some(uint("PixelWidth", v.data)?),
                            ids::PIXEL_HEIGHT => t.height = Some(uint("PixelHeight", v.data)?),
                            _ => {}
                        }
                    }
                }
                ids::AUDIO => {
                    for a in ebml::children(c.data) {
                        let a = a.map_err(err)?;
                        match a.header.id {
                            ids::CHANNELS => t.channels = Some(uint("Channels", a.data)?),
                            ids::SAMPLING_FREQUENCY => {
                                t.sampling_frequency =
                                    Some(ebml::read_float(a.data).map_err(|e| {
                                        HeaderError::BadValue("SamplingFrequency", e)
                                    })?)
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        tracks.push(t);
    }
    Ok(tracks)
}

/// Collects the pieces of a header as they arrive, until the first Cluster.
#[derive(Debug, Default)]
pub struct HeaderBuilder {
    ebml_element: Vec<u8>,
    doc_type: String,
    info: Option<(Vec<u8>, u64)>,
    tracks: Option<(Bytes, Vec<TrackEntry>)>,
    /// Chapters, Attachments, Tags: copied unchanged.
    others: Vec<Bytes>,
    size: usize,
}

impl HeaderBuilder {
    /// Starts from a whole EBML header element (`element`) and its data.
    pub fn new(element: &[u8], data: &[u8]) -> Result<Self, HeaderError> {
        let doc_type = parse_doc_type(data)?;
        Ok(HeaderBuilder {
            ebml_element: element.to_vec(),
            doc_type,
            size: element.len(),
            ..Default::default()
        })
    }

    /// Bytes the header would take so far.
    pub fn size(&self) -> usize {
        self.size
    }

    pub fn set_info(&mut self, data: &[u8]) -> Result<(), HeaderError> {
        let (info, scale) = rewrite_info(data)?;
        self.size += info.len();
        self.info = Some((info, scale));
        Ok(())
    }

    /// `element` is the whole Tracks element, `data` its data.
    pub fn set_tracks(&mut self, element: Bytes, data: &[u8]) -> Result<(), HeaderError> {
        let tracks = parse_tracks(data)?;
        self.size += element.len();
        self.tracks = Some((element, tracks));
        Ok(())
    }

    /// Chapters, Attachments or Tags, kept as they are.
    pub fn add_other(&mut self, element: Bytes) {
        self.size += element.len();
        self.others.push(element);
    }

    /// The finished header, when the first Cluster arrives.
    pub fn finish(self) -> Result<StreamHeader, HeaderError> {
        let (tracks_element, tracks) = self.tracks.ok_or(HeaderError::NoTracks)?;
        let (info, timestamp_scale) = match self.info {
            Some(i) => i,
            None => {
                // Info is mandatory; a missing one means default scale.
                let mut out = Vec::new();
                push_element(&mut out, ids::INFO, &[]);
                (out, ids::DEFAULT_TIMESTAMP_SCALE)
            }
        };
        let mut out = Vec::with_capacity(self.size + 32);
        out.extend_from_slice(&self.ebml_element);
        ebml::write_id(&mut out, ids::SEGMENT);
        out.extend_from_slice(&ebml::UNKNOWN_SIZE_BYTES);
        out.extend_from_slice(&info);
        out.extend_from_slice(&tracks_element);
        for other in &self.others {
            out.extend_from_slice(other);
        }
        Ok(StreamHeader {
            bytes: Bytes::from(out),
            doc_type: self.doc_type,
            timestamp_scale,
            tracks,
            tracks_element,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_loses_duration_and_crc() {
        let mut data = Vec::new();
        push_element(&mut data, ids::CRC32, &[1, 2, 3, 4]);
        ebml::write_uint_element(&mut data, ids::TIMESTAMP_SCALE, 1_000);
        push_element(&mut data, ids::DURATION, &1234.0f64.to_be_bytes());
        push_element(&mut data, 0x4D80, b"muxer");
        let (out, scale) = rewrite_info(&data).unwrap();
        assert_eq!(scale, 1_000);
        let (h, _) = (ebml::read_element_header(&out).unwrap().unwrap(), ());
        assert_eq!(h.id, ids::INFO);
        let ids: Vec<u32> = ebml::children(&out[h.header_len..])
            .map(|c| c.unwrap().header.id)
            .collect();
        assert_eq!(ids, vec![ids::TIMESTAMP_SCALE, 0x4D80]);
    }

    #[test]
    fn doc_types() {
        let mut data = Vec::new();
        push_element(&mut data, ids::DOC_TYPE, b"webm");
        assert_eq!(parse_doc_type(&data).unwrap(), "webm");
        assert_eq!(parse_doc_type(&[]).unwrap(), "matroska");
        let mut data = Vec::new();
        push_element(&mut data, ids::DOC_TYPE, b"mp4");
        assert!(matches!(
            parse_doc_type(&data),
            Err(HeaderError::UnsupportedDocType(_))
        ));
    }

    #[test]
    fn describe() {
        let t = TrackEntry {
            number: 1,
            track_type: TrackType::Video,
            codec_id: "V_VP8".into(),
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
