//! Blocking client for the key-management API of HashiCorp Vault and OpenBao, over
//! [ureq](https://docs.rs/ureq) 3.
//!
//! Every rule of the protocol (paths, bodies, decoding, errors, redirects, settings from the
//! environment) lives in [`vault_key_core`]; this crate only moves bytes: HTTPS with rustls
//! (the system's roots, plus an optional CA file), a keep-alive connection pool (the
//! connection used last goes out first; at most 32 wait idle, for 15 s), a connect timeout and
//! a whole-exchange timeout, and a cap on the response body size. A `GET` that
//! breaks on a pooled connection the server closed, before any answer arrived, is sent once
//! more on a new connection; no other request is ever sent twice (see
//! [`may_retry`](vault_key_core::transport::may_retry)).
//!
//! Methods are named as in the Python client hvac and return the core's typed values. Their
//! docs name Vault's classic paths; with [`Dialect::OpenBao`](vault_key_core::Dialect) the
//! same calls use OpenBao's authenticated paths ([`Client::with_detected_dialect`] picks it).
//! [`Client`] is `Send + Sync` and cheap to clone: clones share the connection pool.
//!
//! # Example
//!
//! ```no_run
//! use vault_key_core::ops::rekey::{KeyKind, RekeyUpdate, StartRekey};
//! use vault_key_core::KeyShare;
//! use vault_key_ureq::Client;
//!
//! // VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT, ... fill what is not given explicitly.
//! let client = Client::builder()
//!     .address("https://vault.example.com:8200")
//!     .ca_certificate_file("/etc/vault/ca.pem")
//!     .env(|name| std::env::var(name).ok())
//!     .build()?;
//!
//! let status = client.start_rekey(StartRekey::new(5, 3))?;
//! let nonce = status.nonce.expect("a started rekey has a nonce");
//! let current = ["share-1", "share-2", "share-3"].map(KeyShare::new);
//! match client.rekey_multi(current, &nonce, KeyKind::Unseal)? {
//!     RekeyUpdate::Complete(result) => println!("{} new shares", result.keys.len()),
//!     RekeyUpdate::Progress(progress) => println!("{}/{}", progress.progress, progress.required),
//! }
//! # Ok::<(), vault_key_ureq::Error>(())
//! ```
//!
//! # Settings
//!
//! Explicit settings win over the environment, whatever the order they are given in; see
//! [`vault_key_core::transport::config`] for the variables and defaults.
//!
//! ```
//! use std::time::Duration;
//! use vault_key_core::Dialect;
//! use vault_key_ureq::Client;
//!
//! let client = Client::builder()
//!     .address("http://127.0.0.1:8200") // plain HTTP: a loopback development server
//!     .token("s.example")
//!     .namespace("team-a")
//!     .dialect(Dialect::OpenBao)
//!     .timeout(Duration::from_secs(30)) // one whole exchange
//!     .connect_timeout(Duration::from_secs(5))
//!     .max_response_bytes(1 << 20) // larger answers fail, unread
//!     .max_redirects(3) // 307/308 from standby nodes
//!     .build()?;
//! assert_eq!(client.target().namespace(), Some("team-a"));
//! # Ok::<(), vault_key_ureq::Error>(())
//! ```
//!
//! HTTPS trusts the system's roots and, when given, a CA ([`Builder::ca_certificate_file`],
//! [`Builder::ca_certificate_pem`], `VAULT_CACERT`); [`Builder::system_roots`] turns the
//! system's roots off and [`Builder::danger_accept_invalid_certs`] skips verification, for
//! development servers only.
//!
//! # A whole ceremony
//!
//! The core's ceremonies ([`vault_key_core::ceremony`]) pin the nonce, queue shares, survive
//! lost answers and keep what they produced; [`Client::drive`] and its helpers run them.
//!
//! ```no_run
//! use vault_key_core::ceremony::{RootTokenCeremony, RootTokenPhase, TokenProtection};
//! use vault_key_core::ops::generate_root::TokenKind;
//! use vault_key_core::KeyShare;
//! use vault_key_ureq::Client;
//!
//! let client = Client::from_env()?.with_detected_dialect()?;
//! let mut generation = RootTokenCeremony::start(TokenKind::Root, TokenProtection::ServerOtp);
//! let shares = ["share-1", "share-2", "share-3"].map(KeyShare::new);
//! if client.drive_root_token(&mut generation, shares)?.is_finished()
//!     && generation.phase() == RootTokenPhase::Done
//! {
//!     let root_token = generation.decode_token()?;
//!     # let _ = root_token;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Errors are [`Error`]: the core's error (the server refused, the answer could not be
//! decoded, the input was invalid) or a [`TransportError`] (connect, timeout, TLS, body too
//! large, redirect), whose text never contains the token.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod pool;
mod resolve;
mod socket;
mod stack;
mod tracking;

