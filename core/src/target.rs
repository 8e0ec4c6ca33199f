//! Where requests go and how they are addressed: base address, token, namespace, extra
//! headers and the server's dialect.

use crate::dialect::Dialect;
use crate::error::{Error, InvalidInput};
use crate::secret::Token;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use http::{Method, Request};
use zeroize::Zeroizing;

/// A server to talk to. Cheap to clone; the token is zeroized when the last copy drops.
///
/// ```
/// use vault_key_core::{Dialect, Target, Token};
/// let target = Target::new("https://vault.example.com:8200/proxy")?
///     .with_token(Token::new("s.example"))
///     .with_namespace("team-a")?
///     .with_dialect(Dialect::OpenBao);
/// assert_eq!(target.address(), "https://vault.example.com:8200/proxy");
/// # Ok::<(), vault_key_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Target {
    address: String,
    token: Option<Token>,
    /// The token's header, made once: marked sensitive, in memory wiped when the last request
    /// sharing it drops. `None` with a token whose characters a header cannot carry.
    token_header: Option<HeaderValue>,
    namespace: Option<String>,
    headers: HeaderMap,
    dialect: Dialect,
}

impl Target {
    /// A target at `address`: `http://` or `https://`, a host, an optional port and an
    /// optional path prefix (for a server behind a proxy). Requests go to
    /// `{address}/v1/{path}`. The dialect defaults to [`Dialect::Vault`].
    pub fn new(address: &str) -> Result<Self, Error> {
        let bad = |reason| {
            Error::from(InvalidInput::Address {
                address: shown_address(address),
                reason,
            })
        };
        let trimmed = address.trim().trim_end_matches('/');
        let uri: http::Uri = trimmed.parse().map_err(|_| bad("not a valid URL"))?;
        match uri.scheme_str() {
            Some("http") | Some("https") => {}
            Some(_) => return Err(bad("scheme must be http or https")),
            None => return Err(bad("missing scheme (http:// or https://)")),
        }
        if uri.authority().is_none_or(|a| a.host().is_empty()) {
            return Err(bad("missing host"));
        }
        if uri.query().is_some() || trimmed.contains('#') {
            return Err(bad("must not have a query or fragment"));
        }
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(bad("must not contain user information"));
        }
        if uri.path().trim_end_matches('/').ends_with("/v1") {
            return Err(bad("must not end in /v1: requests add it"));
        }
        Ok(Self {
            address: trimmed.to_string(),
            token: None,
            token_header: None,
            namespace: None,
            headers: HeaderMap::new(),
            dialect: Dialect::default(),
        })
    }

    /// The same target (token, namespace, headers, dialect) at another `address`: another
    /// node of the same cluster, such as the leader a standby names.
    pub fn at_address(&self, address: &str) -> Result<Self, Error> {
        let node = Target::new(address)?;
        Ok(Self {
            address: node.address,
            ..self.clone()
        })
    }

    /// The same target at the address a node names as the cluster's leader (`sys/leader`),
    /// which the token then goes to. Refused when it would take the token from `https` down to
    /// plain `http`: a node, or whoever answers for it, cannot name a leader that drops TLS.
    pub fn at_named_leader(&self, address: &str) -> Result<Self, Error> {
        let leader = self.at_address(address)?;
        let secure = |a: &str| {
            a.get(..8)
                .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
        };
        if secure(&self.address) && !secure(&leader.address) {
            return Err(InvalidInput::Address {
                address: leader.address,
                reason: "a leader named over https at a plain http address: the token does not go there",
            }
            .into());
        }
        Ok(leader)
    }

    /// Sends `token` as `X-Vault-Token` on every request (Vault 2.x and OpenBao's paths need it
    /// for ceremonies too).
    pub fn with_token(mut self, token: Token) -> Self {
        let bytes = Bytes::from_owner(Zeroizing::new(token.expose().as_bytes().to_vec()));
        self.token_header = HeaderValue::from_maybe_shared(bytes).ok().map(|mut value| {
            value.set_sensitive(true);
            value
        });
        self.token = Some(token);
        self
    }

    /// Sends `namespace` as `X-Vault-Namespace` on every request.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Result<Self, Error> {
        let namespace = namespace.into();
        if namespace.trim().is_empty() {
            return Err(InvalidInput::Empty("namespace").into());
        }
        HeaderValue::from_str(&namespace).map_err(|_| InvalidInput::Header {
            name: "X-Vault-Namespace".into(),
            reason: "not a valid header value",
        })?;
        self.namespace = Some(namespace);
        Ok(self)
    }

    /// The names of the headers added with [`with_header`](Self::with_header).
    pub fn custom_header_names(&self) -> impl Iterator<Item = &HeaderName> {
        self.headers.keys()
    }

    /// Adds a header sent on every request (e.g. for a proxy). The value is marked sensitive.
    /// A redirect to another origin drops it unless the redirect policy keeps it
    /// ([`RedirectPolicy::keep_custom_headers_across_origins`](crate::transport::redirect::RedirectPolicy::keep_custom_headers_across_origins)).
    /// The headers the target sets itself (token, namespace, `X-Vault-Request`,
    /// `Content-Type`) are refused here: use [`with_token`](Self::with_token) and
    /// [`with_namespace`](Self::with_namespace).
    pub fn with_header(mut self, name: &str, value: &str) -> Result<Self, Error> {
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| InvalidInput::Header {
            name: name.to_string(),
            reason: "not a valid header name",
        })?;
        if [
            "x-vault-token",
            "x-vault-namespace",
            "x-vault-request",
            "content-type",
        ]
        .contains(&header.as_str())
        {
            return Err(InvalidInput::Header {
                name: name.to_string(),
                reason: "set by the target itself",
            }
            .into());
        }
        let mut value = HeaderValue::from_str(value).map_err(|_| InvalidInput::Header {
            name: name.to_string(),
            reason: "not a valid header value",
        })?;
        value.set_sensitive(true);
        self.headers.append(header, value);
        Ok(self)
    }

    /// Chooses the path family for ceremonies; see [`Dialect`] and
    /// [`ReadSealStatus`](crate::ops::seal::ReadSealStatus) to detect it.
    pub fn with_dialect(mut self, dialect: Dialect) -> Self {
        self.dialect = dialect;
        self
    }

    /// The base address, without trailing slash.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The dialect of this target.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The token, if one is configured.
    pub fn token(&self) -> Option<&Token> {
        self.token.as_ref()
    }

    /// The namespace, if one is configured.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// Builds a request to `{address}/v1/{path}` with the target's headers and a JSON body.
    pub(crate) fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Request<Bytes>, Error> {
        // Built by hand rather than through `format!` and `Request::builder()`: this runs for
        // every request, and the header names are known.
        let mut uri = String::with_capacity(self.address.len() + 4 + path.len());
        uri.push_str(&self.address);
        uri.push_str("/v1/");
        uri.push_str(path);
        let uri = http::Uri::try_from(uri).map_err(|_| {
            Error::from(InvalidInput::Address {
                address: self.address.clone(),
                reason: "cannot form a request URL with this address",
            })
        })?;
        let json = body.is_some();
        let mut request = Request::new(body.unwrap_or_default());
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.insert(X_VAULT_REQUEST, HeaderValue::from_static("true"));
        if self.token.is_some() {
            let value = self.token_header.clone().ok_or(InvalidInput::Header {
                name: "X-Vault-Token".into(),
                reason: "token contains characters not allowed in a header",
            })?;
            headers.insert(X_VAULT_TOKEN, value);
        }
        if let Some(namespace) = &self.namespace {
            let value = HeaderValue::from_str(namespace).map_err(|_| InvalidInput::Header {
                name: "X-Vault-Namespace".into(),
                reason: "namespace contains characters not allowed in a header",
            })?;
            headers.insert(X_VAULT_NAMESPACE, value);
        }
        for (name, value) in &self.headers {
            headers.append(name.clone(), value.clone());
        }
        if json {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        Ok(request)
    }
}

