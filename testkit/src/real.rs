//! Gating for tests that run real external clients (ffmpeg, ffprobe,
//! mkvinfo, ...). Such a test calls [`require_tool`] for each program it
//! needs and returns early when it gets `false`.
//!
//! By default a missing tool skips the test with a note on stderr, so the
//! suite passes on machines without them. With `MKVCAST_REAL_CLIENTS=1` in
//! the environment (CI, release checks) a missing tool fails the test.
//!
//! Also what those tests share to run the tools: [`run_tool`] and
//! [`TempFile`] for the input they read.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};

/// Environment variable that makes missing real-client tools a failure.
pub const REAL_CLIENTS_ENV: &str = "MKVCAST_REAL_CLIENTS";

/// Whether real-client tests are mandatory (`MKVCAST_REAL_CLIENTS=1`).
pub fn real_clients_required() -> bool {
    std::env::var(REAL_CLIENTS_ENV).is_ok_and(|v| v.trim() == "1")
}

/// Full path of the executable `name` found on `PATH`, if any.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let is_exe = |p: &Path| {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        }
        #[cfg(not(unix))]
        {
            p.is_file()
        }
    };
    if name.contains(std::path::MAIN_SEPARATOR) {
        let p = PathBuf::from(name);
        return is_exe(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_exe(p))
}

/// Whether `name` is installed (an executable on `PATH`).
pub fn tool_available(name: &str) -> bool {
    find_tool(name).is_some()
}

/// `true` when the tool `name` is available. When it is not: panics (fails
/// the test) if `MKVCAST_REAL_CLIENTS=1`, else prints a skipping note and
/// returns `false` so the caller can return early.
pub fn require_tool(name: &str) -> bool {
    if tool_available(name) {
        return true;
    }
    if real_clients_required() {
        panic!("`{name}` is not installed (not found on PATH), but {REAL_CLIENTS_ENV}=1 requires the real-client tests to run");
    }
    eprintln!(
        "skipping: `{name}` is not installed (set {REAL_CLIENTS_ENV}=1 to make this a failure)"
    );
    false
}

/// [`require_tool`] for several tools; checks (and reports) every one.
pub fn require_tools(names: &[&str]) -> bool {
    // Not `all`: every missing tool is reported, not just the first.
    names.iter().filter(|n| !require_tool(n)).count() == 0
}

/// Runs `program ARGS FILE` to completion and returns what it printed.
pub fn run_tool(program: &str, args: &[&str], file: &Path) -> Output {
    Command::new(program)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"))
}

/// A temporary file for a tool to read, removed when dropped (also when a
/// check panics).
pub struct TempFile(PathBuf);

impl TempFile {
    /// Writes `bytes` to a fresh file whose name ends in `-LABEL.EXT`.
    pub fn write(label: &str, ext: &str, bytes: &[u8]) -> TempFile {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "mkvcast-real-{}-{nanos}-{n}-{label}.{ext}",
            std::process::id()
        ));
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        TempFile(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
