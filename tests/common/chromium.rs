//! Headless Chromium driven over the DevTools protocol (CDP), so integration
//! tests can assert that a stream really plays in a browser.
//!
//! ```ignore
//! mod common;
//! use common::chromium::Browser;
//!
//! let Some(mut b) = Browser::start() else { return }; // no Chromium: skip
//! b.open_video("http://127.0.0.1:8080/live.webm").unwrap();
//! let s = b.wait_playing(std::time::Duration::from_secs(10)).unwrap();
//! ```
//!
//! Everything is bounded in time: no call waits forever. `Drop` closes the
//! browser (gracefully, then by killing its process group) and removes the
//! temporary profile directory.
#![allow(dead_code)]

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tungstenite::{HandshakeError, Message, WebSocket};

/// How long Chromium may take to start and publish its DevTools port.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Default bound for one CDP command.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// Granularity of socket reads (so deadlines are checked regularly).
const POLL: Duration = Duration::from_millis(200);

/// Playback state of the `<video>` element created by [`Browser::open_video`].
#[derive(Debug, Clone, PartialEq)]
pub struct VideoState {
    /// `video.currentTime`, seconds.
    pub current_time: f64,
    /// `video.readyState` (0 nothing .. 4 enough data).
    pub ready_state: u32,
    /// `video.networkState` (0 empty, 1 idle, 2 loading, 3 no source).
    pub network_state: u32,
    /// Media error as `"code:message"` (`video.error`), if any.
    pub error: Option<String>,
    /// Rejection of the `play()` promise, if any (e.g. `NotAllowedError`).
    pub play_error: Option<String>,
    pub paused: bool,
    pub ended: bool,
    /// `getVideoPlaybackQuality().totalVideoFrames`.
    pub total_frames: u64,
    /// `getVideoPlaybackQuality().droppedVideoFrames`.
    pub dropped_frames: u64,
    pub video_width: u32,
    pub video_height: u32,
    /// End of the last buffered range, seconds (0 when nothing is buffered).
    pub buffered_end: f64,
}

/// A headless Chromium with a DevTools websocket to one page.
pub struct Browser {
    ws: WebSocket<TcpStream>,
    next_id: u64,
    // Declared last: dropped after the websocket, kills Chromium and
    // removes the profile.
    proc: ChromiumProcess,
}

/// The Chromium child process and its temporary profile directory.
struct ChromiumProcess {
    child: Child,
    profile: PathBuf,
    log: PathBuf,
    port: u16,
    browser_ws_path: String,
}

/// Chromium binary: `/usr/bin/chromium`, else `chromium` on `PATH`.
fn chromium_binary() -> Option<PathBuf> {
    let fixed = Path::new("/usr/bin/chromium");
    if fixed.is_file() {
        return Some(fixed.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("chromium"))
        .find(|p| p.is_file())
}

fn unique_temp_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!(
        "mkvcast-chromium-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Last `n` bytes of a log file, for error messages.
fn log_tail(path: &Path, n: usize) -> String {
    let Ok(bytes) = fs::read(path) else {
        return String::from("(no chromium log)");
    };
    let start = bytes.len().saturating_sub(n);
    format!(
        "--- chromium log tail ({}) ---\n{}",
        path.display(),
        String::from_utf8_lossy(&bytes[start..])
    )
}

/// A plain HTTP/1.1 request to the DevTools HTTP endpoint (which rejects
/// HTTP/1.0); returns the body.
fn http_request(port: u16, method: &str, path: &str) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s.set_write_timeout(Some(Duration::from_secs(5))).ok();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .map_err(|e| format!("send {path}: {e}"))?;
    // Read until the head is complete and Content-Length bytes of body (or
    // EOF) arrived; the read timeout bounds everything.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            });
            if len.is_some_and(|n| buf.len() >= end + 4 + n) {
                let body = &buf[end + 4..end + 4 + len.unwrap()];
                return finish_http(path, &head, body);
            }
        }
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("read {path}: {e}")),
        }
    }
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| {
            format!(
                "{path}: malformed response {:?}",
                String::from_utf8_lossy(&buf)
            )
        })?;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    finish_http(path, &head, &buf[end + 4..])
}

fn finish_http(path: &str, head: &str, body: &[u8]) -> Result<String, String> {
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("{path}: {status}"));
    }
    Ok(String::from_utf8_lossy(body).into_owned())
}

