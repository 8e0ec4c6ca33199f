//! For whoever puts the core on an HTTP stack: what every transport shares, so that each one
//! behaves the same. A caller of the ceremonies and operations needs none of it beyond
//! [`Delivery`] (also at the crate root).
//!
//! - [`config`]: one builder for every client (address, token, namespace, TLS roots, timeouts,
//!   size cap, redirect rules, the `VAULT_*` / `BAO_*` environment);
//! - [`redirect`]: which redirects to follow, with which headers, and a wrapper that follows
//!   them around any [`HttpClient`](crate::HttpClient);
//! - [`submit`]: sending shares one after another until the server reports completion;
//! - `ExchangeEvent` (feature `tracing`): the event of each exchange, with how long it took;
//! - `tls` (feature `rustls`): the rustls client settings of a [`config::ClientConfig`];
//! - here: [`TransportError`], the failures of an HTTP stack (connect, timeout, TLS, body too
//!   large, redirect) without any of the stack's own types; [`BodyCollector`], the cap on
//!   response size; [`Delivery`] and [`TransportFailure`], how far a failed request got; and
//!   [`may_retry`], the one case where a failed request is sent again.
//!
//! # Running the core on any HTTP stack
//!
//! `vault-key-ureq` and `vault-key-hyper` are two ways to send the core's requests. Any stack
//! that turns an `http::Request<Bytes>` into an `http::Response<Bytes>` works the same way,
//! with the same settings ([`config`]), redirect rules ([`redirect`]) and size limit. With reqwest's blocking client, for
//! instance (the hidden lines stand in for reqwest, so this compiles without it):
//!
//! ```
//! # mod reqwest {
//! #     use std::time::Duration;
//! #     pub mod redirect { pub struct Policy; impl Policy { pub fn none() -> Self { Policy } } }
//! #     #[derive(Debug)] pub struct Error;
//! #     impl std::fmt::Display for Error {
//! #         fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("e") }
//! #     }
//! #     impl std::error::Error for Error {}
//! #     impl Error {
//! #         pub fn is_timeout(&self) -> bool { false }
//! #         pub fn is_connect(&self) -> bool { false }
//! #     }
//! #     pub mod blocking {
//! #         use super::*;
//! #         pub struct ClientBuilder;
//! #         impl ClientBuilder {
//! #             pub fn redirect(self, _: redirect::Policy) -> Self { self }
//! #             pub fn timeout<T: Into<Option<Duration>>>(self, _: T) -> Self { self }
//! #             pub fn connect_timeout(self, _: Duration) -> Self { self }
//! #             pub fn build(self) -> Result<Client, Error> { Ok(Client) }
//! #         }
//! #         pub struct Client;
//! #         impl Client {
//! #             pub fn builder() -> ClientBuilder { ClientBuilder }
//! #             pub fn execute(&self, request: Request) -> Result<Response, Error> {
//! #                 assert_eq!(request.0.uri(), "https://vault.example.com:8200/v1/sys/seal-status");
//! #                 Ok(Response(std::io::Cursor::new(br#"{"type":"shamir","initialized":true,"sealed":false}"#.to_vec())))
//! #             }
//! #         }
//! #         pub struct Request(http::Request<bytes::Bytes>);
//! #         impl TryFrom<http::Request<bytes::Bytes>> for Request {
//! #             type Error = Error;
//! #             fn try_from(r: http::Request<bytes::Bytes>) -> Result<Self, Error> { Ok(Request(r)) }
//! #         }
//! #         pub struct Response(std::io::Cursor<Vec<u8>>);
//! #         impl Response {
//! #             pub fn status(&self) -> http::StatusCode { http::StatusCode::OK }
//! #             pub fn headers(&self) -> &http::HeaderMap { Box::leak(Box::new(http::HeaderMap::new())) }
//! #             pub fn content_length(&self) -> Option<u64> { Some(self.0.get_ref().len() as u64) }
//! #         }
//! #         impl std::io::Read for Response {
//! #             fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> { self.0.read(buf) }
//! #         }
//! #     }
//! # }
//! use bytes::Bytes;
//! use std::io::Read;
//! use vault_key_core::transport::config::{ClientBuilder, ClientConfig};
//! use vault_key_core::ops::seal::ReadSealStatus;
//! use vault_key_core::transport::redirect::FollowRedirects;
//! use vault_key_core::execute;
//! use vault_key_core::transport::{BodyCollector, TransportError, TransportErrorKind};
//!
//! // Address, token, CA, timeouts and limits, from options (and `.env(...)` if wanted).
//! let config: ClientConfig = ClientBuilder::new()
//!     .address("https://vault.example.com:8200")
//!     .token("s.example")
//!     .build()?;
//! let http = reqwest::blocking::Client::builder()
//!     .redirect(reqwest::redirect::Policy::none()) // the core's policy follows redirects
//!     .timeout(config.timeout)
//!     .connect_timeout(config.connect_timeout)
//!     .build()?;
//!
//! // One exchange: the request as the core built it; the answer read within the limit.
//! let send = |request: http::Request<Bytes>| -> Result<http::Response<Bytes>, TransportError> {
//!     let failed = |kind, e: &dyn std::error::Error| TransportError::new(kind, e.to_string());
//!     let request = reqwest::blocking::Request::try_from(request)
//!         .map_err(|e| failed(TransportErrorKind::Config, &e))?;
//!     let mut response = http.execute(request).map_err(|e| {
//!         let kind = if e.is_timeout() {
//!             TransportErrorKind::Timeout
//!         } else if e.is_connect() {
//!             TransportErrorKind::Connect
//!         } else {
//!             TransportErrorKind::Protocol
//!         };
//!         failed(kind, &e)
//!     })?;
//!     let mut body = BodyCollector::new(config.max_response_bytes, response.content_length())?;
//!     let mut chunk = [0u8; 16 * 1024];
//!     loop {
//!         let n = response
//!             .read(&mut chunk)
//!             .map_err(|e| failed(TransportErrorKind::Protocol, &e))?;
//!         if n == 0 {
//!             break;
//!         }
//!         body.push(&chunk[..n])?;
//!     }
//!     let mut answer = http::Response::new(body.finish());
//!     *answer.status_mut() = response.status();
//!     *answer.headers_mut() = response.headers().clone();
//!     Ok(answer)
//! };
//!
//! let stack = FollowRedirects::new(send, config.redirects);
//! let status = execute(&stack, &config.target, &ReadSealStatus)?;
//! assert!(!status.sealed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! An async stack (reqwest's async client, a WASM `fetch`) is the same with an async
//! closure and [`execute_async`](crate::execute_async); the ceremonies run over either with
//! [`drive`](crate::ceremony::drive) and [`drive_async`](crate::ceremony::drive_async).

