//! `mkvcast-load lag`: one viewer that measures how long the server takes
//! to pass each block on: the delivery-lag spread (arrival minus media
//! time, minus the run's smallest such value) of every block after the
//! join burst, as p50/p95/max. The probe and the exact definition of the
//! join burst are `mkvcast_testkit::lag`; `tests/latency.rs` asserts on the
//! same figures.
//!
//! With `--join` it also reports how the viewer joined: the time from the
//! connect to the first body byte and to the first block, and how far
//! behind live the first block is. "Live" is estimated from the run
//! itself: a live block's arrival minus its media time is smallest for the
//! block the server passed on fastest, so the media time that was live at
//! an instant `t` is `t - connect - min_lag` on the viewer's clock (on
//! loopback, up to the fastest delivery, about 0). *Behind live at
//! connect* is that live media time at the connect minus the first
//! block's media time (the age of the oldest media the server sends a
//! joiner; negative if the first block is newer, as when the viewer waits
//! for the next keyframe); *behind live at the first block* is the first
//! block's lag minus `min_lag` (how far behind live the viewer plays from
//! its start, since players do not catch up).

use std::process::ExitCode;
use std::time::Duration;

use argh::FromArgs;
use mkvcast_testkit::lag::{
    lag_report, live_blocks, Block, LagReport, LiveViewer, DEFAULT_BURST_WINDOW,
};

use crate::report::Json;
use crate::url::parse_url;

/// Measures the delivery-lag spread of one viewer of a live stream
/// (loopback only).
#[derive(FromArgs)]
#[argh(subcommand, name = "lag")]
pub struct Args {
    /// stream URL: http://HOST[:PORT]/PATH with HOST 127.0.0.0/8, ::1 or localhost
    #[argh(positional)]
    url: String,
    /// seconds to watch (default 30, max 3600); less if the server ends the stream
    #[argh(option, default = "30.0")]
    duration: f64,
    /// blocks arriving within this many ms of the first one belong to the
    /// join burst, with every block up to their newest media time (default 200)
    #[argh(option)]
    burst_window_ms: Option<u64>,
    /// print the figures as one JSON object on stdout (text goes to stderr)
    #[argh(switch)]
    json: bool,
    /// also report the join: first-byte and first-block times, and how far
    /// behind live the first block is (see the module doc)
    #[argh(switch)]
    join: bool,
}

/// How the viewer joined, in ms (see the module doc).
#[derive(Debug, Clone, PartialEq)]
struct Join {
    first_byte_ms: Option<f64>,
    first_block_ms: f64,
    first_block_media_ms: f64,
    behind_at_connect_ms: f64,
    behind_at_first_block_ms: f64,
}

/// The join figures, or `None` without a block after the join burst.
fn join_report(
    connected: std::time::Instant,
    first_byte: Option<std::time::Instant>,
    blocks: &[Block],
    window: Duration,
) -> Option<Join> {
    let ns = |t: std::time::Instant| t.saturating_duration_since(connected).as_nanos() as i64;
    let lag = |b: &Block| ns(b.arrival) - b.media_ns;
    let (live, _) = live_blocks(blocks, window);
    let min_lag = live.iter().map(|&i| lag(&blocks[i])).min()?;
    let first = blocks.first()?;
    let ms = |v: i64| v as f64 / 1e6;
    Some(Join {
        first_byte_ms: first_byte.map(|t| ms(ns(t))),
        first_block_ms: ms(ns(first.arrival)),
        first_block_media_ms: ms(first.media_ns),
        behind_at_connect_ms: ms(-min_lag - first.media_ns),
        behind_at_first_block_ms: ms(lag(first) - min_lag),
    })
}

/// What a run saw, beyond the lag figures.
struct Seen {
    status: Option<u16>,
    bytes: u64,
    unknown_clusters: u64,
    known_clusters: u64,
    error: Option<String>,
    report: Option<LagReport>,
    join: Option<Join>,
    want_join: bool,
}

