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
//! neither geckodriver nor Python. Self-contained (this file and
//! `firefox/`, std and serde_json only), so it can move with its tests.
//! Every call is bounded in time; `Drop` quits Firefox, kills what is left of
//! its process group, reaps it and removes the temporary profile.
#![allow(dead_code)]

mod marionette;
mod process;

use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use marionette::Marionette;
use process::{group_alive, log_tail, FirefoxProcess};

/// Firefox takes longer than Chromium to create a profile and start.
const START_TIMEOUT: Duration = Duration::from_secs(40);
/// Default bound for one Marionette command.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

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

    /// Whether any process of group `pgid` (see [`Browser::process_group`])
    /// still exists, e.g. after the browser was dropped.
    pub fn group_alive(pgid: i32) -> bool {
        group_alive(pgid)
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
