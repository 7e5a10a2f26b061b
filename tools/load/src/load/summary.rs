//! The load mode's results: a text report and one JSON object, in the
//! format `bench/compare.sh` reads.

use std::time::Duration;

use slab::Slab;

use super::client::{Client, Shared};
use super::{Args, STALL_SLACK};
use crate::report::{Json, Percentiles, Reasons};

/// The results of a run, ready to print.
pub struct Summary {
    url: String,
    attempted: usize,
    connected: usize,
    refused: usize,
    /// Never got a 200: connect error, other status, no response.
    failed: usize,
    /// Got a 200, then lost the stream before the end.
    dropped: usize,
    failure_reasons: Reasons,
    first_byte: Option<Percentiles>,
    first_cluster: Option<Percentiles>,
    total_bytes: u64,
    window_bytes: u64,
    ramp: Duration,
    window: Duration,
    stalls: u64,
    stalled_clients: usize,
    /// (second since the start, stalls whose silence began in it), nonzero only.
    stall_starts: Vec<(usize, u64)>,
    max_gap: Duration,
    interval: Duration,
    interval_estimated: bool,
    invalid: usize,
    invalid_reasons: Reasons,
    clusters_min: u64,
    clusters_avg: f64,
    /// URLs of the `{i}` pattern, and the fewest / most viewers any of
    /// them held (got a 200 from).
    paths: usize,
    path_connected: (usize, usize),
}

/// The measurement window of a run.
pub struct Window {
    pub ramp: Duration,
    pub window: Duration,
    pub bytes: u64,
}

impl Summary {
    pub fn new(args: &Args, clients: &Slab<Client>, shared: &Shared, w: Window) -> Self {
        let all = || clients.iter().map(|(_, c)| c);
        let connected: Vec<&Client> = all().filter(|c| c.got_200).collect();
        let mut failure_reasons = Reasons::default();
        let mut invalid_reasons = Reasons::default();
        for c in all() {
            if let Some(f) = &c.failure {
                failure_reasons.add(f.clone());
            }
            if let Some(e) = c.validator.error() {
                invalid_reasons.add(e.to_string());
            }
        }
        let clusters: Vec<u64> = connected.iter().map(|c| c.validator.clusters()).collect();
        let paths = args.paths.max(1);
        let mut per_path = vec![0usize; paths];
        for c in &connected {
            if let Some(n) = per_path.get_mut(c.path) {
                *n += 1;
            }
        }
        let path_connected = (
            per_path.iter().copied().min().unwrap_or(0),
            per_path.iter().copied().max().unwrap_or(0),
        );
        Summary {
            url: args.url.clone(),
            attempted: clients.len(),
            connected: connected.len(),
            refused: all().filter(|c| c.refused).count(),
            failed: all().filter(|c| !c.got_200 && c.failure.is_some()).count(),
            dropped: connected.iter().filter(|c| c.failure.is_some()).count(),
            failure_reasons,
            first_byte: Percentiles::of(all().filter_map(|c| c.first_byte).collect()),
            first_cluster: Percentiles::of(all().filter_map(|c| c.first_cluster).collect()),
            total_bytes: shared.total_bytes,
            window_bytes: w.bytes,
            ramp: w.ramp,
            window: w.window,
            stalls: all().map(|c| u64::from(c.stalls)).sum(),
            stalled_clients: all().filter(|c| c.stalls > 0).count(),
            stall_starts: (shared.stall_starts.iter().copied().enumerate())
                .filter(|&(_, n)| n > 0)
                .collect(),
            max_gap: all().map(|c| c.max_gap).max().unwrap_or_default(),
            interval: shared.interval(),
            interval_estimated: shared.fixed_interval_ms.is_none()
                && shared.observed_interval_ms > 0,
            invalid: all().filter(|c| c.validator.error().is_some()).count(),
            invalid_reasons,
            clusters_min: clusters.iter().copied().min().unwrap_or(0),
            clusters_avg: clusters.iter().sum::<u64>() as f64 / clusters.len().max(1) as f64,
            paths,
            path_connected,
        }
    }

