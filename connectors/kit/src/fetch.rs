//! Downloading what a provider's payload links to (photos, attachments).
//!
//! A link in a payload is chosen by whoever wrote the message, so a download must not
//! become a way into the daemon's own network (SSRF). A [`Fetcher`] therefore:
//!
//! * speaks `https` only, to hosts on the provider's allow-list (a suffix match on a
//!   dot boundary: `fbcdn.net` allows `scontent.xx.fbcdn.net`, not `evilfbcdn.net`);
//! * checks every redirect hop against the same rules;
//! * connects only to public addresses: names are resolved by a resolver that refuses a
//!   host with any loopback, private, link-local, unique-local, unspecified, multicast,
//!   shared (CGNAT), documentation or otherwise reserved address, so what is checked is
//!   what is connected to;
//! * ignores proxy settings from the environment (a proxy would resolve the name
//!   itself, out of reach of the check);
//! * caps the size, whether or not the server announces a length, and the time.
//!
//! Tests serve media from plain `http` on loopback; [`FetchPolicy::allow_loopback_http`]
//! opens exactly that and nothing else, and nothing turns it on by default.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

/// Redirect hops followed at most (each one checked).
const MAX_REDIRECTS: usize = 5;

/// Where downloads may go.
#[derive(Debug, Clone, Default)]
pub struct FetchPolicy {
    /// Lowercase host names (or, for tests, IP literals), no leading or trailing dot.
    hosts: Vec<String>,
    /// Plain `http`, to `localhost` or a loopback address only.
    plain_http_to_loopback: bool,
    /// Loopback addresses pass the address check.
    loopback: bool,
}

impl FetchPolicy {
    /// Downloads from `hosts` and their subdomains, over https, to public addresses.
    pub fn new<I, S>(hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let hosts = hosts
            .into_iter()
            .map(|h| h.as_ref().trim().trim_matches('.').to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        Self {
            hosts,
            ..Self::default()
        }
    }

    /// FOR TESTS ONLY: also plain `http` to `localhost` or a loopback address, and
    /// loopback addresses (the hosts must still be on the list).
    pub fn allow_loopback_http(mut self, on: bool) -> Self {
        self.plain_http_to_loopback = on;
        self.loopback = on;
        self
    }

    /// FOR TESTS ONLY: plain `http` to `localhost`, while the address check stays strict
    /// (shows that a name is refused by what it resolves to).
    pub fn allow_plain_http_only(mut self, on: bool) -> Self {
        self.plain_http_to_loopback = on;
        self
    }

    /// The first entry of a configured host list that is not a bare host name (a
    /// scheme, a path, a port or a wildcard would never match what the user meant).
    pub fn bad_host(hosts: &[String]) -> Option<&str> {
        hosts.iter().map(String::as_str).find(|h| {
            let h = h.trim().trim_matches('.');
            h.is_empty()
                || !h
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        })
    }

    fn host_listed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.hosts.iter().any(|h| {
            host == *h
                || host
                    .strip_suffix(h.as_str())
                    .is_some_and(|rest| rest.ends_with('.'))
        })
    }

    /// Whether `url` may be requested: scheme, host on the list, and an address given
    /// as a literal checked here (a literal is never resolved, so the resolver never
    /// sees it).
    pub fn check(&self, url: &Url) -> Result<(), String> {
        let host = url.host_str().ok_or("a link without a host")?;
        let literal = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok();
        let loopback_host = host.eq_ignore_ascii_case("localhost")
            || literal.is_some_and(|a| canonical(a).is_loopback());
        match url.scheme() {
            "https" => {}
            "http" if self.plain_http_to_loopback && loopback_host => {}
            other => return Err(format!("{other}:// links are not downloaded, only https")),
        }
        let shown = literal.map_or_else(|| host.to_owned(), |a| a.to_string());
        if !self.host_listed(&shown) {
            return Err(format!("host {shown} is not on the list of media hosts"));
        }
        if let Some(a) = literal {
            if !self.address_allowed(a) {
                return Err(format!("address {a} is not public"));
            }
        }
        Ok(())
    }

    fn address_allowed(&self, a: IpAddr) -> bool {
        is_public(a) || (self.loopback && canonical(a).is_loopback())
    }
}

