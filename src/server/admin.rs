//! The admin listener's answers (`/status`, `/status.json`, `/metrics`),
//! the snapshot they are rendered from, and the summary log line.

use std::time::{Duration, Instant, SystemTime};

use super::http::{self, Status};
use super::status::{self, ClientInfo, Snapshot};
use super::Server;
use crate::publisher::ClientQueue;

/// How often a summary line is logged.
const REPORT_EVERY: Duration = Duration::from_secs(60);

impl Server {
    /// Answers `/status`, `/status.json` and `/metrics` on the admin
    /// listener; anything else there is 404.
    pub(super) fn serve_admin(&mut self, key: usize, path: &str, head_only: bool, now: Instant) {
        let (body, content_type) = match path {
            "/status.json" => (status::json(&self.snapshot(now)), "application/json"),
            "/status" | "/" => (
                status::html(&self.snapshot(now)),
                "text/html; charset=utf-8",
            ),
            "/metrics" => (
                status::metrics(&self.snapshot(now)),
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            _ => {
                self.respond(key, Status::NotFound, now);
                return;
            }
        };
        let response = http::ok_response(content_type, body, head_only);
        self.send_and_close(key, response, now);
    }

    fn snapshot(&self, now: Instant) -> Snapshot<'_> {
        let wall = SystemTime::now();
        let clients = self
            .conns
            .iter()
            .filter(|(_, c)| c.viewer)
            .map(|(id, c)| {
                let age = now.duration_since(c.since);
                ClientInfo {
                    id,
                    address: c.addr.to_string(),
                    connected_since: crate::logging::utc(wall - age),
                    connected_s: age.as_secs_f64(),
                    bytes_sent: c.bytes_sent,
                    queue_bytes: c.queue().map_or(0, ClientQueue::len),
                    keyframe_skips: c.queue().map_or(0, ClientQueue::skips),
                    user_agent: c.user_agent.as_deref().unwrap_or("").to_string(),
                }
            })
            .collect();
        let publisher = &self.stream.publisher;
        let stats = &self.stream.input_stats;
        let (buffered, buffered_bytes) = publisher.buffered();
        Snapshot {
            input: &self.config.input_name,
            header: publisher.header().map(|h| &**h),
            input_state: stats.state().as_str(),
            input_bytes: stats.bytes(),
            input_reconnects: stats.reconnects(),
            input_kbps: self.stream.input_kbps(),
            media_time_s: publisher.media_time().as_secs_f64(),
            buffered_s: buffered.as_secs_f64(),
            buffered_bytes,
            clusters_published: publisher.published(),
            uptime_s: now.duration_since(self.started).as_secs_f64(),
            clients,
            counters: &self.counters,
        }
    }

    /// Records input progress, and logs a summary line every minute.
    pub(super) fn sample_rates(&mut self, now: Instant) {
        self.stream.sample_rate(now);
        let elapsed = now.duration_since(self.last_report.0);
        if elapsed >= REPORT_EVERY {
            let sent = self.counters.bytes_sent_closed
                + self.conns.iter().map(|(_, c)| c.bytes_sent).sum::<u64>();
            let out_mbps = (sent - self.last_report.1) as f64 * 8.0 / 1e6 / elapsed.as_secs_f64();
            log::info!(
                "{} clients, out {out_mbps:.2} Mbit/s, in {:.0} kbit/s, media time {:.1} s",
                self.slots.total(),
                self.stream.input_kbps(),
                self.stream.publisher.media_time().as_secs_f64()
            );
            self.last_report = (now, sent);
        }
    }
}