    /// No stall, failure, drop or invalid data (refusals are the server's
    /// declared limit, not an error).
    pub fn clean(&self) -> bool {
        self.stalls == 0 && self.failed == 0 && self.dropped == 0 && self.invalid == 0
    }

    fn mbit_per_s(&self) -> f64 {
        let secs = self.window.as_secs_f64();
        if secs > 0.0 {
            self.window_bytes as f64 * 8.0 / secs / 1e6
        } else {
            0.0
        }
    }

    pub fn text(&self) -> String {
        format!(
            "mkvcast-load {url}\n\
             viewers:       {att} attempted, {con} connected (200), {refu} refused (503), {fail} failed, {drop} dropped\n\
             {fr}\
             first byte:    {fb}\n\
             first cluster: {fc}\n\
             received:      {mb:.1} MB total, {rate:.1} Mbit/s over the {win:.1} s window (ramp {ramp:.1} s)\n\
             stalls:        {st} in {stc} viewers (longest gap {gap} ms, threshold {thr} ms, cluster interval {iv} ms {how})\n\
             invalid:       {inv} viewers\n\
             {ir}\
             clusters:      min {cmin}, avg {cavg:.1} per connected viewer\n\
             paths:         {paths}, connected viewers per path min {pmin}, max {pmax}\n\
             result:        {ok}\n",
            url = self.url,
            att = self.attempted,
            con = self.connected,
            refu = self.refused,
            fail = self.failed,
            drop = self.dropped,
            fr = self.failure_reasons.text(),
            fb = Percentiles::text(&self.first_byte),
            fc = Percentiles::text(&self.first_cluster),
            mb = self.total_bytes as f64 / 1e6,
            rate = self.mbit_per_s(),
            win = self.window.as_secs_f64(),
            ramp = self.ramp.as_secs_f64(),
            st = self.stalls,
            stc = self.stalled_clients,
            gap = self.max_gap.as_millis(),
            thr = (self.interval + STALL_SLACK).as_millis(),
            iv = self.interval.as_millis(),
            how = if self.interval_estimated { "estimated" } else { "assumed" },
            inv = self.invalid,
            ir = self.invalid_reasons.text(),
            cmin = self.clusters_min,
            cavg = self.clusters_avg,
            paths = self.paths,
            pmin = self.path_connected.0,
            pmax = self.path_connected.1,
            ok = if self.clean() { "clean" } else { "PROBLEMS" },
        )
    }

    pub fn json(&self) -> String {
        Json::new()
            .string("url", &self.url)
            .raw("attempted", self.attempted)
            .raw("connected", self.connected)
            .raw("refused", self.refused)
            .raw("failed", self.failed)
            .raw("dropped", self.dropped)
            .raw("failure_reasons", self.failure_reasons.json())
            .raw("first_byte_ms", Percentiles::json(&self.first_byte))
            .raw("first_cluster_ms", Percentiles::json(&self.first_cluster))
            .raw("total_bytes", self.total_bytes)
            .raw("window_bytes", self.window_bytes)
            .fixed("mbit_per_s", self.mbit_per_s(), 3)
            .fixed("ramp_s", self.ramp.as_secs_f64(), 3)
            .fixed("duration_s", self.window.as_secs_f64(), 3)
            .raw("stalls", self.stalls)
            .raw("stalled_clients", self.stalled_clients)
            .raw("max_gap_ms", self.max_gap.as_millis())
            .raw(
                "stall_starts",
                format!(
                    "{{{}}}",
                    (self.stall_starts.iter())
                        .map(|(s, n)| format!("\"{s}\":{n}"))
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            )
            .raw("cluster_interval_ms", self.interval.as_millis())
            .raw("invalid", self.invalid)
            .raw("invalid_reasons", self.invalid_reasons.json())
            .raw("clusters_min", self.clusters_min)
            .fixed("clusters_avg", self.clusters_avg, 2)
            .raw("paths", self.paths)
            .raw("path_connected_min", self.path_connected.0)
            .raw("path_connected_max", self.path_connected.1)
            .raw("clean", self.clean())
            .finish()
    }
}