/// An IPv4 address written in IPv6 (mapped `::ffff:a.b.c.d`) as the IPv4 address.
fn canonical(a: IpAddr) -> IpAddr {
    match a {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `a` is a globally reachable unicast address: not loopback, private,
/// link-local, unique-local, unspecified, multicast, shared (RFC 6598, CGNAT),
/// documentation, benchmarking or reserved, and not an IPv6 form of one of those.
pub fn is_public(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(a: Ipv4Addr) -> bool {
    let [o0, o1, o2, _] = a.octets();
    !(o0 == 0 // "this network", 0.0.0.0
        || o0 == 10
        || o0 == 127
        || (o0 == 100 && (64..128).contains(&o1)) // shared address space (CGNAT)
        || (o0 == 169 && o1 == 254)
        || (o0 == 172 && (16..32).contains(&o1))
        || (o0 == 192 && o1 == 0 && o2 == 0) // IETF protocol assignments
        || (o0 == 192 && o1 == 0 && o2 == 2) // TEST-NET-1
        || (o0 == 192 && o1 == 88 && o2 == 99) // 6to4 relay anycast
        || (o0 == 192 && o1 == 168)
        || (o0 == 198 && (18..20).contains(&o1)) // benchmarking
        || (o0 == 198 && o1 == 51 && o2 == 100) // TEST-NET-2
        || (o0 == 203 && o1 == 0 && o2 == 113) // TEST-NET-3
        || o0 >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(a: Ipv6Addr) -> bool {
    if let Some(v4) = a.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = a.segments();
    // Forms that carry an IPv4 address, which must itself be public: NAT64 (RFC 6052)
    // and 6to4 (RFC 3056).
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return is_public_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    if s[0] == 0x2002 {
        return is_public_v4(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    !(s[0..6] == [0, 0, 0, 0, 0, 0] // ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d
        || s[0] == 0x0100 && s[1..4] == [0, 0, 0] // discard-only 100::/64
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        || (s[0] & 0xff00) == 0xff00 // multicast
        || (s[0] == 0x2001 && s[1] < 0x0200) // IETF protocol assignments (Teredo, ORCHID…)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x3fff && s[1] < 0x1000)) // documentation (RFC 9637)
}

/// Resolves with the system resolver and refuses a name if any of its addresses is not
/// allowed: a CDN never answers with a private address, and a name that does is not to
/// be trusted with the others either.
#[derive(Debug)]
struct PublicOnly {
    loopback: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let loopback = self.loopback;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed = |a: IpAddr| is_public(a) || (loopback && canonical(a).is_loopback());
            if let Some(bad) = found.iter().find(|s| !allowed(s.ip())) {
                return Err(Box::new(Refused(format!(
                    "host {host} resolves to {}, which is not public",
                    bad.ip()
                )))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            if found.is_empty() {
                return Err(Box::new(Refused(format!("host {host} has no address"))) as _);
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// A client for requests to a configured endpoint (a forwarder's): the scheme and the
/// address checks of [`FetchPolicy`], no proxy from the environment, `timeout` on the
/// connection and on the whole exchange, and no redirect followed: an endpoint that
/// answers with one is reported, so its operator configures where it now lives. Check
/// each URL with [`FetchPolicy::check`] before the request.
pub fn endpoint_client(policy: &FetchPolicy, timeout: Duration) -> Result<reqwest::Client, String> {
    checked_client(policy, timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())
}

/// What every client under a [`FetchPolicy`] has: the scheme and the address check,
/// no proxy from the environment, and `timeout` on the connection and the exchange.
fn checked_client(policy: &FetchPolicy, timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("aduan/", env!("CARGO_PKG_VERSION")))
        .no_proxy()
        .https_only(!policy.plain_http_to_loopback)
        .dns_resolver(Arc::new(PublicOnly {
            loopback: policy.loopback,
        }))
}

/// Downloads under a [`FetchPolicy`], with a size cap and a time limit.
pub struct Fetcher {
    client: reqwest::Client,
    policy: Arc<FetchPolicy>,
    max_bytes: usize,
}

/// The error and what caused it (call it on `e.without_url()` where the URL may carry
/// a signature or a key).
pub fn describe(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        source = s.source();
    }
    out
}

impl Fetcher {
    pub fn new(policy: FetchPolicy, timeout: Duration, max_bytes: usize) -> Result<Self, String> {
        let policy = Arc::new(policy);
        let hops = policy.clone();
        let client = checked_client(&policy, timeout)
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= MAX_REDIRECTS {
                    return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
                }
                match hops.check(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(why) => attempt.error(format!("redirect refused: {why}")),
                }
            }))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            policy,
            max_bytes,
        })
    }

    /// `GET url`: the content type and the bytes, or why not (`what` names the thing in
    /// the message). More than the cap is refused, by `Content-Length` up front and
    /// while reading. Messages never carry the query string, where CDNs put their
    /// signatures.
    pub async fn download(&self, what: &str, url: &str) -> Result<(String, Bytes), String> {
        self.fetch(what, url, None, url.split('?').next().unwrap_or(url))
            .await
    }

    /// [`Fetcher::download`] for a link that holds a secret in its path (Telegram puts
    /// the bot token there): messages name it `shown` instead.
    pub async fn download_shown(
        &self,
        what: &str,
        url: &str,
        shown: &str,
    ) -> Result<(String, Bytes), String> {
        self.fetch(what, url, None, shown).await
    }

    /// [`Fetcher::download`] with `token` in the `Authorization: Bearer` header, for a
    /// provider that serves media only to its API clients (WhatsApp). The token goes
    /// only where the policy allows, and reqwest drops the header on a redirect to
    /// another host.
    pub async fn download_with_token(
        &self,
        what: &str,
        url: &str,
        token: &str,
    ) -> Result<(String, Bytes), String> {
        self.fetch(what, url, Some(token), url.split('?').next().unwrap_or(url))
            .await
    }

    async fn fetch(
        &self,
        what: &str,
        url: &str,
        bearer: Option<&str>,
        shown: &str,
    ) -> Result<(String, Bytes), String> {
        let parsed = Url::parse(url).map_err(|e| format!("{what} {shown}: not a link: {e}"))?;
        self.policy
            .check(&parsed)
            .map_err(|why| format!("{what} {shown}: {why}"))?;
        let max_bytes = self.max_bytes;
        let failed = |e: reqwest::Error| format!("{what} {shown}: {}", describe(&e.without_url()));
        let too_big = || format!("{what} {shown}: larger than {max_bytes} bytes");
        let mut req = self.client.get(parsed);
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        let mut res = req.send().await.map_err(failed)?;
        if !res.status().is_success() {
            return Err(format!("{what} {shown}: {}", res.status()));
        }
        if res.content_length().is_some_and(|n| n > max_bytes as u64) {
            return Err(too_big());
        }
        let ctype = res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        let mut buf = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(failed)? {
            if buf.len() + chunk.len() > max_bytes {
                return Err(too_big());
            }
            buf.extend_from_slice(&chunk);
        }
        Ok((ctype, Bytes::from(buf)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn url(s: &str) -> Url {
        Url::parse(s).expect("url")
    }

    #[test]
    fn hosts_match_on_a_dot_boundary_over_https_only() {
        let p = FetchPolicy::new(["fbcdn.net", "pbs.twimg.com."]);
        assert!(p.check(&url("https://fbcdn.net/a.jpg")).is_ok());
        assert!(p
            .check(&url("https://scontent.xx.fbcdn.net/a.jpg?sig=1"))
            .is_ok());
        assert!(p.check(&url("https://PBS.twimg.com/media/a.jpg")).is_ok());
        assert!(p.check(&url("https://evilfbcdn.net/a.jpg")).is_err());
        assert!(p.check(&url("https://fbcdn.net.evil.com/a.jpg")).is_err());
        assert!(p.check(&url("https://video.twimg.com/a.mp4")).is_err());
        let http = p.check(&url("http://fbcdn.net/a.jpg")).unwrap_err();
        assert!(http.contains("only https"), "{http}");
        assert!(p.check(&url("ftp://fbcdn.net/a.jpg")).is_err());
        assert!(p.check(&url("file:///etc/passwd")).is_err());
    }

    #[test]
    fn configured_hosts_must_be_bare_names() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            FetchPolicy::bad_host(&list(&["fbcdn.net", "127.0.0.1"])),
            None
        );
        for bad in [
            "https://fbcdn.net",
            "*.fbcdn.net",
            "fbcdn.net/x",
            "host:443",
            "",
        ] {
            assert_eq!(FetchPolicy::bad_host(&list(&["ok.com", bad])), Some(bad));
        }
    }

    #[test]
    fn address_literals_are_checked_even_when_listed() {
        let p = FetchPolicy::new(["127.0.0.1", "10.0.0.1", "[::1]", "::1", "93.184.215.14"]);
        for bad in [
            "https://127.0.0.1/x",
            "https://10.0.0.1/x",
            "https://[::1]/x",
            "https://[::ffff:127.0.0.1]/x",
        ] {
            assert!(p.check(&url(bad)).is_err(), "{bad}");
        }
        assert!(p.check(&url("https://93.184.215.14/x")).is_ok());
        // The test switch opens http to loopback, and nothing else.
        let t = FetchPolicy::new(["127.0.0.1", "localhost", "10.0.0.1"]).allow_loopback_http(true);
        assert!(t.check(&url("http://127.0.0.1:8080/x")).is_ok());
        assert!(t.check(&url("http://localhost:8080/x")).is_ok());
        assert!(t.check(&url("http://10.0.0.1/x")).is_err());
        assert!(t.check(&url("https://10.0.0.1/x")).is_err());
    }

    #[test]
    fn only_public_addresses_pass() {
        let refused = [
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.0.9",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:c0a8:0101::1",
            "100::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001::1",
            "2001:db8::1",
            "3fff::1",
        ];
        for a in refused {
            let ip: IpAddr = a.parse().expect(a);
            assert!(!is_public(ip), "{a} passed");
        }
        let public = [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "157.240.1.1",
            "172.32.0.1",
            "192.0.1.1",
            "223.255.255.255",
            "2a03:2880:f12f::1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:0808:0808::1",
        ];
        for a in public {
            let ip: IpAddr = a.parse().expect(a);
            assert!(is_public(ip), "{a} refused");
        }
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_that_resolves_to_loopback() {
        let strict = PublicOnly { loopback: false };
        let name: Name = "localhost".parse().expect("name");
        let err = match strict.resolve(name).await {
            Ok(addrs) => panic!("localhost resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("not public"), "{err}");
        let tests = PublicOnly { loopback: true };
        let name: Name = "localhost".parse().expect("name");
        assert!(tests.resolve(name).await.is_ok());
    }

    /// A server on loopback answering every request with `reply`.
    async fn serve(reply: &'static str) -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = l.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(reply.as_bytes()).await;
            }
        });
        port
    }

    #[tokio::test]
    async fn a_listed_name_that_resolves_to_loopback_is_never_connected_to() {
        let port =
            serve("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
        let f = Fetcher::new(
            FetchPolicy::new(["localhost"]).allow_plain_http_only(true),
            Duration::from_secs(5),
            1024,
        )
        .expect("fetcher");
        let err = f
            .download("media", &format!("http://localhost:{port}/a.png"))
            .await
            .unwrap_err();
        assert!(err.contains("not public"), "{err}");
        // The same server, with loopback allowed for tests: the download works, so the
        // refusal above was the address check.
        let t = Fetcher::new(
            FetchPolicy::new(["localhost"]).allow_loopback_http(true),
            Duration::from_secs(5),
            1024,
        )
        .expect("fetcher");
        let got = t
            .download("media", &format!("http://localhost:{port}/a.png"))
            .await;
        assert_eq!(got.map(|(_, b)| b), Ok(Bytes::from_static(b"ok")));
    }

    #[tokio::test]
    async fn every_redirect_hop_is_checked() {
        let port = serve(
            "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:9/secret\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        )
        .await;
        let f = Fetcher::new(
            FetchPolicy::new(["localhost"]).allow_loopback_http(true),
            Duration::from_secs(5),
            1024,
        )
        .expect("fetcher");
        let err = f
            .download(
                "media",
                &format!("http://localhost:{port}/a.png?sig=rahasia"),
            )
            .await
            .unwrap_err();
        assert!(
            err.contains("redirect refused") && err.contains("127.0.0.1"),
            "{err}"
        );
        assert!(!err.contains("rahasia"), "{err}");
    }
    /// A server on loopback that answers with `reply` and hands over each request it
    /// read.
    async fn recording(reply: String) -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = l.local_addr().expect("addr").port();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let _ = tx.send(String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase());
                let _ = s.write_all(reply.as_bytes()).await;
            }
        });
        (port, rx)
    }

    #[tokio::test]
    async fn a_token_goes_in_the_header_and_not_across_a_redirect_to_another_host() {
        let (other, mut other_seen) =
            recording("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".into())
                .await;
        let (first, mut first_seen) = recording(format!(
            "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{other}/b\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        ))
        .await;
        let f = Fetcher::new(
            FetchPolicy::new(["localhost", "127.0.0.1"]).allow_loopback_http(true),
            Duration::from_secs(5),
            1024,
        )
        .expect("fetcher");
        let got = f
            .download_with_token("media", &format!("http://localhost:{first}/a"), "tok-123")
            .await;
        assert_eq!(got.map(|(_, b)| b), Ok(Bytes::from_static(b"ok")));
        let first_req = first_seen.recv().await.expect("first request");
        assert!(
            first_req.contains("authorization: bearer tok-123"),
            "{first_req}"
        );
        let other_req = other_seen.recv().await.expect("redirected request");
        assert!(!other_req.contains("authorization"), "{other_req}");
        assert!(!other_req.contains("tok-123"), "{other_req}");
    }
}
