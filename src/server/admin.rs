//! The admin listener's answers (`/status`, `/status.json`, `/metrics`),
//! the snapshot they are rendered from, and the summary log line.

use std::time::{Duration, Instant, SystemTime};

use super::http::{self, Status};
use super::mount::{Mount, Source};
use super::status::{self, ClientInfo, MountInfo, Snapshot};
use super::Server;
use crate::publisher::ClientQueue;

/// How often a summary line is logged.
const REPORT_EVERY: Duration = Duration::from_secs(60);

impl Server {
    /// Answers `/status`, `/status.json` and `/metrics` on the admin
    /// listener; anything else there is 404.
    pub(super) fn serve_admin(
        &mut self,
        key: usize,
        path: &str,
        head_only: bool,
        keep_alive: bool,
        rest: Vec<u8>,
        now: Instant,
    ) {
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
            _ => return self.send_short(key, Status::NotFound, keep_alive, rest, now),
        };
        let response = http::ok_response(content_type, &body, head_only, keep_alive);
        self.send_response(key, response, keep_alive, rest, now);
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
                    // The peer with its port, unless a trusted proxy
                    // named the client: then the client's address.
                    address: if c.client_ip == c.addr.ip() {
                        c.addr.to_string()
                    } else {
                        c.client_ip.to_string()
                    },
                    connected_since: crate::logging::utc(wall - age),
                    connected_s: age.as_secs_f64(),
                    bytes_sent: c.bytes_sent,
                    queue_bytes: c.queue().map_or(0, ClientQueue::len),
                    keyframe_skips: c.queue().map_or(0, ClientQueue::skips),
                    user_agent: c.user_agent.as_deref().unwrap_or("").to_string(),
                    mount: c
                        .mount
                        .and_then(|m| self.mounts.get(m))
                        .map_or(String::new(), |m| m.path.clone()),
                }
            })
            .collect();
        Snapshot {
            uptime_s: now.duration_since(self.started).as_secs_f64(),
            clients,
            counters: &self.counters,
            mounts: self
                .mounts
                .sorted()
                .into_iter()
                .map(|(_, m)| self.mount_info(m))
                .collect(),
        }
    }

    fn mount_info<'a>(&'a self, m: &'a Mount) -> MountInfo<'a> {
        let publisher = &m.stream.publisher;
        let stats = &m.stream.input_stats;
        let (buffered, buffered_bytes) = publisher.buffered();
        let (kind, source) = match &m.source {
            Source::Pulled => ("pull", Some(m.options.input_name.clone())),
            Source::Push(i) => ("push", i.peer.map(|a| a.to_string())),
        };
        let keyframe_skips = m
            .viewers
            .iter()
            .filter_map(|&k| self.conns.get(k)?.queue().map(ClientQueue::skips))
            .sum();
        MountInfo {
            path: &m.path,
            kind,
            source,
            state: m.state().as_str(),
            header: publisher.header().map(|h| &**h),
            input_state: stats.state().as_str(),
            input_bytes: stats.bytes(),
            input_reconnects: stats.reconnects(),
            input_kbps: m.stream.input_kbps(),
            media_time_s: publisher.media_time().as_secs_f64(),
            buffered_s: buffered.as_secs_f64(),
            buffered_bytes,
            clusters_published: publisher.published(),
            viewers: m.viewers.len(),
            keyframe_skips,
            ingest: m.ingest().map(|i| &i.counters),
        }
    }

    /// Records input progress, and logs a summary line every minute.
    pub(super) fn sample_rates(&mut self, now: Instant) {
        for m in self.mounts.keys() {
            if let Some(mount) = self.mounts.get_mut(m) {
                mount.stream.sample_rate(now);
            }
        }
        let elapsed = now.duration_since(self.last_report.0);
        if elapsed >= REPORT_EVERY {
            let sent = self.counters.bytes_sent_closed
                + self.conns.iter().map(|(_, c)| c.bytes_sent).sum::<u64>();
            let out_mbps = (sent - self.last_report.1) as f64 * 8.0 / 1e6 / elapsed.as_secs_f64();
            let in_kbps: f64 = self.mounts.iter().map(|(_, m)| m.stream.input_kbps()).sum();
            log::info!(
                "{} clients, {} mounts, out {out_mbps:.2} Mbit/s, in {in_kbps:.0} kbit/s",
                self.slots.total(),
                self.mounts.len(),
            );
            self.last_report = (now, sent);
        }
    }
}
