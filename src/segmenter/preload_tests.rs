//! Reading header elements ahead through the SeekHead, and the segmenter
//! using them: on small files built here, where Tracks or Attachments come
//! after the first Cluster.

use std::io::{Cursor, Seek};

use super::*;
use crate::ebml;
use crate::matroska::header::HeaderError;
use crate::matroska::ids;
use crate::matroska::test_writer::*;

/// One Seek entry with an 8-byte SeekPosition (a fixed width, so the
/// SeekHead's size does not depend on the positions).
fn seek(id: u32, pos: u64) -> Vec<u8> {
    let mut id_bytes = Vec::new();
    ebml::write_id(&mut id_bytes, id);
    el(
        ids::SEEK,
        &[
            el(ids::SEEK_ID, &id_bytes),
            el(ids::SEEK_POSITION, &pos.to_be_bytes()),
        ]
        .concat(),
    )
}

/// A seekable file: EBML header, then a known-size Segment holding a
/// SeekHead that names every element of `before` and `after`, the `before`
/// elements, one cluster, and the `after` elements.
fn file(before: &[Vec<u8>], after: &[Vec<u8>]) -> Vec<u8> {
    let named: Vec<&Vec<u8>> = before.iter().chain(after).collect();
    let seek_head = |positions: &[u64]| {
        let seeks: Vec<u8> = named
            .iter()
            .zip(positions)
            .flat_map(|(e, &p)| seek(ebml::read_id(e).unwrap().unwrap().0, p))
            .collect();
        el(ids::SEEK_HEAD, &seeks)
    };
    let head_len = seek_head(&vec![0; named.len()]).len() as u64;
    let mut positions = Vec::new();
    let mut at = head_len;
    for (i, e) in named.iter().enumerate() {
        if i == before.len() {
            at += av_cluster(0).len() as u64;
        }
        positions.push(at);
        at += e.len() as u64;
    }
    let data = [
        seek_head(&positions),
        before.concat(),
        av_cluster(0),
        after.concat(),
    ]
    .concat();
    [ebml_header("matroska"), el(ids::SEGMENT, &data)].concat()
}

fn srt_tracks() -> Vec<u8> {
    el(
        ids::TRACKS,
        &[track(1, 1, "V_VP8"), track(3, 0x11, "S_TEXT/UTF8")].concat(),
    )
}

fn note() -> Vec<u8> {
    attachments(&[("note.txt", &[b'n'; 78])])
}

fn prefetch(file: &[u8]) -> Option<PrefetchedHeader> {
    let mut cursor = Cursor::new(file);
    let got = prefetch_header(&mut cursor).unwrap();
    assert_eq!(cursor.stream_position().unwrap(), 0, "seeks back");
    got
}

fn run(seg: &mut Segmenter, input: &[u8]) -> Result<Vec<Event>, SegmenterError> {
    let mut out = Vec::new();
    seg.feed(input, &mut out)?;
    seg.finish(&mut out)?;
    Ok(out)
}

fn first_header(events: &[Event]) -> &StreamHeader {
    match events.first() {
        Some(Event::Header(h)) => h,
        other => panic!("no header first: {other:?}"),
    }
}

#[test]
fn prefetch_reads_the_elements_the_seekhead_names_info_and_tracks_first() {
    let input = file(&[info()], &[note(), srt_tracks()]);
    let got = prefetch(&input).unwrap();
    assert_eq!(got.ids(), [ids::INFO, ids::TRACKS, ids::ATTACHMENTS]);
    assert_eq!(got.elements[1].to_vec(), srt_tracks());
    assert_eq!(got.elements[2].to_vec(), note());
}

#[test]
fn prefetch_finds_nothing_without_a_seekhead_or_where_it_points_wrong() {
    let plain = [av_head(), av_cluster(0)].concat();
    assert_eq!(prefetch(&plain), None, "no SeekHead");
    assert_eq!(prefetch(b"not matroska at all"), None);
    assert_eq!(prefetch(&[]), None);
    // Every position one byte off: no element of the named ID is there.
    let mut input = file(&[info()], &[srt_tracks()]);
    let at = input.len() - srt_tracks().len();
    input.insert(at, 0xEC);
    let got = prefetch(&input).unwrap();
    assert_eq!(got.ids(), [ids::INFO], "the misplaced Tracks is left out");
}

#[test]
fn a_truncated_file_is_an_error_that_leaves_the_position() {
    let input = file(&[info()], &[srt_tracks()]);
    let cut = &input[..input.len() - 3];
    let mut cursor = Cursor::new(cut);
    let err = prefetch_header(&mut cursor).unwrap_err();
    assert!(matches!(err, PrefetchError::Io(_)), "{err}");
    assert_eq!(cursor.stream_position().unwrap(), 0);
}

