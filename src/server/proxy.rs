//! `--trusted-proxy CIDR`: which address a request comes from when it
//! arrives through reverse proxies.
//!
//! As nginx's realip module does with `real_ip_recursive on`, the header is
//! believed only when the TCP peer is itself a trusted proxy: anyone else
//! can write any `X-Forwarded-For` they like. Then the `X-Forwarded-For`
//! headers are walked as one list (headers in order, entries left to
//! right) from the right, skipping trusted addresses: the first untrusted
//! one is the client; if all are trusted, the leftmost. A missing, empty or
//! malformed list gives the peer. (nginx differs on one point: a malformed
//! entry *behind* trusted ones gives the last trusted address walked; here
//! it gives the peer, the address we know.) At most [`MAX_WALK`] entries
//! are looked at, so a huge header stays cheap; if all of those are
//! trusted, the last one looked at is the client.
//!
//! Entries are bare addresses, optionally `v4:port`, `[v6]` or `[v6]:port`
//! (some load balancers add ports); anything else (`unknown`, hostnames,
//! RFC 7239 obfuscated names) is malformed. An IPv4-mapped IPv6 address,
//! as a dual-stack listener reports IPv4 peers, is its IPv4 address, both
//! when matched against CIDRs and as the result.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Entries of `X-Forwarded-For` looked at, at most.
pub(crate) const MAX_WALK: usize = 64;
/// Longer than any address with a port (`[v6]:65535` is at most 55 bytes).
const MAX_ENTRY: usize = 64;

/// An address block, `10.0.0.0/8` or `2001:db8::/32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

/// Why a `--trusted-proxy` value is not a CIDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CidrError {
    /// The part before `/` is not an IP address.
    Address(String),
    /// The part after `/` is not a number up to 32 (IPv4) or 128 (IPv6).
    Prefix(String),
    /// Bits beyond the prefix are set, as in `10.0.0.1/8`: rejected rather
    /// than masked, since the writer may have meant `/32`.
    HostBits(Cidr),
}

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CidrError::Address(a) => write!(f, "{a:?} is not an IP address"),
            CidrError::Prefix(p) => write!(f, "{p:?} is not a prefix length for this address"),
            CidrError::HostBits(net) => {
                write!(
                    f,
                    "host bits are set after the prefix (the network is {net})"
                )
            }
        }
    }
}

impl std::error::Error for CidrError {}

impl FromStr for Cidr {
    type Err = CidrError;

    /// `addr/prefix`, or a bare address for just that address (/32, /128).
    /// An IPv4-mapped block (`::ffff:10.0.0.0/104`) is taken as the IPv4
    /// block it maps, since peers are matched as IPv4.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let net: IpAddr = addr
            .parse()
            .map_err(|_| CidrError::Address(addr.to_owned()))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => parse_prefix(p, max).ok_or_else(|| CidrError::Prefix(p.to_owned()))?,
        };
        let cidr = Cidr { net, prefix }.unmapped();
        let masked = cidr.masked();
        if masked != cidr {
            return Err(CidrError::HostBits(masked));
        }
        Ok(cidr)
    }
}

fn parse_prefix(p: &str, max: u8) -> Option<u8> {
    let digits = !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| p.parse::<u8>().ok())
        .flatten()
        .filter(|&n| n <= max)
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

impl Cidr {
    /// Whether `ip` (mapped IPv4 taken as IPv4) is inside this block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = v4_mask(self.prefix);
                u32::from(ip) & mask == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = v6_mask(self.prefix);
                u128::from(ip) & mask == u128::from(net)
            }
            _ => false,
        }
    }

    fn masked(self) -> Cidr {
        let net = match self.net {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & v4_mask(self.prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & v6_mask(self.prefix))),
        };
        Cidr { net, ..self }
    }

    fn unmapped(self) -> Cidr {
        match self.net {
            IpAddr::V6(a) if self.prefix >= 96 => match a.to_ipv4_mapped() {
                Some(v4) => Cidr {
                    net: IpAddr::V4(v4),
                    prefix: self.prefix - 96,
                },
                None => self,
            },
            _ => self,
        }
    }
}

