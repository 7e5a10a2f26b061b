//! What the clock decides for push mounts: a publisher that sends nothing
//! is closed, a paused stream with no continuation is gone, a grace time
//! without a new publisher ends the viewers, and viewers waiting for a
//! first publisher give up after `source_wait`.

use std::time::Instant;

use super::super::client::Phase;
use super::super::respond::Reason;
use super::super::Server;
use super::Publisher;

/// What the clock found for one push mount.
enum Due {
    Nothing,
    /// Close this idle publisher.
    IdlePublisher(usize),
    /// The paused stream got no continuation in time.
    PauseOver,
    /// Nobody came within the grace time.
    GraceOver,
}

impl Server {
    /// Runs every tick.
    pub(in crate::server) fn ingest_timers(&mut self, now: Instant) {
        for m in self.mounts.keys() {
            match self.due(m, now) {
                Due::Nothing => {}
                Due::IdlePublisher(key) => {
                    if let Some(i) = self.mounts.get_mut(m).and_then(|x| x.ingest_mut()) {
                        i.counters.closed_idle += 1;
                    }
                    log::warn!("publisher {key} sent nothing for too long: closing");
                    self.close(key, Reason::SourceIdle);
                }
                Due::PauseOver => self.end_publisher(m, now),
                Due::GraceOver => self.grace_over(m, now),
            }
            self.waiting_too_long(m, now);
        }
    }

    fn due(&self, m: usize, now: Instant) -> Due {
        let Some(mount) = self.mounts.get(m) else {
            return Due::Nothing;
        };
        let Some(ingest) = mount.ingest() else {
            return Due::Nothing;
        };
        let o = &mount.options;
        match ingest.publisher {
            Publisher::Live(key) => match self.conns.get(key).map(|c| &c.phase) {
                Some(Phase::Publishing(p))
                    if now.duration_since(p.last_byte) > o.source_idle_timeout =>
                {
                    Due::IdlePublisher(key)
                }
                _ => Due::Nothing,
            },
            Publisher::Paused { since } if now.duration_since(since) > o.source_idle_timeout => {
                Due::PauseOver
            }
            Publisher::Gone { since } if now.duration_since(since) > o.source_grace => {
                Due::GraceOver
            }
            _ => Due::Nothing,
        }
    }

    /// No publisher within the grace time: viewers get the rest of their
    /// queue, and the next publisher starts a new stream.
    fn grace_over(&mut self, m: usize, now: Instant) {
        let Some(mount) = self.mounts.get_mut(m) else {
            return;
        };
        log::info!(
            "{}: no publisher within {} ms (source_grace_ms): its {} viewers end",
            mount.path,
            mount.options.source_grace.as_millis(),
            mount.viewers.len()
        );
        self.end_viewers(m, now);
        if let Some(mount) = self.mounts.get_mut(m) {
            mount.reset_stream();
        }
    }

    /// Closes viewers that waited longer than `source_wait` for a stream.
    fn waiting_too_long(&mut self, m: usize, now: Instant) {
        let Some(mount) = self.mounts.get(m) else {
            return;
        };
        let Some(wait) = mount.options.source_wait else {
            return;
        };
        if mount.ingest().is_none() || mount.stream.header().is_some() {
            return;
        }
        let late: Vec<usize> = mount
            .viewers
            .iter()
            .copied()
            .filter(|&k| {
                self.conns.get(k).is_some_and(|c| {
                    matches!(c.phase, Phase::Waiting { .. }) && now.duration_since(c.since) > wait
                })
            })
            .collect();
        for key in late {
            log::info!("client {key} waited too long for a publisher (source_wait_ms): closing");
            self.close(key, Reason::Done);
        }
    }
}
