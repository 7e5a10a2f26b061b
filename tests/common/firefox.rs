//! Headless Firefox ESR driven over Marionette, so integration tests can
//! assert that a stream really plays in Firefox (Gecko's WebM/Matroska
//! demuxer and media cache, not Chromium's).
//!
//! ```ignore
//! let Some(mut b) = firefox::Browser::start() else { return }; // skip
//! b.open_video("http://127.0.0.1:8080/").unwrap();
//! let s = b.wait_playing(std::time::Duration::from_secs(10)).unwrap();
//! ```
//!
//! Marionette is spoken directly (`LEN:JSON` frames; commands
//! `[0, id, name, params]`, replies `[1, id, error, result]`), so CI needs
//! neither geckodriver nor Python. Self-contained: only std and serde_json.
//! Every call is bounded in time; `Drop` quits Firefox, kills what is left of
//! its process group, reaps it and removes the temporary profile.
#![allow(dead_code)]

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// Firefox takes longer than Chromium to create a profile and start.
const START_TIMEOUT: Duration = Duration::from_secs(40);
/// Default bound for one Marionette command.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// Socket read granularity, so deadlines are checked regularly.
const POLL: Duration = Duration::from_millis(200);

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

/// Playback state of the `<video>` made by [`Browser::open_video`].
#[derive(Debug, Clone, PartialEq)]
pub struct VideoState {
    pub current_time: f64,
    /// 0 nothing .. 4 enough data.
    pub ready_state: u32,
    pub network_state: u32,
    /// Media error as `"code:message"`, if any.
    pub error: Option<String>,
    /// Rejection of the `play()` promise, if any.
    pub play_error: Option<String>,
    pub paused: bool,
    pub ended: bool,
    /// `getVideoPlaybackQuality().totalVideoFrames`.
    pub total_frames: u64,
    /// `video.mozDecodedFrames` (Gecko only; counts decoded, not shown).
    pub decoded_frames: u64,
    pub video_width: u32,
    pub video_height: u32,
    /// End of the last buffered range, seconds.
    pub buffered_end: f64,
}

/// `firefox-esr` on `PATH`.
fn firefox_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("firefox-esr"))
        .find(|p| p.is_file())
}

/// Whether the suite must not skip real clients (`MKVCAST_REAL_CLIENTS=1`).
fn required() -> bool {
    std::env::var("MKVCAST_REAL_CLIENTS").is_ok_and(|v| v.trim() == "1")
}

fn log_tail(path: &Path, n: usize) -> String {
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

/// A Marionette connection: one command in flight at a time.
struct Marionette {
    stream: TcpStream,
    buf: Vec<u8>,
    next_id: u64,
}

impl Marionette {
    /// Connects and reads the server's hello (`{"marionetteProtocol":3,..}`).
    fn connect(port: u16, deadline: Instant) -> Result<Marionette, String> {
        let stream =
            TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
        stream.set_read_timeout(Some(POLL)).ok();
        stream.set_write_timeout(Some(Duration::from_secs(5))).ok();
        let mut m = Marionette {
            stream,
            buf: Vec::new(),
            next_id: 1,
        };
        let hello = m.read_frame(deadline)?;
        if hello["marionetteProtocol"].as_u64() != Some(3) {
            return Err(format!("unexpected Marionette hello {hello}"));
        }
        Ok(m)
    }

    /// One `LEN:JSON` frame, or an error at `deadline`.
    fn read_frame(&mut self, deadline: Instant) -> Result<Value, String> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some(colon) = self.buf.iter().position(|&b| b == b':') {
                let len: usize = std::str::from_utf8(&self.buf[..colon])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("bad frame length {:?}", &self.buf[..colon]))?;
                if self.buf.len() > colon + len {
                    let body: Vec<u8> = self.buf.drain(..=colon + len).skip(colon + 1).collect();
                    return serde_json::from_slice(&body).map_err(|e| format!("bad JSON: {e}"));
                }
            }
            if Instant::now() > deadline {
                return Err("no reply in time".into());
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err("Marionette closed the connection".into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }

    /// Sends `[0, id, cmd, params]` and waits for `[1, id, error, result]`.
    fn call(&mut self, cmd: &str, params: Value, timeout: Duration) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        let body = json!([0, id, cmd, params]).to_string();
        let frame = format!("{}:{body}", body.len());
        self.stream
            .write_all(frame.as_bytes())
            .map_err(|e| format!("{cmd}: send: {e}"))?;
        let deadline = Instant::now() + timeout;
        loop {
            let v = self
                .read_frame(deadline)
                .map_err(|e| format!("{cmd}: {e}"))?;
            if v[0] != 1 || v[1].as_u64() != Some(id) {
                continue; // a late reply to an abandoned command
            }
            if !v[2].is_null() {
                let e = &v[2];
                return Err(format!("{cmd}: {}: {}", e["error"], e["message"]));
            }
            return Ok(v[3].clone());
        }
    }
}

