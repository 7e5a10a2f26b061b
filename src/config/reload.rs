//! What a SIGHUP reload changes. A mount is identified by its path; its
//! source (`input` or `push`) is what its running stream is, so a changed
//! source means a new stream, while other settings are read per new
//! connection and can change under a running one.

use super::{FileConfig, Globals, MountSpec};

/// The difference between the running configuration and a re-read one.
/// `default_mount` and `max_mounts` are not in it: they only route and
/// limit, and the new file's values apply as they are.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reload {
    /// Same path and source: keeps its source and viewers; these (new)
    /// settings apply to new connections.
    pub keep: Vec<MountSpec>,
    /// Same path, another source: ends and starts anew with this spec.
    pub restart: Vec<MountSpec>,
    /// New paths: start.
    pub add: Vec<MountSpec>,
    /// Paths no longer configured: end.
    pub remove: Vec<String>,
    /// Keys of [`Globals`] whose value changed: they take effect on
    /// restart only (the caller logs that).
    pub globals_changed: Vec<&'static str>,
}

/// Compares the running configuration with a re-read one. Mounts come in
/// the new file's order (removals in the old one's).
pub fn diff(old: &FileConfig, new: &FileConfig) -> Reload {
    let mut reload = Reload::default();
    for m in &new.mounts {
        match old.mounts.iter().find(|o| o.path == m.path) {
            Some(o) if o.source == m.source => reload.keep.push(m.clone()),
            Some(_) => reload.restart.push(m.clone()),
            None => reload.add.push(m.clone()),
        }
    }
    reload.remove = old
        .mounts
        .iter()
        .filter(|o| !new.mounts.iter().any(|m| m.path == o.path))
        .map(|o| o.path.clone())
        .collect();
    reload.globals_changed = changed_globals(&old.globals, &new.globals);
    reload
}

/// The key names of the globals that differ, in [`Globals`] order. The
/// destructuring has no `..`: a new global must be added here to compile.
fn changed_globals(old: &Globals, new: &Globals) -> Vec<&'static str> {
    let Globals {
        source_password,
        max_clients_total,
        max_ingest_buffer_bytes,
        max_clients_per_ip,
        listen,
        admin_listen,
        trusted_proxy,
        keepalive_timeout_ms,
        request_timeout_ms,
        stall_timeout_ms,
        drain_timeout_ms,
    } = old;
    let same = [
        ("source_password", *source_password == new.source_password),
        (
            "max_clients_total",
            *max_clients_total == new.max_clients_total,
        ),
        (
            "max_ingest_buffer_bytes",
            *max_ingest_buffer_bytes == new.max_ingest_buffer_bytes,
        ),
        (
            "max_clients_per_ip",
            *max_clients_per_ip == new.max_clients_per_ip,
        ),
        ("listen", *listen == new.listen),
        ("admin_listen", *admin_listen == new.admin_listen),
        ("trusted_proxy", *trusted_proxy == new.trusted_proxy),
        (
            "keepalive_timeout_ms",
            *keepalive_timeout_ms == new.keepalive_timeout_ms,
        ),
        (
            "request_timeout_ms",
            *request_timeout_ms == new.request_timeout_ms,
        ),
        (
            "stall_timeout_ms",
            *stall_timeout_ms == new.stall_timeout_ms,
        ),
        (
            "drain_timeout_ms",
            *drain_timeout_ms == new.drain_timeout_ms,
        ),
    ];
    same.into_iter()
        .filter(|(_, same)| !same)
        .map(|(key, _)| key)
        .collect()
}
