//! Behind nginx, with the README's settings: ffmpeg pushes through nginx
//! (`-method PUT -auth_type basic`, a chunked body), a viewer reads
//! through nginx, and with `--trusted-proxy` the status page shows the
//! viewer's own address from `X-Forwarded-For`, not nginx's. This is also
//! how TLS goes in front of mkvcast (nginx terminates it).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

use mkvcast_testkit::http::{read_response, Response};
use mkvcast_testkit::process::Mkvcast;
use mkvcast_testkit::real::{require_tools, run_tool, TempFile};
use mkvcast_testkit::stream_check::StreamCheck;

const PASSWORD: &str = "nginx-test-pw";

/// nginx in the foreground on a free port, proxying to `upstream`, with
/// the README's ingest and viewer settings.
struct Nginx {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Nginx {
    fn start(upstream: u16) -> Nginx {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("mkvcast-nginx-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.display();
        let conf = format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
               server {{\n    listen 127.0.0.1:{port};\n\
                 location / {{\n      proxy_pass http://127.0.0.1:{upstream};\n\
                   proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n\
                   proxy_set_header Host $host;\n\
                   proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
                   proxy_buffering off;\n      proxy_request_buffering off;\n\
                   client_max_body_size 0;\n      proxy_read_timeout 1h;\n      proxy_send_timeout 1h;\n    }}\n  }}\n}}\n"
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new("nginx")
            .args(["-e", &format!("{d}/stderr.log"), "-p"])
            .arg(&dir)
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not listen");
            sleep(Duration::from_millis(50));
        }
        Nginx { child, port, dir }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A viewer through nginx, claiming to be 203.0.113.7 (nginx appends its
/// own peer, 127.0.0.1, which the server trusts).
fn viewer(port: u16, limit: Duration) -> thread::JoinHandle<Response> {
    thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        // HTTP/1.0: nginx then passes the body as it comes, not chunked.
        s.write_all(b"GET /cam HTTP/1.0\r\nHost: x\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n")
            .unwrap();
        read_response(&mut s, limit, usize::MAX)
    })
}

#[test]
fn ffmpeg_pushes_and_a_viewer_watches_through_nginx() {
    if !require_tools(&["nginx", "ffmpeg", "ffprobe"]) {
        return;
    }
    let srv = Mkvcast::start_env(
        &[
            "--ingest",
            "/cam",
            "--trusted-proxy",
            "127.0.0.1/32",
            "--source-grace-ms",
            "1000",
        ],
        &[("MKVCAST_SOURCE_PASSWORD", PASSWORD)],
    );
    let nginx = Nginx::start(srv.port);
    let watch = viewer(nginx.port, Duration::from_secs(12));
    sleep(Duration::from_millis(300));
    let url = format!("http://source:{PASSWORD}@127.0.0.1:{}/cam", nginx.port);
    let mut push = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "error",
            "-re",
            "-i",
            "fixtures/vp9_opus.webm",
        ])
        // nginx answers `Expect: 100-continue` itself, so ffmpeg would
        // send its first, unauthenticated body and never see our 401:
        // `-auth_type basic` sends the credentials at once.
        .args([
            "-c",
            "copy",
            "-f",
            "webm",
            "-method",
            "PUT",
            "-auth_type",
            "basic",
            &url,
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    sleep(Duration::from_secs(3));
    // While both stream: the viewer is listed by its forwarded address.
    let mut s = TcpStream::connect(("127.0.0.1", srv.admin_port)).unwrap();
    s.write_all(b"GET /status.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let status =
        String::from_utf8_lossy(&read_response(&mut s, Duration::from_secs(5), usize::MAX).body)
            .into_owned();
    assert!(status.contains("203.0.113.7"), "{status}");
    let mut err = String::new();
    let done = push.wait().unwrap();
    push.stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(done.success(), "ffmpeg through nginx: {done}: {err}");
    let resp = watch.join().unwrap();
    assert_eq!(resp.status, 200, "{}", resp.head);
    let body = &resp.body[..];
    let mut check = StreamCheck::new(3_000_000_000, false);
    check.feed(body);
    assert!(check.error.is_none(), "{:?}", check.error);
    let file = TempFile::write("nginx", "webm", body);
    // Decoded frames per stream, as ffprobe counts them.
    let frames = |path: &std::path::Path| {
        let args = ["-v", "error", "-count_frames", "-show_entries"];
        let args = [
            &args[..],
            &["stream=codec_name,nb_read_frames", "-of", "csv=p=0"],
        ]
        .concat();
        String::from_utf8_lossy(&run_tool("ffprobe", &args, path).stdout).into_owned()
    };
    let source = frames(std::path::Path::new("fixtures/vp9_opus.webm"));
    assert_eq!(frames(file.path()), source, "every frame through nginx");
}
