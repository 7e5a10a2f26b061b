//! `mkvcast`: the command line. Everything else lives in the library.
#![forbid(unsafe_code)]

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;

use argh::FromArgs;
use cli::args::Args;
use cli::mounts::{self, ms};
use cli::{listen, signals};
use mkvcast::config::FileConfig;
use mkvcast::error::Error;
use mkvcast::input::{Input, InputOptions};
use mkvcast::server::{self, Cidr, Config, Server, Shutdown, TrustedProxies};

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

fn server_config(args: &Args, input_name: String) -> Config {
    Config {
        max_clients_total: args.max_clients_total,
        request_timeout: ms(args.request_timeout_ms),
        keepalive_timeout: ms(args.keepalive_timeout_ms),
        stall_timeout: ms(args.stall_timeout_ms),
        drain_timeout: ms(args.drain_timeout_ms),
        max_clients_per_ip: args.max_clients_per_ip,
        max_ingest_buffer_bytes: args.max_ingest_buffer_bytes,
        mount: mounts::base_options(args, input_name),
        ..Config::default()
    }
}

/// Applies the file's process-wide keys over the command line's.
fn apply_globals(args: &mut Args, g: &mkvcast::config::Globals) {
    macro_rules! set {
        ($($k:ident),*) => { $( if let Some(v) = g.$k.clone() { args.$k = v.into(); } )* };
    }
    set!(
        max_clients_total,
        max_ingest_buffer_bytes,
        keepalive_timeout_ms,
        request_timeout_ms,
        stall_timeout_ms,
        drain_timeout_ms,
        admin_listen
    );
    if g.max_clients_per_ip.is_some() {
        args.max_clients_per_ip = g.max_clients_per_ip;
    }
    if !g.listen.is_empty() {
        args.listen = g.listen.clone();
    }
    if !g.trusted_proxy.is_empty() {
        args.trusted_proxy = g.trusted_proxy.clone();
    }
}

fn trusted_proxies(args: &Args) -> Result<TrustedProxies, Error> {
    args.trusted_proxy
        .iter()
        .map(|c| {
            c.parse::<Cidr>()
                .map_err(|e| Error::Usage(format!("--trusted-proxy {c:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(TrustedProxies)
}

fn run(mut args: Args) -> Result<(), Error> {
    match mounts::plan(&args)? {
        None => run_single(args),
        Some(cfg) => {
            apply_globals(&mut args, &cfg.globals);
            mounts::check(&cfg, &args)?;
            run_mounts(args, cfg)
        }
    }
}

/// The one-input form: one stream at every path; exits when it ends.
fn run_single(args: Args) -> Result<(), Error> {
    let input = input_of(&args)?;
    let reader = input.open().map_err(Error::Open)?;
    let trusted = trusted_proxies(&args)?;
    let listeners = listen::bind_all(&args.listen, args.admin_listen.as_deref())?;
    let (poll, waker) = server::poll_and_waker().map_err(Error::Listen)?;
    log::info!("reading {}", input.name());
    let options = InputOptions {
        pace: !args.no_pace,
        looping: args.looping,
        reconnect_timeout: ms(args.reconnect_timeout_ms),
        keep_attachments: args.keep_attachments,
        forward_blocks: !mounts::hold_clusters(),
    };
    let mut config = server_config(&args, mounts::display_name(&input));
    // One stream: --max-clients is the limit, as before mounts existed.
    config.max_clients_total = config.max_clients_total.max(args.max_clients);
    let stream = mounts::start_input(input, reader, options, &waker);
    let shutdown = Shutdown::new(waker.clone());
    let mut server = Server::new(poll, waker, listeners, stream, config).map_err(Error::Listen)?;
    server.set_trusted_proxies(trusted);
    signals::handle(shutdown.clone(), None).map_err(Error::Listen)?;
    finish(server.run(shutdown))
}

/// Mounts: runs until SIGTERM/SIGINT; SIGHUP re-reads a config file.
fn run_mounts(args: Args, cfg: FileConfig) -> Result<(), Error> {
    let trusted = trusted_proxies(&args)?;
    let listeners = listen::bind_all(&args.listen, args.admin_listen.as_deref())?;
    let (poll, waker) = server::poll_and_waker().map_err(Error::Listen)?;
    let setups = mounts::setups(&cfg, &args, &waker)?;
    let config = server_config(&args, String::new());
    let shutdown = Shutdown::new(waker.clone());
    let default_mount = cfg.default_mount.clone();
    let mut server = Server::with_mounts(
        poll,
        waker.clone(),
        listeners,
        setups,
        default_mount,
        config,
    )
    .map_err(Error::Listen)?;
    server.set_trusted_proxies(trusted);
    log::info!(
        "serving {} mounts: {}",
        cfg.mounts.len(),
        cfg.mounts
            .iter()
            .map(|m| m.path.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let reload = args
        .config
        .is_some()
        .then(|| signals::Reloader::new(args, cfg, server.control(), waker));
    signals::handle(shutdown.clone(), reload).map_err(Error::Listen)?;
    finish(server.run(shutdown))
}

fn finish(result: Result<(), Error>) -> Result<(), Error> {
    if result.is_ok() {
        log::info!("done");
    }
    result
}
