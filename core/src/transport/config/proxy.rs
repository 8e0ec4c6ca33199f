//! Which HTTP proxy a request goes through, by the rules of the Go client the Vault and
//! OpenBao CLIs are built on, so that a client in the same shell reaches the server the same
//! way the CLI does.
//!
//! Go's `http.ProxyFromEnvironment` picks `HTTPS_PROXY` for an `https` address and
//! `HTTP_PROXY` for an `http` one (the upper-case name first, then the lower-case one), skips
//! the hosts `NO_PROXY` names, and never proxies `localhost` or a loopback address. Vault's
//! own `VAULT_HTTP_PROXY` (and `VAULT_PROXY_ADDR`, which supersedes it) sends every request
//! through one proxy, `NO_PROXY` and loopback included.
//!
//! How a request goes through the proxy is decided here too, without I/O, so that both
//! transports go the same way: an `https` server through a `CONNECT` tunnel
//! ([`Proxy::connect_request`], [`Proxy::tunnel_answer`] and its [`TunnelAnswer`](super::TunnelAnswer)), an `http` one with each request in
//! absolute form to the proxy; both with [`Proxy::authorization`] from the URL's user
//! information. Only an `http://` proxy is supported ([`Proxy::host_and_port`]).

use base64::Engine as _;
use http::Uri;
use std::fmt;
use std::net::IpAddr;
use zeroize::{Zeroize, Zeroizing};

use crate::transport::{TransportError, TransportErrorKind};

/// An HTTP proxy and the hosts that bypass it.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    url: String,
    bypass: Bypass,
    source: &'static str,
}

/// The hosts that go around the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Bypass {
    /// Nothing: every request goes through the proxy (Vault's own proxy variables).
    Nothing,
    /// Loopback always, and what a `NO_PROXY` list names.
    NoProxy(Vec<String>),
}

impl Proxy {
    /// Every request through `url` (`http://host:port`; a URL without scheme is taken as
    /// `http://`), with no host bypassing it.
    pub fn all(url: impl Into<String>) -> Self {
        Self {
            url: with_scheme(url.into()),
            bypass: Bypass::Nothing,
            source: "proxy",
        }
    }

    /// As Go's `ProxyFromEnvironment`: through `url`, except to loopback and the hosts the
    /// comma-separated `no_proxy` list names (`*`, a host, `.domain`, `*.domain`, an IP, a CIDR
    /// range, each optionally with `:port`).
    pub fn with_no_proxy(url: impl Into<String>, no_proxy: &str) -> Self {
        Self {
            url: with_scheme(url.into()),
            bypass: Bypass::NoProxy(
                no_proxy
                    .split(',')
                    .map(|entry| entry.trim().to_ascii_lowercase())
                    .filter(|entry| !entry.is_empty())
                    .collect(),
            ),
            source: "proxy",
        }
    }

    pub(super) fn named_by(mut self, name: &'static str) -> Self {
        self.source = name;
        self
    }

    /// The proxy's URL, credentials included: give it to the HTTP stack, never to a log.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where the setting came from: the variable's name, or `proxy` for an explicit option.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// The `NO_PROXY` entries, lower-cased; empty when every request goes through the proxy.
    pub fn no_proxy(&self) -> &[String] {
        match &self.bypass {
            Bypass::Nothing => &[],
            Bypass::NoProxy(list) => list,
        }
    }

