//! The HTTP proxy of [`ClientConfig::proxy`], reached as the blocking client and the Go client
//! under the Vault and OpenBao CLIs reach it, so that a proxy that lets the CLI through lets
//! this client through too: an `https` server through a `CONNECT` tunnel (TLS to the server
//! inside it), an `http` one by sending each request to the proxy with the server's absolute
//! URL in its request line, both with the proxy's credentials as `Proxy-Authorization`. What
//! to send and how to read the proxy's answer are the core's ([`Proxy`]); the I/O is here.
//!
//! The server's name is resolved by the proxy, never here: a client behind a mandatory proxy
//! often cannot resolve it itself.

use http::header::HeaderValue;
use http::uri::Scheme;
use http::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tower_service::Service;
use vault_key_core::transport::config::{ClientConfig, Proxy};
use vault_key_core::transport::{TransportError, TransportErrorKind};

use super::pool::Origin;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The proxy requests go through, where it is, and the credentials they carry to it.
pub(crate) struct Route {
    proxy: Proxy,
    /// `http://host:port/` of the proxy, for the TCP connector.
    address: Uri,
    /// `Basic ...`, marked sensitive, when the proxy's URL has user information.
    authorization: Option<HeaderValue>,
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
    pub(crate) fn of(config: &ClientConfig) -> Result<Option<Arc<Route>>, TransportError> {
        let Some(proxy) = config.proxy.clone() else {
            return Ok(None);
        };
        let refused = |why: String| {
            TransportError::new(
                TransportErrorKind::Config,
                format!("proxy from {}: {why}", proxy.source()),
            )
        };
        let address = format!("http://{}/", proxy.host_and_port()?)
            .parse::<Uri>()
            .map_err(|e| refused(format!("the proxy's host and port: {e}")))?;
        let authorization = match proxy.authorization() {
            None => None,
            Some(value) => {
                // Never shown: the error says only that the value is not a header's.
                let mut value = HeaderValue::from_str(&value)
                    .map_err(|_| refused("the credentials cannot be sent".into()))?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        Ok(Some(Arc::new(Route {
            proxy,
            address,
            authorization,
        })))
    }

    /// Whether a request to `uri` goes through the proxy (by the `NO_PROXY` rules).
    pub(crate) fn applies_to(&self, uri: &Uri) -> bool {
        self.proxy.applies_to_uri(uri)
    }

    /// Whether requests to `origin` go to the proxy in absolute form: it applies to an `http`
    /// server (an `https` one is reached through a tunnel, inside which requests are as to
    /// the server itself).
    pub(crate) fn forwards(&self, origin: &Origin) -> bool {
        let port = origin.authority.port_u16().unwrap_or(80);
        origin.scheme == Scheme::HTTP && self.proxy.applies_to(origin.authority.host(), port)
    }

    /// The `Proxy-Authorization` each request forwarded to an `http` server carries.
    pub(crate) fn authorization(&self) -> Option<&HeaderValue> {
        self.authorization.as_ref()
    }

    /// Opens a tunnel to `uri`'s host and port over `stream`, connected to the proxy: sends
    /// `CONNECT` and reads the proxy's answer, at most as much as the core allows.
    async fn tunnel(&self, stream: &mut TcpStream, uri: &Uri) -> Result<(), TransportError> {
        let head = self.proxy.connect_request(uri)?;
        let broken = |e: std::io::Error| {
            TransportError::new(
                TransportErrorKind::Connect,
                format!("the proxy connection for a tunnel to {uri}: {e}"),
            )
        };
        stream.write_all(head.as_bytes()).await.map_err(broken)?;
        drop(head);
        let mut answer = self.proxy.tunnel_answer(uri)?;
        let mut chunk = [0u8; 1024];
        let mut read = 0;
        while !answer.push(&chunk[..read])? {
            read = stream.read(&mut chunk).await.map_err(broken)?;
            if read == 0 {
                return Err(answer.closed());
            }
        }
        Ok(())
    }
}

/// Opens TCP connections (TLS, when the address asks for it, goes on top): to the server, or
/// to the proxy of `route` when it applies, through a tunnel for an `https` server.
#[derive(Clone)]
pub(crate) struct ProxyConnector {
    pub(crate) http: HttpConnector,
    pub(crate) route: Option<Arc<Route>>,
    /// For the whole of a connection to the proxy: TCP and the tunnel's answer.
    pub(crate) connect_timeout: Duration,
}

impl Service<Uri> for ProxyConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let route = self.route.clone().filter(|route| route.applies_to(&uri));
        let Some(route) = route else {
            let connecting = self.http.call(uri);
            return Box::pin(async move { connecting.await.map_err(Into::into) });
        };
        let connecting = self.http.call(route.address.clone());
        let limit = self.connect_timeout;
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + limit;
            let mut stream = connecting.await?;
            if uri.scheme_str() == Some("https") {
                tokio::time::timeout_at(deadline, route.tunnel(stream.inner_mut(), &uri))
                    .await
                    .unwrap_or_else(|_| Err(TransportError::timeout_connecting(limit)))?;
            }
            Ok(stream)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    fn config(proxy: &str) -> ClientConfig {
        ClientConfig::builder()
            .address("https://vault.example:8200")
            .proxy(Some(Proxy::all(proxy)))
            .config()
            .unwrap()
    }

    #[test]
    fn credentials_are_sensitive_and_never_shown() {
        let route = Route::of(&config("http://ops:s3cret@proxy.example:3128"))
            .unwrap()
            .unwrap();
        assert_eq!(route.address, "http://proxy.example:3128/");
        // base64 of `ops:s3cret`.
        let encoded = "b3BzOnMzY3JldA==";
        let header = route.authorization().unwrap();
        assert_eq!(header, format!("Basic {encoded}").as_str());
        assert!(header.is_sensitive());
        let shown = format!("{route:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains(encoded),
            "{shown}"
        );
        let refused = Route::of(&config("socks5://proxy.example:1080")).unwrap_err();
        assert_eq!(refused.kind(), TransportErrorKind::Config);
    }

    /// A proxy on loopback that answers one `CONNECT` with `answer`.
    async fn proxy(answer: &'static [u8]) -> Route {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).await.unwrap() == 1 {
                head.push(byte[0]);
            }
            assert!(head.starts_with(b"CONNECT vault.example:8200 HTTP/1.1\r\n"));
            stream.write_all(answer).await.unwrap();
            let _ = stream.read(&mut byte).await;
        });
        let route = Route::of(&config(&format!("http://{address}"))).unwrap();
        Arc::into_inner(route.unwrap()).unwrap()
    }

    #[tokio::test]
    async fn the_tunnel_opens_after_the_head_and_refuses_garbage() {
        let uri: Uri = "https://vault.example:8200/".parse().unwrap();
        let route = proxy(b"HTTP/1.1 200 Connection established\r\n\r\n").await;
        let mut stream = TcpStream::connect(route.address.authority().unwrap().as_str())
            .await
            .unwrap();
        route.tunnel(&mut stream, &uri).await.unwrap();

        let route = proxy(b"\x16\x03\x01\x02\x00").await;
        let mut stream = TcpStream::connect(route.address.authority().unwrap().as_str())
            .await
            .unwrap();
        let error = route.tunnel(&mut stream, &uri).await.unwrap_err();
        assert_eq!(error.kind(), TransportErrorKind::Protocol, "{error}");
    }
}
