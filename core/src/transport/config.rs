//! Client settings shared by every transport: where the server is, how to authenticate, what
//! to trust, how long to wait and how much to read.
//!
//! Settings come from explicit options and, when asked for, from the environment; explicit
//! options always win, whatever order they were given in. The environment is read through a
//! lookup function, so this crate itself never touches the process environment:
//!
//! | setting | variables (the first one set wins) | default |
//! |---|---|---|
//! | address | `BAO_ADDR`, `VAULT_ADDR` | [`DEFAULT_ADDRESS`] |
//! | token | `BAO_TOKEN`, `VAULT_TOKEN` | none |
//! | namespace | `BAO_NAMESPACE`, `VAULT_NAMESPACE` | none |
//! | CA certificate (PEM file) | `BAO_CACERT`, `VAULT_CACERT` | none |
//! | request timeout (seconds, or a duration such as `1m30s`) | `BAO_CLIENT_TIMEOUT`, `VAULT_CLIENT_TIMEOUT` | [`DEFAULT_TIMEOUT`] |
//!
//! OpenBao's own variables come first, as the `bao` CLI reads them. Empty variables count as
//! unset. Certificate verification can only be skipped in code
//! ([`ClientBuilder::danger_accept_invalid_certs`]); no variable turns it off.
//!
//! ```
//! use std::time::Duration;
//! use vault_key_core::transport::config::{ClientBuilder, ClientConfig};
//!
//! let env = |name: &str| match name {
//!     "VAULT_ADDR" => Some("https://vault.example.com:8200".to_string()),
//!     "VAULT_TOKEN" => Some("s.from-env".to_string()),
//!     "VAULT_CLIENT_TIMEOUT" => Some("90s".to_string()),
//!     _ => None,
//! };
//! let config: ClientConfig = ClientBuilder::new()
//!     .timeout(Duration::from_secs(5)) // explicit: wins over VAULT_CLIENT_TIMEOUT
//!     .env(env)
//!     .build()?;
//! assert_eq!(config.target.address(), "https://vault.example.com:8200");
//! assert_eq!(config.target.token().unwrap().expose(), "s.from-env");
//! assert_eq!(config.timeout, Some(Duration::from_secs(5)));
//! # Ok::<(), vault_key_core::Error>(())
//! ```

use crate::dialect::Dialect;
use crate::error::{Error, InvalidInput};
use crate::ops::encryption_key::parse_go_duration;
use crate::secret::Token;
use crate::target::Target;
use crate::transport::redirect::{RedirectHosts, RedirectPolicy, DEFAULT_MAX_REDIRECTS};
use crate::transport::{TransportError, TransportErrorKind};
use base64::Engine as _;
use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The address used when neither an option nor the environment names one.
pub const DEFAULT_ADDRESS: &str = "https://127.0.0.1:8200";
/// Longest wait for one HTTP exchange (connect, send, receive the whole answer).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for a connection (TCP and TLS handshake).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The `User-Agent` the transports send.
pub const USER_AGENT: &str = concat!("vault-key/", env!("CARGO_PKG_VERSION"));
/// Largest response body read (4 MiB): key-management answers are a few KiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// A certificate authority to trust, in PEM.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CaCertificate {
    /// A PEM file, read by the transport when the client is built.
    File(PathBuf),
    /// PEM text held in memory.
    Pem(Vec<u8>),
}

impl fmt::Debug for CaCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaCertificate::File(path) => f.debug_tuple("File").field(path).finish(),
            CaCertificate::Pem(pem) => write!(f, "Pem(<{} bytes>)", pem.len()),
        }
    }
}

/// Settings resolved from options and the environment: what a transport needs to build its
/// client.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Address, token, namespace, headers and dialect.
    pub target: Target,
    /// An extra certificate authority to trust.
    pub ca_certificate: Option<CaCertificate>,
    /// Whether the operating system's trusted roots are trusted too (default `true`).
    pub system_roots: bool,
    /// Accept any server certificate: for development servers only.
    pub danger_accept_invalid_certs: bool,
    /// Longest wait for one HTTP exchange, each redirect hop on its own; `None` waits forever.
    pub timeout: Option<Duration>,
    /// Longest wait for a connection.
    pub connect_timeout: Duration,
    /// Largest response body read; a larger one is an error.
    pub max_response_bytes: usize,
    /// Which redirects are followed.
    pub redirects: RedirectPolicy,
}