    /// Whether a request to `host` (a name or an IP, brackets allowed) on `port` goes through
    /// the proxy.
    pub fn applies_to(&self, host: &str, port: u16) -> bool {
        let list = match &self.bypass {
            Bypass::Nothing => return true,
            Bypass::NoProxy(list) => list,
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let ip = host.parse::<IpAddr>().ok();
        if host == "localhost" || ip.is_some_and(|ip| ip.is_loopback()) {
            return false;
        }
        !list.iter().any(|entry| bypasses(entry, &host, ip, port))
    }

    /// Whether a request to `uri` goes through the proxy: [`applies_to`](Self::applies_to)
    /// its host and port (the scheme's default port when it names none).
    pub fn applies_to_uri(&self, uri: &Uri) -> bool {
        let Some(host) = uri.host() else {
            return false;
        };
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        self.applies_to(host, port)
    }

    /// The longest answer to `CONNECT` read before giving up on the proxy: a proxy's answer
    /// is a few lines, and one that never ends must not be read forever.
    pub const MAX_TUNNEL_ANSWER: usize = 16 * 1024;

    /// The proxy's `host:port` to connect to (port 80 when the URL names none, as Go's
    /// default). Only an `http://` proxy is supported: the Go client's `https://` and
    /// `socks5://` ones are refused with a [`Config`](TransportErrorKind::Config) error
    /// rather than bypassed, as is a URL without a host.
    pub fn host_and_port(&self) -> Result<String, TransportError> {
        let refused = |why: &str| {
            TransportError::new(
                TransportErrorKind::Config,
                format!("proxy from {}: {why}", self.source),
            )
        };
        let Some((_, host_and_port)) = self.authority() else {
            return Err(refused(
                "only an http:// proxy is supported (a CONNECT proxy reached over plain HTTP)",
            ));
        };
        if host_and_port.is_empty() {
            return Err(refused("the proxy URL names no host"));
        }
        Ok(if has_port(host_and_port) {
            host_and_port.to_string()
        } else {
            format!("{host_and_port}:80")
        })
    }

    /// The `Proxy-Authorization` value for the URL's user information (percent-decoded, as
    /// Go's `url.Parse` reads it): `Basic <base64 of user:password>`. A secret: it goes to
    /// the proxy on the tunnel's request or on every forwarded one, never to a log.
    pub fn authorization(&self) -> Option<Zeroizing<String>> {
        let (user_info, _) = self.authority()?;
        let user_info = user_info?;
        let (user, password) = user_info.split_once(':').unwrap_or((user_info, ""));
        let mut plain = Zeroizing::new(percent_decode(user));
        plain.push(b':');
        let mut password = percent_decode(password);
        plain.extend_from_slice(&password);
        password.zeroize();
        let mut value = Zeroizing::new(String::from("Basic "));
        base64::engine::general_purpose::STANDARD.encode_string(plain.as_slice(), &mut value);
        Some(value)
    }

    /// The head of the `CONNECT` request that opens a tunnel to `uri`'s host and port, with
    /// the proxy's credentials when its URL has them (so it is wiped when dropped).
    pub fn connect_request(&self, uri: &Uri) -> Result<Zeroizing<String>, TransportError> {
        let target = tunnel_target(uri)?;
        let mut head = Zeroizing::new(format!(
            "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: {}\r\n",
            super::USER_AGENT
        ));
        if let Some(authorization) = self.authorization() {
            head.push_str("Proxy-Authorization: ");
            head.push_str(&authorization);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        Ok(head)
    }

    /// The user information (if any) and `host[:port]` of an `http://` URL.
    fn authority(&self) -> Option<(Option<&str>, &str)> {
        let rest = self.url.strip_prefix("http://")?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        Some(match authority.rsplit_once('@') {
            Some((user_info, host)) => (Some(user_info), host),
            None => (None, authority),
        })
    }

    /// The proxy's host and port as an error may show them: no user information.
    pub(super) fn shown_host(&self) -> String {
        self.host_and_port()
            .unwrap_or_else(|_| redacted_url(&self.url))
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("url", &redacted_url(&self.url))
            .field("no_proxy", &self.no_proxy())
            .field("source", &self.source)
            .finish()
    }
}

fn with_scheme(url: String) -> String {
    if url.contains("://") {
        url
    } else {
        format!("http://{url}")
    }
}

/// The URL with the password of its user information, if any, replaced.
fn redacted_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split(':').next().unwrap_or_default();
            format!(
                "{scheme}://{user}:<redacted>@{host}{}",
                &rest[authority_end..]
            )
        }
        None => url.to_string(),
    }
}

/// `host:port` of a tunnel to `uri` (an IPv6 address in brackets).
pub(super) fn tunnel_target(uri: &Uri) -> Result<String, TransportError> {
    let host = uri.host().ok_or_else(|| {
        TransportError::new(
            TransportErrorKind::Config,
            format!("no host to open a tunnel to: {uri}"),
        )
    })?;
    let port = uri.port_u16().unwrap_or(443);
    Ok(if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    })
}

