//! One HTTP exchange over a kept-alive connection: send the core's request, read the answer
//! within the size limit and the timeout, and send it once more on a new connection when
//! the core's [`may_retry`] allows. Redirects, addressing and decoding are the core's.

mod pool;
mod proxy;

use bytes::Bytes;
use http::header::{HeaderValue, HOST, PROXY_AUTHORIZATION, USER_AGENT};
use http::uri::PathAndQuery;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::Full;
use hyper::body::Body as _;
use hyper_rustls::{FixedServerNameResolver, HttpsConnector};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use std::error::Error as StdError;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tower_service::Service as _;
use vault_key_core::transport::config::{self, ClientConfig};
use vault_key_core::transport::{copy_request, may_retry, may_retry_method, tls};
use vault_key_core::transport::{BodyCollector, TransportError, TransportErrorKind};
use vault_key_core::AsyncHttpClient;

use crate::tracking::Tracked;
use pool::{Connection, Ended, Origin, Pool};
use proxy::{ProxyConnector, Route};

/// The connector, the kept-alive connections, the body size limit and the exchange timeout.
#[derive(Clone)]
pub(crate) struct Stack {
    connector: HttpsConnector<ProxyConnector>,
    /// The proxy, for the requests to an `http` server it forwards.
    route: Option<Arc<Route>>,
    pool: Arc<Pool>,
    max_response_bytes: usize,
    timeout: Option<Duration>,
    connect_timeout: Duration,
    /// Whether a client certificate is configured, for the hint a refusal of it gets.
    client_certificate: bool,
}

impl Stack {
    pub(crate) fn new(config: &ClientConfig) -> Result<Self, TransportError> {
        let roots = config.trusted_roots(|path| std::fs::read(path), list_dir, system_roots)?;
        let tls = tls::rustls_config(config, roots, |path| std::fs::read(path))?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        // The name the certificate must carry, when it is not the address's host.
        let connector = match tls::server_name(config)? {
            None => connector,
            Some(name) => connector.with_server_name_resolver(FixedServerNameResolver::new(name)),
        };
        let route = Route::of(config)?;
        let connector = connector.enable_http1().wrap_connector(ProxyConnector {
            http,
            route: route.clone(),
            connect_timeout: config.connect_timeout,
        });
        Ok(Self {
            connector,
            route,
            pool: Arc::default(),
            max_response_bytes: config.max_response_bytes,
            timeout: config.timeout,
            connect_timeout: config.connect_timeout,
            client_certificate: config.client_certificate.is_some(),
        })
    }

