//! `forward_blocks`: the ClusterStart / Block / Cluster runs, when each
//! event comes as bytes arrive, and what stays as it was without it.

use super::tests::{busy_stream, shape};
use super::*;
use crate::ebml;
use crate::matroska::ids;
use crate::matroska::test_writer::*;
use crate::time::Ticks;

fn forwarding() -> SegmenterOptions {
    SegmenterOptions {
        forward_blocks: true,
        ..SegmenterOptions::default()
    }
}

/// The events of `input` fed in chunks of `chunk` bytes, and after which
/// input byte (its offset + 1) each event came.
fn run(input: &[u8], chunk: usize, options: SegmenterOptions) -> (Vec<Event>, Vec<usize>) {
    let mut seg = Segmenter::with_options(options);
    let (mut out, mut at) = (Vec::new(), Vec::new());
    let mut fed = 0;
    for c in input.chunks(chunk) {
        seg.feed(c, &mut out).unwrap();
        fed += c.len();
        at.resize(out.len(), fed);
    }
    seg.finish(&mut out).unwrap();
    at.resize(out.len(), fed);
    (out, at)
}

/// The events without the header, as `(kind, bytes, timestamp)`.
fn body_shape(events: &[Event]) -> Vec<(char, Vec<u8>, u64)> {
    shape(events).into_iter().filter(|e| e.0 != 'H').collect()
}

fn blocks(events: &[Event]) -> Vec<&LiveBlock> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Block(b) => Some(b),
            _ => None,
        })
        .collect()
}

/// An unknown-size Cluster holding `children` (the Timestamp among them,
/// wherever the test puts it).
fn open_cluster(children: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    ebml::write_id(&mut out, ids::CLUSTER);
    out.extend_from_slice(&ebml::UNKNOWN_SIZE_BYTES);
    out.extend_from_slice(&children.concat());
    out
}

#[test]
fn a_known_size_cluster_comes_as_start_blocks_then_the_cluster_as_stored() {
    let c = av_cluster(1000);
    let input = [av_head(), c.clone()].concat();
    let (events, _) = run(&input, input.len(), forwarding());
    let children = [
        simple_block(1, 0, true),
        simple_block(2, 0, false),
        simple_block(1, 40, false),
    ];
    assert_eq!(
        body_shape(&events),
        [
            ('S', vec![], 1000),
            ('B', children[0].clone(), 1000),
            ('B', children[1].clone(), 1000),
            ('B', children[2].clone(), 1040),
            ('C', c, 1000),
        ]
    );
    let fields: Vec<_> = blocks(&events)
        .iter()
        .map(|b| (b.track, b.keyframe, b.video))
        .collect();
    assert_eq!(
        fields,
        [
            (Some(1), true, true),
            (Some(2), false, false),
            (Some(1), false, true)
        ]
    );
}

/// Fed a byte at a time, each block comes with the byte that completes it,
/// and ClusterStart with the one that completes the Timestamp.
#[test]
fn an_unknown_size_cluster_in_one_byte_chunks_forwards_each_block_as_it_completes() {
    let head = av_head();
    let ts = uint_el(ids::TIMESTAMP, 70);
    let children = [
        simple_block(1, 0, true),
        simple_block(2, 5, false),
        simple_block(1, 40, false),
    ];
    let mut input = [head.clone(), open_cluster(std::slice::from_ref(&ts))].concat();
    let mut ends = vec![input.len()];
    for c in &children {
        input.extend_from_slice(c);
        ends.push(input.len());
    }
    let (events, at) = run(&input, 1, forwarding());
    let kinds: Vec<char> = body_shape(&events).iter().map(|e| e.0).collect();
    assert_eq!(kinds, ['S', 'B', 'B', 'B', 'C']);
    // The header comes with the first Cluster's ID; then one event per
    // completed child; the Cluster only at the end of the input.
    assert_eq!(at[1..4 + 1], ends[..]);
    assert_eq!(at[5], input.len());
    let got: Vec<Vec<u8>> = blocks(&events).iter().map(|b| b.bytes.to_vec()).collect();
    assert_eq!(got, children);
}

#[test]
fn keyframes_mid_cluster_start_a_served_cluster_each_with_rebased_blocks() {
    let input = [
        av_head(),
        cluster(
            3000,
            &[
                simple_block(1, 0, true),
                simple_block(2, 5, false),
                simple_block(1, 500, true),
                simple_block(1, 540, false),
            ],
        ),
    ]
    .concat();
    let (events, at) = run(&input, 1, forwarding());
    let second = [simple_block(1, 0, true), simple_block(1, 40, false)];
    let got = body_shape(&events);
    // The first served cluster goes out with the byte completing the
    // keyframe that ends it, not with the end of the input Cluster.
    let keyframe_end = input.len() - second[1].len();
    assert_eq!(at[4..7], [keyframe_end; 3]);
    assert_eq!(at[8], input.len());
    let (chunked, _) = run(&input, 7, forwarding());
    assert_eq!(body_shape(&chunked), got);
    let kinds: Vec<char> = got.iter().map(|e| e.0).collect();
    // The first served cluster is complete, and out, once the second begins.
    assert_eq!(kinds, ['S', 'B', 'B', 'C', 'S', 'B', 'B', 'C']);
    assert_eq!(got[3].2, 3000);
    assert_eq!(got[4], ('S', vec![], 3500));
    assert_eq!(got[5], ('B', second[0].clone(), 3500));
    assert_eq!(got[6], ('B', second[1].clone(), 3540));
    let Event::Cluster(c) = &events[events.len() - 1] else {
        panic!("no Cluster last")
    };
    let body = [vec![uint_el(ids::TIMESTAMP, 3500)], second.to_vec()].concat();
    assert_eq!(c.bytes.to_vec(), el(ids::CLUSTER, &body.concat()));
}