/// The status of `HTTP/1.x NNN reason`, if the line is one.
pub(super) fn parse_status_line(line: &[u8]) -> Option<u16> {
    let rest = line
        .strip_prefix(b"HTTP/1.")
        .filter(|rest| rest.first().is_some_and(u8::is_ascii_digit))?;
    let code = rest.get(2..5)?;
    let after = rest.get(5);
    if rest.get(1) != Some(&b' ')
        || !code.iter().all(u8::is_ascii_digit)
        || after.is_some_and(|&b| b != b' ')
    {
        return None;
    }
    std::str::from_utf8(code).ok()?.parse().ok()
}

/// A line from the proxy as an error may show it: printable, and not too long.
pub(super) fn shown(line: &[u8]) -> String {
    const LONGEST: usize = 120;
    let text: String = String::from_utf8_lossy(line)
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(LONGEST + 1)
        .collect();
    if text.chars().count() > LONGEST {
        format!("{}...", text.chars().take(LONGEST).collect::<String>())
    } else {
        text.trim().to_string()
    }
}

fn has_port(host_and_port: &str) -> bool {
    match host_and_port.rsplit_once(':') {
        // `[::1]` alone has a colon but no port.
        Some((host, port)) => {
            !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!host.contains(':') || host.ends_with(']'))
        }
        None => false,
    }
}