#[test]
fn tracks_after_the_first_cluster_are_used_when_preloaded() {
    let input = file(&[info()], &[srt_tracks(), note()]);
    let err = run(&mut Segmenter::new(), &input).unwrap_err();
    assert_eq!(err, SegmenterError::Header(HeaderError::NoTracks));

    let mut seg = Segmenter::new();
    seg.preload(prefetch(&input).unwrap());
    let events = run(&mut seg, &input).unwrap();
    let h = first_header(&events);
    assert_eq!(h.tracks_element.to_vec(), srt_tracks());
    // Attachments came too, and the SRT track does not need them.
    assert_eq!(level1_ids(&h.bytes), [ids::INFO, ids::TRACKS]);
    assert_eq!(h.dropped_attachments.map(|d| d.files), Some(1));
    let keep = SegmenterOptions {
        keep_attachments: true,
        ..SegmenterOptions::default()
    };
    let mut seg = Segmenter::with_options(keep);
    seg.preload(prefetch(&input).unwrap());
    let events = run(&mut seg, &input).unwrap();
    let h = first_header(&events);
    assert_eq!(
        level1_ids(&h.bytes),
        [ids::INFO, ids::TRACKS, ids::ATTACHMENTS]
    );
    assert_eq!(events.len(), 2, "the header, then the cluster");
}

#[test]
fn the_streams_own_header_elements_win_over_preloaded_ones() {
    let input = file(&[info(), av_tracks()], &[srt_tracks()]);
    let mut seg = Segmenter::new();
    // The SeekHead here names both; the stream brings the first itself.
    seg.preload(prefetch(&input).unwrap());
    let events = run(&mut seg, &input).unwrap();
    assert_eq!(first_header(&events).tracks_element.to_vec(), av_tracks());
}

#[test]
fn preloaded_elements_apply_to_every_pass_but_not_to_a_later_stream() {
    let input = file(&[info()], &[srt_tracks()]);
    let mut seg = Segmenter::new();
    seg.preload(prefetch(&input).unwrap());
    // Two passes over the file (`--loop`): both start with its header.
    for pass in 0..2 {
        let events = run(&mut seg, &input).unwrap();
        assert_eq!(events.len(), 2, "pass {pass}");
        assert_eq!(first_header(&events).tracks_element.to_vec(), srt_tracks());
    }
    // A second file joined on within one pass has only its own elements:
    // without Tracks it is skipped as any stream with an unusable header.
    let joined = [input.clone(), input].concat();
    let mut seg = Segmenter::new();
    seg.preload(prefetch(&joined).unwrap());
    let events = run(&mut seg, &joined).unwrap();
    let headers = events
        .iter()
        .filter(|e| matches!(e, Event::Header(_)))
        .count();
    assert_eq!((headers, events.len()), (1, 2));
}

#[test]
fn prefetch_file_reads_only_regular_files() {
    let mut dev_null = std::fs::File::open("/dev/null").unwrap();
    assert!(prefetch_file(&mut dev_null).is_empty());
    let path = std::env::temp_dir().join(format!("mkvcast-prefetch-{}.mkv", std::process::id()));
    std::fs::write(&path, file(&[info()], &[srt_tracks()])).unwrap();
    let mut f = std::fs::File::open(&path).unwrap();
    let got = prefetch_file(&mut f);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(got.ids(), [ids::INFO, ids::TRACKS]);
    assert_eq!(f.stream_position().unwrap(), 0);
}

#[test]
fn prefetch_keeps_to_the_header_limit() {
    let huge = |id| el(id, &vec![0u8; MAX_HEADER_BYTES + 1]);
    // Attachments over the limit are left out, as they are from a stream.
    let input = file(&[info()], &[srt_tracks(), huge(ids::ATTACHMENTS)]);
    assert_eq!(prefetch(&input).unwrap().ids(), [ids::INFO, ids::TRACKS]);
    // Tracks over it cannot be left out: the header would be unusable.
    let input = file(&[info()], &[huge(ids::TRACKS)]);
    let err = prefetch_header(&mut Cursor::new(&input)).unwrap_err();
    assert!(
        matches!(err, PrefetchError::TooLarge { id: ids::TRACKS, bytes } if bytes > MAX_HEADER_BYTES as u64),
        "{err}"
    );
    assert!(
        err.to_string().contains("the Tracks its SeekHead names"),
        "{err}"
    );
}
