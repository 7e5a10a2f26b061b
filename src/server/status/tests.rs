//! Unit tests of the admin views, kept apart so each view file stays about its view.

use super::html::h;
use super::*;

fn header(name: &str) -> std::sync::Arc<StreamHeader> {
    crate::test_fixtures::fixture(name).0
}

fn snapshot<'a>(header: Option<&'a StreamHeader>, counters: &'a Counters) -> Snapshot<'a> {
    Snapshot {
        input: "in.webm",
        header,
        input_state: "reading",
        input_bytes: 10,
        input_reconnects: 0,
        input_kbps: 1.5,
        media_time_s: 2.0,
        buffered_s: 1.0,
        buffered_bytes: 100,
        clusters_published: 3,
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
        mounts: Vec::new(),
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

/// Every path of `/status.json` with its type, with a stream header.
const STATUS_JSON_SCHEMA: [&str; 42] = [
    " object",
    ".clients array",
    ".clients[] object",
    ".clients[].address string",
    ".clients[].bytes_sent number",
    ".clients[].connected_s number",
    ".clients[].connected_since string",
    ".clients[].id number",
    ".clients[].keyframe_skips number",
    ".clients[].queue_bytes number",
    ".clients[].user_agent string",
    ".stream object",
    ".stream.buffered_bytes number",
    ".stream.buffered_s number",
    ".stream.clusters_published number",
    ".stream.content_type string",
    ".stream.doc_type string",
    ".stream.input string",
    ".stream.input_bytes number",
    ".stream.input_kbps number",
    ".stream.input_reconnects number",
    ".stream.media_time_s number",
    ".stream.state string",
    ".stream.tracks array",
    ".stream.tracks[] object",
    ".stream.tracks[].channels number",
    ".stream.tracks[].codec string",
    ".stream.tracks[].height number",
    ".stream.tracks[].number number",
    ".stream.tracks[].sampling_frequency number",
    ".stream.tracks[].type string",
    ".stream.tracks[].width number",
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

/// The key set and value types of `/status.json`, as of the hand-written
/// writer this replaced: scripts parse it, so it must not drift.
#[test]
fn status_json_schema_is_stable() {
    let counters = Counters::default();
    let h = header("vp8_vorbis.webm");
    let got = schema_of(&json(&snapshot(Some(&h), &counters)));
    assert_eq!(got, STATUS_JSON_SCHEMA);
    // Before the stream header: the same keys, with nulls and no tracks.
    let got = schema_of(&json(&snapshot(None, &counters)));
    let tracks_free: Vec<String> = STATUS_JSON_SCHEMA
        .iter()
        .filter(|k| !k.starts_with(".stream.tracks[]"))
        .map(|k| {
            k.replace(".stream.content_type string", ".stream.content_type null")
                .replace(".stream.doc_type string", ".stream.doc_type null")
        })
        .collect();
    let mut tracks_free = tracks_free;
    tracks_free.sort();
    assert_eq!(got, tracks_free);
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
    s.input_kbps = f64::INFINITY;
    s.buffered_s = f64::NEG_INFINITY;
    s.media_time_s = 12.34567;
    s.clients[0].connected_s = 1e308;
    let v: serde_json::Value = serde_json::from_str(&json(&s)).unwrap();
    assert_eq!(v["clients"][0]["user_agent"], odd);
    assert_eq!(v["uptime_s"], 0.0);
    assert_eq!(v["stream"]["input_kbps"], 0.0);
    assert_eq!(v["stream"]["buffered_s"], 0.0);
    assert_eq!(v["stream"]["media_time_s"], 12.346);
    assert_eq!(v["clients"][0]["connected_s"], 1e308);
}
