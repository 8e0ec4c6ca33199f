//! The HTTP proxy of [`ClientConfig::proxy`], reached the way the Go client under the Vault
//! and OpenBao CLIs reaches it, so that a proxy that lets the CLI through lets this client
//! through too: an `https` address through a `CONNECT` tunnel (TLS to the server inside it),
//! an `http` one by sending each request to the proxy with the server's absolute URL in its
//! request line (`GET http://host:port/v1/... HTTP/1.1`), as HTTP/1.1 asks of a client of a
//! proxy. Both carry the proxy's credentials, when its URL has them, as `Proxy-Authorization:
//! Basic`.
//!
//! ureq's own proxy support tunnels plain HTTP through `CONNECT` as well, which proxies
//! commonly allow to port 443 only, and cannot change the request line; so the route is made
//! here, under ureq, by [`Socket`](crate::socket::Socket), and ureq is given no proxy.
//!
//! The server's name is resolved by the proxy, never here: a client behind a mandatory proxy
//! often cannot resolve it itself.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use ureq::http::Uri;
use vault_key_core::transport::config::{ClientConfig, Proxy};
use vault_key_core::transport::{TransportError, TransportErrorKind};
use zeroize::{Zeroize, Zeroizing};

/// The longest proxy answer to a `CONNECT` read before giving up on it.
const MAX_CONNECT_ANSWER: usize = 16 * 1024;

