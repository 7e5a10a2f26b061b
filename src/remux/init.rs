//! The initialization segment: `ftyp` + `moov` (mvhd, one `trak` per
//! carried track, `mvex` with a `trex` each), all boxes mp4-atom's.

use bytes::Bytes;
use mp4_atom::{
    Dinf, Dref, Edts, Elst, ElstEntry, Ftyp, Hdlr, Mdhd, Mdia, Minf, Moov, Mvex, Mvhd, Smhd, Stbl,
    Stco, Stsd, Tkhd, Trak, Trex, Url, Vmhd,
};

use super::fragment::encode;
use super::track::Plan;
use super::RemuxError;

/// `ftyp` + `moov` for `plans`.
pub(crate) fn init_segment(plans: &[Plan]) -> Result<Bytes, RemuxError> {
    let ftyp = Ftyp {
        major_brand: b"iso6".into(),
        minor_version: 0,
        compatible_brands: vec![b"iso6".into(), b"cmfc".into(), b"mp41".into()],
    };
    let next = u32::try_from(plans.len() + 1).unwrap_or(u32::MAX);
    let moov = Moov {
        mvhd: Mvhd {
            timescale: 1000,
            rate: 1.into(),
            volume: 1.into(),
            next_track_id: next,
            ..Default::default()
        },
        mvex: Some(Mvex {
            mehd: None,
            trex: plans.iter().map(trex).collect(),
        }),
        trak: plans.iter().map(trak).collect(),
        ..Default::default()
    };
    let mut out = encode(&ftyp)?;
    out.extend(encode(&moov)?);
    Ok(out.into())
}

fn trex(p: &Plan) -> Trex {
    Trex {
        track_id: p.id,
        default_sample_description_index: 1,
        ..Default::default()
    }
}

fn trak(p: &Plan) -> Trak {
    let (handler, name) = if p.video {
        (b"vide", "mkvcast video")
    } else {
        (b"soun", "mkvcast audio")
    };
    // Opus pre-skip as an edit list: the presentation starts pre-skip
    // samples into the media (ISO/IEC 23003-5 Opus in ISOBMFF, §4.3).
    let edts = p.pre_skip.map(|skip| Edts {
        elst: Some(Elst {
            entries: vec![ElstEntry {
                segment_duration: 0,
                media_time: Some(skip),
                media_rate: 1.into(),
            }],
        }),
    });
    Trak {
        tkhd: Tkhd {
            track_id: p.id,
            enabled: true,
            in_movie: true,
            alternate_group: u16::from(!p.video),
            volume: u8::from(!p.video).into(),
            width: p.width.into(),
            height: p.height.into(),
            ..Default::default()
        },
        edts,
        mdia: Mdia {
            mdhd: Mdhd {
                timescale: p.timescale,
                language: "und".into(),
                ..Default::default()
            },
            hdlr: Hdlr {
                handler: handler.into(),
                name: name.into(),
            },
            minf: Minf {
                vmhd: p.video.then(Vmhd::default),
                smhd: (!p.video).then(Smhd::default),
                dinf: Dinf {
                    dref: Dref {
                        entries: vec![Url::default().into()],
                    },
                },
                stbl: Stbl {
                    stsd: Stsd {
                        codecs: vec![p.codec.clone()],
                    },
                    stco: Some(Stco::default()),
                    ..Default::default()
                },
                ..Default::default()
            },
        },
        ..Default::default()
    }
}
