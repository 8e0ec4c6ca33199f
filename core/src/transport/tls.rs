//! The rustls client settings of a [`ClientConfig`], for transports that speak TLS with
//! rustls (feature `rustls`): the trusted roots, the client certificate, the name checked on
//! the server's certificate, the crypto provider, and what a server's refusal of the client
//! certificate means in an operator's words.
//!
//! rustls does no I/O of its own, so this stays on the core's side of the seam: the transport
//! reads the files and the system's roots and hands them in.
//!
//! ```
//! use vault_key_core::transport::config::ClientConfig;
//! use vault_key_core::transport::tls;
//!
//! let config = ClientConfig::builder()
//!     .address("https://10.0.0.5:8200")
//!     .tls_server_name("vault.example.com")
//!     .config()?;
//! // The transport reads the CA files, lists a CA directory and loads the system's roots
//! // (with rustls-native-certs, say; here one stands in).
//! let no_dir = |_: &std::path::Path| Ok(Vec::new());
//! let system_roots = || vec![b"a root certificate, DER".to_vec()];
//! let roots = config.trusted_roots(|p| std::fs::read(p), no_dir, system_roots)?;
//! let settings = tls::rustls_config(&config, roots, |p| std::fs::read(p))?;
//! assert!(!settings.client_auth_cert_resolver.has_certs()); // no client certificate
//! assert_eq!(
//!     tls::server_name(&config)?.unwrap().to_str(),
//!     "vault.example.com" // checked on the certificate instead of 10.0.0.5
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::error::Error as StdError;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
    ServerName, UnixTime,
};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::transport::config::{ClientConfig, KeyFormat};
use crate::transport::{TransportError, TransportErrorKind};

/// The crypto provider: the one the application installed for the process, else the one the
/// features chose (`rustls-ring`, else `rustls-aws-lc-rs`); a configuration error when there
/// is neither.
pub fn crypto_provider() -> Result<Arc<CryptoProvider>, TransportError> {
    if let Some(installed) = CryptoProvider::get_default() {
        return Ok(installed.clone());
    }
    #[cfg(feature = "rustls-ring")]
    return Ok(Arc::new(rustls::crypto::ring::default_provider()));
    #[cfg(all(feature = "rustls-aws-lc-rs", not(feature = "rustls-ring")))]
    return Ok(Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    #[cfg(not(any(feature = "rustls-ring", feature = "rustls-aws-lc-rs")))]
    return Err(TransportError::new(
        TransportErrorKind::Config,
        "no TLS crypto provider: enable the feature `ring` or `aws-lc-rs`, or install one with \
         rustls::crypto::CryptoProvider::install_default",
    ));
}

/// The rustls settings for `config`: `roots` (DER, from
/// [`ClientConfig::trusted_roots`]) as the trust anchors, or, when verification is turned
/// off, a verifier that accepts any certificate (handshake signatures are still checked);
/// and the client certificate, its files read through `read_file`.
pub fn rustls_config(
    config: &ClientConfig,
    roots: Vec<Vec<u8>>,
    read_file: impl Fn(&Path) -> std::io::Result<Vec<u8>>,
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
    let Some(identity) = config.client_identity(read_file)? else {
        return Ok(builder.with_no_client_auth());
    };
    let chain = identity
        .chain
        .into_iter()
        .map(CertificateDer::from)
        .collect();
    // rustls keeps its own copy for the client's life; this one is wiped with `identity`.
    let key = match identity.key_format {
        KeyFormat::Pkcs1 => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(&identity.key[..])),
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

/// The name to send (SNI) and check on the server's certificate when it is not the address's
/// host (`VAULT_TLS_SERVER_NAME`); `None` when it is the host.
pub fn server_name(config: &ClientConfig) -> Result<Option<ServerName<'static>>, TransportError> {
    config
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
        .transpose()
}

/// What a server's TLS alert about the client certificate means, in the operator's terms
/// (`configured`: whether a client certificate was sent); `None` when `error` and its causes,
/// through wrapped I/O errors, hold no such alert.
pub fn client_certificate_hint(
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
            // An I/O error's own `source` skips the error it wraps: look at that one.
            Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    None
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
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(all(test, any(feature = "rustls-ring", feature = "rustls-aws-lc-rs")))]
mod tests {
    use super::*;

    fn https(skip: bool) -> ClientConfig {
        ClientConfig::builder()
            .address("https://127.0.0.1:8200")
            .system_roots(false)
            .danger_accept_invalid_certs(skip)
            .config()
            .unwrap()
    }

    #[test]
    fn verification_can_only_be_skipped_explicitly() {
        let no_file = |_: &Path| -> std::io::Result<Vec<u8>> { unreachable!("no file configured") };
        let verifying = rustls_config(&https(false), Vec::new(), no_file).unwrap();
        assert!(!format!("{:?}", verifying).contains("AcceptAny"));
        let skipping = rustls_config(&https(true), Vec::new(), no_file).unwrap();
        assert!(format!("{:?}", skipping).contains("AcceptAnyCertificate"));
    }

    #[test]
    fn a_server_name_that_is_no_name_is_refused() {
        let mut config = https(false);
        assert_eq!(server_name(&config).unwrap(), None);
        config.tls_server_name = Some("vault.internal".into());
        assert!(server_name(&config).unwrap().is_some());
        config.tls_server_name = Some("not a name!".into());
        let error = server_name(&config).unwrap_err();
        assert_eq!(error.kind(), TransportErrorKind::Config);
        assert!(error.to_string().contains("not a name!"), "{error}");
    }

    #[test]
    fn a_refused_certificate_is_explained_through_wrapped_io_errors() {
        let alert = |a| {
            std::io::Error::other(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                rustls::Error::AlertReceived(a),
            ))
        };
        let required = alert(rustls::AlertDescription::CertificateRequired);
        assert!(client_certificate_hint(&required, false)
            .unwrap()
            .contains("none is configured"));
        let unknown_ca = alert(rustls::AlertDescription::UnknownCA);
        assert!(client_certificate_hint(&unknown_ca, true)
            .unwrap()
            .contains("refused the client certificate"));
        assert_eq!(client_certificate_hint(&unknown_ca, false), None);
        let other = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(client_certificate_hint(&other, true), None);
    }
}
