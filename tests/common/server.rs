//! Runs the real `mkvcast` binary on a loopback port and talks HTTP to it
//! with a small std-only client.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
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
            .arg(env!("CARGO_BIN_EXE_mkvcast"))
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
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mkvcast"));
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

/// An HTTP response read until the server closed the connection.
#[derive(Debug, Default)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
    /// When the first byte arrived and when the connection closed.
    pub first_byte: Option<Instant>,
    pub closed: Option<Instant>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// Sends `request` raw and reads the response until close or `timeout`.
pub fn raw_request(port: u16, request: &[u8], timeout: Duration) -> Response {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.write_all(request).unwrap();
    read_response(&mut s, timeout, usize::MAX)
}

/// GETs `/` and reads the whole stream (until the server closes).
pub fn get(port: u16, timeout: Duration) -> Response {
    raw_request(
        port,
        b"GET / HTTP/1.1\r\nHost: t\r\nUser-Agent: mkvcast-test\r\n\r\n",
        timeout,
    )
}

/// Reads a response: head, then body until close, `timeout`, or `max_body`.
pub fn read_response(s: &mut TcpStream, timeout: Duration, max_body: usize) -> Response {
    let deadline = Instant::now() + timeout;
    let mut data = Vec::new();
    let mut resp = Response::default();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        s.set_read_timeout(Some(left.min(Duration::from_millis(500))))
            .unwrap();
        match s.read(&mut buf) {
            Ok(0) => {
                resp.closed = Some(Instant::now());
                break;
            }
            Ok(n) => {
                resp.first_byte.get_or_insert_with(Instant::now);
                data.extend_from_slice(&buf[..n]);
                if data.len() >= max_body.saturating_add(4096) {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                resp.closed = Some(Instant::now());
                break;
            }
        }
    }
    if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
        resp.head = String::from_utf8_lossy(&data[..end]).into_owned();
        resp.body = data[end + 4..].to_vec();
        resp.status = resp
            .head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
    }
    resp
}

/// Opens a GET connection and returns it without reading.
pub fn open_get(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    s
}

/// Opens a GET connection whose receive buffer is tiny, so that a client
/// that never reads really stalls instead of parking megabytes in the
/// kernel.
pub fn open_get_small_window(port: u16) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    sock.connect(&addr.into()).unwrap();
    let mut s: TcpStream = sock.into();
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    s
}

/// Closes both directions.
pub fn close(s: TcpStream) {
    let _ = s.shutdown(Shutdown::Both);
}
