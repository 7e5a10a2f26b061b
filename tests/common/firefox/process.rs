//! The Firefox process: a fresh profile with test prefs, its own process
//! group, and a cleanup that leaves no process or file behind.

use std::fs::{self, File};
use std::io::ErrorKind;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Profile prefs (`user.js`). Why each group is there:
/// - Marionette on a free port (written to `MarionetteActivePort`);
/// - autoplay allowed without a gesture; MSE and Matroska (H.264 fixtures)
///   on explicitly, whatever this build's defaults;
/// - no first-run, update, telemetry, Remote Settings or safe-browsing
///   traffic, and a proxy on a closed loopback port for anything else that
///   would leave the machine (loopback itself is never proxied), so all
///   traffic stays on 127.0.0.1;
/// - one content process, no Fission: fewer processes on a 2-core machine.
const PREFS: &[(&str, &str)] = &[
    ("marionette.port", "0"),
    ("media.autoplay.default", "0"),
    ("media.autoplay.blocking_policy", "0"),
    ("media.mediasource.enabled", "true"),
    ("media.mkv.enabled", "true"),
    ("browser.shell.checkDefaultBrowser", "false"),
    ("browser.startup.page", "0"),
    ("browser.startup.homepage_override.mstone", "\"ignore\""),
    ("startup.homepage_welcome_url", "\"about:blank\""),
    ("startup.homepage_welcome_url.additional", "\"\""),
    ("browser.aboutwelcome.enabled", "false"),
    ("browser.newtabpage.enabled", "false"),
    ("browser.sessionstore.resume_from_crash", "false"),
    ("toolkit.startup.max_resumed_crashes", "-1"),
    ("app.update.disabledForTesting", "true"),
    ("app.update.auto", "false"),
    ("extensions.update.enabled", "false"),
    ("extensions.getAddons.cache.enabled", "false"),
    ("datareporting.policy.dataSubmissionEnabled", "false"),
    ("datareporting.healthreport.uploadEnabled", "false"),
    ("toolkit.telemetry.enabled", "false"),
    ("toolkit.telemetry.server", "\"\""),
    (
        "services.settings.server",
        "\"data:,#remote-settings-dummy/v1\"",
    ),
    ("browser.safebrowsing.malware.enabled", "false"),
    ("browser.safebrowsing.phishing.enabled", "false"),
    ("network.captive-portal-service.enabled", "false"),
    ("network.connectivity-service.enabled", "false"),
    ("network.dns.disablePrefetch", "true"),
    ("network.prefetch-next", "false"),
    ("network.http.speculative-parallel-limit", "0"),
    ("network.proxy.type", "1"),
    ("network.proxy.http", "\"127.0.0.1\""),
    ("network.proxy.http_port", "9"),
    ("network.proxy.share_proxy_settings", "true"),
    ("network.proxy.allow_hijacking_localhost", "false"),
    ("dom.ipc.processCount", "1"),
    ("fission.autostart", "false"),
];

pub(super) fn log_tail(path: &Path, n: usize) -> String {
    let bytes = fs::read(path).unwrap_or_default();
    let start = bytes.len().saturating_sub(n);
    let tail = String::from_utf8_lossy(&bytes[start..]);
    format!("--- firefox log tail ({}) ---\n{tail}", path.display())
}

// libc (std links it anyway, so no extra dependency).
unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn prctl(option: i32, ...) -> i32;
}

/// Whether any process of group `pgid` still exists (zombies count: they
/// are leftovers nobody reaped).
pub fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { kill(-pgid, 0) == 0 }
}

/// Makes this test process the reaper of Firefox's orphaned content
/// processes, so `Drop` can reap them instead of leaving zombies for a
/// container's PID 1 that may never do it. Done once per process.
fn become_subreaper() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER, 1) with integer arguments.
    ONCE.call_once(|| unsafe {
        prctl(36, 1u64, 0u64, 0u64, 0u64);
    });
}

/// The Firefox process (its own process group) and its temporary profile.
pub(super) struct FirefoxProcess {
    pub(super) child: Child,
    pub(super) profile: PathBuf,
    pub(super) log: PathBuf,
}

impl FirefoxProcess {
    pub(super) fn spawn(bin: &Path) -> Result<FirefoxProcess, String> {
        become_subreaper();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let profile =
            std::env::temp_dir().join(format!("mkvcast-firefox-{}-{nanos}", std::process::id()));
        let prefs: String = PREFS
            .iter()
            .map(|(k, v)| format!("user_pref(\"{k}\", {v});\n"))
            .collect();
        let log = profile.join("firefox.log");
        let setup = fs::create_dir_all(&profile)
            .and_then(|_| fs::write(profile.join("user.js"), prefs))
            .and_then(|_| File::create(&log))
            .and_then(|f| Ok((f.try_clone()?, f)));
        let spawned = setup.and_then(|(out, err)| {
            Command::new(bin)
                .args(["--headless", "--marionette", "--no-remote", "--profile"])
                .arg(&profile)
                .arg("about:blank")
                .env("MOZ_CRASHREPORTER_DISABLE", "1")
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .process_group(0)
                .spawn()
        });
        match spawned {
            Ok(child) => Ok(FirefoxProcess {
                child,
                profile,
                log,
            }),
            Err(e) => {
                let _ = fs::remove_dir_all(&profile);
                Err(format!("starting {}: {e}", bin.display()))
            }
        }
    }

    /// Waits for the port Marionette writes into the profile once listening.
    pub(super) fn marionette_port(&mut self, deadline: Instant) -> Result<u16, String> {
        let file = self.profile.join("MarionetteActivePort");
        loop {
            let port = fs::read_to_string(&file).ok();
            if let Some(p) = port.and_then(|t| t.trim().parse().ok()) {
                return Ok(p);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("Firefox exited early ({status})"));
            }
            if Instant::now() > deadline {
                return Err(format!("no {} in time", file.display()));
            }
            sleep(Duration::from_millis(100));
        }
    }

    pub(super) fn pgid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for FirefoxProcess {
    fn drop(&mut self) {
        // Browser::drop asked Firefox to quit; give it a moment to do so.
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            sleep(Duration::from_millis(50));
        }
        let pgid = self.pgid();
        // SAFETY: the group made at spawn; its id is still held by the
        // unreaped leader or by orphans that are now our children.
        unsafe { kill(-pgid, 9) };
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Reap orphaned group members (we are their subreaper), bounded.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            // SAFETY: waits only for members of that group; WNOHANG.
            match unsafe { waitpid(-pgid, std::ptr::null_mut(), 1) } {
                r if r < 0 => break, // ECHILD: none left
                0 => sleep(Duration::from_millis(20)),
                _ => {}
            }
        }
        for _ in 0..20 {
            match fs::remove_dir_all(&self.profile) {
                Err(e) if e.kind() != ErrorKind::NotFound => sleep(Duration::from_millis(100)),
                _ => break,
            }
        }
    }
}
