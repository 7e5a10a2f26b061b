//! The soak's results: one text line (plus the first problems) and one
//! JSON object, in the format `bench/soak.sh` and `tests/soak_short.rs`
//! read.

use super::client::Kind;
use crate::report::Json;

/// What the run saw.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub seconds: f64,
    pub opened: u64,
    pub connect_errors: u64,
    /// Closed by us for churn.
    pub left: u64,
    /// Stoppers the server closed (expected: they stall).
    pub stoppers_closed: u64,
    /// Well-behaved or slow viewers the server closed or refused.
    pub unexpected_closes: u64,
    pub invalid_good: u64,
    pub invalid_other: u64,
    /// Well-behaved viewers that lost clusters.
    pub good_gaps: u64,
    /// Keyframe skips seen by slow viewers and stoppers (expected).
    pub slow_skips: u64,
    /// Well-behaved viewers that got no data for more than 5 s.
    pub good_stalls: u64,
    pub max_good_silence_ms: u64,
    pub bytes: u64,
    pub clusters: u64,
    pub live_at_end: u64,
    pub min_live_after_ramp: u64,
    /// First few problems, for the log.
    pub problems: Vec<String>,
}

impl Summary {
    pub fn clean(&self) -> bool {
        self.invalid_good == 0
            && self.invalid_other == 0
            && self.good_gaps == 0
            && self.unexpected_closes == 0
            && self.connect_errors == 0
            && self.good_stalls == 0
    }

    /// Keeps the first few problems for the log.
    pub fn problem(&mut self, p: String) {
        if self.problems.len() < 10 {
            self.problems.push(p);
        }
    }

    /// Counts a viewer that saw an invalid stream.
    pub fn invalid(&mut self, kind: Kind, key: usize, e: &str) {
        if kind == Kind::Good {
            self.invalid_good += 1;
        } else {
            self.invalid_other += 1;
        }
        self.problem(format!("{kind:?} viewer {key}: {e}"));
    }

    pub fn text(&self) -> String {
        let mut s = format!(
            "soak_clients: {:.0} s, {} opened, {} left (churn), {} stoppers closed by the server, \
             {} unexpected closes, {} connect errors; invalid streams: {} good, {} slow/stopper; \
             {} good viewers lost clusters, {} keyframe skips by slow viewers; {} good stalls (max silence {} ms); \
             {:.1} MB in {} clusters; {} live at the end (min {} after ramp): {}",
            self.seconds,
            self.opened,
            self.left,
            self.stoppers_closed,
            self.unexpected_closes,
            self.connect_errors,
            self.invalid_good,
            self.invalid_other,
            self.good_gaps,
            self.slow_skips,
            self.good_stalls,
            self.max_good_silence_ms,
            self.bytes as f64 / 1e6,
            self.clusters,
            self.live_at_end,
            self.min_live_after_ramp,
            if self.clean() { "CLEAN" } else { "FAILED" }
        );
        for p in &self.problems {
            s.push_str("\n  ");
            s.push_str(p);
        }
        s
    }

    pub fn json(&self) -> String {
        Json::new()
            .fixed("seconds", self.seconds, 1)
            .raw("opened", self.opened)
            .raw("connect_errors", self.connect_errors)
            .raw("left", self.left)
            .raw("stoppers_closed", self.stoppers_closed)
            .raw("unexpected_closes", self.unexpected_closes)
            .raw("invalid_good", self.invalid_good)
            .raw("invalid_other", self.invalid_other)
            .raw("good_gaps", self.good_gaps)
            .raw("slow_skips", self.slow_skips)
            .raw("good_stalls", self.good_stalls)
            .raw("max_good_silence_ms", self.max_good_silence_ms)
            .raw("bytes", self.bytes)
            .raw("clusters", self.clusters)
            .raw("live_at_end", self.live_at_end)
            .raw("min_live_after_ramp", self.min_live_after_ramp)
            .raw("clean", self.clean())
            .finish()
    }
}
