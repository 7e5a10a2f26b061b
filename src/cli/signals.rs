//! Signals: SIGTERM/SIGINT ask the server to drain and stop (a second one
//! exits at once); SIGHUP re-reads the config file. The handlers live
//! here, not in the library: a program that embeds the server decides
//! what its signals mean.

use std::sync::Arc;

use mio::Waker;
use mkvcast::config::{self, FileConfig, MountSpec, SourceSpec};
use mkvcast::server::{Control, MountSetup, Reconfigure, Shutdown};

use super::args::Args;
use super::mounts;

/// What SIGHUP needs: the file, the mounts as last read, and the server.
pub struct Reloader {
    args: Args,
    current: FileConfig,
    control: Control,
    waker: Arc<Waker>,
}

impl Reloader {
    pub fn new(args: Args, current: FileConfig, control: Control, waker: Arc<Waker>) -> Self {
        Reloader {
            args,
            current,
            control,
            waker,
        }
    }

    /// Reads the file again and hands the server what changed. A file
    /// that fails to load is logged and ignored.
    fn reload(&mut self) {
        let Some(file) = self.args.config.clone() else {
            return;
        };
        let checked = config::load(file.as_ref())
            .map_err(|e| e.to_string())
            .and_then(|c| {
                mounts::check(&c, &self.args)
                    .map(|()| c)
                    .map_err(|e| e.to_string())
            });
        let new = match checked {
            Ok(c) => c,
            Err(e) => return log::warn!("SIGHUP: {e}; keeping the running configuration"),
        };
        let mut diff = config::diff(&self.current, &new);
        for key in &diff.globals_changed {
            log::warn!("SIGHUP: {key} changed; it takes effect on restart");
        }
        // A pulled mount whose input ended starts again.
        let ended = self.control.ended_mounts();
        let (again, keep): (Vec<MountSpec>, Vec<MountSpec>) = diff
            .keep
            .drain(..)
            .partition(|m| matches!(m.source, SourceSpec::Pull(_)) && ended.contains(&m.path));
        let change = Reconfigure {
            keep: keep
                .iter()
                .map(|m| {
                    (
                        m.path.clone(),
                        mounts::mount_options(m, &self.args, self.name(m)),
                    )
                })
                .collect(),
            replace: self.open_all(diff.restart.iter().chain(&again)),
            add: self.open_all(diff.add.iter()),
            remove: diff.remove,
            default_mount: new.default_mount.clone(),
        };
        log::info!(
            "SIGHUP: {} mounts kept, {} restarted, {} added, {} removed",
            change.keep.len(),
            change.replace.len(),
            change.add.len(),
            change.remove.len()
        );
        self.current = new;
        if let Err(e) = self.control.send(change) {
            log::warn!("SIGHUP: {e}");
        }
    }

    /// Sets up each mount; one whose input cannot be opened is skipped.
    fn open_all<'a>(&self, specs: impl Iterator<Item = &'a MountSpec>) -> Vec<MountSetup> {
        specs
            .filter_map(
                |spec| match mounts::setup(spec, &self.current, &self.args, &self.waker) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        log::warn!("SIGHUP: {e}; mount {} skipped", spec.path);
                        None
                    }
                },
            )
            .collect()
    }

    fn name(&self, m: &MountSpec) -> String {
        match &m.source {
            SourceSpec::Pull(i) => mkvcast::input::Input::parse(i)
                .map_or(i.clone(), |input| mounts::display_name(&input)),
            SourceSpec::Push => format!("push to {}", m.path),
        }
    }
}

/// Starts the signal thread.
pub fn handle(shutdown: Shutdown, mut reload: Option<Reloader>) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if sig == SIGHUP {
                    match reload.as_mut() {
                        Some(r) => r.reload(),
                        None => log::info!("SIGHUP ignored: no --config file to reload"),
                    }
                    continue;
                }
                log::info!("signal {sig}: draining viewers, then exiting");
                if shutdown.trigger().unwrap_or(true) {
                    log::warn!("second signal: exiting now");
                    std::process::exit(0);
                }
            }
        })?;
    Ok(())
}
