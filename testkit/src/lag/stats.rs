//! Delivery-lag spread: how much later than the fastest block each block
//! reached the viewer, relative to its media time.
//!
//! A block's lag is `arrival - media time`. The two clocks (the viewer's
//! wall clock and the stream's media time) have an unknown offset, so the
//! figure reported is the *spread*: each block's lag minus the smallest lag
//! of the run. A server that passes every block on at once has a spread
//! near zero; one that holds each Cluster until it is complete delays a
//! Cluster's first block by about the Cluster's length and its last by
//! almost nothing, so its spread reaches the Cluster length.
//!
//! **The join burst is left out.** A joiner first receives recent media
//! that the server already had (its burst), all at once; those blocks'
//! lag says how old the burst is, not how fast blocks travel. Precisely:
//! let `t0` be the arrival of the first block; the *live edge at connect*
//! is the newest media time among blocks that arrived by `t0 + window`
//! (`window`: [`DEFAULT_BURST_WINDOW`], the first read burst); every block
//! whose media time is at or before that edge is the burst, every later
//! block is live and measured. A viewer connected before the input starts
//! has no real burst, and loses only the blocks of its first `window`.

use std::time::{Duration, Instant};

use super::parse::Block;

/// How long after the first block the join burst may still be arriving.
pub const DEFAULT_BURST_WINDOW: Duration = Duration::from_millis(200);

/// The spread of the live blocks' lags, in ms.
#[derive(Debug, Clone, PartialEq)]
pub struct LagReport {
    /// Blocks received in all, in the join burst, and after it (measured).
    pub blocks: usize,
    pub burst_blocks: usize,
    pub live_blocks: usize,
    /// Media time of the live edge at connect (the newest burst block), ms.
    pub live_edge_ms: f64,
    /// Nearest-rank percentiles and the largest spread, ms.
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
}

/// Nearest rank: the smallest value with at least `p` % at or below it.
fn rank(sorted: &[i64], p: f64) -> i64 {
    let i = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[i.clamp(1, sorted.len()) - 1]
}

/// Indexes of the blocks after the join burst (see the module doc), and
/// the live edge in ns.
pub fn live_blocks(blocks: &[Block], window: Duration) -> (Vec<usize>, i64) {
    let Some(t0) = blocks.iter().map(|b| b.arrival).min() else {
        return (Vec::new(), 0);
    };
    let edge = blocks
        .iter()
        .filter(|b| b.arrival <= t0 + window)
        .map(|b| b.media_ns)
        .max()
        .unwrap_or(i64::MIN);
    let live = (0..blocks.len())
        .filter(|&i| blocks[i].media_ns > edge)
        .collect();
    (live, edge)
}

/// The lag spread of `blocks` after the join burst, or `None` if no block
/// came after it.
pub fn lag_report(blocks: &[Block], window: Duration) -> Option<LagReport> {
    let (live, edge) = live_blocks(blocks, window);
    let epoch: Instant = blocks.first()?.arrival;
    // Arrival on the viewer's clock minus media time, in ns.
    let lag = |b: &Block| {
        let arrived = b.arrival.saturating_duration_since(epoch).as_nanos() as i64;
        arrived - b.media_ns
    };
    let lags: Vec<i64> = live.iter().map(|&i| lag(&blocks[i])).collect();
    let min = *lags.iter().min()?;
    let mut spread: Vec<i64> = lags.iter().map(|l| l - min).collect();
    spread.sort_unstable();
    let ms = |ns: i64| ns as f64 / 1e6;
    Some(LagReport {
        blocks: blocks.len(),
        burst_blocks: blocks.len() - live.len(),
        live_blocks: live.len(),
        live_edge_ms: ms(edge),
        p50_ms: ms(rank(&spread, 50.0)),
        p95_ms: ms(rank(&spread, 95.0)),
        max_ms: ms(*spread.last()?),
    })
}

impl LagReport {
    /// Two lines for people.
    pub fn text(&self) -> String {
        format!(
            "blocks: {} ({} in the join burst up to media time {:.3} s, {} live)\n\
             delivery-lag spread (ms): p50 {:.1}, p95 {:.1}, max {:.1}\n",
            self.blocks,
            self.burst_blocks,
            self.live_edge_ms / 1000.0,
            self.live_blocks,
            self.p50_ms,
            self.p95_ms,
            self.max_ms
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(media_ms: i64, arrival: Instant) -> Block {
        Block {
            track: 1,
            media_ns: media_ms * 1_000_000,
            keyframe: false,
            video: true,
            arrival,
            head: Vec::new(),
            unknown_cluster: true,
            end: 0,
        }
    }

    /// A 3 s burst at once, then blocks held in 1 s Clusters: the burst is
    /// left out, and the spread of the held blocks runs up to 900 ms.
    #[test]
    fn burst_is_left_out_and_held_clusters_spread() {
        let t = Instant::now();
        let at = |ms: u64| t + Duration::from_millis(ms);
        let mut blocks: Vec<Block> = (0..30).map(|i| block(i * 100, at(0))).collect();
        // Live: blocks 3000..6900 ms, each Cluster of 10 released at its end.
        for i in 30..70 {
            let cluster_end = (i / 10 + 1) * 1000 - 3000 + 5;
            blocks.push(block(i * 100, at(cluster_end as u64)));
        }
        let r = lag_report(&blocks, DEFAULT_BURST_WINDOW).unwrap();
        assert_eq!((r.blocks, r.burst_blocks, r.live_blocks), (70, 30, 40));
        assert_eq!(r.live_edge_ms, 2900.0);
        assert_eq!(r.max_ms, 900.0);
        assert_eq!(r.p50_ms, 400.0);
        assert_eq!(r.p95_ms, 900.0);
    }

    #[test]
    fn blocks_passed_on_at_once_have_no_spread() {
        let t = Instant::now();
        let blocks: Vec<Block> = (0..100)
            .map(|i| block(i * 33, t + Duration::from_millis(i as u64 * 33 + 7)))
            .collect();
        let r = lag_report(&blocks, DEFAULT_BURST_WINDOW).unwrap();
        // Blocks 0..=6 arrived within 200 ms of the first: the "burst".
        assert_eq!((r.burst_blocks, r.live_blocks), (7, 93));
        assert_eq!((r.p50_ms, r.p95_ms, r.max_ms), (0.0, 0.0, 0.0));
        assert_eq!(lag_report(&[], DEFAULT_BURST_WINDOW), None);
    }
}
