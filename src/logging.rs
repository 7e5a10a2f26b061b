//! A small stderr logger for the `log` facade: one line per event with a
//! UTC timestamp, levels from `RUST_LOG` (`error`, `warn`, `info`, `debug`,
//! `trace`, `off`; default `info`), and repeated warnings rate-limited so a
//! flood of bad clients or damaged input cannot turn into a log storm.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Identical warnings (digits ignored) allowed per window before they are
/// suppressed and counted.
const BURST: u32 = 5;
const WINDOW: Duration = Duration::from_secs(10);
/// Distinct warning shapes tracked at once.
const MAX_KEYS: usize = 1024;

struct Logger {
    level: LevelFilter,
    recent: Mutex<HashMap<String, (Instant, u32)>>,
}

/// Installs the logger; `RUST_LOG` overrides `default`.
pub fn init(default: LevelFilter) {
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.trim().parse::<LevelFilter>().ok())
        .unwrap_or(default);
    let logger = Logger {
        level,
        recent: Mutex::new(HashMap::new()),
    };
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(level);
    }
}

impl Logger {
    /// Whether to print a warning, and how many like it were suppressed
    /// since the last one printed.
    fn admit(&self, message: &str) -> Option<u32> {
        let key: String = message.chars().filter(|c| !c.is_ascii_digit()).collect();
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() >= MAX_KEYS {
            recent.retain(|_, (t, _)| t.elapsed() < WINDOW);
            if recent.len() >= MAX_KEYS {
                recent.clear();
            }
        }
        let now = Instant::now();
        let entry = recent.entry(key).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            let suppressed = entry.1.saturating_sub(BURST);
            *entry = (now, 1);
            return Some(suppressed);
        }
        entry.1 += 1;
        (entry.1 <= BURST).then_some(0)
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let message = record.args().to_string();
        let suppressed = if record.level() <= Level::Warn {
            match self.admit(&message) {
                Some(n) => n,
                None => return,
            }
        } else {
            0
        };
        let mut line = format!("{} {:<5} {message}", timestamp(), record.level());
        if suppressed > 0 {
            line.push_str(&format!(" ({suppressed} similar messages suppressed)"));
        }
        line.push('\n');
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// Current UTC time as `2026-11-25T15:04:05.123Z`.
fn timestamp() -> String {
    utc(SystemTime::now())
}

/// A UTC time as `2026-11-25T15:04:05.123Z` (RFC 3339).
pub(crate) fn utc(t: SystemTime) -> String {
    let now = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        now.subsec_millis()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_417), (2025, 11, 25));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn repeated_warnings_are_limited() {
        let l = Logger {
            level: LevelFilter::Info,
            recent: Mutex::new(HashMap::new()),
        };
        let admitted = (0..100)
            .filter(|i| l.admit(&format!("bad request from 10.0.0.{i}")).is_some())
            .count();
        assert_eq!(admitted, BURST as usize);
        assert!(l.admit("something else").is_some());
    }
}
