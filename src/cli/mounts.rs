//! From the command line or the config file to the mounts the server
//! serves: each pulled mount's input opened and its thread started, each
//! push mount's credentials, and every per-stream setting resolved (the
//! mount's own, else the command line's).

use std::sync::{mpsc, Arc};
use std::time::Duration;

use mio::Waker;
use mkvcast::config::{self, Auth, FileConfig, MountSpec, SourceSpec, DEFAULT_SOURCE_USER};
use mkvcast::error::Error;
use mkvcast::input::{self, Input, InputOptions, InputStats, Reader};
use mkvcast::server::{Cidr, IngestAuth, MountOptions, MountSetup, MountSource, StreamInput};

use super::args::Args;

/// The environment variable that holds the source password.
pub const PASSWORD_ENV: &str = "MKVCAST_SOURCE_PASSWORD";

/// The mounts the arguments ask for: `None` for the one-input form.
pub fn plan(args: &Args) -> Result<Option<FileConfig>, Error> {
    let named = !args.mount.is_empty() || !args.ingest.is_empty();
    if let Some(file) = &args.config {
        if named || args.input.is_some() {
            return Err(Error::Usage(config::CONFIG_CONFLICT.into()));
        }
        return config::load(file.as_ref()).map(Some).map_err(Error::Config);
    }
    if !named {
        return Ok(None);
    }
    if args.input.is_some() {
        return Err(Error::Usage(
            "an INPUT is served at every path, so it cannot be combined with --mount or --ingest: \
             give it a path with --mount /=INPUT"
                .into(),
        ));
    }
    let mut mounts = Vec::new();
    for m in &args.mount {
        let (path, input) = config::mount_arg(m).map_err(Error::Config)?;
        mounts.push(MountSpec::pull(&path, &input));
    }
    for p in &args.ingest {
        mounts.push(MountSpec::push(
            &config::ingest_arg(p).map_err(Error::Config)?,
        ));
    }
    let cfg = FileConfig {
        mounts,
        default_mount: None,
        max_mounts: config::DEFAULT_MAX_MOUNTS,
        globals: Default::default(),
    };
    config::validate(&cfg).map_err(Error::Config)?;
    Ok(Some(cfg))
}

/// The source password from the command line, else the environment.
pub fn global_password(args: &Args) -> Option<String> {
    args.source_password
        .clone()
        .or_else(|| std::env::var(PASSWORD_ENV).ok())
        .filter(|p| !p.is_empty())
}

/// Checks what only the whole set of mounts can tell: every push mount
/// has a password, and `--loop` has a file to loop.
pub fn check(cfg: &FileConfig, args: &Args) -> Result<(), Error> {
    let password = global_password(args);
    if let Some(path) = config::missing_passwords(cfg, password.as_deref()).first() {
        return Err(Error::Usage(format!(
            "ingest mount {path} has no password: give --source-password, set {PASSWORD_ENV}, \
             or set password in its [[mount]] table (there is no default password)"
        )));
    }
    if let Some(m) = cfg
        .mounts
        .iter()
        .find(|m| m.source == SourceSpec::Push && m.settings.no_pace == Some(false))
    {
        return Err(Error::Usage(format!(
            "mount {}: no_pace = false: a pushed stream is never paced (the encoder is live)",
            m.path
        )));
    }
    let files = cfg.mounts.iter().any(|m| {
        matches!(&m.source, SourceSpec::Pull(i) if matches!(Input::parse(i), Ok(Input::File(_))))
    });
    if args.looping && !files {
        return Err(Error::Usage(
            "--loop needs a mount whose input is a file (stdin, URLs and pushes cannot start again)"
                .into(),
        ));
    }
    Ok(())
}

/// Every mount of `cfg`, inputs opened and started; an input that cannot
/// be opened is fatal at start, naming its mount.
pub fn setups(cfg: &FileConfig, args: &Args, waker: &Arc<Waker>) -> Result<Vec<MountSetup>, Error> {
    cfg.mounts
        .iter()
        .map(|spec| setup(spec, cfg, args, waker))
        .collect()
}

