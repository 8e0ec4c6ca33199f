//! The seam to any HTTP stack: a function from `http::Request` to `http::Response`.
//!
//! The core never sends anything itself. Give it a closure (or implement [`HttpClient`] /
//! [`AsyncHttpClient`]) over reqwest, a WASM `fetch`, an embedded stack or a test script, and
//! [`execute`](crate::execute) / [`execute_async`](crate::execute_async) run an
//! [`Operation`](crate::ops::Operation) through it.

use crate::delivery::Delivery;
use crate::error::{Error, Refusal};
use bytes::Bytes;
use http::{Request, Response};
use std::future::Future;

/// A blocking HTTP stack. Any `Fn(Request<Bytes>) -> Result<Response<Bytes>, E>` is one.
pub trait HttpClient {
    /// The stack's own error (connect, timeout, TLS, ...).
    type Error;

    /// Sends one request and returns the whole response.
    fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, Self::Error>;

    /// How far a request that failed with `error` got. The ceremonies decide from it whether
    /// the server may have acted on it and keep the part of an answer that broke off. A
    /// closure answers [`Delivery::Unknown`], which is always safe; wrap it in
    /// [`FollowRedirects`](crate::transport::redirect::FollowRedirects) to have its
    /// [`TransportError`](crate::transport::TransportError)s tell.
    fn delivery<'e>(&self, error: &'e Self::Error) -> Delivery<'e> {
        let _ = error;
        Delivery::Unknown
    }
}

impl<F, E> HttpClient for F
where
    F: Fn(Request<Bytes>) -> Result<Response<Bytes>, E>,
{
    type Error = E;

    fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, E> {
        self(request)
    }
}

/// An async HTTP stack on any runtime. Any `Fn(Request<Bytes>) -> impl Future<Output =
/// Result<Response<Bytes>, E>>` is one.
pub trait AsyncHttpClient {
    /// The stack's own error.
    type Error;

    /// Sends one request and resolves to the whole response.
    fn send(
        &self,
        request: Request<Bytes>,
    ) -> impl Future<Output = Result<Response<Bytes>, Self::Error>>;

    /// How far a request that failed with `error` got; see [`HttpClient::delivery`].
    fn delivery<'e>(&self, error: &'e Self::Error) -> Delivery<'e> {
        let _ = error;
        Delivery::Unknown
    }
}

impl<F, Fut, E> AsyncHttpClient for F
where
    F: Fn(Request<Bytes>) -> Fut,
    Fut: Future<Output = Result<Response<Bytes>, E>>,
{
    type Error = E;

    fn send(&self, request: Request<Bytes>) -> impl Future<Output = Result<Response<Bytes>, E>> {
        self(request)
    }
}

/// Why running an operation through a stack failed: the stack itself, or the core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecuteError<E> {
    /// The HTTP stack failed (nothing usable came back).
    #[error("transport: {0}")]
    Transport(E),
    /// The core refused the input, or the server refused, or the answer was not understood.
    #[error(transparent)]
    Core(#[from] Error),
}

impl<E> ExecuteError<E> {
    /// The core's error (server refusal, undecodable response, invalid input, ceremony), if
    /// this is one.
    pub fn core(&self) -> Option<&Error> {
        match self {
            ExecuteError::Core(e) => Some(e),
            ExecuteError::Transport(_) => None,
        }
    }

    /// The stack's error, if this is one.
    pub fn transport(&self) -> Option<&E> {
        match self {
            ExecuteError::Transport(e) => Some(e),
            ExecuteError::Core(_) => None,
        }
    }

    /// The server's refusal, if this is one.
    pub fn refusal(&self) -> Option<&Refusal> {
        self.core().and_then(Error::refusal)
    }
}
