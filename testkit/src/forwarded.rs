//! Blocks forwarded as they arrive (`SegmenterOptions::forward_blocks`):
//! the invariants that let a server send a cluster's frames before the
//! cluster is complete, checked event by event ([`ForwardCheck`]), and the
//! byte stream a live viewer of such a server gets ([`live_form`]).

use bytes::Bytes;
use mkvcast::internals::cluster::read_block_header;
use mkvcast::internals::{ebml, ids};
use mkvcast::segmenter::{
    Event, LiveBlock, LiveCluster, Segmenter, SegmenterError, SegmenterOptions, Stats,
};
use mkvcast::time::Ticks;

/// The options that forward blocks (everything else the default).
pub fn forwarding() -> SegmenterOptions {
    SegmenterOptions {
        forward_blocks: true,
        ..SegmenterOptions::default()
    }
}

/// Segments a whole in-memory input with `options`, fed in chunks of
/// `chunk` bytes (like `mkvcast::segmenter::segment_all`).
pub fn segment_with(
    input: &[u8],
    chunk: usize,
    options: SegmenterOptions,
) -> Result<(Vec<Event>, Stats), SegmenterError> {
    let mut s = Segmenter::with_options(options);
    let mut out = Vec::new();
    for c in input.chunks(chunk.max(1)) {
        s.feed(c, &mut out)?;
    }
    s.finish(&mut out)?;
    Ok((out, s.stats().clone()))
}

/// Whether `e` is only there because blocks are forwarded.
pub fn is_forwarded(e: &Event) -> bool {
    matches!(e, Event::ClusterStart { .. } | Event::Block(_))
}

/// The Timestamp element holding `ts`, written here rather than with
/// mkvcast's writer so that the check does not lean on what it checks.
fn timestamp_element(ts: Ticks) -> Vec<u8> {
    let bytes = ts.0.to_be_bytes();
    let skip = bytes.iter().position(|&b| b != 0).unwrap_or(7);
    let mut out = vec![0xE7, 0x80 | (8 - skip) as u8];
    out.extend_from_slice(&bytes[skip..]);
    out
}

/// A Cluster's ID and the 8-byte unknown size, as a server opens a served
/// cluster before its end is known.
const OPEN_CLUSTER: [u8; 12] = [
    0x1F, 0x43, 0xB6, 0x75, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
];

/// The stream a live viewer gets from a server that forwards blocks: each
/// header, then every served cluster as `[Cluster ID][unknown size]
/// [Timestamp][its Block events' bytes]`; the `Cluster` events, which
/// repeat those bytes, are left out.
pub fn live_form(events: &[Event]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        match e {
            Event::Header(h) => out.extend_from_slice(&h.bytes),
            Event::ClusterStart { timestamp } => {
                out.extend_from_slice(&OPEN_CLUSTER);
                out.extend_from_slice(&timestamp_element(*timestamp));
            }
            Event::Block(b) => out.extend_from_slice(&b.bytes),
            Event::Cluster(_) => {}
        }
    }
    out
}

/// Checks forwarded events one by one, panicking at the first broken
/// invariant: every `Cluster` closes a run `ClusterStart, Block*` and holds
/// exactly those blocks after its Timestamp (so the [`live_form`] of the run
/// has the same children as the cluster), each `Block` says what its bytes
/// say, and nothing comes outside a run.
#[derive(Debug, Default)]
pub struct ForwardCheck {
    video_track: Option<u64>,
    open: Option<(Ticks, Vec<LiveBlock>)>,
    /// Served clusters checked so far.
    pub clusters: usize,
}

impl ForwardCheck {
    /// Checks the next event.
    pub fn event(&mut self, e: &Event) {
        match e {
            Event::Header(h) => {
                assert!(self.open.is_none(), "a Header inside a served cluster");
                self.video_track = h.video_track();
            }
            Event::ClusterStart { timestamp } => {
                assert!(
                    self.open.is_none(),
                    "ClusterStart {timestamp} before the last served cluster's Cluster"
                );
                self.open = Some((*timestamp, Vec::new()));
            }
            Event::Block(b) => {
                let Some((ts, blocks)) = &mut self.open else {
                    panic!("a Block before any ClusterStart");
                };
                check_block(b, *ts, self.video_track);
                blocks.push(b.clone());
            }
            Event::Cluster(c) => {
                let Some((ts, blocks)) = self.open.take() else {
                    panic!("Cluster {} without a ClusterStart", c.timestamp);
                };
                check_cluster(c, ts, &blocks);
                self.clusters += 1;
            }
        }
    }