/// Blocks before the Timestamp cannot be placed in time: they come, with
/// ClusterStart, once it arrives.
#[test]
fn blocks_before_the_timestamp_are_held_until_it_arrives() {
    let early = [simple_block(1, 0, true), simple_block(2, 10, false)];
    let ts = uint_el(ids::TIMESTAMP, 70);
    let late = simple_block(1, 40, false);
    let head = av_head();
    let input = [
        head.clone(),
        open_cluster(&[early[0].clone(), early[1].clone(), ts.clone(), late.clone()]),
    ]
    .concat();
    let (events, at) = run(&input, 1, forwarding());
    let ts_end = input.len() - late.len();
    let got = body_shape(&events);
    assert_eq!(
        got[..4],
        [
            ('S', vec![], 70),
            ('B', early[0].clone(), 70),
            ('B', early[1].clone(), 80),
            ('B', late.clone(), 110),
        ]
    );
    assert_eq!(at[1..4], [ts_end; 3]);
    assert_eq!(at[4], input.len());
    let body = [ts, early.concat(), late].concat();
    assert_eq!(got[4], ('C', el(ids::CLUSTER, &body), 70));
}

/// A damaged cluster keeps what it forwarded; one without a Timestamp
/// forwarded nothing and is dropped whole.
#[test]
fn a_damaged_cluster_keeps_what_it_forwarded() {
    let ts = uint_el(ids::TIMESTAMP, 0);
    let (b1, b2) = (simple_block(1, 0, true), simple_block(2, 5, false));
    let garbage = vec![0u8; 9];
    let input = [
        av_head(),
        open_cluster(&[ts.clone(), b1.clone(), b2.clone(), garbage.clone()]),
        open_cluster(&[b1.clone(), b2.clone(), garbage]),
        av_cluster(1000),
    ]
    .concat();
    for chunk in [1, 5, input.len()] {
        let (events, _) = run(&input, chunk, forwarding());
        let got = body_shape(&events);
        let kinds: Vec<char> = got.iter().map(|e| e.0).collect();
        assert_eq!(kinds, ['S', 'B', 'B', 'C', 'S', 'B', 'B', 'B', 'C']);
        assert_eq!(
            got[3].1,
            el(ids::CLUSTER, &[ts.clone(), b1.clone(), b2.clone()].concat())
        );
        assert_eq!(got[8], ('C', av_cluster(1000), 1000));
    }
}

/// The damage is a block that swallowed the start of the next Cluster:
/// the outer cluster keeps what it forwarded (the swallowing block
/// included), and the inner one is read again from its start.
#[test]
fn a_cluster_inside_a_damaged_one_is_read_again_after_it() {
    let inner = av_cluster(1000);
    // Cluster ID, size, Timestamp and the first block's first 3 bytes; the
    // byte after them (the block's relative timestamp, 00) is no ID.
    let swallowed = &inner[..12];
    assert_eq!(inner[12], 0);
    let b1 = simple_block(1, 0, true);
    let b2 = el(ids::SIMPLE_BLOCK, swallowed);
    let ts = uint_el(ids::TIMESTAMP, 0);
    let mut input = [av_head(), open_cluster(&[ts.clone(), b1.clone()])].concat();
    input.extend_from_slice(&b2[..b2.len() - swallowed.len()]);
    input.extend_from_slice(&inner);
    for (options, want) in [
        (
            forwarding(),
            &['S', 'B', 'B', 'C', 'S', 'B', 'B', 'B', 'C'][..],
        ),
        (SegmenterOptions::default(), &['C', 'C'][..]),
    ] {
        for chunk in [1, 4, input.len()] {
            let (events, _) = run(&input, chunk, options);
            let got = body_shape(&events);
            let kinds: Vec<char> = got.iter().map(|e| e.0).collect();
            assert_eq!(kinds, want, "chunk {chunk}");
            let outer = el(ids::CLUSTER, &[ts.clone(), b1.clone(), b2.clone()].concat());
            let clusters: Vec<&(char, Vec<u8>, u64)> = got.iter().filter(|e| e.0 == 'C').collect();
            assert_eq!(clusters[0].1, outer, "chunk {chunk}");
            assert_eq!(clusters[1].1, inner, "chunk {chunk}");
        }
    }
}

/// Without `forward_blocks` there are only Header and Cluster events, the
/// same as with it once ClusterStart and Block are left out.
#[test]
fn forward_blocks_off_gives_the_same_headers_and_clusters_and_nothing_else() {
    let input = busy_stream();
    let (plain, _) = segment_all(&input, input.len()).unwrap();
    for chunk in [1, 3, 64, input.len()] {
        let (off, _) = run(&input, chunk, SegmenterOptions::default());
        assert_eq!(shape(&off), shape(&plain), "chunk {chunk}");
        assert!(off
            .iter()
            .all(|e| matches!(e, Event::Header(_) | Event::Cluster(_))));
        let (on, _) = run(&input, chunk, forwarding());
        let kept: Vec<Event> = on
            .into_iter()
            .filter(|e| matches!(e, Event::Header(_) | Event::Cluster(_)))
            .collect();
        assert_eq!(shape(&kept), shape(&plain), "chunk {chunk}");
    }
    let starts = |events: &[Event]| {
        events
            .iter()
            .filter_map(|e| match e {
                Event::ClusterStart { timestamp } => Some(*timestamp),
                _ => None,
            })
            .collect::<Vec<Ticks>>()
    };
    let (on, _) = run(&input, 1, forwarding());
    let served: Vec<Ticks> = on
        .iter()
        .filter_map(|e| match e {
            Event::Cluster(c) => Some(c.timestamp),
            _ => None,
        })
        .collect();
    assert_eq!(starts(&on), served);
}