pub mod config;
#[cfg(feature = "tracing")]
mod exchange_event;
pub mod redirect;
pub mod submit;
#[cfg(feature = "rustls")]
#[cfg_attr(docsrs, doc(cfg(feature = "rustls")))]
pub mod tls;

pub use crate::delivery::{Delivery, PartialResponse};
use crate::exchange::ExecuteError;
use crate::secret::SecretBytes;
use crate::trace::event;
use crate::transport::redirect::RedirectError;
use bytes::Bytes;
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub use exchange_event::ExchangeEvent;
use http::{Method, Request, StatusCode};
use std::fmt;
use std::time::Duration;
use zeroize::Zeroizing;

/// How long a connection may wait idle in a pool before it is closed instead of reused.
///
/// Servers close idle keep-alive connections too (Vault and OpenBao after 5 minutes by
/// default, load balancers often after 60 seconds). Dropping them well before that makes it
/// rare for a request to go out on a connection the server is closing; [`may_retry`] covers
/// what is left of that race.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(15);

/// What went wrong below the HTTP layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// No connection could be made (refused, unreachable, name not resolved).
    Connect,
    /// The connection or the whole exchange did not complete within its timeout.
    Timeout,
    /// The TLS handshake failed (untrusted or invalid certificate, protocol mismatch).
    Tls,
    /// The response body is larger than the configured limit; it was not read further.
    BodyTooLarge,
    /// A redirect that must not be followed; see [`crate::transport::redirect`].
    Redirect,
    /// The connection broke, or the peer does not speak HTTP (truncated or garbled response).
    Protocol,
    /// The client could not be set up (unreadable CA file, bad TLS settings).
    Config,
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportErrorKind::Connect => "connection failed",
            TransportErrorKind::Timeout => "timed out",
            TransportErrorKind::Tls => "TLS failed",
            TransportErrorKind::BodyTooLarge => "response body too large",
            TransportErrorKind::Redirect => "redirect not followed",
            TransportErrorKind::Protocol => "broken exchange",
            TransportErrorKind::Config => "invalid client configuration",
        })
    }
}

