//! Client settings shared by every transport: where the server is, how to authenticate, what
//! to trust, how long to wait and how much to read.
//!
//! Settings come from explicit options and, when asked for, from the environment; explicit
//! options always win, whatever order they were given in. The environment is read through a
//! lookup function (and the CLI's token file through a reader), so this crate itself never
//! touches the process environment or the file system. The variables and their meaning are
//! those of the Go client under the `vault` and `bao` CLIs, so a client started from the same
//! shell reaches the same server the same way:
//!
//! | setting | variables (the first one set wins) | default |
//! |---|---|---|
//! | address | `BAO_ADDR`, `VAULT_ADDR` | [`DEFAULT_ADDRESS`] |
//! | token | `BAO_TOKEN`, `VAULT_TOKEN`; then, with [`ClientBuilder::token_file_reader`], the file `BAO_TOKEN_PATH` names, then `~/.vault-token` | none |
//! | namespace | `BAO_NAMESPACE`, `VAULT_NAMESPACE` | none |
//! | CA certificates | a PEM file: `BAO_CACERT`, `VAULT_CACERT`; else PEM text: `BAO_CACERT_BYTES`, `VAULT_CACERT_BYTES`; else a directory of PEM files: `BAO_CAPATH`, `VAULT_CAPATH` | the system's roots only |
//! | client certificate | PEM files: `BAO_CLIENT_CERT` + `BAO_CLIENT_KEY`, `VAULT_CLIENT_CERT` + `VAULT_CLIENT_KEY`; else PEM text: the `*_BYTES` twins | none |
//! | TLS server name (SNI and the name checked on the certificate) | `BAO_TLS_SERVER_NAME`, `VAULT_TLS_SERVER_NAME` | the address's host |
//! | skip certificate verification | `BAO_SKIP_VERIFY`, `VAULT_SKIP_VERIFY` (`1`/`t`/`true`, `0`/`f`/`false`) | verify |
//! | request timeout (seconds, or a duration such as `1m30s`) | `BAO_CLIENT_TIMEOUT`, `VAULT_CLIENT_TIMEOUT` | [`DEFAULT_TIMEOUT`] |
//! | follow no redirect | `BAO_DISABLE_REDIRECTS`, `VAULT_DISABLE_REDIRECTS` | follow within the cluster |
//! | HTTP proxy | `BAO_PROXY_ADDR`, `VAULT_PROXY_ADDR`, `BAO_HTTP_PROXY`, `VAULT_HTTP_PROXY` (every request); else `HTTPS_PROXY`/`https_proxy` or `HTTP_PROXY`/`http_proxy` by the address's scheme, with `NO_PROXY`/`no_proxy` (see [`Proxy`]) | none |
//!
//! OpenBao's own variables come first, as the `bao` CLI reads them. Empty variables count as
//! unset; a variable that cannot be read as its setting (a timeout that is no duration, a
//! boolean that is none, a client certificate without its key) is an error, never ignored.
//!
//! Skipping certificate verification is never a default. When it is on, the settings carry a
//! [`ConfigWarning`] ([`ClientConfig::warnings`]) and their `Debug` starts with it: this
//! library logs nothing, so an application is expected to show the warnings to its operator.
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
//! assert!(config.warnings().is_empty());
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
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

mod identity;
mod proxy;
mod tunnel;

pub use identity::{ClientCertificate, ClientIdentity, KeyFormat};
pub use proxy::Proxy;
pub use tunnel::TunnelAnswer;

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
/// The file the `vault` and `bao` CLIs keep the token of `login` in, under the home directory.
pub const TOKEN_FILE_NAME: &str = ".vault-token";

/// Certificate authorities to trust, in PEM.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CaCertificate {
    /// A PEM file, read by the transport when the client is built.
    File(PathBuf),
    /// PEM text held in memory.
    Pem(Vec<u8>),
    /// A directory whose every file (subdirectories included) holds PEM certificates, as
    /// `VAULT_CAPATH` names one; read by the transport when the client is built.
    Directory(PathBuf),
}

impl fmt::Debug for CaCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaCertificate::File(path) => f.debug_tuple("File").field(path).finish(),
            CaCertificate::Pem(pem) => write!(f, "Pem(<{} bytes>)", pem.len()),
            CaCertificate::Directory(path) => f.debug_tuple("Directory").field(path).finish(),
        }
    }
}

