//! Segmenter throughput on one core.
//!
//!     cargo run --release --example bench_segmenter [-- --mb 512 --passes 1]
//!
//! Builds a large Matroska stream in memory and times feeding it through a
//! fresh `Segmenter` in 64 KiB and 1 MiB chunks (events are consumed and
//! dropped after every `feed`, as a publisher would take them):
//!
//! - **plain**: `fixtures/bench_1mbit.webm` segmented once, then its header
//!   followed by its clusters repeated with continuous, increasing
//!   timestamps (`Segment::with_timestamp`). Clusters are already clean and
//!   start on keyframes, so this is the zero-copy path (no cluster rewrite).
//! - **crc32**: `fixtures/h264_flac.mkv` bytes repeated as is. Every Cluster
//!   carries a CRC-32 the segmenter must drop, so each one is rewritten
//!   (copied); every repetition also starts a new stream (EBML header,
//!   SeekHead, Cues are read or skipped).
//!
//! A copy-only baseline (the `extend_from_slice` every `feed` does) is
//! printed for reference. Options: `--mb N` input size (default 512 MiB),
//! `--passes N` timed passes per case (default 5; best and median are
//! printed), `--only plain|crc32`.

use std::time::{Duration, Instant};

use mkvcast::segmenter::{segment_all, Event, LiveCluster, Segmenter};

const MIB: usize = 1 << 20;

struct Args {
    mib: usize,
    passes: usize,
    only: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        mib: 512,
        passes: 5,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--mb" => a.mib = value().parse().expect("--mb N"),
            "--passes" => a.passes = value().parse::<usize>().expect("--passes N").max(1),
            "--only" => a.only = Some(value()),
            "--bench" => {} // passed by `cargo bench`-style runners
            other => {
                panic!("unknown argument {other:?} (use --mb N, --passes N, --only plain|crc32)")
            }
        }
    }
    a
}

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A benchmark input and what segmenting it must produce.
struct Input {
    label: &'static str,
    bytes: Vec<u8>,
    headers: u64,
    segments: u64,
    /// Bytes of all segments, when known exactly (zero-copy case).
    segment_bytes: Option<u64>,
}

/// Header + the clusters of bench_1mbit.webm, looped with continuous
/// timestamps until the input is at least `min_bytes` long.
fn plain_input(min_bytes: usize) -> Input {
    let file = fixture("bench_1mbit.webm");
    let (events, _) = segment_all(&file, 64 << 10).expect("segmenting bench_1mbit.webm");
    let mut header = None;
    let mut segments: Vec<LiveCluster> = Vec::new();
    for e in events {
        match e {
            Event::Header(h) => header = Some(h),
            Event::Cluster(s) => segments.push(s),
            Event::ClusterStart { .. } | Event::Block(_) => {}
        }
    }
    let header = header.expect("a stream header");
    let scale = header.timestamp_scale;
    let first = segments.first().expect("segments").timestamp.0;
    // One loop lasts from the first cluster to the end of the last frame.
    let end_ns = segments.iter().map(|s| s.end().0).max().unwrap_or(0);
    let last_ts = segments.iter().map(|s| s.timestamp.0).max().unwrap_or(0);
    let loop_ticks = (end_ns.div_ceil(scale)).max(last_ts + 1) - first;
    let per_loop: usize = segments.iter().map(LiveCluster::len).sum();
    let loops = (min_bytes.saturating_sub(header.bytes.len()))
        .div_ceil(per_loop)
        .max(1);

    let mut bytes =
        Vec::with_capacity(header.bytes.len() + loops * (per_loop + 4 * segments.len()));
    bytes.extend_from_slice(&header.bytes);
    let mut segment_bytes = 0u64;
    let mut prev_ts = None;
    for n in 0..loops as u64 {
        for s in &segments {
            let ts = s.timestamp.0 + n * loop_ticks;
            assert!(prev_ts.is_none_or(|p| ts > p), "timestamps must increase");
            prev_ts = Some(ts);
            let s = s.with_timestamp(mkvcast::time::Ticks(ts), scale);
            segment_bytes += s.len() as u64;
            bytes.extend_from_slice(&s.bytes);
        }
    }
    Input {
        label: "plain  (bench_1mbit.webm clusters looped, continuous timestamps)",
        bytes,
        headers: 1,
        segments: (loops * segments.len()) as u64,
        segment_bytes: Some(segment_bytes),
    }
}