fn v4_mask(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn v6_mask(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

/// The `--trusted-proxy` blocks; empty trusts no one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<Cidr>);

impl TrustedProxies {
    /// Whether `ip` is inside one of the blocks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The client's address, given the TCP peer and the raw values of all
    /// `X-Forwarded-For` headers in the order received (see the module
    /// docs). Mapped IPv4 comes back as IPv4.
    pub fn client_ip(&self, peer: IpAddr, xff: &[&[u8]]) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        let entries = xff
            .iter()
            .rev()
            .flat_map(|value| value.rsplit(|&b| b == b','))
            .map(<[u8]>::trim_ascii)
            // The HTTP list syntax allows empty elements (`a, , b`).
            .filter(|e| !e.is_empty())
            .take(MAX_WALK);
        let mut last_trusted = None;
        for entry in entries {
            let Some(ip) = parse_entry(entry) else {
                return peer;
            };
            if !self.contains(ip) {
                return ip;
            }
            last_trusted = Some(ip);
        }
        last_trusted.unwrap_or(peer)
    }
}

/// One `X-Forwarded-For` entry: `v4`, `v4:port`, `v6`, `[v6]`, `[v6]:port`.
fn parse_entry(entry: &[u8]) -> Option<IpAddr> {
    if entry.len() > MAX_ENTRY {
        return None;
    }
    let s = std::str::from_utf8(entry).ok()?;
    let ip = if let Some(rest) = s.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        if !after.is_empty() {
            port(after.strip_prefix(':')?)?;
        }
        IpAddr::V6(v6.parse().ok()?)
    } else if let Ok(ip) = s.parse::<IpAddr>() {
        ip
    } else {
        let (v4, p) = s.split_once(':')?;
        port(p)?;
        IpAddr::V4(v4.parse().ok()?)
    };
    Some(ip.to_canonical())
}

