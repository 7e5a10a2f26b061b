//! Runs the real `mkvcast` binary on a loopback port ([`Mkvcast`]), and
//! finds (or first builds) the binaries that tests run: the package's own
//! and the other workspace packages' (the load tool).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A running `mkvcast` process.
pub struct Mkvcast {
    pub child: Child,
    pub port: u16,
    /// Port of the admin listener (status pages, metrics).
    pub admin_port: u16,
    log: Arc<Mutex<String>>,
}

impl Mkvcast {
    /// Starts `mkvcast ARGS --listen 127.0.0.1:0` and waits until it listens.
    pub fn start(args: &[&str]) -> Mkvcast {
        Self::start_with(args, Stdio::null())
    }

    /// Like [`start`](Self::start) on a given port (to restart a server
    /// where its clients expect it).
    pub fn start_on(port: u16, args: &[&str]) -> Mkvcast {
        Self::launch(args, Stdio::null(), &format!("127.0.0.1:{port}"))
    }

    /// Like [`start`](Self::start) with extra environment variables.
    pub fn start_env(args: &[&str], env: &[(&str, &str)]) -> Mkvcast {
        let mut cmd = Self::command(args, Stdio::null(), "127.0.0.1:0");
        cmd.envs(env.iter().copied());
        Self::spawn(cmd)
    }

    /// Like [`start`](Self::start) with stdin piped (`child.stdin`).
    pub fn start_piped(args: &[&str]) -> Mkvcast {
        Self::start_with(args, Stdio::piped())
    }

    /// [`start_piped`](Self::start_piped) with extra environment variables.
    pub fn start_piped_env(args: &[&str], env: &[(&str, &str)]) -> Mkvcast {
        let mut cmd = Self::command(args, Stdio::piped(), "127.0.0.1:0");
        cmd.envs(env.iter().copied());
        Self::spawn(cmd)
    }

    fn start_with(args: &[&str], stdin: Stdio) -> Mkvcast {
        Self::launch(args, stdin, "127.0.0.1:0")
    }

    /// `mkvcast ARGS --listen 127.0.0.1:0` under `ulimit -n NOFILE`, with
    /// no admin listener and info logging (fewer descriptors and less work
    /// than [`start`](Self::start), for tests that count both).
    pub fn start_nofile(nofile: u32, args: &[&str]) -> Mkvcast {
        // `exec` keeps the PID: it is mkvcast's, for /proc.
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(format!("ulimit -n {nofile} && exec \"$@\""))
            .arg("bash")
            .arg(mkvcast_bin())
            .args(args)
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "off"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null());
        Self::spawn(cmd)
    }

    fn launch(args: &[&str], stdin: Stdio, listen: &str) -> Mkvcast {
        Self::spawn(Self::command(args, stdin, listen))
    }

    fn command(args: &[&str], stdin: Stdio, listen: &str) -> Command {
        let mut cmd = Command::new(mkvcast_bin());
        cmd.args(args)
            .args(["--listen", listen, "--admin-listen", "127.0.0.1:0"])
            .env("RUST_LOG", "debug")
            .stdin(stdin);
        cmd
    }

    /// Spawns `cmd` (stderr captured into the log) and waits until it
    /// listens.
    fn spawn(mut cmd: Command) -> Mkvcast {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mkvcast");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        thread::spawn(move || {
            let mut r = std::io::BufReader::new(stderr);
            let mut line = String::new();
            while std::io::BufRead::read_line(&mut r, &mut line).unwrap_or(0) > 0 {
                if std::env::var_os("MKVCAST_TEST_LOG").is_some() {
                    eprint!("[mkvcast] {line}");
                }
                sink.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let port = loop {
            let text = log.lock().unwrap().clone();
            if let Some(rest) = text.split("listening on http://127.0.0.1:").nth(1) {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                break digits.parse().unwrap();
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("mkvcast exited at start ({status}):\n{text}");
            }
            assert!(
                Instant::now() < deadline,
                "mkvcast did not start listening:\n{text}"
            );
            thread::sleep(Duration::from_millis(20));
        };
        let admin_port = {
            let text = log.lock().unwrap().clone();
            text.split("status page on http://127.0.0.1:")
                .nth(1)
                .map(|r| {
                    r.chars()
                        .take_while(char::is_ascii_digit)
                        .collect::<String>()
                })
                .and_then(|d| d.parse().ok())
                .unwrap_or(0)
        };
        Mkvcast {
            child,
            port,
            admin_port,
            log,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return true;
            }
            thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Resident memory of the process in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Open file descriptors of the process.
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).map_or(0, |d| d.count())
    }

    /// User + system CPU time of the process, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the ")" that ends the command name: state is field 3,
        // utime and stime are fields 14 and 15.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status();
    }
}