impl ClientConfig {
    /// Settings to resolve, for a stack of your own (the transports have `Client::builder()`).
    pub fn builder() -> ClientBuilder<ClientConfig> {
        ClientBuilder::new()
    }

    /// The root certificates (DER) to trust for an `https` address: the configured CA's
    /// certificates, read through `read_file`, and, when [`system_roots`](Self::system_roots)
    /// is on, those `system_roots` returns. Each is called only when needed: an `http` address
    /// or [`danger_accept_invalid_certs`](Self::danger_accept_invalid_certs) needs no roots.
    ///
    /// Fails with [`TransportErrorKind::Config`] when the CA file cannot be read, holds no PEM
    /// certificate, or no root at all is left for an `https` address.
    pub fn trusted_roots(
        &self,
        read_file: impl FnOnce(&Path) -> std::io::Result<Vec<u8>>,
        system_roots: impl FnOnce() -> Vec<Vec<u8>>,
    ) -> Result<Vec<Vec<u8>>, TransportError> {
        let config_error =
            |message: String| TransportError::new(TransportErrorKind::Config, message);
        let mut roots = match &self.ca_certificate {
            None => Vec::new(),
            Some(CaCertificate::Pem(pem)) => pem_certificates(pem).ok_or_else(|| {
                config_error("no PEM certificate in the CA certificate given".into())
            })?,
            Some(CaCertificate::File(path)) => {
                let pem = read_file(path).map_err(|e| {
                    config_error(format!(
                        "cannot read CA certificate {}: {e}",
                        path.display()
                    ))
                })?;
                pem_certificates(&pem).ok_or_else(|| {
                    config_error(format!("no PEM certificate in {}", path.display()))
                })?
            }
        };
        let https = self
            .target
            .address()
            .get(..6)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https:"));
        if !https || self.danger_accept_invalid_certs {
            return Ok(roots);
        }
        if self.system_roots {
            roots.extend(system_roots());
        }
        if roots.is_empty() {
            return Err(config_error(
                "no trusted root certificate: the system has none and no CA certificate is configured"
                    .into(),
            ));
        }
        Ok(roots)
    }
}

/// The DER bytes of every `CERTIFICATE` block in `pem`; `None` when there is none or one is
/// not valid base64.
pub fn pem_certificates(pem: &[u8]) -> Option<Vec<Vec<u8>>> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let text = String::from_utf8_lossy(pem);
    let mut rest = text.as_ref();
    let mut certificates = Vec::new();
    while let Some(start) = rest.find(BEGIN) {
        let after = &rest[start + BEGIN.len()..];
        let end = after.find(END)?;
        let body: String = after[..end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .ok()?;
        if der.is_empty() {
            return None;
        }
        certificates.push(der);
        rest = &after[end + END.len()..];
    }
    (!certificates.is_empty()).then_some(certificates)
}

/// Builds a transport's client (or, for `C = ClientConfig`, just the settings).
///
/// Each transport crate implements this for its `Client`, so all of them are configured the
/// same way: `Client::builder()` returns a `ClientBuilder<Client>`.
pub trait FromClientConfig: Sized {
    /// The error of building (a core error for invalid settings, or the transport's own).
    type Error: From<Error>;

    /// Builds the client from resolved settings.
    fn from_config(config: ClientConfig) -> Result<Self, Self::Error>;
}

impl FromClientConfig for ClientConfig {
    type Error = Error;

    fn from_config(config: ClientConfig) -> Result<Self, Error> {
        Ok(config)
    }
}

