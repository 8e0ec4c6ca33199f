//! One HTTP exchange over a pooled hyper client: send the core's request, read the answer
//! within the size limit and the timeout, and send it once more on a new connection when
//! the core's [`may_retry`] allows. Redirects, addressing and decoding are the core's.

use bytes::Bytes;
use http::header::{HeaderValue, USER_AGENT};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Body as _;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
    ServerName, UnixTime,
};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;
use vault_key_core::transport::config::{self, ClientConfig, KeyFormat};
use vault_key_core::transport::{copy_request, may_retry, may_retry_method, POOL_IDLE_TIMEOUT};
use vault_key_core::transport::{BodyCollector, TransportError, TransportErrorKind};
use vault_key_core::AsyncHttpClient;

use crate::tracking::{Tracking, Usage};

type Pool = hyper_util::client::legacy::Client<Tracking, Full<Bytes>>;

/// A pooled hyper client, the body size limit and the exchange timeout.
#[derive(Clone)]
pub(crate) struct Stack {
    pool: Pool,
    /// The same client without a pool: every request on a new connection, for retries.
    fresh: Pool,
    max_response_bytes: usize,
    timeout: Option<Duration>,
    connect_timeout: Duration,
    /// Whether a client certificate is configured, to explain a server's refusal of it.
    client_certificate: bool,
}

impl Stack {
    pub(crate) fn new(config: &ClientConfig) -> Result<Self, TransportError> {
        let tls = tls_config(config)?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.connect_timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http();
        let https = match &config.tls_server_name {
            Some(name) => {
                let name = ServerName::try_from(name.clone()).map_err(|_| {
                    TransportError::new(
                        TransportErrorKind::Config,
                        format!("TLS server name {name:?} is not a DNS name or an IP address"),
                    )
                })?;
                https.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name))
            }
            None => https,
        };
        let connector = Tracking(https.enable_http1().wrap_connector(http));
        let mut builder = hyper_util::client::legacy::Client::builder(TokioExecutor::new());
        builder
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            // A request handed a pooled connection found closed before anything was written
            // goes to another connection: the server saw nothing of it, whatever the method.
            .retry_canceled_requests(true);
        let pool = builder.build(connector.clone());
        let fresh = builder.pool_max_idle_per_host(0).build(connector);
        Ok(Self {
            pool,
            fresh,
            max_response_bytes: config.max_response_bytes,
            timeout: config.timeout,
            connect_timeout: config.connect_timeout,
            client_certificate: config.client_certificate.is_some(),
        })
    }

    /// Sends `request` through `pool` and waits for the head of the answer.
    async fn send_head(
        &self,
        pool: &Pool,
        request: Request<Bytes>,
    ) -> Result<Response<hyper::body::Incoming>, TransportError> {
        let mut request = request.map(Full::new);
        request
            .headers_mut()
            .entry(USER_AGENT)
            .or_insert(HeaderValue::from_static(config::USER_AGENT));
        pool.request(request).await.map_err(|e| {
            let usage = e.connect_info().and_then(Usage::of);
            let hint = client_certificate_hint(&e, self.client_certificate);
            let error = map_error(e);
            let error = match hint {
                Some(hint) => {
                    TransportError::new(TransportErrorKind::Tls, format!("{hint}: {error}"))
                }
                None => error,
            };
            if error.kind() == TransportErrorKind::Timeout {
                return TransportError::timeout_connecting(self.connect_timeout);
            }
            match usage {
                Some(usage) => error.with_progress(usage.progress()),
                None => error,
            }
        })
    }

    /// One exchange; the body read so far stays in `reading` if the exchange stops (an
    /// error, or the timeout dropping this future), to be kept with the error.
    async fn exchange(
        &self,
        request: Request<Bytes>,
        reading: &mut Option<(StatusCode, BodyCollector)>,
    ) -> Result<Response<Bytes>, TransportError> {
        // Lets the runtime deliver what arrived while it was idle first: a pooled connection
        // the server closed meanwhile is then dropped before a request is written on it (as
        // ureq probes its pooled connections). Best effort; `may_retry` covers the rest.
        tokio::task::yield_now().await;
        // Only a read may go out twice: a copy is kept for those alone.
        let spare = may_retry_method(request.method()).then(|| copy_request(&request));
        let response = match (self.send_head(&self.pool, request).await, spare) {
            (Err(error), Some(spare)) if may_retry(spare.method(), &error) => {
                self.send_head(&self.fresh, spare).await
            }
            (sent, _) => sent,
        }?;
        let (parts, mut body) = response.into_parts();
        let collector = BodyCollector::new(self.max_response_bytes, body.size_hint().exact())?;
        let (_, collector) = reading.insert((parts.status, collector));
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.map_err(map_error)?.into_data() {
                collector.push(&data)?;
            }
        }
        let (_, collector) = reading.take().expect("set above");
        Ok(Response::from_parts(parts, collector.finish()))
    }
}

impl AsyncHttpClient for Stack {
    type Error = TransportError;

