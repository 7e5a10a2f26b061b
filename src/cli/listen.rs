//! Where the server listens: the stream listeners and the admin one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use mkvcast::error::Error;
use mkvcast::server::{self, Listeners};

pub fn listen_addrs(specs: &[String]) -> Result<Vec<SocketAddr>, String> {
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
pub fn bind_admin(spec: Option<&str>) -> Result<Option<mio::net::TcpListener>, Error> {
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

/// Binds the stream listeners (and logs where they are) and the admin one.
pub fn bind_all(listen: &[String], admin_listen: Option<&str>) -> Result<Listeners, Error> {
    let addrs = listen_addrs(listen).map_err(Error::Usage)?;
    let admin = bind_admin(admin_listen)?;
    let stream = server::bind(&addrs).map_err(Error::Listen)?;
    for l in &stream {
        if let Ok(a) = l.local_addr() {
            log::info!("listening on http://{a}/");
        }
    }
    Ok(Listeners { stream, admin })
}
