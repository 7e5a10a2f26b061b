//! Unit tests of the admin views, kept apart so each view file stays about its view.

use super::html::h;
use super::*;
use crate::server::ingest::IngestCounters;

fn header(name: &str) -> std::sync::Arc<StreamHeader> {
    crate::test_fixtures::fixture(name).0
}

fn mount<'a>(path: &'a str, header: Option<&'a StreamHeader>) -> MountInfo<'a> {
    MountInfo {
        path,
        kind: "pull",
        source: Some("in.webm".into()),
        state: "live",
        header,
        input_state: "reading",
        input_bytes: 10,
        input_reconnects: 0,
        input_kbps: 1.5,
        media_time_s: 2.0,
        buffered_s: 1.0,
        buffered_bytes: 100,
        clusters_published: 3,
        viewers: 1,
        keyframe_skips: 0,
        ingest: None,
    }
}

/// A push mount nobody has published to yet.
fn push_mount<'a>(path: &'a str, counters: &'a IngestCounters) -> MountInfo<'a> {
    MountInfo {
        kind: "push",
        source: None,
        state: "waiting",
        input_state: "waiting",
        viewers: 0,
        ingest: Some(counters),
        ..mount(path, None)
    }
}

fn snapshot<'a>(header: Option<&'a StreamHeader>, counters: &'a Counters) -> Snapshot<'a> {
    Snapshot {
        uptime_s: 4.0,
        clients: vec![ClientInfo {
            id: 1,
            address: "127.0.0.1:5".into(),
            connected_since: "2026-01-01T00:00:00Z".into(),
            connected_s: 1.0,
            bytes_sent: 7,
            queue_bytes: 0,
            keyframe_skips: 0,
            user_agent: "t".into(),
            mount: "/".into(),
        }],
        counters,
        mounts: vec![mount("/", header)],
    }
}