/// The Firefox process (its own process group) and its temporary profile.
struct FirefoxProcess {
    child: Child,
    profile: PathBuf,
    log: PathBuf,
}

impl FirefoxProcess {
    fn spawn(bin: &Path) -> Result<FirefoxProcess, String> {
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
    fn marionette_port(&mut self, deadline: Instant) -> Result<u16, String> {
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

    fn pgid(&self) -> i32 {
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

/// A headless Firefox with a Marionette session on its one tab.
pub struct Browser {
    conn: Marionette,
    // Dropped after `conn`: waits for Firefox, kills and reaps, cleans up.
    proc: FirefoxProcess,
}

impl Browser {
    /// Starts headless Firefox ESR. `None` (test skipped, with a note) when
    /// `firefox-esr` is not installed, unless `MKVCAST_REAL_CLIENTS=1`: then,
    /// as when it is installed but cannot be driven, it panics.
    pub fn start() -> Option<Browser> {
        let Some(bin) = firefox_binary() else {
            assert!(
                !required(),
                "firefox-esr not on PATH, but MKVCAST_REAL_CLIENTS=1"
            );
            eprintln!("skipping: firefox-esr is not installed");
            return None;
        };
        Some(Self::start_with(&bin).unwrap_or_else(|e| panic!("starting Firefox: {e}")))
    }

    /// Like [`Browser::start`] with an explicit binary, and no panic.
    pub fn start_with(bin: &Path) -> Result<Browser, String> {
        let mut proc = FirefoxProcess::spawn(bin)?;
        let deadline = Instant::now() + START_TIMEOUT;
        let with_log = |e: String, p: &FirefoxProcess| format!("{e}\n{}", log_tail(&p.log, 3000));
        let port = match proc.marionette_port(deadline) {
            Ok(p) => p,
            Err(e) => return Err(with_log(e, &proc)),
        };
        let session = Marionette::connect(port, deadline).and_then(|mut c| {
            let caps = json!({ "pageLoadStrategy": "normal",
                "timeouts": { "script": 30000, "pageLoad": 20000, "implicit": 0 } });
            c.call("WebDriver:NewSession", caps, START_TIMEOUT)?;
            Ok(c)
        });
        match session {
            Ok(conn) => Ok(Browser { conn, proc }),
            Err(e) => Err(with_log(e, &proc)),
        }
    }

    /// Process group of Firefox and all its content processes.
    pub fn process_group(&self) -> i32 {
        self.proc.pgid()
    }

    pub fn profile_dir(&self) -> PathBuf {
        self.proc.profile.clone()
    }

    /// The last `bytes` of Firefox's stdout/stderr.
    pub fn log_tail(&self, bytes: usize) -> String {
        log_tail(&self.proc.log, bytes)
    }

    /// A raw Marionette command; a dead Firefox is named in the error.
    pub fn call(&mut self, cmd: &str, params: Value) -> Result<Value, String> {
        self.conn
            .call(cmd, params, CALL_TIMEOUT)
            .map_err(|e| match self.proc.child.try_wait() {
                Ok(Some(st)) => format!("{e}\nFirefox exited ({st})\n{}", self.log_tail(3000)),
                _ => e,
            })
    }

    /// Runs a script *body* (use `return`) in the page; a returned promise
    /// is awaited. A thrown exception is an `Err`.
    pub fn eval(&mut self, body: &str) -> Result<Value, String> {
        let r = self.call(
            "WebDriver:ExecuteScript",
            json!({ "script": body, "args": [] }),
        )?;
        Ok(r.get("value").cloned().unwrap_or(Value::Null))
    }

    /// Loads `url` and waits (Marionette's page-load wait) until it is loaded.
    pub fn navigate(&mut self, url: &str) -> Result<(), String> {
        self.call("WebDriver:Navigate", json!({ "url": url }))
            .map(drop)
    }

    /// A blank page with a muted autoplaying `<video src=url>`, `play()`
    /// called. Does not wait: see [`Browser::wait_playing`].
    pub fn open_video(&mut self, url: &str) -> Result<(), String> {
        self.navigate("about:blank")?;
        let src = serde_json::to_string(url).map_err(|e| e.to_string())?;
        self.eval(&format!(
            "const v = document.createElement('video');
             v.id = 'mkvcast-video'; v.muted = true; v.autoplay = true;
             v.addEventListener('error', () => {{
                 window.__mediaErr = v.error ? v.error.code + ':' + v.error.message : 'error event';
             }});
             v.src = {src};
             document.body.appendChild(v);
             v.play().catch(e => {{ window.__playErr = String(e); }});
             return true;"
        ))
        .map(drop)
    }

    /// Reads the state of the video made by [`Browser::open_video`].
    pub fn video_state(&mut self) -> Result<VideoState, String> {
        let v = self.eval(
            "const v = document.getElementById('mkvcast-video') || document.querySelector('video');
             if (!v) throw new Error('no <video> on the page');
             const q = v.getVideoPlaybackQuality();
             const b = v.buffered;
             return { t: v.currentTime, rs: v.readyState, ns: v.networkState,
                 err: v.error ? v.error.code + ':' + v.error.message : (window.__mediaErr || null),
                 playErr: window.__playErr || null, paused: v.paused, ended: v.ended,
                 total: q.totalVideoFrames, decoded: v.mozDecodedFrames || 0,
                 w: v.videoWidth, h: v.videoHeight, buf: b.length ? b.end(b.length - 1) : 0 };",
        )?;
        let f = |k: &str| v[k].as_f64().unwrap_or(0.0);
        let s = |k: &str| v[k].as_str().map(str::to_string);
        Ok(VideoState {
            current_time: f("t"),
            ready_state: f("rs") as u32,
            network_state: f("ns") as u32,
            error: s("err"),
            play_error: s("playErr"),
            paused: v["paused"].as_bool().unwrap_or(true),
            ended: v["ended"].as_bool().unwrap_or(false),
            total_frames: f("total") as u64,
            decoded_frames: f("decoded") as u64,
            video_width: f("w") as u32,
            video_height: f("h") as u32,
            buffered_end: f("buf"),
        })
    }

    /// Polls until `done(state)`; fails early on a media error or `play()`
    /// rejection, or after `timeout`, with the last state.
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        done: impl Fn(&VideoState) -> bool,
    ) -> Result<VideoState, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.video_state()?;
            if let Some(e) = s.error.as_ref().or(s.play_error.as_ref()) {
                return Err(format!("video failed: {e} ({s:?})"));
            }
            if done(&s) {
                return Ok(s);
            }
            if Instant::now() > deadline {
                return Err(format!("video not there after {timeout:?}: {s:?}"));
            }
            sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the video plays: `currentTime > 0`, readyState ≥ 2, not
    /// paused.
    pub fn wait_playing(&mut self, timeout: Duration) -> Result<VideoState, String> {
        self.wait_for(timeout, |s| {
            s.current_time > 0.0 && s.ready_state >= 2 && !s.paused
        })
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ask politely (bounded); `proc`, dropped next, kills what remains.
        let quit = json!({ "flags": ["eForceQuit"] });
        let _ = self
            .conn
            .call("Marionette:Quit", quit, Duration::from_secs(5));
    }
}
