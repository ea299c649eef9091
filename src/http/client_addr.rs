//! Who the client is: the address a request came from, for per-address limits.
//!
//! The socket's peer is the client, unless the peer is one of the configured trusted
//! proxies: then `X-Forwarded-For` is read from the right (each proxy appends the
//! address it was reached from), skipping trusted proxies, and the first address that
//! is not one is the client. Anyone else's `X-Forwarded-For` is ignored, so a client
//! cannot choose its own address by sending the header.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

/// The proxies whose `X-Forwarded-For` is believed (`http.trusted_proxies`): addresses
/// or CIDR networks.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

/// An entry of `http.trusted_proxies` that is neither an address nor a network.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not an IP address or a CIDR network (\"10.0.0.0/8\", \"2001:db8::1\")")]
pub struct NotANetwork(String);

impl TrustedProxies {
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, NotANetwork> {
        entries
            .into_iter()
            .map(|e| {
                let e = e.trim();
                IpNet::from_str(e)
                    .or_else(|_| IpAddr::from_str(e).map(IpNet::from))
                    .map(|n| n.trunc())
                    .map_err(|_| NotANetwork(e.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|n| n.contains(&ip))
    }
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let entries = Vec::<String>::deserialize(d)?;
        Self::parse(entries.iter().map(String::as_str)).map_err(serde::de::Error::custom)
    }
}

/// The client's address for a request from `peer` with `headers` (see the module).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let mut client = peer.to_canonical();
    if !trusted.contains(client) {
        return client;
    }
    let values: Vec<&[u8]> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    for value in values.iter().rev() {
        for entry in value.rsplit(|b| *b == b',') {
            // What a trusted proxy wrote but cannot be read stops the walk: the client is
            // then the last address known for sure.
            let Some(ip) = forwarded_entry(entry) else {
                return client;
            };
            client = ip;
            if !trusted.contains(ip) {
                return ip;
            }
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`) or in brackets.
fn forwarded_entry(entry: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(entry).ok()?.trim();
    IpAddr::from_str(s)
        .ok()
        .or_else(|| SocketAddr::from_str(s).ok().map(|a| a.ip()))
        .or_else(|| {
            s.strip_prefix('[')
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| IpAddr::from_str(r).ok())
        })
        .map(|ip| ip.to_canonical())
}

/// The client's address as [`client_ip`] found it when the request arrived; usable as
/// an extractor. Without the server's answer (a router driven by hand), the
/// unspecified address, which every such request shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Self::of(&parts.extensions))
    }
}

impl ClientAddr {
    pub fn of(extensions: &axum::http::Extensions) -> Self {
        extensions
            .get::<ClientAddr>()
            .copied()
            .unwrap_or(ClientAddr(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        IpAddr::from_str(s).expect("address")
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let trusted = TrustedProxies::parse(["10.0.0.0/8"]).expect("list");
        let h = forwarded(&["198.51.100.1"]);
        assert_eq!(
            client_ip(ip("203.0.113.9"), &h, &trusted),
            ip("203.0.113.9")
        );
        let none = TrustedProxies::default();
        assert_eq!(client_ip(ip("10.1.1.1"), &h, &none), ip("10.1.1.1"));
    }

    #[test]
    fn a_trusted_proxy_names_the_client_right_to_left() {
        let trusted = TrustedProxies::parse(["10.0.0.0/8", "192.0.2.7"]).expect("list");
        // The left entries are the client's own claim; the proxy appended the last one.
        let h = forwarded(&["1.1.1.1, 198.51.100.1"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("198.51.100.1"));
        // Two trusted hops, the header split over two lines.
        let h = forwarded(&["1.1.1.1, 198.51.100.1", "192.0.2.7"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("198.51.100.1"));
        // Ports and brackets.
        let h = forwarded(&["[2001:db8::5]:443"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("2001:db8::5"));
        let h = forwarded(&["198.51.100.3:5000"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("198.51.100.3"));
        // IPv4 written as IPv6 is IPv4.
        assert_eq!(
            client_ip(
                ip("::ffff:10.0.0.2"),
                &forwarded(&["::ffff:198.51.100.4"]),
                &trusted
            ),
            ip("198.51.100.4")
        );
    }

    #[test]
    fn unreadable_or_missing_forwarding_stops_at_the_last_known_hop() {
        let trusted = TrustedProxies::parse(["10.0.0.0/8"]).expect("list");
        assert_eq!(
            client_ip(ip("10.0.0.2"), &HeaderMap::new(), &trusted),
            ip("10.0.0.2")
        );
        let h = forwarded(&["198.51.100.1, unknown, 10.0.0.9"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("10.0.0.9"));
        // Every hop trusted: the left-most.
        let h = forwarded(&["10.0.0.8, 10.0.0.9"]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("10.0.0.8"));
    }

    #[test]
    fn the_list_takes_addresses_and_networks_and_refuses_the_rest() {
        let t = TrustedProxies::parse(["127.0.0.1", "fd00::/8", "192.168.1.77/24"]).expect("ok");
        assert!(t.contains(ip("127.0.0.1")));
        assert!(!t.contains(ip("127.0.0.2")));
        assert!(t.contains(ip("fd12::1")));
        assert!(t.contains(ip("192.168.1.3")));
        assert!(TrustedProxies::parse(["proxy.local"]).is_err());
        assert!(TrustedProxies::parse(["10.0.0.0/33"]).is_err());
    }
}