/// h264_flac.mkv repeated byte for byte: CRC-32 in every cluster, and a new
/// stream (EBML header) per repetition.
fn crc_input(min_bytes: usize) -> Input {
    let file = fixture("h264_flac.mkv");
    let (_, stats) = segment_all(&file, 64 << 10).expect("segmenting h264_flac.mkv");
    let reps = min_bytes.div_ceil(file.len()).max(1);
    let mut bytes = Vec::with_capacity(reps * file.len());
    for _ in 0..reps {
        bytes.extend_from_slice(&file);
    }
    Input {
        label:
            "crc32  (h264_flac.mkv repeated as is: CRC-32 clusters rewritten, new stream per copy)",
        bytes,
        headers: reps as u64 * stats.headers,
        segments: reps as u64 * stats.clusters,
        segment_bytes: None,
    }
}

struct Run {
    elapsed: Duration,
    segments: u64,
    headers: u64,
    segment_bytes: u64,
}

/// Feeds `input` through a fresh segmenter in `chunk`-byte pieces.
fn run_once(input: &[u8], chunk: usize) -> Run {
    let mut seg = Segmenter::new();
    let mut out = Vec::with_capacity(64);
    let (mut segments, mut headers, mut segment_bytes) = (0u64, 0u64, 0u64);
    let mut consume = |out: &mut Vec<Event>| {
        for e in out.drain(..) {
            match e {
                Event::Header(_) => headers += 1,
                Event::Cluster(s) => {
                    segments += 1;
                    segment_bytes += s.len() as u64;
                }
                Event::ClusterStart { .. } | Event::Block(_) => {}
            }
        }
    };
    let start = Instant::now();
    for c in input.chunks(chunk) {
        seg.feed(std::hint::black_box(c), &mut out).expect("feed");
        consume(&mut out);
    }
    seg.finish(&mut out).expect("finish");
    consume(&mut out);
    let elapsed = start.elapsed();
    let stats = seg.stats();
    assert_eq!(stats.bytes_skipped, 0, "nothing may be skipped: {stats:?}");
    assert_eq!(stats.clusters, segments);
    Run {
        elapsed,
        segments,
        headers,
        segment_bytes,
    }
}

/// Copies `input` in `chunk`-byte pieces into a reused buffer: the floor
/// every `feed` pays.
fn copy_baseline(input: &[u8], chunk: usize) -> Duration {
    let mut buf: Vec<u8> = Vec::with_capacity(chunk.max(1));
    let start = Instant::now();
    for c in input.chunks(chunk) {
        buf.clear();
        buf.extend_from_slice(std::hint::black_box(c));
        std::hint::black_box(&buf);
    }
    start.elapsed()
}

fn mb_per_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn main() {
    let a = args();
    let min_bytes = a.mib * MIB;
    let want = |name: &str| a.only.as_deref().is_none_or(|o| o == name);

    println!("mkvcast segmenter throughput (one thread, release build)");
    let mut inputs = Vec::new();
    if want("plain") {
        inputs.push(plain_input(min_bytes));
    }
    if want("crc32") {
        inputs.push(crc_input(min_bytes));
    }
    for input in &inputs {
        let len = input.bytes.len();
        println!();
        println!("{}", input.label);
        println!(
            "  input {:.1} MB ({len} bytes), expecting {} segments, {} header(s)",
            len as f64 / 1e6,
            input.segments,
            input.headers
        );
        for chunk in [64 << 10, MIB] {
            let mut runs: Vec<Run> = Vec::with_capacity(a.passes);
            for _ in 0..a.passes {
                let r = run_once(&input.bytes, chunk);
                assert_eq!(r.segments, input.segments, "segment count");
                assert_eq!(r.headers, input.headers, "header count");
                if let Some(b) = input.segment_bytes {
                    assert_eq!(r.segment_bytes, b, "segment bytes");
                }
                runs.push(r);
            }
            runs.sort_by_key(|r| r.elapsed);
            let (best, median) = (&runs[0], &runs[runs.len() / 2]);
            println!(
                "  chunk {:>4} KiB: best {:>8.1} MB/s {:>8.0} segments/s | median {:>8.1} MB/s {:>8.0} segments/s | {} segments, best {:.4} s ({} passes)",
                chunk >> 10,
                mb_per_s(len, best.elapsed),
                best.segments as f64 / best.elapsed.as_secs_f64(),
                mb_per_s(len, median.elapsed),
                median.segments as f64 / median.elapsed.as_secs_f64(),
                best.segments,
                best.elapsed.as_secs_f64(),
                runs.len()
            );
        }
        let base = copy_baseline(&input.bytes, 64 << 10);
        println!(
            "  (copy-only baseline, 64 KiB chunks: {:.1} MB/s)",
            mb_per_s(len, base)
        );
    }
}
