//! TLS under ureq with the settings ureq's own rustls connector has no place for: the name
//! checked on the server's certificate (`VAULT_TLS_SERVER_NAME`) and a crypto provider chosen
//! by feature or installed by the application. The rustls configuration (roots, client
//! certificate, verification) is made once per client.

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
    ServerName, UnixTime,
};
use rustls::{
    ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme, StreamOwned,
};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};
use vault_key_core::transport::config::{ClientConfig, KeyFormat};
use vault_key_core::transport::{TransportError, TransportErrorKind};

/// The crypto provider: the one the application installed for the process, else the one the
/// crate's features chose (`ring` by default, `aws-lc-rs` as the option).
pub(crate) fn crypto_provider() -> Result<Arc<CryptoProvider>, TransportError> {
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

/// The rustls settings for `config`: the trusted roots, the client certificate, or, when
/// verification is turned off, a verifier that accepts any certificate.
pub(crate) fn rustls_config(
    config: &ClientConfig,
    roots: Vec<Vec<u8>>,
) -> Result<rustls::ClientConfig, TransportError> {
    let tls_error = |e: rustls::Error| {
        TransportError::new(TransportErrorKind::Config, format!("TLS settings: {e}")).with_source(e)
    };
    let provider = crypto_provider()?;
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?;
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
pub(crate) fn client_certificate_hint(
    error: &(dyn std::error::Error + 'static),
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
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// Wraps the connection in TLS when the address is `https`.
#[derive(Debug)]
pub(crate) struct Tls {
    config: Arc<rustls::ClientConfig>,
    server_name: Option<ServerName<'static>>,
}

impl Tls {
    pub(crate) fn new(config: &ClientConfig, roots: Vec<Vec<u8>>) -> Result<Self, TransportError> {
        let server_name = config
            .tls_server_name
            .as_deref()
            .map(|name| {
                ServerName::try_from(name.to_string()).map_err(|_| {
                    TransportError::new(
                        TransportErrorKind::Config,
                        format!("TLS server name {name:?} is not a DNS name or an IP address"),
                    )
                })
            })
            .transpose()?;
        Ok(Self {
            config: Arc::new(rustls_config(config, roots)?),
            server_name,
        })
    }
}

impl<In: Transport> Connector<In> for Tls {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => {
                let host = details.uri.host().unwrap_or_default();
                let host = host.trim_start_matches('[').trim_end_matches(']');
                ServerName::try_from(host.to_string())
                    .map_err(|_| ureq::Error::Tls("the address's host is not a valid TLS name"))?
            }
        };
        let mut connection = ClientConnection::new(self.config.clone(), name)?;
        let mut socket = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        socket.set_timeout(details.timeout);
        connection.complete_io(&mut socket)?;
        let config = details.config;
        Ok(Some(Either::B(TlsTransport {
            buffers: LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size()),
            stream: StreamOwned::new(connection, socket),
        })))
    }
}

/// A TLS connection over the transport below.
pub(crate) struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTransport").finish_non_exhaustive()
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
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