impl Drop for Mkvcast {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `target/<profile>` of the build the running test belongs to: cargo puts
/// test executables in its `deps/` and the package's binaries next to it.
pub fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test executable has a directory");
    deps.parent().unwrap_or(deps).to_path_buf()
}

/// Path of a binary of the package under test: `CARGO_BIN_EXE_<name>` if
/// the runner sets it at run time (cargo only sets it at compile time of
/// the test, and only for the test's own package), else in [`build_dir`].
pub fn bin_path(name: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(format!("CARGO_BIN_EXE_{name}")) {
        return p.into();
    }
    build_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

/// The `mkvcast` binary that `cargo test` built for the root package's
/// integration tests.
pub fn mkvcast_bin() -> PathBuf {
    let p = bin_path("mkvcast");
    assert!(
        p.is_file(),
        "{} missing: run the tests through cargo (the root package's tests build it)",
        p.display()
    );
    p
}

/// The `mkvcast-load` tool, built first (see [`workspace_bin`]).
pub fn load_tool() -> PathBuf {
    workspace_bin("mkvcast-load", "mkvcast-load")
}

/// The binary `bin` of the workspace package `package`, built with the
/// running test's profile into its target directory first, once per
/// process. A root-package test cannot name another package's binary with
/// `env!("CARGO_BIN_EXE_…")`, and a plain `cargo test` builds only the root
/// package; building here keeps `cargo test` on a clean checkout working
/// and never runs a stale tool. A no-op build takes a fraction of a second.
pub fn workspace_bin(package: &str, bin: &str) -> PathBuf {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let path = bin_path(bin);
    if std::env::var_os(format!("CARGO_BIN_EXE_{bin}")).is_some() {
        return path;
    }
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|b| b == bin) {
        cargo_build(package, bin);
        built.push(bin.to_string());
    }
    assert!(
        path.is_file(),
        "cargo built {bin}, but {} is missing",
        path.display()
    );
    path
}

/// `cargo build -p PACKAGE --bin BIN` for the profile and target of
/// [`build_dir`]; panics with cargo's output if it fails.
fn cargo_build(package: &str, bin: &str) {
    let dir = build_dir();
    let profile = match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".to_string(),
        Some(p) => p.to_string(),
    };
    let parent = dir.parent().expect("build directory has a parent");
    // target/<profile>, or target/<triple>/<profile> with --target.
    let is_root = |p: &Path| p.join("CACHEDIR.TAG").is_file();
    let (target_dir, triple) = match parent.parent() {
        Some(root) if !is_root(parent) && is_root(root) => (root, parent.file_name()),
        _ => (parent, None),
    };
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "--manifest-path", manifest])
        .args(["-p", package, "--bin", bin, "--profile", &profile])
        .arg("--target-dir")
        .arg(target_dir);
    if let Some(t) = triple {
        cmd.arg("--target").arg(t);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running cargo to build {bin}: {e}"));
    assert!(
        out.status.success(),
        "cargo build -p {package} --bin {bin} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