/// Something in the settings an operator should know about before trusting the client with a
/// token or a key share. The library logs nothing: show these where your operator looks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigWarning {
    /// Server certificates are not verified: anyone on the path can read the token and the key
    /// shares. `by` names what turned verification off (a variable, or the option).
    CertificatesNotVerified {
        /// `VAULT_SKIP_VERIFY`, `BAO_SKIP_VERIFY` or `danger_accept_invalid_certs`.
        by: &'static str,
    },
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigWarning::CertificatesNotVerified { by } => write!(
                f,
                "WARNING: TLS certificate verification is OFF ({by}): anyone on the network path \
                 can read the token and every key share sent"
            ),
        }
    }
}

/// Settings resolved from options and the environment: what a transport needs to build its
/// client.
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Address, token, namespace, headers and dialect.
    pub target: Target,
    /// Extra certificate authorities to trust.
    pub ca_certificate: Option<CaCertificate>,
    /// Whether the operating system's trusted roots are trusted too (default `true`).
    pub system_roots: bool,
    /// Accept any server certificate: for development servers only (see
    /// [`warnings`](Self::warnings)).
    pub danger_accept_invalid_certs: bool,
    /// What turned certificate verification off, when it is off.
    pub skip_verify_source: Option<&'static str>,
    /// The certificate the client presents, for servers that require one.
    pub client_certificate: Option<ClientCertificate>,
    /// The name sent in SNI and checked on the server's certificate, when it is not the
    /// address's host (a server reached by IP, or through a tunnel).
    pub tls_server_name: Option<String>,
    /// The HTTP proxy requests go through, if any.
    pub proxy: Option<Proxy>,
    /// Longest wait for one HTTP exchange, each redirect hop on its own; `None` waits forever.
    pub timeout: Option<Duration>,
    /// Longest wait for a connection.
    pub connect_timeout: Duration,
    /// Largest response body read; a larger one is an error.
    pub max_response_bytes: usize,
    /// Which redirects are followed.
    pub redirects: RedirectPolicy,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("ClientConfig");
        // First, so that no one printing the settings misses it.
        for warning in self.warnings() {
            s.field("WARNING", &format_args!("{warning}"));
        }
        s.field("target", &self.target)
            .field("ca_certificate", &self.ca_certificate)
            .field("system_roots", &self.system_roots)
            .field(
                "danger_accept_invalid_certs",
                &self.danger_accept_invalid_certs,
            )
            .field("client_certificate", &self.client_certificate)
            .field("tls_server_name", &self.tls_server_name)
            .field("proxy", &self.proxy)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("redirects", &self.redirects)
            .finish()
    }
}

impl ClientConfig {
    /// Settings to resolve, for a stack of your own (the transports have `Client::builder()`).
    pub fn builder() -> ClientBuilder<ClientConfig> {
        ClientBuilder::new()
    }

    /// What an operator should be told about these settings (empty when nothing): the library
    /// itself logs nothing, so a turned-off certificate check shows only here and in `Debug`.
    pub fn warnings(&self) -> Vec<ConfigWarning> {
        let mut warnings = Vec::new();
        if self.danger_accept_invalid_certs {
            warnings.push(ConfigWarning::CertificatesNotVerified {
                by: self
                    .skip_verify_source
                    .unwrap_or("danger_accept_invalid_certs"),
            });
        }
        warnings
    }

    /// The client certificate and key, decoded (files read through `read_file`); `None` when
    /// none is configured. Fails with [`TransportErrorKind::Config`] naming the file that
    /// cannot be read or holds no certificate or key.
    pub fn client_identity(
        &self,
        read_file: impl Fn(&Path) -> std::io::Result<Vec<u8>>,
    ) -> Result<Option<ClientIdentity>, TransportError> {
        self.client_certificate
            .as_ref()
            .map(|certificate| certificate.load(read_file))
            .transpose()
    }

