//! `mkvcast-load`: viewers for mkvcast, many at once, on loopback only.
//! One binary with one subcommand per mode:
//!
//! - `load`: opens N viewers at a rate, keeps them for a while, and
//!   reports how many the server held, how fast they joined, whether any
//!   stalled, and whether every byte was a valid stream (`bench/compare.sh`);
//! - `soak`: keeps viewers on a stream for a long time with churn, slow
//!   readers and readers that stop, and checks every byte for continuity
//!   (`bench/soak.sh`, `tests/soak_short.rs`);
//! - `lag`: one viewer that measures how long the server takes to pass
//!   each block on (the delivery-lag spread after the join burst, p50/p95/
//!   max; `mkvcast_testkit::lag`);
//! - `push`: many light publishers (`PUT`, Basic credentials, chunked),
//!   each sending a file paced by its Cluster timestamps, looped with
//!   continuous timestamps (`bench/mounts.sh`).
//!
//! The modes share the connection pump ([`conn`]), the report helpers
//! ([`report`]) and the stream validators (`mkvcast_testkit::walk` and
//! `mkvcast_testkit::stream_check`). All viewers of a mode share one
//! nonblocking mio event loop, so the tool itself stays cheap at tens of
//! thousands of connections.
#![forbid(unsafe_code)]

mod conn;
mod lag;
mod load;
mod push;
mod report;
mod soak;
mod url;

use std::process::ExitCode;

use argh::FromArgs;

/// Viewers for a live mkvcast stream (loopback only): `load` measures how
/// many the server holds, `soak` keeps them for a long time with churn,
/// `lag` measures how late one viewer gets each block, `push` feeds push
/// mounts.
#[derive(FromArgs)]
struct Cli {
    #[argh(subcommand)]
    mode: Mode,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Mode {
    Load(load::Args),
    Soak(soak::Config),
    Lag(lag::Args),
    Push(push::Args),
}

fn main() -> ExitCode {
    let cli: Cli = argh::from_env();
    match cli.mode {
        Mode::Load(args) => load::main(&args),
        Mode::Soak(cfg) => soak::main(&cfg),
        Mode::Lag(args) => lag::main(&args),
        Mode::Push(args) => push::main(&args),
    }
}
