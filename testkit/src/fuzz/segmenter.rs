//! The `segmenter` target: runs of the segmenter over the input in
//! chunkings the input picks, with blocks forwarded and without.

use bytes::Bytes;
use mkvcast::internals::ids;
use mkvcast::segmenter::{
    Event, LiveBlock, LiveCluster, Segmenter, SegmenterError, SegmenterOptions, MAX_CLUSTER_BYTES,
};
use mkvcast::time::Ticks;

use super::check_segment;
use crate::forwarded::{forwarding, is_forwarded, ForwardCheck};
use crate::Rng;

/// One event, comparable (StreamHeader has no `PartialEq`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    Header {
        bytes: Bytes,
        doc_type: String,
        timestamp_scale: u64,
    },
    ClusterStart(Ticks),
    Block(LiveBlock),
    Cluster(LiveCluster),
}

/// What a run of the segmenter produced: every event, and the error that
/// stopped it, if any.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub events: Vec<Out>,
    pub error: Option<SegmenterError>,
}

impl Outcome {
    /// The same run as it is without `forward_blocks`: headers and
    /// clusters only.
    pub fn without_forwarded(&self) -> Outcome {
        Outcome {
            events: self
                .events
                .iter()
                .filter(|e| matches!(e, Out::Header { .. } | Out::Cluster(_)))
                .cloned()
                .collect(),
            error: self.error.clone(),
        }
    }
}

/// Feeds `input` to a new segmenter in chunks whose sizes `next_size` gives
/// (the last one may be shorter), then finishes. Checks the memory bound and
/// the skip count after each chunk and the shape of every event.
pub fn run_segmenter(input: &[u8], next_size: impl FnMut() -> usize) -> Outcome {
    run_segmenter_with(input, SegmenterOptions::default(), next_size)
}

/// [`run_segmenter`] with `options`; with `forward_blocks`, every event
/// also goes through a [`ForwardCheck`].
pub fn run_segmenter_with(
    input: &[u8],
    options: SegmenterOptions,
    mut next_size: impl FnMut() -> usize,
) -> Outcome {
    let mut seg = Segmenter::with_options(options);
    let mut forward = options.forward_blocks.then(ForwardCheck::default);
    let mut events = Vec::new();
    let mut out = Vec::new();
    let mut rest = input;
    let mut error = None;
    while !rest.is_empty() {
        let n = next_size().clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        let r = seg.feed(chunk, &mut out);
        assert!(
            seg.buffered() <= MAX_CLUSTER_BYTES + n,
            "buffered {} after a chunk of {n}",
            seg.buffered()
        );
        check_counts(&seg);
        collect(&mut out, &mut events, &mut forward);
        if let Err(e) = r {
            error = Some(e);
            break;
        }
    }
    if error.is_none() {
        match seg.finish(&mut out) {
            Ok(()) => assert_eq!(seg.buffered(), 0, "finish leaves nothing buffered"),
            Err(e) => error = Some(e),
        }
        check_counts(&seg);
        collect(&mut out, &mut events, &mut forward);
        if let Some(f) = &forward {
            f.end();
        }
    }
    Outcome { events, error }
}

/// Skipped bytes are bytes read: never more than the input (the declared
/// size of an oversized cluster once counted, and overflowed with `--loop`).
fn check_counts(seg: &Segmenter) {
    let s = seg.stats();
    assert!(
        s.bytes_skipped <= s.bytes_in,
        "bytes_skipped {} > bytes_in {}",
        s.bytes_skipped,
        s.bytes_in
    );
}

/// Checks and records the events of one call; `forward` checks them as
/// forwarded events (without it there must be none).
fn collect(out: &mut Vec<Event>, events: &mut Vec<Out>, forward: &mut Option<ForwardCheck>) {
    for e in out.drain(..) {
        match forward {
            Some(f) => f.event(&e),
            None => assert!(!is_forwarded(&e), "forwarded events without forward_blocks"),
        }
        events.push(match e {
            Event::Header(h) => {
                assert!(
                    h.bytes.starts_with(&ids::EBML.to_be_bytes()),
                    "header starts with an EBML header"
                );
                assert!(h.timestamp_scale > 0);
                Out::Header {
                    bytes: h.bytes.clone(),
                    doc_type: h.doc_type.clone(),
                    timestamp_scale: h.timestamp_scale,
                }
            }
            Event::ClusterStart { timestamp } => Out::ClusterStart(timestamp),
            Event::Block(b) => Out::Block(b),
            Event::Cluster(s) => {
                check_segment(&s);
                Out::Cluster(s)
            }
        });
    }
    assert!(
        matches!(events.first(), None | Some(Out::Header { .. })),
        "a header comes before any segment"
    );
}

/// The chunking that the input's first two bytes select: a fixed size in
/// 1..=4096, a fixed tiny size in 1..=16, or a new size in 1..=4096 (small
/// ones as likely as large) for every chunk. The saved corpus depends on
/// these exact sizes, hence on [`Rng`]'s sequence.
pub fn chunk_sizes(seed: u16) -> impl FnMut() -> usize {
    let mode = seed & 3;
    let param = usize::from(seed >> 2);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ u64::from(seed).wrapping_mul(0x2545_F491_4F6C_DD1D));
    move || match mode {
        0 => 1 + param % 4096,
        1 => 1 + param % 16,
        _ => {
            let bits = rng.next() % 13;
            1 + (rng.next() % (1u64 << bits)) as usize
        }
    }
}

/// The `segmenter` target: the first two bytes pick a chunking, the rest is
/// the input. It is fed in those chunks and whole with blocks forwarded,
/// and whole without: the forwarded runs must give the same events and the
/// same error, and hold to the [`ForwardCheck`] invariants; the run
/// without must give the same headers, clusters and error; none may panic
/// or buffer more than `MAX_CLUSTER_BYTES` plus one chunk.
pub fn check_segmenter(data: &[u8]) {
    let [a, b, input @ ..] = data else { return };
    let seed = u16::from_le_bytes([*a, *b]);
    let chunked = run_segmenter_with(input, forwarding(), chunk_sizes(seed));
    let whole = run_segmenter_with(input, forwarding(), || usize::MAX);
    assert_eq!(
        chunked, whole,
        "output depends on the chunking (seed {seed:#06x})"
    );
    let plain = run_segmenter(input, || usize::MAX);
    assert_eq!(
        whole.without_forwarded(),
        plain,
        "forward_blocks changes the clusters"
    );
}
