//! The live input of `tests/real_clients_latency.rs`: mkvcast reading
//! real media written live to its stdin, block by block, in Clusters of
//! unknown size, with a capture viewer that proves the stream it got came
//! from the block-forwarding path; and a bounded run of a client program.
#![allow(dead_code)]

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::thread::{self, sleep, JoinHandle};
use std::time::{Duration, Instant};

use mkvcast_testkit::fixture;
use mkvcast_testkit::lag::{has_unknown_size_cluster, LiveViewer};
use mkvcast_testkit::live_writer::{repack, write_paced, Chunk, WriteLog};
use mkvcast_testkit::process::Mkvcast;

/// Media written: the first 16 s of demo.webm (8 Clusters).
pub const INPUT_MS: u64 = 16_000;

pub fn input() -> Vec<Chunk> {
    let file = std::fs::read(fixture("demo.webm")).unwrap();
    repack(&file, Some(INPUT_MS)).unwrap()
}

/// mkvcast reading a live input on stdin, with a capture viewer.
pub struct Live {
    pub srv: Mkvcast,
    capture: Option<JoinHandle<LiveViewer>>,
    writer: Option<JoinHandle<std::io::Result<()>>>,
}

impl Live {
    /// Starts `mkvcast - --no-pace` and the capture viewer; the input
    /// starts with [`Live::go`].
    pub fn start() -> Live {
        let srv = Mkvcast::start_piped(&["-", "--no-pace"]);
        let v = LiveViewer::connect(([127, 0, 0, 1], srv.port).into(), "/").expect("connect");
        let capture = thread::spawn(move || {
            let mut v = v.keep_body();
            v.read_for(Duration::from_secs(60));
            v
        });
        let live = Live {
            srv,
            capture: Some(capture),
            writer: None,
        };
        live.wait_waiting(1);
        live
    }

    /// Waits until `n` viewers wait for the stream (connected before it).
    pub fn wait_waiting(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.srv.log().matches("waits for the stream").count() < n {
            assert!(Instant::now() < deadline, "{}", self.srv.log());
            sleep(Duration::from_millis(20));
        }
    }

    /// Starts writing the input live; returns when the first block is out.
    pub fn go(&mut self) {
        let mut stdin = self.srv.child.stdin.take().expect("piped stdin");
        let log = WriteLog::new();
        let wlog = log.clone();
        self.writer = Some(thread::spawn(move || {
            write_paced(&mut stdin, &input(), &wlog)
        }));
        while log.written().is_empty() {
            sleep(Duration::from_millis(5));
        }
    }

    pub fn url(&self) -> String {
        self.srv.url()
    }

    /// Waits for the input to end and returns the capture's body, asserting
    /// that it is whole and carried Clusters of unknown size.
    pub fn finish(mut self) -> Vec<u8> {
        if let Some(w) = self.writer.take() {
            w.join().unwrap().expect("writing stdin");
        }
        let v = self.capture.take().unwrap().join().unwrap();
        assert!(v.closed, "the server ended the stream with the input");
        assert_eq!(v.parser.error, None);
        let body = v.body.unwrap();
        let p = &v.parser;
        eprintln!(
            "capture: {} bytes, {} blocks, Clusters: {} of unknown size, {} of known size",
            body.len(),
            p.blocks.len(),
            p.unknown_clusters,
            p.known_clusters
        );
        assert!(
            has_unknown_size_cluster(&body) && p.unknown_clusters > 0,
            "no Cluster of unknown size (1F43B675 01FFFFFFFFFFFFFF) in the stream: \
             it did not come from the block-forwarding path ({} Clusters of known size)",
            p.known_clusters
        );
        body
    }
}

/// Runs `cmd` with its output captured; after `limit` it is sent SIGINT
/// (and killed 5 s later). Returns its status, stdout + stderr, whether it
/// was still running at `limit`, and how long it ran.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> (ExitStatus, String, bool, Duration) {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let drain = |mut r: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let pid = child.id().to_string();
    let mut interrupted = false;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        let t = start.elapsed();
        if t > limit && !interrupted {
            let _ = Command::new("kill").args(["-INT", &pid]).status();
            interrupted = true;
        }
        if t > limit + Duration::from_secs(5) {
            let _ = child.kill();
        }
        sleep(Duration::from_millis(20));
    };
    let text = out.join().unwrap() + &err.join().unwrap();
    (status, text, interrupted, start.elapsed())
}

/// A live join: the input has run for 2 s.
pub fn joined_live() -> Live {
    let mut live = Live::start();
    live.go();
    sleep(Duration::from_secs(2));
    live
}
