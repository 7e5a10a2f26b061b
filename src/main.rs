//! `mkvcast`: the command line. Everything else lives in the library.
#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use argh::FromArgs;
use mkvcast::error::Error;
use mkvcast::input::{self, Input, InputOptions, InputStats};
use mkvcast::server::{self, Config, Listeners, Server, Shutdown, StreamInput};

/// Live HTTP streaming of Matroska/WebM. Reads one input in real time (paced
/// by its own timestamps) and serves it to every HTTP client, each starting
/// on a keyframe. Open http://HOST:PORT/ in a browser, ffplay or mpv.
#[derive(FromArgs, Debug)]
struct Args {
    /// the input: a Matroska/WebM file, `-` for stdin, or an http:// URL
    /// (default: stdin when it is not a terminal)
    #[argh(positional)]
    input: Option<String>,

    /// address to listen on, e.g. 127.0.0.1:8080 or [::]:9000; repeat for
    /// several (default: port 8080 on all IPv4 and IPv6 addresses)
    #[argh(option)]
    listen: Vec<String>,

    /// most viewers streaming at once; more get 503 (default 16)
    #[argh(option, default = "16")]
    max_clients: usize,

    /// media a joiner gets at least, in ms, from a keyframe: a joiner plays
    /// this far behind live (default 3000; with --burst-bytes 0, 0 starts
    /// at the newest keyframe)
    #[argh(option, default = "3000")]
    buffer_ms: u64,

    /// bytes a joiner gets at least, from a keyframe: players need some
    /// tens of kilobytes before they start (default 65536; see "Latency" in
    /// the README for what it costs)
    #[argh(option, default = "65536")]
    burst_bytes: usize,

    /// write a viewer no later than this many ms after new data arrived,
    /// and no more often: fewer, larger writes (default 50; 0 = every
    /// block at once)
    #[argh(option, default = "50")]
    flush_ms: u64,

    /// publish clusters as fast as they are read, for inputs that are
    /// already live (default: pace by the media's timestamps)
    #[argh(switch)]
    no_pace: bool,

    /// start a file again at its end, with continuous timestamps, forever
    #[argh(switch, long = "loop")]
    looping: bool,

    /// a viewer skips ahead to the next keyframe when its oldest unsent data
    /// waited longer than this (wall clock) and its queue spans more media
    /// than this, in ms; fast input alone never makes it skip (default 10000)
    #[argh(option, default = "10000")]
    client_queue_ms: u64,

    /// time allowed to send a complete request, in ms (default 10000)
    #[argh(option, default = "10000")]
    request_timeout_ms: u64,

    /// close a client that takes no data for this long, in ms (default 30000)
    #[argh(option, default = "30000")]
    stall_timeout_ms: u64,

    /// for an http:// input: keep reconnecting (1 s to 30 s apart) for this
    /// long without receiving a cluster before ending, in ms (default 60000)
    #[argh(option, default = "60000")]
    reconnect_timeout_ms: u64,

    /// most viewers from one remote address (default: no limit)
    #[argh(option)]
    max_clients_per_ip: Option<usize>,

    /// address for the status page (/status), /status.json and Prometheus
    /// /metrics, or `off` (default 127.0.0.1:9090; viewers' addresses are
    /// shown there, so keep it private)
    #[argh(option)]
    admin_listen: Option<String>,

    /// on SIGTERM/SIGINT, time clients get to take their queued data before
    /// the server closes them and exits, in ms (default 5000)
    #[argh(option, default = "5000")]
    drain_timeout_ms: u64,

    /// keep Attachments (fonts, cover art) in the live stream even when no
    /// ASS/SSA subtitle track needs them; browsers may then not start a
    /// live stream (default: dropped, with a log line)
    #[argh(switch)]
    keep_attachments: bool,

    /// print the version and exit
    #[argh(switch, short = 'V')]
    version: bool,
}