/// One layer of settings: the explicit options, or the environment.
#[derive(Clone, Default)]
struct Layer {
    address: Option<String>,
    token: Option<Token>,
    namespace: Option<String>,
    ca_certificate: Option<CaCertificate>,
    timeout: Option<Duration>,
}

impl Layer {
    fn from_env(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, InvalidInput> {
        let read = |names: [&'static str; 2]| {
            names.into_iter().find_map(|name| {
                lookup(name)
                    .filter(|value| !value.trim().is_empty())
                    .map(|value| (name, value))
            })
        };
        let value = |names| read(names).map(|(_, value)| value);
        let timeout = match read(["BAO_CLIENT_TIMEOUT", "VAULT_CLIENT_TIMEOUT"]) {
            Some((name, text)) => {
                Some(parse_go_duration(&text).ok_or(InvalidInput::OutOfRange {
                    field: name,
                    reason: "must be a number of seconds or a duration such as 1m30s",
                })?)
            }
            None => None,
        };
        Ok(Self {
            address: value(["BAO_ADDR", "VAULT_ADDR"]),
            token: value(["BAO_TOKEN", "VAULT_TOKEN"]).map(Token::new),
            namespace: value(["BAO_NAMESPACE", "VAULT_NAMESPACE"]),
            ca_certificate: value(["BAO_CACERT", "VAULT_CACERT"])
                .map(|path| CaCertificate::File(path.into())),
            timeout,
        })
    }
}

/// Settings for a client, built up from explicit options and, optionally, the environment;
/// see the [module](self) for the variables read. Explicit options win.
#[derive(Clone)]
pub struct ClientBuilder<C = ClientConfig> {
    explicit: Layer,
    env: Option<Result<Layer, InvalidInput>>,
    headers: Vec<(String, String)>,
    dialect: Option<Dialect>,
    system_roots: bool,
    danger_accept_invalid_certs: bool,
    connect_timeout: Duration,
    max_response_bytes: usize,
    max_redirects: u32,
    redirect_hosts: RedirectHosts,
    keep_custom_headers: bool,
    client: PhantomData<fn() -> C>,
}

impl<C> fmt::Debug for ClientBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("address", &self.explicit.address)
            .field("token", &self.explicit.token)
            .field("namespace", &self.explicit.namespace)
            .field("ca_certificate", &self.explicit.ca_certificate)
            .field("timeout", &self.explicit.timeout)
            .field("from_env", &self.env.is_some())
            .field("headers", &self.headers.len())
            .field("dialect", &self.dialect)
            .field("system_roots", &self.system_roots)
            .field(
                "danger_accept_invalid_certs",
                &self.danger_accept_invalid_certs,
            )
            .field("connect_timeout", &self.connect_timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("max_redirects", &self.max_redirects)
            .field("redirect_hosts", &self.redirect_hosts)
            .field("keep_custom_headers", &self.keep_custom_headers)
            .finish()
    }
}

impl<C> Default for ClientBuilder<C> {
    fn default() -> Self {
        Self {
            explicit: Layer::default(),
            env: None,
            headers: Vec::new(),
            dialect: None,
            system_roots: true,
            danger_accept_invalid_certs: false,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            redirect_hosts: RedirectHosts::Cluster,
            keep_custom_headers: false,
            client: PhantomData,
        }
    }
}

