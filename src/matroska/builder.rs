//! Building the live stream header from the input's EBML header and
//! level-1 elements, as they arrive before the first Cluster.
//!
//! A live output has no file length and no seek positions, so the Segment
//! gets the unknown size, Info loses Duration, and SeekHead/Cues/Void are
//! never copied. Rewritten elements lose their CRC-32, which would be wrong.

use bytes::Bytes;

use super::attachments;
use super::header::{HeaderError, StreamHeader};
use super::ids;
use super::tracks::{parse_tracks, TrackEntry};
use crate::ebml::{self, ChildError};

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
    keep_attachments: bool,
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

    /// Keeps Attachments even when no track needs fonts. By default they
    /// are dropped then: players built on FFmpeg see an attached file as a
    /// stream that never has packets, and a live one never starts.
    pub fn keep_attachments(&mut self, keep: bool) {
        self.keep_attachments = keep;
    }

    /// Bytes the header would take so far.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Takes Info's data, rewritten for live (see [`rewrite_info`]).
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

    /// Any whole header element (Info, Tracks, Chapters, Attachments or
    /// Tags), by its ID; another ID is ignored.
    pub fn add_element(&mut self, element: Bytes) -> Result<(), HeaderError> {
        let h = match ebml::read_element_header(&element) {
            Ok(Some(h)) => h,
            Ok(None) => return Err(HeaderError::Element("header element", ChildError::Overrun)),
            Err(e) => return Err(HeaderError::Element("header element", ChildError::Ebml(e))),
        };
        let data = element.get(h.header_len..).unwrap_or(&[]);
        match h.id {
            ids::INFO => self.set_info(data),
            ids::TRACKS => self.set_tracks(element.clone(), data),
            ids::CHAPTERS | ids::ATTACHMENTS | ids::TAGS => {
                self.add_other(element);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Whether an element with this ID was added.
    pub fn has(&self, id: u32) -> bool {
        match id {
            ids::INFO => self.info.is_some(),
            ids::TRACKS => self.tracks.is_some(),
            _ => self
                .others
                .iter()
                .any(|e| matches!(ebml::read_id(e), Ok(Some((i, _))) if i == id)),
        }
    }

    /// The finished header, when the first Cluster arrives.
    pub fn finish(mut self) -> Result<StreamHeader, HeaderError> {
        let (tracks_element, tracks) = self.tracks.ok_or(HeaderError::NoTracks)?;
        let dropped_attachments =
            attachments::drop_unneeded(&mut self.others, &tracks, self.keep_attachments);
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
            dropped_attachments,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matroska::attachments::DroppedAttachments;

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

    /// A builder holding EBML header, Info, Tracks with one track of
    /// `subtitle_codec` (besides H.264 and AAC), Tags, one 78-byte file in
    /// Attachments, and Chapters.
    fn builder_with_attachment(subtitle_codec: &str) -> (HeaderBuilder, Bytes) {
        use crate::matroska::test_writer::*;
        let ebml_el = ebml_header("matroska");
        let h = ebml::read_element_header(&ebml_el).unwrap().unwrap();
        let mut b = HeaderBuilder::new(&ebml_el, &ebml_el[h.header_len..]).unwrap();
        b.set_info(&uint_el(ids::TIMESTAMP_SCALE, 1_000_000))
            .unwrap();
        let tracks = [
            track(1, 1, "V_MPEG4/ISO/AVC"),
            track(2, 2, "A_AAC"),
            track(3, 0x11, subtitle_codec),
        ]
        .concat();
        b.set_tracks(Bytes::from(el(ids::TRACKS, &tracks)), &tracks)
            .unwrap();
        b.add_other(Bytes::from(el(ids::TAGS, &[])));
        let att = Bytes::from(attachments(&[("note.txt", &[b'x'; 78])]));
        b.add_other(att.clone());
        b.add_other(Bytes::from(el(ids::CHAPTERS, &[])));
        (b, att)
    }

    #[test]
    fn attachments_are_dropped_when_no_track_needs_fonts() {
        let (b, att) = builder_with_attachment("S_TEXT/UTF8");
        let h = b.finish().unwrap();
        assert_eq!(
            crate::matroska::test_writer::level1_ids(&h.bytes),
            [ids::INFO, ids::TRACKS, ids::TAGS, ids::CHAPTERS]
        );
        assert_eq!(
            h.dropped_attachments,
            Some(DroppedAttachments {
                files: 1,
                bytes: att.len()
            })
        );
        assert_eq!(
            h.dropped_attachments.unwrap().to_string(),
            format!("1 attached file, {} bytes", att.len())
        );
    }

    #[test]
    fn keep_attachments_keeps_them_in_place() {
        let (mut b, att) = builder_with_attachment("S_TEXT/UTF8");
        b.keep_attachments(true);
        let h = b.finish().unwrap();
        assert_eq!(
            crate::matroska::test_writer::level1_ids(&h.bytes),
            [
                ids::INFO,
                ids::TRACKS,
                ids::TAGS,
                ids::ATTACHMENTS,
                ids::CHAPTERS
            ]
        );
        assert!(h.bytes.windows(att.len()).any(|w| w == &att[..]));
        assert_eq!(h.dropped_attachments, None);
    }

    #[test]
    fn an_ass_or_ssa_track_keeps_the_attachments() {
        for codec in ["S_TEXT/ASS", "S_TEXT/SSA"] {
            let (b, att) = builder_with_attachment(codec);
            let h = b.finish().unwrap();
            assert!(
                h.bytes.windows(att.len()).any(|w| w == &att[..]),
                "{codec}: attachments kept"
            );
            assert_eq!(h.dropped_attachments, None, "{codec}");
        }
    }
}