/// argh takes a lone `-` for an option; it stands in for stdin here.
const STDIN_ARG: &str = "\u{0}stdin";

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let cmd = argv
        .first()
        .map_or("mkvcast", |s| s.rsplit('/').next().unwrap_or(s));
    let rest: Vec<&str> = argv
        .iter()
        .skip(1)
        .map(|a| if a == "-" { STDIN_ARG } else { a.as_str() })
        .collect();
    let args = match Args::from_args(&[cmd], &rest) {
        Ok(a) => a,
        Err(e) => {
            let failed = e.status.is_err();
            if failed {
                eprintln!("{}", e.output.trim_end());
                eprintln!("Run {cmd} --help for more information.");
                return ExitCode::FAILURE;
            }
            println!("{}", e.output);
            return ExitCode::SUCCESS;
        }
    };
    if args.version {
        println!("mkvcast {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    mkvcast::logging::init(log::LevelFilter::Info);
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mkvcast: {e}");
            ExitCode::FAILURE
        }
    }
}

fn listen_addrs(specs: &[String]) -> Result<Vec<SocketAddr>, String> {
    if specs.is_empty() {
        // [::] accepts IPv4 too on Linux (dual stack); fall back to IPv4 only
        // where IPv6 is off.
        let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 8080);
        if std::net::TcpListener::bind(v6).is_ok() {
            return Ok(vec![v6]);
        }
        return Ok(vec![SocketAddr::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            8080,
        )]);
    }
    specs
        .iter()
        .map(|s| {
            s.parse::<SocketAddr>()
                .or_else(|_| {
                    s.parse::<u16>()
                        .map(|p| SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), p))
                })
                .map_err(|_| {
                    format!(
                        "--listen {s:?}: expected ADDRESS:PORT such as 127.0.0.1:8080 or [::]:8080"
                    )
                })
        })
        .collect()
}

/// Binds the admin listener. The default address is best effort (another
/// instance may hold it); an address given explicitly must work.
fn bind_admin(spec: Option<&str>) -> Result<Option<mio::net::TcpListener>, Error> {
    let (addr, explicit) = match spec {
        Some("off") => return Ok(None),
        Some(s) => (
            s.parse::<SocketAddr>().map_err(|_| {
                Error::Usage(format!(
                    "--admin-listen {s:?}: expected ADDRESS:PORT or `off`"
                ))
            })?,
            true,
        ),
        None => (SocketAddr::from(([127, 0, 0, 1], 9090)), false),
    };
    match server::bind(&[addr]) {
        Ok(mut l) => {
            let l = l.pop();
            if let Some(a) = l.as_ref().and_then(|l| l.local_addr().ok()) {
                log::info!(
                    "admin: status page on http://{a}/status, metrics on http://{a}/metrics"
                );
            }
            Ok(l)
        }
        Err(e) if explicit => Err(Error::Listen(e)),
        Err(e) => {
            log::warn!("{e}; running without the status page (see --admin-listen)");
            Ok(None)
        }
    }
}

/// The input the arguments name (stdin when none is given and stdin is
/// not a terminal).
fn input_of(args: &Args) -> Result<Input, Error> {
    let input = match args.input.as_deref() {
        Some(STDIN_ARG) => Input::Stdin,
        Some(arg) => Input::parse(arg).map_err(|e| Error::Usage(e.to_string()))?,
        None if !std::io::stdin().is_terminal() => Input::Stdin,
        None => {
            return Err(Error::Usage(
                "no input given: name a file, `-` for stdin, or an http:// URL (see --help)".into(),
            ))
        }
    };
    if args.looping && !matches!(input, Input::File(_)) {
        return Err(Error::Usage(
            "--loop needs a file input (stdin and URLs cannot start again)".into(),
        ));
    }
    if args.max_clients == 0 {
        return Err(Error::Usage("--max-clients must be at least 1".into()));
    }
    Ok(input)
}

