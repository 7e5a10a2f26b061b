//! Operating the server: status pages, metrics, signals, version.

mod common;

use std::thread;
use std::time::Duration;

use common::chromium::Browser;
use mkvcast_testkit::fixture;
use mkvcast_testkit::http::{get, open_get, raw_request, read_response, Response};
use mkvcast_testkit::process::Mkvcast;

fn fixture_path(name: &str) -> String {
    fixture(name).to_string_lossy().into_owned()
}

fn admin_get(srv: &Mkvcast, path: &str) -> Response {
    // Closed after the answer, so reading it ends there (not at a timeout).
    let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    raw_request(srv.admin_port, req.as_bytes(), Duration::from_secs(5))
}

#[test]
fn status_json_describes_stream_and_clients() {
    let srv = Mkvcast::start(&[&fixture_path("demo.webm")]);
    assert!(srv.admin_port > 0, "{}", srv.log());
    let mut viewer = open_get(srv.port);
    assert_eq!(
        read_response(&mut viewer, Duration::from_millis(1500), 100).status,
        200
    );
    let r = admin_get(&srv, "/status.json");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("valid JSON");
    let mounts = v["mounts"].as_array().unwrap();
    assert_eq!(mounts.len(), 1, "the one-input form has one mount");
    let stream = &mounts[0];
    assert_eq!(stream["path"], "/");
    assert_eq!(stream["kind"], "pull");
    assert_eq!(stream["source"], "demo.webm");
    assert_eq!(stream["state"], "live");
    assert_eq!(stream["ingest"], serde_json::Value::Null);
    assert_eq!(stream["viewers"], 1);
    assert_eq!(stream["doc_type"], "webm");
    assert_eq!(stream["content_type"], "video/webm");
    assert!(matches!(
        stream["input_state"].as_str(),
        Some("reading" | "paced")
    ));
    let tracks = stream["tracks"].as_array().unwrap();
    assert_eq!(tracks[0]["type"], "video");
    assert_eq!(tracks[0]["width"], 640);
    assert_eq!(tracks[1]["type"], "audio");
    assert_eq!(tracks[1]["channels"], 2);
    assert!(stream["clusters_published"].as_u64().unwrap() >= 1);
    assert!(stream["buffered_bytes"].as_u64().unwrap() > 0);
    let clients = v["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 1);
    assert_eq!(clients[0]["mount"], "/");
    assert!(clients[0]["bytes_sent"].as_u64().unwrap() > 1000);
    assert!(clients[0]["address"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    // The admin listener is not a stream, and viewers cannot see it.
    assert_eq!(admin_get(&srv, "/nope").status, 404);
    let on_public = raw_request(
        srv.port,
        b"GET /status.json HTTP/1.1\r\n\r\n",
        Duration::from_millis(800),
    );
    assert_eq!(
        on_public.header("content-type").as_deref(),
        Some("video/webm")
    );
}

#[test]
fn metrics_are_valid_prometheus_text() {
    let srv = Mkvcast::start(&[&fixture_path("vp8_vorbis.webm")]);
    let port = srv.port;
    let viewer = thread::spawn(move || get(port, Duration::from_secs(2)));
    let _ = raw_request(srv.port, b"BREW / HTTP/1.1\r\n\r\n", Duration::from_secs(2));
    viewer.join().unwrap();
    thread::sleep(Duration::from_millis(300));
    let r = admin_get(&srv, "/metrics");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = String::from_utf8(r.body).unwrap();
    let scrape = parse_metrics(&text);
    let value = |name: &str, label: Option<(&str, &str)>| sample(&scrape, &text, name, label);
    for name in [
        "mkvcast_clients",
        "mkvcast_clients_total",
        "mkvcast_bytes_sent_total",
        "mkvcast_clusters_published_total",
        "mkvcast_keyframe_skips_total",
        "mkvcast_slow_clients_closed_total",
        "mkvcast_input_bytes_total",
        "mkvcast_input_reconnects_total",
        "mkvcast_buffer_seconds",
        "mkvcast_media_time_seconds",
    ] {
        assert!(text.contains(&format!("# HELP {name} ")), "HELP for {name}");
        assert!(text.contains(&format!("# TYPE {name} ")), "TYPE for {name}");
        value(name, None);
    }
    assert_eq!(value("mkvcast_clients_total", None), 1.0);
    assert_eq!(
        value(
            "mkvcast_clients_rejected_total",
            Some(("reason", "bad_request"))
        ),
        1.0
    );
    assert_eq!(
        value("mkvcast_clients_rejected_total", Some(("reason", "full"))),
        0.0
    );
    assert!(value("mkvcast_bytes_sent_total", None) > 10_000.0);
    // Per-stream metrics name the mount, `/` in the one-input form;
    // process-wide totals have no mount.
    let one = Some(("mount", "/"));
    assert!(value("mkvcast_input_bytes_total", one) > 10_000.0);
    assert!(value("mkvcast_clusters_published_total", one) >= 1.0);
    assert_eq!(value("mkvcast_mount_viewers", one), 0.0);
    for s in &scrape.samples {
        let per_stream = s.metric.starts_with("mkvcast_input_")
            || s.metric.starts_with("mkvcast_buffer_")
            || s.metric.starts_with("mkvcast_mount_")
            || s.metric == "mkvcast_clusters_published_total"
            || s.metric == "mkvcast_media_time_seconds";
        let mount = s.labels.get("mount");
        assert_eq!(mount.is_some(), per_stream, "{}: {mount:?}", s.metric);
        assert!(mount.is_none_or(|m| m == "/"), "{}: {mount:?}", s.metric);
    }
    assert!(
        !scrape
            .samples
            .iter()
            .any(|s| s.metric.starts_with("mkvcast_source_")),
        "no push mount, no ingest samples"
    );
    assert_eq!(scrape.docs.len(), 20, "a HELP line per metric");
}

fn parse_metrics(text: &str) -> prometheus_parse::Scrape {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines).expect("parses as Prometheus text")
}

/// The value of the first sample of `name` (with `label`, if given).
fn sample(
    scrape: &prometheus_parse::Scrape,
    text: &str,
    name: &str,
    label: Option<(&str, &str)>,
) -> f64 {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
            prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
        .unwrap_or_else(|| panic!("{name} {label:?} missing in\n{text}"))
}

/// `/status.json` once every mount has its stream header.
fn status_with_headers(srv: &Mkvcast) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let r = admin_get(srv, "/status.json");
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("valid JSON");
        let mounts = v["mounts"].as_array().cloned().unwrap_or_default();
        if mounts.iter().all(|m| m["doc_type"].is_string()) || std::time::Instant::now() > deadline
        {
            return v;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn two_mounts_each_in_status_and_metrics() {
    let a = format!("/a={}", fixture_path("vp8_vorbis.webm"));
    let b = format!("/b={}", fixture_path("opus_only.webm"));
    let srv = Mkvcast::start(&["--mount", &a, "--mount", &b, "--loop"]);
    let mut viewer = raw_stream(srv.port, "/a");
    assert_eq!(
        read_response(&mut viewer, Duration::from_millis(1500), 100).status,
        200
    );
    let v = status_with_headers(&srv);
    let mounts = v["mounts"].as_array().unwrap();
    let paths: Vec<&str> = mounts.iter().map(|m| m["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/a", "/b"], "{v}");
    let codecs = |i: usize| -> Vec<String> {
        let tracks = mounts[i]["tracks"].as_array().unwrap();
        tracks
            .iter()
            .map(|t| t["codec"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(codecs(0), ["V_VP8", "A_VORBIS"]);
    assert_eq!(codecs(1), ["A_OPUS"]);
    assert_eq!(mounts[0]["source"], "vp8_vorbis.webm");
    assert_eq!(mounts[1]["source"], "opus_only.webm");
    assert_eq!(mounts[0]["viewers"], 1);
    assert_eq!(mounts[1]["viewers"], 0);
    assert_eq!(mounts[1]["content_type"], "audio/webm");
    assert_eq!(v["clients"][0]["mount"], "/a");

    let text = String::from_utf8(admin_get(&srv, "/metrics").body).unwrap();
    let scrape = parse_metrics(&text);
    let value = |name: &str, mount: &str| sample(&scrape, &text, name, Some(("mount", mount)));
    for m in ["/a", "/b"] {
        assert!(value("mkvcast_input_bytes_total", m) > 1000.0, "{m}");
        assert!(value("mkvcast_clusters_published_total", m) >= 1.0, "{m}");
    }
    assert_eq!(value("mkvcast_mount_viewers", "/a"), 1.0);
    assert_eq!(value("mkvcast_mount_viewers", "/b"), 0.0);
    let live = |m: &str| {
        scrape.samples.iter().any(|s| {
            s.metric == "mkvcast_mount_state"
                && s.labels.get("mount") == Some(m)
                && s.labels.get("state") == Some("live")
                && s.value == prometheus_parse::Value::Gauge(1.0)
        })
    };
    assert!(live("/a") && live("/b"), "{text}");
    assert_eq!(sample(&scrape, &text, "mkvcast_clients", None), 1.0);
}

/// A push mount before its first publisher: no source, and the pushes
/// refused so far are counted in both views.
#[test]
fn push_mount_counts_challenges_and_refusals() {
    let srv = Mkvcast::start(&["--ingest", "/live", "--source-password", "pw"]);
    let put = |auth: &str| {
        let req = format!("PUT /live HTTP/1.1\r\nHost: t\r\n{auth}Content-Length: 4\r\n\r\n");
        raw_request(srv.port, req.as_bytes(), Duration::from_secs(3)).status
    };
    assert_eq!(put(""), 401, "{}", srv.log());
    // source:wrong
    assert_eq!(put("Authorization: Basic c291cmNlOndyb25n\r\n"), 401);
    let r = admin_get(&srv, "/status.json");
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("valid JSON");
    let m = &v["mounts"][0];
    assert_eq!(m["path"], "/live");
    assert_eq!(m["kind"], "push");
    assert_eq!(m["source"], serde_json::Value::Null);
    assert_eq!(m["state"], "waiting");
    assert_eq!(m["ingest"]["challenges"], 1, "{v}");
    assert_eq!(m["ingest"]["refusals"]["auth"], 1, "{v}");
    assert_eq!(m["ingest"]["connects"], 0);
    let text = String::from_utf8(admin_get(&srv, "/metrics").body).unwrap();
    let scrape = parse_metrics(&text);
    let at = Some(("mount", "/live"));
    assert_eq!(
        sample(&scrape, &text, "mkvcast_source_challenges_total", at),
        1.0
    );
    assert_eq!(
        sample(&scrape, &text, "mkvcast_source_connects_total", at),
        0.0
    );
    let auth = scrape.samples.iter().find(|s| {
        s.metric == "mkvcast_source_refusals_total" && s.labels.get("reason") == Some("auth")
    });
    assert_eq!(
        auth.map(|s| (s.labels.get("mount"), s.value.clone())),
        Some((Some("/live"), prometheus_parse::Value::Counter(1.0))),
        "{text}"
    );
}

/// A viewer of `path` whose response is read as it comes.
fn raw_stream(port: u16, path: &str) -> std::net::TcpStream {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    s
}

#[test]
fn sigterm_drains_then_exits_0_and_sighup_is_ignored() {
    let mut srv = Mkvcast::start(&[
        &fixture_path("demo.webm"),
        "--loop",
        "--drain-timeout-ms",
        "2000",
    ]);
    let port = srv.port;
    let viewer = thread::spawn(move || get(port, Duration::from_secs(20)));
    thread::sleep(Duration::from_millis(1500));
    srv.signal("HUP");
    assert!(srv.wait_log("SIGHUP ignored", Duration::from_secs(3)));
    assert!(
        srv.child.try_wait().unwrap().is_none(),
        "still running after SIGHUP"
    );
    srv.signal("TERM");
    let status = srv
        .wait_exit(Duration::from_secs(5))
        .expect("exits within the drain timeout");
    assert!(status.success(), "{status}");
    let resp = viewer.join().unwrap();
    assert_eq!(resp.status, 200);
    assert!(resp.closed.is_some());
    // What it received is a clean stream (header, then whole clusters).
    let (events, stats) = mkvcast::segmenter::segment_all(&resp.body, 1 << 16).unwrap();
    assert_eq!(stats.bytes_skipped, 0);
    assert!(events.len() >= 2);
}

#[test]
fn version_and_first_line_tell_what_to_do() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mkvcast"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("mkvcast {}", env!("CARGO_PKG_VERSION"))
    );
    let srv = Mkvcast::start(&[&fixture_path("demo.webm")]);
    let line = format!(
        "streaming demo.webm (VP8 640x360 + Vorbis 2ch) on http://127.0.0.1:{}/",
        srv.port
    );
    assert!(srv.wait_log(&line, Duration::from_secs(5)), "{}", srv.log());
    assert!(srv
        .log()
        .contains(&format!("ffplay http://127.0.0.1:{}/", srv.port)));
}

#[test]
fn max_clients_per_ip() {
    let srv = Mkvcast::start(&[&fixture_path("demo.webm"), "--max-clients-per-ip", "2"]);
    let mut a = open_get(srv.port);
    let mut b = open_get(srv.port);
    assert_eq!(
        read_response(&mut a, Duration::from_millis(800), 10).status,
        200
    );
    assert_eq!(
        read_response(&mut b, Duration::from_millis(800), 10).status,
        200
    );
    let c = raw_request(srv.port, b"GET / HTTP/1.1\r\n\r\n", Duration::from_secs(3));
    assert_eq!(c.status, 503);
}

#[test]
fn status_page_renders_in_chromium() {
    if !mkvcast_testkit::real::require_tool("chromium") {
        return;
    }
    let srv = Mkvcast::start(&[&fixture_path("demo.webm")]);
    let mut viewer = open_get(srv.port);
    assert_eq!(
        read_response(&mut viewer, Duration::from_millis(1500), 100).status,
        200
    );
    let mut browser = Browser::start().expect("chromium");
    browser
        .navigate(&format!("http://127.0.0.1:{}/status", srv.admin_port))
        .unwrap();
    let text = browser.eval("document.body.innerText").unwrap();
    let text = text.as_str().unwrap_or_default().to_string();
    assert!(text.contains("VP8 640x360 + Vorbis 2ch"), "{text}");
    assert!(text.contains("Clients (1)"), "{text}");
    assert!(text.contains("127.0.0.1:"), "{text}");
    let rows = browser
        .eval("document.getElementById('clients').rows.length")
        .unwrap();
    assert_eq!(rows.as_u64(), Some(2), "header row + one client");
    let png = browser.screenshot().unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    if let Ok(dir) = std::env::var("MKVCAST_SCREENSHOT_DIR") {
        std::fs::write(format!("{dir}/status.png"), &png).unwrap();
    }
}
