//! One HTTP exchange over a ureq agent: send the core's request, read the answer within the
//! size limit, and send it once more on a new connection when the core's [`may_retry`]
//! allows. Redirects, addressing and decoding are the core's.

use bytes::Bytes;
use http::{Method, Request, Response};
use std::io::{self, Read};
use std::sync::Arc;
use std::time::{Duration, Instant};
use ureq::config::AutoHeaderValue;
use ureq::unversioned::transport::Connector;
use ureq::AsSendBody;
use vault_key_core::transport::config::{ClientConfig, USER_AGENT};
use vault_key_core::transport::{copy_request, may_retry, may_retry_method, POOL_IDLE_TIMEOUT};
use vault_key_core::transport::{BodyCollector, TransportError, TransportErrorKind};
use vault_key_core::HttpClient;
use zeroize::Zeroize;

use crate::pool::Reuse;
use crate::proxy::Route;
use crate::resolve::QuickResolver;
use crate::socket::Socket;
use crate::tracking::{self, Tracking};

mod tls;

/// Read buffer for response bodies, on the stack (Vault's answers are a few hundred bytes;
/// ureq's own buffer feeds it).
const CHUNK: usize = 4 * 1024;

/// A pooled ureq agent and the body size limit.
#[derive(Clone)]
pub(crate) struct Stack {
    agent: ureq::Agent,
    max_response_bytes: usize,
    timeouts: Timeouts,
    /// Whether a client certificate is configured, to explain a server's refusal of it.
    client_certificate: bool,
}

/// The configured timeouts, to say which one expired.
#[derive(Clone, Copy)]
struct Timeouts {
    exchange: Option<Duration>,
    connect: Duration,
}

impl Stack {
    pub(crate) fn new(config: &ClientConfig) -> Result<Self, TransportError> {
        let roots = config.trusted_roots(|path| std::fs::read(path), list_dir, system_roots)?;
        let tls = tls::Tls::new(config, roots)?;
        let route = Route::of(config)?.map(Arc::new);
        let settings = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            // The proxy is reached under ureq, by `Socket` (see `proxy.rs`).
            .proxy(None)
            .user_agent(USER_AGENT)
            .accept_encoding(AutoHeaderValue::None)
            .timeout_global(config.timeout)
            .timeout_connect(Some(config.connect_timeout))
            .max_idle_age(POOL_IDLE_TIMEOUT)
            // The pool is ours (`pool.rs`), which hands out the connection used last.
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .build();
        let socket = Socket {
            route: route.clone(),
        };
        let connector = Reuse::new(socket.chain(tls).chain(Tracking), POOL_IDLE_TIMEOUT);
        let agent = ureq::Agent::with_parts(settings, connector, QuickResolver::new(route));
        Ok(Self {
            agent,
            max_response_bytes: config.max_response_bytes,
            timeouts: Timeouts {
                exchange: config.timeout,
                connect: config.connect_timeout,
            },
            client_certificate: config.client_certificate.is_some(),
        })
    }
}

/// The entries of a directory of CA certificates, and whether each is a directory.
fn list_dir(dir: &std::path::Path) -> io::Result<Vec<(std::path::PathBuf, bool)>> {
    std::fs::read_dir(dir)?
        .map(|entry| {
            let entry = entry?;
            // A link is followed, as the Go client reads the files a link points to.
            let is_dir = std::fs::metadata(entry.path())?.is_dir();
            Ok((entry.path(), is_dir))
        })
        .collect()
}

/// The roots the operating system trusts, as DER.
fn system_roots() -> Vec<Vec<u8>> {
    rustls_native_certs::load_native_certs()
        .certs
        .into_iter()
        .map(|cert| cert.to_vec())
        .collect()
}

impl HttpClient for Stack {
    type Error = TransportError;

    fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, TransportError> {
        #[cfg(feature = "tracing")]
        let (event, started) = (
            vault_key_core::transport::ExchangeEvent::of(&request),
            Instant::now(),
        );
        let outcome = self.exchange(request);
        #[cfg(feature = "tracing")]
        event.finished(&outcome, started.elapsed());
        outcome
    }
}