/// How far an exchange had got when its connection failed, as the stack saw it; what
/// [`may_retry`] decides from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ExchangeProgress {
    /// The connection had already carried an earlier exchange: it came from the pool.
    pub reused_connection: bool,
    /// At least one byte of the response had arrived.
    pub response_started: bool,
}

/// An error of an HTTP stack that can tell how far the failed request got. Implemented by
/// [`TransportError`]; a stack error of its own implements it to let the ceremonies recover
/// partial answers through [`FollowRedirects`](crate::transport::redirect::FollowRedirects).
pub trait TransportFailure {
    /// How far the request got; [`Delivery::Unknown`] when the stack cannot tell.
    fn delivery(&self) -> Delivery<'_> {
        Delivery::Unknown
    }
}

/// A failure of the HTTP stack itself, without any of the stack's own types.
///
/// Its text never holds the token or any other secret: it describes the failure and, at
/// most, the address. An answer that broke off keeps what arrived of it
/// ([`partial_response`](Self::partial_response)), in zeroizing memory.
#[derive(Debug)]
pub struct TransportError {
    kind: TransportErrorKind,
    message: String,
    redirect: Option<RedirectError>,
    progress: Option<ExchangeProgress>,
    partial: Option<Box<PartialResponse>>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl TransportError {
    /// An error of `kind` described by `message`.
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            redirect: None,
            progress: None,
            partial: None,
            source: None,
        }
    }

    /// The body exceeded `limit` bytes.
    pub fn body_too_large(limit: usize) -> Self {
        Self::new(
            TransportErrorKind::BodyTooLarge,
            format!("the limit is {limit} bytes"),
        )
    }

    /// No connection was made within `limit`.
    pub fn timeout_connecting(limit: Duration) -> Self {
        Self::new(
            TransportErrorKind::Timeout,
            format!("no connection within {limit:?}"),
        )
    }

    /// No complete answer came within `limit`.
    pub fn timeout_exchanging(limit: Duration) -> Self {
        Self::new(
            TransportErrorKind::Timeout,
            format!("no complete answer within {limit:?}"),
        )
    }

    /// Keeps the underlying error, reachable through [`std::error::Error::source`].
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Records how far the exchange had got when it failed; stacks that can tell set it on
    /// broken exchanges, for [`may_retry`].
    pub fn with_progress(mut self, progress: ExchangeProgress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// How far the exchange had got, when the stack said so.
    pub fn progress(&self) -> Option<ExchangeProgress> {
        self.progress
    }

    /// Keeps the part of the answer that arrived before the failure (its status and body
    /// bytes): stacks set it whenever the failure came after the status line.
    pub fn with_partial_response(mut self, partial: PartialResponse) -> Self {
        self.partial = Some(Box::new(partial));
        self
    }

    /// The part of the answer that arrived before the failure, if any did.
    pub fn partial_response(&self) -> Option<&PartialResponse> {
        self.partial.as_deref()
    }

    /// Takes the part of the answer that arrived out of the error.
    pub fn take_partial_response(&mut self) -> Option<PartialResponse> {
        self.partial.take().map(|partial| *partial)
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// The description, without the kind.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The redirect that was refused, for [`TransportErrorKind::Redirect`].
    pub fn redirect(&self) -> Option<&RedirectError> {
        self.redirect.as_ref()
    }
}

impl From<RedirectError> for TransportError {
    fn from(error: RedirectError) -> Self {
        Self {
            kind: TransportErrorKind::Redirect,
            message: error.to_string(),
            redirect: Some(error),
            progress: None,
            partial: None,
            source: None,
        }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.kind)?;
        } else {
            write!(f, "{}: {}", self.kind, self.message)?;
        }
        if let Some(partial) = &self.partial {
            write!(
                f,
                " (after status {} and {} body bytes, which are kept)",
                partial.status().as_u16(),
                partial.body().len()
            )?;
        }
        Ok(())
    }
}