    /// The input ended: no served cluster may be left open.
    pub fn end(&self) {
        assert!(
            self.open.is_none(),
            "a served cluster never got its Cluster"
        );
    }
}

/// Checks a whole run of events with a [`ForwardCheck`].
pub fn check_forwarded(events: &[Event]) {
    let mut check = ForwardCheck::default();
    for e in events {
        check.event(e);
    }
    check.end();
}

/// (track, relative timestamp, keyframe) of a SimpleBlock or BlockGroup,
/// read as the segmenter reads them: `None` for any other child or one
/// that does not parse (the last Block of a group counts).
fn block_fields(id: u32, data: &[u8]) -> Option<(u64, i16, bool)> {
    match id {
        ids::SIMPLE_BLOCK => {
            read_block_header(data).map(|b| (b.track, b.relative_timestamp, b.flags & 0x80 != 0))
        }
        ids::BLOCK_GROUP => {
            let mut block = None;
            let mut referenced = false;
            for g in ebml::children(data) {
                let g = g.ok()?;
                match g.header.id {
                    ids::BLOCK => block = read_block_header(g.data),
                    ids::REFERENCE_BLOCK => referenced = true,
                    _ => {}
                }
            }
            block.map(|b| (b.track, b.relative_timestamp, !referenced))
        }
        _ => None,
    }
}

/// A forwarded child is one whole element, and its fields are its bytes'.
fn check_block(b: &LiveBlock, ts: Ticks, video_track: Option<u64>) {
    let h = ebml::read_element_header(&b.bytes)
        .expect("a Block's header parses")
        .expect("a Block's header is complete");
    assert_eq!(
        h.total_len(),
        Some(b.bytes.len() as u64),
        "a Block is one element"
    );
    assert!(ids::is_cluster_child(h.id), "Block child {:X}", h.id);
    let want = match block_fields(h.id, &b.bytes[h.header_len..]) {
        Some((track, rel, keyframe)) => LiveBlock {
            bytes: b.bytes.clone(),
            track: Some(track),
            timestamp: Ticks(ts.0.saturating_add_signed(i64::from(rel))),
            keyframe,
            video: Some(track) == video_track,
        },
        None => LiveBlock {
            bytes: b.bytes.clone(),
            track: None,
            timestamp: ts,
            keyframe: false,
            video: false,
        },
    };
    assert_eq!(*b, want, "the Block's fields are what its bytes say");
}

/// The children of a Cluster element in `bytes` (known or unknown size):
/// the Timestamp's value (first child), then every later child's bytes.
fn children_after_timestamp(bytes: &[u8]) -> (u64, Vec<Bytes>) {
    let h = ebml::read_element_header(bytes)
        .expect("cluster header parses")
        .expect("cluster header complete");
    assert_eq!(h.id, ids::CLUSTER);
    let body = &bytes[h.header_len..];
    let mut it = ebml::children(body).map(|c| c.expect("cluster children parse"));
    let first = it.next().expect("a Timestamp child");
    assert_eq!(first.header.id, ids::TIMESTAMP, "Timestamp first");
    let ts = ebml::read_uint(first.data).expect("Timestamp is a uint");
    let rest = it
        .map(|c| Bytes::copy_from_slice(&body[c.offset..c.end()]))
        .collect();
    (ts, rest)
}

/// The `Cluster` closing a run holds exactly its blocks, in order, after
/// its Timestamp, and the run's live form reads as the same cluster.
fn check_cluster(c: &LiveCluster, ts: Ticks, blocks: &[LiveBlock]) {
    assert_eq!(c.timestamp, ts, "Cluster and ClusterStart timestamps");
    let (c_ts, c_children) = children_after_timestamp(&c.bytes);
    assert_eq!(c_ts, ts.0, "the Cluster's Timestamp element");
    let mut live = OPEN_CLUSTER.to_vec();
    live.extend_from_slice(&timestamp_element(ts));
    for b in blocks {
        live.extend_from_slice(&b.bytes);
    }
    let (live_ts, live_children) = children_after_timestamp(&live);
    assert_eq!(live_ts, ts.0);
    assert_eq!(
        live_children, c_children,
        "the forwarded blocks are the Cluster's children at {ts}"
    );
}