/// Where requests go when a proxy is configured, and the credentials they carry to it.
pub(crate) struct Route {
    proxy: Proxy,
    /// The proxy's `host:port`, as its URL names it.
    host_and_port: String,
    /// `Basic <base64 of user:password>`, when the URL has user information.
    authorization: Option<Zeroizing<String>>,
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The proxy's own Debug hides the password; the header is never shown.
        f.debug_struct("Route")
            .field("proxy", &self.proxy)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Route {
    /// The route of `config`, if it names a proxy. Only `http://` proxies are supported (the
    /// Go client's `https://` and `socks5://` ones are refused here rather than bypassed).
    pub(crate) fn of(config: &ClientConfig) -> Result<Option<Route>, TransportError> {
        let Some(proxy) = config.proxy.clone() else {
            return Ok(None);
        };
        let refused = |why: &str| {
            TransportError::new(
                TransportErrorKind::Config,
                format!("proxy from {}: {why}", proxy.source()),
            )
        };
        let Some(rest) = proxy.url().strip_prefix("http://") else {
            return Err(refused(
                "only an http:// proxy is supported (a CONNECT proxy reached over plain HTTP)",
            ));
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (user_info, host_and_port) = match authority.rsplit_once('@') {
            Some((user_info, host)) => (Some(user_info), host),
            None => (None, authority),
        };
        if host_and_port.is_empty() {
            return Err(refused("the proxy URL names no host"));
        }
        let host_and_port = if has_port(host_and_port) {
            host_and_port.to_string()
        } else {
            // Go's default for an http:// proxy without a port.
            format!("{host_and_port}:80")
        };
        let authorization = match user_info {
            None => None,
            Some(user_info) => {
                let (user, password) = user_info.split_once(':').unwrap_or((user_info, ""));
                let mut plain = Zeroizing::new(percent_decode(user));
                plain.push(b':');
                let mut password = percent_decode(password);
                plain.extend_from_slice(&password);
                password.zeroize();
                let encoded = Zeroizing::new(base64(&plain));
                Some(Zeroizing::new(format!("Basic {}", encoded.as_str())))
            }
        };
        Ok(Some(Route {
            proxy,
            host_and_port,
            authorization,
        }))
    }

    /// Whether a request to `uri` goes through the proxy (by the `NO_PROXY` rules).
    pub(crate) fn applies_to(&self, uri: &Uri) -> bool {
        let Some(host) = uri.host() else {
            return false;
        };
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        self.proxy.applies_to(host, port)
    }

    /// The proxy's addresses.
    pub(crate) fn addresses(&self) -> Result<Vec<SocketAddr>, ureq::Error> {
        let addrs: Vec<SocketAddr> = self.host_and_port.to_socket_addrs()?.collect();
        if addrs.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(addrs)
    }

    /// What an `http` request to `uri` needs on its way through the proxy.
    pub(crate) fn forward(&self, uri: &Uri) -> Forward {
        let scheme = uri.scheme_str().unwrap_or("http");
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
        Forward {
            origin: format!("{scheme}://{authority}"),
            authorization: self.authorization.clone(),
            state: State::Head(Zeroizing::new(Vec::new())),
        }
    }

    /// Opens a tunnel to `uri`'s host and port over `stream`, connected to the proxy: sends
    /// `CONNECT` and reads the proxy's answer, within `timeout`.
    pub(crate) fn tunnel(
        &self,
        stream: &mut TcpStream,
        uri: &Uri,
        timeout: Option<Duration>,
    ) -> Result<(), ureq::Error> {
        let host = uri.host().ok_or(ureq::Error::ConnectionFailed)?;
        let port = uri.port_u16().unwrap_or(443);
        let target = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let mut head = Zeroizing::new(format!(
            "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: {}\r\n",
            vault_key_core::transport::config::USER_AGENT
        ));
        if let Some(authorization) = &self.authorization {
            head.push_str("Proxy-Authorization: ");
            head.push_str(authorization);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let deadline = timeout.map(|limit| Instant::now() + limit);
        stream.set_write_timeout(timeout)?;
        stream.write_all(head.as_bytes())?;
        let mut answer = Vec::new();
        let mut chunk = [0u8; 1024];
        let end = loop {
            if let Some(end) = find(&answer, b"\r\n\r\n") {
                break end + 4;
            }
            if answer.len() > MAX_CONNECT_ANSWER {
                return Err(ureq::Error::ConnectProxyFailed(
                    "the proxy's answer to CONNECT has no end".into(),
                ));
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left == Some(Duration::ZERO) {
                return Err(ureq::Error::Timeout(ureq::Timeout::Connect));
            }
            stream.set_read_timeout(left)?;
            match stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(ureq::Error::ConnectProxyFailed(
                        "the proxy closed the connection before answering CONNECT".into(),
                    ))
                }
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(ureq::Error::Timeout(ureq::Timeout::Connect))
                }
                Err(e) => return Err(e.into()),
            }
        };
        // The server speaks first only after the client's TLS hello: nothing may follow.
        let status_line = String::from_utf8_lossy(&answer[..end]);
        let status_line = status_line.lines().next().unwrap_or_default();
        let status = status_line.split(' ').nth(1).unwrap_or_default();
        if !status.starts_with('2') || end != answer.len() {
            return Err(ureq::Error::ConnectProxyFailed(format!(
                "the proxy {} refused the tunnel to {target}: {}{}",
                self.host_and_port,
                status_line.trim(),
                if status == "407" {
                    " (the proxy wants credentials: put them in the proxy URL, user:password@host)"
                } else {
                    ""
                }
            )));
        }
        stream.set_read_timeout(None)?;
        stream.set_write_timeout(None)?;
        Ok(())
    }
}

/// Standard base64 with padding, for the `Basic` credentials.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= group.len() {
                out.push(ALPHABET[(n >> shift & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
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
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap() * 16 + hex(l).unwrap()) as u8);
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

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The rewriting of the requests of one connection to the proxy, for an `http` server: each
/// request's line gets the server's origin before its path, and its head the proxy's
/// credentials. Requests follow each other on a connection, each with a `Content-Length` or no
/// body (the stack never sends a chunked one), so where one ends is known.
pub(crate) struct Forward {
    /// `http://host:port` of the server.
    origin: String,
    authorization: Option<Zeroizing<String>>,
    state: State,
}

impl fmt::Debug for Forward {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Forward")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

enum State {
    /// Collecting a request's head (it holds the token: wiped when dropped).
    Head(Zeroizing<Vec<u8>>),
    /// Passing on this many bytes of a body.
    Body(usize),
}

impl Forward {
    /// What to write to the proxy for `bytes` of ureq's output: heads are held until whole,
    /// then written rewritten.
    pub(crate) fn rewrite(&mut self, mut bytes: &[u8]) -> Result<Zeroizing<Vec<u8>>, io::Error> {
        let mut out = Zeroizing::new(Vec::with_capacity(bytes.len() + self.origin.len() + 64));
        while !bytes.is_empty() {
            match &mut self.state {
                State::Body(left) => {
                    let n = (*left).min(bytes.len());
                    out.extend_from_slice(&bytes[..n]);
                    bytes = &bytes[n..];
                    *left -= n;
                    if *left == 0 {
                        self.state = State::Head(Zeroizing::new(Vec::new()));
                    }
                }
                State::Head(head) => {
                    // The end of the head may straddle two writes: look from a little before.
                    let from = head.len().saturating_sub(3);
                    head.extend_from_slice(bytes);
                    let Some(end) = find(&head[from..], b"\r\n\r\n").map(|at| from + at + 4) else {
                        bytes = &[];
                        continue;
                    };
                    let rest_at = end - (head.len() - bytes.len());
                    bytes = &bytes[rest_at..];
                    head.truncate(end);
                    let head = std::mem::replace(head, Zeroizing::new(Vec::new()));
                    let body = self.write_head(&head, &mut out)?;
                    self.state = if body > 0 {
                        State::Body(body)
                    } else {
                        State::Head(Zeroizing::new(Vec::new()))
                    };
                }
            }
        }
        Ok(out)
    }

    /// Writes `head` rewritten into `out`; returns the length of the body that follows.
    fn write_head(&self, head: &[u8], out: &mut Vec<u8>) -> Result<usize, io::Error> {
        let invalid = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, why.to_string());
        let line_end = find(head, b"\r\n").ok_or_else(|| invalid("a request without a line"))?;
        let line = &head[..line_end];
        let space = line
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| invalid("a request line without a target"))?;
        if line.get(space + 1) != Some(&b'/') {
            return Err(invalid("a request target that is no path"));
        }
        out.extend_from_slice(&line[..=space]);
        out.extend_from_slice(self.origin.as_bytes());
        out.extend_from_slice(&line[space + 1..]);
        out.extend_from_slice(b"\r\n");
        if let Some(authorization) = &self.authorization {
            out.extend_from_slice(b"Proxy-Authorization: ");
            out.extend_from_slice(authorization.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        let fields = &head[line_end + 2..];
        out.extend_from_slice(fields);
        let mut body = 0;
        for field in fields.split(|&b| b == b'\n') {
            let field = String::from_utf8_lossy(field);
            let Some((name, value)) = field.split_once(':') else {
                continue;
            };
            if name.trim().eq_ignore_ascii_case("content-length") {
                body = value
                    .trim()
                    .parse()
                    .map_err(|_| invalid("a bad Content-Length"))?;
            } else if name.trim().eq_ignore_ascii_case("transfer-encoding") {
                return Err(invalid("a chunked request cannot be forwarded to a proxy"));
            }
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(url: &str, no_proxy: Option<&str>) -> Route {
        let proxy = match no_proxy {
            Some(list) => Proxy::with_no_proxy(url, list),
            None => Proxy::all(url),
        };
        let config = ClientConfig::builder()
            .address("http://vault.example:8200")
            .proxy(Some(proxy))
            .config()
            .unwrap();
        Route::of(&config).unwrap().unwrap()
    }

    #[test]
    fn credentials_are_decoded_sent_and_never_shown() {
        let route = route("http://ops%40corp:s3cr%3At@proxy.example:3128", None);
        assert_eq!(route.host_and_port, "proxy.example:3128");
        let expected = base64(b"ops@corp:s3cr:t");
        assert_eq!(base64(b"u:p"), "dTpw");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abcd"), "YWJjZA==");
        assert_eq!(
            route.authorization.as_deref().map(String::as_str),
            Some(format!("Basic {expected}").as_str())
        );
        let shown = format!("{route:?}");
        assert!(
            !shown.contains("s3cr") && !shown.contains(&expected),
            "{shown}"
        );
        let forward = route.forward(&"http://vault.example:8200/v1/sys/health".parse().unwrap());
        let shown = format!("{forward:?}");
        assert!(!shown.contains(&expected), "{shown}");
    }

    #[test]
    fn a_proxy_url_without_port_or_scheme_support() {
        assert_eq!(
            route("proxy.example", None).host_and_port,
            "proxy.example:80"
        );
        assert_eq!(route("http://[::1]", None).host_and_port, "[::1]:80");
        assert_eq!(
            route("http://[::1]:3128/", None).host_and_port,
            "[::1]:3128"
        );
        let config = ClientConfig::builder()
            .address("http://vault.example:8200")
            .proxy(Some(Proxy::all("socks5://proxy.example:1080")))
            .config()
            .unwrap();
        let error = Route::of(&config).unwrap_err();
        assert_eq!(error.kind(), TransportErrorKind::Config);
    }

    #[test]
    fn no_proxy_and_loopback_go_direct() {
        let route = route("http://proxy.example:3128", Some("internal.example"));
        assert!(route.applies_to(&"https://vault.example:8200/".parse().unwrap()));
        assert!(!route.applies_to(&"https://vault.internal.example/".parse().unwrap()));
        assert!(!route.applies_to(&"http://127.0.0.1:8200/".parse().unwrap()));
    }

    #[test]
    fn requests_are_rewritten_one_after_another_in_any_pieces() {
        let route = route("http://u:p@proxy.example:3128", None);
        let auth = base64(b"u:p");
        let mut forward = route.forward(&"http://vault.example:8200/".parse().unwrap());
        let input = b"PUT /v1/sys/rotate HTTP/1.1\r\nhost: vault.example:8200\r\ncontent-length: 4\r\n\r\nbodyGET /v1/sys/health?x=1 HTTP/1.1\r\nhost: vault.example:8200\r\n\r\n";
        let expected = format!(
            "PUT http://vault.example:8200/v1/sys/rotate HTTP/1.1\r\nProxy-Authorization: Basic {auth}\r\nhost: vault.example:8200\r\ncontent-length: 4\r\n\r\nbodyGET http://vault.example:8200/v1/sys/health?x=1 HTTP/1.1\r\nProxy-Authorization: Basic {auth}\r\nhost: vault.example:8200\r\n\r\n"
        );
        for piece in [input.len(), 1, 3, 7] {
            let mut out = Vec::new();
            for chunk in input.chunks(piece) {
                out.extend_from_slice(&forward.rewrite(chunk).unwrap());
            }
            assert_eq!(
                String::from_utf8(out).unwrap(),
                expected,
                "pieces of {piece}"
            );
        }
        let chunked = b"PUT /v1/x HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n";
        assert!(forward.rewrite(chunked).is_err());
    }
}
