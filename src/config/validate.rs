//! The rules a whole configuration keeps, on the parsed form, so mounts the
//! caller builds from `--mount`/`--ingest` can be checked the same way.

use std::collections::HashSet;
use std::net::IpAddr;

use crate::input::Input;

use super::{check_path, Auth, ConfigError, FileConfig, MountSpec, Problem, SourceSpec};

/// Checks a configuration: at least one mount and no more than
/// `max_mounts`, each mount sound (see below), unique paths, stdin read by
/// one mount at most, `default_mount` naming a mount, no zero limits.
///
/// A mount: a valid path; a pulled mount's input is one the input layer
/// takes, it loops only when a file, and it has no push-only settings
/// (credentials, `auth = "none"`, `allow_from`); a push mount does not loop,
/// has no empty user or password, and with `auth = "none"` a non-empty
/// `allow_from`; `allow_from` entries are `addr` or `addr/len`; its
/// `max_clients` is not 0.
pub fn validate(cfg: &FileConfig) -> Result<(), ConfigError> {
    let top = |key, problem| ConfigError::Invalid {
        mount: None,
        key,
        problem,
    };
    if cfg.mounts.is_empty() {
        return Err(top("mount", Problem::NoMounts));
    }
    if cfg.max_mounts == 0 {
        return Err(top("max_mounts", Problem::Zero));
    }
    if cfg.mounts.len() > cfg.max_mounts {
        let (count, max) = (cfg.mounts.len(), cfg.max_mounts);
        return Err(top("max_mounts", Problem::TooManyMounts { count, max }));
    }
    let mut paths = HashSet::new();
    let mut stdin = false;
    for m in &cfg.mounts {
        let bad = |key, problem| ConfigError::Invalid {
            mount: Some(m.path.clone()),
            key,
            problem,
        };
        check_mount(m).map_err(|(key, problem)| bad(key, problem))?;
        if !paths.insert(m.path.as_str()) {
            return Err(bad("path", Problem::Duplicate));
        }
        if matches!(&m.source, SourceSpec::Pull(input) if input == "-") {
            if stdin {
                return Err(bad("input", Problem::StdinTwice));
            }
            stdin = true;
        }
    }
    if let Some(d) = &cfg.default_mount {
        check_path(d).map_err(|e| top("default_mount", Problem::Path(e)))?;
        if !paths.contains(d.as_str()) {
            return Err(top("default_mount", Problem::NoSuchMount(d.clone())));
        }
    }
    check_globals(cfg).map_err(|(key, problem)| top(key, problem))
}

type Broken = (&'static str, Problem);

fn check_globals(cfg: &FileConfig) -> Result<(), Broken> {
    let g = &cfg.globals;
    if g.source_password.as_deref() == Some("") {
        return Err(("source_password", Problem::Empty));
    }
    let limits = [
        ("max_clients_total", g.max_clients_total),
        ("max_clients_per_ip", g.max_clients_per_ip),
        ("max_ingest_buffer_bytes", g.max_ingest_buffer_bytes),
    ];
    match limits.into_iter().find(|(_, v)| *v == Some(0)) {
        Some((key, _)) => Err((key, Problem::Zero)),
        None => Ok(()),
    }
}

fn check_mount(m: &MountSpec) -> Result<(), Broken> {
    check_path(&m.path).map_err(|e| ("path", Problem::Path(e)))?;
    let loops = m.settings.looping == Some(true);
    match &m.source {
        SourceSpec::Pull(input) => {
            if input.is_empty() {
                return Err(("input", Problem::Empty));
            }
            let parsed =
                Input::parse(input).map_err(|e| ("input", Problem::BadInput(e.to_string())))?;
            if loops && !matches!(parsed, Input::File(_)) {
                return Err(("loop", Problem::LoopNeedsFile));
            }
            if let Some(key) = push_only_key(m) {
                return Err((key, Problem::PushOnly));
            }
        }
        SourceSpec::Push => {
            if loops {
                return Err(("loop", Problem::LoopNeedsFile));
            }
            check_push_auth(m)?;
        }
    }
    if let Some(bad) = m.allow_from.iter().find(|a| !is_cidr(a)) {
        return Err(("allow_from", Problem::BadCidr(bad.clone())));
    }
    if m.settings.max_clients == Some(0) {
        return Err(("max_clients", Problem::Zero));
    }
    Ok(())
}

/// The first push-only key a mount sets, if any.
fn push_only_key(m: &MountSpec) -> Option<&'static str> {
    match &m.auth {
        Auth::None => Some("auth"),
        Auth::Basic { user: Some(_), .. } => Some("user"),
        Auth::Basic {
            password: Some(_), ..
        } => Some("password"),
        Auth::Basic { .. } if !m.allow_from.is_empty() => Some("allow_from"),
        Auth::Basic { .. } => None,
    }
}

fn check_push_auth(m: &MountSpec) -> Result<(), Broken> {
    match &m.auth {
        Auth::Basic { user, password } => {
            if user.as_deref() == Some("") {
                return Err(("user", Problem::Empty));
            }
            if password.as_deref() == Some("") {
                return Err(("password", Problem::Empty));
            }
            Ok(())
        }
        Auth::None if m.allow_from.is_empty() => Err(("allow_from", Problem::OpenPush)),
        Auth::None => Ok(()),
    }
}

/// `addr` or `addr/len`, IPv4 or IPv6, the length within the address's
/// bits. The router parses them into its own type; this catches typos at
/// load time.
fn is_cidr(s: &str) -> bool {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let Ok(addr) = addr.parse::<IpAddr>() else {
        return false;
    };
    let Some(len) = len else {
        return true;
    };
    let bits = if addr.is_ipv4() { 32 } else { 128 };
    !len.is_empty()
        && len.len() <= 3
        && len.bytes().all(|b| b.is_ascii_digit())
        && len.parse::<u32>().is_ok_and(|n| n <= bits)
}