    /// `mapped` (the mapping of `error`), or a TLS error that says what a server's alert
    /// about the client certificate means.
    fn hinted(&self, error: &(dyn StdError + 'static), mapped: TransportError) -> TransportError {
        match tls::client_certificate_hint(error, self.client_certificate) {
            Some(hint) => TransportError::new(TransportErrorKind::Tls, format!("{hint}: {mapped}")),
            None => mapped,
        }
    }

    /// The proxy that forwards the requests to `origin`, if one does.
    fn forwarding(&self, origin: &Origin) -> Option<&Route> {
        self.route.as_deref().filter(|route| route.forwards(origin))
    }

    /// A new connection to `origin`.
    async fn connect(&self, origin: &Origin) -> Result<Box<Connection>, TransportError> {
        let uri = Uri::builder()
            .scheme(origin.scheme.clone())
            .authority(origin.authority.clone())
            .path_and_query("/")
            .build()
            .map_err(|e| TransportError::new(TransportErrorKind::Config, e.to_string()))?;
        let io = self.connector.clone().call(uri).await.map_err(|e| {
            // The proxy's refusal or broken answer, as the core worded it.
            let e = match e.downcast::<TransportError>() {
                Ok(error) => return *error,
                Err(e) => e,
            };
            let error = map_error_as(Some(TransportErrorKind::Connect), &*e);
            match error.kind() {
                TransportErrorKind::Timeout => {
                    TransportError::timeout_connecting(self.connect_timeout)
                }
                _ => self.hinted(&*e, error),
            }
        })?;
        Connection::open(TokioIo::new(Tracked::new(TokioIo::new(io))))
            .await
            .map_err(|e| self.hinted(&e, map_error(&e)))
    }

    /// Sends `request` and waits for the head of the answer, on a pooled connection to
    /// `origin` when `reuse` allows and one is open, else on a new one.
    async fn send_head(
        &self,
        origin: &Origin,
        request: Request<Bytes>,
        reuse: bool,
    ) -> Result<(Box<Connection>, Response<hyper::body::Incoming>), TransportError> {
        let mut request = request.map(Full::new);
        let headers = request.headers_mut();
        if !headers.contains_key(HOST) {
            headers.insert(HOST, host_header(origin)?);
        }
        headers
            .entry(USER_AGENT)
            .or_insert(HeaderValue::from_static(config::USER_AGENT));
        // HTTP/1.1 names the path alone on the request line; the host went into `Host`.
        // To a proxy, an `http` request names the whole URL, and carries its credentials.
        let path = request
            .uri()
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        *request.uri_mut() = match self.forwarding(origin) {
            None => Uri::from(path),
            Some(route) => {
                if let Some(authorization) = route.authorization() {
                    request
                        .headers_mut()
                        .insert(PROXY_AUTHORIZATION, authorization.clone());
                }
                Uri::builder()
                    .scheme(origin.scheme.clone())
                    .authority(origin.authority.clone())
                    .path_and_query(path)
                    .build()
                    .map_err(|e| TransportError::new(TransportErrorKind::Config, e.to_string()))?
            }
        };

        let mut pooled = if reuse {
            poll_fn(|cx| Poll::Ready(self.pool.checkout(origin, cx))).await
        } else {
            None
        };
        loop {
            let reused = pooled.is_some();
            let mut connection = match pooled.take() {
                Some(connection) => connection,
                // Boxed: connecting (TCP, TLS, a proxy's tunnel) is the rare path, and its
                // future would otherwise make every exchange's as large.
                None => Box::pin(self.connect(origin)).await?,
            };
            // Handed to the connection inside `drive`: hyper queues the request at once, and
            // the wake-up that raises for the connection would, outside, reschedule this
            // task (and on a multi-threaded runtime wake an idle worker) for nothing.
            let mut unsent = Some(request);
            let mut sending = pin!(None);
            let sent = poll_fn(|cx| {
                connection.driver.drive(cx, |cx| {
                    if let Some(request) = unsent.take() {
                        sending.set(Some(connection.sender.try_send_request(request)));
                    }
                    match sending.as_mut().as_pin_mut() {
                        Some(sending) => sending.poll(cx),
                        None => Poll::Pending,
                    }
                })
            });
            let error = match sent.await {
                Ok(Ok(response)) => return Ok((connection, response)),
                Ok(Err(mut error)) => match error.take_message() {
                    // A pooled connection found closed before anything was written: the
                    // server saw nothing of the request, whatever its method, so it goes to
                    // a new connection.
                    Some(unsent) if reused => {
                        request = unsent;
                        continue;
                    }
                    _ => {
                        let error = error.into_error();
                        self.hinted(&error, map_error(&error))
                    }
                },
                Err(Ended) => closed_error(),
            };
            return Err(error.with_progress(connection.usage.progress()));
        }
    }

    /// One exchange; the body read so far stays in `reading` if the exchange stops (an
    /// error, or the timeout dropping this future), to be kept with the error.
    async fn exchange(
        &self,
        request: Request<Bytes>,
        reading: &mut Option<(StatusCode, BodyCollector)>,
    ) -> Result<Response<Bytes>, TransportError> {
        let origin = Origin::of(request.uri())?;
        let reads_only = may_retry_method(request.method());
        if !reads_only {
            // A write is never sent twice, so it should not go out on a connection the server
            // closed while it was idle: letting the runtime deliver what arrived meanwhile
            // first shows such a close when the connection is taken out. Best effort. A read
            // skips this: `may_retry` sends it again on a new connection.
            tokio::task::yield_now().await;
        }
        // Only a read may go out twice: a copy is kept for those alone.
        let spare = reads_only.then(|| copy_request(&request));
        let (mut connection, response) = match self.send_head(&origin, request, true).await {
            Ok(sent) => sent,
            // The retry, boxed: it is rare, and inline its future would double this one's.
            Err(error) => match spare {
                Some(spare) if may_retry(spare.method(), &error) => {
                    Box::pin(self.send_head(&origin, spare, false)).await?
                }
                _ => return Err(error),
            },
        };
        let (parts, mut body) = response.into_parts();
        let collector = BodyCollector::new(self.max_response_bytes, body.size_hint().exact())?;
        let (_, collector) = reading.insert((parts.status, collector));
        loop {
            let frame = poll_fn(|cx| {
                connection
                    .driver
                    .drive(cx, |cx| Pin::new(&mut body).poll_frame(cx))
            });
            match frame.await {
                Ok(Some(frame)) => {
                    let frame = frame.map_err(|e| self.hinted(&e, map_error(&e)))?;
                    if let Ok(data) = frame.into_data() {
                        collector.push(&data)?;
                    }
                }
                Ok(None) => break,
                Err(Ended) => return Err(closed_error()),
            }
        }
        // Back to the pool if its dispatcher is ready for the next request now; a connection
        // that is not (the server sent more than the answer) is closed.
        if poll_fn(|cx| Poll::Ready(connection.poll_idle(cx))).await {
            self.pool.checkin(origin, connection);
        }
        let (_, collector) = reading.take().expect("set above");
        Ok(Response::from_parts(parts, collector.finish()))
    }
}

impl Origin {
    fn of(uri: &Uri) -> Result<Self, TransportError> {
        match (uri.scheme(), uri.authority()) {
            (Some(scheme), Some(authority)) => Ok(Self {
                scheme: scheme.clone(),
                authority: authority.clone(),
            }),
            _ => Err(TransportError::new(
                TransportErrorKind::Config,
                format!("not an absolute URL: {uri}"),
            )),
        }
    }
}

/// `Host` as hyper-util writes it: the authority without a port the scheme implies.
fn host_header(origin: &Origin) -> Result<HeaderValue, TransportError> {
    let default_port = match origin.scheme.as_str() {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    };
    let authority = &origin.authority;
    let host = match authority.port_u16() {
        Some(port) if Some(port) != default_port => authority.as_str(),
        _ => authority.host(),
    };
    HeaderValue::from_str(host)
        .map_err(|e| TransportError::new(TransportErrorKind::Config, e.to_string()))
}

/// The error of a connection that ended before the answer did, as hyper words it.
fn closed_error() -> TransportError {
    TransportError::new(
        TransportErrorKind::Protocol,
        "connection closed before message completed",
    )
}

impl AsyncHttpClient for Stack {
    type Error = TransportError;