/// Whether an I/O error is just "no data within the read timeout".
fn is_timeout(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io)
        if matches!(io.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut))
}

/// Opens a websocket over a std `TcpStream` with a short read timeout.
fn ws_connect(port: u16, path: &str, deadline: Instant) -> Result<WebSocket<TcpStream>, String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("ws connect: {e}"))?;
    stream.set_read_timeout(Some(POLL)).ok();
    stream.set_write_timeout(Some(Duration::from_secs(5))).ok();
    stream.set_nodelay(true).ok();
    let url = format!("ws://127.0.0.1:{port}{path}");
    let mut result = tungstenite::client(url.as_str(), stream);
    loop {
        match result {
            Ok((ws, _)) => return Ok(ws),
            Err(HandshakeError::Interrupted(mid)) => {
                if Instant::now() > deadline {
                    return Err(format!("ws handshake to {url} timed out"));
                }
                result = mid.handshake();
            }
            Err(HandshakeError::Failure(e)) => return Err(format!("ws handshake to {url}: {e}")),
        }
    }
}

/// Sends one CDP command and waits (bounded) for its reply, skipping events.
fn cdp_call(
    ws: &mut WebSocket<TcpStream>,
    id: u64,
    method: &str,
    params: Value,
    timeout: Duration,
) -> Result<Value, String> {
    let deadline = Instant::now() + timeout;
    let msg = json!({ "id": id, "method": method, "params": params }).to_string();
    ws.send(Message::text(msg))
        .map_err(|e| format!("{method}: send: {e}"))?;
    loop {
        if Instant::now() > deadline {
            return Err(format!("{method}: no reply within {timeout:?}"));
        }
        let text = match ws.read() {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(f)) => return Err(format!("{method}: websocket closed ({f:?})")),
            Ok(_) => continue,
            Err(e) if is_timeout(&e) => continue,
            Err(e) => return Err(format!("{method}: read: {e}")),
        };
        let v: Value = serde_json::from_str(text.as_str())
            .map_err(|e| format!("{method}: bad JSON from Chromium: {e}"))?;
        if v.get("id").and_then(Value::as_u64) != Some(id) {
            continue; // an event, or a reply to something abandoned
        }
        if let Some(err) = v.get("error") {
            return Err(format!("{method}: {err}"));
        }
        return Ok(v.get("result").cloned().unwrap_or(Value::Null));
    }
}

// libc functions (std links libc anyway, so no extra dependency).
unsafe extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
    fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
    fn prctl(option: i32, ...) -> i32;
}
const SIGKILL: i32 = 9;
const WNOHANG: i32 = 1;
const PR_SET_CHILD_SUBREAPER: i32 = 36;

/// Makes this (test) process the reaper of orphaned descendants. Chromium's
/// browser process may exit before reaping all of its helpers; they would
/// then linger as zombies until PID 1 gets round to them (slow in some
/// containers/VMs). As subreaper, `Drop` reaps them itself. Done once.
fn become_subreaper() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: prctl with integer arguments only.
    ONCE.call_once(|| unsafe {
        prctl(PR_SET_CHILD_SUBREAPER, 1u64, 0u64, 0u64, 0u64);
    });
}

/// Reaps zombie `chrome_crashpad_handler`s that were reparented to us. They
/// live in their own session (not in Chromium's process group) and exit
/// shortly after the browser. Only zombies are touched.
fn reap_crashpad_zombies() {
    let me = std::process::id().to_string();
    let Ok(dir) = fs::read_dir("/proc") else {
        return;
    };
    for e in dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ..."; comm may contain spaces, so split at ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let (state, ppid) = (f.next(), f.next());
        if head.contains("(chrome_crashpad") && state == Some("Z") && ppid == Some(me.as_str()) {
            // SAFETY: reaps one specific zombie child; nobody else holds it.
            unsafe {
                waitpid(pid, std::ptr::null_mut(), WNOHANG);
            }
        }
    }
}

/// Minimal standard base64 decoder (for screenshots).
fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\r' | b'\n' | b' ' => continue,
            _ => return Err(format!("invalid base64 byte {c:#x}")),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Ok(out)
}

