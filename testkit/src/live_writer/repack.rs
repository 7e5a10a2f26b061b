//! Real media as a live encoder writes it: a fixture's header and blocks
//! re-emitted in Clusters of unknown size, one chunk per block, so players
//! that decode get real frames through mkvcast's block-forwarding path.

use mkvcast::internals::ebml::{self, write_id, write_uint_element, Child, UNKNOWN_SIZE_BYTES};
use mkvcast::internals::header::parse_tracks;
use mkvcast::internals::ids;
use mkvcast::matroska::header::TrackType;

use super::Chunk;

/// What one Cluster of the input gives: its Timestamp and its blocks.
struct Input<'a> {
    scale: u64,
    video: Option<u64>,
    timestamp: u64,
    /// Each block's element: as parsed, and its bytes as stored.
    blocks: Vec<(Child<'a>, &'a [u8])>,
}

/// The fixture `file` (Clusters of known size) as chunks: the EBML header,
/// a Segment of unknown size, Info and Tracks as they were (SeekHead, Cues,
/// Tags and the like are dropped: their positions would be wrong), then
/// every Cluster re-emitted with unknown size, its Timestamp first, one
/// chunk per SimpleBlock or BlockGroup (Void, CRC-32, Position and PrevSize
/// are dropped). Clusters whose Timestamp is `max_ms` or later are left out.
pub fn repack(file: &[u8], max_ms: Option<u64>) -> Result<Vec<Chunk>, String> {
    let mut header = Vec::new();
    let mut segment: Option<&[u8]> = None;
    for top in ebml::children(file) {
        let top = top.map_err(|e| format!("top level: {e}"))?;
        match top.header.id {
            ids::EBML => header.extend_from_slice(&file[top.offset..top.end()]),
            ids::SEGMENT => segment = Some(top.data),
            _ => {}
        }
    }
    let segment = segment.ok_or("no Segment")?;
    write_id(&mut header, ids::SEGMENT);
    header.extend_from_slice(&UNKNOWN_SIZE_BYTES);
    let mut input = Input {
        scale: ids::DEFAULT_TIMESTAMP_SCALE,
        video: None,
        timestamp: 0,
        blocks: Vec::new(),
    };
    let mut clusters = Vec::new();
    for el in ebml::children(segment) {
        let el = el.map_err(|e| format!("in Segment: {e}"))?;
        let bytes = &segment[el.offset..el.end()];
        match el.header.id {
            ids::INFO => {
                input.scale = timestamp_scale(el.data)?;
                header.extend_from_slice(bytes);
            }
            ids::TRACKS => {
                let tracks = parse_tracks(el.data).map_err(|e| e.to_string())?;
                input.video = tracks
                    .iter()
                    .find(|t| t.track_type == TrackType::Video)
                    .map(|t| t.number);
                header.extend_from_slice(bytes);
            }
            ids::CLUSTER => clusters.push(el.data),
            _ => {}
        }
    }
    let mut out = vec![Chunk {
        bytes: header,
        media_ns: None,
        keyframe: false,
        video: false,
    }];
    for data in clusters {
        read_cluster(data, &mut input)?;
        if max_ms.is_some_and(|m| input.timestamp * input.scale >= m * 1_000_000) {
            break;
        }
        emit_cluster(&input, &mut out)?;
    }
    Ok(out)
}

fn timestamp_scale(info: &[u8]) -> Result<u64, String> {
    for c in ebml::children(info) {
        let c = c.map_err(|e| format!("in Info: {e}"))?;
        if c.header.id == ids::TIMESTAMP_SCALE {
            return ebml::read_uint(c.data).map_err(|e| e.to_string());
        }
    }
    Ok(ids::DEFAULT_TIMESTAMP_SCALE)
}

/// Fills `input` with the Timestamp and the blocks of one Cluster.
fn read_cluster<'a>(data: &'a [u8], input: &mut Input<'a>) -> Result<(), String> {
    input.blocks.clear();
    for c in ebml::children(data) {
        let c = c.map_err(|e| format!("in Cluster: {e}"))?;
        match c.header.id {
            ids::TIMESTAMP => {
                input.timestamp = ebml::read_uint(c.data).map_err(|e| e.to_string())?
            }
            ids::SIMPLE_BLOCK | ids::BLOCK_GROUP => {
                input.blocks.push((c, &data[c.offset..c.end()]))
            }
            _ => {}
        }
    }
    Ok(())
}

/// `(track, relative timestamp, keyframe)` of a SimpleBlock or BlockGroup.
fn block_info(c: &Child<'_>) -> Result<(u64, i16, bool), String> {
    let (block, key_flag) = if c.header.id == ids::SIMPLE_BLOCK {
        (c.data, None)
    } else {
        let mut block = None;
        let mut referenced = false;
        for g in ebml::children(c.data) {
            let g = g.map_err(|e| format!("in BlockGroup: {e}"))?;
            match g.header.id {
                ids::BLOCK => block = Some(g.data),
                ids::REFERENCE_BLOCK => referenced = true,
                _ => {}
            }
        }
        (block.ok_or("BlockGroup without Block")?, Some(!referenced))
    };
    let (track, n) = ebml::read_size(block)
        .ok()
        .flatten()
        .and_then(|(t, n)| Some((t?, n)))
        .ok_or("bad block track")?;
    let head = block.get(n..n + 3).ok_or("short block")?;
    let rel = i16::from_be_bytes([head[0], head[1]]);
    Ok((track, rel, key_flag.unwrap_or(head[2] & 0x80 != 0)))
}

/// One chunk per block of `input`, the first led by the Cluster's start.
fn emit_cluster(input: &Input<'_>, out: &mut Vec<Chunk>) -> Result<(), String> {
    let mut start = Vec::new();
    write_id(&mut start, ids::CLUSTER);
    start.extend_from_slice(&UNKNOWN_SIZE_BYTES);
    write_uint_element(&mut start, ids::TIMESTAMP, input.timestamp);
    for (i, (c, whole)) in input.blocks.iter().enumerate() {
        let (track, rel, keyframe) = block_info(c)?;
        let ticks = input.timestamp as i64 + i64::from(rel);
        let mut bytes = if i == 0 { start.clone() } else { Vec::new() };
        bytes.extend_from_slice(whole);
        out.push(Chunk {
            bytes,
            media_ns: Some(ticks.max(0) as u64 * input.scale),
            keyframe,
            video: Some(track) == input.video,
        });
    }
    Ok(())
}
