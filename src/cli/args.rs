//! The command line, as `--help` shows it.

use argh::FromArgs;

/// Live HTTP streaming of Matroska/WebM. Serves one INPUT at every path, or
/// many streams (mounts) at their own paths: pulled from files, stdin or
/// http:// URLs (--mount), or pushed by encoders such as ffmpeg, GStreamer
/// and OBS with Icecast's source protocol (--ingest), or listed in a TOML
/// file (--config). Every viewer starts on a keyframe. Open
/// http://HOST:PORT/ in a browser, ffplay or mpv.
#[derive(FromArgs, Debug)]
pub struct Args {
    /// the input: a Matroska/WebM file, `-` for stdin, or an http:// URL
    /// (default: stdin when it is not a terminal)
    #[argh(positional)]
    pub input: Option<String>,

    /// a pulled mount: PATH=INPUT, e.g. /film=film.webm or
    /// /relay=http://host/live; repeat for several
    #[argh(option)]
    pub mount: Vec<String>,

    /// a mount encoders push to (PUT or SOURCE with HTTP Basic, user
    /// `source`), e.g. /cam; repeat for several; needs --source-password
    #[argh(option)]
    pub ingest: Vec<String>,

    /// the password encoders give for --ingest mounts (default: the
    /// MKVCAST_SOURCE_PASSWORD environment variable, which keeps it out of
    /// `ps`; there is no built-in password)
    #[argh(option)]
    pub source_password: Option<String>,

    /// a TOML file listing the mounts ([[mount]] tables, see the README);
    /// SIGHUP reads it again
    #[argh(option)]
    pub config: Option<String>,

    /// most viewers streaming at once over all mounts (default 1024; with
    /// one INPUT, at least --max-clients)
    #[argh(option, default = "1024")]
    pub max_clients_total: usize,

    /// ingest bytes held outside the rings over all publishers (clusters
    /// being received); a publisher over its share is closed (default
    /// 268435456 = 256 MiB)
    #[argh(option, default = "268435456")]
    pub max_ingest_buffer_bytes: usize,

    /// close a publisher that sends nothing for this long, in ms (default
    /// 10000)
    #[argh(option, default = "10000")]
    pub source_idle_timeout_ms: u64,

    /// after a publisher is gone, viewers wait this long for the next one,
    /// in ms; one with the same tracks continues their stream (default 10000)
    #[argh(option, default = "10000")]
    pub source_grace_ms: u64,

    /// viewers of a push mount wait this long for a first publisher, in ms
    /// (default 0 = forever)
    #[argh(option, default = "0")]
    pub source_wait_ms: u64,

    /// close a kept-alive connection with no new request for this long, in
    /// ms (default 15000)
    #[argh(option, default = "15000")]
    pub keepalive_timeout_ms: u64,

    /// a proxy (CIDR, e.g. 127.0.0.1/32 or 10.0.0.0/8) whose
    /// X-Forwarded-For is believed for logs, limits and throttling;
    /// repeat for several
    #[argh(option)]
    pub trusted_proxy: Vec<String>,

    /// address to listen on, e.g. 127.0.0.1:8080 or [::]:9000; repeat for
    /// several (default: port 8080 on all IPv4 and IPv6 addresses)
    #[argh(option)]
    pub listen: Vec<String>,

    /// most viewers of one mount streaming at once; more get 503 (default
    /// 16)
    #[argh(option, default = "16")]
    pub max_clients: usize,

    /// media a joiner gets at least, in ms, from a keyframe: a joiner plays
    /// this far behind live (default 3000; with --burst-bytes 0, 0 starts
    /// at the newest keyframe)
    #[argh(option, default = "3000")]
    pub buffer_ms: u64,

    /// bytes a joiner gets at least, from a keyframe: players need some
    /// tens of kilobytes before they start (default 65536; see "Latency" in
    /// the README for what it costs)
    #[argh(option, default = "65536")]
    pub burst_bytes: usize,

    /// write a viewer no later than this many ms after new data arrived,
    /// and no more often: fewer, larger writes (default 50; 0 = every
    /// block at once)
    #[argh(option, default = "50")]
    pub flush_ms: u64,

    /// publish clusters as fast as they are read, for inputs that are
    /// already live (default: pace by the media's timestamps)
    #[argh(switch)]
    pub no_pace: bool,

    /// start a file again at its end, with continuous timestamps, forever
    #[argh(switch, long = "loop")]
    pub looping: bool,

    /// a viewer skips ahead to the next keyframe when its oldest unsent data
    /// waited longer than this (wall clock) and its queue spans more media
    /// than this, in ms; fast input alone never makes it skip (default 10000)
    #[argh(option, default = "10000")]
    pub client_queue_ms: u64,

    /// time allowed to send a complete request, from its first byte, in ms
    /// (default 10000)
    #[argh(option, default = "10000")]
    pub request_timeout_ms: u64,

    /// close a client that takes no data for this long, in ms (default 30000)
    #[argh(option, default = "30000")]
    pub stall_timeout_ms: u64,

    /// for an http:// input: keep reconnecting (1 s to 30 s apart) for this
    /// long without receiving a cluster before ending, in ms (default 60000)
    #[argh(option, default = "60000")]
    pub reconnect_timeout_ms: u64,

    /// most viewers from one remote address (default: no limit)
    #[argh(option)]
    pub max_clients_per_ip: Option<usize>,

    /// address for the status page (/status), /status.json and Prometheus
    /// /metrics, or `off` (default 127.0.0.1:9090; viewers' addresses are
    /// shown there, so keep it private)
    #[argh(option)]
    pub admin_listen: Option<String>,

    /// on SIGTERM/SIGINT, time clients get to take their queued data before
    /// the server closes them and exits, in ms (default 5000)
    #[argh(option, default = "5000")]
    pub drain_timeout_ms: u64,

    /// keep Attachments (fonts, cover art) in the live stream even when no
    /// ASS/SSA subtitle track needs them; browsers may then not start a
    /// live stream (default: dropped, with a log line)
    #[argh(switch)]
    pub keep_attachments: bool,

    /// print the version and exit
    #[argh(switch, short = 'V')]
    pub version: bool,
}