    async fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, TransportError> {
        #[cfg(feature = "tracing")]
        let (event, started) = (
            vault_key_core::transport::ExchangeEvent::of(&request),
            std::time::Instant::now(),
        );
        let outcome = self.send_within_timeout(request).await;
        #[cfg(feature = "tracing")]
        event.finished(&outcome, started.elapsed());
        outcome
    }
}

impl Stack {
    /// One exchange within the exchange timeout; what arrived of a body that broke off is
    /// kept with the error.
    async fn send_within_timeout(
        &self,
        request: Request<Bytes>,
    ) -> Result<Response<Bytes>, TransportError> {
        let mut reading = None;
        let outcome = match self.timeout {
            None => self.exchange(request, &mut reading).await,
            Some(limit) => tokio::time::timeout(limit, self.exchange(request, &mut reading))
                .await
                .unwrap_or_else(|_| Err(TransportError::timeout_exchanging(limit))),
        };
        outcome.map_err(|error| match reading {
            // The answer broke off after its head: what arrived of it is kept. (A body over
            // the size limit is refused on purpose, not kept.)
            Some((status, collector)) if error.kind() != TransportErrorKind::BodyTooLarge => {
                error.with_partial_response(collector.into_partial(status))
            }
            _ => error,
        })
    }
}

/// The entries of a directory of CA certificates, and whether each is a directory.
fn list_dir(dir: &std::path::Path) -> std::io::Result<Vec<(std::path::PathBuf, bool)>> {
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

/// Maps hyper's error to a kind by what caused it; its text goes along (it never holds
/// header values).
fn map_error(error: &(dyn StdError + 'static)) -> TransportError {
    map_error_as(None, error)
}

/// As [`map_error`], with `fallback` as the kind when the causes name none (TLS or a
/// timeout); else a protocol error.
fn map_error_as(
    fallback: Option<TransportErrorKind>,
    error: &(dyn StdError + 'static),
) -> TransportError {
    let kind = kind_of(error).unwrap_or(fallback.unwrap_or(TransportErrorKind::Protocol));
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        cause = inner.source();
    }
    TransportError::new(kind, message)
}

fn kind_of(error: &(dyn StdError + 'static)) -> Option<TransportErrorKind> {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = cause {
        if e.is::<rustls::Error>() {
            return Some(TransportErrorKind::Tls);
        }
        cause = match e.downcast_ref::<std::io::Error>() {
            Some(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                return Some(TransportErrorKind::Timeout);
            }
            // An I/O error's own `source` skips the error it wraps: look at that one.
            Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn errors_map_to_kinds_through_wrapped_io_errors() {
        let handshake = io::Error::other(io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        ));
        assert_eq!(kind_of(&handshake), Some(TransportErrorKind::Tls));
        let timed_out = io::Error::other(io::Error::from(io::ErrorKind::TimedOut));
        assert_eq!(kind_of(&timed_out), Some(TransportErrorKind::Timeout));
        assert_eq!(
            kind_of(&io::Error::from(io::ErrorKind::TimedOut)),
            Some(TransportErrorKind::Timeout)
        );
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(map_error(&eof).kind(), TransportErrorKind::Protocol);
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(
            map_error_as(Some(TransportErrorKind::Connect), &refused).kind(),
            TransportErrorKind::Connect
        );
        let message = map_error(&handshake).to_string();
        assert!(message.contains("UnknownIssuer"), "{message}");
    }
}