/// `%XX` sequences decoded, as Go's `url.Parse` does for user information.
fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: Option<&u8>| b.and_then(|&b| (b as char).to_digit(16));
        match (bytes[i], hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Whether one `NO_PROXY` entry covers `host:port`.
fn bypasses(entry: &str, host: &str, ip: Option<IpAddr>, port: u16) -> bool {
    if entry == "*" {
        return true;
    }
    if let Some((network, bits)) = entry.split_once('/') {
        return match (network.parse::<IpAddr>(), bits.parse::<u8>(), ip) {
            (Ok(network), Ok(bits), Some(ip)) => in_range(network, bits, ip),
            _ => false,
        };
    }
    let (name, entry_port) = split_port(entry);
    if entry_port.is_some_and(|p| p != port) {
        return false;
    }
    let name = name.trim_start_matches('[').trim_end_matches(']');
    if let Ok(entry_ip) = name.parse::<IpAddr>() {
        return ip == Some(entry_ip);
    }
    let name = name.strip_prefix('*').unwrap_or(name);
    match name.strip_prefix('.') {
        // `.example.com` covers the subdomains only.
        Some(suffix) => host.ends_with(&format!(".{suffix}")),
        // `example.com` covers the domain and its subdomains.
        None => host == name || host.ends_with(&format!(".{name}")),
    }
}

fn split_port(entry: &str) -> (&str, Option<u16>) {
    // An IPv6 address without brackets has colons of its own and no port.
    if entry.parse::<IpAddr>().is_ok() {
        return (entry, None);
    }
    match entry.rsplit_once(':') {
        Some((name, port)) => match port.parse() {
            Ok(port) => (name, Some(port)),
            Err(_) => (entry, None),
        },
        None => (entry, None),
    }
}

fn in_range(network: IpAddr, bits: u8, ip: IpAddr) -> bool {
    match (network, ip) {
        (IpAddr::V4(network), IpAddr::V4(ip)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(network) & mask == u32::from(ip) & mask
        }
        (IpAddr::V6(network), IpAddr::V6(ip)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(network) & mask == u128::from(ip) & mask
        }
        _ => false,
    }
}

/// Reads the first set variable of a list: its name and value.
pub(super) type EnvReader<'a> = &'a dyn Fn(&[&'static str]) -> Option<(&'static str, String)>;

/// The proxy the environment names for an address of `scheme`, as Go's client reads it:
/// `BAO_PROXY_ADDR`/`VAULT_PROXY_ADDR`, then `BAO_HTTP_PROXY`/`VAULT_HTTP_PROXY` (every
/// request), then `HTTPS_PROXY` or `HTTP_PROXY` by scheme with `NO_PROXY`.
pub(super) fn from_env(read: EnvReader<'_>, https: bool) -> Option<Proxy> {
    if let Some((name, url)) = read(&[
        "BAO_PROXY_ADDR",
        "VAULT_PROXY_ADDR",
        "BAO_HTTP_PROXY",
        "VAULT_HTTP_PROXY",
    ]) {
        return Some(Proxy::all(url).named_by(name));
    }
    let names: &[&'static str] = if https {
        &["HTTPS_PROXY", "https_proxy"]
    } else if read(&["REQUEST_METHOD"]).is_some() {
        // As Go: under CGI, `HTTP_PROXY` is a request's `Proxy:` header, not a setting.
        &["http_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy"]
    };
    let (name, url) = read(names)?;
    let no_proxy = read(&["NO_PROXY", "no_proxy"])
        .map(|(_, list)| list)
        .unwrap_or_default();
    Some(Proxy::with_no_proxy(url, &no_proxy).named_by(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_entries_as_go_reads_them() {
        let proxy = Proxy::with_no_proxy(
            "proxy:3128",
            " Example.com, .internal ,10.0.0.0/8, 192.168.1.7, vault.corp:8200, *.wild, [::2]:8200, fd00::/8",
        );
        assert_eq!(proxy.url(), "http://proxy:3128");
        let via = |host: &str, port: u16| proxy.applies_to(host, port);
        // Loopback and localhost never go through a proxy.
        assert!(!via("localhost", 8200));
        assert!(!via("127.0.0.5", 8200));
        assert!(!via("[::1]", 8200));
        // A domain covers itself and its subdomains; a leading dot only the subdomains.
        assert!(!via("example.com", 443));
        assert!(!via("vault.EXAMPLE.com.", 443));
        assert!(via("notexample.com", 443));
        assert!(via("internal", 443));
        assert!(!via("a.internal", 443));
        assert!(!via("b.wild", 443));
        // CIDR ranges and IPs; a port narrows an entry to it.
        assert!(!via("10.1.2.3", 8200));
        assert!(via("11.1.2.3", 8200));
        assert!(!via("192.168.1.7", 1));
        assert!(via("192.168.1.8", 1));
        assert!(!via("vault.corp", 8200));
        assert!(via("vault.corp", 8201));
        assert!(!via("[::2]", 8200));
        assert!(via("[::2]", 8201));
        assert!(!via("fd00::9", 1));
        assert!(via("fe80::9", 1));
        assert!(!Proxy::with_no_proxy("p", "*").applies_to("anything", 1));
        // Vault's own proxy variables send everything through, loopback included.
        assert!(Proxy::all("p").applies_to("127.0.0.1", 8200));
    }

    #[test]
    fn environment_order_and_scheme() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |names: &[&'static str]| {
                names.iter().find_map(|name| {
                    pairs
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(n, v)| (*n, v.to_string()))
                })
            }
        };
        let env = vars(&[
            ("HTTPS_PROXY", "https-proxy:1"),
            ("http_proxy", "http-proxy:2"),
            ("no_proxy", "skip.me"),
        ]);
        let https = from_env(&env, true).unwrap();
        assert_eq!(
            (https.url(), https.source()),
            ("http://https-proxy:1", "HTTPS_PROXY")
        );
        assert!(!https.applies_to("skip.me", 443));
        let http = from_env(&env, false).unwrap();
        assert_eq!(
            (http.url(), http.source()),
            ("http://http-proxy:2", "http_proxy")
        );
        let env = vars(&[
            ("HTTPS_PROXY", "https-proxy:1"),
            ("VAULT_HTTP_PROXY", "vault-proxy:3"),
            ("VAULT_PROXY_ADDR", "http://addr-proxy:4"),
        ]);
        let all = from_env(&env, true).unwrap();
        assert_eq!(
            (all.url(), all.source()),
            ("http://addr-proxy:4", "VAULT_PROXY_ADDR")
        );
        assert!(all.applies_to("127.0.0.1", 8200));
        let cgi = vars(&[
            ("HTTP_PROXY", "from-a-request:1"),
            ("REQUEST_METHOD", "GET"),
        ]);
        assert_eq!(from_env(&cgi, false), None);
        assert_eq!(from_env(&vars(&[]), true), None);
    }

    #[test]
    fn credentials_are_decoded_and_the_port_defaults_as_go() {
        let proxy = Proxy::all("http://ops%40corp:s3cr%3At@proxy.example:3128/");
        assert_eq!(proxy.host_and_port().unwrap(), "proxy.example:3128");
        // base64 of `ops@corp:s3cr:t`.
        assert_eq!(
            proxy.authorization().as_deref().map(String::as_str),
            Some("Basic b3BzQGNvcnA6czNjcjp0")
        );
        // No password, and a `%` that starts no escape.
        let proxy = Proxy::all("http://u%zz@proxy.example");
        assert_eq!(proxy.host_and_port().unwrap(), "proxy.example:80");
        // base64 of `u%zz:`.
        assert_eq!(
            proxy.authorization().as_deref().map(String::as_str),
            Some("Basic dSV6ejo=")
        );
        assert_eq!(Proxy::all("proxy.example:3128").authorization(), None);
        assert_eq!(
            Proxy::all("http://[::1]").host_and_port().unwrap(),
            "[::1]:80"
        );
        assert_eq!(
            Proxy::all("http://[::1]:3128/").host_and_port().unwrap(),
            "[::1]:3128"
        );
        for refused in [
            "socks5://proxy.example:1080",
            "https://proxy.example",
            "http://u:p@/",
        ] {
            let error = Proxy::all(refused).host_and_port().unwrap_err();
            assert_eq!(error.kind(), TransportErrorKind::Config, "{refused}");
            assert!(!error.to_string().contains("u:p"), "{error}");
        }
    }

    #[test]
    fn uris_by_scheme_and_port() {
        let proxy = Proxy::with_no_proxy("proxy:3128", "internal.example, vault.example:443");
        let via = |uri: &str| proxy.applies_to_uri(&uri.parse().unwrap());
        assert!(via("https://vault.example:8200/"));
        assert!(!via("https://vault.example/"));
        assert!(via("http://vault.example/"));
        assert!(!via("https://vault.internal.example/"));
        assert!(!via("http://127.0.0.1:8200/"));
        assert!(!via("/no/host"));
    }

    #[test]
    fn the_connect_request_names_the_target_and_carries_the_credentials() {
        let proxy = Proxy::all("http://u:p@proxy:3128");
        let uri = |text: &str| text.parse::<Uri>().unwrap();
        let head = proxy
            .connect_request(&uri("https://vault.example:8200/"))
            .unwrap();
        assert_eq!(
            head.as_str(),
            format!(
                "CONNECT vault.example:8200 HTTP/1.1\r\nHost: vault.example:8200\r\n\
                 User-Agent: {}\r\nProxy-Authorization: Basic dTpw\r\n\r\n",
                super::super::USER_AGENT
            )
        );
        let head = Proxy::all("proxy:3128")
            .connect_request(&uri("https://[::1]/"))
            .unwrap();
        assert!(
            head.starts_with("CONNECT [::1]:443 HTTP/1.1\r\n"),
            "{}",
            *head
        );
        assert!(!head.contains("Proxy-Authorization"), "{}", *head);
    }

    #[test]
    fn the_answer_to_connect_is_read_as_it_arrives_and_bounded() {
        let proxy = Proxy::all("http://alice:s3cret@proxy:3128");
        let uri: Uri = "https://vault.example:8200/".parse().unwrap();
        // The whole answer in one read.
        let answer = |bytes: &[u8]| proxy.tunnel_answer(&uri).unwrap().push(bytes);
        let open = b"HTTP/1.1 200 Connection established\r\nVia: test\r\n\r\n";
        for cut in 0..open.len() {
            assert!(!answer(&open[..cut]).unwrap(), "{cut} bytes are not all");
            // Cut in two reads anywhere, the end of a line or of the head included.
            let mut reader = proxy.tunnel_answer(&uri).unwrap();
            assert!(!reader.push(&open[..cut]).unwrap(), "{cut}");
            assert!(reader.push(&open[cut..]).unwrap(), "cut at {cut}");
        }
        assert!(answer(open).unwrap());
        assert!(answer(b"HTTP/1.0 204\r\n\r\n").unwrap());

        let refused = answer(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n").unwrap_err();
        assert_eq!(refused.kind(), TransportErrorKind::Connect);
        let text = refused.to_string();
        assert!(text.contains("407 Proxy Authentication Required"), "{text}");
        assert!(
            text.contains("proxy:3128") && text.contains("vault.example:8200"),
            "{text}"
        );
        assert!(
            !text.contains("s3cret") && !text.contains("alice"),
            "{text}"
        );
        let forbidden = answer(b"HTTP/1.1 403 Forbidden\r\n\r\n").unwrap_err();
        assert!(
            !forbidden.to_string().contains("credentials"),
            "{forbidden}"
        );

        for garbage in [
            &b"SSH-2.0-OpenSSH_9.6\r\n"[..],
            b"\x16\x03\x01\x00",
            b"HTTP/1.1 20x OK\r\n\r\n",
            b"HTTP/1.1 200OK\r\n\r\n",
        ] {
            let error = answer(garbage).unwrap_err();
            assert_eq!(error.kind(), TransportErrorKind::Protocol, "{error}");
        }
        let mut endless = b"HTTP/1.1 200 OK\r\n".to_vec();
        while endless.len() <= Proxy::MAX_TUNNEL_ANSWER {
            assert!(!answer(&endless).unwrap());
            endless.extend_from_slice(b"X-Filler: 0123456789abcdef\r\n");
        }
        let error = answer(&endless).unwrap_err();
        assert_eq!(error.kind(), TransportErrorKind::Protocol, "{error}");
        let mut long_line = b"HTTP/1.1 200 ".to_vec();
        long_line.resize(Proxy::MAX_TUNNEL_ANSWER + 1, b'a');
        let error = answer(&long_line).unwrap_err();
        assert_eq!(error.kind(), TransportErrorKind::Protocol, "{error}");
        assert!(error.to_string().len() < 400, "{error}");
        let trailing = answer(b"HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 200 OK").unwrap_err();
        assert_eq!(trailing.kind(), TransportErrorKind::Protocol);

        let mut reader = proxy.tunnel_answer(&uri).unwrap();
        assert_eq!(reader.closed().kind(), TransportErrorKind::Connect);
        assert!(!reader.push(b"HTTP/1.1 200").unwrap());
        let cut = reader.closed();
        assert_eq!(cut.kind(), TransportErrorKind::Protocol);
        assert!(!cut.to_string().contains("s3cret"), "{cut}");

        let no_host = proxy
            .tunnel_answer(&"/relative".parse().unwrap())
            .unwrap_err();
        assert_eq!(no_host.kind(), TransportErrorKind::Config);
    }

    #[test]
    fn an_answer_trickled_a_byte_at_a_time_reads_as_the_whole() {
        let proxy = Proxy::all("http://proxy:3128");
        let uri: Uri = "https://vault.example:8200/".parse().unwrap();
        let trickled = |bytes: &[u8]| {
            let mut reader = proxy.tunnel_answer(&uri).unwrap();
            for (at, byte) in bytes.iter().enumerate() {
                match reader.push(std::slice::from_ref(byte)) {
                    Ok(false) => {}
                    done => return (at + 1, done.map_err(|e| e.kind())),
                }
            }
            (bytes.len(), Ok(false))
        };
        let open = b"HTTP/1.1 200 Connection established\r\nVia: test\r\n\r\n";
        assert_eq!(trickled(open), (open.len(), Ok(true)));
        // A head at the cap, as many one-byte reads as bytes: refused at the first byte
        // past the cap, each read looked at once.
        let mut endless = b"HTTP/1.1 200 OK\r\n".to_vec();
        while endless.len() <= Proxy::MAX_TUNNEL_ANSWER + 64 {
            endless.extend_from_slice(b"X-Filler: 0123456789abcdef\r\n");
        }
        assert_eq!(
            trickled(&endless),
            (
                Proxy::MAX_TUNNEL_ANSWER + 1,
                Err(TransportErrorKind::Protocol)
            )
        );
        // Garbage is refused at its first wrong byte, HTTP after its status line.
        assert_eq!(
            trickled(b"HTTX/1.1 200 OK\r\n\r\n"),
            (4, Err(TransportErrorKind::Protocol))
        );
        assert_eq!(
            trickled(b"HTTP/1.1 407 No\r\n\r\n"),
            (19, Err(TransportErrorKind::Connect))
        );
        assert_eq!(
            trickled(b"HTTP/1.1 2x0 No\r\n\r\n"),
            (17, Err(TransportErrorKind::Protocol))
        );
    }

    #[test]
    fn debug_hides_the_proxy_password() {
        let proxy = Proxy::all("http://alice:s3cret@proxy:3128/");
        let printed = format!("{proxy:?}");
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(printed.contains("alice:<redacted>@proxy:3128"), "{printed}");
    }
}