    /// The root certificates (DER) to trust for an `https` address: the configured CA's
    /// certificates, read through `read_file` (and, for a directory, listed through
    /// `list_dir`, which gives each entry and whether it is a directory), and, when
    /// [`system_roots`](Self::system_roots) is on, those `system_roots` returns. Each is
    /// called only when needed: an `http` address or
    /// [`danger_accept_invalid_certs`](Self::danger_accept_invalid_certs) needs no roots.
    ///
    /// Fails with [`TransportErrorKind::Config`] when a CA file cannot be read or holds no PEM
    /// certificate, or no root at all is left for an `https` address.
    pub fn trusted_roots(
        &self,
        read_file: impl Fn(&Path) -> std::io::Result<Vec<u8>>,
        list_dir: impl Fn(&Path) -> std::io::Result<Vec<(PathBuf, bool)>>,
        system_roots: impl FnOnce() -> Vec<Vec<u8>>,
    ) -> Result<Vec<Vec<u8>>, TransportError> {
        let config_error =
            |message: String| TransportError::new(TransportErrorKind::Config, message);
        let from_file = |path: &Path| {
            let pem = read_file(path).map_err(|e| {
                config_error(format!(
                    "cannot read CA certificate {}: {e}",
                    path.display()
                ))
            })?;
            pem_certificates(&pem)
                .ok_or_else(|| config_error(format!("no PEM certificate in {}", path.display())))
        };
        let mut roots = match &self.ca_certificate {
            None => Vec::new(),
            Some(CaCertificate::Pem(pem)) => pem_certificates(pem).ok_or_else(|| {
                config_error("no PEM certificate in the CA certificate given".into())
            })?,
            Some(CaCertificate::File(path)) => from_file(path)?,
            Some(CaCertificate::Directory(dir)) => {
                let mut roots = Vec::new();
                let mut pending = vec![dir.clone()];
                while let Some(dir) = pending.pop() {
                    let mut entries = list_dir(&dir).map_err(|e| {
                        config_error(format!("cannot list CA directory {}: {e}", dir.display()))
                    })?;
                    entries.sort();
                    for (path, is_dir) in entries {
                        if is_dir {
                            pending.push(path);
                        } else {
                            roots.extend(from_file(&path)?);
                        }
                    }
                }
                if roots.is_empty() {
                    return Err(config_error(format!(
                        "no PEM certificate in the CA directory {}",
                        dir.display()
                    )));
                }
                roots
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
    /// Where the CLI's token file is: the variable that named it, and the path.
    token_file: Option<(&'static str, PathBuf)>,
    namespace: Option<String>,
    ca_certificate: Option<CaCertificate>,
    client_certificate: Option<ClientCertificate>,
    tls_server_name: Option<String>,
    /// Whether to skip verification, and what said so.
    skip_verify: Option<(bool, &'static str)>,
    timeout: Option<Duration>,
    max_redirects: Option<u32>,
    /// The proxy for an `https` address and for an `http` one; `Some(None)` is "no proxy".
    proxy_https: Option<Option<Proxy>>,
    proxy_http: Option<Option<Proxy>>,
}

/// Go's `strconv.ParseBool`, which the Go client reads its boolean variables with.
fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

impl Layer {
    fn from_env(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, InvalidInput> {
        let read = |names: &[&'static str]| {
            names.iter().find_map(|&name| {
                lookup(name)
                    .filter(|value| !value.trim().is_empty())
                    .map(|value| (name, value))
            })
        };
        let value = |names: &[&'static str]| read(names).map(|(_, value)| value);
        let boolean = |names: &[&'static str]| {
            match read(names) {
            Some((name, text)) => match parse_go_bool(text.trim()) {
                Some(b) => Ok(Some((b, name))),
                None => Err(InvalidInput::OutOfRange {
                    field: name,
                    reason: "must be true or false (1, t, T, TRUE, true, True, or 0, f, F, FALSE, false, False)",
                }),
            },
            None => Ok(None),
        }
        };
        let timeout = match read(&["BAO_CLIENT_TIMEOUT", "VAULT_CLIENT_TIMEOUT"]) {
            Some((name, text)) => {
                Some(parse_go_duration(&text).ok_or(InvalidInput::OutOfRange {
                    field: name,
                    reason: "must be a number of seconds or a duration such as 1m30s",
                })?)
            }
            None => None,
        };
        // As the Go client: a CA file wins over CA text, which wins over a CA directory.
        let ca_certificate = value(&["BAO_CACERT", "VAULT_CACERT"])
            .map(|path| CaCertificate::File(path.into()))
            .or_else(|| {
                value(&["BAO_CACERT_BYTES", "VAULT_CACERT_BYTES"])
                    .map(|pem| CaCertificate::Pem(pem.into_bytes()))
            })
            .or_else(|| {
                value(&["BAO_CAPATH", "VAULT_CAPATH"])
                    .map(|path| CaCertificate::Directory(path.into()))
            });
        let client_certificate = client_certificate_from_env(&read)?;
        let disable_redirects = boolean(&["BAO_DISABLE_REDIRECTS", "VAULT_DISABLE_REDIRECTS"])?;
        let token_file = read(&["BAO_TOKEN_PATH"])
            .map(|(name, path)| (name, PathBuf::from(path)))
            .or_else(|| {
                value(&["HOME", "USERPROFILE"])
                    .map(|home| ("~/.vault-token", Path::new(&home).join(TOKEN_FILE_NAME)))
            });
        Ok(Self {
            address: value(&["BAO_ADDR", "VAULT_ADDR"]),
            token: value(&["BAO_TOKEN", "VAULT_TOKEN"]).map(Token::new),
            token_file,
            namespace: value(&["BAO_NAMESPACE", "VAULT_NAMESPACE"]),
            ca_certificate,
            client_certificate,
            tls_server_name: value(&["BAO_TLS_SERVER_NAME", "VAULT_TLS_SERVER_NAME"]),
            skip_verify: boolean(&["BAO_SKIP_VERIFY", "VAULT_SKIP_VERIFY"])?,
            timeout,
            max_redirects: disable_redirects.and_then(|(disable, _)| disable.then_some(0)),
            proxy_https: Some(proxy::from_env(&read, true)),
            proxy_http: Some(proxy::from_env(&read, false)),
        })
    }
}

/// The client certificate the environment names: the files (of one prefix: `BAO_` first),
/// else the PEM text; a certificate without its key, or a key without its certificate, is an
/// error, as in the Go client.
fn client_certificate_from_env(
    read: proxy::EnvReader<'_>,
) -> Result<Option<ClientCertificate>, InvalidInput> {
    let pair = |cert: &'static str, key: &'static str| match (read(&[cert]), read(&[key])) {
        (Some((_, certificate)), Some((_, key))) => Ok(Some((certificate, key))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(InvalidInput::OutOfRange {
            field: cert,
            reason: "a client certificate needs its key too (the matching *_CLIENT_KEY variable)",
        }),
        (None, Some(_)) => Err(InvalidInput::OutOfRange {
            field: key,
            reason: "a client key needs its certificate too (the matching *_CLIENT_CERT variable)",
        }),
    };
    for (cert, key) in [
        ("BAO_CLIENT_CERT", "BAO_CLIENT_KEY"),
        ("VAULT_CLIENT_CERT", "VAULT_CLIENT_KEY"),
    ] {
        if let Some((certificate, key)) = pair(cert, key)? {
            return Ok(Some(ClientCertificate::Files {
                certificate: certificate.into(),
                key: key.into(),
            }));
        }
    }
    for (cert, key) in [
        ("BAO_CLIENT_CERT_BYTES", "BAO_CLIENT_KEY_BYTES"),
        ("VAULT_CLIENT_CERT_BYTES", "VAULT_CLIENT_KEY_BYTES"),
    ] {
        if let Some((certificate, key)) = pair(cert, key)? {
            return Ok(Some(ClientCertificate::Pem {
                certificate: certificate.into_bytes(),
                key: Zeroizing::new(key.into_bytes()),
            }));
        }
    }
    Ok(None)
}

/// Reads a token file; what the CLIs' `login` wrote there.
type TokenFileReader = Arc<dyn Fn(&Path) -> std::io::Result<Vec<u8>> + Send + Sync>;

/// Settings for a client, built up from explicit options and, optionally, the environment;
/// see the [module](self) for the variables read. Explicit options win.
#[derive(Clone)]
pub struct ClientBuilder<C = ClientConfig> {
    explicit: Layer,
    env: Option<Result<Layer, InvalidInput>>,
    token_file_reader: Option<TokenFileReader>,
    headers: Vec<(String, String)>,
    dialect: Option<Dialect>,
    system_roots: bool,
    connect_timeout: Duration,
    max_response_bytes: usize,
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
            .field("client_certificate", &self.explicit.client_certificate)
            .field("tls_server_name", &self.explicit.tls_server_name)
            .field("proxy", &self.explicit.proxy_https)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            )
            .field("dialect", &self.dialect)
            .field("system_roots", &self.system_roots)
            .field(
                "danger_accept_invalid_certs",
                &self.explicit.skip_verify.map(|(skip, _)| skip),
            )
            .field("env", &self.env.is_some())
            .field("timeout", &self.explicit.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("max_redirects", &self.explicit.max_redirects)
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
            token_file_reader: None,
            headers: Vec::new(),
            dialect: None,
            system_roots: true,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
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

    /// Trusts the certificate authorities in every PEM file of this directory (as
    /// `VAULT_CAPATH`), in addition to the system's roots.
    pub fn ca_certificate_directory(mut self, path: impl Into<PathBuf>) -> Self {
        self.explicit.ca_certificate = Some(CaCertificate::Directory(path.into()));
        self
    }

    /// Presents this certificate (PEM file, the certificate then its intermediates) and key
    /// (PEM file) to a server that asks for one: a listener with
    /// `tls_require_and_verify_client_cert` refuses a client without.
    pub fn client_certificate_files(
        mut self,
        certificate: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        self.explicit.client_certificate = Some(ClientCertificate::Files {
            certificate: certificate.into(),
            key: key.into(),
        });
        self
    }

    /// Presents this certificate and key, given as PEM text; the key's copy here is wiped when
    /// the settings drop.
    pub fn client_certificate_pem(
        mut self,
        certificate: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
    ) -> Self {
        self.explicit.client_certificate = Some(ClientCertificate::Pem {
            certificate: certificate.into(),
            key: Zeroizing::new(key.into()),
        });
        self
    }

    /// The name the server's certificate must carry and the name sent in SNI, when it is not
    /// the address's host: a server reached by IP or through a tunnel whose certificate names
    /// it otherwise. Verification stays on.
    pub fn tls_server_name(mut self, name: impl Into<String>) -> Self {
        self.explicit.tls_server_name = Some(name.into());
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
    /// only. The settings then carry a [`ConfigWarning`]. Given explicitly, this also wins
    /// over `VAULT_SKIP_VERIFY` (`false` keeps verification on whatever it says).
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.explicit.skip_verify = Some((accept, "danger_accept_invalid_certs"));
        self
    }

    /// Sends requests through this proxy (see [`Proxy`]), or, with `None`, through none
    /// whatever the environment says.
    pub fn proxy(mut self, proxy: Option<Proxy>) -> Self {
        self.explicit.proxy_https = Some(proxy.clone());
        self.explicit.proxy_http = Some(proxy);
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
    /// every redirect an error, as `VAULT_DISABLE_REDIRECTS` does.
    pub fn max_redirects(mut self, max: u32) -> Self {
        self.explicit.max_redirects = Some(max);
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

    /// Lets the token come from the file the CLIs keep it in when neither an option nor a
    /// token variable gives one: the file `BAO_TOKEN_PATH` names, else `~/.vault-token` (the
    /// file both `vault login` and `bao login` write), found through [`env`](Self::env)'s
    /// `HOME` (or `USERPROFILE`). `read` is typically `|path| std::fs::read(path)`. A missing
    /// file means no token; one that cannot be read is an error. A token helper configured in
    /// the CLI's own settings (`token_helper`) is not run.
    pub fn token_file_reader(
        mut self,
        read: impl Fn(&Path) -> std::io::Result<Vec<u8>> + Send + Sync + 'static,
    ) -> Self {
        self.token_file_reader = Some(Arc::new(read));
        self
    }

    /// The token of the CLI's token file, when a reader is given and the environment names
    /// the file.
    fn token_from_file(&self, env: &Layer) -> Result<Option<Token>, InvalidInput> {
        let (Some(read), Some((source, path))) = (&self.token_file_reader, &env.token_file) else {
            return Ok(None);
        };
        let bytes = match read(path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(_) => {
                return Err(InvalidInput::OutOfRange {
                    field: source,
                    reason: "the token file exists but cannot be read",
                })
            }
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| InvalidInput::OutOfRange {
            field: source,
            reason: "the token file does not hold text",
        })?;
        let token = text.trim();
        Ok((!token.is_empty()).then(|| Token::new(token)))
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
            .or(env.address.clone())
            .unwrap_or_else(|| DEFAULT_ADDRESS.to_string());
        let mut target = Target::new(&address)?;
        let token = match explicit.token.clone().or(env.token.clone()) {
            Some(token) => Some(token),
            None => self.token_from_file(&env)?,
        };
        if let Some(token) = token {
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
        let https = address
            .get(..6)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https:"));
        let proxy = if https {
            explicit.proxy_https.clone().or(env.proxy_https)
        } else {
            explicit.proxy_http.clone().or(env.proxy_http)
        }
        .flatten();
        let tls_server_name = explicit.tls_server_name.clone().or(env.tls_server_name);
        if tls_server_name.as_deref().is_some_and(|name| {
            name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '/')
        }) {
            return Err(InvalidInput::OutOfRange {
                field: "tls_server_name",
                reason: "must be a DNS name or an IP address",
            }
            .into());
        }
        let skip_verify = explicit.skip_verify.or(env.skip_verify);
        let danger_accept_invalid_certs = skip_verify.is_some_and(|(skip, _)| skip);
        let timeout = explicit.timeout.or(env.timeout).unwrap_or(DEFAULT_TIMEOUT);
        let max_redirects = explicit
            .max_redirects
            .or(env.max_redirects)
            .unwrap_or(DEFAULT_MAX_REDIRECTS);
        Ok(ClientConfig {
            ca_certificate: explicit.ca_certificate.clone().or(env.ca_certificate),
            system_roots: self.system_roots,
            danger_accept_invalid_certs,
            skip_verify_source: skip_verify
                .filter(|(skip, _)| *skip)
                .map(|(_, source)| source),
            client_certificate: explicit
                .client_certificate
                .clone()
                .or(env.client_certificate),
            tls_server_name,
            proxy,
            timeout: (!timeout.is_zero()).then_some(timeout),
            connect_timeout: self.connect_timeout,
            max_response_bytes: self.max_response_bytes,
            redirects: RedirectPolicy::new(max_redirects)
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
        let no_dir = |_: &Path| -> std::io::Result<Vec<(PathBuf, bool)>> { panic!("not listed") };
        let c = https(ClientBuilder::new());
        assert_eq!(
            c.trusted_roots(no_file, no_dir, system).unwrap(),
            vec![vec![9u8]]
        );
        let c = https(ClientBuilder::new().ca_certificate_pem(PEM));
        assert_eq!(c.trusted_roots(no_file, no_dir, system).unwrap().len(), 3);
        let c = https(
            ClientBuilder::new()
                .ca_certificate_pem(PEM)
                .system_roots(false),
        );
        assert_eq!(
            c.trusted_roots(no_file, no_dir, || panic!("not loaded"))
                .unwrap()
                .len(),
            2
        );
        let c = https(ClientBuilder::new().ca_certificate_file("/ca.pem"));
        let read = |p: &Path| {
            assert_eq!(p, Path::new("/ca.pem"));
            Ok(PEM.as_bytes().to_vec())
        };
        assert_eq!(c.trusted_roots(read, no_dir, Vec::new).unwrap().len(), 2);
        let missing = |_: &Path| Err(std::io::Error::from(std::io::ErrorKind::NotFound));
        let err = c.trusted_roots(missing, no_dir, system).unwrap_err();
        assert_eq!(err.kind(), TransportErrorKind::Config);
        assert!(err.to_string().contains("/ca.pem"), "{err}");
        let c = https(ClientBuilder::new());
        let err = c.trusted_roots(no_file, no_dir, Vec::new).unwrap_err();
        assert_eq!(err.kind(), TransportErrorKind::Config);
        let c = https(ClientBuilder::new().danger_accept_invalid_certs(true));
        assert!(c
            .trusted_roots(no_file, no_dir, Vec::new)
            .unwrap()
            .is_empty());
        let c = config(ClientBuilder::new().address("http://127.0.0.1:8200"));
        assert!(c
            .trusted_roots(no_file, no_dir, || panic!("not loaded"))
            .unwrap()
            .is_empty());
        let c = https(ClientBuilder::new().ca_certificate_pem(b"nothing".to_vec()));
        assert_eq!(
            c.trusted_roots(no_file, no_dir, system).unwrap_err().kind(),
            TransportErrorKind::Config
        );
    }

    #[test]
    fn ca_directory_is_read_recursively_and_every_file_must_hold_pem() {
        let c = https(
            ClientBuilder::new()
                .ca_certificate_directory("/cas")
                .system_roots(false),
        );
        let list = |dir: &Path| -> std::io::Result<Vec<(PathBuf, bool)>> {
            Ok(match dir.to_str().unwrap() {
                "/cas" => vec![("/cas/b.pem".into(), false), ("/cas/sub".into(), true)],
                "/cas/sub" => vec![("/cas/sub/a.pem".into(), false)],
                _ => panic!("{dir:?}"),
            })
        };
        let read = |_: &Path| Ok(PEM.as_bytes().to_vec());
        assert_eq!(c.trusted_roots(read, list, Vec::new).unwrap().len(), 4);
        let junk = |p: &Path| {
            Ok(if p.ends_with("a.pem") {
                b"junk".to_vec()
            } else {
                PEM.as_bytes().to_vec()
            })
        };
        let err = c.trusted_roots(junk, list, Vec::new).unwrap_err();
        assert!(err.to_string().contains("/cas/sub/a.pem"), "{err}");
        let empty = |_: &Path| Ok(Vec::new());
        let err = c.trusted_roots(read, empty, Vec::new).unwrap_err();
        assert!(err.to_string().contains("CA directory /cas"), "{err}");
    }

    #[test]
    fn the_rest_of_the_go_clients_environment() {
        let c = config(ClientBuilder::new().env(env(&[
            ("VAULT_ADDR", "https://10.0.0.1:8200"),
            ("VAULT_CAPATH", "/etc/vault/cas"),
            ("VAULT_CLIENT_CERT", "/etc/vault/client.pem"),
            ("VAULT_CLIENT_KEY", "/etc/vault/client-key.pem"),
            ("VAULT_TLS_SERVER_NAME", "vault.internal"),
            ("VAULT_DISABLE_REDIRECTS", "true"),
        ])));
        assert_eq!(
            c.ca_certificate,
            Some(CaCertificate::Directory("/etc/vault/cas".into()))
        );
        assert_eq!(
            c.client_certificate,
            Some(ClientCertificate::Files {
                certificate: "/etc/vault/client.pem".into(),
                key: "/etc/vault/client-key.pem".into(),
            })
        );
        assert_eq!(c.tls_server_name.as_deref(), Some("vault.internal"));
        assert_eq!(c.redirects.max_redirects(), 0);
        assert!(!c.danger_accept_invalid_certs && c.warnings().is_empty());

        // BAO_ first; a CA file wins over CA text, which wins over a directory; in-memory
        // client certificates from the *_BYTES twins.
        let c = config(ClientBuilder::new().env(env(&[
            ("BAO_CACERT_BYTES", "pem text"),
            ("VAULT_CAPATH", "/dir"),
            ("BAO_CLIENT_CERT_BYTES", "cert text"),
            ("BAO_CLIENT_KEY_BYTES", "key text"),
            ("BAO_TLS_SERVER_NAME", "bao.internal"),
            ("VAULT_TLS_SERVER_NAME", "vault.internal"),
            ("BAO_DISABLE_REDIRECTS", "0"),
        ])));
        assert_eq!(
            c.ca_certificate,
            Some(CaCertificate::Pem(b"pem text".to_vec()))
        );
        assert!(matches!(
            &c.client_certificate,
            Some(ClientCertificate::Pem { certificate, key })
                if certificate == b"cert text" && key.as_slice() == b"key text"
        ));
        assert_eq!(c.tls_server_name.as_deref(), Some("bao.internal"));
        assert_eq!(c.redirects.max_redirects(), DEFAULT_MAX_REDIRECTS);
        let c = config(ClientBuilder::new().env(env(&[
            ("VAULT_CACERT", "/ca.pem"),
            ("VAULT_CACERT_BYTES", "pem text"),
        ])));
        assert_eq!(
            c.ca_certificate,
            Some(CaCertificate::File("/ca.pem".into()))
        );

        // Explicit options win.
        let c = config(
            ClientBuilder::new()
                .env(env(&[
                    ("VAULT_CLIENT_CERT", "/env.pem"),
                    ("VAULT_CLIENT_KEY", "/env-key.pem"),
                    ("VAULT_TLS_SERVER_NAME", "env.internal"),
                    ("VAULT_DISABLE_REDIRECTS", "1"),
                    ("VAULT_SKIP_VERIFY", "true"),
                ]))
                .client_certificate_files("/mine.pem", "/mine-key.pem")
                .tls_server_name("mine.internal")
                .max_redirects(3)
                .danger_accept_invalid_certs(false),
        );
        assert!(matches!(
            &c.client_certificate,
            Some(ClientCertificate::Files { certificate, .. }) if certificate == Path::new("/mine.pem")
        ));
        assert_eq!(c.tls_server_name.as_deref(), Some("mine.internal"));
        assert_eq!(c.redirects.max_redirects(), 3);
        assert!(!c.danger_accept_invalid_certs);
    }

    #[test]
    fn half_a_client_certificate_or_a_bad_boolean_is_an_error() {
        let field = |vars: &[(&str, &str)]| match ClientBuilder::<ClientConfig>::new()
            .env(env(vars))
            .config()
        {
            Err(Error::InvalidInput(InvalidInput::OutOfRange { field, .. })) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(&[("VAULT_CLIENT_CERT", "/c.pem")]),
            "VAULT_CLIENT_CERT"
        );
        assert_eq!(field(&[("BAO_CLIENT_KEY", "/k.pem")]), "BAO_CLIENT_KEY");
        assert_eq!(
            field(&[("VAULT_CLIENT_CERT_BYTES", "pem")]),
            "VAULT_CLIENT_CERT_BYTES"
        );
        assert_eq!(field(&[("VAULT_SKIP_VERIFY", "yes")]), "VAULT_SKIP_VERIFY");
        assert_eq!(
            field(&[("BAO_DISABLE_REDIRECTS", "nope")]),
            "BAO_DISABLE_REDIRECTS"
        );
        let bad_name = ClientBuilder::<ClientConfig>::new()
            .tls_server_name("two words")
            .config()
            .unwrap_err();
        assert!(matches!(
            bad_name,
            Error::InvalidInput(InvalidInput::OutOfRange {
                field: "tls_server_name",
                ..
            })
        ));
    }

    #[test]
    fn skip_verify_is_allowed_and_warned_about() {
        let c = config(ClientBuilder::new().env(env(&[("VAULT_SKIP_VERIFY", "1")])));
        assert!(c.danger_accept_invalid_certs);
        assert_eq!(
            c.warnings(),
            vec![ConfigWarning::CertificatesNotVerified {
                by: "VAULT_SKIP_VERIFY"
            }]
        );
        let printed = format!("{c:?}");
        assert!(
            printed.starts_with("ClientConfig { WARNING: \"WARNING: TLS certificate verification is OFF (VAULT_SKIP_VERIFY)")
                || printed.starts_with("ClientConfig { WARNING: WARNING: TLS certificate verification is OFF (VAULT_SKIP_VERIFY)"),
            "{printed}"
        );
        let c = config(ClientBuilder::new().env(env(&[
            ("BAO_SKIP_VERIFY", "false"),
            ("VAULT_SKIP_VERIFY", "true"),
        ])));
        assert!(!c.danger_accept_invalid_certs && c.warnings().is_empty());
        assert!(!format!("{c:?}").contains("WARNING"));
        let c = config(ClientBuilder::new().danger_accept_invalid_certs(true));
        assert_eq!(
            c.warnings()[0].to_string(),
            "WARNING: TLS certificate verification is OFF (danger_accept_invalid_certs): anyone \
             on the network path can read the token and every key share sent"
        );
    }

    #[test]
    fn proxy_by_scheme_and_explicitly_none() {
        let vars = [
            ("HTTPS_PROXY", "http://secure-proxy:3128"),
            ("HTTP_PROXY", "http://plain-proxy:3128"),
            ("NO_PROXY", ".corp"),
        ];
        let c = config(
            ClientBuilder::new()
                .env(env(&vars))
                .address("https://vault:8200"),
        );
        let proxy = c.proxy.expect("HTTPS_PROXY");
        assert_eq!(proxy.url(), "http://secure-proxy:3128");
        assert!(!proxy.applies_to("a.corp", 8200));
        let c = config(
            ClientBuilder::new()
                .env(env(&vars))
                .address("http://vault:8200"),
        );
        assert_eq!(c.proxy.unwrap().url(), "http://plain-proxy:3128");
        let c = config(
            ClientBuilder::new()
                .env(env(&vars))
                .address("https://vault:8200")
                .proxy(None),
        );
        assert_eq!(c.proxy, None);
        let c = config(ClientBuilder::new().proxy(Some(Proxy::all("p:1"))));
        assert_eq!(c.proxy.unwrap().url(), "http://p:1");
    }

    #[test]
    fn token_from_the_clis_token_file() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let reads = Arc::new(AtomicUsize::new(0));
        let counted = reads.clone();
        let reader = move |path: &Path| {
            counted.fetch_add(1, Ordering::Relaxed);
            match path.to_str().unwrap() {
                "/home/op/.vault-token" => Ok(b"  s.from-file\n".to_vec()),
                "/run/bao-token" => Ok(b"s.from-bao-path".to_vec()),
                "/unreadable" => Err(std::io::ErrorKind::PermissionDenied.into()),
                _ => Err(std::io::ErrorKind::NotFound.into()),
            }
        };
        let token = |vars: &[(&str, &str)]| {
            ClientBuilder::<ClientConfig>::new()
                .env(env(vars))
                .token_file_reader(reader.clone())
                .config()
                .map(|c| c.target.token().map(|t| t.expose().to_string()))
        };
        assert_eq!(
            token(&[("HOME", "/home/op")]).unwrap().as_deref(),
            Some("s.from-file")
        );
        assert_eq!(
            token(&[("HOME", "/home/op"), ("BAO_TOKEN_PATH", "/run/bao-token")])
                .unwrap()
                .as_deref(),
            Some("s.from-bao-path")
        );
        // A token variable wins, and the file is then not read at all.
        let before = reads.load(Ordering::Relaxed);
        assert_eq!(
            token(&[("HOME", "/home/op"), ("VAULT_TOKEN", "s.var")])
                .unwrap()
                .as_deref(),
            Some("s.var")
        );
        assert_eq!(reads.load(Ordering::Relaxed), before);
        assert_eq!(token(&[("HOME", "/nobody")]).unwrap(), None);
        assert!(matches!(
            token(&[("BAO_TOKEN_PATH", "/unreadable")]),
            Err(Error::InvalidInput(InvalidInput::OutOfRange {
                field: "BAO_TOKEN_PATH",
                ..
            }))
        ));
        // Without a reader, or an explicit token, no file is read.
        let c = config(ClientBuilder::new().env(env(&[("HOME", "/home/op")])));
        assert!(c.target.token().is_none());
        let c = ClientBuilder::<ClientConfig>::new()
            .env(env(&[("HOME", "/home/op")]))
            .token_file_reader(reader)
            .token("s.explicit")
            .config()
            .unwrap();
        assert_eq!(c.target.token().unwrap().expose(), "s.explicit");
    }

    #[test]
    fn debug_hides_the_client_key() {
        let builder = ClientBuilder::<ClientConfig>::new()
            .client_certificate_pem(b"cert".to_vec(), b"the-private-key".to_vec());
        let printed = format!("{builder:?} {:?}", builder.config().unwrap());
        assert!(!printed.contains("the-private-key"), "{printed}");
    }
}