impl Stack {
    /// One exchange: the head (sent once more on a new connection when a read may be), then
    /// the body within the size limit.
    fn exchange(&self, request: Request<Bytes>) -> Result<Response<Bytes>, TransportError> {
        let started = Instant::now();
        // Only a read may go out twice: a copy is kept for those alone.
        let spare = may_retry_method(request.method()).then(|| copy_request(&request));
        let response = match (self.send_head(request, None), spare) {
            (Err(error), Some(spare)) if may_retry(spare.method(), &error) => {
                self.send_head(spare, Some(started))
            }
            (sent, _) => sent,
        }?;
        let (parts, body) = response.into_parts();
        let mut collector = BodyCollector::new(self.max_response_bytes, body.content_length())?;
        let mut reader = body.into_reader();
        let mut chunk = [0u8; CHUNK];
        // Only the bytes an answer wrote into the chunk are wiped afterwards: wiping all of it
        // on every request would cost more than the rest of the exchange.
        let mut used = 0;
        let outcome = loop {
            match reader.read(&mut chunk) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    used = used.max(n);
                    if let Err(e) = collector.push(&chunk[..n]) {
                        break Err(e);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // The answer broke off: what arrived of it is kept with the error.
                    let partial = collector.into_partial(parts.status);
                    chunk[..used].zeroize();
                    return Err(self
                        .map_error(ureq::Error::from(e))
                        .with_partial_response(partial));
                }
            }
        };
        chunk[..used].zeroize();
        outcome?;
        Ok(Response::from_parts(parts, collector.finish()))
    }

    /// Sends `request` and waits for the head of the answer. A retry (of a first attempt
    /// begun at `retry_of`) goes out on a new connection, within what is left of the
    /// exchange timeout.
    fn send_head(
        &self,
        request: Request<Bytes>,
        retry_of: Option<Instant>,
    ) -> Result<Response<ureq::Body>, TransportError> {
        // Only a read goes without a body. An empty body of a write (`PUT sys/seal`, say) goes
        // as zero bytes with `Content-Length: 0`: without a body ureq would announce a chunked
        // one, which some proxies forward without its last chunk.
        let read = matches!(*request.method(), Method::GET | Method::HEAD);
        if request.body().is_empty() && read {
            self.run(request.map(|_| ()), retry_of)
        } else {
            let (parts, body) = request.into_parts();
            self.run(Request::from_parts(parts, &body[..]), retry_of)
        }
    }

    fn run<B: AsSendBody>(
        &self,
        request: Request<B>,
        retry_of: Option<Instant>,
    ) -> Result<Response<ureq::Body>, TransportError> {
        let request = match retry_of {
            None => request,
            Some(started) => self
                .agent
                .configure_request(request)
                // No pooled connection is young enough: a new one is made.
                .max_idle_age(Duration::ZERO)
                .timeout_global(
                    self.timeouts
                        .exchange
                        .map(|limit| limit.saturating_sub(started.elapsed())),
                )
                .build(),
        };
        tracking::begin();
        self.agent.run(request).map_err(|e| {
            let error = self.map_error(e);
            match tracking::progress() {
                Some(progress) => error.with_progress(progress),
                None => error,
            }
        })
    }

    /// Maps ureq's error to a kind; its text goes along (it never holds header values).
    fn map_error(&self, error: ureq::Error) -> TransportError {
        match &error {
            ureq::Error::Timeout(ureq::Timeout::Connect) => {
                return TransportError::timeout_connecting(self.timeouts.connect).with_source(error)
            }
            ureq::Error::Timeout(_) => {
                if let Some(limit) = self.timeouts.exchange {
                    return TransportError::timeout_exchanging(limit).with_source(error);
                }
            }
            _ => {}
        }
        let cause: &(dyn std::error::Error + 'static) = match &error {
            // ureq's error gives no source for these: look inside them directly.
            ureq::Error::Io(io) => io,
            ureq::Error::Rustls(tls) => tls,
            other => other,
        };
        if let Some(hint) =
            vault_key_core::transport::tls::client_certificate_hint(cause, self.client_certificate)
        {
            return TransportError::new(TransportErrorKind::Tls, format!("{hint}: {error}"))
                .with_source(error);
        }
        map_error(error)
    }
}

