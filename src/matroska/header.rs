//! The live stream header: what every client receives before its first
//! Cluster, rebuilt from the input's EBML header and level-1 elements (the
//! rebuilding is in `builder`).

use bytes::Bytes;

use crate::ebml::{ChildError, EbmlError};

pub use super::attachments::DroppedAttachments;
pub use super::tracks::{TrackEntry, TrackType};

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
    /// The TrackEntry elements of Tracks, in stream order.
    pub tracks: Vec<TrackEntry>,
    /// The Tracks element as read, sent in `bytes`.
    pub tracks_element: Bytes,
    /// Attachments of the input left out of `bytes` because no track needs
    /// their fonts (see [`SegmenterOptions::keep_attachments`]).
    ///
    /// [`SegmenterOptions::keep_attachments`]: crate::segmenter::SegmenterOptions::keep_attachments
    pub dropped_attachments: Option<DroppedAttachments>,
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
    /// has header `other`: the same TimestampScale and the same number of
    /// tracks, each with the same decoding setup as the track of its
    /// TrackNumber (see [`TrackEntry::same_decoding_setup`]). Not the same
    /// bytes: ffmpeg and GStreamer write new random TrackUIDs on every
    /// start, and a restarted encoder must not cut its viewers off.
    pub fn same_tracks(&self, other: &StreamHeader) -> bool {
        self.timestamp_scale == other.timestamp_scale
            && self.tracks.len() == other.tracks.len()
            && by_number(&self.tracks)
                .zip(by_number(&other.tracks))
                .all(|(a, b)| a.same_decoding_setup(b))
    }

    /// e.g. `VP8 640x360 + Vorbis 2ch`.
    pub fn describe_tracks(&self) -> String {
        let parts: Vec<String> = self.tracks.iter().map(TrackEntry::describe).collect();
        parts.join(" + ")
    }
}

/// `tracks` in TrackNumber order, so that tracks are matched by number
/// whatever order the muxer wrote them in.
fn by_number(tracks: &[TrackEntry]) -> impl Iterator<Item = &TrackEntry> {
    let mut sorted: Vec<&TrackEntry> = tracks.iter().collect();
    sorted.sort_by_key(|t| t.number);
    sorted.into_iter()
}