    async fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, TransportError> {
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

/// The crypto provider: the one the application installed for the process, else the one the
/// crate's features chose (`ring` by default, `aws-lc-rs` as the option).
fn crypto_provider() -> Result<Arc<CryptoProvider>, TransportError> {
    if let Some(installed) = CryptoProvider::get_default() {
        return Ok(installed.clone());
    }
    #[cfg(feature = "ring")]
    return Ok(Arc::new(rustls::crypto::ring::default_provider()));
    #[cfg(all(feature = "aws-lc-rs", not(feature = "ring")))]
    return Ok(Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    #[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
    return Err(TransportError::new(
        TransportErrorKind::Config,
        "no TLS crypto provider: enable the feature `ring` or `aws-lc-rs`, or install one with \
         rustls::crypto::CryptoProvider::install_default",
    ));
}

fn tls_config(config: &ClientConfig) -> Result<rustls::ClientConfig, TransportError> {
    let tls_error = |e: rustls::Error| {
        TransportError::new(TransportErrorKind::Config, format!("TLS settings: {e}")).with_source(e)
    };
    let provider = crypto_provider()?;
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?;
    let roots = config.trusted_roots(|path| std::fs::read(path), list_dir, system_roots)?;
    let builder = if config.danger_accept_invalid_certs {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
    } else {
        let mut store = RootCertStore::empty();
        store.add_parsable_certificates(roots.into_iter().map(CertificateDer::from));
        builder.with_root_certificates(store)
    };
    match config.client_identity(|path| std::fs::read(path))? {
        None => Ok(builder.with_no_client_auth()),
        Some(identity) => {
            let chain = identity
                .chain
                .into_iter()
                .map(CertificateDer::from)
                .collect();
            // rustls keeps its own copy for the client's life; this one is wiped with `identity`.
            let key = match identity.key_format {
                KeyFormat::Pkcs1 => {
                    PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(&identity.key[..]))
                }
                KeyFormat::Sec1 => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(&identity.key[..])),
                _ => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(&identity.key[..])),
            };
            builder
                .with_client_auth_cert(chain, key.clone_key())
                .map_err(|e| {
                    TransportError::new(
                        TransportErrorKind::Config,
                        format!("the client certificate and key do not go together: {e}"),
                    )
                })
        }
    }
}

/// What a server's TLS alert about the client certificate means, in the operator's terms:
/// `None` when `error` holds no such alert.
fn client_certificate_hint(
    error: &(dyn StdError + 'static),
    configured: bool,
) -> Option<&'static str> {
    use rustls::AlertDescription::*;
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(rustls::Error::AlertReceived(alert)) = e.downcast_ref::<rustls::Error>() {
            return match (alert, configured) {
                (CertificateRequired | BadCertificate | HandshakeFailure, false) => Some(
                    "the server requires a client certificate and none is configured \
                     (VAULT_CLIENT_CERT and VAULT_CLIENT_KEY, or client_certificate_files)",
                ),
                (
                    BadCertificate
                    | UnknownCA
                    | CertificateUnknown
                    | CertificateExpired
                    | CertificateRevoked
                    | UnsupportedCertificate
                    | AccessDenied,
                    true,
                ) => Some(
                    "the server refused the client certificate (is it signed by a CA of the \
                     listener's tls_client_ca_file, and still valid?)",
                ),
                _ => None,
            };
        }
        cause = match e.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    None
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

/// Accepts any certificate (handshake signatures are still checked): the explicit opt-in for
/// development servers.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Maps hyper's error to a kind by what caused it; its text goes along (it never holds
/// header values).
fn map_error(error: impl StdError + Send + Sync + 'static) -> TransportError {
    let kind = kind_of(&error);
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        cause = inner.source();
    }
    TransportError::new(kind, message)
}

fn kind_of(error: &(dyn StdError + 'static)) -> TransportErrorKind {
    let mut connect = false;
    let mut cause: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = cause {
        if e.is::<rustls::Error>() {
            return TransportErrorKind::Tls;
        }
        if let Some(legacy) = e.downcast_ref::<hyper_util::client::legacy::Error>() {
            connect |= legacy.is_connect();
        }
        cause = match e.downcast_ref::<std::io::Error>() {
            Some(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                return TransportErrorKind::Timeout;
            }
            // An I/O error's own `source` skips the error it wraps: look at that one.
            Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    if connect {
        TransportErrorKind::Connect
    } else {
        TransportErrorKind::Protocol
    }
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
        assert_eq!(kind_of(&handshake), TransportErrorKind::Tls);
        let timed_out = io::Error::other(io::Error::from(io::ErrorKind::TimedOut));
        assert_eq!(kind_of(&timed_out), TransportErrorKind::Timeout);
        assert_eq!(
            kind_of(&io::Error::from(io::ErrorKind::TimedOut)),
            TransportErrorKind::Timeout
        );
        assert_eq!(
            kind_of(&io::Error::from(io::ErrorKind::UnexpectedEof)),
            TransportErrorKind::Protocol
        );
        let message = map_error(handshake).to_string();
        assert!(message.contains("UnknownIssuer"), "{message}");
    }

    #[test]
    fn verification_can_only_be_skipped_explicitly() {
        let https = |skip: bool| {
            ClientConfig::builder()
                .address("https://127.0.0.1:8200")
                .system_roots(false)
                .danger_accept_invalid_certs(skip)
                .config()
                .unwrap()
        };
        assert_eq!(
            tls_config(&https(false)).unwrap_err().kind(),
            TransportErrorKind::Config
        );
        assert!(tls_config(&https(true)).is_ok());
    }
}