impl TransportFailure for TransportError {
    fn delivery(&self) -> Delivery<'_> {
        match (&self.partial, self.kind) {
            (Some(partial), _) => Delivery::Cut(partial),
            // No connection, no usable client, or a redirect not followed: no node acted on it.
            (
                None,
                TransportErrorKind::Connect
                | TransportErrorKind::Config
                | TransportErrorKind::Redirect,
            ) => Delivery::NotSent,
            (None, _) => Delivery::Unknown,
        }
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Whether a request that failed with `error` may be sent once more, on a new connection.
///
/// A server closes an idle keep-alive connection whenever it likes (idle timeout, restart),
/// and a client may write its next request on that connection just as it goes: the request
/// then fails without an answer although the server is fine. Retrying that on a fresh
/// connection hides the race, but a request that was written may also have been read and
/// acted on before the connection broke, so a retry must never change the server's state
/// twice. Hence all of these must hold:
///
/// - the method is `GET` or `HEAD`, which only read. Never `PUT`, `POST` or `DELETE`: a key
///   share submitted twice would count twice, a `DELETE` of `sys/rekey/verify` would restart
///   the verification with a new nonce. The ceremonies recover from such a lost answer by
///   reading the status instead ([`ceremony`](crate::ceremony));
/// - the connection broke ([`TransportErrorKind::Protocol`]): closed or reset. Not a timeout
///   (the server may still be working on the request), a TLS failure or anything else a
///   retry would only repeat;
/// - the connection had been reused, taken from the pool: a fresh connection that fails is
///   a failing server, reported as is;
/// - no byte of the response had arrived: a partial answer means the server was answering.
///
/// The stack fills in the last two with [`TransportError::with_progress`]; without them the
/// answer is `false`. The retry goes out on a new connection, so its own failure is never
/// retried again. Requests that were never written (a pooled connection found closed before
/// use) are a different case: a stack may send them on another connection whatever the
/// method, since the server saw nothing.
///
/// ```
/// use http::Method;
/// use vault_key_core::transport::{may_retry, ExchangeProgress};
/// use vault_key_core::transport::{TransportError, TransportErrorKind};
///
/// let stale = ExchangeProgress { reused_connection: true, response_started: false };
/// let closed = || {
///     TransportError::new(TransportErrorKind::Protocol, "connection closed").with_progress(stale)
/// };
/// assert!(may_retry(&Method::GET, &closed()));
/// assert!(!may_retry(&Method::PUT, &closed()));
/// assert!(!may_retry(&Method::DELETE, &closed()));
/// let fresh = ExchangeProgress { reused_connection: false, response_started: false };
/// let refused = closed().with_progress(fresh);
/// assert!(!may_retry(&Method::GET, &refused));
/// ```
pub fn may_retry(method: &Method, error: &TransportError) -> bool {
    let reads_only = may_retry_method(method);
    let stale = error
        .progress
        .is_some_and(|progress| progress.reused_connection && !progress.response_started);
    let retry = reads_only && error.kind == TransportErrorKind::Protocol && stale;
    if retry {
        event!(debug, method = %method, "a read on a pooled connection the server had closed: sent again on a new one");
    }
    retry
}

/// Whether [`may_retry`] could ever allow a request of this method to be sent again: only
/// reads. A stack keeps a copy of those requests alone, for the retry.
pub fn may_retry_method(method: &Method) -> bool {
    *method == Method::GET || *method == Method::HEAD
}

/// The same request again: method, URL, version, headers and body (the body's bytes shared,
/// not copied). What a stack sends a second time when [`may_retry`] allows, and what a
/// redirect is built from. Extensions are left out: they cannot be cloned, and neither needs
/// them.
pub fn copy_request(request: &Request<Bytes>) -> Request<Bytes> {
    let mut copy = Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    copy
}

/// Collects a response body chunk by chunk, never holding more than a limit.
///
/// A body whose `Content-Length` already exceeds the limit is refused before anything is
/// read; otherwise the first chunk that would pass the limit is refused. Either way the
/// transport stops reading and drops the connection.
///
/// The body may hold secrets (new shares, a token), so it lives in zeroizing memory from the
/// first byte: growing moves it to a larger zeroizing buffer and wipes the old one, and the
/// finished `Bytes` wipe it when the last of them drops. It never prints.
///
/// ```
/// use vault_key_core::transport::{BodyCollector, TransportErrorKind};
///
/// let mut body = BodyCollector::new(8, None)?;
/// body.push(b"{\"a\":")?;
/// body.push(b"1}")?;
/// assert_eq!(&body.finish()[..], b"{\"a\":1}");
///
/// let mut body = BodyCollector::new(8, None)?;
/// assert_eq!(body.push(b"123456789").unwrap_err().kind(), TransportErrorKind::BodyTooLarge);
/// assert!(BodyCollector::new(8, Some(100 << 20)).is_err());
/// # Ok::<(), vault_key_core::transport::TransportError>(())
/// ```
pub struct BodyCollector {
    limit: usize,
    body: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for BodyCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyCollector")
            .field("limit", &self.limit)
            .field("collected", &self.body.len())
            .finish()
    }
}

