//! Start-up errors of the mount forms: each exits non-zero at once with
//! one line that says what is wrong and names the mount or option.

use std::process::{Command, Stdio};

/// Runs mkvcast with `args` (and `env`); its exit success and stderr.
fn run(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mkvcast"))
        .args(args)
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "off"])
        .env_remove("MKVCAST_SOURCE_PASSWORD")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), stderr)
}

fn fails_with(args: &[&str], env: &[(&str, &str)], want: &[&str]) {
    let (ok, stderr) = run(args, env);
    assert!(!ok, "{args:?} started");
    let last = stderr.lines().last().unwrap_or_default();
    for w in want {
        assert!(
            last.contains(w),
            "{args:?}: {w:?} not in {last:?}\n{stderr}"
        );
    }
}

#[test]
fn mount_forms_refuse_bad_starts_with_one_line() {
    fails_with(
        &["--ingest", "/cam"],
        &[],
        &["/cam", "no password", "MKVCAST_SOURCE_PASSWORD"],
    );
    fails_with(
        &["--mount", "/a=/nonexistent.webm"],
        &[],
        &["mount /a", "cannot open"],
    );
    fails_with(&["--mount", "a=x.webm"], &[], &["--mount"]);
    fails_with(
        &["--mount", "/a/manifest.mpd=x.webm"],
        &[],
        &["manifest.mpd"],
    );
    fails_with(
        &[
            "--mount",
            "/a=fixtures/demo.webm",
            "--mount",
            "/a=fixtures/demo.webm",
        ],
        &[],
        &["/a"],
    );
    fails_with(
        &["fixtures/demo.webm", "--mount", "/a=fixtures/demo.webm"],
        &[],
        &["--mount /=INPUT"],
    );
    fails_with(
        &["--config", "examples/mounts.toml", "--ingest", "/x"],
        &[],
        &["--config cannot be combined"],
    );
    fails_with(
        &["--ingest", "/cam", "--loop"],
        &[("MKVCAST_SOURCE_PASSWORD", "pw")],
        &["--loop"],
    );
    fails_with(
        &["--ingest", "/cam", "--trusted-proxy", "10.0.0.1/8"],
        &[("MKVCAST_SOURCE_PASSWORD", "pw")],
        &["--trusted-proxy"],
    );
    let dir = std::env::temp_dir().join(format!("mkvcast-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[[mount]]\npath = \"/a\"\ninput = \"fixtures/demo.webm\"\ncolour = 1\n",
    )
    .unwrap();
    fails_with(
        &["--config", bad.to_str().unwrap()],
        &[],
        &["bad.toml", "colour"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_one_input_form_keeps_max_clients_above_the_total_default() {
    use mkvcast_testkit::http::open_get;
    use mkvcast_testkit::process::Mkvcast;
    // 1100 > --max-clients-total's 1024: all are admitted with one INPUT.
    let srv = Mkvcast::start(&[
        "fixtures/vp8_vorbis.webm",
        "--loop",
        "--max-clients",
        "1100",
    ]);
    let viewers: Vec<_> = (0..1030).map(|_| open_get(srv.port)).collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let log = srv.log();
        let connected = log.matches("connected: GET").count();
        assert!(!log.contains("--max-clients-total"), "refused by the total");
        if connected >= 1030 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{connected} connected"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    drop(viewers);
}
