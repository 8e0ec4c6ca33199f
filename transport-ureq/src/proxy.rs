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
use zeroize::Zeroizing;

/// Where requests go when a proxy is configured, and the credentials they carry to it (the
/// core's [`Proxy`] decides both).
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
    /// The route of `config`, if it names a proxy; a proxy URL the core refuses (not
    /// `http://`, no host) is an error here, when the client is built.
    pub(crate) fn of(config: &ClientConfig) -> Result<Option<Route>, TransportError> {
        let Some(proxy) = config.proxy.clone() else {
            return Ok(None);
        };
        Ok(Some(Route {
            host_and_port: proxy.host_and_port()?,
            authorization: proxy.authorization(),
            proxy,
        }))
    }

    /// Whether a request to `uri` goes through the proxy (by the `NO_PROXY` rules).
    pub(crate) fn applies_to(&self, uri: &Uri) -> bool {
        self.proxy.applies_to_uri(uri)
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
        let head = self.proxy.connect_request(uri).map_err(to_ureq)?;
        let deadline = timeout.map(|limit| Instant::now() + limit);
        stream.set_write_timeout(timeout)?;
        stream.write_all(head.as_bytes())?;
        let mut answer = self.proxy.tunnel_answer(uri).map_err(to_ureq)?;
        let mut chunk = [0u8; 1024];
        let mut read = 0;
        while !answer.push(&chunk[..read]).map_err(to_ureq)? {
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if left == Some(Duration::ZERO) {
                return Err(ureq::Error::Timeout(ureq::Timeout::Connect));
            }
            stream.set_read_timeout(left)?;
            match stream.read(&mut chunk) {
                Ok(0) => return Err(to_ureq(answer.closed())),
                Ok(n) => read = n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => read = 0,
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
        }
        stream.set_read_timeout(None)?;
        stream.set_write_timeout(None)?;
        Ok(())
    }
}

/// The core's verdict on a tunnel as ureq's error, of the same kind once mapped back: a
/// refusal a failed proxy connection, a broken answer an I/O error of bad data.
fn to_ureq(error: TransportError) -> ureq::Error {
    match error.kind() {
        TransportErrorKind::Connect => ureq::Error::ConnectProxyFailed(error.message().into()),
        _ => ureq::Error::Io(io::Error::new(io::ErrorKind::InvalidData, error)),
    }
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
    fn credentials_are_sent_and_never_shown() {
        let route = route("http://ops%40corp:s3cr%3At@proxy.example:3128", None);
        assert_eq!(route.host_and_port, "proxy.example:3128");
        // base64 of `ops@corp:s3cr:t`.
        let expected = "b3BzQGNvcnA6czNjcjp0";
        assert_eq!(
            route.authorization.as_deref().map(String::as_str),
            Some(format!("Basic {expected}").as_str())
        );
        let shown = format!("{route:?}");
        assert!(
            !shown.contains("s3cr") && !shown.contains(expected),
            "{shown}"
        );
        let forward = route.forward(&"http://vault.example:8200/v1/sys/health".parse().unwrap());
        let shown = format!("{forward:?}");
        assert!(!shown.contains(expected), "{shown}");
    }

    #[test]
    fn a_proxy_url_the_core_refuses_fails_the_build() {
        assert_eq!(
            route("proxy.example", None).host_and_port,
            "proxy.example:80"
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
        // base64 of `u:p`.
        let auth = "dTpw";
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