/// Memory reserved up front for a body of unknown length.
const INITIAL_BODY_CAPACITY: usize = 8 * 1024;
/// The most memory reserved up front for a declared length: a server (or anything posing as
/// one) may declare more than it sends, and the limit may be raised far.
const MAX_UPFRONT_CAPACITY: usize = 1024 * 1024;

impl BodyCollector {
    /// Starts collecting a body of at most `limit` bytes; `content_length` is the declared
    /// length, if any.
    pub fn new(limit: usize, content_length: Option<u64>) -> Result<Self, TransportError> {
        let capacity = match content_length {
            Some(declared) if declared > limit as u64 => {
                return Err(TransportError::body_too_large(limit));
            }
            Some(declared) => (declared as usize).min(MAX_UPFRONT_CAPACITY),
            None => INITIAL_BODY_CAPACITY.min(limit),
        };
        Ok(Self {
            limit,
            body: Zeroizing::new(Vec::with_capacity(capacity)),
        })
    }

    /// Appends a chunk; fails when the body would pass the limit.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), TransportError> {
        if chunk.len() > self.limit - self.body.len() {
            return Err(TransportError::body_too_large(self.limit));
        }
        let needed = self.body.len() + chunk.len();
        if needed > self.body.capacity() {
            // Grown by hand, so that no copy is left behind unwiped by a reallocation.
            let capacity = needed.max(self.body.capacity() * 2).min(self.limit);
            let mut larger = Zeroizing::new(Vec::with_capacity(capacity));
            larger.extend_from_slice(&self.body);
            self.body = larger;
        }
        self.body.extend_from_slice(chunk);
        Ok(())
    }

    /// Bytes collected so far.
    pub fn len(&self) -> usize {
        self.body.len()
    }

    /// Whether nothing was collected.
    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    /// The whole body. Its memory is wiped when the last `Bytes` sharing it drops.
    pub fn finish(self) -> bytes::Bytes {
        bytes::Bytes::from_owner(self.body)
    }

    /// What was collected of a body whose exchange failed, with the answer's `status`, to
    /// keep in the error ([`TransportError::with_partial_response`]).
    pub fn into_partial(mut self, status: StatusCode) -> PartialResponse {
        PartialResponse::new(
            status,
            SecretBytes::from_vec(std::mem::take(&mut *self.body)),
        )
    }
}

impl ExecuteError<TransportError> {
    /// The kind of transport failure, if this is one.
    pub fn transport_kind(&self) -> Option<TransportErrorKind> {
        self.transport().map(TransportError::kind)
    }
}