impl<C> ClientBuilder<C> {
    /// Default settings, nothing read from the environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// The server's address: `http://` or `https://`, host, optional port and path prefix.
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.explicit.address = Some(address.into());
        self
    }

    /// The token sent with every request.
    pub fn token(mut self, token: impl Into<Token>) -> Self {
        self.explicit.token = Some(token.into());
        self
    }

    /// The namespace sent with every request.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.explicit.namespace = Some(namespace.into());
        self
    }

    /// A header sent with every request (for a proxy in front of the server).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The path family for ceremonies (default [`Dialect::Vault`]).
    pub fn dialect(mut self, dialect: Dialect) -> Self {
        self.dialect = Some(dialect);
        self
    }

    /// Trusts the certificate authority in this PEM file, in addition to the system's roots.
    pub fn ca_certificate_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.explicit.ca_certificate = Some(CaCertificate::File(path.into()));
        self
    }

    /// Trusts the certificate authority in this PEM text, in addition to the system's roots.
    pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.explicit.ca_certificate = Some(CaCertificate::Pem(pem.into()));
        self
    }

    /// Whether the operating system's trusted roots are trusted (default `true`). Turn it off
    /// to trust only the configured CA certificate.
    pub fn system_roots(mut self, enabled: bool) -> Self {
        self.system_roots = enabled;
        self
    }

    /// Accepts any server certificate, without checking who signed it or which host it names.
    /// Anyone on the path can then read the token and key shares: for development servers
    /// only.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.danger_accept_invalid_certs = accept;
        self
    }

    /// Longest wait for one HTTP exchange, from connecting to the last byte of the answer
    /// (each redirect hop on its own). Zero waits forever.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.explicit.timeout = Some(timeout);
        self
    }

    /// Longest wait for a connection to be made.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Largest response body read; a larger one fails with a transport error as soon as the
    /// limit is passed, without reading further.
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// The most redirects followed per request (default [`DEFAULT_MAX_REDIRECTS`]); zero makes
    /// every redirect an error.
    pub fn max_redirects(mut self, max: u32) -> Self {
        self.max_redirects = max;
        self
    }

    /// The hosts a redirect may lead to (default [`RedirectHosts::Cluster`]: the configured
    /// host, and the active node as that host names it).
    pub fn redirect_hosts(mut self, hosts: RedirectHosts) -> Self {
        self.redirect_hosts = hosts;
        self
    }

    /// Sends the headers added with [`header`](Self::header) along a redirect to another
    /// origin too (by default they are dropped there; the token always goes).
    pub fn keep_custom_headers_across_origins(mut self, keep: bool) -> Self {
        self.keep_custom_headers = keep;
        self
    }

    /// Fills the settings not given explicitly from the environment, read through `lookup`
    /// (typically `|name| std::env::var(name).ok()`).
    pub fn env(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        self.env = Some(Layer::from_env(&lookup));
        self
    }

    /// Resolves the settings without building a client.
    pub fn config(&self) -> Result<ClientConfig, Error> {
        let env = match &self.env {
            Some(Ok(layer)) => layer.clone(),
            Some(Err(e)) => return Err(e.clone().into()),
            None => Layer::default(),
        };
        let explicit = &self.explicit;
        let address = explicit
            .address
            .clone()
            .or(env.address)
            .unwrap_or_else(|| DEFAULT_ADDRESS.to_string());
        let mut target = Target::new(&address)?;
        if let Some(token) = explicit.token.clone().or(env.token) {
            target = target.with_token(token);
        }
        if let Some(namespace) = explicit.namespace.clone().or(env.namespace) {
            target = target.with_namespace(namespace)?;
        }
        for (name, value) in &self.headers {
            target = target.with_header(name, value)?;
        }
        if let Some(dialect) = self.dialect {
            target = target.with_dialect(dialect);
        }
        let timeout = explicit.timeout.or(env.timeout).unwrap_or(DEFAULT_TIMEOUT);
        Ok(ClientConfig {
            ca_certificate: explicit.ca_certificate.clone().or(env.ca_certificate),
            system_roots: self.system_roots,
            danger_accept_invalid_certs: self.danger_accept_invalid_certs,
            timeout: (!timeout.is_zero()).then_some(timeout),
            connect_timeout: self.connect_timeout,
            max_response_bytes: self.max_response_bytes,
            redirects: RedirectPolicy::new(self.max_redirects)
                .hosts(self.redirect_hosts.clone())
                .custom_headers(target.custom_header_names().cloned())
                .keep_custom_headers_across_origins(self.keep_custom_headers),
            target,
        })
    }

    /// Resolves the settings and builds the client.
    pub fn build(self) -> Result<C, C::Error>
    where
        C: FromClientConfig,
    {
        C::from_config(self.config()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn config(builder: ClientBuilder) -> ClientConfig {
        builder.config().unwrap()
    }

    #[test]
    fn defaults() {
        let c = config(ClientBuilder::new());
        assert_eq!(c.target.address(), DEFAULT_ADDRESS);
        assert!(c.target.token().is_none());
        assert_eq!(c.timeout, Some(DEFAULT_TIMEOUT));
        assert_eq!(c.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(c.max_response_bytes, DEFAULT_MAX_RESPONSE_BYTES);
        assert_eq!(c.redirects.max_redirects(), DEFAULT_MAX_REDIRECTS);
        assert!(c.system_roots);
        assert!(!c.danger_accept_invalid_certs);
        assert_eq!(c.target.dialect(), Dialect::Vault);
    }

    #[test]
    fn reads_vault_and_bao_variables() {
        let c = config(ClientBuilder::new().env(env(&[
            ("VAULT_ADDR", "http://vault:8200"),
            ("VAULT_TOKEN", "s.vault"),
            ("VAULT_NAMESPACE", "team"),
            ("VAULT_CACERT", "/etc/ca.pem"),
            ("VAULT_CLIENT_TIMEOUT", "30"),
        ])));
        assert_eq!(c.target.address(), "http://vault:8200");
        assert_eq!(c.target.token().unwrap().expose(), "s.vault");
        assert_eq!(c.target.namespace(), Some("team"));
        assert_eq!(
            c.ca_certificate,
            Some(CaCertificate::File("/etc/ca.pem".into()))
        );
        assert_eq!(c.timeout, Some(Duration::from_secs(30)));

        let c = config(ClientBuilder::new().env(env(&[
            ("VAULT_ADDR", "http://vault:8200"),
            ("BAO_ADDR", "http://bao:8200"),
            ("BAO_TOKEN", ""),
            ("VAULT_TOKEN", "s.vault"),
            ("BAO_CLIENT_TIMEOUT", "1m30s"),
        ])));
        assert_eq!(c.target.address(), "http://bao:8200");
        assert_eq!(c.target.token().unwrap().expose(), "s.vault");
        assert_eq!(c.timeout, Some(Duration::from_secs(90)));
    }

    #[test]
    fn explicit_options_win_in_any_order() {
        let vars = [
            ("VAULT_ADDR", "http://env:8200"),
            ("VAULT_TOKEN", "s.env"),
            ("VAULT_NAMESPACE", "env-ns"),
            ("VAULT_CACERT", "/env.pem"),
            ("VAULT_CLIENT_TIMEOUT", "30s"),
        ];
        let explicit = |b: ClientBuilder| {
            b.address("http://explicit:8200")
                .token("s.explicit")
                .namespace("explicit-ns")
                .ca_certificate_pem(b"pem".to_vec())
                .timeout(Duration::from_secs(3))
        };
        for c in [
            config(explicit(ClientBuilder::new()).env(env(&vars))),
            config(explicit(ClientBuilder::new().env(env(&vars)))),
        ] {
            assert_eq!(c.target.address(), "http://explicit:8200");
            assert_eq!(c.target.token().unwrap().expose(), "s.explicit");
            assert_eq!(c.target.namespace(), Some("explicit-ns"));
            assert_eq!(c.ca_certificate, Some(CaCertificate::Pem(b"pem".to_vec())));
            assert_eq!(c.timeout, Some(Duration::from_secs(3)));
        }
    }

    #[test]
    fn invalid_settings_are_input_errors() {
        let bad_timeout = ClientBuilder::<ClientConfig>::new()
            .env(env(&[("BAO_CLIENT_TIMEOUT", "soon")]))
            .config()
            .unwrap_err();
        assert!(matches!(
            bad_timeout,
            Error::InvalidInput(InvalidInput::OutOfRange {
                field: "BAO_CLIENT_TIMEOUT",
                ..
            })
        ));
        let bad_addr = ClientBuilder::<ClientConfig>::new()
            .env(env(&[("VAULT_ADDR", "vault:8200")]))
            .config()
            .unwrap_err();
        assert!(matches!(
            bad_addr,
            Error::InvalidInput(InvalidInput::Address { .. })
        ));
        let bad_header = ClientBuilder::<ClientConfig>::new()
            .address("http://h")
            .header("X-Bad Name", "v")
            .config()
            .unwrap_err();
        assert!(matches!(
            bad_header,
            Error::InvalidInput(InvalidInput::Header { .. })
        ));
    }

    #[test]
    fn zero_timeout_means_none_and_debug_hides_secrets() {
        let builder = ClientBuilder::<ClientConfig>::new()
            .timeout(Duration::ZERO)
            .token("s.hidden")
            .header("X-Proxy-Auth", "hidden-too")
            .ca_certificate_pem(b"-----BEGIN CERTIFICATE-----".to_vec());
        let printed = format!("{builder:?} {:?}", builder.config().unwrap());
        assert!(!printed.contains("hidden"), "{printed}");
        assert_eq!(builder.config().unwrap().timeout, None);
        let built: ClientConfig = builder.clone().build().unwrap();
        assert_eq!(built.timeout, None);
    }

    fn https(builder: ClientBuilder) -> ClientConfig {
        config(builder.address("https://vault:8200"))
    }

    const PEM: &str = "junk\n-----BEGIN CERTIFICATE-----\nAQID\nBA==\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\r\nBQY=\r\n-----END CERTIFICATE-----\n";

    #[test]
    fn pem_blocks() {
        assert_eq!(
            pem_certificates(PEM.as_bytes()),
            Some(vec![vec![1, 2, 3, 4], vec![5, 6]])
        );
        assert_eq!(pem_certificates(b"no pem here"), None);
        assert_eq!(
            pem_certificates(b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----"),
            None
        );
        assert_eq!(pem_certificates(b"-----BEGIN CERTIFICATE-----\nAQID"), None);
    }

    #[test]
    fn trusted_roots_by_settings() {
        let system = || vec![vec![9u8]];
        let no_file = |_: &Path| -> std::io::Result<Vec<u8>> { panic!("not read") };
        let c = https(ClientBuilder::new());
        assert_eq!(c.trusted_roots(no_file, system).unwrap(), vec![vec![9u8]]);
        let c = https(ClientBuilder::new().ca_certificate_pem(PEM));
        assert_eq!(c.trusted_roots(no_file, system).unwrap().len(), 3);
        let c = https(
            ClientBuilder::new()
                .ca_certificate_pem(PEM)
                .system_roots(false),
        );
        assert_eq!(
            c.trusted_roots(no_file, || panic!("not loaded"))
                .unwrap()
                .len(),
            2
        );
        let c = https(ClientBuilder::new().ca_certificate_file("/ca.pem"));
        let read = |p: &Path| {
            assert_eq!(p, Path::new("/ca.pem"));
            Ok(PEM.as_bytes().to_vec())
        };
        assert_eq!(c.trusted_roots(read, Vec::new).unwrap().len(), 2);
        let missing = |_: &Path| Err(std::io::Error::from(std::io::ErrorKind::NotFound));
        let err = c.trusted_roots(missing, system).unwrap_err();
        assert_eq!(err.kind(), TransportErrorKind::Config);
        assert!(err.to_string().contains("/ca.pem"), "{err}");
        let c = https(ClientBuilder::new());
        let err = c.trusted_roots(no_file, Vec::new).unwrap_err();
        assert_eq!(err.kind(), TransportErrorKind::Config);
        let c = https(ClientBuilder::new().danger_accept_invalid_certs(true));
        assert!(c.trusted_roots(no_file, Vec::new).unwrap().is_empty());
        let c = config(ClientBuilder::new().address("http://127.0.0.1:8200"));
        assert!(c
            .trusted_roots(no_file, || panic!("not loaded"))
            .unwrap()
            .is_empty());
        let c = https(ClientBuilder::new().ca_certificate_pem(b"nothing".to_vec()));
        assert_eq!(
            c.trusted_roots(no_file, system).unwrap_err().kind(),
            TransportErrorKind::Config
        );
    }
}