/// Runs the mode. Exit 1 if the stream could not be measured (no 200, a
/// malformed body, or no block after the join burst), 2 for a bad command
/// line or a failed connect.
pub fn main(args: &Args) -> ExitCode {
    let seen = match run(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("mkvcast-load: {e}");
            return ExitCode::from(2);
        }
    };
    if args.json {
        eprint!("{}", text(&seen));
        println!("{}", json(&seen));
    } else {
        print!("{}", text(&seen));
    }
    let measured = seen.status == Some(200) && seen.error.is_none() && seen.report.is_some();
    if measured {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn run(args: &Args) -> Result<Seen, String> {
    let target = parse_url(&args.url)?;
    if !(args.duration > 0.0 && args.duration <= 3600.0) {
        return Err("--duration must be in (0, 3600] seconds".to_string());
    }
    let window = args
        .burst_window_ms
        .map_or(DEFAULT_BURST_WINDOW, Duration::from_millis);
    let mut v = LiveViewer::connect(target.addr, &target.path)
        .map_err(|e| format!("connect {}: {e}", target.addr))?;
    v.read_for(Duration::from_secs_f64(args.duration));
    let p = &v.parser;
    Ok(Seen {
        status: v.status(),
        bytes: p.offset(),
        unknown_clusters: p.unknown_clusters,
        known_clusters: p.known_clusters,
        error: p.error.clone(),
        report: lag_report(&p.blocks, window),
        join: join_report(v.connected, v.first_byte, &p.blocks, window),
        want_join: args.join,
    })
}

fn text(s: &Seen) -> String {
    let mut out = format!(
        "status {}, {} body bytes, clusters: {} of unknown size, {} of known size\n",
        s.status.map_or("none".to_string(), |c| c.to_string()),
        s.bytes,
        s.unknown_clusters,
        s.known_clusters
    );
    if let Some(e) = &s.error {
        out.push_str(&format!("invalid stream: {e}\n"));
    }
    match &s.report {
        Some(r) => out.push_str(&r.text()),
        None => out.push_str("no block after the join burst: nothing to measure\n"),
    }
    if let (true, Some(j)) = (s.want_join, &s.join) {
        out.push_str(&format!(
            "join: first byte {} ms, first block {:.1} ms (media time {:.3} s); \
             behind live {:.1} ms at connect, {:.1} ms at the first block\n",
            j.first_byte_ms
                .map_or("–".to_string(), |v| format!("{v:.1}")),
            j.first_block_ms,
            j.first_block_media_ms / 1000.0,
            j.behind_at_connect_ms,
            j.behind_at_first_block_ms
        ));
    }
    out
}

/// One line, keys in a fixed order; the lag figures are `null` when
/// nothing was measured.
fn json(s: &Seen) -> String {
    let j = Json::new()
        .raw(
            "status",
            s.status.map_or("null".to_string(), |c| c.to_string()),
        )
        .raw("bytes", s.bytes)
        .raw("unknown_size_clusters", s.unknown_clusters)
        .raw("known_size_clusters", s.known_clusters);
    let j = match &s.error {
        Some(e) => j.string("error", e),
        None => j.raw("error", "null"),
    };
    let j = match &s.report {
        Some(r) => j
            .raw("blocks", r.blocks)
            .raw("burst_blocks", r.burst_blocks)
            .raw("live_blocks", r.live_blocks)
            .fixed("live_edge_ms", r.live_edge_ms, 3)
            .fixed("p50_ms", r.p50_ms, 3)
            .fixed("p95_ms", r.p95_ms, 3)
            .fixed("max_ms", r.max_ms, 3),
        None => [
            "blocks",
            "burst_blocks",
            "live_blocks",
            "live_edge_ms",
            "p50_ms",
            "p95_ms",
            "max_ms",
        ]
        .iter()
        .fold(j, |j, k| j.raw(k, "null")),
    };
    if !s.want_join {
        return j.finish();
    }
    let j = match &s.join {
        Some(r) => {
            let j = match r.first_byte_ms {
                Some(v) => j.fixed("first_byte_ms", v, 3),
                None => j.raw("first_byte_ms", "null"),
            };
            j.fixed("first_block_ms", r.first_block_ms, 3)
                .fixed("first_block_media_ms", r.first_block_media_ms, 3)
                .fixed("behind_live_at_connect_ms", r.behind_at_connect_ms, 3)
                .fixed(
                    "behind_live_at_first_block_ms",
                    r.behind_at_first_block_ms,
                    3,
                )
        }
        None => [
            "first_byte_ms",
            "first_block_ms",
            "first_block_media_ms",
            "behind_live_at_connect_ms",
            "behind_live_at_first_block_ms",
        ]
        .iter()
        .fold(j, |j, k| j.raw(k, "null")),
    };
    j.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_format_is_fixed() {
        let mut s = Seen {
            status: Some(200),
            bytes: 1234,
            unknown_clusters: 3,
            known_clusters: 1,
            error: None,
            report: Some(LagReport {
                blocks: 10,
                burst_blocks: 4,
                live_blocks: 6,
                live_edge_ms: 3000.0,
                p50_ms: 1.5,
                p95_ms: 20.25,
                max_ms: 30.0,
            }),
            join: None,
            want_join: false,
        };
        assert_eq!(
            json(&s),
            "{\"status\":200,\"bytes\":1234,\"unknown_size_clusters\":3,\
             \"known_size_clusters\":1,\"error\":null,\"blocks\":10,\"burst_blocks\":4,\
             \"live_blocks\":6,\"live_edge_ms\":3000.000,\"p50_ms\":1.500,\
             \"p95_ms\":20.250,\"max_ms\":30.000}"
        );
        s.report = None;
        s.status = None;
        s.error = Some("bad \"x\"".into());
        assert!(json(&s).ends_with(
            "\"error\":\"bad \\\"x\\\"\",\"blocks\":null,\"burst_blocks\":null,\
             \"live_blocks\":null,\"live_edge_ms\":null,\"p50_ms\":null,\
             \"p95_ms\":null,\"max_ms\":null}"
        ));
        assert!(text(&s).contains("nothing to measure"));
        s.want_join = true;
        assert!(json(&s).ends_with(
            "\"first_byte_ms\":null,\"first_block_ms\":null,\
             \"first_block_media_ms\":null,\"behind_live_at_connect_ms\":null,\
             \"behind_live_at_first_block_ms\":null}"
        ));
    }

    /// Connect at 0; the server sends a burst from media time 0 at 5 ms,
    /// while live is at 2000 ms; live blocks then arrive 1 ms after their
    /// media time is live.
    #[test]
    fn join_figures() {
        let t = std::time::Instant::now();
        let at = |ms: u64| t + Duration::from_millis(ms);
        let block = |media_ms: i64, arrival| Block {
            track: 1,
            media_ns: media_ms * 1_000_000,
            keyframe: media_ms == 0,
            video: true,
            arrival,
            head: Vec::new(),
            unknown_cluster: true,
            end: 0,
        };
        // Media time m is live at connect + (m - 2000) ms.
        let mut blocks: Vec<Block> = (0..20).map(|i| block(i * 100, at(5))).collect();
        for i in 21..40 {
            blocks.push(block(i * 100, at((i * 100 - 2000 + 1) as u64)));
        }
        let j = join_report(t, Some(at(2)), &blocks, DEFAULT_BURST_WINDOW).unwrap();
        assert_eq!(j.first_byte_ms, Some(2.0));
        assert_eq!(j.first_block_ms, 5.0);
        // min lag = 1 - 2000 ms: live at connect is media 1999 ms.
        assert_eq!(j.behind_at_connect_ms, 1999.0);
        assert_eq!(j.behind_at_first_block_ms, 2004.0);
    }
}
