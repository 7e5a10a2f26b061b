//! Smoke test of the load generator (`mkvcast-load load`, built from
//! `tools/load` by the test kit) against the real server: 10 viewers of the
//! looped benchmark stream for about 5 s, all clean.
//! (`bench/compare.sh` runs the same pair at thousands of viewers.)

use std::process::Command;
use std::time::{Duration, Instant};

use mkvcast_testkit::process::{load_tool, Mkvcast};

#[test]
fn ten_viewers_stream_cleanly() {
    let tool = load_tool();
    let fixture = mkvcast_testkit::fixture("bench_1mbit.webm");
    let server = Mkvcast::start(&[fixture.to_str().unwrap(), "--loop", "--max-clients", "20"]);
    let started = Instant::now();
    let out = Command::new(tool)
        .arg("load")
        .arg(server.url())
        .args(["--clients", "10", "--rate", "50", "--duration", "5"])
        .args(["--json", "--strict"])
        .output()
        .expect("run mkvcast-load");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mkvcast-load failed ({}):\n{stderr}\n{stdout}\nserver log:\n{}",
        out.status,
        server.log()
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("mkvcast-load JSON: {e}\n{stdout}\n{stderr}"));
    let int = |k: &str| {
        summary[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} missing in {summary}"))
    };
    assert_eq!(int("attempted"), 10, "{summary}");
    assert_eq!(int("connected"), 10, "{summary}");
    assert_eq!(
        (int("refused"), int("failed"), int("dropped")),
        (0, 0, 0),
        "{summary}"
    );
    assert_eq!(int("stalls"), 0, "{summary}");
    assert_eq!(int("invalid"), 0, "{summary}");
    assert_eq!(summary["clean"], true, "{summary}");
    // ~1 Mbit/s each; at least half of that must have arrived, and every
    // viewer must have seen several whole Clusters (1 s each).
    let mbit = summary["mbit_per_s"].as_f64().unwrap();
    assert!(mbit > 5.0, "only {mbit} Mbit/s for 10 viewers: {summary}");
    assert!(int("clusters_min") >= 3, "{summary}");
    assert!(
        elapsed < Duration::from_secs(12),
        "took {elapsed:?}: {summary}"
    );
}