/// Every path in a JSON document with its type, arrays by their first
/// element: what a consumer of `/status.json` depends on.
fn schema(v: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    use serde_json::Value;
    let kind = match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    out.push(format!("{path} {kind}"));
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                schema(x, &format!("{path}.{k}"), out);
            }
        }
        Value::Array(a) => {
            for x in a {
                schema(x, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

fn schema_of(json_text: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(json_text).unwrap();
    let mut out = Vec::new();
    schema(&v, "", &mut out);
    out.sort();
    out.dedup();
    out
}

/// Every path of `/status.json` with its type, with a pulled mount that
/// has its stream header.
const STATUS_JSON_SCHEMA: [&str; 50] = [
    " object",
    ".clients array",
    ".clients[] object",
    ".clients[].address string",
    ".clients[].bytes_sent number",
    ".clients[].connected_s number",
    ".clients[].connected_since string",
    ".clients[].id number",
    ".clients[].keyframe_skips number",
    ".clients[].mount string",
    ".clients[].queue_bytes number",
    ".clients[].user_agent string",
    ".mounts array",
    ".mounts[] object",
    ".mounts[].buffered_bytes number",
    ".mounts[].buffered_s number",
    ".mounts[].clusters_published number",
    ".mounts[].content_type string",
    ".mounts[].doc_type string",
    ".mounts[].ingest null",
    ".mounts[].input_bytes number",
    ".mounts[].input_kbps number",
    ".mounts[].input_reconnects number",
    ".mounts[].input_state string",
    ".mounts[].keyframe_skips number",
    ".mounts[].kind string",
    ".mounts[].media_time_s number",
    ".mounts[].path string",
    ".mounts[].source string",
    ".mounts[].state string",
    ".mounts[].tracks array",
    ".mounts[].tracks[] object",
    ".mounts[].tracks[].channels number",
    ".mounts[].tracks[].codec string",
    ".mounts[].tracks[].height number",
    ".mounts[].tracks[].number number",
    ".mounts[].tracks[].sampling_frequency number",
    ".mounts[].tracks[].type string",
    ".mounts[].tracks[].width number",
    ".mounts[].viewers number",
    ".totals object",
    ".totals.bytes_sent number",
    ".totals.clients_total number",
    ".totals.keyframe_skips number",
    ".totals.rejected_bad_request number",
    ".totals.rejected_full number",
    ".totals.rejected_timeout number",
    ".totals.slow_clients_closed number",
    ".uptime_s number",
    ".version string",
];

/// What a push mount has where a pulled one has `null`: its publisher
/// counts (and, before its first publisher, no source).
const INGEST_SCHEMA: [&str; 13] = [
    ".mounts[].ingest object",
    ".mounts[].ingest.challenges number",
    ".mounts[].ingest.closed_idle number",
    ".mounts[].ingest.closed_over_buffer number",
    ".mounts[].ingest.connects number",
    ".mounts[].ingest.reconnects number",
    ".mounts[].ingest.refusals object",
    ".mounts[].ingest.refusals.auth number",
    ".mounts[].ingest.refusals.busy number",
    ".mounts[].ingest.refusals.media number",
    ".mounts[].ingest.refusals.range number",
    ".mounts[].ingest.refusals.throttled number",
    ".mounts[].source null",
];

/// `STATUS_JSON_SCHEMA` without the entries starting with any of `drop`,
/// with `add`.
fn schema_edited(drop: &[&str], add: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = STATUS_JSON_SCHEMA
        .iter()
        .filter(|k| !drop.iter().any(|d| k.starts_with(d)))
        .chain(add)
        .map(|k| k.to_string())
        .collect();
    v.sort();
    v
}

/// The key set and value types of `/status.json`: scripts parse it, so it
/// must not drift.
#[test]
fn status_json_schema_is_stable() {
    let counters = Counters::default();
    let h = header("vp8_vorbis.webm");
    let got = schema_of(&json(&snapshot(Some(&h), &counters)));
    assert_eq!(got, STATUS_JSON_SCHEMA);
    // Before the stream header: the same keys, with nulls and no tracks.
    let got = schema_of(&json(&snapshot(None, &counters)));
    let no_header = [
        ".mounts[].tracks[]",
        ".mounts[].content_type string",
        ".mounts[].doc_type string",
    ];
    let nulls = [".mounts[].content_type null", ".mounts[].doc_type null"];
    assert_eq!(got, schema_edited(&no_header, &nulls));
    // A push mount waiting for its first publisher: counts, no source.
    let ingest = IngestCounters::default();
    let mut s = snapshot(None, &counters);
    s.mounts = vec![push_mount("/live", &ingest)];
    let got = schema_of(&json(&s));
    let drop = [
        &no_header[..],
        &[".mounts[].ingest null", ".mounts[].source string"],
    ]
    .concat();
    let add = [&nulls[..], &INGEST_SCHEMA[..]].concat();
    assert_eq!(got, schema_edited(&drop, &add));
}

/// A pulled and a push mount side by side have the same keys, so a
/// consumer reads every mount alike.
#[test]
fn every_mount_has_the_same_keys() {
    let counters = Counters::default();
    let ingest = IngestCounters::default();
    let h = header("vp8_vorbis.webm");
    let mut s = snapshot(Some(&h), &counters);
    s.mounts.push(push_mount("/live", &ingest));
    let v: serde_json::Value = serde_json::from_str(&json(&s)).unwrap();
    let keys = |i: usize| -> Vec<String> {
        v["mounts"][i]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    };
    assert_eq!(keys(0).len(), 18);
    assert_eq!(keys(0), keys(1));
    assert_eq!(v["mounts"][0]["path"], "/");
    assert_eq!(v["mounts"][0]["tracks"].as_array().unwrap().len(), 2);
    assert_eq!(v["mounts"][1]["path"], "/live");
    assert_eq!(v["mounts"][1]["kind"], "push");
    assert_eq!(v["mounts"][1]["tracks"].as_array().unwrap().len(), 0);
    assert_eq!(v["clients"][0]["mount"], "/");
}

#[test]
fn html_escapes() {
    assert_eq!(h("<b>&\""), "&lt;b&gt;&amp;&quot;");
}

/// Strings come back from `/status.json` as they went in, and the floats
/// JSON cannot hold become 0, not `null`: consumers read them as numbers.
#[test]
fn status_json_strings_round_trip_and_floats_stay_numbers() {
    let counters = Counters::default();
    let mut s = snapshot(None, &counters);
    let odd = "a\"b\\c\n\u{1}é</script>";
    s.clients[0].user_agent = odd.into();
    s.uptime_s = f64::NAN;
    s.mounts[0].input_kbps = f64::INFINITY;
    s.mounts[0].buffered_s = f64::NEG_INFINITY;
    s.mounts[0].media_time_s = 12.34567;
    s.clients[0].connected_s = 1e308;
    let v: serde_json::Value = serde_json::from_str(&json(&s)).unwrap();
    assert_eq!(v["clients"][0]["user_agent"], odd);
    assert_eq!(v["uptime_s"], 0.0);
    assert_eq!(v["mounts"][0]["input_kbps"], 0.0);
    assert_eq!(v["mounts"][0]["buffered_s"], 0.0);
    assert_eq!(v["mounts"][0]["media_time_s"], 12.346);
    assert_eq!(v["clients"][0]["connected_s"], 1e308);
}

/// `/metrics` of `s`, parsed as Prometheus does.
fn scrape(s: &Snapshot) -> prometheus_parse::Scrape {
    let text = metrics(s);
    let lines = text.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines).unwrap()
}

/// The samples of `name`, as (`mount` label or `-`, other labels, value).
fn samples(scrape: &prometheus_parse::Scrape, name: &str) -> Vec<(String, String, f64)> {
    let mut v: Vec<(String, String, f64)> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .map(|s| {
            let mount = s.labels.get("mount").unwrap_or("-").to_string();
            let mut rest: Vec<String> = s
                .labels
                .iter()
                .filter(|(k, _)| *k != "mount")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            rest.sort();
            let value = match s.value {
                prometheus_parse::Value::Counter(x) | prometheus_parse::Value::Gauge(x) => x,
                _ => f64::NAN,
            };
            (mount, rest.join(","), value)
        })
        .collect();
    v.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    v
}

fn one(mount: &str, labels: &str, value: f64) -> (String, String, f64) {
    (mount.into(), labels.into(), value)
}

/// Per-stream metrics have one sample per mount, labelled with its path;
/// process-wide totals have none; ingest counts only for push mounts.
#[test]
fn metrics_label_each_mount() {
    let counters = Counters::default();
    let ingest = IngestCounters {
        connects: 2,
        challenges: 3,
        refused_auth: 4,
        refused_busy: 1,
        reconnects: 1,
        ..IngestCounters::default()
    };
    let h = header("vp8_vorbis.webm");
    let mut s = snapshot(Some(&h), &counters);
    s.mounts.push(push_mount("/live", &ingest));
    let m = scrape(&s);
    assert_eq!(samples(&m, "mkvcast_clients"), [one("-", "", 1.0)]);
    assert_eq!(samples(&m, "mkvcast_bytes_sent_total"), [one("-", "", 7.0)]);
    let clusters = [one("/", "", 3.0), one("/live", "", 3.0)];
    assert_eq!(samples(&m, "mkvcast_clusters_published_total"), clusters);
    let viewers = [one("/", "", 1.0), one("/live", "", 0.0)];
    assert_eq!(samples(&m, "mkvcast_mount_viewers"), viewers);
    let states = samples(&m, "mkvcast_mount_state");
    assert_eq!(states.len(), 6, "{states:?}");
    assert!(states.contains(&one("/", "state=live", 1.0)));
    assert!(states.contains(&one("/", "state=waiting", 0.0)));
    assert!(states.contains(&one("/live", "state=waiting", 1.0)));
    let connects = samples(&m, "mkvcast_source_connects_total");
    assert_eq!(connects, [one("/live", "", 2.0)]);
    let refusals = samples(&m, "mkvcast_source_refusals_total");
    assert_eq!(refusals.len(), 5);
    assert!(refusals.contains(&one("/live", "reason=auth", 4.0)));
    assert!(refusals.contains(&one("/live", "reason=busy", 1.0)));
    let challenges = samples(&m, "mkvcast_source_challenges_total");
    assert_eq!(challenges, [one("/live", "", 3.0)]);
    let reconnects = samples(&m, "mkvcast_source_reconnects_total");
    assert_eq!(reconnects, [one("/live", "", 1.0)]);
    // Every family has its HELP, samples or not.
    assert_eq!(m.docs.len(), 20);
}

/// Label values and odd floats are written as the text format wants.
#[test]
fn metrics_escape_labels_and_spell_infinity() {
    let counters = Counters::default();
    let mut s = snapshot(None, &counters);
    s.mounts[0].path = "/a\"b\\c\nd";
    s.mounts[0].buffered_s = f64::INFINITY;
    let text = metrics(&s);
    let line = "mkvcast_buffer_seconds{mount=\"/a\\\"b\\\\c\\nd\"} +Inf";
    assert!(text.lines().any(|l| l == line), "{text}");
    assert!(text
        .lines()
        .any(|l| l == "mkvcast_mount_state{mount=\"/a\\\"b\\\\c\\nd\",state=\"live\"} 1"));
}

/// One table per mount, then the clients with their mount.
#[test]
fn status_page_has_a_table_per_mount() {
    let counters = Counters::default();
    let ingest = IngestCounters {
        connects: 5,
        ..IngestCounters::default()
    };
    let h = header("vp8_vorbis.webm");
    let mut s = snapshot(Some(&h), &counters);
    s.mounts.push(push_mount("/live", &ingest));
    let page = html(&s);
    assert_eq!(page.matches("<table").count(), 3);
    assert!(page.contains("<h2>Mount /</h2>"));
    assert!(page.contains("<h2>Mount /live</h2>"));
    assert!(page.contains("<td>no publisher yet</td>"));
    assert!(page.contains("5 connects"));
    assert_eq!(
        page.matches("<th>Publishers</th>").count(),
        1,
        "only /live has one"
    );
    assert!(page.contains("<th>Mount</th>"));
    assert!(page.contains("<td class=\"n\">1</td><td>/</td><td>127.0.0.1:5</td>"));
}
