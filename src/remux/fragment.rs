//! A media segment: `moof` (mfhd, one `traf` per track with samples:
//! tfhd, tfdt v1, trun v1) + `mdat`.
//!
//! The boxes of `moof` are mp4-atom's. The `mdat` header is written here,
//! eight bytes, so that sample data is copied once, straight from the
//! clusters' `Bytes` into the segment (mp4-atom's `Mdat` would own a
//! second copy); a segment is built once and shared by every fetch.

use bytes::{BufMut, Bytes, BytesMut};
use mp4_atom::{Encode, Mfhd, Moof, Tfdt, Tfhd, Traf, Trun, TrunEntry, TrunSamples};

use super::timing::SampleTime;
use super::RemuxError;

/// `sample_depends_on` = 2 (an I-frame or audio).
pub(crate) const SYNC_FLAGS: u32 = 0x0200_0000;
/// `sample_depends_on` = 1 and `sample_is_non_sync_sample`.
pub(crate) const NON_SYNC_FLAGS: u32 = 0x0101_0000;

/// One track's samples of the segment, in decode order.
#[derive(Debug, Clone)]
pub(crate) struct TrackRun {
    pub id: u32,
    /// Decode time of the first sample (tfdt).
    pub base: u64,
    pub times: Vec<SampleTime>,
    pub sync: Vec<bool>,
    pub frames: Vec<Bytes>,
    /// Write composition offsets (a track that may reorder).
    pub with_cts: bool,
}

/// `moof` + `mdat` for `runs` (tracks without samples left out).
pub(crate) fn media_segment(sequence: u32, runs: &[TrackRun]) -> Result<Bytes, RemuxError> {
    let runs: Vec<&TrackRun> = runs.iter().filter(|r| !r.frames.is_empty()).collect();
    let mut moof = Moof {
        mfhd: Mfhd {
            sequence_number: sequence,
        },
        traf: runs.iter().map(|r| traf(r)).collect::<Result<_, _>>()?,
    };
    // data_offset counts from the moof start (default-base-is-moof): the
    // moof's length is known once encoded, and does not change when the
    // offsets are filled in (a fixed 32-bit field).
    let moof_len = encode(&moof)?.len();
    let mut offset = moof_len + 8;
    for (traf, run) in moof.traf.iter_mut().zip(&runs) {
        let run_offset = i32::try_from(offset).map_err(|_| RemuxError::TooLarge)?;
        if let Some(trun) = traf.trun.first_mut() {
            trun.data_offset = Some(run_offset);
        }
        offset += run.frames.iter().map(Bytes::len).sum::<usize>();
    }
    let moof = encode(&moof)?;
    let mdat_len = u32::try_from(offset - moof_len).map_err(|_| RemuxError::TooLarge)?;
    let mut out = BytesMut::with_capacity(offset);
    out.extend_from_slice(&moof);
    out.put_u32(mdat_len);
    out.extend_from_slice(b"mdat");
    for frame in runs.iter().flat_map(|r| &r.frames) {
        out.extend_from_slice(frame);
    }
    Ok(out.freeze())
}

fn traf(run: &TrackRun) -> Result<Traf, RemuxError> {
    let entries = run
        .times
        .iter()
        .zip(&run.sync)
        .zip(&run.frames)
        .map(|((t, &sync), frame)| {
            Ok(TrunEntry {
                duration: Some(t.duration),
                size: Some(u32::try_from(frame.len()).map_err(|_| RemuxError::TooLarge)?),
                flags: Some(if sync { SYNC_FLAGS } else { NON_SYNC_FLAGS }),
                cts: run.with_cts.then_some(i64::from(t.cts)),
            })
        })
        .collect::<Result<Vec<_>, RemuxError>>()?;
    Ok(Traf {
        tfhd: Tfhd {
            track_id: run.id,
            default_base_is_moof: true,
            ..Default::default()
        },
        tfdt: Some(Tfdt {
            base_media_decode_time: run.base,
        }),
        trun: vec![Trun {
            data_offset: Some(0),
            samples: TrunSamples::Explicit(entries),
        }],
        ..Default::default()
    })
}

/// A box or box tree as bytes.
pub(crate) fn encode<T: Encode>(atom: &T) -> Result<Vec<u8>, RemuxError> {
    let mut buf = Vec::new();
    atom.encode(&mut buf)
        .map_err(|e| RemuxError::Encode(e.to_string()))?;
    Ok(buf)
}