/// Why a header element could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// The named element (EBML header, Info, Tracks...) does not parse
    /// as EBML children.
    Element(&'static str, ChildError),
    /// The named field holds a value of the wrong form.
    BadValue(&'static str, EbmlError),
    /// DocType is neither `webm` nor `matroska`.
    UnsupportedDocType(String),
    /// A Cluster came before any Tracks: nothing says what it holds.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matroska::ids;
    use crate::matroska::test_writer::{el, uint_el};
    use crate::matroska::tracks::parse_tracks;

    const TRACK_UID: u32 = 0x73C5;
    const NAME: u32 = 0x536E;
    const LANGUAGE: u32 = 0x0022_B59C;

    /// What the test header's two tracks (VP9 video 1, Opus audio 2) hold.
    struct Fields {
        uids: [u64; 2],
        name: &'static str,
        language: &'static str,
        video_codec: &'static str,
        video_type: u64,
        size: (u64, u64),
        opus_head: Vec<u8>,
        channels: u64,
        rate: f64,
        timestamp_scale: u64,
        audio_first: bool,
        subtitle_track: bool,
    }

    fn fields() -> Fields {
        Fields {
            uids: [0x1111, 0x2222],
            name: "camera",
            language: "eng",
            video_codec: "V_VP9",
            video_type: 1,
            size: (640, 360),
            opus_head: b"OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00".to_vec(),
            channels: 2,
            rate: 48000.0,
            timestamp_scale: 1_000_000,
            audio_first: false,
            subtitle_track: false,
        }
    }

    fn entry(number: u64, uid: u64, track_type: u64, codec: &str, rest: &[Vec<u8>]) -> Vec<u8> {
        let head = [
            uint_el(ids::TRACK_NUMBER, number),
            uint_el(TRACK_UID, uid),
            uint_el(ids::TRACK_TYPE, track_type),
            el(ids::CODEC_ID, codec.as_bytes()),
        ];
        el(ids::TRACK_ENTRY, &[&head[..], rest].concat().concat())
    }

    fn header(f: &Fields) -> StreamHeader {
        let video_settings = [
            uint_el(ids::PIXEL_WIDTH, f.size.0),
            uint_el(ids::PIXEL_HEIGHT, f.size.1),
        ];
        let video = entry(
            1,
            f.uids[0],
            f.video_type,
            f.video_codec,
            &[
                el(NAME, f.name.as_bytes()),
                el(ids::VIDEO, &video_settings.concat()),
            ],
        );
        let audio_settings = [
            el(ids::SAMPLING_FREQUENCY, &f.rate.to_be_bytes()),
            uint_el(ids::CHANNELS, f.channels),
        ];
        let audio = entry(
            2,
            f.uids[1],
            2,
            "A_OPUS",
            &[
                el(LANGUAGE, f.language.as_bytes()),
                el(ids::CODEC_PRIVATE, &f.opus_head),
                el(ids::AUDIO, &audio_settings.concat()),
            ],
        );
        let mut entries = if f.audio_first {
            vec![audio, video]
        } else {
            vec![video, audio]
        };
        if f.subtitle_track {
            entries.push(entry(3, 0x3333, 0x11, "S_TEXT/WEBVTT", &[]));
        }
        let data = entries.concat();
        StreamHeader {
            bytes: Bytes::new(),
            doc_type: "webm".into(),
            timestamp_scale: f.timestamp_scale,
            tracks: parse_tracks(&data).unwrap(),
            tracks_element: Bytes::from(el(ids::TRACKS, &data)),
            dropped_attachments: None,
        }
    }

    #[test]
    fn codec_private_is_read() {
        let h = header(&fields());
        assert_eq!(h.tracks.len(), 2);
        assert_eq!(h.tracks[0].codec_private, None);
        let private = h.tracks[1].codec_private.as_deref();
        assert_eq!(private, Some(&fields().opus_head[..]));
        assert_eq!(h.tracks[1].sampling_frequency, Some(48000.0));
    }

    /// A change to [`fields`], named for assertion messages.
    type Edit = (&'static str, fn(&mut Fields));

    /// The test header with `edit` applied to its fields.
    fn with(edit: fn(&mut Fields)) -> StreamHeader {
        let mut f = fields();
        edit(&mut f);
        header(&f)
    }

    #[test]
    fn uids_names_languages_and_order_do_not_make_other_tracks() {
        let base = header(&fields());
        let same: [Edit; 4] = [
            ("TrackUID", |f| f.uids = [0xAAAA, 0xBBBB]),
            ("Name", |f| f.name = "screen"),
            ("Language", |f| f.language = "fra"),
            ("order", |f| f.audio_first = true),
        ];
        for (what, edit) in same {
            let other = with(edit);
            assert_ne!(base.tracks_element, other.tracks_element, "{what}");
            assert!(base.same_tracks(&other), "{what}");
            assert!(other.same_tracks(&base), "{what}");
        }
    }

    #[test]
    fn each_decoding_field_makes_other_tracks() {
        let base = header(&fields());
        let different: [Edit; 9] = [
            ("CodecPrivate", |f| f.opus_head[9] = 1),
            ("PixelWidth", |f| f.size.0 = 1280),
            ("PixelHeight", |f| f.size.1 = 720),
            ("Channels", |f| f.channels = 1),
            ("SamplingFrequency", |f| f.rate = 44100.0),
            ("CodecID", |f| f.video_codec = "V_VP8"),
            ("TrackType", |f| f.video_type = 3),
            ("track count", |f| f.subtitle_track = true),
            ("TimestampScale", |f| f.timestamp_scale = 100_000),
        ];
        for (what, edit) in different {
            let other = with(edit);
            assert!(!base.same_tracks(&other), "{what}");
            assert!(!other.same_tracks(&base), "{what}");
        }
    }

    #[test]
    fn track_numbers_are_matched_not_positions() {
        let base = header(&fields());
        let mut renumbered = base.clone();
        renumbered.tracks[0].number = 3;
        assert!(!base.same_tracks(&renumbered));
        // Two tracks claiming one number match neither way round.
        let mut doubled = base.clone();
        doubled.tracks[1] = TrackEntry {
            number: 1,
            ..base.tracks[0].clone()
        };
        assert!(!base.same_tracks(&doubled));
        assert!(!doubled.same_tracks(&base));
    }
}