/// Binds the stream listeners (and logs where they are) and the admin one.
fn bind_all(args: &Args) -> Result<Listeners, Error> {
    let addrs = listen_addrs(&args.listen).map_err(Error::Usage)?;
    let admin = bind_admin(args.admin_listen.as_deref())?;
    let stream = server::bind(&addrs).map_err(Error::Listen)?;
    for l in &stream {
        if let Ok(a) = l.local_addr() {
            log::info!("listening on http://{a}/");
        }
    }
    Ok(Listeners { stream, admin })
}

/// A short name for the status page: a file's name without its folder.
fn display_name(input: &Input) -> String {
    match input {
        Input::File(p) => p
            .file_name()
            .map_or(input.name(), |n| n.to_string_lossy().into_owned()),
        other => other.name(),
    }
}

fn server_config(args: &Args, input_name: String) -> Config {
    Config {
        max_clients: args.max_clients,
        buffer_ms: args.buffer_ms,
        burst_bytes: args.burst_bytes,
        flush: Duration::from_millis(args.flush_ms),
        client_queue_ms: args.client_queue_ms,
        request_timeout: Duration::from_millis(args.request_timeout_ms),
        stall_timeout: Duration::from_millis(args.stall_timeout_ms),
        drain_timeout: Duration::from_millis(args.drain_timeout_ms),
        max_clients_per_ip: args.max_clients_per_ip,
        input_name,
        ..Config::default()
    }
}

fn run(args: Args) -> Result<(), Error> {
    let input = input_of(&args)?;
    let reader = input.open().map_err(Error::Open)?;
    let listeners = bind_all(&args)?;
    let (poll, waker) = server::poll_and_waker().map_err(Error::Listen)?;
    let (tx, rx) = mpsc::channel();
    log::info!("reading {}", input.name());
    let options = InputOptions {
        pace: !args.no_pace,
        looping: args.looping,
        reconnect_timeout: Duration::from_millis(args.reconnect_timeout_ms),
        keep_attachments: args.keep_attachments,
        forward_blocks: !hold_clusters(),
    };
    let input_waker = waker.clone();
    let input_name = display_name(&input);
    let log_name = input.name();
    let stats = Arc::new(InputStats::default());
    input::spawn(input, reader, options, stats.clone(), move |ev| {
        if tx.send(ev).is_ok() {
            let _ = input_waker.wake();
        }
    });
    let stream = StreamInput {
        events: rx,
        name: log_name,
        stats,
    };
    let config = server_config(&args, input_name);
    let shutdown = Shutdown::new(waker.clone());
    let server = Server::new(poll, waker, listeners, stream, config).map_err(Error::Listen)?;
    handle_signals(shutdown.clone()).map_err(Error::Listen)?;
    let result = server.run(shutdown);
    if result.is_ok() {
        log::info!("done");
    }
    result
}

/// `MKVCAST_HOLD_CLUSTERS=1`, a control for tests only (TESTING.md):
/// deliver whole clusters, as before blocks were forwarded, to compare
/// the two.
fn hold_clusters() -> bool {
    std::env::var("MKVCAST_HOLD_CLUSTERS").is_ok_and(|v| v.trim() == "1")
}

/// SIGTERM/SIGINT ask the server to drain and stop; a second one exits at
/// once. SIGHUP is logged and ignored (there is no configuration to
/// reload). The handlers live here, not in the library: a program that
/// embeds the server decides what its signals mean.
fn handle_signals(shutdown: Shutdown) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if sig == SIGHUP {
                    log::info!("SIGHUP ignored: mkvcast has no configuration to reload");
                    continue;
                }
                log::info!("signal {sig}: draining viewers, then exiting");
                if shutdown.trigger().unwrap_or(true) {
                    log::warn!("second signal: exiting now");
                    std::process::exit(0);
                }
            }
        })?;
    Ok(())
}
