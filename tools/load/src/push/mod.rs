//! `mkvcast-load push`: many light publishers, Icecast-style, each one
//! `PUT` with `Authorization: Basic` and a chunked body, all on one mio
//! loop (`bench/mounts.sh` feeds 50 push mounts with it).
//!
//! Pacing: each publisher sends the file's Clusters whole, each when the
//! wall clock since its first Cluster reaches the Cluster's Timestamp, as
//! a muxer that emits a Cluster once it is complete would (a 1 s Cluster
//! arrives at its start, not block by block). A file shorter than the run
//! is sent again with its Timestamps moved on by the file's span (plus
//! ~one frame), on the same connection: the server sees one continuous
//! live stream and never needs its grace time. Publishers start spread
//! over `--spread-ms` so their Clusters do not all fall due at once.

mod media;
mod publisher;

use std::io;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use argh::FromArgs;
use mio::{Events, Poll};

use crate::url::parse_url;
use media::Media;
use publisher::{Publisher, State};

/// Pushes a file to many mounts at once (loopback only), paced in real
/// time, and reports what each publisher sent.
#[derive(FromArgs)]
#[argh(subcommand, name = "push")]
pub struct Args {
    /// mount URL, http://HOST[:PORT]/PATH on loopback; a `{i}` in it is
    /// replaced by --first..--first+--count, one publisher each
    #[argh(option)]
    url: String,
    /// publishers (default 1; above 1 the URL needs `{i}`)
    #[argh(option, default = "1")]
    count: usize,
    /// the first `{i}` (default 0)
    #[argh(option, default = "0")]
    first: usize,
    /// the Matroska/WebM file to send (Clusters of known size)
    #[argh(option)]
    file: String,
    /// user for HTTP Basic (default source)
    #[argh(option, default = "String::from(\"source\")")]
    user: String,
    /// password for HTTP Basic
    #[argh(option)]
    password: String,
    /// seconds every publisher streams (default 60, max 3600)
    #[argh(option, default = "60.0")]
    duration: f64,
    /// the publishers' starts are spread over this many ms (default 1000)
    #[argh(option, default = "1000")]
    spread_ms: u64,
}

/// Most publishers one run opens.
const MAX_PUBLISHERS: usize = 1000;
/// How long the last chunks may take to go out after the duration.
const END_GRACE: Duration = Duration::from_secs(5);

/// Runs the mode: one line per publisher and a total on stdout; exit 1 if
/// any publisher was refused or cut, 2 for a bad command line.
pub fn main(args: &Args) -> ExitCode {
    match run(args) {
        Ok((media_s, pubs)) => {
            print!("{}", report(&pubs, &media_s));
            if pubs.iter().all(|p| p.state == State::Done) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("mkvcast-load push: {e}");
            ExitCode::from(2)
        }
    }
}

fn publishers(args: &Args, start: Instant) -> Result<Vec<Publisher>, String> {
    if !(1..=MAX_PUBLISHERS).contains(&args.count) {
        return Err(format!("--count must be 1..={MAX_PUBLISHERS}"));
    }
    if args.count > 1 && !args.url.contains("{i}") {
        return Err("--count above 1 needs {i} in the URL".into());
    }
    if !(0.0..=3600.0).contains(&args.duration) {
        return Err("--duration must be 0..=3600 seconds".into());
    }
    let step = Duration::from_millis(args.spread_ms) / args.count as u32;
    (0..args.count)
        .map(|k| {
            let url = args.url.replace("{i}", &(args.first + k).to_string());
            Ok(Publisher::new(parse_url(&url)?, start + step * k as u32))
        })
        .collect()
}

/// Opens the publishers at their start times and streams until the end.
/// The publishers at the end, and the media time each had sent (s).
fn run(args: &Args) -> Result<(Vec<f64>, Vec<Publisher>), String> {
    let file = std::fs::read(&args.file).map_err(|e| format!("{}: {e}", args.file))?;
    let media = Media::parse(&file).map_err(|e| format!("{}: {e}", args.file))?;
    let start = Instant::now();
    let mut pubs = publishers(args, start)?;
    let end = start + Duration::from_secs_f64(args.duration);
    let auth = base64(format!("{}:{}", args.user, args.password).as_bytes());
    let mut poll = Poll::new().map_err(|e| format!("cannot create poll: {e}"))?;
    let mut events = Events::with_capacity(256);
    loop {
        let now = Instant::now();
        let mut wake = end.max(now + Duration::from_millis(1));
        for (key, p) in pubs.iter_mut().enumerate() {
            if p.state == State::Waiting {
                if now < p.start_at {
                    wake = wake.min(p.start_at);
                    continue;
                }
                p.open(poll.registry(), key, &auth, &media);
            }
            if let Some(t) = p.tick(&media, now, end) {
                wake = wake.min(t);
            }
        }
        let busy = pubs.iter().any(|p| {
            matches!(
                p.state,
                State::Waiting | State::Connecting | State::Streaming | State::Ending
            )
        });
        if !busy || now > end + END_GRACE {
            break;
        }
        let timeout = wake.saturating_duration_since(now).min(END_GRACE);
        match poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("poll: {e}")),
        }
        let now = Instant::now();
        for event in events.iter() {
            if let Some(p) = pubs.get_mut(event.token().0) {
                p.on_ready(&media, now, end);
            }
        }
    }
    for p in pubs.iter_mut().filter(|p| p.state != State::Done) {
        if p.error.is_none() {
            p.error = Some(format!("not finished at the end ({:?})", p.state));
        }
    }
    let media_s = pubs.iter().map(|p| p.media_time(&media).as_secs_f64());
    Ok((pubs.iter().zip(media_s).map(|(_, s)| s).collect(), pubs))
}

/// One line per publisher, then the totals.
fn report(pubs: &[Publisher], media_s: &[f64]) -> String {
    let mut out = String::new();
    for (p, media_s) in pubs.iter().zip(media_s) {
        out += &format!(
            "push http://{}{}: {} bytes, {} clusters, {} laps, media {:.1} s, {}\n",
            p.target.host,
            p.target.path,
            p.bytes,
            p.clusters,
            p.lap,
            media_s,
            p.error.as_deref().unwrap_or("ok")
        );
    }
    let refused = pubs.iter().filter(|p| p.refused).count();
    let ok = pubs.iter().filter(|p| p.state == State::Done).count();
    let bytes: u64 = pubs.iter().map(|p| p.bytes).sum();
    out += &format!(
        "publishers: {} started, {ok} ok, {refused} refused, {} cut; {:.1} MB sent\n",
        pubs.len(),
        pubs.len() - ok - refused,
        bytes as f64 / 1e6
    );
    out
}

/// Standard base64 with padding (RFC 4648), for the Basic credentials.
fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for group in data.chunks(3) {
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for k in 0..4 {
            if k <= group.len() {
                out.push(char::from(ABC[(n >> (18 - 6 * k) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn basic_credentials() {
        assert_eq!(base64(b"source:hackme"), "c291cmNlOmhhY2ttZQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b""), "");
    }
}