impl ChromiumProcess {
    /// Spawns Chromium and waits (bounded) for its DevTools port.
    fn spawn(bin: &Path) -> Result<ChromiumProcess, String> {
        become_subreaper();
        let profile = unique_temp_dir();
        fs::create_dir_all(&profile).map_err(|e| format!("{}: {e}", profile.display()))?;
        let log = profile.join("chromium.log");
        let files = File::create(&log).and_then(|f| Ok((f.try_clone()?, f)));
        let (log_out, log_err) = match files {
            Ok(f) => f,
            Err(e) => {
                let _ = fs::remove_dir_all(&profile);
                return Err(format!("{}: {e}", log.display()));
            }
        };
        let mut cmd = Command::new(bin);
        cmd.args([
            "--headless",
            "--no-sandbox",
            // With --no-zygote, renderers are direct children of the browser
            // process, which reaps them on shutdown (no orphaned zombies).
            "--no-zygote",
            "--disable-crash-reporter",
            "--disable-breakpad",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--disable-dev-shm-usage",
            "--disable-background-timer-throttling",
            "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows",
            "--mute-audio",
            "--autoplay-policy=no-user-gesture-required",
            "--window-size=1280,720",
            // Chromium >= ~142 blocks requests from a blank/opaque page to
            // loopback ("Local Network Access"): a <video> pointing at
            // 127.0.0.1 then fails with MEDIA_ERR_SRC_NOT_SUPPORTED.
            "--disable-features=LocalNetworkAccessChecks,PrivateNetworkAccessRespectPreflightResults,PrivateNetworkAccessSendPreflights",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log_out))
        .stderr(Stdio::from(log_err))
        // Own process group, so Drop can also kill renderer/zygote helpers.
        .process_group(0);
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let _ = fs::remove_dir_all(&profile);
                return Err(format!("spawn {}: {e}", bin.display()));
            }
        };
        // From here on, Drop cleans up on every error path.
        let mut p = ChromiumProcess {
            child,
            profile,
            log,
            port: 0,
            browser_ws_path: String::new(),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        let port_file = p.profile.join("DevToolsActivePort");
        loop {
            if let Ok(text) = fs::read_to_string(&port_file) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    if let Ok(port) = port.trim().parse::<u16>() {
                        p.port = port;
                        p.browser_ws_path = path.trim().to_string();
                        return Ok(p);
                    }
                }
            }
            if let Ok(Some(status)) = p.child.try_wait() {
                return Err(format!(
                    "Chromium exited early ({status})\n{}",
                    log_tail(&p.log, 3000)
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no {} after {START_TIMEOUT:?}\n{}",
                    port_file.display(),
                    log_tail(&p.log, 3000)
                ));
            }
            sleep(Duration::from_millis(50));
        }
    }

    /// Asks the browser to quit over its own DevTools endpoint.
    fn close_gracefully(&mut self) {
        if self.port == 0 || self.browser_ws_path.is_empty() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        if let Ok(mut ws) = ws_connect(self.port, &self.browser_ws_path, deadline) {
            let _ = cdp_call(
                &mut ws,
                1,
                "Browser.close",
                json!({}),
                Duration::from_secs(2),
            );
        }
    }
}

impl Drop for ChromiumProcess {
    fn drop(&mut self) {
        let mut exited = matches!(self.child.try_wait(), Ok(Some(_)));
        if !exited {
            self.close_gracefully();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if matches!(self.child.try_wait(), Ok(Some(_))) {
                    exited = true;
                    break;
                }
                sleep(Duration::from_millis(50));
            }
        }
        let pgid = self.child.id() as i32;
        // Kill whatever is left of the process group (helpers included).
        // The group id cannot have been reused: either the leader is not
        // reaped yet, or orphaned members (our children, as subreaper) hold it.
        // SAFETY: plain syscall on the group we created at spawn.
        unsafe {
            kill(-pgid, SIGKILL);
        }
        if !exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // Reap orphaned helpers of the group (bounded): waitpid(-pgid) only
        // touches that group, never other children of the test process.
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            // SAFETY: plain syscall, null status pointer is allowed.
            let r = unsafe { waitpid(-pgid, std::ptr::null_mut(), WNOHANG) };
            if r < 0 || Instant::now() > deadline {
                break; // ECHILD: nothing left in the group
            }
            if r == 0 {
                sleep(Duration::from_millis(20));
            }
        }
        reap_crashpad_zombies();
        // Chromium may still be flushing files for a moment.
        for _ in 0..20 {
            match fs::remove_dir_all(&self.profile) {
                Err(e) if e.kind() != ErrorKind::NotFound => sleep(Duration::from_millis(100)),
                _ => break,
            }
        }
    }
}