fn map_error(error: ureq::Error) -> TransportError {
    let kind = match &error {
        ureq::Error::Timeout(_) => TransportErrorKind::Timeout,
        ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::ConnectProxyFailed(_) => TransportErrorKind::Connect,
        ureq::Error::Io(e) => io_kind(e),
        ureq::Error::Tls(_)
        | ureq::Error::Pem(_)
        | ureq::Error::Rustls(_)
        | ureq::Error::TlsRequired => TransportErrorKind::Tls,
        ureq::Error::BodyExceedsLimit(_) => TransportErrorKind::BodyTooLarge,
        ureq::Error::TooManyRedirects | ureq::Error::RedirectFailed => TransportErrorKind::Redirect,
        ureq::Error::BadUri(_) | ureq::Error::Http(_) | ureq::Error::InvalidProxyUrl => {
            TransportErrorKind::Config
        }
        _ => TransportErrorKind::Protocol,
    };
    TransportError::new(kind, error.to_string()).with_source(error)
}

fn io_kind(error: &io::Error) -> TransportErrorKind {
    use io::ErrorKind::*;
    match error.kind() {
        TimedOut | WouldBlock => return TransportErrorKind::Timeout,
        ConnectionRefused | AddrNotAvailable | NotFound | PermissionDenied => {
            return TransportErrorKind::Connect
        }
        _ => {}
    }
    // An I/O error's own `source` skips the error it wraps: look at that one.
    let mut inner = error.get_ref();
    while let Some(e) = inner {
        if e.is::<rustls::Error>() {
            return TransportErrorKind::Tls;
        }
        inner = match e.downcast_ref::<io::Error>() {
            Some(io) => io.get_ref(),
            None => None,
        };
    }
    TransportErrorKind::Protocol
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(error: ureq::Error) -> TransportErrorKind {
        map_error(error).kind()
    }

    #[test]
    fn errors_map_to_kinds() {
        let io = |kind| ureq::Error::Io(io::Error::from(kind));
        assert_eq!(
            kind(ureq::Error::Timeout(ureq::Timeout::Global)),
            TransportErrorKind::Timeout
        );
        assert_eq!(kind(ureq::Error::HostNotFound), TransportErrorKind::Connect);
        assert_eq!(
            kind(io(io::ErrorKind::ConnectionRefused)),
            TransportErrorKind::Connect
        );
        assert_eq!(
            kind(io(io::ErrorKind::TimedOut)),
            TransportErrorKind::Timeout
        );
        assert_eq!(
            kind(io(io::ErrorKind::UnexpectedEof)),
            TransportErrorKind::Protocol
        );
        let handshake = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(kind(ureq::Error::Io(handshake)), TransportErrorKind::Tls);
        let nested = io::Error::other(io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::General("x".into()),
        ));
        assert_eq!(kind(ureq::Error::Io(nested)), TransportErrorKind::Tls);
        assert_eq!(kind(ureq::Error::Tls("bad")), TransportErrorKind::Tls);
        assert_eq!(
            kind(ureq::Error::BadUri("x".into())),
            TransportErrorKind::Config
        );
        assert_eq!(
            kind(ureq::Error::ConnectionFailed),
            TransportErrorKind::Connect
        );
    }

    #[test]
    fn timeouts_name_the_configured_limit() {
        let config = ClientConfig::builder()
            .address("http://127.0.0.1:8200")
            .timeout(Duration::from_secs(7))
            .connect_timeout(Duration::from_secs(2))
            .config()
            .unwrap();
        let stack = Stack::new(&config).unwrap();
        let connect = stack.map_error(ureq::Error::Timeout(ureq::Timeout::Connect));
        assert_eq!(connect.kind(), TransportErrorKind::Timeout);
        assert!(connect.to_string().contains("2s"), "{connect}");
        let global = stack.map_error(ureq::Error::Timeout(ureq::Timeout::Global));
        assert!(global.to_string().contains("7s"), "{global}");
    }
}