/// One mount, ready for the server.
pub fn setup(
    spec: &MountSpec,
    cfg: &FileConfig,
    args: &Args,
    waker: &Arc<Waker>,
) -> Result<MountSetup, Error> {
    let (options, source) = match &spec.source {
        SourceSpec::Pull(arg) => {
            let input =
                Input::parse(arg).map_err(|e| Error::Usage(format!("mount {}: {e}", spec.path)))?;
            let options = mount_options(spec, args, display_name(&input));
            let reader = input
                .open()
                .map_err(|e| Error::Mount(spec.path.clone(), e))?;
            let looping = spec
                .settings
                .looping
                .unwrap_or(args.looping && matches!(input, Input::File(_)));
            let input_options = InputOptions {
                pace: !spec.no_pace(args.no_pace),
                looping,
                reconnect_timeout: ms(spec
                    .settings
                    .reconnect_timeout_ms
                    .unwrap_or(args.reconnect_timeout_ms)),
                keep_attachments: options.keep_attachments,
                forward_blocks: !hold_clusters(),
            };
            log::info!("mount {}: reading {}", spec.path, input.name());
            let stream = start_input(input, reader, input_options, waker);
            (options, MountSource::Pulled(stream))
        }
        SourceSpec::Push => {
            let options = mount_options(spec, args, format!("push to {}", spec.path));
            (options, MountSource::Push(ingest_auth(spec, cfg, args)?))
        }
    };
    Ok(MountSetup {
        path: spec.path.clone(),
        options,
        source,
    })
}

/// Starts the input thread of a pulled stream; its events wake `waker`.
pub fn start_input(
    input: Input,
    reader: Reader,
    options: InputOptions,
    waker: &Arc<Waker>,
) -> StreamInput {
    let (tx, rx) = mpsc::channel();
    let stats = Arc::new(InputStats::default());
    let name = input.name();
    let waker = waker.clone();
    input::spawn(input, reader, options, stats.clone(), move |ev| {
        if tx.send(ev).is_ok() {
            let _ = waker.wake();
        }
    });
    StreamInput {
        events: rx,
        name,
        stats,
    }
}

/// The per-stream settings of the one-input form, from the command line.
pub fn base_options(args: &Args, input_name: String) -> MountOptions {
    MountOptions {
        max_clients: args.max_clients,
        buffer_ms: args.buffer_ms,
        burst_bytes: args.burst_bytes,
        flush: ms(args.flush_ms),
        client_queue_ms: args.client_queue_ms,
        source_idle_timeout: ms(args.source_idle_timeout_ms),
        source_grace: ms(args.source_grace_ms),
        source_wait: (args.source_wait_ms > 0).then(|| ms(args.source_wait_ms)),
        keep_attachments: args.keep_attachments,
        input_name,
        ..MountOptions::default()
    }
}

/// A mount's settings: its own, else the command line's.
pub fn mount_options(spec: &MountSpec, args: &Args, input_name: String) -> MountOptions {
    let s = &spec.settings;
    let base = base_options(args, input_name);
    MountOptions {
        max_clients: s.max_clients.unwrap_or(base.max_clients),
        buffer_ms: s.buffer_ms.unwrap_or(base.buffer_ms),
        burst_bytes: s.burst_bytes.unwrap_or(base.burst_bytes),
        flush: s.flush_ms.map_or(base.flush, ms),
        client_queue_ms: s.client_queue_ms.unwrap_or(base.client_queue_ms),
        source_idle_timeout: s
            .source_idle_timeout_ms
            .map_or(base.source_idle_timeout, ms),
        source_grace: s.source_grace_ms.map_or(base.source_grace, ms),
        source_wait: s
            .source_wait_ms
            .map_or(base.source_wait, |v| (v > 0).then(|| ms(v))),
        keep_attachments: s.keep_attachments.unwrap_or(base.keep_attachments),
        ..base
    }
}

/// Who may push to a mount.
fn ingest_auth(spec: &MountSpec, cfg: &FileConfig, args: &Args) -> Result<IngestAuth, Error> {
    let allow_from = spec
        .allow_from
        .iter()
        .map(|c| {
            c.parse::<Cidr>()
                .map_err(|e| Error::Usage(format!("mount {}: allow_from {c:?}: {e}", spec.path)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    match &spec.auth {
        Auth::None => Ok(IngestAuth::Open { allow_from }),
        Auth::Basic { user, password } => {
            let password = password
                .clone()
                .or_else(|| global_password(args))
                .or_else(|| cfg.globals.source_password.clone())
                .ok_or_else(|| {
                    Error::Usage(format!("ingest mount {} has no password", spec.path))
                })?;
            Ok(IngestAuth::Basic {
                user: user.clone().unwrap_or_else(|| DEFAULT_SOURCE_USER.into()),
                password,
                allow_from,
            })
        }
    }
}

/// A short name for the status page: a file's name without its folder.
pub fn display_name(input: &Input) -> String {
    match input {
        Input::File(p) => p
            .file_name()
            .map_or(input.name(), |n| n.to_string_lossy().into_owned()),
        other => other.name(),
    }
}

/// `MKVCAST_HOLD_CLUSTERS=1`, a control for tests only (TESTING.md):
/// deliver whole clusters, as before blocks were forwarded, to compare
/// the two.
pub fn hold_clusters() -> bool {
    std::env::var("MKVCAST_HOLD_CLUSTERS").is_ok_and(|v| v.trim() == "1")
}

pub fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}
