//! Which HTTP proxy a request goes through, by the rules of the Go client the Vault and
//! OpenBao CLIs are built on, so that a client in the same shell reaches the server the same
//! way the CLI does.
//!
//! Go's `http.ProxyFromEnvironment` picks `HTTPS_PROXY` for an `https` address and
//! `HTTP_PROXY` for an `http` one (the upper-case name first, then the lower-case one), skips
//! the hosts `NO_PROXY` names, and never proxies `localhost` or a loopback address. Vault's
//! own `VAULT_HTTP_PROXY` (and `VAULT_PROXY_ADDR`, which supersedes it) sends every request
//! through one proxy, `NO_PROXY` and loopback included.

use std::fmt;
use std::net::IpAddr;

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
    fn debug_hides_the_proxy_password() {
        let proxy = Proxy::all("http://alice:s3cret@proxy:3128/");
        let printed = format!("{proxy:?}");
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(printed.contains("alice:<redacted>@proxy:3128"), "{printed}");
    }
}
