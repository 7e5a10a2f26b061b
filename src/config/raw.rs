//! The file as TOML has it, and its translation into [`FileConfig`]. Every
//! key is listed explicitly: `deny_unknown_fields` (a typo is an error, not
//! a silently ignored setting) does not work with `#[serde(flatten)]`. The
//! conversions destructure without `..`, so a key added to a raw struct or
//! to [`MountSettings`] and not carried over does not compile.

use serde::Deserialize;

use super::{
    Auth, ConfigError, FileConfig, Globals, MountSettings, MountSpec, Problem, SourceSpec,
    DEFAULT_MAX_MOUNTS,
};

/// The keys of [`RawFile`] but `mount`, for a hint when one is found in a
/// mount: TOML puts a key written after a `[[mount]]` header into that
/// mount's table.
pub(super) const TOP_LEVEL_KEYS: [&str; 13] = [
    "default_mount",
    "max_mounts",
    "source_password",
    "max_clients_total",
    "max_ingest_buffer_bytes",
    "max_clients_per_ip",
    "listen",
    "admin_listen",
    "trusted_proxy",
    "keepalive_timeout_ms",
    "request_timeout_ms",
    "stall_timeout_ms",
    "drain_timeout_ms",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    mount: Vec<RawMount>,
    default_mount: Option<String>,
    max_mounts: Option<usize>,
    source_password: Option<String>,
    max_clients_total: Option<usize>,
    max_ingest_buffer_bytes: Option<usize>,
    max_clients_per_ip: Option<usize>,
    #[serde(default)]
    listen: Vec<String>,
    admin_listen: Option<String>,
    #[serde(default)]
    trusted_proxy: Vec<String>,
    keepalive_timeout_ms: Option<u64>,
    request_timeout_ms: Option<u64>,
    stall_timeout_ms: Option<u64>,
    drain_timeout_ms: Option<u64>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum RawAuth {
    Basic,
    None,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMount {
    path: String,
    input: Option<String>,
    push: Option<bool>,
    user: Option<String>,
    password: Option<String>,
    auth: Option<RawAuth>,
    #[serde(default)]
    allow_from: Vec<String>,
    max_clients: Option<usize>,
    buffer_ms: Option<u64>,
    burst_bytes: Option<usize>,
    flush_ms: Option<u64>,
    no_pace: Option<bool>,
    #[serde(rename = "loop")]
    looping: Option<bool>,
    client_queue_ms: Option<u64>,
    reconnect_timeout_ms: Option<u64>,
    keep_attachments: Option<bool>,
    source_idle_timeout_ms: Option<u64>,
    source_grace_ms: Option<u64>,
    source_wait_ms: Option<u64>,
}

/// Parses the TOML into a [`FileConfig`], checking what only the raw form
/// shows (the source keys, `auth` on a pulled mount, credentials with
/// `auth = "none"`); the rest is [`super::validate`]'s.
pub(super) fn parse(text: &str) -> Result<FileConfig, ConfigError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| ConfigError::from_toml(text, &e))?;
    let RawFile {
        mount,
        default_mount,
        max_mounts,
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
    } = raw;
    Ok(FileConfig {
        mounts: mount
            .into_iter()
            .map(RawMount::into_spec)
            .collect::<Result<_, _>>()?,
        default_mount,
        max_mounts: max_mounts.unwrap_or(DEFAULT_MAX_MOUNTS),
        globals: Globals {
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
        },
    })
}

impl RawMount {
    fn into_spec(self) -> Result<MountSpec, ConfigError> {
        let (source, auth) =
            self.source_and_auth()
                .map_err(|(key, problem)| ConfigError::Invalid {
                    mount: Some(self.path.clone()),
                    key,
                    problem,
                })?;
        let RawMount {
            path,
            input: _,
            push: _,
            user: _,
            password: _,
            auth: _,
            allow_from,
            max_clients,
            buffer_ms,
            burst_bytes,
            flush_ms,
            no_pace,
            looping,
            client_queue_ms,
            reconnect_timeout_ms,
            keep_attachments,
            source_idle_timeout_ms,
            source_grace_ms,
            source_wait_ms,
        } = self;
        let settings = MountSettings {
            max_clients,
            buffer_ms,
            burst_bytes,
            flush_ms,
            no_pace,
            looping,
            client_queue_ms,
            reconnect_timeout_ms,
            keep_attachments,
            source_idle_timeout_ms,
            source_grace_ms,
            source_wait_ms,
        };
        Ok(MountSpec {
            path,
            source,
            auth,
            allow_from,
            settings,
        })
    }

    /// The source from `input`/`push` (exactly one), and the credentials.
    fn source_and_auth(&self) -> Result<(SourceSpec, Auth), (&'static str, Problem)> {
        let source = match (&self.input, self.push.unwrap_or(false)) {
            (Some(input), false) => SourceSpec::Pull(input.clone()),
            (None, true) => SourceSpec::Push,
            (None, false) => return Err(("input", Problem::NoSource)),
            (Some(_), true) => return Err(("push", Problem::BothSources)),
        };
        // An explicit `auth = "basic"` looks like the default once
        // converted, so this one push-only key is caught here; validate
        // catches the others.
        if self.auth.is_some() && source != SourceSpec::Push {
            return Err(("auth", Problem::PushOnly));
        }
        let (user, password) = (self.user.clone(), self.password.clone());
        let auth = match self.auth {
            Some(RawAuth::None) if user.is_some() => {
                return Err(("user", Problem::CredentialsWithoutAuth))
            }
            Some(RawAuth::None) if password.is_some() => {
                return Err(("password", Problem::CredentialsWithoutAuth))
            }
            Some(RawAuth::None) => Auth::None,
            Some(RawAuth::Basic) | None => Auth::Basic { user, password },
        };
        Ok((source, auth))
    }
}
