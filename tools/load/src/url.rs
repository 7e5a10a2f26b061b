//! The load mode's target: an `http://` URL on loopback only.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// A parsed `http://` URL: where to connect and what to send.
pub struct Target {
    pub addr: SocketAddr,
    /// The authority as given, for the Host header.
    pub host: String,
    pub path: String,
}

/// Parses the URL and refuses anything but loopback, so a load test can
/// never be pointed at someone else's server.
pub fn parse_url(url: &str) -> Result<Target, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("URL must start with http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("unclosed [ in URL host")?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port: u16 = match port {
        Some(p) => p.parse().map_err(|_| format!("bad port {p:?}"))?,
        None => 80,
    };
    let ip = if host.eq_ignore_ascii_case("localhost") {
        // Resolve through the hosts file, but only accept loopback answers.
        (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve localhost: {e}"))?
            .map(|a| a.ip())
            .find(IpAddr::is_loopback)
            .ok_or("localhost does not resolve to a loopback address")?
    } else {
        host.parse::<IpAddr>()
            .map_err(|_| format!("host {host:?} is not an IP address or localhost"))?
    };
    if !ip.is_loopback() {
        return Err(format!(
            "refusing non-loopback host {ip}: only 127.0.0.0/8, ::1 and localhost"
        ));
    }
    Ok(Target {
        addr: SocketAddr::new(ip, port),
        host: authority.to_string(),
        path: path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::parse_url;

    #[test]
    fn only_loopback_urls() {
        let t = parse_url("http://127.0.0.1:8080/live").unwrap();
        assert_eq!(
            (t.addr.to_string(), t.path.as_str()),
            ("127.0.0.1:8080".into(), "/live")
        );
        assert_eq!(
            parse_url("http://[::1]:9/").unwrap().addr.to_string(),
            "[::1]:9"
        );
        assert_eq!(parse_url("http://127.9.9.9").unwrap().path, "/");
        for bad in [
            "http://10.0.0.1/",
            "http://example.com/",
            "https://127.0.0.1/",
            "http://127.0.0.1:x/",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