/// Path part of `ws://host:port/path`.
fn ws_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("ws://")?;
    Some(&rest[rest.find('/')?..])
}

impl Browser {
    /// Starts headless Chromium (`/usr/bin/chromium`, else `chromium` on
    /// `PATH`). `None` if Chromium is not installed. Panics, with the
    /// Chromium log tail, if it is installed but cannot be driven, so a broken
    /// setup is never mistaken for "skip".
    pub fn start() -> Option<Browser> {
        let bin = chromium_binary()?;
        Some(Self::start_with(&bin).unwrap_or_else(|e| panic!("starting Chromium: {e}")))
    }

    /// Like [`Browser::start`], with an explicit binary and no panic.
    pub fn start_with(bin: &Path) -> Result<Browser, String> {
        let proc = ChromiumProcess::spawn(bin)?;
        let port = proc.port;
        let deadline = Instant::now() + START_TIMEOUT;
        let with_log = |e: String| format!("{e}\n{}", log_tail(&proc.log, 3000));
        // The initial about:blank tab shows up in /json/list shortly after
        // start; if it does not, create a tab.
        let mut created = false;
        let started = Instant::now();
        let ws_url = loop {
            let list = http_request(port, "GET", "/json/list").map_err(with_log)?;
            let targets: Value =
                serde_json::from_str(&list).map_err(|e| with_log(format!("/json/list: {e}")))?;
            let page = targets.as_array().into_iter().flatten().find_map(|t| {
                (t["type"] == "page")
                    .then(|| t["webSocketDebuggerUrl"].as_str())
                    .flatten()
            });
            if let Some(u) = page {
                break u.to_string();
            }
            if !created && started.elapsed() > Duration::from_secs(2) {
                http_request(port, "PUT", "/json/new?about:blank").map_err(with_log)?;
                created = true;
            }
            if Instant::now() > deadline {
                return Err(with_log(format!("no page target in /json/list: {list}")));
            }
            sleep(Duration::from_millis(100));
        };
        let path = ws_path(&ws_url).ok_or_else(|| with_log(format!("odd ws url {ws_url}")))?;
        let ws = ws_connect(port, path, deadline).map_err(with_log)?;
        Ok(Browser {
            ws,
            next_id: 1,
            proc,
        })
    }

    /// DevTools HTTP port of this browser.
    pub fn port(&self) -> u16 {
        self.proc.port
    }

    /// The last `bytes` of Chromium's stdout/stderr log.
    pub fn log_tail(&self, bytes: usize) -> String {
        log_tail(&self.proc.log, bytes)
    }