use stack::Stack;
use std::fmt;
use std::sync::Arc;
use vault_key_core::transport::config::{ClientConfig, FromClientConfig};
use vault_key_core::transport::redirect::FollowRedirects;
use vault_key_core::{execute, Dialect, ExecuteError, HttpClient, Operation, Target, Token};

// The settings and errors of this crate's client, documented here.
pub use vault_key_core::transport::config::{CaCertificate, ClientBuilder};
pub use vault_key_core::transport::redirect::RedirectHosts;
pub use vault_key_core::transport::{TransportError, TransportErrorKind};

/// What a call can fail with: [`ExecuteError::Core`] (the server refused, the answer could not
/// be decoded, the input was invalid) or [`ExecuteError::Transport`] (connect, timeout, TLS,
/// body too large, redirect).
pub type Error = ExecuteError<TransportError>;

/// Builds a [`Client`]; see [`ClientBuilder`] for every setting.
pub type Builder = ClientBuilder<Client>;

/// A blocking client for one server. `Send + Sync`; clones share the connection pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    target: Target,
    http: FollowRedirects<Stack>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("target", &self.inner.target)
            .finish_non_exhaustive()
    }
}

impl FromClientConfig for Client {
    type Error = Error;

    fn from_config(config: ClientConfig) -> Result<Self, Error> {
        let http = FollowRedirects::new(Stack::new(&config)?, config.redirects);
        Ok(Self::from_parts(config.target, http))
    }
}

impl Client {
    fn from_parts(target: Target, http: FollowRedirects<Stack>) -> Self {
        Self {
            inner: Arc::new(Inner { target, http }),
        }
    }

    /// A client for `address` with default settings and nothing read from the environment.
    pub fn new(address: &str) -> Result<Self, Error> {
        Self::builder().address(address).build()
    }

    /// A client configured from `VAULT_ADDR`, `VAULT_TOKEN`, `VAULT_NAMESPACE`,
    /// `VAULT_CACERT`, `VAULT_CLIENT_TIMEOUT` (or their `BAO_` forms); see
    /// [`vault_key_core::transport::config`].
    pub fn from_env() -> Result<Self, Error> {
        Self::builder().env(|name| std::env::var(name).ok()).build()
    }

    /// Settings to build a client from; explicit settings win over the environment.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// The server and identity requests go to.
    pub fn target(&self) -> &Target {
        &self.inner.target
    }

    /// The same client (sharing its pool) with another target: another token, namespace or
    /// dialect. Redirects and limits stay as configured.
    pub fn with_target(&self, target: Target) -> Self {
        Self::from_parts(target, self.inner.http.clone())
    }

    /// The same client speaking `dialect`.
    pub fn with_dialect(&self, dialect: Dialect) -> Self {
        self.with_target(self.target().clone().with_dialect(dialect))
    }

    /// The same client sending `token`.
    pub fn with_token(&self, token: Token) -> Self {
        self.with_target(self.target().clone().with_token(token))
    }

    /// The HTTP stack (with redirects followed), for the core's ceremony drivers and
    /// [`vault_key_core::execute`].
    pub fn http_client(&self) -> &impl HttpClient<Error = TransportError> {
        &self.inner.http
    }

    /// Sends any operation and decodes its answer.
    pub fn execute<O: Operation + ?Sized>(&self, operation: &O) -> Result<O::Output, Error> {
        execute(&self.inner.http, &self.inner.target, operation)
    }

    /// The HTTP stack by its own type, for the methods below.
    fn stack(&self) -> &FollowRedirects<Stack> {
        &self.inner.http
    }

    /// Waits between two reads of a polling method.
    fn pause(&self, duration: std::time::Duration) {
        std::thread::sleep(duration)
    }

    // Every operation and ceremony, written once for both clients.
    vault_key_core::client_methods!(blocking);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_send_sync_and_clone() {
        fn check<T: Send + Sync + 'static>() {}
        fn cloned<T: Clone>() {}
        cloned::<Client>();
        check::<Client>();
        check::<Error>();
    }
}