impl From<TransportError> for ExecuteError<TransportError> {
    fn from(error: TransportError) -> Self {
        ExecuteError::Transport(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_kind_and_message() {
        let e = TransportError::new(TransportErrorKind::Timeout, "after 5s");
        assert_eq!(e.to_string(), "timed out: after 5s");
        let e = TransportError::body_too_large(4096);
        assert_eq!(e.kind(), TransportErrorKind::BodyTooLarge);
        assert!(e.to_string().contains("4096"));
        let e = TransportError::from(RedirectError::TooMany { max: 5 });
        assert_eq!(e.kind(), TransportErrorKind::Redirect);
        assert_eq!(e.redirect(), Some(&RedirectError::TooMany { max: 5 }));
        let wrapped: ExecuteError<TransportError> = e.into();
        assert_eq!(wrapped.transport_kind(), Some(TransportErrorKind::Redirect));
        assert!(wrapped.refusal().is_none());
    }

    #[test]
    fn only_reads_broken_on_a_reused_connection_before_any_answer_are_retried() {
        let stale = ExchangeProgress {
            reused_connection: true,
            response_started: false,
        };
        let broken = |kind| TransportError::new(kind, "x").with_progress(stale);
        let protocol = broken(TransportErrorKind::Protocol);
        assert_eq!(protocol.progress(), Some(stale));
        assert!(may_retry(&Method::GET, &protocol));
        assert!(may_retry(&Method::HEAD, &protocol));
        for method in [
            Method::PUT,
            Method::POST,
            Method::DELETE,
            Method::PATCH,
            Method::OPTIONS,
            Method::from_bytes(b"LIST").unwrap(),
        ] {
            assert!(!may_retry(&method, &protocol), "{method}");
        }
        for kind in [
            TransportErrorKind::Connect,
            TransportErrorKind::Timeout,
            TransportErrorKind::Tls,
            TransportErrorKind::BodyTooLarge,
            TransportErrorKind::Redirect,
            TransportErrorKind::Config,
        ] {
            assert!(!may_retry(&Method::GET, &broken(kind)), "{kind:?}");
        }
        let with = |reused_connection, response_started| {
            TransportError::new(TransportErrorKind::Protocol, "x").with_progress(ExchangeProgress {
                reused_connection,
                response_started,
            })
        };
        assert!(!may_retry(&Method::GET, &with(false, false)));
        assert!(!may_retry(&Method::GET, &with(true, true)));
        assert!(!may_retry(&Method::GET, &with(false, true)));
        let unknown = TransportError::new(TransportErrorKind::Protocol, "x");
        assert_eq!(unknown.progress(), None);
        assert!(!may_retry(&Method::GET, &unknown));
        let redirect = TransportError::from(RedirectError::TooMany { max: 1 });
        assert!(!may_retry(&Method::GET, &redirect));
    }

    #[test]
    fn collector_limits() {
        let mut body = BodyCollector::new(4, Some(4)).unwrap();
        body.push(b"ab").unwrap();
        body.push(b"cd").unwrap();
        assert_eq!(
            body.push(b"e").unwrap_err().kind(),
            TransportErrorKind::BodyTooLarge
        );
        assert_eq!(body.len(), 4);
        assert_eq!(&body.finish()[..], b"abcd");
        assert!(BodyCollector::new(4, Some(5)).is_err());
        let mut empty = BodyCollector::new(0, None).unwrap();
        empty.push(b"").unwrap();
        assert!(empty.push(b"x").is_err());
        assert!(empty.is_empty());
    }

    #[test]
    fn collector_grows_within_its_limit_reserves_little_and_never_prints() {
        let limit = 1 << 30;
        let mut body = BodyCollector::new(limit, Some(limit as u64)).unwrap();
        assert!(
            body.body.capacity() <= MAX_UPFRONT_CAPACITY,
            "a declared length is not trusted"
        );
        let chunk = vec![b's'; 700_000];
        body.push(&chunk).unwrap();
        body.push(&chunk).unwrap();
        assert_eq!(body.len(), 1_400_000);
        assert!(!format!("{body:?}").contains("sss"), "{body:?}");
        let whole = body.finish();
        assert_eq!(whole.len(), 1_400_000);
        let partial = {
            let mut body = BodyCollector::new(100, None).unwrap();
            body.push(b"secret").unwrap();
            body.into_partial(StatusCode::OK)
        };
        assert_eq!(partial.body().expose(), b"secret");
    }
}