    /// Sends a raw CDP command to the page and returns its `result`.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        self.call_timeout(method, params, CALL_TIMEOUT)
    }

    /// [`Browser::call`] with an explicit timeout.
    pub fn call_timeout(
        &mut self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        cdp_call(&mut self.ws, id, method, params, timeout).map_err(|e| {
            // A dead browser explains most transport errors: say so.
            match self.proc.child.try_wait() {
                Ok(Some(status)) => {
                    format!(
                        "{e}\nChromium exited ({status})\n{}",
                        log_tail(&self.proc.log, 3000)
                    )
                }
                _ => e,
            }
        })
    }

    /// Evaluates a JS expression in the page and returns its JSON value
    /// (`Runtime.evaluate` with `returnByValue` and `awaitPromise`);
    /// `undefined` becomes `Null`. A thrown exception is an `Err`.
    pub fn eval(&mut self, expr: &str) -> Result<Value, String> {
        self.eval_timeout(expr, CALL_TIMEOUT)
    }

    /// [`Browser::eval`] with an explicit timeout (e.g. for slow promises).
    pub fn eval_timeout(&mut self, expr: &str, timeout: Duration) -> Result<Value, String> {
        let r = self.call_timeout(
            "Runtime.evaluate",
            json!({ "expression": expr, "returnByValue": true, "awaitPromise": true }),
            timeout,
        )?;
        if let Some(ex) = r.get("exceptionDetails") {
            let msg = ex["exception"]["description"]
                .as_str()
                .or_else(|| ex["text"].as_str())
                .unwrap_or("exception");
            return Err(format!("JS exception: {msg}"));
        }
        Ok(r["result"].get("value").cloned().unwrap_or(Value::Null))
    }

    /// Navigates the page to `url` and waits (≤ 15 s) until the new
    /// document's `readyState` is `complete`.
    pub fn navigate(&mut self, url: &str) -> Result<(), String> {
        // Mark the current document, to tell it apart from the new one.
        self.eval("window.__mkvcastOldDoc = true")?;
        let r = self.call("Page.navigate", json!({ "url": url }))?;
        if let Some(err) = r["errorText"].as_str().filter(|e| !e.is_empty()) {
            return Err(format!("navigate {url}: {err}"));
        }
        let same_document = r.get("loaderId").is_none();
        let deadline = Instant::now() + Duration::from_secs(15);
        let check = if same_document {
            "document.readyState === 'complete'"
        } else {
            "!window.__mkvcastOldDoc && document.readyState === 'complete'"
        };
        loop {
            // The context may be swapped mid-call; treat errors as "not yet".
            if let Ok(Value::Bool(true)) = self.eval_timeout(check, Duration::from_secs(2)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("navigate {url}: page did not finish loading"));
            }
            sleep(Duration::from_millis(50));
        }
    }

    /// Opens a blank page with a muted, autoplaying `<video src=url>` and
    /// calls `play()`. Does not wait for playback: see
    /// [`Browser::wait_playing`] and [`Browser::video_state`].
    pub fn open_video(&mut self, url: &str) -> Result<(), String> {
        self.navigate("about:blank")?;
        let src = serde_json::to_string(url).map_err(|e| e.to_string())?;
        self.eval(&format!(
            "(() => {{
                document.body.style.margin = '0';
                document.body.style.background = 'black';
                const v = document.createElement('video');
                v.id = 'mkvcast-video';
                v.muted = true;
                v.autoplay = true;
                v.playsInline = true;
                v.style.width = '100%';
                v.addEventListener('error', () => {{
                    window.__mediaErr = v.error ? v.error.code + ':' + v.error.message : 'error event';
                }});
                v.src = {src};
                document.body.appendChild(v);
                v.play().catch(e => {{ window.__playErr = String(e); }});
            }})()"
        ))?;
        Ok(())
    }

    /// Reads the state of the video created by [`Browser::open_video`].
    pub fn video_state(&mut self) -> Result<VideoState, String> {
        let v = self.eval(
            "(() => {
                const v = document.getElementById('mkvcast-video') || document.querySelector('video');
                if (!v) throw new Error('no <video> on the page');
                const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : null;
                const b = v.buffered;
                return {
                    t: v.currentTime, rs: v.readyState, ns: v.networkState,
                    err: v.error ? v.error.code + ':' + v.error.message : (window.__mediaErr || null),
                    playErr: window.__playErr || null,
                    paused: v.paused, ended: v.ended,
                    total: q ? q.totalVideoFrames : 0, dropped: q ? q.droppedVideoFrames : 0,
                    w: v.videoWidth, h: v.videoHeight,
                    buf: b.length ? b.end(b.length - 1) : 0,
                };
            })()",
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
            dropped_frames: f("dropped") as u64,
            video_width: f("w") as u32,
            video_height: f("h") as u32,
            buffered_end: f("buf"),
        })
    }

    /// Polls [`Browser::video_state`] until the video is actually playing
    /// (`currentTime > 0`, `readyState >= 2`, not paused). Fails early on a
    /// media error or `play()` rejection, or after `timeout`.
    pub fn wait_playing(&mut self, timeout: Duration) -> Result<VideoState, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.video_state()?;
            if let Some(e) = s.error.as_ref().or(s.play_error.as_ref()) {
                return Err(format!("video failed: {e} ({s:?})"));
            }
            if s.current_time > 0.0 && s.ready_state >= 2 && !s.paused {
                return Ok(s);
            }
            if Instant::now() > deadline {
                return Err(format!("video not playing after {timeout:?}: {s:?}"));
            }
            sleep(Duration::from_millis(100));
        }
    }

    /// Captures a PNG screenshot of the page (`Page.captureScreenshot`).
    pub fn screenshot(&mut self) -> Result<Vec<u8>, String> {
        let r = self.call("Page.captureScreenshot", json!({ "format": "png" }))?;
        let data = r["data"].as_str().ok_or("captureScreenshot: no data")?;
        base64_decode(data)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Close the page connection politely; `proc` (dropped next) quits
        // Chromium, kills leftovers and removes the profile directory.
        let _ = self.ws.close(None);
        let _ = self.ws.flush();
    }
}