fn port(p: &str) -> Option<u16> {
    let digits = !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| p.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusted(cidrs: &[&str]) -> TrustedProxies {
        TrustedProxies(cidrs.iter().map(|c| c.parse().unwrap()).collect())
    }

    #[test]
    fn cidrs_parse_and_match() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains(ip("10.255.0.1")) && !c.contains(ip("11.0.0.0")));
        assert!(!c.contains(ip("::a00:1")), "IPv4-compatible is not IPv4");
        assert_eq!(c.to_string(), "10.0.0.0/8");
        let one: Cidr = "192.0.2.1".parse().unwrap();
        assert_eq!(one.to_string(), "192.0.2.1/32");
        assert!(one.contains(ip("192.0.2.1")) && !one.contains(ip("192.0.2.2")));
        let lo: Cidr = "::1".parse().unwrap();
        assert_eq!(lo, "::1/128".parse().unwrap());
        assert!(lo.contains(ip("::1")) && !lo.contains(ip("127.0.0.1")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")) && !v6.contains(ip("2001:db9::")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("255.255.255.255")) && !all.contains(ip("::2")));
        assert!("::/0".parse::<Cidr>().unwrap().contains(ip("2001:db8::1")));
    }

    #[test]
    fn mapped_addresses_match_ipv4_blocks() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains(ip("::ffff:10.0.0.1")));
        let mapped: Cidr = "::ffff:10.0.0.0/104".parse().unwrap();
        assert_eq!(mapped, c);
        assert!(mapped.contains(ip("10.1.2.3")));
    }

    #[test]
    fn bad_cidrs_are_refused_with_a_reason() {
        let err = |s: &str| s.parse::<Cidr>().unwrap_err();
        assert_eq!(err("10.0.0/8"), CidrError::Address("10.0.0".into()));
        assert_eq!(err("localhost"), CidrError::Address("localhost".into()));
        assert_eq!(err("10.0.0.0/33"), CidrError::Prefix("33".into()));
        assert_eq!(err("::/129"), CidrError::Prefix("129".into()));
        assert_eq!(err("10.0.0.0/"), CidrError::Prefix("".into()));
        assert_eq!(err("10.0.0.0/+8"), CidrError::Prefix("+8".into()));
        assert_eq!(err("10.0.0.0/08x"), CidrError::Prefix("08x".into()));
        let host = err("10.0.0.1/8");
        assert_eq!(host, CidrError::HostBits("10.0.0.0/8".parse().unwrap()));
        assert_eq!(
            host.to_string(),
            "host bits are set after the prefix (the network is 10.0.0.0/8)"
        );
        assert!(matches!(err("2001:db8::1/32"), CidrError::HostBits(_)));
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_the_header() {
        let t = trusted(&["10.0.0.0/8"]);
        let xff: &[&[u8]] = &[b"10.0.0.9, 192.0.2.1"];
        assert_eq!(t.client_ip(ip("198.51.100.7"), xff), ip("198.51.100.7"));
        assert_eq!(
            TrustedProxies::default().client_ip(ip("10.0.0.1"), xff),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn walk_from_the_right_skipping_trusted() {
        let t = trusted(&["10.0.0.0/8", "2001:db8::/32"]);
        let peer = ip("10.0.0.1");
        let cases: &[(&[&[u8]], &str)] = &[
            (&[b"192.0.2.1"], "192.0.2.1"),
            // The client lied about 203.0.113.5; the proxy appended it.
            (&[b"203.0.113.5, 192.0.2.1, 10.1.1.1"], "192.0.2.1"),
            // Headers in order, as one list.
            (
                &[b"203.0.113.5, 192.0.2.1", b"10.1.1.1, 10.2.2.2"],
                "192.0.2.1",
            ),
            (&[b"192.0.2.1", b"2001:db8::5"], "192.0.2.1"),
            // All trusted: the leftmost.
            (&[b"10.9.9.9,10.8.8.8", b"2001:db8::1"], "10.9.9.9"),
            // Spaces, empty elements, ports and brackets.
            (&[b"  192.0.2.1:5555 ,, 10.1.1.1  "], "192.0.2.1"),
            (&[b"[2001:db8:1::9]:443, [2001:db8::1]"], "2001:db8:1::9"),
            (&[b"2001:db9::1"], "2001:db9::1"),
            (&[b"::ffff:192.0.2.9"], "192.0.2.9"),
            // Missing, empty or malformed: the peer.
            (&[], "10.0.0.1"),
            (&[b""], "10.0.0.1"),
            (&[b" , "], "10.0.0.1"),
            (&[b"unknown"], "10.0.0.1"),
            (&[b"192.0.2.1, 10.1.1.1, bogus"], "10.0.0.1"),
            (&[b"192.0.2.1 10.1.1.1"], "10.0.0.1"),
            (&[b"192.0.2.1:99999"], "10.0.0.1"),
            (&[b"[192.0.2.1]"], "10.0.0.1"),
            (&[b"[2001:db8::1]x"], "10.0.0.1"),
            (&[b"fe80::1%eth0"], "10.0.0.1"),
            (&[b"192.0.2.\xff"], "10.0.0.1"),
            // Malformed left of an untrusted entry is never reached.
            (&[b"bogus, 192.0.2.1"], "192.0.2.1"),
        ];
        for (xff, want) in cases {
            assert_eq!(t.client_ip(peer, xff), ip(want), "{xff:?}");
        }
    }

    #[test]
    fn mapped_peer_is_trusted_by_its_ipv4_block() {
        let t = trusted(&["10.0.0.0/8"]);
        let xff: &[&[u8]] = &[b"192.0.2.1"];
        assert_eq!(t.client_ip(ip("::ffff:10.0.0.1"), xff), ip("192.0.2.1"));
        // And an untrusted mapped peer comes back as IPv4.
        assert_eq!(t.client_ip(ip("::ffff:192.0.2.3"), xff), ip("192.0.2.3"));
        assert_eq!(t.client_ip(ip("::ffff:10.0.0.1"), &[]), ip("10.0.0.1"));
    }

    #[test]
    fn walk_is_capped() {
        let t = trusted(&["10.0.0.0/8"]);
        let mut value = b"192.0.2.1".to_vec();
        for i in 0..MAX_WALK {
            value.extend_from_slice(format!(", 10.0.{}.{}", i / 256, i % 256).as_bytes());
        }
        // The untrusted address is entry 65 from the right: not reached;
        // the 64th, 10.0.0.0, is taken.
        assert_eq!(t.client_ip(ip("10.0.0.1"), &[&value]), ip("10.0.0.0"));
        let over = format!("192.0.2.1, {}", "1".repeat(MAX_ENTRY + 1));
        assert_eq!(
            t.client_ip(ip("10.0.0.1"), &[over.as_bytes()]),
            ip("10.0.0.1")
        );
    }
}