const X_VAULT_REQUEST: HeaderName = HeaderName::from_static("x-vault-request");
const X_VAULT_TOKEN: HeaderName = HeaderName::from_static("x-vault-token");
const X_VAULT_NAMESPACE: HeaderName = HeaderName::from_static("x-vault-namespace");

/// The address as an error shows it: user information, query and fragment can carry
/// credentials, so they are replaced by `<redacted>`.
fn shown_address(address: &str) -> String {
    let scheme_end = address.find("://").map_or(0, |i| i + 3);
    let (scheme, rest) = address.split_at(scheme_end);
    // Everything up to the last `@` may be user information, even with a `/`, `?` or `#`
    // inside a malformed password: all of it goes.
    let rest = match rest.rfind('@') {
        Some(at) => format!("<redacted>{}", &rest[at..]),
        None => rest.to_string(),
    };
    match rest.find(['?', '#']) {
        Some(i) => format!("{scheme}{}{}<redacted>", &rest[..i], &rest[i..i + 1]),
        None => format!("{scheme}{rest}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn shown_addresses_hide_every_kind_of_user_information() {
        for (address, shown) in [
            (
                "https://admin:s3cret@vault:8200/x",
                "https://<redacted>@vault:8200/x",
            ),
            ("https://admin:p/ss@vault", "https://<redacted>@vault"),
            ("https://admin:pa#ss@vault", "https://<redacted>@vault"),
            ("https://admin:p?ss@vault/v1", "https://<redacted>@vault/v1"),
            ("https://vault/x?token=s.abc", "https://vault/x?<redacted>"),
            ("https://vault/x#frag", "https://vault/x#<redacted>"),
            ("vault:8200", "vault:8200"),
        ] {
            assert_eq!(super::shown_address(address), shown, "{address}");
        }
    }

    use super::*;

    #[test]
    fn rejects_bad_addresses() {
        for bad in [
            "",
            "127.0.0.1:8200",
            "ftp://host",
            "http://",
            "http://h/?q=1",
            "http://u:p@h",
            "http://h/#f",
            "http://h/v1",
            "http://h/proxy/v1/",
        ] {
            assert!(
                matches!(
                    Target::new(bad),
                    Err(Error::InvalidInput(InvalidInput::Address { .. }))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn builds_url_with_prefix_and_headers() {
        let target = Target::new("https://proxy.example/vault/")
            .unwrap()
            .with_token(Token::new("s.tok"))
            .with_namespace("ns1")
            .unwrap()
            .with_header("X-Extra", "yes")
            .unwrap();
        let request = target.request(Method::GET, "sys/key-status", None).unwrap();
        assert_eq!(
            request.uri(),
            "https://proxy.example/vault/v1/sys/key-status"
        );
        let h = request.headers();
        assert_eq!(h["X-Vault-Request"], "true");
        assert_eq!(h["X-Vault-Token"], "s.tok");
        assert!(h["X-Vault-Token"].is_sensitive());
        assert_eq!(h["X-Vault-Namespace"], "ns1");
        assert_eq!(h["X-Extra"], "yes");
        assert!(h.get(CONTENT_TYPE).is_none());
    }

    #[test]
    fn refuses_reserved_headers_and_empty_namespace() {
        let target = Target::new("http://h").unwrap();
        for name in [
            "X-Vault-Token",
            "x-vault-request",
            "Content-Type",
            "X-Vault-Namespace",
        ] {
            assert!(target.clone().with_header(name, "v").is_err(), "{name}");
        }
        assert!(target.clone().with_namespace(" ").is_err());
        assert!(target.with_header("X-Proxy-Auth", "v").is_ok());
    }

    #[test]
    fn token_with_newline_is_an_input_error() {
        let target = Target::new("http://h")
            .unwrap()
            .with_token(Token::new("a\nb"));
        let err = target.request(Method::GET, "x", None).unwrap_err();
        assert!(!err.to_string().contains("a\nb"));
        assert!(matches!(
            err,
            Error::InvalidInput(InvalidInput::Header { .. })
        ));
    }
}
